// SPDX-License-Identifier: MIT
/*
 * The VFIO/iommufd test double (test-vfio-double.h): a made-up PCI
 * function behind the uAPI, answering as vfio-pci and the type1 and
 * iommufd IOMMU back-ends do, checking the arguments tern passes as they
 * would (argsz, flags, ids), and recording the calls. Nothing here touches
 * a real device; eventfds tern hands over are real and are written when
 * the fake device "interrupts".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern/le.h"
#include "tern/vfio-uapi.h"
#include "test-vfio-double.h"

#define VD_REGION_SHIFT 40
#define VD_IOAS 7
#define VD_DEVID 1

static void vd_log(struct vfio_double *d, const char *name)
{
	size_t n = strlen(d->log);

	snprintf(d->log + n, sizeof(d->log) - n, "%s%s", n ? " " : "", name);
}

void vfio_double_init(struct vfio_double *d)
{
	uint8_t *c = d->cfg;
	void *bar2 = NULL;

	memset(d, 0, sizeof(*d));
	d->intx_fd = d->intx_unmask_fd = -1;
	for (unsigned int i = 0; i < VD_NVEC; i++)
		d->msix_fd[i] = -1;
	for (unsigned int i = 0; i < G_N_ELEMENTS(d->msi_fd); i++)
		d->msi_fd[i] = -1;
	d->msi_irq_count = VD_MSI_NVEC;
	d->hr_count = 1;
	d->hr_devs[0] = (struct vfio_pci_dependent_device){
	    .group_id = VD_GROUP, .segment = 0, .bus = 1, .devfn = 0};
	if (posix_memalign(&bar2, 4096, VD_BAR2_SIZE))
		abort();
	memset(bar2, 0, VD_BAR2_SIZE);
	d->bar2 = bar2;

	le_put(c + 0x00, VD_VENDOR, 2);
	le_put(c + 0x02, VD_DEVICE, 2);
	le_put(c + 0x06, 0x0010, 2); /* capability list */
	c[0x08] = 1; /* revision */
	le_put(c + 0x09, 0xff0000, 3);
	le_put(c + 0x10, 0x0, 4); /* BAR0: 32-bit memory */
	le_put(c + 0x14, 0x0, 4); /* BAR1: 32-bit memory */
	le_put(c + 0x18, 0xc, 4); /* BAR2: 64-bit prefetchable */
	le_put(c + 0x24, 0x1, 4); /* BAR5: I/O */
	le_put(c + 0x2c, 0x1af4, 2);
	le_put(c + 0x2e, 0x0042, 2);
	c[0x34] = 0x40;
	c[0x3d] = 1; /* INTA# */
	/* PM */
	c[0x40] = 0x01, c[0x41] = 0x48, le_put(c + 0x42, 0x0003, 2);
	/* MSI-X: 4 vectors, table BAR1 + 0, PBA BAR1 + 0x800 */
	c[0x48] = 0x11, c[0x49] = 0x54, le_put(c + 0x4a, VD_NVEC - 1, 2);
	le_put(c + 0x4c, 0x00000001, 4);
	le_put(c + 0x50, 0x00000801, 4);
	/* MSI: 64-bit, per-vector masking, 4 vectors (MMC 2), 24 bytes */
	c[VD_MSI_CAP] = 0x05, c[VD_MSI_CAP + 1] = VD_VNDR_CAP;
	le_put(c + VD_MSI_CAP + 2, 0x0180 | 2 << 1, 2);
	/* vendor-specific, 8 bytes */
	c[VD_VNDR_CAP] = 0x09, c[VD_VNDR_CAP + 1] = 0x00;
	c[VD_VNDR_CAP + 2] = 8;
	memcpy(c + VD_VNDR_CAP + 3, "TERN", 4);
}

void vfio_double_msi_only(struct vfio_double *d)
{
	d->cfg[0x41] = VD_MSI_CAP; /* PM's next skips MSI-X */
	memset(d->cfg + 0x48, 0, 12);
	d->msix_count0 = true;
}

void vfio_double_clear(struct vfio_double *d)
{
	free(d->bar2);
	d->bar2 = NULL;
}

bool vfio_double_log_has(const struct vfio_double *d, const char *seq)
{
	return strstr(d->log, seq) != NULL;
}

