// SPDX-License-Identifier: MIT
/*
 * virtio-scsi's pure layers: the CDB parser with every malformed case, the
 * UNMAP parameter list, the emulated commands' answers, and the virtio
 * request framing (header, CDB, response and data buffers).
 */
#include <errno.h>
#include <string.h>

#include "tern/le.h"
#include "tern/virtio-scsi.h"
#include "unit.h"

/* A 2048-block LUN of 512-byte blocks, and a read-only twin. */
static const struct scsi_lun_info lun_rw = {
	.lun = 0,
	.block_size = 512,
	.nblocks = 2048,
	.max_xfer_blocks = 64,
	.max_unmap_blocks = 1024,
	.max_unmap_descs = 4,
	.max_ws_blocks = 1024,
	.serial = "SER-1",
	.wwn = 0x123456789abcdef0ULL,
};

static struct scsi_lun_info lun_ro(void)
{
	struct scsi_lun_info l = lun_rw;

	l.readonly = true;
	l.serial[0] = 0;
	return l;
}

static bool sense_is(struct scsi_sense s, struct scsi_sense want)
{
	return s.key == want.key && s.asc == want.asc && s.ascq == want.ascq;
}

/* Parse a CDB given as bytes; expect it to fail with want. */
#define EXPECT_FAIL(lun, want, ...)                                            \
	do {                                                                   \
		const uint8_t cdb_[] = { __VA_ARGS__ };                        \
		struct scsi_cmd c_;                                            \
		struct scsi_sense s_;                                          \
		ck_assert_msg(!scsi_cdb_parse(cdb_, sizeof(cdb_), (lun), &c_, &s_), \
			      "CDB %02x parsed", cdb_[0]);                     \
		ck_assert_msg(sense_is(s_, want),                              \
			      "CDB %02x: sense %x/%02x/%02x, want %x/%02x/%02x", \
			      cdb_[0], s_.key, s_.asc, s_.ascq, (want).key,    \
			      (want).asc, (want).ascq);                        \
	} while (0)

static struct scsi_cmd parse_ok(const struct scsi_lun_info *lun,
				const uint8_t *cdb, size_t len)
{
	struct scsi_cmd c;
	struct scsi_sense s;

	ck_assert_msg(scsi_cdb_parse(cdb, len, lun, &c, &s),
		      "CDB %02x: sense %x/%02x/%02x", cdb[0], s.key, s.asc, s.ascq);
	return c;
}

#define PARSE_OK(lun, ...)                                                     \
	({                                                                     \
		const uint8_t cdb_[] = { __VA_ARGS__ };                        \
		parse_ok((lun), cdb_, sizeof(cdb_));                           \
	})

START_TEST(cdb_read_write)
{
	struct scsi_cmd c;

	c = PARSE_OK(&lun_rw, 0x08, 0xe0, 0x01, 0x02, 4, 0); /* READ(6) */
	ck_assert_int_eq(c.kind, SCSI_KIND_READ);
	ck_assert_uint_eq(c.lba, 0x0102); /* the top 3 bits of byte 1 are not LBA */
	ck_assert_uint_eq(c.nblocks, 4);
	ck_assert_uint_eq(c.xfer, 2048);
	ck_assert_int_eq(c.dir, SCSI_DIR_IN);
	/* READ(6) length 0 is 256 blocks: above this LUN's 64. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x08, 0, 0, 0, 0, 0);
	c = PARSE_OK(&lun_rw, 0x0a, 0, 0, 8, 1, 0); /* WRITE(6) */
	ck_assert_int_eq(c.kind, SCSI_KIND_WRITE);
	ck_assert_int_eq(c.dir, SCSI_DIR_OUT);

	c = PARSE_OK(&lun_rw, 0x28, 0, 0, 0, 0x07, 0xf8, 0, 0, 8, 0); /* READ(10) */
	ck_assert_uint_eq(c.lba, 2040);
	ck_assert_uint_eq(c.nblocks, 8);
	c = PARSE_OK(&lun_rw, 0x2a, 0x08, 0, 0, 0, 0, 0, 0, 1, 0); /* WRITE(10) FUA */
	ck_assert(c.fua);
	/* Zero blocks: no transfer, no direction, still range checked. */
	c = PARSE_OK(&lun_rw, 0x28, 0, 0, 0, 0x08, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(c.xfer, 0);
	ck_assert_int_eq(c.dir, SCSI_DIR_NONE);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x28, 0, 0, 0, 0x08, 1, 0, 0, 0, 0);

	c = PARSE_OK(&lun_rw, 0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 64, 0, 0); /* WRITE(16) */
	ck_assert_uint_eq(c.lba, 16);
	ck_assert_uint_eq(c.nblocks, 64);
	ck_assert_uint_eq(c.xfer, 64 * 512);
	c = PARSE_OK(&lun_rw, 0x88, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xff, 0, 0, 0, 1, 0, 0);
	ck_assert_uint_eq(c.lba, 2047);
}
END_TEST

