// SPDX-License-Identifier: MIT
/*
 * BARs: declared by the device, placed by the host as firmware would (bump
 * allocation from the platform's windows), and decoded on the PIO or MMIO
 * bus wherever the guest's config space says while the command register
 * lets them.
 */
#include <errno.h>
#include <string.h>

#include "tern/error.h"
#include "tern/le.h"
#include "pci_internal.h"

static unsigned int bar_reg(unsigned int bar)
{
	return PCI_BASE_ADDRESS_0 + 4 * bar;
}

uint64_t pci_bar_addr_in(const struct pci_device *dev, const uint8_t *cfg,
			 unsigned int bar)
{
	const struct pci_bar_state *b = &dev->bars[bar];
	uint32_t lo = le32_get(cfg + bar_reg(bar));

	if (b->flags & PCI_BAR_IO)
		return lo & ~0x3U;
	if (b->flags & PCI_BAR_64)
		return (lo & ~0xfULL) |
		       (uint64_t)le32_get(cfg + bar_reg(bar + 1)) << 32;
	return lo & ~0xfU;
}

/* The address BAR bar holds now (both halves of a 64-bit one). */
static uint64_t bar_read_addr(const struct pci_device *dev, unsigned int bar)
{
	return pci_bar_addr_in(dev, dev->cfg, bar);
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
	return !pci_range_over_ram(mem, addr, b->size);
}

bool pci_range_over_ram(const struct guest_memory *mem, uint64_t addr,
			uint64_t size)
{
	for (unsigned int i = 0; mem && i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		if (addr < r->gpa + r->size && r->gpa < addr + size)
			return true;
	}
	return false;
}

void pci_bar_unmap(struct pci_device *dev, unsigned int bar)
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

/* Where BAR i should decode now: false if nowhere (off, or not sane). */
static bool bar_wanted(const struct pci_device *dev, unsigned int i,
		       uint64_t *addr)
{
	const struct pci_bar_state *b = &dev->bars[i];
	uint16_t cmd = pci_config_get(dev, PCI_COMMAND, 2);
	uint16_t enable = b->flags & PCI_BAR_IO ? PCI_COMMAND_IO :
						  PCI_COMMAND_MEMORY;

	if (!b->size || b->upper)
		return false;
	*addr = bar_read_addr(dev, i);
	return (cmd & enable) && bar_addr_usable(dev, b, *addr);
}

/* Take down the BARs that moved or stopped decoding. */
static void bars_unmap_stale(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar_state *b = &dev->bars[i];
		uint64_t addr = 0;
		bool want = bar_wanted(dev, i, &addr);

		if (b->mapped && (!want || addr != b->mapped_addr))
			pci_bar_unmap(dev, i);
	}
}

/* Put up the BARs that should decode and do not yet. */
static void bars_map_wanted(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar_state *b = &dev->bars[i];
		struct bus *bus = b->flags & PCI_BAR_IO ? dev->host->p.pio :
							  dev->host->p.mmio;
		uint64_t addr = 0;
		int ret;

		if (b->mapped || !bar_wanted(dev, i, &addr))
			continue;
		ret = bus_register(bus, addr, b->size, b->ops, b->opaque, dev->name);
		if (ret) {
			/*
			 * Over another BAR: the guest is half-way through a
			 * move. Said once per place; retried on every BAR or
			 * command write until the other one leaves.
			 */
			if (!b->refused || b->refused_addr != addr)
				tern_debug("%s: BAR %u at 0x%llx not decoded: %s",
					   dev->name, i, (unsigned long long)addr,
					   g_strerror(-ret));
			b->refused = true;
			b->refused_addr = addr;
			continue;
		}
		b->refused = false;
		b->mapped = true;
		b->mapped_addr = addr;
		if (dev->ops && dev->ops->bar_mapped)
			dev->ops->bar_mapped(dev, i, addr, true);
	}
}

void pci_host_update_bars(struct pci_host *host)
{
	/*
	 * Every device, not only the one written: the BAR that moved away (or
	 * stopped decoding) may have been in the way of another device's.
	 * All removals first, so a place freed anywhere is free for all.
	 */
	for (unsigned int s = 0; s < PCI_SLOTS; s++)
		if (host->slots[s] && host->slots[s]->realized)
			bars_unmap_stale(host->slots[s]);
	for (unsigned int s = 0; s < PCI_SLOTS; s++)
		if (host->slots[s] && host->slots[s]->realized)
			bars_map_wanted(host->slots[s]);
}

uint64_t pci_bar_address(const struct pci_device *dev, unsigned int bar)
{
	if (bar >= PCI_NUM_BARS || !dev->bars[bar].mapped)
		return 0;
	return dev->bars[bar].mapped_addr;
}

bool pci_device_bar_info(const struct pci_device *dev, unsigned int bar,
			 struct pci_bar_info *info)
{
	const struct pci_bar_state *b;

	if (bar >= PCI_NUM_BARS || !dev->bars[bar].size || dev->bars[bar].upper)
		return false;
	b = &dev->bars[bar];
	info->size = b->size;
	info->addr = pci_bar_address(dev, bar);
	info->io = b->flags & PCI_BAR_IO;
	info->mem64 = b->flags & PCI_BAR_64;
	info->prefetch = b->flags & PCI_BAR_PREFETCH;
	return true;
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
	pci_host_update_bars(host);
	/* Bus master stays as the device set it: clear, as SeaBIOS leaves it. */
	__atomic_store_n(&dev->master, (cmd & PCI_COMMAND_MASTER) != 0,
			 __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&host->cfg_lock);
	if (!ret)
		pci_bus_master_sync(dev);
	return ret;
}
