// SPDX-License-Identifier: MIT
/*
 * Dirty tracking without KVM: the bitmaps, device-side marking from any
 * thread, and the merge and walk of a sync. (test-dirty-kvm.c runs a
 * real guest.)
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/layout.h"
#include "unit.h"

#define PAGE GUEST_PAGE_SIZE

/* What a sync reported: runs of dirty pages, as [gpa, gpa + len). */
struct ranges {
	unsigned int n;
	uint64_t gpa[64], len[64];
	int stop_after; /* return -EINTR after this many (0: never) */
};

static int collect(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ranges *r = opaque;

	ck_assert_uint_lt(r->n, 64);
	r->gpa[r->n] = gpa;
	r->len[r->n] = len;
	r->n++;
	if (r->stop_after && r->n == (unsigned int)r->stop_after)
		return -EINTR;
	return 0;
}

static void expect_range(const struct ranges *r, unsigned int i, uint64_t gpa,
			 uint64_t len)
{
	ck_assert_uint_gt(r->n, i);
	ck_assert_msg(r->gpa[i] == gpa && r->len[i] == len,
		      "range %u is 0x%llx+0x%llx, expected 0x%llx+0x%llx", i,
		      (unsigned long long)r->gpa[i], (unsigned long long)r->len[i],
		      (unsigned long long)gpa, (unsigned long long)len);
}

static int64_t sync_into(struct guest_memory *m, struct ranges *r)
{
	memset(r, 0, sizeof(*r));
	return guest_memory_dirty_sync(m, collect, r);
}

/* ---- the pure bitmap parts ---- */

START_TEST(bitmap_set_and_walk)
{
	unsigned long bits[3] = { 0 };
	struct ranges r = { 0 };

	dirty_bitmap_set(bits, 0, 1);
	dirty_bitmap_set(bits, 62, 5); /* 62..66: across a word boundary */
	dirty_bitmap_set(bits, 64, 64); /* a whole word, merging with the above */
	dirty_bitmap_set(bits, 130, 1);
	dirty_bitmap_set(bits, 131, 1); /* adjacent marks make one run */
	dirty_bitmap_set(bits, 150, 0); /* nothing */
	ck_assert_uint_eq(bits[0], 1UL | 3UL << 62);
	ck_assert_uint_eq(bits[1], ~0UL);
	ck_assert_uint_eq(bits[2], 3UL << 2);

	ck_assert_int_eq(dirty_bitmap_for_each(bits, 3 * 64, 0x100000, collect, &r), 0);
	ck_assert_uint_eq(r.n, 3);
	expect_range(&r, 0, 0x100000, PAGE);
	expect_range(&r, 1, 0x100000 + 62 * PAGE, 66 * PAGE);
	expect_range(&r, 2, 0x100000 + 130 * PAGE, 2 * PAGE);
}
END_TEST

