// SPDX-License-Identifier: MIT
/*
 * The virtio-pci modern transport (virtio 1.2, 4.1): vendor capabilities,
 * the common configuration structure, feature negotiation, queue set-up,
 * and MSI-X routing. CPL 0 only (port I/O config space); each MMIO access
 * here is an exit too, so set-up reads every register once.
 */
#include "guest/dma.h"
#include "guest/virtio.h"
#include "guest/x86.h"

/* struct virtio_pci_cap, offsets into config space from the capability. */
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_NOTIFY_MUL 16

/* struct virtio_pci_common_cfg. */
#define COMMON_DFSELECT 0
#define COMMON_DF 4
#define COMMON_GFSELECT 8
#define COMMON_GF 12
#define COMMON_MSIX 16
#define COMMON_NUMQ 18
#define COMMON_STATUS 20
#define COMMON_CFGGENERATION 21
#define COMMON_Q_SELECT 22
#define COMMON_Q_SIZE 24
#define COMMON_Q_MSIX 26
#define COMMON_Q_ENABLE 28
#define COMMON_Q_NOFF 30
#define COMMON_Q_DESCLO 32
#define COMMON_Q_DESCHI 36
#define COMMON_Q_AVAILLO 40
#define COMMON_Q_AVAILHI 44
#define COMMON_Q_USEDLO 48
#define COMMON_Q_USEDHI 52

/* MSI-X table entry. */
#define MSIX_ENTRY_SIZE 16
#define MSIX_ADDR_LO 0
#define MSIX_ADDR_HI 4
#define MSIX_DATA 8
#define MSIX_VECTOR_CTRL 12
#define MSIX_VECTOR_MASKED 1
#define MSI_ADDR_BASE 0xfee00000u /* destination APIC id 0, physical */

#define RESET_POLLS 100000

static inline uint8_t mmio_read8(uintptr_t a)
{
	return *(volatile uint8_t *)a;
}

static inline uint16_t mmio_read16(uintptr_t a)
{
	return *(volatile uint16_t *)a;
}

