/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk's own shared state: the device model (blk.c: configuration,
 * life cycle) and its data path (blk-io.c: one I/O thread per queue).
 * Nothing outside these two files includes it.
 */
#ifndef TERN_VIRTIO_BLK_INTERNAL_H
#define TERN_VIRTIO_BLK_INTERNAL_H

#include "tern/iothread.h"
#include "tern/virtio-blk.h"

struct blk_vq;

struct blk_slot {
	struct blk_req req;
	struct blk_vq *q;
	uint8_t *status;
	uint32_t written; /* used length on success */
	bool zero_fallback; /* WRITE_ZEROES retried as a hole punch */
	struct blk_slot *next_free;
	struct virtq_elem elem;
};

struct blk_vq {
	struct virtio_blk *blk;
	unsigned int index;
	struct virtqueue *vq;
	/*
	 * The engine queue and the slots its requests live in. Both are
	 * replaced when a reset gives up waiting for requests (a reaper
	 * frees the old ones when they finish); bq is NULL if the new
	 * engine queue could not be created (the next activate retries).
	 */
	struct blk_queue *bq;
	struct blk_slot *slots; /* VIRTQ_MAX_SIZE of them */
	struct iothread *thread;
	bool running; /* fds added (activated); the thread may be stopped */
	bool stopped; /* the ring is malformed: pop no more (thread) */
	unsigned int pushed; /* since the last notify */
	struct blk_slot *free;
};

struct virtio_blk {
	const struct disk_config *cfg;
	struct blk_disk *disk;
	struct virtio_device *vdev;
	struct virtio_blk_config config;
	struct virtio_blk_limits limits;
	uint64_t features;
	uint64_t poll_ns;
	unsigned int nr_queues;
	struct blk_vq *queues;
};

/* Every slot free, nothing pending: a fresh queue. */
void blk_vq_reset_slots(struct blk_vq *q);

/* Watch the queue's kick and completions, start its thread. 0 or -errno. */
int blk_vq_start(struct blk_vq *q) __must_check;
/*
 * Stop the thread, unwatch, and wait until deadline_ns (CLOCK_MONOTONIC)
 * for the requests in the engine without answering them. Whatever is still
 * there then goes to a reaper with its slots, and the queue gets new ones.
 */
void blk_vq_stop(struct blk_vq *q, uint64_t deadline_ns);
/*
 * With the thread stopped: finish, push and notify what is in the engine
 * until deadline_ns. 0, or -ETIMEDOUT with requests still there.
 */
int blk_vq_settle(struct blk_vq *q, uint64_t deadline_ns) __must_check;
/* Restart a stopped thread and look at the ring (kicks may have come). */
void blk_vq_resume(struct blk_vq *q);
/* The deadline of a reset's wait for the engine: BLK_RESET_WAIT_NS on. */
uint64_t blk_reset_deadline(void);

#endif
