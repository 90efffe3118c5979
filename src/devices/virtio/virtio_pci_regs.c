// SPDX-License-Identifier: MIT
/*
 * virtio-pci's registers in BAR 4 (virtio 1.2, 4.1.4): the common
 * configuration a driver programs features, status and queues through,
 * the ISR, the device configuration window and the notification area's
 * slow path (ioeventfds normally take the kicks without an exit).
 */
#include <endian.h>
#include <string.h>
#include <unistd.h>

#include "tern/eventfd.h"
#include "tern/le.h"

#include "virtio_pci.h"

/* ---- common configuration ---- */

static struct virtqueue *vpci_selected(struct virtio_pci *vpci)
{
	return vpci->queue_sel < vpci->vdev.nr_queues ?
		       vpci->vdev.queues[vpci->queue_sel] : NULL;
}

/* The whole structure as the driver would see it now. vpci->lock held. */
static void vpci_common_snapshot(struct virtio_pci *vpci, uint8_t *c)
{
	struct virtio_device *vdev = &vpci->vdev;
	struct virtqueue *vq = vpci_selected(vpci);

	memset(c, 0, VPCI_COMMON_LEN);
	le32_put(c + VPCI_CFG_DFSELECT, vpci->dfselect);
	le32_put(c + VPCI_CFG_DF, virtio_device_host_features(vdev, vpci->dfselect));
	le32_put(c + VPCI_CFG_GFSELECT, vpci->gfselect);
	le32_put(c + VPCI_CFG_GF, virtio_device_driver_features(vdev, vpci->gfselect));
	le16_put(c + VPCI_CFG_MSIX_CONFIG, vpci->config_vector);
	le16_put(c + VPCI_CFG_NUM_QUEUES, (uint16_t)vdev->nr_queues);
	c[VPCI_CFG_STATUS] = virtio_device_get_status(vdev);
	c[VPCI_CFG_GENERATION] = virtio_device_config_generation(vdev);
	le16_put(c + VPCI_CFG_Q_SELECT, vpci->queue_sel);
	if (vq) {
		const struct virtq_layout *l = virtq_layout(vq);

		le16_put(c + VPCI_CFG_Q_SIZE, l->size);
		le16_put(c + VPCI_CFG_Q_MSIX, vpci->queue_vector[vpci->queue_sel]);
		le16_put(c + VPCI_CFG_Q_ENABLE, l->enabled);
		le16_put(c + VPCI_CFG_Q_NOFF, vpci->queue_sel);
		le64_put(c + VPCI_CFG_Q_DESC, l->desc);
		le64_put(c + VPCI_CFG_Q_DRIVER, l->driver);
		le64_put(c + VPCI_CFG_Q_DEVICE, l->device);
	}
}

static void vpci_common_read(struct virtio_pci *vpci, uint64_t off, void *data,
			     unsigned int len)
{
	uint8_t c[VPCI_COMMON_LEN];

	memset(data, 0, len);
	if (off >= VPCI_COMMON_LEN)
		return;
	pthread_mutex_lock(&vpci->lock);
	vpci_common_snapshot(vpci, c);
	pthread_mutex_unlock(&vpci->lock);
	memcpy(data, c + off, MIN((uint64_t)len, VPCI_COMMON_LEN - off));
}

/* Back to the transport's reset state. vpci->lock held. */
void vpci_transport_reset(struct virtio_pci *vpci)
{
	vpci->dfselect = vpci->gfselect = 0;
	vpci->queue_sel = 0;
	__atomic_store_n(&vpci->config_vector, VIRTIO_MSI_NO_VECTOR, __ATOMIC_RELAXED);
	for (unsigned int q = 0; q < vpci->vdev.nr_queues; q++)
		__atomic_store_n(&vpci->queue_vector[q], VIRTIO_MSI_NO_VECTOR,
				 __ATOMIC_RELAXED);
	(void)vpci_isr_read_clear(vpci);
}

static uint16_t vpci_vector(struct virtio_pci *vpci, uint16_t v)
{
	/* A vector the function does not have reads back as NO_VECTOR. */
	return v < pci_msix_nr_vectors(vpci->pci) ? v : VIRTIO_MSI_NO_VECTOR;
}

