// SPDX-License-Identifier: MIT
/*
 * Dirty tracking without KVM: the bitmaps, device-side marking from any
 * thread, the merge and walk of a sync, and the virtqueue push paths
 * marking what they write. (test-dirty-kvm.c runs a real guest.)
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/layout.h"
#include "tern/virtio.h"
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

/* ---- re-arming by range: KVM_CLEAR_DIRTY_LOG's rule and the chunks ---- */

START_TEST(rearm_range_rule)
{
	/* Aligned, inside: fine. */
	ck_assert(dirty_rearm_range_valid(1000, 0, 64));
	ck_assert(dirty_rearm_range_valid(1000, 512, 448));
	/* first not a multiple of 64. */
	ck_assert(!dirty_rearm_range_valid(1000, 3, 64));
	ck_assert(!dirty_rearm_range_valid(1000, 63, 1));
	/* n not a multiple of 64 is only allowed at the slot's end. */
	ck_assert(!dirty_rearm_range_valid(1000, 64, 100));
	ck_assert(dirty_rearm_range_valid(1000, 960, 40));
	ck_assert(dirty_rearm_range_valid(1000, 0, 1000));
	/* Past the end, by a page or by wrapping. */
	ck_assert(!dirty_rearm_range_valid(1000, 960, 41));
	ck_assert(!dirty_rearm_range_valid(1000, 960, 64));
	ck_assert(!dirty_rearm_range_valid(1000, 1024, 0));
	ck_assert(!dirty_rearm_range_valid(1000, 64, UINT64_MAX - 32));
	/* Empty at an aligned end; KVM's num_pages is 32 bits. */
	ck_assert(dirty_rearm_range_valid(1024, 1024, 0));
	ck_assert(!dirty_rearm_range_valid(1ULL << 40, 0, 1ULL << 32));
	ck_assert(dirty_rearm_range_valid(1ULL << 40, 0, (1ULL << 32) - 64));
}
END_TEST

/* Every page of a region, for a chunk size: its chunk holds it, is valid. */
static void check_chunks(uint64_t npages, uint64_t chunk, uint64_t want)
{
	uint64_t first, n, prev_end = 0;

	for (uint64_t p = 0; p < npages; p++) {
		dirty_chunk_range(npages, chunk, p, &first, &n);
		ck_assert_msg(first <= p && p < first + n,
			      "page %llu not in its chunk [%llu, +%llu)",
			      (unsigned long long)p, (unsigned long long)first,
			      (unsigned long long)n);
		ck_assert_uint_eq(first % want, 0);
		ck_assert_uint_eq(n, MIN(want, npages - first));
		ck_assert(dirty_rearm_range_valid(npages, first, n));
		/* Chunks tile the region: each starts where one ended. */
		ck_assert(first == prev_end || first + n == prev_end);
		prev_end = first + n;
	}
	ck_assert_uint_eq(prev_end, npages);
}

START_TEST(chunk_ranges)
{
	uint64_t first, n;

	/* A region not a multiple of the chunk: the last is cut short. */
	check_chunks(1000, 512, 512);
	dirty_chunk_range(1000, 512, 999, &first, &n);
	ck_assert_uint_eq(first, 512);
	ck_assert_uint_eq(n, 488);
	/* The last chunk exactly at the end, and a region of one chunk. */
	check_chunks(1024, 512, 512);
	check_chunks(512, 512, 512);
	/* Smaller than a chunk, and smaller than 64 pages. */
	check_chunks(40, 512, 512);
	check_chunks(1, 512, 512);
	/* Chunk sizes KVM could not take are rounded up to 64 pages. */
	check_chunks(1000, 100, 128);
	check_chunks(1000, 1, 64);
	check_chunks(1000, 0, 64);
	dirty_chunk_range(1000, 100, 130, &first, &n);
	ck_assert_uint_eq(first, 128);
	ck_assert_uint_eq(n, 128);
	/* A huge chunk is the whole region, without wrapping. */
	dirty_chunk_range(1000, UINT64_MAX, 999, &first, &n);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(n, 1000);
}
END_TEST

