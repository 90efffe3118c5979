// SPDX-License-Identifier: MIT
/*
 * The AML writer against encodings from the ACPI specification (and what
 * iasl writes for the same ASL), and every way of misusing it.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "tern/aml.h"
#include "unit.h"

static uint8_t out[1 << 21];

#define EXPECT(a, ...)                                                         \
	do {                                                                   \
		static const uint8_t want_[] = { __VA_ARGS__ };                \
		ck_assert_int_eq(aml_finish(a), (int)sizeof(want_));           \
		ck_assert_mem_eq((a)->buf, want_, sizeof(want_));              \
	} while (0)

static void start(struct aml *a)
{
	memset(out, 0xcc, sizeof(out));
	aml_init(a, out, sizeof(out));
}

/* Decode a PkgLength at p: its value, and its own size in *n. */
static size_t pkglen(const uint8_t *p, unsigned int *n)
{
	size_t v;

	*n = (p[0] >> 6) + 1;
	if (*n == 1)
		return p[0] & 0x3f;
	v = p[0] & 0x0f;
	for (unsigned int i = 1; i < *n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	return v;
}

START_TEST(integers_take_the_shortest_form)
{
	struct aml a;

	start(&a);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, UINT64_MAX);
	aml_integer(&a, 2);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0xffff);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 0xffffffff);
	aml_integer(&a, 0x100000000);
	EXPECT(&a, 0x00, 0x01, 0xff, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01,
	       0x0b, 0xff, 0xff, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff,
	       0xff, 0xff, 0xff, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
	       0x00, 0x00);
}
END_TEST

START_TEST(name_strings)
{
	struct aml a;

	start(&a);
	aml_name_string(&a, "PCI0");
	aml_name_string(&a, "_S5");
	aml_name_string(&a, "\\_SB.PCI0");
	aml_name_string(&a, "\\_SB.PCI0.GED");
	aml_name_string(&a, "^^A");
	aml_name_string(&a, "\\");
	EXPECT(&a, 'P', 'C', 'I', '0', '_', 'S', '5', '_', 0x5c, 0x2e, '_', 'S',
	       'B', '_', 'P', 'C', 'I', '0', 0x5c, 0x2f, 3, '_', 'S', 'B', '_',
	       'P', 'C', 'I', '0', 'G', 'E', 'D', '_', 0x5e, 0x5e, 'A', '_',
	       '_', '_', 0x5c, 0x00);
}
END_TEST

START_TEST(bad_names_are_refused)
{
	static const char *const bad[] = {
		"", "pci0", "1ABC", "ABCDE", "A..B", "A.", ".A", "\\^A",
		"A-B", "\\.", "_SB.", "A B", "\\\\A",
	};

	for (unsigned int i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct aml a;

		start(&a);
		aml_name_string(&a, bad[i]);
		ck_assert_msg(aml_finish(&a) == -EINVAL, "'%s' accepted", bad[i]);
		/* Sticky: nothing more is written. */
		size_t len = a.len;

		aml_integer(&a, 5);
		aml_device_begin(&a, "GOOD");
		aml_end(&a);
		ck_assert_uint_eq(a.len, len);
		ck_assert_int_eq(aml_finish(&a), -EINVAL);
	}
}
END_TEST

/* Every PkgLength encodes the bytes to the object's end, in the fewest bytes. */
START_TEST(package_lengths_at_every_boundary)
{
	static const size_t bodies[] = { 0, 1, 61, 62, 63, 64, 100, 4092, 4093,
					 4094, 4095, 4096, 0xffffc, 0xffffd,
					 0xffffe, 0xfffff, 0x100000 };

	for (unsigned int i = 0; i < G_N_ELEMENTS(bodies); i++) {
		size_t body = bodies[i];
		g_autofree uint8_t *fill = g_malloc(body + 1);
		unsigned int n, want_n;
		struct aml a;
		int len;

		memset(fill, 0x5a, body);
		start(&a);
		aml_if_begin(&a);
		aml_bytes(&a, fill, body);
		aml_end(&a);
		len = aml_finish(&a);
		ck_assert_int_gt(len, 0);
		ck_assert_uint_eq(out[0], AML_IF);
		ck_assert_uint_eq(pkglen(out + 1, &n), (size_t)len - 1);
		want_n = body + 1 <= 63 ? 1 : body + 2 < 4096 ? 2 :
				  body + 3 < (1u << 20) ? 3 : 4;
		ck_assert_uint_eq(n, want_n);
		ck_assert_uint_eq((size_t)len, 1 + n + body);
		for (size_t b = 0; b < body; b++)
			if (out[1 + n + b] != 0x5a)
				ck_abort_msg("body byte %zu moved wrong", b);
	}
}
END_TEST

