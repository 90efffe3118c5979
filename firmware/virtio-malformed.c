// SPDX-License-Identifier: MIT
/*
 * virtio-malformed: a malicious driver. For each case it resets the
 * virtio-rng device, sets up a split queue and publishes one broken chain
 * (outside RAM, straddling the end of RAM, a descriptor loop, an absurd
 * length, readable after writable, a nested indirect table, an avail index
 * that jumps past the queue size). The device must set NEEDS_RESET, never
 * complete the chain, and the VMM must keep running; after a reset a good
 * request must work again. The host test checks tern's log line per case.
 *
 * With blk=huge-read it drives the virtio-blk disk instead: one read of
 * 1 GiB into a misaligned buffer (four 256 MiB descriptors over the same
 * guest memory), which a cache=none disk would have to bounce through a
 * host buffer of that size. The device must answer IOERR without it;
 * then a misaligned read of the largest size it advertises
 * (seg_max * size_max) must still work. With hold=1 the guest then halts
 * for good, so that the host can read tern's peak RSS before killing it.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/virtio-blk.h"
#include "guest/virtio.h"
#include "guest/x86.h"

enum bad_case {
	BAD_OUTSIDE_RAM,
	BAD_STRADDLES_END,
	BAD_LOOP,
	BAD_ABSURD_LENGTH,
	BAD_READ_AFTER_WRITE,
	BAD_NESTED_INDIRECT,
	BAD_AVAIL_JUMP,
	NR_BAD_CASES,
};

static const char *const case_names[NR_BAD_CASES] = {
	"outside RAM", "straddles the end of RAM", "descriptor loop",
	"absurd length", "readable after writable", "nested indirect",
	"avail index jump",
};

static struct virtio_pci vp;
static struct virtq vq;
static uint8_t *buf; /* a valid 4 KiB buffer */
static struct vring_desc *table; /* a valid indirect table */

/* The end of the highest RAM entry in the PVH memmap. */
static uint64_t ram_end(void)
{
	const struct hvm_start_info *si = start_info_get();
	const struct hvm_memmap_table_entry *e =
		(const void *)(uintptr_t)si->memmap_paddr;
	uint64_t end = 0;

	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (e[i].type == 1 && e[i].addr + e[i].size > end)
			end = e[i].addr + e[i].size;
	return end;
}

static void queue_open(bool indirect)
{
	const char *why = "";
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1);

	if (indirect)
		want |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	virtio_pci_reset(&vp);
	if (virtio_pci_open(&vp, VIRTIO_ID_RNG, 0, &why) < 0)
		result_fail("open: %s", why);
	if (virtio_pci_negotiate(&vp, want) < 0)
		result_fail("negotiate");
	if (virtq_setup(&vq, &vp, 0, 0, VIRTIO_MSI_NO_VECTOR, &why) < 0)
		result_fail("setup: %s", why);
	virtio_pci_driver_ok(&vp);
}

static void set_desc(unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	vq.desc[i].addr = addr;
	vq.desc[i].len = len;
	vq.desc[i].flags = flags;
	vq.desc[i].next = next;
}

/* Publish head 0 (and bump idx by `step`), then notify. */
static void publish(uint16_t step)
{
	vq.avail->ring[vq.avail_idx % vq.size] = 0;
	barrier();
	vq.avail_idx += step;
	vq.avail->idx = vq.avail_idx;
	barrier();
	virtq_notify(&vq);
}

