// SPDX-License-Identifier: MIT
/*
 * The thread-pool engine: a few workers per queue run preadv/pwritev/
 * fdatasync/fallocate, the portable fallback (any file system, any kernel).
 * submit() collects a batch privately; kick() hands it over under one lock
 * and wakes as many workers as it needs; a worker that finishes the first
 * of a run of completions writes the eventfd once.
 *
 * A read of cached data never needs a worker: submit() first tries
 * preadv2(RWF_NOWAIT), which the kernel answers from the page cache or
 * refuses with EAGAIN, without blocking. A hand-off costs a thread wake-up
 * (tens of microseconds here), a cached read about one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/thread.h"

/* Workers per queue: enough to overlap a few blocking calls on two cores. */
#define THREADS_WORKERS 4

struct threads_queue {
	struct blk_disk *disk;
	int efd;
	/* Submitted since the last kick: the submitting thread's alone. */
	struct blk_req *local_head, *local_tail;
	unsigned int nlocal;
	/* Finished in submit() (cached reads): the submitting thread's too. */
	struct blk_req *inline_head, *inline_tail;
	bool inline_signal; /* the eventfd owes a wake-up for them */
	bool nowait; /* RWF_NOWAIT works here (not O_DIRECT, not refused) */

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	struct blk_req *sq_head, *sq_tail; /* waiting for a worker */
	struct blk_req *cq_head, *cq_tail; /* finished, not reaped */
	unsigned int idle; /* workers waiting on cond */
	bool stop;
	bool quiet; /* the reaper polls: no eventfd writes */

	unsigned int nworkers;
	pthread_t workers[THREADS_WORKERS];
};

