// SPDX-License-Identifier: MIT
/*
 * virtio-balloon: the --balloon option, the page lists and statistics as
 * pure functions with every malformed input, then the whole device
 * (virtio-pci function, model, I/O thread) driven by a small split-ring
 * driver in this file on plain memory: no KVM needed.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/eventfd.h"
#include "tern/layout.h"
#include "tern/machine.h"
#include "tern/pci.h"
#include "tern/state.h"
#include "tern/virtio-balloon.h"
#include "tern/virtio.h"
#include "run-args.h"
#include "unit.h"

static void expect_error(const char *needle, char *msg)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, needle), "'%s' does not mention '%s'", msg,
		      needle);
	g_free(msg);
}

/* ---- the option ---- */

START_TEST(option_forms)
{
	struct vm_config c;

	ck_assert(parse_run(&c, NULL, NULL));
	ck_assert(!c.balloon.enabled);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL, "--balloon", NULL));
	ck_assert(c.balloon.enabled);
	ck_assert(!c.balloon.deflate_on_oom);
	ck_assert(!c.balloon.free_page_reporting);
	ck_assert_uint_eq(c.balloon.stats_period, 0);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL,
			    "--balloon=deflate-on-oom=on,free-page-reporting=on,stats-period=4294967295",
			    NULL));
	ck_assert(c.balloon.enabled && c.balloon.deflate_on_oom &&
		  c.balloon.free_page_reporting);
	ck_assert_uint_eq(c.balloon.stats_period, UINT32_MAX);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL,
			    "--balloon=stats-period=0,deflate-on-oom=off",
			    NULL));
	ck_assert(c.balloon.enabled && !c.balloon.deflate_on_oom);
	config_clear(&c);
}
END_TEST

START_TEST(option_malformed)
{
	static const struct {
		const char *arg, *says;
	} bad[] = {
		{ "--balloon=x", "unknown option 'x'" },
		{ "--balloon=deflate-on-oom", "expected on or off" },
		{ "--balloon=deflate-on-oom=yes", "expected on or off" },
		{ "--balloon=free-page-reporting=ON", "expected on or off" },
		{ "--balloon=stats-period=-1", "expected a number of seconds" },
		{ "--balloon=stats-period=1s", "expected a number of seconds" },
		{ "--balloon=stats-period=010", "expected a number of seconds" },
		{ "--balloon=stats-period=", "expected a number of seconds" },
		{ "--balloon=stats-period=4294967296", "from 0 to 4294967295" },
		{ "--balloon=stats-period=99999999999999999999", "expected a number" },
		{ "--balloon=stats-period=1,stats-period=1", "given twice" },
		{ "--balloon=deflate-on-oom=on,", "unknown option ''" },
		{ "--balloon=,deflate-on-oom=on", "unknown option ''" },
		{ "--balloon=deflate-on-oom=on=on", "expected on or off" },
	};
	struct vm_config c;
	char *msg;

	for (unsigned int i = 0; i < G_N_ELEMENTS(bad); i++) {
		ck_assert_msg(!parse_run(&c, &msg, bad[i].arg, NULL), "%s",
			      bad[i].arg);
		ck_assert_msg(strstr(msg, "--balloon"), "%s: %s", bad[i].arg, msg);
		expect_error(bad[i].says, msg);
	}
	ck_assert(!parse_run(&c, &msg, "--balloon", "--balloon=stats-period=1",
			     NULL));
	expect_error("--balloon: given twice", msg);
	/* GOption also takes the value as the next word. */
	ck_assert(!parse_run(&c, &msg, "--balloon", "stats-period=x", NULL));
	expect_error("--balloon 'stats-period=x'", msg);
}
END_TEST

/* ---- page lists ---- */