START_TEST(cdb_rw_errors)
{
	struct scsi_lun_info ro = lun_ro();

	/* The last block, one past, across the end, far beyond, wrapping. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x88, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 1, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x88, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xfc, 0, 0, 0, 8, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x8a, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0, 0, 0, 16, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x08, 0x1f, 0xff, 0xff, 1, 0);
	/* Above MAXIMUM TRANSFER LENGTH (64), in range or not. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 65, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x2a, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0);
	/* RDPROTECT / WRPROTECT: no protection information. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x8a, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	/* Writes to a read-only LUN, whatever else is wrong; reads work. */
	EXPECT_FAIL(&ro, SCSI_SENSE_WRITE_PROTECTED, 0x0a, 0, 0, 0, 1, 0);
	EXPECT_FAIL(&ro, SCSI_SENSE_WRITE_PROTECTED, 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	EXPECT_FAIL(&ro, SCSI_SENSE_WRITE_PROTECTED, 0x8a, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	PARSE_OK(&ro, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	/* CONTROL: NACA and LINK. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x04);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x00, 0, 0, 0, 0, 0x01);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0x04);
	/* Vendor bits of CONTROL are ignored. */
	PARSE_OK(&lun_rw, 0x00, 0, 0, 0, 0, 0xc0);
}
END_TEST

/* Fewer CDB bytes than the operation code's group says: 05/24/00. */
START_TEST(cdb_short)
{
	static const uint8_t ops[] = { 0x00, 0x03, 0x08, 0x0a, 0x12, 0x1a, 0x25, 0x28,
				       0x2a, 0x35, 0x42, 0x5a, 0x88, 0x8a, 0x91, 0x93,
				       0x9e, 0xa0 };
	uint8_t cdb[16] = { 0 };
	struct scsi_cmd c;
	struct scsi_sense s;

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		size_t need = ops[i] < 0x20 ? 6 : ops[i] < 0x60 ? 10 : ops[i] < 0xa0 ? 16 : 12;

		cdb[0] = ops[i];
		for (size_t len = 1; len < need; len++) {
			ck_assert_msg(!scsi_cdb_parse(cdb, len, &lun_rw, &c, &s),
				      "%02x with %zu bytes parsed", ops[i], len);
			ck_assert_msg(sense_is(s, SCSI_SENSE_INVALID_FIELD),
				      "%02x with %zu bytes: %x/%02x", ops[i], len, s.key, s.asc);
		}
	}
	/* No byte at all. */
	ck_assert(!scsi_cdb_parse(cdb, 0, &lun_rw, &c, &s));
	ck_assert(sense_is(s, SCSI_SENSE_INVALID_FIELD));
	/* More bytes than needed are fine (cdb_size 32). */
	cdb[0] = 0x00;
	ck_assert(scsi_cdb_parse(cdb, 16, &lun_rw, &c, &s));
}
END_TEST

/* Operation codes we do not implement, in every group: 05/20/00. */
START_TEST(cdb_unknown)
{
	static const uint8_t ops[] = { 0x01, 0x04, 0x15, 0x1b, 0x1e, 0x2f, 0x41, 0x55,
				       0x7f, 0x83, 0x89, 0x8e, 0x9f, 0xa3, 0xb5, 0xc0, 0xff };
	uint8_t cdb[16] = { 0 };
	struct scsi_cmd c;
	struct scsi_sense s;

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		cdb[0] = ops[i];
		ck_assert_msg(!scsi_cdb_parse(cdb, sizeof(cdb), &lun_rw, &c, &s), "%02x", ops[i]);
		ck_assert_msg(sense_is(s, SCSI_SENSE_INVALID_OPCODE), "%02x: %x/%02x", ops[i],
			      s.key, s.asc);
		/* Even one byte is enough to know that. */
		ck_assert(!scsi_cdb_parse(cdb, 1, &lun_rw, &c, &s));
		ck_assert(sense_is(s, SCSI_SENSE_INVALID_OPCODE));
	}
	/* SERVICE ACTION IN(16) other than READ CAPACITY(16). */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x9e, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
}
END_TEST

START_TEST(cdb_emulated)
{
	struct scsi_cmd c;

	c = PARSE_OK(&lun_rw, 0x00, 0, 0, 0, 0, 0);
	ck_assert_int_eq(c.kind, SCSI_KIND_TEST_UNIT_READY);
	ck_assert_int_eq(c.dir, SCSI_DIR_NONE);
	c = PARSE_OK(&lun_rw, 0x12, 0, 0, 0, 96, 0);
	ck_assert_int_eq(c.kind, SCSI_KIND_INQUIRY);
	ck_assert_uint_eq(c.xfer, 96);
	ck_assert_int_eq(c.dir, SCSI_DIR_IN);
	c = PARSE_OK(&lun_rw, 0x12, 1, 0xb0, 0x01, 0x00, 0);
	ck_assert(c.evpd);
	ck_assert_uint_eq(c.page, 0xb0);
	ck_assert_uint_eq(c.xfer, 256);
	c = PARSE_OK(&lun_rw, 0x12, 0, 0, 0, 0, 0);
	ck_assert_int_eq(c.dir, SCSI_DIR_NONE);
	/* A page without EVPD; CMDDT. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x12, 0, 0x80, 0, 96, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x12, 2, 0, 0, 96, 0);

	c = PARSE_OK(&lun_rw, 0x1a, 0x08, 0x48, 0, 64, 0);
	ck_assert(c.dbd);
	ck_assert_uint_eq(c.pc, 1);
	ck_assert_uint_eq(c.page, 0x08);
	ck_assert(!c.ten);
	c = PARSE_OK(&lun_rw, 0x5a, 0x10, 0x3f, 0xff, 0, 0, 0, 0x01, 0, 0);
	ck_assert(c.ten);
	ck_assert(c.llbaa);
	ck_assert_uint_eq(c.subpage, 0xff);
	ck_assert_uint_eq(c.xfer, 256);
	/* Saved values. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_SAVING_UNSUPPORTED, 0x1a, 0, 0xc8, 0, 64, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_SAVING_UNSUPPORTED, 0x5a, 0, 0xff, 0, 0, 0, 0, 0, 64, 0);

	c = PARSE_OK(&lun_rw, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(c.xfer, 8);
	ck_assert(!c.long_lba);
	/* An LBA without PMI. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0);
	PARSE_OK(&lun_rw, 0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0);
	c = PARSE_OK(&lun_rw, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	ck_assert(c.long_lba);
	ck_assert_uint_eq(c.xfer, 32);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 32, 0, 0);

	c = PARSE_OK(&lun_rw, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0);
	ck_assert_int_eq(c.kind, SCSI_KIND_REPORT_LUNS);
	ck_assert_uint_eq(c.xfer, 4096);
	/* Fewer than 16 bytes allowed; reports we do not have. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0xa0, 0, 0x10, 0, 0, 0, 0, 0, 0, 16, 0, 0);

	c = PARSE_OK(&lun_rw, 0x03, 0, 0, 0, 18, 0);
	ck_assert_int_eq(c.kind, SCSI_KIND_REQUEST_SENSE);
	/* Descriptor-format sense. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x03, 1, 0, 0, 18, 0);
}
END_TEST

START_TEST(cdb_provisioning)
{
	struct scsi_lun_info ro = lun_ro();
	struct scsi_cmd c;

	c = PARSE_OK(&lun_rw, 0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0); /* SYNC CACHE(10) */
	ck_assert_int_eq(c.kind, SCSI_KIND_SYNCHRONIZE_CACHE);
	PARSE_OK(&ro, 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x35, 0, 0, 0, 0x08, 1, 0, 0, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x91, 0, 0, 0, 0, 0, 0, 0, 0x07, 0xff, 0, 0, 0, 2, 0, 0);

	c = PARSE_OK(&lun_rw, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0); /* UNMAP */
	ck_assert_int_eq(c.kind, SCSI_KIND_UNMAP);
	ck_assert_uint_eq(c.xfer, 24);
	ck_assert_int_eq(c.dir, SCSI_DIR_OUT);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x42, 1, 0, 0, 0, 0, 0, 0, 24, 0);
	EXPECT_FAIL(&ro, SCSI_SENSE_WRITE_PROTECTED, 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0);

	/* WRITE SAME(16) with UNMAP: one block of data-out. */
	c = PARSE_OK(&lun_rw, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 16, 0, 0);
	ck_assert_int_eq(c.kind, SCSI_KIND_WRITE_SAME);
	ck_assert(c.unmap);
	ck_assert_uint_eq(c.xfer, 512);
	ck_assert_uint_eq(c.nblocks, 16);
	c = PARSE_OK(&lun_rw, 0x93, 0x09, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 16, 0, 0);
	ck_assert(c.ndob);
	ck_assert_uint_eq(c.xfer, 0);
	/* WSNZ: 0 blocks; above the limit; past the end; ANCHOR, WRPROTECT. */
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 1, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_LBA_OUT_OF_RANGE, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0x07, 0xf8, 0, 0, 0, 9, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x93, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	EXPECT_FAIL(&lun_rw, SCSI_SENSE_INVALID_FIELD, 0x93, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
	EXPECT_FAIL(&ro, SCSI_SENSE_WRITE_PROTECTED, 0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0);
}
END_TEST

/* An UNMAP parameter list: header, then 16-byte descriptors. */
static size_t unmap_list(uint8_t *p, unsigned int n, const uint64_t *lba,
			 const uint32_t *blocks)
{
	memset(p, 0, 8 + 16 * n);
	p[0] = (uint8_t)((6 + 16 * n) >> 8);
	p[1] = (uint8_t)(6 + 16 * n);
	p[2] = (uint8_t)((16 * n) >> 8);
	p[3] = (uint8_t)(16 * n);
	for (unsigned int i = 0; i < n; i++) {
		for (int b = 0; b < 8; b++)
			p[8 + 16 * i + b] = (uint8_t)(lba[i] >> (56 - 8 * b));
		for (int b = 0; b < 4; b++)
			p[16 + 16 * i + b] = (uint8_t)(blocks[i] >> (24 - 8 * b));
	}
	return 8 + 16 * n;
}

START_TEST(unmap_params)
{
	struct scsi_unmap_desc d[SCSI_UNMAP_DESCS_MAX];
	uint64_t lba[5] = { 0, 100, 2040, 7, 9 };
	uint32_t blocks[5] = { 8, 0, 8, 1, 1 };
	uint8_t p[8 + 16 * 5];
	struct scsi_sense s;
	unsigned int n;
	size_t len = unmap_list(p, 3, lba, blocks);

	ck_assert(scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	/* The empty descriptor is dropped. */
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(d[1].lba, 2040);
	ck_assert_uint_eq(d[1].nblocks, 8);
	/* Header only: nothing to do. */
	len = unmap_list(p, 0, lba, blocks);
	ck_assert(scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert_uint_eq(n, 0);

	/* 1..7 bytes. */
	for (size_t l = 1; l < 8; l++) {
		ck_assert(!scsi_unmap_parse(p, l, &lun_rw, d, &n, &s));
		ck_assert(sense_is(s, SCSI_SENSE_PARAM_LIST_LENGTH));
	}
	/* Lengths the list does not hold: data length, descriptors, partial. */
	len = unmap_list(p, 2, lba, blocks);
	ck_assert(!scsi_unmap_parse(p, len - 1, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_PARAM_LIST_LENGTH));
	p[3] = 24;
	ck_assert(!scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_PARAM_LIST_LENGTH));
	p[1] = 0xff;
	p[3] = 32;
	ck_assert(!scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_PARAM_LIST_LENGTH));
	/* More descriptors than the limit (4). */
	len = unmap_list(p, 5, lba, blocks);
	ck_assert(!scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_INVALID_PARAM));
	/* More blocks in all than the limit (1024). */
	blocks[0] = 1000;
	blocks[2] = 8;
	lba[2] = 1000;
	blocks[3] = 17;
	len = unmap_list(p, 4, lba, blocks);
	ck_assert(!scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_INVALID_PARAM));
	/* A range past the end, or wrapping. */
	blocks[0] = 9;
	lba[0] = 2040;
	len = unmap_list(p, 1, lba, blocks);
	ck_assert(!scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_LBA_OUT_OF_RANGE));
	lba[0] = UINT64_MAX - 3;
	len = unmap_list(p, 1, lba, blocks);
	ck_assert(!scsi_unmap_parse(p, len, &lun_rw, d, &n, &s));
	ck_assert(sense_is(s, SCSI_SENSE_LBA_OUT_OF_RANGE));
}
END_TEST

