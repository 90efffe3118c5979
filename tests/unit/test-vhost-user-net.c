// SPDX-License-Identifier: MIT
/*
 * vhost-user-net: the features the guest is offered for one and several
 * queue pairs, the control commands tern answers (every malformed one
 * too), which rings the back-end is told to enable (at a start or
 * reconnect exactly the active pairs; when the driver changes the count,
 * VQ_PAIRS_SET, only the rings that change, each turned on with a kick),
 * and the pairs and address the state keeps. The rings belong to a virtio
 * device on plain memory; this test plays the back-end on a socketpair.
 * The --net vhost-user= option is test-vhost-user.c's.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/memory.h"
#include "tern/net.h"
#include "tern/state.h"
#include "tern/vhost-user-net.h"
#include "tern/vhost-user.h"
#include "tern/virtio-net.h"
#include "tern/virtio.h"
#include "unit.h"
#include "vhost-user-peer.h"

#define F(b) (1ULL << (b))

/* What the guest is offered from what the back-end offers. */
START_TEST(net_features)
{
	uint64_t local = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS);
	uint64_t ctrl = F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
			F(VIRTIO_NET_F_CTRL_MAC_ADDR);
	/* testpmd 22.11's net_vhost: MRG_RXBUF, CTRL_VQ, MQ, ANNOUNCE, ... */
	uint64_t dpdk = F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CTRL_VQ) |
			F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_GUEST_ANNOUNCE) |
			F(VIRTIO_F_VERSION_1) |
			F(VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t f;

	ck_assert_uint_eq(vhost_user_net_local_features(1), local);
	/* Nothing of the back-end's: still a MAC and a link status. */
	ck_assert_uint_eq(vhost_user_net_features(0, 1), local);
	/*
	 * One pair: no control queue, no MQ, no announcements, whatever the
	 * back-end says. The transport bits are the core's (masked in
	 * dev.c), not this.
	 */
	f = vhost_user_net_features(dpdk, 1);
	ck_assert_uint_eq(f, local | F(VIRTIO_NET_F_MRG_RXBUF));
	/* Offloads pass only when the back-end has them. */
	f = vhost_user_net_features(F(VIRTIO_NET_F_CSUM) |
					F(VIRTIO_NET_F_HOST_TSO4) |
					F(VIRTIO_NET_F_MTU),
				    1);
	ck_assert_uint_eq(f, local | F(VIRTIO_NET_F_CSUM) |
				 F(VIRTIO_NET_F_HOST_TSO4));
	/* MAC or STATUS from the back-end changes nothing. */
	ck_assert_uint_eq(vhost_user_net_features(local, 1), local);
	ck_assert_uint_eq(vhost_user_net_features(~0ULL, 1) & ~0xffffffULL, 0);

	/* Several pairs: tern's control queue, the back-end's MQ. */
	ck_assert_uint_eq(vhost_user_net_local_features(2), local | ctrl);
	f = vhost_user_net_features(dpdk, 2);
	ck_assert_uint_eq(f, local | ctrl | F(VIRTIO_NET_F_MRG_RXBUF) |
				 F(VIRTIO_NET_F_MQ));
	/* No MQ from the back-end, none for the guest (net.c then refuses). */
	f = vhost_user_net_features(dpdk & ~F(VIRTIO_NET_F_MQ), 4);
	ck_assert_uint_eq(f & F(VIRTIO_NET_F_MQ), 0);
	/* Announcements and offload switching would need the back-end. */
	f = vhost_user_net_features(~0ULL, 4);
	ck_assert_uint_eq(f & (F(VIRTIO_NET_F_GUEST_ANNOUNCE) |
			       F(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
			       F(VIRTIO_NET_F_CTRL_VLAN) | F(VIRTIO_NET_F_MTU)),
			  0);
}
END_TEST

/* ---- control commands ---- */

static const uint8_t MAC0[NET_MAC_LEN] = {0x52, 0x54, 0, 0xab, 0xcd, 1};

static void ctrl_init(struct virtio_net_ctrl_state *st, unsigned int max)
{
	memset(st, 0, sizeof(*st));
	virtio_net_filter_reset(&st->filter, MAC0);
	st->features = vhost_user_net_local_features(max) | F(VIRTIO_NET_F_MQ);
	st->max_pairs = max;
	st->pairs = 1;
}

/* Send class/cmd with data; the ack, st unchanged on ERR. */
static uint8_t ctrl(struct virtio_net_ctrl_state *st, uint8_t cls, uint8_t cmd,
		    const void *data, size_t len, unsigned int *effects)
{
	uint8_t buf[2048];
	struct virtio_net_ctrl_state before = *st;
	uint8_t ack;

	ck_assert_uint_le(len + 2, sizeof(buf));
	buf[0] = cls;
	buf[1] = cmd;
	if (len)
		memcpy(buf + 2, data, len);
	ack = vhost_user_net_ctrl(st, buf, len + 2, effects);
	if (ack != VIRTIO_NET_OK) {
		ck_assert(!memcmp(&before, st, sizeof(before)));
		ck_assert_uint_eq(*effects, 0);
	}
	return ack;
}

static uint8_t pairs_set(struct virtio_net_ctrl_state *st, uint16_t n,
			 unsigned int *effects)
{
	uint16_t le = htole16(n);

	return ctrl(st, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
		    &le, 2, effects);
}

START_TEST(ctrl_pairs)
{
	struct virtio_net_ctrl_state st;
	unsigned int eff;
	uint16_t two = htole16(2);

	ctrl_init(&st, 4);
	ck_assert_uint_eq(pairs_set(&st, 3, &eff), VIRTIO_NET_OK);
	ck_assert_uint_eq(eff, VIRTIO_NET_CTRL_PAIRS);
	ck_assert_uint_eq(st.pairs, 3);
	ck_assert_uint_eq(pairs_set(&st, 4, &eff), VIRTIO_NET_OK);
	ck_assert_uint_eq(pairs_set(&st, 1, &eff), VIRTIO_NET_OK);
	ck_assert_uint_eq(st.pairs, 1);
	/* Out of range: none, more than offered, the spec's maximum. */
	ck_assert_uint_eq(pairs_set(&st, 0, &eff), VIRTIO_NET_ERR);
	ck_assert_uint_eq(pairs_set(&st, 5, &eff), VIRTIO_NET_ERR);
	ck_assert_uint_eq(pairs_set(&st, 0x8000, &eff), VIRTIO_NET_ERR);
	ck_assert_uint_eq(pairs_set(&st, 0xffff, &eff), VIRTIO_NET_ERR);
	/* Short, long, an unknown command of the class. */
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MQ, 0, &two, 1, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MQ, 0, "\x02\0\0", 3, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MQ, 1, &two, 2, &eff),
			  VIRTIO_NET_ERR);
	/* A driver that did not take MQ cannot change pairs. */
	st.features &= ~F(VIRTIO_NET_F_MQ);
	ck_assert_uint_eq(pairs_set(&st, 2, &eff), VIRTIO_NET_ERR);
	ck_assert_uint_eq(st.pairs, 1);
}
END_TEST

