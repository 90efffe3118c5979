// SPDX-License-Identifier: MIT
/*
 * net-echo: frames out through virtio-net and back from a MAC-swapping
 * peer (testpmd --forward-mode=macswap on a vhost-user back-end), each
 * checked byte for byte: the destination is our MAC, the source is the
 * address we sent to, and the rest is the frame we sent. Reports
 *
 *   ECHO frames=N good=G late=L lost=X bad=B ns=T stall_ms=S pps=P
 *   PAIR p good=G after_up=A           (pairs=N, one line per pair)
 *
 * then RESULT: PASS|FAIL. Options (kernel command line):
 *   frames=N   echoes to get (1000, at most 16777216)
 *   size=N     frame bytes, 64..1514 (128)
 *   window=N   frames in flight (32, at most the ring size)
 *   pairs=N    use N queue pairs (1; VIRTIO_NET_F_MQ, at most 4): the
 *              driver checks that VQ_PAIRS_SET refuses 0 and more than
 *              the device has, sets N, and sends frame k on pair
 *              k mod N; each echo must come back on the pair its frame
 *              went out on, and every pair must carry echoes
 *   link=1     the peer goes away and comes back meanwhile: the link
 *              must go down and up again, frames may be lost while it is
 *              down, and `frames` echoes must come after it is back up
 *   timeout=S  for the whole run (60)
 *
 * Without link=1 every frame must come back exactly once. Frames are
 * numbered; one that comes back after it was given up (the peer returned
 * it from a ring that survived a reconnect) counts as late, not bad.
 * Ring 0 only opens the device; the loop runs in ring 3 and polls.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio-net.h"

#define MAX_FRAMES (1u << 24)
/* Which numbers came back, by number modulo this (in flight ≤ 256). */
#define SEEN_SLOTS 4096
#define FRAME_MAX 1514
#define ETH_HDR 14
/*
 * No echo for this long: what is in flight is lost. While the link is
 * down that is soon; otherwise a stall is not a loss (a loaded 2-core host
 * here stalls both frontends for more than 300 ms now and then).
 */
#define LOSS_LINK_NS 300000000ull
#define LOSS_NS 10000000000ull
#define LINK_EVERY 4096

static const uint8_t peer[6] = {0x02, 0x00, 0x00, 0x00, 0xec, 0x40};

static struct {
	struct net_dev dev;
	uint32_t size, window, target, pool, pairs;
	bool link_mode;
	uint64_t timeout_ns;
	uint8_t *tx_bufs; /* pool slots of NET_HDR_LEN + FRAME_MAX */
	uint8_t rx[FRAME_MAX + 64];
	uint32_t seen[SEEN_SLOTS]; /* number + 1 of the last echo in the slot */
} E;

struct result {
	uint32_t sent, good, late, lost, bad, after_up;
	uint32_t pair_good[NET_MAX_PAIRS], pair_after_up[NET_MAX_PAIRS];
	bool went_down, came_up;
	uint64_t ns, stall_ns; /* the longest wait with frames in flight */
};

static uint8_t pattern(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 7 + i * 13 + (i >> 8));
}

/* Frame seq: to the peer, from us, EtherType 0x88b5, seq, pattern. */
static void frame_build(uint8_t *f, uint32_t seq)
{
	memcpy(f, peer, 6);
	memcpy(f + 6, E.dev.mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + ETH_HDR, &seq, 4);
	for (uint32_t i = ETH_HDR + 4; i < E.size; i++)
		f[i] = pattern(seq, i);
}

/*
 * An echo: MACs swapped and the rest as sent. Returns its number, or -1
 * (counted bad) for anything else.
 */
static long frame_check(const uint8_t *f, long len, uint32_t sent)
{
	uint32_t seq;

	if (len != (long)E.size || memcmp(f, E.dev.mac, 6) ||
	    memcmp(f + 6, peer, 6) || f[12] != 0x88 || f[13] != 0xb5)
		return -1;
	memcpy(&seq, f + ETH_HDR, 4);
	if (seq >= sent)
		return -1;
	for (uint32_t i = ETH_HDR + 4; i < E.size; i++)
		if (f[i] != pattern(seq, i))
			return -1;
	return seq;
}

static void report_bad(struct result *r, const uint8_t *f, long len)
{
	if (r->bad++ < 3)
		con_printf(
		    "net-echo: bad frame of %ld bytes: dst %02x:%02x:%02x "
		    "src ..:%02x:%02x type %02x%02x\n",
		    len, f[0], f[1], f[2], f[10], f[11], f[12], f[13]);
}

/*
 * Several pairs: the device must offer them and a control queue, refuse
 * 0 and more than it has, and take pairs= (5.1.6.5.5).
 */
