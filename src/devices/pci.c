// SPDX-License-Identifier: MIT
/*
 * PCI host bridge, bus 0. Configuration space is a byte array per function
 * with a write mask and a write-1-to-clear mask per byte; side effects
 * (decoding, BAR moves, MSI-X control, INTx disable) are applied after the
 * masked write. Config cycles are rare and slow anyway (each is a vCPU exit),
 * so one host lock serialises them all, the 0xcf8 latch included.
 *
 * MSI-X: each vector owns an eventfd and a GSI. While the vector is live
 * (MSI-X on, function and vector unmasked) the eventfd is bound to the GSI
 * with irqfd and KVM delivers a device thread's write without us. While it
 * is masked the binding is dropped: writes accumulate in the eventfd
 * counter, which is what the PBA shows, and unmasking rebinds it and
 * replays one message if any arrived. Routes (address/data per GSI) are
 * kept while masked so mask/unmask does not rewrite KVM's routing table.
 *
 * Locks, outermost first: host->cfg_lock (config cycles, BAR moves),
 * dev->msix_lock (vector table), host->irq_lock (routes, INTx line counts).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/layout.h"
#include "tern/le.h"
#include "tern/pci.h"

#define PCI_CONF1_ADDR_PORT 0xcf8
#define PCI_CONF1_DATA_PORT 0xcfc
#define PCI_CONF1_ENABLE 0x80000000U
/* Bus, device, function, register; bits 1:0 and 30:24 are not kept. */
#define PCI_CONF1_ADDR_MASK 0x80fffffcU

#define PCI_MSIX_PBA_MIN_OFF 0x800
#define PCI_BAR_MIN_MEM 0x1000ULL

/* The host bridge: Red Hat's "QEMU PCIe host bridge" ids, no quirks attached. */
#define PCI_HOST_VENDOR 0x1b36
#define PCI_HOST_DEVICE 0x0008
#define PCI_CLASS_BRIDGE_HOST 0x060000

struct pci_bar_state {
	uint64_t size; /* 0: not implemented */
	unsigned int flags;
	const struct bus_ops *ops;
	void *opaque;
	bool upper; /* the upper half of the 64-bit BAR below */
	bool mapped;
	uint64_t mapped_addr;
};

struct pci_msix_vec {
	int fd;
	uint32_t gsi;
	bool live; /* irqfd bound (msix_lock) */
	/* The route KVM has for gsi (host->irq_lock). */
	bool routed;
	uint64_t addr;
	uint32_t data;
};

struct pci_device {
	struct pci_host *host;
	unsigned int slot;
	char *name;
	const struct pci_device_ops *ops;
	void *opaque;
	bool realized;

	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];
	uint8_t w1cmask[PCI_CFG_SIZE];
	uint8_t cfg_reset[PCI_CFG_SIZE]; /* as realized: what a reset restores */
	uint8_t last_cap; /* 0: none yet */
	unsigned int cap_end; /* first free byte for the next capability */
	struct pci_bar_state bars[PCI_NUM_BARS];

	/* MSI-X */
	pthread_mutex_t msix_lock;
	unsigned int msix_nvec;
	unsigned int msix_bar;
	uint8_t msix_cap;
	uint32_t msix_pba_off;
	uint8_t *msix_table; /* nvec * 16 bytes, as the guest wrote it */
	struct pci_msix_vec *vec;
	bool msix_enabled; /* atomic: read by device threads */
	bool msix_fmask;

	/* INTx (host->irq_lock) */
	uint32_t intx_gsi;
	bool intx_level; /* atomic: what the device wants */
	bool intx_asserted; /* what it contributes to its pin's count */
	bool intx_disabled; /* command register bit, cached */
};

struct pci_host {
	struct pci_host_params p;
	struct pci_device *slots[PCI_SLOTS];
	pthread_mutex_t cfg_lock;
	uint32_t conf1_addr;
	uint64_t mmio32_next, mmio64_next;
	uint32_t io_next;
	uint32_t next_gsi;
	pthread_mutex_t irq_lock;
	unsigned int intx_count[LAYOUT_PCI_INTX_GSIS];
	bool intx_line[LAYOUT_PCI_INTX_GSIS];
	bool pio_registered, ecam_registered;
	struct pci_device *bridge;
};

uint32_t pci_config_get(const struct pci_device *dev, unsigned int off,
			unsigned int len)
{
	if (len > 4 || off + len > PCI_CFG_SIZE)
		return 0;
	return le_get(dev->cfg + off, len);
}

void pci_config_set(struct pci_device *dev, unsigned int off, uint32_t val,
		    unsigned int len)
{
	if (len <= 4 && off + len <= PCI_CFG_SIZE)
		le_put(dev->cfg + off, val, len);
}

