// SPDX-License-Identifier: MIT
/*
 * INTx: each device drives INTA# on its slot's IOAPIC pin. Pins are shared
 * (slots s and s + 8), so the host counts the devices asserting each one
 * and drives the line with the OR of their levels.
 */
#include "tern/error.h"
#include "pci_internal.h"

unsigned int pci_intx_gsi(unsigned int slot, unsigned int pin)
{
	return LAYOUT_PCI_INTX_GSI(slot, pin);
}

/* Recompute INTx's contribution to its pin. irq_lock held. */
void pci_intx_update_locked(struct pci_device *dev)
{
	struct pci_host *host = dev->host;
	bool assert = __atomic_load_n(&dev->intx_level, __ATOMIC_RELAXED) &&
		      !dev->intx_disabled &&
		      !__atomic_load_n(&dev->msix_enabled, __ATOMIC_RELAXED);
	unsigned int i;
	bool line;

	if (!dev->intx_gsi)
		return;
	i = dev->intx_gsi - LAYOUT_PCI_INTX_GSI_BASE;
	if (assert != dev->intx_asserted) {
		dev->intx_asserted = assert;
		if (assert)
			host->intx_count[i]++;
		else
			host->intx_count[i]--;
	}
	line = host->intx_count[i] > 0;
	if (line != host->intx_line[i]) {
		int ret = host->p.irq_ops->set_irq_line(host->p.irq_opaque,
							 dev->intx_gsi, line);

		/* Not recorded as done: the next update of the pin retries. */
		if (ret)
			tern_warn("%s: cannot set IRQ %u: %s", dev->name,
				  dev->intx_gsi, g_strerror(-ret));
		else
			host->intx_line[i] = line;
	}
}

void pci_intx_update(struct pci_device *dev)
{
	pthread_mutex_lock(&dev->host->irq_lock);
	pci_intx_update_locked(dev);
	pthread_mutex_unlock(&dev->host->irq_lock);
}

void pci_intx_set(struct pci_device *dev, bool level)
{
	if (!dev->intx_gsi)
		return;
	pthread_mutex_lock(&dev->host->irq_lock);
	__atomic_store_n(&dev->intx_level, level, __ATOMIC_RELAXED);
	pci_intx_update_locked(dev);
	pthread_mutex_unlock(&dev->host->irq_lock);
}