static int64_t threads_do(struct blk_disk *d, struct blk_req *req)
{
	int mode = FALLOC_FL_KEEP_SIZE;
	ssize_t n;

	for (;;) {
		switch (req->op) {
		case BLK_OP_READ:
			n = preadv(d->fd, req->iov, req->iovcnt, req->offset);
			break;
		case BLK_OP_WRITE:
			n = pwritev(d->fd, req->iov, req->iovcnt, req->offset);
			break;
		case BLK_OP_FLUSH:
			n = fdatasync(d->fd);
			break;
		default:
			if (req->op == BLK_OP_DISCARD ||
			    (req->flags & BLK_REQ_UNMAP))
				mode |= FALLOC_FL_PUNCH_HOLE;
			else
				mode |= FALLOC_FL_ZERO_RANGE;
			n = fallocate(d->fd, mode, req->offset, req->len);
			break;
		}
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

static void *threads_worker(void *opaque)
{
	struct threads_queue *t = opaque;
	uint64_t one = 1;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct blk_req *req;
		bool first;

		while (!t->sq_head && !t->stop) {
			t->idle++;
			pthread_cond_wait(&t->cond, &t->lock);
			t->idle--;
		}
		if (!t->sq_head)
			break;
		req = t->sq_head;
		t->sq_head = req->next;
		if (!t->sq_head)
			t->sq_tail = NULL;
		pthread_mutex_unlock(&t->lock);

		req->result = threads_do(t->disk, req);
		req->next = NULL;

		pthread_mutex_lock(&t->lock);
		first = !t->cq_head;
		if (t->cq_tail)
			t->cq_tail->next = req;
		else
			t->cq_head = req;
		t->cq_tail = req;
		/*
		 * Only the first of a run needs a wake-up: the reaper takes
		 * the whole list once it is awake.
		 */
		if (first && !t->quiet)
			(void)!write(t->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void threads_stop(struct threads_queue *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	for (unsigned int i = 0; i < t->nworkers; i++)
		pthread_join(t->workers[i], NULL);
}

static int threads_create(struct blk_disk *disk, unsigned int depth,
			  void **state)
{
	struct threads_queue *t = calloc(1, sizeof(*t));
	unsigned int want = MIN(depth, THREADS_WORKERS);
	int ret = 0;

	if (!t)
		return -ENOMEM;
	t->disk = disk;
	t->nowait = !disk->direct;
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		free(t);
		return -errno;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	/* Spawned with every signal blocked and confined to their role. */
	for (; t->nworkers < want; t->nworkers++) {
		ret = thread_spawn(disk->threads, &t->workers[t->nworkers],
				   THREAD_ROLE_BLOCK_WORKER, threads_worker, t,
				   "blk-worker");
		if (ret)
			break;
	}
	if (ret) {
		threads_stop(t);
		close(t->efd);
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return ret;
	}
	*state = t;
	return 0;
}

/* A cached read, done at once; false when it would block (or is partial). */
static bool threads_try_inline(struct threads_queue *t, struct blk_req *req)
{
	ssize_t n = preadv2(t->disk->fd, req->iov, req->iovcnt, req->offset,
			    RWF_NOWAIT);

	if (n < 0 && errno == EOPNOTSUPP)
		t->nowait = false;
	/* A partial read needs a worker for the rest: start over there. */
	if (n < 0 || (uint64_t)n != req->len)
		return false;
	req->result = n;
	req->next = NULL;
	if (t->inline_tail)
		t->inline_tail->next = req;
	else
		t->inline_head = req;
	t->inline_tail = req;
	t->inline_signal = true;
	return true;
}

static void threads_submit(void *state, struct blk_req *req)
{
	struct threads_queue *t = state;

	if (req->op == BLK_OP_READ && t->nowait && threads_try_inline(t, req))
		return;
	req->next = NULL;
	if (t->local_tail)
		t->local_tail->next = req;
	else
		t->local_head = req;
	t->local_tail = req;
	t->nlocal++;
}

static int threads_kick(void *state)
{
	struct threads_queue *t = state;

	/* Whoever sleeps on the eventfd after this kick must see those. */
	if (t->inline_signal && !t->quiet) {
		uint64_t one = 1;

		t->inline_signal = false;
		(void)!write(t->efd, &one, sizeof(one));
	}
	if (!t->nlocal)
		return 0;
	pthread_mutex_lock(&t->lock);
	if (t->sq_tail)
		t->sq_tail->next = t->local_head;
	else
		t->sq_head = t->local_head;
	t->sq_tail = t->local_tail;
	if (t->nlocal > 1 && t->idle > 1)
		pthread_cond_broadcast(&t->cond);
	else if (t->idle)
		pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	t->local_head = t->local_tail = NULL;
	t->nlocal = 0;
	return 0;
}

static int threads_event_fd(void *state)
{
	struct threads_queue *t = state;

	return t->efd;
}

static unsigned int threads_reap(void *state, struct blk_req **done,
				 unsigned int max)
{
	struct threads_queue *t = state;
	unsigned int n = 0;

	while (n < max && t->inline_head) {
		struct blk_req *r = t->inline_head;

		t->inline_head = r->next;
		r->next = NULL;
		done[n++] = r;
	}
	/* Reaped: no wake-up is owed for them any more. */
	if (!t->inline_head) {
		t->inline_tail = NULL;
		t->inline_signal = false;
	}
	if (n == max)
		return n;
	pthread_mutex_lock(&t->lock);
	while (n < max && t->cq_head) {
		struct blk_req *r = t->cq_head;

		t->cq_head = r->next;
		r->next = NULL;
		done[n++] = r;
	}
	if (!t->cq_head)
		t->cq_tail = NULL;
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void threads_signal(void *state, bool on)
{
	struct threads_queue *t = state;

	pthread_mutex_lock(&t->lock);
	t->quiet = !on;
	pthread_mutex_unlock(&t->lock);
	if (!on)
		t->inline_signal = false;
}

static void threads_destroy(void *state)
{
	struct threads_queue *t = state;

	threads_stop(t);
	close(t->efd);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

const struct blk_engine_ops blk_engine_threads = {
	.name = "threads",
	.create = threads_create,
	.submit = threads_submit,
	.kick = threads_kick,
	.event_fd = threads_event_fd,
	.reap = threads_reap,
	.signal = threads_signal,
	.destroy = threads_destroy,
};
