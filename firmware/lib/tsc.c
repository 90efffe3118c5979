// SPDX-License-Identifier: MIT
/* Finding the TSC frequency without calibrating against a timer. */
#include "guest/string.h"
#include "guest/tsc.h"
#include "guest/x86.h"

#define CPUID_LEAF_TSC 0x15
#define CPUID_LEAF_FREQ 0x16
#define CPUID_HV_BASE 0x40000000
#define CPUID_KVM_FEATURES 0x40000001
#define CPUID_HV_TIMING 0x40000010
#define KVM_FEATURE_CLOCKSOURCE2 (1 << 3)
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_SYSTEM_TIME_ENABLE 1

/* Linux's struct pvclock_vcpu_time_info; KVM writes it into guest memory. */
struct pvclock_time {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __attribute__((packed));

static struct pvclock_time pvclock __attribute__((aligned(32)));

static bool hv_is_kvm(uint32_t *max_leaf)
{
	struct cpuid_regs r = cpuid(CPUID_HV_BASE, 0);

	*max_leaf = r.eax;
	/* "KVMKVMKVM\0\0\0" */
	return r.ebx == 0x4b4d564b && r.ecx == 0x564b4d56 && r.edx == 0x4d;
}

static uint64_t tsc_hz_kvmclock(void)
{
	volatile struct pvclock_time *pv = &pvclock;
	uint32_t version, mul;
	int8_t shift;

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW,
	      (uintptr_t)&pvclock | KVM_SYSTEM_TIME_ENABLE);
	/* KVM updates the page before the vCPU runs again: odd = mid-update. */
	do {
		version = pv->version;
		barrier();
		mul = pv->tsc_to_system_mul;
		shift = pv->tsc_shift;
		barrier();
	} while ((version & 1) || version != pv->version);
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
	if (mul == 0)
		return 0;

	/* ns = ((tsc << shift) * mul) >> 32, so Hz = 1e9 * 2^32 / mul >> shift */
	uint64_t hz = (1000000000ULL << 32) / mul;

	return shift >= 0 ? hz >> shift : hz << -shift;
}

uint64_t tsc_hz(const char **source)
{
	uint32_t max_leaf = cpuid(0, 0).eax;
	uint32_t hv_max;
	struct cpuid_regs r;

	if (max_leaf >= CPUID_LEAF_TSC) {
		r = cpuid(CPUID_LEAF_TSC, 0);
		if (r.eax != 0 && r.ebx != 0 && r.ecx != 0) {
			*source = "CPUID 0x15";
			return (uint64_t)r.ecx * r.ebx / r.eax;
		}
	}
	if (max_leaf >= CPUID_LEAF_FREQ) {
		r = cpuid(CPUID_LEAF_FREQ, 0);
		if ((r.eax & 0xffff) != 0) {
			*source = "CPUID 0x16";
			return (uint64_t)(r.eax & 0xffff) * 1000000;
		}
	}
	if (cpuid(1, 0).ecx & (1U << 31)) { /* running under a hypervisor */
		bool kvm = hv_is_kvm(&hv_max);

		if (kvm && hv_max >= CPUID_KVM_FEATURES &&
		    (cpuid(CPUID_KVM_FEATURES, 0).eax &
		     KVM_FEATURE_CLOCKSOURCE2)) {
			uint64_t hz = tsc_hz_kvmclock();

			if (hz != 0) {
				*source = "kvmclock";
				return hz;
			}
		}
		if (hv_max >= CPUID_HV_TIMING) {
			r = cpuid(CPUID_HV_TIMING, 0);
			if (r.eax != 0) {
				*source = "CPUID 0x40000010";
				return (uint64_t)r.eax * 1000;
			}
		}
	}
	*source = "guess";
	return TSC_HZ_DEFAULT;
}
