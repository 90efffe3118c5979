// SPDX-License-Identifier: MIT
/*
 * The virtio-pci modern transport (virtio 1.2, 4.1), laid out as QEMU lays
 * out a `disable-legacy=on` device so drivers written against QEMU work
 * unchanged:
 *
 *   BAR 1 (32-bit memory, 4 KiB): MSI-X table at 0, PBA at 0x800
 *   BAR 4 (64-bit prefetchable memory, 16 KiB):
 *     0x0000 common configuration   0x2000 device configuration
 *     0x1000 ISR status             0x3000 notifications, 4 bytes per queue
 *
 * plus the five vendor capabilities (common, notify, ISR, device, PCI
 * configuration access) and MSI-X with one vector per queue and one for
 * configuration changes.
 *
 * Data path: a driver's notify write to 0x3000 + 4 * queue is caught by a
 * KVM ioeventfd on that address and only signals the queue's kick eventfd
 * (no exit to userspace); the device thread completes, and interrupts with
 * one write to the vector's irqfd. The BAR handler's notify area is the slow
 * path for when ioeventfds are unavailable.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/machine.h"
#include "tern/le.h"
#include "tern/state.h"
#include "tern/pci.h"
#include "tern/virtio.h"

#include "virtio_pci.h"

static uint32_t class_for(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* network, Ethernet */
	case VIRTIO_ID_BLOCK:
	case VIRTIO_ID_SCSI:
		return 0x010000; /* mass storage, SCSI (as QEMU says) */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	case VIRTIO_ID_FS:
		return 0x018000; /* mass storage, other (as QEMU says) */
	default:
		return 0x00ff00; /* unclassified */
	}
}

/* ---- interrupts ---- */

static void vpci_isr_raise(struct virtio_pci *vpci, uint8_t bit, bool intx)
{
	pthread_mutex_lock(&vpci->isr_lock);
	vpci->isr |= bit;
	if (intx)
		pci_intx_set(vpci->pci, true);
	pthread_mutex_unlock(&vpci->isr_lock);
}

uint8_t vpci_isr_read_clear(struct virtio_pci *vpci)
{
	uint8_t v;

	pthread_mutex_lock(&vpci->isr_lock);
	v = vpci->isr;
	vpci->isr = 0;
	/* Reading ISR de-asserts INTx (4.1.4.5). */
	pci_intx_set(vpci->pci, false);
	pthread_mutex_unlock(&vpci->isr_lock);
	return v;
}

