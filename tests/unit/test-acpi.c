// SPDX-License-Identifier: MIT
/*
 * The ACPI tables, read back the way a guest's OS does (test-acpi-dsdt.c
 * walks the DSDT's namespace, test-aml.c checks the writer's encodings).
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "acpi-tables.h"
#include "tern/acpi.h"
#include "tern/layout.h"
#include "unit.h"

START_TEST(rsdp_checksums)
{
	int len = build(2);

	ck_assert_int_gt(len, 0);
	ck_assert_mem_eq(buf, "RSD PTR ", 8);
	ck_assert_uint_eq(buf[15], 2); /* revision: XSDT present */
	ck_assert_uint_eq(sum(buf, 20), 0);
	ck_assert_uint_eq(rd32(buf + 20), 36);
	ck_assert_uint_eq(sum(buf, 36), 0);
	ck_assert_uint_eq(rd64(buf + 24) % 8, 0);
}
END_TEST

START_TEST(madt_lists_cpus_and_ioapic)
{
	for (unsigned int ncpus = 1; ncpus <= ACPI_MAX_CPUS; ncpus += 51) {
		const uint8_t *madt, *e, *end;
		unsigned int lapics = 0, ioapics = 0, nmis = 0;

		ck_assert_int_gt(build(ncpus), 0);
		madt = find("APIC");
		ck_assert_ptr_nonnull(madt);
		ck_assert_uint_eq(rd32(madt + 36), LAYOUT_LAPIC_START);
		ck_assert_uint_eq(rd32(madt + 40) & 1, 1); /* PCAT_COMPAT */
		end = madt + rd32(madt + 4);
		for (e = madt + 44; e < end; e += e[1]) {
			ck_assert_uint_ge(e[1], 2);
			switch (e[0]) {
			case 0:
				ck_assert_uint_eq(e[3], lapics); /* APIC id */
				ck_assert_uint_eq(rd32(e + 4) & 1, 1);
				lapics++;
				break;
			case 1:
				ck_assert_uint_eq(e[2], ncpus);
				ck_assert_uint_eq(rd32(e + 4), LAYOUT_IOAPIC_START);
				ck_assert_uint_eq(rd32(e + 8), 0);
				ioapics++;
				break;
			case 4:
				ck_assert_uint_eq(e[2], 0xff);
				ck_assert_uint_eq(e[5], 1); /* LINT1 */
				nmis++;
				break;
			default:
				ck_abort_msg("unexpected MADT entry type %u", e[0]);
			}
		}
		ck_assert_ptr_eq(e, end);
		ck_assert_uint_eq(lapics, ncpus);
		ck_assert_uint_eq(ioapics, 1);
		ck_assert_uint_eq(nmis, 1);
	}
}
END_TEST

