// SPDX-License-Identifier: MIT
/*
 * bar-swap: virtio-rng and a virtio-blk disk swap their BARs (the MSI-X
 * BAR 1 and the virtio BAR 4) the way Linux moves 32-bit BARs: memory
 * decoding stays on and each BAR register is written on its own, so for a
 * moment one device's BAR sits on the other's. Then both devices must
 * work at their new places: configuration, reset, queue notifications
 * (KVM ioeventfds the VMM moves with the BARs) and MSI-X through the moved
 * tables. Then the same swapping back, the disk first. Both devices are
 * in use (queues set up, interrupts bound) before the first swap.
 *
 * Wants --rng and one 1 MiB --disk whose first sector begins with
 * "tern bar-swap". The layout checks are tern's (device configuration at
 * 0x2000 of BAR 4), so this guest is for tern only.
 */
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/virtio-blk.h"
#include "guest/virtio.h"
#include "guest/x86.h"

#define LAPIC 0xfee00000u
#define LAPIC_SVR 0xf0
#define LAPIC_IRR 0x200
/* Round r (0: before any swap) uses vectors 0x50 + r (disk), 0x60 + r (rng). */
#define BLK_VECTOR 0x50
#define RNG_VECTOR 0x60
#define MSIX_BAR 1
#define VIRTIO_BAR 4
#define MAGIC "tern bar-swap"
#define DEVICE_CFG 0x2000 /* tern's device configuration offset in BAR 4 */
#define DISK_SECTORS 2048 /* a 1 MiB disk */
#define TIMEOUT_NS 5000000000ull

static bool irr(uint8_t vector)
{
	return mmio_read32(LAPIC + LAPIC_IRR + 0x10 * (vector / 32)) &
	       (1u << (vector % 32));
}

/* Interrupts stay off: a delivered MSI waits in the IRR, and we look. */
static void wait_irr(uint8_t vector, const char *what)
{
	uint64_t deadline = clock_ns() + TIMEOUT_NS;

	while (!irr(vector)) {
		if (clock_ns() > deadline)
			result_fail("%s: MSI-X vector %#x never arrived", what,
				    vector);
		cpu_relax();
	}
}

static void find(uint16_t type, struct pci_dev *d)
{
	if (!pci_find(VIRTIO_PCI_VENDOR,
		      (uint16_t)(VIRTIO_PCI_DEVICE_BASE + type), 0, d))
		result_fail("no virtio device of type %u", type);
}

