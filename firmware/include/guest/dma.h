/* SPDX-License-Identifier: MIT */
/*
 * Memory for device rings and I/O buffers: a bump allocator over the RAM
 * above the image (_end), found in the PVH memmap. Identity mapped, so a
 * pointer is also the bus address a device is given. Never freed.
 */
#ifndef GUEST_DMA_H
#define GUEST_DMA_H

#include <stddef.h>
#include <stdint.h>

/*
 * size bytes aligned to align (a power of two, at least 16), or NULL when
 * RAM runs out. The memory is not cleared. Any CPL.
 */
void *dma_alloc(size_t size, size_t align);
/* The same, cleared to zero. */
void *dma_alloc_zero(size_t size, size_t align);
/* Bytes still free. */
uint64_t dma_free_bytes(void);

static inline uint64_t dma_addr(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

#endif
