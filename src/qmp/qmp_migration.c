// SPDX-License-Identifier: MIT
/*
 * QEMU's migration commands (qapi/migration.json) over the migration API:
 * the same names, arguments, checks, messages and reply shapes as QEMU
 * 7.2, so a tool that migrates QEMU migrates tern. Parameters tern has no
 * use for (compression, multifd, TLS off, announce timings) are accepted,
 * checked as QEMU checks them and reported back; capabilities it does not
 * have are refused when switched on (docs/qmp.md lists them).
 */
#include <string.h>

#include "tern/error.h"
#include "tern/migration.h"
#include "tern/qmp.h"
#include "tern/vm.h"
#include "qmp_migration.h"

struct qmp_mig {
	struct qmp_server *srv;
	struct vm *vm;
	json_object *params; /* every QEMU parameter, as query shows them */
};

static struct migration *call_mig(const struct qmp_call *call)
{
	return ((struct qmp_mig *)call->opaque)->vm->migration;
}

static const char *arg_str(json_object *args, const char *key)
{
	return json_object_get_string(json_object_object_get(args, key));
}

static bool arg_bool(json_object *args, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(args, key, &v) &&
	       json_object_get_boolean(v);
}

static json_object *cmd_migrate(const struct qmp_call *call, json_object *args,
				GError **err)
{
	if (arg_bool(args, "blk") || arg_bool(args, "inc")) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "tern has no block migration: disks are shared storage, flushed and handed over at the switch-over");
		return NULL;
	}
	if (!migration_start(call_mig(call), arg_str(args, "uri"),
			     arg_bool(args, "resume"), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_migrate_incoming(const struct qmp_call *call,
					 json_object *args, GError **err)
{
	if (!migration_incoming(call_mig(call), arg_str(args, "uri"), err))
		return NULL;
	return json_object_new_object();
}

static json_object *ram_info(const struct migration_info *i)
{
	json_object *ram = json_object_new_object();

	qmp_add_int(ram, "transferred", (int64_t)i->ram.transferred);
	qmp_add_int(ram, "remaining", (int64_t)i->ram.remaining);
	qmp_add_int(ram, "total", (int64_t)i->ram.total);
	qmp_add_int(ram, "duplicate", (int64_t)i->ram.duplicate);
	qmp_add_int(ram, "skipped", 0);
	qmp_add_int(ram, "normal", (int64_t)i->ram.normal);
	qmp_add_int(ram, "normal-bytes", (int64_t)i->ram.normal_bytes);
	qmp_add_int(ram, "dirty-pages-rate", (int64_t)i->ram.dirty_pages_rate);
	json_object_object_add(ram, "mbps", json_object_new_double(i->ram.mbps));
	qmp_add_int(ram, "dirty-sync-count", (int64_t)i->ram.dirty_sync_count);
	qmp_add_int(ram, "postcopy-requests", (int64_t)i->ram.postcopy_requests);
	qmp_add_int(ram, "page-size", (int64_t)i->ram.page_size);
	qmp_add_int(ram, "multifd-bytes", 0);
	qmp_add_int(ram, "pages-per-second", (int64_t)i->ram.pages_per_second);
	qmp_add_int(ram, "precopy-bytes", (int64_t)i->ram.precopy_bytes);
	qmp_add_int(ram, "downtime-bytes", (int64_t)i->ram.downtime_bytes);
	qmp_add_int(ram, "postcopy-bytes", (int64_t)i->ram.postcopy_bytes);
	qmp_add_int(ram, "dirty-sync-missed-zero-copy", 0);
	return ram;
}

/* QEMU's MigrationInfo: which members appear depends on the status. */
static json_object *cmd_query_migrate(const struct qmp_call *call,
				      json_object *args, GError **err)
{
	json_object *ret = json_object_new_object();
	struct migration_info i;

	migration_query(call_mig(call), &i);
	if (i.listen_type[0]) {
		json_object *list = json_object_new_array();
		json_object *a = json_object_new_object();

		qmp_add_str(a, "type", i.listen_type);
		if (!strcmp(i.listen_type, "unix")) {
			qmp_add_str(a, "path", i.listen_path);
		} else {
			qmp_add_str(a, "host", i.listen_host);
			qmp_add_str(a, "port", i.listen_port);
		}
		json_object_array_add(list, a);
		json_object_object_add(ret, "socket-address", list);
		/* Still listening: QEMU shows no status yet. */
		if (i.status == MIGRATION_SETUP)
			return ret;
	}
	if (i.status == MIGRATION_NONE)
		return ret;
	qmp_add_str(ret, "status", migration_status_name(i.status));
	/* Post-copy paused or recovering: why (QEMU 7.2 says it for failed only). */
	if ((i.status == MIGRATION_FAILED || i.status == MIGRATION_POSTCOPY_PAUSED ||
	     i.status == MIGRATION_POSTCOPY_RECOVER) && i.error[0])
		qmp_add_str(ret, "error-desc", i.error);
	if (!i.outgoing || !i.has_ram)
		return ret;
	qmp_add_int(ret, "setup-time", (int64_t)i.setup_time_ms);
	qmp_add_int(ret, "total-time", (int64_t)i.total_time_ms);
	if (i.has_expected_downtime)
		qmp_add_int(ret, "expected-downtime", (int64_t)i.expected_downtime_ms);
	if (i.has_downtime)
		qmp_add_int(ret, "downtime", (int64_t)i.downtime_ms);
	if (i.has_throttle)
		qmp_add_int(ret, "cpu-throttle-percentage", i.cpu_throttle_percentage);
	json_object_object_add(ret, "ram", ram_info(&i));
	return ret;
}

static int cap_index(const char *name)
{
	for (int c = 0; c < MIGRATION_CAP_COUNT; c++)
		if (!strcmp(migration_cap_names[c], name))
			return c;
	return -1;
}

/* The list's elements, checked as QEMU's visitor checks them. */
static bool caps_check(json_object *list, GError **err)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *v;
		const char *bad = NULL;

		if (!json_object_is_type(e, json_type_object)) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Invalid parameter type for 'capabilities[%zu]', expected: object",
				    i);
			return false;
		}
		if (!json_object_object_get_ex(e, "capability", &v))
			bad = "Parameter 'capabilities[%zu].capability' is missing";
		else if (!json_object_is_type(v, json_type_string))
			bad = "Invalid parameter type for 'capabilities[%zu].capability', expected: string";
		else if (!json_object_object_get_ex(e, "state", &v))
			bad = "Parameter 'capabilities[%zu].state' is missing";
		else if (!json_object_is_type(v, json_type_boolean))
			bad = "Invalid parameter type for 'capabilities[%zu].state', expected: boolean";
		if (bad) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, bad, i);
			return false;
		}
		json_object_object_foreach(e, key, val) {
			(void)val;
			if (strcmp(key, "capability") && strcmp(key, "state")) {
				g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
					    "Parameter 'capabilities[%zu].%s' is unexpected",
					    i, key);
				return false;
			}
		}
		if (cap_index(arg_str(e, "capability")) < 0) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Parameter 'capability' does not accept value '%s'",
				    arg_str(e, "capability"));
			return false;
		}
	}
	return true;
}