/* Swap BAR bar of a and b, a written first; decoding stays on throughout. */
static void swap_bar(const struct pci_dev *a, const struct pci_dev *b,
		     unsigned int bar)
{
	uint8_t off = (uint8_t)(PCI_BAR0 + 4 * bar);
	uint32_t va = pci_read32(a, off), vb = pci_read32(b, off);

	if (!(pci_read16(a, PCI_COMMAND) & PCI_COMMAND_MEMORY) ||
	    !(pci_read16(b, PCI_COMMAND) & PCI_COMMAND_MEMORY))
		result_fail("memory decoding is off before the swap");
	/* A 64-bit BAR's upper halves must match for the low ones to swap. */
	if ((va & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 &&
	    pci_read32(a, (uint8_t)(off + 4)) !=
		pci_read32(b, (uint8_t)(off + 4)))
		result_fail("BAR %u: the upper halves differ", bar);
	pci_write32(a, off, vb);
	pci_write32(b, off, va);
	if (pci_read32(a, off) != vb || pci_read32(b, off) != va)
		result_fail("BAR %u did not take the new addresses", bar);
	con_printf("bar-swap: BAR %u: 00:%02x.0 0x%x <-> 00:%02x.0 0x%x\n", bar,
		   a->dev, va & PCI_BAR_MEM_ADDR_MASK, b->dev,
		   vb & PCI_BAR_MEM_ADDR_MASK);
}

/*
 * Right after a swap, before any other config access (opening a device
 * probes its BARs with decoding toggled, which would hide a BAR the VMM
 * failed to retry): the disk's capacity must read at its BAR 4, the rng's
 * empty device configuration (zeros, not an unclaimed all-ones) at its
 * own, and each MSI-X table's first vector control word (0 or 1).
 */
static void check_decoding(const struct pci_dev *rng, const struct pci_dev *blk,
			   uint64_t capacity)
{
	uint32_t r4 =
	    pci_read32(rng, PCI_BAR0 + 4 * VIRTIO_BAR) & PCI_BAR_MEM_ADDR_MASK;
	uint32_t b4 =
	    pci_read32(blk, PCI_BAR0 + 4 * VIRTIO_BAR) & PCI_BAR_MEM_ADDR_MASK;
	uint32_t r1 =
	    pci_read32(rng, PCI_BAR0 + 4 * MSIX_BAR) & PCI_BAR_MEM_ADDR_MASK;
	uint32_t b1 =
	    pci_read32(blk, PCI_BAR0 + 4 * MSIX_BAR) & PCI_BAR_MEM_ADDR_MASK;
	uint32_t v;

	if ((v = mmio_read32(r4 + DEVICE_CFG)) != 0)
		result_fail("rng: its BAR 4 at %#x reads %#x, not its own "
			    "(empty) device configuration",
			    r4, v);
	if ((v = mmio_read32(b4 + DEVICE_CFG)) != (uint32_t)capacity)
		result_fail(
		    "blk: its BAR 4 at %#x reads capacity %#x, want %#x", b4, v,
		    (uint32_t)capacity);
	if ((v = mmio_read32(r1 + 12)) > 1)
		result_fail("rng: its MSI-X table at %#x reads %#x", r1, v);
	if ((v = mmio_read32(b1 + 12)) > 1)
		result_fail("blk: its MSI-X table at %#x reads %#x", b1, v);
}

/* The BAR 4 address this device's virtio structures must be found at. */
static void expect_at(const struct virtio_pci *vp, uint32_t bar4,
		      const char *what)
{
	if ((vp->common & ~(uintptr_t)0x3fff) != (bar4 & PCI_BAR_MEM_ADDR_MASK))
		result_fail("%s: common configuration at %#lx, BAR 4 is %#x",
			    what, (unsigned long)vp->common, bar4);
}

/* One entropy request, completed, and its MSI-X message delivered. */
static void use_rng(uint32_t bar4, uint8_t vector)
{
	static struct virtq vq;
	struct virtq_sg sg;
	uint8_t *buf = dma_alloc_zero(64, 64);
	uint64_t deadline = clock_ns() + TIMEOUT_NS;
	const char *why = "";
	struct virtio_pci vp;
	uint32_t n;

	if (virtio_pci_open(&vp, VIRTIO_ID_RNG, 0, &why) < 0)
		result_fail("rng: %s", why);
	expect_at(&vp, bar4, "rng");
	if (!virtio_msix_enable(&vp) || !virtio_msix_route(&vp, 1, vector))
		result_fail("rng: no MSI-X");
	if (virtio_pci_negotiate(&vp, VIRTIO_BIT(VIRTIO_F_VERSION_1)) < 0)
		result_fail("rng: negotiation failed");
	if (virtq_setup(&vq, &vp, 0, 0, 1, &why) < 0)
		result_fail("rng: %s", why);
	virtq_set_interrupts(&vq, true);
	virtio_pci_driver_ok(&vp);
	sg = (struct virtq_sg){dma_addr(buf), 64, true};
	if (virtq_add(&vq, &sg, 1, false, buf) < 0)
		result_fail("rng: queue full");
	virtq_kick(&vq);
	while (!virtq_get(&vq, &n)) {
		if (clock_ns() > deadline)
			result_fail("rng: the request never completed");
		cpu_relax();
	}
	if (n == 0 || n > 64)
		result_fail("rng: %u bytes for a 64-byte buffer", n);
	wait_irr(vector, "rng");
}

/* Sector 0 read back, and queue 0's MSI-X message delivered. */
static void use_blk(uint32_t bar4, uint8_t vector)
{
	static struct blk_dev b;
	struct blk_opts o = {.msix = true, .max_queues = 1};
	uint8_t *buf = dma_alloc_zero(VIRTIO_BLK_SECTOR, 512);
	struct blk_req *r = dma_alloc_zero(sizeof(*r), 64);
	const char *why = "";

	if (blk_open(&b, &o, &why) < 0)
		result_fail("blk: %s", why);
	expect_at(&b.vp, bar4, "blk");
	/* Queue 0 uses entry 0: masked, then sent to this round's vector. */
	mmio_write32(b.vp.msix_table + 12, 1);
	virtio_msix_route(&b.vp, 0, vector);
	if (blk_sync(&b, 0, r, VIRTIO_BLK_T_IN, 0, buf, VIRTIO_BLK_SECTOR,
		     BLK_LAYOUT_DIRECT) != VIRTIO_BLK_S_OK)
		result_fail("blk: reading sector 0 failed");
	if (memcmp(buf, MAGIC, sizeof(MAGIC) - 1) != 0)
		result_fail("blk: sector 0 does not begin with '" MAGIC "'");
	wait_irr(vector, "blk");
}

/*
 * Both devices reset and used. Interrupts stay off (there is no IDT entry
 * for them), so each round has vectors of its own that must not be
 * pending yet.
 */
static void use_both(const struct pci_dev *rng, const struct pci_dev *blk,
		     unsigned int round)
{
	uint8_t rv = (uint8_t)(RNG_VECTOR + round);
	uint8_t bv = (uint8_t)(BLK_VECTOR + round);

	if (irr(rv) || irr(bv))
		result_fail("round %u: its vectors are pending already", round);
	use_rng(pci_read32(rng, PCI_BAR0 + 4 * VIRTIO_BAR), rv);
	use_blk(pci_read32(blk, PCI_BAR0 + 4 * VIRTIO_BAR), bv);
}

int guest_main(void)
{
	struct pci_dev rng, blk;

	clock_init();
	mmio_write32(LAPIC + LAPIC_SVR, mmio_read32(LAPIC + LAPIC_SVR) | 0x100);
	find(VIRTIO_ID_RNG, &rng);
	find(VIRTIO_ID_BLOCK, &blk);
	use_both(&rng, &blk, 0);

	check_decoding(&rng, &blk, DISK_SECTORS);

	swap_bar(&rng, &blk, VIRTIO_BAR);
	swap_bar(&rng, &blk, MSIX_BAR);
	check_decoding(&rng, &blk, DISK_SECTORS);
	use_both(&rng, &blk, 1);
	con_printf("bar-swap: virtio-rng and virtio-blk work after the swap\n");

	swap_bar(&blk, &rng, VIRTIO_BAR);
	swap_bar(&blk, &rng, MSIX_BAR);
	check_decoding(&rng, &blk, DISK_SECTORS);
	use_both(&rng, &blk, 2);
	con_printf("bar-swap: and after swapping back, the disk first\n");
	result_pass();
}
