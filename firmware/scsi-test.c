// SPDX-License-Identifier: MIT
/*
 * scsi-test: a virtio-scsi functional test over two LUNs of target 0, one
 * writable (rw=N) and one read-only (ro=N). Every command the device
 * emulates or passes to its disks, with its answer and sense data checked:
 * REPORT LUNS, INQUIRY and VPD pages 00/80/83/b0/b1/b2, the power-on unit
 * attention, REQUEST SENSE, READ CAPACITY(10/16), MODE SENSE(6/10),
 * READ/WRITE(6/10/16) with FUA, SYNCHRONIZE CACHE(10/16), UNMAP, WRITE
 * SAME(16), out-of-range LBAs, writes to the read-only LUN, unknown
 * opcodes, buffers the CDB does not fit, absent LUNs and targets; task
 * management: ABORT TASK (also of a command in flight), QUERY TASK, CLEAR
 * ACA, LUN RESET and its unit attention, an AN query. The writable LUN
 * gets a pattern over its whole capacity through WRITE(16), read back
 * with READ(16); the host checks the file (tests/integration/scsi-check.py:
 * every 8-byte little-endian word w of 512-byte sector s holds
 * seed << 48 | w << 40 | s, seed 0x10 + the LUN).
 *
 * Command line: ring=split|packed  rw=N (0)  ro=N (1)  serial_rw=STR
 * serial_ro=STR (VPD 0x80 must return them)  rounds=N (1: data passes
 * between the LUN reset and the check of its unit attention)  dump=1
 * (answers in hex, for tests/integration/scsi-compare.py)  tern=1 (the
 * cases QEMU treats as a broken driver, or does not check)  wait=SECONDS
 * (10: how long a command may take; a state saved and restored later
 * may make kvmclock jump by the time in between).
 *
 * Ring 0 sets the device up; every command runs in ring 3.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"

#include "scsi-test.h"

struct scsi_test T;

struct scsi_req *cmd(const struct lun *l, const uint8_t *cdb, unsigned int n,
		     void *data, uint32_t len, bool in)
{
	return scsi_sync(&T.d, &T.reqs[0], 0, l->lun, cdb, n, data, len, in);
}

void dump(const struct lun *l, const char *what, const uint8_t *p, uint32_t n)
{
	if (T.dump)
		scsi_dump("scsi-test", l->lun, what, p, n);
}

/* READ or WRITE (op) of n blocks at lba through data. */
static struct scsi_req *rw(const struct lun *l, uint8_t op, uint8_t flags,
			   uint64_t lba, uint32_t n, void *data, uint32_t len)
{
	uint8_t c[16];
	unsigned int cl = scsi_rw_cdb(c, op, flags, lba, n);

	return cmd(l, c, cl, data, len, !(op & 0x02));
}

/* ---- the pattern (512-byte sectors, as the host check counts) ---- */

static uint64_t seed(const struct lun *l)
{
	return 0x10 + l->lun;
}

static void fill(const struct lun *l, void *buf, uint64_t lba, uint32_t n)
{
	uint64_t *p = buf, s0 = lba * (l->bs / 512);

	for (uint64_t s = 0; s < (uint64_t)n * l->bs / 512; s++)
		for (unsigned int w = 0; w < 64; w++)
			*p++ = seed(l) << 48 | (uint64_t)w << 40 | (s0 + s);
}

/* zero: the blocks must read as zeroes instead. */
static void check(const struct lun *l, const void *buf, uint64_t lba,
		  uint32_t n, bool zero)
{
	const uint64_t *p = buf;
	uint64_t s0 = lba * (l->bs / 512);

	for (uint64_t s = 0; s < (uint64_t)n * l->bs / 512; s++)
		for (unsigned int w = 0; w < 64; w++, p++) {
			uint64_t want =
			    zero ? 0
				 : seed(l) << 48 | (uint64_t)w << 40 | (s0 + s);

			if (*p != want)
				result_fail("lun %u: sector %lu word %u reads "
					    "%#lx, expected %#lx",
					    l->lun, (unsigned long)(s0 + s), w,
					    (unsigned long)*p,
					    (unsigned long)want);
		}
}