unsigned int vfio_double_open_fds(const struct vfio_double *d)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < G_N_ELEMENTS(d->open_fd); i++)
		n += d->open_fd[i];
	return n;
}

static void vd_signal(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/*
 * The guest's EOI reached vfio-pci through the resample fd: unmask. The
 * kernel reacts at once; the double only when tern next touches the
 * device (a read looks before it, a register write after it), which the
 * guest arranges.
 */
static void vd_intx_poll_unmask(struct vfio_double *d)
{
	uint64_t n;

	if (d->intx_unmask_fd < 0)
		return;
	/* An unmask while unmasked does nothing, as in vfio-pci. */
	if (read(d->intx_unmask_fd, &n, sizeof(n)) == sizeof(n) &&
	    d->intx_masked) {
		d->intx_masked = false;
		/* Level triggered: still asserted, it fires again. */
		if (d->intx_level && d->intx_fd >= 0) {
			d->intx_masked = true;
			d->raised++;
			vd_signal(d->intx_fd);
		}
	}
}

void vfio_double_doorbell(struct vfio_double *d, uint32_t v)
{
	if (v >= VD_DOORBELL_MSI && v - VD_DOORBELL_MSI < d->msi_count) {
		/* vfio-pci has no MSI mask: every message goes to the fd. */
		d->raised++;
		vd_signal(d->msi_fd[v - VD_DOORBELL_MSI]);
		return;
	}
	if (v < VD_NVEC) {
		if (v < d->msix_count && d->msix_fd[v] >= 0) {
			d->raised++;
			vd_signal(d->msix_fd[v]);
		}
		return;
	}
	if (v == VD_DOORBELL_INTX) {
		d->intx_level = true;
		/* vfio-pci masks INTx when it fires, until the unmask. */
		if (d->intx_fd >= 0 && !d->intx_masked && !d->msix_count &&
		    !d->msi_count) {
			d->intx_masked = true;
			d->raised++;
			vd_signal(d->intx_fd);
		}
	}
}

static void vd_dma_go(struct vfio_double *d)
{
	uint64_t iova = d->dma_lo | (uint64_t)d->dma_hi << 32;

	for (unsigned int i = 0; i < d->nr_dma; i++) {
		const struct vd_dma *m = &d->dma[i];

		if (iova >= m->iova && iova + 4 <= m->iova + m->size &&
		    m->vaddr) {
			uint32_t w = VD_DMA_WORD;

			memcpy((void *)(uintptr_t)(m->vaddr + (iova - m->iova)),
			       &w, 4);
			d->dma_err = 0;
			return;
		}
	}
	d->dma_err = 1;
}

static int vd_open(void *ctx, const char *path, int flags)
{
	struct vfio_double *d = ctx;
	g_autofree char *group =
	    g_strdup_printf("/dev/vfio/%u", d->group ? d->group : VD_GROUP);
	int fd;

	if (!strcmp(path, "/dev/vfio/vfio") && !d->no_container)
		fd = VD_FD_CONTAINER;
	else if (!strcmp(path, group))
		fd = VD_FD_GROUP;
	else if (!strcmp(path, "/dev/iommu") && d->with_iommufd)
		fd = VD_FD_IOMMUFD;
	else if (!strcmp(path, "/dev/vfio/devices/vfio0") && d->with_iommufd)
		fd = VD_FD_DEVICE, d->via_cdev = true;
	else
		return -ENOENT;
	if (d->open_fd[fd - VD_FD_CONTAINER])
		return -EBUSY; /* vfio allows one open of a group or cdev */
	d->open_fd[fd - VD_FD_CONTAINER] = true;
	return fd;
}

static void vd_close(void *ctx, int fd)
{
	struct vfio_double *d = ctx;

	if (fd < VD_FD_CONTAINER || fd >= VD_FD_END ||
	    !d->open_fd[fd - VD_FD_CONTAINER])
		abort(); /* tern closed something it never had */
	d->open_fd[fd - VD_FD_CONTAINER] = false;
	if (fd == VD_FD_DEVICE) {
		d->bound = d->attached = d->via_cdev = false;
		d->msix_count = d->msi_count = 0;
		d->intx_fd = d->intx_unmask_fd = -1;
	}
}

static void vd_region(const struct vfio_double *d, unsigned int index,
		      uint64_t *size, uint32_t *flags)
{
	const uint32_t rw =
	    VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

	*size = 0;
	*flags = 0;
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		*size = VD_BAR0_SIZE, *flags = rw;
		break;
	case VFIO_PCI_BAR1_REGION_INDEX:
		*size = d->small_msix_bar ? 0x800 : VD_BAR1_SIZE, *flags = rw;
		break;
	case VFIO_PCI_BAR2_REGION_INDEX:
		*size = VD_BAR2_SIZE;
		*flags = rw | VFIO_REGION_INFO_FLAG_MMAP |
			 VFIO_REGION_INFO_FLAG_CAPS;
		break;
	case VFIO_PCI_BAR5_REGION_INDEX:
		*size = VD_BAR5_SIZE, *flags = rw;
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		*size = d->small_config ? 64 : 256, *flags = rw;
		break;
	}
}

