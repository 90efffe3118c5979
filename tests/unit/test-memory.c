// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "tern/layout.h"
#include "tern/memory.h"
#include "unit.h"

START_TEST(layout_small)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_layout(128 * MiB, &m), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
	ck_assert_uint_eq(m.regions[0].gpa, 0);
	ck_assert_uint_eq(m.regions[0].size, 128 * MiB);
	ck_assert_uint_eq(m.end, 128 * MiB);
	ck_assert_uint_eq(m.ram_size, 128 * MiB);
}
END_TEST

START_TEST(layout_split_around_hole)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_layout(4 * GiB, &m), 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	ck_assert_uint_eq(m.regions[0].size, LAYOUT_MMIO32_START);
	ck_assert_uint_eq(m.regions[1].gpa, LAYOUT_RAM_ABOVE_4G);
	ck_assert_uint_eq(m.regions[1].size, 4 * GiB - LAYOUT_MMIO32_START);
	ck_assert_uint_eq(m.end, LAYOUT_RAM_ABOVE_4G + 1 * GiB);
	ck_assert_uint_ne(m.regions[0].slot, m.regions[1].slot);
	/* Exactly the hole size: no high region. */
	ck_assert_int_eq(guest_memory_layout(LAYOUT_MMIO32_START, &m), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
}
END_TEST

START_TEST(layout_rejects)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_layout(0, &m), -EINVAL);
	ck_assert_int_eq(guest_memory_layout(4097, &m), -EINVAL);
	ck_assert_int_eq(guest_memory_layout(1ULL << 50, &m), -ERANGE);
}
END_TEST

START_TEST(translate_bounds)
{
	struct guest_memory m;
	uint8_t *base;

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	base = guest_memory_ptr(&m, 0, 1);
	ck_assert_ptr_nonnull(base);
	ck_assert_ptr_eq(guest_memory_ptr(&m, 0x1000, 16), base + 0x1000);
	ck_assert_ptr_eq(guest_memory_ptr(&m, 16 * MiB - 1, 1), base + 16 * MiB - 1);
	ck_assert_ptr_eq(guest_memory_ptr(&m, 0, 16 * MiB), base);
	/* The end of the range is checked, not only the start. */
	ck_assert_ptr_null(guest_memory_ptr(&m, 16 * MiB - 1, 2));
	ck_assert_ptr_null(guest_memory_ptr(&m, 16 * MiB, 1));
	ck_assert_ptr_null(guest_memory_ptr(&m, 0, 16 * MiB + 1));
	/* Wrapping ranges and absurd lengths. */
	ck_assert_ptr_null(guest_memory_ptr(&m, UINT64_MAX, 2));
	ck_assert_ptr_null(guest_memory_ptr(&m, 0x1000, UINT64_MAX));
	ck_assert_ptr_null(guest_memory_ptr(&m, UINT64_MAX - 0xfff, 0x2000));
	ck_assert(guest_memory_contains(&m, 0x1000, 0x1000));
	ck_assert(!guest_memory_contains(&m, 16 * MiB, 0));
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(translate_high_region)
{
	struct guest_memory m;

	/* Mapped lazily (MAP_NORESERVE): a large size costs nothing here. */
	ck_assert_int_eq(guest_memory_init(&m, LAYOUT_MMIO32_START + 64 * MiB), 0);
	ck_assert_ptr_nonnull(guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G, 4096));
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_MMIO32_START, 1));
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_IOAPIC_START, 4));
	/* A range spanning the hole is refused: regions are not contiguous. */
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_MMIO32_START - 4096, 8192));
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G + 64 * MiB, 1));
	ck_assert_ptr_nonnull(guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G + 64 * MiB - 1, 1));
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(read_write)
{
	struct guest_memory m;
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8] = { 0 };

	ck_assert_int_eq(guest_memory_init(&m, 2 * MiB), 0);
	ck_assert_int_eq(guest_memory_write(&m, 0x100, buf, sizeof(buf)), 0);
	ck_assert_int_eq(guest_memory_read(&m, 0x100, out, sizeof(out)), 0);
	ck_assert_mem_eq(buf, out, sizeof(buf));
	ck_assert_int_eq(guest_memory_write(&m, 2 * MiB - 4, buf, 8), -EFAULT);
	ck_assert_int_eq(guest_memory_read(&m, 2 * MiB - 4, out, 8), -EFAULT);
	guest_memory_destroy(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memory");

	UNIT_TCASE(s, "layout", layout_small, layout_split_around_hole,
		   layout_rejects);
	UNIT_TCASE(s, "translate", translate_bounds, translate_high_region,
		   read_write);
	return unit_run(s);
}