/* Write (or read back and check) the whole LUN, WINDOW commands in flight. */
static void stream(const struct lun *l, bool write)
{
	uint32_t per = CHUNK / l->bs;
	uint64_t next = 0, done = 0, last = clock_ns();
	uint64_t lba[WINDOW];
	unsigned int free[WINDOW], nfree = WINDOW;

	for (unsigned int i = 0; i < WINDOW; i++)
		free[i] = i;
	while (done < l->nblocks) {
		struct scsi_req *r;
		bool added = false;

		while (nfree && next < l->nblocks) {
			unsigned int i = free[--nfree];
			uint32_t n = l->nblocks - next < per
					 ? (uint32_t)(l->nblocks - next)
					 : per;
			uint8_t *b = T.buf + (uint64_t)i * CHUNK;
			uint8_t c[16];

			if (write)
				fill(l, b, next, n);
			scsi_rw_cdb(c, write ? SCSI_WRITE_16 : SCSI_READ_16, 0,
				    next, n);
			lba[i] = next;
			T.reqs[i].user = (void *)(uintptr_t)n;
			if (scsi_submit(&T.d, &T.reqs[i], 0, l->lun, 0x100 + i,
					c, 16, b, n * l->bs, !write, 0) < 0)
				result_fail("the request queue refused a "
					    "command with room for it");
			added = true;
			next += n;
		}
		if (added)
			virtq_kick(&T.d.reqq);
		while ((r = scsi_poll(&T.d)) != NULL) {
			unsigned int i = (unsigned int)(r - T.reqs);
			uint32_t n = (uint32_t)(uintptr_t)r->user;

			if (i >= WINDOW)
				result_fail("a command completed that was not "
					    "in flight");
			scsi_want_good(r, write ? "WRITE(16)" : "READ(16)");
			if (!write)
				check(l, T.buf + (uint64_t)i * CHUNK, lba[i], n,
				      false);
			free[nfree++] = i;
			done += n;
			T.ios++;
			last = clock_ns();
		}
		if (clock_ns() - last > T.d.timeout_ns)
			result_fail(
			    "no completion for %lu s with %u commands in "
			    "flight",
			    (unsigned long)(T.d.timeout_ns / 1000000000),
			    WINDOW - nfree);
	}
}

/* ---- what must fail, and how ---- */

static void errors(struct lun *l)
{
	uint8_t c[16];

	scsi_want_sense(rw(l, 0x88, 0, l->nblocks, 1, T.buf, l->bs), 5, 0x21, 0,
			"READ(16) at the capacity");
	scsi_want_sense(rw(l, 0x28, 0, 0xffffffff, 1, T.buf, l->bs), 5, 0x21, 0,
			"READ(10) of LBA ffffffff");
	scsi_want_sense(cmd(l, SCSI_CDB(0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			    NULL, 0, false),
			5, 0x20, 0, "operation code c0");
	scsi_want_response(rw(l, 0x28, 0, 0, 2, T.buf, l->bs),
			   VIRTIO_SCSI_S_OVERRUN,
			   "READ(10) of 2 blocks into a 1-block buffer");
	scsi_rw_cdb(c, 0x28, 0, 0, 1);
	scsi_want_response(cmd(l, c, 10, T.buf, l->bs, false),
			   VIRTIO_SCSI_S_OVERRUN,
			   "READ(10) with a data-out buffer");
	if (l->ro) {
		scsi_want_sense(rw(l, 0x2a, 0, 0, 1, T.buf, l->bs), 7, 0x27, 0,
				"WRITE(10), read-only");
		scsi_want_sense(rw(l, 0x8a, 0, 0, 1, T.buf, l->bs), 7, 0x27, 0,
				"WRITE(16), read-only");
		memset(T.buf, 0, 24);
		T.buf[1] = 22;
		T.buf[3] = 16;
		T.buf[19] = 1;
		scsi_want_sense(cmd(l,
				    SCSI_CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0),
				    T.buf, 24, false),
				7, 0x27, 0, "UNMAP, read-only");
		con_printf("scsi-test: lun %u: writes rejected with DATA "
			   "PROTECT 27/00\n",
			   l->lun);
	} else {
		fill(l, T.buf, l->nblocks - 1, 2);
		scsi_want_sense(
		    rw(l, 0x8a, 0, l->nblocks - 1, 2, T.buf, 2 * l->bs), 5,
		    0x21, 0, "WRITE(16) across the end");
	}
	if (T.tern) {
		/* Only 6 of READ(10)'s bytes: QEMU resets the device instead.
		 */
		scsi_rw_cdb(c, 0x28, 0, 0, 1);
		if (scsi_submit(&T.d, &T.reqs[1], 0, l->lun, 9, c, 10, T.buf,
				l->bs, true, SCSI_REQ_HDR + 6) < 0)
			result_fail("queue full");
		virtq_kick(&T.d.reqq);
		struct scsi_req *r;

		while ((r = scsi_poll(&T.d)) == NULL)
			cpu_relax();
		scsi_want_sense(r, 5, 0x24, 0, "a READ(10) CDB of 6 bytes");
		/* One block above MAXIMUM TRANSFER LENGTH (QEMU does not
		 * check). */
		if (l->max_xfer && (uint64_t)(l->max_xfer + 1) * l->bs <= BIG)
			scsi_want_sense(
			    rw(l, 0x88, 0, 0, l->max_xfer + 1, T.buf,
			       (l->max_xfer + 1) * l->bs),
			    5, 0x24, 0,
			    "READ(16) above the maximum transfer length");
		con_printf("scsi-test: lun %u: a short CDB and a transfer "
			   "above the block "
			   "limits: INVALID FIELD IN CDB\n",
			   l->lun);
	}
	con_printf(
	    "scsi-test: lun %u: out-of-range LBAs 21/00, unknown opcode 20/00, "
	    "overruns answered OVERRUN\n",
	    l->lun);
}

