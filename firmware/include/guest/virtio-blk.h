/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) on top of guest/virtio.h. blk_open() runs at
 * CPL 0; submitting and polling requests run at any CPL.
 */
#ifndef GUEST_VIRTIO_BLK_H
#define GUEST_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/virtio.h"

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR 512

/* struct virtio_blk_config offsets. */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SIZE_MAX 8
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_WRITEBACK 32
#define VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN 44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52

#define BLK_MAX_QUEUES 8
/* Vector of queue q when MSI-X is on: BLK_MSIX_VECTOR_BASE + q. */
#define BLK_MSIX_VECTOR_BASE 0x40

struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct virtio_blk_discard {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/*
 * How a request is laid out in descriptors:
 *  DIRECT    header, data, status: three chained descriptors (Linux without
 *            indirect descriptors);
 *  INDIRECT  the same three in an indirect table, one ring slot;
 *  MERGED    two descriptors: header+data and status for a write,
 *            header and data+status for a read. The data must sit in a
 *            frame (blk_frames_alloc()) with room for the header before it
 *            and the status byte after it. Devices must accept any framing
 *            (virtio 1.x, 2.7.4), so this checks they do.
 */
enum blk_layout {
	BLK_LAYOUT_DIRECT,
	BLK_LAYOUT_INDIRECT,
	BLK_LAYOUT_MERGED,
};

const char *blk_layout_name(enum blk_layout l);

struct blk_req {
	struct virtio_blk_outhdr hdr; /* DIRECT and INDIRECT */
	uint8_t status;
	volatile uint8_t *statusp; /* where the device writes the status */
	uint32_t written; /* bytes the device says it wrote */
	uint64_t sector; /* as submitted, whatever the layout */
	void *user;
};

struct blk_opts {
	bool packed; /* negotiate VIRTIO_F_RING_PACKED */
	bool event_idx; /* negotiate VIRTIO_F_EVENT_IDX if offered */
	bool msix; /* a vector per queue; otherwise completions are polled only
		    */
	unsigned int max_queues; /* use up to this many (VIRTIO_BLK_F_MQ) */
	uint16_t queue_size; /* 0: the device's */
};

struct blk_dev {
	struct virtio_pci vp;
	struct virtq vq[BLK_MAX_QUEUES];
	unsigned int nq;
	uint64_t capacity; /* sectors */
	uint32_t blk_size, seg_max, size_max;
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t max_wz_sectors, max_wz_seg;
	bool ro, flush, discard, write_zeroes;
};

/* CPL 0: find, negotiate, set up queues, DRIVER_OK. 0 or -1 with *why. */
int blk_open(struct blk_dev *b, const struct blk_opts *o, const char **why);

/*
 * Queue one request on queue q (not yet visible to the device under a split
 * ring until blk_kick()). data may be NULL with len 0 (FLUSH). The device
 * writes data for IN and GET_ID, reads it for the rest. Returns 0, or -1
 * when the queue has no room.
 */
int blk_submit(struct blk_dev *b, unsigned int q, struct blk_req *r,
	       uint32_t type, uint64_t sector, void *data, uint32_t len,
	       enum blk_layout layout);

static inline bool blk_kick(struct blk_dev *b, unsigned int q)
{
	return virtq_kick(&b->vq[q]);
}

/* A completed request of queue q, or NULL. */
struct blk_req *blk_poll(struct blk_dev *b, unsigned int q);

static inline uint8_t blk_status(const struct blk_req *r)
{
	return *r->statusp;
}

/*
 * Submit, kick and wait up to timeout_ns (by clock_ns()) for this one
 * request; the queue must otherwise be idle. Returns the status, or fails
 * the test on a time-out.
 */
uint8_t blk_sync(struct blk_dev *b, unsigned int q, struct blk_req *r,
		 uint32_t type, uint64_t sector, void *data, uint32_t len,
		 enum blk_layout layout);

#define BLK_SYNC_TIMEOUT_NS 10000000000ull

/*
 * n data buffers of len bytes (a multiple of 4096), page aligned, each with
 * 16 free bytes before it and one after, as BLK_LAYOUT_MERGED needs.
 * Buffer i is at the returned address + i * (len + 4096). NULL when out of
 * memory.
 */
void *blk_frames_alloc(unsigned int n, uint32_t len);

static inline void *blk_frame(void *frames, unsigned int i, uint32_t len)
{
	return (char *)frames + (uint64_t)i * (len + 4096);
}

#endif
