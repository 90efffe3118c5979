/* SPDX-License-Identifier: MIT */
/*
 * The PCI host's insides, shared by its files and by nothing else:
 * pci.c (the host, config cycles, config space, devices), pci_bar.c (BAR
 * placement and decoding), pci_msix.c (MSI-X and the MSI routes),
 * pci_intx.c (INTx levels and pin sharing), pci_state.c (save and load).
 *
 * Locks, outermost first: dev->master_lock (held across the device's
 * bus_master callback, so it is never taken with cfg_lock held),
 * host->cfg_lock (config cycles, BAR moves), dev->msix_lock (vector table),
 * host->irq_lock (routes, INTx line counts). A device's own locks come
 * after master_lock and cfg_lock (its callbacks run under them) and before
 * msix_lock and irq_lock (it notifies and sets INTx under them).
 */
#ifndef TERN_PCI_INTERNAL_H
#define TERN_PCI_INTERNAL_H

#include "tern/layout.h"
#include "tern/pci.h"

#define PCI_BAR_MIN_MEM 0x1000ULL

struct pci_bar_state {
	uint64_t size; /* 0: not implemented */
	unsigned int flags;
	const struct bus_ops *ops;
	void *opaque;
	bool upper; /* the upper half of the 64-bit BAR below */
	bool mapped;
	uint64_t mapped_addr;
	/* Last refused (another region was there), for logging once. */
	bool refused;
	uint64_t refused_addr;
};

/* An MSI route as one vector sees it: none, or address and data. */
struct pci_msi_msg {
	bool routed;
	uint64_t addr;
	uint32_t data;
};

struct pci_msix_vec {
	int fd;
	uint32_t gsi;
	bool live; /* irqfd bound: KVM delivers its writes (msix_lock) */
	/* The route the table asks for (host->irq_lock). */
	struct pci_msi_msg want;
	/* The route KVM has: the last table it accepted (host->irq_lock). */
	struct pci_msi_msg kvm;
};

struct pci_device {
	struct pci_host *host;
	unsigned int slot;
	char *name;
	const struct pci_device_ops *ops;
	void *opaque;
	bool realized;

	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint8_t w1cmask[PCI_CFG_SIZE];
	uint8_t cfg_reset[PCI_CFG_SIZE]; /* as realized: what a reset restores */
	uint8_t last_cap; /* 0: none yet */
	unsigned int cap_end; /* first free byte for the next capability */
	struct pci_bar_state bars[PCI_NUM_BARS];

	/* MSI-X */
	pthread_mutex_t msix_lock;
	unsigned int msix_nvec;
	unsigned int msix_bar;
	uint8_t msix_cap;
	uint32_t msix_pba_off;
	uint8_t *msix_table; /* nvec * 16 bytes, as the guest wrote it */
	struct pci_msix_vec *vec;
	bool msix_enabled; /* atomic: read by device threads */
	bool msix_fmask;

	/* GSIs the device routes itself (pci_msi_gsis_init), irq_lock. */
	struct pci_msix_vec *msi_gsi;
	unsigned int msi_ngsi;

	/* Bus master: the command bit (atomic; written under cfg_lock)... */
	bool master;
	/* ...and what the device was last told (atomic; master_lock). */
	bool master_told;
	pthread_mutex_t master_lock;

	/* INTx (host->irq_lock) */
	uint32_t intx_gsi;
	bool intx_level; /* atomic: what the device wants */
	bool intx_asserted; /* what it contributes to its pin's count */
	bool intx_disabled; /* command register bit, cached */
};

struct pci_host {
	struct pci_host_params p;
	struct pci_device *slots[PCI_SLOTS];
	pthread_mutex_t cfg_lock;
	uint32_t conf1_addr;
	uint64_t mmio32_next, mmio64_next;
	uint32_t io_next;
	uint32_t next_gsi;
	pthread_mutex_t irq_lock;
	/* KVM refused the last routing table: commit again at the next change. */
	bool routes_stale;
	unsigned int intx_count[LAYOUT_PCI_INTX_GSIS];
	bool intx_line[LAYOUT_PCI_INTX_GSIS];
	bool pio_registered, ecam_registered;
	struct pci_device *bridge;
};

/* pci.c */
/* The 0xcf8 latch keeps bus, device, function, register and bit 31. */
#define PCI_CONF1_ADDR_MASK 0x80fffffcU
/* Tell the device if bus master changed since it was last told. No cfg_lock. */
void pci_bus_master_sync(struct pci_device *dev);
/* The command register may have changed: INTx disable, bus master. cfg_lock. */
void pci_command_changed(struct pci_device *dev);

/* pci_bar.c */
/* The address BAR bar of dev holds in config space cfg (dev's or another). */
uint64_t pci_bar_addr_in(const struct pci_device *dev, const uint8_t *cfg,
			 unsigned int bar);
/* Does [addr, addr + size) touch guest RAM? */
bool pci_range_over_ram(const struct guest_memory *mem, uint64_t addr,
			uint64_t size);
/* cfg_lock held. */
void pci_bar_unmap(struct pci_device *dev, unsigned int bar);
/*
 * Decode every realized device's BARs where its config space says, if its
 * command register lets them; retries the BARs another one was in the way
 * of. After any BAR or command register change.
 */
void pci_host_update_bars(struct pci_host *host);

/* pci_msix.c */
/*
 * Hand KVM every vector's wanted route; on success that is what KVM has,
 * on failure KVM keeps its old table and routes_stale says so. irq_lock.
 */
void pci_host_commit_routes_locked(struct pci_host *host);
/* The message control word or bus master changed. cfg_lock held. */
void pci_msix_control_changed(struct pci_device *dev);
void pci_msix_reset(struct pci_device *dev);
/* PBA bytes for nvec vectors (whole qwords). */
uint32_t pci_msix_pba_size(unsigned int nvec);
/* Is a message of vector v waiting (what the PBA shows)? msix_lock held. */
bool pci_msix_pending_locked(struct pci_device *dev, unsigned int v);
void pci_msix_destroy(struct pci_device *dev);
/* Unroute and free the device's own MSI GSIs. */
void pci_msi_gsis_destroy(struct pci_device *dev);

/* pci_intx.c */
void pci_intx_update_locked(struct pci_device *dev);
void pci_intx_update(struct pci_device *dev);

#endif
