// SPDX-License-Identifier: MIT
/*
 * blk-bench: 4 KiB random I/O against virtio-blk at a fixed queue depth,
 * timed with the KVM clock so that the numbers mean the same under QEMU and
 * tern. One line per run:
 *
 *   BENCH name=randread qd=32 ios=N ns=T iops=X
 *
 * Command line: mode=randread[,randwrite]  qd=1[,32,128]  ios=N (per run,
 * default 100000)  warmup=N (untimed I/Os before each run, default ios/20)
 * ring=split|packed  layout=indirect|direct|merged (default indirect when
 * the device offers it, else merged)  event_idx=0|1 (1)  seed=N
 * verify=1: the disk holds blk-test's pattern (tests/integration/
 * blk-check.py --make writes it); every read checks the first word of each
 * of its sectors and writes write the pattern, so a VMM that does not
 * really move the data fails instead of posting a number.
 *
 * Ring 0 only sets the device up. The submission loop runs in ring 3, which
 * the development machines run natively: it keeps qd requests in flight,
 * polls the used ring (no interrupts: MSI-X vectors are not assigned and
 * the driver asks for no used-buffer notifications), refills every slot it
 * reaps, and kicks once per batch, only when the device asks for a kick
 * (EVENT_IDX or the no-notify flag).
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio-blk.h"

#define IO_BYTES 4096
#define IO_SECTORS (IO_BYTES / VIRTIO_BLK_SECTOR)
#define MAX_QD 256
#define MAX_RUNS 8
#define STALL_NS 10000000000ull
#define LIST_MAX 64

enum bench_mode { MODE_RANDREAD, MODE_RANDWRITE };

struct bench {
	struct blk_dev dev;
	enum blk_layout layout;
	void *frames;
	struct blk_req *reqs;
	uint64_t rnd;
	unsigned int nqd, nmodes;
	unsigned int qd[MAX_RUNS];
	enum bench_mode mode[MAX_RUNS];
	uint64_t ios, warmup;
	bool verify;
};

/* blk-test's pattern: word w of sector s holds 1 << 48 | w << 40 | s. */
static inline uint64_t tag(uint64_t sector)
{
	return 1ull << 48 | sector;
}

static struct bench B;

static const char *mode_name(enum bench_mode m)
{
	return m == MODE_RANDWRITE ? "randwrite" : "randread";
}

/* xorshift64*: cheap, and the same sequence under every VMM. */
static inline uint64_t rnd_next(void)
{
	B.rnd ^= B.rnd >> 12;
	B.rnd ^= B.rnd << 25;
	B.rnd ^= B.rnd >> 27;
	return B.rnd * 0x2545f4914f6cdd1dull;
}

static inline void submit_one(unsigned int slot, uint32_t type,
			      uint64_t nblocks)
{
	uint64_t sector = (rnd_next() % nblocks) * IO_SECTORS;
	uint64_t *buf = blk_frame(B.frames, slot, IO_BYTES);

	/* The whole pattern, so that the file stays blk-test's. */
	if (B.verify && type == VIRTIO_BLK_T_OUT) {
		for (unsigned int s = 0; s < IO_SECTORS; s++)
			for (unsigned int w = 0; w < VIRTIO_BLK_SECTOR / 8; w++)
				*buf++ = tag(sector + s) | (uint64_t)w << 40;
	}
	if (blk_submit(&B.dev, 0, &B.reqs[slot], type, sector,
		       blk_frame(B.frames, slot, IO_BYTES), IO_BYTES,
		       B.layout) < 0)
		result_fail("queue full at slot %u", slot);
}

static void check_read(const struct blk_req *r)
{
	unsigned int slot = (unsigned int)(r - B.reqs);
	const uint64_t *buf = blk_frame(B.frames, slot, IO_BYTES);
	uint64_t sector = r->sector;

	for (unsigned int s = 0; s < IO_SECTORS; s++)
		if (buf[s * VIRTIO_BLK_SECTOR / 8] != tag(sector + s))
			result_fail(
			    "verify: sector %lu reads %#lx, expected %#lx",
			    (unsigned long)(sector + s),
			    (unsigned long)buf[s * VIRTIO_BLK_SECTOR / 8],
			    (unsigned long)tag(sector + s));
}

struct run_result {
	uint64_t ns, kicks, batches;
	/* The longest time without a completion, to one idle check. */
	uint64_t longest_gap_ns;
};

