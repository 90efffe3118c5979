// SPDX-License-Identifier: MIT
/*
 * net-bench: frames per second through virtio-net, one direction per
 * boot, timed with the KVM clock so that numbers mean the same under QEMU
 * and tern. One line per run:
 *
 *   BENCH mode=tx size=64 frames=N ns=T pps=X mbps=Y
 *
 * mode=tx keeps the transmit ring full of one prebuilt frame (size bytes
 * of Ethernet frame, to dst=MAC, EtherType 0x88b5, so the host drops it
 * right after counting) and counts completions; mode=rx keeps every
 * receive buffer posted and counts what arrives, from the first frame on.
 * After warmup_ms (200) it counts for secs=N (3) seconds. Other options:
 * ring=split|packed  event_idx=0|1 (1)  mrg=0|1 (1)  timeout=SECONDS (60)
 * for the first frame.
 *
 * Ring 0 only sets the device up; both loops run in ring 3 and poll (no
 * interrupts), and kick only when the device asks.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio-net.h"

#define CLOCK_EVERY 256

static struct {
	struct net_dev dev;
	bool tx;
	uint32_t size;
	uint64_t secs, warmup_ns, timeout_ns;
	uint8_t dst[6];
	uint8_t *frame; /* header and frame */
} B;

struct result {
	uint64_t frames, bytes, ns;
};

/* Keep the transmit ring full; count completed frames until stop_ns. */
static uint64_t tx_until(uint64_t stop_ns)
{
	struct virtq *vq = &B.dev.tx[0];
	uint64_t done = 0;
	unsigned long spins = 0;

	for (;;) {
		bool added = false;

		done += net_tx_reap(&B.dev, 0);
		while (virtq_room(vq) > 0) {
			net_tx_nokick(&B.dev, 0, B.frame, NET_HDR_LEN + B.size);
			added = true;
		}
		if (added)
			net_tx_kick(&B.dev, 0);
		else
			cpu_relax();
		if (++spins % CLOCK_EVERY == 0 && clock_ns() >= stop_ns)
			return done;
	}
}

static uint64_t rx_until(uint64_t stop_ns, uint64_t *bytes)
{
	uint64_t done = 0;
	unsigned long spins = 0;

	for (;;) {
		unsigned int n = net_rx_drain(&B.dev, 0, bytes);

		done += n;
		if (!n)
			cpu_relax();
		if (++spins % CLOCK_EVERY == 0 && clock_ns() >= stop_ns)
			return done;
	}
}

static long bench_user(void *arg)
{
	struct result *r = arg;
	uint64_t t0, bytes = 0;

	if (!B.tx) {
		uint64_t deadline = clock_ns() + B.timeout_ns;

		/* The host starts sending when it likes: wait for the first frame. */
		while (!net_rx_drain(&B.dev, 0, &bytes)) {
			if (clock_ns() > deadline)
				result_fail("no frame in %lu s",
					    (unsigned long)(B.timeout_ns / 1000000000ull));
			cpu_relax();
		}
	}
	t0 = clock_ns();
	if (B.tx)
		tx_until(t0 + B.warmup_ns);
	else
		rx_until(t0 + B.warmup_ns, &bytes);
	bytes = 0;
	t0 = clock_ns();
	if (B.tx) {
		r->frames = tx_until(t0 + B.secs * 1000000000ull);
		r->bytes = r->frames * B.size;
	} else {
		r->frames = rx_until(t0 + B.secs * 1000000000ull, &bytes);
		r->bytes = bytes;
	}
	r->ns = clock_ns() - t0;
	return 0;
}

static bool parse_mac(const char *s, uint8_t *mac)
{
	for (unsigned int i = 0; i < 6; i++) {
		unsigned int v = 0;

		for (unsigned int d = 0; d < 2; d++, s++) {
			char c = *s;

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned int)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned int)(c - 'a' + 10);
			else
				return false;
		}
		mac[i] = (uint8_t)v;
		if (*s++ != (i < 5 ? ':' : '\0'))
			return false;
	}
	return true;
}

int guest_main(void)
{
	struct net_opts o = {0};
	struct result r = {0};
	const char *why = "";
	char buf[32];

	if (!clock_init())
		con_printf("net-bench: no kvmclock; timing with %s\n",
			   clock_source());
	B.tx = !cmdline_is("mode", "rx");
	B.size = (uint32_t)cmdline_uint_or("size", 9000, 64);
	B.secs = cmdline_uint_or("secs", 600, 3);
	B.warmup_ns = cmdline_uint_or("warmup_ms", 60000, 200) * 1000000ull;
	B.timeout_ns = cmdline_uint_or("timeout", 3600, 60) * 1000000000ull;
	if (B.size < 60 || B.secs == 0)
		result_fail("size=%u (60 or more) secs=%lu (1 or more)", B.size,
			    (unsigned long)B.secs);
	memcpy(B.dst, (const uint8_t[6]){2, 0, 0, 0, 0, 2}, 6);
	if (cmdline_get_str("dst", buf, sizeof(buf)) && !parse_mac(buf, B.dst))
		result_fail("bad dst=%s (lower-case aa:bb:cc:dd:ee:ff)", buf);
	o.packed = cmdline_is("ring", "packed");
	o.event_idx = cmdline_uint_or("event_idx", 1, 1);
	o.mrg = cmdline_uint_or("mrg", 1, 1);
	o.max_pairs = 1;
	if (net_open(&B.dev, &o, &why) < 0)
		result_fail("virtio-net: %s", why);
	if (B.size > B.dev.mtu + 14u)
		result_fail("size=%u is above the MTU (%u)", B.size, B.dev.mtu);
	B.frame = dma_alloc(NET_HDR_LEN + B.size, 64);
	if (!B.frame)
		result_fail("out of memory");
	memset(B.frame, 0, NET_HDR_LEN + B.size);
	memcpy(B.frame + NET_HDR_LEN, B.dst, 6);
	memcpy(B.frame + NET_HDR_LEN + 6, B.dev.mac, 6);
	B.frame[NET_HDR_LEN + 12] = 0x88;
	B.frame[NET_HDR_LEN + 13] = 0xb5;
	for (uint32_t i = 14; i < B.size; i++)
		B.frame[NET_HDR_LEN + i] = (uint8_t)i;
	con_printf("net-bench: mode %s, %u-byte frames, %s ring, queue size %u, "
		   "clock %s\n",
		   B.tx ? "tx" : "rx", B.size,
		   B.dev.tx[0].packed ? "packed" : "split", B.dev.tx[0].size,
		   clock_source());
	user_call(bench_user, &r);
	if (r.ns == 0)
		r.ns = 1;
	con_printf("BENCH mode=%s size=%u frames=%lu ns=%lu pps=%lu mbps=%lu\n",
		   B.tx ? "tx" : "rx", B.size, (unsigned long)r.frames,
		   (unsigned long)r.ns,
		   (unsigned long)(r.frames * 1000000000ull / r.ns),
		   (unsigned long)(r.bytes * 8000ull / r.ns));
	if (r.frames == 0)
		result_fail("no frame in the measured window");
	result_pass();
}
