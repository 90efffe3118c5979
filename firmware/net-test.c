// SPDX-License-Identifier: MIT
/*
 * net-test: a tiny IPv4 host on virtio-net. It answers ARP for its
 * address and ICMP echo, echoes UDP datagrams sent to its echo port, and
 * takes commands as UDP datagrams on its control port, answering each
 * with "ok ..." to the sender:
 *
 *   tso IP PORT BYTES MSS  send one TCP segment of BYTES payload bytes
 *                          with VIRTIO_NET_HDR_GSO_TCPV4 and a partial
 *                          checksum, for the host to cut into MSS pieces
 *   csum IP PORT BYTES     send one UDP datagram with a partial checksum
 *   filter                 promiscuous off, a MAC table (CTRL_RX, CTRL_MAC)
 *   quit                   print the per-queue counts and pass
 *
 * Payload byte i of "tso"/"csum" is (i * 7 + 3) & 0xff. It watches the
 * link bit of the configuration (set_link) and prints each change.
 *
 * Command line: ip=A.B.C.D (required)  port=N (echo, 7)  ctl=N (9)
 * ring=split|packed  mrg=0|1 (1)  queues=N (pairs to use, 1)  msix=0|1 (0)
 * event_idx=0|1 (1)  timeout=SECONDS (120)
 *
 * Ring 0 sets the device up; the packet loop runs in ring 3.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio-net.h"

#define FRAME_MAX 9216
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define LINK_POLL_NS 2000000ull

static struct {
	struct net_dev dev;
	uint8_t ip[4];
	uint16_t echo_port, ctl_port;
	uint64_t timeout_ns;
	uint8_t *rx; /* one received frame */
	uint8_t *tx[NET_MAX_PAIRS]; /* a ring of transmit buffers per pair */
	unsigned int tx_next[NET_MAX_PAIRS];
	uint64_t frames[NET_MAX_PAIRS];
	bool link;
	bool done;
} T;

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

