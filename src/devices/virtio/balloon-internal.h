/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon's state, shared by the model (balloon.c: queues and life
 * cycle) and balloon-state.c (saving and loading it, and what QMP reads
 * and sets). Nothing outside these two files includes it.
 */
#ifndef TERN_BALLOON_INTERNAL_H
#define TERN_BALLOON_INTERNAL_H

#include <endian.h>
#include <pthread.h>
#include <string.h>

#include "tern/virtio-balloon.h"
#include "tern/virtio.h"

#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1
#define BALLOON_NO_QUEUE UINT_MAX
/* Page numbers handled per step: one 4 KiB copy of the list. */
#define BALLOON_PFN_CHUNK 1024
/*
 * Page numbers read from one chain. Linux sends 256 at a time; without a
 * bound a chain of 256 buffers of guest RAM could list billions, and
 * keep the thread (and a stop, which waits for it) busy for minutes.
 */
#define BALLOON_MAX_PFNS (64U * BALLOON_PFN_CHUNK)
/* The stats a buffer may carry that we read: far more than the 10 tags. */
#define BALLOON_STATS_MAX_BYTES (64 * BALLOON_STAT_ENTRY_SIZE)

struct virtio_balloon {
	struct virtio_device *vdev;
	const struct guest_memory *mem;
	struct iothread *thread;
	int timer_fd; /* stats-period elapsed: give the stats request back */
	int config_fd; /* the target changed: tell the driver (I/O thread) */
	int change_fd; /* `actual` may have changed: for QMP */
	struct balloon_config opt;
	bool can_discard; /* RAM in 4 KiB pages: huge pages stay the VM's */
	uint8_t config[BALLOON_CFG_SIZE]; /* under vdev->lock */
	/* Also under vdev->lock: changes of `actual` QMP has not taken. */
	unsigned int changes;
	uint32_t change_first; /* `actual` after the first of them */

	pthread_mutex_t lock; /* what QMP reads and sets: */
	uint64_t stats[BALLOON_S_NR];
	int64_t last_update;
	uint32_t interval; /* seconds; 0: the stats request is kept */

	/* I/O thread (or a control thread while it is stopped). */
	unsigned int stats_vq, report_vq; /* or BALLOON_NO_QUEUE */
	bool stats_held;
	struct virtq_elem stats_elem; /* the driver's last stats buffer */
	struct virtq_elem elem;
	uint32_t pfns[BALLOON_PFN_CHUNK];
	struct balloon_range ranges[BALLOON_PFN_CHUNK];
	uint8_t stats_buf[BALLOON_STATS_MAX_BYTES];
};

static inline uint32_t balloon_cfg_get(const struct virtio_balloon *b,
				       unsigned int off)
{
	uint32_t v;

	memcpy(&v, b->config + off, sizeof(v));
	return le32toh(v);
}

static inline void balloon_cfg_set(struct virtio_balloon *b, unsigned int off,
				   uint32_t v)
{
	v = htole32(v);
	memcpy(b->config + off, &v, sizeof(v));
}

/* A one-shot timer in ns from now; 0 disarms it. */
void balloon_timer_set(struct virtio_balloon *b, uint64_t ns);
/* The driver is gone: `actual` and poison_val back to 0, QMP told. */
void balloon_forget_driver(struct virtio_balloon *b);

/* The model's own state section (balloon-state.c). */
void balloon_save(struct virtio_device *vdev, const char *id,
		  struct state_writer *w);
bool balloon_load(struct virtio_device *vdev, const char *id,
		  struct state_reader *r, GError **err);

#endif
