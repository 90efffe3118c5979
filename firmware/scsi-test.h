/* SPDX-License-Identifier: MIT */
/*
 * scsi-test's shared state and helpers: scsi-test.c (set-up, data, errors,
 * task management) and scsi-pages.c (the emulated commands' answers).
 */
#ifndef SCSI_TEST_H
#define SCSI_TEST_H

#include "guest/scsi.h"

#define CHUNK (64 * 1024)
#define WINDOW 8
#define BIG (8 * 1024 * 1024 + 4096) /* the largest buffer a case needs */
#define SERIAL_MAX 64

struct lun {
	uint16_t lun;
	bool ro, have_serial, lbpme, lbprz;
	char serial[SERIAL_MAX];
	uint64_t nblocks;
	uint32_t bs, max_xfer;
};

struct scsi_test {
	struct scsi_dev d;
	struct scsi_req *reqs; /* WINDOW */
	struct scsi_ctrl *ctrl; /* 2 */
	uint8_t *buf; /* BIG */
	uint8_t *small; /* 4096 */
	struct lun rw, ro;
	bool dump, tern, packed;
	unsigned long rounds;
	uint64_t ios;
};

/* The one test, in scsi-test.c. */
extern struct scsi_test T;

/* One command to LUN l, synchronously, in request slot 0. */
struct scsi_req *cmd(const struct lun *l, const uint8_t *cdb, unsigned int n,
		     void *data, uint32_t len, bool in);
/* An answer in hex, with dump=1. */
void dump(const struct lun *l, const char *what, const uint8_t *p, uint32_t n);

/* scsi-pages.c: each checks one LUN's answers and fails the test. */
void inquiry(struct lun *l);
void vpd_pages(struct lun *l);
void capacity(struct lun *l);
void mode_sense(struct lun *l);

#endif
