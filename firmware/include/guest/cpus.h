/* SPDX-License-Identifier: MIT */
/*
 * How many CPUs the platform has, and their APIC ids. Looked up, in order,
 * in the Intel MP table, the ACPI MADT, and CPUID leaf 0xb.
 */
#ifndef GUEST_CPUS_H
#define GUEST_CPUS_H

#define CPUS_MAX 64 /* APIC ids 0..CPUS_MAX-1 get an AP stack */

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

enum cpus_source {
	CPUS_FROM_NONE = 0,
	CPUS_FROM_MPTABLE,
	CPUS_FROM_MADT,
	CPUS_FROM_CPUID,
};

struct cpus_info {
	enum cpus_source source;
	unsigned int count; /* enabled processors, may exceed CPUS_MAX */
	unsigned int nr_ids; /* entries filled in apic_ids (<= CPUS_MAX) */
	uint32_t apic_ids[CPUS_MAX];
};

/* Never fails: with no table at all it reports this one CPU. */
void cpus_discover(struct cpus_info *out);
/* Only from src (no fallback): false, with nothing found, when it is absent. */
bool cpus_discover_from(struct cpus_info *out, enum cpus_source src);
const char *cpus_source_name(enum cpus_source s);
#endif

#endif
