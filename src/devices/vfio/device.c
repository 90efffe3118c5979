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
 *    MSI and any other capability are hidden;
 *  - MSI-X: the core's emulated table in a BAR the host function does not
 *    use (the host's own table is never touched by the guest), its vector
 *    eventfds handed to VFIO (irq.c);
 *  - BAR contents: mmap'able areas become KVM memory slots at the BAR's
 *    address (moved with it); the rest is trapped and forwarded with
 *    pread/pwrite on the device fd.
 */
#include <errno.h>
#include <string.h>

#include "tern/device.h"
#include "tern/error.h"
#include "tern/le.h"
#include "vfio_internal.h"

#define PCI_CAP_ID_PM 0x01
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_PM_SIZE 8
#define PCI_CAP_EXP_SIZE 0x3c
/* Guards the walk of a host capability list against a loop. */
#define PCI_CAP_MAX_WALK 48

static void dev_err(struct vfio_device *v, GError **err, const char *fmt,
		    ...) G_GNUC_PRINTF(3, 4);

static void dev_err(struct vfio_device *v, GError **err, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "--device %s: %s",
		    v->cfg->spec, msg);
}

int vfio_config_pwrite(struct vfio_device *v, unsigned int off,
		       const void *data, unsigned int len)
{
	ssize_t n = v->host->pwrite(v->ctx, v->device, data, len,
				    v->cfg_region_off + off);

	if (n < 0)
		return (int)n;
	return n == (ssize_t)len ? 0 : -EIO;
}

static int vfio_config_pread(struct vfio_device *v, unsigned int off,
			     void *data, unsigned int len)
{
	ssize_t n = v->host->pread(v->ctx, v->device, data, len,
				   v->cfg_region_off + off);

	if (n < 0)
		return (int)n;
	return n == (ssize_t)len ? 0 : -EIO;
}

/*
 * VFIO_DEVICE_GET_REGION_INFO, asked again with room for the capability
 * chain when the kernel says there is one. The caller frees *out.
 */
static int vfio_region_info(struct vfio_device *v, unsigned int index,
			    struct vfio_region_info **out)
{
	struct vfio_region_info *info = g_malloc0(sizeof(*info));
	int ret;

	info->argsz = sizeof(*info);
	info->index = index;
	ret = v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_REGION_INFO, info);
	if (!ret && info->argsz > sizeof(*info) && info->argsz <= 64 * KiB) {
		uint32_t argsz = info->argsz;

		info = g_realloc(info, argsz);
		memset(info, 0, argsz);
		info->argsz = argsz;
		info->index = index;
		ret = v->host->ioctl(v->ctx, v->device,
				     VFIO_DEVICE_GET_REGION_INFO, info);
	}
	if (ret < 0) {
		g_free(info);
		return ret;
	}
	*out = info;
	return 0;
}

/* The sparse mmap areas of a region, if it has that capability. */
static void vfio_bar_sparse(struct vfio_bar *b,
			    const struct vfio_region_info *info)
{
	uint32_t argsz = MIN(info->argsz, 64 * KiB);
	uint32_t off = info->cap_offset;
	unsigned int hops = 0;

	b->nr_areas = 0;
	while ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && off &&
	       off >= sizeof(*info) && hops++ < 16 &&
	       off + sizeof(struct vfio_info_cap_header) <= argsz) {
		const struct vfio_info_cap_header *h =
			(const void *)((const uint8_t *)info + off);

		if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP &&
		    off + sizeof(struct vfio_region_info_cap_sparse_mmap) <= argsz) {
			const struct vfio_region_info_cap_sparse_mmap *s =
				(const void *)h;
			uint64_t room = (argsz - off - sizeof(*s)) /
					sizeof(s->areas[0]);

			for (uint32_t i = 0; i < s->nr_areas && i < room &&
					     b->nr_areas < VFIO_BAR_MAX_AREAS;
			     i++)
				b->areas[b->nr_areas++] = (struct vfio_area){
					.off = s->areas[i].offset,
					.size = s->areas[i].size,
				};
			return;
		}
		off = h->next;
	}
	/* No sparse capability: the whole region, if mmap is allowed at all. */
	b->areas[0] = (struct vfio_area){ .off = 0, .size = b->region_size };
	b->nr_areas = 1;
}

