// SPDX-License-Identifier: MIT
/*
 * The QMP server: listeners, clients, negotiation, dispatch by command
 * tables with argument schemas, replies and events.
 *
 * Every socket is non-blocking and served from the main loop. A client's
 * replies queue in its output buffer; while more than QMP_OUTPUT_HIGH_WATER
 * bytes wait there its input is not read (pipelined commands wait, as in
 * QEMU), and a client that lets more than QMP_OUTPUT_MAX pile up (events
 * keep coming while it does not read) is disconnected. Nothing a client
 * does or fails to do makes the main loop wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tern/qmp.h"

#define QMP_READ_CHUNK (16 * KiB)
#define QMP_LISTEN_BACKLOG 16
/* At exit, how long queued output (the reply to quit, SHUTDOWN) may take. */
#define QMP_FLUSH_TIMEOUT_MS 500
/* After accept() fails for want of descriptors, wait before trying again. */
#define QMP_ACCEPT_RETRY_S 1

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

struct qmp_entry {
	const struct qmp_command *cmd;
	void *opaque;
};

struct qmp_listener {
	struct qmp_server *srv;
	int fd;
	guint watch;
	char *path; /* a socket we bound: removed at the end if still ours */
	dev_t dev;
	ino_t ino;
};

struct qmp_client {
	struct qmp_server *srv;
	unsigned int id; /* for log messages */
	int refs; /* one for the server's list, one while a callback runs */
	int fd;
	guint watch;
	GIOCondition watch_cond;
	struct qmp_parser *parser;
	char in[QMP_READ_CHUNK];
	size_t in_pos, in_len; /* in[in_pos, in_len) is not parsed yet */
	GString *out;
	size_t out_pos; /* out->str[out_pos, out->len) is not sent yet */
	bool negotiated;
	bool eof; /* nothing more will be read */
	bool closed;
};

struct qmp_server {
	int version[3];
	char *package;
	GHashTable *commands; /* name → struct qmp_entry */
	GPtrArray *order; /* struct qmp_entry, in the order added */
	GPtrArray *listeners;
	GList *clients;
	unsigned int nr_clients;
	unsigned int next_id;
};

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

static json_object *qmp_version_info(const struct qmp_server *srv)
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

static const struct qmp_command qmp_builtin_commands[] = {
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

/* Client output */

static size_t client_pending(const struct qmp_client *c)
{
	return c->out->len - c->out_pos;
}

static void client_close(struct qmp_client *c, const char *why);
static struct qmp_client *client_ref(struct qmp_client *c);
static void client_unref(struct qmp_client *c);

/* Send what the socket takes now; false when the client is gone. */
static bool client_flush(struct qmp_client *c)
{
	while (client_pending(c)) {
		ssize_t n = send(c->fd, c->out->str + c->out_pos,
				 client_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* A client that just went away is no news. */
			client_close(c, errno == EPIPE || errno == ECONNRESET
					? NULL : g_strerror(errno));
			return false;
		}
		c->out_pos += n;
	}
	if (!client_pending(c)) {
		g_string_truncate(c->out, 0);
		c->out_pos = 0;
	} else if (c->out_pos >= QMP_OUTPUT_HIGH_WATER) {
		g_string_erase(c->out, 0, c->out_pos);
		c->out_pos = 0;
	}
	return true;
}

static void client_update_watch(struct qmp_client *c);

/* Queue one line of JSON text ("\r\n" ended, as QEMU's) and send it. */
static void client_send_text(struct qmp_client *c, const char *text)
{
	if (c->closed)
		return;
	g_string_append(c->out, text);
	g_string_append(c->out, "\r\n");
	if (!client_flush(c))
		return;
	if (client_pending(c) > QMP_OUTPUT_MAX) {
		client_close(c, "it does not read its replies and events");
		return;
	}
	/* Output left over: wait for the socket to take it. */
	if (client_pending(c) && !(c->watch_cond & G_IO_OUT))
		client_update_watch(c);
}

static void client_send(struct qmp_client *c, json_object *msg)
{
	g_autofree char *text = qmp_json_format(msg, false);

	client_send_text(c, text);
}

static json_object *qmp_error_response(const GError *err)
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

static json_object *qmp_dispatch(struct qmp_client *c, json_object *req)
{
	struct qmp_server *srv = c->srv;
	g_autoptr(json_object) empty = json_object_new_object();
	json_object *args = empty, *id = NULL, *ret = NULL, *rsp;
	const struct qmp_entry *entry;
	g_autoptr(GError) err = NULL;
	bool has_id = false;
	const char *name;

	if (!json_object_is_type(req, json_type_object)) {
		g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "QMP input must be a JSON object");
		goto out;
	}
	has_id = json_object_object_get_ex(req, "id", &id);
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
	if (has_id)
		json_object_object_add(rsp, "id", json_object_get(id));
	return rsp;
}