void pci_config_set_wmask(struct pci_device *dev, unsigned int off,
			  uint32_t mask, unsigned int len)
{
	if (len <= 4 && off + len <= PCI_CFG_SIZE)
		le_put(dev->wmask + off, mask, len);
}

unsigned int pci_intx_gsi(unsigned int slot, unsigned int pin)
{
	return LAYOUT_PCI_INTX_GSI(slot, pin);
}

void *pci_device_opaque(const struct pci_device *dev)
{
	return dev->opaque;
}

unsigned int pci_device_slot(const struct pci_device *dev)
{
	return dev->slot;
}

const char *pci_device_name(const struct pci_device *dev)
{
	return dev->name;
}

/* ---- interrupts ---- */

/* Rebuild the MSI routes from every vector that has one. irq_lock held. */
static void pci_host_commit_routes_locked(struct pci_host *host)
{
	g_autofree struct msi_route *routes = NULL;
	unsigned int n = 0, cap = 0;
	int ret;

	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_device *d = host->slots[s];

		if (!d)
			continue;
		cap += d->msix_nvec;
	}
	routes = g_new0(struct msi_route, cap ? cap : 1);
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct pci_device *d = host->slots[s];

		if (!d)
			continue;
		for (unsigned int v = 0; v < d->msix_nvec; v++) {
			if (!d->vec[v].routed)
				continue;
			routes[n++] = (struct msi_route){
				.gsi = d->vec[v].gsi,
				.addr = d->vec[v].addr,
				.data = d->vec[v].data,
			};
		}
	}
	ret = host->p.irq_ops->set_msi_routes(host->p.irq_opaque, routes, n);
	if (ret)
		tern_warn("pci: cannot update the MSI routes: %s", g_strerror(-ret));
}

static void pci_vec_set_route(struct pci_device *dev, struct pci_msix_vec *v,
			      bool routed, uint64_t addr, uint32_t data)
{
	struct pci_host *host = dev->host;

	pthread_mutex_lock(&host->irq_lock);
	if (v->routed != routed || (routed && (v->addr != addr || v->data != data))) {
		v->routed = routed;
		v->addr = addr;
		v->data = data;
		pci_host_commit_routes_locked(host);
	}
	pthread_mutex_unlock(&host->irq_lock);
}

/* Recompute INTx's contribution to its pin. irq_lock held. */
static void pci_intx_update_locked(struct pci_device *dev)
{
	struct pci_host *host = dev->host;
	bool assert = __atomic_load_n(&dev->intx_level, __ATOMIC_RELAXED) &&
		      !dev->intx_disabled &&
		      !__atomic_load_n(&dev->msix_enabled, __ATOMIC_RELAXED);
	unsigned int i;
	bool line;

	if (!dev->intx_gsi || assert == dev->intx_asserted)
		return;
	dev->intx_asserted = assert;
	i = dev->intx_gsi - LAYOUT_PCI_INTX_GSI_BASE;
	if (assert)
		host->intx_count[i]++;
	else
		host->intx_count[i]--;
	line = host->intx_count[i] > 0;
	if (line != host->intx_line[i]) {
		int ret = host->p.irq_ops->set_irq_line(host->p.irq_opaque,
							 dev->intx_gsi, line);

		if (ret)
			tern_warn("%s: cannot set IRQ %u: %s", dev->name,
				  dev->intx_gsi, g_strerror(-ret));
		host->intx_line[i] = line;
	}
}

static void pci_intx_update(struct pci_device *dev)
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

/* ---- MSI-X ---- */

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

/* Bring vector v's binding in line with the table. msix_lock held. */
static void msix_update_vector(struct pci_device *dev, unsigned int v)
{
	struct pci_host *host = dev->host;
	struct pci_msix_vec *vec = &dev->vec[v];
	bool want = dev->msix_enabled && !dev->msix_fmask &&
		    !msix_entry_masked(dev, v);
	int ret;

	if (want) {
		pci_vec_set_route(dev, vec, true, msix_entry_addr(dev, v),
				  msix_entry_data(dev, v));
		if (!vec->live) {
			/*
			 * Messages that came while masked wait in the counter;
			 * take them before binding and send one after, so the
			 * guest gets exactly one for the lot.
			 */
			bool pending = efd_drain(vec->fd);

			ret = host->p.irq_ops->irqfd(host->p.irq_opaque, vec->fd,
						     vec->gsi, true);
			if (ret)
				tern_warn("%s: MSI-X vector %u: cannot bind irqfd: %s",
					  dev->name, v, g_strerror(-ret));
			vec->live = true;
			if (pending)
				efd_signal(vec->fd);
		}
	} else if (vec->live) {
		ret = host->p.irq_ops->irqfd(host->p.irq_opaque, vec->fd, vec->gsi,
					     false);
		if (ret)
			tern_warn("%s: MSI-X vector %u: cannot unbind irqfd: %s",
				  dev->name, v, g_strerror(-ret));
		vec->live = false;
	}
}

