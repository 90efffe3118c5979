/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk whose requests a vhost-user back-end serves (--disk
 * vhost-user=SOCK): tern keeps the PCI function and config space, the
 * back-end (qemu-storage-daemon, SPDK) the rings and the disk.
 */
#ifndef TERN_VHOST_USER_BLK_H
#define TERN_VHOST_USER_BLK_H

#include <glib.h>

struct machine;
struct disk_config;
struct virtio_device;

/* The VM's virtio-blk number index on a back-end; NULL with err set. */
struct virtio_device *vhost_user_blk_create(struct machine *m,
					    unsigned int index,
					    const struct disk_config *cfg,
					    GError **err);

/* Is vdev a vhost-user-blk (rather than tern's own virtio-blk)? */
bool vhost_user_blk_is(const struct virtio_device *vdev);

#endif
