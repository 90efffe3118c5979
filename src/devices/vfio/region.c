// SPDX-License-Identifier: MIT
/*
 * The host function's regions: its config space (read at creation,
 * written through for the command register and passed-through
 * capabilities) and its BARs, whose contents the guest reaches either
 * through a KVM memory slot over an mmap of the region (where VFIO allows
 * mmap: whole pages, the sparse-mmap areas it lists) or trapped on the
 * MMIO/PIO bus and forwarded with pread/pwrite. The host's MSI-X table and
 * PBA are never forwarded: the guest uses tern's emulated table.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "tern/error.h"
#include "tern/le.h"
#include "vfio_internal.h"

void vfio_error(struct vfio_device *v, GError **err, const char *fmt, ...)
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

int vfio_config_pread(struct vfio_device *v, unsigned int off, void *data,
		      unsigned int len)
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
	ret = v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_REGION_INFO,
			     info);
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
		    off + sizeof(struct vfio_region_info_cap_sparse_mmap) <=
			argsz) {
			const struct vfio_region_info_cap_sparse_mmap *s =
			    (const void *)h;
			uint64_t room =
			    (argsz - off - sizeof(*s)) / sizeof(s->areas[0]);

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
	b->areas[0] = (struct vfio_area){.off = 0, .size = b->region_size};
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

const struct bus_ops vfio_bar_ops = {
    .read = vfio_bar_read,
    .write = vfio_bar_write,
};

/* The BAR decodes at addr now, or stopped (cfg_lock held). */
void vfio_bar_mapped(struct pci_device *dev, unsigned int bar, uint64_t addr,
		     bool mapped)
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

/* Read the regions: config space and the six BARs. */
bool vfio_regions_read(struct vfio_device *v, GError **err)
{
	g_autofree struct vfio_region_info *cfg = NULL;
	int ret;

	ret = vfio_region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (ret) {
		vfio_error(v, err, "config region info: %s", g_strerror(-ret));
		return false;
	}
	if (cfg->size < PCI_CFG_SIZE) {
		vfio_error(
		    v, err,
		    "config region too small: %llu bytes, expected at least %u",
		    (unsigned long long)cfg->size, PCI_CFG_SIZE);
		return false;
	}
	v->cfg_region_off = cfg->offset;
	ret = vfio_config_pread(v, 0, v->host_cfg, PCI_CFG_SIZE);
	if (ret) {
		vfio_error(v, err, "reading config space: %s",
			   g_strerror(-ret));
		return false;
	}
	if ((v->host_cfg[PCI_HEADER_TYPE] & 0x7f) != 0) {
		vfio_error(
		    v, err,
		    "header type %u: only endpoints (type 0) pass through",
		    v->host_cfg[PCI_HEADER_TYPE] & 0x7f);
		return false;
	}
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		g_autofree struct vfio_region_info *info = NULL;
		struct vfio_bar *b = &v->bars[i];
		uint32_t reg =
		    le_get(v->host_cfg + PCI_BASE_ADDRESS_0 + 4 * i, 4);

		b->v = v;
		b->index = i;
		ret =
		    vfio_region_info(v, VFIO_PCI_BAR0_REGION_INDEX + i, &info);
		if (ret) {
			vfio_error(v, err, "BAR%u region info: %s", i,
				   g_strerror(-ret));
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

void vfio_bar_mmap(struct vfio_device *v, struct vfio_bar *b)
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
