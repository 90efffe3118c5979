/* SPDX-License-Identifier: MIT */
/*
 * What fuzz-virtio-net-data.c drives its rings with (net-data-driver.c):
 * the driver's view of one queue, each descriptor position owning a slot
 * of RAM whose end its buffer touches, and the chains it has out by the
 * id the device returns.
 */
#ifndef TERN_FUZZ_NET_DATA_DRIVER_H
#define TERN_FUZZ_NET_DATA_DRIVER_H

#include "tern/net.h"
#include "tern/virtio.h"
#include "fuzz.h"

#define MAX_CHAIN 4
/* ramp[i] == i % 256 for the longest buffer plus a shift of up to 255. */
#define ND_RAMP_LEN (128 * 1024 + 256)

struct nd_driver {
	uint8_t *ram; /* guest RAM from 0 */
	/*
	 * What RAM held after the last pass was checked: the driver writes
	 * both, so only the device's writes tell them apart.
	 */
	uint8_t *shadow;
	/* ND_RAMP_LEN bytes: patterns are copied from it. */
	const uint8_t *ramp;
	bool packed;
	uint32_t slot; /* bytes of RAM per descriptor position */
	uint32_t serial; /* chains published: the transmit bytes' pattern */
	bool malformed; /* a malformed chain was published */
};

/* A chain the driver published, by the id the device returns. */
struct chain {
	bool out; /* published, not used yet */
	unsigned int ndesc;
	uint16_t pos[MAX_CHAIN]; /* descriptor positions in the ring */
	uint64_t addr[MAX_CHAIN];
	uint32_t len[MAX_CHAIN];
	bool writable[MAX_CHAIN];
	uint64_t in_len, out_len;
	uint8_t *tx_bytes; /* transmit: the frame its readable bytes make */
};

/* One queue as the driver sees it. */
struct dq {
	struct virtqueue *vq;
	uint16_t size;
	uint64_t desc, driver, device, slots;
	uint16_t avail_idx, used_seen; /* split */
	uint16_t free[VIRTQ_MAX_SIZE];
	unsigned int nfree;
	uint16_t next_avail, last_used; /* packed */
	bool avail_wrap, used_wrap;
	unsigned int outstanding, busy; /* chains, descriptors */
	struct chain c[VIRTQ_MAX_SIZE];
};

/* Lay the rings out from *at (moved past them) and forget every chain. */
void dq_reset(struct nd_driver *d, struct dq *q, uint16_t size, uint64_t *at);
/* The device's side: the layout into the queue's registers, started. */
bool dq_start(struct dq *q);
/* A chain's buffers as the input describes them (no place in RAM yet). */
struct chain chain_parse(const struct nd_driver *d, struct fuzz_input *in);
/* Publish a chain (transmit: its readable bytes filled); false: no room. */
bool dq_publish(struct nd_driver *d, struct dq *q, bool tx, struct chain c);
/* The next used chain, taken back; false when there is none. */
bool dq_used(struct nd_driver *d, struct dq *q, uint16_t *id, uint32_t *len);
/* Copy into shadow the ring areas the device may write. */
void dq_take_ring(const struct nd_driver *d, const struct dq *q,
		  uint8_t *shadow);

#endif
