/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for x86_64 guests: RSDP, XSDT, FADT (hardware-reduced), an
 * empty DSDT and the MADT. Kernels without MP-table support (Debian's cloud
 * kernels) find the vCPUs and the IOAPIC only here.
 */
#ifndef TERN_ACPI_H
#define TERN_ACPI_H

#include "tern/util.h"

/* The most vCPUs the MADT lists (8-bit APIC ids, one for the IOAPIC). */
#define ACPI_MAX_CPUS 254

/*
 * Build the tables into buf, which the guest sees at guest physical address
 * gpa (16-byte aligned); the RSDP comes first, at gpa. Lists ncpus local
 * APICs (ids 0..ncpus-1), the IOAPIC at LAYOUT_IOAPIC_START with id ncpus
 * and GSI base 0, LINT1 as NMI. The FADT is hardware-reduced, with the
 * i8042 (IA-PC boot flag) and its reset register (port 0x64, value 0xfe).
 * Returns the bytes used, -EINVAL for a bad ncpus or gpa, -ENOSPC.
 */
int acpi_build(uint8_t *buf, size_t size, uint64_t gpa,
	       unsigned int ncpus) __must_check;

#endif
