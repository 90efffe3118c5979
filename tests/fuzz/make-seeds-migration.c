// SPDX-License-Identifier: MIT
/*
 * The migration target's seeds: streams written by tern's own source side
 * for the machine fuzz-migration.c builds. A struct mig_out on a socket
 * pair sends them with the real writers: the preamble and frames through
 * mig_chan_send*(), HELLO from mig_hello_encode(), every PAGES frame
 * from mig_ram_send_todo() out of a guest RAM holding a page of data,
 * DISCARD built from the pages left to send as out_start_postcopy()
 * builds it, STATE from the vCPU and platform savers. Each seed is the
 * mode byte and the bytes read from the other end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/device.h"
#include "tern/le.h"
#include "tern/state.h"
#include "tern/vm.h"
#include "fuzz-migration.h"
#include "make-seeds.h"
#include "source.h"

struct mig_seed {
	struct vm vm;
	struct migration m;
	struct mig_out o;
	struct device devices[FUZZ_MIG_NDEVICES];
	int peer;
	GByteArray *out;
};

/* What the source sent so far, read from the peer. */
static void seed_drain(struct mig_seed *s)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = recv(s->peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		g_byte_array_append(s->out, buf, (guint)n);
	if (n < 0 && errno != EAGAIN) {
		perror("make-seeds: migration");
		exit(1);
	}
}

static void seed_check(int ret)
{
	if (ret) {
		fprintf(stderr, "make-seeds: migration: %s\n",
			g_strerror(-ret));
		exit(1);
	}
}

/* A source for the fuzz target's machine, RAM all zero but one page. */
static void seed_begin(struct mig_seed *s, uint8_t mode)
{
	struct guest_memory *mem = &s->vm.mem;
	int sv[2];

	memset(s, 0, sizeof(*s));
	mem->fd = -1;
	mem->vm_fd = -1;
	mem->page_size = GUEST_PAGE_SIZE;
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++) {
		uint64_t size = fuzz_mig_region_pages[r] * GUEST_PAGE_SIZE;

		mem->regions[r] = (struct guest_region){
		    .gpa = fuzz_mig_region_gpa[r],
		    .size = size,
		    .hva = g_malloc0(size),
		    .fd = -1,
		};
		mem->ram_size += size;
		mem->end = fuzz_mig_region_gpa[r] + size;
	}
	mem->nr_regions = FUZZ_MIG_REGIONS;
	memset(mem->regions[1].hva + GUEST_PAGE_SIZE, 0x5a, GUEST_PAGE_SIZE);
	s->vm.nr_vcpus = FUZZ_MIG_VCPUS;
	s->vm.devices = g_ptr_array_new();
	for (unsigned int i = 0; i < FUZZ_MIG_NDEVICES; i++) {
		g_strlcpy(s->devices[i].id, fuzz_mig_devices[i],
			  sizeof(s->devices[i].id));
		g_ptr_array_add(s->vm.devices, &s->devices[i]);
	}
	pthread_mutex_init(&s->m.lock, NULL);
	pthread_cond_init(&s->m.cond, NULL);
	s->m.vm = &s->vm;
	s->o.m = &s->m;
	s->o.vm = &s->vm;
	s->o.requests = g_array_new(FALSE, FALSE, sizeof(struct mig_request));
	/* Stopped: no dirty log to re-arm, no checkpoints. */
	s->o.phase = MIG_PHASE_DOWNTIME;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("make-seeds: socketpair");
		exit(1);
	}
	s->o.ch = mig_chan_new(sv[0], true);
	s->peer = sv[1];
	s->out = g_byte_array_new();
	g_byte_array_append(s->out, &mode, 1);
	mig_ram_setup(&s->o);
	seed_check(mig_chan_send_preamble(s->o.ch));
}

static void seed_frame(struct mig_seed *s, uint32_t type, const void *p,
		       size_t len)
{
	seed_check(mig_chan_send_buf(s->o.ch, type, p, len));
	seed_drain(s);
}

static void seed_hello(struct mig_seed *s, uint32_t nr_vcpus, uint64_t session,
		       uint32_t flags)
{
	struct mig_hello h;
	g_autofree uint8_t *buf = NULL;
	size_t len;

	mig_hello_from_vm(&s->vm, session, flags, &h);
	h.nr_vcpus = nr_vcpus;
	buf = mig_hello_encode(&h, &len);
	mig_hello_clear(&h);
	seed_frame(s, MIG_FRAME_HELLO, buf, len);
}

