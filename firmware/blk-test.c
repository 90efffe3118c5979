// SPDX-License-Identifier: MIT
/*
 * blk-test: a virtio-blk functional test. Writes a pattern over the whole
 * disk and reads it back, through every queue and every descriptor layout;
 * then GET_ID, FLUSH, WRITE_ZEROES, DISCARD, an unknown request type and
 * out-of-range requests. With expect_ro=1 it checks a read-only disk
 * instead. The host checks the file afterwards (tests/integration/virtio.sh
 * knows the pattern: every 8-byte little-endian word w of sector s holds
 * seed << 48 | w << 40 | s, seed 1 here).
 *
 * Command line: ring=split|packed  queues=N (default 4)  msix=0|1 (1)
 *   revector=1: after DRIVER_OK, move queue 0 onto a table entry no queue
 *   used (the one after the queues'), whose vector only queue 0's
 *   completions can then raise
 * event_idx=0|1 (1)  serial=STR (GET_ID must return it)  expect_ro=1.
 *
 * Ring 0 finds and sets up the device; all requests and data checks run
 * in ring 3 (user_call), which the development machines run natively.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio-blk.h"

#define CHUNK_BYTES (32 * 1024)
#define CHUNK_SECTORS (CHUNK_BYTES / VIRTIO_BLK_SECTOR)
#define WINDOW 16 /* requests in flight, spread over the queues */
#define SPECIAL_SECTORS 32 /* size of the discard and write-zeroes ranges */
#define PATTERN_SEED 1
#define STALL_NS 10000000000ull
#define SERIAL_MAX 64

#define APIC_REG_SVR 0xf0
#define APIC_REG_IRR 0x200
#define APIC_SVR_ENABLE 0x100
#define X2APIC_MSR_BASE 0x800

struct blk_test {
	struct blk_dev dev;
	bool expect_ro, msix, want_packed, revector;
	bool have_serial;
	char serial[SERIAL_MAX];
	void *frames; /* WINDOW frames of CHUNK_BYTES */
	struct blk_req *reqs; /* WINDOW */
	uint64_t ios, bytes;
};

static struct blk_test T;

static inline uint64_t pattern_word(uint64_t seed, uint64_t sector,
				    unsigned int w)
{
	return seed << 48 | (uint64_t)w << 40 | sector;
}

static void pattern_fill(void *buf, uint64_t sector, uint32_t sectors,
			 uint64_t seed)
{
	uint64_t *p = buf;

	for (uint32_t s = 0; s < sectors; s++)
		for (unsigned int w = 0; w < VIRTIO_BLK_SECTOR / 8; w++)
			*p++ = pattern_word(seed, sector + s, w);
}

static void pattern_check(const void *buf, uint64_t sector, uint32_t sectors,
			  uint64_t seed)
{
	const uint64_t *p = buf;

	for (uint32_t s = 0; s < sectors; s++) {
		for (unsigned int w = 0; w < VIRTIO_BLK_SECTOR / 8; w++, p++) {
			uint64_t want =
			    seed == 0 ? 0 : pattern_word(seed, sector + s, w);

			if (*p != want)
				result_fail(
				    "data mismatch at sector %lu word %u: "
				    "read %#lx, expected %#lx",
				    (unsigned long)(sector + s), w,
				    (unsigned long)*p, (unsigned long)want);
		}
	}
}

static const char *status_name(uint8_t s)
{
	switch (s) {
	case VIRTIO_BLK_S_OK:
		return "OK";
	case VIRTIO_BLK_S_IOERR:
		return "IOERR";
	case VIRTIO_BLK_S_UNSUPP:
		return "UNSUPP";
	case 0xff:
		return "(not written)";
	}
	return "(invalid)";
}

static void expect_status(const char *what, uint8_t got, uint8_t want)
{
	if (got != want)
		result_fail("%s: status %s (%u), expected %s", what,
			    status_name(got), got, status_name(want));
}

/*
 * Each chunk's layout: writes go direct, indirect, merged by thirds of the
 * disk; reads rotate chunk by chunk, so most chunks are read back through
 * a different layout from the one that wrote them.
 */
static enum blk_layout chunk_layout(uint64_t chunk, uint64_t nchunks,
				    bool write)
{
	unsigned int l = write ? (unsigned int)(chunk * 3 / nchunks)
			       : (unsigned int)(chunk % 3);
	enum blk_layout layout = (enum blk_layout)l;

	if (layout == BLK_LAYOUT_INDIRECT && !T.dev.vq[0].indirect)
		layout = BLK_LAYOUT_DIRECT;
	return layout;
}