/* Spins between looks at the clock while nothing completes. */
#define IDLE_CHECK 65536

/* Ring 3: ios requests, qd in flight. */
static void run(enum bench_mode mode, unsigned int qd, uint64_t ios,
		struct run_result *res)
{
	struct blk_dev *b = &B.dev;
	uint32_t type =
	    mode == MODE_RANDWRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	uint64_t nblocks = b->capacity / IO_SECTORS;
	uint64_t submitted = 0, completed = 0, kicks = 0, batches = 0;
	uint64_t t0, t1, seen = 0, progress_at, idle_since = 0;
	unsigned long idle = 0;

	res->longest_gap_ns = 0;

	t0 = progress_at = clock_ns();
	for (unsigned int i = 0; i < qd && submitted < ios; i++, submitted++)
		submit_one(i, type, nblocks);
	kicks += blk_kick(b, 0);
	while (completed < ios) {
		struct blk_req *r;
		unsigned int n = 0;

		while ((r = blk_poll(b, 0)) != NULL) {
			if (*r->statusp != VIRTIO_BLK_S_OK)
				result_fail("%s request failed with status %u",
					    mode_name(mode), *r->statusp);
			if (B.verify && type == VIRTIO_BLK_T_IN)
				check_read(r);
			completed++;
			n++;
			if (submitted < ios) {
				submit_one((unsigned int)(r - B.reqs), type,
					   nblocks);
				submitted++;
			}
		}
		if (n != 0) {
			/*
			 * After at least one idle check (a back-end restart, say)
			 * read the clock once more: the gap runs from that check,
			 * so it is short by at most one check's spins.
			 */
			if (idle >= IDLE_CHECK) {
				uint64_t gap = clock_ns() - idle_since;

				if (gap > res->longest_gap_ns)
					res->longest_gap_ns = gap;
			}
			batches++;
			kicks += blk_kick(b, 0);
			idle = 0;
			continue;
		}
		cpu_relax();
		/* Look at the clock only now and then: rdtsc is not free. */
		if (++idle % IDLE_CHECK == 0) {
			uint64_t now = clock_ns();

			if (idle == IDLE_CHECK)
				idle_since = now;

			if (seen != completed) {
				seen = completed;
				progress_at = now;
			} else if (now - progress_at > STALL_NS) {
				result_fail(
				    "stalled: %lu of %lu requests "
				    "completed, %lu in flight",
				    (unsigned long)completed,
				    (unsigned long)ios,
				    (unsigned long)(submitted - completed));
			}
		}
	}
	t1 = clock_ns();
	res->ns = t1 - t0;
	res->kicks = kicks;
	res->batches = batches;
}

static long bench_user(void *arg)
{
	struct blk_dev *b = &B.dev;

	(void)arg;
	con_printf("blk-bench: capacity %lu MiB, %s ring, queue size %u, "
		   "layout %s%s, clock %s%s\n",
		   (unsigned long)(b->capacity / 2048),
		   b->vq[0].packed ? "packed" : "split", b->vq[0].size,
		   blk_layout_name(B.layout),
		   b->vq[0].event_idx ? ", event-idx" : "", clock_source(),
		   B.verify ? ", verifying data" : "");
	if (b->capacity < IO_SECTORS)
		result_fail("the disk is smaller than one I/O");
	for (unsigned int m = 0; m < B.nmodes; m++) {
		if (B.mode[m] == MODE_RANDWRITE && b->ro)
			result_fail("randwrite on a read-only disk");
		for (unsigned int i = 0; i < B.nqd; i++) {
			struct run_result res;
			unsigned int qd = B.qd[i];

			if (B.warmup != 0)
				run(B.mode[m], qd, B.warmup, &res);
			run(B.mode[m], qd, B.ios, &res);
			if (res.ns == 0)
				res.ns = 1;
			con_printf(
			    "BENCH name=%s qd=%u ios=%lu ns=%lu iops=%lu\n",
			    mode_name(B.mode[m]), qd, (unsigned long)B.ios,
			    (unsigned long)res.ns,
			    (unsigned long)(B.ios * 1000000000ull / res.ns));
			con_printf(
			    "blk-bench: %s qd=%u kicks=%lu batches=%lu "
			    "longest_gap_us=%lu\n",
			    mode_name(B.mode[m]), qd, (unsigned long)res.kicks,
			    (unsigned long)res.batches,
			    (unsigned long)(res.longest_gap_ns / 1000));
		}
	}
	return 0;
}

