// SPDX-License-Identifier: MIT
/* The ACPI tables, read back the way a guest's OS does. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "tern/acpi.h"
#include "tern/layout.h"
#include "unit.h"

#define GPA 0xe0000ULL
static uint8_t buf[0x10000];

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The table at guest address a, checked: inside buf, sum 0, signature. */
static const uint8_t *table(uint64_t a, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	ck_assert_uint_ge(a, GPA);
	ck_assert_uint_lt(a - GPA + 36, sizeof(buf));
	t = buf + (a - GPA);
	len = rd32(t + 4);
	ck_assert_uint_le(a - GPA + len, sizeof(buf));
	ck_assert_msg(!memcmp(t, sig, 4), "signature %.4s, want %s", t, sig);
	ck_assert_uint_eq(sum(t, len), 0);
	return t;
}

/* Find a table through RSDP -> XSDT. */
static const uint8_t *find(const char *sig)
{
	const uint8_t *xsdt = table(rd64(buf + 24), "XSDT");
	uint32_t n = (rd32(xsdt + 4) - 36) / 8;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = rd64(xsdt + 36 + 8 * i);

		if (!memcmp(buf + (a - GPA), sig, 4))
			return table(a, sig);
	}
	return NULL;
}

START_TEST(rsdp_checksums)
{
	int len = acpi_build(buf, sizeof(buf), GPA, 2);

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

		ck_assert_int_gt(acpi_build(buf, sizeof(buf), GPA, ncpus), 0);
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

	ck_assert_int_gt(acpi_build(buf, sizeof(buf), GPA, 4), 0);
	fadt = find("FACP");
	ck_assert_ptr_nonnull(fadt);
	ck_assert_uint_eq(rd32(fadt + 4), 276);
	ck_assert_uint_eq(fadt[8], 6); /* revision */
	ck_assert(rd32(fadt + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	ck_assert(rd32(fadt + 112) & (1u << 10)); /* RESET_REG_SUP */
	ck_assert(fadt[109] & 2); /* 8042 present */
	ck_assert_uint_eq(fadt[116], 1); /* reset register in I/O space */
	ck_assert_uint_eq(rd64(fadt + 120), 0x64);
	ck_assert_uint_eq(fadt[128], 0xfe);
	ck_assert_uint_eq(rd64(fadt + 140), rd32(fadt + 40)); /* X_DSDT */
	dsdt = table(rd64(fadt + 140), "DSDT");
	ck_assert_uint_eq(rd32(dsdt + 4), 36);
}
END_TEST

START_TEST(bad_arguments)
{
	ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, 0), -EINVAL);
	ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA, ACPI_MAX_CPUS + 1),
			 -EINVAL);
	ck_assert_int_eq(acpi_build(buf, sizeof(buf), GPA + 4, 1), -EINVAL);
	/* Every size short of what 254 CPUs need is refused, never overrun. */
	int need = acpi_build(buf, sizeof(buf), GPA, ACPI_MAX_CPUS);

	ck_assert_int_gt(need, 0);
	for (int n = 0; n < need; n += 7) {
		uint8_t *small = g_malloc(n ? n : 1);

		ck_assert_int_eq(acpi_build(small, n, GPA, ACPI_MAX_CPUS), -ENOSPC);
		g_free(small);
	}
	ck_assert_int_le(need, (int)LAYOUT_ACPI_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi");

	UNIT_TCASE(s, "tables", rsdp_checksums, madt_lists_cpus_and_ioapic,
		   fadt_hw_reduced_with_dsdt, bad_arguments);
	return unit_run(s);
}
