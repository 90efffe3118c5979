/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking of guest RAM, for live migration. Two sources are merged:
 *  - KVM's log of pages the vCPUs wrote (KVM_MEM_LOG_DIRTY_PAGES on every
 *    slot, fetched with KVM_GET_DIRTY_LOG, re-armed with KVM_CLEAR_DIRTY_LOG
 *    when KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 is there);
 *  - pages that tern itself wrote (device threads, io_uring and other
 *    kernel I/O into guest buffers), which KVM cannot see. Every such write
 *    is marked with guest_memory_mark_dirty() or _hva() after it is done.
 *    virtq_push() marks the used ring and the `written` bytes of the chain;
 *    guest_memory_write() marks what it copies.
 *
 * Control side (one caller at a time, e.g. the migration thread):
 * guest_memory_dirty_start(), then guest_memory_dirty_sync() as often as
 * needed, each reporting the pages dirtied since the previous sync (or the
 * start), then guest_memory_dirty_stop(). Marking is safe from any thread
 * at any time and costs one relaxed load while logging is off.
 *
 * A caller that reads the pages it was told about (a migration sending
 * them) starts with guest_memory_dirty_start_by_caller() instead: every
 * page counts as dirty from the start, nothing is write-protected until
 * the caller re-arms a range with guest_memory_dirty_rearm() just before
 * reading it, and a sync reports a page until then. A page the guest
 * writes before its turn is then read once, not once dirty and once again.
 */
#ifndef TERN_DIRTY_H
#define TERN_DIRTY_H

#include <sys/uio.h>

#include "tern/memory.h"

#define DIRTY_BITS_PER_WORD (8 * sizeof(unsigned long))

/*
 * Register every region with KVM as a memory slot (no logging yet) and
 * note whether KVM can clear its log by hand. vm_fd stays the caller's.
 * 0 or -errno (the region that failed is not registered).
 */
int guest_memory_kvm_register(struct guest_memory *mem, int vm_fd) __must_check;

/*
 * Start logging: allocate the bitmaps (first time), forget old device
 * marks, turn on KVM's log on every slot (when registered). From here
 * every write to guest RAM is either already visible to a reader of the
 * RAM or will be reported by a later sync. 0 or -errno; on failure
 * logging stays off.
 */
int guest_memory_dirty_start(struct guest_memory *mem) __must_check;

/*
 * Start logging for a caller that re-arms pages itself, as above. With
 * manual protection KVM's log starts all set (KVM_DIRTY_LOG_INITIALLY_SET
 * where offered: turning the log on write-protects nothing; otherwise it
 * write-protects all of RAM at once and the first rearm of a range finds
 * only what was written since) and a sync leaves the log armed as it was.
 * Without manual protection (or without KVM) this is
 * guest_memory_dirty_start(): each sync re-arms what it reports, and
 * guest_memory_dirty_rearm() does nothing. 0 or -errno.
 */
int guest_memory_dirty_start_by_caller(struct guest_memory *mem) __must_check;

/*
 * The caller is about to read pages [first, first + n) of region `region`
 * whose bits are set in `bits` (the region's own bitmap, bit 0 = page 0):
 * write-protect them and take them out of KVM's log, so that a write from
 * now on is reported by a later sync. Pages whose bit is clear are left
 * as they are (still reported if dirty: the caller did not read them).
 * KVM's rule for KVM_CLEAR_DIRTY_LOG holds: first a multiple of 64, n too
 * unless the range ends at the region's end (dirty_rearm_range_valid();
 * dirty_chunk_range() gives such ranges). 0, -EINVAL for a bad range, or
 * -errno from KVM. Does nothing (0) unless started by_caller with manual
 * protection.
 */
int guest_memory_dirty_rearm(struct guest_memory *mem, unsigned int region,
			     uint64_t first, uint64_t n,
			     const unsigned long *bits) __must_check;

/*
 * Called per run of dirty pages, in address order. Returns 0 to go on or a
 * negative errno to stop the sync.
 */