/* Send what todo holds, as a pass does. */
static void seed_pass(struct mig_seed *s)
{
	seed_check(mig_ram_send_todo(&s->o, false));
	seed_drain(s);
}

static void seed_state(struct mig_seed *s, unsigned int nr_vcpus)
{
	struct state_writer w;
	g_autofree uint8_t *buf = NULL;
	size_t len;

	state_writer_init(&w);
	seeds_state_core_put(&w, nr_vcpus);
	buf = state_writer_finish(&w, &len);
	seed_frame(s, MIG_FRAME_STATE, buf, len);
}

/* DISCARD: every run of pages left to send, as out_start_postcopy(). */
static void seed_discard(struct mig_seed *s)
{
	struct mig_bitmap *t = &s->o.todo;
	uint64_t ranges[64];
	size_t n = 0;

	for (unsigned int r = 0; r < t->nr; r++) {
		for (uint64_t p = 0; p < t->pages[r]; p++) {
			uint64_t start = p;

			if (!mig_bitmap_test(t, r, p))
				continue;
			while (p + 1 < t->pages[r] &&
			       mig_bitmap_test(t, r, p + 1))
				p++;
			if (n + 2 > G_N_ELEMENTS(ranges))
				abort();
			ranges[n++] = GUINT64_TO_LE(
			    t->gpa[r] + (start << GUEST_PAGE_SHIFT));
			ranges[n++] =
			    GUINT64_TO_LE((p - start + 1) << GUEST_PAGE_SHIFT);
		}
	}
	seed_frame(s, MIG_FRAME_DISCARD, ranges, n * 8);
}

static void seed_end(struct mig_seed *s, const char *name)
{
	seed_write("migration", name, s->out->data, s->out->len);
	mig_ram_cleanup(&s->o);
	g_array_unref(s->o.requests);
	mig_chan_free(s->o.ch);
	close(s->peer);
	g_byte_array_unref(s->out);
	for (unsigned int r = 0; r < s->vm.mem.nr_regions; r++)
		g_free(s->vm.mem.regions[r].hva);
	g_ptr_array_unref(s->vm.devices);
	pthread_mutex_destroy(&s->m.lock);
	pthread_cond_destroy(&s->m.cond);
}

/* Pre-copy: two passes (a page sent again as zero), the state, END, GO. */
static void seed_precopy(const char *name, uint8_t mode, unsigned int vcpus)
{
	struct mig_seed s;

	seed_begin(&s, mode);
	seed_hello(&s, FUZZ_MIG_VCPUS, 1, 0);
	seed_pass(&s);
	memset(s.vm.mem.regions[1].hva + GUEST_PAGE_SIZE, 0, GUEST_PAGE_SIZE);
	mig_bitmap_set_range(&s.o.todo,
			     fuzz_mig_region_gpa[1] + GUEST_PAGE_SIZE,
			     GUEST_PAGE_SIZE, true);
	seed_pass(&s);
	seed_state(&s, vcpus);
	seed_frame(&s, MIG_FRAME_END, NULL, 0);
	seed_frame(&s, MIG_FRAME_GO, NULL, 0);
	seed_end(&s, name);
}

/*
 * Post-copy: region 0 sent, two of its pages dirtied since; those and
 * region 1 discarded, then LISTEN, the state, RUN, the rest, END.
 */
static void seed_postcopy(const char *name, uint8_t mode)
{
	struct mig_seed s;

	seed_begin(&s, mode);
	seed_hello(&s, FUZZ_MIG_VCPUS, 2, 0);
	mig_bitmap_set_range(&s.o.todo, fuzz_mig_region_gpa[1],
			     s.vm.mem.regions[1].size, false);
	seed_pass(&s);
	mig_bitmap_set_range(&s.o.todo, fuzz_mig_region_gpa[1],
			     s.vm.mem.regions[1].size, true);
	mig_bitmap_set_range(&s.o.todo, 5 * GUEST_PAGE_SIZE,
			     2 * GUEST_PAGE_SIZE, true);
	seed_discard(&s);
	seed_frame(&s, MIG_FRAME_POSTCOPY_LISTEN, NULL, 0);
	seed_state(&s, 0);
	seed_frame(&s, MIG_FRAME_POSTCOPY_RUN, NULL, 0);
	s.o.phase = MIG_PHASE_POSTCOPY;
	seed_pass(&s);
	seed_frame(&s, MIG_FRAME_END, NULL, 0);
	seed_end(&s, name);
}

