// SPDX-License-Identifier: MIT
/*
 * virtio-net's data path (net-io.c) between a hostile driver's rings and
 * the tap: the real receive and transmit code, run pass by pass through
 * net_pair_pass() (the pair's loop is made of these passes) on one queue
 * pair whose back-end fd is one end of a SOCK_SEQPACKET socket pair (one
 * read is one frame, as on a tap). The fuzzer is the driver (it publishes
 * receive and transmit chains on split or packed rings, with or without
 * MRG_RXBUF, through net-data-driver.c) and the host (it sends frames of 0 to VIRTIO_NET_MAX_BUFFER
 * bytes and reads what the guest sent). After each pass:
 *
 *   - guest RAM changed only in the rings' device areas and in the first
 *     used-length bytes of the writable buffers of receive chains the
 *     device returned (compared byte by byte with a copy the driver writes
 *     too and that the checks bring up to date after each pass);
 *   - receive chains come back as whole frames: num_buffers says how many
 *     chains follow (1 without MRG_RXBUF), every chain but the last is
 *     full, the last holds at least a byte, the used lengths add up to
 *     the frame, and the bytes are the frame sent (header flags cleared
 *     without GUEST_CSUM), in the order sent, none twice; a frame skipped
 *     was counted as dropped;
 *   - transmit chains come back with used length 0, and each frame reaches
 *     the socket byte for byte, in order (one over the socket's message
 *     limit is refused and counted as an error, as a tap refuses one);
 *   - the pair stops (NEEDS_RESET) only when the driver published a
 *     malformed chain (a zero-length buffer, readable after writable, a
 *     receive chain without writable buffers, a transmit chain shorter
 *     than the virtio-net header), and once stopped no pass changes a byte
 *     of RAM or a counter.
 * At the end the host reads everything and the device gets passes until
 * idle: a pair not stopped then holds no transmit chain and has used every
 * one published, and every frame sent was delivered, dropped, or is still
 * in hand or in the socket.
 *
 * Guest RAM is exactly the rings plus one slot per descriptor position,
 * receive slots last, and ends where its heap block ends; a buffer sits at
 * the end of its slot, so a write past the last one is a heap overflow for
 * AddressSanitizer.
 *
 * Input: u8 flags (1 packed, 2 EVENT_IDX, 4 MRG_RXBUF, 8 GUEST_CSUM,
 * 16 link down, 32 not promiscuous, 64 a small socket buffer, 128 the
 * pair reads through its io_uring, a batch at a time), u8 receive
 * and u8 transmit queue size (1 << n % 9), u8 slot size (16 << n % 13,
 * at most 1 MiB per ring), then operations until the input ends:
 *   0 receive chain:  u8 n (1 + n % 4), per buffer u8 flags (1 writable,
 *                     2 zero length) and u16 length (1 + l % slot)
 *   1 transmit chain: the same
 *   2 frames:         u8 kind (size class in bits 0-1, destination in 2-3,
 *                     1 + bits 4-6 frames), u16 length, u8 header flags
 *   3 a pass of the pair
 *   4 the host reads what the guest sent
 *   5 the link goes up or down
 *   6, 7 receive, transmit chains as 0, 1 describe until the ring is full
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/virtio-net.h"
#include "../../src/devices/virtio/net-internal.h"
#include "net-data-driver.h"

#define MAX_OPS 256
#define MAX_FRAMES 1024
#define RING_BYTES (1u << 20)
/* Two queues' rings of up to 256 entries and their slots. */
#define RAM_MAX (2ULL * RING_BYTES + 64 * KiB)

#define F(b) (1ULL << (b))

static const uint8_t own_mac[NET_MAC_LEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };


/* A frame the host sent: enough to rebuild its bytes. */
struct frame {
	uint32_t seq, len;
	uint8_t dst, hdr_flags;
};

