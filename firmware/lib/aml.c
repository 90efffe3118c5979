// SPDX-License-Identifier: MIT
/*
 * A minimal AML walk (guest/aml.h): the namespace of a DSDT without an
 * interpreter. It knows the objects a VMM's DSDT declares (Name, Scope,
 * Device, Method, OperationRegion, Field) and the data objects a Name
 * holds; anything else is a failed test, never a guess. Ring 0 cost: one
 * step per object, not per byte (packages and methods are skipped by
 * their PkgLength).
 */
#include "guest/aml.h"
#include "guest/exit.h"
#include "guest/string.h"

static struct aml_obj objs[AML_MAX_OBJS];
static unsigned int nobjs;

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

const uint8_t *aml_pkglen(const uint8_t *p, const uint8_t **end)
{
	unsigned int n = (p[0] >> 6) + 1;
	uint32_t v = n == 1 ? p[0] & 0x3f : p[0] & 0x0f;

	for (unsigned int i = 1; i < n; i++)
		v |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	*end = p + v;
	return p + n;
}

static void path_add(char *out, const uint8_t *seg)
{
	size_t n = strlen(out);

	if (n + 6 > sizeof(objs[0].path))
		result_fail("AML: a path longer than %zu", sizeof(objs[0].path));
	if (n > 1)
		out[n++] = '.';
	memcpy(out + n, seg, 4);
	out[n + 4] = 0;
}

/* A NameString, made absolute against scope. */
static const uint8_t *name_at(const uint8_t *p, const char *scope, char *out)
{
	unsigned int nsegs = 1;

	if (*p == '\\') {
		out[0] = '\\';
		out[1] = 0;
		p++;
	} else {
		memcpy(out, scope, strlen(scope) + 1);
		for (; *p == '^'; p++) {
			char *dot = out + strlen(out);

			while (dot > out && *dot != '.')
				dot--;
			dot[dot == out ? 1 : 0] = 0;
		}
	}
	if (*p == 0)
		return p + 1;
	if (*p == 0x2e) {
		nsegs = 2;
		p++;
	} else if (*p == 0x2f) {
		nsegs = p[1];
		p += 2;
	}
	for (unsigned int i = 0; i < nsegs; i++, p += 4)
		path_add(out, p);
	return p;
}

const uint8_t *aml_skip_data(const uint8_t *p)
{
	const uint8_t *end;

	switch (*p) {
	case 0x00:
	case 0x01:
	case 0xff:
		return p + 1;
	case 0x0a:
		return p + 2;
	case 0x0b:
		return p + 3;
	case 0x0c:
		return p + 5;
	case 0x0e:
		return p + 9;
	case 0x0d:
		return p + strlen((const char *)p + 1) + 2;
	case AML_BUFFER:
	case AML_PACKAGE:
		aml_pkglen(p + 1, &end);
		return end;
	}
	result_fail("AML: data object %#x not understood", *p);
}

uint64_t aml_int(const uint8_t *p)
{
	switch (*p) {
	case 0x00:
		return 0;
	case 0x01:
		return 1;
	case 0x0a:
		return p[1];
	case 0x0b:
		return p[1] | p[2] << 8;
	case 0x0c:
		return rd32(p + 1);
	case 0x0e:
		return rd64(p + 1);
	}
	result_fail("AML: %#x is not an integer", *p);
}

static void add(const char *path, uint8_t kind, const uint8_t *val,
		const uint8_t *end)
{
	if (nobjs == sizeof(objs) / sizeof(objs[0]))
		result_fail("AML: more than %u objects", nobjs);
	memcpy(objs[nobjs].path, path, strlen(path) + 1);
	objs[nobjs].kind = kind;
	objs[nobjs].val = val;
	objs[nobjs].end = end;
	nobjs++;
}

