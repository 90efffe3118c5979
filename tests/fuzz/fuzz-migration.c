// SPDX-License-Identifier: MIT
/*
 * The incoming side of a live migration on a stream from a hostile source
 * (docs/migration.md, "The stream"). The input is a mode byte, then the
 * bytes the source sends; they are read through the destination's own
 * channel (a memfd behind mig_chan_recv_preamble()/mig_chan_recv(), so
 * headers, bounds, checksums and truncation are the real ones), then:
 *
 *   HELLO    mig_in_hello() against this machine (two RAM regions, two
 *            devices), as a first connection or a post-copy recovery
 *   frames   mig_in_frame(), the receiving thread's step: PAGES into guest
 *            RAM, PASS, DISCARD, STATE kept, the order of POSTCOPY_LISTEN,
 *            POSTCOPY_RUN, END and GO; then what the thread does next:
 *            mig_postcopy_listen() (userfaultfd, a real fault thread;
 *            pages then go in with UFFDIO_COPY), the state handed to the
 *            loaders (the container, cpu.N and the platform sections;
 *            fuzz-state drives the device loaders), until DONE or GO
 *
 * Mode byte: bit 0 leaves the checksums as given (otherwise every header
 * and payload sum the input has room for is filled in, so that the fuzzer
 * spends its time past them), bit 1 makes the connection a recovery,
 * bit 2 gives the destination a userfaultfd (post-copy works), as a host
 * with vm.unprivileged_userfaultfd or root has.
 *
 * Guest RAM is mapped with no-access pages around each region, so a write
 * outside RAM faults. It starts holding a pattern, and a model follows
 * what each accepted record and discard must do; RAM must equal the model
 * after every frame (before post-copy, which makes reading a missing page
 * wait for the source) and at the end: every accepted record landed where
 * it says, nothing else changed. A refused stream has a GError with a
 * message, a refused HELLO changes nothing, and the received bitmap is
 * the model's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "tern/device.h"
#include "tern/error.h"
#include "tern/le.h"
#include "tern/platform_state.h"
#include "tern/state.h"
#include "tern/vcpu_state.h"
#include "tern/vm.h"
#include "dest.h"
#include "fuzz-migration.h"
#include "fuzz.h"

static struct {
	struct vm vm;
	struct migration m;
	struct device devices[FUZZ_MIG_NDEVICES];
	uint8_t *map;
	size_t map_len;
	/* One channel for every input, its descriptor a pipe of the input's. */
	struct mig_chan *ch;
	struct vcpu_state_caps caps[2];
	struct vcpu_state *vcpu;
	/*
	 * The model: what RAM must hold, which pages were received, which
	 * pages differ from the pattern (only those are put back for the
	 * next input: RAM equals the model at the end of each).
	 */
	uint8_t *want[FUZZ_MIG_REGIONS];
	bool *got[FUZZ_MIG_REGIONS];
	bool *touched[FUZZ_MIG_REGIONS];
	uint8_t *pattern[FUZZ_MIG_REGIONS];
} f;

static uint8_t *region_hva(unsigned int r)
{
	return f.vm.mem.regions[r].hva;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct guest_memory *mem = &f.vm.mem;
	size_t page = GUEST_PAGE_SIZE, at = page;

	/* [guard] region 0 [guard] region 1 [guard] */
	f.map_len = page * (FUZZ_MIG_REGIONS + 1);
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++)
		f.map_len += fuzz_mig_region_pages[r] * page;
	f.map = mmap(NULL, f.map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (f.map == MAP_FAILED)
		abort();
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->vm_fd = -1;
	mem->page_size = GUEST_PAGE_SIZE;
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++) {
		uint64_t size = fuzz_mig_region_pages[r] * page;

		if (mprotect(f.map + at, size, PROT_READ | PROT_WRITE))
			abort();
		mem->regions[r] = (struct guest_region){
		    .gpa = fuzz_mig_region_gpa[r],
		    .size = size,
		    .hva = f.map + at,
		    .fd = -1,
		};
		mem->ram_size += size;
		mem->end = fuzz_mig_region_gpa[r] + size;
		f.want[r] = g_malloc(size);
		f.pattern[r] = g_malloc(size);
		f.got[r] = g_new0(bool, fuzz_mig_region_pages[r]);
		f.touched[r] = g_new0(bool, fuzz_mig_region_pages[r]);
		/* Never zero: a stray write of zeroes shows too. */
		for (uint64_t i = 0; i < size; i++)
			f.pattern[r][i] = (uint8_t)(i * 151 + r * 7 + 1) | 0x10;
		memcpy(f.want[r], f.pattern[r], size);
		memcpy(f.map + at, f.pattern[r], size);
		at += size + page;
	}
	mem->nr_regions = FUZZ_MIG_REGIONS;
	f.vm.nr_vcpus = FUZZ_MIG_VCPUS;
	f.vm.devices = g_ptr_array_new();
	for (unsigned int i = 0; i < FUZZ_MIG_NDEVICES; i++) {
		g_strlcpy(f.devices[i].id, fuzz_mig_devices[i],
			  sizeof(f.devices[i].id));
		g_ptr_array_add(f.vm.devices, &f.devices[i]);
	}
	pthread_mutex_init(&f.m.lock, NULL);
	pthread_cond_init(&f.m.cond, NULL);
	f.m.vm = &f.vm;
	f.vm.migration = &f.m;
	/* The fault thread runs on a worker, as in tern. */
	if (mig_workers_start(&f.m.workers, NULL))
		abort();
	f.ch = mig_chan_new(-1, false);
	fuzz_mig_rp_init();
	/* As fuzz-state: cpu.N with N even an XSAVE host, odd a legacy one. */
	fuzz_state_caps_init(f.caps);
	f.vcpu = g_new0(struct vcpu_state, 1);
	return 0;
}

