// SPDX-License-Identifier: MIT
/*
 * The guest's e820 memory map, derived from the RAM regions. The same map
 * goes into Linux's zero page and PVH's memmap table.
 */
#include <glib.h>

#include "tern/e820.h"
#include "tern/layout.h"

static unsigned int e820_add(struct e820_entry *out, unsigned int n,
			     unsigned int max, uint64_t addr, uint64_t end,
			     uint32_t type)
{
	if (end <= addr || n >= max)
		return n;
	out[n].addr = addr;
	out[n].size = end - addr;
	out[n].type = type;
	return n + 1;
}

unsigned int e820_build(const struct guest_memory *mem, struct e820_entry *out,
			unsigned int max)
{
	unsigned int n = 0;

	/*
	 * Regions are sorted by address and none straddles the 32-bit hole.
	 * Conventional memory stops where the
	 * EBDA starts; the EBDA (holding the MP table) and the VGA/BIOS hole up
	 * to 1 MiB are reserved even though RAM backs them, so the guest never
	 * allocates over the tables written there.
	 */
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t end = r->gpa + r->size;

		n = e820_add(out, n, max, r->gpa, MIN(end, LAYOUT_LOWMEM_END),
			     E820_RAM);
	}
	n = e820_add(out, n, max, LAYOUT_EBDA_START, LAYOUT_HIGHMEM_START,
		     E820_RESERVED);
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		if (r->gpa < LAYOUT_MMIO32_START)
			n = e820_add(out, n, max,
				     MAX(r->gpa, LAYOUT_HIGHMEM_START),
				     r->gpa + r->size, E820_RAM);
	}
	/*
	 * The ECAM window, which the MCFG table announces: Linux uses it only
	 * when the firmware reserved it (here, or as an ACPI motherboard
	 * resource), since ECAM decodes addresses no RAM may take.
	 */
	n = e820_add(out, n, max, LAYOUT_PCI_ECAM_START,
		     LAYOUT_PCI_ECAM_START + LAYOUT_PCI_ECAM_SIZE, E820_RESERVED);
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		if (r->gpa >= LAYOUT_MMIO32_START)
			n = e820_add(out, n, max, r->gpa, r->gpa + r->size,
				     E820_RAM);
	}
	return n;
}
