// SPDX-License-Identifier: MIT
/*
 * virtio-net's control commands (5.1.6.5) and receive filter as pure
 * functions over struct virtio_net_ctrl_state: no guest memory, no
 * threads, so the unit tests feed them every malformed command there is.
 * The device (net.c) copies a command out of the control queue, applies
 * it here under its lock, then acts on the effects (tap offloads, queue
 * pairs, NIC_RX_FILTER_CHANGED).
 */
#include <endian.h>
#include <string.h>

#include "tern/virtio-net.h"

static const uint8_t broadcast[NET_MAC_LEN] = { 0xff, 0xff, 0xff,
						0xff, 0xff, 0xff };

void virtio_net_filter_reset(struct virtio_net_filter *f,
			     const uint8_t mac[NET_MAC_LEN])
{
	memset(f, 0, sizeof(*f));
	memcpy(f->mac, mac, NET_MAC_LEN);
	/* QEMU's choice, for drivers that never send CTRL_RX. */
	f->promisc = true;
}

static bool mac_in(const uint8_t (*table)[NET_MAC_LEN], unsigned int n,
		   const uint8_t *dst)
{
	for (unsigned int i = 0; i < n; i++)
		if (!memcmp(table[i], dst, NET_MAC_LEN))
			return true;
	return false;
}

bool virtio_net_filter_accept(const struct virtio_net_filter *f,
			      const uint8_t dst[NET_MAC_LEN])
{
	if (f->promisc)
		return true;
	if (dst[0] & 1) {
		if (!memcmp(dst, broadcast, NET_MAC_LEN))
			return !f->nobcast;
		if (f->nomulti)
			return false;
		if (f->allmulti || f->multi_overflow)
			return true;
		return mac_in(f->multi, f->nr_multi, dst);
	}
	if (f->nouni)
		return false;
	if (f->alluni || f->uni_overflow)
		return true;
	return !memcmp(dst, f->mac, NET_MAC_LEN) ||
	       mac_in(f->uni, f->nr_uni, dst);
}

static bool has(const struct virtio_net_ctrl_state *st, unsigned int bit)
{
	return st->features & (1ULL << bit);
}

static uint8_t ctrl_rx(struct virtio_net_ctrl_state *st, uint8_t cmd,
		       const uint8_t *data, size_t len, unsigned int *effects)
{
	bool *flag;

	/* ALLUNI, NOMULTI, NOUNI, NOBCAST are CTRL_RX_EXTRA's: not offered. */
	if (!has(st, VIRTIO_NET_F_CTRL_RX) || len != 1 ||
	    (cmd != VIRTIO_NET_CTRL_RX_PROMISC && cmd != VIRTIO_NET_CTRL_RX_ALLMULTI))
		return VIRTIO_NET_ERR;
	flag = cmd == VIRTIO_NET_CTRL_RX_PROMISC ? &st->filter.promisc :
						   &st->filter.allmulti;
	*flag = data[0] != 0;
	*effects |= VIRTIO_NET_CTRL_FILTER;
	return VIRTIO_NET_OK;
}

/*
 * One table of a MAC_TABLE_SET: a 32-bit count and count addresses. *off
 * moves past it; false when it runs beyond len.
 */
static bool mac_table_read(const uint8_t *data, size_t len, size_t *off,
			   uint32_t *count, const uint8_t **macs)
{
	uint32_t n;

	if (len - *off < 4)
		return false;
	memcpy(&n, data + *off, 4);
	n = le32toh(n);
	*off += 4;
	if (n > (len - *off) / NET_MAC_LEN)
		return false;
	*count = n;
	*macs = data + *off;
	*off += (size_t)n * NET_MAC_LEN;
	return true;
}

