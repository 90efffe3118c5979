// SPDX-License-Identifier: MIT
/*
 * Dirty tracking: KVM's log of each memory slot (what the vCPUs wrote) and
 * a bitmap per region of what tern's own threads wrote, merged at each
 * sync. KVM's per-vCPU dirty ring (KVM_CAP_DIRTY_LOG_RING) is not used:
 * it must be harvested for every vCPU and is per VM all-or-nothing, while
 * the slot bitmap is one ioctl per slot and works with no vCPU at all.
 */
#include <errno.h>
#include <glib.h>
#include <linux/kvm.h>
#include <linux/membarrier.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tern/dirty.h"

/* KVM_CLEAR_DIRTY_LOG's unit: ranges start (and mostly end) on it. */
#define DIRTY_REARM_ALIGN 64ULL

static uint64_t region_pages(const struct guest_region *r)
{
	return r->size >> GUEST_PAGE_SHIFT;
}

/* KVM's bitmap is in 64-bit words, rounded up: so is ours. */
static size_t region_words(const struct guest_region *r)
{
	return (region_pages(r) + DIRTY_BITS_PER_WORD - 1) /
	       DIRTY_BITS_PER_WORD;
}

void dirty_bitmap_set(unsigned long *bits, uint64_t first, uint64_t n)
{
	while (n) {
		uint64_t w = first / DIRTY_BITS_PER_WORD;
		unsigned int b = first % DIRTY_BITS_PER_WORD;
		uint64_t k = MIN(n, DIRTY_BITS_PER_WORD - b);
		unsigned long mask =
			k == DIRTY_BITS_PER_WORD ? ~0UL : ((1UL << k) - 1) << b;

		/*
		 * Always the atomic OR, never "skip if already set": a set
		 * bit may be harvested between our look and our write, and
		 * the release here is what makes the bytes just written
		 * visible to the sync whose acquire takes the bit.
		 */
		__atomic_fetch_or(&bits[w], mask, __ATOMIC_RELEASE);
		first += k;
		n -= k;
	}
}

/* The first set (want_set) or clear bit at or after i, or npages. */
static uint64_t dirty_bitmap_next(const unsigned long *bits, uint64_t npages,
				  uint64_t i, bool want_set)
{
	while (i < npages) {
		uint64_t w = i / DIRTY_BITS_PER_WORD;
		unsigned long word = want_set ? bits[w] : ~bits[w];

		word &= ~0UL << (i % DIRTY_BITS_PER_WORD);
		if (word) {
			i = w * DIRTY_BITS_PER_WORD + __builtin_ctzl(word);
			break;
		}
		i = (w + 1) * DIRTY_BITS_PER_WORD;
	}
	return MIN(i, npages);
}

int dirty_bitmap_for_each(const unsigned long *bits, uint64_t npages,
			  uint64_t base, guest_dirty_fn *fn, void *opaque)
{
	uint64_t start = dirty_bitmap_next(bits, npages, 0, true);

	while (start < npages) {
		uint64_t end = dirty_bitmap_next(bits, npages, start, false);
		int ret = fn(opaque, base + (start << GUEST_PAGE_SHIFT),
			     (end - start) << GUEST_PAGE_SHIFT);

		if (ret)
			return ret;
		start = dirty_bitmap_next(bits, npages, end, true);
	}
	return 0;
}

/* [off, off + len) of region r was written. */
static void region_mark(const struct guest_region *r, uint64_t off,
			uint64_t len)
{
	/* Published with release after zeroing; never freed while in use. */
	unsigned long *bits = __atomic_load_n(&r->dirty_dev, __ATOMIC_ACQUIRE);
	uint64_t first, last;

	if (!bits || !len)
		return;
	first = off >> GUEST_PAGE_SHIFT;
	last = (off + len - 1) >> GUEST_PAGE_SHIFT;
	dirty_bitmap_set(bits, first, last - first + 1);
}

void guest_memory_mark_dirty_slow(const struct guest_memory *mem, uint64_t gpa,
				  uint64_t len)
{
	uint64_t end = gpa + len < gpa ? UINT64_MAX : gpa + len;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t lo = MAX(gpa, r->gpa), hi = MIN(end, r->gpa + r->size);

		if (lo < hi)
			region_mark(r, lo - r->gpa, hi - lo);
	}
}

void guest_memory_mark_dirty_hva_slow(const struct guest_memory *mem,
				      const void *hva, uint64_t len)
{
	uintptr_t p = (uintptr_t)hva;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uintptr_t base = (uintptr_t)r->hva;

		if (r->hva && p >= base && p - base < r->size) {
			region_mark(r, p - base,
				    MIN(len, r->size - (p - base)));
			return;
		}
	}
}

