// SPDX-License-Identifier: MIT
/*
 * The SCSI command parser: a pure function from CDB bytes (copied out of
 * guest memory by the caller) and a LUN's limits to a command or to the
 * sense data of its CHECK CONDITION, and the UNMAP parameter list the same
 * way. SPC-4 and SBC-3 say which field means what; where they leave the
 * order of checks open, QEMU's order is kept (a write to a read-only LUN
 * is WRITE PROTECTED before anything else is looked at).
 */
#include <string.h>

#include "tern/virtio-scsi.h"

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

void scsi_sense_fixed(struct scsi_sense s, uint8_t out[SCSI_SENSE_LEN])
{
	memset(out, 0, SCSI_SENSE_LEN);
	out[0] = 0x70; /* current error, fixed format */
	out[2] = s.key;
	out[7] = SCSI_SENSE_LEN - 8; /* additional sense length */
	out[12] = s.asc;
	out[13] = s.ascq;
}

/*
 * The CDB length an opcode's group implies (SPC-4 4.2.5.1), 0 for the
 * groups without one (reserved, variable length, vendor specific).
 */
static size_t cdb_length(uint8_t op)
{
	switch (op >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 0;
	}
}

/* [lba, lba + n) inside the LUN, without overflowing. */
static bool range_ok(const struct scsi_lun_info *lun, uint64_t lba, uint64_t n)
{
	return lba <= lun->nblocks && n <= lun->nblocks - lba;
}

#define FAIL(s)                                                                \
	do {                                                                   \
		*sense = (s);                                                  \
		return false;                                                  \
	} while (0)

/* READ and WRITE (6, 10, 16): where the blocks are and how many. */
static bool parse_rw(const uint8_t *cdb, const struct scsi_lun_info *lun,
		     struct scsi_cmd *c, struct scsi_sense *sense)
{
	bool write = c->opcode == SCSI_OP_WRITE_6 ||
		     c->opcode == SCSI_OP_WRITE_10 ||
		     c->opcode == SCSI_OP_WRITE_16;
	uint8_t protect = 0;

	c->kind = write ? SCSI_KIND_WRITE : SCSI_KIND_READ;
	switch (c->opcode) {
	case SCSI_OP_READ_6:
	case SCSI_OP_WRITE_6:
		c->lba = (uint32_t)(cdb[1] & 0x1f) << 16 | be16(cdb + 2);
		/* SBC-3 5.11: a TRANSFER LENGTH of 0 means 256 blocks here. */
		c->nblocks = cdb[4] ? cdb[4] : 256;
		break;
	case SCSI_OP_READ_10:
	case SCSI_OP_WRITE_10:
		protect = cdb[1] >> 5;
		c->fua = cdb[1] & 0x08;
		c->lba = be32(cdb + 2);
		c->nblocks = be16(cdb + 7);
		break;
	default:
		protect = cdb[1] >> 5;
		c->fua = cdb[1] & 0x08;
		c->lba = be64(cdb + 2);
		c->nblocks = be32(cdb + 10);
		break;
	}
	if (write && lun->readonly)
		FAIL(SCSI_SENSE_WRITE_PROTECTED);
	/* No protection information (no PROTECT bit in INQUIRY). */
	if (protect)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	/* SBC-3 5.8: above MAXIMUM TRANSFER LENGTH, INVALID FIELD IN CDB. */
	if (c->nblocks > lun->max_xfer_blocks)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	if (!range_ok(lun, c->lba, c->nblocks))
		FAIL(SCSI_SENSE_LBA_OUT_OF_RANGE);
	c->xfer = (uint64_t)c->nblocks * lun->block_size;
	if (c->xfer)
		c->dir = write ? SCSI_DIR_OUT : SCSI_DIR_IN;
	return true;
}

static bool parse_write_same(const uint8_t *cdb,
			     const struct scsi_lun_info *lun,
			     struct scsi_cmd *c, struct scsi_sense *sense)
{
	c->kind = SCSI_KIND_WRITE_SAME;
	c->unmap = cdb[1] & 0x08;
	c->ndob = cdb[1] & 0x01;
	c->lba = be64(cdb + 2);
	c->nblocks = be32(cdb + 10);
	if (lun->readonly)
		FAIL(SCSI_SENSE_WRITE_PROTECTED);
	/* WRPROTECT, and ANCHOR (no anchored blocks). */
	if (cdb[1] & 0xf0)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	/* WSNZ is set in the block limits: 0 does not mean "to the end". */
	if (!c->nblocks || c->nblocks > lun->max_ws_blocks)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	if (!range_ok(lun, c->lba, c->nblocks))
		FAIL(SCSI_SENSE_LBA_OUT_OF_RANGE);
	if (!c->ndob) {
		c->xfer = lun->block_size;
		c->dir = SCSI_DIR_OUT;
	}
	return true;
}

