/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory: the RAM regions, their host mappings and the one
 * checked translation every other module uses. No other code computes a host
 * pointer from a guest physical address. Dirty tracking (dirty.h) keeps its
 * per-region state here so that any holder of the memory can mark pages.
 */
#ifndef TERN_MEMORY_H
#define TERN_MEMORY_H

#include "tern/util.h"

#define GUEST_MEM_MAX_REGIONS 4
/* The unit of dirty tracking: KVM logs 4 KiB pages whatever the backing. */
#define GUEST_PAGE_SHIFT 12
#define GUEST_PAGE_SIZE (1ULL << GUEST_PAGE_SHIFT)

/* How the RAM is backed: --memory SIZE[,shared=on][,hugepages=on]. */
struct guest_memory_config {
	uint64_t size;
	/* One memfd mapped MAP_SHARED, so another process can map it. */
	bool shared;
	/* The memfd is MFD_HUGETLB (the host's default huge page size). */
	bool hugepages;
};

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint32_t slot; /* KVM memory slot number */
	/*
	 * Shared memory: the memfd holding this region and where the region
	 * starts in it, which is what vhost-user's SET_MEM_TABLE sends per
	 * region. Every region is a slice of the same memfd. fd is -1 for
	 * anonymous memory; fd_offset is the region's offset in RAM order
	 * either way.
	 */
	int fd;
	uint64_t fd_offset;
	/*
	 * Dirty tracking, one bit per 4 KiB page (dirty.c): pages devices
	 * wrote (set atomically by any thread) and a buffer for KVM's log.
	 * Allocated when logging first starts, freed with the memory.
	 */
	unsigned long *dirty_dev;
	unsigned long *dirty_kvm;
};

struct guest_memory {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t ram_size; /* total RAM in bytes */
	uint64_t end; /* highest guest physical address + 1 */
	int fd; /* the memfd behind every region (shared), or -1 */
	uint64_t page_size; /* of the backing: 4 KiB or the huge page size */
	/* KVM side, set by guest_memory_kvm_register(); -1 without KVM. */
	int vm_fd;
	/* Use KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and KVM_CLEAR_DIRTY_LOG. */
	bool kvm_manual_protect;
	/* It also offers KVM_DIRTY_LOG_INITIALLY_SET. */
	bool kvm_initially_set;
	/*
	 * This logging session re-arms pages only in
	 * guest_memory_dirty_rearm(), never in a sync (dirty.h).
	 */
	bool dirty_by_caller;
	/* Read (relaxed) by every device write: guest_memory_mark_dirty(). */
	bool dirty_logging;
};

/*
 * Compute the RAM regions for ram_size around the 32-bit hole, without
 * mapping anything: addresses, slots and each region's offset in RAM order
 * (its fd_offset when shared). Pure; used by guest_memory_init_config() and
 * unit tests. Returns -EINVAL when ram_size is 0 or not page aligned,
 * -ERANGE beyond what can be addressed.
 */
int guest_memory_layout(uint64_t ram_size, struct guest_memory *mem) __must_check;

/*
 * Lay out and map the RAM as cfg says:
 *  - anonymous (default): MAP_PRIVATE | MAP_NORESERVE, THP advised;
 *  - shared: one memfd (MFD_CLOEXEC, sealed against shrinking and growing)
 *    mapped MAP_SHARED, one slice per region;
 *  - hugepages: the memfd is MFD_HUGETLB and its pages are reserved when
 *    mapped, so a host without enough free huge pages fails here (-ENOMEM)
 *    rather than with SIGBUS on a later fault; a size that is not a
 *    multiple of the huge page size gives -EINVAL.
 * Guest RAM is always MADV_DONTFORK. Returns 0 or -errno; on failure
 * nothing stays mapped or open.
 */
int guest_memory_init_config(struct guest_memory *mem,
			     const struct guest_memory_config *cfg) __must_check;
/* Anonymous RAM of ram_size: guest_memory_init_config() with defaults. */
int guest_memory_init(struct guest_memory *mem, uint64_t ram_size) __must_check;
void guest_memory_destroy(struct guest_memory *mem);

/*
 * The host's default huge page size (what MFD_HUGETLB uses) and how many of
 * them are free and not reserved, from /proc/meminfo and
 * /sys/kernel/mm/hugepages. For messages: the mapping is the authority.
 * 0 or -errno.
 */
int guest_memory_hugepages_free(uint64_t *page_size,
				uint64_t *free) __must_check;

/*
 * The checked translation: the host pointer for [gpa, gpa + len), or NULL
 * when any byte of it lies outside guest RAM or the range wraps. A range must
 * lie inside a single region (regions are not contiguous in the host).
 */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa,
		       uint64_t len);

/*
 * Copy into/out of guest memory; -EFAULT when out of range. A write is
 * marked dirty while logging is on (dirty.h).
 */
int guest_memory_write(const struct guest_memory *mem, uint64_t gpa,
		       const void *src, uint64_t len) __must_check;
int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      uint64_t len) __must_check;

/* Is [gpa, gpa + len) entirely RAM? */
bool guest_memory_contains(const struct guest_memory *mem, uint64_t gpa,
			   uint64_t len);

/*
 * The reverse of guest_memory_ptr(), for a host pointer a virtqueue handed
 * out: the guest address of [hva, hva + len), which must lie in one region.
 * 0, or -EFAULT for a pointer outside guest RAM.
 */
int guest_memory_gpa(const struct guest_memory *mem, const void *hva,
		     uint64_t len, uint64_t *gpa) __must_check;

/*
 * Give [gpa, gpa + len) back to the host: the guest no longer uses it (a
 * balloon). Anonymous RAM is dropped with MADV_DONTNEED; shared RAM gets a
 * hole punched in the memfd (fallocate), so the pages leave the file and
 * not only this process's mapping. Either way the range reads as zero
 * afterwards and is backed afresh when touched again. The range is marked
 * dirty (dirty.h): to a migration, the pages were overwritten with zeros,
 * and one that sent them before must send them again. gpa and len must be
 * multiples of mem->page_size and len non-zero (-EINVAL); the range must lie
 * in one region (-EFAULT). Any thread. 0 or -errno from the kernel.
 */
int guest_memory_discard(const struct guest_memory *mem, uint64_t gpa,
			 uint64_t len) __must_check;

#endif