/* No LUN there, no target there, a REPORT LUNS too short. */
static void absent(void)
{
	struct lun none = {.lun = 0};
	struct scsi_req *r;

	while (none.lun == T.rw.lun || none.lun == T.ro.lun)
		none.lun++;
	r = cmd(&none, SCSI_CDB(0x12, 0, 0, 0, 36, 0), T.small, 36, true);
	scsi_want_good(r, "INQUIRY of an absent LUN");
	if (T.small[0] != 0x7f)
		result_fail("absent LUN %u: peripheral %02x, expected 7f",
			    none.lun, T.small[0]);
	scsi_want_sense(cmd(&none, SCSI_CDB(0, 0, 0, 0, 0, 0), NULL, 0, false),
			5, 0x25, 0, "TEST UNIT READY of an absent LUN");
	r = scsi_sync(&T.d, &T.reqs[0], 1, 0, SCSI_CDB(0, 0, 0, 0, 0, 0), NULL,
		      0, false);
	scsi_want_response(r, VIRTIO_SCSI_S_BAD_TARGET,
			   "TEST UNIT READY of target 1");
	scsi_want_sense(cmd(&T.rw,
			    SCSI_CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0),
			    T.small, 8, true),
			5, 0x24, 0, "REPORT LUNS of 8 bytes");
	con_printf("scsi-test: absent LUN %u: peripheral 7f, 25/00; target 1: "
		   "BAD_TARGET\n",
		   none.lun);
}

/* ---- data ---- */

