// SPDX-License-Identifier: MIT
/*
 * virtio-net, the whole device (model, pair and control threads) driven
 * through the virtio core by a small split-ring driver in this file, on
 * plain memory, with a socket pair per queue pair standing in for the tap
 * (SOCK_SEQPACKET keeps frames whole, as a tap does): no KVM, no tap.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vhost.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/memory.h"
#include "tern/state.h"
#include "tern/virtio-net.h"
#include "unit.h"

#define RAM_SIZE (16 * MiB)
#define QSIZE 64
#define RING(q) (0x10000ULL + 0x10000ULL * (q)) /* desc; avail +0x1000, used +0x2000 */
#define BUFS 0x200000ULL /* buffers, 4 KiB apart per (queue, slot) */
#define BUF(q, i) (BUFS + 0x100000ULL * (q) + 0x1000ULL * (i))
#define MAXQ 9

#define F(b) (1ULL << (b))

struct fake_be {
	struct net_backend be;
	int peer[NET_MAX_QUEUES]; /* the test's ends */
	unsigned int offload, offload_calls;
	bool queue_on[NET_MAX_QUEUES];
};

struct tnet {
	struct guest_memory mem;
	struct virtio_device vdev;
	struct virtio_net *net;
	struct net_config cfg;
	struct fake_be *fb;
	uint64_t features;
	unsigned int nq;
	uint16_t avail[MAXQ], used_seen[MAXQ], next[MAXQ];
	unsigned int config_irqs;
};

static struct tnet T;

/* ---- the fake back-end ---- */

static int fb_set_offload(void *opaque, unsigned int flags)
{
	struct fake_be *f = opaque;

	f->offload = flags;
	f->offload_calls++;
	return 0;
}

static int fb_set_queue(void *opaque, unsigned int q, bool on)
{
	((struct fake_be *)opaque)->queue_on[q] = on;
	return 0;
}

static void fb_close(void *opaque)
{
	struct fake_be *f = opaque;

	for (unsigned int q = 0; q < f->be.nr_queues; q++)
		close(f->be.fds[q]);
}

static const struct net_backend_ops fb_ops = {
	.name = "socket pair",
	.set_offload = fb_set_offload,
	.set_queue = fb_set_queue,
	.close = fb_close,
};

static struct fake_be FB;

static struct net_backend *fb_new(unsigned int queues)
{
	memset(&FB, 0, sizeof(FB));
	FB.be.ops = &fb_ops;
	FB.be.opaque = &FB;
	FB.be.nr_queues = queues;
	for (unsigned int q = 0; q < NET_MAX_QUEUES; q++)
		FB.be.fds[q] = FB.peer[q] = -1;
	for (unsigned int q = 0; q < queues; q++) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
		FB.be.fds[q] = sv[0];
		FB.peer[q] = sv[1];
	}
	return &FB.be;
}

/* ---- the driver ---- */

static void t_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
}

static void t_notify_config(struct virtio_device *vdev)
{
	__atomic_add_fetch(&T.config_irqs, 1, __ATOMIC_RELAXED);
}

static const struct virtio_transport_ops t_transport = {
	.notify_queue = t_notify_queue,
	.notify_config = t_notify_config,
};

