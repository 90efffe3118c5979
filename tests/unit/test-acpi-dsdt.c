// SPDX-License-Identifier: MIT
/*
 * The DSDT's namespace, through a small AML walk over the built tables:
 * every device and object docs/acpi.md lists, checked against layout.h and
 * the PCI host's INTx wiring (test-aml.c checks the writer's encodings).
 */
#include <glib.h>
#include <string.h>

#include "acpi-tables.h"
#include "tern/acpi.h"
#include "tern/aml.h"
#include "tern/layout.h"
#include "tern/pci.h"
#include "unit.h"

struct ns_entry {
	char path[64]; /* "\\_SB_.PCI0._HID" */
	uint8_t kind; /* AML_NAME, AML_METHOD, or the AML_EXT_* op */
	const uint8_t *val; /* name: its value; method: its flags; region:
			       its space; field unit: its width */
	const uint8_t *end; /* a method's end */
};

static struct ns_entry ns[64];
static unsigned int nns;

static const uint8_t *pkglen(const uint8_t *p, const uint8_t **end)
{
	unsigned int n = (p[0] >> 6) + 1;
	size_t v = n == 1 ? p[0] & 0x3f : p[0] & 0x0f;

	for (unsigned int i = 1; i < n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	*end = p + v;
	return p + n;
}

/* A NameString at p, made absolute against scope. */
static const uint8_t *name_at(const uint8_t *p, const char *scope, char *out)
{
	unsigned int nsegs = 1;

	if (*p == '\\') {
		strcpy(out, "\\");
		p++;
	} else {
		strcpy(out, scope);
		for (; *p == '^'; p++) {
			char *dot = strrchr(out, '.');

			ck_assert_ptr_nonnull(dot);
			*dot = 0;
		}
	}
	if (*p == 0)
		return p + 1;
	if (*p == AML_DUAL_NAME_PREFIX) {
		nsegs = 2;
		p++;
	} else if (*p == AML_MULTI_NAME_PREFIX) {
		nsegs = p[1];
		p += 2;
	}
	for (unsigned int i = 0; i < nsegs; i++, p += 4) {
		if (strcmp(out, "\\"))
			strcat(out, ".");
		strncat(out, (const char *)p, 4);
		ck_assert_uint_lt(strlen(out), 60);
	}
	return p;
}

static const uint8_t *skip_data(const uint8_t *p)
{
	const uint8_t *end;

	switch (*p) {
	case AML_ZERO:
	case AML_ONE:
	case AML_ONES:
		return p + 1;
	case AML_BYTE_PREFIX:
		return p + 2;
	case AML_WORD_PREFIX:
		return p + 3;
	case AML_DWORD_PREFIX:
		return p + 5;
	case AML_QWORD_PREFIX:
		return p + 9;
	case AML_STRING_PREFIX:
		return p + strlen((const char *)p + 1) + 2;
	case AML_BUFFER:
	case AML_PACKAGE:
		pkglen(p + 1, &end);
		return end;
	}
	ck_abort_msg("data object 0x%02x", *p);
	return NULL;
}

static void ns_add(const char *path, uint8_t kind, const uint8_t *val,
		   const uint8_t *end)
{
	ck_assert_uint_lt(nns, G_N_ELEMENTS(ns));
	strcpy(ns[nns].path, path);
	ns[nns].kind = kind;
	ns[nns].val = val;
	ns[nns].end = end;
	nns++;
}

static void walk(const uint8_t *p, const uint8_t *end, const char *scope)
{
	char path[64];

	while (p < end) {
		const uint8_t *obj_end;
		uint8_t op = *p++;

		if (op == AML_NAME) {
			p = name_at(p, scope, path);
			ns_add(path, AML_NAME, p, NULL);
			p = skip_data(p);
		} else if (op == AML_SCOPE) {
			p = pkglen(p, &obj_end);
			p = name_at(p, scope, path);
			walk(p, obj_end, path);
			p = obj_end;
		} else if (op == AML_METHOD) {
			p = pkglen(p, &obj_end);
			p = name_at(p, scope, path);
			ns_add(path, AML_METHOD, p, obj_end);
			p = obj_end;
		} else if (op == AML_EXT_PREFIX && *p == AML_EXT_DEVICE) {
			p = pkglen(p + 1, &obj_end);
			p = name_at(p, scope, path);
			ns_add(path, AML_EXT_DEVICE, p, obj_end);
			walk(p, obj_end, path);
			p = obj_end;
		} else if (op == AML_EXT_PREFIX && *p == AML_EXT_OP_REGION) {
			p = name_at(p + 1, scope, path);
			ns_add(path, AML_EXT_OP_REGION, p, NULL);
			p = skip_data(skip_data(p + 1));
		} else if (op == AML_EXT_PREFIX && *p == AML_EXT_FIELD) {
			p = pkglen(p + 1, &obj_end);
			p = name_at(p, scope, path) + 1; /* and its flags */
			while (p < obj_end) {
				name_at(p, scope, path);
				ns_add(path, AML_EXT_FIELD, p + 4, NULL);
				p += 5; /* our units are under 64 bits */
			}
		} else {
			ck_abort_msg("opcode 0x%02x in scope %s", op, scope);
		}
		ck_assert(p <= end);
	}
}

static const struct ns_entry *ns_find(const char *path, uint8_t kind)
{
	for (unsigned int i = 0; i < nns; i++)
		if (!strcmp(ns[i].path, path)) {
			ck_assert_msg(ns[i].kind == kind, "%s is a 0x%02x", path,
				      ns[i].kind);
			return &ns[i];
		}
	ck_abort_msg("%s is not in the namespace", path);
	return NULL;
}

static uint64_t int_at(const uint8_t *p)
{
	switch (*p) {
	case AML_ZERO:
		return 0;
	case AML_ONE:
		return 1;
	case AML_BYTE_PREFIX:
		return p[1];
	case AML_WORD_PREFIX:
		return p[1] | p[2] << 8;
	case AML_DWORD_PREFIX:
		return rd32(p + 1);
	case AML_QWORD_PREFIX:
		return rd64(p + 1);
	}
	ck_abort_msg("not an integer: 0x%02x", *p);
	return 0;
}

static uint64_t ns_int(const char *path)
{
	return int_at(ns_find(path, AML_NAME)->val);
}

/* Walk the DSDT of tables built for RAM ending at mem_end. */
static void dsdt_load(uint64_t mem_end)
{
	const uint8_t *fadt, *dsdt;

	ck_assert_int_gt(build_for(1, mem_end, buf, sizeof(buf)), 0);
	fadt = find("FACP");
	dsdt = table(rd64(fadt + 140), "DSDT");
	nns = 0;
	walk(dsdt + 36, dsdt + rd32(dsdt + 4), "\\");
}

/* A Name's buffer: its bytes and their length. */
static const uint8_t *ns_buffer(const char *path, size_t *len)
{
	const uint8_t *p = ns_find(path, AML_NAME)->val, *end;

	ck_assert_uint_eq(*p, AML_BUFFER);
	p = pkglen(p + 1, &end);
	*len = int_at(p);
	p = skip_data(p);
	ck_assert_ptr_eq(p + *len, end);
	return p;
}

static uint32_t eisaid(const char *id)
{
	uint32_t v;

	ck_assert(aml_eisaid_value(id, &v));
	return v;
}

START_TEST(dsdt_namespace)
{
	const struct ns_entry *e;

	dsdt_load(1 * GiB);
	ck_assert_uint_eq(ns_int("\\_SB_.PCI0._HID"), eisaid("PNP0A08"));
	ck_assert_uint_eq(ns_int("\\_SB_.PCI0._CID"), eisaid("PNP0A03"));
	ck_assert_uint_eq(ns_int("\\_SB_.PCI0._UID"), 0);
	ck_assert_uint_eq(ns_int("\\_SB_.PCI0._SEG"), 0);
	ck_assert_uint_eq(ns_int("\\_SB_.PCI0._BBN"), 0);
	ck_assert_uint_eq(ns_int("\\_SB_.COM1._HID"), eisaid("PNP0501"));
	ck_assert_uint_eq(ns_int("\\_SB_.PWRB._HID"), eisaid("PNP0C0C"));
	e = ns_find("\\_SB_.GED_._HID", AML_NAME);
	ck_assert_uint_eq(e->val[0], AML_STRING_PREFIX);
	ck_assert_str_eq((const char *)e->val + 1, "ACPI0013");
	ns_find("\\_SB_.PCI0", AML_EXT_DEVICE);
	ns_find("\\_SB_.COM1", AML_EXT_DEVICE);
	ns_find("\\_SB_.PWRB", AML_EXT_DEVICE);
	ns_find("\\_SB_.GED_", AML_EXT_DEVICE);

	/* \_S5_: a package whose first element is SLP_TYPa, 5. */
	e = ns_find("\\_S5_", AML_NAME);
	ck_assert_uint_eq(e->val[0], AML_PACKAGE);
	ck_assert_uint_eq(e->val[2], 1);
	ck_assert_uint_eq(int_at(e->val + 3), ACPI_S5_SLP_TYP);

	/* The GED's register, as the device and layout.h have it. */
	e = ns_find("\\_SB_.GED_.GDST", AML_EXT_OP_REGION);
	ck_assert_uint_eq(e->val[0], AML_SPACE_SYSTEM_MEMORY);
	ck_assert_uint_eq(int_at(e->val + 1), LAYOUT_ACPI_GED_START);
	ck_assert_uint_eq(int_at(skip_data(e->val + 1)), LAYOUT_ACPI_GED_SIZE);
	e = ns_find("\\_SB_.GED_.GDAT", AML_EXT_FIELD);
	ck_assert_uint_eq(e->val[0], 8);
	ck_assert_uint_eq(ns_find("\\_SB_.GED_._EVT", AML_METHOD)->val[0],
			  0x09); /* one argument, serialized */
	e = ns_find("\\_SB_.GED_._STA", AML_METHOD);
	ck_assert_uint_eq(e->val[0], 0);
	ck_assert_uint_eq(e->val[1], AML_RETURN);
	ck_assert_uint_eq(int_at(e->val + 2), 0x0f);
}
END_TEST

/* _EVT: Local0 = GDAT; If ((Local0 & 8) == 8) { Notify (\_SB.PWRB, 0x80) } */
START_TEST(dsdt_ged_event_method)
{
	static const uint8_t body[] = {
		0x70, 'G', 'D', 'A', 'T', 0x60, /* Store (GDAT, Local0) */
		0xa0, 0x16, /* If, 22 bytes with its length */
		0x93, 0x7b, 0x60, 0x0a, 0x08, 0x00, 0x0a, 0x08, /* LEqual (And) */
		0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B',
		0x0a, 0x80, /* Notify (\_SB.PWRB, 0x80) */
	};
	const struct ns_entry *e;
	const uint8_t *crs;
	size_t len;

	dsdt_load(1 * GiB);
	e = ns_find("\\_SB_.GED_._EVT", AML_METHOD);
	ck_assert_int_eq(e->end - (e->val + 1), (int)sizeof(body));
	ck_assert_mem_eq(e->val + 1, body, sizeof(body));
	ck_assert_uint_eq(ACPI_GED_EVENT_POWER_BUTTON, 0x08);

	/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {GSI} */
	crs = ns_buffer("\\_SB_.GED_._CRS", &len);
	ck_assert_uint_eq(len, 9 + 2);
	ck_assert_uint_eq(crs[0], 0x89);
	ck_assert_uint_eq(crs[3], 0x03);
	ck_assert_uint_eq(crs[4], 1);
	ck_assert_uint_eq(rd32(crs + 5), LAYOUT_ACPI_GED_GSI);
	ck_assert_uint_eq(crs[9], 0x79);
}
END_TEST

START_TEST(dsdt_com1)
{
	static const uint8_t crs_want[] = {
		0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, /* IO 0x3f8 */
		0x22, 0x10, 0x00, /* IRQNoFlags () {4} */
		0x79, 0x00,
	};
	const uint8_t *crs;
	size_t len;

	dsdt_load(1 * GiB);
	crs = ns_buffer("\\_SB_.COM1._CRS", &len);
	ck_assert_uint_eq(len, sizeof(crs_want));
	ck_assert_mem_eq(crs, crs_want, len);
	ck_assert_uint_eq(PORT_COM1, 0x3f8);
	ck_assert_uint_eq(PORT_COM1_IRQ, 4);
}
END_TEST

/* _CRS: buses, config ports, and the three windows pci.c allocates from. */
START_TEST(dsdt_pci_windows)
{
	static const uint64_t ends[] = { 512 * MiB, 3 * GiB, 9 * GiB,
					 100 * GiB + 1 * MiB };

	for (unsigned int i = 0; i < G_N_ELEMENTS(ends); i++) {
		const uint8_t *crs, *d;
		unsigned int seen = 0;
		size_t len;

		dsdt_load(ends[i]);
		crs = ns_buffer("\\_SB_.PCI0._CRS", &len);
		for (d = crs; d < crs + len;) {
			size_t dlen = d[0] & 0x80 ? 3u + (d[1] | d[2] << 8) :
						    1u + (d[0] & 7);
			uint64_t min, max;

			switch (d[0]) {
			case 0x88: /* Word: bus numbers or I/O */
				min = d[8] | d[9] << 8;
				max = d[10] | d[11] << 8;
				if (d[3] == 2) {
					ck_assert_uint_eq(min, 0);
					ck_assert_uint_eq((max + 1) * MiB,
							  LAYOUT_PCI_ECAM_SIZE);
					seen |= 1;
				} else {
					ck_assert_uint_eq(d[3], 1);
					ck_assert_uint_eq(min, LAYOUT_PCI_IO_START);
					ck_assert_uint_eq(max - min + 1,
							  LAYOUT_PCI_IO_SIZE);
					seen |= 2;
				}
				ck_assert_uint_eq(d[4] & 1, 0); /* producer */
				break;
			case 0x47:
				ck_assert_uint_eq(d[2] | d[3] << 8, 0xcf8);
				ck_assert_uint_eq(d[7], 8);
				seen |= 4;
				break;
			case 0x87:
				ck_assert_uint_eq(rd32(d + 10),
						  LAYOUT_PCI_MMIO32_START);
				ck_assert_uint_eq(rd32(d + 14) + 1ULL,
						  LAYOUT_PCI_MMIO32_START +
							  LAYOUT_PCI_MMIO32_SIZE);
				ck_assert_uint_eq(rd32(d + 22),
						  LAYOUT_PCI_MMIO32_SIZE);
				seen |= 8;
				break;
			case 0x8a:
				min = rd64(d + 14);
				max = rd64(d + 22);
				ck_assert_uint_eq(min,
						  layout_pci_mmio64_start(ends[i]));
				ck_assert_uint_ge(min, ends[i]); /* above RAM */
				ck_assert_uint_eq(min % GiB, 0);
				ck_assert_uint_eq(max - min + 1,
						  LAYOUT_PCI_MMIO64_SIZE);
				ck_assert_uint_eq(rd64(d + 38),
						  LAYOUT_PCI_MMIO64_SIZE);
				seen |= 16;
				break;
			case 0x79:
				ck_assert_ptr_eq(d + 2, crs + len);
				seen |= 32;
				break;
			default:
				ck_abort_msg("descriptor 0x%02x", d[0]);
			}
			d += dlen;
		}
		ck_assert_uint_eq(seen, 63);
	}
	/* The 32-bit window stays clear of the ECAM and the GED. */
	ck_assert_uint_le(LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE,
			  LAYOUT_PCI_ECAM_START);
	ck_assert_uint_ge(LAYOUT_ACPI_GED_START,
			  LAYOUT_PCI_ECAM_START + LAYOUT_PCI_ECAM_SIZE);
	ck_assert_uint_le(LAYOUT_ACPI_GED_START + LAYOUT_ACPI_GED_SIZE,
			  LAYOUT_IOAPIC_START);
}
END_TEST

/* _PRT routes every slot's four pins exactly as pci_intx.c drives them. */
START_TEST(dsdt_prt_matches_pci_intx)
{
	const struct ns_entry *e = NULL;
	const uint8_t *p, *end;
	bool seen[32][4] = { { false } };

	dsdt_load(1 * GiB);
	e = ns_find("\\_SB_.PCI0._PRT", AML_NAME);
	ck_assert_uint_eq(e->val[0], AML_PACKAGE);
	p = pkglen(e->val + 1, &end);
	ck_assert_uint_eq(*p, 128);
	for (p++; p < end;) {
		const uint8_t *entry_end;
		uint64_t addr, pin, src, gsi;

		ck_assert_uint_eq(*p, AML_PACKAGE);
		p = pkglen(p + 1, &entry_end);
		ck_assert_uint_eq(*p++, 4);
		addr = int_at(p);
		p = skip_data(p);
		pin = int_at(p);
		p = skip_data(p);
		src = int_at(p);
		p = skip_data(p);
		gsi = int_at(p);
		p = skip_data(p);
		ck_assert_ptr_eq(p, entry_end);
		ck_assert_uint_eq(addr & 0xffff, 0xffff); /* any function */
		ck_assert_uint_lt(addr >> 16, 32);
		ck_assert_uint_lt(pin, 4);
		ck_assert_uint_eq(src, 0);
		ck_assert_uint_eq(gsi, pci_intx_gsi(addr >> 16, pin));
		ck_assert_uint_ge(gsi, LAYOUT_PCI_INTX_GSI_BASE);
		ck_assert_uint_lt(gsi, LAYOUT_PCI_INTX_GSI_BASE +
					       LAYOUT_PCI_INTX_GSIS);
		ck_assert(!seen[addr >> 16][pin]);
		seen[addr >> 16][pin] = true;
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi-dsdt");

	UNIT_TCASE(s, "dsdt", dsdt_namespace, dsdt_ged_event_method, dsdt_com1,
		   dsdt_pci_windows, dsdt_prt_matches_pci_intx);
	return unit_run(s);
}
