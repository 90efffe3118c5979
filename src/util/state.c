// SPDX-License-Identifier: MIT
/*
 * The machine-state container (see state.h): a writer that frames named,
 * versioned sections into one buffer, and a reader that checks the whole
 * buffer before handing out any section and bounds-checks every read.
 */
#include <stdio.h>
#include <string.h>

#include "tern/error.h"
#include "tern/le.h"
#include "tern/state.h"

/* A nibble at a time: 16 entries of the reflected 0xedb88320 polynomial. */
static const uint32_t crc32_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
	0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

uint32_t state_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc32_nibble[crc & 0xf];
		crc = (crc >> 4) ^ crc32_nibble[crc & 0xf];
	}
	return ~crc;
}

static bool state_name_valid(const char *name, size_t len)
{
	if (!len || len > STATE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7e)
			return false;
	return true;
}

/* ---- writer ---- */

void state_writer_init(struct state_writer *w)
{
	uint8_t hdr[STATE_HEADER_SIZE] = { 0 };

	memset(w, 0, sizeof(*w));
	w->buf = g_byte_array_new();
	/* Counts and length are filled in by state_writer_finish(). */
	memcpy(hdr, STATE_MAGIC, 8);
	le32_put(hdr + 8, STATE_FORMAT_VERSION);
	g_byte_array_append(w->buf, hdr, sizeof(hdr));
}

void state_writer_clear(struct state_writer *w)
{
	if (w->buf)
		g_byte_array_unref(w->buf);
	w->buf = NULL;
}

void state_section_begin(struct state_writer *w, uint32_t version,
			 const char *fmt, ...)
{
	char name[STATE_NAME_MAX + 2];
	uint8_t hdr[8];
	va_list ap;
	int n;

	g_assert(!w->in_section);
	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	/* Names come from our own code: a bad one is a bug, not input. */
	g_assert(n > 0 && state_name_valid(name, (size_t)n));
	g_byte_array_append(w->buf, (uint8_t[]){ (uint8_t)n }, 1);
	g_byte_array_append(w->buf, (const uint8_t *)name, n);
	le32_put(hdr, version);
	le32_put(hdr + 4, 0);
	w->section_start = w->buf->len + 4;
	g_byte_array_append(w->buf, hdr, sizeof(hdr));
	w->in_section = true;
}

void state_section_end(struct state_writer *w)
{
	size_t len = w->buf->len - (w->section_start + 4);

	g_assert(w->in_section && len <= UINT32_MAX);
	le32_put(w->buf->data + w->section_start, (uint32_t)len);
	w->in_section = false;
	w->nsections++;
}

void state_put_bytes(struct state_writer *w, const void *p, size_t len)
{
	g_assert(w->in_section);
	g_byte_array_append(w->buf, p, len);
}

void state_put_u8(struct state_writer *w, uint8_t v)
{
	state_put_bytes(w, &v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t v)
{
	uint8_t b[2];

	le16_put(b, v);
	state_put_bytes(w, b, sizeof(b));
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
	uint8_t b[4];

	le32_put(b, v);
	state_put_bytes(w, b, sizeof(b));
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
	uint8_t b[8];

	le64_put(b, v);
	state_put_bytes(w, b, sizeof(b));
}

void state_put_bool(struct state_writer *w, bool v)
{
	state_put_u8(w, v ? 1 : 0);
}

uint8_t *state_writer_finish(struct state_writer *w, size_t *len)
{
	uint8_t crc[STATE_TRAILER_SIZE];

	g_assert(!w->in_section);
	le32_put(w->buf->data + 12, w->nsections);
	le64_put(w->buf->data + 16, w->buf->len - STATE_HEADER_SIZE);
	le32_put(crc, state_crc32(0, w->buf->data, w->buf->len));
	g_byte_array_append(w->buf, crc, sizeof(crc));
	*len = w->buf->len;
	return g_byte_array_free(g_steal_pointer(&w->buf), FALSE);
}

/* ---- reader ---- */

static void state_fail(struct state_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void state_fail(struct state_reader *r, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (r->error)
		return;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (r->in_section)
		g_set_error(&r->error, TERN_ERROR, TERN_ERROR_INPUT,
			    "state section '%s' (version %u), offset %zu: %s",
			    r->name, r->version, r->sec_pos, msg);
	else
		g_set_error(&r->error, TERN_ERROR, TERN_ERROR_INPUT, "state: %s",
			    msg);
}

/* Parse the section header at pos; false if it does not fit in len. */
static bool state_parse_header(const uint8_t *buf, size_t len, size_t pos,
			       size_t *name_len, uint32_t *version,
			       uint32_t *sec_len)
{
	size_t n;

	if (pos >= len)
		return false;
	n = buf[pos];
	if (len - pos - 1 < n + 8 || !state_name_valid((const char *)buf + pos + 1, n))
		return false;
	*name_len = n;
	*version = le32_get(buf + pos + 1 + n);
	*sec_len = le32_get(buf + pos + 1 + n + 4);
	return *sec_len <= len - (pos + 1 + n + 8);
}

bool state_reader_init(struct state_reader *r, const uint8_t *buf, size_t len,
		       GError **err)
{
	uint64_t body;
	uint32_t format, count;
	size_t pos;
	const char *why = NULL;

	memset(r, 0, sizeof(*r));
	if (len > STATE_MAX_SIZE)
		why = "larger than the 64 MiB bound";
	else if (len < STATE_HEADER_SIZE + STATE_TRAILER_SIZE ||
		 memcmp(buf, STATE_MAGIC, 8))
		why = "not a tern state (bad magic)";
	if (why)
		goto fail;
	format = le32_get(buf + 8);
	count = le32_get(buf + 12);
	body = le64_get(buf + 16);
	if (format != STATE_FORMAT_VERSION) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "state: format version %u, this tern reads version %u",
			    format, STATE_FORMAT_VERSION);
		return false;
	}
	if (body != len - STATE_HEADER_SIZE - STATE_TRAILER_SIZE) {
		why = "length does not match the header (truncated or padded)";
		goto fail;
	}
	if (state_crc32(0, buf, len - STATE_TRAILER_SIZE) !=
	    le32_get(buf + len - STATE_TRAILER_SIZE)) {
		why = "checksum mismatch";
		goto fail;
	}
	/* Walk the framing once: every section must end inside the body. */
	len -= STATE_TRAILER_SIZE;
	pos = STATE_HEADER_SIZE;
	for (uint32_t i = 0; i < count; i++) {
		size_t n;
		uint32_t v, l;

		if (!state_parse_header(buf, len, pos, &n, &v, &l)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "state: section %u of %u: malformed header at offset %zu",
				    i + 1, count, pos);
			return false;
		}
		pos += 1 + n + 8 + l;
	}
	if (pos != len) {
		why = "bytes after the last section";
		goto fail;
	}
	r->buf = buf;
	r->len = len;
	r->pos = STATE_HEADER_SIZE;
	r->nsections = count;
	return true;
