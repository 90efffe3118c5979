// SPDX-License-Identifier: MIT
/*
 * The engine-independent half of a queue: range and read-only checks,
 * O_DIRECT alignment (with a capped amount of bounce memory for misaligned
 * guest buffers), resubmission of short transfers, draining, and handing a
 * queue whose requests will not finish to a reaper.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/error.h"
#include "tern/iov.h"

#include "internal.h"

struct blk_queue {
	struct blk_disk *disk;
	const struct blk_engine_ops *ops;
	void *state;
	unsigned int depth, inflight;
	/* Requests the layer completed itself, handed out by the next reap. */
	struct blk_req *done_head, *done_tail;
	/* Bounce bytes held, and requests waiting for some, oldest first. */
	uint64_t bounce_bytes;
	struct blk_req *bounce_head, *bounce_tail;
	/* A reaper owns the queue: finish what is in flight, start nothing. */
	bool abandoned;
	void (*release)(void *opaque);
	void *release_opaque;
};

struct blk_queue *blk_queue_create(struct blk_disk *disk, unsigned int depth,
				   GError **err)
{
	struct blk_queue *q;
	int ret;

	if (!depth || depth > BLK_MAX_DEPTH) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "block queue depth %u out of range", depth);
		return NULL;
	}
	q = g_new0(struct blk_queue, 1);
	q->disk = disk;
	q->ops = disk->ops;
	q->depth = depth;
	ret = q->ops->create(disk, depth, &q->state);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--disk '%s': engine=%s: cannot set up a queue: %s",
			    disk->spec ? disk->spec : disk->path, q->ops->name,
			    g_strerror(-ret));
		g_free(q);
		return NULL;
	}
	return q;
}

static void queue_complete_now(struct blk_queue *q, struct blk_req *req,
			       int64_t result)
{
	req->result = result;
	req->next = NULL;
	if (q->done_tail)
		q->done_tail->next = req;
	else
		q->done_head = req;
	q->done_tail = req;
}

static bool iov_dio_aligned(const struct blk_disk *d, const struct iovec *iov,
			    unsigned int cnt)
{
	for (unsigned int i = 0; i < cnt; i++) {
		if ((uintptr_t)iov[i].iov_base % d->mem_align ||
		    iov[i].iov_len % d->offset_align)
			return false;
	}
	return true;
}

/*
 * O_DIRECT needs aligned guest buffers. A guest that follows blk_size sends
 * them; any other buffer goes through an aligned copy, allocated here: that
 * path is rare and correctness beats speed there. What it may hold at once
 * is capped (BLK_BOUNCE_MAX), or a guest could pin gigabytes of host memory
 * with a few large misaligned requests on every slot of every queue.
 */
static int queue_bounce(struct blk_queue *q, struct blk_req *req)
{
	size_t align = MAX(q->disk->mem_align, sizeof(void *));

	if (posix_memalign(&req->bounce, align, req->len)) {
		req->bounce = NULL;
		return -ENOMEM;
	}
	q->bounce_bytes += req->len;
	if (req->op == BLK_OP_WRITE)
		iov_to_buf(req->iov, req->iovcnt, req->bounce, req->len);
	req->bounce_iov.iov_base = req->bounce;
	req->bounce_iov.iov_len = req->len;
	req->iov = &req->bounce_iov;
	req->iovcnt = 1;
	return 0;
}

static void queue_bounce_start(struct blk_queue *q, struct blk_req *req)
{
	int ret = queue_bounce(q, req);

	if (ret)
		queue_complete_now(q, req, ret);
	else
		q->ops->submit(q->state, req);
}

/*
 * Requests that waited for bounce memory, in order while they fit: a big
 * one is not overtaken by smaller ones forever. True if any reached the
 * engine (it needs a kick).
 */
static bool queue_bounce_resume(struct blk_queue *q)
{
	bool submitted = false;

	while (q->bounce_head &&
	       q->bounce_bytes + q->bounce_head->len <= BLK_BOUNCE_MAX) {
		struct blk_req *req = q->bounce_head;

		q->bounce_head = req->next;
		if (!q->bounce_head)
			q->bounce_tail = NULL;
		req->next = NULL;
		queue_bounce_start(q, req);
		submitted |= req->bounce != NULL;
	}
	return submitted;
}

