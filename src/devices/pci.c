// SPDX-License-Identifier: MIT
/*
 * PCI host bridge, bus 0. Configuration space is a byte array per function
 * with a write mask and a write-1-to-clear mask per byte; side effects
 * (decoding, BAR moves, MSI-X control, INTx disable) are applied after the
 * masked write. Config cycles are rare and slow anyway (each is a vCPU exit),
 * so one host lock serialises them all, the 0xcf8 latch included.
 *
 * BARs are in pci_bar.c, MSI-X in pci_msix.c, INTx in pci_intx.c; the
 * structures and the lock order in pci_internal.h.
 */
#include <errno.h>
#include <string.h>

#include "tern/error.h"
#include "tern/le.h"
#include "pci_internal.h"

#define PCI_CONF1_ADDR_PORT 0xcf8
#define PCI_CONF1_DATA_PORT 0xcfc
#define PCI_CONF1_ENABLE 0x80000000U

/* The host bridge: Red Hat's "QEMU PCIe host bridge" ids, no quirks attached. */
#define PCI_HOST_VENDOR 0x1b36
#define PCI_HOST_DEVICE 0x0008
#define PCI_CLASS_BRIDGE_HOST 0x060000

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

void pci_command_changed(struct pci_device *dev)
{
	uint16_t cmd = pci_config_get(dev, PCI_COMMAND, 2);

	pthread_mutex_lock(&dev->host->irq_lock);
	dev->intx_disabled = cmd & PCI_COMMAND_INTX_DISABLE;
	pci_intx_update_locked(dev);
	pthread_mutex_unlock(&dev->host->irq_lock);
	__atomic_store_n(&dev->master, (cmd & PCI_COMMAND_MASTER) != 0,
			 __ATOMIC_RELEASE);
}

void pci_bus_master_sync(struct pci_device *dev)
{
	bool on;

	/*
	 * The lock orders the calls: whoever changed the bit last syncs
	 * after its change, so the last call says what the bit says now.
	 */
	pthread_mutex_lock(&dev->master_lock);
	on = __atomic_load_n(&dev->master, __ATOMIC_ACQUIRE);
	if (on != dev->master_told) {
		__atomic_store_n(&dev->master_told, on, __ATOMIC_RELEASE);
		if (dev->ops && dev->ops->bus_master)
			dev->ops->bus_master(dev, on);
	}
	pthread_mutex_unlock(&dev->master_lock);
}

bool pci_bus_master_enabled(const struct pci_device *dev)
{
	return __atomic_load_n(&dev->master_told, __ATOMIC_ACQUIRE);
}

/*
 * cfg_lock held. True if the command register was written: the caller
 * then calls pci_bus_master_sync() once it has dropped the lock.
 */
static bool pci_dev_config_write(struct pci_device *dev, unsigned int off,
				 const void *data, unsigned int len)
{
	const uint8_t *in = data;
	bool cmd = range_overlaps(off, len, PCI_COMMAND, 2);

	for (unsigned int i = 0; i < len && off + i < PCI_CFG_SIZE; i++) {
		unsigned int o = off + i;
		uint8_t v = (dev->cfg[o] & ~dev->wmask[o]) | (in[i] & dev->wmask[o]);

		dev->cfg[o] = v & ~(in[i] & dev->w1cmask[o]);
	}
	if (off >= PCI_CFG_SIZE)
		return false;
	if (cmd)
		pci_command_changed(dev);
	if (cmd || range_overlaps(off, len, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS))
		pci_host_update_bars(dev->host);
	if (dev->msix_nvec &&
	    (cmd || range_overlaps(off, len, dev->msix_cap + PCI_MSIX_FLAGS, 2)))
		pci_msix_control_changed(dev);
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, off, data, len);
	return cmd;
}

static struct pci_device *pci_host_lookup(struct pci_host *host,
					  unsigned int bus, unsigned int devfn)
{
	/* Single-function devices on bus 0 only. */
	if (bus != 0 || (devfn & 7))
		return NULL;
	return host->slots[devfn >> 3];
}

struct pci_device *pci_host_device(struct pci_host *host, unsigned int slot)
{
	struct pci_device *dev = slot < PCI_SLOTS ? host->slots[slot] : NULL;

	return dev && dev->realized ? dev : NULL;
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
	bool cmd = false;

	pthread_mutex_lock(&host->cfg_lock);
	dev = pci_host_lookup(host, bus, devfn);
	if (dev && dev->realized)
		cmd = pci_dev_config_write(dev, off, data, len);
	pthread_mutex_unlock(&host->cfg_lock);
	/* Unlocked: the device may stop its threads (devices outlive vCPUs). */
	if (cmd)
		pci_bus_master_sync(dev);
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
	bool cmd = false;

	pthread_mutex_lock(&host->cfg_lock);
	dev = conf1_target(host, off, &bus, &devfn, &reg) ?
		      pci_host_lookup(host, bus, devfn) : NULL;
	if (dev && dev->realized)
		cmd = pci_dev_config_write(dev, reg, data, len);
	pthread_mutex_unlock(&host->cfg_lock);
	if (cmd)
		pci_bus_master_sync(dev);
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
	pthread_mutex_init(&dev->master_lock, NULL);
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
		pci_bar_unmap(dev, i);
	pthread_mutex_unlock(&host->cfg_lock);
	pci_intx_set(dev, false);
	pci_msix_destroy(dev);
	pci_msi_gsis_destroy(dev);
	pthread_mutex_lock(&host->cfg_lock);
	host->slots[dev->slot] = NULL;
	pthread_mutex_unlock(&host->cfg_lock);
	pthread_mutex_destroy(&dev->master_lock);
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
		pci_bar_unmap(dev, i);
	memcpy(dev->cfg, dev->cfg_reset, sizeof(dev->cfg));
	pci_command_changed(dev);
	pthread_mutex_unlock(&dev->host->cfg_lock);
	if (dev->msix_nvec)
		pci_msix_reset(dev);
	pci_intx_set(dev, false);
	pthread_mutex_lock(&dev->host->cfg_lock);
	pci_host_update_bars(dev->host);
	pthread_mutex_unlock(&dev->host->cfg_lock);
	/* Bus master is clear again: the device hears it after its reset(). */
	pci_bus_master_sync(dev);
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
	*p = (struct pci_host_params){
		.pio = pio,
		.mmio = mmio,
		.mem = mem,
		.ecam_base = LAYOUT_PCI_ECAM_START,
		.mmio32_base = LAYOUT_PCI_MMIO32_START,
		.mmio32_size = LAYOUT_PCI_MMIO32_SIZE,
		.mmio64_base = layout_pci_mmio64_start(mem->end),
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
