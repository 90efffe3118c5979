// SPDX-License-Identifier: MIT
/*
 * The incoming side's connection: populating guest RAM while it waits for
 * the stream, accepting it (preamble and HELLO), and after a post-copy
 * link break, waiting for migrate-recover and telling the resuming source
 * exactly which pages are here. The receiving thread is dest.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/vm.h"
#include "dest.h"

/*
 * While waiting for the stream: populate guest RAM, a step at a time.
 * The first pass writes every page of it, and a first touch is slow on a
 * nested host (the outer hypervisor backs the page then: ~0.9 s per 256
 * MiB here, ~30 ms when it backs them already); a destination waits idle,
 * often for seconds. The discard connecting would do (boot images) comes
 * first, so what is populated is zero and connecting drops nothing: no
 * one writes the RAM of a VM in inmigrate (its vCPUs are parked, its
 * devices idle). Post-copy needs the pages it has not received missing:
 * POSTCOPY_LISTEN drops them (pc_discard_missing()), populated or not.
 */
#define MIG_WARM_STEP (2 * MiB)

static bool in_warm_step(void *arg)
{
	struct mig_in *in = arg;
	const struct guest_memory *mem = &in->vm->mem;
	const struct guest_region *g;
	uint64_t len, t0 = tern_now_ns();
	int ret;

	if (!in->warm_started) {
		for (unsigned int i = 0; i < mem->nr_regions; i++)
			if (mig_ram_discard(in->vm, mem->regions[i].gpa,
					    mem->regions[i].size))
				return false;
		in->warm_started = true;
	}
	if (in->warm_region >= mem->nr_regions)
		return false;
	g = &mem->regions[in->warm_region];
	len = MIN(MIG_WARM_STEP, g->size - in->warm_off);
	ret = madvise(g->hva + in->warm_off, len, MADV_POPULATE_WRITE) < 0 ?
		      -errno : 0;
	in->warm_ns += tern_now_ns() - t0;
	if (ret == -EINTR || ret == -EAGAIN)
		return true;
	if (ret) {
		/* An old kernel, or no memory: the first pass touches it. */
		tern_debug("migration: cannot populate guest RAM: %s",
			   g_strerror(-ret));
		in->warm_region = mem->nr_regions;
		return false;
	}
	in->warm_bytes += len;
	in->warm_off += len;
	if (in->warm_off == g->size) {
		in->warm_region++;
		in->warm_off = 0;
	}
	return true;
}

/* Accept on the listening socket, read the preamble and HELLO. */
bool mig_in_connect(struct mig_in *in, bool recover, GError **err)
{
	struct mig_frame_header h;
	struct mig_chan *ch;
	int lfd;

	pthread_mutex_lock(&in->m->lock);
	lfd = in->listen_fd;
	pthread_mutex_unlock(&in->m->lock);
	ch = mig_accept(lfd, in->cancel_efd, in->tcp,
			recover ? NULL : in_warm_step, in, err);
	if (!recover)
		tern_debug("migration: %llu of %llu MiB of RAM populated while waiting, in %llu ms",
			   (unsigned long long)(in->warm_bytes >> 20),
			   (unsigned long long)(in->vm->mem.ram_size >> 20),
			   (unsigned long long)(in->warm_ns / 1000000));
	pthread_mutex_lock(&in->m->lock);
	close(in->listen_fd);
	in->listen_fd = -1;
	in->ch = ch;
	pthread_mutex_unlock(&in->m->lock);
	if (!ch)
		return false;
	if (!mig_chan_recv_preamble(ch, err) || !mig_chan_recv(ch, &h, err))
		return false;
	if (h.type != MIG_FRAME_HELLO) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the stream starts with %s, not HELLO",
			    mig_frame_name(h.type));
		return false;
	}
	return mig_in_hello(in, ch->payload, h.len, recover, err);
}

/* Tell a resuming source exactly which pages are here. */
static bool in_send_received(struct mig_in *in, GError **err)
{
	size_t total = 0, at = 0;
	g_autofree uint8_t *buf = NULL;
	int ret;

	for (unsigned int r = 0; r < in->received.nr; r++)
		total += mig_bitmap_bytes(&in->received, r);
	buf = g_malloc(total);
	for (unsigned int r = 0; r < in->received.nr; r++) {
		size_t n = mig_bitmap_bytes(&in->received, r);

		for (size_t w = 0; w < n / sizeof(long); w++) {
			uint64_t v = __atomic_load_n(&in->received.bits[r][w],
						     __ATOMIC_ACQUIRE);

			v = GUINT64_TO_LE(v);
			memcpy(buf + at + w * sizeof(long), &v, sizeof(v));
		}
		at += n;
	}
	ret = mig_chan_send_buf(in->ch, MIG_RP_RECEIVED, buf, total);
	if (ret)
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "sending RECEIVED: %s",
			    g_strerror(-ret));
	return !ret;
}

/*
 * Paused: why, in query-migrate's error-desc and on stderr, until
 * post-copy runs again (in_postcopy_why(in, NULL) clears it).
 */
static void G_GNUC_PRINTF(2, 3)
in_postcopy_why(struct mig_in *in, const char *fmt, ...)
{
	g_autofree char *why = NULL;
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		why = g_strdup_vprintf(fmt, ap);
		va_end(ap);
		tern_warn("migration: %s", why);
	}
	pthread_mutex_lock(&in->m->lock);
	g_strlcpy(in->error, why ? why : "", sizeof(in->error));
	pthread_mutex_unlock(&in->m->lock);
}

/*
 * After a post-copy link break (why: the link's error, then each failed
 * recovery's): wait for migrate-recover and its peer.
 */
bool mig_in_recover(struct mig_in *in, const GError *why, GError **err)
{
	struct migration *m = in->m;

	in_postcopy_why(in, "the link broke in post-copy: %s", why->message);
	for (;;) {
		pthread_mutex_lock(&m->lock);
		mig_chan_free(in->ch);
		in->ch = NULL;
		pthread_mutex_unlock(&m->lock);
		mig_in_set_status(in, MIGRATION_POSTCOPY_PAUSED);
		pthread_mutex_lock(&m->lock);
		while (!in->recover_req && !m->exiting)
			mig_wait_locked(m, 0);
		in->recover_req = false;
		pthread_mutex_unlock(&m->lock);
		if (m->exiting) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "tern is exiting");
			return false;
		}
		mig_in_set_status(in, MIGRATION_POSTCOPY_RECOVER);
		if (mig_in_connect(in, true, err) && in_send_received(in, err))
			break;
		in_postcopy_why(in, "recovery failed: %s", (*err)->message);
		g_clear_error(err);
	}
	in_postcopy_why(in, NULL);
	mig_in_set_status(in, MIGRATION_POSTCOPY_ACTIVE);
	mig_postcopy_resend(in->pc);
	return true;
}
