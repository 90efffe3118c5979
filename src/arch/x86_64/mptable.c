// SPDX-License-Identifier: MIT
/*
 * Intel MultiProcessor Specification 1.4 tables: a floating pointer the
 * guest finds by scanning the EBDA, then the configuration table right after
 * it. Guests without ACPI (tern has none yet) learn the vCPUs, the IOAPIC and
 * the ISA interrupt wiring from here.
 */
#include <errno.h>
#include <string.h>

#include "arch.h"
#include "tern/layout.h"
#include "tern/mptable.h"

#define MPC_SPEC_REV 4 /* version 1.4 */
#define MPC_APIC_VERSION 0x14 /* integrated local APIC */
#define MPC_IOAPIC_VERSION 0x11 /* 82093AA */

enum mpc_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_INTSRC = 3,
	MP_LINTSRC = 4,
};

enum mpc_irq_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_SMI = 2,
	MP_EXTINT = 3,
};

#define MPC_CPU_ENABLED 0x01
#define MPC_CPU_BOOTPROCESSOR 0x02
#define MPC_IOAPIC_ENABLED 0x01
/* Polarity and trigger "conform to the bus": edge, active high on ISA. */
#define MPC_IRQ_DEFAULT 0x0000
#define MPC_ALL_LAPICS 0xff

/*
 * Family 6 in the signature and FPU|APIC in the feature flags, as Firecracker
 * and kvmtool write them: Linux reads only the APIC id and flags, but
 * older guests print the signature and want something plausible.
 */
#define MPC_CPU_SIGNATURE 0x600
#define MPC_CPU_FEATURE_FPU 0x001
#define MPC_CPU_FEATURE_APIC 0x200

/*
 * ISA is bus 0, PCI bus 0 is MP bus 1 (Linux maps the MP table's PCI buses,
 * in order, to PCI bus numbers 0, 1, ...).
 */
#define MPC_BUS_ID_ISA 0
#define MPC_BUS_ID_PCI 1
#define MPC_ISA_IRQS 16

/*
 * PCI interrupts: INTA#..INTD# of every slot but the host bridge's (0),
 * level-triggered and active low as PCI wants, on the IOAPIC pins
 * LAYOUT_PCI_INTX_GSI() names. A source is (slot << 2) | pin.
 */
#define MPC_PCI_FIRST_SLOT 1
#define MPC_PCI_SLOTS 32
#define MPC_PCI_PINS 4
#define MPC_PCI_IRQS ((MPC_PCI_SLOTS - MPC_PCI_FIRST_SLOT) * MPC_PCI_PINS)
#define MPC_IRQ_ACTIVE_LOW 0x0003
#define MPC_IRQ_LEVEL 0x000c

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1; /* 0: a configuration table is present */
	uint8_t feature2; /* bit 7 clear: virtual wire mode, no IMCR */
	uint8_t feature3;
	uint8_t feature4;
	uint8_t feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* number of entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature; /* signature: stepping, model, family */
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

/* The same layout serves I/O (MP_INTSRC) and local (MP_LINTSRC) entries. */
struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config table header");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");
_Static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "MP IOAPIC entry");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "MP interrupt entry");

static size_t mptable_size(unsigned int ncpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       ncpus * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) +
	       (MPC_ISA_IRQS + MPC_PCI_IRQS) * sizeof(struct mpc_intsrc) +
	       2 * sizeof(struct mpc_intsrc);
}

