/* SPDX-License-Identifier: MIT */
/*
 * A virtqueue served by block engine queues: the data path virtio-blk and
 * virtio-scsi share. One I/O thread (the model's) pops every available
 * chain into a preallocated slot, hands it to the model (which answers it
 * at once or submits a block request to one of the queue's engines),
 * kicks every engine once per batch, reaps, lets the model finish what
 * completed, pushes and interrupts once per batch. While busy it keeps the
 * driver's kicks and the engines' completion signals off and polls; when
 * idle it polls the ring for poll_ns before sleeping.
 *
 * An engine per disk behind the queue: virtio-blk has one, virtio-scsi one
 * per LUN. A reset waits a bounded time for what is in the engines; an
 * engine still holding requests then goes to a reaper with the slots
 * (blk_queue_abandon()), and the queue starts over with new ones. Nothing
 * outside src/devices/virtio includes this.
 */
#ifndef TERN_VIRTIO_BLKVQ_H
#define TERN_VIRTIO_BLKVQ_H

#include "tern/block.h"
#include "tern/iothread.h"
#include "tern/virtio.h"

/* Engines behind one virtqueue: a disk each (virtio-scsi: its LUNs). */
#define BLKVQ_MAX_ENGINES 16

struct blkvq;

/*
 * A slot: the popped chain and its block request. A model's slot embeds
 * this as its first member; blkvq_init() is given the model slot's size.
 */
struct blkvq_slot {
	struct blk_req req; /* req.opaque is the slot */
	struct blkvq *q;
	struct blkvq_slot *next_free;
	unsigned int engine; /* where req was submitted last */
	bool busy; /* popped and not finished */
	struct virtq_elem elem;
};

struct blkvq_ops {
	/*
	 * A chain was popped into s (s->elem): answer it with
	 * blkvq_finish(), submit it with blkvq_submit(), or give up on the
	 * queue with blkvq_fail().
	 */
	void (*start)(struct blkvq *q, struct blkvq_slot *s);
	/* The engine finished s->req: blkvq_finish() or blkvq_submit() again.
	 */
	void (*complete)(struct blkvq *q, struct blkvq_slot *s);
};

struct blkvq_slots;

struct blkvq {
	const struct blkvq_ops *ops;
	void *model; /* the ops' */
	struct virtio_device *const *vdev; /* the model's, filled in later */
	const char *name; /* for messages: "virtio-blk" */
	unsigned int index; /* the queue's number, for messages */
	uint64_t poll_ns;
	struct iothread *thread; /* the model's */
	struct virtqueue *vq; /* set before blkvq_start() */

	unsigned int nr_engines;
	struct blk_disk *disks[BLKVQ_MAX_ENGINES];
	/*
	 * An engine queue is replaced when a reset gives up waiting for it
	 * (a reaper frees the old one); NULL if the new one could not be
	 * created (the next start retries).
	 */
	struct blk_queue *bq[BLKVQ_MAX_ENGINES];
	size_t slot_size;
	struct blkvq_slots *slots; /* VIRTQ_MAX_SIZE of slot_size bytes */
	struct blkvq_slot *free;
	bool running; /* fds added (started); the thread may be stopped */
	bool stopped; /* malformed ring or failed engine: pop no more */
	unsigned int pushed; /* since the last notify */
};

/*
 * Fill q (whose ops, model, vdev, name, index, poll_ns and thread the
 * caller set) with nr_disks engine queues, one per disk, and the slots.
 * Errors are TERN_ERROR_HOST naming the engine and the --disk option.
 */
bool blkvq_init(struct blkvq *q, struct blk_disk *const *disks,
		unsigned int nr_disks, size_t slot_size, GError **err);
/* Wait for every engine (requests are dropped) and free; q may be zeroed. */
void blkvq_fini(struct blkvq *q);

/* Watch the kick and the engines, start the thread. 0 or -errno. */
int blkvq_start(struct blkvq *q) __must_check;
/*
 * Stop the thread, unwatch, and wait until deadline_ns (CLOCK_MONOTONIC)
 * for the requests in the engines without answering them. Whatever is
 * still there then goes to a reaper with the slots, and the queue gets
 * new ones. A stopped queue may be stopped again.
 */
void blkvq_stop(struct blkvq *q, uint64_t deadline_ns);
/*
 * With the thread stopped: finish, push and notify what is in the engines
 * until deadline_ns. 0, or -ETIMEDOUT with requests still there.
 */
int blkvq_settle(struct blkvq *q, uint64_t deadline_ns) __must_check;
/* Restart a stopped thread and look at the ring (kicks may have come). */
void blkvq_resume(struct blkvq *q);
/* The deadline of a reset's wait for the engines: two seconds on. */
uint64_t blkvq_reset_deadline(void);

/* From the ops, on the queue's thread (or the control thread, stopped). */

/* Send s->req (filled by the caller, opaque included) to an engine. */
void blkvq_submit(struct blkvq *q, struct blkvq_slot *s, unsigned int engine);
/* Push s with `written` bytes used; the notify comes with the batch. */
void blkvq_finish(struct blkvq *q, struct blkvq_slot *s, uint32_t written);
/*
 * The driver broke the protocol with s (nothing can be answered): the
 * device goes to NEEDS_RESET with why, the queue stops popping.
 */
void blkvq_fail(struct blkvq *q, struct blkvq_slot *s, const char *why);

/* Slot i (0..VIRTQ_MAX_SIZE-1), busy or not: for a model's own walks. */
struct blkvq_slot *blkvq_slot_at(struct blkvq *q, unsigned int i);

#endif
