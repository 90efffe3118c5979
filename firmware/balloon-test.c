// SPDX-License-Identifier: MIT
/*
 * balloon-test: a virtio-balloon driver (virtio 1.2, 5.5) that follows the
 * host's target, in four phases the host drives over QMP
 * (tests/integration/balloon.sh):
 *
 *   1. touch a region of `mib` MiB, then wait for a target: inflate to it
 *      with pages of the region, set `actual`;
 *   2. wait for the target to go back to 0: deflate, check the pages read
 *      as zero (zero=1: the host gave them back), touch them again, set
 *      `actual`;
 *   3. wait for a statistics request (the host turned polling on), answer
 *      it, then with report=1 report the whole region as free
 *      (VIRTIO_BALLOON_F_REPORTING) in 4 MiB ranges;
 *   4. wait for a last target: check what reporting did (zeros, or with
 *      poison=1 the poison value kept), inflate to it in two halves, each
 *      setting `actual`; wait for the target
 *      to go back to 0, deflate; then with bad=1 hand over page numbers
 *      outside RAM and a report not in whole pages (the device must carry
 *      on), and with bad=2 last a report outside RAM (tern's device must
 *      ask for a reset).
 *
 * Statistics are answered whenever the device gives the request back:
 * swap-in counts the rounds, total memory is the memmap's RAM, free memory
 * what the allocator has left, an unknown tag 0x42 rides along.
 * Everything after the set-up runs in ring 3 (polling, MMIO only).
 *
 * Command line: mib=N (default 64), ring=split|packed, oom=0|1 (expect
 * DEFLATE_ON_OOM offered), report=0|1 (expect REPORTING offered and use
 * it), poison=0|1 (negotiate PAGE_POISON, poison value 0xaa), zero=0|1,
 * bad=0|1|2.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio.h"

#define VIRTIO_ID_BALLOON 5
#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_PAGE_POISON 4
#define F_REPORTING 5

#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4
#define CFG_POISON_VAL 12

#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS 2
#define Q_REPORT 3

#define PAGE 4096ull
#define PFNS_PER_LIST 1024
#define REPORT_CHUNK (4ull << 20)
#define POISON 0xaau
#define NR_STATS 5
#define TIMEOUT_NS 60000000000ull

static struct virtio_pci vp;
static struct virtq vq[4];
static bool reporting, poison, check_zero;
static unsigned int bad;
static uint8_t *region;
static uint64_t region_pages, ballooned, round;
static uint32_t *pfn_list;
static uint8_t *stats_buf;

static uint64_t page_addr(uint64_t i)
{
	return dma_addr(region) + i * PAGE;
}

/* Each page of the region holds its own number in every qword. */
static void touch(uint64_t first, uint64_t n, uint64_t tag)
{
	for (uint64_t i = first; i < first + n; i++) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)page_addr(i);

		for (unsigned int j = 0; j < PAGE / 8; j++)
			p[j] = tag ^ i;
	}
}

/* How many pages of [first, first + n) do not hold only byte v. */
static uint64_t pages_not(uint64_t first, uint64_t n, uint8_t v)
{
	uint64_t want = 0x0101010101010101ull * v, bad_pages = 0;

	for (uint64_t i = first; i < first + n; i++) {
		const volatile uint64_t *p =
		    (const volatile uint64_t *)(uintptr_t)page_addr(i);

		for (unsigned int j = 0; j < PAGE / 8; j++) {
			if (p[j] != want) {
				bad_pages++;
				break;
			}
		}
	}
	return bad_pages;
}

static uint32_t cfg_read(unsigned int off)
{
	return virtio_cfg_read32(&vp, off);
}

static void cfg_write(unsigned int off, uint32_t v)
{
	mmio_write32(vp.device + off, v);
}

static void wait_used(struct virtq *q, const char *what)
{
	uint64_t deadline = clock_ns() + TIMEOUT_NS;
	uint32_t len;

	while (!virtq_get(q, &len)) {
		if (clock_ns() > deadline)
			result_fail("balloon: no answer on the %s queue", what);
		cpu_relax();
	}
}