static void *gpa(uint64_t a, uint64_t len)
{
	void *p = guest_memory_ptr(&T.mem, a, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void t_driver_ok(void)
{
	uint64_t f = T.features;

	memset(T.avail, 0, sizeof(T.avail));
	memset(T.used_seen, 0, sizeof(T.used_seen));
	memset(T.next, 0, sizeof(T.next));
	for (unsigned int q = 0; q < T.nq; q++)
		memset(gpa(RING(q), 0x10000), 0, 0x10000);
	virtio_device_set_status(&T.vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_set_driver_features(&T.vdev, 0, (uint32_t)f);
	virtio_device_set_driver_features(&T.vdev, 1, (uint32_t)(f >> 32));
	virtio_device_set_status(&T.vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						  VIRTIO_STATUS_FEATURES_OK);
	ck_assert(virtio_device_get_status(&T.vdev) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < T.nq; q++)
		*virtq_layout(T.vdev.queues[q]) = (struct virtq_layout){
			.size = QSIZE, .enabled = true, .desc = RING(q),
			.driver = RING(q) + 0x1000, .device = RING(q) + 0x2000,
		};
	virtio_device_set_status(&T.vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						  VIRTIO_STATUS_FEATURES_OK |
						  VIRTIO_STATUS_DRIVER_OK);
	ck_assert(!(virtio_device_get_status(&T.vdev) & VIRTIO_STATUS_NEEDS_RESET));
}

/* A NIC with queues pairs; the driver takes what is offered but drop. */
static void t_open(const char *spec, uint64_t drop)
{
	struct virtio_net_info info;
	GError *err = NULL;

	memset(&T, 0, sizeof(T));
	ck_assert(net_config_parse(spec, &T.cfg, &err));
	T.net = virtio_net_new(NULL, 0, &T.cfg, fb_new(T.cfg.queues), &err);
	ck_assert_msg(T.net, "%s", err ? err->message : "?");
	T.fb = &FB;
	ck_assert_int_eq(guest_memory_init(&T.mem, RAM_SIZE), 0);
	virtio_net_get_info(T.net, &info);
	T.nq = info.nr_queues;
	ck_assert_int_eq(virtio_device_init(&T.vdev, &T.mem, &virtio_net_ops, T.net,
					    VIRTIO_ID_NET, info.features, info.nr_queues,
					    QSIZE, info.config, info.config_size), 0);
	T.vdev.transport_ops = &t_transport;
	T.features = T.vdev.host_features & ~F(VIRTIO_F_RING_PACKED) & ~drop;
	t_driver_ok();
}

static void t_close(void)
{
	virtio_device_cleanup(&T.vdev);
	virtio_net_ops.destroy(&T.vdev);
	for (unsigned int q = 0; q < NET_MAX_QUEUES; q++)
		if (FB.peer[q] >= 0)
			close(FB.peer[q]);
	guest_memory_destroy(&T.mem);
	net_config_clear(&T.cfg);
}

struct tbuf {
	uint64_t addr;
	uint32_t len;
	bool writable;
};

static void t_add(unsigned int q, const struct tbuf *b, unsigned int n)
{
	uint8_t *desc = gpa(RING(q), 16 * QSIZE);
	uint16_t *avail = gpa(RING(q) + 0x1000, 6 + 2 * QSIZE);
	uint16_t head = T.next[q];

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (head + i) % QSIZE;
		uint64_t a = htole64(b[i].addr);
		uint32_t l = htole32(b[i].len);
		uint16_t fl = htole16((b[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0));
		uint16_t nx = htole16((d + 1) % QSIZE);

		memcpy(desc + 16 * d, &a, 8);
		memcpy(desc + 16 * d + 8, &l, 4);
		memcpy(desc + 16 * d + 12, &fl, 2);
		memcpy(desc + 16 * d + 14, &nx, 2);
	}
	T.next[q] = (head + n) % QSIZE;
	avail[2 + T.avail[q] % QSIZE] = htole16(head);
	T.avail[q]++;
	__atomic_store_n(&avail[1], htole16(T.avail[q]), __ATOMIC_RELEASE);
}

static void t_kick(unsigned int q)
{
	efd_signal(virtq_kick_fd(T.vdev.queues[q]));
}

/* Post n receive buffers of len bytes at slots from.. on receive queue q. */
static void t_post_rx(unsigned int q, unsigned int from, unsigned int n, uint32_t len)
{
	for (unsigned int i = from; i < from + n; i++) {
		struct tbuf b = { BUF(q, i), len, true };

		t_add(q, &b, 1);
	}
	t_kick(q);
}

static uint16_t t_used_idx(unsigned int q)
{
	volatile uint16_t *used = gpa(RING(q) + 0x2000, 4);

	return le16toh(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE));
}

/* Wait until n more chains were used on q; the used entries in id/len. */
static void t_wait(unsigned int q, unsigned int n, uint32_t *id, uint32_t *len)
{
	uint16_t want = T.used_seen[q] + n;
	const uint32_t *ring = gpa(RING(q) + 0x2000 + 4, 8 * QSIZE);

	for (int ms = 0; (uint16_t)(t_used_idx(q) - want) > 0x8000; ms++) {
		ck_assert_msg(ms < 5000, "queue %u: %u of %u chains came back", q,
			      (uint16_t)(t_used_idx(q) - T.used_seen[q]), n);
		usleep(1000);
	}
	for (unsigned int i = 0; i < n; i++) {
		uint16_t k = (T.used_seen[q] + i) % QSIZE;

		if (id)
			id[i] = le32toh(ring[2 * k]);
		if (len)
			len[i] = le32toh(ring[2 * k + 1]);
	}
	T.used_seen[q] = want;
}

/* Nothing more comes back on q for a while. */
static void t_quiet(unsigned int q)
{
	usleep(50000);
	ck_assert_uint_eq(t_used_idx(q), T.used_seen[q]);
}

static const uint8_t MAC0[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* A frame for dst of len bytes (header included), bytes after the header from seed. */
static size_t t_frame(uint8_t *f, size_t len, const uint8_t *dst, uint8_t seed)
{
	memset(f, 0, NET_VNET_HDR_LEN);
	memcpy(f + NET_VNET_HDR_LEN, dst, 6);
	for (size_t i = NET_VNET_HDR_LEN + 6; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
	return len;
}

static void t_send(unsigned int pair, const uint8_t *f, size_t len)
{
	ck_assert_int_eq(send(FB.peer[pair], f, len, 0), (ssize_t)len);
}

static struct virtio_net_stats t_stats(void)
{
	struct virtio_net_stats s;

	virtio_net_get_stats(&T.vdev, &s);
	return s;
}

/* One control command; returns the ack byte. */
static uint8_t t_ctrl(uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	unsigned int q = T.nq - 1;
	uint8_t *hdr = gpa(BUF(q, 0), 2), *ack = gpa(BUF(q, 2), 1);
	struct tbuf b[3] = { { BUF(q, 0), 2, false } };
	unsigned int n = 1;

	hdr[0] = cls;
	hdr[1] = cmd;
	*ack = 0xee;
	if (len) {
		memcpy(gpa(BUF(q, 1), len), data, len);
		b[n++] = (struct tbuf){ BUF(q, 1), len, false };
	}
	b[n++] = (struct tbuf){ BUF(q, 2), 1, true };
	t_add(q, b, n);
	t_kick(q);
	t_wait(q, 1, NULL, NULL);
	return *ack;
}

/* ---- tests ---- */

START_TEST(device_config)
{
	const struct virtio_net_config *c;

	t_open("tap=x", 0);
	c = (const struct virtio_net_config *)T.vdev.config;
	ck_assert(!memcmp(c->mac, MAC0, 6));
	ck_assert_uint_eq(le16toh(c->status), VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(le16toh(c->max_virtqueue_pairs), 1);
	ck_assert_uint_eq(T.nq, 3);
	ck_assert(T.vdev.host_features & F(VIRTIO_NET_F_MRG_RXBUF));
	ck_assert(T.vdev.host_features & F(VIRTIO_NET_F_CTRL_VQ));
	ck_assert(!(T.vdev.host_features & F(VIRTIO_NET_F_MQ)));
	ck_assert(!(T.vdev.host_features & F(VIRTIO_NET_F_MTU)));
	/* Every guest offload negotiated goes to the tap at DRIVER_OK. */
	ck_assert_uint_eq(FB.offload, NET_TUN_F_CSUM | NET_TUN_F_TSO4 | NET_TUN_F_TSO6 |
					      NET_TUN_F_TSO_ECN | NET_TUN_F_UFO);
	t_close();

	t_open("tap=x,queues=3,mtu=9000,mac=02:00:00:00:00:01", 0);
	c = (const struct virtio_net_config *)T.vdev.config;
	ck_assert_uint_eq(c->mac[0], 2);
	ck_assert_uint_eq(le16toh(c->max_virtqueue_pairs), 3);
	ck_assert_uint_eq(le16toh(c->mtu), 9000);
	ck_assert_uint_eq(T.nq, 7);
	ck_assert(T.vdev.host_features & F(VIRTIO_NET_F_MQ));
	ck_assert(T.vdev.host_features & F(VIRTIO_NET_F_MTU));
	/* One pair until VQ_PAIRS_SET. */
	ck_assert(!FB.queue_on[1] && !FB.queue_on[2]);
	t_close();
}
END_TEST

START_TEST(rx_one_buffer)
{
	static uint8_t f[3000];
	const uint8_t *b;
	uint32_t id, len;

	t_open("tap=x", F(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_NET_GUEST_OFFLOADS);
	t_post_rx(0, 0, 2, 2048);
	t_frame(f, 100, MAC0, 1);
	f[0] = VIRTIO_NET_HDR_F_DATA_VALID;
	t_send(0, f, 100);
	t_wait(0, 1, NULL, &len);
	ck_assert_uint_eq(len, 100);
	b = gpa(BUF(0, 0), 100);
	/* num_buffers is 1 without MRG_RXBUF; no GUEST_CSUM: flags cleared. */
	ck_assert_uint_eq(b[10] | b[11] << 8, 1);
	ck_assert_uint_eq(b[0], 0);
	ck_assert(!memcmp(b + 12, f + 12, 88));
	/* A frame larger than the chain is dropped, the chain kept (as QEMU). */
	t_send(0, f, t_frame(f, sizeof(f), MAC0, 2));
	t_quiet(0);
	ck_assert_uint_eq(t_stats().rx_frames, 1);
	ck_assert_uint_eq(t_stats().rx_dropped, 1);
	t_send(0, f, t_frame(f, 60, MAC0, 2));
	t_wait(0, 1, &id, &len);
	ck_assert_uint_eq(id, 1);
	ck_assert_uint_eq(len, 60);
	t_close();
}
END_TEST

START_TEST(rx_mergeable)
{
	static uint8_t f[3000], got[3000];
	uint32_t id[3], len[3];
	const uint8_t *b;
	size_t off = 0;

	t_open("tap=x", 0);
	t_post_rx(0, 0, 4, 1024);
	t_frame(f, sizeof(f), MAC0, 3);
	t_send(0, f, sizeof(f));
	t_wait(0, 3, id, len);
	for (unsigned int i = 0; i < 3; i++) {
		ck_assert_uint_eq(id[i], i);
		memcpy(got + off, gpa(BUF(0, i), len[i]), len[i]);
		off += len[i];
	}
	ck_assert_uint_eq(len[0], 1024);
	ck_assert_uint_eq(len[2], 3000 - 2048);
	b = got;
	ck_assert_uint_eq(b[10] | b[11] << 8, 3);
	ck_assert(!memcmp(got + 12, f + 12, sizeof(f) - 12));
	ck_assert_uint_eq(t_stats().rx_dropped, 0);
	t_close();
}
END_TEST

/*
 * No receive buffers: the device takes one frame and stops reading, so the
 * socket fills up behind it; then every frame arrives, in order, none lost.
 */
START_TEST(rx_back_pressure)
{
	static uint8_t f[1500];
	unsigned int sent = 0;
	uint32_t len;

	t_open("tap=x", 0);
	for (;;) {
		t_frame(f, sizeof(f), MAC0, 0);
		memcpy(f + 20, &sent, 4);
		if (send(FB.peer[0], f, sizeof(f), 0) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		sent++;
		ck_assert_uint_lt(sent, 100000);
	}
	ck_assert_uint_gt(sent, 4);
	usleep(50000);
	ck_assert_uint_eq(t_stats().rx_dropped, 0);
	for (unsigned int i = 0; i < sent; i++) {
		uint32_t seq;

		t_post_rx(0, i % 8, 1, 2048);
		t_wait(0, 1, NULL, &len);
		ck_assert_uint_eq(len, sizeof(f));
		memcpy(&seq, gpa(BUF(0, i % 8) + 20, 4), 4);
		ck_assert_uint_eq(seq, i);
	}
	ck_assert_uint_eq(t_stats().rx_dropped, 0);
	ck_assert_uint_eq(t_stats().rx_frames, sent);
	t_close();
}
END_TEST

START_TEST(tx_frames)
{
	struct tbuf b[2] = { { BUF(1, 0), 12, false }, { BUF(1, 1), 100, false } };
	uint8_t *h, *p, got[256];
	uint32_t len;

	t_open("tap=x", 0);
	h = gpa(BUF(1, 0), 12);
	p = gpa(BUF(1, 1), 100);
	memset(h, 0, 12);
	for (unsigned int i = 0; i < 100; i++)
		p[i] = (uint8_t)i;
	t_add(1, b, 2);
	t_kick(1);
	t_wait(1, 1, NULL, &len);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(recv(FB.peer[0], got, sizeof(got), 0), 112);
	ck_assert(!memcmp(got + 12, p, 100));
	ck_assert_uint_eq(t_stats().tx_frames, 1);

	/* A chain shorter than the header breaks the protocol. */
	b[0].len = 8;
	t_add(1, b, 1);
	t_kick(1);
	for (int i = 0; i < 500 && !(virtio_device_get_status(&T.vdev) &
				     VIRTIO_STATUS_NEEDS_RESET); i++)
		usleep(1000);
	ck_assert(virtio_device_get_status(&T.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	t_close();
}
END_TEST

/*
 * The tap has no room for a while (EAGAIN): the chain waits in hand and
 * goes out once the socket drains, and so does every chain after it. The
 * fuzz target virtio-net-data found the pair's loop never retrying it.
 */
START_TEST(tx_back_pressure)
{
	const unsigned int n = 24;
	int sndbuf = 4096;
	unsigned int got = 0;
	uint8_t buf[2048];

	t_open("tap=x", 0);
	ck_assert_int_eq(setsockopt(FB.be.fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)), 0);
	for (unsigned int i = 0; i < n; i++) {
		struct tbuf b = { BUF(1, i), 1500, false };
		uint8_t *p = gpa(BUF(1, i), 1500);

		memset(p, 0, NET_VNET_HDR_LEN);
		memset(p + NET_VNET_HDR_LEN, (int)i, 1500 - NET_VNET_HDR_LEN);
		t_add(1, &b, 1);
	}
	t_kick(1);
	usleep(50000);
	/* A few fit in the socket; the rest wait for room. */
	ck_assert_uint_lt(t_used_idx(1), n);
	for (int ms = 0; got < n;) {
		ssize_t r = recv(FB.peer[0], buf, sizeof(buf), MSG_DONTWAIT);

		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert_msg(++ms < 5000, "%u of %u frames sent", got, n);
			usleep(1000);
			continue;
		}
		ck_assert_int_eq(r, 1500);
		ck_assert_uint_eq(buf[100], got);
		got++;
	}
	t_wait(1, n, NULL, NULL);
	ck_assert_uint_eq(t_stats().tx_frames, n);
	ck_assert_uint_eq(t_stats().tx_errors, 0);
	t_close();
}
END_TEST

START_TEST(ctrl_filter)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0, 1, 2, 3 };
	uint8_t f[64], off = 0;
	struct virtio_net_filter flt;
	int efd;

	t_open("tap=x", 0);
	efd = virtio_net_filter_event_fd(&T.vdev);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
			  VIRTIO_NET_OK);
	ck_assert(efd_drain(efd));
	/* One event until queried (armed) again. */
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &off, 1),
			  VIRTIO_NET_OK);
	ck_assert(!efd_drain(efd));
	virtio_net_filter_event_arm(&T.vdev);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6),
			  VIRTIO_NET_OK);
	ck_assert(efd_drain(efd));
	virtio_net_get_filter(&T.vdev, &flt);
	ck_assert(!flt.promisc);
	ck_assert(!memcmp(flt.mac, other, 6));
	ck_assert(!memcmp(T.vdev.config, other, 6));
	/* A command the device does not know: ERR, and the device goes on. */
	ck_assert_uint_eq(t_ctrl(9, 9, NULL, 0), VIRTIO_NET_ERR);

	t_post_rx(0, 0, 4, 2048);
	t_send(0, f, t_frame(f, 64, MAC0, 0));
	t_send(0, f, t_frame(f, 64, other, 0));
	t_wait(0, 1, NULL, NULL);
	ck_assert(!memcmp(gpa(BUF(0, 0) + 12, 6), other, 6));
	t_quiet(0);
	ck_assert_uint_eq(t_stats().rx_dropped, 1);

	/* A command without an ack byte: NEEDS_RESET. */
	{
		struct tbuf b = { BUF(T.nq - 1, 0), 2, false };

		t_add(T.nq - 1, &b, 1);
		t_kick(T.nq - 1);
		for (int i = 0; i < 500 && !(virtio_device_get_status(&T.vdev) &
					     VIRTIO_STATUS_NEEDS_RESET); i++)
			usleep(1000);
		ck_assert(virtio_device_get_status(&T.vdev) & VIRTIO_STATUS_NEEDS_RESET);
	}
	t_close();
}
END_TEST

