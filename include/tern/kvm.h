/* SPDX-License-Identifier: MIT */
/* /dev/kvm: open, check the API version and every capability tern relies on. */
#ifndef TERN_KVM_H
#define TERN_KVM_H

#include <glib.h>

#include "tern/util.h"

struct kvm_handle;

struct kvm_required_cap {
	int cap;
	const char *name;
	const char *why;
};

extern const struct kvm_required_cap kvm_required_caps[];
extern const unsigned int kvm_nr_required_caps;

/*
 * Check every required capability with check(opaque, cap), which returns
 * KVM_CHECK_EXTENSION's answer. Separated from the ioctl so it is tested
 * without /dev/kvm.
 */
bool kvm_check_caps(int (*check)(void *opaque, int cap), void *opaque,
		    const char *dev, GError **err);

/*
 * Open the device (dev, NULL for /dev/kvm: --kvm-device), check it,
 * create the VM and start fetching the supported CPUID (kvm_cpuid_wait()
 * before using it). On failure err says what was wrong with which device,
 * and nothing stays open.
 */
/* vm_type: KVM_CREATE_VM's type (0, or a confidential guest's). */
bool kvm_open(struct kvm_handle *kvm, const char *dev, unsigned long vm_type,
	      GError **err);
void kvm_close(struct kvm_handle *kvm);
/* Wait for kvm->supported_cpuid; false (err set, dev as for kvm_open) if KVM refused it. */
bool kvm_cpuid_wait(struct kvm_handle *kvm, const char *dev, GError **err);

#endif