static int vd_region_info(struct vfio_double *d, struct vfio_region_info *info)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	size_t need = sizeof(*info);
	uint64_t size;
	uint32_t flags;

	if (info->argsz < sizeof(*info) || info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	vd_region(d, info->index, &size, &flags);
	info->size = size;
	info->flags = flags;
	info->offset = (uint64_t)info->index << VD_REGION_SHIFT;
	info->cap_offset = 0;
	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return 0;
	need += sizeof(*sp) + sizeof(sp->areas[0]);
	if (info->argsz < need) {
		/* As the kernel: say how much room, give no chain. */
		info->argsz = need;
		return 0;
	}
	info->cap_offset = sizeof(*info);
	sp = (void *)((uint8_t *)info + info->cap_offset);
	sp->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	sp->header.version = 1;
	sp->header.next = 0;
	sp->nr_areas = 1;
	sp->areas[0].offset = 0;
	sp->areas[0].size = VD_BAR2_MMAP;
	return 0;
}

static int vd_set_irqs(struct vfio_double *d, struct vfio_irq_set *s)
{
	uint32_t data = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = s->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	const int32_t *fds = (const int32_t *)s->data;

	if (s->argsz < sizeof(*s) || __builtin_popcount(data) != 1 ||
	    __builtin_popcount(action) != 1 || s->start != 0)
		return -EINVAL;
	if (data == VFIO_IRQ_SET_DATA_EVENTFD &&
	    s->argsz < sizeof(*s) + s->count * sizeof(int32_t))
		return -EINVAL;
	if (s->index == VFIO_PCI_MSIX_IRQ_INDEX) {
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return -EINVAL;
		d->msix_sets++;
		if (data == VFIO_IRQ_SET_DATA_NONE && !s->count) {
			d->msix_count = 0;
			return 0;
		}
		if (data != VFIO_IRQ_SET_DATA_EVENTFD || s->count > VD_NVEC ||
		    d->intx_fd >= 0 || d->msi_count) /* one type at a time */
			return -EINVAL;
		for (unsigned int i = 0; i < s->count; i++)
			d->msix_fd[i] = fds[i];
		d->msix_count = s->count;
		return 0;
	}
	if (s->index == VFIO_PCI_MSI_IRQ_INDEX) {
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return -EINVAL;
		d->msi_sets++;
		if (data == VFIO_IRQ_SET_DATA_NONE && !s->count) {
			d->msi_count = 0;
			return 0;
		}
		/*
		 * As vfio-pci: a new count only after "off"; one type at a
		 * time.
		 */
		if (data != VFIO_IRQ_SET_DATA_EVENTFD || !s->count ||
		    s->count > d->msi_irq_count || d->msi_count ||
		    d->msix_count || d->intx_fd >= 0 || d->msi_set_fails)
			return -EINVAL;
		for (unsigned int i = 0; i < s->count; i++)
			d->msi_fd[i] = fds[i];
		d->msi_count = s->count;
		return 0;
	}
	if (s->index != VFIO_PCI_INTX_IRQ_INDEX)
		return -EINVAL;
	if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
		if (data == VFIO_IRQ_SET_DATA_NONE && !s->count) {
			d->intx_fd = d->intx_unmask_fd = -1;
			d->intx_masked = false;
			return 0;
		}
		if (data != VFIO_IRQ_SET_DATA_EVENTFD || s->count != 1 ||
		    d->msix_count || d->msi_count)
			return -EINVAL;
		d->intx_fd = fds[0];
		return 0;
	}
	if (action == VFIO_IRQ_SET_ACTION_UNMASK &&
	    data == VFIO_IRQ_SET_DATA_EVENTFD && s->count == 1 &&
	    d->intx_fd >= 0) {
		d->intx_unmask_fd = fds[0];
		return 0;
	}
	return -EINVAL;
}