START_TEST(ctrl_pairs_and_offloads)
{
	uint16_t pairs = htole16(2);
	uint64_t o = 0;
	uint8_t f[64];

	t_open("tap=x,queues=2", 0);
	ck_assert(!FB.queue_on[1]);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
			  VIRTIO_NET_OK);
	ck_assert(FB.queue_on[1]);
	/* Pair 1: receive queue 2, from the second socket. */
	t_post_rx(2, 0, 1, 2048);
	t_send(1, f, t_frame(f, 64, MAC0, 5));
	t_wait(2, 1, NULL, NULL);
	pairs = htole16(1);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
			  VIRTIO_NET_OK);
	ck_assert(!FB.queue_on[1]);
	pairs = htole16(3);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
			  VIRTIO_NET_ERR);

	ck_assert_uint_ne(FB.offload, 0);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_GUEST_OFFLOADS,
				 VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &o, 8),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(FB.offload, 0);
	t_close();
}
END_TEST

START_TEST(link_down_up)
{
	uint8_t f[64];
	struct tbuf b = { BUF(1, 0), 64, false };
	unsigned int irqs;

	t_open("tap=x", 0);
	irqs = T.config_irqs;
	virtio_net_set_link(&T.vdev, false);
	ck_assert(!virtio_net_link_up(&T.vdev));
	ck_assert_uint_eq(le16toh(((struct virtio_net_config *)T.vdev.config)->status), 0);
	ck_assert_uint_eq(T.config_irqs, irqs + 1);
	/* Down: frames from the tap are dropped, frames to it go nowhere. */
	t_post_rx(0, 0, 2, 2048);
	t_send(0, f, t_frame(f, 64, MAC0, 0));
	memset(gpa(BUF(1, 0), 64), 0, 64);
	t_add(1, &b, 1);
	t_kick(1);
	t_wait(1, 1, NULL, NULL);
	t_quiet(0);
	ck_assert_int_lt(recv(FB.peer[0], f, sizeof(f), 0), 0);
	virtio_net_set_link(&T.vdev, true);
	ck_assert_uint_eq(le16toh(((struct virtio_net_config *)T.vdev.config)->status),
			  VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(T.config_irqs, irqs + 2);
	t_send(0, f, t_frame(f, 64, MAC0, 0));
	t_wait(0, 1, NULL, NULL);
	t_close();
}
END_TEST

/*
 * A frame waiting for a third buffer at quiesce: the two chains in hand
 * go back to the ring, the frame is dropped, the state saves and loads
 * (the queue loader wants everything popped used), and after resume the
 * same two chains take the next frame.
 */
START_TEST(quiesce_gives_chains_back)
{
	static uint8_t f[2500];
	struct state_writer w;
	struct state_reader r;
	uint8_t *bytes;
	size_t n;
	uint32_t id[2];
	GError *err = NULL;

	t_open("tap=x", 0);
	t_post_rx(0, 0, 2, 1024);
	t_send(0, f, t_frame(f, sizeof(f), MAC0, 0));
	usleep(50000);
	ck_assert_uint_eq(t_used_idx(0), 0);
	ck_assert_int_eq(virtio_device_hold(&T.vdev, VIRTIO_HOLD_VM, tern_now_ns() + 1000000000ULL), 0);
	ck_assert_uint_eq(t_stats().rx_dropped, 1);
	state_writer_init(&w);
	state_section_begin(&w, 1, "dev");
	virtio_device_save(&T.vdev, &w);
	state_section_end(&w);
	bytes = state_writer_finish(&w, &n);
	ck_assert(state_reader_init(&r, bytes, n, &err));
	ck_assert(state_section_open(&r, 1, 1, NULL, "dev"));
	virtio_device_reset(&T.vdev);
	ck_assert(virtio_device_load(&T.vdev, &r));
	ck_assert_msg(state_section_close(&r, &err), "%s", err ? err->message : "");
	state_reader_clear(&r);
	g_free(bytes);
	virtio_device_release(&T.vdev, VIRTIO_HOLD_VM);
	t_send(0, f, t_frame(f, 1500, MAC0, 0));
	t_wait(0, 2, id, NULL);
	ck_assert_uint_eq(id[0], 0);
	ck_assert_uint_eq(id[1], 1);
	t_close();
}
END_TEST

START_TEST(state_model_roundtrip)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0, 9, 9, 9 };
	uint8_t table[4 + 6 + 4 + 6] = { 1, 0, 0, 0, 0x52, 0x54, 0, 7, 7, 7,
					 1, 0, 0, 0, 0x01, 0, 0x5e, 0, 0, 1 };
	uint16_t pairs = htole16(2);
	struct virtio_net_filter a, b;
	struct state_writer w;
	struct state_reader r;
	uint8_t *bytes, off = 0;
	size_t n;
	GError *err = NULL;

	t_open("tap=x,queues=2", 0);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1), 0);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
				 table, sizeof(table)), 0);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6), 0);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2), 0);
	virtio_net_set_link(&T.vdev, false);
	ck_assert_int_eq(virtio_device_hold(&T.vdev, VIRTIO_HOLD_VM, tern_now_ns() + 1000000000ULL), 0);
	virtio_net_get_filter(&T.vdev, &a);
	state_writer_init(&w);
	virtio_net_ops.save(&T.vdev, "virtio-net.0", &w);
	bytes = state_writer_finish(&w, &n);

	/* Into the same device after a reset: everything comes back. */
	virtio_device_reset(&T.vdev);
	virtio_net_set_link(&T.vdev, true);
	ck_assert(state_reader_init(&r, bytes, n, &err));
	T.vdev.features = T.features;
	ck_assert_msg(virtio_net_ops.load(&T.vdev, "virtio-net.0", &r, &err), "%s",
		      err ? err->message : "");
	state_reader_clear(&r);
	virtio_net_get_filter(&T.vdev, &b);
	ck_assert(!memcmp(&a, &b, sizeof(a)));
	ck_assert(!virtio_net_link_up(&T.vdev));
	ck_assert(!memcmp(T.vdev.config, other, 6));

	/* A state that names more pairs than this NIC has is refused whole. */
	t_close();
	t_open("tap=x", 0);
	virtio_net_get_filter(&T.vdev, &a);
	ck_assert(state_reader_init(&r, bytes, n, &err));
	ck_assert(!virtio_net_ops.load(&T.vdev, "virtio-net.0", &r, &err));
	ck_assert_msg(strstr(err->message, "2 queue pairs in use, this NIC has 1"), "%s",
		      err->message);
	g_clear_error(&err);
	state_reader_clear(&r);
	virtio_net_get_filter(&T.vdev, &b);
	ck_assert(!memcmp(&a, &b, sizeof(a)));
	ck_assert(virtio_net_link_up(&T.vdev));
	g_free(bytes);
	t_close();
}
END_TEST

