// SPDX-License-Identifier: MIT
/*
 * What a driver sends on virtio-net's control queue (net-ctrl.c), fed as
 * net.c's ctrl_one() feeds it: a sequence of commands against one NIC's
 * state, each chain's readable bytes as the command (a chain shorter than
 * class and command breaks the protocol and ends the input; one longer
 * than the device's buffer is answered ERR unseen), then the receive
 * filter asked about frames and the offloads turned into the tap's flags.
 *
 *   - an ERR answer changes nothing and has no effects;
 *   - an OK answer leaves the state in range (at most 64 MAC table
 *     entries in all, pairs within 1..max, offloads negotiated ones) and
 *     says what it changed, and only what its command may change;
 *   - the filter takes what the state says it must take, compared with a
 *     plain reading of 5.1.6.5.1/.2 for the NIC's own address, broadcast,
 *     each table entry and the input's destinations;
 *   - the tap gets segmentation offloads only with checksum offload.
 *
 * Each command's data is a heap block of its exact size, so
 * AddressSanitizer sees a read past what the driver sent.
 *
 * Input: u64 negotiated features, u16 max queue pairs (1 + n % 0x8000),
 * a 6-byte MAC, then commands: u16 chain length L, L bytes (class,
 * command, data), u8[6] a destination to ask the filter about.
 */
#include <endian.h>
#include <string.h>

#include "tern/virtio-net.h"
#include "fuzz.h"

/* net-internal.h's NET_CTRL_MAX_DATA: the longest command ctrl_one reads. */
#define CTRL_MAX_DATA (2 * (4 + VIRTIO_NET_MAC_TABLE_ENTRIES * NET_MAC_LEN) + 64)
#define MAX_COMMANDS 64

static const uint8_t broadcast[NET_MAC_LEN] = { 0xff, 0xff, 0xff,
						0xff, 0xff, 0xff };

static void state_check(const struct virtio_net_ctrl_state *st)
{
	const struct virtio_net_filter *f = &st->filter;

	FUZZ_CHECK(f->nr_uni <= VIRTIO_NET_MAC_TABLE_ENTRIES);
	FUZZ_CHECK(f->nr_uni + f->nr_multi <= VIRTIO_NET_MAC_TABLE_ENTRIES);
	FUZZ_CHECK(!f->uni_overflow || !f->nr_uni);
	FUZZ_CHECK(!f->multi_overflow || !f->nr_multi);
	FUZZ_CHECK(st->pairs >= 1 && st->pairs <= st->max_pairs);
	FUZZ_CHECK(!(st->offloads &
		     ~(st->features & VIRTIO_NET_GUEST_OFFLOADS)));
	/* Only CTRL_RX_EXTRA's commands set these, and it is not offered. */
	FUZZ_CHECK(!f->alluni && !f->nomulti && !f->nouni && !f->nobcast);
}

static bool table_has(const uint8_t (*t)[NET_MAC_LEN], unsigned int n,
		      const uint8_t *mac)
{
	for (unsigned int i = 0; i < n; i++)
		if (!memcmp(t[i], mac, NET_MAC_LEN))
			return true;
	return false;
}

/* The filter as the spec reads, for the flags the device can set. */
static bool accept_want(const struct virtio_net_filter *f, const uint8_t *dst)
{
	if (f->promisc)
		return true;
	if (!memcmp(dst, broadcast, NET_MAC_LEN))
		return true;
	if (dst[0] & 1)
		return f->allmulti || f->multi_overflow ||
		       table_has(f->multi, f->nr_multi, dst);
	return f->uni_overflow || !memcmp(dst, f->mac, NET_MAC_LEN) ||
	       table_has(f->uni, f->nr_uni, dst);
}

static void filter_check(const struct virtio_net_filter *f, const uint8_t *dst)
{
	FUZZ_CHECK(virtio_net_filter_accept(f, dst) == accept_want(f, dst));
	FUZZ_CHECK(virtio_net_filter_accept(f, f->mac) ==
		   accept_want(f, f->mac));
	FUZZ_CHECK(virtio_net_filter_accept(f, broadcast));
	for (unsigned int i = 0; i < f->nr_uni; i++)
		FUZZ_CHECK(virtio_net_filter_accept(f, f->uni[i]) ==
			   accept_want(f, f->uni[i]));
	for (unsigned int i = 0; i < f->nr_multi; i++)
		FUZZ_CHECK(virtio_net_filter_accept(f, f->multi[i]) ==
			   accept_want(f, f->multi[i]));
}

static void offloads_check(uint64_t offloads)
{
	unsigned int t = virtio_net_tun_offloads(offloads);
	unsigned int tso = NET_TUN_F_TSO4 | NET_TUN_F_TSO6;

	FUZZ_CHECK(!(t & ~(NET_TUN_F_CSUM | tso | NET_TUN_F_TSO_ECN |
			   NET_TUN_F_UFO)));
	FUZZ_CHECK(!t || (t & NET_TUN_F_CSUM));
	FUZZ_CHECK(!(t & NET_TUN_F_TSO_ECN) || (t & tso));
	FUZZ_CHECK(!(offloads & (1ULL << VIRTIO_NET_F_GUEST_CSUM)) == !t);
}