static void data(struct lun *l)
{
	struct scsi_req *r;
	uint8_t *b = T.buf;
	uint64_t t0 = clock_ns();

	con_printf("scsi-test: lun %u pattern seed %lu\n", l->lun,
		   (unsigned long)seed(l));
	stream(l, true);
	stream(l, false);
	/* The other sizes read and write the same pattern back. */
	check(l, b, 0, 0, false);
	scsi_want_good(rw(l, 0x28, 0, 8, 16, b, 16 * l->bs), "READ(10)");
	check(l, b, 8, 16, false);
	scsi_want_good(rw(l, 0x08, 0, 3, 2, b, 2 * l->bs), "READ(6)");
	check(l, b, 3, 2, false);
	fill(l, b, 32, 8);
	scsi_want_good(rw(l, 0x2a, 0, 32, 8, b, 8 * l->bs), "WRITE(10)");
	fill(l, b, 40, 1);
	scsi_want_good(rw(l, 0x0a, 0, 40, 1, b, l->bs), "WRITE(6)");
	fill(l, b, 48, 8);
	scsi_want_good(rw(l, 0x8a, 0x08, 48, 8, b, 8 * l->bs),
		       "WRITE(16) with FUA");
	scsi_want_good(
	    cmd(l, SCSI_CDB(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, false),
	    "SYNCHRONIZE CACHE(10)");
	r = cmd(l, SCSI_CDB(0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		NULL, 0, false);
	/* QEMU 7.2 knows only the 10-byte one. */
	if (!T.tern && r->status == SCSI_CHECK_CONDITION && r->key == 5 &&
	    r->asc == 0x20)
		con_printf("scsi-test: lun %u: SYNCHRONIZE CACHE(16) is not "
			   "supported here\n",
			   l->lun);
	else
		scsi_want_good(r, "SYNCHRONIZE CACHE(16)");
	if (r->status == SCSI_GOOD)
		con_printf("scsi-test: lun %u: SYNCHRONIZE CACHE(16) GOOD\n",
			   l->lun);
	scsi_want_good(rw(l, 0x88, 0, 32, 24, b, 24 * l->bs), "READ(16)");
	check(l, b, 32, 24, false);
	/* What WRITE(16) across the end left: the last block as it was. */
	scsi_want_good(rw(l, 0x88, 0, l->nblocks - 1, 1, b, l->bs),
		       "READ(16) of the last block");
	check(l, b, l->nblocks - 1, 1, false);
	con_printf("scsi-test: lun %u wrote and verified %lu blocks with "
		   "WRITE(16)/READ(16) "
		   "in %lu ms; READ(6/10), WRITE(6/10), FUA, SYNCHRONIZE "
		   "CACHE(10) GOOD\n",
		   l->lun, (unsigned long)l->nblocks,
		   (unsigned long)((clock_ns() - t0) / 1000000));
}

static void provisioning(struct lun *l)
{
	uint64_t u = l->nblocks / 2, z = l->nblocks / 4;
	uint8_t c[16], *b = T.buf;

	if (!l->lbpme) {
		con_printf("scsi-test: lun %u: no logical block provisioning, "
			   "UNMAP skipped\n",
			   l->lun);
		return;
	}
	memset(b, 0, 24);
	b[1] = 22;
	b[3] = 16;
	for (int i = 0; i < 8; i++)
		b[8 + i] = (uint8_t)(u >> (56 - 8 * i));
	b[19] = 16;
	scsi_want_good(
	    cmd(l, SCSI_CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0), b, 24, false),
	    "UNMAP");
	con_printf("scsi-test: lun %u unmapped blocks %lu+16\n", l->lun,
		   (unsigned long)u);
	scsi_want_good(rw(l, 0x88, 0, u, 17, b, 17 * l->bs),
		       "READ(16) of the unmapped blocks");
	if (l->lbprz)
		check(l, b, u, 16, true);
	check(l, b + 16 * l->bs, u + 16, 1, false);
	/* WRITE SAME(16) of a zero block, with UNMAP and without. */
	memset(b, 0, l->bs);
	scsi_rw_cdb(c, 0x93, 0x08, z, 16);
	scsi_want_good(cmd(l, c, 16, b, l->bs, false),
		       "WRITE SAME(16) with UNMAP");
	scsi_rw_cdb(c, 0x93, 0, z + 16, 8);
	scsi_want_good(cmd(l, c, 16, b, l->bs, false), "WRITE SAME(16)");
	con_printf("scsi-test: lun %u zeroed blocks %lu+24\n", l->lun,
		   (unsigned long)z);
	scsi_want_good(rw(l, 0x88, 0, z - 1, 26, b, 26 * l->bs),
		       "READ(16) of the zeroed blocks");
	check(l, b, z - 1, 1, false);
	check(l, b + l->bs, z, 24, true);
	check(l, b + 25 * l->bs, z + 24, 1, false);
	con_printf(
	    "scsi-test: lun %u: UNMAP%s and WRITE SAME(16) of zeroes GOOD\n",
	    l->lun, l->lbprz ? " (reads zeroes, LBPRZ)" : "");
}

/* ---- task management ---- */

static void tmf_basic(void)
{
	struct scsi_ctrl *c = &T.ctrl[0];
	uint16_t none = 0;
	uint32_t actual = 99;
	uint8_t resp;

	while (none == T.rw.lun || none == T.ro.lun)
		none++;
	if ((resp = scsi_tmf(&T.d, c, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, T.rw.lun,
			     0x7777)))
		result_fail(
		    "ABORT TASK of no task: %u, expected FUNCTION COMPLETE",
		    resp);
	if ((resp = scsi_tmf(&T.d, c, VIRTIO_SCSI_T_TMF_QUERY_TASK, 0, T.rw.lun,
			     0x7777)))
		result_fail(
		    "QUERY TASK of no task: %u, expected FUNCTION COMPLETE",
		    resp);
	if ((resp = scsi_tmf(&T.d, c, VIRTIO_SCSI_T_TMF_CLEAR_ACA, 0, T.rw.lun,
			     0)) != VIRTIO_SCSI_S_FUNCTION_REJECTED)
		result_fail("CLEAR ACA: %u, expected FUNCTION REJECTED", resp);
	if ((resp = scsi_tmf(&T.d, c, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, none,
			     1)) != VIRTIO_SCSI_S_INCORRECT_LUN)
		result_fail(
		    "ABORT TASK on absent LUN %u: %u, expected INCORRECT LUN",
		    none, resp);
	if ((resp = scsi_tmf(&T.d, c, VIRTIO_SCSI_T_TMF_ABORT_TASK, 1, 0, 1)) !=
	    VIRTIO_SCSI_S_BAD_TARGET)
		result_fail("ABORT TASK on target 1: %u, expected BAD TARGET",
			    resp);
	if ((resp = scsi_an_query(&T.d, c, T.rw.lun, &actual)) || actual)
		result_fail("AN query: response %u, event_actual %u", resp,
			    actual);
	if ((resp = scsi_tmf(&T.d, c, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0,
			     T.ro.lun, 0)))
		result_fail(
		    "LOGICAL UNIT RESET: %u, expected FUNCTION COMPLETE", resp);
	con_printf("scsi-test: TMF: ABORT TASK, QUERY TASK complete; CLEAR ACA "
		   "rejected; "
		   "absent LUN, target answered; AN query OK; LUN %u reset\n",
		   T.ro.lun);
}

/* ABORT TASK of a READ in flight: both answered, the TMF FUNCTION COMPLETE. */
static void tmf_abort_in_flight(struct lun *l)
{
	uint32_t n = l->nblocks < CHUNK * 16 / l->bs ? (uint32_t)l->nblocks
						     : CHUNK * 16 / l->bs;
	struct scsi_ctrl *c = &T.ctrl[1], *cd;
	struct scsi_req *r = NULL, *got_r;
	uint64_t deadline = clock_ns() + T.d.timeout_ns;
	uint8_t cdb[16];

	scsi_rw_cdb(cdb, 0x88, 0, 0, n);
	if (scsi_submit(&T.d, &T.reqs[0], 0, l->lun, 0xabc, cdb, 16, T.buf,
			n * l->bs, true, 0) < 0 ||
	    scsi_tmf_submit(&T.d, c, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, l->lun,
			    0xabc) < 0)
		result_fail("queue full");
	virtq_kick(&T.d.reqq);
	virtq_kick(&T.d.ctrlq);
	for (cd = NULL; !cd || !r;) {
		if (!cd)
			cd = scsi_ctrl_poll(&T.d);
		if (!r && (got_r = scsi_poll(&T.d)))
			r = got_r;
		if (clock_ns() > deadline)
			result_fail(
			    "ABORT TASK of a READ in flight: no answer");
		cpu_relax();
	}
	if (cd != c || r != &T.reqs[0] || c->resp[0])
		result_fail("ABORT TASK of a READ in flight: TMF response %u",
			    c->resp[0]);
	if (r->response == VIRTIO_SCSI_S_OK)
		scsi_want_good(r, "the READ an ABORT TASK came too late for");
	else
		scsi_want_response(r, VIRTIO_SCSI_S_ABORTED,
				   "the READ ABORT TASK aborted");
	con_printf("scsi-test: ABORT TASK of a READ in flight: FUNCTION "
		   "COMPLETE, the READ %s\n",
		   r->response ? "ABORTED" : "completed first");
}

static long scsi_test_user(void *arg)
{
	struct scsi_req *r;
	uint32_t n;

	(void)arg;
	con_printf("scsi-test: %s ring, num_queues %u seg_max %u max_sectors "
		   "%u cmd_per_lun %u "
		   "max_target %u max_lun %u\n",
		   T.packed ? "packed" : "split", T.d.num_queues, T.d.seg_max,
		   T.d.max_sectors, T.d.cmd_per_lun, T.d.max_target,
		   T.d.max_lun);
	r = cmd(&T.rw, SCSI_CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0), T.small,
		256, true);
	scsi_want_good(r, "REPORT LUNS");
	n = scsi_be32(T.small) / 8;
	if (n != 2 || T.small[8] || T.small[16] ||
	    T.small[9] != (T.rw.lun < T.ro.lun ? T.rw.lun : T.ro.lun) ||
	    T.small[17] != (T.rw.lun < T.ro.lun ? T.ro.lun : T.rw.lun))
		result_fail("REPORT LUNS: %u LUNs (%02x%02x, %02x%02x), "
			    "expected %u and %u",
			    n, T.small[8], T.small[9], T.small[16], T.small[17],
			    T.rw.lun, T.ro.lun);
	con_printf("scsi-test: REPORT LUNS: %u %u\n", T.small[9], T.small[17]);
	for (int i = 0; i < 2; i++) {
		struct lun *l = i ? &T.ro : &T.rw;

		inquiry(l);
		vpd_pages(l);
		capacity(l);
		mode_sense(l);
		errors(l);
	}
	absent();
	scsi_want_good(rw(&T.ro, 0x88, 0, 0, 16, T.buf, 16 * T.ro.bs),
		       "READ(16) of the read-only LUN");
	tmf_basic();
	for (unsigned long k = 0; k < T.rounds; k++) {
		data(&T.rw);
		con_printf("scsi-test: round %lu of %lu\n", k + 1, T.rounds);
	}
	provisioning(&T.rw);
	tmf_abort_in_flight(&T.rw);
	/* The LUN reset's unit attention waited through all of that. */
	scsi_want_sense(cmd(&T.ro, SCSI_CDB(0, 0, 0, 0, 0, 0), NULL, 0, false),
			6, 0x29, -1,
			"TEST UNIT READY after LOGICAL UNIT RESET");
	scsi_want_good(cmd(&T.rw, SCSI_CDB(0, 0, 0, 0, 0, 0), NULL, 0, false),
		       "TEST UNIT READY of the LUN not reset");
	con_printf("scsi-test: LUN %u reported the reset's unit attention, LUN "
		   "%u did not\n",
		   T.ro.lun, T.rw.lun);
	return 0;
}

