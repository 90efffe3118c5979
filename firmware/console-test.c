// SPDX-License-Identifier: MIT
/*
 * console-test: virtio-console (virtio 1.2 5.3), port 0 only, without
 * VIRTIO_CONSOLE_F_MULTIPORT (QEMU offers it, tern does not; a driver that
 * does not take it uses receiveq 0 and transmitq 1 of port 0).
 *
 * Writes a line on the virtio console (one descriptor), then a second one
 * split over a chain of two descriptors; then reads input until a newline
 * and writes it back as "console-test: echo LINE". The serial console gets
 * "console-test: received 'LINE'". The host feeds the input (tern: stdin;
 * QEMU: the chardev's input file) and checks both directions.
 *
 * Command line: ring=split|packed  expect=STR (the input line must be STR)
 * wait=SECONDS for the input (default 20).
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio.h"

#define VIRTIO_CONSOLE_F_MULTIPORT 1

#define RX_BUFS 8
#define RX_BUF_SIZE 64
#define LINE_MAX 200
#define TX_SIZE 512
#define NSEC_PER_SEC 1000000000ull

static struct virtio_pci vp;
static struct virtq rxq, txq;
static uint8_t *rx_bufs; /* RX_BUFS of RX_BUF_SIZE */
static char *tx_buf;
static uint64_t wait_ns;
static char expect[LINE_MAX];
static bool have_expect;

static void rx_post(unsigned int i)
{
	struct virtq_sg sg = {dma_addr(rx_bufs + i * RX_BUF_SIZE), RX_BUF_SIZE,
			      true};

	if (virtq_add(&rxq, &sg, 1, false, rx_bufs + i * RX_BUF_SIZE) < 0)
		result_fail("console: receive queue full");
}

/* Send parts[0..n) as one buffer of n descriptors and wait for it. */
static void tx_send(const char *const *parts, unsigned int n)
{
	struct virtq_sg sg[2];
	char *p = tx_buf;
	uint64_t deadline;
	uint32_t len;

	for (unsigned int i = 0; i < n; i++) {
		size_t l = strlen(parts[i]);

		if (p + l > tx_buf + TX_SIZE)
			result_fail("console: message too long");
		memcpy(p, parts[i], l);
		sg[i] = (struct virtq_sg){dma_addr(p), (uint32_t)l, false};
		p += l;
	}
	if (virtq_add(&txq, sg, n, false, tx_buf) < 0)
		result_fail("console: transmit queue full");
	virtq_kick(&txq);
	deadline = clock_ns() + 10 * NSEC_PER_SEC;
	while (virtq_get(&txq, &len) == NULL) {
		if (clock_ns() > deadline)
			result_fail(
			    "console: a transmit buffer was not used in "
			    "10 s");
		cpu_relax();
	}
}

static long console_user(void *arg)
{
	char line[LINE_MAX];
	unsigned int n = 0, chunks = 0;
	uint64_t deadline;
	bool eol = false;

	(void)arg;
	{
		const char *hello[] = {"console-test: hello from the guest\n"};
		const char *chain[] = {"console-test: a line in ",
				       "two descriptors\n"};

		tx_send(hello, 1);
		tx_send(chain, 2);
	}

	deadline = clock_ns() + wait_ns;
	while (!eol) {
		uint32_t len;
		uint8_t *buf = virtq_get(&rxq, &len);

		if (buf == NULL) {
			if (clock_ns() > deadline)
				result_fail(
				    "console: no input line within %lu s "
				    "(%u bytes so far)",
				    (unsigned long)(wait_ns / NSEC_PER_SEC), n);
			cpu_relax();
			continue;
		}
		unsigned int i = (unsigned int)((buf - rx_bufs) / RX_BUF_SIZE);

		if (i >= RX_BUFS || buf != rx_bufs + i * RX_BUF_SIZE)
			result_fail(
			    "console: the device returned a buffer it was "
			    "not given");
		if (len > RX_BUF_SIZE)
			result_fail("console: %u bytes in a %u-byte buffer",
				    len, RX_BUF_SIZE);
		chunks++;
		for (uint32_t k = 0; k < len && !eol; k++) {
			if (buf[k] == '\n' || buf[k] == '\r')
				eol = true;
			else if (n + 1 < LINE_MAX)
				line[n++] = (char)buf[k];
		}
		rx_post(i);
		virtq_kick(&rxq);
	}
	line[n] = '\0';

	{
		const char *echo[] = {"console-test: echo ", line};
		const char *nl[] = {"\n"};

		tx_send(echo, 2);
		tx_send(nl, 1);
	}
	con_printf("console-test: received '%s' in %u buffer(s)\n", line,
		   chunks);
	if (have_expect && strncmp(line, expect, LINE_MAX) != 0)
		result_fail("console: input '%s', expected '%s'", line, expect);
	return 0;
}

int guest_main(void)
{
	const char *why = "";
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	clock_init();
	wait_ns = cmdline_uint_or("wait", 3600, 20) * NSEC_PER_SEC;
	have_expect = cmdline_get_str("expect", expect, sizeof(expect));
	if (cmdline_is("ring", "packed"))
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (virtio_pci_open(&vp, VIRTIO_ID_CONSOLE, 0, &why) < 0)
		result_fail("virtio-console: %s", why);
	if ((want & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) &&
	    !(vp.offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		result_fail("virtio-console: VIRTIO_F_RING_PACKED not offered");
	/* Port 0 alone: MULTIPORT stays off even when offered. */
	if (virtio_pci_negotiate(&vp, want) < 0 ||
	    (vp.features & VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT)))
		result_fail("virtio-console: feature negotiation failed");
	if (vp.num_queues < 2)
		result_fail("virtio-console: %u queues, port 0 needs 2",
			    vp.num_queues);
	if (virtq_setup(&rxq, &vp, 0, 0, VIRTIO_MSI_NO_VECTOR, &why) < 0 ||
	    virtq_setup(&txq, &vp, 1, 0, VIRTIO_MSI_NO_VECTOR, &why) < 0)
		result_fail("virtio-console: %s", why);

	rx_bufs = dma_alloc(RX_BUFS * RX_BUF_SIZE, 64);
	tx_buf = dma_alloc(TX_SIZE, 64);
	if (!rx_bufs || !tx_buf)
		result_fail("out of memory");
	/* No notification may precede DRIVER_OK; input waits in the host. */
	virtio_pci_driver_ok(&vp);
	for (unsigned int i = 0; i < RX_BUFS; i++)
		rx_post(i);
	virtq_kick(&rxq);

	con_printf("console-test: %s ring, waiting up to %lu s for a line\n",
		   rxq.packed ? "packed" : "split",
		   (unsigned long)(wait_ns / NSEC_PER_SEC));
	user_call(console_user, NULL);
	result_pass();
}