static void pairs_set(void)
{
	uint16_t max = 1, n;

	if (E.dev.max_pairs < E.pairs || !E.dev.has_ctrl)
		result_fail("pairs=%u: the device has %u pair(s)%s", E.pairs,
			    E.dev.max_pairs,
			    E.dev.has_ctrl ? "" : " and no control queue");
	max = virtio_cfg_read16(&E.dev.vp, VIRTIO_NET_CFG_MAX_PAIRS);
	n = 0;
	if (net_ctrl(&E.dev, VIRTIO_NET_CTRL_MQ,
		     VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &n, 2) != VIRTIO_NET_ERR)
		result_fail("VQ_PAIRS_SET 0 was not refused");
	n = (uint16_t)(max + 1);
	if (net_ctrl(&E.dev, VIRTIO_NET_CTRL_MQ,
		     VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &n, 2) != VIRTIO_NET_ERR)
		result_fail("VQ_PAIRS_SET %u (of %u) was not refused", n, max);
	n = (uint16_t)E.pairs;
	if (net_ctrl(&E.dev, VIRTIO_NET_CTRL_MQ,
		     VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &n, 2) != VIRTIO_NET_OK)
		result_fail("VQ_PAIRS_SET %u refused", n);
	E.dev.pairs = E.pairs;
	con_printf("net-echo: %u queue pairs of %u\n", E.pairs, max);
}

static bool link_poll(struct result *r, bool *up)
{
	bool now = net_link_up(&E.dev);

	if (now != *up) {
		con_printf("net-echo: link %s after %u echoes\n",
			   now ? "up" : "down", r->good);
		if (!now)
			r->went_down = true;
		else if (r->went_down)
			r->came_up = true;
		*up = now;
	}
	return now;
}

static bool done(const struct result *r)
{
	if (!E.link_mode)
		return r->good + r->lost >= E.target;
	return r->came_up && r->after_up >= E.target;
}

/* Take pair q's echoes; true if anything came. */
static bool rx_pair(struct result *r, uint32_t q, uint32_t given_up,
		    uint32_t *in_flight)
{
	bool any = false;
	long len;

	while ((len = net_rx(&E.dev, q, E.rx, sizeof(E.rx), NULL)) != 0) {
		long seq = len < 0 ? -1 : frame_check(E.rx, len, r->sent);

		any = true;
		/* macswap answers on the queue a frame came in on. */
		if (seq < 0 || (uint32_t)seq % E.pairs != q) {
			report_bad(r, E.rx, len);
			continue;
		}
		/* Given up on (and maybe resent by a new back-end). */
		if ((uint32_t)seq < given_up) {
			r->late++;
			continue;
		}
		if (E.seen[seq % SEEN_SLOTS] == (uint32_t)seq + 1) {
			report_bad(r, E.rx, len); /* twice */
			continue;
		}
		E.seen[seq % SEEN_SLOTS] = (uint32_t)seq + 1;
		r->good++;
		r->pair_good[q]++;
		(*in_flight)--;
		if (r->came_up) {
			r->after_up++;
			r->pair_after_up[q]++;
		}
	}
	return any;
}

static long echo_user(void *arg)
{
	struct result *r = arg;
	uint64_t t0 = clock_ns(), deadline = t0 + E.timeout_ns;
	uint64_t last = t0;
	uint32_t given_up = 0; /* frames below this were counted lost */
	uint32_t in_flight = 0;
	unsigned long spins = 0;
	bool up = true;

	con_printf("net-echo: streaming\n");
	while (!done(r)) {
		bool added = false, progress = false;
		uint32_t kick = 0; /* pairs with frames to kick, a bit each */

		for (uint32_t q = 0; q < E.pairs; q++)
			(void)net_tx_reap(&E.dev, q);
		/* Frame k on pair k mod pairs. */
		while (up && in_flight < E.window &&
		       virtq_room(&E.dev.tx[r->sent % E.pairs]) > 0 &&
		       (E.link_mode || r->sent < E.target)) {
			uint32_t q = r->sent % E.pairs;
			uint8_t *b = E.tx_bufs + (size_t)(r->sent % E.pool) *
						     (NET_HDR_LEN + FRAME_MAX);

			memset(b, 0, NET_HDR_LEN);
			frame_build(b + NET_HDR_LEN, r->sent);
			if (net_tx_nokick(&E.dev, q, b, NET_HDR_LEN + E.size) <
			    0)
				break;
			r->sent++;
			in_flight++;
			added = true;
			kick |= 1u << q;
		}
		for (uint32_t q = 0; q < E.pairs; q++)
			if (kick & (1u << q))
				net_tx_kick(&E.dev, q);
		for (uint32_t q = 0; q < E.pairs; q++)
			if (rx_pair(r, q, given_up, &in_flight))
				progress = true;
		if (progress) {
			uint64_t now = clock_ns();

			if (in_flight && now - last > r->stall_ns)
				r->stall_ns = now - last;
			last = now;
		}
		if (++spins % LINK_EVERY == 0 || (!progress && !added)) {
			uint64_t now = clock_ns();

			if (now > deadline)
				result_fail("time-out after %lu s: %u sent, %u "
					    "echoed, %u lost, link %s",
					    (unsigned long)(E.timeout_ns /
							    1000000000ull),
					    r->sent, r->good, r->lost,
					    up ? "up" : "down");
			if (in_flight &&
			    now - last >
				(E.link_mode ? LOSS_LINK_NS : LOSS_NS)) {
				r->lost += in_flight;
				in_flight = 0;
				given_up = r->sent;
				last = now;
			}
			if (E.link_mode && spins % LINK_EVERY == 0)
				link_poll(r, &up);
		}
		if (!progress && !added)
			cpu_relax();
	}
	r->ns = clock_ns() - t0;
	return 0;
}

