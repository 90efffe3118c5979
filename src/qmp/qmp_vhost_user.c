// SPDX-License-Identifier: MIT
/*
 * QMP events of the vhost-user devices: the back-end went away
 * (VHOST_USER_DISCONNECTED) or is back (VHOST_USER_RECONNECTED). QEMU 7.2
 * has no such events (its chardev logs and says nothing on QMP); the
 * names follow its style and docs/vhost-user.md documents them. The
 * device's I/O thread queues them; the main loop emits them in order.
 * Every vhost-user device has them: --disk, --net and --fs.
 */
#include <glib-unix.h>
#include <stdio.h>

#include "tern/block.h"
#include "tern/device.h"
#include "tern/eventfd.h"
#include "tern/qmp.h"
#include "tern/vhost-user-blk.h"
#include "tern/vhost-user-fs.h"
#include "tern/vhost-user-net.h"
#include "tern/vhost-user-qmp.h"
#include "tern/virtio-blk.h"
#include "tern/vm.h"

struct vu_watch {
	struct qmp_server *srv;
	struct vm *vm;
	struct virtio_device *vdev;
	const struct device_type *type; /* its id is "<type name>.<index>" */
	unsigned int index;
	/* The model's: the next event, the socket. */
	bool (*next)(struct virtio_device *vdev, bool *connected);
	const char *(*path)(const struct virtio_device *vdev);
};

static gboolean vu_event(gint fd, GIOCondition cond, gpointer opaque)
{
	struct vu_watch *w = opaque;
	bool connected;

	efd_drain(fd);
	while (w->next(w->vdev, &connected)) {
		json_object *data = json_object_new_object();
		char id[32];

		if (vm_get_state(w->vm) == VM_STATE_SHUTDOWN)
			continue;
		snprintf(id, sizeof(id), "%s.%u", w->type->name, w->index);
		qmp_add_str(data, "device", id);
		qmp_add_str(data, "path", w->path(w->vdev));
		qmp_server_emit(w->srv,
				connected ? "VHOST_USER_RECONNECTED"
					  : "VHOST_USER_DISCONNECTED",
				data);
	}
	return G_SOURCE_CONTINUE;
}

static void vu_watch_add(const struct vu_watch *tmpl, int event_fd)
{
	struct vu_watch *w = g_memdup2(tmpl, sizeof(*tmpl));
	/* Freed with the source; the default context lives as long as tern. */
	GSource *src = g_unix_fd_source_new(event_fd, G_IO_IN);

	g_source_set_callback(src, G_SOURCE_FUNC(vu_event), w, g_free);
	g_source_attach(src, NULL);
	g_source_unref(src);
}

bool qmp_vhost_user_register(struct qmp_server *srv, struct vm *vm,
			     GError **err)
{
	unsigned int n =
	    disk_configs_count(vm->cfg->disks, vm->cfg->nr_disks, DISK_BUS_BLK);

	for (unsigned int i = 0; i < n; i++) {
		struct virtio_device *vdev =
		    vm_device_find(vm, &virtio_blk_device_type, i);

		if (!vhost_user_blk_is(vdev))
			continue;
		vu_watch_add(&(struct vu_watch){ .srv = srv,
						 .vm = vm,
						 .vdev = vdev,
						 .type = &virtio_blk_device_type,
						 .index = i,
						 .next = vhost_user_blk_next_event,
						 .path = vhost_user_blk_path },
			     vhost_user_blk_event_fd(vdev));
	}
	for (unsigned int i = 0; i < vm->cfg->nr_vu_nets; i++) {
		struct virtio_device *vdev =
		    vm_device_find(vm, &vhost_user_net_device_type, i);

		if (!vhost_user_net_is(vdev))
			continue;
		vu_watch_add(&(struct vu_watch){ .srv = srv,
						 .vm = vm,
						 .vdev = vdev,
						 .type = &vhost_user_net_device_type,
						 .index = i,
						 .next = vhost_user_net_next_event,
						 .path = vhost_user_net_path },
			     vhost_user_net_event_fd(vdev));
	}
	for (unsigned int i = 0; i < vm->cfg->nr_fs; i++) {
		struct virtio_device *vdev =
		    vm_device_find(vm, &vhost_user_fs_device_type, i);

		vu_watch_add(&(struct vu_watch){ .srv = srv,
						 .vm = vm,
						 .vdev = vdev,
						 .type = &vhost_user_fs_device_type,
						 .index = i,
						 .next = vhost_user_fs_next_event,
						 .path = vhost_user_fs_path },
			     vhost_user_fs_event_fd(vdev));
	}
	return true;
}
