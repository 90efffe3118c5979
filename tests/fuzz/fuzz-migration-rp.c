// SPDX-License-Identifier: MIT
/*
 * fuzz-migration.c's return-path mode: what a hostile destination sends
 * back to a source. The input (after the mode byte) is a flags byte (bit
 * 0: the source is in its post-copy stream and serves page requests at
 * once, bit 1: it waits for READY to answer GO), the pages still to send
 * (a bit each, in region order), then the frames, read through a channel
 * as the return-path thread reads them (checksums filled in unless the
 * mode says otherwise) and handed to out_rp_frame(), that thread's step:
 * READY, DONE, ERROR, REQUEST, RECEIVED.
 *
 * What the source sends back goes to a memfd and is read again: every
 * PAGES frame is well formed, each record's pages are RAM, their bytes
 * are RAM's and were still to send and no longer are, and the pages sent
 * are exactly the ones that left the to-send bitmap; GO only after READY
 * and only when armed; a queued request asks for 1 to 512 pages; the
 * error text is bounded and says it came from the destination.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/le.h"
#include "tern/vm.h"
#include "fuzz-migration.h"
#include "fuzz.h"
#include "source.h"

#define RP_SERVES 1u
#define RP_GO_ARMED 2u
#define RP_TODO_BYTES 3 /* 24 pages: both regions */

static struct {
	uint8_t *frame; /* MIG_RP_FRAME_CAP, for serving */
	/* Made once: a channel's read buffer is an mmap under ASan. */
	struct mig_chan *in, *out;
	int out_fd;
} rp;

void fuzz_mig_rp_init(void)
{
	rp.frame = g_malloc(MIG_RP_FRAME_CAP);
	rp.in = mig_chan_new(-1, false);
	rp.out_fd = memfd_create("fuzz-migration-rp", MFD_CLOEXEC);
	if (rp.out_fd < 0)
		abort();
	rp.out = mig_chan_new(rp.out_fd, false);
}

/* The pages the source sent in one PAGES frame, checked against RAM. */
static uint64_t rp_check_pages(struct mig_out *o,
			       const struct mig_bitmap *before,
			       const uint8_t *p, size_t len)
{
	struct mig_page_rec rec;
	GError *err = NULL;
	size_t pos = 0;
	uint64_t n = 0;
	int ret;

	while ((ret = mig_page_rec_next(p, len, &pos, &rec, &err)) > 0) {
		const uint8_t *ram =
		    guest_memory_ptr(&o->vm->mem, rec.gpa,
				     (uint64_t)rec.npages << GUEST_PAGE_SHIFT);
		unsigned int r;
		uint64_t first;

		FUZZ_CHECK(ram && rec.data);
		FUZZ_CHECK(!memcmp(ram, rec.data,
				   (size_t)rec.npages << GUEST_PAGE_SHIFT));
		FUZZ_CHECK(mig_bitmap_find(&o->todo, rec.gpa, &r, &first));
		for (uint64_t i = 0; i < rec.npages; i++) {
			FUZZ_CHECK(mig_bitmap_test(before, r, first + i));
			FUZZ_CHECK(!mig_bitmap_test(&o->todo, r, first + i));
		}
		n += rec.npages;
	}
	FUZZ_CHECK(ret == 0);
	return n;
}

/* Everything the source sent on its channel. */
static void rp_check_sent(struct mig_out *o, const struct mig_bitmap *before,
			  bool go_allowed)
{
	off_t end = lseek(rp.out_fd, 0, SEEK_CUR);
	g_autofree uint8_t *buf = g_malloc((size_t)end + 1);
	uint64_t sent = 0;
	size_t at = 0;

	FUZZ_CHECK(end >= 0 && pread(rp.out_fd, buf, (size_t)end, 0) == end);
	while (at < (size_t)end) {
		struct mig_frame_header h;
		GError *err = NULL;

		FUZZ_CHECK((size_t)end - at >= MIG_FRAME_HEADER_SIZE);
		FUZZ_CHECK(mig_header_parse(buf + at, &h, &err));
		at += MIG_FRAME_HEADER_SIZE;
		FUZZ_CHECK(h.len <= (size_t)end - at);
		FUZZ_CHECK(mig_sum(buf + at, h.len) == h.sum);
		if (h.type == MIG_FRAME_GO)
			FUZZ_CHECK(go_allowed);
		else if (h.type == MIG_FRAME_PAGES)
			sent += rp_check_pages(o, before, buf + at, h.len);
		else
			FUZZ_CHECK(
			    !"a source sends only PAGES and GO from here");
		at += h.len;
	}
	FUZZ_CHECK(sent ==
		   mig_bitmap_count(before) - mig_bitmap_count(&o->todo));
}