static struct {
	struct guest_memory mem;
	struct virtio_device vdev;
	struct virtio_net net;
	struct net_pair p;
	int sv[2]; /* sv[0] the pair's back-end, sv[1] the host's end */
	uint8_t *shadow;
	uint64_t ram_size;
	bool mrg, csum;
	struct nd_driver drv;
	struct dq rx, tx;
	struct fuzz_irqs irqs;

	struct frame frames[MAX_FRAMES];
	unsigned int nframes, rx_cursor, delivered, skipped;
	uint8_t *frame_buf, *asm_buf; /* VIRTIO_NET_MAX_BUFFER bytes */
	struct io_uring *ring; /* the pair's, while it has one (NULL: dropped) */
	bool use_ring; /* this input reads through it */

	/* Frames sent, not read yet: more than a socket buffer holds. */
	uint8_t *tx_fifo[4096];
	uint64_t tx_fifo_len[4096];
	unsigned int tx_head, tx_tail, tx_refused;
	size_t msg_limit; /* the longest message the pair's socket takes */
	uint8_t *msg_buf;
} f;

static uint8_t *ram(uint64_t gpa)
{
	return f.drv.ram + gpa;
}

static const struct virtio_device_ops fuzz_ops = { .name = "fuzz-net" };

#define MSG_MAX (512 * 1024)

/* Patterns are copied from the ramp: the longest, shifted by up to 255. */
_Static_assert(VIRTIO_NET_MAX_BUFFER + 255 <= ND_RAMP_LEN, "ramp too short");
_Static_assert((16u << 12) + 255 <= ND_RAMP_LEN, "ramp too short");

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t *ramp;

	/* Queues, socket pair and buffers outlive the inputs; RAM does not. */
	if (virtio_device_init(&f.vdev, &f.mem, &fuzz_ops, NULL, VIRTIO_ID_NET,
			       F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_GUEST_CSUM),
			       2, VIRTQ_MAX_SIZE, NULL, 0))
		abort();
	fuzz_transport_attach(&f.vdev, &f.irqs);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, f.sv))
		abort();
	f.net.vdev = &f.vdev;
	strcpy(f.net.name, "net0");
	pthread_mutex_init(&f.net.lock, NULL);
	memcpy(f.net.mac, own_mac, NET_MAC_LEN);
	f.p.net = &f.net;
	f.p.rxq = f.vdev.queues[0];
	f.p.txq = f.vdev.queues[1];
	f.p.fd = f.sv[0];
	/*
	 * As net.c allocates them: exactly sized, with a ring for receive
	 * (inputs choose whether the pair uses it). Not for transmit: the
	 * ring sends there only to a tap that never refuses a write for
	 * room, and this socket does (a batch could then go out of order).
	 */
	net_pair_alloc(&f.p, true, false);
	f.ring = f.p.ring;
	f.frame_buf = g_malloc(VIRTIO_NET_MAX_BUFFER);
	f.asm_buf = g_malloc(VIRTIO_NET_MAX_BUFFER);
	f.msg_buf = g_malloc(MSG_MAX);
	f.shadow = g_malloc(RAM_MAX);
	ramp = g_malloc(ND_RAMP_LEN);
	for (unsigned int i = 0; i < ND_RAMP_LEN; i++)
		ramp[i] = (uint8_t)i;
	f.drv.ramp = ramp;
	f.rx.vq = f.vdev.queues[0];
	f.tx.vq = f.vdev.queues[1];
	return 0;
}

/* ---- frames the host sends ---- */

static void frame_build(const struct frame *fr, uint8_t *b)
{
	static const uint8_t dsts[4][NET_MAC_LEN] = {
		{ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 },
		{ 0x52, 0x54, 0x00, 0x65, 0x43, 0x21 },
	};
	uint32_t seq = htole32(fr->seq);

	/* Byte i: i + seq * 7, modulo 256. */
	memcpy(b, f.drv.ramp + fr->seq * 7 % 256, fr->len);
	if (fr->len)
		b[0] = fr->hdr_flags;
	for (unsigned int i = 0; i < NET_MAC_LEN && 12 + i < fr->len; i++)
		b[12 + i] = dsts[fr->dst][i];
	for (unsigned int i = 0; i < 4 && 18 + i < fr->len; i++)
		b[18 + i] = ((uint8_t *)&seq)[i];
}

