// SPDX-License-Identifier: MIT
/*
 * The device_type row of --device vfio=...: one instance per option, on
 * the real host (vfio_host_default).
 */
#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/state.h"
#include "vfio_internal.h"

#define VFIO_STATE_VERSION 1

static unsigned int vfio_count(const struct vm_config *cfg)
{
	return cfg->nr_vfio;
}

static void *vfio_create(struct machine *m, unsigned int index, GError **err)
{
	const struct vfio_config *c = &m->cfg->vfio[index];

	/*
	 * Every guest page is pinned for the device's DMA: a page the
	 * balloon gives back would stay pinned (and the device could still
	 * write it), so the two are not offered together.
	 */
	if (m->cfg->balloon.enabled) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--device %s: cannot be combined with --balloon "
			    "(guest RAM is pinned for the device's DMA)",
			    c->spec);
		return NULL;
	}
	/*
	 * The jail is entered before anything is built and holds only the
	 * files the options name: no /dev/vfio, /dev/iommu or sysfs yet.
	 */
	if (m->cfg->jail_dir) {
		g_set_error(
		    err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--device %s: cannot be combined with --jail yet "
		    "(the jail holds no /dev/vfio, /dev/iommu or sysfs)",
		    c->spec);
		return NULL;
	}
	return vfio_device_create(m, c, &vfio_host_default, NULL, err);
}

static void vfio_destroy(void *dev)
{
	vfio_device_destroy(dev);
}

/*
 * The hardware's state cannot be saved: the section only records which
 * host function it was, so a load says why it refuses.
 */
static void vfio_save(void *dev, const char *id, struct state_writer *w)
{
	struct vfio_device *v = dev;

	state_section_begin(w, VFIO_STATE_VERSION, "%s", id);
	state_put_bytes(w, v->cfg->addr, 12);
	state_section_end(w);
}

static bool vfio_load(void *dev, const char *id, struct state_reader *r,
		      GError **err)
{
	struct vfio_device *v = dev;

	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "%s (--device %s): a passed-through device's state cannot "
		    "be restored",
		    id, v->cfg->spec);
	return false;
}

const struct device_type vfio_device_type = {
    .name = "vfio-pci",
    .option = "--device vfio=",
    .count = vfio_count,
    .create = vfio_create,
    .destroy = vfio_destroy,
    /* Reset comes from the PCI host (pci_device_ops.reset). */
    .save = vfio_save,
    .load = vfio_load,
};
