// SPDX-License-Identifier: MIT
/*
 * virtio-scsi's queues. Commands (the request queue) go through blkvq like
 * virtio-blk's requests: each popped chain is taken apart, checked (LUN,
 * unit attention, CDB, buffer sizes), then answered from memory or handed
 * to its LUN's engine queue; a FUA write and a multi-descriptor UNMAP take
 * more than one engine request. Task management (the control queue) runs
 * on the same I/O thread, so it sees every command in flight: an abort
 * marks them, they are answered ABORTED (or RESET) when their engine
 * request comes back, and the TMF's own answer follows them.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/iov.h"
#include "tern/le.h"

#include "scsi-internal.h"

static struct virtio_scsi *q_scsi(struct blkvq *q)
{
	return q->model;
}

/* ---- task management ---- */

static void tmf_push(struct virtio_scsi *s, struct scsi_tmf *t)
{
	iov_from_buf(t->elem.iov + t->elem.out_num, t->elem.in_num,
		     &t->response, VIRTIO_SCSI_TMF_RESP);
	virtq_push(s->ctrlq, &t->elem, VIRTIO_SCSI_TMF_RESP);
	t->busy = false;
}

void scsi_ctrl_done(struct virtio_scsi *s, uint32_t mask)
{
	bool pushed = false;

	for (unsigned int i = 0; i < SCSI_TMF_MAX; i++) {
		if (!(mask & (1U << i)) || --s->tmf[i].waiting)
			continue;
		tmf_push(s, &s->tmf[i]);
		pushed = true;
	}
	if (pushed)
		virtq_notify(s->ctrlq);
}

/*
 * Mark the commands in flight on lun (NULL: every LUN) with tag (all tags
 * if !by_tag) as aborted with response, to be waited for by TMF t (NULL:
 * only counted). Returns how many there are.
 */
static unsigned int tmf_mark(struct virtio_scsi *s, struct scsi_tmf *t,
			     const struct scsi_lun *lun, bool by_tag,
			     uint64_t tag, uint8_t response)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++) {
		struct scsi_slot *c =
		    (struct scsi_slot *)blkvq_slot_at(&s->reqq, i);

		/*
		 * Busy slots are the commands in an engine: on this thread,
		 * every other one was answered when it was popped.
		 */
		if (!c->base.busy || (lun && c->lun != lun) ||
		    (by_tag && c->r.tag != tag))
			continue;
		n++;
		if (!t)
			continue;
		if (!c->aborted)
			c->aborted = response;
		c->tmf_waiting |= 1U << (t - s->tmf);
	}
	return n;
}

/* One TMF (5.6.6.2.1): its response, and what it waits for in t->waiting. */
static uint8_t tmf_run(struct virtio_scsi *s, struct scsi_tmf *t,
		       uint32_t subtype, const uint8_t *addr, uint64_t tag)
{
	struct scsi_lun *lun = NULL;
	uint8_t target;
	uint16_t l;

	if (!virtio_scsi_lun_decode(addr, &target, &l) || target != 0)
		return VIRTIO_SCSI_S_BAD_TARGET;
	/* CLEAR ACA (no NACA, so never an ACA) and unknown ones, as QEMU. */
	if (subtype == VIRTIO_SCSI_T_TMF_CLEAR_ACA ||
	    subtype > VIRTIO_SCSI_T_TMF_QUERY_TASK_SET)
		return VIRTIO_SCSI_S_FUNCTION_REJECTED;
	if (l <= DISK_SCSI_LUN_MAX)
		lun = s->by_lun[l];
	if (!lun && subtype != VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET)
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	switch (subtype) {
	case VIRTIO_SCSI_T_TMF_ABORT_TASK:
		/* A task that is not there (any more) is aborted too. */
		t->waiting =
		    tmf_mark(s, t, lun, true, tag, VIRTIO_SCSI_S_ABORTED);
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
	case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET:
		t->waiting =
		    tmf_mark(s, t, lun, false, 0, VIRTIO_SCSI_S_ABORTED);
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
		t->waiting = tmf_mark(s, t, lun, false, 0, VIRTIO_SCSI_S_RESET);
		lun->ua = SCSI_SENSE_LUN_RESET;
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
		t->waiting =
		    tmf_mark(s, t, NULL, false, 0, VIRTIO_SCSI_S_RESET);
		for (unsigned int i = 0; i < s->nr_luns; i++)
			s->luns[i].ua = SCSI_SENSE_NEXUS_LOSS;
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case VIRTIO_SCSI_T_TMF_QUERY_TASK:
		return tmf_mark(s, NULL, lun, true, tag, 0)
			   ? VIRTIO_SCSI_S_FUNCTION_SUCCEEDED
			   : VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET:
		return tmf_mark(s, NULL, lun, false, 0, 0)
			   ? VIRTIO_SCSI_S_FUNCTION_SUCCEEDED
			   : VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	default:
		return VIRTIO_SCSI_S_FUNCTION_REJECTED;
	}
}