static void frames_send(uint8_t kind, uint16_t v, uint8_t hdr_flags)
{
	unsigned int n = 1 + (kind >> 4 & 7);
	uint32_t len;

	switch (kind & 3) {
	case 0:
		len = v % 64; /* around the shortest frame the device takes */
		break;
	case 1:
		len = v % 2048;
		break;
	case 2:
		len = v;
		break;
	default:
		len = VIRTIO_NET_MAX_BUFFER - v % 64;
	}
	for (unsigned int i = 0; i < n && f.nframes < MAX_FRAMES; i++) {
		struct frame *fr = &f.frames[f.nframes];

		*fr = (struct frame){ .seq = f.nframes, .len = len,
				      .dst = kind >> 2 & 3, .hdr_flags = hdr_flags };
		frame_build(fr, f.frame_buf);
		if (send(f.sv[1], f.frame_buf, len, MSG_DONTWAIT) < 0) {
			FUZZ_CHECK(errno == EAGAIN);
			return; /* the tap's queue is full: the frame is lost */
		}
		f.nframes++;
	}
}


/* ---- after a pass: what came back ---- */

static void rx_frame_check(unsigned int chains, uint64_t have)
{
	uint16_t nb;
	uint32_t seq;
	unsigned int j;
	struct frame *fr = NULL;

	FUZZ_CHECK(chains >= 1);
	memcpy(&nb, f.asm_buf + 10, 2);
	FUZZ_CHECK(le16toh(nb) == (f.mrg ? chains : 1));
	memcpy(&seq, f.asm_buf + 18, 4);
	seq = le32toh(seq);
	for (j = f.rx_cursor; j < f.nframes; j++)
		if (f.frames[j].seq == seq) {
			fr = &f.frames[j];
			break;
		}
	/* In order, once each, only what was sent. */
	FUZZ_CHECK(fr);
	f.skipped += j - f.rx_cursor;
	f.rx_cursor = j + 1;
	f.delivered++;
	/* Whole: every byte of it, and the chains hold nothing more. */
	FUZZ_CHECK(have == fr->len);
	FUZZ_CHECK(fr->len >= NET_VNET_HDR_LEN + 14);
	FUZZ_CHECK(virtio_net_filter_accept(&f.net.ctrl.filter,
					    f.asm_buf + NET_VNET_HDR_LEN));
	frame_build(fr, f.frame_buf);
	f.frame_buf[10] = (uint8_t)chains;
	f.frame_buf[11] = (uint8_t)(chains >> 8);
	if (!f.mrg)
		f.frame_buf[10] = 1, f.frame_buf[11] = 0;
	if (!f.csum)
		f.frame_buf[0] = 0;
	FUZZ_CHECK(!memcmp(f.asm_buf, f.frame_buf, fr->len));
}

static void rx_harvest(void)
{
	unsigned int chains = 0, want = 0;
	uint64_t have = 0;
	bool short_chain = false;
	uint16_t id;
	uint32_t len;

	while (dq_used(&f.drv, &f.rx, &id, &len)) {
		const struct chain *c = &f.rx.c[id];
		uint32_t left = len;

		FUZZ_CHECK(len <= c->in_len);
		/* Only the last chain of a frame may be partly filled, none empty. */
		FUZZ_CHECK(!short_chain && len > 0);
		short_chain = len < c->in_len;
		FUZZ_CHECK(have + len <= VIRTIO_NET_MAX_BUFFER);
		for (unsigned int i = 0; i < c->ndesc && left; i++) {
			uint32_t n = MIN(left, c->len[i]);

			if (!c->writable[i])
				continue;
			memcpy(f.asm_buf + have, ram(c->addr[i]), n);
			memcpy(f.shadow + c->addr[i], ram(c->addr[i]), n);
			have += n;
			left -= n;
		}
		chains++;
		if (!want && have >= NET_VNET_HDR_LEN) {
			want = f.asm_buf[10] | f.asm_buf[11] << 8;
			FUZZ_CHECK(want >= chains);
		}
		if (want && chains == want) {
			FUZZ_CHECK(have >= NET_VNET_HDR_LEN + 14);
			rx_frame_check(chains, have);
			chains = want = 0;
			have = 0;
			short_chain = false;
		}
	}
	/* A frame is pushed whole or not at all. */
	FUZZ_CHECK(chains == 0);
}

