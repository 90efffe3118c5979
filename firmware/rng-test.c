// SPDX-License-Identifier: MIT
/*
 * rng-test: virtio-rng (entropy device, virtio 1.2 5.4). Asks for random
 * bytes in buffers of a few sizes and checks they come back, fit their
 * buffers, differ from each other and look random (4 KiB should show
 * nearly all 256 byte values).
 *
 * Command line: ring=split|packed.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio.h"

#define SMALL 64
#define POOL 4096
#define CHUNK 1024
#define MIN_DISTINCT 200 /* of 256; 4 KiB of random bytes give ~256 */
#define TIMEOUT_NS 10000000000ull

static struct virtio_pci vp;
static struct virtq vq;
static uint8_t *small[2];
static uint8_t *pool;

/* Fill buf with exactly len random bytes; returns the requests it took. */
static unsigned int rng_fill(uint8_t *buf, uint32_t len, uint32_t chunk)
{
	uint32_t got = 0;
	unsigned int requests = 0;
	uint64_t deadline = clock_ns() + TIMEOUT_NS;

	while (got < len) {
		uint32_t want = len - got < chunk ? len - got : chunk;
		struct virtq_sg sg = {dma_addr(buf + got), want, true};
		uint32_t n;
		void *cookie;

		if (virtq_add(&vq, &sg, 1, false, buf + got) < 0)
			result_fail("rng: queue full");
		virtq_kick(&vq);
		while ((cookie = virtq_get(&vq, &n)) == NULL) {
			if (clock_ns() > deadline)
				result_fail(
				    "rng: no entropy for 10 s (%u of %u "
				    "bytes)",
				    got, len);
			cpu_relax();
		}
		if (cookie != buf + got)
			result_fail("rng: the device completed a buffer it was "
				    "not given");
		if (n > want)
			result_fail("rng: the device wrote %u bytes into a "
				    "%u-byte buffer",
				    n, want);
		got += n;
		/* Nothing written, again and again: the device is broken. */
		if (++requests > 64 + len / 4)
			result_fail("rng: %u requests brought %u of %u bytes",
				    requests, got, len);
	}
	return requests;
}

static long rng_user(void *arg)
{
	bool seen[256] = {false};
	unsigned int distinct = 0, requests;

	(void)arg;
	rng_fill(small[0], SMALL, SMALL);
	rng_fill(small[1], SMALL, SMALL);
	if (memcmp(small[0], small[1], SMALL) == 0)
		result_fail("rng: two 64-byte reads returned the same bytes");
	requests = rng_fill(pool, POOL, CHUNK);
	for (unsigned int i = 0; i < POOL; i++) {
		if (!seen[pool[i]]) {
			seen[pool[i]] = true;
			distinct++;
		}
	}
	if (distinct < MIN_DISTINCT)
		result_fail("rng: only %u distinct byte values in %u bytes",
			    distinct, POOL);
	con_printf("rng-test: %u bytes in %u requests, %u distinct byte "
		   "values; two %u-byte reads differ\n",
		   POOL, requests, distinct, SMALL);
	return 0;
}

int guest_main(void)
{
	const char *why = "";
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	clock_init();
	if (cmdline_is("ring", "packed"))
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (virtio_pci_open(&vp, VIRTIO_ID_RNG, 0, &why) < 0)
		result_fail("virtio-rng: %s", why);
	if ((want & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) &&
	    !(vp.offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		result_fail("virtio-rng: VIRTIO_F_RING_PACKED not offered");
	if (virtio_pci_negotiate(&vp, want) < 0)
		result_fail("virtio-rng: feature negotiation failed");
	if (virtq_setup(&vq, &vp, 0, 0, VIRTIO_MSI_NO_VECTOR, &why) < 0)
		result_fail("virtio-rng: %s", why);
	virtio_pci_driver_ok(&vp);

	small[0] = dma_alloc(SMALL, 64);
	small[1] = dma_alloc(SMALL, 64);
	pool = dma_alloc(POOL, 4096);
	if (!small[0] || !small[1] || !pool)
		result_fail("out of memory");
	con_printf("rng-test: %s ring, queue size %u\n",
		   vq.packed ? "packed" : "split", vq.size);
	user_call(rng_user, NULL);
	result_pass();
}