static void run_case(enum bad_case c)
{
	uint64_t deadline;
	uint16_t used_before;

	queue_open(c == BAD_NESTED_INDIRECT);
	used_before = vq.used->idx;
	switch (c) {
	case BAD_OUTSIDE_RAM:
		set_desc(0, 1ull << 45, 64, VRING_DESC_F_WRITE, 0);
		break;
	case BAD_STRADDLES_END:
		set_desc(0, ram_end() - 32, 64, VRING_DESC_F_WRITE, 0);
		break;
	case BAD_LOOP:
		set_desc(0, dma_addr(buf), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		set_desc(1, dma_addr(buf) + 16, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
		break;
	case BAD_ABSURD_LENGTH:
		set_desc(0, dma_addr(buf), 0xffffffffu, VRING_DESC_F_WRITE, 0);
		break;
	case BAD_READ_AFTER_WRITE:
		set_desc(0, dma_addr(buf), 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		set_desc(1, dma_addr(buf) + 16, 16, 0, 0);
		break;
	case BAD_NESTED_INDIRECT:
		table[0] = (struct vring_desc){ dma_addr(table) + 64, 16,
						VRING_DESC_F_INDIRECT, 0 };
		set_desc(0, dma_addr(table), 16, VRING_DESC_F_INDIRECT, 0);
		break;
	case BAD_AVAIL_JUMP:
		set_desc(0, dma_addr(buf), 16, VRING_DESC_F_WRITE, 0);
		break;
	default:
		break;
	}
	publish(c == BAD_AVAIL_JUMP ? vq.size + 5 : 1);

	deadline = clock_ns() + 2000000000ull;
	while (!(virtio_pci_status(&vp) & VIRTIO_STATUS_NEEDS_RESET)) {
		if (clock_ns() > deadline)
			result_fail("%s: the device did not set NEEDS_RESET",
				    case_names[c]);
		cpu_relax();
	}
	if (vq.used->idx != used_before)
		result_fail("%s: the device completed a malformed chain",
			    case_names[c]);
	con_printf("virtio-malformed: %s -> NEEDS_RESET\n", case_names[c]);
}

#define HUGE_PARTS 4
#define HUGE_PART_BYTES (256u << 20)

/* One read of parts * part bytes at sector 0, every part at data. */
static uint8_t blk_read_parts(struct blk_dev *b, uint8_t *data,
			      unsigned int parts, uint32_t part)
{
	static struct virtio_blk_outhdr *hdr;
	static volatile uint8_t *status;
	struct virtq_sg sg[2 + HUGE_PARTS];
	uint64_t deadline;
	uint32_t len;

	if (!hdr) {
		hdr = dma_alloc_zero(sizeof(*hdr), 16);
		status = dma_alloc_zero(16, 16);
	}
	*hdr = (struct virtio_blk_outhdr){ VIRTIO_BLK_T_IN, 0, 0 };
	*status = 0xff;
	sg[0] = (struct virtq_sg){ dma_addr(hdr), sizeof(*hdr), false };
	for (unsigned int i = 0; i < parts; i++)
		sg[1 + i] = (struct virtq_sg){ dma_addr(data), part, true };
	sg[1 + parts] = (struct virtq_sg){ dma_addr(status), 1, true };
	if (virtq_add(&b->vq[0], sg, parts + 2, false, hdr) < 0)
		result_fail("blk: the queue is full");
	virtq_kick(&b->vq[0]);
	deadline = clock_ns() + 30000000000ull;
	while (!virtq_get(&b->vq[0], &len)) {
		if (clock_ns() > deadline)
			result_fail("blk: a %u x %u-byte read did not complete",
				    parts, part);
		cpu_relax();
	}
	return *status;
}

static void blk_huge_read(void)
{
	static struct blk_dev b;
	struct blk_opts o = { .max_queues = 1 };
	const char *why = "";
	uint8_t *data, st, huge;
	uint64_t limit;

	if (blk_open(&b, &o, &why) < 0)
		result_fail("blk: %s", why);
	limit = (uint64_t)b.seg_max * b.size_max;
	if (!limit || limit > HUGE_PART_BYTES)
		result_fail("blk: seg_max %u, size_max %u", b.seg_max, b.size_max);
	/* Not cleared: the guest never touches these pages itself. */
	data = dma_alloc(HUGE_PART_BYTES + 4096, 4096);
	if (!data)
		result_fail("blk: no room for a 256 MiB buffer (--memory?)");
	/* 8 bytes off: misaligned for any direct I/O. */
	data += 8;
	/* Verdicts wait for the hold: the host measures tern either way. */
	huge = blk_read_parts(&b, data, HUGE_PARTS, HUGE_PART_BYTES);
	if (huge == VIRTIO_BLK_S_IOERR)
		con_printf("virtio-malformed: a 1 GiB misaligned read -> IOERR\n");
	else
		con_printf("virtio-malformed: a 1 GiB misaligned read -> status %u\n",
			   huge);
	st = blk_read_parts(&b, data, 1, (uint32_t)limit);
	con_printf("virtio-malformed: a misaligned read of seg_max * size_max = %lu KiB -> %s\n",
		   (unsigned long)(limit >> 10),
		   st == VIRTIO_BLK_S_OK ? "OK" : "not OK");
	if (cmdline_is("hold", "1")) {
		con_printf("virtio-malformed: holding\n");
		cpu_halt_forever();
	}
	if (huge != VIRTIO_BLK_S_IOERR)
		result_fail("blk: a 1 GiB read got status %u, want IOERR", huge);
	if (st != VIRTIO_BLK_S_OK)
		result_fail("blk: a %lu-byte read (seg_max * size_max) got status %u",
			    (unsigned long)limit, st);
	result_pass();
}

int guest_main(void)
{
	struct virtq_sg sg;
	uint64_t deadline;
	uint32_t len = 0;

	clock_init();
	if (cmdline_is("blk", "huge-read"))
		blk_huge_read();
	buf = dma_alloc_zero(4096, 4096);
	table = dma_alloc_zero(4096, 4096);
	for (int c = 0; c < NR_BAD_CASES; c++)
		run_case(c);

	/* After a reset the device works again. */
	queue_open(false);
	sg = (struct virtq_sg){ dma_addr(buf), 64, true };
	if (virtq_add(&vq, &sg, 1, false, buf) < 0)
		result_fail("queue full");
	virtq_kick(&vq);
	deadline = clock_ns() + 2000000000ull;
	while (!virtq_get(&vq, &len)) {
		if (clock_ns() > deadline)
			result_fail("no completion after the reset");
		cpu_relax();
	}
	if (len != 64)
		result_fail("good request returned %u bytes, want 64", len);
	con_printf("virtio-malformed: after a reset a good request returns %u bytes\n", len);
	result_pass();
}
