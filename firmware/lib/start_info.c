// SPDX-License-Identifier: MIT
/* Reading struct hvm_start_info. All of it is identity mapped below 4 GiB. */
#include <stddef.h>

#include "guest/start_info.h"
#include "guest/string.h"

static const struct hvm_start_info *start_info;

bool start_info_init(uint32_t paddr)
{
	const struct hvm_start_info *si =
		(const struct hvm_start_info *)(uintptr_t)paddr;

	if (paddr == 0 || si->magic != HVM_START_MAGIC)
		return false;
	start_info = si;
	return true;
}

const struct hvm_start_info *start_info_get(void)
{
	return start_info;
}

const char *start_info_cmdline(void)
{
	if (!start_info || start_info->cmdline_paddr == 0)
		return "";
	return (const char *)(uintptr_t)start_info->cmdline_paddr;
}

uint64_t start_info_rsdp(void)
{
	return start_info ? start_info->rsdp_paddr : 0;
}

uint64_t start_info_ram_bytes(void)
{
	if (!start_info || start_info->version < 1 ||
	    start_info->memmap_paddr == 0)
		return 0;

	const struct hvm_memmap_table_entry *e =
		(const struct hvm_memmap_table_entry *)(uintptr_t)
			start_info->memmap_paddr;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < start_info->memmap_entries; i++) {
		if (e[i].type == HVM_MEMMAP_TYPE_RAM)
			sum += e[i].size;
	}
	return sum;
}

unsigned int start_info_nr_modules(void)
{
	if (!start_info || start_info->modlist_paddr == 0)
		return 0;
	return start_info->nr_modules;
}

const struct hvm_modlist_entry *start_info_module(unsigned int i)
{
	if (i >= start_info_nr_modules())
		return NULL;
	return (const struct hvm_modlist_entry *)(uintptr_t)
		       start_info->modlist_paddr + i;
}

bool cmdline_get_uint(const char *key, unsigned long max, unsigned long *out)
{
	const char *p = start_info_cmdline();
	size_t klen = strlen(key);

	while (*p) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *d = p + klen + 1;
			unsigned long v = 0;

			if (*d < '0' || *d > '9')
				return false;
			for (; *d >= '0' && *d <= '9'; d++) {
				v = v * 10 + (unsigned long)(*d - '0');
				if (v > max)
					return false;
			}
			if (*d != '\0' && *d != ' ')
				return false;
			*out = v;
			return true;
		}
		while (*p && *p != ' ')
			p++;
	}
	return false;
}