void guest_memory_mark_dirty_iov_slow(const struct guest_memory *mem,
				      const struct iovec *iov, unsigned int n,
				      uint64_t bytes)
{
	for (unsigned int i = 0; i < n && bytes; i++) {
		uint64_t len = MIN((uint64_t)iov[i].iov_len, bytes);

		guest_memory_mark_dirty_hva_slow(mem, iov[i].iov_base, len);
		bytes -= len;
	}
}

static int slot_set_logging(const struct guest_memory *mem,
			    const struct guest_region *r, bool log)
{
	struct kvm_userspace_memory_region slot = {
		.slot = r->slot,
		.flags = log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uintptr_t)r->hva,
	};

	if (ioctl(mem->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return -errno;
	return 0;
}

int guest_memory_kvm_register(struct guest_memory *mem, int vm_fd)
{
	int caps, ret;

	mem->vm_fd = vm_fd;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		ret = slot_set_logging(mem, &mem->regions[i], false);
		if (ret)
			return ret;
	}
	/* The capability's value is the set of flags KVM accepts. */
	caps = ioctl(vm_fd, KVM_CHECK_EXTENSION,
		     KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	mem->kvm_manual_protect =
		caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
	mem->kvm_initially_set = mem->kvm_manual_protect &&
				 (caps & KVM_DIRTY_LOG_INITIALLY_SET);
	return 0;
}

static bool dirty_enable_manual(struct guest_memory *mem, bool all_set)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
			   (all_set ? KVM_DIRTY_LOG_INITIALLY_SET : 0),
	};

	return ioctl(mem->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

/*
 * Devices test the logging flag with a relaxed load, so a device that
 * wrote guest RAM just before start may still hold its bytes in a store
 * buffer having read "off". A process-wide barrier drains every thread's
 * stores: after it, each write from before start is visible to whoever
 * reads the RAM, and each later one sees "on" and is marked. Where
 * membarrier is unavailable (an old kernel, a seccomp filter) the window is
 * the time to drain a store buffer, far shorter than a first full pass.
 */
static void dirty_fence_all_threads(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		    0, 0) == 0)
		(void)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
			      0, 0);
}

static void dirty_alloc(struct guest_memory *mem)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		struct guest_region *r = &mem->regions[i];
		size_t words = region_words(r);

		if (!r->dirty_kvm)
			r->dirty_kvm = g_new0(unsigned long, words);
		if (!r->dirty_dev)
			__atomic_store_n(&r->dirty_dev,
					 g_new0(unsigned long, words),
					 __ATOMIC_RELEASE);
		/*
		 * Marks from a past session, possibly still landing from a
		 * device that read "on" late, are forgotten word by word.
		 */
		for (size_t w = 0; w < words; w++)
			__atomic_store_n(&r->dirty_dev[w], 0, __ATOMIC_RELAXED);
	}
}

static int dirty_start(struct guest_memory *mem, bool by_caller)
{
	int ret;

	if (guest_memory_dirty_logging(mem))
		return -EALREADY;
	dirty_alloc(mem);
	mem->dirty_by_caller = false;
	if (mem->vm_fd >= 0) {
		/*
		 * All set only for a caller that reads every page first
		 * anyway; a sync that must report "written since start"
		 * needs the log empty and the slots write-protected at once.
		 */
		bool all_set = by_caller && mem->kvm_initially_set;

		/* Refused: GET_DIRTY_LOG clears by itself instead. */
		if (mem->kvm_manual_protect &&
		    !dirty_enable_manual(mem, all_set) &&
		    !(all_set && dirty_enable_manual(mem, false)))
			mem->kvm_manual_protect = false;
		mem->dirty_by_caller = by_caller && mem->kvm_manual_protect;
		for (unsigned int i = 0; i < mem->nr_regions; i++) {
			ret = slot_set_logging(mem, &mem->regions[i], true);
			if (ret) {
				while (i--)
					(void)slot_set_logging(
						mem, &mem->regions[i], false);
				mem->dirty_by_caller = false;
				return ret;
			}
		}
	}
	__atomic_store_n(&mem->dirty_logging, true, __ATOMIC_SEQ_CST);
	dirty_fence_all_threads();
	return 0;
}

int guest_memory_dirty_start(struct guest_memory *mem)
{
	return dirty_start(mem, false);
}

int guest_memory_dirty_start_by_caller(struct guest_memory *mem)
{
	return dirty_start(mem, true);
}

bool dirty_rearm_range_valid(uint64_t npages, uint64_t first, uint64_t n)
{
	if (first % DIRTY_REARM_ALIGN || first > npages ||
	    n > npages - first || n > UINT32_MAX)
		return false;
	return n % DIRTY_REARM_ALIGN == 0 || first + n == npages;
}

void dirty_chunk_range(uint64_t npages, uint64_t chunk_pages, uint64_t page,
		       uint64_t *first, uint64_t *n)
{
	/* Bounded so that rounding up cannot wrap. */
	uint64_t c = MIN(MAX(chunk_pages, DIRTY_REARM_ALIGN), 1ULL << 48);

	c = (c + DIRTY_REARM_ALIGN - 1) & ~(DIRTY_REARM_ALIGN - 1);
	*first = page / c * c;
	*n = MIN(c, npages - *first);
}