static void tx_harvest(bool link_up)
{
	uint16_t id;
	uint32_t len;

	while (dq_used(&f.drv, &f.tx, &id, &len)) {
		struct chain *c = &f.tx.c[id];

		FUZZ_CHECK(len == 0);
		FUZZ_CHECK(c->tx_bytes); /* not a malformed chain */
		if (!link_up)
			continue;
		if (c->out_len > f.msg_limit) {
			/* Refused by the socket as a tap refuses it: an error, not sent. */
			f.tx_refused++;
			FUZZ_CHECK(f.tx_refused <= f.p.tx_errors);
			continue;
		}
		FUZZ_CHECK(f.tx_tail - f.tx_head < G_N_ELEMENTS(f.tx_fifo));
		f.tx_fifo[f.tx_tail % G_N_ELEMENTS(f.tx_fifo)] = c->tx_bytes;
		f.tx_fifo_len[f.tx_tail % G_N_ELEMENTS(f.tx_fifo)] = c->out_len;
		f.tx_tail++;
		c->tx_bytes = NULL;
	}
}

static void tx_fifo_pop(void)
{
	unsigned int i = f.tx_head++ % G_N_ELEMENTS(f.tx_fifo);

	g_free(f.tx_fifo[i]);
	f.tx_fifo[i] = NULL;
}

/* The host reads what the guest sent: each frame whole and in order. */
static unsigned int host_read(void)
{
	unsigned int n = 0;

	for (;;) {
		ssize_t got = recv(f.sv[1], f.msg_buf, MSG_MAX, MSG_DONTWAIT);
		unsigned int i;

		if (got < 0) {
			FUZZ_CHECK(errno == EAGAIN);
			return n;
		}
		n++;
		FUZZ_CHECK(f.tx_head != f.tx_tail);
		i = f.tx_head % G_N_ELEMENTS(f.tx_fifo);
		FUZZ_CHECK((uint64_t)got == f.tx_fifo_len[i]);
		FUZZ_CHECK(!memcmp(f.msg_buf, f.tx_fifo[i], (size_t)got));
		tx_fifo_pop();
	}
}

struct counters {
	uint64_t rx_frames, rx_dropped, tx_frames, tx_errors;
};

static struct counters counters_now(void)
{
	return (struct counters){ f.p.rx_frames, f.p.rx_dropped, f.p.tx_frames,
				  f.p.tx_errors };
}

