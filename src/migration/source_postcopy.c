// SPDX-License-Identifier: MIT
/*
 * The outgoing side's post-copy: the switch to it (stop, discard what went
 * stale on the destination, send the state, let it run), the background
 * stream with the destination's page requests served first, and recovery
 * after the link breaks: both sides pause; `migrate {"resume": true}`
 * reconnects, the destination says which pages it has, and exactly the
 * others are sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "tern/error.h"
#include "source.h"

/* Stop, discard what went stale, send the state, let the destination run. */
bool out_start_postcopy(struct mig_out *o, GError **err)
{
	g_autofree uint64_t *ranges = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	out_set_status(o, MIGRATION_POSTCOPY_ACTIVE);
	o->stats.stop_ns = tern_now_ns();
	if (!out_stop_vm(o, err))
		return false;
	o->phase = MIG_PHASE_DOWNTIME;
	mig_ram_throttle_off(o);
	tern_debug("migration: post-copy: stopped in %llu us",
		   (unsigned long long)(tern_now_ns() - o->stats.stop_ns) / 1000);
	if (mig_ram_sync(o) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot read the dirty log");
		return false;
	}
	/* Every page left to send may be stale there: discard them all. */
	for (unsigned int r = 0; r < o->todo.nr; r++) {
		for (uint64_t p = 0; p < o->todo.pages[r]; p++) {
			uint64_t start = p;

			if (!mig_bitmap_test(&o->todo, r, p))
				continue;
			while (p + 1 < o->todo.pages[r] &&
			       mig_bitmap_test(&o->todo, r, p + 1))
				p++;
			if (n + 2 > cap) {
				cap = MAX(cap * 2, (size_t)512);
				ranges = g_renew(uint64_t, ranges, cap);
			}
			ranges[n++] = GUINT64_TO_LE(o->todo.gpa[r] +
						    (start << GUEST_PAGE_SHIFT));
			ranges[n++] = GUINT64_TO_LE((p - start + 1) << GUEST_PAGE_SHIFT);
		}
	}
	for (size_t i = 0; !ret && i < n; i += 65536)
		ret = mig_chan_send_buf(o->ch, MIG_FRAME_DISCARD, ranges + i,
					MIN(n - i, (size_t)65536) * 8);
	if (!ret)
		ret = mig_chan_send_buf(o->ch, MIG_FRAME_POSTCOPY_LISTEN, NULL, 0);
	if (!ret)
		ret = mig_chan_send_buf(o->ch, MIG_FRAME_STATE, o->state,
					o->state_len);
	if (!ret)
		ret = mig_chan_send_buf(o->ch, MIG_FRAME_POSTCOPY_RUN, NULL, 0);
	if (ret) {
		out_link_error(o, ret, err);
		return false;
	}
	tern_debug("migration: post-copy: %zu ranges discarded, running at %llu us",
		   n / 2, (unsigned long long)(tern_now_ns() - o->stats.stop_ns) / 1000);
	o->phase = MIG_PHASE_POSTCOPY;
	o->dest_running = true;
	pthread_mutex_lock(&o->m->lock);
	o->rp_serves = true;
	pthread_mutex_unlock(&o->m->lock);
	pthread_mutex_lock(&o->m->lock);
	o->stats.run_ns = tern_now_ns(); /* downtime, as seen from here */
	pthread_mutex_unlock(&o->m->lock);
	return true;
}

/*
 * Paused: why, in query-migrate's error-desc and on stderr (a user
 * waiting on postcopy-paused must see what broke, and why a resume did
 * not take), until post-copy runs again.
 */
static void G_GNUC_PRINTF(2, 3)
out_postcopy_pause(struct mig_out *o, const char *fmt, ...)
{
	g_autofree char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&o->m->lock);
	g_strlcpy(o->error, why, sizeof(o->error));
	pthread_mutex_unlock(&o->m->lock);
	tern_warn("migration: %s", why);
	out_set_status(o, MIGRATION_POSTCOPY_PAUSED);
}

