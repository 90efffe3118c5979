// SPDX-License-Identifier: MIT
/*
 * The Linux AIO engine (libaio), for O_DIRECT disks (the parser makes
 * engine=aio imply cache=none: on the page cache io_submit() blocks).
 * Reads, writes and fdatasync (IOCB_CMD_FDSYNC, Linux 4.18) go through one
 * io_submit() per kick, completions signal an eventfd (io_set_eventfd).
 * Linux AIO has no fallocate: DISCARD and WRITE_ZEROES run synchronously
 * in the submitting thread, as does a flush on kernels without aio fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tern/block.h"

/* As io_uring.c: how long to wait out a refusal with none in flight. */
#define AIO_BACKOFF_NS_MIN (50 * 1000)
#define AIO_BACKOFF_NS_MAX (10 * 1000 * 1000)

struct aio_queue {
	io_context_t ctx;
	int efd;
	struct blk_disk *disk;
	unsigned int depth;
	struct iocb *iocbs;
	struct iocb **free; /* a stack of unused iocbs */
	unsigned int nfree;
	struct iocb **pending; /* prepared, not yet accepted by io_submit */
	unsigned int npending;
	struct io_event *events;
	/* Finished without the kernel's AIO (fallocate, or submit errors). */
	struct blk_req *done_head, *done_tail;
	bool no_aio_fsync;
	uint64_t backoff_ns;
};

static int aio_create(struct blk_disk *disk, unsigned int depth, void **state)
{
	struct aio_queue *a = calloc(1, sizeof(*a));
	int ret;

	if (!a)
		return -ENOMEM;
	a->disk = disk;
	a->depth = depth;
	a->iocbs = calloc(depth, sizeof(*a->iocbs));
	a->free = calloc(depth, sizeof(*a->free));
	a->pending = calloc(depth, sizeof(*a->pending));
	a->events = calloc(depth, sizeof(*a->events));
	if (!a->iocbs || !a->free || !a->pending || !a->events) {
		ret = -ENOMEM;
		goto err_free;
	}
	for (unsigned int i = 0; i < depth; i++)
		a->free[a->nfree++] = &a->iocbs[i];
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		ret = -errno;
		goto err_free;
	}
	/* libaio returns -errno itself. */
	ret = io_setup(depth, &a->ctx);
	if (ret < 0)
		goto err_efd;
	*state = a;
	return 0;

err_efd:
	close(a->efd);
err_free:
	free(a->iocbs);
	free(a->free);
	free(a->pending);
	free(a->events);
	free(a);
	return ret;
}

static void aio_done_now(struct aio_queue *a, struct blk_req *req,
			 int64_t result)
{
	uint64_t one = 1;

	req->result = result;
	req->next = NULL;
	if (a->done_tail)
		a->done_tail->next = req;
	else
		a->done_head = req;
	a->done_tail = req;
	/* Whoever sleeps on the eventfd must see this one too. */
	(void)!write(a->efd, &one, sizeof(one));
}