/* The message control word changed. cfg_lock held. */
static void msix_control_changed(struct pci_device *dev)
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

static uint32_t msix_pba_size(unsigned int nvec)
{
	return ALIGN_UP(nvec, 64U) / 8;
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
			   o < dev->msix_pba_off + msix_pba_size(dev->msix_nvec)) {
			unsigned int first = (o - dev->msix_pba_off) * 8;

			for (unsigned int b = 0; b < 8; b++) {
				unsigned int v = first + b;

				if (v < dev->msix_nvec && !dev->vec[v].live &&
				    efd_pending(dev->vec[v].fd))
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

static void msix_reset(struct pci_device *dev)
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
	bar_size = MAX(dev->msix_pba_off + msix_pba_size(nvec), PCI_BAR_MIN_MEM);
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

static void msix_destroy(struct pci_device *dev)
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
		dev->vec[v].routed = false;
	pci_host_commit_routes_locked(dev->host);
	pthread_mutex_unlock(&dev->host->irq_lock);
	for (unsigned int v = 0; v < dev->msix_nvec; v++)
		close(dev->vec[v].fd);
	g_free(dev->vec);
	g_free(dev->msix_table);
	dev->msix_nvec = 0;
}

/* ---- BARs ---- */

static unsigned int bar_reg(unsigned int bar)
{
	return PCI_BASE_ADDRESS_0 + 4 * bar;
}

/* The address BAR bar holds now (both halves of a 64-bit one). */
static uint64_t bar_read_addr(const struct pci_device *dev, unsigned int bar)
{
	const struct pci_bar_state *b = &dev->bars[bar];
	uint32_t lo = pci_config_get(dev, bar_reg(bar), 4);

	if (b->flags & PCI_BAR_IO)
		return lo & ~0x3U;
	if (b->flags & PCI_BAR_64)
		return (lo & ~0xfULL) |
		       (uint64_t)pci_config_get(dev, bar_reg(bar + 1), 4) << 32;
	return lo & ~0xfU;
}

static void bar_write_addr(struct pci_device *dev, unsigned int bar,
			   uint64_t addr)
{
	const struct pci_bar_state *b = &dev->bars[bar];
	uint32_t lo = pci_config_get(dev, bar_reg(bar), 4);

	lo = (lo & (b->flags & PCI_BAR_IO ? 0x3U : 0xfU)) | (uint32_t)addr;
	pci_config_set(dev, bar_reg(bar), lo, 4);
	if (b->flags & PCI_BAR_64)
		pci_config_set(dev, bar_reg(bar + 1), (uint32_t)(addr >> 32), 4);
}

/* Would [addr, addr + size) be a sane place to decode? */
static bool bar_addr_usable(const struct pci_device *dev,
			    const struct pci_bar_state *b, uint64_t addr)
{
	const struct guest_memory *mem = dev->host->p.mem;

	if (!addr || addr + b->size < addr)
		return false;
	if (b->flags & PCI_BAR_IO)
		return addr + b->size <= 0x10000;
	/* RAM would shadow it (KVM slots win over MMIO). */
	for (unsigned int i = 0; mem && i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		if (addr < r->gpa + r->size && r->gpa < addr + b->size)
			return false;
	}
	return true;
}

static void bar_unmap(struct pci_device *dev, unsigned int bar)
{
	struct pci_bar_state *b = &dev->bars[bar];
	struct bus *bus = b->flags & PCI_BAR_IO ? dev->host->p.pio : dev->host->p.mmio;

	if (!b->mapped)
		return;
	if (dev->ops && dev->ops->bar_mapped)
		dev->ops->bar_mapped(dev, bar, b->mapped_addr, false);
	if (bus_unregister(bus, b->mapped_addr))
		tern_warn("%s: BAR %u was not on the bus at 0x%llx", dev->name, bar,
			  (unsigned long long)b->mapped_addr);
	b->mapped = false;
}

/* Decode each BAR where the config space says, if decoding is on. */
static void pci_update_bars(struct pci_device *dev)
{
	uint16_t cmd = pci_config_get(dev, PCI_COMMAND, 2);

	if (!dev->realized)
		return;
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar_state *b = &dev->bars[i];
		struct bus *bus = b->flags & PCI_BAR_IO ? dev->host->p.pio :
							  dev->host->p.mmio;
		uint64_t addr;
		bool want;
		int ret;

		if (!b->size || b->upper)
			continue;
		addr = bar_read_addr(dev, i);
		want = (cmd & (b->flags & PCI_BAR_IO ? PCI_COMMAND_IO :
						       PCI_COMMAND_MEMORY)) &&
		       bar_addr_usable(dev, b, addr);
		if (b->mapped && (!want || addr != b->mapped_addr))
			bar_unmap(dev, i);
		if (!want || b->mapped)
			continue;
		ret = bus_register(bus, addr, b->size, b->ops, b->opaque, dev->name);
		if (ret) {
			/* Over another BAR: the guest is half-way through a move. */
			tern_debug("%s: BAR %u at 0x%llx not decoded: %s", dev->name,
				   i, (unsigned long long)addr, g_strerror(-ret));
			continue;
		}
		b->mapped = true;
		b->mapped_addr = addr;
		if (dev->ops && dev->ops->bar_mapped)
			dev->ops->bar_mapped(dev, i, addr, true);
	}
}