static uint64_t elem_len(const struct virtq_elem *e, bool in)
{
	return in ? e->in_len : e->out_len;
}

/* One control request popped into t; false: the driver broke the protocol. */
static bool ctrl_run(struct virtio_scsi *s, struct scsi_tmf *t)
{
	struct virtq_elem *e = &t->elem;
	uint8_t req[VIRTIO_SCSI_TMF_REQ], resp[VIRTIO_SCSI_AN_RESP] = {0};
	size_t got = iov_to_buf(e->iov, e->out_num, req, sizeof(req));
	uint32_t type;

	if (got < 4)
		return false;
	type = le32_get(req);
	if (type == VIRTIO_SCSI_T_TMF) {
		if (got < VIRTIO_SCSI_TMF_REQ ||
		    elem_len(e, true) < VIRTIO_SCSI_TMF_RESP)
			return false;
		t->waiting = 0;
		t->response = tmf_run(s, t, le32_get(req + 4), req + 8,
				      le64_get(req + 16));
		t->busy = true;
		if (!t->waiting)
			tmf_push(s, t);
		return true;
	}
	if (type == VIRTIO_SCSI_T_AN_QUERY ||
	    type == VIRTIO_SCSI_T_AN_SUBSCRIBE) {
		if (got < VIRTIO_SCSI_AN_REQ ||
		    elem_len(e, true) < VIRTIO_SCSI_AN_RESP)
			return false;
		/* No asynchronous notification: event_actual 0, response OK. */
		iov_from_buf(e->iov + e->out_num, e->in_num, resp,
			     sizeof(resp));
		virtq_push(s->ctrlq, e, sizeof(resp));
		return true;
	}
	/* Its response layout is unknown: hand it back untouched. */
	tern_debug("virtio-scsi: control request of type %u answered empty",
		   type);
	virtq_push(s->ctrlq, e, 0);
	return true;
}

static struct scsi_tmf *tmf_free(struct virtio_scsi *s)
{
	for (unsigned int i = 0; i < SCSI_TMF_MAX; i++)
		if (!s->tmf[i].busy)
			return &s->tmf[i];
	return NULL;
}

/*
 * Pop while a TMF slot is free (a TMF that must wait keeps its chain
 * there); with all of them waiting, the queue waits for their commands.
 */
void scsi_ctrl_process(struct virtio_scsi *s)
{
	struct scsi_tmf *t;
	bool pushed = false;

	if (!s->ctrl_watched || virtq_broken(s->ctrlq))
		return;
	while ((t = tmf_free(s))) {
		int ret = virtq_pop(s->ctrlq, &t->elem);

		if (ret <= 0)
			break;
		if (!ctrl_run(s, t)) {
			virtio_device_needs_reset(
			    s->vdev,
			    "control queue: a request of %llu+%llu bytes is "
			    "too short for its type",
			    (unsigned long long)t->elem.out_len,
			    (unsigned long long)t->elem.in_len);
			s->ctrl_watched = false;
			break;
		}
		pushed |= !t->busy;
	}
	if (pushed)
		virtq_notify(s->ctrlq);
}

static void ctrl_kicked(void *opaque, uint32_t events)
{
	struct virtio_scsi *s = opaque;
	uint64_t v;

	(void)!read(virtq_kick_fd(s->ctrlq), &v, sizeof(v));
	scsi_ctrl_process(s);
}

int scsi_ctrl_start(struct virtio_scsi *s)
{
	int ret = iothread_add(s->thread, virtq_kick_fd(s->ctrlq), EPOLLIN,
			       ctrl_kicked, s);

	if (ret)
		return ret;
	s->ctrl_watched = true;
	scsi_ctrl_kick(s);
	return 0;
}

