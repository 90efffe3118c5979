// SPDX-License-Identifier: MIT
/*
 * Virtqueues against hand-built rings: the test plays the driver, writing
 * descriptors, available entries and event words at the offsets of virtio
 * 1.2 (2.7 split, 2.8 packed) into a real guest_memory, and reads back what
 * the device wrote. No KVM and no transport: interrupts land in counters.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tern/virtio.h"
#include "unit.h"

#define RAM_SIZE (16 * MiB)
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x20000ULL /* split: available ring; packed: driver event */
#define USED_GPA 0x30000ULL /* split: used ring; packed: device event */
#define TABLE_GPA 0x40000ULL /* indirect tables */
#define BUF_GPA 0x100000ULL

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define F_AVAIL (1 << 7)
#define F_USED (1 << 15)

#define FEAT(b) (1ULL << (b))

static struct guest_memory mem;
static struct virtio_device vdev;
static struct virtqueue *vq;
static unsigned int queue_irqs, config_irqs;
static uint16_t qsize;
static uint16_t avail_idx; /* the split driver's next available index */

static void count_queue_irq(struct virtio_device *d, struct virtqueue *q)
{
	queue_irqs++;
}

static void count_config_irq(struct virtio_device *d)
{
	config_irqs++;
}

static const struct virtio_transport_ops counting_transport = {
	.notify_queue = count_queue_irq,
	.notify_config = count_config_irq,
};

static const struct virtio_device_ops test_ops = { .name = "test-dev" };

static void *gpa(uint64_t a)
{
	void *p = guest_memory_ptr(&mem, a, 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void wr16(uint64_t a, uint16_t v) { memcpy(gpa(a), &v, 2); }
static void wr32(uint64_t a, uint32_t v) { memcpy(gpa(a), &v, 4); }
static void wr64(uint64_t a, uint64_t v) { memcpy(gpa(a), &v, 8); }

static uint16_t rd16(uint64_t a)
{
	uint16_t v;

	memcpy(&v, gpa(a), 2);
	return v;
}

static uint32_t rd32(uint64_t a)
{
	uint32_t v;

	memcpy(&v, gpa(a), 4);
	return v;
}

/* A device with one queue of size, started on the rings above. */
static void setup(uint64_t features, uint16_t size)
{
	struct virtq_layout *l;
	const char *why = NULL;

	ck_assert_int_eq(guest_memory_init(&mem, RAM_SIZE), 0);
	ck_assert_int_eq(virtio_device_init(&vdev, &mem, &test_ops, NULL,
					    VIRTIO_ID_RNG, 0, 1, VIRTQ_MAX_SIZE,
					    NULL, 0), 0);
	vdev.transport_ops = &counting_transport;
	vdev.features = features | FEAT(VIRTIO_F_VERSION_1);
	vdev.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		      VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	vq = vdev.queues[0];
	l = virtq_layout(vq);
	l->size = size;
	l->desc = DESC_GPA;
	l->driver = AVAIL_GPA;
	l->device = USED_GPA;
	l->enabled = true;
	qsize = size;
	avail_idx = 0;
	ck_assert_msg(virtq_start(vq, &why) == 0, "start: %s", why);
	queue_irqs = config_irqs = 0;
}

static void teardown(void)
{
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}

/* The device went to NEEDS_RESET, said so once, and the queue stays stopped. */
static void expect_malformed(int ret)
{
	struct virtq_elem elem;

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert(vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert(virtq_broken(vq));
	ck_assert_uint_eq(config_irqs, 1);
	ck_assert_int_eq(virtq_pop(vq, &elem), -EINVAL);
	ck_assert_uint_eq(config_irqs, 1);
	/* Nothing is pushed or signalled on a broken queue. */
	virtq_push(vq, &elem, 0);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 0);
}

/* ---- split ring: the driver's side ---- */

static void sdesc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	uint64_t d = table + 16ULL * i;

	wr64(d, addr);
	wr32(d + 8, len);
	wr16(d + 12, flags);
	wr16(d + 14, next);
}

static void savail(uint16_t head)
{
	wr16(AVAIL_GPA + 4 + 2 * (avail_idx % qsize), head);
	avail_idx++;
	wr16(AVAIL_GPA + 2, avail_idx);
}

static uint16_t sused_idx(void)
{
	return rd16(USED_GPA + 2);
}

static uint32_t sused_id(uint16_t i)
{
	return rd32(USED_GPA + 4 + 8 * (i % qsize));
}

static uint32_t sused_len(uint16_t i)
{
	return rd32(USED_GPA + 4 + 8 * (i % qsize) + 4);
}

#define USED_EVENT_GPA (AVAIL_GPA + 4 + 2 * qsize)
#define AVAIL_EVENT_GPA (USED_GPA + 4 + 8 * qsize)

START_TEST(split_chain)
{
	struct virtq_elem elem;

	setup(0, 8);
	/* A request header, a data buffer, then two writable buffers. */
	sdesc(DESC_GPA, 3, BUF_GPA, 16, F_NEXT, 5);
	sdesc(DESC_GPA, 5, BUF_GPA + 0x1000, 512, F_NEXT, 0);
	sdesc(DESC_GPA, 0, BUF_GPA + 0x2000, 100, F_NEXT | F_WRITE, 7);
	sdesc(DESC_GPA, 7, BUF_GPA + 0x3000, 1, F_WRITE, 0);
	savail(3);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(elem.id, 3);
	ck_assert_uint_eq(elem.out_num, 2);
	ck_assert_uint_eq(elem.in_num, 2);
	ck_assert_uint_eq(elem.out_len, 528);
	ck_assert_uint_eq(elem.in_len, 101);
	ck_assert_ptr_eq(elem.iov[0].iov_base, gpa(BUF_GPA));
	ck_assert_uint_eq(elem.iov[1].iov_len, 512);
	ck_assert_ptr_eq(elem.iov[2].iov_base, gpa(BUF_GPA + 0x2000));
	ck_assert_uint_eq(elem.iov[3].iov_len, 1);
	ck_assert_int_eq(virtq_pop(vq, &elem), 0);

	virtq_push(vq, &elem, 60);
	ck_assert_uint_eq(sused_idx(), 1);
	ck_assert_uint_eq(sused_id(0), 3);
	ck_assert_uint_eq(sused_len(0), 60);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 1);
	/* The device never reports more than the chain could hold. */
	savail(3);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, 5000);
	ck_assert_uint_eq(sused_len(1), 101);
	ck_assert(!(vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}
END_TEST

START_TEST(split_no_interrupt_flag)
{
	struct virtq_elem elem;

	setup(0, 8);
	wr16(AVAIL_GPA, 1); /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	sdesc(DESC_GPA, 0, BUF_GPA, 8, F_WRITE, 0);
	savail(0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, 8);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 0);
	/* The driver re-checks the ring after enabling interrupts: no late one. */
	wr16(AVAIL_GPA, 0);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 0);
	savail(0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, 8);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 1);
	/* Nothing used since: a notify (after a spurious kick) is silent. */
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 1);
	teardown();
}
END_TEST

