// SPDX-License-Identifier: MIT
/*
 * The outgoing side's connection: connecting and greeting, the return
 * path (its thread and its step per frame: READY answered with GO, DONE,
 * ERROR, page requests, RECEIVED), waiting for what the destination must
 * say, and why a link ended. The migration thread's course is source.c.
 */
#include <errno.h>
#include <string.h>

#include "tern/error.h"
#include "source.h"

#define MIG_READY_TIMEOUT_NS (60ULL * 1000 * 1000 * 1000)

void out_rp_frame(struct mig_out *o, const struct mig_frame_header *h,
		  const uint8_t *p, uint8_t *rp_frame)
{
	struct migration *m = o->m;
	int ret;

	if (h->type == MIG_RP_READY) {
		/*
		 * GO from here, at once: the guest's downtime should not wait
		 * for the migration thread to be scheduled. From GO on the
		 * guest is the destination's.
		 */
		if (o->go_armed && !o->cancel) {
			o->go_ret = mig_chan_send_buf(o->ch, MIG_FRAME_GO, NULL, 0);
			o->stats.run_ns = tern_now_ns();
		}
		o->rp_ready = true;
	} else if (h->type == MIG_RP_DONE) {
		o->rp_done = true;
	} else if (h->type == MIG_RP_ERROR) {
		mig_rp_error_text(o->rp_error, sizeof(o->rp_error), p, h->len);
	} else if (h->type == MIG_RP_REQUEST) {
		for (size_t i = 0; i + 16 <= h->len; i += 16) {
			struct mig_request r = {
				.gpa = GUINT64_FROM_LE(*(const uint64_t *)(p + i)),
				.npages = GUINT32_FROM_LE(*(const uint32_t *)(p + i + 8)),
			};

			/*
			 * A request inside a page is no page: served, it
			 * became a record at that address, which the
			 * destination refuses (the guest there then dies).
			 */
			if (!r.npages || r.npages > 512 ||
			    r.gpa % GUEST_PAGE_SIZE)
				continue;
			/*
			 * Served from here when the sender is in its post-copy
			 * stream: a faulting guest waits for no other thread
			 * to be scheduled.
			 */
			if (o->rp_serves) {
				pthread_mutex_unlock(&m->lock);
				ret = mig_ram_serve_request(o, r.gpa, r.npages,
							    rp_frame);
				pthread_mutex_lock(&m->lock);
				if (ret)
					mig_chan_shutdown(o->ch);
			} else {
				g_array_append_val(o->requests, r);
			}
		}
	} else if (h->type == MIG_RP_RECEIVED && !o->rp_received) {
		size_t at = 0;

		for (unsigned int r = 0; r < o->received.nr; r++) {
			size_t n = mig_bitmap_bytes(&o->received, r);

			if (at + n > h->len)
				break;
			memcpy(o->received.bits[r], p + at, n);
			at += n;
		}
		o->rp_received = at == h->len;
	}
}

/* The return path: what the destination says, for the sender. */
static void *out_rp_thread(void *opaque)
{
	struct mig_out *o = opaque;
	struct migration *m = o->m;
	struct mig_chan *ch = o->ch;
	struct mig_frame_header h;
	g_autoptr(GError) err = NULL;
	g_autofree uint8_t *rp_frame = g_malloc(MIG_RP_FRAME_CAP);

	while (mig_chan_recv(ch, &h, &err)) {
		pthread_mutex_lock(&m->lock);
		out_rp_frame(o, &h, ch->payload, rp_frame);
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		g_clear_error(&err);
	}
	pthread_mutex_lock(&m->lock);
	o->rp_broken = true;
	g_strlcpy(o->rp_why, err ? err->message : "closed", sizeof(o->rp_why));
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static bool out_rp_start(struct mig_out *o, GError **err)
{
	int ret = mig_job_start(&o->m->workers, &o->rp_job, out_rp_thread, o);

	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot start the return-path thread: %s",
			    g_strerror(-ret));
		return false;
	}
	o->rp_live = true;
	return true;
}

/* Close the connection: the return-path thread ends with it. */
void out_disconnect(struct mig_out *o)
{
	struct mig_chan *ch;

	pthread_mutex_lock(&o->m->lock);
	ch = o->ch;
	pthread_mutex_unlock(&o->m->lock);
	if (!ch)
		return;
	mig_chan_shutdown(ch);
	if (o->rp_live)
		mig_job_join(&o->m->workers, &o->rp_job);
	o->rp_live = false;
	pthread_mutex_lock(&o->m->lock);
	o->ch = NULL;
	o->rp_broken = false;
	o->rp_serves = false;
	pthread_mutex_unlock(&o->m->lock);
	mig_chan_free(ch);
}

/* Connect, greet, start listening to the destination. */
bool out_connect(struct mig_out *o, const struct migration_uri *u,
		 const struct addrinfo *addrs, uint32_t flags, GError **err)
{
	struct mig_chan *ch = mig_connect(u, addrs, err);
	struct mig_hello h;
	g_autofree uint8_t *hello = NULL;
	size_t len;
	int ret;

	if (!ch)
		return false;
	mig_hello_from_vm(o->vm, o->session, flags, &h);
	hello = mig_hello_encode(&h, &len);
	mig_hello_clear(&h);
	ret = mig_chan_send_preamble(ch);
	if (!ret)
		ret = mig_chan_send_buf(ch, MIG_FRAME_HELLO, hello, len);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "Unable to write to socket: %s", g_strerror(-ret));
		mig_chan_free(ch);
		return false;
	}
	pthread_mutex_lock(&o->m->lock);
	o->ch = ch;
	o->rp_ready = o->rp_done = o->rp_broken = o->rp_received = false;
	o->rp_error[0] = o->rp_why[0] = 0;
	g_array_set_size(o->requests, 0);
	pthread_mutex_unlock(&o->m->lock);
	return out_rp_start(o, err);
}

/* Why the transfer stopped: cancel, the destination's word, or the link. */
void out_link_error(struct mig_out *o, int ret, GError **err)
{
	uint64_t deadline = tern_now_ns() + 500 * 1000 * 1000ULL;

	pthread_mutex_lock(&o->m->lock);
	/* The destination may be saying why it hung up: let it finish. */
	while (o->rp_live && !o->rp_broken && !o->rp_error[0] && !o->cancel &&
	       tern_now_ns() < deadline)
		mig_wait_locked(o->m, deadline);
	if (o->rp_error[0])
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s", o->rp_error);
	else if (o->cancel)
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "cancelled");
	else
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "Unable to write to socket: %s",
			    g_strerror(ret == -EINTR ? EPIPE : -ret));
	pthread_mutex_unlock(&o->m->lock);
}

/* Wait until the destination said what done asks for, or gave up. */
bool out_wait_rp(struct mig_out *o, bool *flag, GError **err)
{
	struct migration *m = o->m;
	uint64_t deadline = tern_now_ns() + MIG_READY_TIMEOUT_NS;
	bool ok;

	pthread_mutex_lock(&m->lock);
	while (!*flag && !mig_out_should_stop_locked(o) && !o->rp_error[0] &&
	       tern_now_ns() < deadline)
		mig_wait_locked(m, deadline);
	ok = *flag;
	pthread_mutex_unlock(&m->lock);
	if (!ok && tern_now_ns() >= deadline)
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "the destination did not answer within %llu s",
			    MIG_READY_TIMEOUT_NS / 1000000000ULL);
	else if (!ok)
		out_link_error(o, -EPIPE, err);
	return ok;
}