static inline void mmio_write8(uintptr_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

static inline void mmio_write16(uintptr_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}

static void write64(uintptr_t lo, uint64_t v)
{
	mmio_write32(lo, (uint32_t)v);
	mmio_write32(lo + 4, (uint32_t)(v >> 32));
}

/* BAR addresses, each mapped once per device. */
struct bar_map {
	uint64_t addr[PCI_NR_BARS];
};

static uintptr_t bar_addr(struct virtio_pci *vp, struct bar_map *m,
			  unsigned int bar)
{
	if (bar >= PCI_NR_BARS)
		return 0;
	if (m->addr[bar] == 0) {
		bool moved;

		m->addr[bar] = pci_bar_map(&vp->pci, bar, &moved);
		if (moved)
			vp->bars_assigned++;
	}
	return (uintptr_t)m->addr[bar];
}

int virtio_pci_open(struct virtio_pci *vp, uint16_t type, unsigned int index,
		    const char **why)
{
	struct bar_map m = {{0}};
	uint8_t cap = 0;

	*vp = (struct virtio_pci){0};
	if (!pci_find(VIRTIO_PCI_VENDOR,
		      (uint16_t)(VIRTIO_PCI_DEVICE_BASE + type), index,
		      &vp->pci)) {
		*why = "no such virtio-pci function on bus 0";
		return -1;
	}
	while ((cap = pci_cap_find(&vp->pci, PCI_CAP_ID_VENDOR, cap)) != 0) {
		uint32_t w0 = pci_read32(&vp->pci, cap);
		uint32_t w1 = pci_read32(&vp->pci, (uint8_t)(cap + 4));
		uint8_t cfg_type = (uint8_t)(w0 >> 24);
		uint8_t bar = (uint8_t)w1;
		uintptr_t *slot;

		switch (cfg_type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			slot = &vp->common;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			slot = &vp->notify;
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			slot = &vp->isr;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			slot = &vp->device;
			break;
		default:
			continue;
		}
		/* The first usable capability of a type is the one to use. */
		if (*slot != 0 || bar >= PCI_NR_BARS)
			continue;
		uintptr_t base = bar_addr(vp, &m, bar);

		if (base == 0)
			continue;
		*slot =
		    base + pci_read32(&vp->pci, (uint8_t)(cap + CAP_OFFSET));
		if (cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			vp->notify_mul = pci_read32(
			    &vp->pci, (uint8_t)(cap + CAP_NOTIFY_MUL));
	}
	if (vp->common == 0 || vp->notify == 0) {
		*why = "no common or notify capability (a legacy-only device?)";
		return -1;
	}

	vp->msix_cap = pci_cap_find(&vp->pci, PCI_CAP_ID_MSIX, 0);
	if (vp->msix_cap) {
		uint16_t ctrl = pci_read16(
		    &vp->pci, (uint8_t)(vp->msix_cap + PCI_MSIX_CTRL));
		uint32_t tbl = pci_read32(
		    &vp->pci, (uint8_t)(vp->msix_cap + PCI_MSIX_TABLE));
		uintptr_t base = bar_addr(vp, &m, tbl & PCI_MSIX_BIR_MASK);

		if (base != 0) {
			vp->msix_table =
			    base + (tbl & ~(uint32_t)PCI_MSIX_BIR_MASK);
			vp->msix_size =
			    (uint16_t)((ctrl & PCI_MSIX_CTRL_SIZE_MASK) + 1);
		}
	}
	pci_enable(&vp->pci);

	virtio_pci_reset(vp);
	if (virtio_pci_status(vp) != 0) {
		*why = "device status does not read back 0 after a reset";
		return -1;
	}
	mmio_write8(vp->common + COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_write8(vp->common + COMMON_STATUS,
		    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_write32(vp->common + COMMON_DFSELECT, 0);
	vp->offered = mmio_read32(vp->common + COMMON_DF);
	mmio_write32(vp->common + COMMON_DFSELECT, 1);
	vp->offered |= (uint64_t)mmio_read32(vp->common + COMMON_DF) << 32;
	vp->num_queues = mmio_read16(vp->common + COMMON_NUMQ);
	return 0;
}

int virtio_pci_negotiate(struct virtio_pci *vp, uint64_t wanted)
{
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			 VIRTIO_STATUS_FEATURES_OK;

	vp->features = vp->offered & wanted;
	if (!(vp->features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return -1;
	mmio_write32(vp->common + COMMON_GFSELECT, 0);
	mmio_write32(vp->common + COMMON_GF, (uint32_t)vp->features);
	mmio_write32(vp->common + COMMON_GFSELECT, 1);
	mmio_write32(vp->common + COMMON_GF, (uint32_t)(vp->features >> 32));
	mmio_write8(vp->common + COMMON_STATUS, status);
	if (!(virtio_pci_status(vp) & VIRTIO_STATUS_FEATURES_OK)) {
		mmio_write8(vp->common + COMMON_STATUS,
			    status | VIRTIO_STATUS_FAILED);
		return -1;
	}
	/*
	 * QEMU's virtio-net adds its extra queue pairs only once VIRTIO_NET_F_MQ
	 * is negotiated: read the count again, as Linux reads it only now.
	 */
	vp->num_queues = mmio_read16(vp->common + COMMON_NUMQ);
	return 0;
}

uint8_t virtio_cfg_read8(const struct virtio_pci *vp, unsigned int off)
{
	return mmio_read8(vp->device + off);
}

uint16_t virtio_cfg_read16(const struct virtio_pci *vp, unsigned int off)
{
	return mmio_read16(vp->device + off);
}

uint32_t virtio_cfg_read32(const struct virtio_pci *vp, unsigned int off)
{
	return mmio_read32(vp->device + off);
}

uint64_t virtio_cfg_read64(const struct virtio_pci *vp, unsigned int off)
{
	uint8_t gen;
	uint64_t v;

	do {
		gen = mmio_read8(vp->common + COMMON_CFGGENERATION);
		v = mmio_read32(vp->device + off);
		v |= (uint64_t)mmio_read32(vp->device + off + 4) << 32;
	} while (gen != mmio_read8(vp->common + COMMON_CFGGENERATION));
	return v;
}

void virtio_cfg_write8(const struct virtio_pci *vp, unsigned int off, uint8_t v)
{
	mmio_write8(vp->device + off, v);
}

void virtio_pci_driver_ok(struct virtio_pci *vp)
{
	mmio_write8(vp->common + COMMON_STATUS,
		    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

bool virtio_queue_set_vector(struct virtio_pci *vp, uint16_t q, uint16_t entry)
{
	mmio_write16(vp->common + COMMON_Q_SELECT, q);
	mmio_write16(vp->common + COMMON_Q_MSIX, entry);
	return mmio_read16(vp->common + COMMON_Q_MSIX) == entry;
}

uint8_t virtio_pci_status(const struct virtio_pci *vp)
{
	return mmio_read8(vp->common + COMMON_STATUS);
}

void virtio_pci_reset(struct virtio_pci *vp)
{
	mmio_write8(vp->common + COMMON_STATUS, 0);
	/* The device may take its time to finish in-flight work (4.1.4.3.2). */
	for (unsigned int i = 0; i < RESET_POLLS && virtio_pci_status(vp); i++)
		cpu_relax();
}

bool virtio_msix_enable(struct virtio_pci *vp)
{
	uint8_t ctrl_off = (uint8_t)(vp->msix_cap + PCI_MSIX_CTRL);

	if (vp->msix_table == 0)
		return false;
	/* Entries reset masked; the function mask covers the window. */
	uint16_t ctrl = pci_read16(&vp->pci, ctrl_off);

	pci_write16(&vp->pci, ctrl_off,
		    ctrl | PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL);
	pci_write16(
	    &vp->pci, ctrl_off,
	    (uint16_t)((ctrl | PCI_MSIX_CTRL_ENABLE) & ~PCI_MSIX_CTRL_MASKALL));
	/* INTx off: nothing would handle a level interrupt. */
	pci_write16(&vp->pci, PCI_COMMAND,
		    pci_read16(&vp->pci, PCI_COMMAND) |
			PCI_COMMAND_INTX_DISABLE);
	return true;
}

bool virtio_msix_route(struct virtio_pci *vp, uint16_t entry, uint8_t vector)
{
	if (vp->msix_table == 0 || entry >= vp->msix_size)
		return false;
	uintptr_t e = vp->msix_table + (uintptr_t)entry * MSIX_ENTRY_SIZE;

	mmio_write32(e + MSIX_ADDR_LO, MSI_ADDR_BASE);
	mmio_write32(e + MSIX_ADDR_HI, 0);
	mmio_write32(e + MSIX_DATA, vector); /* fixed delivery, edge */
	mmio_write32(e + MSIX_VECTOR_CTRL, 0);
	return true;
}

/* ---- queue set-up (CPL 0); the data path is in lib/virtqueue.c ---- */

int virtq_setup(struct virtq *vq, struct virtio_pci *vp, uint16_t index,
		uint16_t max_size, uint16_t msix_entry, const char **why)
{
	uint16_t size, dev_size;
	uint64_t desc, driver, device;

	*vq = (struct virtq){0};
	if (index >= vp->num_queues) {
		*why = "queue index beyond num_queues";
		return -1;
	}
	mmio_write16(vp->common + COMMON_Q_SELECT, index);
	size = dev_size = mmio_read16(vp->common + COMMON_Q_SIZE);
	if (size == 0) {
		*why = "queue size 0: the queue does not exist";
		return -1;
	}
	if (max_size != 0 && size > max_size)
		size = max_size;
	vq->packed = vp->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	/* Split rings must be a power of two; packed ones need not be. */
	if (!vq->packed) {
		while (size & (size - 1))
			size &= (uint16_t)(size - 1);
	}
	vq->index = index;
	vq->size = size;
	vq->event_idx = vp->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	vq->indirect = vp->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	vq->num_free = size;
	vq->cookie = dma_alloc(sizeof(void *) * size, 16);
	vq->ndesc = dma_alloc(sizeof(uint16_t) * size, 16);
	if (vq->packed) {
		vq->pdesc =
		    dma_alloc_zero(sizeof(struct pvirtq_desc) * size, 4096);
		vq->driver_event =
		    dma_alloc_zero(sizeof(struct pvirtq_event), 16);
		vq->device_event =
		    dma_alloc_zero(sizeof(struct pvirtq_event), 16);
		vq->next_id = dma_alloc(sizeof(uint16_t) * size, 16);
		if (vq->indirect)
			vq->ind_packed = dma_alloc(sizeof(struct pvirtq_desc) *
						       VIRTQ_MAX_SG * size,
						   16);
		desc = dma_addr(vq->pdesc);
		driver = dma_addr(vq->driver_event);
		device = dma_addr(vq->device_event);
		vq->avail_wrap = vq->used_wrap = true;
	} else {
		vq->desc = dma_alloc(sizeof(struct vring_desc) * size, 4096);
		vq->avail = dma_alloc_zero(6 + 2u * size, 16);
		vq->used = dma_alloc_zero(6 + 8u * size, 16);
		if (vq->indirect)
			vq->ind_split = dma_alloc(sizeof(struct vring_desc) *
						      VIRTQ_MAX_SG * size,
						  16);
		desc = dma_addr(vq->desc);
		driver = dma_addr(vq->avail);
		device = dma_addr(vq->used);
	}
	if (!vq->cookie || !vq->ndesc || !desc || !driver || !device ||
	    (vq->packed && !vq->next_id) ||
	    (vq->indirect && !vq->ind_packed && !vq->ind_split)) {
		*why = "out of memory for the rings";
		return -1;
	}
	for (uint16_t i = 0; i < size; i++) {
		vq->cookie[i] = NULL;
		if (vq->packed)
			vq->next_id[i] = (uint16_t)(i + 1);
		else
			vq->desc[i].next = (uint16_t)(i + 1);
	}

	if (size != dev_size)
		mmio_write16(vp->common + COMMON_Q_SIZE, size);
	write64(vp->common + COMMON_Q_DESCLO, desc);
	write64(vp->common + COMMON_Q_AVAILLO, driver);
	write64(vp->common + COMMON_Q_USEDLO, device);
	mmio_write16(vp->common + COMMON_Q_MSIX, msix_entry);
	if (msix_entry != VIRTIO_MSI_NO_VECTOR &&
	    mmio_read16(vp->common + COMMON_Q_MSIX) != msix_entry) {
		*why = "the device refused the queue's MSI-X vector";
		return -1;
	}
	vq->notify_addr =
	    (volatile uint16_t *)(vp->notify + (uintptr_t)mmio_read16(
						   vp->common + COMMON_Q_NOFF) *
						   vp->notify_mul);
	virtq_set_interrupts(vq, msix_entry != VIRTIO_MSI_NO_VECTOR);
	mmio_write16(vp->common + COMMON_Q_ENABLE, 1);
	return 0;
}
