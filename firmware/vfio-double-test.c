// SPDX-License-Identifier: MIT
/*
 * vfio-double-test: drives the made-up PCI function of the VFIO TEST
 * DOUBLE (tests/unit/test-vfio-double.h) that tern-vfio-double passes
 * through. NO REAL DEVICE: this exercises tern's passthrough path (config
 * virtualization, BARs trapped and mapped as KVM slots and moved, DMA
 * mapping, MSI-X and INTx eventfds through KVM) against the double.
 *
 * It sizes and moves the BARs, reads and writes the registers, checks a
 * KVM-slot area follows its BAR, has the "device" DMA into guest RAM,
 * enables MSI-X and takes the interrupt the double raises through the
 * eventfd tern handed it, then INTx: taken, acknowledged and EOI'd (which
 * KVM reports on the resample eventfd, unmasking INTx), taken again, and
 * quiet once the device has lowered it.
 *
 * When the function has no MSI-X (the double's "MSI only" mode,
 * TERN_VFIO_DOUBLE_MSI_ONLY=1 for tern-vfio-double), it enables MSI
 * instead: four vectors, vector 1 taken through the irqfd of the eventfd
 * tern handed VFIO, then held while masked (its pending bit set) and
 * delivered on unmask; MSI off gives the pin back for the INTx part.
 */
#include "guest/guest.h"
#include "guest/pci.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/x86-defs.h"
#include "guest/x86.h"

/* The double's function (test-vfio-double.h). */
#define VD_VENDOR 0x7e57
#define VD_DEVICE 0x0001
#define VD_REG_ID 0x00
#define VD_REG_SCRATCH 0x04
#define VD_REG_DOORBELL 0x08
#define VD_REG_RAISED 0x0c
#define VD_REG_DMA_LO 0x10
#define VD_REG_DMA_HI 0x14
#define VD_REG_DMA_GO 0x18
#define VD_REG_DMA_ERR 0x1c
#define VD_REG_INTX_ACK 0x20
#define VD_ID 0x7e570001u
#define VD_DOORBELL_INTX 0x100
#define VD_DOORBELL_MSI 0x200
#define VD_DMA_WORD 0x600df00du
#define VD_BAR2_MMAP 0x2000

#define LAPIC 0xfee00000u
#define IOAPIC 0xfec00000u
#define VEC_MSIX 0x61
#define VEC_INTX 0x51
/* MSI, 4 vectors: data 0x64 + n for vector n (aligned to 4). */
#define VEC_MSI_BASE 0x64
#define PCI_CAP_ID_MSI 0x05
#define MSI_CTRL 2
#define MSI_ADDR_LO 4
#define MSI_ADDR_HI 8
#define MSI_DATA 12
#define MSI_MASK 16
#define MSI_PENDING 20

/* Where the guest moves the BARs (free in tern's 32-bit window). */
#define BAR0_AT 0xd0000000u
#define BAR2_AT 0xd0100000u
#define BAR2_MOVED 0xd0400000u
#define MSIX_AT 0xd0200000u

volatile uint32_t vfio_irq_msix, vfio_irq_intx, vfio_irq_msi;
static volatile uint32_t dma_word __attribute__((aligned(64)));
static uint8_t idt[256 * 16] __attribute__((aligned(16)));

/* Interrupt handlers: count, EOI the LAPIC, return. */
__asm__(".text\n"
	".globl vfio_isr_msix\n"
	"vfio_isr_msix:\n"
	"	pushq %rax\n"
	"	incl vfio_irq_msix(%rip)\n"
	"	movl $0xfee000b0, %eax\n"
	"	movl $0, (%rax)\n"
	"	popq %rax\n"
	"	iretq\n"
	".globl vfio_isr_msi\n"
	"vfio_isr_msi:\n"
	"	pushq %rax\n"
	"	incl vfio_irq_msi(%rip)\n"
	"	movl $0xfee000b0, %eax\n"
	"	movl $0, (%rax)\n"
	"	popq %rax\n"
	"	iretq\n"
	/* INTx: as a driver does, quiet the device before the EOI. */
	".globl vfio_isr_intx\n"
	"vfio_isr_intx:\n"
	"	pushq %rax\n"
	"	incl vfio_irq_intx(%rip)\n"
	"	movl $0xd0000020, %eax\n" /* BAR0_AT + VD_REG_INTX_ACK */
	"	movl $1, (%rax)\n"
	"	movl $0xfee000b0, %eax\n"
	"	movl $0, (%rax)\n"
	"	popq %rax\n"
	"	iretq\n");
void vfio_isr_msix(void);
void vfio_isr_msi(void);
void vfio_isr_intx(void);

struct __attribute__((packed)) idt_ptr {
	uint16_t limit;
	uint64_t base;
};

static void idt_gate(unsigned int v, void (*fn)(void))
{
	uint64_t h = (uintptr_t)fn;
	uint8_t *g = idt + v * 16;
	uint32_t w[4] = {
	    (uint32_t)(h & 0xffff) | SEL_KERNEL_CS << 16,
	    0x8e00 | (uint32_t)(h & 0xffff0000),
	    (uint32_t)(h >> 32),
	    0,
	};

	memcpy(g, w, sizeof(w));
}