static void vpci_notify_queue(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_pci *vpci = to_vpci(vdev);

	if (pci_msix_enabled(vpci->pci)) {
		uint16_t v = __atomic_load_n(&vpci->queue_vector[virtq_index(vq)],
					     __ATOMIC_RELAXED);

		if (v != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(vpci->pci, v);
		return;
	}
	vpci_isr_raise(vpci, VIRTIO_PCI_ISR_QUEUE, true);
}

static void vpci_notify_config(struct virtio_device *vdev)
{
	struct virtio_pci *vpci = to_vpci(vdev);
	bool msix = pci_msix_enabled(vpci->pci);

	/* The config bit is set with MSI-X too (4.1.4.5.1). */
	vpci_isr_raise(vpci, VIRTIO_PCI_ISR_CONFIG, !msix);
	if (msix) {
		uint16_t v = __atomic_load_n(&vpci->config_vector, __ATOMIC_RELAXED);

		if (v != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(vpci->pci, v);
	}
}

static int vpci_queue_irq_fd(struct virtio_device *vdev, struct virtqueue *vq)
{
	struct virtio_pci *vpci = to_vpci(vdev);
	uint16_t v = __atomic_load_n(&vpci->queue_vector[virtq_index(vq)],
				     __ATOMIC_RELAXED);

	if (!pci_msix_enabled(vpci->pci) || v == VIRTIO_MSI_NO_VECTOR)
		return -1;
	return pci_msix_vector_fd(vpci->pci, v);
}

void vpci_irq_route_changed(struct virtio_pci *vpci)
{
	if (vpci->vdev.ops->irq_route_changed)
		vpci->vdev.ops->irq_route_changed(&vpci->vdev);
}

static const struct virtio_transport_ops vpci_transport_ops = {
	.notify_queue = vpci_notify_queue,
	.notify_config = vpci_notify_config,
	.queue_irq_fd = vpci_queue_irq_fd,
};

/* ---- notifications: ioeventfd per queue ---- */

static int vpci_ioeventfd(struct virtio_pci *vpci, unsigned int q,
			  uint64_t base, bool assign)
{
	struct machine *m = vpci->m;

	/* Any length if KVM allows it, else the 16-bit write drivers use. */
	return m->ops->ioeventfd(m->opaque,
				 base + VPCI_NOTIFY_OFF + (uint64_t)q * VPCI_NOTIFY_MULT,
				 m->ioeventfd_any_length ? 0 : 2,
				 virtq_kick_fd(vpci->vdev.queues[q]), assign);
}

static void vpci_ioeventfds_off(struct virtio_pci *vpci)
{
	if (!vpci->ioeventfds_on)
		return;
	for (unsigned int q = 0; q < vpci->vdev.nr_queues; q++)
		if (vpci_ioeventfd(vpci, q, vpci->ioeventfd_base, false))
			tern_warn("%s: queue %u: cannot remove its ioeventfd",
				  vpci->vdev.ops->name, q);
	vpci->ioeventfds_on = false;
}

static void vpci_ioeventfds_on(struct virtio_pci *vpci, uint64_t base)
{
	unsigned int q;
	int ret = 0;

	if (!vpci->m->ops->ioeventfd)
		return;
	for (q = 0; q < vpci->vdev.nr_queues; q++) {
		ret = vpci_ioeventfd(vpci, q, base, true);
		if (ret)
			break;
	}
	if (ret) {
		/* The BAR handler still takes the kicks, one exit each. */
		tern_warn("%s: queue %u: KVM_IOEVENTFD: %s; notifications take the slow path",
			  vpci->vdev.ops->name, q, g_strerror(-ret));
		while (q-- > 0)
			(void)vpci_ioeventfd(vpci, q, base, false);
		return;
	}
	vpci->ioeventfd_base = base;
	vpci->ioeventfds_on = true;
}

static void vpci_bar_mapped(struct pci_device *pci, unsigned int bar,
			    uint64_t addr, bool mapped)
{
	struct virtio_pci *vpci = pci_device_opaque(pci);

	if (bar != VPCI_BAR)
		return;
	vpci_ioeventfds_off(vpci);
	if (mapped)
		vpci_ioeventfds_on(vpci, addr);
}

/* ---- PCI configuration access capability (4.1.4.9) ---- */

/*
 * The window: cap.bar, cap.offset and cap.length select a BAR 4 access that
 * pci_cfg_data performs. Called with the host's config lock held, so the
 * capability's fields cannot change under us.
 */
static bool vpci_cfg_window(struct virtio_pci *vpci, uint64_t *off,
			    unsigned int *len)
{
	uint8_t c = vpci->cfg_cap;
	unsigned int bar = pci_config_get(vpci->pci, c + VPCI_CAP_BAR, 1);

	*off = pci_config_get(vpci->pci, c + VPCI_CAP_OFFSET, 4);
	*len = pci_config_get(vpci->pci, c + VPCI_CAP_LENGTH, 4);
	return bar == VPCI_BAR && (*len == 1 || *len == 2 || *len == 4) &&
	       *off % *len == 0 && *off + *len <= VPCI_BAR_SIZE;
}

static void vpci_config_write(struct pci_device *pci, unsigned int off,
			      const void *data, unsigned int len)
{
	struct virtio_pci *vpci = pci_device_opaque(pci);
	unsigned int d = vpci->cfg_cap + VPCI_CAP_DATA;
	bool msix = pci_msix_enabled(pci);
	uint8_t buf[4];
	unsigned int wlen;
	uint64_t woff;

	/* MSI-X on or off moves every queue's interrupt. */
	if (__atomic_exchange_n(&vpci->msix_seen, msix, __ATOMIC_RELAXED) != msix)
		vpci_irq_route_changed(vpci);
	if (off + len <= d || off >= d + 4 || !vpci_cfg_window(vpci, &woff, &wlen))
		return;
	for (unsigned int i = 0; i < 4; i++)
		buf[i] = (uint8_t)pci_config_get(pci, d + i, 1);
	vpci_bar_write(vpci, woff, buf, wlen);
}

static void vpci_config_read(struct pci_device *pci, unsigned int off,
			     void *data, unsigned int len)
{
	struct virtio_pci *vpci = pci_device_opaque(pci);
	unsigned int d = vpci->cfg_cap + VPCI_CAP_DATA;
	uint8_t buf[4] = { 0 };
	unsigned int wlen;
	uint64_t woff;

	if (off + len <= d || off >= d + 4 || !vpci_cfg_window(vpci, &woff, &wlen))
		return;
	vpci_bar_read(vpci, woff, buf, wlen);
	for (unsigned int i = 0; i < len; i++)
		if (off + i >= d && off + i < d + 4)
			((uint8_t *)data)[i] = buf[off + i - d];
}

static void vpci_pci_reset(struct pci_device *pci)
{
	struct virtio_pci *vpci = pci_device_opaque(pci);

	pthread_mutex_lock(&vpci->lock);
	virtio_device_reset(&vpci->vdev);
	vpci_transport_reset(vpci);
	pthread_mutex_unlock(&vpci->lock);
}

/*
 * Without bus mastering a device may not touch guest memory: the queues
 * are held (the model quiesced, a DRIVER_OK only recorded) until the
 * driver sets the bit. On the thread of the config write, no PCI lock held.
 */
static void vpci_bus_master(struct pci_device *pci, bool enabled)
{
	struct virtio_pci *vpci = pci_device_opaque(pci);

	pthread_mutex_lock(&vpci->lock);
	if (enabled)
		virtio_device_release(&vpci->vdev, VIRTIO_HOLD_BUS_MASTER);
	else if (virtio_device_hold(&vpci->vdev, VIRTIO_HOLD_BUS_MASTER,
				    tern_now_ns() + VPCI_HOLD_TIMEOUT_NS))
		tern_warn("%s: bus mastering off with requests still in flight",
			  vpci->vdev.ops->name);
	pthread_mutex_unlock(&vpci->lock);
}

static const struct pci_device_ops vpci_pci_ops = {
	.bar_mapped = vpci_bar_mapped,
	.config_write = vpci_config_write,
	.config_read = vpci_config_read,
	.reset = vpci_pci_reset,
	.bus_master = vpci_bus_master,
};

static int vpci_add_cap(struct pci_device *pci, uint8_t type, uint32_t offset,
			uint32_t length, const void *extra, unsigned int extra_len)
{
	uint8_t buf[sizeof(struct virtio_pci_cap) + 4] = { 0 };
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = (uint8_t)(sizeof(cap) + extra_len),
		.cfg_type = type,
		.bar = VPCI_BAR,
		.offset = htole32(offset),
		.length = htole32(length),
	};

	memcpy(buf, &cap, sizeof(cap));
	if (extra_len)
		memcpy(buf + sizeof(cap), extra, extra_len);
	return pci_device_add_capability(pci, buf, sizeof(cap) + extra_len);
}

static bool vpci_add_caps(struct virtio_pci *vpci, GError **err)
{
	uint32_t mult = htole32(VPCI_NOTIFY_MULT);
	uint8_t zero[4] = { 0 };
	int off;

	if (vpci_add_cap(vpci->pci, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF,
			 VPCI_REGION_SIZE, NULL, 0) < 0 ||
	    vpci_add_cap(vpci->pci, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF,
			 VPCI_REGION_SIZE, NULL, 0) < 0 ||
	    vpci_add_cap(vpci->pci, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVICE_OFF,
			 VPCI_REGION_SIZE, NULL, 0) < 0 ||
	    vpci_add_cap(vpci->pci, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF,
			 VPCI_REGION_SIZE, &mult, sizeof(mult)) < 0)
		goto err;
	off = vpci_add_cap(vpci->pci, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, zero,
			   sizeof(zero));
	if (off < 0)
		goto err;
	vpci->cfg_cap = (uint8_t)off;
	/* bar, offset, length and the data window are the driver's to write. */
	pci_config_set_wmask(vpci->pci, off + VPCI_CAP_BAR, 0xff, 1);
	pci_config_set_wmask(vpci->pci, off + VPCI_CAP_OFFSET,
			     0xffffffff, 4);
	pci_config_set_wmask(vpci->pci, off + VPCI_CAP_LENGTH,
			     0xffffffff, 4);
	pci_config_set_wmask(vpci->pci, off + VPCI_CAP_DATA,
			     0xffffffff, 4);
	return true;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
		    "%s: no room for the virtio capabilities", vpci->vdev.ops->name);
	return false;
}