/* ---- emulated commands ---- */

static const uint16_t luns[] = { 0, 3, 300 };
static const struct scsi_target_info target = { luns, 3 };

static size_t emulate(const struct scsi_lun_info *lun, struct scsi_sense ua,
		      uint8_t *buf, const uint8_t *cdb, size_t cdb_len)
{
	struct scsi_cmd c;
	struct scsi_sense s;
	size_t len;

	ck_assert(scsi_cdb_parse(cdb, cdb_len, lun ? lun : &lun_rw, &c, &s));
	ck_assert_msg(scsi_emulate(&c, lun, &target, ua, buf, &len, &s),
		      "%02x: %x/%02x", cdb[0], s.key, s.asc);
	ck_assert_uint_le(len, SCSI_EMU_MAX);
	return len;
}

#define EMULATE(lun, buf, ...)                                                 \
	({                                                                     \
		const uint8_t cdb_[] = { __VA_ARGS__ };                        \
		emulate((lun), SCSI_SENSE_NONE, (buf), cdb_, sizeof(cdb_));    \
	})

static struct scsi_sense emulate_fails(const struct scsi_lun_info *lun,
				       const uint8_t *cdb, size_t cdb_len)
{
	uint8_t buf[SCSI_EMU_MAX];
	struct scsi_cmd c;
	struct scsi_sense s;
	size_t len;

	ck_assert(scsi_cdb_parse(cdb, cdb_len, lun ? lun : &lun_rw, &c, &s));
	ck_assert(!scsi_emulate(&c, lun, &target, SCSI_SENSE_NONE, buf, &len, &s));
	return s;
}