START_TEST(packages_count_their_elements)
{
	struct aml a;

	start(&a);
	aml_package_begin(&a);
	aml_integer(&a, 0xffff);
	aml_string(&a, "A");
	aml_package_begin(&a);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_end(&a);
	aml_buffer(&a, "\x01", 1);
	aml_eisaid(&a, "PNP0C0C");
	aml_end(&a);
	EXPECT(&a, 0x12, 0x18, 5, 0x0b, 0xff, 0xff, 0x0d, 'A', 0, 0x12, 0x05, 2,
	       0x01, 0x0a, 0x02, 0x11, 0x04, 0x0a, 0x01, 0x01, 0x0c, 0x41,
	       0xd0, 0x0c, 0x0c);

	/* 255 elements fit in NumElements; 256 do not. */
	start(&a);
	aml_package_begin(&a);
	for (unsigned int i = 0; i < 255; i++)
		aml_integer(&a, i);
	aml_end(&a);
	ck_assert_int_gt(aml_finish(&a), 0);
	ck_assert_uint_eq(out[3], 255); /* after the 2-byte PkgLength */
	start(&a);
	aml_package_begin(&a);
	for (unsigned int i = 0; i < 256; i++)
		aml_integer(&a, i);
	aml_end(&a);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
}
END_TEST

START_TEST(buffers_strings_and_eisaids)
{
	static const struct {
		const char *id;
		uint32_t v;
	} ids[] = { { "PNP0A08", 0x080ad041 }, { "PNP0A03", 0x030ad041 },
		    { "PNP0501", 0x0105d041 }, { "PNP0C0C", 0x0c0cd041 },
		    { "ABC1234", 0x34124304 } };
	static const char *const bad_ids[] = { "pnp0a03", "PNP0A0", "PNP0A0G",
					       "PN10A03", "PNP0A033", "" };
	uint8_t big[300];
	struct aml a;
	uint32_t v;

	for (unsigned int i = 0; i < G_N_ELEMENTS(ids); i++) {
		ck_assert(aml_eisaid_value(ids[i].id, &v));
		ck_assert_uint_eq(v, ids[i].v);
	}
	for (unsigned int i = 0; i < G_N_ELEMENTS(bad_ids); i++) {
		ck_assert(!aml_eisaid_value(bad_ids[i], &v));
		start(&a);
		aml_eisaid(&a, bad_ids[i]);
		ck_assert_int_eq(aml_finish(&a), -EINVAL);
	}

	start(&a);
	aml_name_string_value(&a, "_HID", "ACPI0013");
	aml_buffer(&a, "\x79\x00", 2);
	aml_buffer(&a, NULL, 0);
	EXPECT(&a, 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0',
	       '1', '3', 0, 0x11, 0x05, 0x0a, 0x02, 0x79, 0x00, 0x11, 0x03, 0x0a, 0x00);

	/* A buffer past 255 bytes says its size in a word. */
	memset(big, 7, sizeof(big));
	start(&a);
	aml_buffer(&a, big, sizeof(big));
	ck_assert_int_eq(aml_finish(&a), 1 + 2 + 3 + 300);
	ck_assert_uint_eq(out[3], AML_WORD_PREFIX);
	ck_assert_uint_eq(out[4] | out[5] << 8, 300);

	start(&a);
	aml_string(&a, "tab\there");
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
}
END_TEST

START_TEST(devices_methods_regions_fields)
{
	struct aml a;

	start(&a);
	aml_scope_begin(&a, "\\_SB");
	aml_device_begin(&a, "GED");
	aml_method_return_integer(&a, "_STA", 0x0f);
	aml_op_region(&a, "GDST", AML_SPACE_SYSTEM_MEMORY, 0xfeb00000, 1);
	aml_field_begin(&a, "GDST", AML_FIELD_BYTE_ACC);
	aml_field_unit(&a, "GDAT", 8);
	aml_end(&a);
	aml_method_begin(&a, "_EVT", 1, true);
	aml_op(&a, AML_STORE);
	aml_arg(&a, 0);
	aml_local(&a, 7);
	aml_end(&a);
	aml_end(&a);
	aml_end(&a);
	EXPECT(&a, 0x10, 0x3b, 0x5c, '_', 'S', 'B', '_',
	       /* Device (GED) */
	       0x5b, 0x82, 0x33, 'G', 'E', 'D', '_',
	       /* Method (_STA, 0) { Return (0x0F) } */
	       0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f,
	       /* OperationRegion (GDST, SystemMemory, 0xFEB00000, One) */
	       0x5b, 0x80, 'G', 'D', 'S', 'T', 0x00, 0x0c, 0x00, 0x00, 0xb0,
	       0xfe, 0x01,
	       /* Field (GDST, ByteAcc, NoLock, Preserve) { GDAT, 8 } */
	       0x5b, 0x81, 0x0b, 'G', 'D', 'S', 'T', 0x01, 'G', 'D', 'A', 'T',
	       0x08,
	       /* Method (_EVT, 1, Serialized) { Local7 = Arg0 } */
	       0x14, 0x09, '_', 'E', 'V', 'T', 0x09, 0x70, 0x68, 0x67);
}
END_TEST