struct virtio_device *virtio_pci_create(struct machine *m,
					const struct virtio_device_ops *ops,
					void *priv, uint16_t device_id,
					uint64_t features, unsigned int nr_queues,
					uint8_t *config, size_t config_size,
					GError **err)
{
	struct virtio_pci *vpci;
	struct pci_device_info info = {
		.name = ops->name,
		.vendor_id = VIRTIO_PCI_VENDOR,
		.device_id = VIRTIO_PCI_DEVICE_BASE + device_id,
		.subsystem_vendor_id = VIRTIO_PCI_SUBSYS_VENDOR,
		.subsystem_id = VIRTIO_PCI_SUBSYS_ID,
		.revision = VIRTIO_PCI_REVISION,
		.class_code = class_for(device_id),
		.intx = true,
	};
	int ret;

	if (!m->pci) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "%s: the VM has no PCI bus", ops->name);
		return NULL;
	}
	if (!nr_queues || nr_queues > VPCI_MAX_QUEUES ||
	    config_size > VPCI_REGION_SIZE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "%s: %u queues and %zu config bytes do not fit virtio-pci",
			    ops->name, nr_queues, config_size);
		return NULL;
	}
	vpci = g_new0(struct virtio_pci, 1);
	vpci->m = m;
	pthread_mutex_init(&vpci->lock, NULL);
	pthread_mutex_init(&vpci->isr_lock, NULL);
	ret = virtio_device_init(&vpci->vdev, m->mem, ops, priv, device_id,
				 features, nr_queues, VIRTQ_MAX_SIZE, config,
				 config_size);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s", ops->name,
			    g_strerror(-ret));
		goto err_free;
	}
	/*
	 * A confidential guest's driver must bounce DMA through memory it
	 * shared: the device says it goes through the platform's DMA path
	 * (addresses are still guest-physical, tern has no IOMMU), as QEMU
	 * sets iommu_platform=on on every virtio device of such a guest.
	 */
	if (m->cfg && m->cfg->confidential.kind)
		vpci->vdev.host_features |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	vpci->vdev.machine = m;
	vpci->vdev.transport = vpci;
	/* Realize leaves bus mastering off, as firmware does: held until set. */
	vpci->vdev.holds = VIRTIO_HOLD_BUS_MASTER;
	vpci->vdev.transport_ops = &vpci_transport_ops;
	vpci->queue_vector = g_new(uint16_t, nr_queues);
	vpci->config_vector = VIRTIO_MSI_NO_VECTOR;
	for (unsigned int q = 0; q < nr_queues; q++)
		vpci->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;

	vpci->pci = pci_device_create(m->pci, &info, 0, &vpci_pci_ops, vpci, err);
	if (!vpci->pci)
		goto err_vdev;
	ret = pci_device_add_bar(vpci->pci, VPCI_BAR, VPCI_BAR_SIZE,
				 PCI_BAR_64 | PCI_BAR_PREFETCH, &vpci_bar_ops, vpci);
	if (!ret)
		ret = pci_msix_init(vpci->pci, VPCI_MSIX_BAR, nr_queues + 1);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "%s: cannot set up its BARs: %s", ops->name, g_strerror(-ret));
		goto err_pci;
	}
	if (!vpci_add_caps(vpci, err))
		goto err_pci;
	ret = pci_device_realize(vpci->pci);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s: no room left in the PCI windows for its BARs",
			    ops->name);
		goto err_pci;
	}
	tern_debug("%s: PCI 00:%02x.0, BAR4 at 0x%llx, BAR1 at 0x%llx, INTA# on GSI %u",
		   ops->name, pci_device_slot(vpci->pci),
		   (unsigned long long)pci_bar_address(vpci->pci, VPCI_BAR),
		   (unsigned long long)pci_bar_address(vpci->pci, VPCI_MSIX_BAR),
		   pci_intx_gsi(pci_device_slot(vpci->pci), 0));
	return &vpci->vdev;