void scsi_ctrl_stop(struct virtio_scsi *s)
{
	if (s->ctrlq)
		(void)iothread_del(s->thread, virtq_kick_fd(s->ctrlq));
	s->ctrl_watched = false;
}

void scsi_ctrl_drop(struct virtio_scsi *s)
{
	for (unsigned int i = 0; i < SCSI_TMF_MAX; i++)
		s->tmf[i].busy = false;
}

void scsi_ctrl_kick(struct virtio_scsi *s)
{
	uint64_t one = 1;

	/* Buffers made available without a kick, or while stopped. */
	if (s->ctrl_watched)
		(void)!write(virtq_kick_fd(s->ctrlq), &one, sizeof(one));
}

/* ---- commands ---- */

static void answer(struct blkvq *q, struct scsi_slot *c,
		   const struct virtio_scsi_resp *resp, uint64_t data_in)
{
	uint32_t written =
	    virtio_scsi_put_resp(&c->r, resp) + (uint32_t)data_in;
	uint32_t waiting = c->tmf_waiting;

	blkvq_finish(q, &c->base, written);
	if (waiting)
		scsi_ctrl_done(q_scsi(q), waiting);
}

/* A virtio response without a SCSI status: nothing moved. */
static void answer_response(struct blkvq *q, struct scsi_slot *c,
			    uint8_t response)
{
	struct virtio_scsi_resp resp = {.response = response,
					.resid = (uint32_t)c->r.data_len};

	answer(q, c, &resp, 0);
}

static void answer_check(struct blkvq *q, struct scsi_slot *c,
			 struct scsi_sense sense)
{
	struct virtio_scsi_resp resp = {
	    .status = SCSI_STATUS_CHECK_CONDITION,
	    .resid = (uint32_t)c->r.data_len,
	    .has_sense = true,
	    .sense = sense,
	};

	answer(q, c, &resp, 0);
}

/* GOOD, with moved bytes of the data buffer transferred. */
static void answer_good(struct blkvq *q, struct scsi_slot *c, uint64_t moved)
{
	struct virtio_scsi_resp resp = {
	    .status = SCSI_STATUS_GOOD,
	    .resid = (uint32_t)(c->r.data_len - moved),
	};

	answer(q, c, &resp, c->r.dir == SCSI_DIR_IN ? moved : 0);
}

/* Keep only the first len bytes of a buffer list (len <= its total). */
static void iov_trim(struct iovec *iov, unsigned int *cnt, uint64_t len)
{
	unsigned int i = 0;

	for (; i < *cnt && len; i++) {
		if (iov[i].iov_len >= len) {
			iov[i].iov_len = len;
			len = 0;
		} else {
			len -= iov[i].iov_len;
		}
	}
	*cnt = i;
}

static bool iov_is_zero(const struct iovec *iov, unsigned int cnt, uint64_t len)
{
	for (unsigned int i = 0; i < cnt && len; i++) {
		const uint8_t *p = iov[i].iov_base;
		uint64_t n = MIN(len, (uint64_t)iov[i].iov_len);

		for (uint64_t k = 0; k < n; k++)
			if (p[k])
				return false;
		len -= n;
	}
	return true;
}

static void submit(struct blkvq *q, struct scsi_slot *c, enum blk_op op,
		   unsigned int flags, uint64_t lba, uint64_t nblocks)
{
	uint32_t bs = c->lun->info.block_size;

	c->base.req = (struct blk_req){
	    .op = op,
	    .flags = flags,
	    .offset = lba * bs,
	    .len = nblocks * bs,
	    .opaque = &c->base,
	};
	if (op == BLK_OP_READ || op == BLK_OP_WRITE) {
		c->base.req.iov = c->r.data;
		c->base.req.iovcnt = c->r.data_cnt;
	}
	blkvq_submit(q, &c->base, c->lun->engine);
}

static void unmap_next(struct blkvq *q, struct scsi_slot *c)
{
	const struct scsi_unmap_desc *d = &c->unmap[c->unmap_next++];

	c->stage =
	    c->unmap_next < c->unmap_n ? SCSI_STAGE_UNMAP : SCSI_STAGE_DONE;
	submit(q, c, BLK_OP_DISCARD, 0, d->lba, d->nblocks);
}