static int vd_dma_add(struct vfio_double *d, uint64_t iova, uint64_t size,
		      uint64_t vaddr)
{
	if (!size || d->nr_dma == G_N_ELEMENTS(d->dma))
		return -EINVAL;
	for (unsigned int i = 0; i < d->nr_dma; i++)
		if (iova < d->dma[i].iova + d->dma[i].size &&
		    d->dma[i].iova < iova + size)
			return -EEXIST;
	d->dma[d->nr_dma++] = (struct vd_dma){iova, size, vaddr};
	d->maps++;
	return 0;
}

static int vd_dma_del(struct vfio_double *d, uint64_t iova, uint64_t size)
{
	for (unsigned int i = 0; i < d->nr_dma; i++) {
		if (d->dma[i].iova == iova && d->dma[i].size == size) {
			d->dma[i] = d->dma[--d->nr_dma];
			d->unmaps++;
			return 0;
		}
	}
	return -ENOENT;
}

static int vd_container_ioctl(struct vfio_double *d, unsigned long req,
			      void *arg)
{
	switch (req) {
	case VFIO_GET_API_VERSION:
		vd_log(d, "GET_API_VERSION");
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		vd_log(d, "CHECK_EXTENSION");
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU && !d->no_type1v2;
	case VFIO_SET_IOMMU:
		vd_log(d, "SET_IOMMU");
		if (!d->group_set || (uintptr_t)arg != VFIO_TYPE1v2_IOMMU)
			return -EINVAL;
		d->iommu_set = true;
		return 0;
	case VFIO_IOMMU_MAP_DMA: {
		struct vfio_iommu_type1_dma_map *m = arg;

		vd_log(d, "MAP_DMA");
		if (!d->iommu_set || m->argsz < sizeof(*m) ||
		    m->flags !=
			(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE))
			return -EINVAL;
		return vd_dma_add(d, m->iova, m->size, m->vaddr);
	}
	case VFIO_IOMMU_UNMAP_DMA: {
		struct vfio_iommu_type1_dma_unmap *m = arg;

		vd_log(d, "UNMAP_DMA");
		if (m->argsz < sizeof(*m))
			return -EINVAL;
		return vd_dma_del(d, m->iova, m->size);
	}
	}
	return -ENOTTY;
}

static int vd_group_ioctl(struct vfio_double *d, unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status *s = arg;

		vd_log(d, "GROUP_GET_STATUS");
		if (s->argsz < sizeof(*s))
			return -EINVAL;
		s->flags = (d->not_viable ? 0 : VFIO_GROUP_FLAGS_VIABLE) |
			   (d->group_set ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER:
		vd_log(d, "GROUP_SET_CONTAINER");
		if (d->not_viable || *(int *)arg != VD_FD_CONTAINER)
			return -EINVAL;
		d->group_set = true;
		return 0;
	case VFIO_GROUP_UNSET_CONTAINER:
		vd_log(d, "GROUP_UNSET_CONTAINER");
		d->group_set = d->iommu_set = false;
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		vd_log(d, "GROUP_GET_DEVICE_FD");
		if (!d->iommu_set || strcmp(arg, d->addr ? d->addr : VD_ADDR))
			return -EINVAL;
		if (d->open_fd[VD_FD_DEVICE - VD_FD_CONTAINER])
			return -EBUSY;
		d->open_fd[VD_FD_DEVICE - VD_FD_CONTAINER] = true;
		return VD_FD_DEVICE;
	}
	return -ENOTTY;
}