fail:
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "state: %s", why);
	return false;
}

void state_reader_clear(struct state_reader *r)
{
	g_clear_error(&r->error);
}

const char *state_next_section(struct state_reader *r)
{
	size_t n;
	uint32_t v, l;

	if (r->in_section || r->error || r->seen >= r->nsections ||
	    !state_parse_header(r->buf, r->len, r->pos, &n, &v, &l))
		return NULL;
	memcpy(r->name, r->buf + r->pos + 1, n);
	r->name[n] = '\0';
	return r->name;
}

bool state_section_open(struct state_reader *r, uint32_t min, uint32_t max,
			uint32_t *version, const char *fmt, ...)
{
	char want[STATE_NAME_MAX + 2];
	const char *name;
	size_t n;
	uint32_t v, l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	if (r->error)
		return false;
	name = state_next_section(r);
	if (!name) {
		state_fail(r, "section '%s' is missing (the state ends)", want);
		return false;
	}
	if (strcmp(name, want)) {
		state_fail(r, "expected section '%s', found '%s'", want, name);
		return false;
	}
	(void)state_parse_header(r->buf, r->len, r->pos, &n, &v, &l);
	if (v < min || v > max) {
		state_fail(r, "section '%s' has version %u; this tern reads %u to %u",
			   want, v, min, max);
		return false;
	}
	r->version = v;
	r->sec = r->buf + r->pos + 1 + n + 8;
	r->sec_len = l;
	r->sec_pos = 0;
	r->in_section = true;
	r->pos += 1 + n + 8 + l;
	r->seen++;
	if (version)
		*version = v;
	return true;
}

bool state_get_bytes(struct state_reader *r, void *p, size_t len)
{
	if (r->error)
		return false;
	if (!r->in_section || len > r->sec_len - r->sec_pos) {
		memset(p, 0, len);
		state_fail(r, "%zu bytes wanted, %zu left", len,
			   r->in_section ? r->sec_len - r->sec_pos : 0);
		return false;
	}
	memcpy(p, r->sec + r->sec_pos, len);
	r->sec_pos += len;
	return true;
}

bool state_get_u8(struct state_reader *r, uint8_t *v)
{
	return state_get_bytes(r, v, 1);
}

bool state_get_u16(struct state_reader *r, uint16_t *v)
{
	uint8_t b[2];
	bool ok = state_get_bytes(r, b, sizeof(b));

	*v = le16_get(b);
	return ok;
}

bool state_get_u32(struct state_reader *r, uint32_t *v)
{
	uint8_t b[4];
	bool ok = state_get_bytes(r, b, sizeof(b));

	*v = le32_get(b);
	return ok;
}

bool state_get_u64(struct state_reader *r, uint64_t *v)
{
	uint8_t b[8];
	bool ok = state_get_bytes(r, b, sizeof(b));

	*v = le64_get(b);
	return ok;
}

bool state_get_bool(struct state_reader *r, bool *v)
{
	uint8_t b;

	*v = false;
	if (!state_get_u8(r, &b))
		return false;
	if (!state_check(r, b <= 1, "boolean byte %u is neither 0 nor 1", b))
		return false;
	*v = b;
	return true;
}

bool state_check(struct state_reader *r, bool ok, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (ok || r->error)
		return ok && !r->error;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	state_fail(r, "%s", msg);
	return false;
}

bool state_ok(const struct state_reader *r)
{
	return !r->error;
}

bool state_section_close(struct state_reader *r, GError **err)
{
	if (!r->error && r->in_section && r->sec_pos != r->sec_len)
		state_fail(r, "%zu bytes this version does not know",
			   r->sec_len - r->sec_pos);
	r->in_section = false;
	if (r->error) {
		if (err)
			*err = g_error_copy(r->error);
		return false;
	}
	return true;
}

bool state_reader_finish(struct state_reader *r, GError **err)
{
	if (!r->error && r->in_section)
		state_fail(r, "section left open");
	if (!r->error && r->seen != r->nsections) {
		state_fail(r, "%u sections this machine does not have, starting with '%s'",
			   r->nsections - r->seen, state_next_section(r));
	}
	if (r->error) {
		if (err)
			*err = g_error_copy(r->error);
		return false;
	}
	return true;
}