static void lun_opts(struct lun *l, const char *num, const char *serial,
		     unsigned long dflt, bool ro)
{
	l->lun = (uint16_t)cmdline_uint_or(num, 255, dflt);
	l->ro = ro;
	l->have_serial = cmdline_get_str(serial, l->serial, sizeof(l->serial));
}

int guest_main(void)
{
	const char *why = "";

	clock_init();
	T.packed = cmdline_is("ring", "packed");
	T.dump = cmdline_uint_or("dump", 1, 0);
	T.tern = cmdline_uint_or("tern", 1, 0);
	T.rounds = cmdline_uint_or("rounds", 1000, 1);
	lun_opts(&T.rw, "rw", "serial_rw", 0, false);
	lun_opts(&T.ro, "ro", "serial_ro", 1, true);
	if (T.rw.lun == T.ro.lun)
		result_fail("rw= and ro= name the same LUN");
	if (scsi_open(&T.d, T.packed, &why) < 0)
		result_fail("virtio-scsi: %s", why);
	T.d.timeout_ns = cmdline_uint_or("wait", 3600, 10) * 1000000000ull;
	T.reqs = scsi_req_alloc(WINDOW);
	T.ctrl = scsi_ctrl_alloc(2);
	T.buf = dma_alloc(BIG, 4096);
	T.small = dma_alloc(4096, 4096);
	if (!T.reqs || !T.ctrl || !T.buf || !T.small)
		result_fail("out of memory");
	user_call(scsi_test_user, NULL);
	result_pass();
}
