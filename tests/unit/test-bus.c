// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "tern/bus.h"
#include "unit.h"

struct probe {
	uint64_t last_off;
	unsigned int last_len;
	uint32_t written;
	int reads, writes;
};

static void probe_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct probe *p = opaque;

	p->last_off = off;
	p->last_len = len;
	p->reads++;
	memset(data, 0xab, len);
}

static void probe_write(void *opaque, uint64_t off, const void *data,
			unsigned int len)
{
	struct probe *p = opaque;

	p->last_off = off;
	p->last_len = len;
	p->writes++;
	p->written = 0;
	memcpy(&p->written, data, len > 4 ? 4 : len);
}

static const struct bus_ops probe_ops = { probe_read, probe_write };
static const struct bus_ops wo_ops = { NULL, probe_write };

START_TEST(dispatch_gets_offset)
{
	struct bus b;
	struct probe p = { 0 };
	uint32_t v = 0x12345678, r = 0;

	bus_init(&b, "test");
	ck_assert_int_eq(bus_register(&b, 0x3f8, 8, &probe_ops, &p, "uart"), 0);
	ck_assert(bus_write(&b, 0x3fb, &v, 1));
	ck_assert_uint_eq(p.last_off, 3);
	ck_assert_uint_eq(p.written, 0x78);
	ck_assert(bus_read(&b, 0x3f8, &r, 4));
	ck_assert_uint_eq(p.last_off, 0);
	ck_assert_uint_eq(r, 0xabababab);
	bus_destroy(&b);
}
END_TEST

START_TEST(unclaimed_and_straddling)
{
	struct bus b;
	struct probe p = { 0 };
	uint32_t r = 0x11111111;

	bus_init(&b, "test");
	ck_assert_int_eq(bus_register(&b, 0x100, 0x10, &probe_ops, &p, "a"), 0);
	ck_assert(!bus_read(&b, 0xff, &r, 1));
	ck_assert(!bus_read(&b, 0x110, &r, 1));
	/* An access that runs past the end of a region is not dispatched. */
	ck_assert(!bus_read(&b, 0x10e, &r, 4));
	ck_assert(!bus_write(&b, 0x10f, &r, 2));
	ck_assert_int_eq(p.reads + p.writes, 0);
	ck_assert_uint_eq(r, 0x11111111);
	ck_assert(bus_read(&b, 0x10c, &r, 4));
	bus_destroy(&b);
}
END_TEST

START_TEST(overlaps_rejected)
{
	struct bus b;
	struct probe p = { 0 };

	bus_init(&b, "test");
	ck_assert_int_eq(bus_register(&b, 0x100, 0x10, &probe_ops, &p, "a"), 0);
	ck_assert_int_eq(bus_register(&b, 0x10f, 1, &probe_ops, &p, "b"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0xf0, 0x11, &probe_ops, &p, "c"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x0, 0x1000, &probe_ops, &p, "d"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x104, 2, &probe_ops, &p, "e"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0xf0, 0x10, &probe_ops, &p, "f"), 0);
	ck_assert_int_eq(bus_register(&b, 0x110, 0x10, &probe_ops, &p, "g"), 0);
	ck_assert_int_eq(bus_register(&b, 0x200, 0, &probe_ops, &p, "h"), -EINVAL);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX, 2, &probe_ops, &p, "i"), -EINVAL);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX, 1, &probe_ops, &p, "j"), 0);
	ck_assert_uint_eq(b.nr_regions, 4);
	bus_destroy(&b);
}
END_TEST

START_TEST(many_regions_sorted_lookup)
{
	struct bus b;
	struct probe p[64] = { 0 };
	uint8_t v = 0;

	bus_init(&b, "test");
	/* Registered out of order; lookup must still find each one. */
	for (int i = 63; i >= 0; i--)
		ck_assert_int_eq(bus_register(&b, (uint64_t)i * 0x1000 + 0x10, 0x20,
					      &probe_ops, &p[i], "r"), 0);
	for (int i = 0; i < 64; i++) {
		ck_assert(bus_read(&b, (uint64_t)i * 0x1000 + 0x2f, &v, 1));
		ck_assert_int_eq(p[i].reads, 1);
		ck_assert_uint_eq(p[i].last_off, 0x1f);
		ck_assert(!bus_read(&b, (uint64_t)i * 0x1000 + 0x30, &v, 1));
		ck_assert(!bus_read(&b, (uint64_t)i * 0x1000 + 0xf, &v, 1));
	}
	for (unsigned int i = 1; i < b.nr_regions; i++)
		ck_assert_uint_lt(b.regions[i - 1].base, b.regions[i].base);
	bus_destroy(&b);
}
END_TEST

START_TEST(unregister)
{
	struct bus b;
	struct probe p = { 0 };
	uint8_t v;

	bus_init(&b, "test");
	ck_assert_int_eq(bus_register(&b, 0x60, 1, &probe_ops, &p, "a"), 0);
	ck_assert_int_eq(bus_register(&b, 0x64, 1, &probe_ops, &p, "b"), 0);
	ck_assert_int_eq(bus_unregister(&b, 0x61), -ENOENT);
	ck_assert_int_eq(bus_unregister(&b, 0x60), 0);
	ck_assert(!bus_read(&b, 0x60, &v, 1));
	ck_assert(bus_read(&b, 0x64, &v, 1));
	ck_assert_int_eq(bus_unregister(&b, 0x60), -ENOENT);
	ck_assert_int_eq(bus_register(&b, 0x60, 1, &probe_ops, &p, "a"), 0);
	bus_destroy(&b);
}
END_TEST

START_TEST(write_only_region_reads_zero)
{
	struct bus b;
	struct probe p = { 0 };
	uint32_t v = 0xffffffff;

	bus_init(&b, "test");
	ck_assert_int_eq(bus_register(&b, 0xf4, 4, &wo_ops, &p, "exit"), 0);
	ck_assert(bus_read(&b, 0xf4, &v, 4));
	ck_assert_uint_eq(v, 0);
	bus_destroy(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bus");

	UNIT_TCASE(s, "bus", dispatch_gets_offset, unclaimed_and_straddling,
		   overlaps_rejected, many_regions_sorted_lookup, unregister,
		   write_only_region_reads_zero);
	return unit_run(s);
}
