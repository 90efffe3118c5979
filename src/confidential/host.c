// SPDX-License-Identifier: MIT
/*
 * `tern run --confidential`: the checks made before anything is built.
 * The firmware must carry the metadata the kind needs, and the host's KVM
 * must offer the VM type (KVM_CAP_VM_TYPES). On hosts that pass both, the
 * launch itself is not wired into vm_create() yet: the flows are exercised
 * at the ioctl boundary only (docs/confidential.md), so tern says so and
 * exits 2 rather than boot a guest that is not what was asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tern/confidential_kvm.h"
#include "tern/confidential_launch.h"
#include "tern/error.h"

#define FIRMWARE_MAX (64ull * MiB)

bool confidential_config_check(const struct confidential_params *p,
			       const char *firmware, bool kernel, GError **err)
{
	/* tern has no fw_cfg: the firmware could not find a kernel. */
	if (!p->kind && firmware && kernel) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--firmware: not with --kernel, --initrd or --cmdline (the firmware boots itself; tern has no fw_cfg to hand it a kernel)");
		return false;
	}
	if (p->kind && !firmware) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: needs --firmware FILE (an OVMF or TDVF image)");
		return false;
	}
	return true;
}

/* KVM_CAP_VM_TYPES of the device: a bitmask of 1 << type, 0 if unknown. */
static int confidential_vm_types(const char *dev, GError **err)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	int types;

	if (fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--confidential: cannot open %s: %s", dev,
			    g_strerror(errno));
		return -1;
	}
	types = ioctl(fd, KVM_CHECK_EXTENSION, CONF_KVM_CAP_VM_TYPES);
	close(fd);
	return types < 0 ? 0 : types;
}

bool confidential_run_prepare(const struct confidential_params *p,
			      const char *firmware, const char *kvm_device,
			      unsigned int cpus, GError **err)
{
	struct launch_options o = { .kind = p->kind,
				    .cpus = cpus,
				    .profile = VMSA_PROFILE_QEMU,
				    .guest_features = 1 };
	g_autofree uint8_t *img = NULL;
	struct launch_plan *plan;
	size_t len;
	int types, ret;

	ret = file_read_all(firmware, FIRMWARE_MAX, &img, &len);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--firmware %s: %s", firmware, g_strerror(-ret));
		return false;
	}
	plan = launch_plan_build(img, len, &o, err);
	if (!plan)
		return false;
	launch_plan_free(plan);
	types = confidential_vm_types(kvm_device ? kvm_device : "/dev/kvm",
				      err);
	if (types < 0 || !confidential_host_check(p->kind, types, err))
		return false;
	if (p->kind != CONFIDENTIAL_TDX && access("/dev/sev", R_OK | W_OK)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--confidential %s: /dev/sev: %s (the SEV firmware device authorises every launch command)",
			    confidential_kind_name(p->kind), g_strerror(errno));
		return false;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "--confidential %s: this host could run it, but tern's launch is tested only at the ioctl boundary and not yet wired into the VM build (docs/confidential.md)",
		    confidential_kind_name(p->kind));
	return false;
}