/* One pass of the pair, then everything checked. Returns its work. */
static unsigned int pair_pass(void)
{
	bool was_stopped = f.p.stopped;
	bool link_up = f.net.link_up;
	struct counters before = counters_now();
	unsigned int rx_pushed = 0, tx_pushed = 0, work;

	/* f.shadow is RAM as the last pass left it plus the driver's writes. */
	work = net_pair_pass(&f.p, &rx_pushed, &tx_pushed);
	if (rx_pushed)
		virtq_notify(f.p.rxq);
	if (tx_pushed)
		virtq_notify(f.p.txq);
	if (was_stopped) {
		struct counters after = counters_now();

		/* NEEDS_RESET: the pair touches nothing any more. */
		FUZZ_CHECK(!work && !rx_pushed && !tx_pushed);
		FUZZ_CHECK(!memcmp(f.shadow, ram(0), f.ram_size));
		FUZZ_CHECK(!memcmp(&after, &before, sizeof(after)));
		return 0;
	}
	FUZZ_CHECK(f.p.stopped == !!(f.vdev.status & VIRTIO_STATUS_NEEDS_RESET));
	if (f.p.stopped)
		FUZZ_CHECK(f.drv.malformed && f.irqs.config);
	dq_take_ring(&f.drv, &f.rx, f.shadow);
	dq_take_ring(&f.drv, &f.tx, f.shadow);
	rx_harvest();
	tx_harvest(link_up);
	/* Chains in hand were published, in order, and each has room. */
	for (unsigned int i = 0; i < f.p.rx_held && !f.p.stopped; i++) {
		const struct virtq_elem *e = &f.p.rx_elems[i];

		FUZZ_CHECK(e->id < f.rx.size && f.rx.c[e->id].out);
		FUZZ_CHECK(e->in_len == f.rx.c[e->id].in_len && e->in_len);
	}
	/* Nothing else in guest RAM changed. */
	FUZZ_CHECK(!memcmp(f.shadow, ram(0), f.ram_size));
	FUZZ_CHECK(f.skipped <= f.p.rx_dropped);
	FUZZ_CHECK(f.delivered == f.p.rx_frames);
	return work;
}

static void drain(int fd)
{
	while (recv(fd, f.msg_buf, MSG_MAX, MSG_DONTWAIT) >= 0)
		;
}

/* Every frame sent is delivered, dropped, in hand or still in the socket. */
static void final_check(void)
{
	unsigned int left = 0, i;

	/* A full socket takes at least one frame a pass: a ring's worth. */
	for (i = 0; i < 2 * VIRTQ_MAX_SIZE + 2; i++) {
		unsigned int work, got = host_read();

		work = pair_pass();
		if (!work && !got && !host_read())
			break;
	}
	FUZZ_CHECK(i < 2 * VIRTQ_MAX_SIZE + 2);
	if (!f.p.stopped) {
		/* The socket is empty: a transmit chain has no reason to wait. */
		FUZZ_CHECK(!f.p.tx_count);
		FUZZ_CHECK(f.tx.outstanding == 0);
	}
	/* Every frame the guest sent was read, or refused as too long. */
	FUZZ_CHECK(f.tx_head == f.tx_tail);
	FUZZ_CHECK(f.tx_refused == f.p.tx_errors);
	while (recv(f.sv[0], f.msg_buf, MSG_MAX, MSG_DONTWAIT) >= 0)
		left++;
	FUZZ_CHECK(f.nframes == f.p.rx_frames + f.p.rx_dropped + left +
				       net_pair_rx_pending(&f.p));
}