/* Keep only areas KVM can map: whole pages inside the region. */
static void vfio_bar_check_areas(struct vfio_bar *b)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < b->nr_areas; i++) {
		struct vfio_area a = b->areas[i];

		if (!a.size || (a.off | a.size) & (GUEST_PAGE_SIZE - 1) ||
		    a.off + a.size < a.off || a.off + a.size > b->region_size)
			continue;
		b->areas[n++] = a;
	}
	b->nr_areas = n;
}

static bool vfio_bar_hidden(const struct vfio_bar *b, uint64_t off,
			    unsigned int len)
{
	for (unsigned int i = 0; i < 2; i++)
		if (off < b->hide_end[i] && b->hide_start[i] < off + len)
			return true;
	return false;
}

/* Trapped BAR access (a vCPU thread): forwarded to the region. */
static void vfio_bar_read(void *opaque, uint64_t off, void *data,
			  unsigned int len)
{
	struct vfio_bar *b = opaque;
	struct vfio_device *v = b->v;
	ssize_t n;

	memset(data, 0xff, len);
	if (off + len > b->region_size || vfio_bar_hidden(b, off, len) ||
	    !(b->region_flags & VFIO_REGION_INFO_FLAG_READ))
		return;
	n = v->host->pread(v->ctx, v->device, data, len, b->region_off + off);
	if (n != (ssize_t)len)
		tern_debug("vfio %s: BAR%u read at 0x%" PRIx64 ": %s",
			   v->cfg->addr, b->index, off,
			   n < 0 ? g_strerror((int)-n) : "short");
}

static void vfio_bar_write(void *opaque, uint64_t off, const void *data,
			   unsigned int len)
{
	struct vfio_bar *b = opaque;
	struct vfio_device *v = b->v;
	ssize_t n;

	if (off + len > b->region_size || vfio_bar_hidden(b, off, len) ||
	    !(b->region_flags & VFIO_REGION_INFO_FLAG_WRITE))
		return;
	n = v->host->pwrite(v->ctx, v->device, data, len, b->region_off + off);
	if (n != (ssize_t)len)
		tern_debug("vfio %s: BAR%u write at 0x%" PRIx64 ": %s",
			   v->cfg->addr, b->index, off,
			   n < 0 ? g_strerror((int)-n) : "short");
}

static const struct bus_ops vfio_bar_ops = {
	.read = vfio_bar_read,
	.write = vfio_bar_write,
};

/* The BAR decodes at addr now, or stopped (cfg_lock held). */
static void vfio_bar_mapped(struct pci_device *dev, unsigned int bar,
			    uint64_t addr, bool mapped)
{
	struct vfio_device *v = pci_device_opaque(dev);
	struct vfio_bar *b = &v->bars[bar];
	const struct machine *m = v->m;

	if (!m->ops->set_memory_slot)
		return;
	for (unsigned int i = 0; i < b->nr_areas; i++) {
		struct vfio_area *a = &b->areas[i];
		uint32_t slot = VFIO_KVM_SLOT(pci_device_slot(dev), bar, i);
		int ret;

		if (!a->hva || a->in_kvm == mapped)
			continue;
		ret = m->ops->set_memory_slot(m->opaque, slot, addr + a->off,
					      mapped ? a->size : 0, a->hva);
		if (ret) {
			/* The trapped path still serves it, only slower. */
			tern_warn("vfio %s: BAR%u area at 0x%" PRIx64
				  ": cannot %s a KVM slot: %s",
				  v->cfg->addr, bar, a->off,
				  mapped ? "add" : "remove", g_strerror(-ret));
			continue;
		}
		a->in_kvm = mapped;
	}
}