/* After a post-copy link break: wait for `migrate resume`, reconnect. */
static bool out_postcopy_recover(struct mig_out *o, int ret, GError **err)
{
	struct migration *m = o->m;
	struct migration_uri u;
	struct addrinfo *addrs;
	char rp_why[sizeof(o->rp_why)];
	bool ok;

	/* The return-path thread has ended (and said why) once joined. */
	out_disconnect(o);
	pthread_mutex_lock(&m->lock);
	g_strlcpy(rp_why, o->rp_why[0] ? o->rp_why : "shut down", sizeof(rp_why));
	pthread_mutex_unlock(&m->lock);
	if (ret && ret != -EINTR)
		out_postcopy_pause(o, "the link broke in post-copy: Unable to write to socket: %s",
				   g_strerror(-ret));
	else
		out_postcopy_pause(o, "the link broke in post-copy: the return path: %s",
				   rp_why);
	for (;;) {
		pthread_mutex_lock(&m->lock);
		while (!o->resume_req && !m->exiting)
			mig_wait_locked(m, 0);
		if (m->exiting) {
			pthread_mutex_unlock(&m->lock);
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "tern is exiting");
			return false;
		}
		o->resume_req = false;
		u = o->resume_uri;
		memset(&o->resume_uri, 0, sizeof(o->resume_uri));
		addrs = o->resume_addrs;
		o->resume_addrs = NULL;
		pthread_mutex_unlock(&m->lock);
		out_set_status(o, MIGRATION_POSTCOPY_RECOVER);
		ok = out_connect(o, &u, addrs, MIG_HELLO_RESUME, err) &&
		     out_wait_rp(o, &o->rp_received, err);
		if (addrs)
			freeaddrinfo(addrs);
		if (ok)
			break;
		migration_uri_clear(&u);
		out_disconnect(o);
		out_postcopy_pause(o, "resuming failed: %s", (*err)->message);
		g_clear_error(err);
	}
	migration_uri_clear(&u);
	/* Exactly what the destination lacks: no page lost, none twice. */
	pthread_mutex_lock(&m->lock);
	for (unsigned int r = 0; r < o->todo.nr; r++)
		for (size_t w = 0; w < mig_bitmap_bytes(&o->todo, r) / sizeof(long); w++)
			o->todo.bits[r][w] = ~o->received.bits[r][w];
	pthread_mutex_unlock(&m->lock);
	/* Bits past the last page must not count. */
	for (unsigned int r = 0; r < o->todo.nr; r++)
		for (uint64_t p = o->todo.pages[r];
		     p < mig_bitmap_bytes(&o->todo, r) * 8; p++)
			o->todo.bits[r][p / (8 * sizeof(long))] &=
				~(1UL << (p % (8 * sizeof(long))));
	pthread_mutex_lock(&m->lock);
	o->rp_serves = true;
	o->error[0] = 0;
	pthread_mutex_unlock(&m->lock);
	out_set_status(o, MIGRATION_POSTCOPY_ACTIVE);
	return true;
}

bool out_run_postcopy(struct mig_out *o, GError **err)
{
	struct migration *m = o->m;
	int ret;

	for (;;) {
		ret = mig_ram_send_todo(o, false);
		if (!ret)
			ret = mig_ram_send_end(o);
		/* Done: answer late requests (none will find a page to send). */
		pthread_mutex_lock(&m->lock);
		while (!ret && !o->rp_done && !mig_out_should_stop_locked(o) &&
		       !o->rp_error[0]) {
			mig_wait_locked(m, 0);
			if (o->requests->len) {
				pthread_mutex_unlock(&m->lock);
				ret = mig_ram_serve_requests(o);
				pthread_mutex_lock(&m->lock);
			}
		}
		if (o->rp_done) {
			pthread_mutex_unlock(&m->lock);
			return true;
		}
		if (o->rp_error[0] || m->exiting) {
			pthread_mutex_unlock(&m->lock);
			out_link_error(o, ret, err);
			return false;
		}
		pthread_mutex_unlock(&m->lock);
		/* The link broke: both sides pause until resumed. */
		if (!out_postcopy_recover(o, ret, err))
			return false;
	}
}

