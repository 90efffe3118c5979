// SPDX-License-Identifier: MIT
/*
 * QMP dispatch: error classes, the protocol's own commands, QEMU's checks
 * of a request and of its arguments against the command's schema, then
 * the handler.
 */
#include <string.h>

#include "server.h"

G_DEFINE_QUARK(tern-qmp-error-quark, qmp_error)

static const char *const qmp_error_classes[] = {
	[QMP_ERROR_GENERIC] = "GenericError",
	[QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
	[QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
	[QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
	[QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *qmp_error_class_name(const GError *err)
{
	if (err->domain == QMP_ERROR && err->code >= 0 &&
	    (size_t)err->code < G_N_ELEMENTS(qmp_error_classes))
		return qmp_error_classes[err->code];
	return qmp_error_classes[QMP_ERROR_GENERIC];
}

/* Built-in commands: the protocol's own. */

static const char *const qmp_capability_names[] = { "oob", NULL };

static json_object *qmp_cmd_capabilities(const struct qmp_call *call,
					 json_object *args, GError **err)
{
	json_object *enable;

	if (call->client->negotiated) {
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
			"Capabilities negotiation is already complete, command ignored");
		return NULL;
	}
	/* tern offers no capability: "oob" is a known name it lacks. */
	if (json_object_object_get_ex(args, "enable", &enable) &&
	    json_object_array_length(enable)) {
		json_object *cap = json_object_array_get_idx(enable, 0);

		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "Capability '%s' not available",
			    json_object_get_string(cap));
		return NULL;
	}
	call->client->negotiated = true;
	return json_object_new_object();
}

json_object *qmp_version_info(const struct qmp_server *srv)
{
	json_object *v = json_object_new_object();
	json_object *q = json_object_new_object();

	qmp_add_int(q, "micro", srv->version[2]);
	qmp_add_int(q, "minor", srv->version[1]);
	qmp_add_int(q, "major", srv->version[0]);
	json_object_object_add(v, "qemu", q);
	qmp_add_str(v, "package", srv->package);
	return v;
}

static json_object *qmp_cmd_query_version(const struct qmp_call *call,
					  json_object *args, GError **err)
{
	return qmp_version_info(call->server);
}

static json_object *qmp_cmd_query_commands(const struct qmp_call *call,
					   json_object *args, GError **err)
{
	json_object *list = json_object_new_array();

	for (guint i = 0; i < call->server->order->len; i++) {
		const struct qmp_entry *e = call->server->order->pdata[i];
		json_object *o = json_object_new_object();

		qmp_add_str(o, "name", e->cmd->name);
		json_object_array_add(list, o);
	}
	return list;
}

static const struct qmp_arg qmp_capabilities_args[] = {
	{ .name = "enable", .type = QMP_TYPE_ARRAY, .optional = true,
	  .elem = QMP_TYPE_STR, .values = qmp_capability_names },
	{ NULL },
};

const struct qmp_command qmp_builtin_commands[] = {
	{ .name = "qmp_capabilities", .fn = qmp_cmd_capabilities,
	  .args = qmp_capabilities_args },
	{ .name = "query-version", .fn = qmp_cmd_query_version },
	{ .name = "query-commands", .fn = qmp_cmd_query_commands },
	{ NULL },
};

/* Argument checking, with QEMU's messages. */

static const char *const qmp_type_names[] = {
	[QMP_TYPE_ANY] = "any",
	[QMP_TYPE_STR] = "string",
	[QMP_TYPE_INT] = "integer",
	[QMP_TYPE_BOOL] = "boolean",
	[QMP_TYPE_NUMBER] = "number",
	[QMP_TYPE_OBJECT] = "object",
	[QMP_TYPE_ARRAY] = "array",
};

static bool qmp_type_matches(enum qmp_type type, json_object *v)
{
	switch (type) {
	case QMP_TYPE_ANY:
		return true;
	case QMP_TYPE_STR:
		return json_object_is_type(v, json_type_string);
	case QMP_TYPE_INT:
		return json_object_is_type(v, json_type_int);
	case QMP_TYPE_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case QMP_TYPE_NUMBER:
		return json_object_is_type(v, json_type_int) ||
		       json_object_is_type(v, json_type_double);
	case QMP_TYPE_OBJECT:
		return json_object_is_type(v, json_type_object);
	case QMP_TYPE_ARRAY:
		return json_object_is_type(v, json_type_array);
	}
	return false;
}

static bool qmp_value_check(const char *name, enum qmp_type type,
			    const char *const *values, json_object *v,
			    GError **err)
{
	const char *s;

	if (!qmp_type_matches(type, v)) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "Invalid parameter type for '%s', expected: %s",
			    name, qmp_type_names[type]);
		return false;
	}
	if (type != QMP_TYPE_STR || !values)
		return true;
	s = json_object_get_string(v);
	for (const char *const *p = values; *p; p++)
		if (!strcmp(*p, s))
			return true;
	g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
		    "Parameter '%s' does not accept value '%s'", name, s);
	return false;
}

