/* SPDX-License-Identifier: MIT */
/*
 * Reading built ACPI tables back the way a guest's OS does, for
 * test-acpi.c and test-acpi-dsdt.c: each table found through the RSDP and
 * the XSDT, its checksum checked.
 */
#ifndef TERN_TEST_ACPI_TABLES_H
#define TERN_TEST_ACPI_TABLES_H

#include <string.h>

#include "tern/acpi.h"
#include "tern/layout.h"
#include "unit.h"

#define GPA 0xe0000ULL
static uint8_t buf[0x10000];

/* Build for ncpus vCPUs and RAM ending at mem_end. */
static inline int build_for(unsigned int ncpus, uint64_t mem_end, uint8_t *b,
		     size_t size)
{
	const struct acpi_platform p = {
		.ncpus = ncpus,
		.pci_mmio64_start = layout_pci_mmio64_start(mem_end),
	};

	return acpi_build(b, size, GPA, &p);
}

static inline int build(unsigned int ncpus)
{
	return build_for(ncpus, 1 * GiB, buf, sizeof(buf));
}

static inline uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static inline uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The table at guest address a, checked: inside buf, sum 0, signature. */
static inline const uint8_t *table(uint64_t a, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	ck_assert_uint_ge(a, GPA);
	ck_assert_uint_lt(a - GPA + 36, sizeof(buf));
	t = buf + (a - GPA);
	len = rd32(t + 4);
	ck_assert_uint_le(a - GPA + len, sizeof(buf));
	ck_assert_msg(!memcmp(t, sig, 4), "signature %.4s, want %s", t, sig);
	ck_assert_uint_eq(sum(t, len), 0);
	return t;
}

/* Find a table through RSDP -> XSDT. */
static inline const uint8_t *find(const char *sig)
{
	const uint8_t *xsdt = table(rd64(buf + 24), "XSDT");
	uint32_t n = (rd32(xsdt + 4) - 36) / 8;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = rd64(xsdt + 36 + 8 * i);

		if (!memcmp(buf + (a - GPA), sig, 4))
			return table(a, sig);
	}
	return NULL;
}

#endif
