// SPDX-License-Identifier: MIT
#include <glib.h>
#include <string.h>

#include "tern/le.h"
#include "tern/state.h"
#include "unit.h"

/* A small stream: two sections, the second with every field type. */
static uint8_t *make_stream(size_t *len)
{
	struct state_writer w;
	static const uint8_t blob[5] = { 1, 2, 3, 4, 5 };

	state_writer_init(&w);
	state_section_begin(&w, 1, "vcpu.%u", 0);
	state_put_u64(&w, 0x1122334455667788ULL);
	state_section_end(&w);
	state_section_begin(&w, 3, "dev");
	state_put_u8(&w, 0xab);
	state_put_u16(&w, 0xbeef);
	state_put_u32(&w, 0xdeadbeef);
	state_put_bool(&w, true);
	state_put_bytes(&w, blob, sizeof(blob));
	state_section_end(&w);
	return state_writer_finish(&w, len);
}

/* Re-seal a modified stream so only the change under test is wrong. */
static void reseal(uint8_t *buf, size_t len)
{
	le32_put(buf + len - 4, state_crc32(0, buf, len - 4));
}

START_TEST(crc32_known_answer)
{
	/* The standard check value of CRC-32/ISO-HDLC. */
	ck_assert_uint_eq(state_crc32(0, "123456789", 9), 0xcbf43926);
	ck_assert_uint_eq(state_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(roundtrip)
{
	size_t len;
	g_autofree uint8_t *buf = make_stream(&len);
	struct state_reader r;
	GError *err = NULL;
	uint64_t v64;
	uint32_t v32, version;
	uint16_t v16;
	uint8_t v8, blob[5];
	bool b;

	ck_assert(state_reader_init(&r, buf, len, &err));
	ck_assert_str_eq(state_next_section(&r), "vcpu.0");
	ck_assert(state_section_open(&r, 1, 1, &version, "vcpu.%u", 0));
	ck_assert(state_get_u64(&r, &v64));
	ck_assert_uint_eq(v64, 0x1122334455667788ULL);
	ck_assert(state_section_close(&r, &err));
	ck_assert(state_section_open(&r, 2, 3, &version, "dev"));
	ck_assert_uint_eq(version, 3);
	ck_assert(state_get_u8(&r, &v8) && v8 == 0xab);
	ck_assert(state_get_u16(&r, &v16) && v16 == 0xbeef);
	ck_assert(state_get_u32(&r, &v32) && v32 == 0xdeadbeef);
	ck_assert(state_get_bool(&r, &b) && b);
	ck_assert(state_get_bytes(&r, blob, sizeof(blob)));
	ck_assert_int_eq(blob[4], 5);
	ck_assert(state_section_close(&r, &err));
	ck_assert_ptr_null(state_next_section(&r));
	ck_assert(state_reader_finish(&r, &err));
	state_reader_clear(&r);
}
END_TEST

static void expect_init_fails(const uint8_t *buf, size_t len, const char *what)
{
	struct state_reader r;
	GError *err = NULL;

	ck_assert(!state_reader_init(&r, buf, len, &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err->message, what), "'%s' lacks '%s'", err->message,
		      what);
	g_error_free(err);
}

START_TEST(container_malformed)
{
	size_t len;
	g_autofree uint8_t *buf = make_stream(&len);
	g_autofree uint8_t *copy = g_malloc(len + 8);

	memcpy(copy, buf, len);
	copy[0] = 'X';
	expect_init_fails(copy, len, "bad magic");

	memcpy(copy, buf, len);
	le32_put(copy + 8, 99);
	expect_init_fails(copy, len, "format version 99");

	memcpy(copy, buf, len);
	copy[30] ^= 1;
	expect_init_fails(copy, len, "checksum");

	/* Truncated and padded, each re-sealed: the length says so. */
	memcpy(copy, buf, len);
	reseal(copy, len - 1);
	expect_init_fails(copy, len - 1, "length");
	memcpy(copy, buf, len);
	memset(copy + len - 4, 0, 8);
	reseal(copy, len + 4);
	expect_init_fails(copy, len + 4, "length");

	expect_init_fails(buf, 10, "bad magic");
	expect_init_fails(buf, 0, "bad magic");
}
END_TEST

START_TEST(section_header_malformed)
{
	size_t len;
	g_autofree uint8_t *buf = make_stream(&len);
	g_autofree uint8_t *copy = g_memdup2(buf, len);
	/* The first section: name length at 24, "vcpu.0", version, length. */
	size_t lenfield = 24 + 1 + 6 + 4;

	le32_put(copy + lenfield, 0xfffffff0);
	reseal(copy, len);
	expect_init_fails(copy, len, "malformed header");

	memcpy(copy, buf, len);
	copy[24] = 0; /* empty name */
	reseal(copy, len);
	expect_init_fails(copy, len, "malformed header");

	memcpy(copy, buf, len);
	copy[25] = '\n'; /* unprintable name */
	reseal(copy, len);
	expect_init_fails(copy, len, "malformed header");

	memcpy(copy, buf, len);
	le32_put(copy + 12, 3); /* one section more than there is */
	reseal(copy, len);
	expect_init_fails(copy, len, "malformed header");

	memcpy(copy, buf, len);
	le32_put(copy + 12, 1); /* one fewer: the rest is trailing junk */
	reseal(copy, len);
	expect_init_fails(copy, len, "after the last section");
}
END_TEST

START_TEST(every_corruption_refused)
{
	size_t len;
	g_autofree uint8_t *buf = make_stream(&len);

	/* Any single flipped bit or any truncation: refused, never a crash. */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			g_autofree uint8_t *c = g_memdup2(buf, len);
			struct state_reader r;
			GError *err = NULL;

			c[i] ^= 1 << bit;
			ck_assert_msg(!state_reader_init(&r, c, len, &err),
				      "flip of byte %zu bit %d accepted", i, bit);
			g_error_free(err);
		}
	}
	for (size_t l = 0; l < len; l++) {
		struct state_reader r;
		GError *err = NULL;

		ck_assert(!state_reader_init(&r, buf, l, &err));
		g_error_free(err);
	}
}
END_TEST