#define EMULATE_FAILS(lun, ...)                                                \
	({                                                                     \
		const uint8_t cdb_[] = { __VA_ARGS__ };                        \
		emulate_fails((lun), cdb_, sizeof(cdb_));                      \
	})

START_TEST(emu_inquiry)
{
	uint8_t b[SCSI_EMU_MAX];
	struct scsi_lun_info ro = lun_ro();
	size_t n;

	n = EMULATE(&lun_rw, b, 0x12, 0, 0, 0, 96, 0);
	ck_assert_uint_eq(n, 36);
	ck_assert_uint_eq(b[0], 0x00); /* connected, direct access */
	ck_assert_uint_eq(b[1], 0x00); /* not removable */
	ck_assert_uint_eq(b[3] & 0x0f, 2); /* response data format */
	ck_assert_uint_eq(b[4], 31);
	ck_assert(!memcmp(b + 8, "TERN    ", 8));
	for (int i = 8; i < 36; i++)
		ck_assert_msg(b[i] >= 0x20 && b[i] < 0x7f, "byte %d not ASCII", i);

	/* Page 0x00 lists the pages in ascending order, 0x80 with a serial. */
	n = EMULATE(&lun_rw, b, 0x12, 1, 0x00, 0, 255, 0);
	ck_assert_uint_eq(b[1], 0x00);
	ck_assert_uint_eq(b[3], n - 4);
	ck_assert_uint_eq(n - 4, 6);
	ck_assert(!memcmp(b + 4, "\x00\x80\x83\xb0\xb1\xb2", 6));
	n = EMULATE(&ro, b, 0x12, 1, 0x00, 0, 255, 0);
	ck_assert(!memcmp(b + 4, "\x00\x83\xb0\xb1\xb2", 5));
	ck_assert_uint_eq(n, 9);

	n = EMULATE(&lun_rw, b, 0x12, 1, 0x80, 0, 255, 0);
	ck_assert_uint_eq(b[1], 0x80);
	ck_assert_uint_eq(b[3], 5);
	ck_assert(!memcmp(b + 4, "SER-1", 5));
	ck_assert(sense_is(EMULATE_FAILS(&ro, 0x12, 1, 0x80, 0, 255, 0), SCSI_SENSE_INVALID_FIELD));

	/* Designators: NAA 3 of the wwn, then T10 vendor ID with the serial. */
	n = EMULATE(&lun_rw, b, 0x12, 1, 0x83, 0, 255, 0);
	ck_assert_uint_eq(b[1], 0x83);
	ck_assert_uint_eq(b[3], n - 4);
	ck_assert_uint_eq(b[4], 0x01);
	ck_assert_uint_eq(b[5], 0x03);
	ck_assert_uint_eq(b[7], 8);
	ck_assert_uint_eq(b[8], 0x32);
	ck_assert_uint_eq(b[15], 0xf0);
	ck_assert_uint_eq(b[16], 0x02);
	ck_assert_uint_eq(b[17], 0x01);
	ck_assert_uint_eq(b[19], 13);
	ck_assert(!memcmp(b + 20, "TERN    SER-1", 13));
	ck_assert_uint_eq(n, 33);

	n = EMULATE(&lun_rw, b, 0x12, 1, 0xb0, 0, 255, 0);
	ck_assert_uint_eq(n, 64);
	ck_assert_uint_eq(b[3], 0x3c);
	ck_assert_uint_eq(b[4] & 1, 1); /* WSNZ */
	ck_assert_uint_eq(le32_get((const uint8_t[]){ b[11], b[10], b[9], b[8] }), 64);
	ck_assert_uint_eq(b[23], 0x00);
	ck_assert_uint_eq(b[22], 0x04); /* 1024 blocks to unmap */
	ck_assert_uint_eq(b[27], 4); /* descriptors */
	ck_assert_uint_eq(b[31], 8); /* granularity: 4 KiB */
	ck_assert_uint_eq(b[42], 0x04); /* WRITE SAME: 1024 */
	n = EMULATE(&ro, b, 0x12, 1, 0xb0, 0, 255, 0);
	ck_assert_uint_eq(b[22], 0); /* nothing to unmap on a read-only LUN */

	n = EMULATE(&lun_rw, b, 0x12, 1, 0xb1, 0, 255, 0);
	ck_assert_uint_eq(n, 64);
	ck_assert_uint_eq(b[3], 0x3c);
	ck_assert_uint_eq(b[5], 1); /* non-rotating */

	n = EMULATE(&lun_rw, b, 0x12, 1, 0xb2, 0, 255, 0);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq(b[3], 4);
	ck_assert_uint_eq(b[5], 0xc4); /* LBPU, LBPWS, LBPRZ */
	ck_assert_uint_eq(b[6] & 7, 2);
	n = EMULATE(&ro, b, 0x12, 1, 0xb2, 0, 255, 0);
	ck_assert_uint_eq(b[5], 0);

	ck_assert(sense_is(EMULATE_FAILS(&lun_rw, 0x12, 1, 0x42, 0, 255, 0),
			   SCSI_SENSE_INVALID_FIELD));
	ck_assert(sense_is(EMULATE_FAILS(&lun_rw, 0x12, 1, 0x81, 0, 255, 0),
			   SCSI_SENSE_INVALID_FIELD));
}
END_TEST

