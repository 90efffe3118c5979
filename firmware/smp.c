// SPDX-License-Identifier: MIT
/*
 * smp: wake every AP the MP table (or MADT) lists with INIT-SIPI-SIPI; each
 * prints one line and checks in. PASS when all of them did in time. With
 * `acpi=1` on the command line the CPUs come from the ACPI MADT only, as a
 * kernel without MP-table support finds them. With `hwcr=1`, on an AMD
 * CPU every vCPU must also start with HWCR.TscFreqSel set, as AMD firmware
 * leaves it and tern does (Linux warns "[Firmware Bug]: TSC doesn't count
 * with P0 frequency!" without it); QEMU 7.2 leaves it clear, so it is not
 * checked by default.
 */
#include "guest/cpus.h"
#include "guest/guest.h"
#include "guest/smp.h"

/*
 * How long the BSP waits for the APs, in TSC ticks: 2 to 10 s for TSCs of
 * 5 down to 1 GHz. APs boot in milliseconds even with ring 0 emulated.
 */
#define SMP_WAIT_TSC_TICKS 10000000000ULL

#define MSR_K7_HWCR 0xc0010015
#define HWCR_TSC_FREQ_SEL (1ull << 24)
#define CPUID_EBX_AUTHENTICAMD 0x68747541 /* "Auth" */

static unsigned int aps_online, hwcr_clear;
static bool hwcr_wanted;

/* Counts this CPU in hwcr_clear when it is an AMD CPU without TscFreqSel. */
static void check_hwcr(void)
{
	if (hwcr_wanted && cpuid(0, 0).ebx == CPUID_EBX_AUTHENTICAMD &&
	    !(rdmsr(MSR_K7_HWCR) & HWCR_TSC_FREQ_SEL))
		__atomic_fetch_add(&hwcr_clear, 1, __ATOMIC_SEQ_CST);
}

static void smp_ap(unsigned int apic_id)
{
	check_hwcr();
	con_printf("smp: AP apic-id=%u online\n", apic_id);
	__atomic_fetch_add(&aps_online, 1, __ATOMIC_SEQ_CST);
}

int guest_main(void)
{
	struct cpus_info cpus;
	unsigned int bsp = cpu_apic_id();
	unsigned int started = 0;

	unsigned long acpi = 0, hwcr = 0;

	cmdline_get_uint("hwcr", 1, &hwcr);
	hwcr_wanted = hwcr;

	if (cmdline_get_uint("acpi", 1, &acpi) && acpi) {
		if (!cpus_discover_from(&cpus, CPUS_FROM_MADT))
			result_fail("acpi=1: no ACPI MADT found");
	} else {
		cpus_discover(&cpus);
	}
	con_printf("smp: %u CPUs in the %s\n", cpus.count,
		   cpus_source_name(cpus.source));
	con_printf("smp: BSP apic-id=%u\n", bsp);
	if (cpus.count > cpus.nr_ids)
		result_fail("%u CPUs, at most %u supported", cpus.count,
			    CPUS_MAX);

	smp_init(smp_ap);
	for (unsigned int i = 0; i < cpus.nr_ids; i++) {
		uint32_t id = cpus.apic_ids[i];

		if (id == bsp)
			continue;
		if (id >= CPUS_MAX)
			result_fail("AP apic-id=%u: ids up to %u supported", id,
				    CPUS_MAX - 1);
		if (!smp_start_ap(id))
			result_fail("AP apic-id=%u: ICR stayed busy", id);
		started++;
	}

	uint64_t deadline = rdtsc() + SMP_WAIT_TSC_TICKS;

	while (__atomic_load_n(&aps_online, __ATOMIC_ACQUIRE) < started) {
		if (rdtsc() > deadline)
			result_fail("%u of %u APs online", aps_online, started);
		cpu_relax();
	}
	if (started != cpus.count - 1)
		result_fail("started %u APs for %u CPUs: BSP not listed?",
			    started, cpus.count);
	check_hwcr();
	if (hwcr_clear)
		result_fail("HWCR.TscFreqSel clear on %u of %u CPUs",
			    hwcr_clear, cpus.count);
	result_pass();
}
