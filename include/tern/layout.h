/* SPDX-License-Identifier: MIT */
/*
 * The whole x86_64 guest physical memory map, as constants. Every other module
 * that places something in guest memory takes its address from here.
 */
#ifndef TERN_LAYOUT_H
#define TERN_LAYOUT_H

#include "tern/util.h"

/* Low memory: boot structures the VMM writes before the first KVM_RUN. */
#define LAYOUT_GDT_START 0x500ULL /* boot GDT (4 entries) */
#define LAYOUT_IDT_START 0x520ULL /* empty IDT for the 64-bit entry */
#define LAYOUT_ZERO_PAGE 0x7000ULL /* Linux boot_params */
#define LAYOUT_PVH_INFO 0x6000ULL /* hvm_start_info + module list */
#define LAYOUT_PVH_MEMMAP 0x6400ULL /* hvm_memmap_table_entry[] */
#define LAYOUT_PML4_START 0x9000ULL /* identity page tables for bzImage */
#define LAYOUT_PDPTE_START 0xa000ULL
#define LAYOUT_PDE_START 0xb000ULL /* 4 pages: 4 GiB with 2 MiB pages */
#define LAYOUT_CMDLINE_START 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL /* 64 KiB including the NUL */
#define LAYOUT_BOOT_STACK 0x8ff0ULL /* initial rsp for 64-bit entries */
#define LAYOUT_EBDA_START 0x9fc00ULL /* MP table lives here */
#define LAYOUT_MPTABLE_MAX 0x400ULL
#define LAYOUT_LOWMEM_END 0x9fc00ULL /* end of conventional RAM in e820 */
#define LAYOUT_BIOS_START 0xa0000ULL /* VGA + option/BIOS ROM hole */
/* ACPI tables, RSDP first: where a legacy RSDP scan (0xe0000-0xfffff) looks. */
#define LAYOUT_ACPI_START 0xe0000ULL
#define LAYOUT_ACPI_MAX 0x10000ULL
#define LAYOUT_HIGHMEM_START 0x100000ULL /* kernels load at 1 MiB */

/* The 32-bit hole below 4 GiB: PCI MMIO, ECAM, IOAPIC, LAPIC. */
#define LAYOUT_MMIO32_START 0xc0000000ULL
#define LAYOUT_PCI_MMIO32_START 0xc0000000ULL
#define LAYOUT_PCI_MMIO32_SIZE 0x20000000ULL /* 512 MiB of 32-bit BARs */
#define LAYOUT_PCI_ECAM_START 0xe0000000ULL
#define LAYOUT_PCI_ECAM_SIZE 0x10000000ULL /* 256 buses */
#define LAYOUT_IOAPIC_START 0xfec00000ULL
#define LAYOUT_LAPIC_START 0xfee00000ULL
#define LAYOUT_MMIO32_END 0x100000000ULL
#define LAYOUT_RAM_ABOVE_4G 0x100000000ULL
/* PCI I/O BARs (no device needs one yet; the allocator supports them). */
#define LAYOUT_PCI_IO_START 0xc000U
#define LAYOUT_PCI_IO_SIZE 0x4000U
/*
 * PCI INTx: INTA#..INTD# (pin 0..3) of slot s go to IOAPIC pin
 * BASE + (s + pin) % 8, level-triggered, active low (the MP table says so).
 */
#define LAYOUT_PCI_INTX_GSI_BASE 16U
#define LAYOUT_PCI_INTX_GSIS 8U
#define LAYOUT_PCI_INTX_GSI(slot, pin)                                         \
	(LAYOUT_PCI_INTX_GSI_BASE + ((slot) + (pin)) % LAYOUT_PCI_INTX_GSIS)
/* GSIs past the 24 IOAPIC pins are handed to MSI-X vectors. */
#define LAYOUT_MSI_GSI_BASE 24U
/* 64-bit BARs go above the end of RAM, aligned to 1 GiB. */
#define LAYOUT_PCI_MMIO64_ALIGN (1ULL * GiB)
#define LAYOUT_PCI_MMIO64_SIZE (64ULL * GiB)

/* Where the 64-bit BAR window starts for RAM ending at mem_end. */
static inline uint64_t layout_pci_mmio64_start(uint64_t mem_end)
{
	uint64_t high = mem_end > LAYOUT_RAM_ABOVE_4G ? mem_end :
							 LAYOUT_RAM_ABOVE_4G;

	return ALIGN_UP(high, LAYOUT_PCI_MMIO64_ALIGN);
}

/*
 * ACPI's Generic Event Device (docs/acpi.md): one byte of pending event
 * bits, read-to-clear, in the 32-bit hole below the IOAPIC, and the ISA
 * line it raises (edge-triggered, active high) when it sets one.
 */
#define LAYOUT_ACPI_GED_START 0xfeb00000ULL
#define LAYOUT_ACPI_GED_SIZE 1ULL
#define LAYOUT_ACPI_GED_GSI 5U

/* Identity map built for 64-bit entries: 4 GiB covers the hole too. */
#define LAYOUT_IDENTITY_MAP_SIZE (4ULL * GiB)

/* KVM needs three pages for the TSS and one for the identity map page. */
#define LAYOUT_KVM_TSS_ADDR 0xfffbd000ULL
#define LAYOUT_KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* Legacy I/O ports. */
#define PORT_COM1 0x3f8
#define PORT_COM1_IRQ 4
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD 0x64
#define PORT_TEST_EXIT 0xf4 /* QEMU isa-debug-exit compatible */
#define PORT_TEST_EXIT_SIZE 4
/* ACPI sleep control and status registers (the FADT points at them). */
#define PORT_ACPI_SLEEP_CONTROL 0x600
#define PORT_ACPI_SLEEP_STATUS 0x601

#endif