static bool parse_sync_cache(const uint8_t *cdb,
			     const struct scsi_lun_info *lun,
			     struct scsi_cmd *c, struct scsi_sense *sense)
{
	c->kind = SCSI_KIND_SYNCHRONIZE_CACHE;
	if (c->opcode == SCSI_OP_SYNCHRONIZE_CACHE_10) {
		c->lba = be32(cdb + 2);
		c->nblocks = be16(cdb + 7);
	} else {
		c->lba = be64(cdb + 2);
		c->nblocks = be32(cdb + 10);
	}
	/* 0 blocks: from lba to the end. The flush is the whole file's. */
	if (!range_ok(lun, c->lba, c->nblocks))
		FAIL(SCSI_SENSE_LBA_OUT_OF_RANGE);
	return true;
}

static bool parse_mode_sense(const uint8_t *cdb, struct scsi_cmd *c,
			     struct scsi_sense *sense)
{
	c->kind = SCSI_KIND_MODE_SENSE;
	c->ten = c->opcode == SCSI_OP_MODE_SENSE_10;
	c->dbd = cdb[1] & 0x08;
	c->llbaa = c->ten && (cdb[1] & 0x10);
	c->pc = cdb[2] >> 6;
	c->page = cdb[2] & 0x3f;
	c->subpage = cdb[3];
	c->xfer = c->ten ? be16(cdb + 7) : cdb[4];
	/* No saved values: nothing is changeable, MODE SELECT is not there. */
	if (c->pc == 3)
		FAIL(SCSI_SENSE_SAVING_UNSUPPORTED);
	return true;
}

static bool parse_read_capacity(const uint8_t *cdb, struct scsi_cmd *c,
				struct scsi_sense *sense)
{
	bool pmi;

	c->kind = SCSI_KIND_READ_CAPACITY;
	if (c->opcode == SCSI_OP_READ_CAPACITY_10) {
		c->lba = be32(cdb + 2);
		pmi = cdb[8] & 0x01;
		c->xfer = 8;
	} else {
		if ((cdb[1] & 0x1f) != SCSI_SAI_READ_CAPACITY_16)
			FAIL(SCSI_SENSE_INVALID_FIELD);
		c->long_lba = true;
		c->lba = be64(cdb + 2);
		pmi = cdb[14] & 0x01;
		c->xfer = be32(cdb + 10);
	}
	/* SBC-3 5.16: without PMI the LBA field must be zero. */
	if (!pmi && c->lba)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	return true;
}

/* The opcode-specific part, the CDB being long enough. */
static bool parse_op(const uint8_t *cdb, const struct scsi_lun_info *lun,
		     struct scsi_cmd *c, struct scsi_sense *sense)
{
	switch (c->opcode) {
	case SCSI_OP_TEST_UNIT_READY:
		c->kind = SCSI_KIND_TEST_UNIT_READY;
		return true;
	case SCSI_OP_REQUEST_SENSE:
		c->kind = SCSI_KIND_REQUEST_SENSE;
		c->desc = cdb[1] & 0x01;
		c->xfer = cdb[4];
		/* Fixed-format sense only (SPC-4 6.39). */
		if (c->desc)
			FAIL(SCSI_SENSE_INVALID_FIELD);
		return true;
	case SCSI_OP_INQUIRY:
		c->kind = SCSI_KIND_INQUIRY;
		c->evpd = cdb[1] & 0x01;
		c->page = cdb[2];
		c->xfer = be16(cdb + 3);
		/* CMDDT (obsolete), or a page code without EVPD. */
		if ((cdb[1] & 0x02) || (!c->evpd && c->page))
			FAIL(SCSI_SENSE_INVALID_FIELD);
		return true;
	case SCSI_OP_MODE_SENSE_6:
	case SCSI_OP_MODE_SENSE_10:
		return parse_mode_sense(cdb, c, sense);
	case SCSI_OP_READ_CAPACITY_10:
	case SCSI_OP_SERVICE_ACTION_IN_16:
		return parse_read_capacity(cdb, c, sense);
	case SCSI_OP_REPORT_LUNS:
		c->kind = SCSI_KIND_REPORT_LUNS;
		c->select = cdb[2];
		c->xfer = be32(cdb + 6);
		/* SPC-4 6.33: less than 16 bytes, or a report we lack. */
		if (c->xfer < 16 || c->select > 2)
			FAIL(SCSI_SENSE_INVALID_FIELD);
		return true;
	case SCSI_OP_READ_6:
	case SCSI_OP_WRITE_6:
	case SCSI_OP_READ_10:
	case SCSI_OP_WRITE_10:
	case SCSI_OP_READ_16:
	case SCSI_OP_WRITE_16:
		return parse_rw(cdb, lun, c, sense);
	case SCSI_OP_SYNCHRONIZE_CACHE_10:
	case SCSI_OP_SYNCHRONIZE_CACHE_16:
		return parse_sync_cache(cdb, lun, c, sense);
	case SCSI_OP_UNMAP:
		c->kind = SCSI_KIND_UNMAP;
		c->xfer = be16(cdb + 7);
		if (lun->readonly)
			FAIL(SCSI_SENSE_WRITE_PROTECTED);
		if (cdb[1] & 0x01) /* ANCHOR */
			FAIL(SCSI_SENSE_INVALID_FIELD);
		return true;
	case SCSI_OP_WRITE_SAME_16:
		return parse_write_same(cdb, lun, c, sense);
	}
	FAIL(SCSI_SENSE_INVALID_OPCODE);
}

