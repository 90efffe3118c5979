/* SPDX-License-Identifier: MIT */
/*
 * PCI: one host bridge, bus 0, conventional (256-byte) configuration space
 * reached through configuration mechanism #1 (ports 0xcf8/0xcfc) and an ECAM
 * window. tern acts as the firmware: BARs are assigned when a device is
 * created and decoding is on, so a guest that does not enumerate finds the
 * devices working; a guest that does may size and move them. Bus mastering
 * is left off, as SeaBIOS leaves it: drivers set it before DMA.
 *
 * Interrupts: MSI-X (table and PBA in a BAR of their own), every vector an
 * eventfd bound to a GSI with irqfd, so a device thread interrupts the guest
 * with one write(2); INTA# on an IOAPIC pin as the fallback. What reaches
 * KVM goes through struct machine_ops, so unit tests run without /dev/kvm.
 */
#ifndef TERN_PCI_H
#define TERN_PCI_H

#include <glib.h>
#include <pthread.h>

#include "tern/bus.h"
#include "tern/machine.h"
#include "tern/memory.h"
#include "tern/util.h"

struct pci_host;
struct pci_device;
struct state_writer;
struct state_reader;

#define PCI_SLOTS 32
#define PCI_CFG_SIZE 256
#define PCI_NUM_BARS 6

/* Configuration space header (type 0) offsets and bits. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
/* Error bits software clears by writing 1. */
#define PCI_STATUS_RW1C 0xf900

#define PCI_BAR_SPACE_IO 0x01
#define PCI_BAR_MEM_TYPE_64 0x04
#define PCI_BAR_MEM_PREFETCH 0x08

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
/* Capabilities live in [0x40, 0x100), dword aligned. */
#define PCI_CAP_START 0x40

/* MSI-X capability layout (offsets from the capability). */
#define PCI_MSIX_FLAGS 2
#define PCI_MSIX_TABLE 4
#define PCI_MSIX_PBA 8
#define PCI_MSIX_CAP_SIZE 12
#define PCI_MSIX_FLAGS_QSIZE 0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE 0x8000
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1
#define PCI_MSIX_MAX_VECTORS 2048

/*
 * INTx wiring: INTA#..INTD# (pin 0..3) of slot s go to IOAPIC pin
 * LAYOUT_PCI_INTX_GSI_BASE + (s + pin) % 8, the usual rotation so adjacent
 * slots' INTA# do not share a line. The MP table says the same.
 */
#define PCI_INTX_PINS 4

/* Where BARs go (the platform's windows) and how. */
enum pci_bar_flags {
	PCI_BAR_IO = 1 << 0, /* I/O space, else memory */
	PCI_BAR_64 = 1 << 1, /* 64-bit memory BAR: takes two BAR slots */
	PCI_BAR_PREFETCH = 1 << 2,
	/*
	 * Place a 64-bit BAR above 4 GiB. Otherwise 64-bit BARs go in the
	 * 32-bit window while it has room (as SeaBIOS does), which every
	 * guest can reach without moving them.
	 */
	PCI_BAR_HIGH = 1 << 3,
};

struct pci_host_params {
	struct bus *pio, *mmio;
	const struct guest_memory *mem; /* BARs never map over RAM */
	/* Interrupts: the VM's machine ops, or a recorder in the unit tests. */
	const struct machine_ops *irq_ops;
	void *irq_opaque;
	uint64_t ecam_base; /* 0: no ECAM window */
	uint64_t mmio32_base, mmio32_size;
	uint64_t mmio64_base, mmio64_size;
	uint32_t io_base, io_size;
	uint32_t first_msi_gsi; /* GSIs from here on are handed to vectors */
};

/* Device callbacks; every one is optional. */
struct pci_device_ops {
	/*
	 * A BAR became reachable at addr, or stopped being (mapped false):
	 * decode was turned on or off, or the guest moved it. The device moves
	 * its ioeventfds here. Called with the host's config lock held.
	 */
	void (*bar_mapped)(struct pci_device *dev, unsigned int bar,
			   uint64_t addr, bool mapped);
	/*
	 * Config space beyond what the core models (a capability with side
	 * effects): called after the core applied the write masks.
	 */
	void (*config_write)(struct pci_device *dev, unsigned int off,
			     const void *data, unsigned int len);
	/* A config read the core answered in data; the device may amend it. */
	void (*config_read)(struct pci_device *dev, unsigned int off, void *data,
			    unsigned int len);
	/* Machine reset: back to the state at creation (the core restores config space). */
	void (*reset)(struct pci_device *dev);
	/*
	 * The command register's bus master bit changed (a guest write, a
	 * machine reset that clears it, a state load). While it is clear the
	 * device must not touch guest memory: it processes no queues until
	 * the bit is set again (its MSI-X messages are held by the core). Called
	 * only on a change, one call at a time per device and in the order of
	 * the changes, on the thread that made it, and without the host's
	 * config lock, so the device may take its own locks and stop (join)
	 * its threads. pci_bus_master_enabled() already returns enabled. The
	 * device may read its config space but must not write it through the
	 * host (config cycles) from here.
	 */
	void (*bus_master)(struct pci_device *dev, bool enabled);
};

