/* SPDX-License-Identifier: MIT */
/*
 * The Xen PVH boot ABI: the 32-bit entry finds %ebx pointing at
 * struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
 */
#ifndef GUEST_START_INFO_H
#define GUEST_START_INFO_H

#include <stdbool.h>
#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	/* version >= 1 */
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

#define HVM_MEMMAP_TYPE_RAM 1

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/*
 * Remember the start info the entry code was handed. Returns false, and
 * remembers nothing, when the magic is wrong.
 */
bool start_info_init(uint32_t paddr);

const struct hvm_start_info *start_info_get(void);
/* The command line, "" when there is none. */
const char *start_info_cmdline(void);
/* RSDP address from the start info, 0 when the loader gave none. */
uint64_t start_info_rsdp(void);
/* Sum of the memmap's RAM (type 1) entries in bytes; 0 with no memmap. */
uint64_t start_info_ram_bytes(void);
unsigned int start_info_nr_modules(void);
/* Module i, or NULL when i is out of range. */
const struct hvm_modlist_entry *start_info_module(unsigned int i);

/*
 * Find "key=" as a whole word of the command line and parse a decimal value
 * after it. Returns false when the key is absent or the value is not a
 * number that fits in max.
 */
bool cmdline_get_uint(const char *key, unsigned long max, unsigned long *out);

#endif