struct slot_info {
	uint64_t sector;
	uint32_t sectors;
	unsigned int queue;
};

/*
 * Stream the whole disk through WINDOW requests in flight: write the
 * pattern (write) or read it back and check it (!write).
 */
static void stream_disk(bool write)
{
	struct blk_dev *b = &T.dev;
	uint64_t nchunks = (b->capacity + CHUNK_SECTORS - 1) / CHUNK_SECTORS;
	uint64_t next = 0, done = 0, last_progress = clock_ns();
	struct slot_info info[WINDOW];
	unsigned int free_slots[WINDOW], nfree = WINDOW;

	for (unsigned int i = 0; i < WINDOW; i++)
		free_slots[i] = i;
	while (done < nchunks) {
		bool added[BLK_MAX_QUEUES] = {false};

		while (nfree > 0 && next < nchunks) {
			/* A small queue holds fewer requests than the window.
			 */
			if (virtq_room(&b->vq[next % b->nq]) < 3)
				break;

			unsigned int slot = free_slots[--nfree];
			struct slot_info *in = &info[slot];
			void *buf = blk_frame(T.frames, slot, CHUNK_BYTES);
			uint64_t left = b->capacity - next * CHUNK_SECTORS;

			in->sector = next * CHUNK_SECTORS;
			in->sectors = left < CHUNK_SECTORS ? (uint32_t)left
							   : CHUNK_SECTORS;
			in->queue = (unsigned int)(next % b->nq);
			if (write)
				pattern_fill(buf, in->sector, in->sectors,
					     PATTERN_SEED);
			T.reqs[slot].user = in;
			if (blk_submit(b, in->queue, &T.reqs[slot],
				       write ? VIRTIO_BLK_T_OUT
					     : VIRTIO_BLK_T_IN,
				       in->sector, buf,
				       in->sectors * VIRTIO_BLK_SECTOR,
				       chunk_layout(next, nchunks, write)) < 0)
				result_fail(
				    "queue %u refused a request with room "
				    "for it",
				    in->queue);
			added[in->queue] = true;
			next++;
		}
		for (unsigned int q = 0; q < b->nq; q++)
			if (added[q])
				blk_kick(b, q);

		bool progress = false;

		for (unsigned int q = 0; q < b->nq; q++) {
			struct blk_req *r;

			while ((r = blk_poll(b, q)) != NULL) {
				unsigned int slot = (unsigned int)(r - T.reqs);
				struct slot_info *in = r->user;

				if (slot >= WINDOW || in != &info[slot] ||
				    in->queue != q)
					result_fail(
					    "queue %u completed a request "
					    "it was not given",
					    q);
				if (blk_status(r) != VIRTIO_BLK_S_OK)
					result_fail(
					    "%s of sectors %lu+%u on queue "
					    "%u: status %s",
					    write ? "write" : "read",
					    (unsigned long)in->sector,
					    in->sectors, q,
					    status_name(blk_status(r)));
				if (!write)
					pattern_check(blk_frame(T.frames, slot,
								CHUNK_BYTES),
						      in->sector, in->sectors,
						      PATTERN_SEED);
				T.ios++;
				T.bytes +=
				    (uint64_t)in->sectors * VIRTIO_BLK_SECTOR;
				free_slots[nfree++] = slot;
				done++;
				progress = true;
			}
		}
		if (progress) {
			last_progress = clock_ns();
		} else if (clock_ns() - last_progress > STALL_NS) {
			result_fail(
			    "no completion for 10 s with %u requests in "
			    "flight",
			    WINDOW - nfree);
		}
	}
}

static void check_read_only(void)
{
	struct blk_dev *b = &T.dev;
	struct blk_req *r = &T.reqs[0];
	void *buf = blk_frame(T.frames, 0, CHUNK_BYTES);

	if (!b->ro)
		result_fail("expect_ro=1 but VIRTIO_BLK_F_RO is not offered");
	expect_status(
	    "read of sector 0 on a read-only disk",
	    blk_sync(b, 0, r, VIRTIO_BLK_T_IN, 0, buf, 4096, BLK_LAYOUT_DIRECT),
	    VIRTIO_BLK_S_OK);
	pattern_fill(buf, 0, 8, 7);
	expect_status("write to a read-only disk",
		      blk_sync(b, 0, r, VIRTIO_BLK_T_OUT, 0, buf, 4096,
			       BLK_LAYOUT_DIRECT),
		      VIRTIO_BLK_S_IOERR);
	con_printf("blk-test: read-only: read OK, write rejected with IOERR\n");
}

