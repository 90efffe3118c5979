/* SPDX-License-Identifier: MIT */
/* QMP events of the vhost-user devices (src/qmp/qmp_vhost_user.c). */
#ifndef TERN_VHOST_USER_QMP_H
#define TERN_VHOST_USER_QMP_H

#include <glib.h>

struct qmp_server;
struct virtio_device;
struct vm;

/*
 * VHOST_USER_DISCONNECTED and VHOST_USER_RECONNECTED for every vhost-user
 * device (--disk, --net, --fs), emitted from the main loop.
 */
bool qmp_vhost_user_register(struct qmp_server *srv, struct vm *vm,
			     GError **err);

/*
 * Any vhost-user model's device (src/vhost-user/dev.c): its next
 * connection event, true for a reconnect, false for a disconnect, false
 * when none is pending; the eventfd signalled when one is; its socket.
 */
bool vhost_user_next_event(struct virtio_device *vdev, bool *connected);
int vhost_user_event_fd(const struct virtio_device *vdev);
const char *vhost_user_path(const struct virtio_device *vdev);

#endif
