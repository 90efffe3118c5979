/* SPDX-License-Identifier: MIT */
/* CPUID for vCPUs: KVM's supported set, topology, hypervisor leaves, masks. */
#ifndef TERN_CPUID_H
#define TERN_CPUID_H

#include <glib.h>
#include <linux/kvm.h>

#include "tern/util.h"

#define CPU_FEATURE_MASK_MAX 32

struct cpu_feature_bit {
	uint32_t function;
	uint32_t index;
	uint8_t reg; /* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint8_t bit;
};

struct cpu_feature_mask {
	struct cpu_feature_bit clear[CPU_FEATURE_MASK_MAX];
	unsigned int nr_clear;
};

/*
 * Parse "-cx16,-xsave" (QEMU's names; a leading '-' removes a feature; '+'
 * is accepted only for features already offered and then has no effect).
 * Unknown names are an error naming them.
 */
bool cpuid_parse_features(const char *spec, struct cpu_feature_mask *mask,
			  GError **err);

/*
 * Adjust KVM_GET_SUPPORTED_CPUID's entries for one vCPU: APIC ids and
 * topology (leaves 1, 4, 0xb, 0x1f), the hypervisor bit and KVM leaves
 * (kvmclock offered), then the user's mask, including features that depend
 * on a masked one (xsave takes avx etc. with it).
 */
void cpuid_setup_vcpu(struct kvm_cpuid_entry2 *entries, unsigned int nr,
		      unsigned int vcpu_id, unsigned int ncpus,
		      const struct cpu_feature_mask *mask);

/*
 * Which features the mask removed does a vCPU still have, as KVM reads
 * its CPUID back (KVM_GET_CPUID2 after KVM_SET_CPUID2)? A comma-separated
 * list of their names (g_free() it), or NULL when every one is gone. A
 * nested KVM may put the host's bits over the VMM's table (kvm_pvm does
 * for every leaf 1 and 7 bit but those KVM_GET_SUPPORTED_CPUID lists), and
 * the user must hear that the guest still sees what was removed.
 */
char *cpuid_mask_kept(struct kvm_cpuid_entry2 *entries, unsigned int nr,
		      const struct cpu_feature_mask *mask) __must_check;

#endif