/* "1,32,128" -> numbers; false on anything else. */
static bool parse_list(const char *s, unsigned int *out, unsigned int *n,
		       unsigned int max_value)
{
	*n = 0;
	while (*s) {
		unsigned int v = 0;

		if (*s < '0' || *s > '9' || *n == MAX_RUNS)
			return false;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (unsigned int)(*s++ - '0');
			if (v > max_value)
				return false;
		}
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return false;
		out[(*n)++] = v;
	}
	return *n > 0;
}

static void parse_args(struct blk_opts *o)
{
	char buf[LIST_MAX];

	B.qd[0] = 32;
	B.nqd = 1;
	if (cmdline_get_str("qd", buf, sizeof(buf)) &&
	    !parse_list(buf, B.qd, &B.nqd, MAX_QD))
		result_fail("bad qd=%s (1..%u, comma-separated)", buf, MAX_QD);
	for (unsigned int i = 0; i < B.nqd; i++)
		if (B.qd[i] == 0)
			result_fail("qd=0");

	B.mode[0] = MODE_RANDREAD;
	B.nmodes = 1;
	if (cmdline_get_str("mode", buf, sizeof(buf))) {
		const char *p = buf;

		B.nmodes = 0;
		while (*p && B.nmodes < MAX_RUNS) {
			if (strncmp(p, "randread", 8) == 0) {
				B.mode[B.nmodes++] = MODE_RANDREAD;
				p += 8;
			} else if (strncmp(p, "randwrite", 9) == 0) {
				B.mode[B.nmodes++] = MODE_RANDWRITE;
				p += 9;
			} else {
				result_fail("bad mode=%s (randread, randwrite)",
					    buf);
			}
			if (*p == ',')
				p++;
		}
	}
	B.ios = cmdline_uint_or("ios", 1000000000ul, 100000);
	if (B.ios == 0)
		result_fail("ios=0");
	B.warmup = cmdline_uint_or("warmup", 1000000000ul, B.ios / 20);
	B.rnd = cmdline_uint_or("seed", ~0ul, 0x9e3779b97f4a7c15ul);
	if (B.rnd == 0)
		B.rnd = 1;
	B.verify = cmdline_uint_or("verify", 1, 0);
	o->packed = cmdline_is("ring", "packed");
	o->event_idx = cmdline_uint_or("event_idx", 1, 1);
	o->msix = false;
	o->max_queues = 1;
}

int guest_main(void)
{
	struct blk_opts o = {0};
	const char *why = "";
	unsigned int max_qd = 0;

	parse_args(&o);
	if (!clock_init())
		con_printf("blk-bench: no kvmclock; timing with %s\n",
			   clock_source());
	if (blk_open(&B.dev, &o, &why) < 0)
		result_fail("virtio-blk: %s", why);

	struct virtq *vq = &B.dev.vq[0];

	if (cmdline_is("layout", "direct"))
		B.layout = BLK_LAYOUT_DIRECT;
	else if (cmdline_is("layout", "merged"))
		B.layout = BLK_LAYOUT_MERGED;
	else if (cmdline_is("layout", "indirect") || vq->indirect)
		B.layout = BLK_LAYOUT_INDIRECT;
	else
		B.layout = BLK_LAYOUT_MERGED;
	if (B.layout == BLK_LAYOUT_INDIRECT && !vq->indirect)
		result_fail(
		    "layout=indirect, but VIRTIO_F_INDIRECT_DESC is not "
		    "offered");

	unsigned int per_req = B.layout == BLK_LAYOUT_DIRECT   ? 3
			       : B.layout == BLK_LAYOUT_MERGED ? 2
							       : 1;

	for (unsigned int i = 0; i < B.nqd; i++)
		if (B.qd[i] > max_qd)
			max_qd = B.qd[i];
	if ((uint32_t)max_qd * per_req > vq->size)
		result_fail(
		    "qd=%u with the %s layout needs %u descriptors; the "
		    "queue has %u",
		    max_qd, blk_layout_name(B.layout), max_qd * per_req,
		    vq->size);
	B.frames = blk_frames_alloc(max_qd, IO_BYTES);
	B.reqs = dma_alloc(sizeof(struct blk_req) * max_qd, 64);
	if (!B.frames || !B.reqs)
		result_fail("out of memory for %u buffers", max_qd);

	user_call(bench_user, NULL);
	result_pass();
}