START_TEST(pfn_runs)
{
	const uint32_t hole = LAYOUT_MMIO32_START >> 12;
	const uint32_t high = LAYOUT_RAM_ABOVE_4G >> 12;
	struct guest_memory m;
	struct balloon_range r[16];
	unsigned int bad = 0, n;
	uint32_t first = 0;

	/* 3 GiB + 16 MiB: a low and a high region, not mapped. */
	ck_assert_int_eq(guest_memory_layout(LAYOUT_MMIO32_START + 16 * MiB, &m), 0);
	{
		const uint32_t pfns[] = { 5, 6, 7, 9, 8, 8, hole - 2, hole - 1,
					  hole, high, high + 1 };

		n = balloon_pfn_ranges(&m, pfns, G_N_ELEMENTS(pfns), r, &bad,
				       &first);
	}
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(r[0].gpa, 5 * 4096);
	ck_assert_uint_eq(r[0].len, 3 * 4096);
	ck_assert_uint_eq(r[1].gpa, 9 * 4096);
	ck_assert_uint_eq(r[1].len, 4096);
	/* Out of order and repeated pages are runs of their own. */
	ck_assert_uint_eq(r[2].gpa, 8 * 4096);
	ck_assert_uint_eq(r[3].gpa, 8 * 4096);
	/* Up to the hole, which is not RAM; the high region is its own run. */
	ck_assert_uint_eq(r[4].gpa, (uint64_t)(hole - 2) << 12);
	ck_assert_uint_eq(r[4].len, 2 * 4096);
	ck_assert_uint_eq(r[5].gpa, LAYOUT_RAM_ABOVE_4G);
	ck_assert_uint_eq(r[5].len, 2 * 4096);
	ck_assert_uint_eq(bad, 1);
	ck_assert_uint_eq(first, hole);

	/* Past the end of RAM, the top page number, the 32-bit hole's end. */
	{
		const uint32_t pfns[] = { (uint32_t)(m.end >> 12) - 1,
					  (uint32_t)(m.end >> 12), UINT32_MAX,
					  high - 1, 0 };

		bad = 0;
		n = balloon_pfn_ranges(&m, pfns, G_N_ELEMENTS(pfns), r, &bad,
				       &first);
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(r[0].gpa, m.end - 4096);
	ck_assert_uint_eq(r[1].gpa, 0);
	ck_assert_uint_eq(bad, 3);
	ck_assert_uint_eq(first, m.end >> 12);
	/* Nothing at all. */
	bad = 0;
	ck_assert_uint_eq(balloon_pfn_ranges(&m, NULL, 0, r, &bad, &first), 0);
	ck_assert_uint_eq(bad, 0);
}
END_TEST

/* ---- statistics ---- */

static size_t put_stat(uint8_t *buf, size_t off, uint16_t tag, uint64_t val)
{
	tag = htole16(tag);
	val = htole64(val);
	memcpy(buf + off, &tag, 2);
	memcpy(buf + off + 2, &val, 8);
	return off + BALLOON_STAT_ENTRY_SIZE;
}

START_TEST(stats_entries)
{
	uint64_t v[BALLOON_S_NR];
	uint8_t buf[128];
	size_t len = 0;

	len = put_stat(buf, len, BALLOON_S_MEMTOT, 1ULL << 40);
	len = put_stat(buf, len, 99, 7); /* unknown: skipped */
	len = put_stat(buf, len, BALLOON_S_NR, 7); /* just past the known */
	len = put_stat(buf, len, BALLOON_S_SWAP_IN, 1);
	len = put_stat(buf, len, BALLOON_S_SWAP_IN, 2); /* the last one wins */
	len = put_stat(buf, len, BALLOON_S_HTLB_PGFAIL, UINT64_MAX - 1);
	ck_assert_uint_eq(balloon_stats_parse(buf, len + 9, v), 4);
	ck_assert_uint_eq(v[BALLOON_S_MEMTOT], 1ULL << 40);
	ck_assert_uint_eq(v[BALLOON_S_SWAP_IN], 2);
	ck_assert_uint_eq(v[BALLOON_S_HTLB_PGFAIL], UINT64_MAX - 1);
	/* What the buffer did not carry reads as unset (QEMU's -1). */
	ck_assert_uint_eq(v[BALLOON_S_MEMFREE], BALLOON_STAT_UNSET);
	ck_assert_uint_eq(v[BALLOON_S_SWAP_OUT], BALLOON_STAT_UNSET);
	/* Empty and shorter than one entry: everything unset. */
	ck_assert_uint_eq(balloon_stats_parse(buf, 0, v), 0);
	ck_assert_uint_eq(balloon_stats_parse(buf, 9, v), 0);
	for (unsigned int i = 0; i < BALLOON_S_NR; i++)
		ck_assert_uint_eq(v[i], BALLOON_STAT_UNSET);
	/* QEMU's names, one per tag. */
	ck_assert_str_eq(balloon_stat_names[BALLOON_S_SWAP_IN], "stat-swap-in");
	ck_assert_str_eq(balloon_stat_names[BALLOON_S_AVAIL],
			 "stat-available-memory");
	ck_assert_str_eq(balloon_stat_names[BALLOON_S_HTLB_PGFAIL],
			 "stat-htlb-pgfail");
}
END_TEST

/* ---- the device ---- */

#define RAM_SIZE (LAYOUT_MMIO32_START + 16 * MiB)
#define QSIZE 64
#define RING_BASE 0x10000ULL
#define RING_STRIDE 0x4000ULL
#define RING_AVAIL 0x1000ULL /* from a queue's descriptor table */
#define RING_USED 0x2000ULL
#define BUF_BASE 0x100000ULL /* page lists and stats */
#define DATA_BASE 0x400000ULL /* the pages given up, 1 MiB of them */
#define NOTE_QUEUE_NONE 0xff

struct vring_desc_t {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct tvm {
	struct guest_memory mem;
	struct bus pio, mmio;
	struct pci_host *pci;
	struct machine machine;
	struct vm_config cfg;
	struct virtio_device *vdev;
	uint16_t avail_idx[4], used_seen[4], next_desc[4];
};

static int sink_line(void *o, uint32_t gsi, bool level)
{
	return 0;
}

static int sink_routes(void *o, const struct msi_route *r, unsigned int n)
{
	return 0;
}

static int sink_irqfd(void *o, int fd, uint32_t gsi, bool assign)
{
	return 0;
}

static const struct machine_ops sink_ops = {
	.set_irq_line = sink_line,
	.set_msi_routes = sink_routes,
	.irqfd = sink_irqfd,
};

static void *gpa(struct tvm *t, uint64_t addr, uint64_t len)
{
	void *p = guest_memory_ptr(&t->mem, addr, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void tvm_init(struct tvm *t, const char *opts, bool shared)
{
	const struct guest_memory_config mc = { .size = RAM_SIZE,
						.shared = shared };
	struct pci_host_params p;
	GError *err = NULL;
	uint32_t cmd = 0;

	memset(t, 0, sizeof(*t));
	ck_assert(balloon_config_parse(opts, &t->cfg.balloon, &err));
	ck_assert_int_eq(guest_memory_init_config(&t->mem, &mc), 0);
	bus_init(&t->pio, "pio");
	bus_init(&t->mmio, "mmio");
	pci_host_params_platform(&p, &t->pio, &t->mmio, &t->mem);
	p.irq_ops = &sink_ops;
	t->pci = pci_host_new(&p, &err);
	ck_assert_ptr_nonnull(t->pci);
	t->machine = (struct machine){
		.cfg = &t->cfg, .mem = &t->mem, .pio = &t->pio,
		.mmio = &t->mmio, .pci = t->pci, .ops = &sink_ops,
	};
	ck_assert_uint_eq(virtio_balloon_device_type.count(&t->cfg), 1);
	t->vdev = virtio_balloon_device_type.create(&t->machine, 0, &err);
	ck_assert_msg(t->vdev, "%s", err ? err->message : "?");
	/* The driver turns bus mastering on first (slot 1, function 0). */
	pci_host_config_read(t->pci, 0, 1 << 3, PCI_COMMAND, &cmd, 2);
	cmd |= PCI_COMMAND_MASTER;
	pci_host_config_write(t->pci, 0, 1 << 3, PCI_COMMAND, &cmd, 2);
}

static void tvm_fini(struct tvm *t)
{
	virtio_balloon_device_type.destroy(t->vdev);
	pci_host_destroy(t->pci);
	bus_destroy(&t->mmio);
	bus_destroy(&t->pio);
	guest_memory_destroy(&t->mem);
}

/* The driver's side of 3.1.1: features f, nq queues, DRIVER_OK. */
static void tvm_driver(struct tvm *t, uint64_t f, unsigned int nq)
{
	struct virtio_device *v = t->vdev;
	const uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	memset(t->avail_idx, 0, sizeof(t->avail_idx));
	memset(t->used_seen, 0, sizeof(t->used_seen));
	memset(t->next_desc, 0, sizeof(t->next_desc));
	memset(gpa(t, RING_BASE, 4 * RING_STRIDE), 0, 4 * RING_STRIDE);
	f |= 1ULL << VIRTIO_F_VERSION_1;
	virtio_device_set_status(v, s);
	virtio_device_set_driver_features(v, 0, (uint32_t)f);
	virtio_device_set_driver_features(v, 1, (uint32_t)(f >> 32));
	virtio_device_set_status(v, s | VIRTIO_STATUS_FEATURES_OK);
	ck_assert(virtio_device_get_status(v) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int i = 0; i < nq; i++) {
		uint64_t base = RING_BASE + i * RING_STRIDE;

		*virtq_layout(v->queues[i]) = (struct virtq_layout){
			.size = QSIZE, .enabled = true, .desc = base,
			.driver = base + RING_AVAIL, .device = base + RING_USED,
		};
	}
	virtio_device_set_status(v, s | VIRTIO_STATUS_FEATURES_OK |
					    VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(virtio_device_get_status(v) &
				  VIRTIO_STATUS_NEEDS_RESET, 0);
}

struct tbuf {
	uint64_t addr;
	uint32_t len;
	bool writable;
};

static void tvm_add(struct tvm *t, unsigned int q, const struct tbuf *b,
		    unsigned int n)
{
	uint64_t base = RING_BASE + q * RING_STRIDE;
	struct vring_desc_t *desc = gpa(t, base, 16 * QSIZE);
	uint16_t *avail = gpa(t, base + RING_AVAIL, 6 + 2 * QSIZE);
	uint16_t head = t->next_desc[q];

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (head + i) % QSIZE;

		desc[d] = (struct vring_desc_t){
			.addr = htole64(b[i].addr), .len = htole32(b[i].len),
			.flags = htole16((b[i].writable ? 2 : 0) |
					 (i + 1 < n ? 1 : 0)),
			.next = htole16((d + 1) % QSIZE),
		};
	}
	t->next_desc[q] = (head + n) % QSIZE;
	avail[2 + t->avail_idx[q] % QSIZE] = htole16(head);
	t->avail_idx[q]++;
	__atomic_store_n(&avail[1], htole16(t->avail_idx[q]), __ATOMIC_RELEASE);
	efd_signal(virtq_kick_fd(t->vdev->queues[q]));
}

static uint16_t tvm_used(struct tvm *t, unsigned int q)
{
	volatile uint16_t *used = gpa(t, RING_BASE + q * RING_STRIDE + RING_USED, 4);

	return le16toh(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE));
}

/* Wait up to ms for n more used chains on queue q; false on time-out. */
static bool tvm_wait(struct tvm *t, unsigned int q, unsigned int n, int ms)
{
	uint16_t want = t->used_seen[q] + n;

	for (int i = 0; tvm_used(t, q) != want; i++) {
		if (i >= ms)
			return false;
		usleep(1000);
	}
	t->used_seen[q] = want;
	return true;
}

static void tvm_pages(struct tvm *t, unsigned int q, const uint32_t *pfns,
		      unsigned int n)
{
	uint32_t *list = gpa(t, BUF_BASE, 4 * n);

	for (unsigned int i = 0; i < n; i++)
		list[i] = htole32(pfns[i]);
	tvm_add(t, q, &(struct tbuf){ BUF_BASE, 4 * n, false }, 1);
	ck_assert(tvm_wait(t, q, 1, 5000));
}

static uint32_t cfg32(struct tvm *t, unsigned int off)
{
	uint32_t v = 0;

	virtio_device_config_read(t->vdev, off, &v, 4);
	return le32toh(v);
}

static void cfg32_write(struct tvm *t, unsigned int off, uint32_t v)
{
	v = htole32(v);
	virtio_device_config_write(t->vdev, off, &v, 4);
}

static bool needs_reset(struct tvm *t)
{
	return virtio_device_get_status(t->vdev) & VIRTIO_STATUS_NEEDS_RESET;
}

static bool page_holds(struct tvm *t, uint64_t addr, uint8_t v)
{
	const uint8_t *p = gpa(t, addr, 4096);

	for (unsigned int i = 0; i < 4096; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool resident(struct tvm *t, uint64_t addr)
{
	unsigned char vec = 0;

	ck_assert_int_eq(mincore(gpa(t, addr, 4096), 4096, &vec), 0);
	return vec & 1;
}

START_TEST(device_identity)
{
	struct tvm t;
	uint32_t id = 0, class = 0;

	tvm_init(&t, NULL, false);
	pci_host_config_read(t.pci, 0, 1 << 3, PCI_VENDOR_ID, &id, 4);
	ck_assert_uint_eq(id, 0x1af4 | (0x1045U << 16));
	pci_host_config_read(t.pci, 0, 1 << 3, PCI_REVISION_ID, &class, 4);
	ck_assert_uint_eq(class >> 8, 0x00ff00);
	/* QEMU's default: stats and page poison, nothing else of the model. */
	ck_assert_uint_eq(virtio_device_host_features(t.vdev, 0) & 0xffffff,
			  (1U << VIRTIO_BALLOON_F_STATS_VQ) |
				  (1U << VIRTIO_BALLOON_F_PAGE_POISON));
	ck_assert_uint_eq(t.vdev->nr_queues, 3);
	ck_assert_uint_eq(t.vdev->config_size, BALLOON_CFG_SIZE);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES), 0);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_ACTUAL), 0);
	ck_assert_uint_eq(virtio_balloon_actual(t.vdev), RAM_SIZE);
	tvm_fini(&t);

	tvm_init(&t, "deflate-on-oom=on,free-page-reporting=on", false);
	ck_assert_uint_eq(virtio_device_host_features(t.vdev, 0) & 0xffffff,
			  (1U << VIRTIO_BALLOON_F_STATS_VQ) |
				  (1U << VIRTIO_BALLOON_F_PAGE_POISON) |
				  (1U << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
				  (1U << VIRTIO_BALLOON_F_REPORTING));
	ck_assert_uint_eq(t.vdev->nr_queues, 4);
	tvm_fini(&t);
}
END_TEST

static void inflate_gives_back(bool shared)
{
	const uint32_t base = DATA_BASE >> 12;
	struct tvm t;
	struct stat st;
	uint64_t before = 0;

	tvm_init(&t, NULL, shared);
	tvm_driver(&t, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);
	memset(gpa(&t, DATA_BASE, 1 * MiB), 0x5a, 1 * MiB);
	/* The page list's page too, so that only the discard changes blocks. */
	memset(gpa(&t, BUF_BASE, 4096), 0, 4096);
	if (shared) {
		ck_assert_int_eq(fstat(t.mem.fd, &st), 0);
		before = st.st_blocks * 512;
	}
	/* Pages 0-63 and 100, the hole, past the end: the last two ignored. */
	{
		uint32_t pfns[66];

		for (unsigned int i = 0; i < 64; i++)
			pfns[i] = base + i;
		pfns[64] = base + 100;
		pfns[65] = LAYOUT_MMIO32_START >> 12;
		tvm_pages(&t, 0, pfns, 66);
		pfns[0] = (uint32_t)(t.mem.end >> 12);
		tvm_pages(&t, 0, pfns, 1);
	}
	ck_assert(!needs_reset(&t));
	/* Out of the file (a read of a shmem hole would allocate again). */
	if (shared) {
		ck_assert_int_eq(fstat(t.mem.fd, &st), 0);
		ck_assert_uint_eq(st.st_blocks * 512, before - 65 * 4096);
	}
	/* Out of the process, before a read maps anything there again. */
	for (unsigned int i = 0; i < 64; i++)
		ck_assert(!resident(&t, DATA_BASE + i * 4096ULL));
	ck_assert(!resident(&t, DATA_BASE + 100 * 4096ULL));
	for (unsigned int i = 0; i < 64; i++)
		ck_assert(page_holds(&t, DATA_BASE + i * 4096ULL, 0));
	ck_assert(page_holds(&t, DATA_BASE + 100 * 4096ULL, 0));
	ck_assert(page_holds(&t, DATA_BASE + 64 * 4096ULL, 0x5a));
	ck_assert(page_holds(&t, DATA_BASE + 99 * 4096ULL, 0x5a));

	/* A page number split over two buffers, and a stray byte at the end. */
	{
		uint8_t *b = gpa(&t, BUF_BASE, 16);
		uint32_t pfn = htole32(base + 200);

		memset(gpa(&t, DATA_BASE + 200 * 4096ULL, 4096), 0x33, 4096);
		memcpy(b, &pfn, 4);
		b[4] = 0xff;
		tvm_add(&t, 0, (struct tbuf[]){ { BUF_BASE, 1, false },
						{ BUF_BASE + 1, 4, false } }, 2);
		ck_assert(tvm_wait(&t, 0, 1, 5000));
		ck_assert(page_holds(&t, DATA_BASE + 200 * 4096ULL, 0));
	}

	/* A list longer than 65536 page numbers: the rest is not read. */
	{
		const unsigned int n = 65536 + 1;
		uint32_t *list = gpa(&t, 0x1000000, 4 * n);

		memset(gpa(&t, DATA_BASE + 300 * 4096ULL, 8192), 0x44, 8192);
		for (unsigned int i = 0; i < n; i++)
			list[i] = htole32(base + 300);
		list[n - 1] = htole32(base + 301);
		tvm_add(&t, 0, &(struct tbuf){ 0x1000000, 4 * n, false }, 1);
		ck_assert(tvm_wait(&t, 0, 1, 5000));
		ck_assert(page_holds(&t, DATA_BASE + 300 * 4096ULL, 0));
		ck_assert(page_holds(&t, DATA_BASE + 301 * 4096ULL, 0x44));
	}

	/* Deflating changes nothing: the guest touches its pages again. */
	memset(gpa(&t, DATA_BASE, 4096), 0x11, 4096);
	tvm_pages(&t, 1, (uint32_t[]){ base, base + 1, UINT32_MAX }, 3);
	ck_assert(page_holds(&t, DATA_BASE, 0x11));
	ck_assert(!needs_reset(&t));
	tvm_fini(&t);
}

START_TEST(inflate_anonymous)
{
	inflate_gives_back(false);
}
END_TEST

START_TEST(inflate_shared)
{
	inflate_gives_back(true);
}
END_TEST

START_TEST(malformed_ring_needs_reset)
{
	struct tvm t;

	tvm_init(&t, NULL, false);
	tvm_driver(&t, 0, 2);
	/* A page list that is not in guest RAM: the ring is bad, not tern. */
	tvm_add(&t, 0, &(struct tbuf){ LAYOUT_MMIO32_START, 64, false }, 1);
	for (int i = 0; i < 5000 && !needs_reset(&t); i++)
		usleep(1000);
	ck_assert(needs_reset(&t));
	/* A reset brings it back. */
	virtio_device_set_status(t.vdev, 0);
	tvm_driver(&t, 0, 2);
	tvm_pages(&t, 0, (uint32_t[]){ DATA_BASE >> 12 }, 1);
	tvm_fini(&t);
}
END_TEST

START_TEST(target_and_actual)
{
	uint64_t first, last;
	struct tvm t;
	int fd;

	tvm_init(&t, NULL, false);
	fd = virtio_balloon_change_fd(t.vdev);
	/* Before any driver: the target is kept for it. */
	virtio_balloon_set_target(t.vdev, RAM_SIZE - 4 * MiB);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES), 1024);
	tvm_driver(&t, 0, 2);
	/* Rounded to whole pages, up to all of RAM; beyond RAM is all of it. */
	virtio_balloon_set_target(t.vdev, RAM_SIZE - 4 * MiB - 1);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES), 1024);
	virtio_balloon_set_target(t.vdev, 1);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES),
			  (RAM_SIZE - 1) >> 12);
	virtio_balloon_set_target(t.vdev, UINT64_MAX);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES), 0);
	/* num_pages is the host's: the driver cannot write it. */
	cfg32_write(&t, BALLOON_CFG_NUM_PAGES, 77);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES), 0);

	/* The driver reports what it gave: QMP's actual and an event. */
	efd_drain(fd);
	ck_assert_uint_eq(virtio_balloon_take_changes(t.vdev, &first, &last), 0);
	ck_assert_uint_eq(first, RAM_SIZE);
	ck_assert_uint_eq(last, RAM_SIZE);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 256);
	ck_assert(efd_drain(fd));
	ck_assert_uint_eq(virtio_balloon_actual(t.vdev), RAM_SIZE - 1 * MiB);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 256); /* no change, no event */
	ck_assert(!efd_pending(fd));
	/* Changes pile up until taken: the first and the last are kept. */
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 512);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 768);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 256);
	ck_assert(efd_drain(fd));
	ck_assert_uint_eq(virtio_balloon_take_changes(t.vdev, &first, &last), 4);
	ck_assert_uint_eq(first, RAM_SIZE - 1 * MiB);
	ck_assert_uint_eq(last, RAM_SIZE - 1 * MiB);
	ck_assert_uint_eq(virtio_balloon_take_changes(t.vdev, &first, &last), 0);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 512);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 768);
	ck_assert_uint_eq(virtio_balloon_take_changes(t.vdev, &first, &last), 2);
	ck_assert_uint_eq(first, RAM_SIZE - 2 * MiB);
	ck_assert_uint_eq(last, RAM_SIZE - 3 * MiB);
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 256);
	efd_drain(fd);
	/* A byte at a time, as a driver may write it. */
	virtio_device_config_write(t.vdev, BALLOON_CFG_ACTUAL + 1,
				   (uint8_t[]){ 2 }, 1);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_ACTUAL), 0x200);
	ck_assert(efd_drain(fd));
	/* More than there is: none left, not a negative size. */
	cfg32_write(&t, BALLOON_CFG_ACTUAL, UINT32_MAX);
	ck_assert_uint_eq(virtio_balloon_actual(t.vdev), 0);
	/* Out of the config space: ignored by the core. */
	virtio_device_config_write(t.vdev, BALLOON_CFG_SIZE - 2,
				   (uint32_t[]){ 0 }, 4);
	cfg32_write(&t, BALLOON_CFG_POISON_VAL, 0xaa);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_POISON_VAL), 0xaa);

	/* The driver resets: its pages are the next one's, actual is 0. */
	efd_drain(fd);
	virtio_balloon_set_target(t.vdev, RAM_SIZE - 8 * MiB);
	virtio_device_set_status(t.vdev, 0);
	ck_assert(efd_drain(fd));
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_ACTUAL), 0);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_POISON_VAL), 0);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_NUM_PAGES), 2048);
	/* So does a machine reset, with or without a driver. */
	cfg32_write(&t, BALLOON_CFG_ACTUAL, 5);
	virtio_balloon_device_type.reset(t.vdev);
	ck_assert_uint_eq(cfg32(&t, BALLOON_CFG_ACTUAL), 0);
	tvm_fini(&t);
}
END_TEST

