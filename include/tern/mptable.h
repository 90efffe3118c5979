/* SPDX-License-Identifier: MIT */
/* Intel MultiProcessor Specification 1.4 tables, so guests find every vCPU. */
#ifndef TERN_MPTABLE_H
#define TERN_MPTABLE_H

#include "tern/util.h"

/* The most vCPUs an MP table can list (8-bit APIC ids, one for the IOAPIC). */
#define MPTABLE_MAX_CPUS 254

/*
 * Build the MP floating pointer and configuration table into buf, which the
 * guest will see at guest physical address gpa. Lists ncpus processors (APIC
 * ids 0..ncpus-1, the first as BSP), an ISA bus (id 0) and PCI bus 0 (id 1),
 * the IOAPIC at LAYOUT_IOAPIC_START with id ncpus, the 16 ISA interrupts,
 * INTA#-INTD# of PCI slots 1-31 (LAYOUT_PCI_INTX_GSI) and the two local
 * interrupts. Returns the size used, or -ENOSPC / -EINVAL.
 */
int mptable_build(uint8_t *buf, size_t size, uint64_t gpa,
		  unsigned int ncpus) __must_check;

#endif