/* The Internet checksum's running sum (RFC 1071), not yet folded. */
static uint32_t sum16(const uint8_t *p, uint32_t len, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t pseudo(const uint8_t *ip, uint8_t proto, uint32_t len)
{
	return sum16(ip + 12, 8, 0) + proto + len;
}

/*
 * A buffer of pair q for the next frame (header included). Buffers go
 * round with the ring, and the device completes transmissions in order:
 * once a slot is free, the buffer next in turn is too.
 */
static uint8_t *tx_buf(unsigned int q)
{
	uint64_t deadline = clock_ns() + 5000000000ull;
	uint8_t *b = T.tx[q] + (uint64_t)T.tx_next[q] * FRAME_MAX;

	net_tx_reap(&T.dev, q);
	while (virtq_room(&T.dev.tx[q]) == 0) {
		if (clock_ns() > deadline)
			result_fail("transmit ring %u stays full", q);
		net_tx_reap(&T.dev, q);
	}
	T.tx_next[q] = (T.tx_next[q] + 1) % T.dev.tx[q].size;
	memset(b, 0, NET_HDR_LEN);
	return b;
}

static void tx_send(unsigned int q, const uint8_t *b, uint32_t len)
{
	/* tx_buf() made room. */
	if (net_tx(&T.dev, q, b, len) < 0)
		result_fail("transmit ring %u is full", q);
}

static void eth_reply(uint8_t *out, const uint8_t *in)
{
	memcpy(out, in + 6, 6);
	memcpy(out + 6, T.dev.mac, 6);
	memcpy(out + 12, in + 12, 2);
}

static void handle_arp(unsigned int q, const uint8_t *f, uint32_t len)
{
	const uint8_t *a = f + ETH_HLEN;
	uint8_t *b, *o;

	if (len < ETH_HLEN + 28 || be16(a) != 1 || be16(a + 2) != ETH_P_IP ||
	    be16(a + 6) != 1 || memcmp(a + 24, T.ip, 4) != 0)
		return;
	b = tx_buf(q);
	o = b + NET_HDR_LEN;
	eth_reply(o, f);
	memcpy(o + ETH_HLEN, a, 6);
	put_be16(o + ETH_HLEN + 6, 2);
	memcpy(o + ETH_HLEN + 8, T.dev.mac, 6);
	memcpy(o + ETH_HLEN + 14, T.ip, 4);
	memcpy(o + ETH_HLEN + 18, a + 8, 10);
	memset(o + ETH_HLEN + 28, 0, 60 - ETH_HLEN - 28);
	tx_send(q, b, NET_HDR_LEN + 60);
}

/* An IPv4 header for len bytes of proto from us to dst, checksummed. */
static void ip_header(uint8_t *ip, const uint8_t *dst, uint8_t proto,
		      uint32_t len, uint16_t id)
{
	ip[0] = 0x45;
	ip[1] = 0;
	put_be16(ip + 2, (uint16_t)(20 + len));
	put_be16(ip + 4, id);
	put_be16(ip + 6, 0x4000); /* don't fragment */
	ip[8] = 64;
	ip[9] = proto;
	put_be16(ip + 10, 0);
	memcpy(ip + 12, T.ip, 4);
	memcpy(ip + 16, dst, 4);
	put_be16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
}

/* Echo an ICMP echo request or a UDP datagram back to its sender. */
static void ip_echo(unsigned int q, const uint8_t *f, uint32_t iplen,
		    uint8_t proto)
{
	const uint8_t *ip = f + ETH_HLEN;
	uint32_t l4len = iplen - 20;
	uint8_t *b = tx_buf(q), *o = b + NET_HDR_LEN, *l4 = o + ETH_HLEN + 20;

	eth_reply(o, f);
	memcpy(l4, ip + 20, l4len);
	ip_header(o + ETH_HLEN, ip + 12, proto, l4len, be16(ip + 4));
	if (proto == 1) {
		l4[0] = 0; /* echo reply */
		put_be16(l4 + 2, 0);
		put_be16(l4 + 2, (uint16_t)~fold(sum16(l4, l4len, 0)));
	} else {
		put_be16(l4, be16(ip + 22));
		put_be16(l4 + 2, be16(ip + 20));
		put_be16(l4 + 6, 0);
		uint16_t c = (uint16_t)~fold(sum16(l4, l4len,
						   pseudo(o + ETH_HLEN, 17, l4len)));
		put_be16(l4 + 6, c ? c : 0xffff);
	}
	tx_send(q, b, NET_HDR_LEN + ETH_HLEN + iplen);
}

static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/*
 * One TCP segment of bytes payload that the host segments into mss-sized
 * ones: the virtio-net header asks for GSO and a partial checksum, the TCP
 * checksum field holds the pseudo-header sum (what Linux's TSO expects).
 */
static void send_tso(unsigned int q, const uint8_t *gw, const uint8_t *dst,
		     uint16_t port, uint32_t bytes, uint16_t mss)
{
	uint8_t *b = tx_buf(q), *o = b + NET_HDR_LEN, *tcp = o + ETH_HLEN + 20;
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)b;
	uint32_t l4len = 20 + bytes;

	memcpy(o, gw, 6);
	memcpy(o + 6, T.dev.mac, 6);
	put_be16(o + 12, ETH_P_IP);
	ip_header(o + ETH_HLEN, dst, 6, l4len, 0x1234);
	memset(tcp, 0, 20);
	put_be16(tcp, 40000);
	put_be16(tcp + 2, port);
	put_be32(tcp + 4, 1000); /* sequence number */
	tcp[12] = 5 << 4;
	tcp[13] = 0x18; /* PSH, ACK */
	put_be16(tcp + 14, 65535);
	for (uint32_t i = 0; i < bytes; i++)
		tcp[20 + i] = pattern(i);
	put_be16(tcp + 16, fold(pseudo(o + ETH_HLEN, 6, l4len)));
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr_len = ETH_HLEN + 20 + 20;
	h->gso_size = mss;
	h->csum_start = ETH_HLEN + 20;
	h->csum_offset = 16;
	tx_send(q, b, NET_HDR_LEN + ETH_HLEN + 20 + l4len);
}

/* One UDP datagram whose checksum the host completes (NEEDS_CSUM). */
static void send_csum(unsigned int q, const uint8_t *gw, const uint8_t *dst,
		      uint16_t port, uint32_t bytes)
{
	uint8_t *b = tx_buf(q), *o = b + NET_HDR_LEN, *udp = o + ETH_HLEN + 20;
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)b;
	uint32_t l4len = 8 + bytes;

	memcpy(o, gw, 6);
	memcpy(o + 6, T.dev.mac, 6);
	put_be16(o + 12, ETH_P_IP);
	ip_header(o + ETH_HLEN, dst, 17, l4len, 0x4321);
	put_be16(udp, 40001);
	put_be16(udp + 2, port);
	put_be16(udp + 4, (uint16_t)l4len);
	for (uint32_t i = 0; i < bytes; i++)
		udp[8 + i] = pattern(i);
	put_be16(udp + 6, fold(pseudo(o + ETH_HLEN, 17, l4len)));
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = ETH_HLEN + 20;
	h->csum_offset = 6;
	tx_send(q, b, NET_HDR_LEN + ETH_HLEN + 20 + l4len);
}

