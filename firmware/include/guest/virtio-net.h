/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1) on top of guest/virtio.h: receive and
 * transmit queue pairs in either ring layout, mergeable receive buffers,
 * the control queue, several queue pairs, MSI-X vectors or polling.
 *
 * net_open() runs at CPL 0 (config space); everything else touches only
 * guest memory and MMIO and runs at any CPL, so the guests' packet loops
 * live in ring 3.
 */
#ifndef GUEST_VIRTIO_NET_H
#define GUEST_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/virtio.h"

#define VIRTIO_ID_NET 1

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* struct virtio_net_config offsets. */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));
#define NET_HDR_LEN 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3

#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

/* Queue pairs this driver uses at most (VIRTIO_MAX_QUEUES notify addresses). */
#define NET_MAX_PAIRS 4
/* Vector of queue q when MSI-X is on: NET_MSIX_VECTOR_BASE + q. */
#define NET_MSIX_VECTOR_BASE 0x40

struct net_opts {
	bool packed; /* VIRTIO_F_RING_PACKED */
	bool event_idx; /* VIRTIO_F_EVENT_IDX if offered */
	bool msix; /* a vector per queue; otherwise polled only */
	bool mrg; /* VIRTIO_NET_F_MRG_RXBUF */
	bool offloads; /* CSUM, HOST_TSO4, HOST_UFO (what the guest may send) */
	unsigned int max_pairs; /* use up to this many (VIRTIO_NET_F_MQ) */
	uint16_t queue_size; /* 0: the device's */
	/* Bytes per receive buffer (0: 2048 with mrg, else the MTU's frame). */
	uint32_t rx_buf_len;
};

struct net_dev {
	struct virtio_pci vp;
	struct virtq rx[NET_MAX_PAIRS], tx[NET_MAX_PAIRS], ctrl;
	unsigned int pairs; /* in use (VQ_PAIRS_SET) */
	unsigned int max_pairs; /* set up */
	bool has_ctrl, mrg, status;
	uint8_t mac[6];
	uint16_t mtu;
	uint32_t rx_buf_len;
	uint8_t *rx_bufs[NET_MAX_PAIRS]; /* rx[q].size buffers of rx_buf_len */
	uint8_t *ctrl_buf;
};

/* CPL 0: find, negotiate, set up every queue, fill the receive rings, DRIVER_OK. */
int net_open(struct net_dev *n, const struct net_opts *o, const char **why);

/*
 * The next received frame of pair q, header stripped, copied into out
 * (mergeable buffers are gathered in order); the buffers go straight back
 * to the ring. Returns its length, 0 when none is there, -1 when it was
 * longer than size (dropped). hdr (may be NULL) gets the first buffer's
 * header.
 */
long net_rx(struct net_dev *n, unsigned int q, void *out, uint32_t size,
	    struct virtio_net_hdr *hdr);
/*
 * Count and recycle the frames waiting on pair q without copying them
 * (the benchmark); returns the frames, and their bytes in *bytes.
 */
unsigned int net_rx_drain(struct net_dev *n, unsigned int q, uint64_t *bytes);

/*
 * Queue one frame (virtio-net header included, in one buffer the caller
 * keeps until it comes back) on pair q and kick if the device asks.
 * Returns 0, or -1 when the ring is full (reap first).
 */
int net_tx(struct net_dev *n, unsigned int q, const void *buf, uint32_t len);
/* Take back transmitted buffers of pair q; returns how many. */
unsigned int net_tx_reap(struct net_dev *n, unsigned int q);
/* Publish what net_tx() queued without kicking each time (batching). */
int net_tx_nokick(struct net_dev *n, unsigned int q, const void *buf,
		  uint32_t len);
static inline bool net_tx_kick(struct net_dev *n, unsigned int q)
{
	return virtq_kick(&n->tx[q]);
}

/* One control command; returns its ack (VIRTIO_NET_OK/ERR). Any CPL. */
uint8_t net_ctrl(struct net_dev *n, uint8_t cls, uint8_t cmd, const void *data,
		 uint32_t len);
/* The link bit of the config status (an MMIO read: an exit). */
bool net_link_up(struct net_dev *n);
uint16_t net_status(struct net_dev *n);

#endif
