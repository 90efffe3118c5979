// SPDX-License-Identifier: MIT
/*
 * The real host of a confidential launch: KVM's ioctls and /dev/sev. Kept
 * alone in its file so that the test-only tern-confidential-double, which
 * defines its own confidential_host_default, does not link this one (the
 * archive member is only pulled in for the symbol).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/psp-sev.h>

#include "tern/confidential_kvm.h"
#include "tern/confidential_vm.h"

static unsigned long host_vm_type(enum confidential_kind kind)
{
	return confidential_vm_type(kind);
}

static int host_vm_types(const char *dev)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	int types;

	if (fd < 0)
		return -errno;
	types = ioctl(fd, KVM_CHECK_EXTENSION, CONF_KVM_CAP_VM_TYPES);
	close(fd);
	return types < 0 ? 0 : types;
}

static int host_sev_open(void)
{
	int fd = open("/dev/sev", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static void host_sev_close(int fd)
{
	close(fd);
}

static int host_sev_platform_status(int sev_fd, struct sev_platform_info *info,
				    uint32_t *fw_error)
{
	struct sev_user_data_status st = { 0 };
	struct sev_issue_cmd cmd = { .cmd = SEV_PLATFORM_STATUS,
				     .data = (uintptr_t)&st };

	if (ioctl(sev_fd, SEV_ISSUE_CMD, &cmd) < 0) {
		*fw_error = cmd.error;
		return -errno;
	}
	info->api_major = st.api_major;
	info->api_minor = st.api_minor;
	info->build_id = st.build;
	info->flags = st.flags;
	return 0;
}

static int host_sev_platform_cmd(int sev_fd, uint32_t id, void *data,
				 uint32_t *fw_error)
{
	struct sev_issue_cmd cmd = { .cmd = id, .data = (uintptr_t)data };

	if (ioctl(sev_fd, SEV_ISSUE_CMD, &cmd) < 0) {
		*fw_error = cmd.error;
		return -errno;
	}
	return 0;
}

static int host_vm_ioctl(int vm_fd, unsigned long req, void *arg)
{
	int ret = ioctl(vm_fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static int host_vcpu_ioctl(unsigned int index, int vcpu_fd, unsigned long req,
			   void *arg)
{
	int ret = ioctl(vcpu_fd, req, arg);

	return ret < 0 ? -errno : ret;
}

const struct confidential_host_ops confidential_host_default = {
	.vm_type = host_vm_type,
	.vm_types = host_vm_types,
	.sev_open = host_sev_open,
	.sev_close = host_sev_close,
	.sev_platform_status = host_sev_platform_status,
	.sev_platform_cmd = host_sev_platform_cmd,
	.vm_ioctl = host_vm_ioctl,
	.vcpu_ioctl = host_vcpu_ioctl,
};