bool scsi_cdb_parse(const uint8_t *cdb, size_t len,
		    const struct scsi_lun_info *lun, struct scsi_cmd *cmd,
		    struct scsi_sense *sense)
{
	size_t need;

	memset(cmd, 0, sizeof(*cmd));
	*sense = SCSI_SENSE_NONE;
	/* Not even an operation code: nothing but the CDB is at fault. */
	if (!len)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	cmd->opcode = cdb[0];
	need = cdb_length(cmd->opcode);
	switch (cmd->opcode) {
	case SCSI_OP_TEST_UNIT_READY:
	case SCSI_OP_REQUEST_SENSE:
	case SCSI_OP_READ_6:
	case SCSI_OP_WRITE_6:
	case SCSI_OP_INQUIRY:
	case SCSI_OP_MODE_SENSE_6:
	case SCSI_OP_READ_CAPACITY_10:
	case SCSI_OP_READ_10:
	case SCSI_OP_WRITE_10:
	case SCSI_OP_SYNCHRONIZE_CACHE_10:
	case SCSI_OP_UNMAP:
	case SCSI_OP_MODE_SENSE_10:
	case SCSI_OP_READ_16:
	case SCSI_OP_WRITE_16:
	case SCSI_OP_SYNCHRONIZE_CACHE_16:
	case SCSI_OP_WRITE_SAME_16:
	case SCSI_OP_SERVICE_ACTION_IN_16:
	case SCSI_OP_REPORT_LUNS:
		break;
	default:
		FAIL(SCSI_SENSE_INVALID_OPCODE);
	}
	/* The driver sent fewer bytes than the operation code needs. */
	if (len < need)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	/* CONTROL: NACA (no ACA support) and the obsolete LINK bit. */
	if (cdb[need - 1] & 0x05)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	if (!parse_op(cdb, lun, cmd, sense))
		return false;
	/* The emulated commands answer, UNMAP takes a parameter list. */
	if (cmd->xfer && cmd->dir == SCSI_DIR_NONE)
		cmd->dir =
		    cmd->kind == SCSI_KIND_UNMAP ? SCSI_DIR_OUT : SCSI_DIR_IN;
	return true;
}

bool scsi_unmap_parse(const uint8_t *param, size_t len,
		      const struct scsi_lun_info *lun,
		      struct scsi_unmap_desc descs[SCSI_UNMAP_DESCS_MAX],
		      unsigned int *n, struct scsi_sense *sense)
{
	uint64_t total = 0;
	size_t data_len, bd_len;

	*n = 0;
	*sense = SCSI_SENSE_NONE;
	/* SBC-3 5.28: a parameter list of 1 to 7 bytes. */
	if (len < 8)
		FAIL(SCSI_SENSE_PARAM_LIST_LENGTH);
	data_len = be16(param);
	bd_len = be16(param + 2);
	/* Lengths beyond what was sent, or a partial descriptor. */
	if (data_len + 2 > len || bd_len + 8 > len || bd_len % 16)
		FAIL(SCSI_SENSE_PARAM_LIST_LENGTH);
	/* Also keeps the reads inside the copy the caller made. */
	if (bd_len / 16 > lun->max_unmap_descs ||
	    bd_len / 16 > SCSI_UNMAP_DESCS_MAX)
		FAIL(SCSI_SENSE_INVALID_PARAM);
	for (size_t off = 8; off < 8 + bd_len; off += 16) {
		uint64_t lba = be64(param + off);
		uint32_t blocks = be32(param + off + 8);

		if (!range_ok(lun, lba, blocks))
			FAIL(SCSI_SENSE_LBA_OUT_OF_RANGE);
		total += blocks;
		if (total > lun->max_unmap_blocks)
			FAIL(SCSI_SENSE_INVALID_PARAM);
		if (blocks)
			descs[(*n)++] = (struct scsi_unmap_desc){lba, blocks};
	}
	return true;
}
