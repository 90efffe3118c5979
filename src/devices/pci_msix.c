// SPDX-License-Identifier: MIT
/*
 * MSI-X: each vector owns an eventfd and a GSI. While the vector is live
 * (MSI-X on, function and vector unmasked) the eventfd is bound to the GSI
 * with irqfd and KVM delivers a device thread's write without us. While it
 * is masked the binding is dropped: writes accumulate in the eventfd
 * counter, which is what the PBA shows, and unmasking rebinds it and
 * replays one message if any arrived. Routes (address/data per GSI) are
 * kept while masked so mask/unmask does not rewrite KVM's routing table.
 *
 * Bus master off holds every vector the same way: an MSI is a memory write
 * by the device, which it may not make then.
 *
 * KVM may refuse a binding or a routing table. A vector is then simply not
 * live (its messages pend, as if masked) and the guest's next write to its
 * entry or to the MSI-X control word tries again; never is a vector bound
 * to a route KVM does not have, which would deliver a stale message.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/le.h"
#include "pci_internal.h"

#define PCI_MSIX_PBA_MIN_OFF 0x800

static bool msi_msg_equal(const struct pci_msi_msg *a,
			  const struct pci_msi_msg *b)
{
	return a->routed == b->routed &&
	       (!a->routed || (a->addr == b->addr && a->data == b->data));
}

void pci_host_commit_routes_locked(struct pci_host *host)
{
	g_autofree struct msi_route *routes = NULL;
	unsigned int n = 0, cap = 0;
	int ret;

	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_device *d = host->slots[s];

		if (!d)
			continue;
		cap += d->msix_nvec + d->msi_ngsi;
	}
	routes = g_new0(struct msi_route, cap ? cap : 1);
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_device *d = host->slots[s];

		if (!d)
			continue;
		for (unsigned int v = 0; v < d->msix_nvec; v++) {
			if (!d->vec[v].want.routed)
				continue;
			routes[n++] = (struct msi_route){
				.gsi = d->vec[v].gsi,
				.addr = d->vec[v].want.addr,
				.data = d->vec[v].want.data,
			};
		}
		for (unsigned int g = 0; g < d->msi_ngsi; g++) {
			if (!d->msi_gsi[g].want.routed)
				continue;
			routes[n++] = (struct msi_route){
				.gsi = d->msi_gsi[g].gsi,
				.addr = d->msi_gsi[g].want.addr,
				.data = d->msi_gsi[g].want.data,
			};
		}
	}
	ret = host->p.irq_ops->set_msi_routes(host->p.irq_opaque, routes, n);
	if (ret) {
		/* Said once per run of failures, not on every retry. */
		if (!host->routes_stale)
			tern_warn("pci: cannot update the MSI routes (vectors whose message changed hold their interrupts until a later write succeeds): %s",
				  g_strerror(-ret));
		host->routes_stale = true;
		return;
	}
	host->routes_stale = false;
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_device *d = host->slots[s];

		for (unsigned int v = 0; d && v < d->msix_nvec; v++)
			d->vec[v].kvm = d->vec[v].want;
		for (unsigned int g = 0; d && g < d->msi_ngsi; g++)
			d->msi_gsi[g].kvm = d->msi_gsi[g].want;
	}
}

/*
 * Ask for route msg for vector v, committing the table if it changed (or a
 * commit failed before). True when KVM has the route asked for, so binding
 * the vector's irqfd delivers the message the table holds.
 */
static bool pci_vec_set_route(struct pci_device *dev, struct pci_msix_vec *v,
			      const struct pci_msi_msg *msg)
{
	struct pci_host *host = dev->host;
	bool in_kvm;

	pthread_mutex_lock(&host->irq_lock);
	if (!msi_msg_equal(&v->want, msg)) {
		v->want = *msg;
		pci_host_commit_routes_locked(host);
	} else if (host->routes_stale) {
		pci_host_commit_routes_locked(host);
	}
	in_kvm = msi_msg_equal(&v->kvm, &v->want);
	pthread_mutex_unlock(&host->irq_lock);
	return in_kvm;
}

static uint64_t msix_entry_addr(const struct pci_device *dev, unsigned int v)
{
	const uint8_t *e = dev->msix_table + v * PCI_MSIX_ENTRY_SIZE;

	return le_get(e, 4) | (uint64_t)le_get(e + 4, 4) << 32;
}

static uint32_t msix_entry_data(const struct pci_device *dev, unsigned int v)
{
	return le_get(dev->msix_table + v * PCI_MSIX_ENTRY_SIZE + 8, 4);
}