static void expect_close_fails(struct state_reader *r, const char *what)
{
	GError *err = NULL;

	ck_assert(!state_section_close(r, &err));
	ck_assert_msg(strstr(err->message, what), "'%s' lacks '%s'", err->message,
		      what);
	g_error_free(err);
	state_reader_clear(r);
}

START_TEST(reads_checked)
{
	size_t len;
	g_autofree uint8_t *buf = make_stream(&len);
	struct state_reader r;
	uint64_t v64;
	uint32_t v32;

	/* Wrong name. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(!state_section_open(&r, 1, 1, NULL, "vcpu.1"));
	expect_close_fails(&r, "expected section 'vcpu.1', found 'vcpu.0'");

	/* Version out of range. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(!state_section_open(&r, 2, 5, NULL, "vcpu.0"));
	expect_close_fails(&r, "version 1; this tern reads 2 to 5");

	/* Reading past the end: zeroes and a sticky error. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "vcpu.0"));
	ck_assert(state_get_u64(&r, &v64));
	ck_assert(!state_get_u32(&r, &v32));
	ck_assert_uint_eq(v32, 0);
	ck_assert(!state_ok(&r));
	expect_close_fails(&r, "4 bytes wanted, 0 left");

	/* Bytes left unread: a newer layout this loader does not know. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "vcpu.0"));
	ck_assert(state_get_u32(&r, &v32));
	expect_close_fails(&r, "4 bytes this version does not know");

	/* A value out of range. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "vcpu.0"));
	ck_assert(state_get_u64(&r, &v64));
	ck_assert(!state_check(&r, v64 < 16, "vCPU id %llu", (unsigned long long)v64));
	expect_close_fails(&r, "vCPU id");
}
END_TEST

START_TEST(bool_and_missing_sections)
{
	size_t len;
	g_autofree uint8_t *buf = make_stream(&len);
	struct state_reader r;
	GError *err = NULL;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	bool b;

	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "vcpu.0"));
	/* Reading the u64 as bytes: 0x88 is not a boolean. */
	ck_assert(!state_get_bool(&r, &b));
	expect_close_fails(&r, "neither 0 nor 1");

	/* A section the machine does not have, left unread. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "vcpu.0"));
	ck_assert(state_get_u64(&r, &(uint64_t){ 0 }));
	ck_assert(state_section_close(&r, NULL));
	ck_assert(!state_reader_finish(&r, &err));
	ck_assert(strstr(err->message, "'dev'"));
	g_clear_error(&err);
	state_reader_clear(&r);

	/* A section the machine has, missing from the state. */
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "vcpu.0"));
	ck_assert(state_get_u64(&r, &(uint64_t){ 0 }));
	ck_assert(state_section_close(&r, NULL));
	ck_assert(state_section_open(&r, 3, 3, NULL, "dev"));
	ck_assert(state_get_u8(&r, &v8) && state_get_u16(&r, &v16) &&
		  state_get_u32(&r, &v32) && state_get_bool(&r, &b) &&
		  state_get_bytes(&r, (uint8_t[5]){ 0 }, 5));
	ck_assert(state_section_close(&r, NULL));
	ck_assert(!state_section_open(&r, 1, 1, NULL, "irqchip"));
	expect_close_fails(&r, "'irqchip' is missing");
}
END_TEST

START_TEST(empty_stream)
{
	struct state_writer w;
	struct state_reader r;
	g_autofree uint8_t *buf = NULL;
	size_t len;

	state_writer_init(&w);
	buf = state_writer_finish(&w, &len);
	ck_assert_uint_eq(len, STATE_HEADER_SIZE + STATE_TRAILER_SIZE);
	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert_ptr_null(state_next_section(&r));
	ck_assert(state_reader_finish(&r, NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("state");

	UNIT_TCASE(s, "format", crc32_known_answer, roundtrip, empty_stream);
	UNIT_TCASE(s, "malformed", container_malformed, section_header_malformed,
		   every_corruption_refused, reads_checked,
		   bool_and_missing_sections);
	return unit_run(s);
}
