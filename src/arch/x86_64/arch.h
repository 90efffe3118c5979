/* SPDX-License-Identifier: MIT */
/* Helpers private to src/arch/x86_64. */
#ifndef TERN_ARCH_X86_64_H
#define TERN_ARCH_X86_64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tern/le.h"

/*
 * The byte that makes a firmware table's bytes sum to zero mod 256 (MP
 * spec and ACPI alike); computed with the checksum field itself zero.
 */
static inline uint8_t fw_table_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

/* Is [off, off + size) inside a buffer of len bytes?  Written not to wrap. */
static inline bool range_in_buf(uint64_t off, uint64_t size, uint64_t len)
{
	return off <= len && size <= len - off;
}

/*
 * The boot GDT, shared by boot.c (which writes it to guest memory) and regs.c
 * (which loads the matching hidden segment state), so the two cannot drift.
 * Linux's 64-bit boot protocol names the selectors: __BOOT_CS 0x10 and
 * __BOOT_DS 0x18; PVH leaves them free and we use the same ones.
 */
#define X86_GDT_ENTRIES 4
#define X86_BOOT_CS 0x10
#define X86_BOOT_DS 0x18

void x86_boot_gdt_fill(bool long_mode, uint64_t gdt[X86_GDT_ENTRIES]);

#endif
