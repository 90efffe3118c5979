// SPDX-License-Identifier: MIT
/*
 * The PCI layer's part of the machine state (state.h): one section per
 * function and one for the host.
 *
 *   "pci.00:SS.0" version 1:
 *     u8[256]   config space as the guest wrote it (the status register's
 *               interrupt bit is the device's INTx level, saved below)
 *     u64[6]    BAR sizes, 0 for none and for a 64-bit BAR's upper half
 *     u16       MSI-X vectors n (0: no MSI-X)
 *     u8[16n]   the MSI-X table
 *     u8[pba]   pending vectors, as the PBA shows them (whole qwords)
 *     bool      INTx level as the device last set it
 *   "pci-host" version 1:
 *     u32       the 0xcf8 address latch
 *   followed by the host bridge's own "pci.00:00.0".
 *
 * Loading reads and checks a whole section against the device before it
 * changes anything, so a rejected section leaves the device as it was.
 * Then it applies the section the way the guest's own writes would have
 * reached the device: config space, then decoding, MSI-X bindings and
 * routes, pending messages, INTx, and bus master last.
 */
#include <string.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/le.h"
#include "tern/state.h"
#include "pci_internal.h"

#define PCI_STATE_VERSION 1
#define PCI_HOST_STATE_VERSION 1
#define PCI_MSIX_CTRL_OFF 12

/* A section as read, before it is applied. */
struct pci_dev_state {
	uint8_t cfg[PCI_CFG_SIZE];
	uint64_t bar_size[PCI_NUM_BARS];
	uint16_t nvec;
	uint8_t *table; /* nvec * 16 */
	uint8_t *pending; /* pci_msix_pba_size(nvec) */
	bool intx_level;
};

static void pci_dev_state_clear(struct pci_dev_state *st)
{
	g_free(st->table);
	g_free(st->pending);
}

void pci_device_save(struct pci_device *dev, struct state_writer *w)
{
	struct pci_host *host = dev->host;
	uint8_t cfg[PCI_CFG_SIZE];
	g_autofree uint8_t *table = NULL, *pending = NULL;
	uint32_t pba = pci_msix_pba_size(dev->msix_nvec);
	bool level;

	pthread_mutex_lock(&host->cfg_lock);
	memcpy(cfg, dev->cfg, sizeof(cfg));
	if (dev->msix_nvec) {
		pthread_mutex_lock(&dev->msix_lock);
		table = g_memdup2(dev->msix_table,
				  (gsize)dev->msix_nvec * PCI_MSIX_ENTRY_SIZE);
		pending = g_malloc0(pba);
		for (unsigned int v = 0; v < dev->msix_nvec; v++)
			if (pci_msix_pending_locked(dev, v))
				pending[v / 8] |= 1 << (v % 8);
		pthread_mutex_unlock(&dev->msix_lock);
	}
	level = __atomic_load_n(&dev->intx_level, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&host->cfg_lock);

	state_section_begin(w, PCI_STATE_VERSION, "pci.00:%02x.0", dev->slot);
	state_put_bytes(w, cfg, sizeof(cfg));
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		state_put_u64(w, dev->bars[i].upper ? 0 : dev->bars[i].size);
	state_put_u16(w, (uint16_t)dev->msix_nvec);
	if (dev->msix_nvec) {
		state_put_bytes(w, table,
				(size_t)dev->msix_nvec * PCI_MSIX_ENTRY_SIZE);
		state_put_bytes(w, pending, pba);
	}
	state_put_bool(w, level);
	state_section_end(w);
}

/* What a config byte belongs to, for error messages. */
static const char *cfg_byte_name(unsigned int o)
{
	static const char *const bars[PCI_NUM_BARS] = {
	    "BAR 0", "BAR 1", "BAR 2", "BAR 3", "BAR 4", "BAR 5",
	};

	if (o < PCI_DEVICE_ID)
		return "vendor id";
	if (o < PCI_COMMAND)
		return "device id";
	if (o < PCI_STATUS)
		return "command register";
	if (o < PCI_REVISION_ID)
		return "status register";
	if (o < PCI_CLASS_PROG)
		return "revision";
	if (o < PCI_CACHE_LINE_SIZE)
		return "class code";
	if (o == PCI_HEADER_TYPE)
		return "header type";
	if (o >= PCI_BASE_ADDRESS_0 &&
	    o < PCI_BASE_ADDRESS_0 + 4 * PCI_NUM_BARS)
		return bars[(o - PCI_BASE_ADDRESS_0) / 4];
	if (o >= PCI_SUBSYSTEM_VENDOR_ID && o < PCI_ROM_ADDRESS)
		return "subsystem ids";
	if (o >= PCI_ROM_ADDRESS && o < PCI_CAPABILITY_LIST)
		return "expansion ROM BAR";
	if (o == PCI_CAPABILITY_LIST)
		return "capability pointer";
	if (o == PCI_INTERRUPT_PIN)
		return "interrupt pin";
	if (o >= PCI_CAP_START)
		return "capability list";
	return "header";
}