/* A stats buffer at BUF_BASE on queue 2: swap-in = round, total = RAM. */
static void post_stats(struct tvm *t, uint64_t round)
{
	uint8_t *b = gpa(t, BUF_BASE, 64);
	size_t len = 0;

	len = put_stat(b, len, BALLOON_S_SWAP_IN, round);
	len = put_stat(b, len, BALLOON_S_MEMTOT, RAM_SIZE);
	len = put_stat(b, len, 0x1234, 5);
	tvm_add(t, 2, &(struct tbuf){ BUF_BASE, len, false }, 1);
}

START_TEST(stats_polling)
{
	struct balloon_stats s;
	struct tvm t;
	struct timespec a, b;

	tvm_init(&t, NULL, false);
	virtio_balloon_get_stats(t.vdev, &s);
	ck_assert_int_eq(s.last_update, 0);
	ck_assert_uint_eq(s.values[BALLOON_S_MEMTOT], BALLOON_STAT_UNSET);
	ck_assert_uint_eq(virtio_balloon_stats_interval(t.vdev), 0);
	tvm_driver(&t, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);

	/* The first buffer is read and kept: no polling, no request back. */
	post_stats(&t, 1);
	ck_assert(!tvm_wait(&t, 2, 1, 300));
	virtio_balloon_get_stats(t.vdev, &s);
	ck_assert_uint_eq(s.values[BALLOON_S_SWAP_IN], 1);
	ck_assert_uint_eq(s.values[BALLOON_S_MEMTOT], RAM_SIZE);
	ck_assert_uint_eq(s.values[BALLOON_S_MEMFREE], BALLOON_STAT_UNSET);
	ck_assert_int_gt(s.last_update, 1000000000);

	/* Polling on: the request goes back at once, then every second. */
	virtio_balloon_set_stats_interval(t.vdev, 1);
	ck_assert_uint_eq(virtio_balloon_stats_interval(t.vdev), 1);
	ck_assert(tvm_wait(&t, 2, 1, 500));
	clock_gettime(CLOCK_MONOTONIC, &a);
	post_stats(&t, 2);
	ck_assert(tvm_wait(&t, 2, 1, 3000));
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_int_ge((b.tv_sec - a.tv_sec) * 1000 +
				 (b.tv_nsec - a.tv_nsec) / 1000000, 900);
	virtio_balloon_get_stats(t.vdev, &s);
	ck_assert_uint_eq(s.values[BALLOON_S_SWAP_IN], 2);

	/* Off again: the next buffer is kept. */
	virtio_balloon_set_stats_interval(t.vdev, 0);
	post_stats(&t, 3);
	ck_assert(!tvm_wait(&t, 2, 1, 1500));
	/* A second buffer while one is held: the old one goes back. */
	post_stats(&t, 4);
	ck_assert(tvm_wait(&t, 2, 1, 1000));
	virtio_balloon_get_stats(t.vdev, &s);
	ck_assert_uint_eq(s.values[BALLOON_S_SWAP_IN], 4);
	/* A stop gives the held one back too: nothing stays in flight. */
	ck_assert_int_eq(virtio_balloon_device_type.quiesce(t.vdev, 0), 0);
	ck_assert(tvm_wait(&t, 2, 1, 100));
	virtio_balloon_device_type.resume(t.vdev);
	ck_assert(!needs_reset(&t));
	tvm_fini(&t);
}
END_TEST