static void start_unmap(struct blkvq *q, struct scsi_slot *c)
{
	uint8_t param[SCSI_UNMAP_PARAM_MAX];
	struct scsi_sense sense;

	if (!c->cmd.xfer) {
		answer_good(q, c, 0);
		return;
	}
	iov_to_buf(c->r.data, c->r.data_cnt, param,
		   MIN(c->cmd.xfer, (uint64_t)sizeof(param)));
	if (!scsi_unmap_parse(param, c->cmd.xfer, &c->lun->info, c->unmap,
			      &c->unmap_n, &sense)) {
		answer_check(q, c, sense);
		return;
	}
	c->unmap_next = 0;
	if (!c->unmap_n)
		answer_good(q, c, c->cmd.xfer);
	else
		unmap_next(q, c);
}

/*
 * WRITE SAME of a block of zeroes (or no data-out buffer) is a write
 * zeroes, a hole punch with UNMAP. Any other pattern would have to be
 * written block by block; Linux never asks for it, nor do we offer it.
 */
static void start_write_same(struct blkvq *q, struct scsi_slot *c)
{
	const struct scsi_cmd *cmd = &c->cmd;

	if (!cmd->ndob && !iov_is_zero(c->r.data, c->r.data_cnt, cmd->xfer)) {
		answer_check(q, c, SCSI_SENSE_INVALID_FIELD);
		return;
	}
	submit(q, c, BLK_OP_WRITE_ZEROES, cmd->unmap ? BLK_REQ_UNMAP : 0,
	       cmd->lba, cmd->nblocks);
}

static void start_emulated(struct blkvq *q, struct scsi_slot *c)
{
	struct virtio_scsi *s = q_scsi(q);
	struct scsi_lun *lun = c->lun;
	struct scsi_sense sense;
	size_t len, n;

	if (!scsi_emulate(&c->cmd, lun ? &lun->info : NULL, &s->target,
			  lun ? lun->ua : SCSI_SENSE_NONE, s->emu, &len,
			  &sense)) {
		answer_check(q, c, sense);
		return;
	}
	/* REQUEST SENSE reported the unit attention: it is cleared. */
	if (lun && c->cmd.kind == SCSI_KIND_REQUEST_SENSE)
		lun->ua = SCSI_SENSE_NONE;
	n = MIN(len, (size_t)c->cmd.xfer);
	iov_from_buf(c->r.data, c->r.data_cnt, s->emu, n);
	answer_good(q, c, n);
}

