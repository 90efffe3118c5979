// SPDX-License-Identifier: MIT
/*
 * Getting a VFIO device fd and an IOMMU address space for it, by either of
 * the kernel's two interfaces:
 *  - legacy: /dev/vfio/vfio (a container) + /dev/vfio/GROUP, type1v2;
 *  - iommufd: /dev/iommu + the device cdev /dev/vfio/devices/vfioN, bound
 *    with VFIO_DEVICE_BIND_IOMMUFD and attached to an IOAS.
 * Then guest RAM is mapped at IOVA == GPA, so the device's DMA addresses
 * are the guest's physical addresses. Every failure names what the host
 * is missing, since on most hosts that is the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "tern/error.h"
#include "tern/memory.h"
#include "vfio_internal.h"

#define VFIO_CONTAINER_PATH "/dev/vfio/vfio"
#define IOMMUFD_PATH "/dev/iommu"

static int vio(struct vfio_device *v, int fd, unsigned long req, void *arg)
{
	return v->host->ioctl(v->ctx, fd, req, arg);
}

/* The IOMMU group number from <sysfs>/iommu_group, or -errno. */
static int vfio_group_number(struct vfio_device *v, GError **err)
{
	g_autofree char *link =
	    g_strdup_printf("%s/iommu_group", v->cfg->sysfs);
	char buf[256];
	const char *base;
	uint64_t n;
	int ret;

	ret = v->host->readlink(v->ctx, link, buf, sizeof(buf));
	if (ret < 0) {
		vfio_error(
		    v, err,
		    ret == -ENOENT
			? "%s: no such link: the function does not exist or is "
			  "in no IOMMU group (is the IOMMU on? intel_iommu=on "
			  "or amd_iommu=on; see docs/vfio.md)"
			: "%s: %s",
		    link, g_strerror(-ret));
		return ret;
	}
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	if (parse_u64(base, &n) || n > INT32_MAX) {
		vfio_error(v, err, "%s points to '%s', not an IOMMU group",
			   link, buf);
		return -EINVAL;
	}
	return (int)n;
}

/* Why opening a group or device cdev failed, in the terms of set-up. */
static const char *vfio_open_hint(int err)
{
	switch (err) {
	case -ENOENT:
		return "missing: bind the function to vfio-pci first "
		       "(docs/vfio.md)";
	case -EBUSY:
		return "in use: another process (another VM?) has it open, or "
		       "another --device of the same IOMMU group";
	case -EACCES:
	case -EPERM:
		return "permission denied: give this user read-write access "
		       "to it (docs/vfio.md)";
	default:
		return g_strerror(-err);
	}
}

static bool vfio_open_legacy(struct vfio_device *v, GError **err)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	g_autofree char *group_path = NULL;
	int ret, group;

	v->container = v->host->open(v->ctx, VFIO_CONTAINER_PATH, O_RDWR);
	if (v->container < 0) {
		vfio_error(v, err,
			   v->container == -ENOENT ? VFIO_CONTAINER_PATH
			       " is missing: this host has no VFIO (load "
			       "vfio-pci; it needs an IOMMU; see docs/vfio.md)"
						   : VFIO_CONTAINER_PATH ": %s",
			   g_strerror(-v->container));
		return false;
	}
	ret = vio(v, v->container, VFIO_GET_API_VERSION, NULL);
	if (ret != VFIO_API_VERSION) {
		vfio_error(v, err, "VFIO_GET_API_VERSION: %d, expected %d", ret,
			   VFIO_API_VERSION);
		return false;
	}
	ret = vio(v, v->container, VFIO_CHECK_EXTENSION,
		  (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (ret <= 0) {
		vfio_error(v, err, "the host's VFIO lacks the type1v2 IOMMU");
		return false;
	}
	group = vfio_group_number(v, err);
	if (group < 0)
		return false;
	v->group_id = (uint32_t)group;
	group_path = g_strdup_printf("/dev/vfio/%d", group);
	v->group = v->host->open(v->ctx, group_path, O_RDWR);
	if (v->group < 0) {
		vfio_error(v, err, "%s: %s", group_path,
			   vfio_open_hint(v->group));
		return false;
	}
	ret = vio(v, v->group, VFIO_GROUP_GET_STATUS, &status);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_GROUP_GET_STATUS: %s",
			   g_strerror(-ret));
		return false;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		vfio_error(v, err,
			   "IOMMU group %d is not viable: every device in it "
			   "must be bound to vfio-pci or have no driver",
			   group);
		return false;
	}
	ret = vio(v, v->group, VFIO_GROUP_SET_CONTAINER, &v->container);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_GROUP_SET_CONTAINER: %s",
			   g_strerror(-ret));
		return false;
	}
	ret = vio(v, v->container, VFIO_SET_IOMMU,
		  (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_SET_IOMMU (type1v2): %s",
			   g_strerror(-ret));
		return false;
	}
	ret = vio(v, v->group, VFIO_GROUP_GET_DEVICE_FD, v->cfg->addr);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_GROUP_GET_DEVICE_FD %s: %s",
			   v->cfg->addr, g_strerror(-ret));
		return false;
	}
	v->device = ret;
	return true;
}