/*
 * Fill in what a source would have summed: each header's and, where the
 * input holds the whole payload, the payload's, and in HELLO and STATE
 * the state container's own length and checksum, as fuzz-state does (zlib's
 * CRC-32 is the container's and much faster than the instrumented one).
 * A frame's length is left as given.
 */
void fuzz_mig_sums_fill(uint8_t *s, size_t len, size_t at)
{
	while (at + MIG_FRAME_HEADER_SIZE <= len) {
		uint8_t *h = s + at, *p = h + MIG_FRAME_HEADER_SIZE;
		uint32_t type = le32_get(h), plen = le32_get(h + 4);

		at += MIG_FRAME_HEADER_SIZE;
		if (plen <= len - at &&
		    (type == MIG_FRAME_HELLO || type == MIG_FRAME_STATE) &&
		    plen >= STATE_HEADER_SIZE + STATE_TRAILER_SIZE) {
			le64_put(p + 16,
				 plen - STATE_HEADER_SIZE - STATE_TRAILER_SIZE);
			le32_put(p + plen - 4, (uint32_t)crc32(0, p, plen - 4));
		}
		if (plen <= len - at)
			le32_put(h + 8, mig_sum(p, plen));
		le32_put(h + 12, mig_sum(h, 12));
		if (plen > len - at)
			break;
		at += plen;
	}
}

/* The region holding [gpa, gpa + len), with len > 0, or -1. */
static int model_region(uint64_t gpa, uint64_t len, uint64_t *off)
{
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++) {
		uint64_t size = fuzz_mig_region_pages[r] * GUEST_PAGE_SIZE;

		if (gpa >= fuzz_mig_region_gpa[r] &&
		    gpa - fuzz_mig_region_gpa[r] < size &&
		    len <= size - (gpa - fuzz_mig_region_gpa[r])) {
			*off = gpa - fuzz_mig_region_gpa[r];
			return (int)r;
		}
	}
	return -1;
}

/* What a PAGES frame must do: true when every record is taken. */
static bool model_pages(const uint8_t *p, size_t len, bool postcopy)
{
	struct mig_page_rec rec;
	GError *err = NULL;
	size_t pos = 0;
	int ret;

	while ((ret = mig_page_rec_next(p, len, &pos, &rec, &err)) > 0) {
		uint64_t off, first;
		int r = model_region(
		    rec.gpa, (uint64_t)rec.npages << GUEST_PAGE_SHIFT, &off);

		if (r < 0)
			return false;
		first = off >> GUEST_PAGE_SHIFT;
		for (uint64_t i = 0; i < rec.npages; i++) {
			uint8_t *dst =
			    f.want[r] + ((first + i) << GUEST_PAGE_SHIFT);
			bool had = f.got[r][first + i];

			/* Post-copy installs a page once; pre-copy writes over.
			 */
			if (postcopy && had)
				continue;
			f.touched[r][first + i] = true;
			if (rec.data)
				memcpy(dst, rec.data + (i << GUEST_PAGE_SHIFT),
				       GUEST_PAGE_SIZE);
			else if (had || postcopy)
				memset(dst, 0, GUEST_PAGE_SIZE);
			f.got[r][first + i] = true;
		}
	}
	g_clear_error(&err);
	return ret == 0;
}

/* What a DISCARD frame must do: true when every range is taken. */
static bool model_discard(const uint8_t *p, size_t len, bool postcopy)
{
	for (size_t i = 0; i + 16 <= len; i += 16) {
		uint64_t gpa = le64_get(p + i), n = le64_get(p + i + 8), off;
		int r;

		if (postcopy || gpa % GUEST_PAGE_SIZE || n % GUEST_PAGE_SIZE ||
		    !n)
			return false;
		r = model_region(gpa, n, &off);
		if (r < 0)
			return false;
		memset(f.want[r] + off, 0, n);
		for (uint64_t k = 0; k < n >> GUEST_PAGE_SHIFT; k++) {
			f.got[r][(off >> GUEST_PAGE_SHIFT) + k] = false;
			f.touched[r][(off >> GUEST_PAGE_SHIFT) + k] = true;
		}
	}
	return true;
}

