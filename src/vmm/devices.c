// SPDX-License-Identifier: MIT
/*
 * The device table and the VM's device list (device.h). The VM creates
 * what the configuration asks for from the table, in table order, and
 * drives the instances through their type's operations.
 */
#include <errno.h>
#include <stdio.h>

#include "tern/acpi_devices.h"
#include "tern/device.h"
#include "tern/devices.h"
#include "tern/error.h"
#include "tern/state.h"
#include "tern/vfio.h"
#include "tern/vhost-user-fs.h"
#include "tern/vhost-user-net.h"
#include "tern/virtio-balloon.h"
#include "tern/virtio-blk.h"
#include "tern/virtio-scsi.h"
#include "tern/virtio-net.h"
#include "tern/virtio_devices.h"
#include "tern/vm.h"

/* Legacy ports first, then PCI functions in the slot order they get. */
const struct device_type *const device_types[] = {
	&serial_device_type,
	&i8042_device_type,
	&test_exit_device_type,
	&acpi_sleep_device_type,
	&acpi_ged_device_type,
	&virtio_console_device_type,
	&virtio_rng_device_type,
	&virtio_blk_device_type,
	&virtio_scsi_device_type,
	&virtio_net_device_type,
	&vhost_user_net_device_type,
	&virtio_balloon_device_type,
	&vhost_user_fs_device_type,
	&vfio_device_type,
};
const unsigned int device_types_count = G_N_ELEMENTS(device_types);

bool vm_devices_create(struct vm *vm, GError **err)
{
	vm->devices = g_ptr_array_new();
	for (unsigned int t = 0; t < device_types_count; t++) {
		const struct device_type *type = device_types[t];
		unsigned int n = type->count(vm->cfg);

		for (unsigned int i = 0; i < n; i++) {
			struct device *d = g_new0(struct device, 1);

			d->type = type;
			d->index = i;
			snprintf(d->id, sizeof(d->id), "%s.%u", type->name, i);
			d->dev = type->create(&vm->machine, i, err);
			if (!d->dev) {
				g_free(d);
				return false;
			}
			g_ptr_array_add(vm->devices, d);
		}
	}
	return true;
}

void vm_devices_destroy(struct vm *vm)
{
	if (!vm->devices)
		return;
	for (guint i = vm->devices->len; i-- > 0;) {
		struct device *d = g_ptr_array_index(vm->devices, i);

		d->type->destroy(d->dev);
		g_free(d);
	}
	g_ptr_array_unref(vm->devices);
	vm->devices = NULL;
}

void vm_devices_reset(struct vm *vm)
{
	for (guint i = 0; i < vm->devices->len; i++) {
		struct device *d = g_ptr_array_index(vm->devices, i);

		if (d->type->reset)
			d->type->reset(d->dev);
	}
}

bool vm_devices_quiesce(struct vm *vm, uint64_t deadline_ns, GError **err)
{
	bool ok = true;

	/* Every device gets its chance even after one timed out. */
	for (guint i = vm->devices->len; i-- > 0;) {
		struct device *d = g_ptr_array_index(vm->devices, i);
		int ret;

		if (!d->type->quiesce || d->quiesced)
			continue;
		ret = d->type->quiesce(d->dev, deadline_ns);
		/* Timed out or not, it pops nothing new until resume. */
		d->quiesced = true;
		if (ret && ok) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "%s (%s): %s", d->id, d->type->option,
				    ret == -ETIMEDOUT ?
					    "requests still in flight at the deadline" :
					    g_strerror(-ret));
			ok = false;
		}
	}
	return ok;
}

void vm_devices_resume(struct vm *vm)
{
	for (guint i = 0; i < vm->devices->len; i++) {
		struct device *d = g_ptr_array_index(vm->devices, i);

		if (d->quiesced && d->type->resume)
			d->type->resume(d->dev);
		d->quiesced = false;
	}
}

void *vm_device_find(struct vm *vm, const struct device_type *type,
		     unsigned int index)
{
	for (guint i = 0; vm->devices && i < vm->devices->len; i++) {
		struct device *d = g_ptr_array_index(vm->devices, i);

		if (d->type == type && d->index == index)
			return d->dev;
	}
	return NULL;
}
