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
#include <unistd.h>

#include "tern/block.h"

struct uring_queue {
	struct io_uring ring;
	int efd;
	int fd; /* in SQEs: 0 (the registered file), or the disk's fd */
	unsigned int sqe_flags;
	struct blk_disk *disk;
};

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
	ret = io_uring_queue_init(depth, &u->ring, 0);
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
	 * The ring has as many SQEs as the queue's depth, so one is free
	 * unless a previous kick left entries unconsumed (-EAGAIN): push
	 * those first.
	 */
	while (!sqe) {
		if (io_uring_submit(&u->ring) < 0)
			sched_yield();
		sqe = io_uring_get_sqe(&u->ring);
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
	int ret;

	if (!io_uring_sq_ready(&u->ring))
		return 0;
	do {
		ret = io_uring_submit(&u->ring);
	} while (ret == -EINTR);
	/*
	 * -EAGAIN/-EBUSY: the kernel is short of memory or completions.
	 * The entries stay in the ring; wake the caller, whose next reap
	 * tries again (it may have nothing else that would wake it).
	 */
	if (ret == -EAGAIN || ret == -EBUSY) {
		uint64_t one = 1;

		(void)!write(u->efd, &one, sizeof(one));
		return 0;
	}
	return ret < 0 ? ret : 0;
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

	/* Entries a refused kick left behind. */
	if (io_uring_sq_ready(&u->ring) && uring_kick(u))
		tern_warn("io_uring: cannot submit queued requests");
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