int guest_memory_dirty_rearm(struct guest_memory *mem, unsigned int region,
			     uint64_t first, uint64_t n,
			     const unsigned long *bits)
{
	const struct guest_region *r;
	struct kvm_clear_dirty_log clear;
	bool any = false;

	if (region >= mem->nr_regions)
		return -EINVAL;
	r = &mem->regions[region];
	if (!dirty_rearm_range_valid(region_pages(r), first, n))
		return -EINVAL;
	if (!mem->dirty_by_caller || !guest_memory_dirty_logging(mem))
		return 0;
	bits += first / DIRTY_BITS_PER_WORD;
	for (uint64_t w = 0; w * DIRTY_BITS_PER_WORD < n && !any; w++)
		any = bits[w] != 0;
	/* A clean range costs no system call (a pass skips most of RAM). */
	if (!any)
		return 0;
	/*
	 * KVM clears only the bits set in both maps, write-protects those
	 * pages and flushes the guest's TLBs before returning: a write the
	 * guest makes after this faults and is logged again.
	 */
	clear = (struct kvm_clear_dirty_log){
		.slot = r->slot,
		.first_page = first,
		.num_pages = (uint32_t)n,
		.dirty_bitmap = (void *)bits,
	};
	if (ioctl(mem->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		return -errno;
	return 0;
}

/* KVM's log for r since the last fetch, into r->dirty_kvm, re-armed. */
static int dirty_fetch_kvm(struct guest_memory *mem, struct guest_region *r)
{
	struct kvm_dirty_log log = {
		.slot = r->slot,
		.dirty_bitmap = r->dirty_kvm,
	};
	struct kvm_clear_dirty_log clear = {
		.slot = r->slot,
		.first_page = 0,
		.num_pages = (uint32_t)region_pages(r),
		.dirty_bitmap = r->dirty_kvm,
	};
	size_t words = region_words(r);
	bool any = false;

	if (mem->vm_fd < 0) {
		memset(r->dirty_kvm, 0, words * sizeof(unsigned long));
		return 0;
	}
	/* Without manual protection this also clears and write-protects. */
	if (ioctl(mem->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	/* By the caller: guest_memory_dirty_rearm(), just before it reads. */
	if (!mem->kvm_manual_protect || mem->dirty_by_caller)
		return 0;
	for (size_t w = 0; w < words && !any; w++)
		any = r->dirty_kvm[w] != 0;
	/*
	 * Clear (and write-protect again) only the pages we fetched: a page
	 * first written after the GET stays dirty for the next sync.
	 */
	if (any && ioctl(mem->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		return -errno;
	return 0;
}

int64_t guest_memory_dirty_sync(struct guest_memory *mem, guest_dirty_fn *fn,
				void *opaque)
{
	int64_t total = 0;
	int ret;

	if (!guest_memory_dirty_logging(mem))
		return -EINVAL;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		struct guest_region *r = &mem->regions[i];
		size_t words = region_words(r);

		ret = dirty_fetch_kvm(mem, r);
		if (ret)
			return ret;
		for (size_t w = 0; w < words; w++) {
			unsigned long dev = __atomic_load_n(&r->dirty_dev[w],
							    __ATOMIC_RELAXED);

			/* Acquire: pairs with dirty_bitmap_set()'s release. */
			if (dev)
				dev = __atomic_exchange_n(&r->dirty_dev[w], 0,
							  __ATOMIC_ACQUIRE);
			r->dirty_kvm[w] |= dev;
			total += __builtin_popcountl(r->dirty_kvm[w]);
		}
		ret = dirty_bitmap_for_each(r->dirty_kvm, region_pages(r),
					    r->gpa, fn, opaque);
		if (ret)
			return ret;
	}
	return total;
}

int guest_memory_dirty_stop(struct guest_memory *mem)
{
	int ret = 0, r;

	if (!guest_memory_dirty_logging(mem))
		return 0;
	__atomic_store_n(&mem->dirty_logging, false, __ATOMIC_RELAXED);
	mem->dirty_by_caller = false;
	if (mem->vm_fd < 0)
		return 0;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		r = slot_set_logging(mem, &mem->regions[i], false);
		if (r && !ret)
			ret = r;
	}
	return ret;
}

void guest_memory_dirty_cleanup(struct guest_memory *mem)
{
	for (unsigned int i = 0; i < GUEST_MEM_MAX_REGIONS; i++) {
		struct guest_region *r = &mem->regions[i];

		g_free(r->dirty_dev);
		g_free(r->dirty_kvm);
		r->dirty_dev = r->dirty_kvm = NULL;
	}
	mem->dirty_logging = false;
}
