// SPDX-License-Identifier: MIT
/*
 * Split and packed virtqueues over guest RAM the fuzzer writes: descriptor
 * tables, indirect tables, available/used rings and event suppression words
 * are whatever the input says, and the device side pops, pushes, notifies
 * and toggles kicks in the order the input says, while the "driver" pokes
 * the ring in between.
 *
 * Input: a header, then 4-byte operations, then the initial RAM image.
 *   u8 flags: 1 packed, 2 EVENT_IDX, 4 INDIRECT_DESC, 8 dirty logging on,
 *             16 ring addresses from the input (else packed back to back)
 *   u8 queue size - 1
 *   u8 RAM past the rings, in 64-byte units
 *   u8 number of operations (up to 64)
 *   [flags & 16: u16 desc, u16 driver, u16 device]
 *   ops: u8 op, u8 a, u8 b, u8 c
 *   the rest: RAM from address 0
 * RAM is exactly as large as the rings plus the extra (rounded up to whole
 * pages with dirty logging, whose bitmaps count pages), so a read one byte
 * past the used ring is a heap overflow for AddressSanitizer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/virtio.h"
#include "fuzz.h"

#define MAX_OPS 64

enum vq_op {
	OP_POP,
	OP_PUSH, /* in-flight chain a, written b | c << 8 */
	OP_NOTIFY,
	OP_DISABLE_KICKS,
	OP_ENABLE_KICKS,
	OP_POKE, /* RAM[a | b << 8] = c */
	OP_PUBLISH, /* split: avail idx += 1 + c % 4; packed: flags of desc a */
	OP_RESET, /* the driver resets the device and starts the ring again */
	OP_COUNT,
};

static struct {
	struct guest_memory mem;
	struct virtio_device vdev;
	struct virtqueue *vq;
	struct virtq_elem *inflight; /* VIRTQ_MAX_SIZE of them */
	unsigned int ninflight;
	unsigned int queue_irqs, config_irqs;
	uint64_t features;
	struct virtq_layout layout;
} f;

static void count_queue_irq(struct virtio_device *d, struct virtqueue *q)
{
	f.queue_irqs++;
}

static void count_config_irq(struct virtio_device *d)
{
	f.config_irqs++;
}

static const struct virtio_transport_ops counting_transport = {
	.notify_queue = count_queue_irq,
	.notify_config = count_config_irq,
};

static const struct virtio_device_ops fuzz_ops = { .name = "fuzz-vq" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The queue outlives the inputs; each input brings its own RAM. */
	if (virtio_device_init(&f.vdev, &f.mem, &fuzz_ops, NULL, VIRTIO_ID_RNG,
			       0, 1, VIRTQ_MAX_SIZE, NULL, 0))
		abort();
	f.vdev.transport_ops = &counting_transport;
	f.vq = f.vdev.queues[0];
	f.inflight = g_new(struct virtq_elem, VIRTQ_MAX_SIZE);
	return 0;
}

static bool in_ram(const void *p, size_t len)
{
	const uint8_t *base = f.mem.regions[0].hva;
	const uint8_t *b = p;

	return b >= base && len <= f.mem.ram_size &&
	       (size_t)(b - base) <= f.mem.ram_size - len;
}

/* What a popped chain promises a device model, checked and then used. */
static void elem_check_and_use(struct virtq_elem *e)
{
	uint64_t out = 0, in = 0;
	unsigned int n = e->out_num + e->in_num;
	uint8_t sum = 0;

	FUZZ_CHECK(n >= 1 && n <= VIRTQ_MAX_CHAIN);
	FUZZ_CHECK(e->ndesc >= 1 && e->ndesc <= f.layout.size);
	for (unsigned int i = 0; i < n; i++) {
		FUZZ_CHECK(e->iov[i].iov_len > 0);
		FUZZ_CHECK(in_ram(e->iov[i].iov_base, e->iov[i].iov_len));
		if (i < e->out_num)
			out += e->iov[i].iov_len;
		else
			in += e->iov[i].iov_len;
	}
	FUZZ_CHECK(out == e->out_len && in == e->in_len);
	/* A device reads every readable byte and may write every writable one. */
	for (unsigned int i = 0; i < e->out_num; i++)
		for (size_t j = 0; j < e->iov[i].iov_len; j++)
			sum ^= ((const uint8_t *)e->iov[i].iov_base)[j];
	for (unsigned int i = e->out_num; i < n; i++)
		memset(e->iov[i].iov_base, 0xa5 ^ sum, e->iov[i].iov_len);
}