err_pci:
	pci_device_destroy(vpci->pci);
err_vdev:
	g_free(vpci->queue_vector);
	/* Not activated, so the model's reset is not called; priv stays the caller's. */
	virtio_device_cleanup(&vpci->vdev);
err_free:
	pthread_mutex_destroy(&vpci->isr_lock);
	pthread_mutex_destroy(&vpci->lock);
	g_free(vpci);
	return NULL;
}

void virtio_pci_destroy(struct virtio_device *vdev)
{
	struct virtio_pci *vpci;

	if (!vdev)
		return;
	vpci = to_vpci(vdev);
	pthread_mutex_lock(&vpci->lock);
	virtio_device_reset(vdev);
	pthread_mutex_unlock(&vpci->lock);
	/* BARs off the bus (ioeventfds gone), vectors unbound. */
	pci_device_destroy(vpci->pci);
	virtio_device_cleanup(vdev);
	if (vdev->ops->destroy)
		vdev->ops->destroy(vdev);
	g_free(vpci->queue_vector);
	pthread_mutex_destroy(&vpci->isr_lock);
	pthread_mutex_destroy(&vpci->lock);
	g_free(vpci);
}

struct pci_device *virtio_pci_function(struct virtio_device *vdev)
{
	return to_vpci(vdev)->pci;
}

/* ---- the device table's operations ---- */

void virtio_pci_device_destroy(void *vdev)
{
	virtio_pci_destroy(vdev);
}

int virtio_pci_device_quiesce(void *opaque, uint64_t deadline_ns)
{
	struct virtio_device *vdev = opaque;
	struct virtio_pci *vpci = to_vpci(vdev);
	int ret;

	/* Under the transport lock: a status write cannot race the model. */
	pthread_mutex_lock(&vpci->lock);
	ret = virtio_device_hold(vdev, VIRTIO_HOLD_VM, deadline_ns);
	pthread_mutex_unlock(&vpci->lock);
	return ret;
}

void virtio_pci_device_resume(void *opaque)
{
	struct virtio_device *vdev = opaque;
	struct virtio_pci *vpci = to_vpci(vdev);

	pthread_mutex_lock(&vpci->lock);
	virtio_device_release(vdev, VIRTIO_HOLD_VM);
	pthread_mutex_unlock(&vpci->lock);
}