/* Guest bytes [off, off+len) of config space that pass through. */
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
			if (vfio_config_pread(v, cap->host_off + (o - cap->guest_off),
					      &out[i], 1))
				out[i] = 0xff;
		}
	}
}

static void vfio_config_write(struct pci_device *dev, unsigned int off,
			      const void *data, unsigned int len)
{
	struct vfio_device *v = pci_device_opaque(dev);
	const uint8_t *in = data;

	if (off < PCI_COMMAND + 2 && PCI_COMMAND < off + len) {
		/* Decoding, bus mastering and INTx disable act on the hardware. */
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
			if (vfio_config_pwrite(v, cap->host_off + (o - cap->guest_off),
					       &in[i], 1))
				tern_debug("vfio %s: config write at 0x%x failed",
					   v->cfg->addr, o);
		}
	}
	if (v->msix_nvec && off < v->msix_guest_cap + PCI_MSIX_FLAGS + 2U &&
	    v->msix_guest_cap + PCI_MSIX_FLAGS + 0U < off + len)
		vfio_msix_update(v);
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
	default: /* MSI, MSI-X (emulated) and what we do not know */
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
	for (off = cfg[PCI_CAPABILITY_LIST] & ~3U; off; off = cfg[off + 1] & ~3U) {
		unsigned int len;

		if (off < PCI_CAP_START || off > PCI_CFG_SIZE - 4 ||
		    hops++ > PCI_CAP_MAX_WALK) {
			dev_err(v, err,
				"the host's capability list is malformed (offset 0x%x)",
				off);
			return false;
		}
		if (cfg[off] == PCI_CAP_ID_MSIX) {
			if (off + PCI_MSIX_CAP_SIZE > PCI_CFG_SIZE) {
				dev_err(v, err, "MSI-X capability past config space");
				return false;
			}
			v->msix_host_cap = off;
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
		v->caps[v->nr_caps++] = (struct vfio_cap){ .host_off = off,
							   .len = len };
	}
	return true;
}

/* Read the regions: config space and the six BARs. */
static bool vfio_regions_read(struct vfio_device *v, GError **err)
{
	g_autofree struct vfio_region_info *cfg = NULL;
	int ret;

	ret = vfio_region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (ret) {
		dev_err(v, err, "config region info: %s", g_strerror(-ret));
		return false;
	}
	if (cfg->size < PCI_CFG_SIZE) {
		dev_err(v, err,
			"config region too small: %llu bytes, expected at least %u",
			(unsigned long long)cfg->size, PCI_CFG_SIZE);
		return false;
	}
	v->cfg_region_off = cfg->offset;
	ret = vfio_config_pread(v, 0, v->host_cfg, PCI_CFG_SIZE);
	if (ret) {
		dev_err(v, err, "reading config space: %s", g_strerror(-ret));
		return false;
	}
	if ((v->host_cfg[PCI_HEADER_TYPE] & 0x7f) != 0) {
		dev_err(v, err, "header type %u: only endpoints (type 0) pass through",
			v->host_cfg[PCI_HEADER_TYPE] & 0x7f);
		return false;
	}
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		g_autofree struct vfio_region_info *info = NULL;
		struct vfio_bar *b = &v->bars[i];
		uint32_t reg = le_get(v->host_cfg + PCI_BASE_ADDRESS_0 + 4 * i, 4);

		b->v = v;
		b->index = i;
		ret = vfio_region_info(v, VFIO_PCI_BAR0_REGION_INDEX + i, &info);
		if (ret) {
			dev_err(v, err, "BAR%u region info: %s", i, g_strerror(-ret));
			return false;
		}
		if (!info->size)
			continue;
		b->region_size = info->size;
		b->region_off = info->offset;
		b->region_flags = info->flags;
		b->io = reg & PCI_BAR_SPACE_IO;
		b->guest_size = 1ULL << g_bit_storage(info->size - 1);
		if (!b->io)
			b->guest_size = MAX(b->guest_size, (uint64_t)4 * KiB);
		else
			b->guest_size = MAX(b->guest_size, (uint64_t)4);
		if (info->flags & VFIO_REGION_INFO_FLAG_MMAP && !b->io) {
			vfio_bar_sparse(b, info);
			vfio_bar_check_areas(b);
		}
		/* A 64-bit BAR's upper half is no region of its own. */
		if (!b->io && (reg & 0x6) == PCI_BAR_MEM_TYPE_64)
			i++;
	}
	return true;
}