/* A LUN that is not there: SPC-4's answers for an absent logical unit. */
START_TEST(emu_absent_lun)
{
	uint8_t b[SCSI_EMU_MAX];
	size_t n;

	n = EMULATE(NULL, b, 0x12, 0, 0, 0, 96, 0);
	ck_assert_uint_eq(n, 36);
	ck_assert_uint_eq(b[0], 0x7f);
	n = EMULATE(NULL, b, 0x12, 1, 0, 0, 96, 0);
	ck_assert_uint_eq(b[0], 0x7f);
	ck_assert_uint_eq(n, 5);
	ck_assert(sense_is(EMULATE_FAILS(NULL, 0x12, 1, 0x83, 0, 96, 0), SCSI_SENSE_INVALID_FIELD));
	n = EMULATE(NULL, b, 0x03, 0, 0, 0, 18, 0);
	ck_assert_uint_eq(n, 18);
	ck_assert_uint_eq(b[2], 0x05);
	ck_assert_uint_eq(b[12], 0x25);
	n = EMULATE(NULL, b, 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	ck_assert_uint_eq(n, 32);
	ck_assert(sense_is(EMULATE_FAILS(NULL, 0x00, 0, 0, 0, 0, 0), SCSI_SENSE_LUN_NOT_SUPPORTED));
	ck_assert(sense_is(EMULATE_FAILS(NULL, 0x1a, 0, 0x08, 0, 64, 0),
			   SCSI_SENSE_LUN_NOT_SUPPORTED));
}
END_TEST

START_TEST(emu_mode_sense)
{
	uint8_t b[SCSI_EMU_MAX];
	struct scsi_lun_info ro = lun_ro();
	size_t n;

	/* MODE SENSE(6), caching page, with a block descriptor. */
	n = EMULATE(&lun_rw, b, 0x1a, 0, 0x08, 0, 255, 0);
	ck_assert_uint_eq(n, 4 + 8 + 20);
	ck_assert_uint_eq(b[0], n - 1);
	ck_assert_uint_eq(b[1], 0); /* medium type */
	ck_assert_uint_eq(b[2], 0x10); /* DPOFUA, not WP */
	ck_assert_uint_eq(b[3], 8);
	ck_assert_uint_eq(b[4 + 2], 0x08); /* 2048 blocks */
	ck_assert_uint_eq(b[4 + 6], 0x02); /* of 512 bytes */
	ck_assert_uint_eq(b[12], 0x08);
	ck_assert_uint_eq(b[13], 0x12);
	ck_assert_uint_eq(b[14] & 0x05, 0x04); /* WCE, not RCD */
	/* Read-only: WP. Without block descriptor; all pages. */
	n = EMULATE(&ro, b, 0x1a, 0x08, 0x3f, 0, 255, 0);
	ck_assert_uint_eq(n, 4 + 20);
	ck_assert_uint_eq(b[2], 0x90);
	ck_assert_uint_eq(b[3], 0);
	ck_assert_uint_eq(b[4], 0x08);
	/* Changeable values: nothing. */
	n = EMULATE(&lun_rw, b, 0x1a, 0x08, 0x48, 0, 255, 0);
	ck_assert_uint_eq(b[6], 0);
	/* MODE SENSE(10) with long LBA descriptors. */
	n = EMULATE(&lun_rw, b, 0x5a, 0x10, 0x08, 0, 0, 0, 0, 1, 0, 0);
	ck_assert_uint_eq(n, 8 + 16 + 20);
	ck_assert_uint_eq(b[1], n - 2);
	ck_assert_uint_eq(b[4], 1); /* LONGLBA */
	ck_assert_uint_eq(b[7], 16);
	ck_assert_uint_eq(b[8 + 6], 0x08);
	ck_assert_uint_eq(b[8 + 14], 0x02);
	ck_assert_uint_eq(b[24], 0x08);
	n = EMULATE(&lun_rw, b, 0x5a, 0, 0x3f, 0xff, 0, 0, 0, 1, 0, 0);
	ck_assert_uint_eq(b[7], 8);
	/* Pages and subpages we do not have. */
	ck_assert(sense_is(EMULATE_FAILS(&lun_rw, 0x1a, 0, 0x0a, 0, 255, 0), SCSI_SENSE_INVALID_FIELD));
	ck_assert(sense_is(EMULATE_FAILS(&lun_rw, 0x1a, 0, 0x08, 1, 255, 0), SCSI_SENSE_INVALID_FIELD));
	ck_assert(sense_is(EMULATE_FAILS(&lun_rw, 0x1a, 0, 0x3f, 1, 255, 0), SCSI_SENSE_INVALID_FIELD));
}
END_TEST

START_TEST(emu_capacity_luns_sense)
{
	uint8_t b[SCSI_EMU_MAX];
	struct scsi_lun_info big = lun_rw;
	size_t n;

	n = EMULATE(&lun_rw, b, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(n, 8);
	ck_assert(!memcmp(b, "\x00\x00\x07\xff\x00\x00\x02\x00", 8));
	n = EMULATE(&lun_rw, b, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_uint_eq(b[6], 0x07);
	ck_assert_uint_eq(b[7], 0xff);
	ck_assert_uint_eq(b[14], 0xc0); /* LBPME, LBPRZ */
	/* Beyond 32 bits: READ CAPACITY(10) says FFFFFFFFh. */
	big.nblocks = 1ULL << 33;
	n = EMULATE(&big, b, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	ck_assert(!memcmp(b, "\xff\xff\xff\xff", 4));
	n = EMULATE(&big, b, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0);
	ck_assert_uint_eq(b[3], 0x01);
	ck_assert_uint_eq(b[4], 0xff);
	n = EMULATE(&big, b, 0x1a, 0, 0x08, 0, 255, 0);
	ck_assert(!memcmp(b + 4, "\xff\xff\xff\xff", 4));

	/* LUNs 0, 3 (peripheral addressing), 300 (flat). */
	n = EMULATE(&lun_rw, b, 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_uint_eq(b[3], 24);
	ck_assert(!memcmp(b + 8, "\x00\x00", 2));
	ck_assert(!memcmp(b + 16, "\x00\x03", 2));
	ck_assert(!memcmp(b + 24, "\x41\x2c", 2));
	n = EMULATE(&lun_rw, b, 0xa0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0);
	ck_assert_uint_eq(n, 8); /* no well-known LUNs */

	/* REQUEST SENSE: what is pending, or NO SENSE. */
	{
		const uint8_t cdb[] = { 0x03, 0, 0, 0, 18, 0 };

		n = emulate(&lun_rw, SCSI_SENSE_LUN_RESET, b, cdb, sizeof(cdb));
		ck_assert_uint_eq(n, 18);
		ck_assert_uint_eq(b[0], 0x70);
		ck_assert_uint_eq(b[2], 0x06);
		ck_assert_uint_eq(b[7], 10);
		ck_assert_uint_eq(b[12], 0x29);
		ck_assert_uint_eq(b[13], 0x03);
		n = emulate(&lun_rw, SCSI_SENSE_NONE, b, cdb, sizeof(cdb));
		ck_assert_uint_eq(b[2] | b[12] | b[13], 0);
	}
	/* TEST UNIT READY is all GOOD; READ is not emulated. */
	ck_assert_uint_eq(EMULATE(&lun_rw, b, 0x00, 0, 0, 0, 0, 0), 0);
	ck_assert(sense_is(EMULATE_FAILS(&lun_rw, 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0),
			   SCSI_SENSE_INVALID_OPCODE));
}
END_TEST

/* ---- virtio framing ---- */

/* A request header for LUN lun, tag 0x1122..., with the CDB given. */
static void req_hdr(uint8_t *h, uint16_t lun, const uint8_t *cdb, size_t n)
{
	memset(h, 0, VIRTIO_SCSI_REQ_HDR + 32);
	h[0] = 1;
	h[2] = lun < 256 ? 0 : (uint8_t)(0x40 | lun >> 8);
	h[3] = (uint8_t)lun;
	le64_put(h + 8, 0x1122334455667788ULL);
	memcpy(h + VIRTIO_SCSI_REQ_HDR, cdb, n);
}

START_TEST(framing_layouts)
{
	static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0 };
	uint8_t h[VIRTIO_SCSI_REQ_HDR + 32], resp[108 + 1024], data[4096];
	struct iovec iov[6];
	struct virtio_scsi_req r;

	req_hdr(h, 3, read10, sizeof(read10));
	/* Header; response and data in one writable buffer. */
	iov[0] = (struct iovec){ h, sizeof(h) };
	iov[1] = (struct iovec){ resp, sizeof(resp) };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 32, 96, &r), VIRTIO_SCSI_S_OK);
	ck_assert(r.lun_ok);
	ck_assert_uint_eq(r.lun, 3);
	ck_assert_uint_eq(r.tag, 0x1122334455667788ULL);
	ck_assert_uint_eq(r.cdb_len, SCSI_CDB_MAX);
	ck_assert(!memcmp(r.cdb, read10, 10));
	ck_assert_uint_eq(r.resp_len, 108);
	ck_assert_int_eq(r.dir, SCSI_DIR_IN);
	ck_assert_uint_eq(r.data_len, 1024);
	ck_assert_ptr_eq(r.data[0].iov_base, resp + 108);

	/* The response is written where it belongs, the buffer restored. */
	{
		struct virtio_scsi_resp a = { .status = 2, .resid = 7, .has_sense = true,
					      .sense = SCSI_SENSE_LBA_OUT_OF_RANGE };

		memset(resp, 0xee, sizeof(resp));
		ck_assert_uint_eq(virtio_scsi_put_resp(&r, &a), 108);
		ck_assert_uint_eq(le32_get(resp), 18);
		ck_assert_uint_eq(le32_get(resp + 4), 7);
		ck_assert_uint_eq(resp[10], 2);
		ck_assert_uint_eq(resp[11], 0);
		ck_assert_uint_eq(resp[12], 0x70);
		ck_assert_uint_eq(resp[14], 5);
		ck_assert_uint_eq(resp[24], 0x21);
		ck_assert_uint_eq(resp[107], 0); /* the rest of the sense area */
		ck_assert_uint_eq(resp[108], 0xee); /* data untouched */
		ck_assert_uint_eq(iov[1].iov_len, sizeof(resp));
	}

	/* The header split everywhere, data-out over two buffers. */
	iov[0] = (struct iovec){ h, 1 };
	iov[1] = (struct iovec){ h + 1, 20 };
	iov[2] = (struct iovec){ h + 21, sizeof(h) - 21 };
	iov[3] = (struct iovec){ data, 100 };
	iov[4] = (struct iovec){ data + 100, 412 };
	iov[5] = (struct iovec){ resp, 108 };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 5, 1, 32, 96, &r), VIRTIO_SCSI_S_OK);
	ck_assert(!memcmp(r.cdb, read10, 10));
	ck_assert_int_eq(r.dir, SCSI_DIR_OUT);
	ck_assert_uint_eq(r.data_len, 512);
	ck_assert_uint_eq(r.data_cnt, 2);
	ck_assert_ptr_eq(r.data[0].iov_base, data);

	/* The response over several buffers, a small sense_size. */
	iov[0] = (struct iovec){ h, VIRTIO_SCSI_REQ_HDR + 16 };
	iov[1] = (struct iovec){ resp, 5 };
	iov[2] = (struct iovec){ resp + 5, 10 };
	iov[3] = (struct iovec){ resp + 15, 100 };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 3, 16, 8, &r), VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(r.resp_len, 20);
	ck_assert_uint_eq(r.resp_cnt, 3);
	ck_assert_uint_eq(r.data_len, 95);
	ck_assert_ptr_eq(r.data[0].iov_base, resp + 20);
	{
		struct virtio_scsi_resp a = { .status = 2, .has_sense = true,
					      .sense = SCSI_SENSE_INVALID_FIELD };

		ck_assert_uint_eq(virtio_scsi_put_resp(&r, &a), 20);
		ck_assert_uint_eq(le32_get(resp), 8); /* cut to sense_size */
		ck_assert_uint_eq(resp[14], 5);
		ck_assert_uint_eq(iov[3].iov_len, 100);
	}
	/* No data at all; nothing beyond the response header. */
	iov[1] = (struct iovec){ resp, 12 };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 16, 96, &r), VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(r.resp_len, 12);
	ck_assert_int_eq(r.dir, SCSI_DIR_NONE);
	{
		struct virtio_scsi_resp a = { .status = 2, .has_sense = true,
					      .sense = SCSI_SENSE_INVALID_FIELD };

		ck_assert_uint_eq(virtio_scsi_put_resp(&r, &a), 12);
		ck_assert_uint_eq(le32_get(resp), 0);
	}
}
END_TEST

