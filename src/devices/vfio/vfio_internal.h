/* SPDX-License-Identifier: MIT */
/*
 * The passthrough device's insides, shared by its files only:
 * iommu.c (container/group or iommufd, DMA maps), device.c (the PCI
 * function: config space, capabilities, create/destroy/reset), region.c
 * (config and BAR regions: trapped accesses, mmap, KVM slots), irq.c (MSI-X and
 * INTx through VFIO_DEVICE_SET_IRQS, which type is on), msi.c (the emulated
 * MSI capability and its vectors), reset.c (the hot reset of a function
 * without FLR), vfio_config.c (the option), host.c (the real system
 * calls), type.c (the device_type row).
 *
 * Locks: config space callbacks and BAR moves run under the PCI host's
 * cfg_lock, which orders every change to the interrupt and mapping state
 * here; BAR data accesses (vCPU threads) only read the fixed region table
 * and call pread/pwrite, which need no lock.
 */
#ifndef TERN_VFIO_INTERNAL_H
#define TERN_VFIO_INTERNAL_H

#include <inttypes.h>

#include "tern/machine.h"
#include "tern/pci.h"
#include "tern/vfio-uapi.h"
#include "tern/vfio.h"

/* At most this many directly mapped areas per BAR (sparse mmap). */
#define VFIO_BAR_MAX_AREAS 2
/*
 * KVM memory slots for mmap'ed BAR areas: one fixed number per (PCI slot,
 * BAR, area), clear of the RAM slots (0 and 1), so no allocator is needed.
 */
#define VFIO_KVM_SLOT_BASE 64
#define VFIO_KVM_SLOT(pci_slot, bar, area)                                     \
	(VFIO_KVM_SLOT_BASE + (pci_slot)*16 + (bar)*VFIO_BAR_MAX_AREAS + (area))
/* Passed-through capabilities kept in the guest's config space. */
#define VFIO_MAX_CAPS 8
/* Guest RAM regions mapped for DMA. */
#define VFIO_MAX_DMA 8

/* MSI capability (PCI cap 0x05) layout, offsets from the capability. */
#define PCI_CAP_ID_MSI 0x05
#define PCI_MSI_FLAGS 2
#define PCI_MSI_FLAGS_ENABLE 0x0001
#define PCI_MSI_FLAGS_QMASK 0x000e /* multiple message capable */
#define PCI_MSI_FLAGS_QSIZE 0x0070 /* multiple message enable */
#define PCI_MSI_FLAGS_64BIT 0x0080
#define PCI_MSI_FLAGS_MASKBIT 0x0100
#define PCI_MSI_ADDRESS_LO 4
#define VFIO_MSI_MAX_VECTORS 32

struct vfio_area {
	uint64_t off, size; /* in the BAR */
	void *hva; /* the mmap, NULL if it failed */
	bool in_kvm; /* a KVM slot maps it now */
};

struct vfio_bar {
	struct vfio_device *v;
	unsigned int index;
	uint64_t region_size; /* the host's; 0: BAR not implemented */
	uint64_t region_off; /* where the region starts in the device fd */
	uint32_t region_flags;
	uint64_t guest_size; /* what the guest sees (a power of two) */
	bool io;
	struct vfio_area areas[VFIO_BAR_MAX_AREAS];
	unsigned int nr_areas;
	/* The host's MSI-X table and PBA when in this BAR: never forwarded. */
	uint64_t hide_start[2], hide_end[2];
};

/* A host capability the guest sees at another offset. */
struct vfio_cap {
	uint8_t guest_off, host_off, len;
};

struct vfio_dma {
	uint64_t iova, size;
};

/* A host PCI function's address, as VFIO's hot reset info gives it. */
struct vfio_pci_addr {
	uint16_t segment;
	uint8_t bus, devfn;
};

struct vfio_device {
	struct machine *m;
	const struct vfio_config *cfg;
	const struct vfio_host_ops *host;
	void *ctx;

	/* Host handles: the legacy pair, or iommufd and its IOAS. */
	bool use_iommufd;
	int container, group, iommufd, device;
	uint32_t ioas_id;
	uint32_t group_id; /* the IOMMU group's number (legacy) */
	struct vfio_pci_addr host_addr;
	struct vfio_dma dma[VFIO_MAX_DMA];
	unsigned int nr_dma;

	/* What VFIO_DEVICE_GET_INFO said. */
	uint32_t dev_flags;
	uint64_t cfg_region_off;
	uint8_t host_cfg[PCI_CFG_SIZE]; /* as read at creation */
	uint16_t cmd_start; /* the command register tern realized it with */

	/*
	 * Hot reset (reset.c): machine resets seen; another function's hot
	 * reset covered ours in this one; the reason it cannot be done was
	 * told.
	 */
	unsigned int reset_round;
	bool reset_by_peer;
	bool hot_reset_warned;

	struct pci_device *pci;
	struct vfio_bar bars[PCI_NUM_BARS];
	struct vfio_cap caps[VFIO_MAX_CAPS];
	unsigned int nr_caps;

	/* MSI-X: the host's vector count, our capability, whether enabled. */
	unsigned int msix_nvec;
	uint8_t msix_host_cap, msix_guest_cap;
	int msix_bar; /* the host BAR that holds its table, -1: none */
	bool msix_on; /* VFIO has the vector eventfds */
	bool msix_guest; /* the guest's enable bit as last seen */