static void walk(const uint8_t *p, const uint8_t *end, const char *scope)
{
	char path[sizeof(objs[0].path)];
	const uint8_t *obj_end;

	while (p < end) {
		uint8_t op = *p++;

		if (op == AML_NAME) {
			p = name_at(p, scope, path);
			add(path, AML_NAME, p, NULL);
			p = aml_skip_data(p);
		} else if (op == AML_SCOPE || op == AML_METHOD) {
			p = aml_pkglen(p, &obj_end);
			p = name_at(p, scope, path);
			if (op == AML_METHOD)
				add(path, AML_METHOD, p, obj_end);
			else
				walk(p, obj_end, path);
			p = obj_end;
		} else if (op == AML_EXT && *p == AML_DEVICE) {
			p = aml_pkglen(p + 1, &obj_end);
			p = name_at(p, scope, path);
			add(path, AML_DEVICE, p, obj_end);
			walk(p, obj_end, path);
			p = obj_end;
		} else if (op == AML_EXT && *p == AML_REGION) {
			p = name_at(p + 1, scope, path);
			add(path, AML_REGION, p, NULL);
			p = aml_skip_data(aml_skip_data(p + 1));
		} else if (op == AML_EXT && *p == AML_FIELD) {
			p = aml_pkglen(p + 1, &obj_end);
			p = name_at(p, scope, path) + 1; /* and the flags */
			while (p < obj_end) {
				/* NameSeg, then the width encoded as a PkgLength. */
				name_at(p, scope, path);
				add(path, AML_FIELD, p + 4, NULL);
				p += 4 + (p[4] >> 6) + 1;
			}
			p = obj_end;
		} else {
			result_fail("AML: opcode %#x in %s not understood", op,
				    scope);
		}
		if (p > end)
			result_fail("AML: an object in %s runs past its scope",
				    scope);
	}
}

const struct aml_obj *aml_find(const char *path, uint8_t kind)
{
	for (unsigned int i = 0; i < nobjs; i++)
		if (!strncmp(objs[i].path, path, sizeof(objs[i].path))) {
			if (objs[i].kind != kind)
				result_fail("%s is not the kind expected", path);
			return &objs[i];
		}
	result_fail("%s is not in the DSDT's namespace", path);
}

/* A Name's buffer: its bytes and length. */
const uint8_t *aml_buffer(const char *path, uint32_t *len)
{
	const uint8_t *p = aml_find(path, AML_NAME)->val, *end;

	if (*p != AML_BUFFER)
		result_fail("%s is not a buffer", path);
	p = aml_pkglen(p + 1, &end);
	*len = (uint32_t)aml_int(p);
	p = aml_skip_data(p);
	if (p + *len != end)
		result_fail("%s: buffer size disagrees with its length", path);
	return p;
}

/* A _HID as text: an EISA id (a DWord) or a string. */
void aml_hid(const char *dev, char out[9])
{
	char path[sizeof(objs[0].path)];
	const uint8_t *v;
	uint32_t id;

	memcpy(path, dev, strlen(dev) + 1);
	path_add(path, (const uint8_t *)"_HID");
	v = aml_find(path, AML_NAME)->val;
	if (*v == 0x0d) {
		size_t n = strlen((const char *)v + 1);

		memcpy(out, v + 1, n < 8 ? n + 1 : 9);
		out[8] = 0;
		return;
	}
	id = (uint32_t)aml_int(v);
	out[0] = (char)('@' + ((id >> 2) & 0x1f));
	out[1] = (char)('@' + (((id & 3) << 3) | ((id >> 13) & 7)));
	out[2] = (char)('@' + ((id >> 8) & 0x1f));
	for (unsigned int i = 0; i < 4; i++) {
		unsigned int nib = (id >> (16 + 8 * (i / 2) + 4 * !(i & 1))) & 0xf;

		out[3 + i] = (char)(nib < 10 ? '0' + nib : 'A' + nib - 10);
	}
	out[7] = 0;
}

unsigned int aml_walk(const uint8_t *p, const uint8_t *end)
{
	nobjs = 0;
	walk(p, end, "\\");
	return nobjs;
}