/* Members in schema order (missing, mistyped), then the unexpected ones. */
static bool qmp_args_check(const struct qmp_arg *schema, json_object *args,
			   GError **err)
{
	for (const struct qmp_arg *a = schema; a && a->name; a++) {
		json_object *v;

		if (!json_object_object_get_ex(args, a->name, &v)) {
			if (a->optional)
				continue;
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Parameter '%s' is missing", a->name);
			return false;
		}
		if (!qmp_value_check(a->name, a->type, a->values, v, err))
			return false;
		if (a->type != QMP_TYPE_ARRAY)
			continue;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *elem = json_object_array_get_idx(v, i);
			g_autofree char *n = g_strdup_printf("%s[%zu]", a->name,
							     i);

			if (!qmp_value_check(n, a->elem, a->values, elem, err))
				return false;
		}
	}
	json_object_object_foreach(args, key, val) {
		const struct qmp_arg *a = schema;

		(void)val;
		while (a && a->name && strcmp(a->name, key))
			a++;
		if (!a || !a->name) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Parameter '%s' is unexpected", key);
			return false;
		}
	}
	return true;
}

json_object *qmp_error_response(const GError *err)
{
	json_object *rsp = json_object_new_object();
	json_object *e = json_object_new_object();

	qmp_add_str(e, "class", qmp_error_class_name(err));
	qmp_add_str(e, "desc", err->message);
	json_object_object_add(rsp, "error", e);
	return rsp;
}

/* Dispatch */

/* QEMU's checks of the request object itself (qmp_dispatch_check_obj). */
static const char *qmp_request_check(json_object *req, json_object **args,
				     GError **err)
{
	const char *exec = NULL;

	json_object_object_foreach(req, key, val) {
		if (!strcmp(key, "execute")) {
			if (!json_object_is_type(val, json_type_string)) {
				g_set_error_literal(err, QMP_ERROR,
					QMP_ERROR_GENERIC,
					"QMP input member 'execute' must be a string");
				return NULL;
			}
			exec = json_object_get_string(val);
		} else if (!strcmp(key, "arguments")) {
			if (!json_object_is_type(val, json_type_object)) {
				g_set_error_literal(err, QMP_ERROR,
					QMP_ERROR_GENERIC,
					"QMP input member 'arguments' must be an object");
				return NULL;
			}
			*args = val;
		} else if (strcmp(key, "id")) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "QMP input member '%s' is unexpected", key);
			return NULL;
		}
	}
	if (!exec)
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "QMP input lacks member 'execute'");
	return exec;
}

json_object *qmp_dispatch(struct qmp_client *c, json_object *req)
{
	struct qmp_server *srv = c->srv;
	g_autoptr(json_object) empty = json_object_new_object();
	json_object *args = empty, *ret = NULL, *rsp;
	const struct qmp_entry *entry;
	g_autoptr(GError) err = NULL;
	const char *name;

	if (!json_object_is_type(req, json_type_object)) {
		g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "QMP input must be a JSON object");
		goto out;
	}
	name = qmp_request_check(req, &args, &err);
	if (!name)
		goto out;
	entry = g_hash_table_lookup(srv->commands, name);
	if (!c->negotiated &&
	    (!entry || entry->cmd->fn != qmp_cmd_capabilities)) {
		g_set_error(&err, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
			    "Expecting capabilities negotiation with 'qmp_capabilities'");
		goto out;
	}
	if (!entry) {
		g_set_error(&err, QMP_ERROR, QMP_ERROR_COMMAND_NOT_FOUND,
			    "The command %s has not been found", name);
		goto out;
	}
	if (!qmp_args_check(entry->cmd->args, args, &err))
		goto out;
	{
		struct qmp_call call = { srv, c, entry->opaque };

		ret = entry->cmd->fn(&call, args, &err);
	}
	if (!ret && !err)
		g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "internal error: %s returned nothing", name);
out:
	if (err) {
		json_object_put(ret);
		rsp = qmp_error_response(err);
	} else {
		rsp = json_object_new_object();
		json_object_object_add(rsp, "return", ret);
	}
	return rsp;
}
