// SPDX-License-Identifier: MIT
/*
 * The AML writer (aml.h). Every object is written in the order AML reads
 * it; a PkgLength is not known until its object ends, so aml_end() moves
 * the contents up by the one to four bytes the encoding takes and writes
 * it in front. Nesting is shallow and tables are a few KiB, so the moves
 * cost nothing worth a two-pass design.
 */
#include <errno.h>
#include <string.h>

#include "tern/aml.h"

#define AML_PKGLEN_MAX ((1u << 28) - 1)
#define AML_NAME_SEG 4
#define AML_MAX_SEGS 255
#define AML_PACKAGE_MAX_ELEMENTS 255

/* Resource descriptor tags and fields (ACPI 6.4, 6.4.2 and 6.4.3). */
#define RES_IRQ_NO_FLAGS 0x22
#define RES_IO 0x47
#define RES_END 0x79
#define RES_DWORD_ADDRESS 0x87
#define RES_WORD_ADDRESS 0x88
#define RES_EXT_IRQ 0x89
#define RES_QWORD_ADDRESS 0x8a
#define RES_TYPE_MEMORY 0
#define RES_TYPE_IO 1
#define RES_TYPE_BUS 2
#define RES_MIN_FIXED (1u << 2)
#define RES_MAX_FIXED (1u << 3)
#define RES_IO_ENTIRE_RANGE 3
#define RES_MEM_READ_WRITE 1 /* non-cacheable, AddressRangeMemory */
#define RES_IO_DECODE16 1
#define RES_IRQ_CONSUMER (1u << 0)
#define RES_IRQ_EDGE (1u << 1)
#define RES_IRQ_ACTIVE_LOW (1u << 2)

void aml_set_error(struct aml *a, int err)
{
	if (!a->error)
		a->error = err;
}

void aml_init(struct aml *a, uint8_t *buf, size_t size)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->size = size;
}

int aml_finish(struct aml *a)
{
	if (!a->error && a->depth)
		aml_set_error(a, -EINVAL);
	return a->error ? a->error : (int)a->len;
}

void aml_bytes(struct aml *a, const void *p, size_t len)
{
	if (a->error || !len)
		return;
	if (len > a->size - a->len) {
		aml_set_error(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, len);
	a->len += len;
}

static void aml_u8(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned int bytes)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, bytes);
}

/* One more element in the package being written, if that is where we are. */
static void aml_element(struct aml *a)
{
	struct aml_open *o;

	if (a->error || !a->depth)
		return;
	o = &a->open[a->depth - 1];
	if (o->package && ++o->count > AML_PACKAGE_MAX_ELEMENTS)
		aml_set_error(a, -EINVAL);
}