/* Hand pages [first, first + n) of the region over on queue q. */
static void send_pages(unsigned int q, uint64_t first, uint64_t n)
{
	while (n) {
		unsigned int k = n < PFNS_PER_LIST ? (unsigned int)n : PFNS_PER_LIST;
		struct virtq_sg sg = {dma_addr(pfn_list), k * 4, false};

		for (unsigned int i = 0; i < k; i++)
			pfn_list[i] = (uint32_t)(page_addr(first + i) / PAGE);
		if (virtq_add(&vq[q], &sg, 1, false, pfn_list) < 0)
			result_fail("balloon: page queue full");
		virtq_kick(&vq[q]);
		wait_used(&vq[q], q == Q_INFLATE ? "inflate" : "deflate");
		first += k;
		n -= k;
	}
}

static size_t put_stat(size_t off, uint16_t tag, uint64_t val)
{
	memcpy(stats_buf + off, &tag, 2);
	memcpy(stats_buf + off + 2, &val, 8);
	return off + 10;
}

static void send_stats(void)
{
	struct virtq_sg sg = {dma_addr(stats_buf), 0, false};
	size_t len = 0;

	round++;
	len = put_stat(len, 0, round); /* swap-in */
	len = put_stat(len, 5, start_info_ram_bytes()); /* total memory */
	len = put_stat(len, 4, dma_free_bytes()); /* free memory */
	len = put_stat(len, 0x42, 1); /* unknown to the device */
	len = put_stat(len, 6, 12345); /* available memory */
	sg.len = (uint32_t)len;
	if (virtq_add(&vq[Q_STATS], &sg, 1, false, stats_buf) < 0)
		result_fail("balloon: stats queue full");
	virtq_kick(&vq[Q_STATS]);
}

/* Did the device give the stats request back? Then answer it. */
static bool stats_poll(void)
{
	uint32_t len;

	if (!virtq_get(&vq[Q_STATS], &len))
		return false;
	send_stats();
	return true;
}

/* Wait for a target other than `ballooned`, answering stats meanwhile. */
static uint64_t wait_target(const char *what)
{
	uint64_t deadline = clock_ns() + TIMEOUT_NS;

	for (;;) {
		uint64_t t = cfg_read(CFG_NUM_PAGES);

		if (t != ballooned)
			return t;
		stats_poll();
		if (clock_ns() > deadline)
			result_fail("balloon: no %s within 60 s", what);
		for (uint64_t until = clock_ns() + 1000000; clock_ns() < until;)
			cpu_relax();
	}
}

/* Inflate to target, telling the device `actual` after each of steps parts. */
static void inflate_to(uint64_t target, unsigned int steps)
{
	uint64_t from = ballooned;

	if (target > region_pages)
		result_fail("balloon: a target of %lu pages, the region has %lu",
			    (unsigned long)target, (unsigned long)region_pages);
	for (unsigned int i = 1; i <= steps; i++) {
		uint64_t to = from + (target - from) * i / steps;

		send_pages(Q_INFLATE, ballooned, to - ballooned);
		ballooned = to;
		cfg_write(CFG_ACTUAL, (uint32_t)ballooned);
	}
	con_printf("balloon-test: inflated to %lu pages\n",
		   (unsigned long)ballooned);
}

static void report_region(void)
{
	uint64_t chunks = region_pages * PAGE / REPORT_CHUNK;

	for (uint64_t i = 0; i < chunks; i++) {
		struct virtq_sg sg = {dma_addr(region) + i * REPORT_CHUNK,
				      (uint32_t)REPORT_CHUNK, true};

		if (virtq_add(&vq[Q_REPORT], &sg, 1, false, region) < 0)
			result_fail("balloon: report queue full");
		virtq_kick(&vq[Q_REPORT]);
		wait_used(&vq[Q_REPORT], "reporting");
	}
	con_printf("balloon-test: reported %lu MiB free\n",
		   (unsigned long)(chunks * REPORT_CHUNK >> 20));
}