struct pci_device_info {
	const char *name;
	uint16_t vendor_id, device_id;
	uint16_t subsystem_vendor_id, subsystem_id;
	uint8_t revision;
	uint32_t class_code; /* class << 16 | subclass << 8 | prog-if */
	bool intx; /* the device uses INTA# */
};

/* The machine's host: 0xcf8/0xcfc on its PIO bus, ECAM on its MMIO bus. */
struct pci_host *pci_host_create(struct machine *m, GError **err);
/* Any host, from explicit parameters (the unit tests). */
/*
 * The x86_64 platform's windows from layout.h (ECAM, 32-bit and 64-bit BAR
 * windows, I/O ports, MSI GSIs), the 64-bit window placed above mem's RAM.
 * Interrupt ops are left for the caller.
 */
void pci_host_params_platform(struct pci_host_params *p, struct bus *pio,
			      struct bus *mmio,
			      const struct guest_memory *mem);
struct pci_host *pci_host_new(const struct pci_host_params *p, GError **err);
/* Devices must be destroyed first. */
void pci_host_destroy(struct pci_host *host);
/* Machine reset, vCPUs parked: every device back to its state at creation. */
void pci_host_reset(struct pci_host *host);

/* Configuration cycles as a guest issues them (bus 0 only; others read ~0). */
void pci_host_config_read(struct pci_host *host, unsigned int bus,
			  unsigned int devfn, unsigned int off, void *data,
			  unsigned int len);
void pci_host_config_write(struct pci_host *host, unsigned int bus,
			   unsigned int devfn, unsigned int off,
			   const void *data, unsigned int len);

/* The IOAPIC pin a slot's INTA#..INTD# (pin 0..3) is wired to. */
unsigned int pci_intx_gsi(unsigned int slot, unsigned int pin);

/*
 * Plug a device into the first free slot of bus 0 (or slot if nonzero).
 * The header is filled from info; BARs, capabilities and MSI-X are added
 * next, then pci_device_realize() assigns the BARs and turns decoding on.
 */
struct pci_device *pci_device_create(struct pci_host *host,
				     const struct pci_device_info *info,
				     unsigned int slot,
				     const struct pci_device_ops *ops,
				     void *opaque, GError **err);
/* Unplug and free; only while no vCPU runs (bus handlers are not waited for). */
void pci_device_destroy(struct pci_device *dev);
void *pci_device_opaque(const struct pci_device *dev);
unsigned int pci_device_slot(const struct pci_device *dev);
const char *pci_device_name(const struct pci_device *dev);

/*
 * Declare BAR bar (size a power of two, at least 4 KiB for memory, 4 bytes
 * for I/O), served by ops with offsets into the BAR. -EINVAL for a bad
 * index, size or flags, -EEXIST if the BAR (or its upper half) is taken.
 */
int pci_device_add_bar(struct pci_device *dev, unsigned int bar,
		       uint64_t size, unsigned int flags,
		       const struct bus_ops *ops, void *opaque) __must_check;

/*
 * Append a capability: cap[0] is the id, cap[1] (next) is filled in, len
 * bytes in all. Returns its offset in config space, or -ENOSPC. Its bytes
 * are read-only to the guest unless pci_config_set_wmask() says otherwise.
 */
int pci_device_add_capability(struct pci_device *dev, const void *cap,
			      unsigned int len) __must_check;

/*
 * Add an MSI-X capability with nvec vectors, table at offset 0 and PBA at
 * the next 2 KiB boundary of its own 32-bit memory BAR bar. Creates an
 * eventfd and a GSI per vector.
 */
int pci_msix_init(struct pci_device *dev, unsigned int bar,
		  unsigned int nvec) __must_check;