static void report(struct tvm *t, unsigned int q, uint64_t addr, uint32_t len)
{
	tvm_add(t, q, &(struct tbuf){ addr, len, true }, 1);
	ck_assert(tvm_wait(t, q, 1, 5000));
}

START_TEST(free_page_reporting)
{
	const uint64_t f = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
			   (1ULL << VIRTIO_BALLOON_F_REPORTING);
	struct tvm t;

	tvm_init(&t, "free-page-reporting=on", false);
	tvm_driver(&t, f, 4);
	memset(gpa(&t, DATA_BASE, 1 * MiB), 0x5a, 1 * MiB);
	/* After the stats queue: queue 3. A whole range goes back. */
	report(&t, 3, DATA_BASE, 64 * 4096);
	ck_assert(!resident(&t, DATA_BASE + 63 * 4096));
	ck_assert(page_holds(&t, DATA_BASE, 0));
	ck_assert(page_holds(&t, DATA_BASE + 63 * 4096, 0));
	ck_assert(page_holds(&t, DATA_BASE + 64 * 4096, 0x5a));
	/* Not in whole pages: ignored. */
	report(&t, 3, DATA_BASE + 128 * 4096 + 512, 4096);
	report(&t, 3, DATA_BASE + 130 * 4096, 4096 + 1);
	ck_assert(page_holds(&t, DATA_BASE + 128 * 4096, 0x5a));
	ck_assert(page_holds(&t, DATA_BASE + 129 * 4096, 0x5a));
	ck_assert(page_holds(&t, DATA_BASE + 130 * 4096, 0x5a));
	/* Several ranges in one chain, and a readable buffer among them. */
	tvm_add(&t, 3, (struct tbuf[]){ { BUF_BASE, 16, false },
					{ DATA_BASE + 140 * 4096, 4096, true },
					{ DATA_BASE + 150 * 4096, 8192, true } },
		3);
	ck_assert(tvm_wait(&t, 3, 1, 5000));
	ck_assert(page_holds(&t, DATA_BASE + 140 * 4096, 0));
	ck_assert(page_holds(&t, DATA_BASE + 151 * 4096, 0));
	ck_assert(page_holds(&t, DATA_BASE + 152 * 4096, 0x5a));
	ck_assert(!needs_reset(&t));

	/* A driver without the stats queue: reporting is queue 2. */
	virtio_device_set_status(t.vdev, 0);
	tvm_driver(&t, 1ULL << VIRTIO_BALLOON_F_REPORTING, 3);
	memset(gpa(&t, DATA_BASE, 4096), 0x5a, 4096);
	report(&t, 2, DATA_BASE, 4096);
	ck_assert(page_holds(&t, DATA_BASE, 0));

	/* PAGE_POISON with a poison value: the guest wants it back, kept. */
	virtio_device_set_status(t.vdev, 0);
	tvm_driver(&t, f | (1ULL << VIRTIO_BALLOON_F_PAGE_POISON), 4);
	cfg32_write(&t, BALLOON_CFG_POISON_VAL, 0xaa);
	memset(gpa(&t, DATA_BASE, 4096), 0xaa, 4096);
	report(&t, 3, DATA_BASE, 4096);
	ck_assert(page_holds(&t, DATA_BASE, 0xaa));
	/* ... and a poison value of 0 is what a discarded page reads. */
	cfg32_write(&t, BALLOON_CFG_POISON_VAL, 0);
	report(&t, 3, DATA_BASE, 4096);
	ck_assert(!resident(&t, DATA_BASE));
	tvm_fini(&t);
}
END_TEST

