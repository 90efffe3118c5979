/* SPDX-License-Identifier: MIT */
#ifndef TERN_E820_H
#define TERN_E820_H

#include "tern/memory.h"

#define E820_RAM 1
#define E820_RESERVED 2

#define E820_MAX_ENTRIES 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/*
 * The guest's memory map: conventional RAM below the EBDA, the EBDA/BIOS
 * hole reserved, RAM from 1 MiB up to the 32-bit hole, the PCI ECAM window
 * reserved, RAM above 4 GiB.
 * Returns the number of entries (at most max).
 */
unsigned int e820_build(const struct guest_memory *mem, struct e820_entry *out,
			unsigned int max);

#endif