static void check_get_id(void)
{
	struct blk_dev *b = &T.dev;
	char *id = blk_frame(T.frames, 0, CHUNK_BYTES);
	char shown[VIRTIO_BLK_ID_BYTES + 1];

	memset(id, 0x5a, VIRTIO_BLK_ID_BYTES);
	expect_status("GET_ID",
		      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_GET_ID, 0, id,
			       VIRTIO_BLK_ID_BYTES, BLK_LAYOUT_DIRECT),
		      VIRTIO_BLK_S_OK);
	/*
	 * A NUL ends an id shorter than 20 bytes; what follows it is not
	 * specified (QEMU leaves it alone).
	 */
	unsigned int n = 0;

	while (n < VIRTIO_BLK_ID_BYTES && id[n] != '\0') {
		shown[n] = id[n];
		n++;
	}
	shown[n] = '\0';
	if (T.have_serial) {
		size_t want = strlen(T.serial);

		if (want > VIRTIO_BLK_ID_BYTES)
			want = VIRTIO_BLK_ID_BYTES;
		if (n != want || memcmp(id, T.serial, want) != 0)
			result_fail("GET_ID returned '%s', expected '%s'",
				    shown, T.serial);
	}
	con_printf("blk-test: GET_ID '%s'\n", shown);
}

static void check_out_of_range(bool tail_has_pattern)
{
	struct blk_dev *b = &T.dev;
	void *buf = blk_frame(T.frames, 0, CHUNK_BYTES);
	uint64_t cap = b->capacity;

	expect_status("read of the sector at capacity",
		      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_IN, cap, buf, 512,
			       BLK_LAYOUT_DIRECT),
		      VIRTIO_BLK_S_IOERR);
	/* Crossing the end: the sectors before it must stay as they are. */
	pattern_fill(buf, cap - 4, 8, 9);
	expect_status("write across the end of the disk",
		      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_OUT, cap - 4, buf,
			       4096, BLK_LAYOUT_DIRECT),
		      VIRTIO_BLK_S_IOERR);
	expect_status("read far beyond the end",
		      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_IN,
			       0xffffffffffffff00ull, buf, 512,
			       BLK_LAYOUT_DIRECT),
		      VIRTIO_BLK_S_IOERR);
	expect_status("read of the last 4 sectors",
		      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_IN, cap - 4, buf,
			       2048, BLK_LAYOUT_DIRECT),
		      VIRTIO_BLK_S_OK);
	if (tail_has_pattern)
		pattern_check(buf, cap - 4, 4, PATTERN_SEED);
	con_printf("blk-test: out-of-range requests rejected with IOERR\n");
}

/* A range request (DISCARD, WRITE_ZEROES): one segment. */
static uint8_t range_request(uint32_t type, uint64_t sector, uint32_t sectors)
{
	struct virtio_blk_discard *seg = blk_frame(T.frames, 1, CHUNK_BYTES);

	seg->sector = sector;
	seg->num_sectors = sectors;
	seg->flags = 0;
	return blk_sync(&T.dev, 0, &T.reqs[0], type, 0, seg, sizeof(*seg),
			BLK_LAYOUT_DIRECT);
}

