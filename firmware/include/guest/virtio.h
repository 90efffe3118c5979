/* SPDX-License-Identifier: MIT */
/*
 * A small virtio 1.2 driver: the modern PCI transport (vendor capabilities,
 * MSI-X) and virtqueues in both layouts, split and packed.
 *
 * Split between the rings: virtio_pci_*() set devices up and use the port
 * I/O config space, so they run at CPL 0 only; virtq_*() touch nothing but
 * guest memory and the notify register (MMIO), so they run at any CPL, and
 * the hot loops call them from ring 3 where the development machines run
 * code natively. Completions are polled; an MSI-X vector can be attached to
 * a queue too (the guests have no interrupt handlers: with interrupts off,
 * a message just sets its vector's bit in the local APIC's IRR).
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/pci.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* modern: 0x1040 + device type */

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_SCSI 8

/* Device status (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_ORDER_PLATFORM 36

#define VIRTIO_BIT(b) (1ull << (b))

/* Vendor capability types (4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* Queues a transport keeps notify addresses for. */
#define VIRTIO_MAX_QUEUES 16

struct virtio_pci {
	struct pci_dev pci;
	uintptr_t common, isr, device; /* MMIO addresses */
	uintptr_t notify; /* notify capability base */
	uint32_t notify_mul;
	uint16_t num_queues;
	uint64_t offered, features;
	/* MSI-X table (0 when the function has none) and its size. */
	uintptr_t msix_table;
	uint16_t msix_size;
	uint8_t msix_cap;
	unsigned int bars_assigned; /* BARs this driver had to place */
};

/*
 * Find the index-th function of this virtio device type, map the BARs its
 * capabilities use (placing unassigned ones), reset it and acknowledge it.
 * Returns 0, or a negative value with a reason in *why.
 */
int virtio_pci_open(struct virtio_pci *vp, uint16_t type, unsigned int index,
		    const char **why);

/*
 * Offer `wanted` (masked with what the device offers) and set FEATURES_OK.
 * VIRTIO_F_VERSION_1 must be in both. Returns 0, or -1 when the device
 * refused (FEATURES_OK did not stick).
 */
int virtio_pci_negotiate(struct virtio_pci *vp, uint64_t wanted);

/* Device config space reads; natural sizes as the spec requires. */
uint8_t virtio_cfg_read8(const struct virtio_pci *vp, unsigned int off);
uint16_t virtio_cfg_read16(const struct virtio_pci *vp, unsigned int off);
uint32_t virtio_cfg_read32(const struct virtio_pci *vp, unsigned int off);
/* Two 32-bit halves, retried until config_generation holds still. */
uint64_t virtio_cfg_read64(const struct virtio_pci *vp, unsigned int off);
void virtio_cfg_write8(const struct virtio_pci *vp, unsigned int off,
		       uint8_t v);

/* Set DRIVER_OK once the queues are set up. */
void virtio_pci_driver_ok(struct virtio_pci *vp);
/* Point queue q at MSI-X table entry `entry` (any time, even running). */
bool virtio_queue_set_vector(struct virtio_pci *vp, uint16_t q, uint16_t entry);
uint8_t virtio_pci_status(const struct virtio_pci *vp);
/* Write 0 to the status and wait for it to read back 0. */
void virtio_pci_reset(struct virtio_pci *vp);

/*
 * MSI-X: turn it on for the function, all entries masked but the ones
 * virtio_msix_route() sets. Entry e delivers `vector` to APIC id 0, fixed,
 * edge. False when the function has no MSI-X or e is out of range.
 */
bool virtio_msix_enable(struct virtio_pci *vp);
bool virtio_msix_route(struct virtio_pci *vp, uint16_t entry, uint8_t vector);

/* ---- virtqueues ---- */

/* Split ring (2.7). */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* size entries, then avail_event */
};

/* Packed ring (2.8). */
struct pvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

#define VIRTQ_DESC_F_AVAIL (1 << 7)
#define VIRTQ_DESC_F_USED (1 << 15)

struct pvirtq_event {
	uint16_t off_wrap; /* offset : 15, wrap : 1 */
	uint16_t flags;
};

#define RING_EVENT_FLAGS_ENABLE 0
#define RING_EVENT_FLAGS_DISABLE 1
#define RING_EVENT_FLAGS_DESC 2

/* Longest chain virtq_add() takes, and indirect table size per buffer. */
#define VIRTQ_MAX_SG 8

struct virtq_sg {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable */
};

struct virtq {
	uint16_t index, size;
	bool packed, event_idx, indirect, interrupts;
	volatile uint16_t *notify_addr;
	uint16_t num_free;
	uint16_t num_added; /* buffers made available since the last kick */
	void **cookie; /* per id: split head index, packed buffer id */
	uint16_t *ndesc; /* ring descriptors each id holds */
	struct pvirtq_desc *ind_packed; /* VIRTQ_MAX_SG per id, or NULL */
	struct vring_desc *ind_split;

	/* split */
	volatile struct vring_desc *desc;
	volatile struct vring_avail *avail;
	volatile struct vring_used *used;
	uint16_t free_head, avail_idx, last_used;

	/* packed */
	volatile struct pvirtq_desc *pdesc;
	volatile struct pvirtq_event *driver_event, *device_event;
	uint16_t next_avail, next_used;
	bool avail_wrap, used_wrap;
	uint16_t free_id;
	uint16_t *next_id; /* id free list */
};

/*
 * Set up queue `index` of an open device between negotiation and
 * DRIVER_OK: at most max_size entries (0: the device's size), the layout
 * the negotiated features say, rings and bookkeeping from dma_alloc().
 * msix_entry: VIRTIO_MSI_NO_VECTOR for polling only. Indirect tables are
 * allocated when VIRTIO_F_INDIRECT_DESC was negotiated. Returns 0 or -1
 * with *why set.
 */
int virtq_setup(struct virtq *vq, struct virtio_pci *vp, uint16_t index,
		uint16_t max_size, uint16_t msix_entry, const char **why);

/* Ask for used-buffer notifications (interrupts) or not. Any CPL. */
void virtq_set_interrupts(struct virtq *vq, bool on);

/*
 * Make a buffer available: n elements, device-readable ones first. With
 * `indirect`, one ring slot holds it through an indirect table (the feature
 * must have been negotiated). Returns 0, or -1 when the ring lacks room.
 * The device does not see it before virtq_publish() (split) / at once
 * (packed; the first descriptor's flags are written last either way).
 */
int virtq_add(struct virtq *vq, const struct virtq_sg *sg, unsigned int n,
	      bool indirect, void *cookie);

/*
 * Publish what virtq_add() queued (the split ring's idx) and notify the
 * device unless it asked not to be. Returns whether it notified.
 */
bool virtq_kick(struct virtq *vq);

/* Notify unconditionally (one MMIO write). */
void virtq_notify(struct virtq *vq);

/*
 * The next used buffer's cookie and written length, or NULL when there is
 * none yet. Never blocks.
 */
void *virtq_get(struct virtq *vq, uint32_t *len);

/* Free ring slots (descriptors). */
static inline uint16_t virtq_room(const struct virtq *vq)
{
	return vq->num_free;
}

#endif
