// SPDX-License-Identifier: MIT
/*
 * virtio-blk's requests: what to do with a chain blkvq popped (answer it
 * at once, or hand it to the queue's engine) and with a request the engine
 * finished. The batching, polling and life cycle around them are blkvq's
 * (blkvq.c), shared with virtio-scsi.
 */
#include <errno.h>

#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/iov.h"

#include "blk-internal.h"

static struct virtio_blk *q_blk(struct blkvq *q)
{
	return q->model;
}

/* Answer the driver: status byte, used ring. The notify comes per batch. */
static void blk_slot_finish(struct blkvq *q, struct blk_slot *s,
			    uint8_t status)
{
	*s->status = status;
	/*
	 * Mark it for migration (dirty.h) ourselves: virtq_push() marks from
	 * the chain's buffers, and the parse cut the status byte off them
	 * (a failure's used length 1 would not reach it either). Unmarked,
	 * a page the driver last wrote (status 0xff, say) went to the
	 * destination as it was, and its driver saw a completion with the
	 * old status: migration.sh's "I/O in flight" case, 1 run in 4 under
	 * ASan.
	 */
	guest_memory_mark_dirty_hva((*q->vdev)->mem, s->status, 1);
	blkvq_finish(q, &s->base, status == VIRTIO_BLK_S_OK ? s->written : 1);
}

static void blk_get_id(struct blkvq *q, struct blk_slot *s,
		       const struct virtio_blk_parsed *p)
{
	iov_from_buf(p->iov, p->iovcnt, q_blk(q)->disk->serial, p->len);
	s->written = p->written;
	blk_slot_finish(q, s, VIRTIO_BLK_S_OK);
}

/* A chain was popped into s: answer it now or hand it to the back-end. */
static void blk_slot_start(struct blkvq *q, struct blkvq_slot *base)
{
	struct blk_slot *s = (struct blk_slot *)base;
	struct virtio_blk_parsed p;
	int st = virtio_blk_parse(base->elem.iov, base->elem.out_num,
				  base->elem.in_num, &q_blk(q)->limits, &p);

	if (st < 0) {
		/* Nowhere to put a status: the driver broke the protocol. */
		blkvq_fail(q, base,
			   "a request without a device-writable status byte");
		return;
	}
	s->status = p.status;
	s->written = p.written;
	if (st != VIRTIO_BLK_S_OK) {
		tern_debug("virtio-blk: queue %u: request type %u answered with status %d",
			   q->index, p.type, st);
		blk_slot_finish(q, s, st);
		return;
	}
	if (p.type == VIRTIO_BLK_T_GET_ID) {
		blk_get_id(q, s, &p);
		return;
	}
	s->zero_fallback = false;
	base->req = (struct blk_req){
		.op = p.op,
		.flags = p.flags,
		.offset = p.offset,
		.len = p.len,
		.iov = p.iov,
		.iovcnt = p.iovcnt,
		.opaque = base,
	};
	blkvq_submit(q, base, 0);
}

/* The back-end finished s->req. */
static void blk_slot_complete(struct blkvq *q, struct blkvq_slot *base)
{
	struct blk_slot *s = (struct blk_slot *)base;
	struct blk_req *r = &base->req;
	uint8_t status = VIRTIO_BLK_S_OK;

	if (r->result < 0) {
		/*
		 * Without FALLOC_FL_ZERO_RANGE (tmpfs, some network file
		 * systems) a hole still reads back as zeroes, which is what
		 * write zeroes promises; only the space is not kept.
		 */
		if (r->op == BLK_OP_WRITE_ZEROES && r->result == -EOPNOTSUPP &&
		    !(r->flags & BLK_REQ_UNMAP) && !s->zero_fallback) {
			s->zero_fallback = true;
			r->flags |= BLK_REQ_UNMAP;
			blkvq_submit(q, base, 0);
			return;
		}
		/* Discard is a hint: without hole punching, keep the data. */
		if (r->op == BLK_OP_DISCARD && r->result == -EOPNOTSUPP) {
			status = VIRTIO_BLK_S_OK;
		} else {
			status = VIRTIO_BLK_S_IOERR;
			tern_debug("virtio-blk: queue %u: op %d at %llu+%llu: %s",
				   q->index, r->op,
				   (unsigned long long)r->offset,
				   (unsigned long long)r->len,
				   g_strerror((int)-r->result));
		}
	}
	blk_slot_finish(q, s, status);
}

const struct blkvq_ops blk_vq_ops = {
	.start = blk_slot_start,
	.complete = blk_slot_complete,
};
