/* SPDX-License-Identifier: MIT */
/*
 * A test double of the host kernel's VFIO and iommufd character devices,
 * behind struct vfio_host_ops. It answers the uAPI of linux/vfio.h and
 * linux/iommufd.h as vfio-pci would for a small made-up PCI function, and
 * records what tern asked. NO REAL DEVICE OR IOMMU IS INVOLVED: this
 * checks tern's side of the contract only (docs/vfio.md says what a run
 * on an IOMMU host must check).
 *
 * The made-up function, 0000:01:00.0 in IOMMU group 12 (cdev vfio0):
 *   vendor 0x7e57 device 0x0001, class 0xff0000, INTA#;
 *   BAR0: 4 KiB registers, trapped (no mmap): see VD_REG_*;
 *   BAR1: 4 KiB holding the host MSI-X table (4 vectors) at 0, PBA at 0x800;
 *   BAR2/3: 64-bit prefetchable 16 KiB, mmap allowed for [0, 8 KiB) only
 *           (a sparse-mmap capability), the rest trapped: plain memory;
 *   BAR4: none (tern puts its emulated MSI-X table there);
 *   BAR5: 32 bytes of I/O ports, plain memory;
 *   capabilities: PM at 0x40, MSI-X at 0x48, MSI at 0x54 (64-bit, per-vector
 *   masking, 4 vectors), vendor-specific at 0x70.
 * vfio_double_msi_only() makes it a function with MSI and no MSI-X (its
 * capability left out of the list, VFIO offering 0 MSI-X vectors).
 */
#ifndef TERN_TEST_VFIO_DOUBLE_H
#define TERN_TEST_VFIO_DOUBLE_H

#include <stdbool.h>
#include <stdint.h>

#include "tern/vfio-uapi.h"
#include "tern/vfio.h"

#define VD_ADDR "0000:01:00.0"
#define VD_GROUP 12
#define VD_VENDOR 0x7e57
#define VD_DEVICE 0x0001
#define VD_NVEC 4
#define VD_MSI_NVEC 4
#define VD_MSI_CAP 0x54
#define VD_VNDR_CAP 0x70
#define VD_BAR0_SIZE 0x1000
#define VD_BAR1_SIZE 0x1000
#define VD_BAR2_SIZE 0x4000
#define VD_BAR2_MMAP 0x2000
#define VD_BAR5_SIZE 32

/* BAR0 registers (32-bit). */
#define VD_REG_ID 0x00 /* reads VD_ID */
#define VD_REG_SCRATCH 0x04 /* read/write */
/*
 * Write v < VD_NVEC: MSI-X vector v fires; VD_DOORBELL_MSI + v: MSI
 * vector v; VD_DOORBELL_INTX: INTx.
 */
#define VD_REG_DOORBELL 0x08
#define VD_REG_RAISED 0x0c /* interrupts the double raised */
#define VD_REG_DMA_LO 0x10 /* an IOVA... */
#define VD_REG_DMA_HI 0x14
#define VD_REG_DMA_GO 0x18 /* ...which a write here stores VD_DMA_WORD at */
#define VD_REG_DMA_ERR 0x1c /* 1: the IOVA was not mapped */
#define VD_REG_INTX_ACK 0x20 /* write: the device lowers INTx */
#define VD_ID 0x7e570001U
#define VD_DOORBELL_INTX 0x100
#define VD_DOORBELL_MSI 0x200
#define VD_DMA_WORD 0x600df00dU

/* The fake file descriptors it hands out. */
enum {
	VD_FD_CONTAINER = 1000,
	VD_FD_GROUP,
	VD_FD_IOMMUFD,
	VD_FD_DEVICE,
	VD_FD_END,
};

struct vd_dma {
	uint64_t iova, size, vaddr;
};

struct vfio_double {
	/* Faults to play (set before use). */
	bool no_container; /* /dev/vfio/vfio missing */
	bool no_iommu_group; /* no iommu_group link */
	bool not_viable;
	bool no_type1v2;
	bool small_config; /* config region of 64 bytes */
	bool msix_count0; /* MSI-X irq info count 0 */
	bool small_msix_bar; /* BAR1 region too small for the PBA */
	bool with_iommufd; /* /dev/iommu and the cdev exist */
	bool mmap_fails;
	unsigned int msi_irq_count; /* what GET_IRQ_INFO says for MSI */
	bool msi_set_fails; /* SET_IRQS with MSI eventfds: -EINVAL */
	/*
	 * Hot reset: no FLR (GET_INFO without VFIO_DEVICE_FLAGS_RESET); the
	 * function's address and group when not VD_ADDR / VD_GROUP (NULL,
	 * 0: those); what GET_PCI_HOT_RESET_INFO answers (hr_count is the
	 * count it reports, hr_devs[] the first entries: by default the
	 * function alone, in its group).
	 */
	bool no_flr;
	const char *addr;
	uint32_t group;
	uint32_t hr_flags, hr_count;
	struct vfio_pci_dependent_device hr_devs[8];

	/* What tern did. */
	char log[2048]; /* ioctl names, space separated */
	bool open_fd[VD_FD_END - VD_FD_CONTAINER];
	bool group_set, iommu_set, bound, attached;
	bool via_cdev; /* the device fd came from /dev/vfio/devices/ */
	struct vd_dma dma[8];
	unsigned int nr_dma, maps, unmaps;
	int msix_fd[VD_NVEC];
	unsigned int msix_count;
	unsigned int msix_sets; /* SET_IRQS on the MSI-X index */
	int msi_fd[32];
	unsigned int msi_count; /* vectors vfio-pci has on now */
	unsigned int msi_sets; /* SET_IRQS on the MSI index */
	int intx_fd, intx_unmask_fd;
	bool intx_masked, intx_level;
	unsigned int resets, mmaps, munmaps;
	/* VFIO_DEVICE_PCI_HOT_RESET calls, the group fds of the last. */
	unsigned int hot_resets, hr_info_calls;
	int hr_fds[8];
	unsigned int hr_nfds;

	/* The device. */
	uint8_t cfg[256];
	uint32_t scratch, raised, dma_lo, dma_hi, dma_err;
	uint8_t msix_table[VD_BAR1_SIZE];
	uint8_t *bar2; /* VD_BAR2_SIZE, page aligned */
	uint8_t ports[32]; /* BAR5 */
};

void vfio_double_init(struct vfio_double *d);
void vfio_double_clear(struct vfio_double *d);
/* The function has MSI and no MSI-X (after init, before use). */
void vfio_double_msi_only(struct vfio_double *d);
/* Did the log see these ioctls in this order (space separated names)? */
bool vfio_double_log_has(const struct vfio_double *d, const char *seq);
/* Number of fake fds still open. */
unsigned int vfio_double_open_fds(const struct vfio_double *d);
/* As the device: raise MSI-X vector v, MSI or INTx now (VD_REG_DOORBELL). */
void vfio_double_doorbell(struct vfio_double *d, uint32_t v);

extern const struct vfio_host_ops vfio_double_ops;

#endif
