// SPDX-License-Identifier: MIT
/*
 * The io_uring engine (liburing): one ring per queue, the disk's fd
 * registered as fixed file 0, an eventfd registered for completions.
 * submit() only fills SQEs; kick() is one io_uring_enter() for the whole
 * batch; reap() reads the completion ring in shared memory, no syscall.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/uring.h"

/*
 * When the kernel refuses a submission with nothing of ours in flight, no
 * completion will wake the caller to try again: sleep this long first,
 * doubling from the minimum up to the maximum while it keeps refusing.
 */
#define URING_BACKOFF_NS_MIN (50 * 1000)
#define URING_BACKOFF_NS_MAX (10 * 1000 * 1000)

struct uring_queue {
	struct io_uring ring; /* first: test-sandbox checks its restrictions */
	int efd;
	int fd; /* in SQEs: 0 (the registered file), or the disk's fd */
	unsigned int sqe_flags;
	struct blk_disk *disk;
	unsigned int in_kernel; /* submitted, completion not yet reaped */
	uint64_t backoff_ns;
	int error; /* a failed submission: the ring is unusable from now */
	/* Requests that found no free SQE, failed in the next reap. */
	struct blk_req *failed_head, *failed_tail;
};

/*
 * io_uring submissions bypass seccomp: the ring, made disabled, may only
 * do what submit() asks of it, and with a fixed file only to the disk,
 * before it is enabled.
 */
static int uring_restrict(struct io_uring *ring, unsigned int sqe_flags)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV,
				       IORING_OP_FSYNC, IORING_OP_FALLOCATE };

	return tern_uring_restrict(ring, ops, G_N_ELEMENTS(ops), sqe_flags,
				   false);
}

static int uring_create(struct blk_disk *disk, unsigned int depth,
			void **state)
{
	struct uring_queue *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	u->disk = disk;
	/*
	 * No SQPOLL (it would burn a core of the two we have) and no
	 * COOP/DEFER_TASKRUN: those delay completion task work until the
	 * ring's own task enters the kernel, but we sleep in epoll on the
	 * eventfd, which must fire as soon as a CQE is posted.
	 */
	ret = io_uring_queue_init(depth, &u->ring, IORING_SETUP_R_DISABLED);
	if (ret < 0)
		goto err_free;
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0) {
		ret = -errno;
		goto err_ring;
	}
	ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret < 0)
		goto err_efd;
	/* A fixed file saves an fget/fput per request; optional. */
	if (io_uring_register_files(&u->ring, &disk->fd, 1) == 0) {
		u->fd = 0;
		u->sqe_flags = IOSQE_FIXED_FILE;
	} else {
		u->fd = disk->fd;
	}
	ret = uring_restrict(&u->ring, u->sqe_flags);
	if (ret < 0)
		goto err_efd;
	*state = u;
	return 0;

err_efd:
	close(u->efd);
err_ring:
	io_uring_queue_exit(&u->ring);
err_free:
	free(u);
	return ret;
}

static void uring_submit(void *state, struct blk_req *req)
{
	struct uring_queue *u = state;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	int mode;

	/*
	 * The ring has at least as many SQEs as the queue's depth and every
	 * unconsumed one is a request in flight, so one is free. Should the
	 * layer ever break that, fail this request rather than wait for the
	 * kernel here (it may refuse for a long time).
	 */
	if (!sqe) {
		uint64_t one = 1;

		req->result = -EBUSY;
		req->next = NULL;
		if (u->failed_tail)
			u->failed_tail->next = req;
		else
			u->failed_head = req;
		u->failed_tail = req;
		(void)!write(u->efd, &one, sizeof(one));
		return;
	}
	switch (req->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, u->fd, req->iov, req->iovcnt,
				    req->offset);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, u->fd, req->iov, req->iovcnt,
				     req->offset);
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, u->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		mode = FALLOC_FL_KEEP_SIZE;
		if (req->op == BLK_OP_DISCARD || (req->flags & BLK_REQ_UNMAP))
			mode |= FALLOC_FL_PUNCH_HOLE;
		else
			mode |= FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, u->fd, mode, req->offset,
					req->len);
		break;
	}
	sqe->flags |= u->sqe_flags;
	io_uring_sqe_set_data(sqe, req);
}

static int uring_kick(void *state)
{
	struct uring_queue *u = state;
	uint64_t one = 1;
	int ret;

	if (u->error)
		return u->error;
	if (!io_uring_sq_ready(&u->ring))
		return 0;
	do {
		ret = io_uring_submit(&u->ring);
	} while (ret == -EINTR);
	if (ret > 0) {
		u->in_kernel += ret;
		u->backoff_ns = 0;
	} else if (ret < 0 && ret != -EAGAIN && ret != -EBUSY) {
		u->error = ret;
		return ret;
	}
	/*
	 * -EAGAIN (no memory for requests), -EBUSY (completions to reap
	 * first), or only part of the batch taken: come back after reaping.
	 * The entries stay in the ring and our reap() submits them again.
	 * While requests are in the kernel, their completions wake the
	 * caller for that reap. With none, nothing would: wait a little here,
	 * longer each time, then wake it ourselves. Waking it at once would
	 * make it spin on the refusal.
	 */
	if (!io_uring_sq_ready(&u->ring) || u->in_kernel)
		return 0;
	u->backoff_ns = u->backoff_ns ?
				MIN(u->backoff_ns * 2, URING_BACKOFF_NS_MAX) :
				URING_BACKOFF_NS_MIN;
	{
		struct timespec ts = { 0, (long)u->backoff_ns };

		nanosleep(&ts, NULL);
	}
	(void)!write(u->efd, &one, sizeof(one));
	return 0;
}

static int uring_event_fd(void *state)
{
	struct uring_queue *u = state;

	return u->efd;
}

static unsigned int uring_reap(void *state, struct blk_req **done,
			       unsigned int max)
{
	struct uring_queue *u = state;
	struct io_uring_cqe *cqes[64];
	unsigned int n = 0;

	while (n < max && u->failed_head) {
		struct blk_req *r = u->failed_head;

		u->failed_head = r->next;
		if (!u->failed_head)
			u->failed_tail = NULL;
		r->next = NULL;
		done[n++] = r;
	}
	/*
	 * Entries a refused kick left behind. A failure sticks: the
	 * caller's next kick reports it.
	 */
	if (io_uring_sq_ready(&u->ring))
		(void)!uring_kick(u);
	while (n < max) {
		unsigned int got = io_uring_peek_batch_cqe(
			&u->ring, cqes, MIN(max - n, ARRAY_SIZE(cqes)));

		if (!got)
			break;
		for (unsigned int i = 0; i < got; i++) {
			struct blk_req *req = io_uring_cqe_get_data(cqes[i]);

			req->result = cqes[i]->res;
			done[n++] = req;
		}
		io_uring_cq_advance(&u->ring, got);
		u->in_kernel -= got;
	}
	return n;
}

/* IORING_CQ_EVENTFD_DISABLED (5.8): the kernel skips the eventfd_signal(). */
static void uring_signal(void *state, bool on)
{
	struct uring_queue *u = state;

	(void)io_uring_cq_eventfd_toggle(&u->ring, on);
}

static void uring_destroy(void *state)
{
	struct uring_queue *u = state;

	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
}

const struct blk_engine_ops blk_engine_io_uring = {
	.name = "io_uring",
	.create = uring_create,
	.submit = uring_submit,
	.kick = uring_kick,
	.event_fd = uring_event_fd,
	.reap = uring_reap,
	.signal = uring_signal,
	.destroy = uring_destroy,
};