/* Client input */

static void client_handle(struct qmp_client *c, json_object *req)
{
	g_autoptr(json_object) rsp = qmp_dispatch(c, req);

	client_send(c, rsp);
}

static void client_send_error(struct qmp_client *c, const GError *err)
{
	g_autoptr(json_object) rsp = qmp_error_response(err);

	client_send(c, rsp);
}

/* Parse and answer buffered input while the client keeps up with replies. */
static void client_run(struct qmp_client *c)
{
	while (!c->closed && c->in_pos < c->in_len &&
	       client_pending(c) < QMP_OUTPUT_HIGH_WATER) {
		g_autoptr(GError) err = NULL;
		json_object *req = NULL;
		size_t used;

		switch (qmp_parser_feed(c->parser, c->in + c->in_pos,
					c->in_len - c->in_pos, &used, &req,
					&err)) {
		case QMP_PARSE_MORE:
			break;
		case QMP_PARSE_VALUE:
			client_handle(c, req);
			json_object_put(req);
			break;
		case QMP_PARSE_ERROR:
			client_send_error(c, err);
			break;
		case QMP_PARSE_FATAL:
			tern_warn("qmp: client %u: %s: disconnecting", c->id,
				  err->message);
			client_send_error(c, err);
			/* Answer what came before, then hang up. */
			c->eof = true;
			c->in_len = c->in_pos;
			continue;
		}
		c->in_pos += used;
	}
	if (!c->closed && c->eof && c->in_pos == c->in_len &&
	    !client_pending(c))
		client_close(c, NULL);
}

static void client_read(struct qmp_client *c)
{
	ssize_t n;

	do
		n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in_pos = 0;
		c->in_len = n;
	} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		c->eof = true;
	}
}

static struct qmp_client *client_ref(struct qmp_client *c)
{
	c->refs++;
	return c;
}

static void client_unref(struct qmp_client *c)
{
	if (--c->refs)
		return;
	qmp_parser_free(c->parser);
	g_string_free(c->out, TRUE);
	g_free(c);
}

static gboolean client_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct qmp_client *c = client_ref(opaque);

	/* HUP and ERR come whatever was asked: let send/recv say what is up. */
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR))
		client_flush(c);
	if (!c->closed && (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) &&
	    !c->eof && c->in_pos == c->in_len &&
	    client_pending(c) < QMP_OUTPUT_HIGH_WATER)
		client_read(c);
	client_run(c);
	if (!c->closed)
		client_update_watch(c);
	client_unref(c);
	return G_SOURCE_CONTINUE;
}

static void client_update_watch(struct qmp_client *c)
{
	GIOCondition want = G_IO_HUP | G_IO_ERR;

	if (!c->eof && c->in_pos == c->in_len &&
	    client_pending(c) < QMP_OUTPUT_HIGH_WATER)
		want |= G_IO_IN;
	if (client_pending(c))
		want |= G_IO_OUT;
	if (c->watch && want == c->watch_cond)
		return;
	if (c->watch)
		g_source_remove(c->watch);
	c->watch = g_unix_fd_add(c->fd, want, client_ready, c);
	c->watch_cond = want;
}

static void client_close(struct qmp_client *c, const char *why)
{
	struct qmp_server *srv = c->srv;

	if (c->closed)
		return;
	c->closed = true;
	if (why)
		tern_warn("qmp: client %u disconnected: %s", c->id, why);
	else
		tern_debug("qmp: client %u disconnected", c->id);
	if (c->watch)
		g_source_remove(c->watch);
	c->watch = 0;
	close(c->fd);
	c->fd = -1;
	srv->clients = g_list_remove(srv->clients, c);
	srv->nr_clients--;
	client_unref(c);
}

