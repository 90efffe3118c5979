/* SPDX-License-Identifier: MIT */
/*
 * Inside the virtio-pci transport: its register layout and state, shared
 * by virtio_pci.c (interrupts, notifications, capabilities, life cycle),
 * virtio_pci_regs.c (the common configuration and BAR 4) and
 * virtio_pci_state.c (state save and load). Nothing else includes it.
 */
#ifndef TERN_VIRTIO_PCI_INTERNAL_H
#define TERN_VIRTIO_PCI_INTERNAL_H

#include <stddef.h>

#include "tern/bus.h"
#include "tern/machine.h"
#include "tern/pci.h"
#include "tern/virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_VENDOR 0x1af4
#define VIRTIO_PCI_SUBSYS_ID 0x1100 /* QEMU's PCI_SUBDEVICE_ID_QEMU */
#define VIRTIO_PCI_REVISION 1 /* modern only */

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

#define VPCI_MSIX_BAR 1
#define VPCI_BAR 4
#define VPCI_BAR_SIZE 0x4000
#define VPCI_REGION_SIZE 0x1000
#define VPCI_COMMON_OFF 0x0000
#define VPCI_ISR_OFF 0x1000
#define VPCI_DEVICE_OFF 0x2000
#define VPCI_NOTIFY_OFF 0x3000
#define VPCI_NOTIFY_MULT 4
#define VPCI_MAX_QUEUES (VPCI_REGION_SIZE / VPCI_NOTIFY_MULT)

#define VIRTIO_PCI_ISR_QUEUE 0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

/* How long turning bus mastering off waits for requests in flight. */
#define VPCI_HOLD_TIMEOUT_NS (500ULL * 1000 * 1000)

/* struct virtio_pci_common_cfg (4.1.4.3), up to queue_device. */
#define VPCI_CFG_DFSELECT 0x00
#define VPCI_CFG_DF 0x04
#define VPCI_CFG_GFSELECT 0x08
#define VPCI_CFG_GF 0x0c
#define VPCI_CFG_MSIX_CONFIG 0x10
#define VPCI_CFG_NUM_QUEUES 0x12
#define VPCI_CFG_STATUS 0x14
#define VPCI_CFG_GENERATION 0x15
#define VPCI_CFG_Q_SELECT 0x16
#define VPCI_CFG_Q_SIZE 0x18
#define VPCI_CFG_Q_MSIX 0x1a
#define VPCI_CFG_Q_ENABLE 0x1c
#define VPCI_CFG_Q_NOFF 0x1e
#define VPCI_CFG_Q_DESC 0x20
#define VPCI_CFG_Q_DRIVER 0x28
#define VPCI_CFG_Q_DEVICE 0x30
#define VPCI_COMMON_LEN 0x38

struct virtio_pci_cap {
	uint8_t cap_vndr;
	uint8_t cap_next;
	uint8_t cap_len;
	uint8_t cfg_type;
	uint8_t bar;
	uint8_t id;
	uint8_t padding[2];
	uint32_t offset;
	uint32_t length;
};

struct virtio_pci_notify_cap {
	struct virtio_pci_cap cap;
	uint32_t notify_off_multiplier;
};

struct virtio_pci_cfg_cap {
	struct virtio_pci_cap cap;
	uint8_t pci_cfg_data[4];
};

_Static_assert(sizeof(struct virtio_pci_cap) == 16, "virtio_pci_cap");
_Static_assert(sizeof(struct virtio_pci_notify_cap) == 20, "notify cap");
_Static_assert(sizeof(struct virtio_pci_cfg_cap) == 20, "pci cfg cap");

#define VPCI_CAP_BAR offsetof(struct virtio_pci_cap, bar)
#define VPCI_CAP_OFFSET offsetof(struct virtio_pci_cap, offset)
#define VPCI_CAP_LENGTH offsetof(struct virtio_pci_cap, length)
#define VPCI_CAP_DATA offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)

struct virtio_pci {
	struct virtio_device vdev;
	struct machine *m;
	struct pci_device *pci;
	/* Common configuration access from vCPUs, and resets. */
	pthread_mutex_t lock;
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint16_t config_vector; /* atomic: read by device threads */
	uint16_t *queue_vector; /* atomic, per queue */
	bool msix_seen; /* MSI-X enable as of the last config write (atomic) */
	/* ISR and the INTx level it drives change together. */
	pthread_mutex_t isr_lock;
	uint8_t isr;
	/* Notify ioeventfds, registered while BAR 4 decodes. */
	uint64_t ioeventfd_base;
	bool ioeventfds_on;
	uint8_t cfg_cap; /* offset of the PCI configuration access capability */
};

static inline struct virtio_pci *to_vpci(struct virtio_device *vdev)
{
	return vdev->transport;
}

/* Read the ISR (which clears it and lowers INTx). */
uint8_t vpci_isr_read_clear(struct virtio_pci *vpci);
/* A queue's vector or MSI-X enable changed: tell the model (irq_route_changed). */
void vpci_irq_route_changed(struct virtio_pci *vpci);
/* The transport's registers back to their reset values. vpci->lock held. */
void vpci_transport_reset(struct virtio_pci *vpci);
/* BAR 4: common configuration, ISR, device configuration, notifications. */
void vpci_bar_read(void *opaque, uint64_t off, void *data, unsigned int len);
void vpci_bar_write(void *opaque, uint64_t off, const void *data,
		    unsigned int len);
extern const struct bus_ops vpci_bar_ops;

#endif
