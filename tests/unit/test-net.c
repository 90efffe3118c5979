// SPDX-License-Identifier: MIT
/*
 * The network pieces that need no device: the --net parser, MAC
 * addresses, virtio-net's receive filter and control commands (pure, fed
 * malformed input), the guest offloads as tap flags, and the vhost-net
 * ioctl sequence recorded by a fake, since these machines have no
 * /dev/vhost-net (nothing here talks to a kernel vhost).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/vhost.h>

#include "tern/error.h"
#include "tern/memory.h"
#include "tern/net.h"
#include "tern/virtio-net.h"
#include "unit.h"

/* ---- --net ---- */

START_TEST(spec_good)
{
	struct net_config c;
	GError *err = NULL;

	ck_assert(net_config_parse("tap=tap0", &c, &err));
	ck_assert_str_eq(c.ifname, "tap0");
	ck_assert_int_eq(c.fd, -1);
	ck_assert_uint_eq(c.queues, 1);
	ck_assert_uint_eq(c.mtu, 0);
	ck_assert(!c.mac_given);
	ck_assert_int_eq(c.vhost, NET_VHOST_OFF);
	net_config_clear(&c);

	ck_assert(net_config_parse("tap=t1,mac=52:54:00:AB:cd:0f,queues=4,mtu=9000,vhost=auto",
				   &c, &err));
	ck_assert(c.mac_given);
	ck_assert_uint_eq(c.mac[3], 0xab);
	ck_assert_uint_eq(c.mac[5], 0x0f);
	ck_assert_uint_eq(c.queues, 4);
	ck_assert_uint_eq(c.mtu, 9000);
	ck_assert_int_eq(c.vhost, NET_VHOST_AUTO);
	net_config_clear(&c);

	ck_assert(net_config_parse("fd=7,vhost=on", &c, &err));
	ck_assert_ptr_null(c.ifname);
	ck_assert_int_eq(c.fd, 7);
	ck_assert_int_eq(c.vhost, NET_VHOST_ON);
	net_config_clear(&c);
}
END_TEST

/* Each bad spec is refused with a message naming the option and the fault. */
START_TEST(spec_bad)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
		{ "", "expected tap=NAME or fd=N" },
		{ "tap0", "expected key=value" },
		{ "tap=", "'tap' needs a value" },
		{ "tap=a,,mtu=1500", "empty option" },
		{ "tap=a,speed=10", "unknown key 'speed'" },
		{ "tap=a,tap=b", "'tap' given twice" },
		{ "tap=abcdefghijklmnop", "at most 15 characters" },
		{ "tap=a b", "expected an interface name" },
		{ "tap=../x", "expected an interface name" },
		{ "tap=a,fd=5", "exactly one of tap=NAME and fd=N" },
		{ "mac=52:54:00:12:34:56", "exactly one of" },
		{ "fd=2", "fd='2': expected an open file descriptor number" },
		{ "fd=0x5", "fd='0x5'" },
		{ "fd=5,queues=2", "queues=2 needs tap=NAME" },
		{ "tap=a,queues=0", "queues='0': expected a decimal number of queue pairs from 1 to 16" },
		{ "tap=a,queues=17", "from 1 to 16" },
		{ "tap=a,queues=-1", "queues='-1'" },
		{ "tap=a,mtu=67", "mtu='67': expected bytes from 68 to 65535" },
		{ "tap=a,mtu=65536", "mtu='65536'" },
		{ "tap=a,vhost=yes", "vhost='yes': expected on, off or auto" },
		{ "tap=a,mac=52:54:00:12:34", "mac='52:54:00:12:34': expected a unicast MAC" },
		{ "tap=a,mac=52:54:00:12:34:56:78", "expected a unicast MAC" },
		{ "tap=a,mac=52-54-00-12-34-56", "expected a unicast MAC" },
		{ "tap=a,mac=52:54:00:12:34:5g", "expected a unicast MAC" },
		{ "tap=a,mac=01:00:5e:00:00:01", "expected a unicast MAC" },
		{ "tap=a,mac=ff:ff:ff:ff:ff:ff", "expected a unicast MAC" },
	};

	for (unsigned int i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct net_config c;
		GError *err = NULL;
		g_autofree char *start = g_strdup_printf("--net '%s': ", bad[i].spec);

		ck_assert_msg(!net_config_parse(bad[i].spec, &c, &err), "'%s' accepted",
			      bad[i].spec);
		ck_assert_int_eq(err->code, TERN_ERROR_INPUT);
		ck_assert_msg(g_str_has_prefix(err->message, start) &&
				      strstr(err->message, bad[i].says),
			      "'%s': %s", bad[i].spec, err->message);
		ck_assert_ptr_null(c.ifname);
		g_error_free(err);
	}
}
END_TEST