/* Only a HELLO: a recovery connection, or another machine's stream. */
static void seed_hello_only(const char *name, uint8_t mode, uint32_t vcpus,
			    uint32_t flags)
{
	struct mig_seed s;

	seed_begin(&s, mode);
	seed_hello(&s, vcpus, FUZZ_MIG_SESSION, flags);
	seed_end(&s, name);
}

/* A destination's return path: frames as dest.c and postcopy.c send them. */
static void seed_rp(const char *name, uint8_t flags, uint32_t todo, bool ready,
		    bool requests, bool received, const char *error)
{
	struct mig_seed s;
	uint8_t head[4] = {flags, (uint8_t)todo, (uint8_t)(todo >> 8),
			   (uint8_t)(todo >> 16)};

	seed_begin(&s, FUZZ_MIG_RETURN_PATH);
	/* The return path has no preamble: drop what seed_begin() sent. */
	seed_drain(&s);
	g_byte_array_set_size(s.out, 1);
	g_byte_array_append(s.out, head, sizeof(head));
	if (requests) {
		static const struct {
			uint64_t gpa;
			uint32_t n;
		} req[] = {
		    {3 * GUEST_PAGE_SIZE, 8},
		    {1 * MiB, 2},
		};

		for (unsigned int i = 0; i < G_N_ELEMENTS(req); i++) {
			uint8_t r[16];

			le64_put(r, req[i].gpa);
			le32_put(r + 8, req[i].n);
			le32_put(r + 12, 0);
			seed_frame(&s, MIG_RP_REQUEST, r, sizeof(r));
		}
	}
	if (received) {
		struct mig_bitmap b;
		GByteArray *bits = g_byte_array_new();

		mig_bitmap_init(&b, &s.vm.mem);
		(void)mig_bitmap_set_range(&b, 0, 4 * GUEST_PAGE_SIZE, true);
		for (unsigned int r = 0; r < b.nr; r++)
			for (size_t w = 0;
			     w < mig_bitmap_bytes(&b, r) / sizeof(long); w++) {
				uint8_t v[8];

				le64_put(v, b.bits[r][w]);
				g_byte_array_append(bits, v, sizeof(v));
			}
		seed_frame(&s, MIG_RP_RECEIVED, bits->data, bits->len);
		g_byte_array_unref(bits);
		mig_bitmap_free(&b);
	}
	if (ready)
		seed_frame(&s, MIG_RP_READY, NULL, 0);
	if (error)
		seed_frame(&s, MIG_RP_ERROR, error, strlen(error) + 1);
	else
		seed_frame(&s, MIG_RP_DONE, NULL, 0);
	seed_end(&s, name);
}

void seeds_migration(void)
{
	seed_precopy("precopy", 0, FUZZ_MIG_VCPUS);
	seed_precopy("precopy-raw-sums", FUZZ_MIG_RAW_SUMS, 0);
	seed_postcopy("postcopy", FUZZ_MIG_UFFD);
	seed_postcopy("postcopy-no-userfaultfd", 0);
	seed_hello_only("recover", FUZZ_MIG_RECOVER, FUZZ_MIG_VCPUS,
			MIG_HELLO_RESUME);
	seed_hello_only("other-machine", 0, 2, 0);
	/* Flags: 1 the source serves requests at once, 2 it answers READY. */
	seed_rp("rp-precopy", 2, 0, true, false, false, NULL);
	seed_rp("rp-postcopy", 1, 0xffffff, false, true, false, NULL);
	seed_rp("rp-queued", 0, 0xffffff, false, true, false, NULL);
	seed_rp("rp-recover", 1, 0xffffff, false, false, true, NULL);
	seed_rp(
	    "rp-error", 2, 0, false, false, false,
	    "the state's device 1 is virtio-rng.0, this VM's is virtio-blk.0");
}