/* POSTCOPY_LISTEN drops every page not received. */
static void model_listen(void)
{
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++)
		for (uint64_t p = 0; p < fuzz_mig_region_pages[r]; p++)
			if (!f.got[r][p]) {
				memset(f.want[r] + (p << GUEST_PAGE_SHIFT), 0,
				       GUEST_PAGE_SIZE);
				f.touched[r][p] = true;
			}
}

static void model_check(struct mig_in *in)
{
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++) {
		uint64_t size = fuzz_mig_region_pages[r] * GUEST_PAGE_SIZE;

		if (memcmp(region_hva(r), f.want[r], size)) {
			for (uint64_t i = 0; i < size; i++)
				if (region_hva(r)[i] != f.want[r][i]) {
					fprintf(
					    stderr,
					    "fuzz: RAM at 0x%llx is 0x%02x, "
					    "should be 0x%02x\n",
					    (unsigned long long)(fuzz_mig_region_gpa
								     [r] +
								 i),
					    region_hva(r)[i], f.want[r][i]);
					break;
				}
			FUZZ_CHECK(!"RAM holds what the accepted records put "
				    "there, nothing else");
		}
		for (uint64_t p = 0; p < fuzz_mig_region_pages[r]; p++)
			FUZZ_CHECK(mig_bitmap_test(&in->received, r, p) ==
				   f.got[r][p]);
	}
}

/* The first section of a kind this target has no loader for, skipped. */
static bool section_skip(struct state_reader *r, const char *name, GError **err)
{
	g_autofree uint8_t *rest = NULL;

	if (!state_section_open(r, 0, UINT32_MAX, NULL, "%s", name))
		return state_section_close(r, err);
	rest = g_malloc(r->sec_len - r->sec_pos + 1);
	(void)state_get_bytes(r, rest, r->sec_len - r->sec_pos);
	return state_section_close(r, err);
}

/*
 * The state, as the destination's load reads it before it changes the
 * machine: the container, then each vCPU and the platform through their
 * loaders (the rest of vm_state_load() needs KVM; the device sections'
 * loaders are fuzz-state's).
 */
static bool state_apply(struct mig_in *in, GError **err)
{
	struct state_reader r;
	struct platform_state plat;
	const char *next;
	bool ok = true;

	if (!state_reader_init(&r, in->state, in->state_len, err))
		return false;
	while (ok && (next = state_next_section(&r))) {
		char name[STATE_NAME_MAX + 1], tail;
		unsigned int id;

		g_strlcpy(name, next, sizeof(name));
		if (sscanf(name, "cpu.%u%c", &id, &tail) == 1)
			ok = vcpu_state_load(&r, id, &f.caps[id % 2], f.vcpu,
					     err);
		else if (!strcmp(name, "irqchip"))
			ok = platform_state_load(&r, &plat, err);
		else
			ok = section_skip(&r, name, err);
	}
	if (ok)
		ok = state_reader_finish(&r, err);
	state_reader_clear(&r);
	return ok;
}

/*
 * The input as the channel's descriptor: a pipe holding all of it (-max_len
 * is under a pipe's 64 KiB), then its end. The channel is made once: a
 * new one per input cost an mmap of its read buffer and the faults in it.
 */
static struct mig_chan *chan_open(const uint8_t *s, size_t len)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) || write(fds[1], s, len) != (ssize_t)len)
		abort();
	close(fds[1]);
	f.ch->fd = fds[0];
	f.ch->rpos = f.ch->rlen = 0;
	f.ch->received = 0;
	return f.ch;
}

static void chan_close(struct mig_chan *ch)
{
	close(ch->fd);
	ch->fd = -1;
}

/*
 * As mig_in_new(), but with a userfaultfd only when the mode gives one:
 * closing one walks every mapping of the process (ASan's are many), and
 * cost more than a short input's whole run.
 */
static struct mig_in *in_new(uint8_t mode)
{
	struct mig_in *in = g_new0(struct mig_in, 1);

	in->m = &f.m;
	in->vm = &f.vm;
	in->listen_fd = -1;
	in->cancel_efd = -1;
	in->uffd = mode & FUZZ_MIG_UFFD ? mig_postcopy_open_uffd() : -ENOSYS;
	mig_bitmap_init(&in->received, &f.vm.mem);
	return in;
}