/* Find the host's MSI-X table and PBA and check they fit their BARs. */
static bool vfio_msix_scan(struct vfio_device *v, GError **err)
{
	struct vfio_irq_info irq = { .argsz = sizeof(irq),
				     .index = VFIO_PCI_MSIX_IRQ_INDEX };
	const uint8_t *cap = v->host_cfg + v->msix_host_cap;
	unsigned int nvec = (le_get(cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
	uint32_t table = le_get(cap + PCI_MSIX_TABLE, 4);
	uint32_t pba = le_get(cap + PCI_MSIX_PBA, 4);
	struct {
		unsigned int bir;
		uint64_t off, size;
	} parts[2] = {
		{ table & 7, table & ~7U, (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE },
		{ pba & 7, pba & ~7U, ALIGN_UP(nvec, 64U) / 8 },
	};
	int ret;

	v->msix_bar = -1;
	if (!v->msix_host_cap)
		return true;
	ret = v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_IRQ_INFO, &irq);
	if (ret < 0 || irq.count == 0) {
		dev_err(v, err,
			"the function has an MSI-X capability but VFIO offers %s MSI-X interrupts",
			ret < 0 ? "no" : "0");
		return false;
	}
	for (unsigned int p = 0; p < 2; p++) {
		struct vfio_bar *b;

		if (parts[p].bir >= PCI_NUM_BARS ||
		    !v->bars[parts[p].bir].region_size) {
			dev_err(v, err, "MSI-X %s in BAR%u, which does not exist",
				p ? "PBA" : "table", parts[p].bir);
			return false;
		}
		b = &v->bars[parts[p].bir];
		if (parts[p].off + parts[p].size > b->region_size) {
			dev_err(v, err,
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

static void vfio_bar_mmap(struct vfio_device *v, struct vfio_bar *b)
{
	/* The host's MSI-X table must stay out of the guest's reach. */
	if ((int)b->index == v->msix_bar && b->nr_areas == 1 &&
	    b->areas[0].size == b->region_size)
		b->nr_areas = 0;
	for (unsigned int i = 0; i < b->nr_areas; i++) {
		struct vfio_area *a = &b->areas[i];

		a->hva = v->host->mmap(v->ctx, v->device, a->size,
				       b->region_off + a->off);
		if (!a->hva)
			tern_debug("vfio %s: BAR%u area at 0x%" PRIx64
				   " stays trapped: mmap failed",
				   v->cfg->addr, b->index, a->off);
	}
}

/* Build tern's PCI function from what the host said. */
static bool vfio_pci_build(struct vfio_device *v, GError **err)
{
	const uint8_t *hc = v->host_cfg;
	struct vfio_irq_info intx = { .argsz = sizeof(intx),
				      .index = VFIO_PCI_INTX_IRQ_INDEX };
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
	    v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_IRQ_INFO, &intx) >= 0 &&
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
			/* Not the upper half of the BAR below: free for MSI-X. */
			if (free_bar < 0 &&
			    !(i > 0 && v->bars[i - 1].region_size &&
			      !v->bars[i - 1].io &&
			      (le_get(hc + PCI_BASE_ADDRESS_0 + 4 * (i - 1), 4) &
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
			dev_err(v, err, "BAR%u (%" PRIu64 " bytes%s): %s", i,
				b->region_size, b->io ? ", I/O" : "",
				ret == -EINVAL ? "a size or type tern cannot offer" :
						 g_strerror(-ret));
			return false;
		}
		vfio_bar_mmap(v, b);
	}
	for (unsigned int c = 0; c < v->nr_caps; c++) {
		struct vfio_cap *cap = &v->caps[c];

		ret = pci_device_add_capability(v->pci, hc + cap->host_off,
						cap->len);
		if (ret < 0) {
			dev_err(v, err, "no room for capability 0x%02x",
				hc[cap->host_off]);
			return false;
		}
		cap->guest_off = (uint8_t)ret;
	}
	if (v->msix_nvec) {
		if (free_bar < 0) {
			dev_err(v, err,
				"every BAR is in use: no room for the emulated MSI-X table");
			return false;
		}
		ret = pci_msix_init(v->pci, (unsigned int)free_bar, v->msix_nvec);
		if (ret) {
			dev_err(v, err, "MSI-X with %u vectors: %s", v->msix_nvec,
				g_strerror(-ret));
			return false;
		}
		for (unsigned int off = pci_config_get(v->pci, PCI_CAPABILITY_LIST, 1);
		     off; off = pci_config_get(v->pci, off + 1, 1))
			if (pci_config_get(v->pci, off, 1) == PCI_CAP_ID_MSIX)
				v->msix_guest_cap = (uint8_t)off;
	}
	ret = pci_device_realize(v->pci);
	if (ret) {
		dev_err(v, err, "placing its BARs: %s", g_strerror(-ret));
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
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int ret;

	v->m = m;
	v->cfg = cfg;
	v->host = host;
	v->ctx = host_ctx;
	v->container = v->group = v->iommufd = v->device = -1;
	v->intx_fd = v->intx_resample_fd = -1;
	if (!m->pci) {
		dev_err(v, err, "the machine has no PCI host");
		goto err;
	}
	if (!vfio_iommu_open(v, err))
		goto err;
	ret = host->ioctl(host_ctx, v->device, VFIO_DEVICE_GET_INFO, &info);
	if (ret < 0) {
		dev_err(v, err, "VFIO_DEVICE_GET_INFO: %s", g_strerror(-ret));
		goto err;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions < VFIO_PCI_CONFIG_REGION_INDEX + 1 ||
	    info.num_irqs < VFIO_PCI_MSIX_IRQ_INDEX + 1) {
		dev_err(v, err,
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
			tern_warn("vfio %s: INTx not available (%s): the guest gets MSI-X only",
				  cfg->addr,
				  ret == -ENOTSUP ? "no resampling irqfd" :
						    g_strerror(-ret));
			v->intx = false;
			vfio_irqs_off(v);
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
		vfio_irqs_off(v);
	/* Unplugging unmaps the BARs, which drops the KVM slots. */
	pci_device_destroy(v->pci);
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		for (unsigned int a = 0; a < v->bars[i].nr_areas; a++)
			if (v->bars[i].areas[a].hva)
				v->host->munmap(v->ctx, v->bars[i].areas[a].hva,
						v->bars[i].areas[a].size);
	vfio_iommu_close(v);
	g_free(v);
}

void vfio_device_reset(struct vfio_device *v)
{
	int ret;

	vfio_irqs_off(v);
	if (v->dev_flags & VFIO_DEVICE_FLAGS_RESET) {
		ret = v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_RESET, NULL);
		if (ret < 0)
			tern_warn("vfio %s: VFIO_DEVICE_RESET: %s", v->cfg->addr,
				  g_strerror(-ret));
	} else {
		tern_warn("vfio %s: the function has no reset VFIO can do; it keeps its state across the guest's reset",
			  v->cfg->addr);
	}
	if (v->intx) {
		ret = vfio_intx_enable(v);
		if (ret)
			tern_warn("vfio %s: re-arming INTx after reset: %s",
				  v->cfg->addr, g_strerror(-ret));
	}
}

const char *vfio_device_host_addr(const struct vfio_device *v)
{
	return v->cfg->addr;
}

unsigned int vfio_device_slot(const struct vfio_device *v)
{
	return pci_device_slot(v->pci);
}
