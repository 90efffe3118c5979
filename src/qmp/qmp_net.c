// SPDX-License-Identifier: MIT
/*
 * QMP for the NICs, as QEMU 7.2 has it: set_link, query-rx-filter and the
 * NIC_RX_FILTER_CHANGED event, and query-pci (every PCI function, NICs
 * among them). A NIC is named "net0", "net1", ... after its --net option.
 * Differences from QEMU are listed in docs/qmp.md.
 */
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>

#include "tern/device.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/pci.h"
#include "tern/qmp.h"
#include "tern/virtio-net.h"
#include "tern/vm.h"

static struct vm *call_vm(const struct qmp_call *call)
{
	return call->opaque;
}

static struct virtio_device *nic_find(struct vm *vm, const char *name)
{
	for (unsigned int i = 0; i < vm->cfg->nr_nets; i++) {
		struct virtio_device *vdev =
			vm_device_find(vm, &virtio_net_device_type, i);

		if (vdev && !strcmp(virtio_net_name(vdev), name))
			return vdev;
	}
	return NULL;
}

static json_object *cmd_set_link(const struct qmp_call *call, json_object *args,
				 GError **err)
{
	const char *name = json_object_get_string(json_object_object_get(args, "name"));
	bool up = json_object_get_boolean(json_object_object_get(args, "up"));
	struct virtio_device *vdev = nic_find(call_vm(call), name);

	if (!vdev) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
			    "Device '%s' not found", name);
		return NULL;
	}
	virtio_net_set_link(vdev, up);
	return json_object_new_object();
}

static json_object *mac_list(const uint8_t (*macs)[NET_MAC_LEN], unsigned int n)
{
	json_object *a = json_object_new_array();
	char buf[18];

	for (unsigned int i = 0; i < n; i++) {
		net_mac_format(macs[i], buf);
		json_object_array_add(a, json_object_new_string(buf));
	}
	return a;
}

static const char *rx_state(bool none, bool all)
{
	return none ? "none" : all ? "all" : "normal";
}

/* QEMU's RxFilterInfo for one NIC; querying re-arms its event. */
static json_object *rx_filter_info(struct virtio_device *vdev)
{
	struct virtio_net_filter f;
	json_object *o = json_object_new_object();
	char mac[18];

	virtio_net_get_filter(vdev, &f);
	virtio_net_filter_event_arm(vdev);
	net_mac_format(f.mac, mac);
	qmp_add_str(o, "name", virtio_net_name(vdev));
	qmp_add_bool(o, "promiscuous", f.promisc);
	qmp_add_str(o, "multicast", rx_state(f.nomulti, f.allmulti));
	qmp_add_str(o, "unicast", rx_state(f.nouni, f.alluni));
	/* No CTRL_VLAN: every VLAN passes. */
	qmp_add_str(o, "vlan", "all");
	qmp_add_bool(o, "broadcast-allowed", !f.nobcast);
	qmp_add_bool(o, "multicast-overflow", f.multi_overflow);
	qmp_add_bool(o, "unicast-overflow", f.uni_overflow);
	qmp_add_str(o, "main-mac", mac);
	json_object_object_add(o, "vlan-table", json_object_new_array());
	json_object_object_add(o, "unicast-table", mac_list(f.uni, f.nr_uni));
	json_object_object_add(o, "multicast-table", mac_list(f.multi, f.nr_multi));
	return o;
}

static json_object *cmd_query_rx_filter(const struct qmp_call *call,
					json_object *args, GError **err)
{
	struct vm *vm = call_vm(call);
	json_object *name_obj = json_object_object_get(args, "name");
	json_object *list;

	if (name_obj) {
		const char *name = json_object_get_string(name_obj);
		struct virtio_device *vdev = nic_find(vm, name);

		if (!vdev) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "invalid net client name: %s", name);
			return NULL;
		}
		list = json_object_new_array();
		json_object_array_add(list, rx_filter_info(vdev));
		return list;
	}
	list = json_object_new_array();
	for (unsigned int i = 0; i < vm->cfg->nr_nets; i++) {
		struct virtio_device *vdev =
			vm_device_find(vm, &virtio_net_device_type, i);

		if (vdev)
			json_object_array_add(list, rx_filter_info(vdev));
	}
	return list;
}

/* QEMU's names for the classes tern's functions have; others get none. */
static const char *class_desc(uint16_t class)
{
	switch (class) {
	case 0x0100:
		return "SCSI controller";
	case 0x0200:
		return "Ethernet controller";
	case 0x0600:
		return "Host bridge";
	default:
		return NULL;
	}
}

static json_object *pci_regions(struct pci_device *dev)
{
	json_object *a = json_object_new_array();

	for (unsigned int bar = 0; bar < PCI_NUM_BARS; bar++) {
		struct pci_bar_info b;
		json_object *r;

		if (!pci_device_bar_info(dev, bar, &b))
			continue;
		r = json_object_new_object();
		qmp_add_int(r, "bar", bar);
		qmp_add_str(r, "type", b.io ? "io" : "memory");
		/* QEMU says -1 for a BAR that does not decode. */
		qmp_add_int(r, "address", b.addr ? (int64_t)b.addr : -1);
		qmp_add_int(r, "size", (int64_t)b.size);
		if (!b.io) {
			qmp_add_bool(r, "prefetch", b.prefetch);
			qmp_add_bool(r, "mem_type_64", b.mem64);
		}
		json_object_array_add(a, r);
	}
	return a;
}