static int vd_iommufd_ioctl(struct vfio_double *d, unsigned long req, void *arg)
{
	switch (req) {
	case IOMMU_IOAS_ALLOC: {
		struct iommu_ioas_alloc *a = arg;

		vd_log(d, "IOAS_ALLOC");
		if (a->size < sizeof(*a) || a->flags)
			return -EINVAL;
		a->out_ioas_id = VD_IOAS;
		return 0;
	}
	case IOMMU_IOAS_MAP: {
		struct iommu_ioas_map *m = arg;

		vd_log(d, "IOAS_MAP");
		if (m->size < sizeof(*m) || m->ioas_id != VD_IOAS ||
		    m->flags !=
			(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE))
			return -EINVAL;
		return vd_dma_add(d, m->iova, m->length, m->user_va);
	}
	case IOMMU_IOAS_UNMAP: {
		struct iommu_ioas_unmap *m = arg;

		vd_log(d, "IOAS_UNMAP");
		if (m->size < sizeof(*m) || m->ioas_id != VD_IOAS)
			return -EINVAL;
		return vd_dma_del(d, m->iova, m->length);
	}
	case IOMMU_DESTROY: {
		struct iommu_destroy *x = arg;

		vd_log(d, "IOMMU_DESTROY");
		return x->id == VD_IOAS && !d->attached ? 0 : -EBUSY;
	}
	}
	return -ENOTTY;
}

static void vd_reset(struct vfio_double *d)
{
	d->scratch = 0;
	d->intx_level = false;
	le_put(d->cfg + 0x04, 0, 2);
}

/* As vfio-pci: -ENOSPC with the count when the buffer is short. */
static int vd_hot_reset_info(struct vfio_double *d,
			     struct vfio_pci_hot_reset_info *i)
{
	uint32_t n = MIN(d->hr_count, (uint32_t)G_N_ELEMENTS(d->hr_devs));

	d->hr_info_calls++;
	if (i->argsz < sizeof(*i))
		return -EINVAL;
	i->flags = d->hr_flags;
	i->count = d->hr_count;
	if (i->argsz <
	    sizeof(*i) + (uint64_t)d->hr_count * sizeof(i->devices[0]))
		return -ENOSPC;
	memcpy(i->devices, d->hr_devs, n * sizeof(i->devices[0]));
	return 0;
}

/*
 * Group fds as proof (legacy; each must be this double's group fd, open)
 * or none at all (a cdev), as linux/vfio.h says.
 */
static int vd_hot_reset(struct vfio_double *d, struct vfio_pci_hot_reset *r)
{
	if (r->argsz < sizeof(*r) + (uint64_t)r->count * sizeof(int32_t) ||
	    r->flags || r->count > G_N_ELEMENTS(d->hr_fds))
		return -EINVAL;
	if (d->via_cdev ? r->count != 0 : r->count == 0)
		return -EINVAL;
	for (uint32_t k = 0; k < r->count; k++)
		if (r->group_fds[k] != VD_FD_GROUP ||
		    !d->open_fd[VD_FD_GROUP - VD_FD_CONTAINER])
			return -EINVAL;
	memcpy(d->hr_fds, r->group_fds, r->count * sizeof(int32_t));
	d->hr_nfds = r->count;
	d->hot_resets++;
	vd_reset(d);
	return 0;
}

