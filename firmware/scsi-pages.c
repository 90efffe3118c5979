// SPDX-License-Identifier: MIT
/*
 * scsi-test's checks of the commands a LUN answers from memory: INQUIRY
 * (and the power-on unit attention it passes by), the VPD pages, READ
 * CAPACITY, MODE SENSE. With dump=1 each answer is printed in hex for
 * tests/integration/scsi-compare.py.
 */
#include "guest/guest.h"
#include "guest/string.h"

#include "scsi-test.h"

/*
 * The length of an answer by its own length field (want), no more than
 * came. QEMU reports a residual of 0 for these, whatever it sent; tern
 * counts what it did not send, and tern=1 checks that.
 */
static uint32_t answer(const struct scsi_req *r, uint32_t len, uint32_t want)
{
	uint32_t n = scsi_got(r, len);

	if (T.tern && n != (want < len ? want : len))
		result_fail("%u of %u bytes sent, the answer is %u long", n,
			    len, want);
	return want < n ? want : n;
}

void inquiry(struct lun *l)
{
	struct scsi_req *r =
	    cmd(l, SCSI_CDB(0x12, 0, 0, 0, 96, 0), T.small, 96, true);
	uint8_t *b = T.small;

	scsi_want_good(r, "INQUIRY");
	dump(l, "inquiry", b, answer(r, 96, 5 + b[4]));
	if (b[0] != 0x00 || (b[1] & 0x80) || (b[3] & 0x0f) != 2 || b[4] < 31 ||
	    scsi_got(r, 96) < 36)
		result_fail("lun %u: INQUIRY %02x %02x %02x %02x %02x (%u "
			    "bytes): not a "
			    "fixed direct-access device with format 2 data",
			    l->lun, b[0], b[1], b[2], b[3], b[4],
			    scsi_got(r, 96));
	for (int i = 8; i < 36; i++)
		if (b[i] < 0x20 || b[i] > 0x7e)
			result_fail("lun %u: INQUIRY byte %d is not ASCII",
				    l->lun, i);
	{
		char v[9], p[17], rev[5];

		memcpy(v, b + 8, 8);
		memcpy(p, b + 16, 16);
		memcpy(rev, b + 32, 4);
		v[8] = p[16] = rev[4] = 0;
		con_printf("scsi-test: lun %u: '%s' '%s' '%s'\n", l->lun, v, p,
			   rev);
	}
	/* The power-on unit attention, once; INQUIRY passed it by. */
	scsi_want_sense(cmd(l, SCSI_CDB(0, 0, 0, 0, 0, 0), NULL, 0, false), 6,
			0x29, -1, "the first TEST UNIT READY");
	scsi_want_good(cmd(l, SCSI_CDB(0, 0, 0, 0, 0, 0), NULL, 0, false),
		       "TEST UNIT READY");
	r = cmd(l, SCSI_CDB(0x03, 0, 0, 0, 18, 0), T.small, 18, true);
	scsi_want_good(r, "REQUEST SENSE");
	if ((T.small[0] & 0x7e) != 0x70 || (T.small[2] & 0x0f) != 0)
		result_fail(
		    "lun %u: REQUEST SENSE %02x key %x, expected NO SENSE",
		    l->lun, T.small[0], T.small[2] & 0x0f);
	con_printf("scsi-test: lun %u: unit attention 29/xx reported once, "
		   "then GOOD\n",
		   l->lun);
}

static const uint8_t *vpd(struct lun *l, uint8_t page, const char *name,
			  uint32_t *n)
{
	struct scsi_req *r =
	    cmd(l, SCSI_CDB(0x12, 1, page, 0, 255, 0), T.small, 255, true);

	scsi_want_good(r, name);
	*n = answer(r, 255, 4 + scsi_be16(T.small + 2));
	dump(l, name, T.small, *n);
	if (*n < 4 || T.small[1] != page)
		result_fail("lun %u: %s: page %02x, length %u, %u bytes",
			    l->lun, name, T.small[1], scsi_be16(T.small + 2),
			    *n);
	return T.small;
}

void vpd_pages(struct lun *l)
{
	static const uint8_t need[] = {0x00, 0x83, 0xb0, 0xb1, 0xb2};
	const uint8_t *p;
	uint32_t n, at;
	bool has80 = false;

	p = vpd(l, 0x00, "vpd-00", &n);
	for (uint32_t i = 4; i < n; i++) {
		if (i > 4 && p[i] <= p[i - 1])
			result_fail("lun %u: VPD pages not in ascending order",
				    l->lun);
		has80 |= p[i] == 0x80;
	}
	for (unsigned int k = 0; k < sizeof(need); k++) {
		bool found = false;

		for (uint32_t i = 4; i < n; i++)
			found |= p[i] == need[k];
		if (!found)
			result_fail("lun %u: VPD page %02x is not listed",
				    l->lun, need[k]);
	}
	if (has80 != l->have_serial)
		result_fail("lun %u: VPD page 80 %s listed", l->lun,
			    has80 ? "is" : "is not");
	if (l->have_serial) {
		p = vpd(l, 0x80, "vpd-80", &n);
		if (n - 4 != strlen(l->serial) ||
		    memcmp(p + 4, l->serial, n - 4))
			result_fail(
			    "lun %u: the unit serial number is not '%s'",
			    l->lun, l->serial);
	}
	p = vpd(l, 0x83, "vpd-83", &n);
	for (at = 4; at + 4 <= n; at += 4 + p[at + 3])
		if (!(p[at + 1] & 0x30) && at + 4 + p[at + 3] <= n)
			break;
	if (at + 4 > n)
		result_fail("lun %u: no logical unit designator in VPD page 83",
			    l->lun);
	p = vpd(l, 0xb0, "vpd-b0", &n);
	if (scsi_be16(p + 2) != 0x3c)
		result_fail("lun %u: block limits page length %u", l->lun,
			    scsi_be16(p + 2));
	l->max_xfer = scsi_be32(p + 8);
	p = vpd(l, 0xb1, "vpd-b1", &n);
	if (scsi_be16(p + 2) != 0x3c)
		result_fail("lun %u: characteristics page length %u", l->lun,
			    scsi_be16(p + 2));
	p = vpd(l, 0xb2, "vpd-b2", &n);
	if (scsi_be16(p + 2) < 4)
		result_fail("lun %u: provisioning page length %u", l->lun,
			    scsi_be16(p + 2));
	scsi_want_sense(
	    cmd(l, SCSI_CDB(0x12, 1, 0xc9, 0, 255, 0), T.small, 255, true), 5,
	    0x24, 0, "INQUIRY of VPD page c9");
	con_printf("scsi-test: lun %u: VPD pages 00 %s83 b0 b1 b2, max "
		   "transfer %u blocks\n",
		   l->lun, l->have_serial ? "80 " : "", l->max_xfer);
}

