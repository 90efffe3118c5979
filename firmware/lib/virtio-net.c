// SPDX-License-Identifier: MIT
/*
 * virtio-net frames over guest/virtio.h. Receive buffers are one
 * device-writable descriptor each, rx_buf_len bytes, and go back to the
 * ring as soon as their bytes are copied; a transmitted frame is one
 * device-readable descriptor, header and frame together (virtio 1.x lets
 * the driver lay a frame out as it likes).
 */
#include "guest/dma.h"
#include "guest/exit.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/virtio-net.h"
#include "guest/x86.h"

#define CTRL_TIMEOUT_NS 5000000000ull
#define CTRL_BUF 1024
#define CTRL_ACK 1000

static uint32_t frame_buf_len(uint16_t mtu)
{
	/* Header, Ethernet header, VLAN tag; 64-byte multiples. */
	return (uint32_t)(NET_HDR_LEN + 14 + 4 + mtu + 63) & ~63u;
}

static void rx_post(struct net_dev *n, unsigned int q, uint8_t *b)
{
	struct virtq_sg sg = {dma_addr(b), n->rx_buf_len, true};

	if (virtq_add(&n->rx[q], &sg, 1, false, b) < 0)
		result_fail("virtio-net: receive ring %u is full", q);
}

static int setup_queue(struct net_dev *n, struct virtq *vq, uint16_t index,
		       const struct net_opts *o, bool msix, const char **why)
{
	uint16_t entry = VIRTIO_MSI_NO_VECTOR;

	if (msix) {
		if (!virtio_msix_route(&n->vp, index,
				       (uint8_t)(NET_MSIX_VECTOR_BASE + index))) {
			*why = "the MSI-X table has too few entries";
			return -1;
		}
		entry = index;
	}
	return virtq_setup(vq, &n->vp, index, o->queue_size, entry, why);
}

int net_open(struct net_dev *n, const struct net_opts *o, const char **why)
{
	struct virtio_pci *vp = &n->vp;
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_NET_F_MAC) |
			VIRTIO_BIT(VIRTIO_NET_F_MTU) |
			VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) |
			VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX);
	uint16_t ctrl_index = 2;
	bool msix;

	memset(n, 0, sizeof(*n));
	if (virtio_pci_open(vp, VIRTIO_ID_NET, 0, why) < 0)
		return -1;
	if (o->packed)
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (o->event_idx)
		want |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (o->mrg)
		want |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (o->offloads)
		want |= VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
			VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
			VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO);
	if (o->max_pairs > 1)
		want |= VIRTIO_BIT(VIRTIO_NET_F_MQ);
	if (o->packed && !(vp->offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED))) {
		*why = "the device does not offer VIRTIO_F_RING_PACKED";
		return -1;
	}
	if (o->mrg && !(vp->offered & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF))) {
		*why = "the device does not offer VIRTIO_NET_F_MRG_RXBUF";
		return -1;
	}
	if (virtio_pci_negotiate(vp, want) < 0) {
		*why = "feature negotiation failed (FEATURES_OK refused)";
		return -1;
	}

	uint64_t f = vp->features;

	for (unsigned int i = 0; i < 6; i++)
		n->mac[i] = (f & VIRTIO_BIT(VIRTIO_NET_F_MAC))
				? virtio_cfg_read8(vp, VIRTIO_NET_CFG_MAC + i)
				: (uint8_t)(i ? 0x10 * i : 0x02);
	n->mtu = (f & VIRTIO_BIT(VIRTIO_NET_F_MTU))
		     ? virtio_cfg_read16(vp, VIRTIO_NET_CFG_MTU)
		     : 1500;
	n->status = f & VIRTIO_BIT(VIRTIO_NET_F_STATUS);
	n->mrg = f & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	n->has_ctrl = f & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ);
	n->max_pairs = 1;
	if (f & VIRTIO_BIT(VIRTIO_NET_F_MQ)) {
		uint16_t dev = virtio_cfg_read16(vp, VIRTIO_NET_CFG_MAX_PAIRS);

		/* The control queue follows every pair the device has. */
		ctrl_index = (uint16_t)(2 * dev);
		n->max_pairs = dev < o->max_pairs ? dev : o->max_pairs;
		if (n->max_pairs > NET_MAX_PAIRS)
			n->max_pairs = NET_MAX_PAIRS;
		if (n->max_pairs == 0)
			n->max_pairs = 1;
	}
	n->rx_buf_len = o->rx_buf_len ? o->rx_buf_len
			: n->mrg      ? 2048
				      : frame_buf_len(n->mtu);

	msix = o->msix && virtio_msix_enable(vp);
	if (o->msix && !msix) {
		*why = "no usable MSI-X capability";
		return -1;
	}
	for (unsigned int p = 0; p < n->max_pairs; p++) {
		if (setup_queue(n, &n->rx[p], (uint16_t)(2 * p), o, msix, why) < 0 ||
		    setup_queue(n, &n->tx[p], (uint16_t)(2 * p + 1), o, msix,
				why) < 0)
			return -1;
		n->rx_bufs[p] = dma_alloc((uint64_t)n->rx[p].size * n->rx_buf_len,
					  64);
		if (!n->rx_bufs[p]) {
			*why = "out of memory for receive buffers";
			return -1;
		}
		for (uint16_t i = 0; i < n->rx[p].size; i++)
			rx_post(n, p, n->rx_bufs[p] + (uint64_t)i * n->rx_buf_len);
	}
	if (n->has_ctrl) {
		if (virtq_setup(&n->ctrl, vp, ctrl_index, 0, VIRTIO_MSI_NO_VECTOR,
				why) < 0)
			return -1;
		n->ctrl_buf = dma_alloc(CTRL_BUF, 64);
		if (!n->ctrl_buf) {
			*why = "out of memory for the control buffer";
			return -1;
		}
	}
	virtio_pci_driver_ok(vp);
	if (virtio_pci_status(vp) &
	    (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		*why = "the device reports NEEDS_RESET or FAILED after DRIVER_OK";
		return -1;
	}
	for (unsigned int p = 0; p < n->max_pairs; p++)
		virtq_kick(&n->rx[p]);
	n->pairs = 1;
	return 0;
}

