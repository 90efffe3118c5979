// SPDX-License-Identifier: MIT
/*
 * vhost-user-blk: a virtio-blk function whose data path is the back-end.
 * The configuration (capacity, limits, topology) is the back-end's, read
 * once with GET_CONFIG; the features are those tern's own virtio-blk
 * guests know, masked by what the back-end offers, as QEMU does.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "tern/block.h"
#include "tern/error.h"
#include "tern/machine.h"
#include "tern/vhost-user-blk.h"
#include "tern/virtio-blk.h"

#include "vhost-user-internal.h"

#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11

/* The device bits a vhost-user-blk may pass on (QEMU's list). */
#define VU_BLK_FEATURES                                                        \
	((1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |    \
	 (1ULL << VIRTIO_BLK_F_GEOMETRY) | (1ULL << VIRTIO_BLK_F_RO) |         \
	 (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |      \
	 (1ULL << VIRTIO_BLK_F_TOPOLOGY) | (1ULL << VIRTIO_BLK_F_CONFIG_WCE) | \
	 (1ULL << VIRTIO_BLK_F_MQ) | (1ULL << VIRTIO_BLK_F_DISCARD) |          \
	 (1ULL << VIRTIO_BLK_F_WRITE_ZEROES))

struct vhost_user_blk {
	struct vhost_user_dev dev;
	struct virtio_blk_config config;
};

static void vu_blk_free(struct vhost_user_blk *b)
{
	vhost_user_dev_fini(&b->dev);
	g_free(b);
}

/* The back-end takes the rings now, or when it is back. Never fails the driver.
 */
static int vu_blk_activate(struct virtio_device *vdev)
{
	struct vhost_user_blk *b = vdev->priv;

	vhost_user_dev_start(&b->dev);
	return 0;
}

static void vu_blk_reset(struct virtio_device *vdev)
{
	struct vhost_user_blk *b = vdev->priv;

	vhost_user_dev_stop(&b->dev, true);
}

static int vu_blk_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct vhost_user_blk *b = vdev->priv;

	vhost_user_dev_stop(&b->dev, false);
	return 0;
}

static void vu_blk_resume(struct virtio_device *vdev)
{
	vu_blk_activate(vdev);
}

/* Only writeback is writable (CONFIG_WCE), and the back-end must hear of it. */
static void vu_blk_config_write(struct virtio_device *vdev, uint64_t off,
				const void *data, unsigned int len)
{
	struct vhost_user_blk *b = vdev->priv;
	size_t wce = offsetof(struct virtio_blk_config, writeback);
	struct vhost_user_msg m;
	int ret;

	if (off != wce || len != 1 ||
	    !virtio_has_feature(vdev, VIRTIO_BLK_F_CONFIG_WCE))
		return;
	b->config.writeback = *(const uint8_t *)data;
	ret = vhost_user_msg_config(&m, VHOST_USER_SET_CONFIG, wce, data, 1);
	pthread_mutex_lock(&b->dev.lock);
	if (!ret && b->dev.conn.fd >= 0 && !b->dev.broken)
		ret = vhost_user_conn_call(&b->dev.conn, &m, NULL);
	pthread_mutex_unlock(&b->dev.lock);
	if (ret)
		tern_warn("%s: SET_CONFIG writeback=%u: %s", b->dev.name,
			  b->config.writeback, g_strerror(-ret));
}

static void vu_blk_destroy(struct virtio_device *vdev)
{
	vu_blk_free(vdev->priv);
}

static void vu_blk_irq_route_changed(struct virtio_device *vdev)
{
	struct vhost_user_blk *b = vdev->priv;

	vhost_user_dev_irq_route_changed(&b->dev);
}

static const struct virtio_device_ops vu_blk_ops = {
    .name = "vhost-user-blk",
    .activate = vu_blk_activate,
    .reset = vu_blk_reset,
    .quiesce = vu_blk_quiesce,
    .resume = vu_blk_resume,
    .config_write = vu_blk_config_write,
    .destroy = vu_blk_destroy,
    .irq_route_changed = vu_blk_irq_route_changed,
};

bool vhost_user_blk_is(const struct virtio_device *vdev)
{
	return vdev && vdev->ops == &vu_blk_ops;
}

struct virtio_device *vhost_user_blk_create(struct machine *m,
					    unsigned int index,
					    const struct disk_config *cfg,
					    GError **err)
{
	struct vhost_user_blk *b = g_new0(struct vhost_user_blk, 1);
	unsigned int nr_queues = cfg->queues ? cfg->queues : 1;
	struct virtio_device *vdev;
	char name[32];
	uint64_t f;
	int ret;

	snprintf(name, sizeof(name), "vu-blk%u", index);
	if (!vhost_user_dev_init(&b->dev, m, name, cfg->path, cfg->reconnect,
				 nr_queues, err))
		goto err;
	ret = vhost_user_dev_get_config(&b->dev, &b->config, sizeof(b->config));
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--disk '%s': the back-end gave no configuration "
			    "(GET_CONFIG): %s",
			    cfg->spec, g_strerror(-ret));
		goto err;
	}
	f = vhost_user_dev_features(&b->dev) & VU_BLK_FEATURES;
	if (nr_queues > 1 && !(f & (1ULL << VIRTIO_BLK_F_MQ))) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--disk '%s': queues=%u but the back-end has no "
			    "VIRTIO_BLK_F_MQ",
			    cfg->spec, nr_queues);
		goto err;
	}
	/* The guest gets the queues asked for, whatever the back-end has more.
	 */
	b->config.num_queues = htole16(nr_queues);
	vdev =
	    virtio_pci_create(m, &vu_blk_ops, b, VIRTIO_ID_BLOCK, f, nr_queues,
			      (uint8_t *)&b->config, sizeof(b->config), err);
	if (!vdev)
		goto err;
	if (!vhost_user_dev_attach(&b->dev, vdev, err)) {
		virtio_pci_destroy(vdev); /* frees b */
		return NULL;
	}
	tern_debug("%s: %s: %llu sectors, features %#llx, protocol %#llx", name,
		   cfg->path, (unsigned long long)le64toh(b->config.capacity),
		   (unsigned long long)vdev->host_features,
		   (unsigned long long)b->dev.conn.protocol);
	return vdev;

err:
	vu_blk_free(b);
	return NULL;
}