static bool vfio_open_iommufd(struct vfio_device *v, const char *cdev,
			      GError **err)
{
	struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind)};
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct vfio_device_attach_iommufd_pt attach = {.argsz = sizeof(attach)};
	g_autofree char *path = g_strdup_printf("/dev/vfio/devices/%s", cdev);
	int ret;

	v->device = v->host->open(v->ctx, path, O_RDWR);
	if (v->device < 0) {
		vfio_error(v, err, "%s: %s", path, vfio_open_hint(v->device));
		return false;
	}
	bind.iommufd = v->iommufd;
	ret = vio(v, v->device, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_DEVICE_BIND_IOMMUFD: %s",
			   g_strerror(-ret));
		return false;
	}
	ret = vio(v, v->iommufd, IOMMU_IOAS_ALLOC, &alloc);
	if (ret < 0) {
		vfio_error(v, err, "IOMMU_IOAS_ALLOC: %s", g_strerror(-ret));
		return false;
	}
	v->ioas_id = alloc.out_ioas_id;
	attach.pt_id = v->ioas_id;
	ret = vio(v, v->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);
	if (ret < 0) {
		vfio_error(v, err, "VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s",
			   g_strerror(-ret));
		return false;
	}
	return true;
}

bool vfio_iommu_open(struct vfio_device *v, GError **err)
{
	enum vfio_iommufd_mode mode = v->cfg->iommufd;
	char cdev[64];
	int ret = 0;

	if (mode != VFIO_IOMMUFD_OFF) {
		v->iommufd = v->host->open(v->ctx, IOMMUFD_PATH, O_RDWR);
		if (v->iommufd >= 0)
			ret = v->host->cdev_name(v->ctx, v->cfg->sysfs, cdev,
						 sizeof(cdev));
		if (v->iommufd >= 0 && !ret) {
			v->use_iommufd = true;
			return vfio_open_iommufd(v, cdev, err);
		}
		if (mode == VFIO_IOMMUFD_ON) {
			if (v->iommufd < 0)
				vfio_error(v, err,
					   "iommufd=on but " IOMMUFD_PATH
					   ": %s (the kernel needs "
					   "CONFIG_IOMMUFD and an IOMMU)",
					   g_strerror(-v->iommufd));
			else
				vfio_error(
				    v, err,
				    "iommufd=on but %s/vfio-dev has no VFIO "
				    "device cdev: %s (bind it to vfio-pci; the "
				    "kernel needs CONFIG_VFIO_DEVICE_CDEV)",
				    v->cfg->sysfs, g_strerror(-ret));
			return false;
		}
		if (v->iommufd >= 0)
			v->host->close(v->ctx, v->iommufd);
		v->iommufd = -1;
	}
	return vfio_open_legacy(v, err);
}

