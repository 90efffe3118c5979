// SPDX-License-Identifier: MIT
/*
 * The SCSI commands a LUN answers from memory: standard INQUIRY data and
 * the VPD pages (SPC-4 7.8, SBC-3 6.6), MODE SENSE with the caching page,
 * READ CAPACITY, REPORT LUNS, REQUEST SENSE. Pure functions of the command
 * and the LUN; the caller cuts the answer to the allocation length.
 */
#include <string.h>

#include "tern-config.h"
#include "tern/virtio-scsi.h"

#define VENDOR "TERN    "
#define PRODUCT "TERN HARDDISK   "

/* Peripheral device type: a direct access block device (SBC). */
#define TYPE_DISK 0x00
/* Peripheral qualifier 3, type 1fh: no device on this LUN (SPC-4 6.6.2). */
#define TYPE_NO_LUN 0x7f

/* VPD pages, in the ascending order page 0x00 lists them. */
#define VPD_SUPPORTED 0x00
#define VPD_SERIAL 0x80
#define VPD_DEVICE_ID 0x83
#define VPD_BLOCK_LIMITS 0xb0
#define VPD_CHARACTERISTICS 0xb1
#define VPD_PROVISIONING 0xb2

#define MODE_PAGE_CACHING 0x08
#define MODE_PAGE_ALL 0x3f
#define MODE_CACHING_LEN 0x12
#define MODE_CACHING_WCE 0x04

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

#define FAIL(s)                                                                \
	do {                                                                   \
		*sense = (s);                                                  \
		return false;                                                  \
	} while (0)

/* 36 bytes of standard INQUIRY data (SPC-4 6.6.2). */
static size_t inquiry_standard(uint8_t *b, bool present)
{
	const char *v = TERN_VERSION;

	memset(b, 0, 36);
	b[0] = present ? TYPE_DISK : TYPE_NO_LUN;
	b[2] = 0x06; /* claims SPC-4 */
	b[3] = 0x12; /* HISUP, response data format 2 */
	b[4] = 36 - 5; /* additional length */
	b[7] = 0x02; /* CMDQUE: tagged commands, several in flight */
	memcpy(b + 8, VENDOR, 8);
	memcpy(b + 16, PRODUCT, 16);
	/* Product revision: "0.1" of version 0.1.0, space padded. */
	memset(b + 32, ' ', 4);
	for (size_t i = 0, dots = 0; i < 4 && v[i]; i++) {
		dots += v[i] == '.';
		if (dots == 2)
			break;
		b[32 + i] = (uint8_t)v[i];
	}
	return 36;
}

static size_t vpd_supported(uint8_t *b, const struct scsi_lun_info *lun)
{
	size_t n = 4;

	b[n++] = VPD_SUPPORTED;
	if (lun->serial[0])
		b[n++] = VPD_SERIAL;
	b[n++] = VPD_DEVICE_ID;
	b[n++] = VPD_BLOCK_LIMITS;
	b[n++] = VPD_CHARACTERISTICS;
	b[n++] = VPD_PROVISIONING;
	return n;
}

/* A name for the LUN that stays with the disk: see scsi_lun_info.wwn. */
static size_t vpd_device_id(uint8_t *b, const struct scsi_lun_info *lun)
{
	size_t n = 4, idlen;

	/* NAA, locally assigned (3h), 8 bytes, binary, of the LUN. */
	b[n++] = 0x01; /* protocol 0, code set binary */
	b[n++] = 0x03; /* PIV 0, association LU, type NAA */
	b[n++] = 0;
	b[n++] = 8;
	put_be64(b + n, (3ULL << 60) | (lun->wwn & ((1ULL << 60) - 1)));
	n += 8;
	/* T10 vendor ID: the vendor, then the serial or the LUN. */
	idlen = 8 + (lun->serial[0] ? strlen(lun->serial) : 0);
	b[n++] = 0x02; /* protocol 0, code set ASCII */
	b[n++] = 0x01; /* PIV 0, association LU, type T10 vendor ID */
	b[n++] = 0;
	b[n++] = (uint8_t)idlen;
	memcpy(b + n, VENDOR, 8);
	memcpy(b + n + 8, lun->serial, idlen - 8);
	n += idlen;
	return n;
}

