// SPDX-License-Identifier: MIT
/*
 * The kernel's vhost-net for one queue pair: tern stays the device (PCI,
 * configuration, control queue, feature negotiation) and hands the two
 * data rings to the kernel, which moves frames between them and the tap
 * without tern's threads. The ioctl sequence is QEMU's (hw/virtio/vhost.c)
 * reduced to what a split-ring virtio-net needs:
 *
 *   open:  SET_OWNER, GET_FEATURES
 *   start: SET_FEATURES, SET_MEM_TABLE,
 *          per vring: SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR,
 *                     SET_VRING_KICK, SET_VRING_CALL,
 *          per vring: NET_SET_BACKEND(tap)
 *   stop:  per vring: NET_SET_BACKEND(-1), GET_VRING_BASE
 *
 * Every ioctl goes through struct vhost_ioctl_ops: the unit tests record
 * the sequence against a fake, since the development machines have no
 * /dev/vhost-net. Dirty logging (VHOST_SET_LOG_BASE) is not used: a VM
 * whose NIC runs on vhost-net cannot be migrated live by tern.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "tern/memory.h"
#include "tern/net.h"

/* The ring and transport features vhost-net may carry for us. */
#define VHOST_NET_WANTED                                                       \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |    \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

struct vhost_net {
	const struct vhost_ioctl_ops *ops;
	void *opaque;
	int fd;
	uint64_t features; /* GET_FEATURES & VHOST_NET_WANTED */
	bool attached[2];
};

static int host_open(void *opaque)
{
	int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int host_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static void host_close(void *opaque, int fd)
{
	close(fd);
}

const struct vhost_ioctl_ops vhost_ioctl_host = {
	.open = host_open,
	.ioctl = host_ioctl,
	.close = host_close,
};

static int vh(struct vhost_net *v, unsigned long req, void *arg)
{
	return v->ops->ioctl(v->opaque, v->fd, req, arg);
}

int vhost_net_open(const struct vhost_ioctl_ops *ops, void *opaque,
		   struct vhost_net **out)
{
	struct vhost_net *v = g_new0(struct vhost_net, 1);
	uint64_t features = 0;
	int ret;

	v->ops = ops;
	v->opaque = opaque;
	v->fd = ops->open(opaque);
	if (v->fd < 0) {
		ret = v->fd;
		g_free(v);
		return ret;
	}
	ret = vh(v, VHOST_SET_OWNER, NULL);
	if (!ret)
		ret = vh(v, VHOST_GET_FEATURES, &features);
	if (ret < 0) {
		vhost_net_close(v);
		return ret;
	}
	v->features = features & VHOST_NET_WANTED;
	*out = v;
	return 0;
}

uint64_t vhost_net_features(const struct vhost_net *v)
{
	return v->features;
}

/* Every RAM region, one entry each, as the kernel's table wants it. */
static struct vhost_memory *vhost_mem_table(const struct guest_memory *mem)
{
	struct vhost_memory *t = g_malloc0(sizeof(*t) + mem->nr_regions *
					   sizeof(struct vhost_memory_region));

	t->nregions = mem->nr_regions;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		t->regions[i].guest_phys_addr = r->gpa;
		t->regions[i].memory_size = r->size;
		t->regions[i].userspace_addr = (uintptr_t)r->hva;
	}
	return t;
}

static int vhost_vring_setup(struct vhost_net *v, unsigned int i,
			     const struct vhost_vring *r)
{
	struct vhost_vring_state num = { .index = i, .num = r->num };
	struct vhost_vring_state base = { .index = i, .num = r->base };
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = (uintptr_t)r->desc,
		.avail_user_addr = (uintptr_t)r->avail,
		.used_user_addr = (uintptr_t)r->used,
	};
	struct vhost_vring_file kick = { .index = i, .fd = r->kick_fd };
	struct vhost_vring_file call = { .index = i, .fd = r->call_fd };
	int ret;

	ret = vh(v, VHOST_SET_VRING_NUM, &num);
	if (!ret)
		ret = vh(v, VHOST_SET_VRING_BASE, &base);
	if (!ret)
		ret = vh(v, VHOST_SET_VRING_ADDR, &addr);
	if (!ret)
		ret = vh(v, VHOST_SET_VRING_KICK, &kick);
	if (!ret)
		ret = vh(v, VHOST_SET_VRING_CALL, &call);
	return ret;
}

static void vhost_detach(struct vhost_net *v)
{
	for (unsigned int i = 0; i < 2; i++) {
		struct vhost_vring_file be = { .index = i, .fd = -1 };

		if (v->attached[i] && vh(v, VHOST_NET_SET_BACKEND, &be) == 0)
			v->attached[i] = false;
	}
}

int vhost_net_start(struct vhost_net *v, const struct guest_memory *mem,
		    uint64_t features, const struct vhost_vring rings[2],
		    int tap_fd)
{
	g_autofree struct vhost_memory *table = vhost_mem_table(mem);
	uint64_t f = features & v->features;
	int ret;

	ret = vh(v, VHOST_SET_FEATURES, &f);
	if (!ret)
		ret = vh(v, VHOST_SET_MEM_TABLE, table);
	for (unsigned int i = 0; !ret && i < 2; i++)
		ret = vhost_vring_setup(v, i, &rings[i]);
	for (unsigned int i = 0; !ret && i < 2; i++) {
		struct vhost_vring_file be = { .index = i, .fd = tap_fd };

		ret = vh(v, VHOST_NET_SET_BACKEND, &be);
		if (!ret)
			v->attached[i] = true;
	}
	if (ret)
		vhost_detach(v);
	return ret;
}

int vhost_net_stop(struct vhost_net *v, uint16_t bases[2])
{
	int ret = 0;

	vhost_detach(v);
	for (unsigned int i = 0; i < 2; i++) {
		struct vhost_vring_state st = { .index = i };
		int r = vh(v, VHOST_GET_VRING_BASE, &st);

		if (r && !ret)
			ret = r;
		bases[i] = (uint16_t)st.num;
	}
	if (!ret && (v->attached[0] || v->attached[1]))
		ret = -EBUSY;
	return ret;
}

void vhost_net_close(struct vhost_net *v)
{
	if (!v)
		return;
	vhost_detach(v);
	v->ops->close(v->opaque, v->fd);
	g_free(v);
}