unsigned int pci_msix_nr_vectors(const struct pci_device *dev);
/* MSI-X enabled by the guest (then INTx must stay quiet). Any thread. */
bool pci_msix_enabled(const struct pci_device *dev);
/*
 * Interrupt through vector: one eventfd write, any thread, no lock. A
 * masked vector (or function), or any vector while bus master is off (an
 * MSI is a memory write), keeps the message pending (PBA) until it can be
 * sent. Out-of-range vectors are ignored.
 */
void pci_msix_notify(struct pci_device *dev, unsigned int vector);
/* The vector's eventfd, for code that signals it directly; -1 if none. */
int pci_msix_vector_fd(const struct pci_device *dev, unsigned int vector);

/*
 * MSI vectors a device delivers itself (a passed-through MSI capability,
 * whose eventfds and irqfds the device manages): n GSIs (1..32), none
 * routed, kept until the device goes. Their routes join the host's table,
 * which the core owns (KVM_SET_GSI_ROUTING replaces it whole). Before
 * realize; -EINVAL for a bad n or a second call.
 */
int pci_msi_gsis_init(struct pci_device *dev, unsigned int n) __must_check;
/* GSI i of those (i < n). */
uint32_t pci_msi_gsi(const struct pci_device *dev, unsigned int i);
/*
 * Route GSI i to addr/data, or nowhere (routed false), committing the
 * table if that changes it. True when KVM has what was asked for: only
 * then may an irqfd deliver through it. Any thread.
 */
bool pci_msi_gsi_route(struct pci_device *dev, unsigned int i, bool routed,
		       uint64_t addr, uint32_t data);

/*
 * Bus master enable as the device was last told through bus_master (false
 * until the guest sets it: like SeaBIOS, tern's realize leaves it clear).
 * Any thread, no lock.
 */
bool pci_bus_master_enabled(const struct pci_device *dev);

/* Raise or lower INTA# (ignored while the command register disables INTx). */
void pci_intx_set(struct pci_device *dev, bool level);

/* Assign the BARs from the host's windows and turn decoding on. */
int pci_device_realize(struct pci_device *dev) __must_check;
/* Where BAR bar currently decodes, or 0 when it does not. */
uint64_t pci_bar_address(const struct pci_device *dev, unsigned int bar);

/*
 * Read-only views for reports (QMP query-pci). The device in slot of bus
 * 0, or NULL; devices come and go only while the VM is built and torn
 * down, so the main thread may walk them at any other time.
 */
struct pci_device *pci_host_device(struct pci_host *host, unsigned int slot);

struct pci_bar_info {
	uint64_t size;
	uint64_t addr; /* where it decodes now; 0 when it does not */
	bool io, mem64, prefetch;
};
/* BAR bar of dev; false when it is not implemented or the upper half of a 64-bit BAR. */
bool pci_device_bar_info(const struct pci_device *dev, unsigned int bar,
			 struct pci_bar_info *info);

/*
 * Machine state (state.h). A device is one section, "pci.00:SS.0" (slot
 * SS in hex): its config space, BAR sizes, MSI-X table, the vectors with a
 * message pending and its INTx level. Save with the vCPUs parked and the
 * device's threads stopped; the caller decides the order of sections.
 */
void pci_device_save(struct pci_device *dev, struct state_writer *w);
/*
 * Load into a freshly created, realized, identical device (vCPUs parked,
 * device not running). The section is checked whole against the device
 * (ids, header type, BAR sizes and types, capability layout, every byte
 * the guest cannot write, the MSI-X table's reserved bits and pending
 * bits, no decoding BAR over RAM); on any error err names it and the
 * device is untouched. Then decoding, MSI-X bindings and routes, pending
 * messages, INTx and bus master are brought in line as the guest's own
 * writes would have (bus_master may be called).
 */
bool pci_device_load(struct pci_device *dev, struct state_reader *r,
		     GError **err);
/* The host's own state: "pci-host" (the 0xcf8 latch), then the bridge's. */
void pci_host_save(struct pci_host *host, struct state_writer *w);
bool pci_host_load(struct pci_host *host, struct state_reader *r,
		   GError **err);

/* Direct config space access for device code (no side effects). */
uint32_t pci_config_get(const struct pci_device *dev, unsigned int off,
			unsigned int len);
void pci_config_set(struct pci_device *dev, unsigned int off, uint32_t val,
		    unsigned int len);
void pci_config_set_wmask(struct pci_device *dev, unsigned int off,
			  uint32_t mask, unsigned int len);

#endif