uint64_t pci_bar_address(const struct pci_device *dev, unsigned int bar)
{
	if (bar >= PCI_NUM_BARS || !dev->bars[bar].mapped)
		return 0;
	return dev->bars[bar].mapped_addr;
}

int pci_device_add_bar(struct pci_device *dev, unsigned int bar,
		       uint64_t size, unsigned int flags,
		       const struct bus_ops *ops, void *opaque)
{
	struct pci_bar_state *b;
	uint32_t type = 0;
	uint64_t mask;
	bool is64 = flags & PCI_BAR_64;
	bool io = flags & PCI_BAR_IO;

	if (bar >= PCI_NUM_BARS || (is64 && bar + 1 >= PCI_NUM_BARS) || !ops ||
	    dev->realized)
		return -EINVAL;
	if (!size || (size & (size - 1)) || (io && (is64 || size < 4 || size > 256)) ||
	    (!io && size < PCI_BAR_MIN_MEM) || (!is64 && size > 2 * GiB))
		return -EINVAL;
	if ((flags & (PCI_BAR_PREFETCH | PCI_BAR_HIGH)) && io)
		return -EINVAL;
	if (dev->bars[bar].size || dev->bars[bar].upper ||
	    (is64 && (dev->bars[bar + 1].size || dev->bars[bar + 1].upper)))
		return -EEXIST;

	b = &dev->bars[bar];
	*b = (struct pci_bar_state){
		.size = size, .flags = flags, .ops = ops, .opaque = opaque,
	};
	if (io)
		type = PCI_BAR_SPACE_IO;
	else
		type = (is64 ? PCI_BAR_MEM_TYPE_64 : 0) |
		       (flags & PCI_BAR_PREFETCH ? PCI_BAR_MEM_PREFETCH : 0);
	mask = ~(size - 1);
	pci_config_set(dev, bar_reg(bar), type, 4);
	pci_config_set_wmask(dev, bar_reg(bar),
			     (uint32_t)mask & (io ? ~0x3U : ~0xfU), 4);
	if (is64) {
		dev->bars[bar + 1].upper = true;
		pci_config_set(dev, bar_reg(bar + 1), 0, 4);
		pci_config_set_wmask(dev, bar_reg(bar + 1), (uint32_t)(mask >> 32), 4);
	}
	return 0;
}

/* Bump allocation from a window; 0 when it is full. */
static uint64_t window_alloc(uint64_t *next, uint64_t base, uint64_t size,
			     uint64_t want)
{
	uint64_t addr = ALIGN_UP(*next, want);

	if (addr < base || addr + want < addr || addr + want > base + size)
		return 0;
	*next = addr + want;
	return addr;
}

static int pci_assign_bars(struct pci_device *dev)
{
	struct pci_host *host = dev->host;
	const struct pci_host_params *p = &host->p;

	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar_state *b = &dev->bars[i];
		uint64_t addr = 0;

		if (!b->size || b->upper)
			continue;
		if (b->flags & PCI_BAR_IO) {
			uint64_t next = host->io_next;

			addr = window_alloc(&next, p->io_base, p->io_size, b->size);
			host->io_next = next;
		} else if ((b->flags & PCI_BAR_64) && (b->flags & PCI_BAR_HIGH)) {
			addr = window_alloc(&host->mmio64_next, p->mmio64_base,
					    p->mmio64_size, b->size);
		} else {
			addr = window_alloc(&host->mmio32_next, p->mmio32_base,
					    p->mmio32_size, b->size);
			if (!addr && (b->flags & PCI_BAR_64))
				addr = window_alloc(&host->mmio64_next, p->mmio64_base,
						    p->mmio64_size, b->size);
		}
		if (!addr)
			return -ENOSPC;
		bar_write_addr(dev, i, addr);
	}
	return 0;
}