bool qmp_server_add_client(struct qmp_server *srv, int fd, GError **err)
{
	g_autoptr(json_object) greeting = json_object_new_object();
	json_object *q = json_object_new_object();
	struct qmp_client *c;
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "client socket: %s", g_strerror(errno));
		json_object_put(q);
		return false;
	}
	c = g_new0(struct qmp_client, 1);
	c->srv = srv;
	c->id = ++srv->next_id;
	c->refs = 1;
	c->fd = fd;
	c->parser = qmp_parser_new(QMP_MAX_MESSAGE);
	c->out = g_string_new(NULL);
	srv->clients = g_list_append(srv->clients, c);
	srv->nr_clients++;
	tern_debug("qmp: client %u connected", c->id);

	json_object_object_add(q, "version", qmp_version_info(srv));
	json_object_object_add(q, "capabilities", json_object_new_array());
	json_object_object_add(greeting, "QMP", q);
	client_ref(c);
	client_send(c, greeting);
	if (!c->closed)
		client_update_watch(c);
	client_unref(c);
	return true;
}

unsigned int qmp_server_nr_clients(const struct qmp_server *srv)
{
	return srv->nr_clients;
}

void qmp_server_emit(struct qmp_server *srv, const char *event,
		     json_object *data)
{
	g_autoptr(json_object) msg = json_object_new_object();
	json_object *ts = json_object_new_object();
	gint64 now = g_get_real_time();
	g_autofree char *text = NULL;
	GList *next;

	json_object_object_add(ts, "seconds",
			       json_object_new_int64(now / G_USEC_PER_SEC));
	json_object_object_add(ts, "microseconds",
			       json_object_new_int64(now % G_USEC_PER_SEC));
	json_object_object_add(msg, "timestamp", ts);
	json_object_object_add(msg, "event", json_object_new_string(event));
	if (data)
		json_object_object_add(msg, "data", data);
	text = qmp_json_format(msg, false);

	/* A client that falls too far behind is dropped from the list here. */
	for (GList *l = srv->clients; l; l = next) {
		struct qmp_client *c = l->data;

		next = l->next;
		if (c->negotiated)
			client_send_text(c, text);
	}
}

/* Listeners */

static gboolean listener_ready(gint fd, GIOCondition cond, gpointer opaque);

static gboolean listener_retry(gpointer opaque)
{
	struct qmp_listener *l = opaque;

	l->watch = g_unix_fd_add(l->fd, G_IO_IN, listener_ready, l);
	return G_SOURCE_REMOVE;
}

static gboolean listener_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct qmp_listener *l = opaque;
	struct qmp_server *srv = l->srv;

	for (;;) {
		g_autoptr(GError) err = NULL;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return G_SOURCE_CONTINUE;
			/* Out of descriptors: the socket stays readable, so
			 * do not spin on it. */
			tern_warn("qmp: accept: %s", g_strerror(errno));
			l->watch = g_timeout_add_seconds(QMP_ACCEPT_RETRY_S,
							 listener_retry, l);
			return G_SOURCE_REMOVE;
		}
		if (srv->nr_clients >= QMP_MAX_CLIENTS) {
			tern_warn("qmp: refusing a connection: %u clients",
				  srv->nr_clients);
			close(cfd);
			continue;
		}
		if (!qmp_server_add_client(srv, cfd, &err)) {
			tern_warn("qmp: %s", err->message);
			close(cfd);
		}
	}
}

static void listener_add(struct qmp_server *srv, int fd, const char *path,
			 const struct stat *st)
{
	struct qmp_listener *l = g_new0(struct qmp_listener, 1);

	l->srv = srv;
	l->fd = fd;
	if (path) {
		l->path = g_strdup(path);
		l->dev = st->st_dev;
		l->ino = st->st_ino;
	}
	l->watch = g_unix_fd_add(fd, G_IO_IN, listener_ready, l);
	g_ptr_array_add(srv->listeners, l);
}

static void listener_free(gpointer opaque)
{
	struct qmp_listener *l = opaque;
	struct stat st;

	if (l->watch)
		g_source_remove(l->watch);
	close(l->fd);
	/* Remove our socket, not one someone put in its place since. */
	if (l->path && !lstat(l->path, &st) && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->path);
	g_free(l->path);
	g_free(l);
}

/* May a new socket be bound at path? Removes a stale one. */
static bool unix_path_free(const struct sockaddr_un *addr, GError **err)
{
	const char *path = addr->sun_path;
	struct stat st;
	int probe, ret, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "%s",
			    g_strerror(errno));
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "the path exists and is not a socket");
		return false;
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "socket: %s",
			    g_strerror(errno));
		return false;
	}
	ret = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
	e = errno;
	close(probe);
	if (!ret || e == EAGAIN || e == EINPROGRESS) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "another process is listening on this socket");
		return false;
	}
	if (e != ECONNREFUSED) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "cannot tell whether the existing socket is in use: %s",
			    g_strerror(e));
		return false;
	}
	/* Nobody listens: a stale socket left by a process that died. */
	if (unlink(path) < 0 && errno != ENOENT) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "cannot remove the stale socket: %s",
			    g_strerror(errno));
		return false;
	}
	return true;
}