START_TEST(ctrl_filter_and_malformed)
{
	struct virtio_net_ctrl_state st;
	static uint8_t big[1200];
	uint8_t mac1[NET_MAC_LEN] = {0x52, 0x54, 0, 1, 2, 3};
	uint8_t table[4 + 6 + 4] = {1, 0, 0, 0, 0x52, 0x54, 0, 9, 9, 9, 0};
	uint8_t off = 0, cmd1[1] = {VIRTIO_NET_CTRL_RX};
	uint64_t offl = htole64(F(VIRTIO_NET_F_GUEST_CSUM));
	unsigned int eff;

	ctrl_init(&st, 2);
	ck_assert(st.filter.promisc);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_RX,
			       VIRTIO_NET_CTRL_RX_PROMISC, &off, 1, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(eff, VIRTIO_NET_CTRL_FILTER);
	ck_assert(!st.filter.promisc);
	/* CTRL_RX_EXTRA's commands are not offered. */
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_RX,
			       VIRTIO_NET_CTRL_RX_NOBCAST, &off, 1, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MAC,
			       VIRTIO_NET_CTRL_MAC_ADDR_SET, mac1, 6, &eff),
			  VIRTIO_NET_OK);
	ck_assert(!memcmp(st.filter.mac, mac1, 6));
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MAC,
			       VIRTIO_NET_CTRL_MAC_ADDR_SET, mac1, 5, &eff),
			  VIRTIO_NET_ERR);
	/* One unicast, no multicast: exactly the bytes of two tables. */
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MAC,
			       VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 14, &eff),
			  VIRTIO_NET_OK);
	ck_assert_uint_eq(st.filter.nr_uni, 1);
	/* A count beyond the data, a table missing, bytes left over. */
	table[0] = 2;
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MAC,
			       VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 14, &eff),
			  VIRTIO_NET_ERR);
	table[0] = 1;
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MAC,
			       VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 10, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_MAC,
			       VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 13, &eff),
			  VIRTIO_NET_ERR);
	/* Not offered here: announcements, offloads, VLANs, unknown classes. */
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_ANNOUNCE,
			       VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
			       VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &offl, 8,
			       &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, VIRTIO_NET_CTRL_VLAN, 0, "\1\0", 2, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&st, 200, 0, NULL, 0, &eff), VIRTIO_NET_ERR);
	/* No command byte; longer than any command (a full MAC table +). */
	ck_assert_uint_eq(vhost_user_net_ctrl(&st, cmd1, 1, &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(vhost_user_net_ctrl(&st, cmd1, 0, &eff),
			  VIRTIO_NET_ERR);
	big[0] = VIRTIO_NET_CTRL_MQ;
	ck_assert_uint_eq(vhost_user_net_ctrl(&st, big, sizeof(big), &eff),
			  VIRTIO_NET_ERR);
	ck_assert_uint_eq(eff, 0);
}
END_TEST

/* ---- rings enabled in the back-end ---- */

#define NQ 4
#define QSIZE 16
#define RING(q) (0x10000ULL + 0x4000ULL * (q))

static struct {
	struct guest_memory mem;
	struct virtio_device vdev;
	struct vhost_user_dev d;
	int peer;
} R;

static int r_activate(struct virtio_device *vdev)
{
	return 0;
}

static void r_reset(struct virtio_device *vdev)
{
}

static const struct virtio_device_ops r_ops = {
    .name = "vhost-user-net-test",
    .activate = r_activate,
    .reset = r_reset,
};

static void r_notify(struct virtio_device *vdev, struct virtqueue *vq)
{
}

static void r_notify_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops r_transport = {
    .notify_queue = r_notify,
    .notify_config = r_notify_config,
};

/*
 * A driver that set up rings [0, started) of NQ and a back-end (the
 * socketpair) with protocol features and nothing else: no REPLY_ACK, so
 * no request waits for an answer.
 */
static void r_open(unsigned int started)
{
	uint64_t f = F(VIRTIO_F_VERSION_1);
	const uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	memset(&R, 0, sizeof(R));
	ck_assert_int_eq(guest_memory_init(&R.mem, 1 << 20), 0);
	ck_assert_int_eq(virtio_device_init(&R.vdev, &R.mem, &r_ops, NULL,
					    VIRTIO_ID_NET, f, NQ, QSIZE, NULL,
					    0),
			 0);
	R.vdev.transport_ops = &r_transport;
	virtio_device_set_status(&R.vdev, s);
	virtio_device_set_driver_features(&R.vdev, 0, (uint32_t)f);
	virtio_device_set_driver_features(&R.vdev, 1, (uint32_t)(f >> 32));
	virtio_device_set_status(&R.vdev, s | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < started; q++)
		*virtq_layout(R.vdev.queues[q]) = (struct virtq_layout){
		    .size = QSIZE,
		    .enabled = true,
		    .desc = RING(q),
		    .driver = RING(q) + 0x1000,
		    .device = RING(q) + 0x2000,
		};
	virtio_device_set_status(&R.vdev, s | VIRTIO_STATUS_FEATURES_OK |
					      VIRTIO_STATUS_DRIVER_OK);
	for (unsigned int q = 0; q < NQ; q++)
		ck_assert(virtq_started(R.vdev.queues[q]) == (q < started));

	conn_pair(&R.d.conn, &R.peer);
	R.d.conn.features = f | F(VHOST_USER_F_PROTOCOL_FEATURES);
	R.d.name = "vu-net-test";
	R.d.vdev = &R.vdev;
	R.d.nr_queues = R.d.max_queues = NQ;
	R.d.nr_enabled = NQ;
	R.d.rings_per_queue = 2;
	for (unsigned int q = 0; q < NQ; q++)
		R.d.call_fd[q] = R.d.err_fd[q] = -1;
}

static void r_close(void)
{
	vhost_user_conn_close(&R.d.conn);
	close(R.peer);
	virtio_device_cleanup(&R.vdev);
	guest_memory_destroy(&R.mem);
}

/* Was ring q kicked since the last look? */
static bool r_kicked(unsigned int q)
{
	uint64_t v;

	return read(virtq_kick_fd(R.vdev.queues[q]), &v, sizeof(v)) == 8;
}

static void r_drain_kicks(void)
{
	for (unsigned int q = 0; q < NQ; q++)
		(void)r_kicked(q);
}

/* The next message is SET_VRING_ENABLE ring on. */
static void r_expect_enable(uint32_t ring, uint32_t on)
{
	uint8_t p[64];

	ck_assert_uint_eq(peer_recv(R.peer, p, NULL, NULL),
			  VHOST_USER_SET_VRING_ENABLE);
	ck_assert_uint_eq(rd32(p), ring);
	ck_assert_uint_eq(rd32(p + 4), on);
}

/* Nothing more was sent. */
static void r_expect_quiet(void)
{
	char c;

	ck_assert_int_eq(recv(R.peer, &c, 1, MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
}

/*
 * Start (or a reconnect) with the first pair active: every started ring
 * is set up, the active ones enabled and the others disabled, each after
 * its kick fd, and every started ring is kicked once.
 */
START_TEST(rings_start_enables_active_pairs)
{
	const char *what = NULL;
	unsigned int enables = 0;

	r_open(NQ);
	R.d.nr_enabled = 2;
	r_drain_kicks();
	ck_assert_int_eq(vhost_user_dev_rings_start(&R.d, &what), 0);
	ck_assert(R.d.running);
	ck_assert_uint_eq(peer_recv(R.peer, NULL, NULL, NULL),
			  VHOST_USER_SET_FEATURES);
	for (unsigned int q = 0; q < NQ; q++) {
		bool kick_seen = false;

		for (;;) {
			uint8_t p[64];
			int fd;
			uint32_t req = peer_recv(R.peer, p, NULL, &fd);

			if (fd >= 0)
				close(fd);
			if (req == VHOST_USER_SET_VRING_KICK)
				kick_seen = true;
			if (req != VHOST_USER_SET_VRING_ENABLE)
				continue;
			ck_assert(kick_seen);
			ck_assert_uint_eq(rd32(p), q);
			ck_assert_uint_eq(rd32(p + 4), q < 2);
			enables++;
			break;
		}
	}
	ck_assert_uint_eq(enables, NQ);
	r_expect_quiet();
	for (unsigned int q = 0; q < NQ; q++)
		ck_assert(r_kicked(q));
	r_close();
}
END_TEST

/* VQ_PAIRS_SET while the back-end runs: only the rings that change. */
START_TEST(enable_changes_only)
{
	r_open(NQ);
	R.d.running = true;
	R.d.nr_enabled = 2;
	r_drain_kicks();

	vhost_user_dev_enable(&R.d, 4);
	r_expect_enable(2, 1);
	r_expect_enable(3, 1);
	r_expect_quiet();
	ck_assert_uint_eq(R.d.nr_enabled, 4);
	/* The rings turned on are kicked: buffers may wait there. */
	ck_assert(!r_kicked(0) && !r_kicked(1));
	ck_assert(r_kicked(2) && r_kicked(3));

	vhost_user_dev_enable(&R.d, 4);
	r_expect_quiet();
	vhost_user_dev_enable(&R.d, 2);
	r_expect_enable(2, 0);
	r_expect_enable(3, 0);
	r_expect_quiet();
	ck_assert(!r_kicked(2) && !r_kicked(3));
	/* More than there are: all of them. */
	vhost_user_dev_enable(&R.d, 100);
	ck_assert_uint_eq(R.d.nr_enabled, NQ);
	r_expect_enable(2, 1);
	r_expect_enable(3, 1);
	r_expect_quiet();
	r_close();
}
END_TEST

/*
 * Disconnected (or not started): nothing is sent, the count is kept for
 * the next start; a ring the driver never set up is never mentioned; a
 * back-end without protocol features has no enable at all.
 */
START_TEST(enable_recorded_when_not_running)
{
	const char *what;

	r_open(3);
	R.d.nr_enabled = 2;
	vhost_user_dev_enable(&R.d, 4);
	r_expect_quiet();
	ck_assert_uint_eq(R.d.nr_enabled, 4);
	vhost_user_dev_enable(&R.d, 2);
	r_expect_quiet();

	R.d.running = true;
	vhost_user_dev_enable(&R.d, 4);
	r_expect_enable(2, 1); /* ring 3 is not set up */
	r_expect_quiet();

	R.d.conn.features &= ~F(VHOST_USER_F_PROTOCOL_FEATURES);
	vhost_user_dev_enable(&R.d, 2);
	r_expect_quiet();
	ck_assert_uint_eq(R.d.nr_enabled, 2);
	/* ... and its rings start without SET_VRING_ENABLE. */
	R.d.running = false;
	ck_assert_int_eq(vhost_user_dev_rings_start(&R.d, &what), 0);
	for (;;) {
		char c;
		int fd;

		if (recv(R.peer, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0)
			break;
		ck_assert_uint_ne(peer_recv(R.peer, NULL, NULL, &fd),
				  VHOST_USER_SET_VRING_ENABLE);
		if (fd >= 0)
			close(fd);
	}
	r_close();
}
END_TEST

/*
 * A driver without MQ: rings 0 and 1 only go to the back-end, though ring
 * 2 (its control queue) is started; enabling more than that is clamped.
 */
START_TEST(set_rings_hands_over_first_pair)
{
	const char *what = NULL;
	unsigned int rings = 0;

	r_open(3);
	vhost_user_dev_set_rings(&R.d, 2);
	ck_assert_uint_eq(R.d.nr_enabled, 2);
	vhost_user_dev_enable(&R.d, 4);
	ck_assert_uint_eq(R.d.nr_enabled, 2);
	ck_assert_int_eq(vhost_user_dev_rings_start(&R.d, &what), 0);
	for (;;) {
		uint8_t p[64];
		char c;
		int fd;
		uint32_t req;

		if (recv(R.peer, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0)
			break;
		req = peer_recv(R.peer, p, NULL, &fd);
		if (fd >= 0)
			close(fd);
		if (req == VHOST_USER_SET_VRING_NUM) {
			ck_assert_uint_lt(rd32(p), 2);
			rings++;
		}
	}
	ck_assert_uint_eq(rings, 2);
	r_close();
}
END_TEST

/* ---- state ---- */

/* A container holding a "vu/model" section of pairs and, if mac, an address. */

/*
 * GET_VRING_BASE's base is where a ring resumes, unless the used ring is
 * past it: libvhost-user reads its base before it stops the ring, and
 * what it took in between is used already (vhost_user_resume_index()).
 */
START_TEST(resume_index)
{
	ck_assert_uint_eq(vhost_user_resume_index(7, 7, QSIZE), 7);
	ck_assert_uint_eq(vhost_user_resume_index(7, 8, QSIZE), 8);
	ck_assert_uint_eq(vhost_user_resume_index(7, 7 + QSIZE, QSIZE),
			  7 + QSIZE);
	/* Taken and not yet used: the back-end holds them, base stands. */
	ck_assert_uint_eq(vhost_user_resume_index(7, 5, QSIZE), 7);
	/* Across the 16-bit wrap. */
	ck_assert_uint_eq(vhost_user_resume_index(0xfffe, 1, QSIZE), 1);
	ck_assert_uint_eq(vhost_user_resume_index(1, 0xfffe, QSIZE), 1);
	/* More than a ring ahead is nonsense from the driver's memory. */
	ck_assert_uint_eq(vhost_user_resume_index(7, 8 + QSIZE, QSIZE), 7);
}
END_TEST

/* The back-end answers GET_VRING_BASE for ring 0 with base. */
static void r_stop_with_base(uint16_t used, uint32_t base)
{
	const struct virtq_layout *l = virtq_layout(R.vdev.queues[0]);
	uint16_t *idx = guest_memory_ptr(&R.mem, l->device + 2, 2);
	uint32_t state[2] = {0, base};
	uint8_t p[64];

	*idx = htole16(used);
	R.d.running = true;
	peer_send(R.peer, VHOST_USER_GET_VRING_BASE, RF, state, sizeof(state),
		  -1);
	vhost_user_dev_stop(&R.d, false);
	ck_assert_uint_eq(peer_recv(R.peer, p, NULL, NULL),
			  VHOST_USER_GET_VRING_BASE);
	ck_assert_uint_eq(rd32(p), 0);
	r_expect_quiet();
}

/*
 * Stopping a ring whose back-end took and completed two requests after
 * it read its base: the queue resumes after them, so a restart does not
 * hand them over again (virtiofsd answered a LOOKUP twice, and the guest
 * took the second answer for its next request).
 */
START_TEST(stop_resumes_past_used)
{
	r_open(1);
	r_stop_with_base(5, 3);
	ck_assert_uint_eq(virtq_split_last_avail(R.vdev.queues[0]), 5);
	ck_assert(!R.d.running);
	/* A back-end still holding requests: its base stands. */
	r_stop_with_base(5, 9);
	ck_assert_uint_eq(virtq_split_last_avail(R.vdev.queues[0]), 9);
	r_close();
}
END_TEST

/* Every message the front-end sent so far, their fds closed; the count. */
static unsigned int r_drain(uint32_t want, unsigned int *seen)
{
	unsigned int n = 0;
	char c;

	while (recv(R.peer, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		int fd;

		if (peer_recv(R.peer, NULL, NULL, &fd) == want)
			(*seen)++;
		if (fd >= 0)
			close(fd);
		n++;
	}
	return n;
}

/*
 * The back-end's inflight buffer is handed on, never touched by tern:
 * this back-end's is a 4 KiB file that says it is 1 MiB, so a mapping of
 * it faults (SIGBUS) past 4 KiB, and clearing it on a device reset killed
 * the VMM. A reset now drops it, and the next start asks for a new one.
 */
START_TEST(reset_drops_inflight_untouched)
{
	uint8_t in[24] = {0};
	uint32_t state[2] = {0, 0};
	const char *what = NULL;
	unsigned int asked = 0, given = 0;
	struct stat a, b;
	int file;

	r_open(1);
	R.d.inflight_fd = -1;
	R.d.conn.protocol = F(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
	file = memfd_create("inflight", MFD_CLOEXEC);
	ck_assert_int_ge(file, 0);
	ck_assert_int_eq(ftruncate(file, 4096), 0);
	memcpy(in, &(uint64_t){1 << 20}, 8);

	peer_send(R.peer, VHOST_USER_GET_INFLIGHT_FD, RF, in, sizeof(in), file);
	ck_assert_int_eq(vhost_user_dev_rings_start(&R.d, &what), 0);
	ck_assert_int_ge(R.d.inflight_fd, 0);
	ck_assert_int_eq(fstat(file, &a), 0);
	ck_assert_int_eq(fstat(R.d.inflight_fd, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	ck_assert_uint_eq(R.d.inflight.mmap_size, 1 << 20);
	ck_assert_uint_gt(r_drain(VHOST_USER_GET_INFLIGHT_FD, &asked), 0);
	ck_assert_uint_eq(asked, 1);

	/* The driver resets the device: no SIGBUS, the buffer dropped. */
	peer_send(R.peer, VHOST_USER_GET_VRING_BASE, RF, state, sizeof(state),
		  -1);
	vhost_user_dev_stop(&R.d, true);
	ck_assert_int_eq(R.d.inflight_fd, -1);
	r_drain(VHOST_USER_GET_VRING_BASE, &given);
	ck_assert_uint_eq(given, 1);

	/* The next start: a new buffer, asked for. */
	asked = 0;
	peer_send(R.peer, VHOST_USER_GET_INFLIGHT_FD, RF, in, sizeof(in), file);
	ck_assert_int_eq(vhost_user_dev_rings_start(&R.d, &what), 0);
	ck_assert_int_ge(R.d.inflight_fd, 0);
	r_drain(VHOST_USER_GET_INFLIGHT_FD, &asked);
	ck_assert_uint_eq(asked, 1);

	close(R.d.inflight_fd);
	close(file);
	r_close();
}
END_TEST

static uint8_t *state_of(uint32_t pairs, const uint8_t *mac, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	if (mac) {
		vhost_user_net_state_put(&w, "vu", pairs, mac);
	} else {
		state_section_begin(&w, 1, "vu/model");
		state_put_u32(&w, pairs);
		state_section_end(&w);
	}
	return state_writer_finish(&w, len);
}

/* Load it: NULL or the error (freed by the caller); *pairs, mac on success. */
static char *state_load(const uint8_t *buf, size_t len, unsigned int max,
			bool mq, unsigned int *pairs, uint8_t *mac)
{
	struct state_reader r;
	GError *err = NULL;
	char *msg = NULL;

	ck_assert(state_reader_init(&r, buf, len, NULL));
	if (!vhost_user_net_state_get(&r, "vu", max, mq, pairs, mac, &err)) {
		msg = g_strdup(err->message);
		g_error_free(err);
	}
	state_reader_clear(&r);
	return msg;
}

START_TEST(state_round_trip_and_bad)
{
	const uint8_t mac1[NET_MAC_LEN] = {0x52, 0x54, 0, 1, 2, 3};
	uint8_t mac[NET_MAC_LEN] = {0};
	unsigned int pairs = 99;
	g_autofree uint8_t *ok = NULL, *zero = NULL, *many = NULL,
			   *short_ = NULL;
	size_t len;
	char *msg;

	ok = state_of(3, mac1, &len);
	ck_assert_ptr_null(state_load(ok, len, 4, true, &pairs, mac));
	ck_assert_uint_eq(pairs, 3);
	ck_assert(!memcmp(mac, mac1, NET_MAC_LEN));
	/* Three pairs into a NIC of two, or a driver without MQ. */
	pairs = 99;
	msg = state_load(ok, len, 2, true, &pairs, mac);
	ck_assert_msg(msg &&
			  strstr(msg, "3 queue pairs in use, this NIC has 2"),
		      "%s", msg);
	g_free(msg);
	msg = state_load(ok, len, 4, false, &pairs, mac);
	ck_assert_msg(msg && strstr(msg, "without VIRTIO_NET_F_MQ"), "%s", msg);
	g_free(msg);
	ck_assert_uint_eq(pairs, 99);
	/* One pair needs no MQ; none is never right. */
	zero = state_of(0, mac1, &len);
	msg = state_load(zero, len, 4, true, &pairs, mac);
	ck_assert_msg(msg && strstr(msg, "0 queue pairs"), "%s", msg);
	g_free(msg);
	many = state_of(1, mac1, &len);
	ck_assert_ptr_null(state_load(many, len, 1, false, &pairs, mac));
	ck_assert_uint_eq(pairs, 1);
	/* A section that ends before the address. */
	pairs = 99;
	short_ = state_of(2, NULL, &len);
	msg = state_load(short_, len, 4, true, &pairs, mac);
	ck_assert_ptr_nonnull(msg);
	g_free(msg);
	ck_assert_uint_eq(pairs, 99);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhost-user-net");

	UNIT_TCASE(s, "features", net_features);
	UNIT_TCASE(s, "ctrl", ctrl_pairs, ctrl_filter_and_malformed);
	UNIT_TCASE(s, "enable", rings_start_enables_active_pairs,
		   enable_changes_only, enable_recorded_when_not_running,
		   set_rings_hands_over_first_pair);
	UNIT_TCASE(s, "stop", resume_index, stop_resumes_past_used,
		   reset_drops_inflight_untouched);
	UNIT_TCASE(s, "state", state_round_trip_and_bad);
	return unit_run(s);
}