/* The effects an accepted command of class cls has, and nothing else. */
static void ok_check(const struct virtio_net_ctrl_state *before,
		     const struct virtio_net_ctrl_state *st, uint8_t cls,
		     uint8_t cmd, const uint8_t *data, size_t len, unsigned int effects)
{
	const struct virtio_net_filter *f = &st->filter;
	uint32_t nu, nm;

	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		FUZZ_CHECK(len == 1 && effects == VIRTIO_NET_CTRL_FILTER);
		FUZZ_CHECK((cmd == VIRTIO_NET_CTRL_RX_PROMISC ? f->promisc :
							       f->allmulti) ==
			   (data[0] != 0));
		break;
	case VIRTIO_NET_CTRL_MAC:
		FUZZ_CHECK(effects == VIRTIO_NET_CTRL_FILTER);
		if (len == NET_MAC_LEN) {
			FUZZ_CHECK(!memcmp(f->mac, data, NET_MAC_LEN));
			break;
		}
		/* MAC_TABLE_SET: two counted tables filling the data exactly. */
		FUZZ_CHECK(len >= 8);
		memcpy(&nu, data, 4);
		nu = le32toh(nu);
		FUZZ_CHECK(f->uni_overflow == (nu > VIRTIO_NET_MAC_TABLE_ENTRIES));
		FUZZ_CHECK(f->uni_overflow || f->nr_uni == nu);
		FUZZ_CHECK(!memcmp(f->uni, data + 4, (size_t)f->nr_uni * NET_MAC_LEN));
		memcpy(&nm, data + 4 + (size_t)nu * NET_MAC_LEN, 4);
		nm = le32toh(nm);
		FUZZ_CHECK(len == 8 + ((size_t)nu + nm) * NET_MAC_LEN);
		FUZZ_CHECK(f->multi_overflow || f->nr_multi == nm);
		FUZZ_CHECK(!memcmp(f->multi, data + 8 + (size_t)nu * NET_MAC_LEN,
				   (size_t)f->nr_multi * NET_MAC_LEN));
		break;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		FUZZ_CHECK(!len && effects == VIRTIO_NET_CTRL_ANNOUNCED);
		break;
	case VIRTIO_NET_CTRL_MQ:
		FUZZ_CHECK(len == 2 && effects == VIRTIO_NET_CTRL_PAIRS);
		FUZZ_CHECK(st->pairs == (uint32_t)(data[0] | data[1] << 8));
		break;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
		FUZZ_CHECK(len == 8 && effects == VIRTIO_NET_CTRL_OFFLOADS);
		break;
	default:
		FUZZ_CHECK(!"an unknown class was accepted");
	}
	/* What the command does not own stays as it was. */
	if (cls != VIRTIO_NET_CTRL_MQ)
		FUZZ_CHECK(st->pairs == before->pairs);
	if (cls != VIRTIO_NET_CTRL_GUEST_OFFLOADS)
		FUZZ_CHECK(st->offloads == before->offloads);
	if (cls != VIRTIO_NET_CTRL_RX && cls != VIRTIO_NET_CTRL_MAC)
		FUZZ_CHECK(!memcmp(&st->filter, &before->filter,
				   sizeof(st->filter)));
	FUZZ_CHECK(st->features == before->features &&
		   st->max_pairs == before->max_pairs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct virtio_net_ctrl_state st = { 0 };
	uint8_t mac[NET_MAC_LEN];

	st.features = fuzz_u64(&in);
	st.max_pairs = 1 + fuzz_u16(&in) % VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX;
	for (unsigned int i = 0; i < NET_MAC_LEN; i++)
		mac[i] = fuzz_u8(&in);
	/* As net.c's activation and reset leave it. */
	virtio_net_filter_reset(&st.filter, mac);
	st.pairs = 1;
	st.offloads = st.features & VIRTIO_NET_GUEST_OFFLOADS;
	state_check(&st);

	for (unsigned int c = 0; c < MAX_COMMANDS && in.len; c++) {
		size_t len = fuzz_u16(&in);
		struct virtio_net_ctrl_state before = st;
		unsigned int effects = ~0U;
		uint8_t dst[NET_MAC_LEN], ack = VIRTIO_NET_ERR, *cmd;

		len = MIN(len, in.len);
		if (len < 2)
			break; /* NEEDS_RESET: the device looks no further */
		cmd = g_memdup2(in.p, len);
		in.p += len;
		in.len -= len;
		if (len <= 2 + CTRL_MAX_DATA)
			ack = virtio_net_ctrl_apply(&st, cmd[0], cmd[1], cmd + 2,
						    len - 2, &effects);
		FUZZ_CHECK(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
		if (ack == VIRTIO_NET_OK) {
			FUZZ_CHECK(len <= 2 + CTRL_MAX_DATA);
			ok_check(&before, &st, cmd[0], cmd[1], cmd + 2, len - 2,
				 effects);
		} else {
			FUZZ_CHECK(!memcmp(&st, &before, sizeof(st)));
			FUZZ_CHECK(effects == 0 || len > 2 + CTRL_MAX_DATA);
		}
		g_free(cmd);
		state_check(&st);
		for (unsigned int i = 0; i < NET_MAC_LEN; i++)
			dst[i] = fuzz_u8(&in);
		filter_check(&st.filter, dst);
		offloads_check(st.offloads);
	}
	return 0;
}