/* The saved machine state of one device, as the VM writes it. */
static uint8_t *save_state(struct tvm *t, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	virtio_balloon_device_type.save(t->vdev, "virtio-balloon.0", &w);
	return state_writer_finish(&w, len);
}

static bool load_state(struct tvm *t, const uint8_t *buf, size_t len,
		       char **msg)
{
	struct state_reader r;
	GError *err = NULL;
	bool ok = state_reader_init(&r, buf, len, &err) &&
		  virtio_balloon_device_type.load(t->vdev, "virtio-balloon.0",
						  &r, &err);

	*msg = err ? g_strdup(err->message) : NULL;
	g_clear_error(&err);
	state_reader_clear(&r);
	return ok;
}

/* The model section's payload: after "<id>/model", version and length. */
static uint8_t *model_payload(uint8_t *buf, size_t len)
{
	static const char name[] = "virtio-balloon.0/model";
	uint8_t *p = memmem(buf, len, name, sizeof(name) - 1);

	ck_assert_ptr_nonnull(p);
	return p + sizeof(name) - 1 + 8;
}

static void reseal(uint8_t *buf, size_t len)
{
	uint32_t crc = htole32(state_crc32(0, buf, len - 4));

	memcpy(buf + len - 4, &crc, 4);
}

START_TEST(state_save_load)
{
	struct balloon_stats s;
	struct tvm a, b;
	uint8_t *buf;
	size_t len;
	char *msg;

	tvm_init(&a, "stats-period=7", false);
	tvm_driver(&a, 1ULL << VIRTIO_BALLOON_F_STATS_VQ, 3);
	post_stats(&a, 42);
	for (int i = 0; i < 5000; i++) {
		virtio_balloon_get_stats(a.vdev, &s);
		if (s.last_update)
			break;
		usleep(1000);
	}
	cfg32_write(&a, BALLOON_CFG_ACTUAL, 300);
	ck_assert_int_eq(virtio_balloon_device_type.quiesce(a.vdev, 0), 0);
	/* Set while stopped: told to the driver only when it runs again. */
	virtio_balloon_set_target(a.vdev, RAM_SIZE - 2 * MiB);
	buf = save_state(&a, &len);

	tvm_init(&b, NULL, false);
	ck_assert_int_eq(virtio_balloon_device_type.quiesce(b.vdev, 0), 0);
	ck_assert_msg(load_state(&b, buf, len, &msg), "%s", msg);
	ck_assert_uint_eq(cfg32(&b, BALLOON_CFG_NUM_PAGES), 512);
	ck_assert_uint_eq(cfg32(&b, BALLOON_CFG_ACTUAL), 300);
	ck_assert_uint_eq(virtio_balloon_stats_interval(b.vdev), 7);
	virtio_balloon_get_stats(b.vdev, &s);
	ck_assert_uint_eq(s.values[BALLOON_S_SWAP_IN], 42);
	ck_assert_uint_eq(s.values[BALLOON_S_MEMFREE], BALLOON_STAT_UNSET);
	ck_assert_int_gt(s.last_update, 0);
	/* Save again: the same bytes. */
	{
		size_t len2;
		g_autofree uint8_t *again = save_state(&b, &len2);

		ck_assert_uint_eq(len, len2);
		ck_assert(!memcmp(buf, again, len));
	}
	virtio_balloon_device_type.resume(b.vdev);
	virtio_balloon_device_type.resume(a.vdev);

	/* A target beyond this VM's RAM, a negative time: refused, unchanged. */
	ck_assert_int_eq(virtio_balloon_device_type.quiesce(b.vdev, 0), 0);
	cfg32_write(&b, BALLOON_CFG_ACTUAL, 1);
	{
		uint8_t *p = model_payload(buf, len);
		uint32_t big = htole32((uint32_t)(RAM_SIZE >> 12) + 1);
		uint64_t neg = htole64(1ULL << 63);

		memcpy(p, &big, 4);
		reseal(buf, len);
		ck_assert(!load_state(&b, buf, len, &msg));
		expect_error("target", msg);
		big = htole32(1);
		memcpy(p, &big, 4);
		memcpy(p + 4 + 4 + 4 + 1 + 4, &neg, 8);
		reseal(buf, len);
		ck_assert(!load_state(&b, buf, len, &msg));
		expect_error("last-update", msg);
	}
	/* The failed load reset the device (its driver is gone), no more. */
	ck_assert_uint_eq(cfg32(&b, BALLOON_CFG_ACTUAL), 0);
	ck_assert_uint_eq(cfg32(&b, BALLOON_CFG_NUM_PAGES), 512);
	ck_assert_uint_eq(virtio_balloon_stats_interval(b.vdev), 7);
	g_free(buf);
	tvm_fini(&b);
	tvm_fini(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-balloon");

	UNIT_TCASE(s, "option", option_forms, option_malformed);
	UNIT_TCASE(s, "pure", pfn_runs, stats_entries);
	UNIT_TCASE(s, "device", device_identity, inflate_anonymous,
		   inflate_shared, malformed_ring_needs_reset, target_and_actual,
		   stats_polling, free_page_reporting, state_save_load);
	return unit_run(s);
}
