// SPDX-License-Identifier: MIT
/*
 * Seeds of the control and reporting queue targets: virtio-net-ctrl,
 * virtio-scsi-ctrl and the virtio-balloon reporting mode (3). Their byte
 * layouts are the ones the targets' comments describe; the rings are
 * split rings of 8 entries from guest address 0, as the targets place them.
 * And of virtio-net-data, which builds its rings itself: operations only.
 */
#include <string.h>

#include "tern/virtio-balloon.h"
#include "tern/virtio-net.h"
#include "tern/virtio-scsi.h"
#include "make-seeds.h"

#define QSIZE 8
#define AVAIL (16 * QSIZE)
#define DESC_NEXT 1
#define DESC_WRITE 2

static void put(GByteArray *b, uint64_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++) {
		uint8_t byte = (uint8_t)(v >> (8 * i));

		g_byte_array_append(b, &byte, 1);
	}
}

static void ram_put(uint8_t *ram, size_t off, uint64_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		ram[off + i] = (uint8_t)(v >> (8 * i));
}

static void desc(uint8_t *ram, unsigned int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	ram_put(ram, 16 * i, addr, 8);
	ram_put(ram, 16 * i + 8, len, 4);
	ram_put(ram, 16 * i + 12, flags, 2);
	ram_put(ram, 16 * i + 14, next, 2);
}

/* Chains starting at heads[0..n) made available. */
static void avail(uint8_t *ram, const uint16_t *heads, unsigned int n)
{
	ram_put(ram, AVAIL + 2, n, 2);
	for (unsigned int i = 0; i < n; i++)
		ram_put(ram, AVAIL + 4 + 2 * i, heads[i], 2);
}

/* ---- virtio-net-ctrl: features, pairs, MAC, then commands ---- */

static void net_cmd(GByteArray *b, uint8_t cls, uint8_t cmd, const void *data,
		    size_t len, const uint8_t *dst)
{
	put(b, 2 + len, 2);
	put(b, cls, 1);
	put(b, cmd, 1);
	g_byte_array_append(b, data, (guint)len);
	g_byte_array_append(b, dst, NET_MAC_LEN);
}

static void seeds_net_ctrl(void)
{
	static const uint8_t mac[NET_MAC_LEN] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	static const uint8_t other[NET_MAC_LEN] = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef };
	static const uint8_t mcast[NET_MAC_LEN] = { 0x01, 0x00, 0x5e, 0, 0, 0xfb };
	uint64_t features = 1ULL << VIRTIO_NET_F_CTRL_VQ |
			    1ULL << VIRTIO_NET_F_CTRL_RX |
			    1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR |
			    1ULL << VIRTIO_NET_F_MQ |
			    1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE |
			    1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS |
			    VIRTIO_NET_GUEST_OFFLOADS;
	GByteArray *b = g_byte_array_new(), *t = g_byte_array_new();
	uint8_t one = 1, zero = 0;

	put(b, features, 8);
	put(b, 3, 2); /* 4 queue pairs */
	g_byte_array_append(b, mac, NET_MAC_LEN);
	/* Linux's bring-up: filter off, tables, address, pairs, offloads. */
	net_cmd(b, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &zero, 1, other);
	net_cmd(b, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &one, 1, mcast);
	put(t, 1, 4);
	g_byte_array_append(t, other, NET_MAC_LEN);
	put(t, 1, 4);
	g_byte_array_append(t, mcast, NET_MAC_LEN);
	net_cmd(b, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t->data,
		t->len, other);
	net_cmd(b, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &zero, 1, mcast);
	net_cmd(b, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other,
		NET_MAC_LEN, mac);
	g_byte_array_set_size(t, 0);
	put(t, 4, 2);
	net_cmd(b, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, t->data,
		t->len, mac);
	g_byte_array_set_size(t, 0);
	put(t, 1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4, 8);
	net_cmd(b, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
		VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, t->data, t->len, mac);
	net_cmd(b, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL,
		0, mac);
	/* Refused: VLAN is not offered, pairs beyond the maximum. */
	g_byte_array_set_size(t, 0);
	put(t, 9, 2);
	net_cmd(b, VIRTIO_NET_CTRL_VLAN, 0, t->data, t->len, mac);
	net_cmd(b, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, t->data,
		t->len, mac);
	seed_write("virtio-net-ctrl", "bring-up", b->data, b->len);
	g_byte_array_unref(b);

	/* A table too large for 64 entries: that kind goes through wholesale. */
	b = g_byte_array_new();
	put(b, features, 8);
	put(b, 0, 2);
	g_byte_array_append(b, mac, NET_MAC_LEN);
	g_byte_array_set_size(t, 0);
	put(t, 65, 4);
	for (unsigned int i = 0; i < 65; i++) {
		uint8_t m[NET_MAC_LEN] = { 0x52, 0x54, 0, 0, 1, (uint8_t)i };

		g_byte_array_append(t, m, NET_MAC_LEN);
	}
	put(t, 0, 4);
	net_cmd(b, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &zero, 1, other);
	net_cmd(b, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, t->data,
		t->len, other);
	seed_write("virtio-net-ctrl", "table-overflow", b->data, b->len);
	g_byte_array_unref(b);
	g_byte_array_unref(t);
}