int guest_main(void)
{
	struct net_opts o = {0};
	struct result r = {0};
	const char *why = "";

	if (!clock_init())
		con_printf("net-echo: no kvmclock; timing with %s\n",
			   clock_source());
	E.target = (uint32_t)cmdline_uint_or("frames", MAX_FRAMES, 1000);
	E.size = (uint32_t)cmdline_uint_or("size", FRAME_MAX, 128);
	E.window = (uint32_t)cmdline_uint_or("window", 256, 32);
	E.link_mode = cmdline_uint_or("link", 1, 0);
	E.pairs = (uint32_t)cmdline_uint_or("pairs", NET_MAX_PAIRS, 1);
	E.timeout_ns = cmdline_uint_or("timeout", 3600, 60) * 1000000000ull;
	if (E.size < 64 || E.target == 0 || E.window == 0 || E.pairs == 0)
		result_fail("size=%u (64 or more) frames=%u window=%u pairs=%u "
			    "(1 or more)",
			    E.size, E.target, E.window, E.pairs);
	o.max_pairs = E.pairs;
	o.mrg = true;
	if (net_open(&E.dev, &o, &why) < 0)
		result_fail("virtio-net: %s", why);
	if (E.link_mode && !E.dev.status)
		result_fail("link=1 needs VIRTIO_NET_F_STATUS");
	/* What the device offers but this guest does not use. */
	con_printf("net-echo: packed ring offered: %s\n",
		   (E.dev.vp.offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED))
		       ? "yes"
		       : "no");
	/* A control queue (the device's choice) must answer where it is. */
	if (E.dev.has_ctrl) {
		uint8_t on = 1;

		if (net_ctrl(&E.dev, VIRTIO_NET_CTRL_RX,
			     VIRTIO_NET_CTRL_RX_PROMISC, &on,
			     1) != VIRTIO_NET_OK)
			result_fail("CTRL_RX PROMISC refused");
		con_printf("net-echo: control queue answers\n");
	}
	if (E.pairs > 1)
		pairs_set();
	if (E.window > E.dev.tx[0].size)
		E.window = E.dev.tx[0].size;
	/* A buffer is not reused while the device may still read it. */
	E.pool = 2u * E.dev.tx[0].size;
	E.tx_bufs = dma_alloc((size_t)E.pool * (NET_HDR_LEN + FRAME_MAX), 64);
	if (!E.tx_bufs)
		result_fail("out of memory");
	con_printf(
	    "net-echo: mac %02x:%02x:%02x:%02x:%02x:%02x, %u-byte frames, "
	    "window %u, %s, link %s\n",
	    E.dev.mac[0], E.dev.mac[1], E.dev.mac[2], E.dev.mac[3],
	    E.dev.mac[4], E.dev.mac[5], E.size, E.window,
	    E.dev.mrg ? "mergeable buffers" : "no MRG_RXBUF",
	    net_link_up(&E.dev) ? "up" : "down");
	user_call(echo_user, &r);
	if (r.ns == 0)
		r.ns = 1;
	con_printf("ECHO frames=%u good=%u late=%u lost=%u bad=%u ns=%lu "
		   "stall_ms=%lu pps=%lu\n",
		   r.sent, r.good, r.late, r.lost, r.bad, (unsigned long)r.ns,
		   (unsigned long)(r.stall_ns / 1000000),
		   (unsigned long)((uint64_t)r.good * 1000000000ull / r.ns));
	for (uint32_t q = 0; E.pairs > 1 && q < E.pairs; q++)
		con_printf("PAIR %u good=%u after_up=%u\n", q, r.pair_good[q],
			   r.pair_after_up[q]);
	if (r.bad)
		result_fail("%u frames came back wrong", r.bad);
	for (uint32_t q = 0; q < E.pairs; q++)
		if (!r.pair_good[q] || (E.link_mode && !r.pair_after_up[q]))
			result_fail("no echo on queue pair %u%s", q,
				    E.link_mode ? " after the link came up"
						: "");
	if (E.link_mode)
		con_printf("net-echo: link went down %s, came up %s, %u echoes "
			   "after\n",
			   r.went_down ? "yes" : "no", r.came_up ? "yes" : "no",
			   r.after_up);
	else if (r.lost)
		result_fail("%u of %u frames lost", r.lost, r.sent);
	result_pass();
}