int mptable_build(uint8_t *buf, size_t size, uint64_t gpa, unsigned int ncpus)
{
	size_t total;
	struct mpf_intel *mpf;
	struct mpc_table *mpc;
	uint8_t *p;
	unsigned int entries = 0;
	uint8_t ioapic_id = (uint8_t)ncpus;

	if (!ncpus || ncpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	total = mptable_size(ncpus);
	/* physptr and the table are 32-bit guest physical addresses. */
	if (gpa > 4 * GiB || total > 4 * GiB - gpa)
		return -EINVAL;
	if (size < total)
		return -ENOSPC;
	memset(buf, 0, total);

	/* Every struct is packed, so the casts below carry no alignment. */
	mpf = (struct mpf_intel *)buf;
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = MPC_SPEC_REV;

	mpc = (struct mpc_table *)(buf + sizeof(*mpf));
	memcpy(mpc->signature, "PCMP", 4);
	mpc->spec = MPC_SPEC_REV;
	memcpy(mpc->oem, "TERN    ", 8);
	memcpy(mpc->productid, "TERNVM      ", 12);
	mpc->lapic = (uint32_t)LAYOUT_LAPIC_START;
	p = (uint8_t *)(mpc + 1);

	for (unsigned int i = 0; i < ncpus; i++) {
		struct mpc_cpu *cpu = (struct mpc_cpu *)p;

		cpu->type = MP_PROCESSOR;
		cpu->apicid = (uint8_t)i;
		cpu->apicver = MPC_APIC_VERSION;
		cpu->cpuflag = MPC_CPU_ENABLED |
			       (i == 0 ? MPC_CPU_BOOTPROCESSOR : 0);
		cpu->cpufeature = MPC_CPU_SIGNATURE;
		cpu->featureflag = MPC_CPU_FEATURE_APIC | MPC_CPU_FEATURE_FPU;
		p += sizeof(*cpu);
		entries++;
	}

	{
		struct mpc_bus *bus = (struct mpc_bus *)p;

		bus->type = MP_BUS;
		bus->busid = MPC_BUS_ID_ISA;
		memcpy(bus->bustype, "ISA   ", 6);
		p += sizeof(*bus);
		entries++;

		bus = (struct mpc_bus *)p;
		bus->type = MP_BUS;
		bus->busid = MPC_BUS_ID_PCI;
		memcpy(bus->bustype, "PCI   ", 6);
		p += sizeof(*bus);
		entries++;
	}

	{
		struct mpc_ioapic *ioapic = (struct mpc_ioapic *)p;

		ioapic->type = MP_IOAPIC;
		ioapic->apicid = ioapic_id;
		ioapic->apicver = MPC_IOAPIC_VERSION;
		ioapic->flags = MPC_IOAPIC_ENABLED;
		ioapic->apicaddr = (uint32_t)LAYOUT_IOAPIC_START;
		p += sizeof(*ioapic);
		entries++;
	}

	/*
	 * ISA IRQ n goes to IOAPIC pin n, IRQ 0 included. QEMU and SeaBIOS
	 * send IRQ 0 to pin 2 because QEMU installs a GSI 0 -> pin 2 route;
	 * tern keeps KVM's default routing (kvm_setup_default_irq_routing: GSI
	 * n -> pin n), where the in-kernel PIT raises GSI 0 on pin 0. A
	 * table saying pin 2 would leave Linux's timer check waiting on a
	 * silent pin. Change both together or neither.
	 */
	for (unsigned int irq = 0; irq < MPC_ISA_IRQS; irq++) {
		struct mpc_intsrc *src = (struct mpc_intsrc *)p;

		src->type = MP_INTSRC;
		src->irqtype = MP_INT;
		src->irqflag = MPC_IRQ_DEFAULT;
		src->srcbus = MPC_BUS_ID_ISA;
		src->srcbusirq = (uint8_t)irq;
		src->dstapic = ioapic_id;
		src->dstirq = (uint8_t)irq;
		p += sizeof(*src);
		entries++;
	}

	for (unsigned int slot = MPC_PCI_FIRST_SLOT; slot < MPC_PCI_SLOTS; slot++) {
		for (unsigned int pin = 0; pin < MPC_PCI_PINS; pin++) {
			struct mpc_intsrc *src = (struct mpc_intsrc *)p;

			src->type = MP_INTSRC;
			src->irqtype = MP_INT;
			src->irqflag = MPC_IRQ_ACTIVE_LOW | MPC_IRQ_LEVEL;
			src->srcbus = MPC_BUS_ID_PCI;
			src->srcbusirq = (uint8_t)(slot << 2 | pin);
			src->dstapic = ioapic_id;
			src->dstirq = (uint8_t)LAYOUT_PCI_INTX_GSI(slot, pin);
			p += sizeof(*src);
			entries++;
		}
	}

	/*
	 * Virtual wire: the 8259 on LINT0 and NMI on LINT1 of every local APIC,
	 * as in the spec's default configurations and as x86_setup_lapic()
	 * programs each vCPU.
	 */
	{
		struct mpc_intsrc *lint = (struct mpc_intsrc *)p;

		lint->type = MP_LINTSRC;
		lint->irqtype = MP_EXTINT;
		lint->irqflag = MPC_IRQ_DEFAULT;
		lint->srcbus = MPC_BUS_ID_ISA;
		lint->srcbusirq = 0;
		lint->dstapic = MPC_ALL_LAPICS;
		lint->dstirq = 0;
		p += sizeof(*lint);
		entries++;

		lint = (struct mpc_intsrc *)p;
		lint->type = MP_LINTSRC;
		lint->irqtype = MP_NMI;
		lint->irqflag = MPC_IRQ_DEFAULT;
		lint->srcbus = MPC_BUS_ID_ISA;
		lint->srcbusirq = 0;
		lint->dstapic = MPC_ALL_LAPICS;
		lint->dstirq = 1;
		p += sizeof(*lint);
		entries++;
	}

	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->oemcount = (uint16_t)entries;
	mpc->checksum = fw_table_checksum((const uint8_t *)mpc, mpc->length);
	mpf->checksum = fw_table_checksum((const uint8_t *)mpf, sizeof(*mpf));
	return (int)total;
}
