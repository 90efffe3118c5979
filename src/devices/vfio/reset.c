// SPDX-License-Identifier: MIT
/*
 * The hot (bus or slot) reset of a function that has no reset of its own
 * (VFIO_DEVICE_GET_INFO without VFIO_DEVICE_FLAGS_RESET: no FLR, no PM
 * reset), as QEMU's vfio-pci does it at system reset:
 *  1. VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: first with room for the header
 *     only (-ENOSPC tells the count), then with room for that many;
 *  2. every affected function must be tern's: under the legacy interface
 *     its IOMMU group is one a --device of this VM holds open (the group
 *     fds are the proof of ownership handed to the kernel); under iommufd
 *     the kernel says so itself (VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, no
 *     VFIO_PCI_DEVID_NOT_OWNED entry). A function of another owner makes
 *     the reset impossible: one warning, and the function keeps its state;
 *  3. the other passed-through functions affected are quiesced (their
 *     interrupts off at VFIO), the reset is issued once (VFIO_DEVICE_
 *     PCI_HOT_RESET with the group fds, or with none under iommufd, as
 *     linux/vfio.h asks of a cdev), and they are told their reset is
 *     done, so a bus with two such functions is reset once, not twice.
 * What tern virtualizes is restored by each function's own reset
 * (vfio_device_reset() and the PCI core), as after a function reset.
 *
 * The host's answer is checked before it is used: a count of 0 or more
 * than a bus holds, a count that grew between the two calls, a function
 * listed twice, one in another PCI segment or on a bus above ours, or a
 * list without the function itself is refused with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tern/error.h"
#include "vfio_internal.h"

/* One bus holds 256 functions: a longer list is not a bus reset. */
#define VFIO_HOT_RESET_MAX_DEVS 256

/* "dddd:bb:dd.f" (vfio_config_parse normalized it). */
static bool vfio_addr_split(const char *addr, struct vfio_pci_addr *out)
{
	unsigned int seg, bus, dev, fn;

	if (sscanf(addr, "%4x:%2x:%2x.%1x", &seg, &bus, &dev, &fn) != 4 ||
	    dev > 0x1f || fn > 7)
		return false;
	out->segment = (uint16_t)seg;
	out->bus = (uint8_t)bus;
	out->devfn = (uint8_t)(dev << 3 | fn);
	return true;
}

static bool vfio_addr_eq(const struct vfio_pci_addr *a,
			 const struct vfio_pci_dependent_device *d)
{
	return a->segment == d->segment && a->bus == d->bus &&
	       a->devfn == d->devfn;
}

/*
 * Another passed-through function of this VM: the PCI host's device in
 * slot s when it is one of ours. A vfio device's PCI name is its option,
 * which always starts "vfio=" (vfio_config_parse), and no other model
 * names its function so.
 */
static struct vfio_device *vfio_peer(struct vfio_device *v, unsigned int s)
{
	struct pci_device *dev = pci_host_device(v->m->pci, s);
	struct vfio_device *p;

	if (!dev || !g_str_has_prefix(pci_device_name(dev), "vfio="))
		return NULL;
	p = pci_device_opaque(dev);
	return p == v || !p || p->pci != dev ? NULL : p;
}

/* Our function at the entry's address, or NULL. */
static struct vfio_device *
vfio_peer_at(struct vfio_device *v, const struct vfio_pci_dependent_device *d)
{
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct vfio_device *p = vfio_peer(v, s);

		if (p && vfio_addr_eq(&p->host_addr, d))
			return p;
	}
	return NULL;
}

/* The group fd tern holds for IOMMU group id, or -1. */
static int vfio_group_fd(struct vfio_device *v, uint32_t id)
{
	if (!v->use_iommufd && v->group_id == id)
		return v->group;
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		struct vfio_device *p = vfio_peer(v, s);

		if (p && !p->use_iommufd && p->group_id == id)
			return p->group;
	}
	return -1;
}

/*
 * The affected functions, checked whole: NULL with *why set (a message
 * for the warning) when the host's answer is malformed or the ioctl
 * failed.
 */
static struct vfio_pci_hot_reset_info *
vfio_hot_reset_info(struct vfio_device *v, char **why)
{
	struct vfio_pci_hot_reset_info head = {.argsz = sizeof(head)};
	struct vfio_pci_hot_reset_info *info;
	uint32_t count;
	bool self = false;
	int ret;

	ret = v->host->ioctl(v->ctx, v->device,
			     VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &head);
	if (ret < 0 && ret != -ENOSPC) {
		*why = g_strdup_printf("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s",
				       g_strerror(-ret));
		return NULL;
	}
	count = head.count;
	if (count == 0 || count > VFIO_HOT_RESET_MAX_DEVS) {
		*why = g_strdup_printf("the host reports %u functions affected "
				       "by a hot reset (expected 1..%u)",
				       count, VFIO_HOT_RESET_MAX_DEVS);
		return NULL;
	}
	info = g_malloc0(sizeof(*info) + count * sizeof(info->devices[0]));
	info->argsz = sizeof(*info) + count * sizeof(info->devices[0]);
	ret = v->host->ioctl(v->ctx, v->device,
			     VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info);
	if (ret < 0 || info->count == 0 || info->count > count) {
		*why = ret < 0 ? g_strdup_printf(
				     "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: %s",
				     g_strerror(-ret))
			       : g_strdup_printf(
				     "the host's count of affected functions "
				     "changed from %u to %u",
				     count, info->count);
		g_free(info);
		return NULL;
	}
	for (uint32_t i = 0; i < info->count; i++) {
		const struct vfio_pci_dependent_device *d = &info->devices[i];

		if (d->segment != v->host_addr.segment ||
		    d->bus < v->host_addr.bus) {
			*why = g_strdup_printf(
			    "the host lists %04x:%02x:%02x.%x, not on the bus "
			    "of %s or below it",
			    d->segment, d->bus, d->devfn >> 3, d->devfn & 7,
			    v->cfg->addr);
			g_free(info);
			return NULL;
		}
		for (uint32_t j = 0; j < i; j++) {
			const struct vfio_pci_dependent_device *e =
			    &info->devices[j];

			if (e->segment == d->segment && e->bus == d->bus &&
			    e->devfn == d->devfn) {
				*why = g_strdup_printf(
				    "the host lists %04x:%02x:%02x.%x twice",
				    d->segment, d->bus, d->devfn >> 3,
				    d->devfn & 7);
				g_free(info);
				return NULL;
			}
		}
		self |= vfio_addr_eq(&v->host_addr, d);
	}
	if (!self) {
		*why = g_strdup_printf("the host's list of affected functions "
				       "lacks %s itself",
				       v->cfg->addr);
		g_free(info);
		return NULL;
	}
	return info;
}

