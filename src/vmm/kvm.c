// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/kvm.h"
#include "tern/vm.h"

const struct kvm_required_cap kvm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "USER_MEMORY", "guest RAM is host memory" },
	{ KVM_CAP_IRQCHIP, "IRQCHIP", "the in-kernel LAPIC/IOAPIC/PIC" },
	{ KVM_CAP_PIT2, "PIT2", "the in-kernel i8254 timer" },
	{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR", "x86 needs the TSS pages placed" },
	{ KVM_CAP_EXT_CPUID, "EXT_CPUID", "CPUID is built from KVM's supported set" },
	{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT", "race-free vCPU pause" },
	{ KVM_CAP_IOEVENTFD, "IOEVENTFD", "virtqueue notifications without exits" },
	{ KVM_CAP_IRQFD, "IRQFD", "device interrupts without ioctls" },
	{ KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING", "MSI-X routes" },
	{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI", "MSI delivery" },
	{ KVM_CAP_MP_STATE, "MP_STATE", "vCPU state for pause and migration" },
};
const unsigned int kvm_nr_required_caps = G_N_ELEMENTS(kvm_required_caps);

bool kvm_check_caps(int (*check)(void *opaque, int cap), void *opaque,
		    const char *dev, GError **err)
{
	for (unsigned int i = 0; i < kvm_nr_required_caps; i++) {
		const struct kvm_required_cap *c = &kvm_required_caps[i];

		if (check(opaque, c->cap) <= 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "%s: required KVM capability KVM_CAP_%s is missing (%s)",
				    dev, c->name, c->why);
			return false;
		}
	}
	return true;
}

static int kvm_ioctl_check(void *opaque, int cap)
{
	return ioctl(*(int *)opaque, KVM_CHECK_EXTENSION, cap);
}

static struct kvm_cpuid2 *kvm_get_supported_cpuid(int fd)
{
	/*
	 * Grow until KVM stops saying E2BIG, from KVM's own limit
	 * (KVM_MAX_CPUID_ENTRIES, 256): a refused call costs as much as a
	 * good one, the host CPUID instructions KVM runs to fill it (0.3 ms
	 * nested), and hosts with more than 64 leaves are common (75 here).
	 */
	for (unsigned int n = 256; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + n * sizeof(c->entries[0]));

		c->nent = n;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		g_free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static void *kvm_cpuid_main(void *opaque)
{
	struct kvm_handle *kvm = opaque;

	kvm->supported_cpuid = kvm_get_supported_cpuid(kvm->fd);
	kvm->cpuid_errno = kvm->supported_cpuid ? 0 : errno;
	return NULL;
}

static void kvm_cpuid_join(struct kvm_handle *kvm)
{
	if (kvm->cpuid_pending)
		(void)pthread_join(kvm->cpuid_thread, NULL);
	kvm->cpuid_pending = false;
}

/* --kvm-device only picks the file: every check runs on it. */
static const char *kvm_dev_path(const char *dev)
{
	return dev && *dev ? dev : "/dev/kvm";
}

bool kvm_cpuid_wait(struct kvm_handle *kvm, const char *dev, GError **err)
{
	kvm_cpuid_join(kvm);
	if (kvm->supported_cpuid)
		return true;
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: KVM_GET_SUPPORTED_CPUID: %s",
		    kvm_dev_path(dev), g_strerror(kvm->cpuid_errno));
	return false;
}

bool kvm_open(struct kvm_handle *kvm, const char *dev, unsigned long vm_type,
	      GError **err)
{
	int fd, ret;

	dev = kvm_dev_path(dev);
	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = kvm->vm_fd = -1;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: cannot open: %s%s",
			    dev, g_strerror(errno),
			    errno == EACCES ? " (is this user in the kvm group?)" :
			    errno == ENOENT ? " (is KVM enabled on this host?)" : "");
		return false;
	}
	kvm->fd = fd;
	ret = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "%s: not a KVM device (KVM_GET_API_VERSION: %s)", dev,
			    g_strerror(errno));
		goto err_close;
	}
	if (ret != KVM_API_VERSION) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "%s: KVM API version %d, expected %d", dev, ret,
			    KVM_API_VERSION);
		goto err_close;
	}
	if (!kvm_check_caps(kvm_ioctl_check, &kvm->fd, dev, err))
		goto err_close;

	kvm->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4; /* the API document's floor */

	kvm->run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_size < (int)sizeof(struct kvm_run)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "%s: KVM_GET_VCPU_MMAP_SIZE: %s", dev,
			    kvm->run_size < 0 ? g_strerror(errno) : "too small");
		goto err_close;
	}
	/*
	 * The supported CPUID takes 0.4 ms of host CPUID instructions on a
	 * nested host and nothing needs it until kvm_cpuid_wait(): fetch it
	 * on a thread while this one makes the VM and its memory slots.
	 */
	kvm->cpuid_pending = pthread_create(&kvm->cpuid_thread, NULL,
					    kvm_cpuid_main, kvm) == 0;
	if (!kvm->cpuid_pending)
		kvm_cpuid_main(kvm);
	do {
		kvm->vm_fd = ioctl(fd, KVM_CREATE_VM, vm_type);
	} while (kvm->vm_fd < 0 && errno == EINTR);
	if (kvm->vm_fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: KVM_CREATE_VM: %s",
			    dev, g_strerror(errno));
		goto err_free;
	}
	return true;

err_free:
	kvm_cpuid_join(kvm);
	g_free(kvm->supported_cpuid);
	kvm->supported_cpuid = NULL;
err_close:
	close(fd);
	kvm->fd = -1;
	return false;
}

void kvm_close(struct kvm_handle *kvm)
{
	kvm_cpuid_join(kvm);
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->fd >= 0)
		close(kvm->fd);
	g_free(kvm->supported_cpuid);
	kvm->supported_cpuid = NULL;
	kvm->fd = kvm->vm_fd = -1;
}