/*
 * A running NIC restored from a state announces itself (GUEST_ANNOUNCE):
 * the status gets ANNOUNCE with a config interrupt at activation, and the
 * driver's ANNOUNCE_ACK clears it.
 */
START_TEST(announce_after_restore)
{
	struct state_writer w;
	struct state_reader r;
	uint8_t *bytes;
	size_t n;
	unsigned int irqs;
	GError *err = NULL;

	t_open("tap=x", 0);
	ck_assert_int_eq(virtio_device_hold(&T.vdev, VIRTIO_HOLD_VM, tern_now_ns() + 1000000000ULL), 0);
	state_writer_init(&w);
	state_section_begin(&w, 1, "dev");
	virtio_device_save(&T.vdev, &w);
	state_section_end(&w);
	virtio_net_ops.save(&T.vdev, "dev", &w);
	bytes = state_writer_finish(&w, &n);
	virtio_device_reset(&T.vdev);
	ck_assert(state_reader_init(&r, bytes, n, &err));
	ck_assert(state_section_open(&r, 1, 1, NULL, "dev"));
	ck_assert(virtio_device_load(&T.vdev, &r));
	ck_assert(state_section_close(&r, &err));
	ck_assert_msg(virtio_net_ops.load(&T.vdev, "dev", &r, &err), "%s",
		      err ? err->message : "");
	state_reader_clear(&r);
	g_free(bytes);
	irqs = T.config_irqs;
	virtio_device_release(&T.vdev, VIRTIO_HOLD_VM);
	ck_assert_uint_eq(le16toh(((struct virtio_net_config *)T.vdev.config)->status),
			  VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	ck_assert_uint_eq(T.config_irqs, irqs + 1);
	ck_assert_uint_eq(t_ctrl(VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(le16toh(((struct virtio_net_config *)T.vdev.config)->status),
			  VIRTIO_NET_S_LINK_UP);
	t_close();
}
END_TEST

/* ---- vhost-net (a fake: these machines have no /dev/vhost-net) ---- */

struct dvfake {
	int open_ret;
	unsigned int backend_on, backend_off, get_base;
	int backend_fd;
};

static int dv_open(void *opaque)
{
	return ((struct dvfake *)opaque)->open_ret;
}

static int dv_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	struct dvfake *f = opaque;

	if (req == VHOST_GET_FEATURES)
		*(uint64_t *)arg = ~0ULL;
	if (req == VHOST_NET_SET_BACKEND) {
		const struct vhost_vring_file *v = arg;

		if (v->fd < 0)
			f->backend_off++;
		else
			f->backend_on++;
		if (v->fd >= 0)
			f->backend_fd = v->fd;
	}
	if (req == VHOST_GET_VRING_BASE) {
		((struct vhost_vring_state *)arg)->num = 0;
		f->get_base++;
	}
	return 0;
}

static void dv_close(void *opaque, int fd)
{
}

static const struct vhost_ioctl_ops dv_ops = { dv_open, dv_ioctl, dv_close };

START_TEST(vhost_on_missing_and_auto)
{
	struct dvfake f = { .open_ret = -ENOENT };
	struct net_config c;
	GError *err = NULL;

	ck_assert(net_config_parse("tap=x,vhost=on", &c, &err));
	ck_assert_ptr_null(virtio_net_new_vhost(NULL, 0, &c, fb_new(1), &dv_ops, &f, &err));
	ck_assert_int_eq(err->code, TERN_ERROR_INPUT);
	ck_assert_msg(strstr(err->message, "--net 'tap=x,vhost=on': vhost=on: cannot use /dev/vhost-net: this host has none"),
		      "%s", err->message);
	g_clear_error(&err);
	net_config_clear(&c);
	/* auto: created, on tern's own data path. */
	ck_assert(net_config_parse("tap=x,vhost=auto", &c, &err));
	virtio_net_free(virtio_net_new_vhost(NULL, 0, &c, fb_new(1), &dv_ops, &f, &err));
	ck_assert_ptr_null(err);
	net_config_clear(&c);
}
END_TEST

START_TEST(vhost_hand_over)
{
	struct dvfake f = { .open_ret = 42 };
	struct virtio_net_info info;
	GError *err = NULL;

	memset(&T, 0, sizeof(T));
	ck_assert(net_config_parse("tap=x,vhost=on", &T.cfg, &err));
	T.net = virtio_net_new_vhost(NULL, 0, &T.cfg, fb_new(1), &dv_ops, &f, &err);
	ck_assert_ptr_nonnull(T.net);
	ck_assert_int_eq(guest_memory_init(&T.mem, RAM_SIZE), 0);
	virtio_net_get_info(T.net, &info);
	T.nq = info.nr_queues;
	ck_assert_int_eq(virtio_device_init(&T.vdev, &T.mem, &virtio_net_ops, T.net,
					    VIRTIO_ID_NET, info.features, info.nr_queues,
					    QSIZE, info.config, info.config_size), 0);
	T.vdev.transport_ops = &t_transport;
	T.features = T.vdev.host_features & ~F(VIRTIO_F_RING_PACKED);
	t_driver_ok();
	/* Both data rings went to the kernel on the tap's fd. */
	ck_assert_uint_eq(f.backend_on, 2);
	ck_assert_int_eq(f.backend_fd, FB.be.fds[0]);
	ck_assert_int_eq(virtio_device_hold(&T.vdev, VIRTIO_HOLD_VM, tern_now_ns() + 1000000000ULL), 0);
	ck_assert_uint_eq(f.backend_off, 2);
	ck_assert_uint_eq(f.get_base, 2);
	virtio_device_release(&T.vdev, VIRTIO_HOLD_VM);
	ck_assert_uint_eq(f.backend_on, 4);
	virtio_device_reset(&T.vdev);
	ck_assert_uint_eq(f.backend_off, 4);

	/* A packed ring stays with tern: vhost-net has none. */
	T.features |= F(VIRTIO_F_RING_PACKED);
	t_driver_ok();
	ck_assert_uint_eq(f.backend_on, 4);
	t_close();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-net");

	UNIT_TCASE(s, "device", device_config, rx_one_buffer, rx_mergeable,
		   rx_back_pressure, tx_frames, tx_back_pressure, ctrl_filter,
		   ctrl_pairs_and_offloads, link_down_up);
	UNIT_TCASE(s, "state", quiesce_gives_chains_back, state_model_roundtrip,
		   announce_after_restore);
	UNIT_TCASE(s, "vhost-fake", vhost_on_missing_and_auto, vhost_hand_over);
	return unit_run(s);
}
