// SPDX-License-Identifier: MIT
/* Finding the TSC frequency without calibrating against a timer. */
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/tsc.h"
#include "guest/x86.h"

#define CPUID_LEAF_TSC 0x15
#define CPUID_LEAF_FREQ 0x16
#define CPUID_HV_BASE 0x40000000
#define CPUID_HV_TIMING 0x40000010

uint64_t tsc_hz(const char **source)
{
	uint32_t max_leaf = cpuid(0, 0).eax;
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
	if (kvmclock_offered()) {
		uint64_t hz = kvmclock_tsc_hz();

		if (hz != 0) {
			*source = "kvmclock";
			return hz;
		}
	}
	if (cpuid(1, 0).ecx & (1U << 31)) { /* running under a hypervisor */
		if (cpuid(CPUID_HV_BASE, 0).eax >= CPUID_HV_TIMING) {
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
