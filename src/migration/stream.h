/* SPDX-License-Identifier: MIT */
/*
 * tern's migration stream (docs/migration.md, "The stream"):
 *
 *   stream   = preamble frame*                (integers little-endian)
 *   preamble = "TERN-MIG" u32:version u32:flags
 *   frame    = u32:type u32:length u32:sum(payload) u32:sum(first 12 bytes)
 *              payload
 *
 * Both directions use it: the main stream (source to destination) and the
 * return path (destination to source). A frame is checked before anything
 * acts on it: the header's own checksum first (so a corrupted length is
 * never believed), its length against the type's bound, then the payload's
 * checksum. The checksum (mig_sum) is CRC-32C over four interleaved 8-byte
 * lanes folded together, which the CPU computes three to four times faster
 * than one CRC chain; what matters here is detection, not a standard value.
 *
 * Pure parts (sums, headers, page records, the machine shape) are unit
 * tested; the I/O parts run on blocking descriptors and stop when another
 * thread shuts the socket down.
 */
#ifndef TERN_MIGRATION_STREAM_H
#define TERN_MIGRATION_STREAM_H

#include <glib.h>
#include <pthread.h>
#include <sys/uio.h>

#include "tern/util.h"

#define MIG_MAGIC "TERN-MIG"
#define MIG_VERSION 1
#define MIG_PREAMBLE_SIZE 16
#define MIG_FRAME_HEADER_SIZE 16

/* Frame types. Source to destination: */
enum mig_frame_type {
	MIG_FRAME_HELLO = 1, /* the machine shape and the session (mig_shape) */
	MIG_FRAME_PAGES = 2, /* page records (mig_page_rec) */
	MIG_FRAME_PASS = 3, /* u64: a pass of pre-copy ended */
	MIG_FRAME_DISCARD = 4, /* u64 gpa, u64 len pairs: pages gone stale */
	MIG_FRAME_POSTCOPY_LISTEN = 5, /* register the missing pages */
	MIG_FRAME_STATE = 6, /* the Core state container (state.h) */
	MIG_FRAME_POSTCOPY_RUN = 7, /* load the state and run now */
	MIG_FRAME_END = 8, /* every page has been sent */
	MIG_FRAME_GO = 9, /* pre-copy: the source stopped for good; run */
	MIG_FRAME_RAM_IMAGE = 10, /* snapshot: where the RAM image lies */
	MIG_FRAME_RAM_SUMS = 11, /* snapshot: u32 sum per MIG_IMAGE_CHUNK */
	/* Destination to source (the return path): */
	MIG_RP_READY = 0x101, /* pre-copy: state loaded, waiting for GO */
	MIG_RP_ERROR = 0x102, /* a message: the destination gave up */
	MIG_RP_REQUEST = 0x103, /* u64 gpa, u32 npages, u32 0: fault these in */
	MIG_RP_RECEIVED = 0x104, /* recovery: the received-pages bitmap */
	MIG_RP_DONE = 0x105, /* post-copy: every page is in */
};

const char *mig_frame_name(uint32_t type);

/* Payload bounds: a state container, a bitmap of 1 TiB, pages. */
#define MIG_FRAME_MAX (64ULL * MiB)
#define MIG_PAGES_PAYLOAD (1ULL * MiB)
/* A return-path ERROR text, at most. */
#define MIG_RP_ERROR_MAX 4096u
#define MIG_PAGE_REC_SIZE 16
#define MIG_PAGE_ZERO 1u /* a run of zero pages: no data follows */
/* Snapshot RAM image: file offsets aligned to this, one sum per chunk. */
#define MIG_IMAGE_ALIGN (2ULL * MiB)
#define MIG_IMAGE_CHUNK (1ULL * MiB)

/*
 * The source's error-desc for a return-path ERROR payload: its own length
 * bounds it (a peer need not end the text with a NUL), cut to fit out.
 */
void mig_rp_error_text(char *out, size_t cap, const uint8_t *p, uint32_t len);

/* The checksum; mig_sum_soft() is the portable path, for tests. */
uint32_t mig_sum(const void *buf, size_t len);
uint32_t mig_sum_soft(const void *buf, size_t len);

void mig_preamble_put(uint8_t out[MIG_PREAMBLE_SIZE]);
/* false with err: not a tern stream, or a version this tern cannot read. */
bool mig_preamble_check(const uint8_t in[MIG_PREAMBLE_SIZE], GError **err);

struct mig_frame_header {
	uint32_t type;
	uint32_t len;
	uint32_t sum;
};

void mig_header_put(uint8_t out[MIG_FRAME_HEADER_SIZE], uint32_t type,
		    const void *payload, uint32_t len);
/* Checks the header's checksum, the type and its length bound. */
bool mig_header_parse(const uint8_t in[MIG_FRAME_HEADER_SIZE],
		      struct mig_frame_header *h, GError **err);

/* One record of a PAGES frame: npages pages at gpa, data unless zero. */
struct mig_page_rec {
	uint64_t gpa;
	uint32_t npages;
	uint32_t flags;
	const uint8_t *data; /* npages * 4 KiB, NULL for a zero run */
};

void mig_page_rec_put(uint8_t out[MIG_PAGE_REC_SIZE], uint64_t gpa,
		      uint32_t npages, uint32_t flags);
/*
 * The record at *pos of a PAGES payload; advances *pos. 1 a record, 0 the
 * end, -1 malformed (err: which byte, what).
 */
int mig_page_rec_next(const uint8_t *p, size_t len, size_t *pos,
		      struct mig_page_rec *rec, GError **err);

/*
 * A connection (or a file): blocking I/O, frames in and out. Sends are
 * serialised by send_lock (several threads answer on a return path); one
 * thread reads.
 */
struct mig_chan {
	int fd;
	bool is_socket;
	pthread_mutex_t send_lock;
	uint64_t sent; /* bytes, for statistics (under send_lock) */
	/* Reading: a buffer in front of the descriptor, and the last payload. */
	uint8_t *rbuf;
	size_t rpos, rlen;
	uint8_t *payload;
	size_t payload_cap;
	uint64_t received;
};

struct mig_chan *mig_chan_new(int fd, bool is_socket);
/* Close the descriptor and free. */
void mig_chan_free(struct mig_chan *ch);
/* Make blocked readers and writers on ch return (another thread). */
void mig_chan_shutdown(struct mig_chan *ch);

/* Send one frame: header and the iovec payload (at most MIG_FRAME_MAX). */
int mig_chan_send(struct mig_chan *ch, uint32_t type, const struct iovec *iov,
		  unsigned int n) __must_check;
int mig_chan_send_buf(struct mig_chan *ch, uint32_t type, const void *buf,
		      size_t len) __must_check;
int mig_chan_send_preamble(struct mig_chan *ch) __must_check;

/*
 * Read the next frame into ch->payload. false with err: the link broke
 * (err names the errno or the end of the stream), or the frame is bad.
 */
bool mig_chan_recv(struct mig_chan *ch, struct mig_frame_header *h,
		   GError **err);
bool mig_chan_recv_preamble(struct mig_chan *ch, GError **err);
/* Bytes exactly, through the read buffer (the snapshot's raw parts). */
int mig_chan_read(struct mig_chan *ch, void *buf, size_t len) __must_check;

#endif