static bool msix_entry_masked(const struct pci_device *dev, unsigned int v)
{
	return le_get(dev->msix_table + v * PCI_MSIX_ENTRY_SIZE + 12, 4) &
	       PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

/*
 * Bind vector v's eventfd to its GSI. Messages that came while it was not
 * live wait in the counter; take them before binding and send one after,
 * so the guest gets exactly one for the lot. If KVM refuses, the vector
 * stays not live and its messages stay pending (the PBA shows them).
 */
static void msix_bind(struct pci_device *dev, unsigned int v)
{
	struct pci_host *host = dev->host;
	struct pci_msix_vec *vec = &dev->vec[v];
	bool pending = efd_drain(vec->fd);
	int ret;

	ret = host->p.irq_ops->irqfd(host->p.irq_opaque, vec->fd, vec->gsi, true);
	if (ret)
		tern_warn("%s: MSI-X vector %u: cannot bind irqfd (its messages stay pending until the guest next writes the vector): %s",
			  dev->name, v, g_strerror(-ret));
	else
		vec->live = true;
	if (pending)
		efd_signal(vec->fd);
}

/*
 * Unbind it: its writes then pile up in the counter. If KVM refuses, it is
 * still bound as far as we know (-ENOENT says it was not), and the next
 * update tries again.
 */
static void msix_unbind(struct pci_device *dev, unsigned int v)
{
	struct pci_host *host = dev->host;
	struct pci_msix_vec *vec = &dev->vec[v];
	int ret;

	ret = host->p.irq_ops->irqfd(host->p.irq_opaque, vec->fd, vec->gsi, false);
	if (ret)
		tern_warn("%s: MSI-X vector %u: cannot unbind irqfd: %s",
			  dev->name, v, g_strerror(-ret));
	if (!ret || ret == -ENOENT)
		vec->live = false;
}

/* Bring vector v's binding in line with the table. msix_lock held. */
static void msix_update_vector(struct pci_device *dev, unsigned int v)
{
	struct pci_msix_vec *vec = &dev->vec[v];
	/* An MSI is a memory write: none while bus master is off. */
	bool want = dev->msix_enabled && !dev->msix_fmask &&
		    !msix_entry_masked(dev, v) &&
		    __atomic_load_n(&dev->master, __ATOMIC_ACQUIRE);

	if (want) {
		struct pci_msi_msg msg = {
			.routed = true,
			.addr = msix_entry_addr(dev, v),
			.data = msix_entry_data(dev, v),
		};

		/* Bound to a route KVM does not have, it would send a stale message. */
		want = pci_vec_set_route(dev, vec, &msg);
	}
	if (want && !vec->live)
		msix_bind(dev, v);
	else if (!want && vec->live)
		msix_unbind(dev, v);
}

/* The message control word or bus master changed. cfg_lock held. */
void pci_msix_control_changed(struct pci_device *dev)
{
	uint16_t ctrl = pci_config_get(dev, dev->msix_cap + PCI_MSIX_FLAGS, 2);
	bool enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;

	pthread_mutex_lock(&dev->msix_lock);
	if (enabled && !dev->msix_enabled) {
		/* Whatever a device signalled while MSI-X was off went by INTx. */
		for (unsigned int v = 0; v < dev->msix_nvec; v++)
			efd_drain(dev->vec[v].fd);
	}
	__atomic_store_n(&dev->msix_enabled, enabled, __ATOMIC_SEQ_CST);
	dev->msix_fmask = ctrl & PCI_MSIX_FLAGS_MASKALL;
	for (unsigned int v = 0; v < dev->msix_nvec; v++)
		msix_update_vector(dev, v);
	pthread_mutex_unlock(&dev->msix_lock);
	/* MSI-X on silences INTx, off lets a pending level through. */
	pci_intx_update(dev);
}

uint32_t pci_msix_pba_size(unsigned int nvec)
{
	return ALIGN_UP(nvec, 64U) / 8;
}

bool pci_msix_pending_locked(struct pci_device *dev, unsigned int v)
{
	/* A live vector's writes are KVM's at once; only a held one pends. */
	return !dev->vec[v].live && efd_pending(dev->vec[v].fd);
}

static void msix_bar_read(void *opaque, uint64_t off, void *data,
			  unsigned int len)
{
	struct pci_device *dev = opaque;
	uint64_t table_size = (uint64_t)dev->msix_nvec * PCI_MSIX_ENTRY_SIZE;
	uint8_t *out = data;

	memset(data, 0, len);
	pthread_mutex_lock(&dev->msix_lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t o = off + i;

		if (o < table_size) {
			out[i] = dev->msix_table[o];
		} else if (o >= dev->msix_pba_off &&
			   o < dev->msix_pba_off + pci_msix_pba_size(dev->msix_nvec)) {
			unsigned int first = (o - dev->msix_pba_off) * 8;

			for (unsigned int b = 0; b < 8; b++) {
				unsigned int v = first + b;

				if (v < dev->msix_nvec && pci_msix_pending_locked(dev, v))
					out[i] |= 1 << b;
			}
		}
	}
	pthread_mutex_unlock(&dev->msix_lock);
}

static void msix_bar_write(void *opaque, uint64_t off, const void *data,
			   unsigned int len)
{
	struct pci_device *dev = opaque;
	uint64_t table_size = (uint64_t)dev->msix_nvec * PCI_MSIX_ENTRY_SIZE;
	const uint8_t *in = data;
	unsigned int first_v = ~0U, last_v = 0;

	/* The PBA is read-only; so is everything past the table. */
	if (off >= table_size)
		return;
	pthread_mutex_lock(&dev->msix_lock);
	for (unsigned int i = 0; i < len && off + i < table_size; i++) {
		uint64_t o = off + i;
		unsigned int v = o / PCI_MSIX_ENTRY_SIZE;

		/* Vector control: only the mask bit is writable. */
		if (o % PCI_MSIX_ENTRY_SIZE == 12)
			dev->msix_table[o] = in[i] & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		else if (o % PCI_MSIX_ENTRY_SIZE < 12)
			dev->msix_table[o] = in[i];
		first_v = MIN(first_v, v);
		last_v = MAX(last_v, v);
	}
	for (unsigned int v = first_v; v <= last_v && v < dev->msix_nvec; v++)
		msix_update_vector(dev, v);
	pthread_mutex_unlock(&dev->msix_lock);
}

static const struct bus_ops msix_bar_ops = {
	.read = msix_bar_read,
	.write = msix_bar_write,
};

unsigned int pci_msix_nr_vectors(const struct pci_device *dev)
{
	return dev->msix_nvec;
}

bool pci_msix_enabled(const struct pci_device *dev)
{
	return __atomic_load_n(&dev->msix_enabled, __ATOMIC_ACQUIRE);
}

void pci_msix_notify(struct pci_device *dev, unsigned int vector)
{
	if (vector < dev->msix_nvec)
		efd_signal(dev->vec[vector].fd);
}

int pci_msix_vector_fd(const struct pci_device *dev, unsigned int vector)
{
	return vector < dev->msix_nvec ? dev->vec[vector].fd : -1;
}

void pci_msix_reset(struct pci_device *dev)
{
	pthread_mutex_lock(&dev->msix_lock);
	__atomic_store_n(&dev->msix_enabled, false, __ATOMIC_SEQ_CST);
	dev->msix_fmask = false;
	memset(dev->msix_table, 0, dev->msix_nvec * PCI_MSIX_ENTRY_SIZE);
	for (unsigned int v = 0; v < dev->msix_nvec; v++) {
		/* Every vector comes out of reset masked. */
		dev->msix_table[v * PCI_MSIX_ENTRY_SIZE + 12] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;
		msix_update_vector(dev, v);
		efd_drain(dev->vec[v].fd);
	}
	pthread_mutex_unlock(&dev->msix_lock);
}

int pci_msix_init(struct pci_device *dev, unsigned int bar, unsigned int nvec)
{
	struct pci_host *host = dev->host;
	uint8_t cap[PCI_MSIX_CAP_SIZE] = { PCI_CAP_ID_MSIX };
	uint64_t table_size = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE, bar_size;
	int off, ret;

	if (!nvec || nvec > PCI_MSIX_MAX_VECTORS || dev->msix_nvec || dev->realized)
		return -EINVAL;
	dev->msix_pba_off = MAX(ALIGN_UP(table_size, (uint64_t)PCI_MSIX_PBA_MIN_OFF),
				(uint64_t)PCI_MSIX_PBA_MIN_OFF);
	bar_size = MAX(dev->msix_pba_off + pci_msix_pba_size(nvec), PCI_BAR_MIN_MEM);
	bar_size = 1ULL << g_bit_storage(bar_size - 1);
	ret = pci_device_add_bar(dev, bar, bar_size, 0, &msix_bar_ops, dev);
	if (ret)
		return ret;

	le_put(cap + PCI_MSIX_FLAGS, nvec - 1, 2);
	le_put(cap + PCI_MSIX_TABLE, bar, 4); /* offset 0 */
	le_put(cap + PCI_MSIX_PBA, dev->msix_pba_off | bar, 4);
	off = pci_device_add_capability(dev, cap, sizeof(cap));
	if (off < 0) {
		dev->bars[bar] = (struct pci_bar_state){ 0 };
		return off;
	}
	/* Enable and function mask are the guest's; the table size is not. */
	pci_config_set_wmask(dev, off + PCI_MSIX_FLAGS,
			     PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);

	dev->msix_cap = (uint8_t)off;
	dev->msix_bar = bar;
	dev->msix_table = g_malloc0(table_size);
	dev->vec = g_new0(struct pci_msix_vec, nvec);
	for (unsigned int v = 0; v < nvec; v++)
		dev->vec[v].fd = -1;
	for (unsigned int v = 0; v < nvec; v++) {
		dev->vec[v].fd = efd_new();
		if (dev->vec[v].fd < 0) {
			ret = dev->vec[v].fd;
			goto err;
		}
		dev->msix_table[v * PCI_MSIX_ENTRY_SIZE + 12] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	pthread_mutex_lock(&host->irq_lock);
	for (unsigned int v = 0; v < nvec; v++)
		dev->vec[v].gsi = host->next_gsi++;
	pthread_mutex_unlock(&host->irq_lock);
	dev->msix_nvec = nvec;
	return 0;
err:
	for (unsigned int v = 0; v < nvec; v++)
		if (dev->vec[v].fd >= 0)
			close(dev->vec[v].fd);
	g_clear_pointer(&dev->vec, g_free);
	g_clear_pointer(&dev->msix_table, g_free);
	return ret;
}

void pci_msix_destroy(struct pci_device *dev)
{
	if (!dev->msix_nvec)
		return;
	pthread_mutex_lock(&dev->msix_lock);
	__atomic_store_n(&dev->msix_enabled, false, __ATOMIC_SEQ_CST);
	for (unsigned int v = 0; v < dev->msix_nvec; v++)
		msix_update_vector(dev, v);
	pthread_mutex_unlock(&dev->msix_lock);
	pthread_mutex_lock(&dev->host->irq_lock);
	for (unsigned int v = 0; v < dev->msix_nvec; v++)
		dev->vec[v].want.routed = false;
	/*
	 * Should KVM refuse, it keeps routes for GSIs nobody binds any more:
	 * harmless, and the next commit drops them.
	 */
	pci_host_commit_routes_locked(dev->host);
	pthread_mutex_unlock(&dev->host->irq_lock);
	for (unsigned int v = 0; v < dev->msix_nvec; v++)
		close(dev->vec[v].fd);
	g_free(dev->vec);
	g_free(dev->msix_table);
	dev->msix_nvec = 0;
}

int pci_msi_gsis_init(struct pci_device *dev, unsigned int n)
{
	struct pci_host *host = dev->host;

	if (!n || n > 32 || dev->msi_ngsi || dev->realized)
		return -EINVAL;
	dev->msi_gsi = g_new0(struct pci_msix_vec, n);
	pthread_mutex_lock(&host->irq_lock);
	for (unsigned int g = 0; g < n; g++) {
		dev->msi_gsi[g].fd = -1; /* the device's own */
		dev->msi_gsi[g].gsi = host->next_gsi++;
	}
	dev->msi_ngsi = n;
	pthread_mutex_unlock(&host->irq_lock);
	return 0;
}

uint32_t pci_msi_gsi(const struct pci_device *dev, unsigned int i)
{
	return i < dev->msi_ngsi ? dev->msi_gsi[i].gsi : 0;
}

bool pci_msi_gsi_route(struct pci_device *dev, unsigned int i, bool routed,
		       uint64_t addr, uint32_t data)
{
	struct pci_msi_msg msg = { .routed = routed, .addr = addr, .data = data };

	if (i >= dev->msi_ngsi)
		return false;
	return pci_vec_set_route(dev, &dev->msi_gsi[i], &msg);
}

void pci_msi_gsis_destroy(struct pci_device *dev)
{
	if (!dev->msi_ngsi)
		return;
	pthread_mutex_lock(&dev->host->irq_lock);
	dev->msi_ngsi = 0;
	/* As for MSI-X: a refused commit leaves routes nobody binds. */
	pci_host_commit_routes_locked(dev->host);
	pthread_mutex_unlock(&dev->host->irq_lock);
	g_clear_pointer(&dev->msi_gsi, g_free);
}
