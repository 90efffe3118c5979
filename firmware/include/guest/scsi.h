/* SPDX-License-Identifier: MIT */
/*
 * A small SCSI command layer for the tests, on guest/virtio-scsi.h: CDBs
 * of READ/WRITE and friends, big-endian fields, checks of an answer that
 * fail the test with what was wrong, and hex dumps of answers. Any CPL.
 */
#ifndef GUEST_SCSI_H
#define GUEST_SCSI_H

#include <stdint.h>

#include "guest/virtio-scsi.h"

/* A CDB literal and its length, for scsi_sync(). */
#define SCSI_CDB(...)                                                          \
	(const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

#define SCSI_READ_6 0x08
#define SCSI_WRITE_6 0x0a
#define SCSI_READ_10 0x28
#define SCSI_WRITE_10 0x2a
#define SCSI_READ_16 0x88
#define SCSI_WRITE_16 0x8a
#define SCSI_WRITE_SAME_16 0x93

static inline uint32_t scsi_be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t scsi_be32(const uint8_t *p)
{
	return scsi_be16(p) << 16 | scsi_be16(p + 2);
}

static inline uint64_t scsi_be64(const uint8_t *p)
{
	return (uint64_t)scsi_be32(p) << 32 | scsi_be32(p + 4);
}

static inline void scsi_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/*
 * A block command (READ/WRITE 6/10/16, WRITE SAME(16)) into c (16 bytes):
 * n blocks at lba, flags in byte 1 (FUA, UNMAP). Returns its length.
 */
unsigned int scsi_rw_cdb(uint8_t *c, uint8_t op, uint8_t flags, uint64_t lba,
			 uint32_t n);

/* The data-in bytes a command of len bytes moved (len - resid). */
static inline uint32_t scsi_got(const struct scsi_req *r, uint32_t len)
{
	return r->resid <= len ? len - r->resid : 0;
}

/* GOOD, or the test fails naming what. */
void scsi_want_good(const struct scsi_req *r, const char *what);
/* CHECK CONDITION with this sense (ascq < 0: any qualifier), or fail. */
void scsi_want_sense(const struct scsi_req *r, uint8_t key, uint8_t asc,
		     int ascq, const char *what);
/* This virtio response code, or fail. */
void scsi_want_response(const struct scsi_req *r, uint8_t resp,
			const char *what);

/* "PREFIX: dump lun L WHAT +OFF HEX...", 32 bytes a line. */
void scsi_dump(const char *prefix, unsigned int lun, const char *what,
	       const uint8_t *p, uint32_t n);

#endif