int pci_device_realize(struct pci_device *dev)
{
	struct pci_host *host = dev->host;
	uint16_t cmd = pci_config_get(dev, PCI_COMMAND, 2);
	int ret;

	if (dev->realized)
		return -EINVAL;
	pthread_mutex_lock(&host->cfg_lock);
	ret = pci_assign_bars(dev);
	if (ret)
		goto out;
	/* As firmware would leave it: decoding on for what the device has. */
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		if (!dev->bars[i].size || dev->bars[i].upper)
			continue;
		cmd |= dev->bars[i].flags & PCI_BAR_IO ? PCI_COMMAND_IO :
							 PCI_COMMAND_MEMORY;
	}
	pci_config_set(dev, PCI_COMMAND, cmd, 2);
	memcpy(dev->cfg_reset, dev->cfg, sizeof(dev->cfg));
	dev->realized = true;
	pci_update_bars(dev);
out:
	pthread_mutex_unlock(&host->cfg_lock);
	return ret;
}

/* ---- capabilities ---- */

int pci_device_add_capability(struct pci_device *dev, const void *cap,
			      unsigned int len)
{
	unsigned int off = ALIGN_UP(dev->cap_end, 4U);

	if (len < 2 || off + len > PCI_CFG_SIZE || dev->realized)
		return -ENOSPC;
	memcpy(dev->cfg + off, cap, len);
	dev->cfg[off + 1] = 0; /* next: end of list */
	if (dev->last_cap)
		dev->cfg[dev->last_cap + 1] = (uint8_t)off;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	dev->last_cap = (uint8_t)off;
	dev->cap_end = off + len;
	pci_config_set(dev, PCI_STATUS,
		       pci_config_get(dev, PCI_STATUS, 2) | PCI_STATUS_CAP_LIST, 2);
	return (int)off;
}

/* ---- config space ---- */

static bool range_overlaps(unsigned int off, unsigned int len,
			   unsigned int start, unsigned int size)
{
	return off < start + size && start < off + len;
}

/* cfg_lock held. */
static void pci_dev_config_read(struct pci_device *dev, unsigned int off,
				void *data, unsigned int len)
{
	uint8_t *out = data;

	for (unsigned int i = 0; i < len; i++) {
		unsigned int o = off + i;

		out[i] = o < PCI_CFG_SIZE ? dev->cfg[o] : 0;
		/* The interrupt status bit follows the device, not the array. */
		if (o == PCI_STATUS &&
		    __atomic_load_n(&dev->intx_level, __ATOMIC_RELAXED))
			out[i] |= PCI_STATUS_INTERRUPT;
	}
	if (off < PCI_CFG_SIZE && dev->ops && dev->ops->config_read)
		dev->ops->config_read(dev, off, data, len);
}

/* cfg_lock held. */
static void pci_dev_config_write(struct pci_device *dev, unsigned int off,
				 const void *data, unsigned int len)
{
	const uint8_t *in = data;

	for (unsigned int i = 0; i < len && off + i < PCI_CFG_SIZE; i++) {
		unsigned int o = off + i;
		uint8_t v = (dev->cfg[o] & ~dev->wmask[o]) | (in[i] & dev->wmask[o]);

		dev->cfg[o] = v & ~(in[i] & dev->w1cmask[o]);
	}
	if (off >= PCI_CFG_SIZE)
		return;
	if (range_overlaps(off, len, PCI_COMMAND, 2)) {
		bool dis = pci_config_get(dev, PCI_COMMAND, 2) &
			   PCI_COMMAND_INTX_DISABLE;

		pthread_mutex_lock(&dev->host->irq_lock);
		dev->intx_disabled = dis;
		pci_intx_update_locked(dev);
		pthread_mutex_unlock(&dev->host->irq_lock);
	}
	if (range_overlaps(off, len, PCI_COMMAND, 2) ||
	    range_overlaps(off, len, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS))
		pci_update_bars(dev);
	if (dev->msix_nvec &&
	    range_overlaps(off, len, dev->msix_cap + PCI_MSIX_FLAGS, 2))
		msix_control_changed(dev);
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, off, data, len);
}

static struct pci_device *pci_host_lookup(struct pci_host *host,
					  unsigned int bus, unsigned int devfn)
{
	/* Single-function devices on bus 0 only. */
	if (bus != 0 || (devfn & 7))
		return NULL;
	return host->slots[devfn >> 3];
}