/* The firmware's IDT has the 32 exception gates; add ours above them. */
static void idt_install(void)
{
	struct idt_ptr old, p;

	__asm__ volatile("sidt %0" : "=m"(old));
	memcpy(idt, (const void *)(uintptr_t)old.base, old.limit + 1u);
	idt_gate(VEC_MSIX, vfio_isr_msix);
	idt_gate(VEC_INTX, vfio_isr_intx);
	/* Vector 1 only: a message with the wrong vector number faults. */
	idt_gate(VEC_MSI_BASE + 1, vfio_isr_msi);
	p.limit = sizeof(idt) - 1;
	p.base = (uintptr_t)idt;
	__asm__ volatile("lidt %0" : : "m"(p));
}

static void wait_count(volatile uint32_t *c, uint32_t want, const char *what)
{
	uint64_t deadline = clock_ns() + 2000000000ull;

	while (*c < want) {
		if (clock_ns() > deadline)
			result_fail("%s: %u interrupts, want %u", what, *c,
				    want);
		cpu_relax();
	}
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC, reg);
	mmio_write32(IOAPIC + 0x10, v);
}

static void msix_check(const struct pci_dev *d, uint8_t cap)
{
	uint32_t tbl = pci_read32(d, cap + PCI_MSIX_TABLE);
	unsigned int bir = tbl & PCI_MSIX_BIR_MASK;
	uintptr_t e = MSIX_AT + (tbl & ~7u);

	pci_write32(d, PCI_BAR0 + 4 * bir, MSIX_AT);
	mmio_write32(e + 0, 0xfee00000);
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, VEC_MSIX);
	mmio_write32(e + 12, 0);
	pci_write16(d, cap + PCI_MSIX_CTRL, PCI_MSIX_CTRL_ENABLE);
	__asm__ volatile("sti");
	mmio_write32(BAR0_AT + VD_REG_DOORBELL, 0);
	wait_count(&vfio_irq_msix, 1, "MSI-X");
	con_printf("vfio-double-test: MSI-X vector 0 delivered\n");
}

/* A function without MSI-X: MSI, the capability tern virtualizes. */
static void msi_check(const struct pci_dev *d, uint8_t cap)
{
	uint16_t ctrl = pci_read16(d, cap + MSI_CTRL);
	uint64_t t;

	/* The double's: 64-bit, per-vector masking, 4 vectors capable. */
	if ((ctrl & 0x018e) != (0x0180 | 2 << 1))
		result_fail("MSI control %#x", ctrl);
	pci_write32(d, cap + MSI_ADDR_LO, 0xfee00000);
	pci_write32(d, cap + MSI_ADDR_HI, 0);
	pci_write16(d, cap + MSI_DATA, VEC_MSI_BASE);
	pci_write32(d, cap + MSI_MASK, 0);
	pci_write16(d, cap + MSI_CTRL, 0x0001 | 2 << 4); /* on, 4 vectors */
	__asm__ volatile("sti");
	mmio_write32(BAR0_AT + VD_REG_DOORBELL, VD_DOORBELL_MSI + 1);
	wait_count(&vfio_irq_msi, 1, "MSI vector 1");
	con_printf("vfio-double-test: MSI vector 1 delivered (no MSI-X)\n");

	/* Masked: held, with its pending bit; one message on unmask. */
	pci_write32(d, cap + MSI_MASK, 0x2);
	mmio_write32(BAR0_AT + VD_REG_DOORBELL, VD_DOORBELL_MSI + 1);
	t = clock_ns() + 50000000ull;
	while (clock_ns() < t)
		cpu_relax();
	if (vfio_irq_msi != 1)
		result_fail("masked MSI vector 1 delivered");
	if (pci_read32(d, cap + MSI_PENDING) != 0x2)
		result_fail("MSI pending bits %#x, want 0x2",
			    pci_read32(d, cap + MSI_PENDING));
	pci_write32(d, cap + MSI_MASK, 0);
	wait_count(&vfio_irq_msi, 2, "MSI vector 1 after unmask");
	con_printf("vfio-double-test: MSI masked: held pending, delivered on "
		   "unmask\n");
}

