/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for x86_64 guests: RSDP, XSDT, a hardware-reduced FADT, the
 * DSDT (AML describing the PCI host bridge, COM1, the Generic Event Device
 * and its power button, and the S5 sleep state), the MADT and the MCFG.
 * Kernels without MP-table support (Debian's cloud kernels) find the vCPUs
 * and the IOAPIC only here. docs/acpi.md describes every table.
 */
#ifndef TERN_ACPI_H
#define TERN_ACPI_H

#include "tern/util.h"

/* The most vCPUs the MADT lists (8-bit APIC ids, one for the IOAPIC). */
#define ACPI_MAX_CPUS 254

/*
 * The Generic Event Device's register (LAYOUT_ACPI_GED_START): one byte of
 * pending event bits, cleared by the read that returns them. Its _EVT
 * method reads it and notifies the devices whose bits are set. Bit 3 is a
 * power button press (bits 0-2 are Cloud Hypervisor's CPU, memory and PCI
 * hot-plug, which tern does not have).
 */
#define ACPI_GED_EVENT_POWER_BUTTON (1u << 3)
#define ACPI_GED_EVENTS ACPI_GED_EVENT_POWER_BUTTON /* every bit it sets */

/*
 * The hardware-reduced sleep registers (ACPI 6.4, 4.8.3.7 and 4.8.3.8):
 * control takes SLP_TYP in bits 4:2 and SLP_EN in bit 5; status has
 * WAK_STS in bit 7. \_S5 gives S5's SLP_TYP.
 */
#define ACPI_SLEEP_TYP_SHIFT 2
#define ACPI_SLEEP_TYP_MASK (7u << ACPI_SLEEP_TYP_SHIFT)
#define ACPI_SLEEP_EN (1u << 5)
#define ACPI_SLEEP_WAK_STS (1u << 7)
#define ACPI_S5_SLP_TYP 5u

/* What the tables describe beyond the fixed layout (layout.h). */
struct acpi_platform {
	unsigned int ncpus;
	uint64_t pci_mmio64_start; /* layout_pci_mmio64_start(end of RAM) */
};

/*
 * Build the tables into buf, which the guest sees at guest physical address
 * gpa (16-byte aligned); the RSDP comes first, at gpa. The MADT lists
 * ncpus local APICs (ids 0..ncpus-1), the IOAPIC at LAYOUT_IOAPIC_START
 * with id ncpus and GSI base 0, LINT1 as NMI. The FADT is hardware-reduced,
 * with the i8042 (IA-PC boot flag), its reset register (port 0x64, value
 * 0xfe) and the sleep registers at PORT_ACPI_SLEEP_CONTROL/STATUS.
 * Returns the bytes used, -EINVAL for a bad ncpus or gpa, -ENOSPC.
 */
int acpi_build(uint8_t *buf, size_t size, uint64_t gpa,
	       const struct acpi_platform *p) __must_check;

/* The DSDT's definition block (the AML after its header). */
struct aml;
void acpi_dsdt_write(struct aml *a, const struct acpi_platform *p);

#endif
