// SPDX-License-Identifier: MIT
/* virtio-pci state save and load (state.h); see virtio_pci_device_save(). */
#include "tern/state.h"

#include "virtio_pci.h"

#define VPCI_STATE_VERSION 1

/*
 * A virtio-pci device is three sections: its PCI function's
 * ("pci.00:SS.0"), then "<id>" with the transport's registers and the
 * virtio core's state, then the model's own "<id>/model" if it has one.
 * Only while held (quiesced) for the VM.
 */
void virtio_pci_device_save(void *opaque, const char *id,
			    struct state_writer *w)
{
	struct virtio_device *vdev = opaque;
	struct virtio_pci *vpci = to_vpci(vdev);

	pci_device_save(vpci->pci, w);
	pthread_mutex_lock(&vpci->lock);
	state_section_begin(w, VPCI_STATE_VERSION, "%s", id);
	state_put_u32(w, vpci->dfselect);
	state_put_u32(w, vpci->gfselect);
	state_put_u16(w, vpci->queue_sel);
	state_put_u16(w, vpci->config_vector);
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		state_put_u16(w, vpci->queue_vector[q]);
	pthread_mutex_lock(&vpci->isr_lock);
	state_put_u8(w, vpci->isr);
	pthread_mutex_unlock(&vpci->isr_lock);
	virtio_device_save(vdev, w);
	state_section_end(w);
	pthread_mutex_unlock(&vpci->lock);
	if (vdev->ops->save)
		vdev->ops->save(vdev, id, w);
}

/* A vector the function has, or NO_VECTOR. */
static bool vpci_vector_valid(struct virtio_pci *vpci, uint16_t v)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < pci_msix_nr_vectors(vpci->pci);
}

/*
 * Into a device that was just reset (the VM's load resets the machine
 * first) and is held for the VM: the PCI function, then the transport and
 * the core, then the model. A device that ran comes back with its
 * activation due at the VM's resume.
 */
bool virtio_pci_device_load(void *opaque, const char *id,
			    struct state_reader *r, GError **err)
{
	struct virtio_device *vdev = opaque;
	struct virtio_pci *vpci = to_vpci(vdev);
	g_autofree uint16_t *qvec = g_new0(uint16_t, vdev->nr_queues);
	uint32_t dfselect, gfselect;
	uint16_t queue_sel, config_vector;
	uint8_t isr;
	bool ok;

	if (!pci_device_load(vpci->pci, r, err))
		return false;
	pthread_mutex_lock(&vpci->lock);
	if (state_section_open(r, VPCI_STATE_VERSION, VPCI_STATE_VERSION, NULL,
			       "%s", id)) {
		state_get_u32(r, &dfselect);
		state_get_u32(r, &gfselect);
		state_get_u16(r, &queue_sel);
		state_get_u16(r, &config_vector);
		for (unsigned int q = 0; q < vdev->nr_queues; q++) {
			state_get_u16(r, &qvec[q]);
			state_check(r, vpci_vector_valid(vpci, qvec[q]),
				    "queue %u: MSI-X vector %u, the function has %u",
				    q, qvec[q], pci_msix_nr_vectors(vpci->pci));
		}
		state_get_u8(r, &isr);
		state_check(r, vpci_vector_valid(vpci, config_vector),
			    "config MSI-X vector %u, the function has %u",
			    config_vector, pci_msix_nr_vectors(vpci->pci));
		state_check(r, !(isr & ~(VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG)),
			    "ISR 0x%02x has bits virtio-pci does not define", isr);
		if (state_ok(r))
			virtio_device_load(vdev, r);
	}
	ok = state_section_close(r, err);
	if (ok) {
		vpci->dfselect = dfselect;
		vpci->gfselect = gfselect;
		vpci->queue_sel = queue_sel;
		__atomic_store_n(&vpci->config_vector, config_vector, __ATOMIC_RELAXED);
		for (unsigned int q = 0; q < vdev->nr_queues; q++)
			__atomic_store_n(&vpci->queue_vector[q], qvec[q],
					 __ATOMIC_RELAXED);
		pthread_mutex_lock(&vpci->isr_lock);
		vpci->isr = isr;
		pthread_mutex_unlock(&vpci->isr_lock);
	} else {
		virtio_device_reset(vdev);
	}
	pthread_mutex_unlock(&vpci->lock);
	if (ok && vdev->ops->load && !vdev->ops->load(vdev, id, r, err)) {
		pthread_mutex_lock(&vpci->lock);
		virtio_device_reset(vdev);
		pthread_mutex_unlock(&vpci->lock);
		return false;
	}
	return ok;
}
