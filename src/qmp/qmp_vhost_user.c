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
};

static gboolean vu_event(gint fd, GIOCondition cond, gpointer opaque)
{
	struct vu_watch *w = opaque;
	bool connected;

	efd_drain(fd);
	while (vhost_user_next_event(w->vdev, &connected)) {
		json_object *data = json_object_new_object();
		char id[32];

		if (vm_get_state(w->vm) == VM_STATE_SHUTDOWN)
			continue;
		snprintf(id, sizeof(id), "%s.%u", w->type->name, w->index);
		qmp_add_str(data, "device", id);
		qmp_add_str(data, "path", vhost_user_path(w->vdev));
		qmp_server_emit(w->srv,
				connected ? "VHOST_USER_RECONNECTED"
					  : "VHOST_USER_DISCONNECTED",
				data);
	}
	return G_SOURCE_CONTINUE;
}

static void vu_watch_add(const struct vu_watch *tmpl)
{
	struct vu_watch *w = g_memdup2(tmpl, sizeof(*tmpl));
	/* Freed with the source; the default context lives as long as tern. */
	GSource *src =
	    g_unix_fd_source_new(vhost_user_event_fd(w->vdev), G_IO_IN);

	g_source_set_callback(src, G_SOURCE_FUNC(vu_event), w, g_free);
	g_source_attach(src, NULL);
	g_source_unref(src);
}

/* Watch the vhost-user ones (all when is is NULL) of n devices of type. */
static void vu_watch_type(struct qmp_server *srv, struct vm *vm,
			  const struct device_type *type, unsigned int n,
			  bool (*is)(const struct virtio_device *vdev))
{
	for (unsigned int i = 0; i < n; i++) {
		struct virtio_device *vdev = vm_device_find(vm, type, i);

		if (!vdev || (is && !is(vdev)))
			continue;
		vu_watch_add(&(struct vu_watch){.srv = srv,
						.vm = vm,
						.vdev = vdev,
						.type = type,
						.index = i});
	}
}

bool qmp_vhost_user_register(struct qmp_server *srv, struct vm *vm,
			     GError **err)
{
	vu_watch_type(
	    srv, vm, &virtio_blk_device_type,
	    disk_configs_count(vm->cfg->disks, vm->cfg->nr_disks, DISK_BUS_BLK),
	    vhost_user_blk_is);
	vu_watch_type(srv, vm, &vhost_user_net_device_type, vm->cfg->nr_vu_nets,
		      vhost_user_net_is);
	vu_watch_type(srv, vm, &vhost_user_fs_device_type, vm->cfg->nr_fs,
		      NULL);
	return true;
}