START_TEST(framing_malformed)
{
	static const uint8_t tur[6] = { 0 };
	uint8_t h[VIRTIO_SCSI_REQ_HDR + 32], resp[108], data[512];
	struct iovec iov[4];
	struct virtio_scsi_req r;

	req_hdr(h, 0, tur, sizeof(tur));
	/* Nothing writable, or less than a response header: no answer. */
	iov[0] = (struct iovec){ h, sizeof(h) };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 0, 32, 96, &r), -EINVAL);
	iov[1] = (struct iovec){ resp, 11 };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 32, 96, &r), -EINVAL);
	iov[1] = (struct iovec){ resp, 6 };
	iov[2] = (struct iovec){ resp + 6, 5 };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 2, 32, 96, &r), -EINVAL);
	/* Less than the 19-byte header, or no readable buffer: FAILURE. */
	iov[0] = (struct iovec){ h, 18 };
	iov[1] = (struct iovec){ resp, sizeof(resp) };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 32, 96, &r), VIRTIO_SCSI_S_FAILURE);
	ck_assert_uint_eq(r.resp_len, 108);
	ck_assert_int_eq(virtio_scsi_parse_req(iov + 1, 0, 1, 32, 96, &r), VIRTIO_SCSI_S_FAILURE);
	/* Data both ways without VIRTIO_SCSI_F_INOUT. */
	iov[0] = (struct iovec){ h, sizeof(h) };
	iov[1] = (struct iovec){ data, sizeof(data) };
	iov[2] = (struct iovec){ resp, sizeof(resp) };
	iov[3] = (struct iovec){ data, sizeof(data) };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 2, 2, 32, 96, &r), VIRTIO_SCSI_S_FAILURE);
	/* A CDB area shorter than cdb_size: the CDB is short, not the request. */
	iov[0] = (struct iovec){ h, VIRTIO_SCSI_REQ_HDR + 6 };
	iov[1] = (struct iovec){ resp, sizeof(resp) };
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 32, 96, &r), VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(r.cdb_len, 6);
	ck_assert_int_eq(r.dir, SCSI_DIR_NONE);
	iov[0].iov_len = VIRTIO_SCSI_REQ_HDR;
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 32, 96, &r), VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(r.cdb_len, 0);
	/* cdb_size 0: every CDB is empty, the rest is data. */
	iov[0].iov_len = sizeof(h);
	ck_assert_int_eq(virtio_scsi_parse_req(iov, 1, 1, 0, 96, &r), VIRTIO_SCSI_S_OK);
	ck_assert_uint_eq(r.cdb_len, 0);
	ck_assert_uint_eq(r.data_len, 32);
}
END_TEST

