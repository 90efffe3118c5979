/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration space through the legacy 0xcf8/0xcfc ports, bus 0 only
 * (q35 and tern put every device there), capability lists, and memory BARs.
 *
 * CPL 0 only: ring 3 cannot reach the ports on the development machines
 * (see lib/user.S). Every config access is two port exits, so callers look
 * things up once and keep the answers.
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_ADDR 0xcf8
#define PCI_CONFIG_DATA 0xcfc

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_HEADER_MULTI_FN 0x80
#define PCI_HEADER_TYPE_MASK 0x7f

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM_TYPE_MASK 0x6
#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_MEM_PREFETCH 0x8
#define PCI_BAR_MEM_ADDR_MASK 0xfffffff0u
#define PCI_NR_BARS 6

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VENDOR 0x09

/* MSI-X capability: message control, table and PBA offset/BIR words. */
#define PCI_MSIX_CTRL 2
#define PCI_MSIX_TABLE 4
#define PCI_MSIX_CTRL_ENABLE 0x8000
#define PCI_MSIX_CTRL_MASKALL 0x4000
#define PCI_MSIX_CTRL_SIZE_MASK 0x07ff
#define PCI_MSIX_BIR_MASK 0x7

/*
 * Where pci_bar_map() puts a BAR that the firmware left unassigned, or
 * assigned out of reach of the guests' 4 GiB identity map: the bottom
 * half-gigabyte of the 32-bit PCI hole, which is below the ECAM window of
 * tern and above QEMU q35's (0xb0000000, 256 MiB).
 */
#define PCI_ALLOC_START 0xc0000000u
#define PCI_ALLOC_END 0xe0000000u

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
};

uint32_t pci_read32(const struct pci_dev *d, uint8_t off);
uint16_t pci_read16(const struct pci_dev *d, uint8_t off);
uint8_t pci_read8(const struct pci_dev *d, uint8_t off);
void pci_write32(const struct pci_dev *d, uint8_t off, uint32_t v);
void pci_write16(const struct pci_dev *d, uint8_t off, uint16_t v);

/*
 * The index-th function on bus 0 (in slot, function order) with this
 * vendor and device id. False when there is none.
 */
bool pci_find(uint16_t vendor, uint16_t device, unsigned int index,
	      struct pci_dev *out);

/*
 * Offset of the first capability with this id after `after` (0 to start
 * at the head of the list); 0 when there is none or the list is broken.
 */
uint8_t pci_cap_find(const struct pci_dev *d, uint8_t id, uint8_t after);

struct pci_bar {
	uint64_t addr; /* as programmed; 0 when unassigned */
	uint64_t size; /* 0 when the BAR is not implemented */
	bool io, is64, prefetch;
};

/* Decode BAR bar and measure its size (decoding is off meanwhile). */
void pci_bar_probe(const struct pci_dev *d, unsigned int bar,
		   struct pci_bar *out);

/*
 * Make memory BAR bar usable and return its address: a BAR that is
 * unassigned, or above 4 GiB, is given room in [PCI_ALLOC_START,
 * PCI_ALLOC_END) away from every other assigned BAR on bus 0. Turns on
 * memory decoding. Returns 0 for an I/O or unimplemented BAR, or when the
 * window is full; *assigned (may be NULL) says whether this call moved it.
 */
uint64_t pci_bar_map(const struct pci_dev *d, unsigned int bar, bool *assigned);

/* Memory decoding and bus mastering on (DMA needs the latter under QEMU). */
void pci_enable(const struct pci_dev *d);

#endif