/* Set a 64-bit queue address from a full or a half-word write. */
static void vpci_set_addr(uint64_t *field, unsigned int half, uint32_t v,
			  unsigned int len, uint64_t v64)
{
	if (len == 8)
		*field = v64;
	else if (half)
		*field = (*field & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*field = (*field & ~0xffffffffULL) | v;
}

static void vpci_common_write(struct virtio_pci *vpci, uint64_t off,
			      const void *data, unsigned int len)
{
	struct virtio_device *vdev = &vpci->vdev;
	uint64_t v64 = 0;
	uint32_t v;
	struct virtqueue *vq;
	struct virtq_layout *l = NULL;
	bool frozen;

	memcpy(&v64, data, MIN(len, 8U));
	v64 = le64toh(v64);
	v = (uint32_t)v64;

	pthread_mutex_lock(&vpci->lock);
	vq = vpci_selected(vpci);
	if (vq)
		l = virtq_layout(vq);
	/* Without VIRTIO_F_RING_RESET queues are set up before DRIVER_OK only. */
	frozen = virtio_device_get_status(vdev) & VIRTIO_STATUS_DRIVER_OK;

	switch (off) {
	case VPCI_CFG_DFSELECT:
		if (len == 4)
			vpci->dfselect = v;
		break;
	case VPCI_CFG_GFSELECT:
		if (len == 4)
			vpci->gfselect = v;
		break;
	case VPCI_CFG_GF:
		if (len == 4)
			virtio_device_set_driver_features(vdev, vpci->gfselect, v);
		break;
	case VPCI_CFG_MSIX_CONFIG:
		if (len == 2)
			__atomic_store_n(&vpci->config_vector,
					 vpci_vector(vpci, (uint16_t)v),
					 __ATOMIC_RELAXED);
		break;
	case VPCI_CFG_STATUS:
		if (len != 1)
			break;
		if (!v) {
			virtio_device_reset(vdev);
			vpci_transport_reset(vpci);
		} else {
			virtio_device_set_status(vdev, (uint8_t)v);
		}
		break;
	case VPCI_CFG_Q_SELECT:
		if (len == 2)
			vpci->queue_sel = (uint16_t)v;
		break;
	case VPCI_CFG_Q_SIZE:
		/*
		 * 1 to the maximum, as QEMU takes it: a size the queue cannot
		 * have is ignored rather than kept for DRIVER_OK to refuse, so
		 * the registers always hold a state that saves and loads.
		 */
		if (len == 2 && l && !frozen && v && v <= virtq_max_size(vq))
			l->size = (uint16_t)v;
		break;
	case VPCI_CFG_Q_MSIX:
		if (len == 2 && vq &&
		    __atomic_exchange_n(&vpci->queue_vector[vpci->queue_sel],
					vpci_vector(vpci, (uint16_t)v),
					__ATOMIC_RELAXED) !=
			    vpci_vector(vpci, (uint16_t)v))
			vpci_irq_route_changed(vpci);
		break;
	case VPCI_CFG_Q_ENABLE:
		/* 0 must not be written (4.1.4.3.2); only 1 means anything. */
		if (len == 2 && l && !frozen && v == 1)
			l->enabled = true;
		break;
	case VPCI_CFG_Q_DESC:
	case VPCI_CFG_Q_DESC + 4:
		if (l && !frozen && (len == 4 || (len == 8 && off == VPCI_CFG_Q_DESC)))
			vpci_set_addr(&l->desc, off != VPCI_CFG_Q_DESC, v, len, v64);
		break;
	case VPCI_CFG_Q_DRIVER:
	case VPCI_CFG_Q_DRIVER + 4:
		if (l && !frozen && (len == 4 || (len == 8 && off == VPCI_CFG_Q_DRIVER)))
			vpci_set_addr(&l->driver, off != VPCI_CFG_Q_DRIVER, v, len, v64);
		break;
	case VPCI_CFG_Q_DEVICE:
	case VPCI_CFG_Q_DEVICE + 4:
		if (l && !frozen && (len == 4 || (len == 8 && off == VPCI_CFG_Q_DEVICE)))
			vpci_set_addr(&l->device, off != VPCI_CFG_Q_DEVICE, v, len, v64);
		break;
	default:
		/* Read-only fields, or an access that is not a field's width. */
		tern_debug("%s: common config write of %u bytes at 0x%llx ignored",
			   vdev->ops->name, len, (unsigned long long)off);
		break;
	}
	pthread_mutex_unlock(&vpci->lock);
}

/* ---- BAR 4 ---- */

void vpci_bar_read(void *opaque, uint64_t off, void *data,
			  unsigned int len)
{
	struct virtio_pci *vpci = opaque;
	uint64_t region = off & ~(uint64_t)(VPCI_REGION_SIZE - 1);
	uint64_t o = off - region;

	memset(data, 0, len);
	if (o + len > VPCI_REGION_SIZE)
		return;
	switch (region) {
	case VPCI_COMMON_OFF:
		vpci_common_read(vpci, o, data, len);
		break;
	case VPCI_ISR_OFF:
		if (o == 0)
			*(uint8_t *)data = vpci_isr_read_clear(vpci);
		break;
	case VPCI_DEVICE_OFF:
		virtio_device_config_read(&vpci->vdev, o, data, len);
		break;
	default:
		/* Notify registers read as 0. */
		break;
	}
}

void vpci_bar_write(void *opaque, uint64_t off, const void *data,
			   unsigned int len)
{
	struct virtio_pci *vpci = opaque;
	uint64_t region = off & ~(uint64_t)(VPCI_REGION_SIZE - 1);
	uint64_t o = off - region;

	if (o + len > VPCI_REGION_SIZE)
		return;
	switch (region) {
	case VPCI_COMMON_OFF:
		vpci_common_write(vpci, o, data, len);
		break;
	case VPCI_DEVICE_OFF:
		virtio_device_config_write(&vpci->vdev, o, data, len);
		break;
	case VPCI_NOTIFY_OFF: {
		/* Only without an ioeventfd (or for widths it does not match). */
		unsigned int q = o / VPCI_NOTIFY_MULT;

		if (q < vpci->vdev.nr_queues) {
			uint64_t one = 1;

			tern_debug("%s: queue %u kicked through the BAR (an exit; no ioeventfd matched)",
				   vpci->vdev.ops->name, q);

			(void)!write(virtq_kick_fd(vpci->vdev.queues[q]), &one,
				     sizeof(one));
		}
		break;
	}
	default:
		break; /* ISR is read-only */
	}
}

const struct bus_ops vpci_bar_ops = {
	.read = vpci_bar_read,
	.write = vpci_bar_write,
};

