// SPDX-License-Identifier: MIT
/* Reading the KVM clock (struct pvclock_vcpu_time_info), or the TSC. */
#include "guest/pvclock.h"
#include "guest/tsc.h"
#include "guest/x86.h"

#define KVM_SYSTEM_TIME_ENABLE 1
#define NSEC_PER_SEC 1000000000ull

/* Linux's struct pvclock_vcpu_time_info, written by KVM. */
struct pvclock_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __attribute__((packed));

/* Must not straddle a page: KVM maps it as one. */
static struct pvclock_info pvclock __attribute__((aligned(64)));
static bool use_kvmclock;
static uint64_t tsc_mul; /* fallback: ns = tsc * tsc_mul >> 32 */
static const char *source = "none";
static char source_buf[40];

bool kvmclock_offered(void)
{
	struct cpuid_regs r;

	if (!(cpuid(1, 0).ecx & (1u << 31))) /* no hypervisor */
		return false;
	r = cpuid(CPUID_KVM_SIGNATURE, 0);
	/* "KVMKVMKVM\0\0\0" */
	if (r.ebx != 0x4b4d564b || r.ecx != 0x564b4d56 || r.edx != 0x4d ||
	    r.eax < CPUID_KVM_FEATURES)
		return false;
	return cpuid(CPUID_KVM_FEATURES, 0).eax & KVM_FEATURE_CLOCKSOURCE2;
}

/* KVM fills the structure in before the vCPU runs on; 0 = not honoured. */
static bool kvmclock_register(void)
{
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW,
	      (uintptr_t)&pvclock | KVM_SYSTEM_TIME_ENABLE);
	if (((volatile struct pvclock_info *)&pvclock)->tsc_to_system_mul)
		return true;
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, 0);
	return false;
}

uint64_t kvmclock_tsc_hz(void)
{
	const volatile struct pvclock_info *pv = &pvclock;
	uint32_t version, mul;
	int8_t shift;
	uint64_t hz;

	if (!kvmclock_register())
		return 0;
	/* Odd version: KVM is mid-update. */
	do {
		version = pv->version;
		barrier();
		mul = pv->tsc_to_system_mul;
		shift = pv->tsc_shift;
		barrier();
	} while ((version & 1) || version != pv->version);
	/* ns = ((tsc << shift) * mul) >> 32, so Hz = 1e9 * 2^32 / mul >> shift */
	hz = (NSEC_PER_SEC << 32) / mul;
	return shift >= 0 ? hz >> shift : hz << -shift;
}

bool clock_init(void)
{
	if (kvmclock_offered() && kvmclock_register()) {
		use_kvmclock = true;
		source = "kvmclock";
		return true;
	}

	const char *how;
	uint64_t hz = tsc_hz(&how);
	const char *p = "tsc (";
	unsigned int n = 0;

	tsc_mul = (NSEC_PER_SEC << 32) / hz;
	while (*p && n < sizeof(source_buf) - 2)
		source_buf[n++] = *p++;
	while (*how && n < sizeof(source_buf) - 2)
		source_buf[n++] = *how++;
	source_buf[n++] = ')';
	source_buf[n] = '\0';
	source = source_buf;
	return false;
}

const char *clock_source(void)
{
	return source;
}

static inline uint64_t rdtsc_ordered(void)
{
	/*
	 * lfence keeps rdtsc from running ahead of the version read. Ring 0
	 * goes without: every instruction there is emulated in order anyway.
	 */
	if (cpu_cpl() != 0)
		__asm__ volatile("lfence" ::: "memory");
	return rdtsc();
}

uint64_t clock_ns(void)
{
	if (!use_kvmclock)
		return (uint64_t)(((unsigned __int128)rdtsc() * tsc_mul) >> 32);

	const volatile struct pvclock_info *pv = &pvclock;
	uint32_t version;
	uint64_t ns;

	do {
		version = pv->version;
		barrier(); /* x86 keeps loads in order; the compiler must too */
		uint64_t delta = rdtsc_ordered() - pv->tsc_timestamp;
		int8_t shift = pv->tsc_shift;

		if (shift >= 0)
			delta <<= shift;
		else
			delta >>= -shift;
		ns = pv->system_time + (uint64_t)(((unsigned __int128)delta *
						   pv->tsc_to_system_mul) >>
						  32);
		barrier();
	} while ((version & 1) || version != pv->version);
	return ns;
}