void capacity(struct lun *l)
{
	struct scsi_req *r =
	    cmd(l, SCSI_CDB(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0), T.small, 8, true);
	uint64_t last10;
	uint32_t bs10;

	scsi_want_good(r, "READ CAPACITY(10)");
	dump(l, "capacity-10", T.small, 8);
	last10 = scsi_be32(T.small);
	bs10 = scsi_be32(T.small + 4);
	r = cmd(l,
		SCSI_CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0),
		T.small, 32, true);
	scsi_want_good(r, "READ CAPACITY(16)");
	dump(l, "capacity-16", T.small, 32);
	l->nblocks = scsi_be64(T.small) + 1;
	l->bs = scsi_be32(T.small + 8);
	l->lbpme = T.small[14] & 0x80;
	l->lbprz = T.small[14] & 0x40;
	if (last10 + 1 != l->nblocks || bs10 != l->bs || l->bs < 512 ||
	    l->bs > 4096)
		result_fail(
		    "lun %u: READ CAPACITY(10) %lu+1 x %u, (16) %lu x %u",
		    l->lun, (unsigned long)last10, bs10,
		    (unsigned long)l->nblocks, l->bs);
	con_printf("scsi-test: lun %u capacity %lu blocks of %u bytes%s%s\n",
		   l->lun, (unsigned long)l->nblocks, l->bs,
		   l->lbpme ? ", LBPME" : "", l->lbprz ? ", LBPRZ" : "");
}

/* The caching page, WCE, the WP bit, the block descriptor. */
void mode_sense(struct lun *l)
{
	struct scsi_req *r =
	    cmd(l, SCSI_CDB(0x1a, 0, 0x08, 0, 255, 0), T.small, 255, true);
	const uint8_t *b = T.small, *pg;
	uint32_t n;

	scsi_want_good(r, "MODE SENSE(6)");
	n = answer(r, 255, b[0] + 1u);
	dump(l, "mode-sense-6", b, n);
	if (n < 12 + 2 + 0x12 || b[1] != 0 || !!(b[2] & 0x80) != l->ro ||
	    b[3] != 8 || scsi_be32(b + 8) != l->bs)
		result_fail("lun %u: MODE SENSE(6) header %02x %02x %02x %02x, "
			    "block length %u",
			    l->lun, b[0], b[1], b[2], b[3],
			    scsi_be32(b + 8) & 0xffffff);
	pg = b + 12;
	if ((pg[0] & 0x3f) != 0x08 || pg[1] != 0x12 || !(pg[2] & 0x04))
		result_fail("lun %u: caching page %02x length %02x, WCE %u",
			    l->lun, pg[0], pg[1], !!(pg[2] & 0x04));
	r = cmd(l, SCSI_CDB(0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0, 255, 0), T.small,
		255, true);
	scsi_want_good(r, "MODE SENSE(10)");
	n = answer(r, 255, scsi_be16(b) + 2);
	dump(l, "mode-sense-10", b, n);
	if (n < 8 + 2 + 0x12 || !!(b[3] & 0x80) != l->ro ||
	    scsi_be16(b + 6) != 0)
		result_fail("lun %u: MODE SENSE(10) length %u of %u, WP %u, "
			    "descriptors %u",
			    l->lun, scsi_be16(b), n, b[3] >> 7,
			    scsi_be16(b + 6));
	for (pg = b + 8; pg < b + n && (pg[0] & 0x3f) != 0x08; pg += 2 + pg[1])
		;
	if (pg >= b + n || !(pg[2] & 0x04))
		result_fail("lun %u: all pages lack the caching page with WCE",
			    l->lun);
	scsi_want_good(
	    cmd(l, SCSI_CDB(0x1a, 0x08, 0x48, 0, 255, 0), T.small, 255, true),
	    "MODE SENSE(6) of changeable values");
	scsi_want_sense(
	    cmd(l, SCSI_CDB(0x1a, 0, 0xc8, 0, 255, 0), T.small, 255, true), 5,
	    0x39, 0, "MODE SENSE(6) of saved values");
	scsi_want_sense(
	    cmd(l, SCSI_CDB(0x1a, 0, 0x2e, 0, 255, 0), T.small, 255, true), 5,
	    0x24, 0, "MODE SENSE(6) of page 2e");
	con_printf("scsi-test: lun %u: caching page with WCE, WP %u\n", l->lun,
		   l->ro);
}
