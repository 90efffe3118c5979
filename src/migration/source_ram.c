// SPDX-License-Identifier: MIT
/*
 * The outgoing side's RAM: PAGES frames built from the pages still to send
 * (each page copied once into the frame, so the checksum and the bytes
 * sent are the same snapshot of a page the guest may be writing; a write
 * after the copy is in the dirty log and goes in the next pass), zero
 * pages as records without data, the dirty log merged between passes and
 * re-armed chunk by chunk just before each chunk is sent, bandwidth
 * limits, measurements, and auto-converge's throttle.
 */
#include <errno.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/vm.h"
#include "source.h"

#define MIG_FRAME_CAP (MIG_PAGES_PAYLOAD + 64 * MIG_PAGE_REC_SIZE)
#define MIG_RATE_WINDOW_NS (100ULL * 1000 * 1000)
#define MIG_THROTTLE_SLICE_NS (10ULL * 1000 * 1000)
/* Pages between two looks at requests and interruptions. */
#define MIG_CHECK_PRECOPY 256
#define MIG_CHECK_POSTCOPY 16
#define MIG_PEAK_WINDOW_NS (50ULL * 1000 * 1000)
/*
 * The dirty log of a chunk is re-armed (its pages write-protected) just
 * before the chunk's first page is sent, never all of RAM when a pass
 * starts: a page the guest writes before its chunk's turn then goes once,
 * not now and again in the next pass. 2 MiB: one system call per 512
 * pages at most, and a transparent huge page never spans two chunks.
 */
#define MIG_REARM_CHUNK_PAGES 512

void mig_ram_setup(struct mig_out *o)
{
	o->frame = g_malloc(MIG_FRAME_CAP);
	o->frame_len = 0;
	o->rec_open = false;
	mig_bitmap_init(&o->todo, &o->vm->mem);
	mig_bitmap_fill(&o->todo, true);
	o->reset_seen = __atomic_load_n(&o->vm->reset_count, __ATOMIC_ACQUIRE);
	o->pass_start_ns = o->rate_start_ns = tern_now_ns();
	o->pass_bytes = o->rate_bytes = o->rate_pages = 0;
}

void mig_ram_cleanup(struct mig_out *o)
{
	g_clear_pointer(&o->frame, g_free);
	mig_bitmap_free(&o->todo);
}

bool mig_out_should_stop_locked(const struct mig_out *o)
{
	return o->cancel || o->rp_broken || o->m->exiting;
}

/* Copy a page into the frame; true when it is all zero bytes. */
static bool page_copy(uint64_t *restrict dst, const uint64_t *restrict src)
{
	uint64_t acc = 0;

	for (unsigned int i = 0; i < GUEST_PAGE_SIZE / 8; i++) {
		uint64_t v = src[i];

		dst[i] = v;
		acc |= v;
	}
	return !acc;
}

static void rec_close(struct mig_out *o)
{
	if (!o->rec_open)
		return;
	mig_page_rec_put(o->frame + o->rec_off, o->rec_gpa, o->rec_n,
			 o->rec_zero ? MIG_PAGE_ZERO : 0);
	o->rec_open = false;
}

static void rec_open(struct mig_out *o, uint64_t gpa, bool zero)
{
	rec_close(o);
	o->rec_off = o->frame_len;
	o->rec_gpa = gpa;
	o->rec_n = 1;
	o->rec_zero = zero;
	o->rec_open = true;
	o->frame_len += MIG_PAGE_REC_SIZE;
}

static uint64_t *phase_bytes(struct mig_out *o)
{
	switch (o->phase) {
	case MIG_PHASE_DOWNTIME:
		return &o->stats.downtime_bytes;
	case MIG_PHASE_POSTCOPY:
		return &o->stats.postcopy_bytes;
	default:
		return &o->stats.precopy_bytes;
	}
}

/*
 * Hold the sender back to the bandwidth the parameters allow: each frame
 * is due at window start + bytes so far / limit (a token bucket, so one
 * large frame does not let a whole window's worth through).
 */