/*
 * Whose is each affected function: NULL when all are ours, else why not
 * (the reset must not happen). Legacy: the group fds to pass, deduplicated.
 */
static char *vfio_hot_reset_owned(struct vfio_device *v,
				  const struct vfio_pci_hot_reset_info *info,
				  int32_t *fds, uint32_t *nr_fds)
{
	*nr_fds = 0;
	if (v->use_iommufd) {
		if (!(info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID))
			return g_strdup("the host reports groups, not device "
					"ids, for a device opened as a cdev");
		for (uint32_t i = 0; i < info->count; i++) {
			const struct vfio_pci_dependent_device *d =
			    &info->devices[i];

			/* devid shares group_id's place (a union). */
			if (d->group_id == (uint32_t)VFIO_PCI_DEVID_NOT_OWNED)
				return g_strdup_printf(
				    "%04x:%02x:%02x.%x is affected too and is "
				    "not this VM's (another process's, or "
				    "another --device's iommufd context)",
				    d->segment, d->bus, d->devfn >> 3,
				    d->devfn & 7);
		}
		if (!(info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED))
			return g_strdup("the host says not every affected "
					"function is owned");
		return NULL;
	}
	if (info->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID)
		return g_strdup("the host reports device ids, not groups, for "
				"a device opened through its group");
	for (uint32_t i = 0; i < info->count; i++) {
		const struct vfio_pci_dependent_device *d = &info->devices[i];
		int fd = vfio_group_fd(v, d->group_id);
		uint32_t j;

		if (fd < 0)
			return g_strdup_printf(
			    "%04x:%02x:%02x.%x in IOMMU group %u is affected "
			    "too and is not this VM's",
			    d->segment, d->bus, d->devfn >> 3, d->devfn & 7,
			    d->group_id);
		/* One fd per group, however many of its functions. */
		for (j = 0; j < i && info->devices[j].group_id != d->group_id;
		     j++)
			;
		if (j == i)
			fds[(*nr_fds)++] = fd;
	}
	return NULL;
}

int vfio_hot_reset(struct vfio_device *v)
{
	g_autofree struct vfio_pci_hot_reset_info *info = NULL;
	g_autofree struct vfio_pci_hot_reset *reset = NULL;
	g_autofree char *why = NULL;
	uint32_t nr_fds = 0;
	int ret;

	info = vfio_hot_reset_info(v, &why);
	if (!info)
		goto refused;
	reset = g_malloc0(sizeof(*reset) + info->count * sizeof(int32_t));
	why = vfio_hot_reset_owned(v, info, reset->group_fds, &nr_fds);
	if (why)
		goto refused;
	/* The other functions of ours it resets stop interrupting first. */
	for (uint32_t i = 0; i < info->count; i++) {
		struct vfio_device *p = vfio_peer_at(v, &info->devices[i]);

		if (p)
			vfio_irqs_off(p);
	}
	/* iommufd: count 0, ownership is the iommufd context's (vfio.h). */
	reset->argsz = sizeof(*reset) + nr_fds * sizeof(int32_t);
	reset->count = nr_fds;
	ret =
	    v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_PCI_HOT_RESET, reset);
	for (uint32_t i = 0; i < info->count; i++) {
		struct vfio_device *p = vfio_peer_at(v, &info->devices[i]);

		if (!p)
			continue;
		/*
		 * Its own reset, later in this machine reset, need not
		 * reset the bus again; one that came earlier is put back
		 * as its reset left it.
		 */
		if (!ret && p->reset_round < v->reset_round)
			p->reset_by_peer = true;
		else
			vfio_device_restore(p);
	}
	if (ret < 0) {
		why = g_strdup_printf("VFIO_DEVICE_PCI_HOT_RESET: %s",
				      g_strerror(-ret));
		goto refused;
	}
	return 0;
refused:
	if (!v->hot_reset_warned)
		tern_warn("vfio %s: no hot reset: %s; the function keeps its "
			  "state across the guest's reset (warned once)",
			  v->cfg->addr, why);
	else
		tern_debug("vfio %s: no hot reset: %s", v->cfg->addr, why);
	v->hot_reset_warned = true;
	return -EPERM;
}

bool vfio_hot_reset_init(struct vfio_device *v, GError **err)
{
	if (!vfio_addr_split(v->cfg->addr, &v->host_addr)) {
		vfio_error(v, err, "'%s' is not a PCI address", v->cfg->addr);
		return false;
	}
	return true;
}