void pci_host_config_read(struct pci_host *host, unsigned int bus,
			  unsigned int devfn, unsigned int off, void *data,
			  unsigned int len)
{
	struct pci_device *dev;

	pthread_mutex_lock(&host->cfg_lock);
	dev = pci_host_lookup(host, bus, devfn);
	if (!dev || !dev->realized)
		memset(data, 0xff, len);
	else
		pci_dev_config_read(dev, off, data, len);
	pthread_mutex_unlock(&host->cfg_lock);
}

void pci_host_config_write(struct pci_host *host, unsigned int bus,
			   unsigned int devfn, unsigned int off,
			   const void *data, unsigned int len)
{
	struct pci_device *dev;

	pthread_mutex_lock(&host->cfg_lock);
	dev = pci_host_lookup(host, bus, devfn);
	if (dev && dev->realized)
		pci_dev_config_write(dev, off, data, len);
	pthread_mutex_unlock(&host->cfg_lock);
}

/* Configuration mechanism #1: the address latch at 0xcf8. */
static void conf1_addr_read(void *opaque, uint64_t off, void *data,
			    unsigned int len)
{
	struct pci_host *host = opaque;
	uint32_t v;

	/* Only a dword access reaches the latch (as on a PIIX or an ICH). */
	if (off != 0 || len != 4) {
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&host->cfg_lock);
	v = host->conf1_addr;
	pthread_mutex_unlock(&host->cfg_lock);
	le_put(data, v, 4);
}

static void conf1_addr_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	struct pci_host *host = opaque;

	if (off != 0 || len != 4)
		return;
	pthread_mutex_lock(&host->cfg_lock);
	host->conf1_addr = le_get(data, 4) & PCI_CONF1_ADDR_MASK;
	pthread_mutex_unlock(&host->cfg_lock);
}

static const struct bus_ops conf1_addr_ops = {
	.read = conf1_addr_read,
	.write = conf1_addr_write,
};

/* 0xcfc-0xcff: byte, word or dword at any offset that stays in the dword. */
static bool conf1_target(struct pci_host *host, uint64_t off, unsigned int *bus,
			 unsigned int *devfn, unsigned int *reg)
{
	uint32_t a = host->conf1_addr;

	if (!(a & PCI_CONF1_ENABLE))
		return false;
	*bus = (a >> 16) & 0xff;
	*devfn = (a >> 8) & 0xff;
	*reg = (a & 0xfc) + (unsigned int)off;
	return true;
}

static void conf1_data_read(void *opaque, uint64_t off, void *data,
			    unsigned int len)
{
	struct pci_host *host = opaque;
	unsigned int bus, devfn, reg;
	struct pci_device *dev;

	pthread_mutex_lock(&host->cfg_lock);
	dev = conf1_target(host, off, &bus, &devfn, &reg) ?
		      pci_host_lookup(host, bus, devfn) : NULL;
	if (dev && dev->realized)
		pci_dev_config_read(dev, reg, data, len);
	else
		memset(data, 0xff, len);
	pthread_mutex_unlock(&host->cfg_lock);
}

static void conf1_data_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	struct pci_host *host = opaque;
	unsigned int bus, devfn, reg;
	struct pci_device *dev;

	pthread_mutex_lock(&host->cfg_lock);
	dev = conf1_target(host, off, &bus, &devfn, &reg) ?
		      pci_host_lookup(host, bus, devfn) : NULL;
	if (dev && dev->realized)
		pci_dev_config_write(dev, reg, data, len);
	pthread_mutex_unlock(&host->cfg_lock);
}

static const struct bus_ops conf1_data_ops = {
	.read = conf1_data_read,
	.write = conf1_data_write,
};

/* ECAM: bus in bits 27:20, device/function in 19:12, register in 11:0. */
static void ecam_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	unsigned int reg = off & 0xfff;

	if (reg + len > 0x1000) {
		memset(data, 0xff, len);
		return;
	}
	pci_host_config_read(opaque, (off >> 20) & 0xff, (off >> 12) & 0xff, reg,
			     data, len);
}

static void ecam_write(void *opaque, uint64_t off, const void *data,
		       unsigned int len)
{
	unsigned int reg = off & 0xfff;

	if (reg + len > 0x1000)
		return;
	pci_host_config_write(opaque, (off >> 20) & 0xff, (off >> 12) & 0xff, reg,
			      data, len);
}

static const struct bus_ops ecam_ops = {
	.read = ecam_read,
	.write = ecam_write,
};

/* ---- devices ---- */

