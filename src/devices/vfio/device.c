// SPDX-License-Identifier: MIT
/*
 * The passed-through function as the guest sees it. tern builds a PCI
 * function of its own (the core's config space, BAR placement and MSI-X)
 * from what the host function reports, and forwards what must reach the
 * hardware:
 *  - header: ids, class and interrupt pin copied from the host; BARs with
 *    the host's sizes and types, placed and moved by the guest in the
 *    virtual config space; the command register's bits are also written
 *    to the host; no expansion ROM (the ROM BAR reads 0);
 *  - capabilities: power management, PCI Express and vendor-specific ones
 *    are kept (at new offsets) and read and written through to the host;
 *    MSI is emulated (msi.c); any other capability is hidden;
 *  - MSI-X: the core's emulated table in a BAR the host function does not
 *    use (the host's own table is never touched by the guest), its vector
 *    eventfds handed to VFIO (irq.c);
 *  - BAR contents (region.c): mmap'able areas become KVM memory slots at
 *    the BAR's address (moved with it); the rest is trapped and forwarded
 *    with pread/pwrite on the device fd.
 */
#include <errno.h>
#include <string.h>

#include "tern/device.h"
#include "tern/error.h"
#include "tern/le.h"
#include "vfio_internal.h"

#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_PM_SIZE 8
#define PCI_CAP_EXP_SIZE 0x3c
/* Guards the walk of a host capability list against a loop. */
#define PCI_CAP_MAX_WALK 48

/* Guest bytes [off, off+len) of passed-through capabilities: the host's. */
static void vfio_config_read(struct pci_device *dev, unsigned int off,
			     void *data, unsigned int len)
{
	struct vfio_device *v = pci_device_opaque(dev);
	uint8_t *out = data;

	for (unsigned int i = 0; i < len; i++) {
		unsigned int o = off + i;

		for (unsigned int c = 0; c < v->nr_caps; c++) {
			const struct vfio_cap *cap = &v->caps[c];

			/* The id and next bytes are ours. */
			if (o < cap->guest_off + 2U ||
			    o >= (unsigned int)cap->guest_off + cap->len)
				continue;
			if (vfio_config_pread(
				v, cap->host_off + (o - cap->guest_off),
				&out[i], 1))
				out[i] = 0xff;
		}
	}
	vfio_msi_config_read(v, off, out, len);
}

static void vfio_config_write(struct pci_device *dev, unsigned int off,
			      const void *data, unsigned int len)
{
	struct vfio_device *v = pci_device_opaque(dev);
	const uint8_t *in = data;

	if (off < PCI_COMMAND + 2 && PCI_COMMAND < off + len) {
		/* Decoding, bus mastering and INTx disable act on the hardware.
		 */
		uint16_t cmd = pci_config_get(dev, PCI_COMMAND, 2);
		int ret = vfio_config_pwrite(v, PCI_COMMAND, &cmd, 2);

		if (ret)
			tern_warn("vfio %s: writing the command register: %s",
				  v->cfg->addr, g_strerror(-ret));
	}
	for (unsigned int i = 0; i < len; i++) {
		unsigned int o = off + i;

		for (unsigned int c = 0; c < v->nr_caps; c++) {
			const struct vfio_cap *cap = &v->caps[c];

			if (o < cap->guest_off + 2U ||
			    o >= (unsigned int)cap->guest_off + cap->len)
				continue;
			if (vfio_config_pwrite(
				v, cap->host_off + (o - cap->guest_off), &in[i],
				1))
				tern_debug(
				    "vfio %s: config write at 0x%x failed",
				    v->cfg->addr, o);
		}
	}
	if (v->msix_nvec && off < v->msix_guest_cap + PCI_MSIX_FLAGS + 2U &&
	    v->msix_guest_cap + PCI_MSIX_FLAGS + 0U < off + len)
		vfio_msix_update(v);
	vfio_msi_config_write(v, off, len);
}

static void vfio_pci_reset(struct pci_device *dev)
{
	vfio_device_reset(pci_device_opaque(dev));
}

static const struct pci_device_ops vfio_pci_ops = {
    .bar_mapped = vfio_bar_mapped,
    .config_read = vfio_config_read,
    .config_write = vfio_config_write,
    .reset = vfio_pci_reset,
};

/* The length of a capability we pass through, 0 for one we hide. */
static unsigned int vfio_cap_len(const uint8_t *cfg, unsigned int off)
{
	switch (cfg[off]) {
	case PCI_CAP_ID_PM:
		return PCI_CAP_PM_SIZE;
	case PCI_CAP_ID_EXP:
		return PCI_CAP_EXP_SIZE;
	case PCI_CAP_ID_VNDR:
		return cfg[off + 2] >= 3 ? cfg[off + 2] : 0;
	default: /* what we do not know */
		return 0;
	}
}