static void rate_limit(struct mig_out *o, uint64_t bytes)
{
	struct migration *m = o->m;
	uint64_t now = tern_now_ns(), limit, due;

	pthread_mutex_lock(&m->lock);
	limit = o->phase == MIG_PHASE_POSTCOPY ? m->params.max_postcopy_bandwidth :
		o->phase == MIG_PHASE_DOWNTIME ? 0 : m->params.max_bandwidth;
	if (now - o->window_start_ns > MIG_RATE_WINDOW_NS * 10) {
		o->window_start_ns = now;
		o->window_bytes = 0;
	}
	o->window_bytes += bytes;
	due = limit ? o->window_start_ns +
			      (uint64_t)((double)o->window_bytes * 1e9 / (double)limit) :
		      0;
	/* A request (cancel, post-copy, a new limit) wakes the wait. */
	while (limit && !mig_out_should_stop_locked(o) &&
	       !(o->postcopy_req && o->phase == MIG_PHASE_PRECOPY) &&
	       tern_now_ns() < due) {
		mig_wait_locked(m, due);
		/* A new limit counts from now. */
		if ((o->phase == MIG_PHASE_PRECOPY ? m->params.max_bandwidth :
						     m->params.max_postcopy_bandwidth) != limit) {
			o->window_start_ns = tern_now_ns();
			o->window_bytes = 0;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * The sender shares the CPUs with the guest (and, on a busy host, with
 * everything else): the average of a pass underestimates what the link
 * does once the guest is stopped. The best 50 ms window of the pass is
 * what the switch-over can expect.
 */
static void peak_measure(struct mig_out *o, uint64_t bytes)
{
	uint64_t now = tern_now_ns(), dt = now - o->win_start_ns;

	o->win_bytes += bytes;
	if (dt < MIG_PEAK_WINDOW_NS)
		return;
	o->pass_peak_bw = MAX(o->pass_peak_bw, o->win_bytes * 1000000000ULL / dt);
	o->win_start_ns = now;
	o->win_bytes = 0;
}

static int frame_flush(struct mig_out *o)
{
	uint64_t bytes = o->frame_len + MIG_FRAME_HEADER_SIZE;
	int ret;

	if (!o->frame_len)
		return 0;
	rec_close(o);
	ret = mig_chan_send_buf(o->ch, MIG_FRAME_PAGES, o->frame, o->frame_len);
	o->frame_len = 0;
	if (ret)
		return ret;
	pthread_mutex_lock(&o->m->lock);
	o->stats.transferred += bytes;
	*phase_bytes(o) += bytes;
	pthread_mutex_unlock(&o->m->lock);
	o->pass_bytes += bytes;
	o->rate_bytes += bytes;
	peak_measure(o, bytes);
	rate_limit(o, bytes);
	return 0;
}

static int frame_add_page(struct mig_out *o, uint64_t gpa, const void *hva)
{
	bool contiguous = o->rec_open &&
			  gpa == o->rec_gpa + ((uint64_t)o->rec_n << GUEST_PAGE_SHIFT);
	bool zero;
	int ret;

	if (o->frame_len + MIG_PAGE_REC_SIZE + GUEST_PAGE_SIZE > MIG_FRAME_CAP) {
		ret = frame_flush(o);
		if (ret)
			return ret;
		contiguous = false;
	}
	o->rate_pages++;
	if (contiguous && !o->rec_zero) {
		zero = page_copy((uint64_t *)(o->frame + o->frame_len), hva);
		if (!zero) {
			o->frame_len += GUEST_PAGE_SIZE;
			o->rec_n++;
			o->stats.normal++;
			return 0;
		}
		rec_open(o, gpa, true);
		o->stats.duplicate++;
		return 0;
	}
	zero = page_copy((uint64_t *)(o->frame + o->frame_len + MIG_PAGE_REC_SIZE),
			 hva);
	if (zero && contiguous) {
		o->rec_n++;
	} else {
		rec_open(o, gpa, zero);
		if (!zero)
			o->frame_len += GUEST_PAGE_SIZE;
	}
	if (zero)
		o->stats.duplicate++;
	else
		o->stats.normal++;
	return 0;
}

/*
 * Take a page out of todo: true if it was still to send. Atomic, for the
 * return-path thread serving requests while the sender streams.
 */
static bool todo_take(struct mig_out *o, unsigned int r, uint64_t page)
{
	unsigned long *w = &o->todo.bits[r][page / (8 * sizeof(long))];
	unsigned long bit = 1UL << (page % (8 * sizeof(long)));

	if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
		return false;
	return __atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED) & bit;
}

/* Send one page if it is still to be sent. */
static int send_page(struct mig_out *o, unsigned int r, uint64_t page)
{
	const struct guest_region *g = &o->vm->mem.regions[r];

	if (!todo_take(o, r, page))
		return 0;
	return frame_add_page(o, g->gpa + (page << GUEST_PAGE_SHIFT),
			      g->hva + (page << GUEST_PAGE_SHIFT));
}

static int serve_request(struct mig_out *o, uint64_t gpa, uint32_t npages,
			 uint8_t *buf)
{
	size_t len = 0, rec = 0;
	uint64_t prev = 0, sent = 0;
	unsigned int r;
	uint64_t page;
	uint32_t n = 0;
	int ret;

	/* The VM is stopped for good: its pages do not change any more. */
	for (uint32_t i = 0; i < npages; i++) {
		uint64_t a = gpa + ((uint64_t)i << GUEST_PAGE_SHIFT);

		if (!mig_bitmap_find(&o->todo, a, &r, &page) || !todo_take(o, r, page))
			continue;
		if (!n || a != prev + GUEST_PAGE_SIZE) {
			if (n)
				mig_page_rec_put(buf + rec, prev - ((uint64_t)(n - 1) << GUEST_PAGE_SHIFT), n, 0);
			rec = len;
			len += MIG_PAGE_REC_SIZE;
			n = 0;
		}
		memcpy(buf + len, o->vm->mem.regions[r].hva + (page << GUEST_PAGE_SHIFT),
		       GUEST_PAGE_SIZE);
		len += GUEST_PAGE_SIZE;
		prev = a;
		n++;
		sent++;
	}
	if (!n)
		return 0;
	mig_page_rec_put(buf + rec, prev - ((uint64_t)(n - 1) << GUEST_PAGE_SHIFT), n, 0);
	ret = mig_chan_send_buf(o->ch, MIG_FRAME_PAGES, buf, len);
	if (ret)
		return ret;
	pthread_mutex_lock(&o->m->lock);
	o->stats.transferred += len + MIG_FRAME_HEADER_SIZE;
	o->stats.postcopy_bytes += len + MIG_FRAME_HEADER_SIZE;
	o->stats.postcopy_requests++;
	o->stats.normal += sent;
	pthread_mutex_unlock(&o->m->lock);
	return 0;
}

int mig_ram_serve_request(struct mig_out *o, uint64_t gpa, uint32_t npages,
			  uint8_t *buf)
{
	int ret;

	/*
	 * Counted before the first page leaves todo: from then until its
	 * frame is in the stream, the sender may find todo empty and must
	 * not send END ahead of these pages.
	 */
	pthread_mutex_lock(&o->m->lock);
	o->rp_sending++;
	pthread_mutex_unlock(&o->m->lock);
	ret = serve_request(o, gpa, npages, buf);
	pthread_mutex_lock(&o->m->lock);
	o->rp_sending--;
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	return ret;
}

int mig_ram_send_end(struct mig_out *o)
{
	struct migration *m = o->m;
	bool stop;

	pthread_mutex_lock(&m->lock);
	while (o->rp_sending && !mig_out_should_stop_locked(o))
		mig_wait_locked(m, 0);
	stop = o->rp_sending != 0;
	pthread_mutex_unlock(&m->lock);
	if (stop)
		return -EPIPE;
	return mig_chan_send_buf(o->ch, MIG_FRAME_END, NULL, 0);
}

int mig_ram_serve_requests(struct mig_out *o)
{
	struct migration *m = o->m;
	struct mig_request req;
	int ret = 0;

	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (!o->requests->len) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		req = g_array_index(o->requests, struct mig_request, 0);
		g_array_remove_index(o->requests, 0);
		o->stats.postcopy_requests++;
		pthread_mutex_unlock(&m->lock);
		/* The background frame goes first: requests jump the queue. */
		ret = frame_flush(o);
		for (uint32_t i = 0; !ret && i < req.npages; i++) {
			unsigned int r;
			uint64_t page;

			if (mig_bitmap_find(&o->todo,
					    req.gpa + ((uint64_t)i << GUEST_PAGE_SHIFT),
					    &r, &page))
				ret = send_page(o, r, page);
		}
		if (!ret)
			ret = frame_flush(o);
		if (ret)
			return ret;
	}
	return 0;
}

/* Between pages: requests, interruptions, the throttle. */
static int send_checkpoint(struct mig_out *o, bool stop_on_postcopy)
{
	struct migration *m = o->m;
	bool stop, postcopy;

	pthread_mutex_lock(&m->lock);
	stop = mig_out_should_stop_locked(o);
	postcopy = o->postcopy_req;
	pthread_mutex_unlock(&m->lock);
	if (stop || (stop_on_postcopy && postcopy))
		return -EINTR;
	if (o->phase == MIG_PHASE_POSTCOPY)
		return mig_ram_serve_requests(o);
	mig_ram_throttle_tick(o);
	return 0;
}

/*
 * Before page goes: re-arm the log of its chunk's pages still to send,
 * unless an earlier page of this pass did (the pass walks up from page 0,
 * *armed_end is where the chunks re-armed so far end). This must come
 * before the page is read: a write after the read is then logged. Only
 * while the guest runs: stopped, it writes nothing more.
 */
static int rearm_chunk(struct mig_out *o, unsigned int r, uint64_t page,
		       uint64_t *armed_end)
{
	uint64_t first, n, t0;
	int ret;

	if (o->phase != MIG_PHASE_PRECOPY || page < *armed_end)
		return 0;
	dirty_chunk_range(o->todo.pages[r], MIG_REARM_CHUNK_PAGES, page, &first,
			  &n);
	*armed_end = first + n;
	t0 = tern_now_ns();
	ret = guest_memory_dirty_rearm(&o->vm->mem, r, first, n, o->todo.bits[r]);
	o->rearm_ns += tern_now_ns() - t0;
	o->rearm_calls++;
	if (ret) {
		/* Sending without it could miss a later write: give up. */
		tern_warn("migration: cannot re-arm the dirty log: %s",
			  g_strerror(-ret));
		return -EIO;
	}
	return 0;
}

int mig_ram_send_todo(struct mig_out *o, bool stop_on_postcopy)
{
	unsigned int every = o->phase == MIG_PHASE_POSTCOPY ? MIG_CHECK_POSTCOPY :
							      MIG_CHECK_PRECOPY;
	unsigned int since = 0;
	int ret;

	for (unsigned int r = 0; r < o->todo.nr; r++) {
		uint64_t pages = o->todo.pages[r], armed_end = 0;
		size_t words = (pages + 8 * sizeof(long) - 1) / (8 * sizeof(long));

		for (size_t w = 0; w < words; w++) {
			while (o->todo.bits[r][w]) {
				unsigned long word = o->todo.bits[r][w];
				uint64_t page = w * 8 * sizeof(long) +
						(uint64_t)__builtin_ctzl(word);

				if (o->phase != MIG_PHASE_DOWNTIME &&
				    ++since >= every) {
					since = 0;
					ret = send_checkpoint(o, stop_on_postcopy);
					/*
					 * The pages in the frame left todo: they
					 * go now, or a switch to post-copy would
					 * neither send nor discard them.
					 */
					if (ret == -EINTR && frame_flush(o))
						return -EPIPE;
					if (ret)
						return ret;
				}
				ret = rearm_chunk(o, r, page, &armed_end);
				if (!ret)
					ret = send_page(o, r, page);
				if (ret)
					return ret;
			}
		}
	}
	return frame_flush(o);
}

static int mark_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	struct mig_out *o = opaque;

	mig_bitmap_set_range(&o->todo, gpa, len, true);
	return 0;
}