START_TEST(bitmap_walk_edges)
{
	unsigned long bits[2] = { 0 };
	struct ranges r = { 0 };

	/* Nothing set: no call. */
	ck_assert_int_eq(dirty_bitmap_for_each(bits, 100, 0, collect, &r), 0);
	ck_assert_uint_eq(r.n, 0);
	/* A run to the last page ends at npages, not at the word's end. */
	dirty_bitmap_set(bits, 90, 10);
	ck_assert_int_eq(dirty_bitmap_for_each(bits, 100, 0, collect, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	expect_range(&r, 0, 90 * PAGE, 10 * PAGE);
	/* Bits beyond npages (the tail of KVM's last word) are not pages. */
	memset(&r, 0, sizeof(r));
	bits[1] |= 1UL << 50;
	ck_assert_int_eq(dirty_bitmap_for_each(bits, 100, 0, collect, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	expect_range(&r, 0, 90 * PAGE, 10 * PAGE);
	/* All 128 set: one run. */
	memset(&r, 0, sizeof(r));
	bits[0] = bits[1] = ~0UL;
	ck_assert_int_eq(dirty_bitmap_for_each(bits, 128, 0, collect, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	expect_range(&r, 0, 0, 128 * PAGE);
	/* A negative return stops the walk and is passed on. */
	memset(&r, 0, sizeof(r));
	bits[0] = 0x5;
	r.stop_after = 1;
	ck_assert_int_eq(dirty_bitmap_for_each(bits, 64, 0, collect, &r), -EINTR);
	ck_assert_uint_eq(r.n, 1);
}
END_TEST

/* ---- marking and syncing, without KVM (vm_fd -1) ---- */

START_TEST(mark_is_a_noop_while_off)
{
	struct guest_memory m;
	struct ranges r;

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	ck_assert(!guest_memory_dirty_logging(&m));
	guest_memory_mark_dirty(&m, 0x1000, 1);
	/* No bitmap exists until logging starts: the mark had nowhere to go. */
	ck_assert_ptr_null(m.regions[0].dirty_dev);
	ck_assert_int_eq(sync_into(&m, &r), -EINVAL);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	ck_assert_int_eq(guest_memory_dirty_start(&m), -EALREADY);
	ck_assert_int_eq(sync_into(&m, &r), 0);
	ck_assert_uint_eq(r.n, 0);
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(mark_gpa_ranges)
{
	struct guest_memory m;
	struct ranges r;

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	guest_memory_mark_dirty(&m, 0x1000, 1);
	guest_memory_mark_dirty(&m, 0x1fff, 2); /* the end of 1, the start of 2 */
	guest_memory_mark_dirty(&m, 0x10000, 0); /* empty: nothing */
	guest_memory_mark_dirty(&m, 0x20010, 3 * PAGE); /* 4 pages touched */
	guest_memory_mark_dirty(&m, 16 * MiB - 1, 1); /* the last page */
	guest_memory_mark_dirty(&m, 16 * MiB, PAGE); /* outside RAM: ignored */
	guest_memory_mark_dirty(&m, UINT64_MAX - 10, 100); /* wraps: ignored */
	ck_assert_int_eq(sync_into(&m, &r), 2 + 4 + 1);
	ck_assert_uint_eq(r.n, 3);
	expect_range(&r, 0, 0x1000, 2 * PAGE);
	expect_range(&r, 1, 0x20000, 4 * PAGE);
	expect_range(&r, 2, 16 * MiB - PAGE, PAGE);
	/* A sync takes the marks: the next one starts empty. */
	ck_assert_int_eq(sync_into(&m, &r), 0);
	ck_assert_uint_eq(r.n, 0);
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(mark_both_regions)
{
	struct guest_memory m;
	struct ranges r;

	/* MAP_NORESERVE: 3 GiB + 8 MiB of address space, nothing touched. */
	ck_assert_int_eq(guest_memory_init(&m, LAYOUT_MMIO32_START + 8 * MiB), 0);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	/* One range over the hole: only the RAM on either side counts. */
	guest_memory_mark_dirty(&m, LAYOUT_MMIO32_START - PAGE,
				LAYOUT_RAM_ABOVE_4G + 1 - (LAYOUT_MMIO32_START - PAGE));
	guest_memory_mark_dirty_hva(&m, m.regions[1].hva + 5 * PAGE + 7, 1);
	ck_assert_int_eq(sync_into(&m, &r), 3);
	ck_assert_uint_eq(r.n, 3);
	expect_range(&r, 0, LAYOUT_MMIO32_START - PAGE, PAGE);
	expect_range(&r, 1, LAYOUT_RAM_ABOVE_4G, PAGE);
	expect_range(&r, 2, LAYOUT_RAM_ABOVE_4G + 5 * PAGE, PAGE);
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(mark_hva_and_iov)
{
	struct guest_memory m;
	struct ranges r;
	uint8_t *base, outside[64];
	struct iovec iov[3];

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	base = guest_memory_ptr(&m, 0, 16 * MiB);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	/* Clamped to the end of the region. */
	guest_memory_mark_dirty_hva(&m, base + 16 * MiB - 10, 100);
	/* Not guest RAM: ignored. */
	guest_memory_mark_dirty_hva(&m, outside, sizeof(outside));
	/* 4096 + 10 bytes written into a chain of three buffers. */
	iov[0] = (struct iovec){ base + 0x100000, PAGE };
	iov[1] = (struct iovec){ base + 0x200ff0, 0x20 }; /* crosses a page */
	iov[2] = (struct iovec){ base + 0x300000, PAGE };
	guest_memory_mark_dirty_iov(&m, iov, 3, PAGE + 0x11);
	ck_assert_int_eq(sync_into(&m, &r), 1 + 1 + 2);
	expect_range(&r, 0, 0x100000, PAGE);
	expect_range(&r, 1, 0x200000, 2 * PAGE);
	expect_range(&r, 2, 16 * MiB - PAGE, PAGE);
	ck_assert_uint_eq(r.n, 3);
	/* Exactly the first buffer: the second is untouched. */
	guest_memory_mark_dirty_iov(&m, iov, 3, PAGE);
	ck_assert_int_eq(sync_into(&m, &r), 1);
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(write_marks_and_stop_ends)
{
	struct guest_memory m;
	struct ranges r;
	uint32_t v = 42;

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	ck_assert_int_eq(guest_memory_write(&m, 0x5ffe, &v, 4), 0);
	ck_assert_int_eq(guest_memory_write(&m, 16 * MiB, &v, 4), -EFAULT);
	ck_assert_int_eq(sync_into(&m, &r), 2);
	expect_range(&r, 0, 0x5000, 2 * PAGE);
	/* A mark left over when logging stops is not reported next time. */
	guest_memory_mark_dirty(&m, 0x9000, 1);
	ck_assert_int_eq(guest_memory_dirty_stop(&m), 0);
	ck_assert_int_eq(guest_memory_dirty_stop(&m), 0);
	ck_assert_int_eq(sync_into(&m, &r), -EINVAL);
	guest_memory_mark_dirty(&m, 0xa000, 1);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	ck_assert_int_eq(sync_into(&m, &r), 0);
	/* The callback's error stops the sync and comes back. */
	guest_memory_mark_dirty(&m, 0x1000, 1);
	guest_memory_mark_dirty(&m, 0x3000, 1);
	memset(&r, 0, sizeof(r));
	r.stop_after = 1;
	ck_assert_int_eq(guest_memory_dirty_sync(&m, collect, &r), -EINTR);
	guest_memory_destroy(&m);
}
END_TEST

/* Several device threads mark while a sync runs: no mark is lost. */
#define MARKERS 4
#define MARKS_PER_THREAD 4096

struct marker {
	struct guest_memory *mem;
	unsigned int index;
};

static void *marker_run(void *opaque)
{
	struct marker *t = opaque;

	/* Thread t marks pages t, t + MARKERS, ...: neighbours share words. */
	for (unsigned int i = 0; i < MARKS_PER_THREAD; i++)
		guest_memory_mark_dirty(t->mem, (uint64_t)(i * MARKERS + t->index) * PAGE,
					1);
	return NULL;
}

static int count_pages(void *opaque, uint64_t gpa, uint64_t len)
{
	uint8_t *seen = opaque;

	for (uint64_t p = gpa / PAGE; p < (gpa + len) / PAGE; p++) {
		ck_assert_uint_eq(seen[p], 0); /* reported once */
		seen[p] = 1;
	}
	return 0;
}

START_TEST(marks_from_threads_are_not_lost)
{
	static uint8_t seen[MARKERS * MARKS_PER_THREAD];
	struct marker t[MARKERS];
	pthread_t th[MARKERS];
	struct guest_memory m;
	int64_t total = 0, n;

	ck_assert_int_eq(guest_memory_init(&m, MARKERS * MARKS_PER_THREAD * PAGE), 0);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	for (unsigned int i = 0; i < MARKERS; i++) {
		t[i] = (struct marker){ &m, i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, marker_run, &t[i]), 0);
	}
	/* Harvest while they run; every page must turn up exactly once. */
	for (unsigned int round = 0; round < 50; round++) {
		n = guest_memory_dirty_sync(&m, count_pages, seen);
		ck_assert_int_ge(n, 0);
		total += n;
	}
	for (unsigned int i = 0; i < MARKERS; i++)
		pthread_join(th[i], NULL);
	n = guest_memory_dirty_sync(&m, count_pages, seen);
	ck_assert_int_ge(n, 0);
	total += n;
	ck_assert_int_eq(total, MARKERS * MARKS_PER_THREAD);
	for (unsigned int p = 0; p < MARKERS * MARKS_PER_THREAD; p++)
		ck_assert_uint_eq(seen[p], 1);
	guest_memory_destroy(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dirty");

	UNIT_TCASE(s, "bitmap", bitmap_set_and_walk, bitmap_walk_edges);
	UNIT_TCASE(s, "mark", mark_is_a_noop_while_off, mark_gpa_ranges,
		   mark_both_regions, mark_hva_and_iov, write_marks_and_stop_ends,
		   marks_from_threads_are_not_lost);
	return unit_run(s);
}