/* Without KVM the ranges are checked and nothing else happens. */
START_TEST(rearm_without_kvm)
{
	unsigned long bits[4096 / 64];
	struct guest_memory m;
	struct ranges r;

	memset(bits, 0xff, sizeof(bits));
	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	ck_assert_int_eq(guest_memory_dirty_start_by_caller(&m), 0);
	ck_assert(!m.dirty_by_caller);
	ck_assert_int_eq(guest_memory_dirty_rearm(&m, 0, 0, 512, bits), 0);
	ck_assert_int_eq(guest_memory_dirty_rearm(&m, 0, 4096 - 64, 64, bits), 0);
	ck_assert_int_eq(guest_memory_dirty_rearm(&m, 0, 1, 64, bits), -EINVAL);
	ck_assert_int_eq(guest_memory_dirty_rearm(&m, 0, 4096 - 64, 128, bits),
			 -EINVAL);
	ck_assert_int_eq(guest_memory_dirty_rearm(&m, 1, 0, 64, bits), -EINVAL);
	/* Device marks still come and go with each sync. */
	guest_memory_mark_dirty(&m, 0x5000, 1);
	ck_assert_int_eq(sync_into(&m, &r), 1);
	expect_range(&r, 0, 0x5000, PAGE);
	ck_assert_int_eq(sync_into(&m, &r), 0);
	ck_assert_int_eq(guest_memory_dirty_stop(&m), 0);
	guest_memory_destroy(&m);
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

/* ---- virtq_push under logging: the test plays the driver ---- */

#define RAM (16 * MiB)
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x20000ULL /* split: available ring; packed: driver event */
#define USED_GPA 0x30000ULL /* split: used ring; packed: device event */
#define OUT_GPA 0x100000ULL
#define IN1_GPA 0x200000ULL
#define IN2_GPA 0x300000ULL
#define F_NEXT 1
#define F_WRITE 2
#define F_AVAIL (1 << 7)

static struct guest_memory mem;
static struct virtio_device vdev;
static const struct virtio_device_ops test_ops = { .name = "test-dev" };

static void put(uint64_t gpa, const void *v, size_t len)
{
	/* Straight into RAM, as the guest would: not a tern write. */
	memcpy(guest_memory_ptr(&mem, gpa, len), v, len);
}

static struct virtqueue *start_queue(bool packed, uint64_t features)
{
	struct virtqueue *vq;
	struct virtq_layout *l;
	const char *why = NULL;

	ck_assert_int_eq(guest_memory_init(&mem, RAM), 0);
	ck_assert_int_eq(virtio_device_init(&vdev, &mem, &test_ops, NULL,
					    VIRTIO_ID_RNG, 0, 1, VIRTQ_MAX_SIZE,
					    NULL, 0), 0);
	vdev.features = features | 1ULL << VIRTIO_F_VERSION_1 |
			(packed ? 1ULL << VIRTIO_F_RING_PACKED : 0);
	vq = vdev.queues[0];
	l = virtq_layout(vq);
	l->size = 8;
	l->desc = DESC_GPA;
	l->driver = AVAIL_GPA;
	l->device = USED_GPA;
	l->enabled = true;
	ck_assert_msg(virtq_start(vq, &why) == 0, "start: %s", why);
	return vq;
}

static void put_desc(unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next_or_id)
{
	uint64_t d = DESC_GPA + 16ULL * i;

	put(d, &addr, 8);
	put(d + 8, &len, 4);
	/* split: flags, next; packed: id, flags */
	put(d + 12, &flags, 2);
	put(d + 14, &next_or_id, 2);
}

/* One chain: 16 bytes out, then a page and 0x100 bytes in. */
static void split_offer_chain(void)
{
	uint16_t head = 0, idx = 1;

	put_desc(0, OUT_GPA, 16, F_NEXT, 1);
	put_desc(1, IN1_GPA, PAGE, F_NEXT | F_WRITE, 2);
	put_desc(2, IN2_GPA, 0x100, F_WRITE, 0);
	put(AVAIL_GPA + 4, &head, 2);
	put(AVAIL_GPA + 2, &idx, 2);
}

static void packed_put_desc(unsigned int i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t id)
{
	uint64_t d = DESC_GPA + 16ULL * i;

	put(d, &addr, 8);
	put(d + 8, &len, 4);
	put(d + 12, &id, 2);
	put(d + 14, &flags, 2);
}

static void packed_offer_chain(void)
{
	/* First lap: AVAIL set, USED clear; the head's flags last. */
	packed_put_desc(1, IN1_GPA, PAGE, F_AVAIL | F_NEXT | F_WRITE, 0);
	packed_put_desc(2, IN2_GPA, 0x100, F_AVAIL | F_WRITE, 5);
	packed_put_desc(0, OUT_GPA, 16, F_AVAIL | F_NEXT, 0);
}

static void push_and_expect(struct virtqueue *vq, uint32_t written,
			    uint64_t ring_page, bool in2)
{
	struct virtq_elem elem;
	struct ranges r;
	int64_t n;

	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(elem.in_num, 2);
	/* Popping wrote nothing (no EVENT_IDX), and the guest's own writes
	 * to the rings and buffers are KVM's to log, not ours. */
	ck_assert_int_eq(sync_into(&mem, &r), 0);
	virtq_push(vq, &elem, written);
	n = sync_into(&mem, &r);
	ck_assert_int_eq(n, 2 + in2);
	expect_range(&r, 0, ring_page, PAGE);
	expect_range(&r, 1, IN1_GPA, PAGE);
	if (in2)
		expect_range(&r, 2, IN2_GPA, PAGE);
}

START_TEST(split_push_marks_used_ring_and_written)
{
	struct virtqueue *vq = start_queue(false, 0);

	ck_assert_int_eq(guest_memory_dirty_start(&mem), 0);
	split_offer_chain();
	/* A page and one byte: both in-buffers, the used ring; not the out buffer. */
	push_and_expect(vq, PAGE + 1, USED_GPA, true);
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}
END_TEST

START_TEST(split_push_marks_only_written)
{
	struct virtqueue *vq = start_queue(false, 0);

	ck_assert_int_eq(guest_memory_dirty_start(&mem), 0);
	split_offer_chain();
	/* Exactly the first in-buffer written: the second stays clean. */
	push_and_expect(vq, PAGE, USED_GPA, false);
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}
END_TEST

START_TEST(split_event_idx_writes_are_marked)
{
	struct virtqueue *vq = start_queue(false, 1ULL << VIRTIO_F_EVENT_IDX);
	struct virtq_elem elem;
	struct ranges r;

	ck_assert_int_eq(guest_memory_dirty_start(&mem), 0);
	split_offer_chain();
	/* avail_event lives in the used ring page: the pop wrote it. */
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_int_eq(sync_into(&mem, &r), 1);
	expect_range(&r, 0, USED_GPA, PAGE);
	virtq_disable_kicks(vq);
	ck_assert(!virtq_enable_kicks(vq));
	ck_assert_int_eq(sync_into(&mem, &r), 1);
	expect_range(&r, 0, USED_GPA, PAGE);
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}
END_TEST

START_TEST(packed_push_marks_descriptor_and_written)
{
	struct virtqueue *vq = start_queue(true, 0);
	struct ranges r;

	ck_assert_int_eq(guest_memory_dirty_start(&mem), 0);
	packed_offer_chain();
	/* The used descriptor is written in place, in the descriptor ring. */
	push_and_expect(vq, PAGE + 0x100, DESC_GPA, true);
	/* The device event word (in its own page) is marked when written. */
	virtq_disable_kicks(vq);
	ck_assert_int_eq(sync_into(&mem, &r), 1);
	expect_range(&r, 0, USED_GPA, PAGE);
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}
END_TEST

START_TEST(push_marks_nothing_while_off)
{
	struct virtqueue *vq = start_queue(false, 0);
	struct virtq_elem elem;
	struct ranges r;

	split_offer_chain();
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, PAGE + 1);
	/* Started afterwards: what happened before is not reported. */
	ck_assert_int_eq(guest_memory_dirty_start(&mem), 0);
	ck_assert_int_eq(sync_into(&mem, &r), 0);
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dirty");

	UNIT_TCASE(s, "bitmap", bitmap_set_and_walk, bitmap_walk_edges);
	UNIT_TCASE(s, "rearm", rearm_range_rule, chunk_ranges, rearm_without_kvm);
	UNIT_TCASE(s, "mark", mark_is_a_noop_while_off, mark_gpa_ranges,
		   mark_both_regions, mark_hva_and_iov, write_marks_and_stop_ends,
		   marks_from_threads_are_not_lost);
	UNIT_TCASE(s, "virtqueue", split_push_marks_used_ring_and_written,
		   split_push_marks_only_written,
		   split_event_idx_writes_are_marked,
		   packed_push_marks_descriptor_and_written,
		   push_marks_nothing_while_off);
	return unit_run(s);
}