/* HELLO: -1 refused, 0 the stream stops here (a recovery), 1 frames follow. */
static int hello(struct mig_in *in, struct mig_chan *ch, bool recover,
		 GError **err)
{
	struct mig_frame_header h;
	uint64_t session = in->session;

	if (!mig_chan_recv_preamble(ch, err) || !mig_chan_recv(ch, &h, err))
		return -1;
	/* in_connect()'s own check, before the payload is looked at. */
	if (h.type != MIG_FRAME_HELLO) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the stream starts with %s, not HELLO",
			    mig_frame_name(h.type));
		return -1;
	}
	if (!mig_in_hello(in, ch->payload, h.len, recover, err)) {
		/* Nothing of a refused connection stays, least of all its
		 * session. */
		FUZZ_CHECK(in->session == session);
		return -1;
	}
	/* A recovery goes on with RECEIVED, from the post-copy state before. */
	FUZZ_CHECK(!recover || in->session == session);
	return recover ? 0 : 1;
}

/* Frames until the stream ends (true) or is refused. */
static bool frames(struct mig_in *in, struct mig_chan *ch, GError **err)
{
	struct mig_frame_header h;
	enum mig_in_next next;

	while (mig_chan_recv(ch, &h, err)) {
		bool pc = in->pc != NULL, want = true, ok;

		if (h.type == MIG_FRAME_PAGES)
			want = model_pages(ch->payload, h.len, pc);
		else if (h.type == MIG_FRAME_DISCARD)
			want = model_discard(ch->payload, h.len, pc);
		ok = mig_in_frame(in, &h, ch->payload, &next, err);
		if (h.type == MIG_FRAME_PAGES || h.type == MIG_FRAME_DISCARD) {
			FUZZ_CHECK(ok == want);
			/* Reading a missing page in post-copy waits for the
			 * source. */
			if (!pc)
				model_check(in);
		}
		if (!ok)
			return false;
		switch (next) {
		case MIG_IN_READ:
			break;
		case MIG_IN_LISTEN:
			in->pc = mig_postcopy_listen(in, err);
			if (!in->pc)
				return false;
			model_listen();
			break;
		case MIG_IN_RUN:
		case MIG_IN_APPLY:
			FUZZ_CHECK(in->state || !in->state_len);
			if (!state_apply(in, err))
				return false;
			break;
		case MIG_IN_DONE:
			FUZZ_CHECK(mig_bitmap_count(&in->received) ==
				   f.vm.mem.ram_size >> GUEST_PAGE_SHIFT);
			return true;
		case MIG_IN_GO:
			FUZZ_CHECK(in->running && in->state);
			return true;
		}
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree uint8_t *s = NULL;
	struct mig_chan *ch;
	struct mig_in *in;
	GError *err = NULL;
	uint8_t mode;
	bool done;
	int ret;

	if (size < 1)
		return 0;
	mode = data[0];
	for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++) {
		for (uint64_t p = 0; p < fuzz_mig_region_pages[r]; p++) {
			size_t off = p << GUEST_PAGE_SHIFT;

			if (!f.touched[r][p])
				continue;
			memcpy(region_hva(r) + off, f.pattern[r] + off,
			       GUEST_PAGE_SIZE);
			memcpy(f.want[r] + off, f.pattern[r] + off,
			       GUEST_PAGE_SIZE);
			f.touched[r][p] = false;
		}
		memset(f.got[r], 0, fuzz_mig_region_pages[r] * sizeof(bool));
	}
	if (mode & FUZZ_MIG_RETURN_PATH) {
		fuzz_mig_rp_run(&f.m, mode, data + 1, size - 1);
		/* A source only reads its RAM. */
		for (unsigned int r = 0; r < FUZZ_MIG_REGIONS; r++)
			FUZZ_CHECK(!memcmp(region_hva(r), f.want[r],
					   fuzz_mig_region_pages[r] *
					       GUEST_PAGE_SIZE));
		return 0;
	}
	s = g_memdup2(data + 1, size - 1);
	size--;
	if (!(mode & FUZZ_MIG_RAW_SUMS))
		fuzz_mig_sums_fill(s, size, MIG_PREAMBLE_SIZE);

	in = in_new(mode);
	mig_hello_from_vm(&f.vm, 0, 0, &in->want);
	if (mode & FUZZ_MIG_RECOVER)
		in->session = FUZZ_MIG_SESSION;
	ch = chan_open(s, size);
	ret = hello(in, ch, mode & FUZZ_MIG_RECOVER, &err);
	done = ret == 0 || (ret > 0 && frames(in, ch, &err));
	if (!done)
		FUZZ_CHECK(err && err->message && *err->message);
	else
		FUZZ_CHECK(!err);
	g_clear_error(&err);
	if (in->pc)
		mig_postcopy_end(in->pc);
	in->pc = NULL;
	model_check(in);
	chan_close(ch);
	mig_in_free(in);
	return 0;
}