void fuzz_mig_rp_run(struct migration *m, uint8_t mode, const uint8_t *p,
		     size_t len)
{
	struct mig_out o = {.m = m, .vm = m->vm};
	g_autofree uint8_t *s = NULL;
	struct mig_bitmap before;
	struct mig_frame_header h;
	struct fuzz_input in = {p, len};
	uint8_t flags = fuzz_u8(&in), todo[RP_TODO_BYTES];
	GError *err = NULL;
	unsigned int bit = 0;

	for (unsigned int i = 0; i < RP_TODO_BYTES; i++)
		todo[i] = fuzz_u8(&in);
	o.requests = g_array_new(FALSE, FALSE, sizeof(struct mig_request));
	mig_bitmap_init(&o.received, &m->vm->mem);
	mig_bitmap_init(&o.todo, &m->vm->mem);
	mig_bitmap_init(&before, &m->vm->mem);
	for (unsigned int r = 0; r < o.todo.nr; r++) {
		for (uint64_t pg = 0; pg < o.todo.pages[r]; pg++, bit++) {
			if (bit / 8 >= RP_TODO_BYTES ||
			    !(todo[bit / 8] >> (bit % 8) & 1))
				continue;
			(void)mig_bitmap_set_range(
			    &o.todo, o.todo.gpa[r] + (pg << GUEST_PAGE_SHIFT),
			    GUEST_PAGE_SIZE, true);
			(void)mig_bitmap_set_range(
			    &before, before.gpa[r] + (pg << GUEST_PAGE_SHIFT),
			    GUEST_PAGE_SIZE, true);
		}
	}
	o.rp_serves = flags & RP_SERVES;
	o.go_armed = flags & RP_GO_ARMED;
	o.phase = o.rp_serves ? MIG_PHASE_POSTCOPY : MIG_PHASE_DOWNTIME;
	if (ftruncate(rp.out_fd, 0) || lseek(rp.out_fd, 0, SEEK_SET))
		abort();
	o.ch = rp.out;

	/* The frames, as the return-path thread reads them. */
	s = g_memdup2(in.p, in.len);
	if (!(mode & FUZZ_MIG_RAW_SUMS))
		fuzz_mig_sums_fill(s, in.len, 0);
	{
		int fds[2];

		if (pipe2(fds, O_CLOEXEC) ||
		    write(fds[1], s, in.len) != (ssize_t)in.len)
			abort();
		close(fds[1]);
		rp.in->fd = fds[0];
		rp.in->rpos = rp.in->rlen = 0;
	}
	while (mig_chan_recv(rp.in, &h, &err)) {
		pthread_mutex_lock(&m->lock);
		out_rp_frame(&o, &h, rp.in->payload, rp.frame);
		pthread_mutex_unlock(&m->lock);
		g_clear_error(&err);
	}
	FUZZ_CHECK(err && err->message && *err->message);
	g_clear_error(&err);
	close(rp.in->fd);
	rp.in->fd = -1;

	for (guint i = 0; i < o.requests->len; i++) {
		const struct mig_request *r =
		    &g_array_index(o.requests, struct mig_request, i);

		FUZZ_CHECK(r->npages >= 1 && r->npages <= 512);
	}
	if (o.rp_error[0])
		FUZZ_CHECK(
		    g_str_has_prefix(o.rp_error, "the destination failed: ") &&
		    strnlen(o.rp_error, sizeof(o.rp_error)) <
			sizeof(o.rp_error));
	rp_check_sent(&o, &before, o.go_armed && o.rp_ready);

	mig_bitmap_free(&before);
	mig_bitmap_free(&o.todo);
	mig_bitmap_free(&o.received);
	g_array_unref(o.requests);
}
