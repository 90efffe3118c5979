// SPDX-License-Identifier: MIT
/* The e820 map for the memory layouts guest_memory_layout() produces. */
#include "tern/e820.h"
#include "tern/layout.h"
#include "unit.h"

static unsigned int build(uint64_t ram, struct e820_entry *e, unsigned int max)
{
	struct guest_memory mem;

	ck_assert_int_eq(guest_memory_layout(ram, &mem), 0);
	return e820_build(&mem, e, max);
}

static void ck_entry(const struct e820_entry *e, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	ck_assert_uint_eq(e->addr, addr);
	ck_assert_uint_eq(e->size, size);
	ck_assert_uint_eq(e->type, type);
}

/* Sorted, non-overlapping, non-empty: what every guest assumes. */
static void ck_well_formed(const struct e820_entry *e, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_uint_gt(e[i].size, 0);
		if (i)
			ck_assert_uint_le(e[i - 1].addr + e[i - 1].size,
					  e[i].addr);
	}
}

START_TEST(small_guest)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = build(64 * MiB, e, E820_MAX_ENTRIES);

	ck_assert_uint_eq(n, 4);
	ck_entry(&e[0], 0, LAYOUT_LOWMEM_END, E820_RAM);
	ck_entry(&e[1], LAYOUT_EBDA_START,
		 LAYOUT_HIGHMEM_START - LAYOUT_EBDA_START, E820_RESERVED);
	ck_entry(&e[2], LAYOUT_HIGHMEM_START, 63 * MiB, E820_RAM);
	ck_entry(&e[3], LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE,
		 E820_RESERVED);
	ck_well_formed(e, n);
}
END_TEST

START_TEST(minimum_guest)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = build(2 * MiB, e, E820_MAX_ENTRIES);

	ck_assert_uint_eq(n, 4);
	ck_entry(&e[2], LAYOUT_HIGHMEM_START, 1 * MiB, E820_RAM);
}
END_TEST

START_TEST(below_one_mib)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = build(512 * KiB, e, E820_MAX_ENTRIES);

	/*
	 * RAM that ends before the EBDA, then the hole; no RAM above 1 MiB,
	 * only the ECAM window.
	 */
	ck_assert_uint_eq(n, 3);
	ck_entry(&e[0], 0, 512 * KiB, E820_RAM);
	ck_assert_uint_eq(e[1].type, E820_RESERVED);
	ck_entry(&e[2], LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE,
		 E820_RESERVED);
	ck_well_formed(e, n);

	n = build(1 * MiB, e, E820_MAX_ENTRIES);
	ck_assert_uint_eq(n, 3);
	ck_entry(&e[0], 0, LAYOUT_LOWMEM_END, E820_RAM);
}
END_TEST

START_TEST(exactly_the_hole)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = build(LAYOUT_MMIO32_START, e, E820_MAX_ENTRIES);

	ck_assert_uint_eq(n, 4);
	ck_entry(&e[2], LAYOUT_HIGHMEM_START,
		 LAYOUT_MMIO32_START - LAYOUT_HIGHMEM_START, E820_RAM);
}
END_TEST

START_TEST(ram_above_4g)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = build(8 * GiB, e, E820_MAX_ENTRIES);

	ck_assert_uint_eq(n, 5);
	ck_entry(&e[0], 0, LAYOUT_LOWMEM_END, E820_RAM);
	ck_assert_uint_eq(e[1].type, E820_RESERVED);
	ck_entry(&e[2], LAYOUT_HIGHMEM_START,
		 LAYOUT_MMIO32_START - LAYOUT_HIGHMEM_START, E820_RAM);
	ck_entry(&e[3], LAYOUT_PCI_ECAM_START, LAYOUT_PCI_ECAM_SIZE,
		 E820_RESERVED);
	ck_entry(&e[4], LAYOUT_RAM_ABOVE_4G, 8 * GiB - LAYOUT_MMIO32_START,
		 E820_RAM);
	ck_well_formed(e, n);
	/* RAM adds up to what was asked for, minus the reserved 385 KiB. */
	ck_assert_uint_eq(e[0].size + e[2].size + e[4].size,
			  8 * GiB - (LAYOUT_HIGHMEM_START - LAYOUT_LOWMEM_END));
}
END_TEST

START_TEST(no_ram_in_the_hole)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = build(5 * GiB, e, E820_MAX_ENTRIES);

	for (unsigned int i = 0; i < n; i++)
		ck_assert(e[i].type != E820_RAM ||
			  e[i].addr + e[i].size <= LAYOUT_MMIO32_START ||
			  e[i].addr >= LAYOUT_MMIO32_END);
}
END_TEST

/* The MCFG's window is reserved, whatever the RAM size, and only it. */
START_TEST(ecam_reserved)
{
	static const uint64_t sizes[] = { 512 * KiB, 64 * MiB, 3 * GiB,
					  5 * GiB, 64 * GiB };

	for (unsigned int s = 0; s < ARRAY_SIZE(sizes); s++) {
		struct e820_entry e[E820_MAX_ENTRIES];
		unsigned int n = build(sizes[s], e, E820_MAX_ENTRIES), found = 0;

		ck_well_formed(e, n);
		for (unsigned int i = 0; i < n; i++) {
			if (e[i].addr + e[i].size <= LAYOUT_MMIO32_START ||
			    e[i].addr >= LAYOUT_MMIO32_END)
				continue;
			ck_entry(&e[i], LAYOUT_PCI_ECAM_START,
				 LAYOUT_PCI_ECAM_SIZE, E820_RESERVED);
			found++;
		}
		ck_assert_uint_eq(found, 1);
	}
}
END_TEST

START_TEST(truncated_to_max)
{
	struct e820_entry e[4] = { 0 };
	unsigned int n = build(8 * GiB, e, 2);

	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(e[1].type, E820_RESERVED);
	ck_assert_uint_eq(e[2].size, 0); /* untouched */
	ck_assert_uint_eq(build(8 * GiB, e, 0), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e820");

	UNIT_TCASE(s, "e820", small_guest, minimum_guest, below_one_mib,
		   exactly_the_hole, ram_above_4g, no_ram_in_the_hole, ecam_reserved,
		   truncated_to_max);
	return unit_run(s);
}