int vfio_dma_map(struct vfio_device *v, uint64_t iova, uint64_t size, void *hva)
{
	int ret;

	if (v->nr_dma == VFIO_MAX_DMA)
		return -ENOSPC;
	if (v->use_iommufd) {
		struct iommu_ioas_map map = {
		    .size = sizeof(map),
		    .flags = IOMMU_IOAS_MAP_FIXED_IOVA |
			     IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		    .ioas_id = v->ioas_id,
		    .user_va = (uintptr_t)hva,
		    .length = size,
		    .iova = iova,
		};

		ret = vio(v, v->iommufd, IOMMU_IOAS_MAP, &map);
	} else {
		struct vfio_iommu_type1_dma_map map = {
		    .argsz = sizeof(map),
		    .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		    .vaddr = (uintptr_t)hva,
		    .iova = iova,
		    .size = size,
		};

		ret = vio(v, v->container, VFIO_IOMMU_MAP_DMA, &map);
	}
	if (ret < 0)
		return ret;
	v->dma[v->nr_dma++] = (struct vfio_dma){.iova = iova, .size = size};
	return 0;
}

int vfio_dma_unmap(struct vfio_device *v, uint64_t iova, uint64_t size)
{
	unsigned int i;
	int ret;

	for (i = 0; i < v->nr_dma; i++)
		if (v->dma[i].iova == iova && v->dma[i].size == size)
			break;
	if (i == v->nr_dma)
		return -ENOENT;
	if (v->use_iommufd) {
		struct iommu_ioas_unmap unmap = {
		    .size = sizeof(unmap),
		    .ioas_id = v->ioas_id,
		    .iova = iova,
		    .length = size,
		};

		ret = vio(v, v->iommufd, IOMMU_IOAS_UNMAP, &unmap);
	} else {
		struct vfio_iommu_type1_dma_unmap unmap = {
		    .argsz = sizeof(unmap),
		    .iova = iova,
		    .size = size,
		};

		ret = vio(v, v->container, VFIO_IOMMU_UNMAP_DMA, &unmap);
	}
	if (ret < 0)
		return ret;
	v->dma[i] = v->dma[--v->nr_dma];
	return 0;
}

bool vfio_dma_map_ram(struct vfio_device *v, GError **err)
{
	const struct guest_memory *mem = v->m->mem;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		int ret = vfio_dma_map(v, r->gpa, r->size, r->hva);

		if (ret) {
			vfio_error(
			    v, err,
			    "mapping guest RAM [0x%" PRIx64 ", 0x%" PRIx64
			    ") for DMA (%s): %s (RLIMIT_MEMLOCK too low?)",
			    r->gpa, r->gpa + r->size,
			    v->use_iommufd ? "IOMMU_IOAS_MAP"
					   : "VFIO_IOMMU_MAP_DMA",
			    g_strerror(-ret));
			return false;
		}
	}
	return true;
}

void vfio_iommu_close(struct vfio_device *v)
{
	while (v->nr_dma) {
		struct vfio_dma d = v->dma[v->nr_dma - 1];
		int ret = vfio_dma_unmap(v, d.iova, d.size);

		if (ret) {
			/* Closing the container or IOAS drops it anyway. */
			tern_warn("vfio %s: unmapping DMA at 0x%" PRIx64 ": %s",
				  v->cfg->addr, d.iova, g_strerror(-ret));
			v->nr_dma--;
		}
	}
	if (v->device >= 0)
		v->host->close(v->ctx, v->device);
	v->device = -1;
	if (v->use_iommufd && v->ioas_id) {
		struct iommu_destroy d = {.size = sizeof(d), .id = v->ioas_id};

		(void)vio(v, v->iommufd, IOMMU_DESTROY, &d);
		v->ioas_id = 0;
	}
	if (v->iommufd >= 0)
		v->host->close(v->ctx, v->iommufd);
	v->iommufd = -1;
	if (v->group >= 0) {
		(void)vio(v, v->group, VFIO_GROUP_UNSET_CONTAINER,
			  &v->container);
		v->host->close(v->ctx, v->group);
	}
	v->group = -1;
	if (v->container >= 0)
		v->host->close(v->ctx, v->container);
	v->container = -1;
}