static json_object *cmd_set_caps(const struct qmp_call *call, json_object *args,
				 GError **err)
{
	json_object *list = json_object_object_get(args, "capabilities");
	struct migration *m = call_mig(call);
	bool old[MIGRATION_CAP_COUNT];

	if (!caps_check(list, err))
		return NULL;
	for (int c = 0; c < MIGRATION_CAP_COUNT; c++)
		old[c] = migration_get_cap(m, (enum migration_cap)c);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		int c = cap_index(arg_str(e, "capability"));

		if (!migration_set_cap(m, (enum migration_cap)c, arg_bool(e, "state"),
				       err)) {
			/* All or nothing, as QEMU. */
			for (int k = 0; k < MIGRATION_CAP_COUNT; k++)
				(void)migration_set_cap(m, (enum migration_cap)k,
							old[k], NULL);
			return NULL;
		}
	}
	return json_object_new_object();
}

static json_object *cmd_query_caps(const struct qmp_call *call,
				   json_object *args, GError **err)
{
	json_object *list = json_object_new_array();

	for (int c = 0; c < MIGRATION_CAP_COUNT; c++) {
		json_object *e = json_object_new_object();

		qmp_add_bool(e, "state", migration_get_cap(call_mig(call), c));
		qmp_add_str(e, "capability", migration_cap_names[c]);
		json_object_array_add(list, e);
	}
	return list;
}

