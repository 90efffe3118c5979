// SPDX-License-Identifier: MIT
/*
 * The VM's QMP commands and events, over the vm API. Later modules add
 * their own tables next to qmp_vm_commands (qmp_server_add_commands), not
 * branches here.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "tern/error.h"
#include "tern/qmp.h"
#include "tern/block.h"
#include "tern/vcpu.h"
#include "tern/vhost-user-qmp.h"
#include "tern/virtio-blk.h"
#include "tern/virtio-scsi.h"
#include "tern/vm.h"

#include "qmp_balloon.h"

struct qmp_vm {
	struct vm *vm;
	struct qmp_server *srv;
	struct qmp_balloon *balloon;
};

static struct vm *call_vm(const struct qmp_call *call)
{
	return ((struct qmp_vm *)call->opaque)->vm;
}

static json_object *cmd_query_status(const struct qmp_call *call,
				     json_object *args, GError **err)
{
	enum vm_run_state state = vm_get_state(call_vm(call));
	json_object *ret = json_object_new_object();

	qmp_add_str(ret, "status", vm_run_state_name(state));
	/* QEMU 7.2 still reports it (deprecated); tern never single-steps. */
	qmp_add_bool(ret, "singlestep", false);
	qmp_add_bool(ret, "running", state == VM_STATE_RUNNING);
	return ret;
}

