// SPDX-License-Identifier: MIT
/*
 * Guest RAM. Below 4 GiB the RAM stops at the 32-bit hole; the rest goes
 * above 4 GiB. Each region is one anonymous mapping and one KVM slot.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "tern/layout.h"
#include "tern/memory.h"

int guest_memory_layout(uint64_t ram_size, struct guest_memory *mem)
{
	uint64_t low;

	memset(mem, 0, sizeof(*mem));
	if (!ram_size || ram_size & 0xfff)
		return -EINVAL;
	/* 47 bits of host virtual space is the real ceiling; stay well below. */
	if (ram_size > (1ULL << 46))
		return -ERANGE;

	low = ram_size < LAYOUT_MMIO32_START ? ram_size : LAYOUT_MMIO32_START;
	mem->regions[0] = (struct guest_region){ .gpa = 0, .size = low, .slot = 0 };
	mem->nr_regions = 1;
	mem->end = low;
	if (ram_size > low) {
		mem->regions[1] = (struct guest_region){
			.gpa = LAYOUT_RAM_ABOVE_4G,
			.size = ram_size - low,
			.slot = 1,
		};
		mem->nr_regions = 2;
		mem->end = LAYOUT_RAM_ABOVE_4G + ram_size - low;
	}
	mem->ram_size = ram_size;
	return 0;
}

int guest_memory_init(struct guest_memory *mem, uint64_t ram_size)
{
	int ret = guest_memory_layout(ram_size, mem);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		struct guest_region *r = &mem->regions[i];
		void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED) {
			ret = -errno;
			guest_memory_destroy(mem);
			return ret;
		}
		r->hva = p;
		/* Fewer TLB misses for the guest; failure is harmless. */
		(void)madvise(p, r->size, MADV_HUGEPAGE);
		/* A fork (the teardown reaper) must not copy guest page tables. */
		(void)madvise(p, r->size, MADV_DONTFORK);
	}
	return 0;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		if (mem->regions[i].hva)
			munmap(mem->regions[i].hva, mem->regions[i].size);
		mem->regions[i].hva = NULL;
	}
	mem->nr_regions = 0;
}

static const struct guest_region *region_find(const struct guest_memory *mem,
					      uint64_t gpa, uint64_t len)
{
	/* len 0 still needs gpa inside a region. */
	uint64_t span = len ? len : 1;

	if (gpa + span < gpa)
		return NULL;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		/* Written to avoid overflow: gpa - r->gpa only once gpa >= r->gpa. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    span <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa,
		       uint64_t len)
{
	const struct guest_region *r = region_find(mem, gpa, len);

	if (!r || !r->hva)
		return NULL;
	return r->hva + (gpa - r->gpa);
}

bool guest_memory_contains(const struct guest_memory *mem, uint64_t gpa,
			   uint64_t len)
{
	return region_find(mem, gpa, len) != NULL;
}

int guest_memory_write(const struct guest_memory *mem, uint64_t gpa,
		       const void *src, uint64_t len)
{
	void *p = guest_memory_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      uint64_t len)
{
	const void *p = guest_memory_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}