/* ---- virtio-scsi-ctrl: flags, pages, commands in flight, then RAM ---- */

static void tmf_req(uint8_t *ram, size_t off, uint32_t subtype, uint8_t lun,
		    uint64_t tag)
{
	ram_put(ram, off, VIRTIO_SCSI_T_TMF, 4);
	ram_put(ram, off + 4, subtype, 4);
	ram[off + 8] = 1; /* target 0, single-level LUN */
	ram[off + 11] = lun;
	ram_put(ram, off + 16, tag, 8);
}

/* Chain i: its request at 0x200 + 0x40 * i, its response at 0x600 + ... */
static void ctrl_chain(uint8_t *ram, unsigned int i, uint32_t req_len,
		       uint32_t resp_len)
{
	desc(ram, 2 * i, 0x200 + 0x40 * i, req_len, DESC_NEXT, (uint16_t)(2 * i + 1));
	desc(ram, 2 * i + 1, 0x600 + 0x40 * i, resp_len, DESC_WRITE, 0);
}

static void scsi_ctrl_seed(const char *name, const uint8_t *ram, size_t len,
			   unsigned int n, const uint8_t *luns,
			   const uint16_t *tags)
{
	GByteArray *b = g_byte_array_new();

	put(b, 0, 1);
	put(b, 0, 1); /* one page */
	put(b, n, 1);
	for (unsigned int i = 0; i < n; i++) {
		put(b, luns[i], 1);
		put(b, tags[i], 2);
	}
	g_byte_array_append(b, ram, (guint)len);
	seed_write("virtio-scsi-ctrl", name, b->data, b->len);
	g_byte_array_unref(b);
}

static void seeds_virtio_scsi_ctrl(void)
{
	/* LUN 0 (index 0) and LUN 3 (index 1) each with commands in flight. */
	static const uint8_t luns[] = { 0, 0, 1, 0 };
	static const uint16_t tags[] = { 77, 78, 77, 79 };
	static const uint16_t heads[] = { 0, 2, 4, 6 };
	uint8_t ram[0x800] = { 0 };

	ctrl_chain(ram, 0, VIRTIO_SCSI_TMF_REQ, VIRTIO_SCSI_TMF_RESP);
	tmf_req(ram, 0x200, VIRTIO_SCSI_T_TMF_ABORT_TASK, 0, 77);
	ctrl_chain(ram, 1, VIRTIO_SCSI_TMF_REQ, VIRTIO_SCSI_TMF_RESP);
	tmf_req(ram, 0x240, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 3, 0);
	ctrl_chain(ram, 2, VIRTIO_SCSI_TMF_REQ, VIRTIO_SCSI_TMF_RESP);
	tmf_req(ram, 0x280, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 3, 0);
	ctrl_chain(ram, 3, VIRTIO_SCSI_AN_REQ, VIRTIO_SCSI_AN_RESP);
	ram_put(ram, 0x2c0, VIRTIO_SCSI_T_AN_QUERY, 4);
	ram[0x2c4] = 1;
	avail(ram, heads, 4);
	scsi_ctrl_seed("abort-reset-an", ram, sizeof(ram), 4, luns, tags);

	memset(ram, 0, sizeof(ram));
	ctrl_chain(ram, 0, VIRTIO_SCSI_TMF_REQ, VIRTIO_SCSI_TMF_RESP);
	tmf_req(ram, 0x200, VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, 9, 0);
	ctrl_chain(ram, 1, VIRTIO_SCSI_TMF_REQ, VIRTIO_SCSI_TMF_RESP);
	tmf_req(ram, 0x240, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 0, 0);
	ctrl_chain(ram, 2, VIRTIO_SCSI_TMF_REQ, VIRTIO_SCSI_TMF_RESP);
	tmf_req(ram, 0x280, VIRTIO_SCSI_T_TMF_CLEAR_ACA, 0, 0);
	/* Too short for a TMF: NEEDS_RESET. */
	ctrl_chain(ram, 3, 8, VIRTIO_SCSI_TMF_RESP);
	ram_put(ram, 0x2c0, VIRTIO_SCSI_T_TMF, 4);
	avail(ram, heads, 4);
	scsi_ctrl_seed("nexus-reset-malformed", ram, sizeof(ram), 4, luns, tags);
}