/* Is it this kind of device at all? Checked first: it explains the rest. */
static bool pci_state_check_ids(struct state_reader *r,
				const struct pci_device *dev,
				const struct pci_dev_state *st)
{
	uint16_t vendor = le16_get(st->cfg + PCI_VENDOR_ID);
	uint16_t device = le16_get(st->cfg + PCI_DEVICE_ID);

	if (!state_check(
		r,
		vendor == pci_config_get(dev, PCI_VENDOR_ID, 2) &&
		    device == pci_config_get(dev, PCI_DEVICE_ID, 2),
		"vendor:device id %04x:%04x, this device (%s) is %04x:%04x",
		vendor, device, dev->name,
		pci_config_get(dev, PCI_VENDOR_ID, 2),
		pci_config_get(dev, PCI_DEVICE_ID, 2)))
		return false;
	return state_check(
	    r, st->cfg[PCI_HEADER_TYPE] == dev->cfg[PCI_HEADER_TYPE],
	    "header type 0x%02x, this device's is 0x%02x",
	    st->cfg[PCI_HEADER_TYPE], dev->cfg[PCI_HEADER_TYPE]);
}

/* Config space: what the guest cannot write must be this device's own. */
static bool pci_state_check_cfg(struct state_reader *r,
				const struct pci_device *dev,
				const struct pci_dev_state *st)
{
	for (unsigned int o = 0; o < PCI_CFG_SIZE; o++) {
		uint8_t fixed = (uint8_t) ~(dev->wmask[o] | dev->w1cmask[o]);

		if (!state_check(
			r, !((st->cfg[o] ^ dev->cfg[o]) & fixed),
			"%s: config byte 0x%02x is 0x%02x, but bits 0x%02x are "
			"read-only and 0x%02x on this device",
			cfg_byte_name(o), o, st->cfg[o], fixed,
			dev->cfg[o] & fixed))
			return false;
	}
	return true;
}

static bool pci_state_check_bars(struct state_reader *r,
				 const struct pci_device *dev,
				 const struct pci_dev_state *st)
{
	uint16_t cmd = le16_get(st->cfg + PCI_COMMAND);

	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar_state *b = &dev->bars[i];
		uint64_t size = b->upper ? 0 : b->size, addr;

		if (!state_check(r, st->bar_size[i] == size,
				 "BAR %u: size 0x%llx, this device's is 0x%llx",
				 i, (unsigned long long)st->bar_size[i],
				 (unsigned long long)size))
			return false;
		if (!size || (b->flags & PCI_BAR_IO) ||
		    !(cmd & PCI_COMMAND_MEMORY))
			continue;
		/*
		 * A decoding BAR over RAM is not a state tern produces for a
		 * sane guest, and one a loader must not half-believe.
		 */
		addr = pci_bar_addr_in(dev, st->cfg, i);
		if (!state_check(
			r, !pci_range_over_ram(dev->host->p.mem, addr, size),
			"BAR %u at 0x%llx (0x%llx bytes, decoding) overlaps "
			"guest RAM",
			i, (unsigned long long)addr, (unsigned long long)size))
			return false;
	}
	return true;
}

static bool pci_state_check_msix(struct state_reader *r,
				 const struct pci_device *dev,
				 const struct pci_dev_state *st)
{
	for (unsigned int v = 0; v < st->nvec; v++) {
		uint32_t ctrl = le32_get(st->table + v * PCI_MSIX_ENTRY_SIZE +
					 PCI_MSIX_CTRL_OFF);

		if (!state_check(r, !(ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT),
				 "MSI-X vector %u: reserved vector control "
				 "bits 0x%x set",
				 v, ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT))
			return false;
	}
	for (unsigned int v = st->nvec; v < pci_msix_pba_size(st->nvec) * 8;
	     v++)
		if (!state_check(
			r, !(st->pending[v / 8] & (1 << (v % 8))),
			"MSI-X: pending bit for vector %u, the device has %u",
			v, st->nvec))
			return false;
	return true;
}