static bool seg_char_ok(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

void aml_name_string(struct aml *a, const char *path)
{
	char segs[AML_MAX_SEGS][AML_NAME_SEG];
	unsigned int nsegs = 0, len = 0;
	const char *p = path;

	if (a->error)
		return;
	if (*p == '\\') {
		aml_u8(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_u8(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	if (!*p) {
		/* The root alone, or a bare prefix: NullName. */
		if (p == path)
			aml_set_error(a, -EINVAL);
		aml_u8(a, 0);
		return;
	}
	for (;; p++) {
		if (*p == '.' || !*p) {
			if (!len) /* an empty segment: "A..B", "A.", ".A" */
				goto bad;
			memset(segs[nsegs] + len, '_', AML_NAME_SEG - len);
			nsegs++;
			len = 0;
			if (!*p)
				break;
			if (nsegs == AML_MAX_SEGS)
				goto bad;
			continue;
		}
		if (len == AML_NAME_SEG || !seg_char_ok(*p, len == 0))
			goto bad;
		segs[nsegs][len++] = *p;
	}
	if (nsegs == 2) {
		aml_u8(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_u8(a, AML_MULTI_NAME_PREFIX);
		aml_u8(a, (uint8_t)nsegs);
	}
	aml_bytes(a, segs, (size_t)nsegs * AML_NAME_SEG);
	return;
bad:
	aml_set_error(a, -EINVAL);
}

void aml_integer(struct aml *a, uint64_t v)
{
	aml_element(a);
	if (v == 0) {
		aml_u8(a, AML_ZERO);
	} else if (v == 1) {
		aml_u8(a, AML_ONE);
	} else if (v == UINT64_MAX) {
		aml_u8(a, AML_ONES);
	} else if (v <= UINT8_MAX) {
		aml_u8(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_u8(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_u8(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_u8(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	/* AsciiCharList: 0x01-0x7f; we allow only the printable ones. */
	for (const char *p = s; *p; p++)
		if (*p < 0x20 || *p > 0x7e) {
			aml_set_error(a, -EINVAL);
			return;
		}
	aml_element(a);
	aml_u8(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

bool aml_eisaid_value(const char *id, uint32_t *out)
{
	uint8_t b[4];
	unsigned int hex[4];

	if (strlen(id) != 7)
		return false;
	for (unsigned int i = 0; i < 3; i++)
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
	for (unsigned int i = 0; i < 4; i++) {
		char c = id[3 + i];

		if (c >= '0' && c <= '9')
			hex[i] = (unsigned int)(c - '0');
		else if (c >= 'A' && c <= 'F')
			hex[i] = (unsigned int)(c - 'A' + 10);
		else
			return false;
	}
	/* Three 5-bit letters ('A' is 1), then four nibbles, in byte order. */
	b[0] = (uint8_t)(((id[0] - 0x40) << 2) | ((id[1] - 0x40) >> 3));
	b[1] = (uint8_t)((((id[1] - 0x40) & 7) << 5) | (id[2] - 0x40));
	b[2] = (uint8_t)(hex[0] << 4 | hex[1]);
	b[3] = (uint8_t)(hex[2] << 4 | hex[3]);
	*out = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	if (!aml_eisaid_value(id, &v)) {
		aml_set_error(a, -EINVAL);
		return;
	}
	/* Always a DWord, as iasl writes EisaId(), so readers find it. */
	aml_element(a);
	aml_u8(a, AML_DWORD_PREFIX);
	aml_le(a, v, 4);
}

/* Open a PkgLength object whose opcode bytes are already written. */
static void aml_open(struct aml *a, bool package)
{
	if (a->error)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		aml_set_error(a, -EINVAL);
		return;
	}
	a->open[a->depth++] = (struct aml_open){ .start = a->len,
						 .package = package };
}

void aml_end(struct aml *a)
{
	struct aml_open *o;
	size_t body, total;
	uint8_t enc[4];
	unsigned int n;

	if (a->error)
		return;
	if (!a->depth) {
		aml_set_error(a, -EINVAL);
		return;
	}
	o = &a->open[--a->depth];
	if (o->package)
		a->buf[o->count_at] = (uint8_t)o->count;
	body = a->len - o->start;
	/* The length counts its own bytes: one byte holds up to 63. */
	for (n = 1; n <= 4; n++) {
		total = body + n;
		if (n == 1 ? total <= 0x3f : total < (1ULL << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4 || total > AML_PKGLEN_MAX) {
		aml_set_error(a, -EINVAL);
		return;
	}
	if (n > a->size - a->len) {
		aml_set_error(a, -ENOSPC);
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0xf));
		for (unsigned int i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + o->start + n, a->buf + o->start, body);
	memcpy(a->buf + o->start, enc, n);
	a->len += n;
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
	aml_element(a);
	aml_u8(a, AML_BUFFER);
	aml_open(a, false);
	/* The BufferSize inside the package must not count as an element. */
	if (len <= UINT8_MAX) {
		aml_u8(a, AML_BYTE_PREFIX);
		aml_le(a, len, 1);
	} else if (len <= UINT16_MAX) {
		aml_u8(a, AML_WORD_PREFIX);
		aml_le(a, len, 2);
	} else {
		aml_set_error(a, -EINVAL);
	}
	aml_bytes(a, data, len);
	aml_end(a);
}

void aml_name(struct aml *a, const char *path)
{
	aml_u8(a, AML_NAME);
	aml_name_string(a, path);
}

void aml_name_integer(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_integer(a, v);
}

void aml_name_string_value(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_u8(a, AML_SCOPE);
	aml_open(a, false);
	aml_name_string(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	aml_u8(a, AML_EXT_PREFIX);
	aml_u8(a, AML_EXT_DEVICE);
	aml_open(a, false);
	aml_name_string(a, path);
}

void aml_method_begin(struct aml *a, const char *path, unsigned int nargs,
		      bool serialized)
{
	if (nargs > 7) {
		aml_set_error(a, -EINVAL);
		return;
	}
	aml_u8(a, AML_METHOD);
	aml_open(a, false);
	aml_name_string(a, path);
	/* MethodFlags: ArgCount in bits 2:0, SerializeFlag in bit 3. */
	aml_u8(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_package_begin(struct aml *a)
{
	aml_element(a);
	aml_u8(a, AML_PACKAGE);
	aml_open(a, true);
	if (a->error)
		return;
	a->open[a->depth - 1].count_at = a->len;
	aml_u8(a, 0); /* NumElements, set by aml_end() */
}

void aml_if_begin(struct aml *a)
{
	aml_u8(a, AML_IF);
	aml_open(a, false);
}

void aml_field_begin(struct aml *a, const char *region, uint8_t flags)
{
	aml_u8(a, AML_EXT_PREFIX);
	aml_u8(a, AML_EXT_FIELD);
	aml_open(a, false);
	aml_name_string(a, region);
	aml_u8(a, flags);
}

void aml_method_return_integer(struct aml *a, const char *path, uint64_t v)
{
	aml_method_begin(a, path, 0, false);
	aml_u8(a, AML_RETURN);
	aml_integer(a, v);
	aml_end(a);
}

void aml_op_region(struct aml *a, const char *name, uint8_t space,
		   uint64_t offset, uint64_t len)
{
	aml_u8(a, AML_EXT_PREFIX);
	aml_u8(a, AML_EXT_OP_REGION);
	aml_name_string(a, name);
	aml_u8(a, space);
	aml_integer(a, offset);
	aml_integer(a, len);
}

void aml_field_unit(struct aml *a, const char *name, unsigned int bits)
{
	size_t at = a->len;

	/* One NameSeg, not a path; then the width, encoded as a PkgLength. */
	aml_name_string(a, name);
	if (!a->error && (a->len - at != AML_NAME_SEG || !bits ||
			  bits > AML_PKGLEN_MAX))
		aml_set_error(a, -EINVAL);
	if (bits <= 0x3f) {
		aml_u8(a, (uint8_t)bits);
	} else {
		/* Widths past 63 bits: the same encoding as aml_end()'s. */
		unsigned int n = bits < (1u << 12) ? 2 : bits < (1u << 20) ? 3 : 4;

		aml_u8(a, (uint8_t)((n - 1) << 6 | (bits & 0xf)));
		for (unsigned int i = 1; i < n; i++)
			aml_u8(a, (uint8_t)(bits >> (4 + 8 * (i - 1))));
	}
}

void aml_op(struct aml *a, uint8_t op)
{
	aml_u8(a, op);
}

void aml_local(struct aml *a, unsigned int n)
{
	if (n > 7)
		aml_set_error(a, -EINVAL);
	aml_u8(a, (uint8_t)(AML_LOCAL0 + n));
}

void aml_arg(struct aml *a, unsigned int n)
{
	if (n > 6)
		aml_set_error(a, -EINVAL);
	aml_u8(a, (uint8_t)(AML_ARG0 + n));
}

void aml_null_target(struct aml *a)
{
	aml_u8(a, 0);
}

/* ---- resource descriptors ---- */

/* Word, DWord or QWord address space: a producer window, min/max fixed. */
static void res_address(struct aml *a, uint8_t tag, unsigned int width,
			uint8_t type, uint8_t type_flags, uint64_t min,
			uint64_t max)
{
	uint64_t len = max - min + 1;

	/* The length field must hold the window's size: not 2^(8 * width). */
	if (max < min || !len || (width < 8 && len >> (8 * width))) {
		aml_set_error(a, -EINVAL);
		return;
	}
	aml_u8(a, tag);
	aml_le(a, 3 + 5 * width, 2); /* type, flags, flags, five fields */
	aml_u8(a, type);
	aml_u8(a, RES_MIN_FIXED | RES_MAX_FIXED); /* producer, positive */
	aml_u8(a, type_flags);
	aml_le(a, 0, width); /* granularity */
	aml_le(a, min, width);
	aml_le(a, max, width);
	aml_le(a, 0, width); /* translation offset */
	aml_le(a, len, width);
}

void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max)
{
	res_address(a, RES_WORD_ADDRESS, 2, RES_TYPE_BUS, 0, min, max);
}

void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max)
{
	res_address(a, RES_WORD_ADDRESS, 2, RES_TYPE_IO, RES_IO_ENTIRE_RANGE,
		    min, max);
}

void aml_res_mem32_window(struct aml *a, uint32_t min, uint32_t max)
{
	res_address(a, RES_DWORD_ADDRESS, 4, RES_TYPE_MEMORY,
		    RES_MEM_READ_WRITE, min, max);
}

void aml_res_mem64_window(struct aml *a, uint64_t min, uint64_t max)
{
	res_address(a, RES_QWORD_ADDRESS, 8, RES_TYPE_MEMORY,
		    RES_MEM_READ_WRITE, min, max);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	if (!len || base + (unsigned int)len - 1 > UINT16_MAX) {
		aml_set_error(a, -EINVAL);
		return;
	}
	aml_u8(a, RES_IO);
	aml_u8(a, RES_IO_DECODE16);
	aml_le(a, base, 2); /* minimum and maximum base: fixed */
	aml_le(a, base, 2);
	aml_u8(a, 1); /* alignment */
	aml_u8(a, len);
}

void aml_res_irq(struct aml *a, unsigned int isa_irq)
{
	if (isa_irq > 15) {
		aml_set_error(a, -EINVAL);
		return;
	}
	aml_u8(a, RES_IRQ_NO_FLAGS);
	aml_le(a, 1u << isa_irq, 2);
}

void aml_res_interrupt(struct aml *a, uint32_t gsi, bool edge,
		       bool active_low)
{
	aml_u8(a, RES_EXT_IRQ);
	aml_le(a, 2 + 4, 2); /* flags, count, one interrupt */
	aml_u8(a, (uint8_t)(RES_IRQ_CONSUMER | (edge ? RES_IRQ_EDGE : 0) |
			    (active_low ? RES_IRQ_ACTIVE_LOW : 0)));
	aml_u8(a, 1);
	aml_le(a, gsi, 4);
}

void aml_res_end(struct aml *a)
{
	aml_u8(a, RES_END);
	aml_u8(a, 0); /* checksum 0: "the template is valid", as iasl writes */
}