/* ---- virtio-balloon mode 3: flags, pages, then RAM ---- */

static void seeds_balloon_report(void)
{
	static const uint16_t heads[] = { 0, 2 };
	uint8_t ram[0x200] = { 0 };
	GByteArray *b = g_byte_array_new();

	/* Two whole pages, then a page and a half (ignored) and one page. */
	desc(ram, 0, 0x1000, 0x2000, DESC_WRITE, 0);
	desc(ram, 2, 0x3000, 0x800, DESC_WRITE | DESC_NEXT, 3);
	desc(ram, 3, 0x2000, 0x1000, DESC_WRITE, 0);
	avail(ram, heads, 2);
	put(b, 3, 1);
	put(b, 0, 1);
	put(b, 3, 1); /* four pages */
	g_byte_array_append(b, ram, sizeof(ram));
	seed_write("virtio-balloon", "report", b->data, b->len);
	g_byte_array_unref(b);
}

/* ---- virtio-net-data: a header, then operations (its target's comment) ---- */

#define ND_PACKED 1
#define ND_EVENT_IDX 2
#define ND_MRG 4
#define ND_CSUM 8
#define ND_LINK_DOWN 16
#define ND_NOT_PROMISC 32
#define ND_SMALL_SNDBUF 64
#define ND_OP_RX 0
#define ND_OP_TX 1
#define ND_OP_FRAMES 2
#define ND_OP_PASS 3
#define ND_OP_READ 4
#define ND_OP_LINK 5
#define ND_OP_RX_FILL 6
#define ND_OP_TX_FILL 7
/* Frame kinds: size class, destination, count. */
#define ND_SMALL 1 /* length % 2048 */
#define ND_ANY 2 /* length as given */
#define ND_DST_OWN (0 << 2)
#define ND_DST_BROADCAST (1 << 2)
#define ND_DST_MULTICAST (2 << 2)
#define ND_DST_OTHER (3 << 2)
#define ND_COUNT(n) (((n) - 1) << 4)

/* A chain of n buffers, each (writable, length) from the list. */
static void nd_chain(GByteArray *b, uint8_t op, unsigned int n,
		     const uint16_t (*bufs)[2])
{
	put(b, op, 1);
	put(b, n - 1, 1);
	for (unsigned int i = 0; i < n; i++) {
		put(b, bufs[i][0], 1);
		put(b, bufs[i][1] - 1, 2);
	}
}

static void nd_frames(GByteArray *b, uint8_t kind, uint16_t len, uint8_t flags)
{
	put(b, ND_OP_FRAMES, 1);
	put(b, kind, 1);
	put(b, len, 2);
	put(b, flags, 1);
}

/* flags, receive and transmit queue sizes (log2), slot size (16 << n). */
static GByteArray *nd_header(uint8_t flags, uint8_t rx, uint8_t tx, uint8_t slot)
{
	GByteArray *b = g_byte_array_new();

	put(b, flags, 1);
	put(b, rx, 1);
	put(b, tx, 1);
	put(b, slot, 1);
	return b;
}

static void nd_done(GByteArray *b, const char *name)
{
	seed_write("virtio-net-data", name, b->data, b->len);
	g_byte_array_unref(b);
}