static json_object *pci_device_info_json(struct pci_device *dev)
{
	json_object *o = json_object_new_object();
	json_object *cls = json_object_new_object();
	json_object *id = json_object_new_object();
	uint16_t class = (uint16_t)pci_config_get(dev, PCI_CLASS_DEVICE, 2);
	uint8_t pin = (uint8_t)pci_config_get(dev, PCI_INTERRUPT_PIN, 1);
	const char *desc = class_desc(class);

	qmp_add_int(o, "bus", 0);
	qmp_add_int(o, "slot", pci_device_slot(dev));
	qmp_add_int(o, "function", 0);
	if (desc)
		qmp_add_str(cls, "desc", desc);
	qmp_add_int(cls, "class", class);
	json_object_object_add(o, "class_info", cls);
	qmp_add_int(id, "device", pci_config_get(dev, PCI_DEVICE_ID, 2));
	qmp_add_int(id, "vendor", pci_config_get(dev, PCI_VENDOR_ID, 2));
	qmp_add_int(id, "subsystem", pci_config_get(dev, PCI_SUBSYSTEM_ID, 2));
	qmp_add_int(id, "subsystem-vendor",
		    pci_config_get(dev, PCI_SUBSYSTEM_VENDOR_ID, 2));
	json_object_object_add(o, "id", id);
	if (pin)
		qmp_add_int(o, "irq", pci_config_get(dev, PCI_INTERRUPT_LINE, 1));
	qmp_add_int(o, "irq_pin", pin);
	/* tern's devices have no user-given ids, as QEMU's without id=. */
	qmp_add_str(o, "qdev_id", "");
	json_object_object_add(o, "regions", pci_regions(dev));
	return o;
}

static json_object *cmd_query_pci(const struct qmp_call *call,
				  json_object *args, GError **err)
{
	struct vm *vm = call_vm(call);
	json_object *bus = json_object_new_object();
	json_object *devices = json_object_new_array();
	json_object *list = json_object_new_array();

	for (unsigned int slot = 0; vm->pci && slot < PCI_SLOTS; slot++) {
		struct pci_device *dev = pci_host_device(vm->pci, slot);

		if (dev)
			json_object_array_add(devices, pci_device_info_json(dev));
	}
	qmp_add_int(bus, "bus", 0);
	json_object_object_add(bus, "devices", devices);
	json_object_array_add(list, bus);
	return list;
}

static const struct qmp_arg set_link_args[] = {
	{ .name = "name", .type = QMP_TYPE_STR },
	{ .name = "up", .type = QMP_TYPE_BOOL },
	{ NULL },
};

static const struct qmp_arg rx_filter_args[] = {
	{ .name = "name", .type = QMP_TYPE_STR, .optional = true },
	{ NULL },
};

static const struct qmp_command qmp_net_commands[] = {
	{ .name = "set_link", .fn = cmd_set_link, .args = set_link_args },
	{ .name = "query-rx-filter", .fn = cmd_query_rx_filter,
	  .args = rx_filter_args },
	{ .name = "query-pci", .fn = cmd_query_pci },
	{ NULL },
};

/* One NIC's NIC_RX_FILTER_CHANGED source on the main loop. */
struct nic_watch {
	struct qmp_server *srv;
	struct vm *vm;
	struct virtio_device *vdev;
	unsigned int index;
};

static gboolean nic_filter_changed(gint fd, GIOCondition cond, gpointer opaque)
{
	struct nic_watch *w = opaque;
	json_object *data;
	char path[96];

	efd_drain(fd);
	/*
	 * The server goes after the main loop has stopped, which never runs
	 * this again; the check keeps it so should an event race the end.
	 */
	if (vm_get_state(w->vm) == VM_STATE_SHUTDOWN)
		return G_SOURCE_CONTINUE;
	data = json_object_new_object();
	qmp_add_str(data, "name", virtio_net_name(w->vdev));
	/* Where QEMU puts the virtio device of an id-less virtio-net-pci. */
	snprintf(path, sizeof(path), "/machine/peripheral-anon/device[%u]/virtio-backend",
		 w->index);
	qmp_add_str(data, "path", path);
	qmp_server_emit(w->srv, "NIC_RX_FILTER_CHANGED", data);
	return G_SOURCE_CONTINUE;
}

bool qmp_net_register(struct qmp_server *srv, struct vm *vm, GError **err)
{
	if (!qmp_server_add_commands(srv, qmp_net_commands, vm, err))
		return false;
	for (unsigned int i = 0; i < vm->cfg->nr_nets; i++) {
		struct virtio_device *vdev =
			vm_device_find(vm, &virtio_net_device_type, i);
		struct nic_watch *w;
		GSource *src;

		if (!vdev)
			continue;
		w = g_new(struct nic_watch, 1);
		*w = (struct nic_watch){ srv, vm, vdev, i };
		/* Freed with the source; the default context lives as long as tern. */
		src = g_unix_fd_source_new(virtio_net_filter_event_fd(vdev), G_IO_IN);
		g_source_set_callback(src, G_SOURCE_FUNC(nic_filter_changed), w, g_free);
		g_source_attach(src, NULL);
		g_source_unref(src);
	}
	return true;
}