START_TEST(framing_lun_addresses)
{
	uint8_t a[8] = { 1, 0, 0, 5, 0, 0, 0, 0 }, t;
	uint16_t l;

	ck_assert(virtio_scsi_lun_decode(a, &t, &l));
	ck_assert_uint_eq(t, 0);
	ck_assert_uint_eq(l, 5);
	/* Linux writes flat space addressing even below 256. */
	a[2] = 0x40;
	ck_assert(virtio_scsi_lun_decode(a, &t, &l));
	ck_assert_uint_eq(l, 5);
	a[2] = 0x7f;
	a[3] = 0xff;
	ck_assert(virtio_scsi_lun_decode(a, &t, &l));
	ck_assert_uint_eq(l, 0x3fff);
	a[1] = 9;
	ck_assert(virtio_scsi_lun_decode(a, &t, &l));
	ck_assert_uint_eq(t, 9);
	/* Not 1 in byte 0; peripheral with a bus; logical unit, extended. */
	a[0] = 0;
	ck_assert(!virtio_scsi_lun_decode(a, &t, &l));
	a[0] = 2;
	ck_assert(!virtio_scsi_lun_decode(a, &t, &l));
	a[0] = 1;
	a[2] = 0x01;
	ck_assert(!virtio_scsi_lun_decode(a, &t, &l));
	a[2] = 0x80;
	ck_assert(!virtio_scsi_lun_decode(a, &t, &l));
	a[2] = 0xc1; /* the REPORT LUNS well-known LUN */
	ck_assert(!virtio_scsi_lun_decode(a, &t, &l));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scsi-cdb");

	UNIT_TCASE(s, "cdb", cdb_read_write, cdb_rw_errors, cdb_short, cdb_unknown,
		   cdb_emulated, cdb_provisioning, unmap_params);
	UNIT_TCASE(s, "emulate", emu_inquiry, emu_absent_lun, emu_mode_sense,
		   emu_capacity_luns_sense);
	UNIT_TCASE(s, "framing", framing_layouts, framing_malformed, framing_lun_addresses);
	return unit_run(s);
}