/* "a.b.c.d" at *s into ip; *s moves past it. */
static bool parse_ip(const char **s, uint8_t *ip)
{
	for (unsigned int i = 0; i < 4; i++) {
		unsigned int v = 0, digits = 0;

		while (**s >= '0' && **s <= '9' && digits < 3) {
			v = v * 10 + (unsigned int)(*(*s)++ - '0');
			digits++;
		}
		if (!digits || v > 255 || (i < 3 && *(*s)++ != '.'))
			return false;
		ip[i] = (uint8_t)v;
	}
	return true;
}

static bool parse_num(const char **s, uint32_t *v)
{
	unsigned int digits = 0;

	while (**s == ' ')
		(*s)++;
	*v = 0;
	while (**s >= '0' && **s <= '9' && digits++ < 9)
		*v = *v * 10 + (uint32_t)(*(*s)++ - '0');
	return digits > 0;
}

/* Answer a command's sender with text (a UDP datagram from the control port). */
static void ctl_reply(unsigned int q, const uint8_t *f, const char *text)
{
	const uint8_t *ip = f + ETH_HLEN;
	uint32_t n = (uint32_t)strlen(text), l4len = 8 + n;
	uint8_t *b = tx_buf(q), *o = b + NET_HDR_LEN, *udp = o + ETH_HLEN + 20;

	eth_reply(o, f);
	ip_header(o + ETH_HLEN, ip + 12, 17, l4len, 7);
	put_be16(udp, T.ctl_port);
	put_be16(udp + 2, be16(ip + 20));
	put_be16(udp + 4, (uint16_t)l4len);
	put_be16(udp + 6, 0); /* optional for IPv4 */
	memcpy(udp + 8, text, n);
	tx_send(q, b, NET_HDR_LEN + ETH_HLEN + 20 + l4len);
}

static void do_filter(void)
{
	/* One unicast and one multicast address (5.1.6.5.2), then promisc off. */
	static const uint8_t table[] = {1, 0, 0, 0, 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc,
					1, 0, 0, 0, 0x01, 0, 0x5e, 0, 0, 0xfb};
	uint8_t off = 0;

	if (net_ctrl(&T.dev, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
		     table, sizeof(table)) != VIRTIO_NET_OK ||
	    net_ctrl(&T.dev, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off,
		     1) != VIRTIO_NET_OK)
		result_fail("the device refused a receive filter command");
}

static void handle_command(unsigned int q, const uint8_t *f, const char *cmd,
			   uint32_t len)
{
	char buf[128];
	const char *s = buf;
	uint8_t dst[4];
	uint32_t port, bytes, mss;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, cmd, len);
	buf[len] = '\0';
	if (strncmp(s, "tso ", 4) == 0) {
		s += 4;
		if (!parse_ip(&s, dst) || !parse_num(&s, &port) ||
		    !parse_num(&s, &bytes) || !parse_num(&s, &mss) ||
		    bytes > FRAME_MAX - 100 || mss < 100)
			result_fail("bad command '%s'", buf);
		send_tso(q, f + 6, dst, (uint16_t)port, bytes, (uint16_t)mss);
		ctl_reply(q, f, "ok tso");
	} else if (strncmp(s, "csum ", 5) == 0) {
		s += 5;
		if (!parse_ip(&s, dst) || !parse_num(&s, &port) ||
		    !parse_num(&s, &bytes) || bytes > 1400)
			result_fail("bad command '%s'", buf);
		send_csum(q, f + 6, dst, (uint16_t)port, bytes);
		ctl_reply(q, f, "ok csum");
	} else if (strncmp(s, "filter", 6) == 0) {
		do_filter();
		ctl_reply(q, f, "ok filter");
	} else if (strncmp(s, "quit", 4) == 0) {
		ctl_reply(q, f, "ok quit");
		T.done = true;
	} else {
		ctl_reply(q, f, "unknown command");
	}
}

static void handle_ip(unsigned int q, const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + ETH_HLEN;
	uint32_t iplen;

	if (len < ETH_HLEN + 20 || ip[0] != 0x45 || memcmp(ip + 16, T.ip, 4) != 0 ||
	    fold(sum16(ip, 20, 0)) != 0xffff)
		return;
	iplen = be16(ip + 2);
	if (iplen < 28 || iplen > len - ETH_HLEN || (be16(ip + 6) & 0x3fff))
		return; /* short, or a fragment: not ours to reassemble */
	if (ip[9] == 1 && ip[20] == 8) {
		ip_echo(q, f, iplen, 1);
	} else if (ip[9] == 17) {
		uint16_t dport = be16(ip + 22);

		if (dport == T.echo_port)
			ip_echo(q, f, iplen, 17);
		else if (dport == T.ctl_port)
			handle_command(q, f, (const char *)ip + 28, iplen - 28);
	}
}