static json_object *cmd_start_postcopy(const struct qmp_call *call,
				       json_object *args, GError **err)
{
	if (!migration_start_postcopy(call_mig(call), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_cancel(const struct qmp_call *call, json_object *args,
			       GError **err)
{
	if (!migration_cancel(call_mig(call), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_pause(const struct qmp_call *call, json_object *args,
			      GError **err)
{
	if (!migration_pause(call_mig(call), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_recover(const struct qmp_call *call, json_object *args,
				GError **err)
{
	if (!migration_recover(call_mig(call), arg_str(args, "uri"), err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_continue(const struct qmp_call *call, json_object *args,
				 GError **err)
{
	const char *state = arg_str(args, "state");
	int s = 0;

	while (migration_status_names[s] && strcmp(migration_status_names[s], state))
		s++;
	if (!migration_continue(call_mig(call), (enum migration_status)s, err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_set_params(const struct qmp_call *call,
				   json_object *args, GError **err)
{
	struct qmp_mig *q = call->opaque;

	return qmp_migration_set_params(call_mig(call), q->params, args, err);
}

static json_object *cmd_query_params(const struct qmp_call *call,
				     json_object *args, GError **err)
{
	struct qmp_mig *q = call->opaque;
	json_object *copy = NULL;

	json_object_deep_copy(q->params, &copy, NULL);
	return copy;
}

static const struct qmp_arg migrate_args[] = {
	{ .name = "uri", .type = QMP_TYPE_STR },
	{ .name = "blk", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "inc", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "detach", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "resume", .type = QMP_TYPE_BOOL, .optional = true },
	{ NULL },
};

static const struct qmp_arg uri_args[] = {
	{ .name = "uri", .type = QMP_TYPE_STR },
	{ NULL },
};

static const struct qmp_arg caps_args[] = {
	{ .name = "capabilities", .type = QMP_TYPE_ARRAY, .elem = QMP_TYPE_ANY },
	{ NULL },
};

static const struct qmp_arg continue_args[] = {
	{ .name = "state", .type = QMP_TYPE_STR,
	  .values = migration_status_names },
	{ NULL },
};

static const struct qmp_command qmp_migration_commands[] = {
	{ .name = "migrate", .fn = cmd_migrate, .args = migrate_args },
	{ .name = "migrate-incoming", .fn = cmd_migrate_incoming, .args = uri_args },
	{ .name = "query-migrate", .fn = cmd_query_migrate },
	{ .name = "migrate-set-capabilities", .fn = cmd_set_caps, .args = caps_args },
	{ .name = "query-migrate-capabilities", .fn = cmd_query_caps },
	{ .name = "migrate-set-parameters", .fn = cmd_set_params,
	  .args = qmp_migration_params_args },
	{ .name = "query-migrate-parameters", .fn = cmd_query_params },
	{ .name = "migrate-start-postcopy", .fn = cmd_start_postcopy },
	{ .name = "migrate_cancel", .fn = cmd_cancel },
	{ .name = "migrate-pause", .fn = cmd_pause },
	{ .name = "migrate-recover", .fn = cmd_recover, .args = uri_args },
	{ .name = "migrate-continue", .fn = cmd_continue, .args = continue_args },
	{ NULL },
};

/* MIGRATION and MIGRATION_PASS, when the events capability is on. */
static void qmp_migration_event(void *opaque, enum migration_event ev,
				enum migration_status status, uint64_t pass)
{
	struct qmp_mig *q = opaque;
	json_object *data = json_object_new_object();

	if (!migration_get_cap(q->vm->migration, MIGRATION_CAP_EVENTS)) {
		json_object_put(data);
		return;
	}
	if (ev == MIGRATION_EVENT_PASS) {
		qmp_add_int(data, "pass", (int64_t)pass);
		qmp_server_emit(q->srv, "MIGRATION_PASS", data);
	} else {
		qmp_add_str(data, "status", migration_status_name(status));
		qmp_server_emit(q->srv, "MIGRATION", data);
	}
}

static void qmp_migration_free(void *opaque)
{
	struct qmp_mig *q = opaque;

	json_object_put(q->params);
	g_free(q);
}

bool qmp_migration_register(struct qmp_server *srv, struct vm *vm, GError **err)
{
	struct qmp_mig *q;

	/* A VM without migration (unit tests) serves none of it. */
	if (!vm->migration)
		return true;
	q = g_new0(struct qmp_mig, 1);
	q->srv = srv;
	q->vm = vm;
	q->params = qmp_migration_params_new();
	if (!qmp_server_add_commands(srv, qmp_migration_commands, q, err)) {
		qmp_migration_free(q);
		return false;
	}
	migration_set_listener(vm->migration, qmp_migration_event, q,
			       qmp_migration_free);
	return true;
}