static int vd_device_ioctl(struct vfio_double *d, unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_DEVICE_BIND_IOMMUFD: {
		struct vfio_device_bind_iommufd *b = arg;

		vd_log(d, "BIND_IOMMUFD");
		if (b->argsz < sizeof(*b) || b->iommufd != VD_FD_IOMMUFD)
			return -EINVAL;
		b->out_devid = VD_DEVID;
		d->bound = true;
		return 0;
	}
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
		struct vfio_device_attach_iommufd_pt *a = arg;

		vd_log(d, "ATTACH_IOMMUFD_PT");
		if (!d->bound || a->pt_id != VD_IOAS)
			return -EINVAL;
		d->attached = true;
		return 0;
	}
	}
	/* Before VFIO_DEVICE_BIND_IOMMUFD a cdev answers nothing else. */
	if (d->via_cdev && !d->bound)
		return -EINVAL;
	switch (req) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *i = arg;

		vd_log(d, "DEVICE_GET_INFO");
		if (i->argsz < sizeof(*i))
			return -EINVAL;
		i->flags = VFIO_DEVICE_FLAGS_PCI |
			   (d->no_flr ? 0 : VFIO_DEVICE_FLAGS_RESET);
		i->num_regions = VFIO_PCI_NUM_REGIONS;
		i->num_irqs = VFIO_PCI_NUM_IRQS;
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO:
		vd_log(d, "GET_REGION_INFO");
		return vd_region_info(d, arg);
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *i = arg;

		vd_log(d, "GET_IRQ_INFO");
		if (i->argsz < sizeof(*i) || i->index >= VFIO_PCI_NUM_IRQS)
			return -EINVAL;
		i->flags = VFIO_IRQ_INFO_EVENTFD;
		i->count = 0;
		if (i->index == VFIO_PCI_INTX_IRQ_INDEX) {
			i->flags |=
			    VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
			i->count = 1;
		} else if (i->index == VFIO_PCI_MSIX_IRQ_INDEX) {
			i->flags |= VFIO_IRQ_INFO_NORESIZE;
			i->count = d->msix_count0 ? 0 : VD_NVEC;
		} else if (i->index == VFIO_PCI_MSI_IRQ_INDEX) {
			i->flags |= VFIO_IRQ_INFO_NORESIZE;
			i->count = d->msi_irq_count;
		}
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS:
		vd_log(d, "SET_IRQS");
		return vd_set_irqs(d, arg);
	case VFIO_DEVICE_RESET:
		vd_log(d, "DEVICE_RESET");
		if (d->no_flr)
			return -EINVAL;
		d->resets++;
		vd_reset(d);
		return 0;
	case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
		vd_log(d, "GET_PCI_HOT_RESET_INFO");
		return vd_hot_reset_info(d, arg);
	case VFIO_DEVICE_PCI_HOT_RESET:
		vd_log(d, "PCI_HOT_RESET");
		return vd_hot_reset(d, arg);
	}
	return -ENOTTY;
}

static int vd_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	struct vfio_double *d = ctx;

	if (fd < VD_FD_CONTAINER || fd >= VD_FD_END ||
	    !d->open_fd[fd - VD_FD_CONTAINER])
		return -EBADF;
	switch (fd) {
	case VD_FD_CONTAINER:
		return vd_container_ioctl(d, req, arg);
	case VD_FD_GROUP:
		return vd_group_ioctl(d, req, arg);
	case VD_FD_IOMMUFD:
		return vd_iommufd_ioctl(d, req, arg);
	default:
		return vd_device_ioctl(d, req, arg);
	}
}

static void vd_bar0_write(struct vfio_double *d, uint64_t off, uint32_t v)
{
	switch (off) {
	case VD_REG_SCRATCH:
		d->scratch = v;
		break;
	case VD_REG_DOORBELL:
		vfio_double_doorbell(d, v);
		break;
	case VD_REG_DMA_LO:
		d->dma_lo = v;
		break;
	case VD_REG_DMA_HI:
		d->dma_hi = v;
		break;
	case VD_REG_DMA_GO:
		vd_dma_go(d);
		break;
	case VD_REG_INTX_ACK:
		d->intx_level = false;
		break;
	}
}

static uint32_t vd_bar0_read(struct vfio_double *d, uint64_t off)
{
	switch (off) {
	case VD_REG_ID:
		return VD_ID;
	case VD_REG_SCRATCH:
		return d->scratch;
	case VD_REG_RAISED:
		return d->raised;
	case VD_REG_DMA_LO:
		return d->dma_lo;
	case VD_REG_DMA_HI:
		return d->dma_hi;
	case VD_REG_DMA_ERR:
		return d->dma_err;
	}
	return 0;
}

/* A region access: which region, where, and is it in bounds? */
static uint8_t *vd_access(struct vfio_double *d, int fd, uint64_t pos,
			  size_t len, unsigned int *region, uint64_t *off)
{
	uint64_t size;
	uint32_t flags;

	if (fd != VD_FD_DEVICE || !d->open_fd[fd - VD_FD_CONTAINER])
		return NULL;
	*region = pos >> VD_REGION_SHIFT;
	*off = pos & ((1ULL << VD_REGION_SHIFT) - 1);
	if (*region >= VFIO_PCI_NUM_REGIONS)
		return NULL;
	vd_region(d, *region, &size, &flags);
	if (*off + len > size)
		return NULL;
	switch (*region) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return d->cfg + *off;
	case VFIO_PCI_BAR1_REGION_INDEX:
		return d->msix_table + *off;
	case VFIO_PCI_BAR2_REGION_INDEX:
		return d->bar2 + *off;
	case VFIO_PCI_BAR5_REGION_INDEX:
		return d->ports + *off;
	}
	return (uint8_t *)d; /* BAR0: registers, decoded below */
}