	/*
	 * MSI (msi.c): the host's capability and ours, the vectors VFIO
	 * offers (a power of two), an eventfd and a GSI (the core's) each.
	 */
	uint8_t msi_host_cap, msi_guest_cap, msi_len;
	uint16_t msi_flags; /* 64BIT and MASKBIT as the host has them */
	unsigned int msi_nvec;
	unsigned int msi_active; /* vectors VFIO has now, 0: MSI off there */
	bool msi_guest; /* the guest's enable bit as last seen */
	int msi_fd[VFIO_MSI_MAX_VECTORS];
	bool msi_live[VFIO_MSI_MAX_VECTORS]; /* irqfd bound */

	/* INTx: wired when the function has a pin and VFIO offers it. */
	bool intx;
	bool intx_on;
	int intx_fd, intx_resample_fd;
	uint32_t intx_gsi;
};

/* iommu.c */
bool vfio_iommu_open(struct vfio_device *v, GError **err);
/* Map every guest RAM region for the device's DMA. */
bool vfio_dma_map_ram(struct vfio_device *v, GError **err);
int vfio_dma_map(struct vfio_device *v, uint64_t iova, uint64_t size,
		 void *hva) __must_check;
int vfio_dma_unmap(struct vfio_device *v, uint64_t iova,
		   uint64_t size) __must_check;
/* Unmap what was mapped, close the device and the IOMMU handles. */
void vfio_iommu_close(struct vfio_device *v);

/* reset.c */
/* Note the function's host address (creation). */
bool vfio_hot_reset_init(struct vfio_device *v, GError **err);
/*
 * VFIO_DEVICE_PCI_HOT_RESET for a function without a reset of its own
 * (machine reset, main thread): 0, or -EPERM after a warning (the first
 * time) saying why it was not done.
 */
int vfio_hot_reset(struct vfio_device *v);

/* device.c */
/* After a reset: the command register tern has, INTx re-armed. */
void vfio_device_restore(struct vfio_device *v);

/* region.c */
/* err (TERN_ERROR_HOST) as "--device SPEC: <message>". */
void vfio_error(struct vfio_device *v, GError **err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
int vfio_config_pwrite(struct vfio_device *v, unsigned int off,
		       const void *data, unsigned int len) __must_check;
int vfio_config_pread(struct vfio_device *v, unsigned int off, void *data,
		      unsigned int len) __must_check;
/* Config region, config space, every BAR's region info and mmap areas. */
bool vfio_regions_read(struct vfio_device *v, GError **err);
/* mmap a BAR's areas (those that fail stay trapped). */
void vfio_bar_mmap(struct vfio_device *v, struct vfio_bar *b);
/* pci_device_ops.bar_mapped: the BAR's KVM slots follow it. */
void vfio_bar_mapped(struct pci_device *dev, unsigned int bar, uint64_t addr,
		     bool mapped);
/* Trapped BAR accesses; opaque is the struct vfio_bar. */
extern const struct bus_ops vfio_bar_ops;

/* irq.c */
/* VFIO_DEVICE_SET_IRQS with count eventfds (fds NULL: DATA_NONE, off). */
int vfio_set_irqs(struct vfio_device *v, unsigned int index, uint32_t action,
		  unsigned int count, const int32_t *fds);
/* The guest's MSI-X enable bit may have changed. cfg_lock held. */
void vfio_msix_update(struct vfio_device *v);
/* MSI-X off at VFIO (MSI takes over). */
void vfio_msix_host_off(struct vfio_device *v);
/*
 * Neither message type is on at VFIO now: the other one if the guest has
 * it enabled, else INTx.
 */
void vfio_irqs_fallback(struct vfio_device *v);
/* Arm INTx (trigger + resample eventfds, irqfd). */
int vfio_intx_enable(struct vfio_device *v) __must_check;
void vfio_intx_disable(struct vfio_device *v);
/* Every interrupt off at the host (reset), the eventfds kept. */
void vfio_irqs_off(struct vfio_device *v);
/* Off, and the eventfds closed (exit). */
void vfio_irqs_release(struct vfio_device *v);

/* msi.c */
/* Note the host's MSI capability at off and what VFIO offers for it. */
bool vfio_msi_scan(struct vfio_device *v, unsigned int off, GError **err);
/* Our capability, its eventfds and GSIs (before realize). */
bool vfio_msi_build(struct vfio_device *v, GError **err);
/* A guest write touched [off, off + len) of config space. cfg_lock held. */
void vfio_msi_config_write(struct vfio_device *v, unsigned int off,
			   unsigned int len);
/* Amend a config read: the pending bits. */
void vfio_msi_config_read(struct vfio_device *v, unsigned int off,
			  uint8_t *data, unsigned int len);
/*
 * MSI on at VFIO with the vectors the guest enabled: 0, or -errno after
 * a warning (MSI then stays off there, as in QEMU).
 */
int vfio_msi_enable(struct vfio_device *v);
/* MSI off at VFIO, every vector unbound and unrouted (guest bit kept). */
void vfio_msi_host_off(struct vfio_device *v);
/* Close the eventfds (exit; after vfio_irqs_off). */
void vfio_msi_release(struct vfio_device *v);

#endif