static size_t vpd_block_limits(uint8_t *b, const struct scsi_lun_info *lun)
{
	/* Unmapping in whole pages of the host frees space: 4 KiB. */
	uint32_t unmap_gran =
	    lun->block_size < 4096 ? 4096 / lun->block_size : 1;

	memset(b + 4, 0, 0x3c);
	b[4] = 0x01; /* WSNZ: WRITE SAME of 0 blocks is refused */
	put_be16(b + 6, 1); /* optimal transfer length granularity */
	put_be32(b + 8, lun->max_xfer_blocks);
	if (!lun->readonly) {
		put_be32(b + 20, lun->max_unmap_blocks);
		put_be32(b + 24, lun->max_unmap_descs);
		put_be32(b + 28, unmap_gran);
		put_be64(b + 36, lun->max_ws_blocks);
	}
	return 4 + 0x3c;
}

static size_t vpd_characteristics(uint8_t *b)
{
	memset(b + 4, 0, 0x3c);
	/* Non-rotating: a file or a host device behind a page cache. */
	put_be16(b + 4, 0x0001);
	return 4 + 0x3c;
}

static size_t vpd_provisioning(uint8_t *b, const struct scsi_lun_info *lun)
{
	memset(b + 4, 0, 4);
	if (!lun->readonly) {
		/* LBPU, LBPWS; LBPRZ 001b: unmapped blocks read as zeroes. */
		b[5] = 0x80 | 0x40 | 0x04;
		b[6] = 0x02; /* thin provisioned: a sparse file */
	}
	return 8;
}

static bool inquiry(const struct scsi_cmd *c, const struct scsi_lun_info *lun,
		    uint8_t *b, size_t *len, struct scsi_sense *sense)
{
	size_t n;

	if (!c->evpd) {
		*len = inquiry_standard(b, lun != NULL);
		return true;
	}
	/* A LUN that is not there has one page: the list of pages. */
	if (!lun) {
		if (c->page != VPD_SUPPORTED)
			FAIL(SCSI_SENSE_INVALID_FIELD);
		b[0] = TYPE_NO_LUN;
		b[1] = VPD_SUPPORTED;
		put_be16(b + 2, 1);
		b[4] = VPD_SUPPORTED;
		*len = 5;
		return true;
	}
	b[0] = TYPE_DISK;
	b[1] = c->page;
	switch (c->page) {
	case VPD_SUPPORTED:
		n = vpd_supported(b, lun);
		break;
	case VPD_SERIAL:
		if (!lun->serial[0])
			FAIL(SCSI_SENSE_INVALID_FIELD);
		n = 4 + strlen(lun->serial);
		memcpy(b + 4, lun->serial, n - 4);
		break;
	case VPD_DEVICE_ID:
		n = vpd_device_id(b, lun);
		break;
	case VPD_BLOCK_LIMITS:
		n = vpd_block_limits(b, lun);
		break;
	case VPD_CHARACTERISTICS:
		n = vpd_characteristics(b);
		break;
	case VPD_PROVISIONING:
		n = vpd_provisioning(b, lun);
		break;
	default:
		FAIL(SCSI_SENSE_INVALID_FIELD);
	}
	put_be16(b + 2, (uint16_t)(n - 4));
	*len = n;
	return true;
}

/*
 * MODE SENSE (SPC-4 6.11/6.12): the header, a block descriptor unless DBD
 * (long with LLBAA), and the caching page (SBC-3 6.4.5) with WCE: writes
 * may sit in the host's page cache until SYNCHRONIZE CACHE, which is a
 * real flush. Nothing is changeable (no MODE SELECT); defaults are the
 * current values.
 */
static bool mode_sense(const struct scsi_cmd *c,
		       const struct scsi_lun_info *lun, uint8_t *b, size_t *len,
		       struct scsi_sense *sense)
{
	size_t hdr = c->ten ? 8 : 4, bd = c->dbd ? 0 : c->llbaa ? 16 : 8;
	uint8_t *p = b + hdr + bd;
	uint8_t dev = 0x10; /* DPOFUA: FUA is honoured */
	size_t n;