int64_t mig_ram_sync(struct mig_out *o)
{
	unsigned int resets = __atomic_load_n(&o->vm->reset_count,
					      __ATOMIC_ACQUIRE);
	uint64_t t0 = tern_now_ns();
	int64_t n = guest_memory_dirty_sync(&o->vm->mem, mark_dirty, o);

	tern_debug("migration: dirty log of %llu MiB: %lld pages in %llu us",
		   (unsigned long long)(o->vm->mem.ram_size >> 20), (long long)n,
		   (unsigned long long)(tern_now_ns() - t0) / 1000);

	/* A reset copied the boot images in without marks: all again. */
	if (resets != o->reset_seen) {
		o->reset_seen = resets;
		mig_bitmap_fill(&o->todo, true);
	}
	pthread_mutex_lock(&o->m->lock);
	o->stats.dirty_sync_count++;
	pthread_mutex_unlock(&o->m->lock);
	return n;
}

void mig_ram_pass_done(struct mig_out *o, int64_t dirty)
{
	uint64_t now = tern_now_ns(), dt = now - o->pass_start_ns;
	uint64_t remaining = mig_bitmap_count(&o->todo);
	struct mig_out_stats *s = &o->stats;

	pthread_mutex_lock(&o->m->lock);
	/* A pass of a few pages says little about the link: keep the last. */
	if (dt && (o->pass_bytes >= 4 * MiB || !s->bandwidth))
		s->bandwidth = MAX(MAX(o->pass_bytes * 1000000000ULL / dt,
				       o->pass_peak_bw), 1ULL);
	o->pass_peak_bw = 0;
	o->win_start_ns = now;
	o->win_bytes = 0;
	if (dt)
		s->dirty_pages_rate = (uint64_t)MAX(dirty, 0) * 1000000000ULL / dt;
	s->remaining_pages = remaining;
	s->expected_downtime_ms =
		remaining * GUEST_PAGE_SIZE * 1000 / MAX(s->bandwidth, 1ULL);
	if (now > o->rate_start_ns) {
		uint64_t rdt = now - o->rate_start_ns;

		s->mbps = (double)o->rate_bytes * 8 * 1000.0 / (double)rdt;
		s->pages_per_second = o->rate_pages * 1000000000ULL / rdt;
	}
	pthread_mutex_unlock(&o->m->lock);
	o->rate_start_ns = now;
	o->rate_bytes = o->rate_pages = 0;
	o->pass_start_ns = now;
	o->pass_bytes = 0;
}