/* Read and check the whole section; nothing of dev changes. */
static bool pci_state_read(struct state_reader *r, struct pci_device *dev,
			   struct pci_dev_state *st, GError **err)
{
	if (!state_section_open(r, PCI_STATE_VERSION, PCI_STATE_VERSION, NULL,
				"pci.00:%02x.0", dev->slot))
		return state_section_close(r, err);
	if (state_get_bytes(r, st->cfg, sizeof(st->cfg)))
		pci_state_check_ids(r, dev, st);
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		state_get_u64(r, &st->bar_size[i]);
	/* The vector count says how much follows: check it before reading on.
	 */
	if (state_get_u16(r, &st->nvec) &&
	    state_check(r, st->nvec == dev->msix_nvec,
			"MSI-X: %u vectors, this device has %u", st->nvec,
			dev->msix_nvec) &&
	    st->nvec) {
		st->table = g_malloc0((size_t)st->nvec * PCI_MSIX_ENTRY_SIZE);
		st->pending = g_malloc0(pci_msix_pba_size(st->nvec));
		state_get_bytes(r, st->table,
				(size_t)st->nvec * PCI_MSIX_ENTRY_SIZE);
		state_get_bytes(r, st->pending, pci_msix_pba_size(st->nvec));
	}
	state_get_bool(r, &st->intx_level);
	if (state_ok(r) && pci_state_check_cfg(r, dev, st) &&
	    pci_state_check_bars(r, dev, st) &&
	    pci_state_check_msix(r, dev, st))
		state_check(
		    r, !st->intx_level || dev->intx_gsi,
		    "INTx asserted, but the device has no interrupt pin");
	return state_section_close(r, err);
}

/* vCPUs parked, device idle: as if the guest had written it all. */
static void pci_state_apply(struct pci_device *dev,
			    const struct pci_dev_state *st)
{
	struct pci_host *host = dev->host;

	pthread_mutex_lock(&host->cfg_lock);
	memcpy(dev->cfg, st->cfg, sizeof(dev->cfg));
	pci_command_changed(dev);
	pci_host_update_bars(host);
	if (dev->msix_nvec) {
		pthread_mutex_lock(&dev->msix_lock);
		memcpy(dev->msix_table, st->table,
		       (size_t)st->nvec * PCI_MSIX_ENTRY_SIZE);
		pthread_mutex_unlock(&dev->msix_lock);
		/* Binds what the table and control word make live, and routes
		 * it. */
		pci_msix_control_changed(dev);
		pthread_mutex_lock(&dev->msix_lock);
		for (unsigned int v = 0; v < st->nvec; v++) {
			efd_drain(dev->vec[v].fd);
			if (st->pending[v / 8] & (1 << (v % 8)))
				efd_signal(dev->vec[v].fd);
		}
		pthread_mutex_unlock(&dev->msix_lock);
	}
	pthread_mutex_unlock(&host->cfg_lock);
	pci_intx_set(dev, st->intx_level);
	pci_bus_master_sync(dev);
}

bool pci_device_load(struct pci_device *dev, struct state_reader *r,
		     GError **err)
{
	struct pci_dev_state st = {0};
	bool ok;

	if (!dev->realized) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "%s: loading PCI state into a device not realized",
			    dev->name);
		return false;
	}
	ok = pci_state_read(r, dev, &st, err);
	if (ok)
		pci_state_apply(dev, &st);
	pci_dev_state_clear(&st);
	return ok;
}

void pci_host_save(struct pci_host *host, struct state_writer *w)
{
	uint32_t latch;

	pthread_mutex_lock(&host->cfg_lock);
	latch = host->conf1_addr;
	pthread_mutex_unlock(&host->cfg_lock);
	state_section_begin(w, PCI_HOST_STATE_VERSION, "pci-host");
	state_put_u32(w, latch);
	state_section_end(w);
	pci_device_save(host->bridge, w);
}

bool pci_host_load(struct pci_host *host, struct state_reader *r, GError **err)
{
	uint32_t latch = 0;

	if (state_section_open(r, PCI_HOST_STATE_VERSION,
			       PCI_HOST_STATE_VERSION, NULL, "pci-host") &&
	    state_get_u32(r, &latch))
		state_check(r, !(latch & ~PCI_CONF1_ADDR_MASK),
			    "0xcf8 latch 0x%08x has bits set that the latch "
			    "does not keep",
			    latch);
	if (!state_section_close(r, err))
		return false;
	/* The latch goes in only once the bridge, checked first, went in too.
	 */
	if (!pci_device_load(host->bridge, r, err))
		return false;
	pthread_mutex_lock(&host->cfg_lock);
	host->conf1_addr = latch;
	pthread_mutex_unlock(&host->cfg_lock);
	return true;
}