static void check_special(void)
{
	struct blk_dev *b = &T.dev;
	void *buf = blk_frame(T.frames, 0, CHUNK_BYTES);
	uint64_t zs = b->capacity / 2, ds = b->capacity / 4;

	if (b->flush) {
		expect_status("FLUSH",
			      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_FLUSH, 0,
				       NULL, 0, BLK_LAYOUT_DIRECT),
			      VIRTIO_BLK_S_OK);
		con_printf("blk-test: flush OK\n");
	}
	expect_status(
	    "an unknown request type (100)",
	    blk_sync(b, 0, &T.reqs[0], 100, 0, buf, 512, BLK_LAYOUT_DIRECT),
	    VIRTIO_BLK_S_UNSUPP);
	con_printf("blk-test: unknown request type rejected with UNSUPP\n");

	if (b->write_zeroes && b->capacity >= 4 * SPECIAL_SECTORS &&
	    b->max_wz_sectors >= SPECIAL_SECTORS) {
		expect_status("WRITE_ZEROES",
			      range_request(VIRTIO_BLK_T_WRITE_ZEROES, zs,
					    SPECIAL_SECTORS),
			      VIRTIO_BLK_S_OK);
		expect_status(
		    "read after WRITE_ZEROES",
		    blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_IN, zs - 8, buf,
			     (SPECIAL_SECTORS + 16) * 512, BLK_LAYOUT_DIRECT),
		    VIRTIO_BLK_S_OK);
		pattern_check(buf, zs - 8, 8, PATTERN_SEED);
		pattern_check((char *)buf + 8 * 512, zs, SPECIAL_SECTORS, 0);
		pattern_check((char *)buf + (8 + SPECIAL_SECTORS) * 512,
			      zs + SPECIAL_SECTORS, 8, PATTERN_SEED);
		con_printf("blk-test: write-zeroes sectors %lu+%u read back as "
			   "zeros\n",
			   (unsigned long)zs, SPECIAL_SECTORS);
	}
	if (b->discard && b->capacity >= 4 * SPECIAL_SECTORS &&
	    b->max_discard_sectors >= SPECIAL_SECTORS) {
		expect_status(
		    "DISCARD",
		    range_request(VIRTIO_BLK_T_DISCARD, ds, SPECIAL_SECTORS),
		    VIRTIO_BLK_S_OK);
		/* What a discarded range reads as is up to the device. */
		expect_status("read next to the discarded range",
			      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_IN,
				       ds + SPECIAL_SECTORS, buf, 4096,
				       BLK_LAYOUT_DIRECT),
			      VIRTIO_BLK_S_OK);
		pattern_check(buf, ds + SPECIAL_SECTORS, 8, PATTERN_SEED);
		con_printf("blk-test: discard sectors %lu+%u OK\n",
			   (unsigned long)ds, SPECIAL_SECTORS);
	}
	if (b->flush)
		expect_status("final FLUSH",
			      blk_sync(b, 0, &T.reqs[0], VIRTIO_BLK_T_FLUSH, 0,
				       NULL, 0, BLK_LAYOUT_DIRECT),
			      VIRTIO_BLK_S_OK);
}

static long blk_test_user(void *arg)
{
	struct blk_dev *b = &T.dev;
	uint64_t t0, t1;

	(void)arg;
	con_printf("blk-test: capacity %lu sectors (%lu KiB), %s ring, %u "
		   "queue(s), size %u, features %#lx%s%s, clock %s, BARs "
		   "placed %u\n",
		   (unsigned long)b->capacity, (unsigned long)(b->capacity / 2),
		   b->vq[0].packed ? "packed" : "split", b->nq, b->vq[0].size,
		   (unsigned long)b->vp.features,
		   b->vq[0].event_idx ? ", event-idx" : "",
		   b->vq[0].indirect ? ", indirect" : "", clock_source(),
		   b->vp.bars_assigned);
	if (T.want_packed != b->vq[0].packed)
		result_fail("ring layout is not the one asked for");
	if (T.expect_ro) {
		check_read_only();
		check_out_of_range(false);
		return 0;
	}
	if (b->ro)
		result_fail("the device is read-only (VIRTIO_BLK_F_RO)");
	if (b->capacity < 64)
		result_fail("capacity %lu sectors is too small for the test",
			    (unsigned long)b->capacity);
	t0 = clock_ns();
	stream_disk(true);
	stream_disk(false);
	t1 = clock_ns();
	con_printf("blk-test: wrote and verified %lu sectors in %lu requests "
		   "(direct, indirect, merged layouts) in %lu ms\n",
		   (unsigned long)b->capacity, (unsigned long)T.ios,
		   (unsigned long)((t1 - t0) / 1000000));
	check_get_id();
	check_out_of_range(true);
	check_special();
	return 0;
}

static uintptr_t lapic_base(bool *x2)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	*x2 = base & APIC_BASE_X2APIC;
	return (uintptr_t)(base & APIC_BASE_ADDR_MASK);
}