static int vq_pop_one(void)
{
	struct virtq_elem *e = &f.inflight[f.ninflight];
	int ret;

	if (f.ninflight >= VIRTQ_MAX_SIZE)
		return 0;
	ret = virtq_pop(f.vq, e);
	FUZZ_CHECK(ret == 1 || ret == 0 || ret == -EINVAL);
	if (ret == 1) {
		elem_check_and_use(e);
		f.ninflight++;
	} else if (ret < 0) {
		/* A malformed ring: the device says NEEDS_RESET and stops. */
		FUZZ_CHECK(virtq_broken(f.vq));
		FUZZ_CHECK(f.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	}
	return ret;
}

static void vq_push_one(unsigned int i, uint32_t written)
{
	if (!f.ninflight)
		return;
	i %= f.ninflight;
	virtq_push(f.vq, &f.inflight[i], written);
	f.inflight[i] = f.inflight[--f.ninflight];
}

static bool vq_restart(void)
{
	const char *why = NULL;

	virtq_stop(f.vq);
	f.vdev.features = f.features;
	f.vdev.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	*virtq_layout(f.vq) = f.layout;
	f.ninflight = 0;
	return virtq_start(f.vq, &why) == 0;
}

static void poke(uint64_t off, const void *src, size_t len)
{
	if (off < f.mem.ram_size && len <= f.mem.ram_size - off)
		memcpy(f.mem.regions[0].hva + off, src, len);
}

static void vq_publish(uint8_t a, uint8_t b, uint8_t c)
{
	uint16_t v;

	if (f.features & (1ULL << VIRTIO_F_RING_PACKED)) {
		v = (uint16_t)(b | c << 8);
		poke(f.layout.desc + 16ULL * (a % f.layout.size) + 14, &v, 2);
		return;
	}
	if (f.layout.driver + 4 > f.mem.ram_size)
		return;
	memcpy(&v, f.mem.regions[0].hva + f.layout.driver + 2, 2);
	v = (uint16_t)(v + 1 + c % 4);
	poke(f.layout.driver + 2, &v, 2);
}

/* Rings back to back from 0, as small as the queue size allows. */
static uint64_t layout_default(bool packed, uint16_t size)
{
	f.layout.desc = 0;
	f.layout.driver = 16ULL * size;
	if (packed) {
		f.layout.device = f.layout.driver + 4;
		return f.layout.device + 4;
	}
	f.layout.device = ALIGN_UP(f.layout.driver + 6 + 2ULL * size, 4ULL);
	return f.layout.device + 6 + 8ULL * size;
}

static int dirty_count(void *opaque, uint64_t gpa, uint64_t len)
{
	FUZZ_CHECK(gpa < f.mem.end && len <= f.mem.end - gpa);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	uint16_t qsize = (uint16_t)(fuzz_u8(&in) + 1);
	uint64_t extra = fuzz_u8(&in) * 64ULL, end;
	unsigned int nops = fuzz_u8(&in) % (MAX_OPS + 1);
	const uint8_t *ops;
	bool packed = flags & 1;

	f.features = 1ULL << VIRTIO_F_VERSION_1;
	if (packed)
		f.features |= 1ULL << VIRTIO_F_RING_PACKED;
	if (flags & 2)
		f.features |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (flags & 4)
		f.features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	f.layout = (struct virtq_layout){ .size = qsize, .enabled = true };
	end = layout_default(packed, qsize);
	if (flags & 16) {
		f.layout.desc = fuzz_u16(&in);
		f.layout.driver = fuzz_u16(&in);
		f.layout.device = fuzz_u16(&in);
	}
	if (in.len < nops * 4ULL)
		nops = (unsigned int)(in.len / 4);
	ops = in.p;
	in.p += nops * 4;
	in.len -= nops * 4;

	/* Real RAM is whole pages, which the dirty bitmaps count on. */
	if (flags & 8)
		extra = ALIGN_UP(end + extra, GUEST_PAGE_SIZE) - end;
	if (fuzz_memory_init(&f.mem, end + extra))
		abort();
	memcpy(f.mem.regions[0].hva, in.p, MIN(in.len, (size_t)f.mem.ram_size));
	if ((flags & 8) && guest_memory_dirty_start(&f.mem))
		abort();
	f.queue_irqs = f.config_irqs = 0;
	if (!vq_restart())
		goto out;

	for (unsigned int i = 0; i < nops; i++) {
		const uint8_t *op = ops + 4 * i;
		uint16_t ab = (uint16_t)(op[1] | op[2] << 8);

		switch (op[0] % OP_COUNT) {
		case OP_POP:
			(void)vq_pop_one();
			break;
		case OP_PUSH:
			vq_push_one(op[1], (uint32_t)(op[2] | op[3] << 8));
			break;
		case OP_NOTIFY:
			virtq_notify(f.vq);
			break;
		case OP_DISABLE_KICKS:
			virtq_disable_kicks(f.vq);
			break;
		case OP_ENABLE_KICKS:
			(void)virtq_enable_kicks(f.vq);
			break;
		case OP_POKE:
			poke(ab % f.mem.ram_size, &op[3], 1);
			break;
		case OP_PUBLISH:
			vq_publish(op[1], op[2], op[3]);
			break;
		case OP_RESET:
			if (!vq_restart())
				goto out;
			break;
		}
	}
	/* Then a device draining the ring, completing in order. */
	for (unsigned int i = 0; i < 2u * qsize + 2; i++) {
		if (vq_pop_one() <= 0)
			break;
		vq_push_one(f.ninflight - 1, UINT32_MAX);
	}
	while (f.ninflight)
		vq_push_one(0, 1);
	virtq_notify(f.vq);
	if (virtq_broken(f.vq))
		FUZZ_CHECK(f.config_irqs >= 1);
	if (flags & 8)
		(void)!guest_memory_dirty_sync(&f.mem, dirty_count, NULL);
out:
	virtq_stop(f.vq);
	fuzz_memory_destroy(&f.mem);
	return 0;
}
