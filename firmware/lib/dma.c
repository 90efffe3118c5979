// SPDX-License-Identifier: MIT
/* The bump allocator behind dma_alloc(). */
#include <stdbool.h>

#include "guest/dma.h"
#include "guest/start_info.h"
#include "guest/string.h"

/* Without a memmap, assume this much RAM after the image. */
#define DMA_FALLBACK_BYTES (16ull << 20)
/* Above 3 GiB the page tables map uncached memory: keep buffers below. */
#define DMA_LIMIT 0xc0000000ull

extern char _end[]; /* guest.ld: end of the image and its stacks */

static uint64_t heap_next, heap_end;
static bool heap_ready;

static void dma_init(void)
{
	const struct hvm_start_info *si = start_info_get();
	uint64_t start = ((uint64_t)(uintptr_t)_end + 4095) & ~4095ull;

	heap_next = start;
	heap_end = start + DMA_FALLBACK_BYTES;
	if (si && si->version >= 1 && si->memmap_paddr != 0) {
		const struct hvm_memmap_table_entry *e =
		    (const struct hvm_memmap_table_entry *)(uintptr_t)
			si->memmap_paddr;

		for (uint32_t i = 0; i < si->memmap_entries; i++) {
			if (e[i].type == HVM_MEMMAP_TYPE_RAM &&
			    e[i].addr <= start && start < e[i].addr + e[i].size)
				heap_end = e[i].addr + e[i].size;
		}
	}
	if (heap_end > DMA_LIMIT)
		heap_end = DMA_LIMIT;
	heap_ready = true;
}

void *dma_alloc(size_t size, size_t align)
{
	uint64_t at;

	if (!heap_ready)
		dma_init();
	if (align < 16)
		align = 16;
	at = (heap_next + align - 1) & ~((uint64_t)align - 1);
	if (at + size > heap_end || at + size < at)
		return NULL;
	heap_next = at + size;
	return (void *)(uintptr_t)at;
}

void *dma_alloc_zero(size_t size, size_t align)
{
	void *p = dma_alloc(size, align);

	if (p)
		memset(p, 0, size);
	return p;
}

uint64_t dma_free_bytes(void)
{
	if (!heap_ready)
		dma_init();
	return heap_end - heap_next;
}
