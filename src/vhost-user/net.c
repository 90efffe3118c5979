// SPDX-License-Identifier: MIT
/*
 * vhost-user-net: a virtio-net function whose receive and transmit rings
 * a back-end process serves (testpmd's net_vhost, OVS-DPDK). Like QEMU's
 * vhost-user netdev, the front-end keeps what the back-end knows nothing
 * of: the MAC and the link status in config space. The offloads and
 * mergeable receive buffers are the back-end's (it reads and writes the
 * virtio-net headers), so the guest sees them only when it offers them.
 *
 * The link follows the connection: down (config interrupt) when the
 * back-end leaves, up again when a new one took the rings, which resume
 * at the used index in guest memory; the driver needs no reset. One queue
 * pair: several need the control queue served here and SET_VRING_ENABLE
 * per pair (docs/vhost-user.md), which is not done yet.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/machine.h"
#include "tern/net.h"
#include "tern/vhost-user-net.h"
#include "tern/virtio-net.h"
#include "tern/virtio.h"

#include "vhost-user-internal.h"

/* Bits the back-end must have: it handles the headers they describe. */
#define VU_NET_BACKEND_FEATURES                                                \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO) |   \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF))
/* Bits tern serves from config space; the back-end never hears of them. */
#define VU_NET_LOCAL_FEATURES                                                  \
	((1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS))
/* One receive and one transmit ring. */
#define VU_NET_RINGS 2

struct vhost_user_net {
	struct vhost_user_dev dev;
	struct virtio_net_config config; /* under vdev->lock once created */
};

uint64_t vhost_user_net_features(uint64_t backend)
{
	return (backend & VU_NET_BACKEND_FEATURES) | VU_NET_LOCAL_FEATURES;
}

uint64_t vhost_user_net_local_features(void)
{
	return VU_NET_LOCAL_FEATURES;
}

static void vu_net_free(struct vhost_user_net *n)
{
	vhost_user_dev_fini(&n->dev);
	g_free(n);
}

/*
 * dev.c, on the device's I/O thread with its lock held: the back-end left
 * or is back with the rings. The driver hears it through the status
 * field and a config interrupt (VIRTIO_NET_F_STATUS).
 */
static void vu_net_link(struct vhost_user_dev *d, bool up)
{
	struct vhost_user_net *n = d->model;
	struct virtio_device *vdev = d->vdev;
	uint16_t status;

	pthread_mutex_lock(&vdev->lock);
	status = le16toh(n->config.status);
	if (up)
		status |= VIRTIO_NET_S_LINK_UP;
	else
		status &= ~VIRTIO_NET_S_LINK_UP;
	n->config.status = htole16(status);
	pthread_mutex_unlock(&vdev->lock);
	tern_log("%s: link %s", d->name, up ? "up" : "down");
	virtio_config_changed(vdev);
}

static const struct vhost_user_dev_ops vu_net_dev_ops = {
    .link = vu_net_link,
};

/* The back-end takes the rings now, or when it is back. */
static int vu_net_activate(struct virtio_device *vdev)
{
	struct vhost_user_net *n = vdev->priv;

	vhost_user_dev_start(&n->dev);
	return 0;
}

static void vu_net_reset(struct virtio_device *vdev)
{
	struct vhost_user_net *n = vdev->priv;

	vhost_user_dev_stop(&n->dev, true);
}

static int vu_net_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct vhost_user_net *n = vdev->priv;

	vhost_user_dev_stop(&n->dev, false);
	return 0;
}

static void vu_net_resume(struct virtio_device *vdev)
{
	vu_net_activate(vdev);
}

static void vu_net_destroy(struct virtio_device *vdev)
{
	vu_net_free(vdev->priv);
}

static const struct virtio_device_ops vu_net_ops = {
    .name = "vhost-user-net",
    .activate = vu_net_activate,
    .reset = vu_net_reset,
    .quiesce = vu_net_quiesce,
    .resume = vu_net_resume,
    .destroy = vu_net_destroy,
};

bool vhost_user_net_is(const struct virtio_device *vdev)
{
	return vdev && vdev->ops == &vu_net_ops;
}

static struct virtio_device *vu_net_create(struct machine *m,
					   unsigned int index,
					   const struct net_config *cfg,
					   GError **err)
{
	struct vhost_user_net *n = g_new0(struct vhost_user_net, 1);
	struct virtio_device *vdev;
	char name[32], mac[18];
	uint64_t f;

	snprintf(name, sizeof(name), "vu-net%u", index);
	n->dev.ops = &vu_net_dev_ops;
	n->dev.model = n;
	n->dev.local_features = VU_NET_LOCAL_FEATURES;
	n->dev.rings_per_queue = VU_NET_RINGS;
	/*
	 * As QEMU's vhost-user netdev: no inflight buffer (a lost frame is
	 * the network's business) and no device config from the back-end.
	 */
	n->dev.conn.protocol_drop =
	    (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	    (1ULL << VHOST_USER_PROTOCOL_F_CONFIG);
	if (!vhost_user_dev_init(&n->dev, m, name, cfg->vhost_user,
				 cfg->reconnect, VU_NET_RINGS, err))
		goto err;
	if (cfg->mac_given)
		memcpy(n->config.mac, cfg->mac, NET_MAC_LEN);
	else
		/* After the tap NICs' defaults: no two NICs share one. */
		net_mac_default(m->cfg->nr_nets + index, n->config.mac);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16(1);
	f = vhost_user_net_features(vhost_user_dev_features(&n->dev));
	vdev =
	    virtio_pci_create(m, &vu_net_ops, n, VIRTIO_ID_NET, f, VU_NET_RINGS,
			      (uint8_t *)&n->config, sizeof(n->config), err);
	if (!vdev)
		goto err;
	if (!vhost_user_dev_attach(&n->dev, vdev, err)) {
		virtio_pci_destroy(vdev); /* frees n */
		return NULL;
	}
	net_mac_format(n->config.mac, mac);
	tern_debug("%s: %s: mac %s, features %#llx, protocol %#llx", name,
		   cfg->vhost_user, mac,
		   (unsigned long long)vdev->host_features,
		   (unsigned long long)n->dev.conn.protocol);
	return vdev;

err:
	vu_net_free(n);
	return NULL;
}

/* ---- registry ---- */

static unsigned int vu_net_count(const struct vm_config *cfg)
{
	return cfg->nr_vu_nets;
}

static void *vu_net_device_create(struct machine *m, unsigned int index,
				  GError **err)
{
	return vu_net_create(m, index, &m->cfg->vu_nets[index], err);
}

const struct device_type vhost_user_net_device_type = {
    .name = "vhost-user-net",
    .option = "--net",
    .count = vu_net_count,
    .create = vu_net_device_create,
    .destroy = virtio_pci_device_destroy,
    .quiesce = virtio_pci_device_quiesce,
    .resume = virtio_pci_device_resume,
    .save = virtio_pci_device_save,
    .load = virtio_pci_device_load,
};