static ssize_t vd_pread(void *ctx, int fd, void *buf, size_t len, uint64_t pos)
{
	struct vfio_double *d = ctx;
	unsigned int region;
	uint64_t off;
	uint8_t *p = vd_access(d, fd, pos, len, &region, &off);

	if (!p)
		return -EINVAL;
	vd_intx_poll_unmask(d);
	if (region == VFIO_PCI_BAR0_REGION_INDEX) {
		uint32_t v;

		if (len != 4 || (off & 3))
			return -EINVAL;
		v = vd_bar0_read(d, off);
		memcpy(buf, &v, 4);
		return 4;
	}
	memcpy(buf, p, len);
	return (ssize_t)len;
}

static ssize_t vd_pwrite(void *ctx, int fd, const void *buf, size_t len,
			 uint64_t pos)
{
	struct vfio_double *d = ctx;
	unsigned int region;
	uint64_t off;
	uint8_t *p = vd_access(d, fd, pos, len, &region, &off);

	if (!p)
		return -EINVAL;
	if (region == VFIO_PCI_BAR0_REGION_INDEX) {
		uint32_t v;

		if (len != 4 || (off & 3))
			return -EINVAL;
		memcpy(&v, buf, 4);
		vd_bar0_write(d, off, v);
		/* After the write: an acknowledge lowers the line first. */
		vd_intx_poll_unmask(d);
		return 4;
	}
	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		/* Like vfio-pci: ids and the layout are read-only. */
		for (size_t i = 0; i < len; i++) {
			uint64_t o = off + i;

			if ((o >= 0x04 && o < 0x06) || (o >= 0x44 && o < 0x48))
				p[i] = ((const uint8_t *)buf)[i];
		}
		return (ssize_t)len;
	}
	memcpy(p, buf, len);
	return (ssize_t)len;
}

static void *vd_mmap(void *ctx, int fd, size_t len, uint64_t pos)
{
	struct vfio_double *d = ctx;
	uint64_t bar2 = (uint64_t)VFIO_PCI_BAR2_REGION_INDEX << VD_REGION_SHIFT;

	if (d->mmap_fails || fd != VD_FD_DEVICE || pos < bar2 ||
	    pos - bar2 + len > VD_BAR2_MMAP) {
		errno = EINVAL;
		return NULL;
	}
	d->mmaps++;
	return d->bar2 + (pos - bar2);
}

static void vd_munmap(void *ctx, void *addr, size_t len)
{
	struct vfio_double *d = ctx;

	d->munmaps++;
}

static int vd_readlink(void *ctx, const char *path, char *buf, size_t len)
{
	struct vfio_double *d = ctx;

	g_autofree char *want = g_strdup_printf(
	    "/sys/bus/pci/devices/%s/iommu_group", d->addr ? d->addr : VD_ADDR);

	if (d->no_iommu_group || strcmp(path, want))
		return -ENOENT;
	return snprintf(buf, len, "../../../kernel/iommu_groups/%u",
			d->group ? d->group : VD_GROUP);
}

static int vd_cdev_name(void *ctx, const char *sysfs, char *buf, size_t len)
{
	struct vfio_double *d = ctx;

	if (!d->with_iommufd || strcmp(sysfs, "/sys/bus/pci/devices/" VD_ADDR))
		return -ENOENT;
	snprintf(buf, len, "vfio0");
	return 0;
}

const struct vfio_host_ops vfio_double_ops = {
    .open = vd_open,
    .close = vd_close,
    .ioctl = vd_ioctl,
    .pread = vd_pread,
    .pwrite = vd_pwrite,
    .mmap = vd_mmap,
    .munmap = vd_munmap,
    .readlink = vd_readlink,
    .cdev_name = vd_cdev_name,
};