START_TEST(mac_default_format)
{
	uint8_t mac[NET_MAC_LEN];
	char buf[18];

	net_mac_default(0, mac);
	net_mac_format(mac, buf);
	ck_assert_str_eq(buf, "52:54:00:12:34:56");
	net_mac_default(2, mac);
	net_mac_format(mac, buf);
	ck_assert_str_eq(buf, "52:54:00:12:34:58");
	ck_assert_int_eq(net_mac_parse("0A:0b:0C:0d:0E:0f", mac), 0);
	net_mac_format(mac, buf);
	ck_assert_str_eq(buf, "0a:0b:0c:0d:0e:0f");
}
END_TEST

/* ---- the receive filter ---- */

static const uint8_t own[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
static const uint8_t other[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x99 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
static const uint8_t mcast2[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

START_TEST(filter_modes)
{
	struct virtio_net_filter f;

	virtio_net_filter_reset(&f, own);
	/* Promiscuous after a reset, as QEMU, for drivers without CTRL_RX. */
	ck_assert(f.promisc);
	ck_assert(virtio_net_filter_accept(&f, other));
	f.promisc = false;
	ck_assert(virtio_net_filter_accept(&f, own));
	ck_assert(!virtio_net_filter_accept(&f, other));
	ck_assert(virtio_net_filter_accept(&f, bcast));
	ck_assert(!virtio_net_filter_accept(&f, mcast));
	f.allmulti = true;
	ck_assert(virtio_net_filter_accept(&f, mcast));
	f.allmulti = false;
	memcpy(f.multi[0], mcast, 6);
	f.nr_multi = 1;
	ck_assert(virtio_net_filter_accept(&f, mcast));
	ck_assert(!virtio_net_filter_accept(&f, mcast2));
	f.multi_overflow = true;
	ck_assert(virtio_net_filter_accept(&f, mcast2));
	f.nomulti = true;
	ck_assert(!virtio_net_filter_accept(&f, mcast));
	ck_assert(virtio_net_filter_accept(&f, bcast));
	f.nobcast = true;
	ck_assert(!virtio_net_filter_accept(&f, bcast));
	memcpy(f.uni[0], other, 6);
	f.nr_uni = 1;
	ck_assert(virtio_net_filter_accept(&f, other));
	f.nouni = true;
	ck_assert(!virtio_net_filter_accept(&f, own));
}
END_TEST

/* ---- control commands ---- */

#define ALL_FEATURES                                                           \
	((1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_CTRL_RX) |     \
	 (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR) | (1ULL << VIRTIO_NET_F_MQ) |    \
	 (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE) |                               \
	 (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | VIRTIO_NET_GUEST_OFFLOADS)

static void ctrl_init(struct virtio_net_ctrl_state *st, uint64_t features)
{
	memset(st, 0, sizeof(*st));
	virtio_net_filter_reset(&st->filter, own);
	st->features = features;
	st->max_pairs = 4;
	st->pairs = 1;
}

/* A command refused: ERR, no effect, the state as it was. */
static void expect_err(struct virtio_net_ctrl_state *st, uint8_t cls, uint8_t cmd,
		       const void *data, size_t len)
{
	struct virtio_net_ctrl_state before = *st;
	unsigned int eff = 0xff;

	ck_assert_uint_eq(virtio_net_ctrl_apply(st, cls, cmd, data, len, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(eff, 0);
	ck_assert(!memcmp(&before, st, sizeof(before)));
}

static size_t mac_table(uint8_t *buf, uint32_t nu, uint32_t nm)
{
	size_t off = 0;
	uint32_t v = htole32(nu);

	memcpy(buf, &v, 4);
	off = 4;
	for (uint32_t i = 0; i < nu; i++, off += 6) {
		memcpy(buf + off, other, 6);
		buf[off + 5] = (uint8_t)i;
	}
	v = htole32(nm);
	memcpy(buf + off, &v, 4);
	off += 4;
	for (uint32_t i = 0; i < nm; i++, off += 6) {
		memcpy(buf + off, mcast, 6);
		buf[off + 5] = (uint8_t)i;
	}
	return off;
}

START_TEST(ctrl_rx_and_mac)
{
	struct virtio_net_ctrl_state st;
	uint8_t buf[2048], on = 1, off = 0;
	unsigned int eff;
	size_t len;

	ctrl_init(&st, ALL_FEATURES);
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_RX,
						VIRTIO_NET_CTRL_RX_PROMISC, &off, 1, &eff),
			  VIRTIO_NET_OK);
	ck_assert(!st.filter.promisc);
	ck_assert_uint_eq(eff, VIRTIO_NET_CTRL_FILTER);
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_RX,
						VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1, &eff),
			  VIRTIO_NET_OK);
	ck_assert(st.filter.allmulti);

	len = mac_table(buf, 2, 3);
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_MAC,
						VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(st.filter.nr_uni, 2);
	ck_assert_uint_eq(st.filter.nr_multi, 3);
	ck_assert_uint_eq(st.filter.multi[2][5], 2);
	ck_assert(!st.filter.uni_overflow && !st.filter.multi_overflow);
	/* 40 + 30 > 64: multicast overflows and is let through wholesale. */
	len = mac_table(buf, 40, 30);
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_MAC,
						VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(st.filter.nr_uni, 40);
	ck_assert(st.filter.multi_overflow);
	ck_assert_uint_eq(st.filter.nr_multi, 0);
	len = mac_table(buf, 65, 10);
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_MAC,
						VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len, &eff),
			  VIRTIO_NET_OK);
	ck_assert(st.filter.uni_overflow && !st.filter.multi_overflow);
	ck_assert_uint_eq(st.filter.nr_multi, 10);

	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_MAC,
						VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6, &eff),
			  VIRTIO_NET_OK);
	ck_assert(!memcmp(st.filter.mac, other, 6));
}
END_TEST