START_TEST(misuse_is_refused)
{
	struct aml a;

	start(&a);
	aml_end(&a);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);

	start(&a);
	aml_device_begin(&a, "DEV");
	ck_assert_int_eq(aml_finish(&a), -EINVAL); /* still open */

	start(&a);
	for (unsigned int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_if_begin(&a);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);

	start(&a);
	aml_method_begin(&a, "M", 8, false);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_local(&a, 8);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_arg(&a, 7);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);

	/* A field unit is one NameSeg, 1 bit or more. */
	start(&a);
	aml_field_unit(&a, "A.B", 8);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_field_unit(&a, "GDAT", 0);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_field_unit(&a, "WIDE", 64);
	EXPECT(&a, 'W', 'I', 'D', 'E', 0x40, 0x04);

	start(&a);
	aml_set_error(&a, -EIO);
	aml_set_error(&a, -EINVAL);
	ck_assert_int_eq(aml_finish(&a), -EIO);
}
END_TEST

START_TEST(resource_descriptors)
{
	struct aml a;

	start(&a);
	aml_res_bus_numbers(&a, 0, 0xff);
	aml_res_io(&a, 0xcf8, 8);
	aml_res_io_window(&a, 0xc000, 0xffff);
	aml_res_mem32_window(&a, 0xc0000000, 0xdfffffff);
	aml_res_mem64_window(&a, 0x100000000, 0x10ffffffff);
	aml_res_irq(&a, 4);
	aml_res_interrupt(&a, 5, true, false);
	aml_res_interrupt(&a, 0x12345678, false, true);
	aml_res_end(&a);
	EXPECT(&a,
	       /* WordBusNumber (ResourceProducer, MinFixed, MaxFixed, ...) */
	       0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
	       0x00, 0x00, 0x00, 0x00, 0x01,
	       /* IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08) */
	       0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
	       /* WordIO (..., EntireRange, 0, 0xC000, 0xFFFF, 0, 0x4000) */
	       0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0xc0, 0xff,
	       0xff, 0x00, 0x00, 0x00, 0x40,
	       /* DWordMemory (..., NonCacheable, ReadWrite, ...) */
	       0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0x00, 0x00,
	       0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf, 0, 0, 0, 0, 0x00, 0x00, 0x00,
	       0x20,
	       /* QWordMemory (..., 0x100000000 - 0x10FFFFFFFF) */
	       0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	       0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0, 0, 0, 0,
	       0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0,
	       /* IRQNoFlags () {4} */
	       0x22, 0x10, 0x00,
	       /* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {5} */
	       0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
	       /* Interrupt (ResourceConsumer, Level, ActiveLow, Exclusive) */
	       0x89, 0x06, 0x00, 0x05, 0x01, 0x78, 0x56, 0x34, 0x12,
	       /* EndTag */
	       0x79, 0x00);
}
END_TEST

START_TEST(bad_resources_are_refused)
{
	struct aml a;

	start(&a);
	aml_res_io_window(&a, 0x1000, 0xfff);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	/* 0x10000 ports do not fit a Word descriptor's length. */
	start(&a);
	aml_res_io_window(&a, 0, 0xffff);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_res_mem32_window(&a, 0, 0xffffffff);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_res_mem64_window(&a, 0, UINT64_MAX);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_res_io(&a, 0xfffc, 8);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_res_io(&a, 0x3f8, 0);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
	start(&a);
	aml_res_irq(&a, 16);
	ck_assert_int_eq(aml_finish(&a), -EINVAL);
}
END_TEST

/* A small DSDT-like block in every buffer too short for it: -ENOSPC, no overrun. */
static void sample(struct aml *a)
{
	aml_scope_begin(a, "\\_SB");
	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name(a, "_PRT");
	aml_package_begin(a);
	for (unsigned int i = 0; i < 40; i++) {
		aml_package_begin(a);
		aml_integer(a, (uint64_t)i << 16 | 0xffff);
		aml_integer(a, i % 4);
		aml_integer(a, 0);
		aml_integer(a, 16 + i % 8);
		aml_end(a);
	}
	aml_end(a);
	aml_buffer(a, "\x22\x10\x00\x79\x00", 5);
	aml_end(a);
	aml_end(a);
}

START_TEST(full_buffers_are_never_overrun)
{
	uint8_t *small;
	struct aml a;
	int need;

	start(&a);
	sample(&a);
	need = aml_finish(&a);
	ck_assert_int_gt(need, 64);
	for (int n = 0; n < need; n++) {
		small = g_malloc(n + 16);
		memset(small, 0xee, n + 16);
		aml_init(&a, small, n);
		sample(&a);
		ck_assert_int_eq(aml_finish(&a), -ENOSPC);
		for (int g = 0; g < 16; g++)
			ck_assert_uint_eq(small[n + g], 0xee);
		g_free(small);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aml");

	UNIT_TCASE(s, "writer", integers_take_the_shortest_form, name_strings,
		   bad_names_are_refused, package_lengths_at_every_boundary,
		   packages_count_their_elements, buffers_strings_and_eisaids,
		   devices_methods_regions_fields, misuse_is_refused,
		   resource_descriptors, bad_resources_are_refused,
		   full_buffers_are_never_overrun);
	return unit_run(s);
}