static void pci_config_init_header(struct pci_device *dev,
				   const struct pci_device_info *info)
{
	pci_config_set(dev, PCI_VENDOR_ID, info->vendor_id, 2);
	pci_config_set(dev, PCI_DEVICE_ID, info->device_id, 2);
	pci_config_set(dev, PCI_REVISION_ID, info->revision, 1);
	pci_config_set(dev, PCI_CLASS_PROG, info->class_code, 3);
	pci_config_set(dev, PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id, 2);
	pci_config_set(dev, PCI_SUBSYSTEM_ID, info->subsystem_id, 2);
	pci_config_set_wmask(dev, PCI_COMMAND,
			     PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
				     PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
				     PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE,
			     2);
	le_put(dev->w1cmask + PCI_STATUS, PCI_STATUS_RW1C, 2);
	pci_config_set_wmask(dev, PCI_CACHE_LINE_SIZE, 0xff, 1);
	pci_config_set_wmask(dev, PCI_LATENCY_TIMER, 0xff, 1);
	pci_config_set_wmask(dev, PCI_INTERRUPT_LINE, 0xff, 1);
	dev->cap_end = PCI_CAP_START;
	if (info->intx) {
		dev->intx_gsi = pci_intx_gsi(dev->slot, 0);
		pci_config_set(dev, PCI_INTERRUPT_PIN, 1, 1); /* INTA# */
		/* Firmware's answer, for guests without an MP table. */
		pci_config_set(dev, PCI_INTERRUPT_LINE, dev->intx_gsi, 1);
	}
}

struct pci_device *pci_device_create(struct pci_host *host,
				     const struct pci_device_info *info,
				     unsigned int slot,
				     const struct pci_device_ops *ops,
				     void *opaque, GError **err)
{
	struct pci_device *dev;

	pthread_mutex_lock(&host->cfg_lock);
	if (!slot) {
		/* Slot 0 is the host bridge's. */
		for (slot = host->bridge ? 1 : 0; slot < PCI_SLOTS; slot++)
			if (!host->slots[slot])
				break;
	}
	if (slot >= PCI_SLOTS || host->slots[slot]) {
		pthread_mutex_unlock(&host->cfg_lock);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s: no free PCI slot on bus 0 (%u slots)", info->name,
			    PCI_SLOTS);
		return NULL;
	}
	dev = g_new0(struct pci_device, 1);
	dev->host = host;
	dev->slot = slot;
	dev->name = g_strdup(info->name);
	dev->ops = ops;
	dev->opaque = opaque;
	pthread_mutex_init(&dev->msix_lock, NULL);
	pci_config_init_header(dev, info);
	host->slots[slot] = dev;
	pthread_mutex_unlock(&host->cfg_lock);
	return dev;
}

void pci_device_destroy(struct pci_device *dev)
{
	struct pci_host *host;

	if (!dev)
		return;
	host = dev->host;
	pthread_mutex_lock(&host->cfg_lock);
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		bar_unmap(dev, i);
	pthread_mutex_unlock(&host->cfg_lock);
	pci_intx_set(dev, false);
	msix_destroy(dev);
	pthread_mutex_lock(&host->cfg_lock);
	host->slots[dev->slot] = NULL;
	pthread_mutex_unlock(&host->cfg_lock);
	pthread_mutex_destroy(&dev->msix_lock);
	g_free(dev->name);
	g_free(dev);
}

static void pci_device_reset(struct pci_device *dev)
{
	if (dev->ops && dev->ops->reset)
		dev->ops->reset(dev);
	pthread_mutex_lock(&dev->host->cfg_lock);
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		bar_unmap(dev, i);
	memcpy(dev->cfg, dev->cfg_reset, sizeof(dev->cfg));
	pthread_mutex_unlock(&dev->host->cfg_lock);
	if (dev->msix_nvec)
		msix_reset(dev);
	pthread_mutex_lock(&dev->host->irq_lock);
	dev->intx_disabled = false;
	__atomic_store_n(&dev->intx_level, false, __ATOMIC_RELAXED);
	pci_intx_update_locked(dev);
	pthread_mutex_unlock(&dev->host->irq_lock);
	pthread_mutex_lock(&dev->host->cfg_lock);
	pci_update_bars(dev);
	pthread_mutex_unlock(&dev->host->cfg_lock);
}

void pci_host_reset(struct pci_host *host)
{
	if (!host)
		return;
	pthread_mutex_lock(&host->cfg_lock);
	host->conf1_addr = 0;
	pthread_mutex_unlock(&host->cfg_lock);
	for (unsigned int s = 0; s < PCI_SLOTS; s++)
		if (host->slots[s] && host->slots[s]->realized)
			pci_device_reset(host->slots[s]);
}

/* ---- the host ---- */