/* Walk the host's capabilities: note MSI-X, keep what passes through. */
static bool vfio_caps_scan(struct vfio_device *v, GError **err)
{
	const uint8_t *cfg = v->host_cfg;
	unsigned int off, hops = 0;

	if (!(le_get(cfg + PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return true;
	for (off = cfg[PCI_CAPABILITY_LIST] & ~3U; off;
	     off = cfg[off + 1] & ~3U) {
		unsigned int len;

		if (off < PCI_CAP_START || off > PCI_CFG_SIZE - 4 ||
		    hops++ > PCI_CAP_MAX_WALK) {
			vfio_error(v, err,
				   "the host's capability list is malformed "
				   "(offset 0x%x)",
				   off);
			return false;
		}
		if (cfg[off] == PCI_CAP_ID_MSIX) {
			if (off + PCI_MSIX_CAP_SIZE > PCI_CFG_SIZE) {
				vfio_error(
				    v, err,
				    "MSI-X capability past config space");
				return false;
			}
			v->msix_host_cap = off;
			continue;
		}
		if (cfg[off] == PCI_CAP_ID_MSI) {
			if (v->msi_host_cap) {
				vfio_error(v, err, "two MSI capabilities");
				return false;
			}
			if (!vfio_msi_scan(v, off, err))
				return false;
			continue;
		}
		len = vfio_cap_len(cfg, off);
		if (!len || off + len > PCI_CFG_SIZE) {
			tern_debug("vfio %s: hiding capability 0x%02x at 0x%x",
				   v->cfg->addr, cfg[off], off);
			continue;
		}
		if (v->nr_caps == VFIO_MAX_CAPS)
			continue;
		v->caps[v->nr_caps++] =
		    (struct vfio_cap){.host_off = off, .len = len};
	}
	return true;
}

/* Find the host's MSI-X table and PBA and check they fit their BARs. */
static bool vfio_msix_scan(struct vfio_device *v, GError **err)
{
	struct vfio_irq_info irq = {.argsz = sizeof(irq),
				    .index = VFIO_PCI_MSIX_IRQ_INDEX};
	const uint8_t *cap = v->host_cfg + v->msix_host_cap;
	unsigned int nvec =
	    (le_get(cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
	uint32_t table = le_get(cap + PCI_MSIX_TABLE, 4);
	uint32_t pba = le_get(cap + PCI_MSIX_PBA, 4);
	struct {
		unsigned int bir;
		uint64_t off, size;
	} parts[2] = {
	    {table & 7, table & ~7U, (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE},
	    {pba & 7, pba & ~7U, ALIGN_UP(nvec, 64U) / 8},
	};
	int ret;

	v->msix_bar = -1;
	if (!v->msix_host_cap)
		return true;
	ret = v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_IRQ_INFO, &irq);
	if (ret < 0 || irq.count == 0) {
		vfio_error(v, err,
			   "the function has an MSI-X capability but VFIO "
			   "offers %s MSI-X interrupts",
			   ret < 0 ? "no" : "0");
		return false;
	}
	for (unsigned int p = 0; p < 2; p++) {
		struct vfio_bar *b;

		if (parts[p].bir >= PCI_NUM_BARS ||
		    !v->bars[parts[p].bir].region_size) {
			vfio_error(v, err,
				   "MSI-X %s in BAR%u, which does not exist",
				   p ? "PBA" : "table", parts[p].bir);
			return false;
		}
		b = &v->bars[parts[p].bir];
		if (parts[p].off + parts[p].size > b->region_size) {
			vfio_error(v, err,
				   "BAR%u region too small (%" PRIu64
				   " bytes) for the MSI-X %s at 0x%" PRIx64,
				   parts[p].bir, b->region_size,
				   p ? "PBA" : "table", parts[p].off);
			return false;
		}
		b->hide_start[p] = parts[p].off;
		b->hide_end[p] = parts[p].off + parts[p].size;
	}
	v->msix_nvec = MIN(nvec, irq.count);
	v->msix_bar = (int)parts[0].bir;
	return true;
}

/* Build tern's PCI function from what the host said. */
static bool vfio_pci_build(struct vfio_device *v, GError **err)
{
	const uint8_t *hc = v->host_cfg;
	struct vfio_irq_info intx = {.argsz = sizeof(intx),
				     .index = VFIO_PCI_INTX_IRQ_INDEX};
	struct pci_device_info info = {
	    .name = v->cfg->spec,
	    .vendor_id = le_get(hc + PCI_VENDOR_ID, 2),
	    .device_id = le_get(hc + PCI_DEVICE_ID, 2),
	    .subsystem_vendor_id = le_get(hc + PCI_SUBSYSTEM_VENDOR_ID, 2),
	    .subsystem_id = le_get(hc + PCI_SUBSYSTEM_ID, 2),
	    .revision = hc[PCI_REVISION_ID],
	    .class_code = le_get(hc + PCI_CLASS_PROG, 3),
	};
	int free_bar = -1, ret;

	if (hc[PCI_INTERRUPT_PIN] &&
	    v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_IRQ_INFO,
			   &intx) >= 0 &&
	    intx.count == 1 && (intx.flags & VFIO_IRQ_INFO_EVENTFD))
		v->intx = true;
	info.intx = v->intx;
	v->pci = pci_device_create(v->m->pci, &info, 0, &vfio_pci_ops, v, err);
	if (!v->pci)
		return false;
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *b = &v->bars[i];
		uint32_t reg = le_get(hc + PCI_BASE_ADDRESS_0 + 4 * i, 4);
		unsigned int flags = 0;

		if (!b->region_size) {
			/* Not the upper half of the BAR below: free for MSI-X.
			 */
			if (free_bar < 0 &&
			    !(i > 0 && v->bars[i - 1].region_size &&
			      !v->bars[i - 1].io &&
			      (le_get(hc + PCI_BASE_ADDRESS_0 + 4 * (i - 1),
				      4) &
			       0x6) == PCI_BAR_MEM_TYPE_64))
				free_bar = (int)i;
			continue;
		}
		if (b->io)
			flags = PCI_BAR_IO;
		else if ((reg & 0x6) == PCI_BAR_MEM_TYPE_64)
			flags = PCI_BAR_64;
		if (!b->io && (reg & PCI_BAR_MEM_PREFETCH))
			flags |= PCI_BAR_PREFETCH;
		ret = pci_device_add_bar(v->pci, i, b->guest_size, flags,
					 &vfio_bar_ops, b);
		if (ret) {
			vfio_error(v, err, "BAR%u (%" PRIu64 " bytes%s): %s", i,
				   b->region_size, b->io ? ", I/O" : "",
				   ret == -EINVAL
				       ? "a size or type tern cannot offer"
				       : g_strerror(-ret));
			return false;
		}
		vfio_bar_mmap(v, b);
	}
	for (unsigned int c = 0; c < v->nr_caps; c++) {
		struct vfio_cap *cap = &v->caps[c];

		ret = pci_device_add_capability(v->pci, hc + cap->host_off,
						cap->len);
		if (ret < 0) {
			vfio_error(v, err, "no room for capability 0x%02x",
				   hc[cap->host_off]);
			return false;
		}
		cap->guest_off = (uint8_t)ret;
	}
	if (v->msix_nvec) {
		if (free_bar < 0) {
			vfio_error(v, err,
				   "every BAR is in use: no room for the "
				   "emulated MSI-X table");
			return false;
		}
		ret =
		    pci_msix_init(v->pci, (unsigned int)free_bar, v->msix_nvec);
		if (ret) {
			vfio_error(v, err, "MSI-X with %u vectors: %s",
				   v->msix_nvec, g_strerror(-ret));
			return false;
		}
		for (unsigned int off =
			 pci_config_get(v->pci, PCI_CAPABILITY_LIST, 1);
		     off; off = pci_config_get(v->pci, off + 1, 1))
			if (pci_config_get(v->pci, off, 1) == PCI_CAP_ID_MSIX)
				v->msix_guest_cap = (uint8_t)off;
	}
	if (v->msi_nvec && !vfio_msi_build(v, err))
		return false;
	ret = pci_device_realize(v->pci);
	if (ret) {
		vfio_error(v, err, "placing its BARs: %s", g_strerror(-ret));
		return false;
	}
	/*
	 * tern leaves decoding on, as firmware would: so must the hardware,
	 * or a guest that does not enumerate reads all ones.
	 */
	v->cmd_start = pci_config_get(v->pci, PCI_COMMAND, 2);
	ret = vfio_config_pwrite(v, PCI_COMMAND, &v->cmd_start, 2);
	if (ret) {
		vfio_error(v, err, "writing the command register: %s",
			   g_strerror(-ret));
		return false;
	}
	return true;
}

struct vfio_device *vfio_device_create(struct machine *m,
				       const struct vfio_config *cfg,
				       const struct vfio_host_ops *host,
				       void *host_ctx, GError **err)
{
	struct vfio_device *v = g_new0(struct vfio_device, 1);
	struct vfio_device_info info = {.argsz = sizeof(info)};
	int ret;

	v->m = m;
	v->cfg = cfg;
	v->host = host;
	v->ctx = host_ctx;
	v->container = v->group = v->iommufd = v->device = -1;
	v->intx_fd = v->intx_resample_fd = -1;
	for (unsigned int i = 0; i < VFIO_MSI_MAX_VECTORS; i++)
		v->msi_fd[i] = -1;
	if (!m->pci) {
		vfio_error(v, err, "the machine has no PCI host");
		goto err;
	}
	if (!vfio_hot_reset_init(v, err) || !vfio_iommu_open(v, err))
		goto err;
	ret = host->ioctl(host_ctx, v->device, VFIO_DEVICE_GET_INFO, &info);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_DEVICE_GET_INFO: %s",
			   g_strerror(-ret));
		goto err;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions < VFIO_PCI_CONFIG_REGION_INDEX + 1 ||
	    info.num_irqs < VFIO_PCI_MSIX_IRQ_INDEX + 1) {
		vfio_error(
		    v, err,
		    "not a vfio-pci device (flags 0x%x, %u regions, %u irqs)",
		    info.flags, info.num_regions, info.num_irqs);
		goto err;
	}
	v->dev_flags = info.flags;
	if (!vfio_regions_read(v, err) || !vfio_caps_scan(v, err) ||
	    !vfio_msix_scan(v, err))
		goto err;
	if (!vfio_dma_map_ram(v, err) || !vfio_pci_build(v, err))
		goto err;
	if (v->intx) {
		ret = vfio_intx_enable(v);
		if (ret) {
			/* MSI-X, which drivers prefer, still works. */
			tern_warn("vfio %s: INTx not available (%s): the guest "
				  "gets MSI-X only",
				  cfg->addr,
				  ret == -ENOTSUP ? "no resampling irqfd"
						  : g_strerror(-ret));
			v->intx = false;
			vfio_irqs_release(v);
		}
	}
	return v;
err:
	vfio_device_destroy(v);
	return NULL;
}

void vfio_device_destroy(struct vfio_device *v)
{
	if (!v)
		return;
	if (v->device >= 0)
		vfio_irqs_release(v);
	/* Unplugging unmaps the BARs, which drops the KVM slots. */
	pci_device_destroy(v->pci);
	vfio_msi_release(v);
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		for (unsigned int a = 0; a < v->bars[i].nr_areas; a++)
			if (v->bars[i].areas[a].hva)
				v->host->munmap(v->ctx, v->bars[i].areas[a].hva,
						v->bars[i].areas[a].size);
	vfio_iommu_close(v);
	g_free(v);
}

void vfio_device_restore(struct vfio_device *v)
{
	int ret;

	/* tern's config space goes back to cmd_start: the function too. */
	ret = vfio_config_pwrite(v, PCI_COMMAND, &v->cmd_start, 2);
	if (ret)
		tern_warn("vfio %s: writing the command register: %s",
			  v->cfg->addr, g_strerror(-ret));
	if (v->intx) {
		ret = vfio_intx_enable(v);
		if (ret)
			tern_warn("vfio %s: re-arming INTx after reset: %s",
				  v->cfg->addr, g_strerror(-ret));
	}
}

void vfio_device_reset(struct vfio_device *v)
{
	int ret;

	v->reset_round++;
	vfio_irqs_off(v);
	if (v->dev_flags & VFIO_DEVICE_FLAGS_RESET) {
		ret =
		    v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_RESET, NULL);
		if (ret < 0)
			tern_warn("vfio %s: VFIO_DEVICE_RESET: %s",
				  v->cfg->addr, g_strerror(-ret));
	} else if (v->reset_by_peer) {
		/* Another function's hot reset of this machine reset did it. */
		tern_debug("vfio %s: reset by a hot reset already",
			   v->cfg->addr);
	} else {
		/* On failure it said why: the function keeps its state. */
		(void)vfio_hot_reset(v);
	}
	v->reset_by_peer = false;
	vfio_device_restore(v);
}

const char *vfio_device_host_addr(const struct vfio_device *v)
{
	return v->cfg->addr;
}

unsigned int vfio_device_slot(const struct vfio_device *v)
{
	return pci_device_slot(v->pci);
}
