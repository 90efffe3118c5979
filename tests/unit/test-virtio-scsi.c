// SPDX-License-Identifier: MIT
/*
 * virtio-scsi: the whole device (model, I/O thread, engine queues per
 * LUN, control queue) driven through the virtio core by a small split-ring
 * driver in this file, on plain memory: no KVM needed. Two LUNs: 0
 * (writable) and 5 (read-only, with a serial).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/le.h"
#include "tern/memory.h"
#include "tern/state.h"
#include "tern/virtio-scsi.h"
#include "held-engine.h"
#include "unit.h"

#define RAM_SIZE (16 * MiB)
#define QSIZE 128
#define RING_BASE 0x10000ULL /* queue q: desc, avail, used at + q * 0x10000 */
#define RING_STRIDE 0x10000ULL
#define CMD_BASE 0x100000ULL /* command slot i: header, response, data */
#define CMD_STRIDE 0x20000ULL
#define CMD_RESP 0x100
#define CMD_DATA 0x1000
#define DISK_SIZE (1 * MiB)
#define RO_LUN 5

struct tdev {
	struct guest_memory mem;
	struct virtio_device vdev;
	struct virtio_scsi *s;
	struct disk_config cfg[2];
	char path[2][64];
	uint16_t avail_idx[3], used_seen[3], next_desc[3];
	unsigned int next_cmd; /* command slot for the next request */
	uint8_t target; /* what cmd_add() addresses (0 but in one case) */
};

/* What came back for a command. */
struct tresp {
	uint32_t used, sense_len, resid;
	uint8_t status, response;
	struct scsi_sense sense;
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 29 + (off & 511) + 1);
}

static void t_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
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

static const struct blk_engine_ops *tdev_engine;