static void input_setup(struct fuzz_input *in)
{
	uint8_t flags = fuzz_u8(in);
	uint16_t rx_size = (uint16_t)(1u << fuzz_u8(in) % 9);
	uint16_t tx_size = (uint16_t)(1u << fuzz_u8(in) % 9);
	uint32_t slot = 16u << fuzz_u8(in) % 13;
	uint64_t at = 0;
	int sndbuf = (flags & 64) ? 4096 : 256 * 1024;
	socklen_t sl = sizeof(sndbuf);

	f.drv.packed = flags & 1;
	f.mrg = flags & 4;
	f.csum = flags & 8;
	f.drv.slot = MIN(slot, RING_BYTES / MAX(rx_size, tx_size));
	f.vdev.features = F(VIRTIO_F_VERSION_1) |
			  (f.drv.packed ? F(VIRTIO_F_RING_PACKED) : 0) |
			  ((flags & 2) ? F(VIRTIO_F_EVENT_IDX) : 0) |
			  (f.mrg ? F(VIRTIO_NET_F_MRG_RXBUF) : 0) |
			  (f.csum ? F(VIRTIO_NET_F_GUEST_CSUM) : 0);
	f.vdev.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	f.net.offloads_now = f.vdev.features & VIRTIO_NET_GUEST_OFFLOADS;
	f.net.link_up = !(flags & 16);
	virtio_net_filter_reset(&f.net.ctrl.filter, own_mac);
	f.net.ctrl.filter.promisc = !(flags & 32);
	f.net.filter_gen++;

	/* Rings, then transmit slots, then receive slots up to RAM's end. */
	dq_reset(&f.drv, &f.rx, rx_size, &at);
	dq_reset(&f.drv, &f.tx, tx_size, &at);
	f.tx.slots = at;
	at += (uint64_t)tx_size * f.drv.slot;
	f.rx.slots = at;
	at += (uint64_t)rx_size * f.drv.slot;
	f.ram_size = at;
	FUZZ_CHECK(f.ram_size <= RAM_MAX);
	if (fuzz_memory_init(&f.mem, f.ram_size))
		abort();
	f.drv.ram = f.mem.regions[0].hva;
	memset(f.shadow, 0, f.ram_size);
	f.drv.shadow = f.shadow;

	/* The pair as net_pair_start() leaves it. */
	net_pair_clear(&f.p);
	f.p.rx_want = 1;
	f.use_ring = flags & 128;
	f.p.ring = f.use_ring ? f.ring : NULL;
	f.p.rx_frames = f.p.rx_dropped = f.p.tx_frames = f.p.tx_errors = 0;

	if (setsockopt(f.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) ||
	    getsockopt(f.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl))
		abort();
	/* af_unix refuses a datagram longer than this (EMSGSIZE). */
	f.msg_limit = (size_t)sndbuf - 32;
	f.drv.malformed = false;
	f.irqs = (struct fuzz_irqs){ 0 };
	f.nframes = f.rx_cursor = f.delivered = f.skipped = 0;
	f.tx_head = f.tx_tail = f.tx_refused = 0;
	f.drv.serial = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };

	input_setup(&in);
	if (!dq_start(&f.rx) || !dq_start(&f.tx))
		abort();
	for (unsigned int op = 0; op < MAX_OPS && in.len; op++) {
		uint8_t kind;
		uint16_t v;

		struct chain c;

		switch (fuzz_u8(&in) % 8) {
		case 0:
			(void)dq_publish(&f.drv, &f.rx, false, chain_parse(&f.drv, &in));
			break;
		case 1:
			(void)dq_publish(&f.drv, &f.tx, true, chain_parse(&f.drv, &in));
			break;
		case 6:
			c = chain_parse(&f.drv, &in);
			while (dq_publish(&f.drv, &f.rx, false, c))
				;
			break;
		case 7:
			c = chain_parse(&f.drv, &in);
			while (dq_publish(&f.drv, &f.tx, true, c))
				;
			break;
		case 2:
			kind = fuzz_u8(&in);
			v = fuzz_u16(&in);
			frames_send(kind, v, fuzz_u8(&in));
			break;
		case 3:
			(void)pair_pass();
			break;
		case 4:
			(void)host_read();
			break;
		case 5:
			__atomic_store_n(&f.net.link_up, !f.net.link_up,
					 __ATOMIC_RELAXED);
			break;
		}
	}
	final_check();
	/* The ring goes only if the kernel refuses it; then read() from now on. */
	if (f.use_ring && !f.p.ring)
		f.ring = NULL;

	while (f.tx_head != f.tx_tail)
		tx_fifo_pop();
	drain(f.sv[0]);
	drain(f.sv[1]);
	virtq_stop(f.rx.vq);
	virtq_stop(f.tx.vq);
	dq_reset(&f.drv, &f.rx, 1, &(uint64_t){ 0 });
	dq_reset(&f.drv, &f.tx, 1, &(uint64_t){ 0 });
	fuzz_memory_destroy(&f.mem);
	return 0;
}