bool mig_precopy_converged(const struct mig_converge *c)
{
	if (c->expected_ms > c->limit_ms)
		return false;
	if (c->expected_ms <= MIG_DOWNTIME_FLOOR_MS ||
	    c->polish_passes >= MIG_POLISH_PASSES)
		return true;
	/* Shrinking by a quarter or more: one more pass pays for itself. */
	return c->dirty_pages * 4 > c->sent_pages * 3;
}

void mig_ram_throttle_up(struct mig_out *o)
{
	struct migration *m = o->m;

	pthread_mutex_lock(&m->lock);
	if (!o->stats.throttle_pct)
		o->stats.throttle_pct = m->params.cpu_throttle_initial;
	else
		o->stats.throttle_pct = MIN(o->stats.throttle_pct +
						    m->params.cpu_throttle_increment,
					    m->params.max_cpu_throttle);
	pthread_mutex_unlock(&m->lock);
	mig_ram_throttle_tick(o);
}

/* Every slice, each vCPU sleeps pct/(100-pct) of a slice (as QEMU). */
void mig_ram_throttle_tick(struct mig_out *o)
{
	uint32_t pct = o->stats.throttle_pct;
	uint64_t now;

	if (!pct || o->phase != MIG_PHASE_PRECOPY)
		return;
	now = tern_now_ns();
	if (now - o->last_throttle_ns < MIG_THROTTLE_SLICE_NS)
		return;
	o->last_throttle_ns = now;
	vm_throttle(o->vm, MIG_THROTTLE_SLICE_NS * pct / (100 - pct));
}

void mig_ram_throttle_off(struct mig_out *o)
{
	pthread_mutex_lock(&o->m->lock);
	o->stats.throttle_pct = 0;
	pthread_mutex_unlock(&o->m->lock);
}