static void make_image(char *path, size_t size)
{
	uint8_t *img = g_malloc(size);
	int fd;

	snprintf(path, 64, "/tmp/tern-vscsi-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < size; i++)
		img[i] = pattern(i);
	ck_assert_int_eq(write_full(fd, img, size), 0);
	close(fd);
	g_free(img);
}

/* The driver's side of 3.1.1, from a reset device to DRIVER_OK. */
static void tdev_setup(struct tdev *t)
{
	uint64_t f = t->vdev.host_features & ~(1ULL << VIRTIO_F_RING_PACKED);
	uint8_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	memset(t->avail_idx, 0, sizeof(t->avail_idx));
	memset(t->used_seen, 0, sizeof(t->used_seen));
	memset(t->next_desc, 0, sizeof(t->next_desc));
	memset(gpa(t, RING_BASE, 3 * RING_STRIDE), 0, 3 * RING_STRIDE);
	virtio_device_set_status(&t->vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_device_set_status(&t->vdev, ok);
	virtio_device_set_driver_features(&t->vdev, 0, (uint32_t)f);
	virtio_device_set_driver_features(&t->vdev, 1, (uint32_t)(f >> 32));
	virtio_device_set_status(&t->vdev, ok | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < t->vdev.nr_queues; i++) {
		uint64_t base = RING_BASE + i * RING_STRIDE;

		*virtq_layout(t->vdev.queues[i]) = (struct virtq_layout){
			.size = QSIZE, .enabled = true, .desc = base,
			.driver = base + 0x4000, .device = base + 0x5000,
		};
	}
	virtio_device_set_status(&t->vdev, ok | VIRTIO_STATUS_FEATURES_OK |
						   VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(virtio_device_get_status(&t->vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void tdev_open(struct tdev *t)
{
	struct virtio_scsi_info info;
	GError *err = NULL;

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < 2; i++) {
		g_autofree char *spec = NULL;

		make_image(t->path[i], DISK_SIZE);
		spec = g_strdup_printf(i ? "path=%s,bus=scsi,lun=%u,readonly=on,serial=RO-DISK" :
					   "path=%s,bus=scsi", t->path[i], RO_LUN);
		ck_assert(disk_config_parse(spec, &t->cfg[i], &err));
	}
	ck_assert(disk_configs_finish(t->cfg, 2, &err));
	t->s = virtio_scsi_new(NULL, t->cfg, 2, tdev_engine, &err);
	ck_assert_msg(t->s, "%s", err ? err->message : "?");
	ck_assert_int_eq(guest_memory_init(&t->mem, RAM_SIZE), 0);
	virtio_scsi_get_info(t->s, &info);
	ck_assert_int_eq(virtio_device_init(&t->vdev, &t->mem, &virtio_scsi_ops, t->s,
					    VIRTIO_ID_SCSI, info.features,
					    VIRTIO_SCSI_NR_QUEUES, QSIZE, info.config,
					    info.config_size), 0);
	t->vdev.transport_ops = &t_transport;
	tdev_setup(t);
}

static void tdev_close(struct tdev *t)
{
	virtio_device_cleanup(&t->vdev);
	virtio_scsi_ops.destroy(&t->vdev);
	guest_memory_destroy(&t->mem);
	for (int i = 0; i < 2; i++) {
		unlink(t->path[i]);
		disk_config_clear(&t->cfg[i]);
	}
}

struct tbuf {
	uint64_t addr;
	uint32_t len;
	bool writable;
};

/* Put a chain on queue q (no kick). */
static void tdev_add(struct tdev *t, unsigned int q, const struct tbuf *b,
		     unsigned int n)
{
	uint64_t base = RING_BASE + q * RING_STRIDE;
	uint8_t *desc = gpa(t, base, 16 * QSIZE);
	uint16_t *avail = gpa(t, base + 0x4000, 6 + 2 * QSIZE);
	uint16_t head = t->next_desc[q];

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (head + i) % QSIZE;

		le64_put(desc + 16 * d, b[i].addr);
		le32_put(desc + 16 * d + 8, b[i].len);
		le16_put(desc + 16 * d + 12, (b[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0));
		le16_put(desc + 16 * d + 14, (d + 1) % QSIZE);
	}
	t->next_desc[q] = (head + n) % QSIZE;
	avail[2 + t->avail_idx[q] % QSIZE] = htole16(head);
	t->avail_idx[q]++;
	__atomic_store_n(&avail[1], htole16(t->avail_idx[q]), __ATOMIC_RELEASE);
}

static void tdev_kick(struct tdev *t, unsigned int q)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(virtq_kick_fd(t->vdev.queues[q]), &one, 8), 8);
}

static uint16_t used_idx(struct tdev *t, unsigned int q)
{
	volatile uint16_t *used = gpa(t, RING_BASE + q * RING_STRIDE + 0x5000, 4);

	return le16toh(used[1]);
}

/* Wait until n more chains came back on q; the last one's used length. */
static uint32_t tdev_wait(struct tdev *t, unsigned int q, unsigned int n)
{
	uint8_t *used = gpa(t, RING_BASE + q * RING_STRIDE + 0x5000, 4 + 8 * QSIZE);
	uint16_t want = t->used_seen[q] + n;

	for (int ms = 0; (uint16_t)(used_idx(t, q) - want) > 0x8000; ms++) {
		ck_assert_msg(ms < 5000, "queue %u: %u of %u came back", q,
			      (uint16_t)(used_idx(t, q) - t->used_seen[q]), n);
		usleep(1000);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	t->used_seen[q] = want;
	return le32_get(used + 4 + 8 * ((want - 1) % QSIZE) + 4);
}

static uint64_t cmd_slot(struct tdev *t)
{
	return CMD_BASE + (t->next_cmd++ % 32) * CMD_STRIDE;
}

/*
 * Queue a command to (target 0) lun at slot base with cdb; out bytes of
 * data-out from base + CMD_DATA, or in bytes of data-in there. hdr_len
 * cuts the readable header short (0: 19 + 32).
 */
static void cmd_add(struct tdev *t, uint64_t base, uint16_t lun, uint64_t tag,
		    const uint8_t *cdb, size_t cdb_len, uint32_t out, uint32_t in,
		    uint32_t hdr_len)
{
	uint8_t *h = gpa(t, base, VIRTIO_SCSI_REQ_HDR + 32);
	struct tbuf b[4];
	unsigned int n = 0;

	memset(h, 0, VIRTIO_SCSI_REQ_HDR + 32);
	h[0] = 1;
	h[1] = t->target;
	h[2] = 0x40 | (uint8_t)(lun >> 8); /* flat, as Linux writes it */
	h[3] = (uint8_t)lun;
	le64_put(h + 8, tag);
	memcpy(h + VIRTIO_SCSI_REQ_HDR, cdb, cdb_len);
	memset(gpa(t, base + CMD_RESP, 108), 0xee, 108);
	b[n++] = (struct tbuf){ base, hdr_len ? hdr_len : VIRTIO_SCSI_REQ_HDR + 32, false };
	if (out)
		b[n++] = (struct tbuf){ base + CMD_DATA, out, false };
	b[n++] = (struct tbuf){ base + CMD_RESP, 108, true };
	if (in)
		b[n++] = (struct tbuf){ base + CMD_DATA, in, true };
	tdev_add(t, VIRTIO_SCSI_REQUESTQ, b, n);
}

static struct tresp cmd_resp(struct tdev *t, uint64_t base, uint32_t used)
{
	const uint8_t *r = gpa(t, base + CMD_RESP, 108);
	struct tresp a = {
		.used = used,
		.sense_len = le32_get(r),
		.resid = le32_get(r + 4),
		.status = r[10],
		.response = r[11],
	};

	if (a.sense_len >= 14)
		a.sense = SCSI_SENSE(r[12 + 2] & 0xf, r[12 + 12], r[12 + 13]);
	return a;
}

static struct tresp cmd_full(struct tdev *t, uint16_t lun, const uint8_t *cdb,
			     size_t cdb_len, uint32_t out, uint32_t in,
			     uint32_t hdr_len, uint64_t *data_gpa)
{
	uint64_t base = cmd_slot(t);

	if (data_gpa)
		*data_gpa = base + CMD_DATA;
	cmd_add(t, base, lun, 0x1000 + t->next_cmd, cdb, cdb_len, out, in, hdr_len);
	tdev_kick(t, VIRTIO_SCSI_REQUESTQ);
	return cmd_resp(t, base, tdev_wait(t, VIRTIO_SCSI_REQUESTQ, 1));
}

/* A command without data, or with data-in of `in` bytes. */
#define CMD(t, lun, in, ...)                                                   \
	({                                                                     \
		const uint8_t cdb_[] = { __VA_ARGS__ };                        \
		cmd_full((t), (lun), cdb_, sizeof(cdb_), 0, (in), 0, NULL);    \
	})

static bool sense_is(struct scsi_sense s, struct scsi_sense w)
{
	return s.key == w.key && s.asc == w.asc && s.ascq == w.ascq;
}

static void expect_check(struct tresp a, struct scsi_sense w)
{
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(a.status, SCSI_STATUS_CHECK_CONDITION);
	ck_assert_uint_eq(a.sense_len, SCSI_SENSE_LEN);
	ck_assert_msg(sense_is(a.sense, w), "sense %x/%02x/%02x, want %x/%02x/%02x",
		      a.sense.key, a.sense.asc, a.sense.ascq, w.key, w.asc, w.ascq);
}

static void expect_good(struct tresp a)
{
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_OK);
	ck_assert_msg(a.status == SCSI_STATUS_GOOD, "status %u, sense %x/%02x/%02x",
		      a.status, a.sense.key, a.sense.asc, a.sense.ascq);
	ck_assert_uint_eq(a.sense_len, 0);
}

/* Every LUN reports the power-on unit attention once: take it. */
static void clear_ua(struct tdev *t)
{
	expect_check(CMD(t, 0, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_POWER_ON);
	expect_check(CMD(t, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_POWER_ON);
}

/* A TMF on the control queue (queued at slot 31's area, no kick). */
static void tmf_add(struct tdev *t, unsigned int i, uint32_t subtype,
		    uint16_t lun, uint8_t target, uint64_t tag)
{
	uint64_t base = CMD_BASE + 40 * CMD_STRIDE + i * 0x100;
	uint8_t *r = gpa(t, base, 64);
	struct tbuf b[2] = { { base, VIRTIO_SCSI_TMF_REQ, false },
			     { base + 0x40, 1, true } };

	memset(r, 0, 0x41);
	le32_put(r, VIRTIO_SCSI_T_TMF);
	le32_put(r + 4, subtype);
	r[8] = 1;
	r[9] = target;
	r[10] = 0x40;
	r[11] = (uint8_t)lun;
	le64_put(r + 16, tag);
	r[0x40] = 0xee;
	tdev_add(t, VIRTIO_SCSI_CTRLQ, b, 2);
}

static uint8_t tmf_response(struct tdev *t, unsigned int i)
{
	return *(volatile uint8_t *)gpa(t, CMD_BASE + 40 * CMD_STRIDE + i * 0x100 + 0x40, 1);
}

static uint8_t tmf(struct tdev *t, uint32_t subtype, uint16_t lun, uint8_t target,
		   uint64_t tag)
{
	tmf_add(t, 0, subtype, lun, target, tag);
	tdev_kick(t, VIRTIO_SCSI_CTRLQ);
	ck_assert_uint_eq(tdev_wait(t, VIRTIO_SCSI_CTRLQ, 1), 1);
	return tmf_response(t, 0);
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
	struct virtio_scsi_config c;

	tdev_open(&t);
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	ck_assert_uint_eq(le32toh(c.num_queues), 1);
	ck_assert_uint_eq(le32toh(c.seg_max), VIRTQ_MAX_CHAIN - 2);
	ck_assert_uint_eq(le32toh(c.max_sectors), 8128);
	ck_assert_uint_eq(le32toh(c.sense_size), 96);
	ck_assert_uint_eq(le32toh(c.cdb_size), 32);
	ck_assert_uint_eq(le32toh(c.event_info_size), 16);
	ck_assert_uint_eq(le16toh(c.max_target), 0);
	ck_assert_uint_eq(le32toh(c.max_lun), 255);
	/* No feature of its own: INOUT, HOTPLUG, CHANGE, T10_PI are not offered. */
	ck_assert_uint_eq(t.vdev.host_features & 0xffffff, 0);
	/* Read-only fields stay; the driver's sizes are taken. */
	c.num_queues = htole32(7);
	virtio_device_config_write(&t.vdev, 0, &c.num_queues, 4);
	le32_put((uint8_t *)&c.sense_size, 8);
	virtio_device_config_write(&t.vdev, VIRTIO_SCSI_CFG_SENSE_SIZE, &c.sense_size, 4);
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	ck_assert_uint_eq(le32toh(c.num_queues), 1);
	ck_assert_uint_eq(le32toh(c.sense_size), 8);
	/* And used: the sense is cut to 8 bytes. */
	{
		struct tresp a = CMD(&t, 0, 0, 0x00, 0, 0, 0, 0, 0);

		ck_assert_uint_eq(a.status, SCSI_STATUS_CHECK_CONDITION);
		ck_assert_uint_eq(a.sense_len, 8);
		ck_assert_uint_eq(a.used, 20);
	}
	ck_assert_uint_eq(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* Beyond what a header can say: NEEDS_RESET, the value is not taken. */
	le32_put((uint8_t *)&c.cdb_size, 256);
	virtio_device_config_write(&t.vdev, VIRTIO_SCSI_CFG_CDB_SIZE, &c.cdb_size, 4);
	ck_assert(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	ck_assert_uint_eq(le32toh(c.cdb_size), 32);
	/* A reset brings the defaults back. */
	virtio_device_set_status(&t.vdev, 0);
	virtio_device_config_read(&t.vdev, 0, &c, sizeof(c));
	ck_assert_uint_eq(le32toh(c.sense_size), 96);
	tdev_close(&t);
}
END_TEST

/* SAM-5: one unit attention per LUN after power on; INQUIRY and REPORT LUNS pass it by. */
START_TEST(device_unit_attention)
{
	struct tdev t;
	uint64_t data;
	struct tresp a;
	uint8_t *d;

	tdev_open(&t);
	a = CMD(&t, RO_LUN, 36, 0x12, 0, 0, 0, 36, 0);
	expect_good(a);
	ck_assert_uint_eq(a.used, 108 + 36);
	a = cmd_full(&t, 0, (const uint8_t[]){ 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 }, 12,
		     0, 32, 0, &data);
	expect_good(a);
	d = gpa(&t, data, 32);
	ck_assert_uint_eq(d[3], 16);
	ck_assert_uint_eq(d[8 + 1], 0);
	ck_assert_uint_eq(d[16 + 1], RO_LUN);
	/* Any other command gets it, even an unknown one, once. */
	expect_check(CMD(&t, 0, 0, 0xc0, 0, 0, 0, 0, 0), SCSI_SENSE_POWER_ON);
	expect_check(CMD(&t, 0, 0, 0xc0, 0, 0, 0, 0, 0), SCSI_SENSE_INVALID_OPCODE);
	/* REQUEST SENSE returns it as data and clears it. */
	a = cmd_full(&t, RO_LUN, (const uint8_t[]){ 0x03, 0, 0, 0, 18, 0 }, 6, 0, 18, 0, &data);
	expect_good(a);
	d = gpa(&t, data, 18);
	ck_assert_uint_eq(d[2], SCSI_KEY_UNIT_ATTENTION);
	ck_assert_uint_eq(d[12], 0x29);
	expect_good(CMD(&t, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0));
	a = cmd_full(&t, RO_LUN, (const uint8_t[]){ 0x03, 0, 0, 0, 18, 0 }, 6, 0, 18, 0, &data);
	d = gpa(&t, data, 18);
	ck_assert_uint_eq(d[0], 0x70);
	ck_assert_uint_eq(d[2] | d[12], 0);
	tdev_close(&t);
}
END_TEST

START_TEST(device_read_write)
{
	struct tdev t;
	uint8_t file[8192];
	uint64_t data;
	struct tresp a;
	uint8_t *d;
	int fd;

	tdev_open(&t);
	clear_ua(&t);
	/* READ(10) of 16 blocks at 8. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 8, 0, 0, 16, 0 }, 10, 0,
		     8192, 0, &data);
	expect_good(a);
	ck_assert_uint_eq(a.resid, 0);
	ck_assert_uint_eq(a.used, 108 + 8192);
	expect_pattern(gpa(&t, data, 8192), 8 * 512, 8192);
	/* A bigger buffer than the CDB asks for: resid says what is left. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x08, 0, 0, 3, 2, 0 }, 6, 0, 4096, 0, &data);
	expect_good(a);
	ck_assert_uint_eq(a.resid, 3072);
	ck_assert_uint_eq(a.used, 108 + 1024);
	expect_pattern(gpa(&t, data, 1024), 3 * 512, 1024);

	/* WRITE(16) with FUA, then the file has it. */
	data = CMD_BASE + 31 * CMD_STRIDE + CMD_DATA;
	d = gpa(&t, data, 8192);
	for (int i = 0; i < 8192; i++)
		d[i] = (uint8_t)(i * 7 + 3);
	t.next_cmd = 31;
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0,
					       16, 0, 0 }, 16, 8192, 0, 0, NULL);
	expect_good(a);
	ck_assert_uint_eq(a.used, 108);
	fd = open(t.path[0], O_RDONLY);
	ck_assert_int_eq(pread(fd, file, 8192, 100 * 512), 8192);
	ck_assert_mem_eq(file, d, 8192);
	/* WRITE(6), WRITE(10); SYNCHRONIZE CACHE(10) and (16). */
	t.next_cmd = 31;
	expect_good(cmd_full(&t, 0, (const uint8_t[]){ 0x0a, 0, 0, 200, 1, 0 }, 6, 512, 0, 0,
			     NULL));
	t.next_cmd = 31;
	expect_good(cmd_full(&t, 0, (const uint8_t[]){ 0x2a, 0, 0, 0, 0, 201, 0, 0, 1, 0 }, 10,
			     512, 0, 0, NULL));
	expect_good(CMD(&t, 0, 0, 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0));
	expect_good(CMD(&t, 0, 0, 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
	ck_assert_int_eq(pread(fd, file, 1024, 200 * 512), 1024);
	ck_assert_mem_eq(file, d, 512);
	ck_assert_mem_eq(file + 512, d, 512);
	close(fd);
	/* The read-only LUN reads. */
	a = cmd_full(&t, RO_LUN, (const uint8_t[]){ 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						    1, 0, 0 }, 16, 0, 512, 0, &data);
	expect_good(a);
	expect_pattern(gpa(&t, data, 512), 0, 512);
	tdev_close(&t);
}
END_TEST

/* Every way a command can be wrong: the right sense, or response, and the device carries on. */
START_TEST(device_errors)
{
	struct tdev t;
	uint64_t data;
	struct tresp a;
	int fd;
	uint8_t file[512];

	tdev_open(&t);
	clear_ua(&t);
	/* A write to the read-only LUN, of each size: DATA PROTECT, file unchanged. */
	expect_check(cmd_full(&t, RO_LUN, (const uint8_t[]){ 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 },
			      10, 512, 0, 0, NULL), SCSI_SENSE_WRITE_PROTECTED);
	expect_check(cmd_full(&t, RO_LUN, (const uint8_t[]){ 0x0a, 0, 0, 0, 1, 0 }, 6, 512, 0,
			      0, NULL), SCSI_SENSE_WRITE_PROTECTED);
	fd = open(t.path[1], O_RDONLY);
	ck_assert_int_eq(pread(fd, file, 512, 0), 512);
	close(fd);
	expect_pattern(file, 0, 512);
	/* Out of range: at the end, across it. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x88, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 1,
					       0, 0 }, 16, 0, 512, 0, NULL);
	expect_check(a, SCSI_SENSE_LBA_OUT_OF_RANGE);
	ck_assert_uint_eq(a.resid, 512);
	ck_assert_uint_eq(a.used, 108);
	expect_check(cmd_full(&t, 0, (const uint8_t[]){ 0x2a, 0, 0, 0, 0x07, 0xfe, 0, 0, 4, 0 },
			      10, 2048, 0, 0, NULL), SCSI_SENSE_LBA_OUT_OF_RANGE);
	/* Unknown opcodes; a LUN that is not there; a target that is not. */
	expect_check(CMD(&t, 0, 0, 0x1b, 0, 0, 0, 1, 0), SCSI_SENSE_INVALID_OPCODE);
	expect_check(CMD(&t, 7, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_LUN_NOT_SUPPORTED);
	a = CMD(&t, 7, 36, 0x12, 0, 0, 0, 36, 0);
	expect_good(a);
	ck_assert_uint_eq(*(uint8_t *)gpa(&t, CMD_BASE + ((t.next_cmd - 1) % 32) * CMD_STRIDE +
						      CMD_DATA, 1), 0x7f);
	{
		uint64_t base = cmd_slot(&t);

		/*
		 * Target 1, in the header before it is published: the I/O
		 * thread may poll the ring and take the request at once.
		 */
		t.target = 1;
		cmd_add(&t, base, 0, 1, (const uint8_t[]){ 0 }, 1, 0, 0, 0);
		t.target = 0;
		tdev_kick(&t, VIRTIO_SCSI_REQUESTQ);
		a = cmd_resp(&t, base, tdev_wait(&t, VIRTIO_SCSI_REQUESTQ, 1));
		ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_BAD_TARGET);
	}
	/* The CDB wants more than the buffer, or the other direction: OVERRUN. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0 }, 10, 0, 512, 0,
		     NULL);
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_OVERRUN);
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 10, 512, 0, 0,
		     NULL);
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_OVERRUN);
	a = CMD(&t, 0, 0, 0x12, 0, 0, 0, 36, 0);
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_OVERRUN);
	/* Data both ways. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 10, 512, 512,
		     0, NULL);
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_FAILURE);
	/* A short CDB: 6 of READ(10)'s 10 bytes; a header with no CDB at all. */
	expect_check(cmd_full(&t, 0, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 10,
			      0, 0, VIRTIO_SCSI_REQ_HDR + 6, NULL), SCSI_SENSE_INVALID_FIELD);
	expect_check(cmd_full(&t, 0, (const uint8_t[]){ 0 }, 1, 0, 0, VIRTIO_SCSI_REQ_HDR, NULL),
		     SCSI_SENSE_INVALID_FIELD);
	/* A header shorter than 19 bytes: FAILURE. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0 }, 1, 0, 0, 10, NULL);
	ck_assert_uint_eq(a.response, VIRTIO_SCSI_S_FAILURE);
	/* Above the block limits' MAXIMUM TRANSFER LENGTH (8128 blocks). */
	expect_check(CMD(&t, 0, 0, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1f, 0xc1, 0, 0),
		     SCSI_SENSE_INVALID_FIELD);
	/* And it all still works. */
	a = cmd_full(&t, 0, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 10, 0, 512, 0,
		     &data);
	expect_good(a);
	expect_pattern(gpa(&t, data, 512), 0, 512);
	ck_assert_uint_eq(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);
	tdev_close(&t);
}
END_TEST

static bool zeroes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(device_unmap_write_same)
{
	struct tdev t;
	uint64_t data = CMD_BASE + 31 * CMD_STRIDE + CMD_DATA;
	uint8_t *d, file[3 * 4096];
	struct stat st;
	int fd;

	tdev_open(&t);
	clear_ua(&t);
	/* UNMAP two descriptors: blocks 16+16 and 64+8. */
	d = gpa(&t, data, 40);
	memset(d, 0, 40);
	d[1] = 38;
	d[3] = 32;
	d[15] = 16;
	d[19] = 16;
	d[31] = 64;
	d[35] = 8;
	t.next_cmd = 31;
	expect_good(cmd_full(&t, 0, (const uint8_t[]){ 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0 }, 10,
			     40, 0, 0, NULL));
	fd = open(t.path[0], O_RDONLY);
	ck_assert_int_eq(pread(fd, file, 4096, 16 * 512), 4096);
	ck_assert(zeroes(file, 4096));
	ck_assert_int_eq(pread(fd, file, 4096, 64 * 512), 4096);
	ck_assert(zeroes(file, 4096));
	ck_assert_int_eq(pread(fd, file, 512, 72 * 512), 512);
	expect_pattern(file, 72 * 512, 512);
	/* A parameter list of 4 bytes; a range past the end. */
	t.next_cmd = 31;
	expect_check(cmd_full(&t, 0, (const uint8_t[]){ 0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0 }, 10,
			      4, 0, 0, NULL), SCSI_SENSE_PARAM_LIST_LENGTH);
	d[17] = 0x10;
	t.next_cmd = 31;
	expect_check(cmd_full(&t, 0, (const uint8_t[]){ 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0 }, 10,
			      40, 0, 0, NULL), SCSI_SENSE_LBA_OUT_OF_RANGE);

	/* WRITE SAME(16) of zeroes with UNMAP, and without; NDOB. */
	memset(d, 0, 512);
	t.next_cmd = 31;
	expect_good(cmd_full(&t, 0, (const uint8_t[]){ 0x93, 0x08, 0, 0, 0, 0, 0, 0, 1, 0, 0,
						       0, 0, 8, 0, 0 }, 16, 512, 0, 0, NULL));
	t.next_cmd = 31;
	expect_good(cmd_full(&t, 0, (const uint8_t[]){ 0x93, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 0,
						       0, 8, 0, 0 }, 16, 512, 0, 0, NULL));
	expect_good(CMD(&t, 0, 0, 0x93, 0x09, 0, 0, 0, 0, 0, 0, 1, 0x10, 0, 0, 0, 8, 0, 0));
	ck_assert_int_eq(pread(fd, file, 3 * 4096, 256 * 512), 3 * 4096);
	ck_assert(zeroes(file, 3 * 4096));
	/* A pattern that is not zero is not supported. */
	d[5] = 1;
	t.next_cmd = 31;
	expect_check(cmd_full(&t, 0, (const uint8_t[]){ 0x93, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
							0, 8, 0, 0 }, 16, 512, 0, 0, NULL),
		     SCSI_SENSE_INVALID_FIELD);
	ck_assert_int_eq(pread(fd, file, 512, 1024 * 512), 512);
	expect_pattern(file, 1024 * 512, 512);
	close(fd);
	ck_assert_int_eq(stat(t.path[0], &st), 0);
	ck_assert_uint_eq(st.st_size, DISK_SIZE);
	tdev_close(&t);
}
END_TEST

START_TEST(device_tmf)
{
	struct tdev t;
	uint64_t base;
	uint8_t *r;

	tdev_open(&t);
	clear_ua(&t);
	/* Nothing in flight: abort and query answer at once. */
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 0, 77),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_QUERY_TASK, 0, 0, 77),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 0, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET, RO_LUN, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_CLEAR_ACA, 0, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_REJECTED);
	ck_assert_uint_eq(tmf(&t, 99, 0, 0, 0), VIRTIO_SCSI_S_FUNCTION_REJECTED);
	ck_assert_uint_eq(tmf(&t, 99, 9, 0, 0), VIRTIO_SCSI_S_FUNCTION_REJECTED);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_CLEAR_ACA, 9, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_REJECTED);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_ABORT_TASK, 9, 0, 0),
			  VIRTIO_SCSI_S_INCORRECT_LUN);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0, 3, 0),
			  VIRTIO_SCSI_S_BAD_TARGET);
	/* A LUN reset: that LUN, and only that one, reports it. */
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, RO_LUN, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	expect_good(CMD(&t, 0, 0, 0x00, 0, 0, 0, 0, 0));
	expect_check(CMD(&t, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_LUN_RESET);
	expect_good(CMD(&t, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0));
	/* I_T nexus reset: every LUN. */
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, 0, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	expect_check(CMD(&t, 0, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_NEXUS_LOSS);
	expect_check(CMD(&t, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_NEXUS_LOSS);

	/* Asynchronous notification: none, but answered. */
	base = CMD_BASE + 41 * CMD_STRIDE;
	r = gpa(&t, base, 0x50);
	memset(r, 0xee, 0x50);
	memset(r, 0, VIRTIO_SCSI_AN_REQ);
	le32_put(r, VIRTIO_SCSI_T_AN_QUERY);
	r[4] = 1;
	le32_put(r + 12, 0xffffffff);
	tdev_add(&t, VIRTIO_SCSI_CTRLQ, (const struct tbuf[]){ { base, 16, false },
							       { base + 0x40, 5, true } }, 2);
	tdev_kick(&t, VIRTIO_SCSI_CTRLQ);
	ck_assert_uint_eq(tdev_wait(&t, VIRTIO_SCSI_CTRLQ, 1), 5);
	ck_assert_uint_eq(le32_get(r + 0x40), 0);
	ck_assert_uint_eq(r[0x44], VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET, 0);

	/* A TMF too short for its type cannot be answered: NEEDS_RESET. */
	tdev_add(&t, VIRTIO_SCSI_CTRLQ, (const struct tbuf[]){ { base, 8, false },
							       { base + 0x40, 1, true } }, 2);
	le32_put(r, VIRTIO_SCSI_T_TMF);
	tdev_kick(&t, VIRTIO_SCSI_CTRLQ);
	for (int ms = 0; !(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET); ms++) {
		ck_assert_msg(ms < 5000, "no NEEDS_RESET");
		usleep(1000);
	}
	tdev_close(&t);
}
END_TEST

/* A command without room for a response header: NEEDS_RESET; a reset recovers. */
START_TEST(device_malformed_then_reset)
{
	struct tdev t;
	uint64_t base;

	tdev_open(&t);
	base = cmd_slot(&t);
	tdev_add(&t, VIRTIO_SCSI_REQUESTQ,
		 (const struct tbuf[]){ { base, 51, false }, { base + CMD_RESP, 11, true } }, 2);
	tdev_kick(&t, VIRTIO_SCSI_REQUESTQ);
	for (int ms = 0; !(virtio_device_get_status(&t.vdev) & VIRTIO_STATUS_NEEDS_RESET); ms++) {
		ck_assert_msg(ms < 5000, "no NEEDS_RESET");
		usleep(1000);
	}
	virtio_device_set_status(&t.vdev, 0);
	tdev_setup(&t);
	/* A reset is a power-on: the unit attention is back. */
	clear_ua(&t);
	expect_good(CMD(&t, 0, 0, 0x00, 0, 0, 0, 0, 0));
	tdev_close(&t);
}
END_TEST

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void wait_held(unsigned int i, unsigned int n)
{
	for (int ms = 0; held_count(i) != n; ms++) {
		ck_assert_msg(ms < 5000, "engine %u holds %u, want %u", i, held_count(i), n);
		usleep(1000);
	}
}

/* A held READ(10) of one block at lba, tag tag, in command slot i; kicked. */
static uint64_t held_read(struct tdev *t, unsigned int i, uint16_t lun, uint64_t tag)
{
	uint64_t base = CMD_BASE + i * CMD_STRIDE;

	cmd_add(t, base, lun, tag, (const uint8_t[]){ 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 10, 0,
		512, 0);
	tdev_kick(t, VIRTIO_SCSI_REQUESTQ);
	return base;
}

/*
 * ABORT TASK of a command in the engine: the TMF waits for it; when the
 * engine gives it back it is answered ABORTED, then the TMF COMPLETE.
 * QUERY TASK meanwhile says it is there. A LUN reset answers RESET.
 */
START_TEST(tmf_in_flight)
{
	struct tdev t;
	uint64_t b1, b2;

	tdev_engine = &held_ops;
	tdev_open(&t);
	clear_ua(&t);
	b1 = held_read(&t, 1, 0, 0xabc);
	b2 = held_read(&t, 2, 0, 0xdef);
	wait_held(0, 2);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_QUERY_TASK, 0, 0, 0xabc),
			  VIRTIO_SCSI_S_FUNCTION_SUCCEEDED);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_QUERY_TASK, 0, 0, 0x999),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_SUCCEEDED);
	ck_assert_uint_eq(tmf(&t, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, RO_LUN, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	tmf_add(&t, 1, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 0, 0xabc);
	tdev_kick(&t, VIRTIO_SCSI_CTRLQ);
	usleep(100 * 1000);
	ck_assert_uint_eq(used_idx(&t, VIRTIO_SCSI_CTRLQ), t.used_seen[VIRTIO_SCSI_CTRLQ]);
	ck_assert_uint_eq(tmf_response(&t, 1), 0xee);
	/* The first held request is 0xabc's. */
	held_release(0, 1);
	tdev_wait(&t, VIRTIO_SCSI_CTRLQ, 1);
	ck_assert_uint_eq(tmf_response(&t, 1), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	ck_assert_uint_eq(tdev_wait(&t, VIRTIO_SCSI_REQUESTQ, 1), 108);
	ck_assert_uint_eq(cmd_resp(&t, b1, 108).response, VIRTIO_SCSI_S_ABORTED);
	/* A LUN reset with 0xdef in flight: answered RESET, then the TMF. */
	tmf_add(&t, 2, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0, 0, 0);
	tdev_kick(&t, VIRTIO_SCSI_CTRLQ);
	usleep(50 * 1000);
	ck_assert_uint_eq(tmf_response(&t, 2), 0xee);
	held_release(0, 1);
	tdev_wait(&t, VIRTIO_SCSI_CTRLQ, 1);
	ck_assert_uint_eq(tmf_response(&t, 2), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	tdev_wait(&t, VIRTIO_SCSI_REQUESTQ, 1);
	ck_assert_uint_eq(cmd_resp(&t, b2, 108).response, VIRTIO_SCSI_S_RESET);
	expect_check(CMD(&t, 0, 0, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_LUN_RESET);
	tdev_close(&t);
	tdev_engine = NULL;
}
END_TEST

static void *release_later(void *opaque)
{
	usleep(100 * 1000);
	held_release(0, *(unsigned int *)opaque);
	return NULL;
}

/* Quiesce finishes the commands in flight and the TMF waiting for them. */
START_TEST(quiesce_answers_tmf)
{
	struct tdev t;
	unsigned int n = 2;
	pthread_t thread;
	uint64_t start;

	tdev_engine = &held_ops;
	tdev_open(&t);
	clear_ua(&t);
	held_read(&t, 1, 0, 1);
	held_read(&t, 2, 0, 2);
	wait_held(0, 2);
	tmf_add(&t, 1, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 0, 0, 0);
	tdev_kick(&t, VIRTIO_SCSI_CTRLQ);
	usleep(50 * 1000);
	ck_assert_int_eq(pthread_create(&thread, NULL, release_later, &n), 0);
	start = mono_ns();
	ck_assert_int_eq(virtio_scsi_ops.quiesce(&t.vdev, start + 5000000000ULL), 0);
	ck_assert_uint_ge(mono_ns() - start, 50 * 1000 * 1000);
	ck_assert_uint_eq(used_idx(&t, VIRTIO_SCSI_REQUESTQ), t.used_seen[2] + 2);
	ck_assert_uint_eq(used_idx(&t, VIRTIO_SCSI_CTRLQ), t.used_seen[0] + 1);
	ck_assert_uint_eq(tmf_response(&t, 1), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	pthread_join(thread, NULL);
	t.used_seen[2] += 2;
	t.used_seen[0] += 1;
	/* Quiesced: a new command is not looked at until resume. */
	held_read(&t, 3, 0, 3);
	usleep(50 * 1000);
	ck_assert_uint_eq(held_count(0), 0);
	virtio_scsi_ops.resume(&t.vdev);
	wait_held(0, 1);
	held_release(0, 1);
	tdev_wait(&t, VIRTIO_SCSI_REQUESTQ, 1);
	tdev_close(&t);
	tdev_engine = NULL;
}
END_TEST

/* A reset with a hung command: bounded; the LUN's engine goes to a reaper. */
START_TEST(reset_with_hung_command)
{
	struct tdev t;
	uint64_t start, took;

	tdev_engine = &held_ops;
	tdev_open(&t);
	clear_ua(&t);
	held_read(&t, 1, RO_LUN, 1);
	wait_held(1, 1);
	start = mono_ns();
	virtio_device_set_status(&t.vdev, 0);
	took = mono_ns() - start;
	ck_assert_msg(took >= 1900ULL * 1000 * 1000 && took < 3500ULL * 1000 * 1000,
		      "reset took %llu ms", (unsigned long long)took / 1000000);
	/* LUN 5's engine was replaced, LUN 0's kept. */
	ck_assert_uint_eq(held.created, 3);
	tdev_setup(&t);
	clear_ua(&t);
	held_read(&t, 2, RO_LUN, 2);
	wait_held(2, 1);
	held_release(2, 1);
	tdev_wait(&t, VIRTIO_SCSI_REQUESTQ, 1);
	held_release(1, 1);
	for (int ms = 0; !__atomic_load_n(&held.inst[1].destroyed, __ATOMIC_ACQUIRE); ms++) {
		ck_assert_msg(ms < 5000, "the abandoned engine was not destroyed");
		usleep(1000);
	}
	tdev_close(&t);
	tdev_engine = NULL;
}
END_TEST

/* Save a device with a unit attention pending and sizes set; load it into another. */
START_TEST(state_round_trip)
{
	struct tdev a, b;
	struct state_writer w;
	struct state_reader r;
	GError *err = NULL;
	uint8_t *buf;
	size_t len;
	uint32_t v;

	tdev_open(&a);
	clear_ua(&a);
	ck_assert_uint_eq(tmf(&a, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, RO_LUN, 0, 0),
			  VIRTIO_SCSI_S_FUNCTION_COMPLETE);
	v = htole32(24);
	virtio_device_config_write(&a.vdev, VIRTIO_SCSI_CFG_SENSE_SIZE, &v, 4);
	ck_assert_int_eq(virtio_scsi_ops.quiesce(&a.vdev, mono_ns() + 1000000000ULL), 0);
	state_writer_init(&w);
	virtio_scsi_ops.save(&a.vdev, "virtio-scsi.0", &w);
	buf = state_writer_finish(&w, &len);

	tdev_open(&b);
	clear_ua(&b);
	ck_assert(state_reader_init(&r, buf, len, &err));
	ck_assert_msg(virtio_scsi_ops.load(&b.vdev, "virtio-scsi.0", &r, &err), "%s",
		      err ? err->message : "?");
	state_reader_clear(&r);
	virtio_device_config_read(&b.vdev, VIRTIO_SCSI_CFG_SENSE_SIZE, &v, 4);
	ck_assert_uint_eq(le32toh(v), 24);
	expect_good(CMD(&b, 0, 0, 0x00, 0, 0, 0, 0, 0));
	{
		struct tresp x = CMD(&b, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0);

		ck_assert_uint_eq(x.status, SCSI_STATUS_CHECK_CONDITION);
		ck_assert_uint_eq(x.sense_len, 18);
		ck_assert_uint_eq(x.used, 12 + 24); /* sense_size 24 */
	}
	g_free(buf);
	tdev_close(&b);
	virtio_scsi_ops.resume(&a.vdev);
	tdev_close(&a);
}
END_TEST

/* A section that does not fit this controller: refused, nothing changed. */
START_TEST(state_refused)
{
	static const struct {
		uint32_t cdb, sense, n;
		uint16_t lun1;
		uint8_t key;
		const char *what;
	} bad[] = {
		{ 256, 96, 2, RO_LUN, 6, "cdb_size 256" },
		{ 32, 65536, 2, RO_LUN, 6, "sense_size 65536" },
		{ 32, 96, 3, RO_LUN, 6, "the state has 3 LUNs" },
		{ 32, 96, 2, 6, 6, "LUN 6 where this controller has LUN 5" },
		{ 32, 96, 2, RO_LUN, 5, "is no unit attention" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct tdev t;
		struct state_writer w;
		struct state_reader r;
		GError *err = NULL;
		uint8_t *buf;
		size_t len;

		state_writer_init(&w);
		state_section_begin(&w, 1, "virtio-scsi.0/model");
		state_put_u32(&w, bad[i].cdb);
		state_put_u32(&w, bad[i].sense);
		state_put_u32(&w, bad[i].n);
		for (uint32_t k = 0; k < bad[i].n; k++) {
			state_put_u16(&w, k == 1 ? bad[i].lun1 : 0);
			state_put_u8(&w, bad[i].key);
			state_put_u8(&w, 0x29);
			state_put_u8(&w, 0);
		}
		state_section_end(&w);
		buf = state_writer_finish(&w, &len);
		tdev_open(&t);
		clear_ua(&t);
		ck_assert(state_reader_init(&r, buf, len, &err));
		ck_assert(!virtio_scsi_ops.load(&t.vdev, "virtio-scsi.0", &r, &err));
		ck_assert_msg(strstr(err->message, bad[i].what), "'%s' lacks '%s'", err->message,
			      bad[i].what);
		g_error_free(err);
		state_reader_clear(&r);
		/* No unit attention came from it. */
		expect_good(CMD(&t, 0, 0, 0x00, 0, 0, 0, 0, 0));
		expect_good(CMD(&t, RO_LUN, 0, 0x00, 0, 0, 0, 0, 0));
		g_free(buf);
		tdev_close(&t);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-scsi");

	UNIT_TCASE(s, "device", device_config, device_unit_attention, device_read_write,
		   device_errors, device_unmap_write_same, device_tmf,
		   device_malformed_then_reset);
	UNIT_TCASE(s, "held", tmf_in_flight, quiesce_answers_tmf, reset_with_hung_command);
	UNIT_TCASE(s, "state", state_round_trip, state_refused);
	return unit_run(s);
}