static int64_t aio_sync_op(struct aio_queue *a, struct blk_req *req)
{
	int mode = FALLOC_FL_KEEP_SIZE;

	if (req->op == BLK_OP_FLUSH)
		return fdatasync(a->disk->fd) < 0 ? -errno : 0;
	if (req->op == BLK_OP_DISCARD || (req->flags & BLK_REQ_UNMAP))
		mode |= FALLOC_FL_PUNCH_HOLE;
	else
		mode |= FALLOC_FL_ZERO_RANGE;
	while (fallocate(a->disk->fd, mode, req->offset, req->len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void aio_submit(void *state, struct blk_req *req)
{
	struct aio_queue *a = state;
	struct iocb *iocb;
	int fd = a->disk->fd;

	if (req->op == BLK_OP_DISCARD || req->op == BLK_OP_WRITE_ZEROES ||
	    (req->op == BLK_OP_FLUSH && a->no_aio_fsync)) {
		aio_done_now(a, req, aio_sync_op(a, req));
		return;
	}
	/* The layer keeps at most depth requests in flight. */
	iocb = a->free[--a->nfree];
	switch (req->op) {
	case BLK_OP_READ:
		io_prep_preadv(iocb, fd, req->iov, req->iovcnt, req->offset);
		break;
	case BLK_OP_WRITE:
		io_prep_pwritev(iocb, fd, req->iov, req->iovcnt, req->offset);
		break;
	default:
		io_prep_fdsync(iocb, fd);
		break;
	}
	io_set_eventfd(iocb, a->efd);
	iocb->data = req;
	a->pending[a->npending++] = iocb;
}

static void aio_release(struct aio_queue *a, struct iocb *iocb)
{
	a->free[a->nfree++] = iocb;
}

static void aio_backoff(struct aio_queue *a)
{
	struct timespec ts;
	uint64_t one = 1;

	a->backoff_ns = a->backoff_ns ?
				MIN(a->backoff_ns * 2, AIO_BACKOFF_NS_MAX) :
				AIO_BACKOFF_NS_MIN;
	ts = (struct timespec){ 0, (long)a->backoff_ns };
	nanosleep(&ts, NULL);
	(void)!write(a->efd, &one, sizeof(one));
}

static int aio_kick(void *state)
{
	struct aio_queue *a = state;
	unsigned int start = 0;

	while (start < a->npending) {
		int ret = io_submit(a->ctx, a->npending - start,
				    a->pending + start);

		if (ret > 0) {
			start += ret;
			a->backoff_ns = 0;
			continue;
		}
		if (ret == -EINTR)
			continue;
		if (ret == -EAGAIN || ret == 0) {
			/*
			 * Keep the rest; our reap() retries. Completions of
			 * iocbs in the kernel wake the caller for it; with
			 * none there, back off, then wake it ourselves (at
			 * once would make it spin on the refusal).
			 */
			if (a->nfree + a->npending - start == a->depth)
				aio_backoff(a);
			break;
		}
		/*
		 * The first iocb was refused. A kernel without aio fsync
		 * says -EINVAL to FDSYNC: do flushes synchronously from now.
		 * Anything else fails that one request only.
		 */
		{
			struct iocb *bad = a->pending[start++];
			struct blk_req *req = bad->data;

			aio_release(a, bad);
			if (bad->aio_lio_opcode == IO_CMD_FDSYNC &&
			    ret == -EINVAL) {
				a->no_aio_fsync = true;
				aio_done_now(a, req, aio_sync_op(a, req));
			} else {
				aio_done_now(a, req, ret);
			}
		}
	}
	if (start) {
		memmove(a->pending, a->pending + start,
			(a->npending - start) * sizeof(*a->pending));
		a->npending -= start;
	}
	return 0;
}

static int aio_event_fd(void *state)
{
	struct aio_queue *a = state;

	return a->efd;
}

static unsigned int aio_reap(void *state, struct blk_req **done,
			     unsigned int max)
{
	struct aio_queue *a = state;
	struct timespec zero = { 0, 0 };
	unsigned int n = 0;
	int got;

	/* iocbs a refused io_submit() left behind. */
	if (a->npending)
		(void)aio_kick(a);

	while (n < max && a->done_head) {
		struct blk_req *r = a->done_head;

		a->done_head = r->next;
		if (!a->done_head)
			a->done_tail = NULL;
		done[n++] = r;
	}
	if (n == max || a->nfree + a->npending == a->depth)
		return n; /* nothing in the kernel */
	do {
		got = io_getevents(a->ctx, 0, MIN(max - n, a->depth), a->events,
				   &zero);
	} while (got == -EINTR);
	for (int i = 0; i < got; i++) {
		struct iocb *iocb = a->events[i].obj;
		struct blk_req *req = iocb->data;
		/* res is the byte count or -errno, as a long. */
		long res = (long)a->events[i].res;

		req->result = res;
		aio_release(a, iocb);
		done[n++] = req;
	}
	return n;
}

static void aio_destroy(void *state)
{
	struct aio_queue *a = state;

	io_destroy(a->ctx);
	close(a->efd);
	free(a->iocbs);
	free(a->free);
	free(a->pending);
	free(a->events);
	free(a);
}

const struct blk_engine_ops blk_engine_aio = {
	.name = "aio",
	.create = aio_create,
	.submit = aio_submit,
	.kick = aio_kick,
	.event_fd = aio_event_fd,
	.reap = aio_reap,
	.destroy = aio_destroy,
};