static void seeds_net_data(void)
{
	static const uint16_t rx1k[][2] = { { 1, 1024 } };
	static const uint16_t rx2k[][2] = { { 1, 2048 } };
	static const uint16_t rx100[][2] = { { 1, 100 } };
	static const uint16_t rx512[][2] = { { 1, 512 } };
	static const uint16_t tx_hdr_data[][2] = { { 0, 12 }, { 0, 100 } };
	static const uint16_t tx_with_in[][2] = { { 0, 12 }, { 0, 60 }, { 1, 4 } };
	static const uint16_t tx4k[][2] = { { 0, 4000 } };
	static const uint16_t rx_no_writable[][2] = { { 0, 64 } };
	static const uint16_t tx_short[][2] = { { 0, 8 } };
	static const uint16_t tx40[][2] = { { 0, 40 } };
	static const uint16_t rx16[][2] = { { 1, 16 } };
	static const uint16_t tx_split[][2] = { { 0, 10 }, { 0, 2 }, { 0, 50 } };
	GByteArray *b;

	/* Split, mergeable: 3000 bytes over 1 KiB chains; a frame sent. */
	b = nd_header(ND_MRG | ND_CSUM, 3, 3, 6);
	for (unsigned int i = 0; i < 4; i++)
		nd_chain(b, ND_OP_RX, 1, rx1k);
	nd_frames(b, ND_SMALL | ND_DST_OWN | ND_COUNT(1), 3000, 1);
	put(b, ND_OP_PASS, 1);
	nd_chain(b, ND_OP_TX, 2, tx_hdr_data);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_READ, 1);
	nd_done(b, "split-mergeable");

	/* Packed, one chain a frame: one fits, one is too small (dropped). */
	b = nd_header(ND_PACKED, 2, 2, 7);
	nd_chain(b, ND_OP_RX, 1, rx2k);
	nd_chain(b, ND_OP_RX, 1, rx100);
	nd_frames(b, ND_SMALL | ND_DST_BROADCAST | ND_COUNT(2), 1500, 0);
	put(b, ND_OP_PASS, 1);
	nd_chain(b, ND_OP_TX, 3, tx_with_in);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_READ, 1);
	nd_done(b, "packed");

	/* A 64 KiB frame larger than the whole ring, then one that fits. */
	b = nd_header(ND_MRG | ND_EVENT_IDX, 2, 1, 6);
	for (unsigned int i = 0; i < 4; i++)
		nd_chain(b, ND_OP_RX, 1, rx1k);
	nd_frames(b, ND_ANY | ND_DST_OWN | ND_COUNT(1), 65000, 0);
	nd_frames(b, ND_SMALL | ND_DST_OWN | ND_COUNT(1), 200, 0);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_PASS, 1);
	nd_done(b, "larger-than-ring");

	/* The socket fills (EAGAIN): the held chain goes once it drains. */
	b = nd_header(ND_SMALL_SNDBUF, 0, 3, 10);
	for (unsigned int i = 0; i < 8; i++)
		nd_chain(b, ND_OP_TX, 1, tx4k);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_READ, 1);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_READ, 1);
	nd_done(b, "tx-back-pressure");

	/* NEEDS_RESET: a receive chain without writable buffers, then nothing. */
	b = nd_header(0, 1, 1, 6);
	nd_chain(b, ND_OP_RX, 1, rx_no_writable);
	nd_frames(b, ND_SMALL | ND_DST_OWN | ND_COUNT(1), 100, 0);
	put(b, ND_OP_PASS, 1);
	nd_chain(b, ND_OP_TX, 1, tx_short);
	put(b, ND_OP_PASS, 1);
	nd_done(b, "rx-not-writable");

	/* NEEDS_RESET: a transmit chain shorter than the header. */
	b = nd_header(ND_PACKED | ND_MRG, 1, 1, 6);
	nd_chain(b, ND_OP_TX, 1, tx_short);
	put(b, ND_OP_PASS, 1);
	nd_chain(b, ND_OP_RX, 1, rx1k);
	nd_frames(b, ND_SMALL | ND_DST_OWN | ND_COUNT(1), 100, 0);
	put(b, ND_OP_PASS, 1);
	nd_done(b, "tx-short");

	/* The filter (not promiscuous) and the link going down and up. */
	b = nd_header(ND_NOT_PROMISC | ND_MRG, 3, 3, 6);
	for (unsigned int i = 0; i < 3; i++)
		nd_chain(b, ND_OP_RX, 1, rx512);
	nd_frames(b, ND_DST_OTHER | ND_COUNT(2), 60, 0);
	nd_frames(b, ND_SMALL | ND_DST_MULTICAST | ND_COUNT(1), 300, 0);
	nd_frames(b, ND_SMALL | ND_DST_OWN | ND_COUNT(1), 300, 0);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_LINK, 1);
	nd_chain(b, ND_OP_TX, 1, tx40);
	nd_frames(b, ND_SMALL | ND_DST_OWN | ND_COUNT(1), 300, 0);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_LINK, 1);
	put(b, ND_OP_PASS, 1);
	nd_done(b, "filter-link");

	/*
	 * 256 chains of 16 bytes held for a frame that never fits, then
	 * frames served from the chains in hand (moved up after each); a
	 * full transmit ring of header-split chains.
	 */
	b = nd_header(ND_MRG | ND_CSUM, 8, 8, 0);
	nd_chain(b, ND_OP_RX_FILL, 1, rx16);
	nd_frames(b, ND_ANY | ND_DST_OWN | ND_COUNT(1), 65000, 0);
	nd_frames(b, ND_SMALL | ND_DST_BROADCAST | ND_COUNT(8), 60, 3);
	put(b, ND_OP_PASS, 1);
	nd_chain(b, ND_OP_TX_FILL, 3, tx_split);
	put(b, ND_OP_PASS, 1);
	put(b, ND_OP_READ, 1);
	nd_done(b, "full-rings");
}

void seeds_queues(void)
{
	seeds_net_data();
	seeds_net_ctrl();
	seeds_virtio_scsi_ctrl();
	seeds_balloon_report();
}