static void lapic_enable(void)
{
	bool x2;
	uintptr_t base = lapic_base(&x2);

	if (x2)
		wrmsr(X2APIC_MSR_BASE + (APIC_REG_SVR >> 4),
		      rdmsr(X2APIC_MSR_BASE + (APIC_REG_SVR >> 4)) |
			  APIC_SVR_ENABLE);
	else
		mmio_write32(base + APIC_REG_SVR,
			     mmio_read32(base + APIC_REG_SVR) |
				 APIC_SVR_ENABLE);
}

/* Interrupts stay off: a delivered MSI waits in the IRR, and we look. */
static bool lapic_irr(uint8_t vector)
{
	bool x2;
	uintptr_t base = lapic_base(&x2);
	unsigned int reg = APIC_REG_IRR + 0x10 * (vector / 32);
	uint32_t v = x2 ? (uint32_t)rdmsr(X2APIC_MSR_BASE + (reg >> 4))
			: mmio_read32(base + reg);

	return v & (1u << (vector % 32));
}

int guest_main(void)
{
	struct blk_opts o = {0};
	const char *why = "";

	clock_init();
	o.packed = cmdline_is("ring", "packed");
	o.event_idx = cmdline_uint_or("event_idx", 1, 1);
	o.msix = cmdline_uint_or("msix", 1, 1);
	o.max_queues =
	    (unsigned int)cmdline_uint_or("queues", BLK_MAX_QUEUES, 4);
	T.want_packed = o.packed;
	T.msix = o.msix;
	T.expect_ro = cmdline_uint_or("expect_ro", 1, 0);
	T.revector = cmdline_uint_or("revector", 1, 0);
	T.have_serial = cmdline_get_str("serial", T.serial, sizeof(T.serial));
	if (T.msix)
		lapic_enable();
	if (blk_open(&T.dev, &o, &why) < 0)
		result_fail("virtio-blk: %s", why);

	/*
	 * A fresh entry and vector: a back-end may have signalled queue 0's
	 * old one already (a call at start-up), so only the new one tells.
	 */
	if (T.revector) {
		uint16_t e = (uint16_t)T.dev.nq;

		if (!T.msix || T.expect_ro || e >= BLK_MAX_QUEUES)
			result_fail("revector=1 needs msix=1, a writable disk, "
				    "fewer than %u queues", BLK_MAX_QUEUES);
		if (!virtio_msix_route(&T.dev.vp, e,
				       (uint8_t)(BLK_MSIX_VECTOR_BASE + e)))
			result_fail("no MSI-X table entry %u", e);
		if (!virtio_queue_set_vector(&T.dev.vp, 0, e))
			result_fail("the device refused queue 0's new vector");
		con_printf("blk-test: queue 0 moved to MSI-X entry %u after "
			   "DRIVER_OK\n", e);
	}

	T.frames = blk_frames_alloc(WINDOW, CHUNK_BYTES);
	T.reqs = dma_alloc(sizeof(struct blk_req) * WINDOW, 64);
	if (!T.frames || !T.reqs)
		result_fail("out of memory for %u buffers", WINDOW);

	user_call(blk_test_user, NULL);

	if (T.msix) {
		/* Moved: queue 0's completions raised the new entry's vector. */
		if (T.revector &&
		    !lapic_irr((uint8_t)(BLK_MSIX_VECTOR_BASE + T.dev.nq)))
			result_fail("MSI-X: vector %#x, where queue 0 was "
				    "moved, is not pending",
				    BLK_MSIX_VECTOR_BASE + T.dev.nq);
		/* Every queue completed requests, so each raised its vector. */
		for (unsigned int q = T.revector ? 1 : 0;
		     q < (T.expect_ro ? 1 : T.dev.nq); q++)
			if (!lapic_irr((uint8_t)(BLK_MSIX_VECTOR_BASE + q)))
				result_fail(
				    "MSI-X: vector %#x of queue %u is not "
				    "pending in the local APIC",
				    BLK_MSIX_VECTOR_BASE + q, q);
		/* And the IRR is really what we read: no stray vector. */
		if (lapic_irr(BLK_MSIX_VECTOR_BASE + BLK_MAX_QUEUES))
			result_fail(
			    "MSI-X: vector %#x, which no queue uses, is "
			    "pending",
			    BLK_MSIX_VECTOR_BASE + BLK_MAX_QUEUES);
		con_printf("blk-test: MSI-X vectors pending for %u queue(s)\n",
			   T.expect_ro ? 1 : T.dev.nq);
	}
	result_pass();
}