bool qmp_server_listen_unix(struct qmp_server *srv, const char *path,
			    GError **err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (!*path || strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "a socket path must have 1 to %zu bytes",
			    sizeof(addr.sun_path) - 1);
		return false;
	}
	strcpy(addr.sun_path, path);
	if (!unix_path_free(&addr, err))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "socket: %s",
			    g_strerror(errno));
		return false;
	}
	/*
	 * Linux creates the socket file with the socket inode's mode (less
	 * the umask), so it is 0600 from the start: no window in which
	 * another user could connect.
	 */
	if (fchmod(fd, 0600) < 0 ||
	    bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "bind: %s",
			    g_strerror(errno));
		close(fd);
		return false;
	}
	if (lstat(path, &st) < 0 || ((st.st_mode & 0777) != 0600 &&
				     chmod(path, 0600) < 0) ||
	    listen(fd, QMP_LISTEN_BACKLOG) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "listen: %s",
			    g_strerror(errno));
		unlink(path);
		close(fd);
		return false;
	}
	listener_add(srv, fd, path, &st);
	return true;
}

bool qmp_server_listen_fd(struct qmp_server *srv, int fd, GError **err)
{
	int type = 0, listening = 0, flags;
	socklen_t len = sizeof(type);

	if (fcntl(fd, F_GETFD) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "not an open file descriptor");
		return false;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "not a socket: %s", g_strerror(errno));
		return false;
	}
	len = sizeof(listening);
	if (type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    !listening) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "not a listening stream socket");
		return false;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "fcntl: %s",
			    g_strerror(errno));
		return false;
	}
	listener_add(srv, fd, NULL, NULL);
	return true;
}

/* The server */

struct qmp_server *qmp_server_new(const char *version)
{
	struct qmp_server *srv = g_new0(struct qmp_server, 1);
	g_auto(GStrv) parts = g_strsplit(version, ".", 3);

	for (unsigned int i = 0; i < 3 && parts[i]; i++)
		srv->version[i] = atoi(parts[i]);
	srv->package = g_strdup_printf("tern %s", version);
	srv->commands = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					      g_free);
	srv->order = g_ptr_array_new();
	srv->listeners = g_ptr_array_new_with_free_func(listener_free);
	if (!qmp_server_add_commands(srv, qmp_builtin_commands, NULL, NULL))
		g_assert_not_reached();
	return srv;
}

bool qmp_server_add_commands(struct qmp_server *srv,
			     const struct qmp_command *cmds, void *opaque,
			     GError **err)
{
	for (const struct qmp_command *c = cmds; c->name; c++) {
		if (g_hash_table_contains(srv->commands, c->name)) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "QMP command %s is defined twice", c->name);
			return false;
		}
	}
	for (const struct qmp_command *c = cmds; c->name; c++) {
		struct qmp_entry *e = g_new(struct qmp_entry, 1);

		e->cmd = c;
		e->opaque = opaque;
		g_hash_table_insert(srv->commands, (gpointer)c->name, e);
		g_ptr_array_add(srv->order, e);
	}
	return true;
}

/* At exit: give queued output (quit's reply, SHUTDOWN) a moment to leave. */
static void qmp_server_drain(struct qmp_server *srv)
{
	gint64 deadline = g_get_monotonic_time() +
			  QMP_FLUSH_TIMEOUT_MS * (G_USEC_PER_SEC / 1000);
	GList *next;

	for (GList *l = srv->clients; l; l = next) {
		struct qmp_client *c = client_ref(l->data);

		next = l->next;
		while (!c->closed && client_pending(c)) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
			gint64 left = deadline - g_get_monotonic_time();

			if (left <= 0 || poll(&pfd, 1, left / 1000 + 1) <= 0)
				break;
			client_flush(c);
		}
		client_unref(c);
	}
}

void qmp_server_free(struct qmp_server *srv)
{
	if (!srv)
		return;
	g_ptr_array_free(srv->listeners, TRUE);
	qmp_server_drain(srv);
	while (srv->clients)
		client_close(srv->clients->data, NULL);
	g_ptr_array_free(srv->order, TRUE);
	g_hash_table_destroy(srv->commands);
	g_free(srv->package);
	g_free(srv);
}