long net_rx(struct net_dev *n, unsigned int q, void *out, uint32_t size,
	    struct virtio_net_hdr *hdr)
{
	struct virtq *vq = &n->rx[q];
	struct virtio_net_hdr h;
	uint32_t len, total = 0;
	uint16_t nb;
	bool fits = true;
	uint8_t *b = virtq_get(vq, &len);

	if (!b)
		return 0;
	if (len < NET_HDR_LEN || len > n->rx_buf_len)
		result_fail("virtio-net: receive buffer used for %u bytes (header "
			    "%u, buffer %u)",
			    len, NET_HDR_LEN, n->rx_buf_len);
	memcpy(&h, b, NET_HDR_LEN);
	nb = n->mrg ? h.num_buffers : 1;
	if (nb == 0)
		result_fail("virtio-net: num_buffers is 0");
	for (uint16_t i = 0; i < nb; i++) {
		uint32_t skip = i ? 0 : NET_HDR_LEN;

		if (i) {
			/* A frame's buffers are published together. */
			b = virtq_get(vq, &len);
			if (!b)
				result_fail("virtio-net: frame of %u buffers, "
					    "only %u used",
					    nb, i);
			if (len > n->rx_buf_len)
				result_fail("virtio-net: used length %u", len);
		}
		if (total + len - skip > size)
			fits = false;
		else
			memcpy((uint8_t *)out + total, b + skip, len - skip);
		total += len - skip;
		rx_post(n, q, b);
	}
	virtq_kick(vq);
	if (hdr)
		*hdr = h;
	return fits ? (long)total : -1;
}

unsigned int net_rx_drain(struct net_dev *n, unsigned int q, uint64_t *bytes)
{
	struct virtq *vq = &n->rx[q];
	unsigned int frames = 0;
	uint16_t left = 0;
	uint32_t len;
	uint8_t *b;

	while ((b = virtq_get(vq, &len)) != NULL) {
		if (left == 0) {
			const struct virtio_net_hdr *h = (const void *)b;

			left = n->mrg ? h->num_buffers : 1;
			frames++;
			*bytes += len - NET_HDR_LEN;
		} else {
			*bytes += len;
		}
		left--;
		rx_post(n, q, b);
	}
	virtq_kick(vq);
	return frames;
}

int net_tx_nokick(struct net_dev *n, unsigned int q, const void *buf,
		  uint32_t len)
{
	struct virtq_sg sg = {dma_addr(buf), len, false};

	return virtq_add(&n->tx[q], &sg, 1, false, (void *)buf);
}

int net_tx(struct net_dev *n, unsigned int q, const void *buf, uint32_t len)
{
	if (net_tx_nokick(n, q, buf, len) < 0)
		return -1;
	virtq_kick(&n->tx[q]);
	return 0;
}

unsigned int net_tx_reap(struct net_dev *n, unsigned int q)
{
	unsigned int k = 0;
	uint32_t len;

	while (virtq_get(&n->tx[q], &len) != NULL)
		k++;
	return k;
}

uint8_t net_ctrl(struct net_dev *n, uint8_t cls, uint8_t cmd, const void *data,
		 uint32_t len)
{
	uint8_t *b = n->ctrl_buf;
	volatile uint8_t *ack = b + CTRL_ACK;
	struct virtq_sg sg[2] = {
	    {dma_addr(b), 2 + len, false},
	    {dma_addr(ack), 1, true},
	};
	uint64_t deadline;
	uint32_t used;

	if (!n->has_ctrl || 2 + len > CTRL_ACK)
		result_fail("virtio-net: control command %u/%u cannot be sent",
			    cls, cmd);
	b[0] = cls;
	b[1] = cmd;
	memcpy(b + 2, data, len);
	*ack = 0xee;
	if (virtq_add(&n->ctrl, sg, 2, false, b) < 0)
		result_fail("virtio-net: control queue full");
	virtq_kick(&n->ctrl);
	deadline = clock_ns() + CTRL_TIMEOUT_NS;
	while (virtq_get(&n->ctrl, &used) == NULL) {
		if (clock_ns() > deadline)
			result_fail("virtio-net: control command %u/%u "
				    "unanswered for 5 s",
				    cls, cmd);
		cpu_relax();
	}
	return *ack;
}

uint16_t net_status(struct net_dev *n)
{
	return virtio_cfg_read16(&n->vp, VIRTIO_NET_CFG_STATUS);
}

bool net_link_up(struct net_dev *n)
{
	/* Without VIRTIO_NET_F_STATUS the link is always up (5.1.4.2). */
	return !n->status || (net_status(n) & VIRTIO_NET_S_LINK_UP);
}
