// SPDX-License-Identifier: MIT
/*
 * The host side of scripts/bench/net.sh, in C so that it is never the
 * bottleneck it measures:
 *
 *   net-host send IFNAME SIZE SECONDS DSTMAC
 *       blast SIZE-byte frames for DSTMAC into IFNAME (a packet socket,
 *       batches of sendmmsg), which a tap hands to whoever reads it
 *   net-host limit-tx IFNAME SIZE SECONDS
 *       attach to the tap IFNAME as a VMM does (IFF_VNET_HDR, 12-byte
 *       headers) and write SIZE-byte frames into it one write() each:
 *       the most frames a VMM's transmit thread can hand this kernel
 *   net-host limit-rx IFNAME SIZE SECONDS
 *       the same tap, with a sender thread blasting into it as in "send",
 *       read back one read() each: the most a VMM's receive thread gets
 *
 * Each prints one line: "frames=N seconds=T pps=X".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR 12
#define BATCH 64
#define MAX_FRAME 9018

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "net-host: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void frame_fill(uint8_t *f, size_t size, const uint8_t *dst)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x01 };

	memset(f, 0, size);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88; /* local experimental EtherType: nobody's protocol */
	f[13] = 0xb5;
	for (size_t i = 14; i < size; i++)
		f[i] = (uint8_t)i;
}

static bool parse_mac(const char *s, uint8_t *mac)
{
	unsigned int v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5]) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

struct sender {
	const char *ifname;
	size_t size;
	double seconds;
	uint8_t dst[6];
	volatile bool stop;
	uint64_t sent;
};

static void *send_frames(void *arg)
{
	struct sender *s = arg;
	struct sockaddr_ll sll = { 0 };
	uint8_t frame[MAX_FRAME];
	struct iovec iov = { frame, s->size };
	struct mmsghdr msgs[BATCH];
	int one = 1, fd;
	double end = now() + s->seconds;

	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		die("packet socket");
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(s->ifname);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		die(s->ifname);
	/* Straight to the driver: the tap queues what its reader has not taken. */
	(void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	frame_fill(frame, s->size, s->dst);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!s->stop) {
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			s->sent += (uint64_t)n;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			die("sendmmsg");
		if ((s->sent & 1023) < BATCH && now() > end)
			break;
	}
	close(fd);
	return NULL;
}

static int tap_attach(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int len = HDR, fd = open("/dev/net/tun", O_RDWR);

	if (fd < 0)
		die("/dev/net/tun");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETVNETHDRSZ, &len))
		die(ifname);
	return fd;
}

static void report(uint64_t frames, double secs)
{
	printf("frames=%llu seconds=%.3f pps=%.0f\n", (unsigned long long)frames,
	       secs, (double)frames / secs);
}

static int limit_tx(const char *ifname, size_t size, double seconds)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	uint8_t buf[HDR + MAX_FRAME];
	int fd = tap_attach(ifname);
	uint64_t n = 0;
	double t0 = now(), t;

	memset(buf, 0, HDR);
	frame_fill(buf + HDR, size, dst);
	do {
		for (int i = 0; i < 256; i++)
			if (write(fd, buf, HDR + size) == (ssize_t)(HDR + size))
				n++;
		t = now();
	} while (t - t0 < seconds);
	report(n, t - t0);
	return 0;
}

static int limit_rx(const char *ifname, size_t size, double seconds)
{
	struct sender s = { .ifname = ifname, .size = size, .seconds = seconds + 5 };
	uint8_t buf[HDR + 65536];
	int fd = tap_attach(ifname);
	pthread_t th;
	uint64_t n = 0;
	double t0, t;

	memset(s.dst, 0x02, 6);
	if (pthread_create(&th, NULL, send_frames, &s))
		die("pthread_create");
	/* From the first frame on, as the guest counts. */
	if (read(fd, buf, sizeof(buf)) < 0)
		die("read");
	t0 = now();
	do {
		for (int i = 0; i < 256; i++)
			if (read(fd, buf, sizeof(buf)) > 0)
				n++;
		t = now();
	} while (t - t0 < seconds);
	s.stop = true;
	pthread_join(th, NULL);
	report(n, t - t0);
	return 0;
}

int main(int argc, char **argv)
{
	size_t size;
	double seconds;

	if (argc < 5 || (strcmp(argv[1], "send") && strcmp(argv[1], "limit-tx") &&
			 strcmp(argv[1], "limit-rx"))) {
		fprintf(stderr, "usage: net-host send IFNAME SIZE SECONDS DSTMAC\n"
				"       net-host limit-tx|limit-rx IFNAME SIZE SECONDS\n");
		return 2;
	}
	size = strtoul(argv[3], NULL, 10);
	seconds = strtod(argv[4], NULL);
	if (size < 60 || size > MAX_FRAME || seconds <= 0) {
		fprintf(stderr, "net-host: SIZE 60..%d, SECONDS > 0\n", MAX_FRAME);
		return 2;
	}
	if (!strcmp(argv[1], "limit-tx"))
		return limit_tx(argv[2], size, seconds);
	if (!strcmp(argv[1], "limit-rx"))
		return limit_rx(argv[2], size, seconds);
	{
		struct sender s = { .ifname = argv[2], .size = size, .seconds = seconds };
		double t0 = now();

		if (argc < 6 || !parse_mac(argv[5], s.dst)) {
			fprintf(stderr, "net-host: send needs DSTMAC aa:bb:cc:dd:ee:ff\n");
			return 2;
		}
		send_frames(&s);
		report(s.sent, now() - t0);
	}
	return 0;
}