	if (c->page != MODE_PAGE_CACHING && c->page != MODE_PAGE_ALL)
		FAIL(SCSI_SENSE_INVALID_FIELD);
	/* No subpages; "all subpages" only with "all pages". */
	if (c->subpage && !(c->page == MODE_PAGE_ALL && c->subpage == 0xff))
		FAIL(SCSI_SENSE_INVALID_FIELD);
	if (lun->readonly)
		dev |= 0x80; /* WP */
	memset(b, 0, hdr + bd + 2 + MODE_CACHING_LEN);
	if (bd == 8) {
		put_be32(b + hdr, lun->nblocks > UINT32_MAX
				      ? UINT32_MAX
				      : (uint32_t)lun->nblocks);
		put_be32(b + hdr + 4, lun->block_size); /* density code 0 */
	} else if (bd == 16) {
		put_be64(b + hdr, lun->nblocks);
		put_be32(b + hdr + 12, lun->block_size);
	}
	p[0] = MODE_PAGE_CACHING;
	p[1] = MODE_CACHING_LEN;
	if (c->pc != 1) /* changeable values: none */
		p[2] = MODE_CACHING_WCE;
	n = hdr + bd + 2 + MODE_CACHING_LEN;
	if (c->ten) {
		put_be16(b, (uint16_t)(n - 2));
		b[3] = dev;
		b[4] = bd == 16 ? 0x01 : 0; /* LONGLBA */
		put_be16(b + 6, (uint16_t)bd);
	} else {
		b[0] = (uint8_t)(n - 1);
		b[2] = dev;
		b[3] = (uint8_t)bd;
	}
	*len = n;
	return true;
}

static size_t read_capacity(const struct scsi_cmd *c,
			    const struct scsi_lun_info *lun, uint8_t *b)
{
	uint64_t last = lun->nblocks ? lun->nblocks - 1 : 0;

	if (!c->long_lba) {
		put_be32(b, last > UINT32_MAX ? UINT32_MAX : (uint32_t)last);
		put_be32(b + 4, lun->block_size);
		return 8;
	}
	memset(b, 0, 32);
	put_be64(b, last);
	put_be32(b + 8, lun->block_size);
	/* LBPME and LBPRZ where UNMAP works (SBC-3 5.16.2). */
	if (!lun->readonly)
		b[14] = 0x80 | 0x40;
	return 32;
}

/* Single-level LUNs: peripheral addressing below 256, flat above. */
static size_t report_luns(const struct scsi_cmd *c,
			  const struct scsi_target_info *t, uint8_t *b)
{
	unsigned int n =
	    c->select == 1 ? 0 : t->nr_luns; /* 1: well-known only */

	memset(b, 0, 8 + 8 * (size_t)n);
	put_be32(b, 8 * n);
	for (unsigned int i = 0; i < n; i++) {
		uint16_t l = t->luns[i];

		b[8 + 8 * i] = l < 256 ? 0 : (uint8_t)(0x40 | l >> 8);
		b[8 + 8 * i + 1] = (uint8_t)l;
	}
	return 8 + 8 * (size_t)n;
}

bool scsi_emulate(const struct scsi_cmd *cmd, const struct scsi_lun_info *lun,
		  const struct scsi_target_info *target, struct scsi_sense ua,
		  uint8_t *buf, size_t *len, struct scsi_sense *sense)
{
	*len = 0;
	*sense = SCSI_SENSE_NONE;
	switch (cmd->kind) {
	case SCSI_KIND_INQUIRY:
		return inquiry(cmd, lun, buf, len, sense);
	case SCSI_KIND_REPORT_LUNS:
		*len = report_luns(cmd, target, buf);
		return true;
	case SCSI_KIND_REQUEST_SENSE:
		/* SPC-4 6.39: sense data, even for a LUN that is not there. */
		scsi_sense_fixed(lun ? ua : SCSI_SENSE_LUN_NOT_SUPPORTED, buf);
		*len = SCSI_SENSE_LEN;
		return true;
	default:
		break;
	}
	if (!lun)
		FAIL(SCSI_SENSE_LUN_NOT_SUPPORTED);
	switch (cmd->kind) {
	case SCSI_KIND_TEST_UNIT_READY:
		return true;
	case SCSI_KIND_MODE_SENSE:
		return mode_sense(cmd, lun, buf, len, sense);
	case SCSI_KIND_READ_CAPACITY:
		*len = read_capacity(cmd, lun, buf);
		return true;
	default:
		/* Not an emulated command: the caller's mistake. */
		FAIL(SCSI_SENSE_INVALID_OPCODE);
	}
}