/* What the device must shrug off, then what must cost it a reset. */
static void bad_input(void)
{
	static const uint32_t outside[] = {0xc0000, 0xfffff, 0xffffffff};
	uint64_t deadline;

	memcpy(pfn_list, outside, sizeof(outside));
	{
		struct virtq_sg sg = {dma_addr(pfn_list), sizeof(outside) + 2,
				      false};

		virtq_add(&vq[Q_INFLATE], &sg, 1, false, pfn_list);
		virtq_kick(&vq[Q_INFLATE]);
		wait_used(&vq[Q_INFLATE], "inflate");
	}
	if (reporting) {
		struct virtq_sg sg = {dma_addr(region) + 512, (uint32_t)PAGE,
				      true};

		virtq_add(&vq[Q_REPORT], &sg, 1, false, region);
		virtq_kick(&vq[Q_REPORT]);
		wait_used(&vq[Q_REPORT], "reporting");
	}
	if (virtio_pci_status(&vp) & VIRTIO_STATUS_NEEDS_RESET)
		result_fail("balloon: the device needs a reset after input it "
			    "should ignore");
	con_printf("balloon-test: pages outside RAM%s ignored\n",
		   reporting ? " and a report not in whole pages" : "");
	if (!reporting || bad < 2)
		return;
	{
		struct virtq_sg sg = {0xd0000000ull, (uint32_t)PAGE, true};

		virtq_add(&vq[Q_REPORT], &sg, 1, false, region);
		virtq_kick(&vq[Q_REPORT]);
	}
	deadline = clock_ns() + TIMEOUT_NS;
	while (!(virtio_pci_status(&vp) & VIRTIO_STATUS_NEEDS_RESET))
		if (clock_ns() > deadline)
			result_fail("balloon: a report outside RAM was taken");
	con_printf("balloon-test: a report outside RAM: the device needs a "
		   "reset\n");
}

static long balloon_user(void *arg)
{
	uint64_t t;

	(void)arg;
	touch(0, region_pages, 0x5a5a5a5a00000000ull);
	con_printf("balloon-test: touched %lu MiB at 0x%lx\n",
		   (unsigned long)(region_pages * PAGE >> 20),
		   (unsigned long)dma_addr(region));

	/* 1: inflate. */
	inflate_to(wait_target("first target"), 1);

	/* 2: deflate, all the way. */
	t = wait_target("deflate");
	if (t != 0)
		result_fail("balloon: expected a target of 0, got %lu",
			    (unsigned long)t);
	send_pages(Q_DEFLATE, 0, ballooned);
	if (check_zero && pages_not(0, ballooned, 0))
		result_fail("balloon: %lu deflated pages do not read as zero",
			    (unsigned long)pages_not(0, ballooned, 0));
	touch(0, ballooned, 0x5a5a5a5a00000000ull);
	con_printf("balloon-test: deflated %lu pages%s\n",
		   (unsigned long)ballooned,
		   check_zero ? ", they read as zero" : "");
	ballooned = 0;
	cfg_write(CFG_ACTUAL, 0);

	/* 3: a stats request, then free page reporting. */
	{
		uint64_t deadline = clock_ns() + TIMEOUT_NS;

		while (!stats_poll())
			if (clock_ns() > deadline)
				result_fail("balloon: no stats request in 60 s");
	}
	con_printf("balloon-test: stats round %lu sent\n",
		   (unsigned long)round);
	if (reporting) {
		if (poison)
			memset(region, (int)POISON, region_pages * PAGE);
		report_region();
	}

	/* 4: a last target, then the checks and the bad input. */
	t = wait_target("last target");
	if (reporting && (check_zero || poison)) {
		uint8_t v = poison ? POISON : 0;
		uint64_t n = pages_not(0, region_pages, v);

		if (n)
			result_fail("balloon: %lu reported pages do not read "
				    "0x%x",
				    (unsigned long)n, v);
		con_printf("balloon-test: reported pages read 0x%x\n", v);
	}
	/* Two changes of `actual` in a row: the host throttles its events. */
	inflate_to(t, 2);

	/* The end: all back, then what the device must survive. */
	if (wait_target("the last deflate") != 0)
		result_fail("balloon: expected a target of 0 at the end");
	send_pages(Q_DEFLATE, 0, ballooned);
	ballooned = 0;
	cfg_write(CFG_ACTUAL, 0);
	con_puts("balloon-test: deflated at the end");
	if (bad)
		bad_input();
	return 0;
}

