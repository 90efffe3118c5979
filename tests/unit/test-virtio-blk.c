// SPDX-License-Identifier: MIT
/*
 * virtio-blk: the request parser as a pure function, then the whole device
 * (model, I/O threads, back-end) driven through the virtio core by a small
 * split-ring driver in this file, on plain memory: no KVM needed.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pthread.h>
#include <time.h>

#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/memory.h"
#include "tern/virtio-blk.h"
#include "held-engine.h"
#include "unit.h"

/* ---- the parser ---- */

static const struct virtio_blk_limits lim_rw = {
	.capacity = 2048, /* 1 MiB */
	.discard = true,
	.write_zeroes = true,
	.max_discard_sectors = 1024,
	.max_write_zeroes_sectors = 1024,
};

static const struct virtio_blk_limits lim_ro = {
	.capacity = 2048,
	.readonly = true,
};

static struct virtio_blk_outhdr hdr(uint32_t type, uint64_t sector)
{
	return (struct virtio_blk_outhdr){ .type = htole32(type),
					   .sector = htole64(sector) };
}

START_TEST(parse_read)
{
	struct virtio_blk_outhdr h = hdr(VIRTIO_BLK_T_IN, 8);
	uint8_t data[4096], status[1];
	struct iovec iov[3] = { { &h, 16 }, { data, 4096 }, { status, 1 } };
	struct virtio_blk_parsed p;

	ck_assert_int_eq(virtio_blk_parse(iov, 1, 2, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.type, VIRTIO_BLK_T_IN);
	ck_assert_int_eq(p.op, BLK_OP_READ);
	ck_assert_uint_eq(p.offset, 4096);
	ck_assert_uint_eq(p.len, 4096);
	ck_assert_ptr_eq(p.iov, &iov[1]);
	ck_assert_uint_eq(p.iovcnt, 1);
	ck_assert_ptr_eq(p.status, status);
	ck_assert_uint_eq(p.written, 4097);
	/* The read-only disk reads the same. */
	iov[2].iov_len = 1;
	ck_assert_int_eq(virtio_blk_parse(iov, 1, 2, &lim_ro, &p), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(parse_layouts)
{
	uint8_t buf[16 + 4096 + 1], in[1024 + 1];
	struct virtio_blk_outhdr h = hdr(VIRTIO_BLK_T_OUT, 0);
	struct virtio_blk_parsed p;
	struct iovec iov[4];

	/* Header and data in one readable buffer, status alone. */
	memcpy(buf, &h, 16);
	iov[0] = (struct iovec){ buf, 16 + 4096 };
	iov[1] = (struct iovec){ buf + 16 + 4096, 1 };
	ck_assert_int_eq(virtio_blk_parse(iov, 1, 1, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(p.op, BLK_OP_WRITE);
	ck_assert_uint_eq(p.len, 4096);
	ck_assert_uint_eq(p.iovcnt, 1);
	ck_assert_ptr_eq(p.iov[0].iov_base, buf + 16);
	ck_assert_uint_eq(p.iov[0].iov_len, 4096);
	ck_assert_uint_eq(p.written, 1);

	/* Header split 5 + 11, data split over the split point. */
	iov[0] = (struct iovec){ buf, 5 };
	iov[1] = (struct iovec){ buf + 5, 11 + 100 };
	iov[2] = (struct iovec){ buf + 116, 4096 - 100 };
	iov[3] = (struct iovec){ buf + 16 + 4096, 1 };
	ck_assert_int_eq(virtio_blk_parse(iov, 3, 1, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.len, 4096);
	ck_assert_uint_eq(p.iovcnt, 2);
	ck_assert_ptr_eq(p.iov[0].iov_base, buf + 16);
	ck_assert_uint_eq(p.iov[0].iov_len, 100);

	/* A read whose data and status share the writable buffer. */
	h = hdr(VIRTIO_BLK_T_IN, 2);
	iov[0] = (struct iovec){ &h, 16 };
	iov[1] = (struct iovec){ in, sizeof(in) };
	ck_assert_int_eq(virtio_blk_parse(iov, 1, 1, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.len, 1024);
	ck_assert_uint_eq(p.iovcnt, 1);
	ck_assert_uint_eq(p.iov[0].iov_len, 1024);
	ck_assert_ptr_eq(p.status, in + 1024);

	/* A zero-length read: only the status byte is writable. */
	iov[1] = (struct iovec){ in, 1 };
	ck_assert_int_eq(virtio_blk_parse(iov, 1, 1, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.len, 0);
	ck_assert_uint_eq(p.iovcnt, 0);
	ck_assert_uint_eq(p.written, 1);
}
END_TEST

static int parse1(uint32_t type, uint64_t sector, size_t out_data,
		  size_t in_data, const struct virtio_blk_limits *lim,
		  struct virtio_blk_parsed *p)
{
	static uint8_t out[8192], inb[8192 + 1];
	struct virtio_blk_outhdr h = hdr(type, sector);
	struct iovec iov[3];
	unsigned int n = 0, out_num;

	iov[n++] = (struct iovec){ &h, sizeof(h) };
	if (out_data)
		iov[n++] = (struct iovec){ out, out_data };
	out_num = n;
	iov[n++] = (struct iovec){ inb, in_data + 1 };
	return virtio_blk_parse(iov, out_num, n - out_num, lim, p);
}

START_TEST(parse_errors)
{
	struct virtio_blk_parsed p;
	uint8_t status, small[8];
	struct iovec iov[2];

	/* Not a multiple of 512. */
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, 0, 0, 1000, &lim_rw, &p),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_OUT, 0, 511, 0, &lim_rw, &p),
			 VIRTIO_BLK_S_IOERR);
	/* Range: the last sectors, one past, wrapping sector numbers. */
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, 2040, 0, 4096, &lim_rw, &p),
			 VIRTIO_BLK_S_OK);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, 2041, 0, 4096, &lim_rw, &p),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_OUT, 2048, 512, 0, &lim_rw, &p),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, 2048, 0, 0, &lim_rw, &p),
			 VIRTIO_BLK_S_OK);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, UINT64_MAX, 0, 512, &lim_rw, &p),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 0, 512,
				&lim_rw, &p), VIRTIO_BLK_S_IOERR);
	/* Writes to a read-only disk. */
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_OUT, 0, 512, 0, &lim_ro, &p),
			 VIRTIO_BLK_S_IOERR);
	/* More data than max_rw_bytes, either way; up to it is fine. */
	{
		struct virtio_blk_limits lim = lim_rw;

		lim.max_rw_bytes = 4096;
		ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, 0, 0, 4096, &lim, &p),
				 VIRTIO_BLK_S_OK);
		ck_assert_int_eq(parse1(VIRTIO_BLK_T_IN, 0, 0, 4608, &lim, &p),
				 VIRTIO_BLK_S_IOERR);
		ck_assert_int_eq(parse1(VIRTIO_BLK_T_OUT, 0, 4608, 0, &lim, &p),
				 VIRTIO_BLK_S_IOERR);
		ck_assert_int_eq(parse1(VIRTIO_BLK_T_OUT, 0, 4096, 0, &lim, &p),
				 VIRTIO_BLK_S_OK);
	}
	ck_assert_ptr_nonnull(p.status);
	/* Types we do not implement. */
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_GET_LIFETIME, 0, 0, 8, &lim_rw, &p),
			 VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_SECURE_ERASE, 0, 16, 0, &lim_rw, &p),
			 VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(parse1(2, 0, 0, 0, &lim_rw, &p), VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(parse1(0xffffffff, 0, 0, 0, &lim_rw, &p), VIRTIO_BLK_S_UNSUPP);

	/* A header shorter than 16 bytes: answerable, with IOERR. */
	iov[0] = (struct iovec){ small, sizeof(small) };
	iov[1] = (struct iovec){ &status, 1 };
	ck_assert_int_eq(virtio_blk_parse(iov, 1, 1, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	ck_assert_ptr_eq(p.status, &status);
	/* No header at all (the parser cut the status byte off iov[1]). */
	iov[1] = (struct iovec){ &status, 1 };
	ck_assert_int_eq(virtio_blk_parse(iov + 1, 0, 1, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	/* Nothing writable: no place for a status, cannot be answered. */
	iov[1] = (struct iovec){ &status, 1 };
	ck_assert_int_eq(virtio_blk_parse(iov, 2, 0, &lim_rw, &p), -EINVAL);
	iov[1].iov_len = 0;
	ck_assert_int_eq(virtio_blk_parse(iov, 1, 1, &lim_rw, &p), -EINVAL);
}
END_TEST

START_TEST(parse_flush_get_id)
{
	struct virtio_blk_parsed p;

	ck_assert_int_eq(parse1(VIRTIO_BLK_T_FLUSH, 0, 0, 0, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(p.op, BLK_OP_FLUSH);
	ck_assert_uint_eq(p.written, 1);
	/* Flushing a read-only disk is harmless. */
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_FLUSH, 0, 0, 0, &lim_ro, &p), VIRTIO_BLK_S_OK);

	ck_assert_int_eq(parse1(VIRTIO_BLK_T_GET_ID, 0, 0, 20, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.type, VIRTIO_BLK_T_GET_ID);
	ck_assert_uint_eq(p.len, 20);
	ck_assert_uint_eq(p.written, 21);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_GET_ID, 0, 0, 512, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.len, 20);
	ck_assert_int_eq(parse1(VIRTIO_BLK_T_GET_ID, 0, 0, 7, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.len, 7);
	ck_assert_uint_eq(p.written, 8);
}
END_TEST

static int parse_seg(uint32_t type, uint64_t sector, uint32_t num, uint32_t flags,
		     unsigned int nseg, size_t extra, const struct virtio_blk_limits *lim,
		     struct virtio_blk_parsed *p)
{
	struct virtio_blk_outhdr h = hdr(type, 0);
	struct virtio_blk_discard_write_zeroes seg[2];
	uint8_t status;
	struct iovec iov[3] = {
		{ &h, sizeof(h) },
		{ seg, nseg * sizeof(seg[0]) + extra },
		{ &status, 1 },
	};

	for (int i = 0; i < 2; i++)
		seg[i] = (struct virtio_blk_discard_write_zeroes){
			.sector = htole64(sector), .num_sectors = htole32(num),
			.flags = htole32(flags),
		};
	return virtio_blk_parse(iov, 2, 1, lim, p);
}

START_TEST(parse_discard_write_zeroes)
{
	struct virtio_blk_parsed p;
	struct virtio_blk_limits no = lim_rw;
	uint32_t D = VIRTIO_BLK_T_DISCARD, Z = VIRTIO_BLK_T_WRITE_ZEROES;

	ck_assert_int_eq(parse_seg(D, 16, 32, 0, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(p.op, BLK_OP_DISCARD);
	ck_assert_uint_eq(p.offset, 16 * 512);
	ck_assert_uint_eq(p.len, 32 * 512);
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_int_eq(parse_seg(Z, 0, 8, 0, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(p.op, BLK_OP_WRITE_ZEROES);
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_int_eq(parse_seg(Z, 0, 8, 1, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.flags, BLK_REQ_UNMAP);
	/* Up to the last sector; zero sectors is a no-op. */
	ck_assert_int_eq(parse_seg(Z, 2040, 8, 0, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(parse_seg(D, 0, 0, 0, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(p.len, 0);

	/* 5.2.6.2: unmap on a discard, unknown flags: UNSUPP. */
	ck_assert_int_eq(parse_seg(D, 0, 8, 1, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(parse_seg(Z, 0, 8, 2, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(parse_seg(D, 0, 8, 0x80000000, 1, 0, &lim_rw, &p),
			 VIRTIO_BLK_S_UNSUPP);
	/* More segments than max_*_seg (1). */
	ck_assert_int_eq(parse_seg(D, 0, 8, 0, 2, 0, &lim_rw, &p), VIRTIO_BLK_S_UNSUPP);
	/* Not a whole segment, or none. */
	ck_assert_int_eq(parse_seg(D, 0, 8, 0, 1, 4, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse_seg(Z, 0, 8, 0, 0, 8, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse_seg(Z, 0, 8, 0, 0, 0, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	/* Beyond the limits and the disk. */
	ck_assert_int_eq(parse_seg(D, 0, 1025, 0, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse_seg(Z, 2041, 8, 0, 1, 0, &lim_rw, &p), VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse_seg(Z, UINT64_MAX, 8, 0, 1, 0, &lim_rw, &p),
			 VIRTIO_BLK_S_IOERR);
	/* A read-only disk: a write; a disk without the feature: unsupported. */
	ck_assert_int_eq(parse_seg(Z, 0, 8, 0, 1, 0, &lim_ro, &p), VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(parse_seg(D, 0, 8, 0, 1, 0, &lim_ro, &p), VIRTIO_BLK_S_IOERR);
	no.discard = no.write_zeroes = false;
	ck_assert_int_eq(parse_seg(D, 0, 8, 0, 1, 0, &no, &p), VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(parse_seg(Z, 0, 8, 0, 1, 0, &no, &p), VIRTIO_BLK_S_UNSUPP);
}
END_TEST

/* ---- the device, through the virtio core ---- */

#define RAM_SIZE (16 * MiB)
#define QSIZE 128
#define RING_DESC 0x10000ULL
#define RING_AVAIL 0x14000ULL
#define RING_USED 0x15000ULL
#define RING_STRIDE 0x10000ULL /* per queue */
#define DATA_BASE 0x200000ULL
#define DISK_SIZE (1 * MiB)

struct vring_desc_t {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct tdev {
	struct guest_memory mem;
	struct virtio_device vdev;
	struct virtio_blk *blk;
	struct disk_config cfg;
	char path[64];
	int irq_fd; /* counts notify_queue calls */
	uint64_t features; /* what the driver accepts */
	uint16_t avail_idx[4], used_seen[4];
	uint16_t next_desc[4];
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 13 + (off & 511));
}

static struct tdev *notify_target;

static void t_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	uint64_t one = 1;

	(void)!write(notify_target->irq_fd, &one, sizeof(one));
}

static void t_notify_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops t_transport = {
	.notify_queue = t_notify_queue,
	.notify_config = t_notify_config,
};

static void *gpa(struct tdev *t, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(&t->mem, addr, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* The image tdev_open() makes: DISK_SIZE unless a test wants more. */
static uint64_t tdev_disk_size = DISK_SIZE;
/* The engine tdev_open() gives the device: NULL for the --disk one. */
static const struct blk_engine_ops *tdev_engine;

static void tdev_setup(struct tdev *t);

static void tdev_open(struct tdev *t, const char *opts, uint64_t drop_features)
{
	struct virtio_blk_info info;
	GError *err = NULL;
	g_autofree char *spec = NULL;
	uint8_t *img = g_malloc(DISK_SIZE);
	int fd;

	memset(t, 0, sizeof(*t));
	notify_target = t;
	t->irq_fd = eventfd(0, EFD_NONBLOCK);
	ck_assert_int_ge(t->irq_fd, 0);
	snprintf(t->path, sizeof(t->path), "/tmp/tern-vblk-XXXXXX");
	fd = mkstemp(t->path);
	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < DISK_SIZE; i++)
		img[i] = pattern(i);
	ck_assert_int_eq(write_full(fd, img, DISK_SIZE), 0);
	ck_assert_int_eq(ftruncate(fd, tdev_disk_size), 0);
	close(fd);
	g_free(img);

	spec = g_strdup_printf("path=%s%s", t->path, opts);
	ck_assert(disk_config_parse(spec, &t->cfg, &err));
	t->blk = virtio_blk_new_engine(NULL, 0, &t->cfg, tdev_engine, &err);
	ck_assert_msg(t->blk, "%s", err ? err->message : "?");
	ck_assert_int_eq(guest_memory_init(&t->mem, RAM_SIZE), 0);
	virtio_blk_get_info(t->blk, &info);
	ck_assert_int_eq(virtio_device_init(&t->vdev, &t->mem, &virtio_blk_ops,
					    t->blk, VIRTIO_ID_BLOCK, info.features,
					    info.nr_queues, QSIZE, info.config,
					    info.config_size), 0);
	t->vdev.transport_ops = &t_transport;
	t->features = t->vdev.host_features & ~(1ULL << VIRTIO_F_RING_PACKED) &
		      ~drop_features;
	tdev_setup(t);
}

/* The driver's side of 3.1.1, from a reset device to DRIVER_OK. */
static void tdev_setup(struct tdev *t)
{
	uint64_t f = t->features;

	memset(t->avail_idx, 0, sizeof(t->avail_idx));
	memset(t->used_seen, 0, sizeof(t->used_seen));
	memset(t->next_desc, 0, sizeof(t->next_desc));
	for (unsigned int i = 0; i < t->vdev.nr_queues; i++)
		memset(gpa(t, RING_DESC + i * RING_STRIDE, 0x10000), 0, 0x10000);
	virtio_device_set_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_device_set_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_set_driver_features(&t->vdev, 0, (uint32_t)f);
	virtio_device_set_driver_features(&t->vdev, 1, (uint32_t)(f >> 32));
	virtio_device_set_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						   VIRTIO_STATUS_FEATURES_OK);
	ck_assert(virtio_device_get_status(&t->vdev) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < t->vdev.nr_queues; i++) {
		struct virtq_layout *l = virtq_layout(t->vdev.queues[i]);

		*l = (struct virtq_layout){
			.size = QSIZE, .enabled = true,
			.desc = RING_DESC + i * RING_STRIDE,
			.driver = RING_AVAIL + i * RING_STRIDE,
			.device = RING_USED + i * RING_STRIDE,
		};
	}
	virtio_device_set_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						   VIRTIO_STATUS_FEATURES_OK |
						   VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(virtio_device_get_status(&t->vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void tdev_close(struct tdev *t)
{
	virtio_device_cleanup(&t->vdev);
	virtio_blk_ops.destroy(&t->vdev);
	guest_memory_destroy(&t->mem);
	close(t->irq_fd);
	unlink(t->path);
	disk_config_clear(&t->cfg);
}

struct tbuf {
	uint64_t addr;
	uint32_t len;
	bool writable;
};

/* Put a chain on queue q's available ring (no kick). Returns its head. */
static uint16_t tdev_add(struct tdev *t, unsigned int q, const struct tbuf *b,
			 unsigned int n)
{
	struct vring_desc_t *desc = gpa(t, RING_DESC + q * RING_STRIDE, 16 * QSIZE);
	uint16_t *avail = gpa(t, RING_AVAIL + q * RING_STRIDE, 6 + 2 * QSIZE);
	uint16_t head = t->next_desc[q];

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (head + i) % QSIZE;

		desc[d] = (struct vring_desc_t){
			.addr = htole64(b[i].addr), .len = htole32(b[i].len),
			.flags = htole16((b[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0)),
			.next = htole16((d + 1) % QSIZE),
		};
	}
	t->next_desc[q] = (head + n) % QSIZE;
	avail[2 + t->avail_idx[q] % QSIZE] = htole16(head);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	t->avail_idx[q]++;
	__atomic_store_n(&avail[1], htole16(t->avail_idx[q]), __ATOMIC_RELEASE);
	return head;
}

static void tdev_kick(struct tdev *t, unsigned int q)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(virtq_kick_fd(t->vdev.queues[q]), &one, 8), 8);
}

/* Wait until the device used n more chains on queue q; returns the last used len. */
static uint32_t tdev_wait(struct tdev *t, unsigned int q, unsigned int n)
{
	volatile uint16_t *used = gpa(t, RING_USED + q * RING_STRIDE, 6 + 8 * QSIZE);
	uint16_t want = t->used_seen[q] + n;
	uint32_t len;

	for (int ms = 0; (uint16_t)(le16toh(used[1]) - want) > 0x8000; ms++) {
		struct pollfd pfd = { .fd = t->irq_fd, .events = POLLIN };
		uint64_t v;

		ck_assert_msg(ms < 5000, "queue %u: %u of %u requests came back", q,
			      (uint16_t)(le16toh(used[1]) - t->used_seen[q]), n);
		if (poll(&pfd, 1, 1) > 0)
			(void)!read(t->irq_fd, &v, sizeof(v));
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	ck_assert_uint_eq(le16toh(used[1]), want);
	t->used_seen[q] = want;
	len = le32toh(*(volatile uint32_t *)&used[2 + ((want - 1) % QSIZE) * 4 + 2]);
	return len;
}

/* One request on queue 0: header at hdr_gpa, data, status; returns the status. */
static uint8_t tdev_rw(struct tdev *t, uint32_t type, uint64_t sector,
		       uint64_t data, uint32_t len, uint32_t *used_len)
{
	uint64_t h = 0x100000, st = 0x100100;
	struct virtio_blk_outhdr *hp = gpa(t, h, 16);
	uint8_t *sp = gpa(t, st, 1);
	bool in = type != VIRTIO_BLK_T_OUT;
	struct tbuf b[3] = { { h, 16, false } };
	unsigned int n = 1;
	uint32_t l;

	*hp = hdr(type, sector);
	*sp = 0xee;
	if (len)
		b[n++] = (struct tbuf){ data, len, in };
	b[n++] = (struct tbuf){ st, 1, true };
	tdev_add(t, 0, b, n);
	tdev_kick(t, 0);
	l = tdev_wait(t, 0, 1);
	if (used_len)
		*used_len = l;
	return *sp;
}

static void expect_pattern(const uint8_t *buf, uint64_t off, size_t len)
{
	size_t i = 0;

	while (i < len && buf[i] == pattern(off + i))
		i++;
	ck_assert_msg(i == len, "byte %zu at %llu differs", i, (unsigned long long)off);
}

START_TEST(device_config)
{
	struct tdev t;
	struct virtio_blk_config c;
	uint64_t f;

	tdev_open(&t, ",queues=2,serial=disk0", 0);
	f = t.vdev.host_features;
	ck_assert(f & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	ck_assert(f & (1ULL << VIRTIO_BLK_F_SIZE_MAX));
	ck_assert(f & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
	ck_assert(f & (1ULL << VIRTIO_BLK_F_FLUSH));
	ck_assert(f & (1ULL << VIRTIO_BLK_F_MQ));
	ck_assert(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	ck_assert(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	ck_assert(!(f & (1ULL << VIRTIO_BLK_F_RO)));
	ck_assert(f & (1ULL << VIRTIO_F_VERSION_1));
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	ck_assert_uint_eq(le64toh(c.capacity), DISK_SIZE / 512);
	ck_assert_uint_eq(le32toh(c.seg_max), VIRTQ_MAX_CHAIN - 2);
	ck_assert_uint_ge(le32toh(c.size_max), 4096);
	ck_assert_uint_eq(le32toh(c.blk_size), 512);
	ck_assert_uint_eq(le16toh(c.num_queues), 2);
	ck_assert_uint_eq(le32toh(c.max_discard_seg), 1);
	ck_assert_uint_eq(le32toh(c.max_write_zeroes_seg), 1);
	ck_assert_uint_ge(le32toh(c.max_discard_sectors), 1);
	ck_assert_uint_eq(le32toh(c.discard_sector_alignment), 1);
	ck_assert_uint_eq(c.write_zeroes_may_unmap, 1);
	ck_assert_uint_eq(c.unused0, 0);
	/* Writes are ignored: every field is read-only. */
	c.capacity = 0;
	virtio_device_config_write(&t.vdev, 0, &c.capacity, 8);
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	ck_assert_uint_eq(le64toh(c.capacity), DISK_SIZE / 512);
	tdev_close(&t);

	tdev_open(&t, ",readonly=on", 0);
	f = t.vdev.host_features;
	ck_assert(f & (1ULL << VIRTIO_BLK_F_RO));
	ck_assert(!(f & (1ULL << VIRTIO_BLK_F_DISCARD)));
	ck_assert(!(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES)));
	tdev_close(&t);
}
END_TEST

static const char *const engines[] = {
	"", ",engine=aio", ",engine=threads", ",cache=none",
};

START_TEST(device_read_write)
{
	struct tdev t;
	uint8_t *data;
	uint32_t used;
	uint8_t file[4096];
	int fd;

	tdev_open(&t, engines[_i], 0);
	data = gpa(&t, DATA_BASE, 8192);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 16, DATA_BASE, 8192, &used),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 8193);
	expect_pattern(data, 16 * 512, 8192);

	memset(data, 0x77, 4096);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_OUT, 100, DATA_BASE, 4096, &used),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 1);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL), VIRTIO_BLK_S_OK);
	fd = open(t.path, O_RDONLY);
	ck_assert_int_eq(pread(fd, file, 4096, 100 * 512), 4096);
	close(fd);
	ck_assert_mem_eq(file, data, 4096);

	/* Beyond the end, unknown types, bad lengths: answered, never fatal. */
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, DISK_SIZE / 512, DATA_BASE, 512, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_OUT, DISK_SIZE / 512 - 1, DATA_BASE,
				  1024, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 0, DATA_BASE, 100, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_rw(&t, 42, 0, 0, 0, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_GET_LIFETIME, 0, DATA_BASE, 8, NULL),
			  VIRTIO_BLK_S_UNSUPP);
	/* And the disk still works. */
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 0, DATA_BASE, 512, NULL),
			  VIRTIO_BLK_S_OK);
	expect_pattern(data, 0, 512);
	ck_assert_uint_eq(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);
	tdev_close(&t);
}
END_TEST

START_TEST(device_get_id)
{
	struct tdev t;
	uint8_t *id;
	uint32_t used;

	tdev_open(&t, ",serial=SN-0123", 0);
	id = gpa(&t, DATA_BASE, 20);
	memset(id, 0xff, 20);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_GET_ID, 0, DATA_BASE, 20, &used),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 21);
	ck_assert_mem_eq(id, "SN-0123\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	tdev_close(&t);

	/* No serial: an empty (all-NUL) string, as QEMU. */
	tdev_open(&t, "", 0);
	id = gpa(&t, DATA_BASE, 20);
	memset(id, 0xff, 20);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_GET_ID, 0, DATA_BASE, 20, NULL),
			  VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(id, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	tdev_close(&t);
}
END_TEST

static uint8_t tdev_seg(struct tdev *t, uint32_t type, uint64_t sector,
			uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes *seg = gpa(t, DATA_BASE, 16);

	*seg = (struct virtio_blk_discard_write_zeroes){
		.sector = htole64(sector), .num_sectors = htole32(num),
		.flags = htole32(flags),
	};
	{
		uint64_t h = 0x100000, st = 0x100100;
		struct tbuf b[3] = { { h, 16, false }, { DATA_BASE, 16, false },
				     { st, 1, true } };
		uint8_t *sp = gpa(t, st, 1);

		*(struct virtio_blk_outhdr *)gpa(t, h, 16) = hdr(type, 0);
		*sp = 0xee;
		tdev_add(t, 0, b, 3);
		tdev_kick(t, 0);
		tdev_wait(t, 0, 1);
		return *sp;
	}
}

START_TEST(device_discard_write_zeroes)
{
	struct tdev t;
	uint8_t *data;

	tdev_open(&t, engines[_i], 0);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_WRITE_ZEROES, 8, 16, 0), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_WRITE_ZEROES, 64, 8, 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_DISCARD, 128, 8, 0), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_DISCARD, 128, 8, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_WRITE_ZEROES, DISK_SIZE / 512 - 4, 8, 0),
			  VIRTIO_BLK_S_IOERR);
	data = gpa(&t, DATA_BASE + 65536, 8192);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 8, DATA_BASE + 65536, 8192, NULL),
			  VIRTIO_BLK_S_OK);
	for (int i = 0; i < 8192; i++)
		if (data[i])
			ck_abort_msg("byte %d of the zeroed range is %u", i, data[i]);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 64, DATA_BASE + 65536, 4096, NULL),
			  VIRTIO_BLK_S_OK);
	for (int i = 0; i < 4096; i++)
		if (data[i])
			ck_abort_msg("byte %d of the unmapped range is %u", i, data[i]);
	/* The sectors just after are untouched. */
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 24, DATA_BASE + 65536, 512, NULL),
			  VIRTIO_BLK_S_OK);
	expect_pattern(data, 24 * 512, 512);
	tdev_close(&t);
}
END_TEST

START_TEST(device_read_only)
{
	struct tdev t;
	uint8_t file[512];
	int fd;

	tdev_open(&t, ",readonly=on", 0);
	memset(gpa(&t, DATA_BASE, 512), 0x11, 512);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_OUT, 0, DATA_BASE, 512, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_seg(&t, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL), VIRTIO_BLK_S_OK);
	fd = open(t.path, O_RDONLY);
	ck_assert_int_eq(pread(fd, file, 512, 0), 512);
	close(fd);
	expect_pattern(file, 0, 512);
	tdev_close(&t);
}
END_TEST

/* A full ring of reads on each of two queues, one kick each. */
START_TEST(device_many_in_flight)
{
	enum { N = QSIZE / 3 }; /* three descriptors a chain */
	struct tdev t;
	uint64_t drop = _i ? 1ULL << VIRTIO_F_EVENT_IDX : 0;

	tdev_open(&t, ",queues=2", drop);
	for (unsigned int q = 0; q < 2; q++) {
		for (unsigned int i = 0; i < N; i++) {
			uint64_t base = 0x400000 + (q * N + i) * 0x2000;
			struct tbuf b[3] = {
				{ base, 16, false },
				{ base + 0x1000, 4096, true },
				{ base + 0x10, 1, true },
			};

			*(struct virtio_blk_outhdr *)gpa(&t, base, 16) =
				hdr(VIRTIO_BLK_T_IN, (i * 37 + q * 5) % 2000);
			tdev_add(&t, q, b, 3);
		}
		tdev_kick(&t, q);
	}
	for (unsigned int q = 0; q < 2; q++)
		tdev_wait(&t, q, N);
	for (unsigned int q = 0; q < 2; q++)
		for (unsigned int i = 0; i < N; i++) {
			uint64_t base = 0x400000 + (q * N + i) * 0x2000;

			ck_assert_uint_eq(*(uint8_t *)gpa(&t, base + 0x10, 1), VIRTIO_BLK_S_OK);
			expect_pattern(gpa(&t, base + 0x1000, 4096),
				       ((i * 37 + q * 5) % 2000) * 512ULL, 4096);
		}
	tdev_close(&t);
}
END_TEST

/* A chain with no writable byte: NEEDS_RESET, and a reset brings it back. */
START_TEST(device_malformed_then_reset)
{
	struct tdev t;
	struct tbuf b[1] = { { 0x100000, 16, false } };
	int ms;

	tdev_open(&t, "", 0);
	*(struct virtio_blk_outhdr *)gpa(&t, 0x100000, 16) = hdr(VIRTIO_BLK_T_IN, 0);
	tdev_add(&t, 0, b, 1);
	tdev_kick(&t, 0);
	for (ms = 0; ms < 5000; ms++) {
		if (virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET)
			break;
		usleep(1000);
	}
	ck_assert_int_lt(ms, 5000);

	/* Reset, set the device up again, and it serves requests. */
	virtio_device_set_status(&t.vdev, 0);
	tdev_setup(&t);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 3, DATA_BASE, 512, NULL),
			  VIRTIO_BLK_S_OK);
	expect_pattern(gpa(&t, DATA_BASE, 512), 3 * 512, 512);
	tdev_close(&t);
}
END_TEST

/* Reset with requests in flight: they finish before reset returns. */
START_TEST(device_reset_in_flight)
{
	enum { N = QSIZE / 3 };
	struct tdev t;

	tdev_open(&t, engines[_i], 0);
	for (unsigned int i = 0; i < N; i++) {
		uint64_t base = 0x400000 + i * 0x2000;
		struct tbuf b[3] = {
			{ base, 16, false }, { base + 0x1000, 4096, true },
			{ base + 0x10, 1, true },
		};

		*(struct virtio_blk_outhdr *)gpa(&t, base, 16) = hdr(VIRTIO_BLK_T_IN, i * 8);
		tdev_add(&t, 0, b, 3);
	}
	tdev_kick(&t, 0);
	virtio_device_set_status(&t.vdev, 0);
	ck_assert_uint_eq(virtio_device_get_status(&t.vdev), 0);
	tdev_close(&t);
}
END_TEST

/* Is the page holding gpa among the pages a dirty sync reports? */
static int find_page(void *opaque, uint64_t gpa, uint64_t len)
{
	uint64_t *want = opaque;

	if (*want >= gpa && *want < gpa + len)
		*want = UINT64_MAX;
	return 0;
}

/*
 * A failed request is pushed with used length 1, which does not reach the
 * status byte at the chain's end: migration must still see that byte.
 */
START_TEST(device_error_status_marked_dirty)
{
	uint64_t status_page = 0x100000;
	struct tdev t;

	tdev_open(&t, "", 0);
	ck_assert_int_eq(guest_memory_dirty_start(&t.mem), 0);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, DISK_SIZE / 512, DATA_BASE, 512, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_int_ge(guest_memory_dirty_sync(&t.mem, find_page, &status_page), 0);
	ck_assert_msg(status_page == UINT64_MAX, "the status byte's page is not dirty");
	tdev_close(&t);
}
END_TEST

/*
 * The request limit the device advertises is the one it enforces: a read
 * or write of seg_max * size_max bytes (what Linux's driver may build at
 * most) works, misaligned on cache=none too (bounced); 512 bytes more is
 * IOERR, whatever the engine.
 */
START_TEST(device_request_limit)
{
	struct tdev t;
	struct virtio_blk_config c;
	uint64_t max, data = DATA_BASE + 8;

	tdev_disk_size = 8 * MiB;
	tdev_open(&t, engines[_i], 0);
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	max = (uint64_t)le32toh(c.seg_max) * le32toh(c.size_max);
	/* Above Linux's default max_sectors_kb (1280), within guest RAM here. */
	ck_assert_uint_ge(max, 1280 * KiB);
	ck_assert_uint_le(max + 512, RAM_SIZE - data);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 0, data, (uint32_t)max, NULL),
			  VIRTIO_BLK_S_OK);
	expect_pattern(gpa(&t, data, DISK_SIZE), 0, DISK_SIZE);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 0, data, (uint32_t)max + 512, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_OUT, 0, data, (uint32_t)max + 512, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_OUT, 0, data, (uint32_t)max, NULL),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);
	tdev_close(&t);
}
END_TEST

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A 4 KiB read of sector i * 8 on queue 0 in chain slot i; no kick. */
static void tdev_add_read(struct tdev *t, unsigned int i)
{
	uint64_t base = 0x400000 + i * 0x2000;
	struct tbuf b[3] = {
		{ base, 16, false }, { base + 0x1000, 4096, true },
		{ base + 0x10, 1, true },
	};

	*(struct virtio_blk_outhdr *)gpa(t, base, 16) = hdr(VIRTIO_BLK_T_IN, i * 8);
	*(uint8_t *)gpa(t, base + 0x10, 1) = 0xee;
	tdev_add(t, 0, b, 3);
}

static uint8_t tdev_read_status(struct tdev *t, unsigned int i)
{
	return *(volatile uint8_t *)gpa(t, 0x400000 + i * 0x2000 + 0x10, 1);
}

static uint16_t tdev_used_idx(struct tdev *t, unsigned int q)
{
	volatile uint16_t *used = gpa(t, RING_USED + q * RING_STRIDE, 4);

	return le16toh(used[1]);
}

/* Interrupts since the last call. */
static uint64_t tdev_irqs(struct tdev *t)
{
	uint64_t v = 0;

	if (read(t->irq_fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Wait up to 5 s until instance i of the held engine holds n requests. */
static void wait_held(unsigned int i, unsigned int n)
{
	for (int ms = 0; held_count(i) != n; ms++) {
		ck_assert_msg(ms < 5000, "engine %u holds %u requests, want %u", i,
			      held_count(i), n);
		usleep(1000);
	}
}

static void wait_destroyed(unsigned int i)
{
	for (int ms = 0; !__atomic_load_n(&held.inst[i].destroyed, __ATOMIC_ACQUIRE); ms++) {
		ck_assert_msg(ms < 5000, "engine %u was not destroyed", i);
		usleep(1000);
	}
}

/* The first request held by instance i. */
static struct blk_req *held_first(unsigned int i)
{
	struct blk_req *r;

	pthread_mutex_lock(&held.inst[i].lock);
	r = held.inst[i].held_head;
	pthread_mutex_unlock(&held.inst[i].lock);
	return r;
}

static void *release_later(void *opaque)
{
	usleep(100 * 1000);
	held_release(0, *(unsigned int *)opaque);
	return NULL;
}

/* Requests in the engine at quiesce are completed, pushed, notified before it returns. */
START_TEST(quiesce_finishes_in_flight)
{
	enum { N = 4 };
	struct tdev t;
	unsigned int n = N;
	pthread_t thread;
	uint64_t start;

	tdev_engine = &held_ops;
	tdev_open(&t, "", 0);
	for (unsigned int i = 0; i < N; i++)
		tdev_add_read(&t, i);
	tdev_kick(&t, 0);
	wait_held(0, N);
	(void)tdev_irqs(&t);
	ck_assert_int_eq(pthread_create(&thread, NULL, release_later, &n), 0);
	start = mono_ns();
	ck_assert_int_eq(virtio_blk_ops.quiesce(&t.vdev, start + 5000000000ULL), 0);
	ck_assert_uint_ge(mono_ns() - start, 90 * 1000 * 1000);
	ck_assert_uint_eq(tdev_used_idx(&t, 0), N);
	ck_assert_uint_ge(tdev_irqs(&t), 1);
	for (unsigned int i = 0; i < N; i++)
		ck_assert_uint_eq(tdev_read_status(&t, i), VIRTIO_BLK_S_OK);
	pthread_join(thread, NULL);
	virtio_blk_ops.resume(&t.vdev);
	tdev_close(&t);
}
END_TEST

/*
 * After quiesce, a new request and its kick change nothing (no pop, no
 * used entry, no status, no interrupt); after resume it is served. Twice,
 * and on every engine.
 */
START_TEST(quiesce_stops_popping)
{
	struct tdev t;

	tdev_open(&t, engines[_i], 0);
	ck_assert_uint_eq(tdev_rw(&t, VIRTIO_BLK_T_IN, 0, DATA_BASE, 512, NULL),
			  VIRTIO_BLK_S_OK);
	for (unsigned int round = 0; round < 2; round++) {
		uint16_t used = tdev_used_idx(&t, 0);

		ck_assert_int_eq(virtio_blk_ops.quiesce(&t.vdev, mono_ns() + 2000000000ULL), 0);
		(void)tdev_irqs(&t);
		tdev_add_read(&t, round);
		tdev_kick(&t, 0);
		usleep(100 * 1000);
		ck_assert_uint_eq(tdev_used_idx(&t, 0), used);
		ck_assert_uint_eq(tdev_read_status(&t, round), 0xee);
		ck_assert_uint_eq(tdev_irqs(&t), 0);
		virtio_blk_ops.resume(&t.vdev);
		tdev_wait(&t, 0, 1);
		ck_assert_uint_eq(tdev_read_status(&t, round), VIRTIO_BLK_S_OK);
		expect_pattern(gpa(&t, 0x400000 + round * 0x2000 + 0x1000, 4096),
			       round * 8 * 512, 4096);
	}
	tdev_close(&t);
}
END_TEST

/*
 * A request the engine never finishes: quiesce gives up at its deadline
 * with -ETIMEDOUT, nothing pushed. A reset then (no resume) waits its
 * bounded time and hands the request and its slot to a reaper: the device
 * works on a fresh engine queue, whose requests use other slots. When the
 * old request finally completes, the reaper frees it all (ASan, LSan).
 */
START_TEST(quiesce_times_out_then_reset)
{
	struct tdev t;
	uint64_t start, took;
	struct blk_req *r;

	tdev_engine = &held_ops;
	tdev_open(&t, "", 0);
	tdev_add_read(&t, 0);
	tdev_kick(&t, 0);
	wait_held(0, 1);
	start = mono_ns();
	ck_assert_int_eq(virtio_blk_ops.quiesce(&t.vdev, start + 200 * 1000 * 1000),
			 -ETIMEDOUT);
	took = mono_ns() - start;
	ck_assert_msg(took >= 195 * 1000 * 1000 && took < 1000 * 1000 * 1000,
		      "quiesce took %llu ms", (unsigned long long)took / 1000000);
	ck_assert_uint_eq(tdev_used_idx(&t, 0), 0);

	start = mono_ns();
	virtio_device_set_status(&t.vdev, 0);
	took = mono_ns() - start;
	ck_assert_msg(took < 3500ULL * 1000 * 1000, "reset took %llu ms",
		      (unsigned long long)took / 1000000);
	ck_assert_uint_eq(held.created, 2);
	ck_assert_uint_eq(held_count(0), 1);
	ck_assert(!__atomic_load_n(&held.inst[0].destroyed, __ATOMIC_ACQUIRE));

	tdev_setup(&t);
	tdev_add_read(&t, 1);
	tdev_kick(&t, 0);
	wait_held(1, 1);
	r = held_first(1);
	ck_assert(!held_has(0, r));
	ck_assert_ptr_ne(r, held_first(0));
	held_release(1, 1);
	tdev_wait(&t, 0, 1);
	ck_assert_uint_eq(tdev_read_status(&t, 1), VIRTIO_BLK_S_OK);

	held_release(0, 1);
	wait_destroyed(0);
	tdev_close(&t);
}
END_TEST

/* A reset waits for hung requests a bounded time (2 s), not forever. */
START_TEST(reset_bounded_with_hung_requests)
{
	enum { N = 8 };
	struct tdev t;
	uint64_t start, took;

	tdev_engine = &held_ops;
	tdev_open(&t, ",queues=2", 0);
	for (unsigned int i = 0; i < N; i++)
		tdev_add_read(&t, i);
	tdev_kick(&t, 0);
	wait_held(0, N);
	/* The second queue's engine (instance 1) is idle. */
	start = mono_ns();
	virtio_device_set_status(&t.vdev, 0);
	took = mono_ns() - start;
	ck_assert_msg(took >= 1900ULL * 1000 * 1000 && took < 3000ULL * 1000 * 1000,
		      "reset took %llu ms", (unsigned long long)took / 1000000);
	ck_assert_uint_eq(held.created, 3);
	ck_assert_uint_eq(held_count(0), N);
	ck_assert_uint_eq(tdev_used_idx(&t, 0), 0);
	held_release(0, N);
	wait_destroyed(0);
	ck_assert(!__atomic_load_n(&held.inst[1].destroyed, __ATOMIC_ACQUIRE));
	tdev_close(&t);
}
END_TEST

/*
 * The engine fails its kick with requests inside: NEEDS_RESET, and the
 * reset does not wait for what may never come, nor recycle the slots the
 * engine still holds; new requests go to a fresh engine queue.
 */
START_TEST(reset_after_failed_kick)
{
	struct tdev t;
	uint64_t start, took;
	struct blk_req *r;
	int ms;

	tdev_engine = &held_ops;
	tdev_open(&t, "", 0);
	held.kick_error = -EIO;
	tdev_add_read(&t, 0);
	tdev_add_read(&t, 1);
	tdev_kick(&t, 0);
	for (ms = 0; ms < 5000; ms++) {
		if (virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET)
			break;
		usleep(1000);
	}
	ck_assert_int_lt(ms, 5000);
	ck_assert_uint_eq(held_count(0), 2);

	start = mono_ns();
	virtio_device_set_status(&t.vdev, 0);
	took = mono_ns() - start;
	ck_assert_msg(took < 1000ULL * 1000 * 1000, "reset took %llu ms",
		      (unsigned long long)took / 1000000);
	ck_assert_uint_eq(held.created, 2);
	ck_assert_uint_eq(held_count(0), 2);

	held.kick_error = 0;
	tdev_setup(&t);
	tdev_add_read(&t, 2);
	tdev_kick(&t, 0);
	wait_held(1, 1);
	r = held_first(1);
	ck_assert(!held_has(0, r));
	held_release(1, 1);
	tdev_wait(&t, 0, 1);
	ck_assert_uint_eq(tdev_read_status(&t, 2), VIRTIO_BLK_S_OK);

	held_release(0, 2);
	wait_destroyed(0);
	tdev_close(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-blk");
	TCase *tc = tcase_create("device");

	UNIT_TCASE(s, "parse", parse_read, parse_layouts, parse_errors,
		   parse_flush_get_id, parse_discard_write_zeroes);
	tcase_add_test(tc, device_config);
	tcase_add_loop_test(tc, device_read_write, 0, ARRAY_SIZE(engines));
	tcase_add_test(tc, device_get_id);
	tcase_add_loop_test(tc, device_discard_write_zeroes, 0, ARRAY_SIZE(engines));
	tcase_add_test(tc, device_read_only);
	tcase_add_loop_test(tc, device_many_in_flight, 0, 2);
	tcase_add_test(tc, device_malformed_then_reset);
	tcase_add_loop_test(tc, device_reset_in_flight, 0, ARRAY_SIZE(engines));
	tcase_add_test(tc, device_error_status_marked_dirty);
	tcase_add_loop_test(tc, device_request_limit, 0, ARRAY_SIZE(engines));
	suite_add_tcase(s, tc);
	tc = tcase_create("quiesce-reset");
	tcase_add_test(tc, quiesce_finishes_in_flight);
	tcase_add_loop_test(tc, quiesce_stops_popping, 0, ARRAY_SIZE(engines));
	tcase_add_test(tc, quiesce_times_out_then_reset);
	tcase_add_test(tc, reset_bounded_with_hung_requests);
	tcase_add_test(tc, reset_after_failed_kick);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