int guest_main(void)
{
	struct pci_dev d;
	struct pci_bar b0, b2;
	uint8_t cap, msi, line;
	uint32_t raised;
	uint64_t t;

	clock_init();
	if (!pci_find(VD_VENDOR, VD_DEVICE, 0, &d))
		result_fail("no function %04x:%04x on bus 0", VD_VENDOR,
			    VD_DEVICE);
	con_printf("vfio-double-test: the double's function at 00:%02x.0 (not "
		   "real hardware)\n",
		   d.dev);

	/* BARs: the host's sizes and types, placed where the guest says. */
	pci_bar_probe(&d, 0, &b0);
	pci_bar_probe(&d, 2, &b2);
	if (b0.size != 0x1000 || b0.io || b0.is64)
		result_fail("BAR0 size %#lx io %d 64 %d",
			    (unsigned long)b0.size, b0.io, b0.is64);
	if (b2.size != 0x4000 || !b2.is64 || !b2.prefetch)
		result_fail("BAR2 size %#lx 64 %d prefetch %d",
			    (unsigned long)b2.size, b2.is64, b2.prefetch);
	pci_write32(&d, PCI_BAR0, BAR0_AT);
	pci_write32(&d, PCI_BAR0 + 8, BAR2_AT);
	pci_write32(&d, PCI_BAR0 + 12, 0);
	pci_write16(&d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* Registers: trapped, forwarded to the device fd. */
	if (mmio_read32(BAR0_AT + VD_REG_ID) != VD_ID)
		result_fail("ID register %#x",
			    mmio_read32(BAR0_AT + VD_REG_ID));
	mmio_write32(BAR0_AT + VD_REG_SCRATCH, 0xcafe1234);
	if (mmio_read32(BAR0_AT + VD_REG_SCRATCH) != 0xcafe1234)
		result_fail("scratch register did not keep its value");

	/* BAR2: a KVM slot for the mmap'able part, trapped beyond it. */
	mmio_write32(BAR2_AT, 0x11223344);
	mmio_write32(BAR2_AT + VD_BAR2_MMAP + 8, 0x55667788);
	if (mmio_read32(BAR2_AT) != 0x11223344 ||
	    mmio_read32(BAR2_AT + VD_BAR2_MMAP + 8) != 0x55667788)
		result_fail("BAR2 did not keep what was written");
	pci_write32(&d, PCI_BAR0 + 8, BAR2_MOVED);
	if (mmio_read32(BAR2_MOVED) != 0x11223344 ||
	    mmio_read32(BAR2_MOVED + VD_BAR2_MMAP + 8) != 0x55667788)
		result_fail("BAR2's contents did not follow the move");
	con_printf("vfio-double-test: BARs sized, moved, registers read and "
		   "written\n");

	/* DMA: the device writes guest RAM at an IOVA == GPA. */
	dma_word = 0;
	mmio_write32(BAR0_AT + VD_REG_DMA_LO, (uint32_t)(uintptr_t)&dma_word);
	mmio_write32(BAR0_AT + VD_REG_DMA_HI, 0);
	mmio_write32(BAR0_AT + VD_REG_DMA_GO, 1);
	if (mmio_read32(BAR0_AT + VD_REG_DMA_ERR) || dma_word != VD_DMA_WORD)
		result_fail("DMA: err %u word %#x",
			    mmio_read32(BAR0_AT + VD_REG_DMA_ERR), dma_word);
	con_printf("vfio-double-test: DMA into guest RAM\n");

	/* MSI-X: the emulated table in a BAR of its own. */
	idt_install();
	mmio_write32(LAPIC + 0xf0, mmio_read32(LAPIC + 0xf0) | 0x100);
	cap = pci_cap_find(&d, PCI_CAP_ID_MSIX, 0);
	msi = pci_cap_find(&d, PCI_CAP_ID_MSI, 0);
	if (!msi)
		result_fail("no MSI capability");
	if (cap)
		msix_check(&d, cap);
	else
		msi_check(&d, msi);

	/* INTx: message interrupts off give the function its pin back. */
	if (cap)
		pci_write16(&d, cap + PCI_MSIX_CTRL, 0);
	else
		pci_write16(&d, msi + MSI_CTRL, 0);
	line = pci_read8(&d, 0x3c);
	/* vector, fixed, physical, active low, level, unmasked, to APIC 0 */
	ioapic_write(0x10 + 2 * line + 1, 0);
	ioapic_write(0x10 + 2 * line, VEC_INTX | (1 << 13) | (1 << 15));
	mmio_write32(BAR0_AT + VD_REG_DOORBELL, VD_DOORBELL_INTX);
	wait_count(&vfio_irq_intx, 1, "INTx");
	/*
	 * vfio-pci masked INTx when it fired; only the resample eventfd KVM
	 * signals on the handler's EOI unmasks it. So a second interrupt
	 * arrives only if the EOI came back through resample.
	 */
	mmio_write32(BAR0_AT + VD_REG_DOORBELL, VD_DOORBELL_INTX);
	wait_count(&vfio_irq_intx, 2, "INTx after the EOI (resample)");
	raised = mmio_read32(BAR0_AT + VD_REG_RAISED);
	t = clock_ns() + 50000000ull;
	while (clock_ns() < t)
		cpu_relax();
	if (vfio_irq_intx != 2 ||
	    mmio_read32(BAR0_AT + VD_REG_RAISED) != raised)
		result_fail("INTx fired %u times after the device lowered it",
			    vfio_irq_intx - 2);
	__asm__ volatile("cli");
	con_printf("vfio-double-test: INTx delivered, resampled on EOI, quiet "
		   "once lowered\n");
	result_pass();
}