START_TEST(fadt_hw_reduced_with_dsdt)
{
	const uint8_t *fadt, *dsdt;

	ck_assert_int_gt(build(4), 0);
	fadt = find("FACP");
	ck_assert_ptr_nonnull(fadt);
	ck_assert_uint_eq(rd32(fadt + 4), 276);
	ck_assert_uint_eq(fadt[8], 6); /* revision */
	ck_assert(rd32(fadt + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	ck_assert(rd32(fadt + 112) & (1u << 10)); /* RESET_REG_SUP */
	ck_assert(rd32(fadt + 112) & (1u << 4)); /* PWR_BUTTON: a device */
	/* IA-PC boot flags: no 8042 for the OS, no VGA, no CMOS RTC. */
	ck_assert_uint_eq(fadt[109] | fadt[110] << 8, (1u << 2) | (1u << 5));
	ck_assert_uint_eq(fadt[116], 1); /* reset register in I/O space */
	ck_assert_uint_eq(rd64(fadt + 120), 0x64);
	ck_assert_uint_eq(fadt[128], 0xfe);
	ck_assert_uint_eq(rd64(fadt + 140), rd32(fadt + 40)); /* X_DSDT */
	dsdt = table(rd64(fadt + 140), "DSDT");
	ck_assert_uint_gt(rd32(dsdt + 4), 36);
	ck_assert_uint_eq(dsdt[8], 2); /* revision 2: 64-bit integers */
}
END_TEST

/* SLEEP_CONTROL_REG and SLEEP_STATUS_REG: one byte each in I/O space. */
START_TEST(fadt_sleep_registers)
{
	static const struct {
		unsigned int off;
		uint16_t port;
	} regs[] = { { 244, PORT_ACPI_SLEEP_CONTROL },
		     { 256, PORT_ACPI_SLEEP_STATUS } };
	const uint8_t *fadt;

	ck_assert_int_gt(build(1), 0);
	fadt = find("FACP");
	for (unsigned int i = 0; i < G_N_ELEMENTS(regs); i++) {
		const uint8_t *gas = fadt + regs[i].off;

		ck_assert_uint_eq(gas[0], 1); /* SystemIO */
		ck_assert_uint_eq(gas[1], 8); /* bit width */
		ck_assert_uint_eq(gas[2], 0); /* bit offset */
		ck_assert_uint_eq(gas[3], 1); /* byte access */
		ck_assert_uint_eq(rd64(gas + 4), regs[i].port);
	}
	ck_assert_mem_eq(fadt + 268, "TERNVMM ", 8);
}
END_TEST

START_TEST(mcfg_announces_ecam)
{
	const uint8_t *mcfg, *xsdt;

	ck_assert_int_gt(build(2), 0);
	xsdt = table(rd64(buf + 24), "XSDT");
	ck_assert_uint_eq(rd32(xsdt + 4), 36 + 3 * 8); /* FACP, APIC, MCFG */
	mcfg = find("MCFG");
	ck_assert_ptr_nonnull(mcfg);
	ck_assert_uint_eq(rd32(mcfg + 4), 60);
	ck_assert_uint_eq(mcfg[8], 1);
	ck_assert_uint_eq(rd64(mcfg + 36), 0); /* reserved */
	ck_assert_uint_eq(rd64(mcfg + 44), LAYOUT_PCI_ECAM_START);
	ck_assert_uint_eq(mcfg[52] | mcfg[53] << 8, 0); /* segment */
	ck_assert_uint_eq(mcfg[54], 0);
	/* One MiB of ECAM per bus: the last bus ends the window. */
	ck_assert_uint_eq((mcfg[55] + 1ULL) * MiB, LAYOUT_PCI_ECAM_SIZE);
	ck_assert_uint_eq(rd32(mcfg + 56), 0);
}
END_TEST

START_TEST(bad_arguments)
{
	const struct acpi_platform p0 = { .ncpus = 0 };
	const struct acpi_platform pmax = { .ncpus = ACPI_MAX_CPUS + 1 };
	const struct acpi_platform p1 = { .ncpus = 1 };
	int need;

	ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, &p0), -EINVAL);
	ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, &pmax), -EINVAL);
	ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA + 4, &p1), -EINVAL);
	/* Every size short of what 254 CPUs need is refused, never overrun. */
	need = build(ACPI_MAX_CPUS);
	ck_assert_int_gt(need, 0);
	for (int n = 0; n < need; n += 7) {
		uint8_t *small = g_malloc(n + 16);

		memset(small, 0xee, n + 16);
		ck_assert_int_eq(build_for(ACPI_MAX_CPUS, 1 * GiB, small, n),
				 -ENOSPC);
		for (int g = 0; g < 16; g++)
			ck_assert_uint_eq(small[n + g], 0xee);
		g_free(small);
	}
	ck_assert_int_le(need, (int)LAYOUT_ACPI_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi");

	UNIT_TCASE(s, "tables", rsdp_checksums, madt_lists_cpus_and_ioapic,
		   fadt_hw_reduced_with_dsdt, fadt_sleep_registers,
		   mcfg_announces_ecam, bad_arguments);
	return unit_run(s);
}
