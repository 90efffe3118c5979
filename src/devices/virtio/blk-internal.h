/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk's own shared state: the device model (blk.c: configuration,
 * life cycle) and its requests (blk-io.c), which go through the shared
 * engine-backed virtqueue (blkvq.h), one per queue with its own I/O
 * thread. Nothing outside these files includes it.
 */
#ifndef TERN_VIRTIO_BLK_INTERNAL_H
#define TERN_VIRTIO_BLK_INTERNAL_H

#include "tern/iothread.h"
#include "tern/virtio-blk.h"

#include "blkvq.h"

struct blk_slot {
	struct blkvq_slot base; /* first: blkvq hands out this */
	uint8_t *status;
	uint32_t written; /* used length on success */
	bool zero_fallback; /* WRITE_ZEROES retried as a hole punch */
};

struct virtio_blk {
	const struct disk_config *cfg;
	struct blk_disk *disk;
	struct virtio_device *vdev;
	struct virtio_blk_config config;
	struct virtio_blk_limits limits;
	uint64_t features;
	unsigned int nr_queues;
	struct blkvq *queues;
	struct iothread **threads; /* one per queue */
};

/* How blkvq hands virtio-blk's chains and completions to blk-io.c. */
extern const struct blkvq_ops blk_vq_ops;

#endif
