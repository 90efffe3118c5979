/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory: the RAM regions, their host mappings and the one
 * checked translation every other module uses. No other code computes a host
 * pointer from a guest physical address.
 */
#ifndef TERN_MEMORY_H
#define TERN_MEMORY_H

#include "tern/util.h"

#define GUEST_MEM_MAX_REGIONS 4

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint32_t slot; /* KVM memory slot number */
};

struct guest_memory {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t ram_size; /* total RAM in bytes */
	uint64_t end; /* highest guest physical address + 1 */
};

/*
 * Compute the RAM regions for ram_size around the 32-bit hole, without
 * mapping anything. Pure; used by guest_memory_init() and unit tests.
 * Returns -EINVAL when ram_size is 0 or not page aligned, -ERANGE beyond
 * what can be addressed.
 */
int guest_memory_layout(uint64_t ram_size, struct guest_memory *mem) __must_check;

/*
 * Lay out and map the RAM (anonymous, MAP_NORESERVE, THP advised). Returns 0
 * or -errno; on failure nothing stays mapped.
 */
int guest_memory_init(struct guest_memory *mem, uint64_t ram_size) __must_check;
void guest_memory_destroy(struct guest_memory *mem);

/*
 * The checked translation: the host pointer for [gpa, gpa + len), or NULL
 * when any byte of it lies outside guest RAM or the range wraps. A range must
 * lie inside a single region (regions are not contiguous in the host).
 */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa,
		       uint64_t len);

/* Copy into/out of guest memory; -EFAULT when out of range. */
int guest_memory_write(const struct guest_memory *mem, uint64_t gpa,
		       const void *src, uint64_t len) __must_check;
int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      uint64_t len) __must_check;

/* Is [gpa, gpa + len) entirely RAM? */
bool guest_memory_contains(const struct guest_memory *mem, uint64_t gpa,
			   uint64_t len);

#endif
