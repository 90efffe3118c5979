// SPDX-License-Identifier: MIT
/*
 * irq-test: virtio-rng interrupts end to end: INTx through the in-kernel
 * IOAPIC (ISR read deasserts), then MSI-X with a masked vector held in the
 * PBA and replayed on unmask.
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/virtio.h"
#include "guest/x86.h"

#define IOAPIC 0xfec00000u
#define LAPIC 0xfee00000u

static struct virtio_pci vp;
static struct virtq vq;
static uint8_t *buf;

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC, reg);
	mmio_write32(IOAPIC + 0x10, v);
}

static bool irr(uint8_t vector)
{
	return mmio_read32(LAPIC + 0x200 + 0x10 * (vector / 32)) & (1u << (vector % 32));
}

static void one_request(void)
{
	struct virtq_sg sg = { dma_addr(buf), 16, true };
	uint32_t n;
	uint64_t deadline = clock_ns() + 5000000000ull;

	if (virtq_add(&vq, &sg, 1, false, buf) < 0)
		result_fail("queue full");
	virtq_kick(&vq);
	while (!virtq_get(&vq, &n)) {
		if (clock_ns() > deadline)
			result_fail("no completion");
		cpu_relax();
	}
}

static void wait_irr(uint8_t v, bool want, const char *what)
{
	uint64_t deadline = clock_ns() + 1000000000ull;

	while (irr(v) != want) {
		if (clock_ns() > deadline)
			result_fail("%s: vector %#x %s in the IRR", what, v,
				    want ? "never" : "unexpectedly");
		cpu_relax();
	}
}

int guest_main(void)
{
	const char *why = "";
	uint8_t line, pin, isr;
	uint16_t status;

	clock_init();
	mmio_write32(LAPIC + 0xf0, mmio_read32(LAPIC + 0xf0) | 0x100);
	buf = dma_alloc(64, 64);

	/* ---- INTx ---- */
	if (virtio_pci_open(&vp, VIRTIO_ID_RNG, 0, &why) < 0)
		result_fail("open: %s", why);
	line = pci_read8(&vp.pci, 0x3c);
	pin = pci_read8(&vp.pci, 0x3d);
	con_printf("irq-test: slot %u INT%c# -> IOAPIC pin %u\n", vp.pci.dev, 'A' + pin - 1, line);
	/* vector 0x50, fixed, physical, active low, level, unmasked, to APIC 0 */
	ioapic_write(0x10 + 2 * line + 1, 0);
	ioapic_write(0x10 + 2 * line, 0x50 | (1 << 13) | (1 << 15));
	if (virtio_pci_negotiate(&vp, VIRTIO_BIT(VIRTIO_F_VERSION_1)) < 0)
		result_fail("negotiate");
	if (virtq_setup(&vq, &vp, 0, 0, VIRTIO_MSI_NO_VECTOR, &why) < 0)
		result_fail("setup: %s", why);
	virtq_set_interrupts(&vq, true);
	virtio_pci_driver_ok(&vp);
	if (irr(0x50))
		result_fail("INTx: pending before any request");
	one_request();
	wait_irr(0x50, true, "INTx");
	status = pci_read16(&vp.pci, 0x06);
	if (!(status & 0x8))
		result_fail("INTx: PCI status interrupt bit clear while pending");
	isr = *(volatile uint8_t *)vp.isr;
	if (isr != 1)
		result_fail("INTx: ISR %#x, want 1", isr);
	if (pci_read16(&vp.pci, 0x06) & 0x8)
		result_fail("INTx: still asserted after the ISR read");
	if (*(volatile uint8_t *)vp.isr != 0)
		result_fail("INTx: ISR not cleared by the read");
	con_printf("irq-test: INTx delivered as vector 0x50, ISR read deasserts\n");

	/* ---- MSI-X ---- */
	virtio_pci_reset(&vp);
	virtio_pci_open(&vp, VIRTIO_ID_RNG, 0, &why);
	if (!virtio_msix_enable(&vp))
		result_fail("no MSI-X");
	virtio_msix_route(&vp, 1, 0x60);
	if (virtio_pci_negotiate(&vp, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX)) < 0)
		result_fail("negotiate 2");
	if (virtq_setup(&vq, &vp, 0, 0, 1, &why) < 0)
		result_fail("setup 2: %s", why);
	virtq_set_interrupts(&vq, true);
	virtio_pci_driver_ok(&vp);
	one_request();
	wait_irr(0x60, true, "MSI-X");
	/* Masked: held in the PBA, then delivered (to the new vector) on unmask. */
	{
		uintptr_t e = vp.msix_table + 16;
		uintptr_t pba = vp.msix_table + 0x800;

		mmio_write32(e + 12, 1);
		mmio_write32(e + 8, 0x61);
		one_request();
		for (volatile int i = 0; i < 20000; i++)
			;
		if (irr(0x61))
			result_fail("MSI-X: delivered while masked");
		if (!(mmio_read32(pba) & 2))
			result_fail("MSI-X: PBA bit clear while masked with a message pending");
		mmio_write32(e + 12, 0);
		wait_irr(0x61, true, "MSI-X unmask");
		if (mmio_read32(pba) & 2)
			result_fail("MSI-X: PBA bit still set after unmask");
	}
	if (irr(0x50 + 1) || irr(0x62))
		result_fail("stray vector");
	con_printf("irq-test: MSI-X delivered; masked message held in the PBA and replayed on unmask\n");
	result_pass();
}