START_TEST(ctrl_malformed)
{
	struct virtio_net_ctrl_state st;
	uint8_t buf[2048], one = 1;
	uint16_t pairs;
	uint64_t o;
	size_t len;

	ctrl_init(&st, ALL_FEATURES);
	/* Wrong lengths. */
	expect_err(&st, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, buf, 0);
	expect_err(&st, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, buf, 2);
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 5);
	/* CTRL_RX_EXTRA's commands: not offered. */
	expect_err(&st, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, &one, 1);
	/* MAC tables: counts beyond the data, short, trailing bytes. */
	len = mac_table(buf, 2, 1);
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len - 1);
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len + 1);
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, 3);
	buf[0] = 0xff; buf[1] = 0xff; buf[2] = 0xff; buf[3] = 0xff;
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len);
	/* Pairs out of range or with a wrong size. */
	pairs = htole16(0);
	expect_err(&st, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2);
	pairs = htole16(5);
	expect_err(&st, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2);
	expect_err(&st, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 1);
	expect_err(&st, VIRTIO_NET_CTRL_MQ, 1 /* RSS_CONFIG */, &pairs, 2);
	/* Offloads that are not offloads. */
	o = htole64(1ULL << VIRTIO_NET_F_MRG_RXBUF);
	expect_err(&st, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
		   VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &o, 8);
	expect_err(&st, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
		   VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &o, 4);
	/* Announce ack with data, unknown classes, VLAN (not offered). */
	expect_err(&st, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, &one, 1);
	expect_err(&st, VIRTIO_NET_CTRL_VLAN, 0, &pairs, 2);
	expect_err(&st, 200, 0, NULL, 0);

	/* Nothing works without its feature. */
	ctrl_init(&st, 1ULL << VIRTIO_NET_F_CTRL_VQ);
	expect_err(&st, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &one, 1);
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6);
	len = mac_table(buf, 1, 1);
	expect_err(&st, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, len);
	pairs = htole16(2);
	expect_err(&st, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2);
	o = 0;
	expect_err(&st, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
		   VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &o, 8);
	expect_err(&st, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0);
}
END_TEST