static uint8_t ctrl_mac(struct virtio_net_ctrl_state *st, uint8_t cmd,
			const uint8_t *data, size_t len, unsigned int *effects)
{
	struct virtio_net_filter *f = &st->filter;
	const uint8_t *uni, *multi;
	uint32_t nu, nm;
	size_t off = 0;

	if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
		if (!has(st, VIRTIO_NET_F_CTRL_MAC_ADDR) || len != NET_MAC_LEN)
			return VIRTIO_NET_ERR;
		memcpy(f->mac, data, NET_MAC_LEN);
		*effects |= VIRTIO_NET_CTRL_FILTER;
		return VIRTIO_NET_OK;
	}
	if (cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET || !has(st, VIRTIO_NET_F_CTRL_RX))
		return VIRTIO_NET_ERR;
	if (!mac_table_read(data, len, &off, &nu, &uni) ||
	    !mac_table_read(data, len, &off, &nm, &multi) || off != len)
		return VIRTIO_NET_ERR;
	/* Too many for the table: let that kind through wholesale, as QEMU. */
	f->uni_overflow = nu > VIRTIO_NET_MAC_TABLE_ENTRIES;
	f->nr_uni = f->uni_overflow ? 0 : nu;
	memcpy(f->uni, uni, (size_t)f->nr_uni * NET_MAC_LEN);
	/* One table of 64 for both kinds: multicast gets what is left. */
	f->multi_overflow = f->nr_uni + (uint64_t)nm > VIRTIO_NET_MAC_TABLE_ENTRIES;
	f->nr_multi = f->multi_overflow ? 0 : nm;
	memcpy(f->multi, multi, (size_t)f->nr_multi * NET_MAC_LEN);
	*effects |= VIRTIO_NET_CTRL_FILTER;
	return VIRTIO_NET_OK;
}

uint8_t virtio_net_ctrl_apply(struct virtio_net_ctrl_state *st, uint8_t cls,
			      uint8_t cmd, const uint8_t *data, size_t len,
			      unsigned int *effects)
{
	struct virtio_net_ctrl_state next = *st;
	unsigned int eff = 0;
	uint8_t ack = VIRTIO_NET_ERR;

	*effects = 0;
	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		ack = ctrl_rx(&next, cmd, data, len, &eff);
		break;
	case VIRTIO_NET_CTRL_MAC:
		ack = ctrl_mac(&next, cmd, data, len, &eff);
		break;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (has(st, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
		    cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK && !len) {
			eff |= VIRTIO_NET_CTRL_ANNOUNCED;
			ack = VIRTIO_NET_OK;
		}
		break;
	case VIRTIO_NET_CTRL_MQ: {
		uint16_t n;

		if (!has(st, VIRTIO_NET_F_MQ) ||
		    cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 2)
			break;
		memcpy(&n, data, 2);
		n = le16toh(n);
		if (n < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || n > st->max_pairs)
			break;
		next.pairs = n;
		eff |= VIRTIO_NET_CTRL_PAIRS;
		ack = VIRTIO_NET_OK;
		break;
	}
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS: {
		uint64_t o;

		if (!has(st, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) ||
		    cmd != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || len != 8)
			break;
		memcpy(&o, data, 8);
		o = le64toh(o);
		/* Only offloads that are offloads, and that were negotiated. */
		if (o & ~(st->features & VIRTIO_NET_GUEST_OFFLOADS))
			break;
		next.offloads = o;
		eff |= VIRTIO_NET_CTRL_OFFLOADS;
		ack = VIRTIO_NET_OK;
		break;
	}
	default:
		/* VLAN (CTRL_VLAN is not offered) and anything unknown. */
		break;
	}
	if (ack == VIRTIO_NET_OK) {
		*st = next;
		*effects = eff;
	}
	return ack;
}

unsigned int virtio_net_tun_offloads(uint64_t o)
{
	unsigned int f = 0;

	/* The tap takes no segmentation offload without checksum offload. */
	if (!(o & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	f |= NET_TUN_F_CSUM;
	if (o & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		f |= NET_TUN_F_TSO4;
	if (o & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		f |= NET_TUN_F_TSO6;
	if ((o & (1ULL << VIRTIO_NET_F_GUEST_ECN)) && (f & (NET_TUN_F_TSO4 | NET_TUN_F_TSO6)))
		f |= NET_TUN_F_TSO_ECN;
	if (o & (1ULL << VIRTIO_NET_F_GUEST_UFO))
		f |= NET_TUN_F_UFO;
	return f;
}