static void pci_host_unregister(struct pci_host *host)
{
	if (host->ecam_registered &&
	    bus_unregister(host->p.mmio, host->p.ecam_base))
		tern_warn("pci: the ECAM window was not on the MMIO bus");
	if (host->pio_registered &&
	    (bus_unregister(host->p.pio, PCI_CONF1_ADDR_PORT) ||
	     bus_unregister(host->p.pio, PCI_CONF1_DATA_PORT)))
		tern_warn("pci: the 0xcf8/0xcfc ports were not on the PIO bus");
	host->ecam_registered = host->pio_registered = false;
}

struct pci_host *pci_host_new(const struct pci_host_params *p, GError **err)
{
	static const struct pci_device_info bridge = {
		.name = "pci-host",
		.vendor_id = PCI_HOST_VENDOR,
		.device_id = PCI_HOST_DEVICE,
		.subsystem_vendor_id = 0x1af4,
		.subsystem_id = 0x1100,
		.class_code = PCI_CLASS_BRIDGE_HOST,
	};
	struct pci_host *host = g_new0(struct pci_host, 1);
	int ret;

	host->p = *p;
	host->mmio32_next = p->mmio32_base;
	host->mmio64_next = p->mmio64_base;
	host->io_next = p->io_base;
	host->next_gsi = p->first_msi_gsi;
	pthread_mutex_init(&host->cfg_lock, NULL);
	pthread_mutex_init(&host->irq_lock, NULL);

	ret = bus_register(p->pio, PCI_CONF1_ADDR_PORT, 4, &conf1_addr_ops, host,
			   "pci-conf1-addr");
	if (!ret) {
		ret = bus_register(p->pio, PCI_CONF1_DATA_PORT, 4, &conf1_data_ops,
				   host, "pci-conf1-data");
		if (ret)
			if (bus_unregister(p->pio, PCI_CONF1_ADDR_PORT))
				tern_warn("pci: port 0xcf8 vanished");
	}
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "pci: cannot claim ports 0xcf8-0xcff: %s", g_strerror(-ret));
		goto err;
	}
	host->pio_registered = true;
	if (p->ecam_base) {
		ret = bus_register(p->mmio, p->ecam_base, LAYOUT_PCI_ECAM_SIZE,
				   &ecam_ops, host, "pci-ecam");
		if (ret) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
				    "pci: cannot map the ECAM window at 0x%llx: %s",
				    (unsigned long long)p->ecam_base, g_strerror(-ret));
			goto err;
		}
		host->ecam_registered = true;
	}
	host->bridge = pci_device_create(host, &bridge, 0, NULL, NULL, err);
	if (!host->bridge)
		goto err;
	/* The bridge decodes nothing itself; its command register is read-only. */
	pci_config_set_wmask(host->bridge, PCI_COMMAND, 0, 2);
	if (pci_device_realize(host->bridge)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "pci: cannot set up the host bridge");
		goto err;
	}
	return host;
err:
	pci_device_destroy(host->bridge);
	pci_host_unregister(host);
	pthread_mutex_destroy(&host->cfg_lock);
	pthread_mutex_destroy(&host->irq_lock);
	g_free(host);
	return NULL;
}

void pci_host_destroy(struct pci_host *host)
{
	if (!host)
		return;
	pci_device_destroy(host->bridge);
	for (unsigned int s = 0; s < PCI_SLOTS; s++)
		if (host->slots[s])
			tern_warn("pci: %s still in slot %u at teardown",
				  host->slots[s]->name, s);
	pci_host_unregister(host);
	pthread_mutex_destroy(&host->cfg_lock);
	pthread_mutex_destroy(&host->irq_lock);
	g_free(host);
}

void pci_host_params_platform(struct pci_host_params *p, struct bus *pio,
			      struct bus *mmio, const struct guest_memory *mem)
{
	uint64_t high = MAX(LAYOUT_RAM_ABOVE_4G, mem->end);

	*p = (struct pci_host_params){
		.pio = pio,
		.mmio = mmio,
		.mem = mem,
		.ecam_base = LAYOUT_PCI_ECAM_START,
		.mmio32_base = LAYOUT_PCI_MMIO32_START,
		.mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.mmio64_base = ALIGN_UP(high, LAYOUT_PCI_MMIO64_ALIGN),
		.mmio64_size = LAYOUT_PCI_MMIO64_SIZE,
		.io_base = LAYOUT_PCI_IO_START,
		.io_size = LAYOUT_PCI_IO_SIZE,
		.first_msi_gsi = LAYOUT_MSI_GSI_BASE,
	};
}

struct pci_host *pci_host_create(struct machine *m, GError **err)
{
	struct pci_host_params p;

	pci_host_params_platform(&p, m->pio, m->mmio, m->mem);
	p.irq_ops = m->ops;
	p.irq_opaque = m->opaque;
	return pci_host_new(&p, err);
}
