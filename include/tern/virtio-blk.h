/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) over a block back-end: request parsing as a
 * pure function, and the device model with one I/O thread per queue.
 */
#ifndef TERN_VIRTIO_BLK_H
#define TERN_VIRTIO_BLK_H

#include <glib.h>
#include <sys/uio.h>

#include "tern/block.h"
#include "tern/virtio.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 0x1

struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio; /* "reserved" in 1.2 */
	uint64_t sector;
};

struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* The configuration space (5.2.4), up to the fields we offer. */
struct virtio_blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config");

/* What a request is checked against. */
struct virtio_blk_limits {
	uint64_t capacity; /* 512-byte sectors */
	bool readonly;
	bool discard, write_zeroes; /* offered */
	uint32_t max_discard_sectors, max_write_zeroes_sectors;
	/* The most data an IN or OUT request may carry; 0: no limit. */
	uint64_t max_rw_bytes;
};

/* A request that passed every check. */
struct virtio_blk_parsed {
	uint32_t type;
	uint8_t *status; /* the last byte of the last device-writable buffer */
	/* IN/OUT/FLUSH/DISCARD/WRITE_ZEROES: the back-end request. */
	enum blk_op op;
	unsigned int flags; /* BLK_REQ_UNMAP */
	uint64_t offset, len;
	/* IN/OUT/GET_ID: the data buffers, a part of the caller's array. */
	struct iovec *iov;
	unsigned int iovcnt;
	/* Bytes written to the driver's buffers on success, status included. */
	uint32_t written;
};

/*
 * Check one descriptor chain (out_num readable then in_num writable
 * buffers, non-empty) and say what to do with it. Returns a
 * VIRTIO_BLK_S_* value: S_OK means p describes work to do, anything else
 * is the status to report right away (p->status is valid). Returns -EINVAL
 * when the chain has no device-writable byte for a status: it cannot be
 * answered. iov is rewritten in place: the header is skipped in the
 * readable buffers and the status byte cut off the writable ones.
 */
int virtio_blk_parse(struct iovec *iov, unsigned int out_num,
		     unsigned int in_num, const struct virtio_blk_limits *lim,
		     struct virtio_blk_parsed *p);

/*
 * The model alone: disk opened, engine queues, I/O threads (named after
 * index: "io-blk0", "io-blk0q1", ...) and config space ready. threads may
 * be NULL (unit tests).
 */
struct virtio_blk;
struct thread_registry;
struct virtio_blk *virtio_blk_new(struct thread_registry *threads,
				  unsigned int index,
				  const struct disk_config *cfg, GError **err);
/*
 * The same with another engine than cfg->engine's (NULL: that one): the
 * tests' seam for engines that fail, or complete only when told.
 */
struct virtio_blk *virtio_blk_new_engine(struct thread_registry *threads,
					 unsigned int index,
					 const struct disk_config *cfg,
					 const struct blk_engine_ops *engine,
					 GError **err);
/* Free a model that was never plugged into a transport. */
void virtio_blk_free(struct virtio_blk *blk);

struct virtio_blk_info {
	uint64_t features;
	unsigned int nr_queues;
	uint8_t *config;
	size_t config_size;
};
void virtio_blk_get_info(struct virtio_blk *blk, struct virtio_blk_info *info);

/* vdev->priv is the struct virtio_blk; destroy() frees it. */
extern const struct virtio_device_ops virtio_blk_ops;

/* The disk's size in bytes as the guest sees it (capacity * 512). */
uint64_t virtio_blk_size(const struct virtio_device *vdev);
/* Migration: flush and unlock the image, or lock it again (block.h). */
bool virtio_blk_set_active(const struct virtio_device *vdev, bool active,
			   GError **err);

/* Its row in the device table (device.h): one per --disk. */
struct device_type;
extern const struct device_type virtio_blk_device_type;

/* The VM's disk number index: the model on a virtio-pci function. */
struct virtio_device *virtio_blk_create(struct machine *m, unsigned int index,
					const struct disk_config *cfg,
					GError **err);

#endif