START_TEST(ctrl_pairs_offloads_announce)
{
	struct virtio_net_ctrl_state st;
	unsigned int eff;
	uint16_t pairs = htole16(4);
	uint64_t o;

	ctrl_init(&st, ALL_FEATURES & ~(1ULL << VIRTIO_NET_F_GUEST_UFO));
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_MQ,
						VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
						(const uint8_t *)&pairs, 2, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(st.pairs, 4);
	ck_assert_uint_eq(eff, VIRTIO_NET_CTRL_PAIRS);
	o = htole64((1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4));
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
						VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
						(const uint8_t *)&o, 8, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(eff, VIRTIO_NET_CTRL_OFFLOADS);
	ck_assert_uint_eq(virtio_net_tun_offloads(st.offloads),
			  NET_TUN_F_CSUM | NET_TUN_F_TSO4);
	/* An offload that was not negotiated cannot be switched on. */
	o = htole64(1ULL << VIRTIO_NET_F_GUEST_UFO);
	expect_err(&st, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
		   VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &o, 8);
	ck_assert_uint_eq(virtio_net_ctrl_apply(&st, VIRTIO_NET_CTRL_ANNOUNCE,
						VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(eff, VIRTIO_NET_CTRL_ANNOUNCED);
}
END_TEST

START_TEST(tun_offloads)
{
	uint64_t all = VIRTIO_NET_GUEST_OFFLOADS;

	ck_assert_uint_eq(virtio_net_tun_offloads(0), 0);
	ck_assert_uint_eq(virtio_net_tun_offloads(all),
			  NET_TUN_F_CSUM | NET_TUN_F_TSO4 | NET_TUN_F_TSO6 |
				  NET_TUN_F_TSO_ECN | NET_TUN_F_UFO);
	/* No segmentation offload without checksum offload: the tap refuses it. */
	ck_assert_uint_eq(virtio_net_tun_offloads(all & ~(1ULL << VIRTIO_NET_F_GUEST_CSUM)), 0);
	/* ECN only with TSO. */
	ck_assert_uint_eq(virtio_net_tun_offloads((1ULL << VIRTIO_NET_F_GUEST_CSUM) |
						  (1ULL << VIRTIO_NET_F_GUEST_ECN)),
			  NET_TUN_F_CSUM);
}
END_TEST

/* ---- vhost-net's ioctls, recorded by a fake (no /dev/vhost-net here) ---- */

struct vcall {
	unsigned long req;
	unsigned int index, num;
	int fd;
	uint64_t u64, desc, avail, used;
	uint32_t nregions;
	uint64_t gpa0, size0, hva0;
};

struct vfake {
	int open_ret;
	unsigned long fail_req; /* this request fails with -EINVAL */
	uint64_t features; /* what GET_FEATURES answers */
	uint16_t base[2]; /* what GET_VRING_BASE answers */
	struct vcall calls[64];
	unsigned int n;
	bool closed;
};

static int vfake_open(void *opaque)
{
	return ((struct vfake *)opaque)->open_ret;
}

static int vfake_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	struct vfake *f = opaque;
	struct vcall *c = &f->calls[f->n++];

	ck_assert_int_eq(fd, 42);
	ck_assert_uint_lt(f->n, G_N_ELEMENTS(f->calls));
	memset(c, 0, sizeof(*c));
	c->req = req;
	if (req == VHOST_GET_FEATURES) {
		*(uint64_t *)arg = f->features;
	} else if (req == VHOST_SET_FEATURES) {
		c->u64 = *(uint64_t *)arg;
	} else if (req == VHOST_SET_MEM_TABLE) {
		const struct vhost_memory *m = arg;

		c->nregions = m->nregions;
		c->gpa0 = m->regions[0].guest_phys_addr;
		c->size0 = m->regions[0].memory_size;
		c->hva0 = m->regions[0].userspace_addr;
	} else if (req == VHOST_SET_VRING_NUM || req == VHOST_SET_VRING_BASE) {
		const struct vhost_vring_state *s = arg;

		c->index = s->index;
		c->num = s->num;
	} else if (req == VHOST_GET_VRING_BASE) {
		struct vhost_vring_state *s = arg;

		c->index = s->index;
		s->num = f->base[s->index];
	} else if (req == VHOST_SET_VRING_ADDR) {
		const struct vhost_vring_addr *a = arg;

		c->index = a->index;
		c->desc = a->desc_user_addr;
		c->avail = a->avail_user_addr;
		c->used = a->used_user_addr;
	} else if (req == VHOST_SET_VRING_KICK || req == VHOST_SET_VRING_CALL ||
		   req == VHOST_NET_SET_BACKEND) {
		const struct vhost_vring_file *v = arg;

		c->index = v->index;
		c->fd = v->fd;
	}
	return req == f->fail_req ? -EINVAL : 0;
}

static void vfake_close(void *opaque, int fd)
{
	((struct vfake *)opaque)->closed = true;
}

static const struct vhost_ioctl_ops vfake_ops = {
	.open = vfake_open,
	.ioctl = vfake_ioctl,
	.close = vfake_close,
};

static void vrings(struct vhost_vring r[2], uint8_t *ram)
{
	for (unsigned int i = 0; i < 2; i++)
		r[i] = (struct vhost_vring){
			.num = 256, .base = (uint16_t)(7 + i),
			.desc = ram + 0x1000 * i, .avail = ram + 0x10000 + 0x1000 * i,
			.used = ram + 0x20000 + 0x1000 * i,
			.kick_fd = 10 + (int)i, .call_fd = 20 + (int)i,
		};
}

START_TEST(vhost_sequence)
{
	struct vfake f = { .open_ret = 42, .features = ~0ULL, .base = { 300, 301 } };
	struct guest_memory mem;
	struct vhost_vring r[2];
	struct vhost_net *v = NULL;
	uint16_t bases[2];
	static const unsigned long want[] = {
		VHOST_SET_OWNER, VHOST_GET_FEATURES, VHOST_SET_FEATURES,
		VHOST_SET_MEM_TABLE,
		VHOST_SET_VRING_NUM, VHOST_SET_VRING_BASE, VHOST_SET_VRING_ADDR,
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
		VHOST_SET_VRING_NUM, VHOST_SET_VRING_BASE, VHOST_SET_VRING_ADDR,
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
		VHOST_NET_SET_BACKEND, VHOST_NET_SET_BACKEND,
		VHOST_NET_SET_BACKEND, VHOST_NET_SET_BACKEND,
		VHOST_GET_VRING_BASE, VHOST_GET_VRING_BASE,
	};

	ck_assert_int_eq(guest_memory_init(&mem, 16 * MiB), 0);
	vrings(r, mem.regions[0].hva);
	ck_assert_int_eq(vhost_net_open(&vfake_ops, &f, &v), 0);
	/* Only the ring and header features vhost-net carries are kept. */
	ck_assert_uint_eq(vhost_net_features(v),
			  (1ULL << 32) | (1ULL << 15) | (1ULL << 29) | (1ULL << 28));
	ck_assert_int_eq(vhost_net_start(v, &mem, (1ULL << 32) | (1ULL << 15) | (1ULL << 0),
					 r, 99), 0);
	ck_assert_int_eq(vhost_net_stop(v, bases), 0);
	ck_assert_uint_eq(f.n, G_N_ELEMENTS(want));
	for (unsigned int i = 0; i < f.n; i++)
		ck_assert_msg(f.calls[i].req == want[i], "call %u: 0x%lx, expected 0x%lx",
			      i, f.calls[i].req, want[i]);
	/* Negotiated & supported: CSUM (bit 0) is the tap's, not vhost's. */
	ck_assert_uint_eq(f.calls[2].u64, (1ULL << 32) | (1ULL << 15));
	ck_assert_uint_eq(f.calls[3].nregions, mem.nr_regions);
	ck_assert_uint_eq(f.calls[3].gpa0, 0);
	ck_assert_uint_eq(f.calls[3].size0, 16 * MiB);
	ck_assert_uint_eq(f.calls[3].hva0, (uintptr_t)mem.regions[0].hva);
	for (unsigned int i = 0; i < 2; i++) {
		const struct vcall *c = &f.calls[4 + 5 * i];

		ck_assert_uint_eq(c[0].index, i);
		ck_assert_uint_eq(c[0].num, 256);
		ck_assert_uint_eq(c[1].num, 7 + i);
		ck_assert_uint_eq(c[2].desc, (uintptr_t)r[i].desc);
		ck_assert_uint_eq(c[2].avail, (uintptr_t)r[i].avail);
		ck_assert_uint_eq(c[2].used, (uintptr_t)r[i].used);
		ck_assert_int_eq(c[3].fd, 10 + (int)i);
		ck_assert_int_eq(c[4].fd, 20 + (int)i);
		ck_assert_int_eq(f.calls[14 + i].fd, 99);
		ck_assert_uint_eq(f.calls[14 + i].index, i);
		ck_assert_int_eq(f.calls[16 + i].fd, -1);
	}
	ck_assert_uint_eq(bases[0], 300);
	ck_assert_uint_eq(bases[1], 301);
	vhost_net_close(v);
	ck_assert(f.closed);
	guest_memory_destroy(&mem);
}
END_TEST

START_TEST(vhost_failures)
{
	struct vfake f = { .open_ret = -ENOENT };
	struct guest_memory mem;
	struct vhost_vring r[2];
	struct vhost_net *v = NULL;
	unsigned int n;

	/* No /dev/vhost-net: -ENOENT, nothing left open. */
	ck_assert_int_eq(vhost_net_open(&vfake_ops, &f, &v), -ENOENT);
	ck_assert_ptr_null(v);
	/* SET_OWNER refused: closed again. */
	f = (struct vfake){ .open_ret = 42, .fail_req = VHOST_SET_OWNER };
	ck_assert_int_eq(vhost_net_open(&vfake_ops, &f, &v), -EINVAL);
	ck_assert(f.closed);
	/* The second vring's back-end refused: the first is detached again. */
	ck_assert_int_eq(guest_memory_init(&mem, 16 * MiB), 0);
	vrings(r, mem.regions[0].hva);
	f = (struct vfake){ .open_ret = 42 };
	ck_assert_int_eq(vhost_net_open(&vfake_ops, &f, &v), 0);
	f.fail_req = VHOST_SET_VRING_CALL;
	ck_assert_int_eq(vhost_net_start(v, &mem, 1ULL << 32, r, 99), -EINVAL);
	n = f.n;
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_ne(f.calls[i].req, VHOST_NET_SET_BACKEND);
	vhost_net_close(v);
	guest_memory_destroy(&mem);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net");

	UNIT_TCASE(s, "spec", spec_good, spec_bad, mac_default_format);
	UNIT_TCASE(s, "filter", filter_modes);
	UNIT_TCASE(s, "ctrl", ctrl_rx_and_mac, ctrl_malformed,
		   ctrl_pairs_offloads_announce, tun_offloads);
	UNIT_TCASE(s, "vhost-fake", vhost_sequence, vhost_failures);
	return unit_run(s);
}