/* stop and cont are no-ops in a state they do not apply to, as in QEMU. */
static json_object *cmd_stop(const struct qmp_call *call, json_object *args,
			     GError **err)
{
	if (!vm_pause(call_vm(call), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_cont(const struct qmp_call *call, json_object *args,
			     GError **err)
{
	vm_resume(call_vm(call));
	return json_object_new_object();
}

static json_object *cmd_system_reset(const struct qmp_call *call,
				     json_object *args, GError **err)
{
	if (!vm_reset(call_vm(call), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_quit(const struct qmp_call *call, json_object *args,
			     GError **err)
{
	/* The main loop sends SHUTDOWN and ends; the reply goes out first. */
	vm_request_shutdown(call_vm(call), VM_EXIT_HOST_QUIT, 0);
	return json_object_new_object();
}

static json_object *cmd_query_cpus_fast(const struct qmp_call *call,
					json_object *args, GError **err)
{
	struct vm *vm = call_vm(call);
	json_object *list = json_object_new_array();

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		json_object *cpu = json_object_new_object();
		json_object *props = json_object_new_object();
		pid_t tid = vcpu_thread_id(vm->vcpus[i]);
		char path[64];

		/* The topology CPUID shows: one package, one thread a core. */
		qmp_add_int(props, "core-id", i);
		qmp_add_int(props, "thread-id", 0);
		qmp_add_int(props, "socket-id", 0);
		qmp_add_int(cpu, "thread-id", tid);
		json_object_object_add(cpu, "props", props);
		/* tern has no QOM tree: the path QEMU would give a CPU. */
		snprintf(path, sizeof(path), "/machine/unattached/device[%u]",
			 i);
		qmp_add_str(cpu, "qom-path", path);
		qmp_add_int(cpu, "cpu-index", i);
		qmp_add_str(cpu, "target", "x86_64");
		json_object_array_add(list, cpu);
	}
	return list;
}

static json_object *cmd_query_kvm(const struct qmp_call *call,
				  json_object *args, GError **err)
{
	json_object *ret = json_object_new_object();

	qmp_add_bool(ret, "enabled", true);
	qmp_add_bool(ret, "present", true);
	return ret;
}

static json_object *cmd_query_name(const struct qmp_call *call,
				   json_object *args, GError **err)
{
	const char *name = call_vm(call)->cfg->name;
	json_object *ret = json_object_new_object();

	if (name)
		qmp_add_str(ret, "name", name);
	return ret;
}

/* QEMU's BlockInfo for one --disk, as query-block shows a raw file. */
static json_object *block_info(struct vm *vm, unsigned int i)
{
	const struct disk_config *d = &vm->cfg->disks[i];
	json_object *info = json_object_new_object();
	json_object *ins = json_object_new_object();
	json_object *image = json_object_new_object();
	json_object *cache = json_object_new_object();
	static const char *const throttles[] = { "bps", "bps_rd", "bps_wr",
						 "iops", "iops_rd", "iops_wr",
						 "write_threshold" };
	struct stat st;
	char name[32];

	snprintf(name, sizeof(name), "disk%u", i);
	json_object_object_add(cache, "writeback",
			       json_object_new_boolean(d->cache == BLK_CACHE_WRITEBACK));
	json_object_object_add(cache, "direct",
			       json_object_new_boolean(d->cache == BLK_CACHE_NONE));
	json_object_object_add(cache, "no-flush", json_object_new_boolean(false));

	qmp_add_str(image, "filename", d->path);
	qmp_add_str(image, "format", "raw");
	qmp_add_int(image, "virtual-size",
		    d->bus == DISK_BUS_SCSI ?
			    (int64_t)virtio_scsi_lun_size(vm_device_find(vm, &virtio_scsi_device_type, 0),
							  (uint16_t)d->lun) :
			    (int64_t)virtio_blk_size(vm_device_find(vm, &virtio_blk_device_type,
								    d->bus_index)));
	/* Bytes the file really occupies on the host, as QEMU reports. */
	qmp_add_int(image, "actual-size",
		    stat(d->path, &st) == 0 ? (int64_t)st.st_blocks * 512 : 0);
	json_object_object_add(image, "dirty-flag", json_object_new_boolean(false));

	qmp_add_str(ins, "file", d->path);
	qmp_add_str(ins, "node-name", name);
	json_object_object_add(ins, "ro", json_object_new_boolean(d->readonly));
	qmp_add_str(ins, "drv", "raw");
	qmp_add_int(ins, "backing_file_depth", 0);
	json_object_object_add(ins, "encrypted", json_object_new_boolean(false));
	qmp_add_str(ins, "detect_zeroes", "off");
	for (unsigned int t = 0; t < G_N_ELEMENTS(throttles); t++)
		qmp_add_int(ins, throttles[t], 0);
	json_object_object_add(ins, "cache", cache);
	json_object_object_add(ins, "image", image);

	qmp_add_str(info, "device", name);
	qmp_add_str(info, "qdev", name);
	json_object_object_add(info, "locked", json_object_new_boolean(false));
	json_object_object_add(info, "removable", json_object_new_boolean(false));
	qmp_add_str(info, "type", "unknown");
	qmp_add_str(info, "io-status", "ok");
	json_object_object_add(info, "inserted", ins);
	return info;
}

static json_object *cmd_query_block(const struct qmp_call *call,
				    json_object *args, GError **err)
{
	struct vm *vm = call_vm(call);
	json_object *list = json_object_new_array();

	for (unsigned int i = 0; i < vm->cfg->nr_disks; i++)
		json_object_array_add(list, block_info(vm, i));
	return list;
}

/* A stopped VM only: its state is taken or replaced whole. */
static bool vm_stopped(struct vm *vm, GError **err)
{
	enum vm_run_state s = vm_get_state(vm);

	if (s == VM_STATE_PAUSED || s == VM_STATE_PRELAUNCH)
		return true;
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "the VM is %s: stop it first", vm_run_state_name(s));
	return false;
}

static const char *arg_str(json_object *args, const char *key)
{
	return json_object_get_string(json_object_object_get(args, key));
}

/*
 * tern's own snapshot of a stopped VM (state and RAM) to a file, and back
 * into a stopped VM built the same way; experimental until migration's
 * `migrate file:` carries it.
 */
static json_object *cmd_state_save(const struct qmp_call *call,
				   json_object *args, GError **err)
{
	struct vm *vm = call_vm(call);

	if (!vm_stopped(vm, err) || !vm_snapshot_save(vm, arg_str(args, "path"), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_state_load(const struct qmp_call *call,
				   json_object *args, GError **err)
{
	struct vm *vm = call_vm(call);

	if (!vm_stopped(vm, err) || !vm_snapshot_load(vm, arg_str(args, "path"), err))
		return NULL;
	return json_object_new_object();
}

static const struct qmp_arg path_args[] = {
	{ .name = "path", .type = QMP_TYPE_STR },
	{ NULL },
};

static const struct qmp_command qmp_vm_commands[] = {
	{ .name = "query-status", .fn = cmd_query_status },
	{ .name = "stop", .fn = cmd_stop },
	{ .name = "cont", .fn = cmd_cont },
	{ .name = "system_reset", .fn = cmd_system_reset },
	{ .name = "quit", .fn = cmd_quit },
	{ .name = "query-cpus-fast", .fn = cmd_query_cpus_fast },
	{ .name = "query-kvm", .fn = cmd_query_kvm },
	{ .name = "query-name", .fn = cmd_query_name },
	{ .name = "query-block", .fn = cmd_query_block },
	{ .name = "x-tern-state-save", .fn = cmd_state_save, .args = path_args },
	{ .name = "x-tern-state-load", .fn = cmd_state_load, .args = path_args },
	{ NULL },
};

static void qmp_vm_event(void *opaque, enum vm_event ev,
			 const struct vm_event_info *info)
{
	struct qmp_vm *q = opaque;
	json_object *data = NULL;
	const char *name = NULL;

	switch (ev) {
	case VM_EVENT_STOP:
		name = "STOP";
		break;
	case VM_EVENT_RESUME:
		name = "RESUME";
		break;
	case VM_EVENT_RESET:
		name = "RESET";
		break;
	case VM_EVENT_SHUTDOWN:
		name = "SHUTDOWN";
		break;
	}
	if (!name)
		return;
	if (ev == VM_EVENT_RESET || ev == VM_EVENT_SHUTDOWN) {
		data = json_object_new_object();
		qmp_add_bool(data, "guest", info->guest);
		qmp_add_str(data, "reason", info->reason ? info->reason : "none");
	}
	qmp_server_emit(q->srv, name, data);
}

struct qmp_vm *qmp_vm_create(struct vm *vm, const char *version, GError **err)
{
	const struct vm_config *cfg = vm->cfg;
	struct qmp_vm *q = g_new0(struct qmp_vm, 1);

	q->vm = vm;
	q->srv = qmp_server_new(version);
	if (!qmp_server_add_commands(q->srv, qmp_vm_commands, q, err) ||
	    !qmp_migration_register(q->srv, vm, err) ||
	    !qmp_emulation_register(q->srv, vm, err))
		goto err;
	if (!qmp_server_add_commands(q->srv, qmp_acpi_commands, vm, err) ||
	    !qmp_server_add_commands(q->srv, qmp_sev_commands, vm, err))
		goto err;
	q->balloon = qmp_balloon_create(q->srv, vm, err);
	if (!q->balloon)
		goto err;
	for (unsigned int i = 0; i < cfg->nr_qmp; i++) {
		const struct qmp_endpoint *ep = &cfg->qmp[i];
		g_autoptr(GError) e = NULL;
		bool ok;

		if (ep->kind == QMP_ENDPOINT_UNIX)
			ok = qmp_server_listen_unix(q->srv, ep->path, &e);
		else
			ok = qmp_server_listen_fd(q->srv, ep->fd, &e);
		if (!ok) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--qmp '%s': %s", ep->spec, e->message);
			goto err;
		}
	}
	if (!qmp_net_register(q->srv, vm, err))
		goto err;
	if (!qmp_vhost_user_register(q->srv, vm, err))
		goto err;
	vm_add_listener(vm, qmp_vm_event, q);
	return q;

err:
	qmp_balloon_destroy(q->balloon);
	qmp_server_free(q->srv);
	g_free(q);
	return NULL;
}

void qmp_vm_destroy(struct qmp_vm *q)
{
	if (!q)
		return;
	vm_remove_listener(q->vm, qmp_vm_event, q);
	qmp_balloon_destroy(q->balloon);
	qmp_server_free(q->srv);
	g_free(q);
}