START_TEST(split_indirect)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	/* A table chained out of order: 0 -> 2 -> 1. */
	sdesc(TABLE_GPA, 0, BUF_GPA, 16, F_NEXT, 2);
	sdesc(TABLE_GPA, 2, BUF_GPA + 0x100, 32, F_NEXT, 1);
	sdesc(TABLE_GPA, 1, BUF_GPA + 0x200, 1, F_WRITE, 0);
	/* The WRITE flag on the table's own descriptor is ignored (2.7.5.3.2). */
	sdesc(DESC_GPA, 4, TABLE_GPA, 3 * 16, F_INDIRECT | F_WRITE, 0);
	savail(4);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(elem.id, 4);
	ck_assert_uint_eq(elem.out_num, 2);
	ck_assert_uint_eq(elem.in_num, 1);
	ck_assert_ptr_eq(elem.iov[1].iov_base, gpa(BUF_GPA + 0x100));
	ck_assert_ptr_eq(elem.iov[2].iov_base, gpa(BUF_GPA + 0x200));

	/* Direct descriptors, then a table: valid for split rings. */
	sdesc(DESC_GPA, 1, BUF_GPA + 0x300, 8, F_NEXT, 2);
	sdesc(DESC_GPA, 2, TABLE_GPA, 3 * 16, F_INDIRECT, 0);
	savail(1);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(elem.out_num, 3);
	ck_assert_uint_eq(elem.in_num, 1);
	ck_assert_ptr_eq(elem.iov[0].iov_base, gpa(BUF_GPA + 0x300));
	teardown();
}
END_TEST

/* Many laps of a 4-entry ring, across the 16-bit index wrap. */
START_TEST(split_wraparound)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_EVENT_IDX), 4);
	for (unsigned int n = 0; n < 70000; n++) {
		uint16_t head = n % 4;

		sdesc(DESC_GPA, head, BUF_GPA + 64 * head, 64, F_WRITE, 0);
		savail(head);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		ck_assert_uint_eq(elem.id, head);
		virtq_push(vq, &elem, n % 64 + 1);
		ck_assert_uint_eq(sused_idx(), (uint16_t)(n + 1));
		ck_assert_uint_eq(sused_id(n), head);
		ck_assert_uint_eq(sused_len(n), n % 64 + 1);
		ck_assert_uint_eq(rd16(AVAIL_EVENT_GPA), (uint16_t)(n + 1));
	}
	ck_assert_int_eq(virtq_pop(vq, &elem), 0);
	/* Four in flight at once, completed out of order. */
	for (uint16_t h = 0; h < 4; h++) {
		sdesc(DESC_GPA, h, BUF_GPA + 64 * h, 64, F_WRITE, 0);
		savail(h);
	}
	{
		struct virtq_elem e[4];

		for (int i = 0; i < 4; i++)
			ck_assert_int_eq(virtq_pop(vq, &e[i]), 1);
		for (int i = 3; i >= 0; i--)
			virtq_push(vq, &e[i], 1);
		ck_assert_uint_eq(sused_id((uint16_t)70000U), 3);
		ck_assert_uint_eq(sused_id((uint16_t)70003U), 0);
	}
	ck_assert(!(vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}
END_TEST

/* used_event: interrupt only when the used index passes it. */
START_TEST(split_event_idx_interrupts)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_EVENT_IDX), 8);
	wr16(AVAIL_GPA, 1); /* NO_INTERRUPT is ignored with EVENT_IDX */
	wr16(USED_EVENT_GPA, 3); /* interrupt once entry 3 is used */
	for (unsigned int i = 0; i < 6; i++) {
		sdesc(DESC_GPA, i, BUF_GPA, 8, F_WRITE, 0);
		savail(i);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		virtq_push(vq, &elem, 1);
		virtq_notify(vq);
		/* The first notify always fires (nothing signalled yet). */
		if (i == 0)
			ck_assert_uint_eq(queue_irqs, 1);
		else if (i < 3)
			ck_assert_uint_eq(queue_irqs, 1);
		else
			ck_assert_uint_eq(queue_irqs, 2);
	}
	/* A batch that jumps over used_event still interrupts once. */
	wr16(USED_EVENT_GPA, 7);
	for (unsigned int i = 0; i < 4; i++) {
		sdesc(DESC_GPA, i, BUF_GPA, 8, F_WRITE, 0);
		savail(i);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		virtq_push(vq, &elem, 1);
	}
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 3);
	/* Nothing new used: no interrupt. */
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 3);
	teardown();
}
END_TEST