static int queue_check(const struct blk_queue *q, const struct blk_req *req)
{
	const struct blk_disk *d = q->disk;

	switch (req->op) {
	case BLK_OP_FLUSH:
		return 0;
	case BLK_OP_READ:
	case BLK_OP_WRITE:
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (req->op != BLK_OP_READ && d->readonly)
		return -EROFS;
	if (req->offset > d->size || req->len > d->size - req->offset)
		return -EINVAL;
	if (d->direct && (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
	    (req->offset % d->offset_align || req->len % d->offset_align))
		return -EINVAL;
	return 0;
}

void blk_queue_submit(struct blk_queue *q, struct blk_req *req)
{
	int ret;

	req->next = NULL;
	req->done = 0;
	req->bounce = NULL;
	req->result = 0;
	req->orig_iov = req->iov;
	req->orig_iovcnt = req->iovcnt;
	req->advanced = NULL;
	q->inflight++;

	ret = queue_check(q, req);
	if (ret) {
		queue_complete_now(q, req, ret);
		return;
	}
	/* Nothing to move (fallocate would even refuse a zero length). */
	if (req->op != BLK_OP_FLUSH && !req->len) {
		queue_complete_now(q, req, 0);
		return;
	}
	if (q->disk->direct &&
	    (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
	    !iov_dio_aligned(q->disk, req->iov, req->iovcnt)) {
		/* Alone it would never fit: waiting could not help. */
		if (req->len > BLK_BOUNCE_MAX) {
			queue_complete_now(q, req, -E2BIG);
			return;
		}
		/* Behind the others, until their bounce buffers are freed. */
		if (q->bounce_head ||
		    q->bounce_bytes + req->len > BLK_BOUNCE_MAX) {
			if (q->bounce_tail)
				q->bounce_tail->next = req;
			else
				q->bounce_head = req;
			q->bounce_tail = req;
			return;
		}
		queue_bounce_start(q, req);
		return;
	}
	q->ops->submit(q->state, req);
}

int blk_queue_kick(struct blk_queue *q)
{
	return q->ops->kick(q->state);
}

int blk_queue_event_fd(const struct blk_queue *q)
{
	return q->ops->event_fd(q->state);
}

unsigned int blk_queue_inflight(const struct blk_queue *q)
{
	return q->inflight;
}

void blk_queue_signal(struct blk_queue *q, bool on)
{
	if (q->ops->signal)
		q->ops->signal(q->state, on);
}

/*
 * A completion from the engine. Returns false when the request went back to
 * the engine (a short transfer: the kernel may stop early, the rest is
 * resubmitted), true when it is finished for the caller, with offset, len,
 * iov and iovcnt as the caller filled them (their contents untouched).
 */
static bool queue_finish(struct blk_queue *q, struct blk_req *req)
{
	bool rw = req->op == BLK_OP_READ || req->op == BLK_OP_WRITE;
	uint64_t got = req->result >= 0 ? (uint64_t)req->result : 0;

	/* An abandoned queue starts nothing: the short result stands. */
	if (rw && got && got < req->len && !q->abandoned) {
		if (!req->advanced) {
			req->advanced = g_memdup2(req->iov, req->iovcnt *
							     sizeof(*req->iov));
			req->iov = req->advanced;
		}
		req->iov = iov_advance(req->iov, &req->iovcnt, got);
		req->offset += got;
		req->len -= got;
		req->done += got;
		q->ops->submit(q->state, req);
		return false;
	}
	/* Whole again, whether the last piece succeeded or not. */
	req->offset -= req->done;
	req->len += req->done;
	if (rw && req->result >= 0)
		/* No progress inside the disk's range: the file shrank. */
		req->result = got ? (int64_t)req->len : -EIO;
	req->iov = req->orig_iov;
	req->iovcnt = req->orig_iovcnt;
	g_clear_pointer(&req->advanced, g_free);
	if (req->bounce) {
		/*
		 * Not for an abandoned queue: its device was reset, the
		 * guest memory may be reused or even unmapped by now.
		 */
		if (req->op == BLK_OP_READ && req->result >= 0 &&
		    !q->abandoned)
			iov_from_buf(req->iov, req->iovcnt, req->bounce,
				     req->len);
		q->bounce_bytes -= req->len; /* whole again, as allocated */
		free(req->bounce);
		req->bounce = NULL;
	}
	req->next = NULL;
	req->done = 0;
	return true;
}

unsigned int blk_queue_reap(struct blk_queue *q, struct blk_req **done,
			    unsigned int max)
{
	unsigned int n = 0;
	bool resubmitted = false;

	while (n < max && q->done_head) {
		struct blk_req *r = q->done_head;

		q->done_head = r->next;
		if (!q->done_head)
			q->done_tail = NULL;
		r->next = NULL;
		done[n++] = r;
	}
	while (n < max) {
		unsigned int got = q->ops->reap(q->state, done + n, max - n);
		unsigned int kept = 0;

		if (!got)
			break;
		for (unsigned int i = 0; i < got; i++) {
			if (queue_finish(q, done[n + i]))
				done[n + kept++] = done[n + i];
			else
				resubmitted = true;
		}
		n += kept;
	}
	if (queue_bounce_resume(q))
		resubmitted = true;
	/* A failure sticks in the engine: the caller's next kick sees it. */
	if (resubmitted && q->ops->kick(q->state))
		tern_warn("--disk '%s': engine=%s refuses resubmitted requests",
			  q->disk->spec ? q->disk->spec : q->disk->path,
			  q->ops->name);
	q->inflight -= n;
	return n;
}

int blk_queue_wait(struct blk_queue *q, int timeout_ms)
{
	struct pollfd pfd = { .fd = blk_queue_event_fd(q), .events = POLLIN };
	uint64_t v;
	int ret;

	if (q->done_head)
		return 0;
	do {
		ret = poll(&pfd, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	/* The eventfd is non-blocking; a racing reader may have cleared it. */
	if (read(pfd.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

void blk_queue_destroy(struct blk_queue *q)
{
	struct blk_req *done[32];

	if (!q)
		return;
	while (q->inflight) {
		if (blk_queue_kick(q))
			break;
		if (!blk_queue_reap(q, done, ARRAY_SIZE(done)) &&
		    blk_queue_wait(q, 1000) == -ETIMEDOUT)
			tern_warn("--disk '%s': still waiting for %u requests",
				  q->disk->spec ? q->disk->spec : q->disk->path,
				  q->inflight);
	}
	q->ops->destroy(q->state);
	g_free(q);
}

/* How long the reaper sleeps between kicks that its engine refuses. */
#define REAPER_BACKOFF_MS_MAX 1000

static void *queue_reaper(void *opaque)
{
	struct blk_queue *q = opaque;
	struct blk_disk *disk = q->disk;
	struct blk_req *done[32];
	unsigned int backoff_ms = 1;

	pthread_setname_np(pthread_self(), "blk-reaper");
	while (q->inflight) {
		/* Entries a refused kick left, if any: try again, slowly. */
		if (blk_queue_kick(q)) {
			struct timespec ts = { backoff_ms / 1000,
					       (backoff_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
			backoff_ms = MIN(backoff_ms * 2, REAPER_BACKOFF_MS_MAX);
		}
		if (!blk_queue_reap(q, done, ARRAY_SIZE(done)))
			(void)!blk_queue_wait(q, 1000);
	}
	q->ops->destroy(q->state);
	/* Only now may the caller free what the requests pointed into. */
	q->release(q->release_opaque);
	g_free(q);
	blk_disk_orphan_put(disk);
	return NULL;
}

void blk_queue_abandon(struct blk_queue *q, void (*release)(void *opaque),
		       void *opaque)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t thread;
	int ret;

	/* The engine never saw these: nothing of theirs is in the kernel. */
	while (q->bounce_head) {
		struct blk_req *req = q->bounce_head;

		q->bounce_head = req->next;
		queue_complete_now(q, req, -ECANCELED);
	}
	q->bounce_tail = NULL;
	q->abandoned = true;
	q->release = release;
	q->release_opaque = opaque;
	/* The reaper sleeps on the eventfd. */
	blk_queue_signal(q, true);
	blk_disk_orphan_get(q->disk);

	/* Signals are the main loop's and the vCPUs'. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&thread, &attr, queue_reaper, q);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		tern_warn("--disk '%s': cannot start a thread to reap %u abandoned requests (%s); their memory stays allocated",
			  q->disk->spec ? q->disk->spec : q->disk->path,
			  q->inflight, g_strerror(ret));
}
