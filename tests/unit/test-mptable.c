// SPDX-License-Identifier: MIT
/*
 * MP tables, read back the way a guest reads them: by the offsets of the
 * MultiProcessor Specification 1.4, not through tern's structs.
 */
#include <errno.h>
#include <string.h>

#include "tern/layout.h"
#include "tern/mptable.h"
#include "unit.h"
#include "x86-images.h"

#define GPA 0x9fc00ULL
#define BUF_SIZE 8192

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static size_t expected_size(unsigned int ncpus)
{
	return 16 + 44 + 20 * ncpus + 2 * 8 + 8 + 16 * 8 + 31 * 4 * 8 + 2 * 8;
}

/* Walk and check a whole table for ncpus; returns the entry count. */
static void check_table(unsigned int ncpus)
{
	uint8_t *buf = g_malloc(BUF_SIZE);
	int size;
	const uint8_t *mpc, *p, *end;
	unsigned int cpus = 0, buses = 0, ioapics = 0, ints = 0, lints = 0;
	unsigned int pci_ints = 0;
	bool pci_seen[32][4] = { { false } };
	unsigned int count, last_type = 0;
	bool irq_seen[16] = { false };

	memset(buf, 0xa5, BUF_SIZE);
	size = mptable_build(buf, BUF_SIZE, GPA, ncpus);
	ck_assert_int_eq(size, (int)expected_size(ncpus));
	ck_assert_uint_eq(buf[size], 0xa5); /* nothing written past the end */

	/* Floating pointer */
	ck_assert(!memcmp(buf, "_MP_", 4));
	ck_assert_uint_eq(le32_get(buf + 4), GPA + 16);
	ck_assert_uint_eq(buf[8], 1); /* length in paragraphs */
	ck_assert_uint_eq(buf[9], 4); /* spec 1.4 */
	ck_assert_uint_eq(sum8(buf, 16), 0);
	ck_assert_uint_eq(buf[11], 0); /* a configuration table follows */
	ck_assert_uint_eq(buf[12], 0); /* virtual wire, no IMCR */

	/* Configuration table header */
	mpc = buf + 16;
	ck_assert(!memcmp(mpc, "PCMP", 4));
	ck_assert_uint_eq(le16_get(mpc + 4), size - 16);
	ck_assert_uint_eq(mpc[6], 4);
	ck_assert_uint_eq(sum8(mpc, le16_get(mpc + 4)), 0);
	ck_assert(!memcmp(mpc + 8, "TERN    ", 8));
	ck_assert(!memcmp(mpc + 16, "TERNVM      ", 12));
	ck_assert_uint_eq(le32_get(mpc + 28), 0); /* no OEM table */
	count = le16_get(mpc + 34);
	ck_assert_uint_eq(count, ncpus + 2 + 1 + 16 + 31 * 4 + 2);
	ck_assert_uint_eq(le32_get(mpc + 36), 0xfee00000);
	ck_assert_uint_eq(le16_get(mpc + 40), 0); /* no extended entries */

	p = mpc + 44;
	end = mpc + le16_get(mpc + 4);
	for (unsigned int i = 0; i < count; i++) {
		ck_assert(p < end);
		/* Entries come sorted by type, as the spec requires. */
		ck_assert_uint_ge(p[0], last_type);
		last_type = p[0];
		switch (p[0]) {
		case 0: /* processor */
			ck_assert_uint_eq(p[1], cpus); /* APIC id */
			ck_assert_uint_eq(p[2], 0x14);
			ck_assert_uint_eq(p[3], cpus == 0 ? 3 : 1);
			ck_assert_uint_eq(le32_get(p + 4), 0x600);
			ck_assert_uint_eq(le32_get(p + 8), 0x201);
			cpus++;
			p += 20;
			break;
		case 1:
			/* ISA is bus 0, PCI bus 1 */
			ck_assert_uint_eq(p[1], buses);
			ck_assert(!memcmp(p + 2, buses ? "PCI   " : "ISA   ", 6));
			buses++;
			p += 8;
			break;
		case 2:
			ck_assert_uint_eq(p[1], ncpus); /* after the CPUs */
			ck_assert_uint_eq(p[2], 0x11);
			ck_assert_uint_eq(p[3], 1);
			ck_assert_uint_eq(le32_get(p + 4), LAYOUT_IOAPIC_START);
			ioapics++;
			p += 8;
			break;
		case 3:
			ck_assert_uint_eq(p[1], 0); /* INT */
			if (p[4] == 1) {
				/* PCI: (slot << 2) | pin, level, active low */
				unsigned int slot = p[5] >> 2, pin = p[5] & 3;

				ck_assert_uint_eq(le16_get(p + 2), 0x0f);
				ck_assert_uint_ge(slot, 1);
				ck_assert(!pci_seen[slot][pin]);
				pci_seen[slot][pin] = true;
				ck_assert_uint_eq(p[6], ncpus);
				ck_assert_uint_eq(p[7], 16 + (slot + pin) % 8);
				ck_assert_uint_eq(p[7], LAYOUT_PCI_INTX_GSI(slot, pin));
				pci_ints++;
				p += 8;
				break;
			}
			ck_assert_uint_eq(le16_get(p + 2), 0);
			ck_assert_uint_eq(p[4], 0); /* ISA */
			ck_assert_uint_lt(p[5], 16);
			ck_assert(!irq_seen[p[5]]);
			irq_seen[p[5]] = true;
			ck_assert_uint_eq(p[6], ncpus);
			ck_assert_uint_eq(p[7], p[5]); /* pin = irq, see mptable.c */
			ints++;
			p += 8;
			break;
		case 4:
			/* LINT0 ExtINT, then LINT1 NMI, to every LAPIC */
			ck_assert_uint_eq(p[1], lints == 0 ? 3 : 1);
			ck_assert_uint_eq(p[6], 0xff);
			ck_assert_uint_eq(p[7], lints);
			lints++;
			p += 8;
			break;
		default:
			ck_abort_msg("unknown entry type %u", p[0]);
		}
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_uint_eq(cpus, ncpus);
	ck_assert_uint_eq(buses, 2);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(ints, 16);
	ck_assert_uint_eq(pci_ints, 31 * 4);
	ck_assert_uint_eq(lints, 2);
	g_free(buf);
}

START_TEST(one_cpu)
{
	check_table(1);
}
END_TEST

START_TEST(several_cpus)
{
	check_table(2);
	check_table(8);
	check_table(40);
}
END_TEST

START_TEST(max_cpus)
{
	check_table(MPTABLE_MAX_CPUS);
}
END_TEST

START_TEST(bad_cpu_count)
{
	uint8_t buf[BUF_SIZE];

	ck_assert_int_eq(mptable_build(buf, sizeof(buf), GPA, 0), -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), GPA,
				       MPTABLE_MAX_CPUS + 1),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), GPA, 100000), -EINVAL);
}
END_TEST

START_TEST(buffer_too_small)
{
	uint8_t buf[BUF_SIZE];
	size_t need = expected_size(4);

	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(mptable_build(buf, need - 1, GPA, 4), -ENOSPC);
	ck_assert_uint_eq(buf[0], 0x5a); /* untouched on failure */
	ck_assert_int_eq(mptable_build(buf, 0, GPA, 4), -ENOSPC);
	ck_assert_int_eq(mptable_build(buf, need, GPA, 4), (int)need);
}
END_TEST

START_TEST(address_must_be_32bit)
{
	uint8_t buf[BUF_SIZE];

	ck_assert_int_eq(mptable_build(buf, sizeof(buf), 0x100000000ULL, 1),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), 0xffffff80ULL, 1),
			 -EINVAL);
	ck_assert_int_gt(mptable_build(buf, sizeof(buf), 0xf0000, 1), 0);
	ck_assert_uint_eq(le32_get(buf + 4), 0xf0010);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mptable");

	UNIT_TCASE(s, "mptable", one_cpu, several_cpus, max_cpus, bad_cpu_count,
		   buffer_too_small, address_must_be_32bit);
	return unit_run(s);
}