int guest_main(void)
{
	const char *why = "";
	uint64_t mib = cmdline_uint_or("mib", 1024, 64);
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(F_STATS_VQ);
	bool oom = cmdline_uint_or("oom", 1, 0);
	unsigned int nq;

	clock_init();
	reporting = cmdline_uint_or("report", 1, 0);
	poison = cmdline_uint_or("poison", 1, 0);
	check_zero = cmdline_uint_or("zero", 1, 0);
	bad = (unsigned int)cmdline_uint_or("bad", 2, 0);
	if (cmdline_is("ring", "packed"))
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (virtio_pci_open(&vp, VIRTIO_ID_BALLOON, 0, &why) < 0)
		result_fail("virtio-balloon: %s", why);
	if (!(vp.offered & VIRTIO_BIT(F_STATS_VQ)))
		result_fail("virtio-balloon: STATS_VQ not offered");
	if (!!(vp.offered & VIRTIO_BIT(F_DEFLATE_ON_OOM)) != oom)
		result_fail("virtio-balloon: DEFLATE_ON_OOM %soffered",
			    oom ? "not " : "");
	if (!!(vp.offered & VIRTIO_BIT(F_REPORTING)) != reporting)
		result_fail("virtio-balloon: REPORTING %soffered",
			    reporting ? "not " : "");
	if ((want & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) &&
	    !(vp.offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		result_fail("virtio-balloon: VIRTIO_F_RING_PACKED not offered");
	if (oom)
		want |= VIRTIO_BIT(F_DEFLATE_ON_OOM);
	if (reporting)
		want |= VIRTIO_BIT(F_REPORTING);
	if (poison)
		want |= VIRTIO_BIT(F_PAGE_POISON);
	if (virtio_pci_negotiate(&vp, want) < 0)
		result_fail("virtio-balloon: feature negotiation failed");
	if (poison && !(vp.features & VIRTIO_BIT(F_PAGE_POISON)))
		result_fail("virtio-balloon: PAGE_POISON not offered");
	nq = reporting ? 4 : 3;
	for (unsigned int i = 0; i < nq; i++)
		if (virtq_setup(&vq[i], &vp, (uint16_t)i, 0,
				VIRTIO_MSI_NO_VECTOR, &why) < 0)
			result_fail("virtio-balloon: queue %u: %s", i, why);
	/* 5.5.6.4: before DRIVER_OK, the value free pages hold. */
	if (poison)
		cfg_write(CFG_POISON_VAL, POISON);
	virtio_pci_driver_ok(&vp);

	pfn_list = dma_alloc(PFNS_PER_LIST * 4, 4096);
	stats_buf = dma_alloc(NR_STATS * 10, 64);
	region = dma_alloc(mib << 20, 2 << 20);
	if (!pfn_list || !stats_buf || !region)
		result_fail("out of memory for a %lu MiB region",
			    (unsigned long)mib);
	region_pages = (mib << 20) / PAGE;
	con_printf("balloon-test: %s ring, %u queues, features 0x%lx\n",
		   vq[0].packed ? "packed" : "split", nq,
		   (unsigned long)vp.features);
	/* 5.5.6.3: the driver gives the first statistics at once. */
	send_stats();
	user_call(balloon_user, NULL);
	result_pass();
}
