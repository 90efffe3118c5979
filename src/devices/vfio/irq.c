// SPDX-License-Identifier: MIT
/*
 * Interrupts of a passed-through function. The host kernel's vfio-pci
 * signals an eventfd per interrupt; tern hands it eventfds KVM already
 * injects from, so no interrupt goes through tern:
 *  - MSI-X: the core's vector eventfds (pci_msix_vector_fd()), each bound
 *    to its GSI with irqfd while the guest's vector is unmasked; a masked
 *    vector's messages wait in the eventfd counter, which is what the
 *    emulated PBA shows (pci_msix.c). VFIO_DEVICE_SET_IRQS hands the fds
 *    over when the guest sets MSI-X enable and takes them back when it
 *    clears it.
 *  - INTx: a trigger eventfd bound to the slot's IOAPIC pin with a
 *    resample eventfd (KVM_IRQFD_FLAG_RESAMPLE): KVM raises the level line
 *    on a trigger, and on the guest's EOI lowers it and signals resample,
 *    which VFIO takes as "unmask" (the kernel masked INTx when it fired).
 *  - MSI: msi.c.
 * vfio-pci has one interrupt type at a time: enabling MSI-X or MSI turns
 * the others off at VFIO (the enable set last wins, as in QEMU); clearing
 * it falls back to the other message type if the guest still has it
 * enabled, else to INTx.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tern/eventfd.h"
#include "vfio_internal.h"

int vfio_set_irqs(struct vfio_device *v, unsigned int index, uint32_t action,
		  unsigned int count, const int32_t *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
	g_autofree struct vfio_irq_set *set = g_malloc0(sz);

	set->argsz = (uint32_t)sz;
	set->flags =
	    action | (fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = index;
	set->start = 0;
	set->count = count;
	if (fds)
		memcpy(set->data, fds, count * sizeof(int32_t));
	return v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_SET_IRQS, set);
}

int vfio_intx_enable(struct vfio_device *v)
{
	const struct machine *m = v->m;
	int32_t fd;
	int ret;

	if (v->intx_on)
		return 0;
	if (!m->ops->irqfd_resample)
		return -ENOTSUP;
	v->intx_gsi = pci_intx_gsi(pci_device_slot(v->pci), 0);
	if (v->intx_fd < 0)
		v->intx_fd = efd_new();
	if (v->intx_resample_fd < 0)
		v->intx_resample_fd = efd_new();
	if (v->intx_fd < 0 || v->intx_resample_fd < 0)
		return -EMFILE;
	fd = v->intx_fd;
	ret = vfio_set_irqs(v, VFIO_PCI_INTX_IRQ_INDEX,
			    VFIO_IRQ_SET_ACTION_TRIGGER, 1, &fd);
	if (ret < 0)
		return ret;
	fd = v->intx_resample_fd;
	ret = vfio_set_irqs(v, VFIO_PCI_INTX_IRQ_INDEX,
			    VFIO_IRQ_SET_ACTION_UNMASK, 1, &fd);
	if (ret >= 0)
		ret = m->ops->irqfd_resample(m->opaque, v->intx_fd,
					     v->intx_resample_fd, v->intx_gsi,
					     true);
	if (ret < 0) {
		(void)vfio_set_irqs(v, VFIO_PCI_INTX_IRQ_INDEX,
				    VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);
		return ret;
	}
	v->intx_on = true;
	return 0;
}

void vfio_intx_disable(struct vfio_device *v)
{
	const struct machine *m = v->m;
	int ret;

	if (!v->intx_on)
		return;
	ret = vfio_set_irqs(v, VFIO_PCI_INTX_IRQ_INDEX,
			    VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);
	if (ret < 0)
		tern_warn("vfio %s: turning INTx off: %s", v->cfg->addr,
			  g_strerror(-ret));
	ret = m->ops->irqfd_resample(m->opaque, v->intx_fd, v->intx_resample_fd,
				     v->intx_gsi, false);
	if (ret < 0)
		tern_warn("vfio %s: unbinding the INTx irqfd: %s", v->cfg->addr,
			  g_strerror(-ret));
	v->intx_on = false;
}

static int vfio_msix_enable(struct vfio_device *v)
{
	g_autofree int32_t *fds = g_new(int32_t, v->msix_nvec);

	for (unsigned int i = 0; i < v->msix_nvec; i++)
		fds[i] = pci_msix_vector_fd(v->pci, i);
	return vfio_set_irqs(v, VFIO_PCI_MSIX_IRQ_INDEX,
			     VFIO_IRQ_SET_ACTION_TRIGGER, v->msix_nvec, fds);
}

void vfio_msix_host_off(struct vfio_device *v)
{
	int ret;

	if (!v->msix_on)
		return;
	ret = vfio_set_irqs(v, VFIO_PCI_MSIX_IRQ_INDEX,
			    VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);
	if (ret < 0)
		tern_warn("vfio %s: turning MSI-X off: %s", v->cfg->addr,
			  g_strerror(-ret));
	v->msix_on = false;
}

static void vfio_msix_on(struct vfio_device *v)
{
	int ret = vfio_msix_enable(v);

	if (ret < 0) {
		tern_warn(
		    "vfio %s: VFIO_DEVICE_SET_IRQS (MSI-X, %u vectors): %s",
		    v->cfg->addr, v->msix_nvec, g_strerror(-ret));
		return;
	}
	v->msix_on = true;
}

void vfio_irqs_fallback(struct vfio_device *v)
{
	int ret;

	/* One message type still on at VFIO: nothing to fall back from. */
	if (v->msix_on || v->msi_active)
		return;
	if (v->msix_guest) {
		vfio_msix_on(v);
		if (v->msix_on)
			return;
	}
	if (v->msi_guest && vfio_msi_enable(v) == 0)
		return;
	if (v->intx) {
		ret = vfio_intx_enable(v);
		if (ret < 0)
			tern_warn("vfio %s: re-arming INTx: %s", v->cfg->addr,
				  g_strerror(-ret));
	}
}

void vfio_msix_update(struct vfio_device *v)
{
	uint16_t ctrl =
	    pci_config_get(v->pci, v->msix_guest_cap + PCI_MSIX_FLAGS, 2);
	bool on = ctrl & PCI_MSIX_FLAGS_ENABLE;

	if (on == v->msix_guest)
		return;
	v->msix_guest = on;
	if (on) {
		vfio_msi_host_off(v);
		vfio_intx_disable(v);
		vfio_msix_on(v);
		return;
	}
	/*
	 * If MSI had taken over, nothing changes at VFIO; if VFIO refused
	 * MSI-X, INTx (or MSI) comes back all the same.
	 */
	vfio_msix_host_off(v);
	vfio_irqs_fallback(v);
}

void vfio_irqs_off(struct vfio_device *v)
{
	vfio_msix_host_off(v);
	vfio_msi_host_off(v);
	/* The core restores config space: both enables read 0 again. */
	v->msix_guest = v->msi_guest = false;
	vfio_intx_disable(v);
	/* The eventfds stay for re-arming: no eventfd2 after set-up. */
	if (v->intx_resample_fd >= 0)
		efd_drain(v->intx_resample_fd);
}

void vfio_irqs_release(struct vfio_device *v)
{
	vfio_irqs_off(v);
	if (v->intx_fd >= 0)
		close(v->intx_fd);
	if (v->intx_resample_fd >= 0)
		close(v->intx_resample_fd);
	v->intx_fd = v->intx_resample_fd = -1;
}