/* avail_event: the device asks for kicks, or stops asking. */
START_TEST(split_event_idx_kicks)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_EVENT_IDX), 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 8, F_WRITE, 0);
	savail(0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(rd16(AVAIL_EVENT_GPA), 1);
	virtq_disable_kicks(vq);
	savail(0);
	savail(0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	/* While disabled, avail_event stays behind. */
	ck_assert_uint_eq(rd16(AVAIL_EVENT_GPA), 1);
	ck_assert(!virtq_enable_kicks(vq));
	ck_assert_uint_eq(rd16(AVAIL_EVENT_GPA), 3);
	/* A buffer that slipped in before enabling is reported. */
	virtq_disable_kicks(vq);
	savail(0);
	ck_assert(virtq_enable_kicks(vq));
	teardown();
}
END_TEST

START_TEST(split_no_notify_flag)
{
	setup(0, 8);
	ck_assert_uint_eq(rd16(USED_GPA), 0);
	virtq_disable_kicks(vq);
	ck_assert_uint_eq(rd16(USED_GPA), 1); /* VIRTQ_USED_F_NO_NOTIFY */
	ck_assert(!virtq_enable_kicks(vq));
	ck_assert_uint_eq(rd16(USED_GPA), 0);
	teardown();
}
END_TEST

/* ---- split ring: malformed ---- */

START_TEST(split_bad_addr_outside_ram)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, 1ULL * GiB, 16, 0, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	ck_assert_uint_eq(sused_idx(), 0);
	teardown();
}
END_TEST