/* The driver's cdb_size and sense_size (a vCPU may write them). */
static uint32_t cfg_get(const uint32_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static void scsi_slot_start(struct blkvq *q, struct blkvq_slot *base)
{
	static const struct scsi_lun_info absent = {.block_size = 512};
	struct scsi_slot *c = (struct scsi_slot *)base;
	struct virtio_scsi *s = q_scsi(q);
	struct virtio_scsi_req *r = &c->r;
	struct scsi_sense sense;
	bool exempt;
	int ret;

	c->lun = NULL;
	c->aborted = 0;
	c->tmf_waiting = 0;
	c->stage = SCSI_STAGE_DONE;
	c->fallback = false;
	ret = virtio_scsi_parse_req(base->elem.iov, base->elem.out_num,
				    base->elem.in_num, cfg_get(&s->cdb_size),
				    cfg_get(&s->sense_size), r);
	if (ret < 0) {
		blkvq_fail(q, base,
			   "a command without room for a response header");
		return;
	}
	if (ret != VIRTIO_SCSI_S_OK || !r->lun_ok) {
		answer_response(q, c, ret ? ret : VIRTIO_SCSI_S_BAD_TARGET);
		return;
	}
	if (r->lun <= DISK_SCSI_LUN_MAX)
		c->lun = s->by_lun[r->lun];
	exempt = r->cdb_len && scsi_ua_exempt(r->cdb[0]);
	/* SAM-5 5.14: the unit attention first, reported once. */
	if (c->lun && c->lun->ua.key && !exempt) {
		sense = c->lun->ua;
		c->lun->ua = SCSI_SENSE_NONE;
		answer_check(q, c, sense);
		return;
	}
	if (!c->lun && !exempt) {
		answer_check(q, c, SCSI_SENSE_LUN_NOT_SUPPORTED);
		return;
	}
	if (!scsi_cdb_parse(r->cdb, r->cdb_len,
			    c->lun ? &c->lun->info : &absent, &c->cmd,
			    &sense)) {
		answer_check(q, c, sense);
		return;
	}
	/* The CDB moves more than the buffer holds, or the other way. */
	if (c->cmd.dir != SCSI_DIR_NONE &&
	    (c->cmd.dir != r->dir || c->cmd.xfer > r->data_len)) {
		answer_response(q, c, VIRTIO_SCSI_S_OVERRUN);
		return;
	}
	if (c->cmd.dir != SCSI_DIR_NONE)
		iov_trim(r->data, &r->data_cnt, c->cmd.xfer);
	switch (c->cmd.kind) {
	case SCSI_KIND_READ:
	case SCSI_KIND_WRITE:
		if (!c->cmd.nblocks) {
			answer_good(q, c, 0);
			return;
		}
		if (c->cmd.kind == SCSI_KIND_WRITE && c->cmd.fua)
			c->stage = SCSI_STAGE_FLUSH;
		submit(q, c,
		       c->cmd.kind == SCSI_KIND_READ ? BLK_OP_READ
						     : BLK_OP_WRITE,
		       0, c->cmd.lba, c->cmd.nblocks);
		return;
	case SCSI_KIND_SYNCHRONIZE_CACHE:
		submit(q, c, BLK_OP_FLUSH, 0, 0, 0);
		return;
	case SCSI_KIND_UNMAP:
		start_unmap(q, c);
		return;
	case SCSI_KIND_WRITE_SAME:
		start_write_same(q, c);
		return;
	default:
		start_emulated(q, c);
		return;
	}
}

static struct scsi_sense error_sense(const struct blk_req *req)
{
	if (req->result == -ENOSPC || req->result == -EDQUOT)
		return SCSI_SENSE_SPACE_ALLOC_FAILED;
	if (req->result == -EROFS)
		return SCSI_SENSE_WRITE_PROTECTED;
	return req->op == BLK_OP_READ ? SCSI_SENSE_READ_ERROR
				      : SCSI_SENSE_WRITE_ERROR;
}

static void scsi_slot_complete(struct blkvq *q, struct blkvq_slot *base)
{
	struct scsi_slot *c = (struct scsi_slot *)base;
	struct blk_req *req = &base->req;
	bool ok = req->result >= 0;

	/* A read that failed or was aborted may have written some data. */
	if (req->op == BLK_OP_READ && (!ok || c->aborted))
		guest_memory_mark_dirty_iov((*q->vdev)->mem, c->r.data,
					    c->r.data_cnt, c->cmd.xfer);
	if (c->aborted) {
		answer_response(q, c, c->aborted);
		return;
	}
	if (!ok) {
		/*
		 * WRITE SAME: where the file system cannot punch holes,
		 * zeroes read back as zeroes all the same; where it cannot
		 * zero a range, a hole does.
		 */
		if (req->op == BLK_OP_WRITE_ZEROES &&
		    req->result == -EOPNOTSUPP && !c->fallback) {
			c->fallback = true;
			req->flags ^= BLK_REQ_UNMAP;
			blkvq_submit(q, base, base->engine);
			return;
		}
		/* UNMAP is a hint: without hole punching the data stays. */
		if (!(req->op == BLK_OP_DISCARD &&
		      req->result == -EOPNOTSUPP)) {
			tern_debug(
			    "virtio-scsi: LUN %u: op %d at %llu+%llu: %s",
			    c->lun->info.lun, req->op,
			    (unsigned long long)req->offset,
			    (unsigned long long)req->len,
			    g_strerror((int)-req->result));
			answer_check(q, c, error_sense(req));
			return;
		}
	}
	switch (c->stage) {
	case SCSI_STAGE_FLUSH:
		c->stage = SCSI_STAGE_DONE;
		submit(q, c, BLK_OP_FLUSH, 0, 0, 0);
		return;
	case SCSI_STAGE_UNMAP:
		unmap_next(q, c);
		return;
	case SCSI_STAGE_DONE:
		break;
	}
	answer_good(q, c, c->cmd.xfer);
}

const struct blkvq_ops scsi_vq_ops = {
    .start = scsi_slot_start,
    .complete = scsi_slot_complete,
};