typedef int guest_dirty_fn(void *opaque, uint64_t gpa, uint64_t len);

/*
 * Fetch and reset what was dirtied since the last sync: KVM's log of each
 * slot merged with the device marks. fn is called for each run of dirty
 * pages (within one region). Returns the number of dirty pages, or fn's
 * negative return (the rest of this harvest is then lost: start over with
 * a full pass), or -errno (-EINVAL when logging is off).
 */
int64_t guest_memory_dirty_sync(struct guest_memory *mem, guest_dirty_fn *fn,
				void *opaque) __must_check;

/* Stop logging: the slots lose KVM_MEM_LOG_DIRTY_PAGES, marks stop. */
int guest_memory_dirty_stop(struct guest_memory *mem) __must_check;

/* Free the bitmaps; guest_memory_destroy() calls it. */
void guest_memory_dirty_cleanup(struct guest_memory *mem);

static inline bool guest_memory_dirty_logging(const struct guest_memory *mem)
{
	return __atomic_load_n(&mem->dirty_logging, __ATOMIC_RELAXED);
}

void guest_memory_mark_dirty_slow(const struct guest_memory *mem, uint64_t gpa,
				  uint64_t len);
void guest_memory_mark_dirty_hva_slow(const struct guest_memory *mem,
				      const void *hva, uint64_t len);
void guest_memory_mark_dirty_iov_slow(const struct guest_memory *mem,
				      const struct iovec *iov, unsigned int n,
				      uint64_t bytes);

/*
 * tern wrote [gpa, gpa + len) of guest RAM: record it for the next sync.
 * Call after the write. Bytes outside RAM are ignored (the write went
 * through guest_memory_ptr(), which already refused them).
 */
static inline void guest_memory_mark_dirty(const struct guest_memory *mem,
					   uint64_t gpa, uint64_t len)
{
	if (__builtin_expect(guest_memory_dirty_logging(mem), 0))
		guest_memory_mark_dirty_slow(mem, gpa, len);
}

/* The same for a host pointer into guest RAM (an iovec from a virtqueue). */
static inline void guest_memory_mark_dirty_hva(const struct guest_memory *mem,
					       const void *hva, uint64_t len)
{
	if (__builtin_expect(guest_memory_dirty_logging(mem), 0))
		guest_memory_mark_dirty_hva_slow(mem, hva, len);
}

/* The first `bytes` bytes of an iovec array (a chain's in-buffers). */
static inline void guest_memory_mark_dirty_iov(const struct guest_memory *mem,
					       const struct iovec *iov,
					       unsigned int n, uint64_t bytes)
{
	if (__builtin_expect(guest_memory_dirty_logging(mem), 0))
		guest_memory_mark_dirty_iov_slow(mem, iov, n, bytes);
}

/*
 * The pure parts, for the unit tests: set bits [first, first + n) with
 * atomic ORs; call fn for each run of set bits among npages, as guest
 * addresses from base (0, or fn's non-zero return).
 */
void dirty_bitmap_set(unsigned long *bits, uint64_t first, uint64_t n);
int dirty_bitmap_for_each(const unsigned long *bits, uint64_t npages,
			  uint64_t base, guest_dirty_fn *fn, void *opaque);

/*
 * KVM_CLEAR_DIRTY_LOG's rule for a range of a slot of npages: first is a
 * multiple of 64 and inside the slot, the range ends inside it, and n is
 * a multiple of 64 unless the range ends at the slot's end. n may be 0.
 */
bool dirty_rearm_range_valid(uint64_t npages, uint64_t first, uint64_t n);

/*
 * The chunk that holds page in a region of npages, cut in chunks of
 * chunk_pages (rounded up to a multiple of 64, at least 64) from page 0:
 * [*first, *first + *n), the last one cut short at the region's end.
 * Always dirty_rearm_range_valid(). page must be below npages.
 */
void dirty_chunk_range(uint64_t npages, uint64_t chunk_pages, uint64_t page,
		       uint64_t *first, uint64_t *n);

#endif