static void poll_link(void)
{
	bool up = net_link_up(&T.dev);

	if (up != T.link) {
		T.link = up;
		con_printf("net-test: link %s\n", up ? "up" : "down");
	}
}

static long test_user(void *arg)
{
	uint64_t deadline = clock_ns() + T.timeout_ns, next_link = 0;
	unsigned long spins = 0;

	(void)arg;
	con_printf("net-test: ready\n");
	while (!T.done) {
		bool any = false;

		for (unsigned int q = 0; q < T.dev.pairs; q++) {
			long len;

			while ((len = net_rx(&T.dev, q, T.rx, FRAME_MAX, NULL)) != 0) {
				any = true;
				if (len < 0)
					result_fail("a frame larger than %u bytes", FRAME_MAX);
				T.frames[q]++;
				if (len < ETH_HLEN)
					continue;
				if (be16(T.rx + 12) == ETH_P_ARP)
					handle_arp(q, T.rx, (uint32_t)len);
				else if (be16(T.rx + 12) == ETH_P_IP)
					handle_ip(q, T.rx, (uint32_t)len);
			}
			net_tx_reap(&T.dev, q);
		}
		if (any || ++spins % 4096)
			continue;
		uint64_t now = clock_ns();

		if (now > deadline)
			result_fail("no quit command in %lu s",
				    (unsigned long)(T.timeout_ns / 1000000000ull));
		if (now > next_link) {
			poll_link();
			next_link = now + LINK_POLL_NS;
		}
	}
	/* The answer to "quit" leaves before we do (QEMU sends from a bottom half). */
	for (uint64_t end = clock_ns() + 1000000000ull; clock_ns() < end;) {
		bool idle = true;

		for (unsigned int q = 0; q < T.dev.pairs; q++) {
			net_tx_reap(&T.dev, q);
			idle &= virtq_room(&T.dev.tx[q]) == T.dev.tx[q].size;
		}
		if (idle)
			break;
		cpu_relax();
	}
	con_printf("net-test: rx frames per queue:");
	for (unsigned int q = 0; q < T.dev.pairs; q++)
		con_printf(" %lu", (unsigned long)T.frames[q]);
	con_printf("\n");
	return 0;
}

int guest_main(void)
{
	struct net_opts o = {0};
	const char *why = "";
	char buf[32];
	const char *s = buf;

	clock_init();
	if (!cmdline_get_str("ip", buf, sizeof(buf)) || !parse_ip(&s, T.ip) || *s)
		result_fail("ip=A.B.C.D is required");
	T.echo_port = (uint16_t)cmdline_uint_or("port", 65535, 7);
	T.ctl_port = (uint16_t)cmdline_uint_or("ctl", 65535, 9);
	T.timeout_ns = cmdline_uint_or("timeout", 3600, 120) * 1000000000ull;
	o.packed = cmdline_is("ring", "packed");
	o.event_idx = cmdline_uint_or("event_idx", 1, 1);
	o.msix = cmdline_uint_or("msix", 1, 0);
	o.mrg = cmdline_uint_or("mrg", 1, 1);
	o.offloads = true;
	o.max_pairs = (unsigned int)cmdline_uint_or("queues", NET_MAX_PAIRS, 1);
	if (net_open(&T.dev, &o, &why) < 0)
		result_fail("virtio-net: %s", why);
	if (o.max_pairs > 1) {
		uint16_t pairs = (uint16_t)T.dev.max_pairs;

		if (T.dev.max_pairs < o.max_pairs)
			result_fail("queues=%u, the device has %u pairs", o.max_pairs,
				    T.dev.max_pairs);
		if (net_ctrl(&T.dev, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
			     &pairs, 2) != VIRTIO_NET_OK)
			result_fail("VQ_PAIRS_SET %u refused", pairs);
		T.dev.pairs = pairs;
	}
	T.rx = dma_alloc(FRAME_MAX, 64);
	for (unsigned int q = 0; q < T.dev.pairs; q++) {
		T.tx[q] = dma_alloc((uint64_t)T.dev.tx[q].size * FRAME_MAX, 64);
		if (!T.tx[q])
			result_fail("out of memory for transmit buffers");
	}
	if (!T.rx)
		result_fail("out of memory");
	T.link = net_link_up(&T.dev);
	con_printf("net-test: mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u, %s ring, "
		   "%s, %u queue pair(s), link %s\n",
		   T.dev.mac[0], T.dev.mac[1], T.dev.mac[2], T.dev.mac[3],
		   T.dev.mac[4], T.dev.mac[5], T.dev.mtu,
		   T.dev.rx[0].packed ? "packed" : "split",
		   T.dev.mrg ? "mergeable buffers" : "one buffer per frame",
		   T.dev.pairs, T.link ? "up" : "down");
	user_call(test_user, NULL);
	result_pass();
}