START_TEST(split_bad_addr_straddles_end)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, RAM_SIZE - 8, 16, F_WRITE, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_addr_wraps)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, ~0ULL - 4, 0x100, 0, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_zero_length)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 0, 0, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_loop)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 8, F_NEXT, 1);
	sdesc(DESC_GPA, 1, BUF_GPA, 8, F_NEXT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_self_loop_full_table)
{
	struct virtq_elem elem;

	/* Every descriptor chained: the walk stops after qsize, not qsize + 1. */
	setup(0, 4);
	for (uint16_t i = 0; i < 4; i++)
		sdesc(DESC_GPA, i, BUF_GPA, 8, F_NEXT, (i + 1) % 4);
	savail(2);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_next_out_of_range)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 8, F_NEXT, 8);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_head_out_of_range)
{
	struct virtq_elem elem;

	setup(0, 8);
	savail(8);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_readable_after_writable)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 8, F_NEXT | F_WRITE, 1);
	sdesc(DESC_GPA, 1, BUF_GPA + 8, 8, 0, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_avail_idx_jump)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	wr16(AVAIL_GPA + 2, 9); /* nine new entries in an 8-entry ring */
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_nested)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(TABLE_GPA, 0, BUF_GPA, 8, F_NEXT, 1);
	sdesc(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, F_INDIRECT, 0);
	sdesc(TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
	sdesc(DESC_GPA, 0, TABLE_GPA, 32, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_outside_ram)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(DESC_GPA, 0, RAM_SIZE - 16, 32, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_length)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	sdesc(DESC_GPA, 0, TABLE_GPA, 24, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_empty)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(DESC_GPA, 0, TABLE_GPA, 0, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_too_long)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(DESC_GPA, 0, TABLE_GPA, 16 * (VIRTQ_MAX_CHAIN + 1), F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_loop)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(TABLE_GPA, 0, BUF_GPA, 8, F_NEXT, 1);
	sdesc(TABLE_GPA, 1, BUF_GPA, 8, F_NEXT, 0);
	sdesc(DESC_GPA, 0, TABLE_GPA, 32, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_next_out_of_table)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(TABLE_GPA, 0, BUF_GPA, 8, F_NEXT, 2);
	sdesc(DESC_GPA, 0, TABLE_GPA, 32, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_not_negotiated)
{
	struct virtq_elem elem;

	setup(0, 8);
	sdesc(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	sdesc(DESC_GPA, 0, TABLE_GPA, 16, F_INDIRECT, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(split_bad_indirect_with_next)
{
	struct virtq_elem elem;

	setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	sdesc(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	sdesc(DESC_GPA, 0, TABLE_GPA, 16, F_INDIRECT | F_NEXT, 1);
	sdesc(DESC_GPA, 1, BUF_GPA, 8, 0, 0);
	savail(0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

/* Rings the driver placed where they cannot work are refused at start. */
START_TEST(split_bad_layout)
{
	struct virtq_layout *l;
	const char *why = NULL;

	setup(0, 8);
	virtq_stop(vq);
	l = virtq_layout(vq);
	*l = (struct virtq_layout){ 6, true, DESC_GPA, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL); /* not a power of 2 */
	ck_assert_ptr_nonnull(why);
	*l = (struct virtq_layout){ 8, true, RAM_SIZE - 64, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL); /* table past RAM */
	*l = (struct virtq_layout){ 8, true, DESC_GPA, AVAIL_GPA, RAM_SIZE - 8 };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL); /* used ring past RAM */
	*l = (struct virtq_layout){ 8, true, DESC_GPA + 8, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL); /* misaligned */
	*l = (struct virtq_layout){ 0, true, DESC_GPA, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL);
	*l = (struct virtq_layout){ 512, true, DESC_GPA, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL); /* above the maximum */
	ck_assert(!virtq_started(vq));
	teardown();
}
END_TEST

/* A reset queue starts from scratch: indices, broken state, stale kicks. */
START_TEST(split_restart_after_malformed)
{
	struct virtq_elem elem;
	const char *why;
	uint64_t one = 1;

	setup(0, 8);
	savail(9);
	expect_malformed(virtq_pop(vq, &elem));
	ck_assert_int_eq(write(virtq_kick_fd(vq), &one, sizeof(one)), 8);
	virtio_device_reset(&vdev);
	ck_assert_uint_eq(vdev.status, 0);
	ck_assert(!virtq_broken(vq));
	ck_assert_uint_eq(virtq_layout(vq)->size, VIRTQ_MAX_SIZE);
	{
		uint64_t v;

		ck_assert_int_eq(read(virtq_kick_fd(vq), &v, sizeof(v)), -1);
	}
	memset(gpa(AVAIL_GPA), 0, 4);
	avail_idx = 0;
	vdev.features = FEAT(VIRTIO_F_VERSION_1);
	*virtq_layout(vq) = (struct virtq_layout){ 8, true, DESC_GPA, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), 0);
	sdesc(DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	savail(0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	teardown();
}
END_TEST

/* ---- packed ring: the driver's side ---- */

static uint16_t p_next, p_used;
static bool p_wrap, p_used_wrap;

struct buf {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

static void pdesc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		  uint16_t id, uint16_t flags)
{
	uint64_t d = table + 16ULL * i;

	wr64(d, addr);
	wr32(d + 8, len);
	wr16(d + 12, id);
	wr16(d + 14, flags);
}

static uint16_t avail_bits(bool wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

static void packed_setup(uint64_t features, uint16_t size)
{
	setup(features | FEAT(VIRTIO_F_RING_PACKED), size);
	p_next = p_used = 0;
	p_wrap = p_used_wrap = true;
}

/* Make a chain available, the head's flags last (2.8.6). */
static void padd(const struct buf *b, unsigned int n, uint16_t id)
{
	uint16_t head = p_next, head_flags = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t flags = b[i].flags | avail_bits(p_wrap) |
				 (i + 1 < n ? F_NEXT : 0);

		pdesc(DESC_GPA, p_next, b[i].addr, b[i].len, id, i ? flags : 0);
		if (!i)
			head_flags = flags;
		if (++p_next == qsize) {
			p_next = 0;
			p_wrap = !p_wrap;
		}
	}
	wr16(DESC_GPA + 16ULL * head + 14, head_flags);
}

/* The driver takes one used descriptor; ndesc is what it knows the chain had. */
static bool pget(uint16_t *id, uint32_t *len, unsigned int ndesc)
{
	uint16_t flags = rd16(DESC_GPA + 16ULL * p_used + 14);

	if (!!(flags & F_USED) != p_used_wrap || !!(flags & F_AVAIL) != p_used_wrap)
		return false;
	*id = rd16(DESC_GPA + 16ULL * p_used + 12);
	*len = rd32(DESC_GPA + 16ULL * p_used + 8);
	p_used += ndesc;
	if (p_used >= qsize) {
		p_used -= qsize;
		p_used_wrap = !p_used_wrap;
	}
	return true;
}

static void driver_event(uint16_t off_wrap, uint16_t flags)
{
	wr32(AVAIL_GPA, off_wrap | (uint32_t)flags << 16);
}

START_TEST(packed_chain)
{
	struct buf b[] = {
		{ BUF_GPA, 16, 0 },
		{ BUF_GPA + 0x1000, 200, F_WRITE },
		{ BUF_GPA + 0x2000, 1, F_WRITE },
	};
	struct virtq_elem elem;
	uint16_t id;
	uint32_t len;

	packed_setup(0, 8);
	padd(b, 3, 0x1234);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(elem.id, 0x1234);
	ck_assert_uint_eq(elem.ndesc, 3);
	ck_assert_uint_eq(elem.out_num, 1);
	ck_assert_uint_eq(elem.in_num, 2);
	ck_assert_uint_eq(elem.in_len, 201);
	ck_assert_ptr_eq(elem.iov[1].iov_base, gpa(BUF_GPA + 0x1000));
	ck_assert_int_eq(virtq_pop(vq, &elem), 0);
	ck_assert(!pget(&id, &len, 3));
	virtq_push(vq, &elem, 150);
	ck_assert(pget(&id, &len, 3));
	ck_assert_uint_eq(id, 0x1234);
	ck_assert_uint_eq(len, 150);
	/* A used descriptor with data written carries WRITE (2.8.4). */
	ck_assert(rd16(DESC_GPA + 14) & F_WRITE);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 1);
	teardown();
}
END_TEST

START_TEST(packed_indirect)
{
	struct buf b = { TABLE_GPA, 3 * 16, F_INDIRECT };
	struct virtq_elem elem;
	uint16_t id;
	uint32_t len;

	packed_setup(FEAT(VIRTIO_F_INDIRECT_DESC), 8);
	pdesc(TABLE_GPA, 0, BUF_GPA, 10, 0, 0);
	pdesc(TABLE_GPA, 1, BUF_GPA + 0x100, 20, 0, F_WRITE);
	/* Flags other than WRITE in a table are reserved: NEXT is ignored. */
	pdesc(TABLE_GPA, 2, BUF_GPA + 0x200, 30, 0, F_WRITE | F_NEXT);
	padd(&b, 1, 7);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	ck_assert_uint_eq(elem.id, 7);
	ck_assert_uint_eq(elem.ndesc, 1);
	ck_assert_uint_eq(elem.out_num, 1);
	ck_assert_uint_eq(elem.in_num, 2);
	ck_assert_uint_eq(elem.in_len, 50);
	virtq_push(vq, &elem, 50);
	ck_assert(pget(&id, &len, 1));
	ck_assert_uint_eq(id, 7);
	teardown();
}
END_TEST

/* Chains of 1 to 3 descriptors across many laps of a 5-entry ring. */
START_TEST(packed_wraparound)
{
	struct virtq_elem elem;

	packed_setup(0, 5);
	for (unsigned int n = 0; n < 2000; n++) {
		unsigned int k = n % 3 + 1;
		struct buf b[3];
		uint16_t id;
		uint32_t len;

		for (unsigned int i = 0; i < k; i++)
			b[i] = (struct buf){ BUF_GPA + 0x100 * i, 0x80,
					     i == k - 1 ? F_WRITE : 0 };
		padd(b, k, (uint16_t)n);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		ck_assert_uint_eq(elem.id, (uint16_t)n);
		ck_assert_uint_eq(elem.ndesc, k);
		ck_assert_int_eq(virtq_pop(vq, &elem), 0);
		virtq_push(vq, &elem, 0x80);
		ck_assert(pget(&id, &len, k));
		ck_assert_uint_eq(id, (uint16_t)n);
		ck_assert_uint_eq(len, 0x80);
	}
	/* Two in flight, completed out of order: each used descriptor skips its own chain. */
	{
		struct buf two[2] = { { BUF_GPA, 8, 0 }, { BUF_GPA + 8, 8, F_WRITE } };
		struct buf one = { BUF_GPA + 16, 8, F_WRITE };
		struct virtq_elem a, c;
		uint16_t id;
		uint32_t len;

		padd(two, 2, 100);
		padd(&one, 1, 101);
		ck_assert_int_eq(virtq_pop(vq, &a), 1);
		ck_assert_int_eq(virtq_pop(vq, &c), 1);
		virtq_push(vq, &c, 8);
		virtq_push(vq, &a, 8);
		ck_assert(pget(&id, &len, 1));
		ck_assert_uint_eq(id, 101);
		ck_assert(pget(&id, &len, 2));
		ck_assert_uint_eq(id, 100);
	}
	ck_assert(!(vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}
END_TEST

/* A descriptor the device already used is not available again. */
START_TEST(packed_used_is_not_available)
{
	struct virtq_elem elem;

	packed_setup(0, 4);
	pdesc(DESC_GPA, 0, BUF_GPA, 8, 0, F_AVAIL | F_USED);
	ck_assert_int_eq(virtq_pop(vq, &elem), 0);
	pdesc(DESC_GPA, 0, BUF_GPA, 8, 0, 0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 0);
	ck_assert(!(vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}
END_TEST

START_TEST(packed_interrupt_suppression)
{
	struct buf b = { BUF_GPA, 8, F_WRITE };
	struct virtq_elem elem;

	packed_setup(FEAT(VIRTIO_F_EVENT_IDX), 8);
	driver_event(0, 1); /* DISABLE */
	padd(&b, 1, 0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, 1);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 0);
	driver_event(0, 0); /* ENABLE */
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 0); /* nothing new since the last look */
	padd(&b, 1, 0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	virtq_push(vq, &elem, 1);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 1);
	/* DESC: only when the used descriptor at offset 4, wrap 1, is written. */
	driver_event(4 | 0x8000, 2);
	for (unsigned int i = 1; i < 8; i++) {
		padd(&b, 1, i);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		virtq_push(vq, &elem, 1);
		virtq_notify(vq);
		/* Used descriptors go to 2, 3, 4: the third one is it. */
		ck_assert_uint_eq(queue_irqs, i < 3 ? 1 : 2);
	}
	/* The next lap (wrap counter 0, slot 0 already used): offset 2. */
	driver_event(2, 2);
	for (unsigned int i = 0; i < 3; i++) {
		padd(&b, 1, i);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		virtq_push(vq, &elem, 1);
		virtq_notify(vq);
		ck_assert_uint_eq(queue_irqs, i < 1 ? 2 : 3);
	}
	teardown();
}
END_TEST

START_TEST(packed_kick_suppression)
{
	struct buf b = { BUF_GPA, 8, 0 };
	struct virtq_elem elem;
	uint32_t ev;

	packed_setup(FEAT(VIRTIO_F_EVENT_IDX), 4);
	ck_assert_uint_eq(rd32(USED_GPA) >> 16, 0); /* ENABLE at start */
	padd(&b, 1, 0);
	ck_assert_int_eq(virtq_pop(vq, &elem), 1);
	/* Kick when descriptor 1 (wrap 1) becomes available. */
	ev = rd32(USED_GPA);
	ck_assert_uint_eq(ev >> 16, 2);
	ck_assert_uint_eq(ev & 0xffff, 1 | 0x8000);
	virtq_disable_kicks(vq);
	ck_assert_uint_eq(rd32(USED_GPA) >> 16, 1);
	ck_assert(!virtq_enable_kicks(vq));
	ck_assert_uint_eq(rd32(USED_GPA) >> 16, 2);
	virtq_disable_kicks(vq);
	padd(&b, 1, 1);
	ck_assert(virtq_enable_kicks(vq));
	teardown();

	/* Without EVENT_IDX: plain ENABLE/DISABLE. */
	packed_setup(0, 4);
	virtq_disable_kicks(vq);
	ck_assert_uint_eq(rd32(USED_GPA) >> 16, 1);
	ck_assert(!virtq_enable_kicks(vq));
	ck_assert_uint_eq(rd32(USED_GPA) >> 16, 0);
	teardown();
}
END_TEST

/* ---- packed ring: malformed ---- */

/* The head says NEXT but the following descriptor belongs to an old lap. */
START_TEST(packed_bad_wrap_in_chain)
{
	struct virtq_elem elem;

	packed_setup(0, 4);
	pdesc(DESC_GPA, 1, BUF_GPA, 8, 0, F_USED); /* available for wrap 0, not 1 */
	pdesc(DESC_GPA, 0, BUF_GPA, 8, 0, F_AVAIL | F_NEXT);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

/* Across the ring's end the chain must switch to the toggled wrap bits. */
START_TEST(packed_bad_wrap_across_end)
{
	struct buf b = { BUF_GPA, 8, 0 };
	struct virtq_elem elem;
	uint16_t id;
	uint32_t len;

	packed_setup(0, 4);
	for (int i = 0; i < 3; i++) {
		padd(&b, 1, i);
		ck_assert_int_eq(virtq_pop(vq, &elem), 1);
		virtq_push(vq, &elem, 0);
		ck_assert(pget(&id, &len, 1));
	}
	/* Slot 3 (lap 1) chains into slot 0, marked for lap 1 instead of lap 2. */
	pdesc(DESC_GPA, 0, BUF_GPA, 8, 0, F_AVAIL);
	pdesc(DESC_GPA, 3, BUF_GPA, 8, 0, F_AVAIL | F_NEXT);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_chain_longer_than_queue)
{
	struct virtq_elem elem;

	packed_setup(0, 4);
	/* Four available descriptors, all saying NEXT. */
	for (uint16_t i = 1; i < 4; i++)
		pdesc(DESC_GPA, i, BUF_GPA, 8, 0, F_AVAIL | F_NEXT);
	pdesc(DESC_GPA, 0, BUF_GPA, 8, 0, F_AVAIL | F_NEXT);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_addr_outside_ram)
{
	struct buf b = { 2ULL * GiB, 64, F_WRITE };
	struct virtq_elem elem;

	packed_setup(0, 4);
	padd(&b, 1, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_readable_after_writable)
{
	struct buf b[] = { { BUF_GPA, 8, F_WRITE }, { BUF_GPA + 8, 8, 0 } };
	struct virtq_elem elem;

	packed_setup(0, 4);
	padd(b, 2, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_indirect_in_chain)
{
	struct buf b[] = { { BUF_GPA, 8, 0 }, { TABLE_GPA, 16, F_INDIRECT } };
	struct virtq_elem elem;

	packed_setup(FEAT(VIRTIO_F_INDIRECT_DESC), 4);
	pdesc(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	padd(b, 2, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_indirect_nested)
{
	struct buf b = { TABLE_GPA, 32, F_INDIRECT };
	struct virtq_elem elem;

	packed_setup(FEAT(VIRTIO_F_INDIRECT_DESC), 4);
	pdesc(TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	pdesc(TABLE_GPA, 1, TABLE_GPA + 0x100, 16, 0, F_INDIRECT);
	padd(&b, 1, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_indirect_table)
{
	struct buf outside = { RAM_SIZE - 16, 64, F_INDIRECT };
	struct buf odd = { TABLE_GPA, 20, F_INDIRECT };
	struct virtq_elem elem;

	packed_setup(FEAT(VIRTIO_F_INDIRECT_DESC), 4);
	padd(&outside, 1, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();

	packed_setup(FEAT(VIRTIO_F_INDIRECT_DESC), 4);
	padd(&odd, 1, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();

	/* Not negotiated. */
	packed_setup(0, 4);
	odd.len = 16;
	padd(&odd, 1, 0);
	expect_malformed(virtq_pop(vq, &elem));
	teardown();
}
END_TEST

START_TEST(packed_bad_layout)
{
	const char *why = NULL;

	packed_setup(0, 4);
	virtq_stop(vq);
	/* Any size is fine for packed rings, but not misaligned or outside RAM. */
	*virtq_layout(vq) = (struct virtq_layout){ 6, true, DESC_GPA, AVAIL_GPA, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), 0);
	virtq_stop(vq);
	*virtq_layout(vq) = (struct virtq_layout){ 6, true, DESC_GPA, AVAIL_GPA + 2, USED_GPA };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL);
	*virtq_layout(vq) = (struct virtq_layout){ 6, true, DESC_GPA, AVAIL_GPA, RAM_SIZE };
	ck_assert_int_eq(virtq_start(vq, &why), -EINVAL);
	teardown();
}
END_TEST

/* ---- batches and give-backs (virtio-net's mergeable receive buffers) ---- */

START_TEST(split_push_batch)
{
	struct virtq_elem e[3];
	const struct virtq_elem *pe[3] = { &e[0], &e[1], &e[2] };
	uint32_t written[3] = { 100, 0x1000, 5000 };

	setup(0, 4);
	for (uint16_t i = 0; i < 3; i++) {
		sdesc(DESC_GPA, i, BUF_GPA + 0x1000 * i, 0x1000, F_WRITE, 0);
		savail(i);
		ck_assert_int_eq(virtq_pop(vq, &e[i]), 1);
	}
	/* Nothing is visible before the batch, all of it after one store. */
	ck_assert_uint_eq(sused_idx(), 0);
	virtq_push_batch(vq, pe, written, 3);
	ck_assert_uint_eq(sused_idx(), 3);
	for (uint16_t i = 0; i < 3; i++)
		ck_assert_uint_eq(sused_id(i), i);
	ck_assert_uint_eq(sused_len(0), 100);
	ck_assert_uint_eq(sused_len(1), 0x1000);
	/* Capped at what the chain holds, as virtq_push(). */
	ck_assert_uint_eq(sused_len(2), 0x1000);
	/* Wraps round the used ring like single pushes. */
	for (uint16_t i = 0; i < 3; i++) {
		savail(i);
		ck_assert_int_eq(virtq_pop(vq, &e[i]), 1);
	}
	virtq_push_batch(vq, pe, written, 3);
	ck_assert_uint_eq(sused_idx(), 6);
	ck_assert_uint_eq(sused_id(4), 1);
	virtq_notify(vq);
	ck_assert_uint_eq(queue_irqs, 1);
	teardown();
}
END_TEST

START_TEST(split_unpop)
{
	struct virtq_elem a, b, c;

	setup(FEAT(VIRTIO_F_EVENT_IDX), 8);
	sdesc(DESC_GPA, 0, BUF_GPA, 64, F_WRITE, 0);
	sdesc(DESC_GPA, 1, BUF_GPA + 64, 64, F_WRITE, 0);
	savail(0);
	savail(1);
	ck_assert_int_eq(virtq_pop(vq, &a), 1);
	ck_assert_int_eq(virtq_pop(vq, &b), 1);
	ck_assert_int_eq(virtq_pop(vq, &c), 0);
	/* Given back newest first: the ring is as the driver left it. */
	virtq_unpop(vq, &b);
	virtq_unpop(vq, &a);
	ck_assert_int_eq(virtq_pop(vq, &c), 1);
	ck_assert_uint_eq(c.id, 0);
	ck_assert_int_eq(virtq_pop(vq, &c), 1);
	ck_assert_uint_eq(c.id, 1);
	virtq_push(vq, &c, 1);
	/* With kicks re-enabled, given-back chains count as available. */
	virtq_unpop(vq, &c);
	ck_assert(virtq_enable_kicks(vq));
	ck_assert(!(vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}
END_TEST

START_TEST(packed_push_batch)
{
	struct buf two[2] = { { BUF_GPA, 0x100, F_WRITE }, { BUF_GPA + 0x100, 0x100, F_WRITE } };
	struct buf one = { BUF_GPA + 0x200, 0x100, F_WRITE };
	struct virtq_elem e[3];
	const struct virtq_elem *pe[3] = { &e[0], &e[1], &e[2] };
	uint32_t written[3] = { 0x200, 0x80, 0 };
	uint16_t id;
	uint32_t len;

	packed_setup(0, 4);
	/* Move the ring on so that the batch wraps: 3 + 1 + 2 descriptors. */
	padd(&one, 1, 9);
	ck_assert_int_eq(virtq_pop(vq, &e[0]), 1);
	virtq_push(vq, &e[0], 1);
	ck_assert(pget(&id, &len, 1));
	padd(two, 2, 10);
	padd(&one, 1, 11);
	ck_assert_int_eq(virtq_pop(vq, &e[0]), 1);
	ck_assert_int_eq(virtq_pop(vq, &e[1]), 1);
	ck_assert(!pget(&id, &len, 2));
	padd(&one, 1, 12);
	ck_assert_int_eq(virtq_pop(vq, &e[2]), 1);
	virtq_push_batch(vq, pe, written, 3);
	ck_assert(pget(&id, &len, 2));
	ck_assert_uint_eq(id, 10);
	ck_assert_uint_eq(len, 0x200);
	ck_assert(pget(&id, &len, 1));
	ck_assert_uint_eq(id, 11);
	ck_assert_uint_eq(len, 0x80);
	ck_assert(pget(&id, &len, 1));
	ck_assert_uint_eq(id, 12);
	ck_assert_uint_eq(len, 0);
	ck_assert(!pget(&id, &len, 1));
	teardown();
}
END_TEST

START_TEST(packed_unpop_across_wrap)
{
	struct buf two[2] = { { BUF_GPA, 8, F_WRITE }, { BUF_GPA + 8, 8, F_WRITE } };
	struct buf one = { BUF_GPA + 16, 8, F_WRITE };
	struct virtq_elem a, b;
	uint16_t id;
	uint32_t len;

	packed_setup(0, 4);
	for (uint16_t i = 0; i < 3; i++) {
		padd(&one, 1, i);
		ck_assert_int_eq(virtq_pop(vq, &a), 1);
		virtq_push(vq, &a, 8);
		ck_assert(pget(&id, &len, 1));
	}
	/* Descriptors 3 and 0 (the next lap): given back, taken again. */
	padd(two, 2, 7);
	ck_assert_int_eq(virtq_pop(vq, &a), 1);
	ck_assert_uint_eq(a.ndesc, 2);
	ck_assert_int_eq(virtq_pop(vq, &b), 0);
	virtq_unpop(vq, &a);
	ck_assert(virtq_enable_kicks(vq));
	ck_assert_int_eq(virtq_pop(vq, &b), 1);
	ck_assert_uint_eq(b.id, 7);
	ck_assert_uint_eq(b.ndesc, 2);
	virtq_push(vq, &b, 16);
	ck_assert(pget(&id, &len, 2));
	ck_assert_uint_eq(id, 7);
	ck_assert(!(vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtqueue");

	UNIT_TCASE(s, "split", split_chain, split_no_interrupt_flag, split_indirect,
		   split_wraparound, split_event_idx_interrupts,
		   split_event_idx_kicks, split_no_notify_flag,
		   split_restart_after_malformed);
	UNIT_TCASE(s, "batch-unpop", split_push_batch, split_unpop,
		   packed_push_batch, packed_unpop_across_wrap);
	UNIT_TCASE(s, "split-malformed", split_bad_addr_outside_ram,
		   split_bad_addr_straddles_end, split_bad_addr_wraps,
		   split_bad_zero_length, split_bad_loop,
		   split_bad_self_loop_full_table, split_bad_next_out_of_range,
		   split_bad_head_out_of_range, split_bad_readable_after_writable,
		   split_bad_avail_idx_jump, split_bad_indirect_nested,
		   split_bad_indirect_outside_ram, split_bad_indirect_length,
		   split_bad_indirect_empty, split_bad_indirect_too_long,
		   split_bad_indirect_loop, split_bad_indirect_next_out_of_table,
		   split_bad_indirect_not_negotiated, split_bad_indirect_with_next,
		   split_bad_layout);
	UNIT_TCASE(s, "packed", packed_chain, packed_indirect, packed_wraparound,
		   packed_used_is_not_available, packed_interrupt_suppression,
		   packed_kick_suppression);
	UNIT_TCASE(s, "packed-malformed", packed_bad_wrap_in_chain,
		   packed_bad_wrap_across_end, packed_bad_chain_longer_than_queue,
		   packed_bad_addr_outside_ram, packed_bad_readable_after_writable,
		   packed_bad_indirect_in_chain, packed_bad_indirect_nested,
		   packed_bad_indirect_table, packed_bad_layout);
	return unit_run(s);
}
