// SPDX-License-Identifier: MIT
/*
 * `tern qmp`'s side of the wire: the connection to a QMP server (QEMU's or
 * tern's), framed by the same parser the server uses, and the requests
 * built from the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

/*
 * What one message from the server may be. Replies are bigger than
 * requests (QEMU 7.2's query-qmp-schema is 207 KB, 4364 objects, ~7 MiB by
 * the parser's estimate), but not without bound: a hostile server could
 * otherwise make this process allocate ~260 bytes per byte it sends.
 */
#define CLIENT_MAX_MESSAGE (8 * MiB)
#define CLIENT_MAX_MEMORY (32 * MiB)

/* The connection */

bool client_conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "tern qmp: %s: path too long\n", path);
		return false;
	}
	strcpy(addr.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "tern qmp: %s: %s\n", path, g_strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		return false;
	}
	c->parser = qmp_parser_new(CLIENT_MAX_MESSAGE, CLIENT_MAX_MEMORY);
	c->pos = c->len = 0;
	return true;
}

void client_conn_close(struct conn *c)
{
	qmp_parser_free(c->parser);
	close(c->fd);
}

int client_conn_parse(struct conn *c, json_object **msg)
{
	while (c->pos < c->len) {
		g_autoptr(GError) err = NULL;
		size_t used;
		enum qmp_parse_status st = qmp_parser_feed(c->parser,
			c->buf + c->pos, c->len - c->pos, &used, msg, &err);

		c->pos += used;
		if (st == QMP_PARSE_VALUE &&
		    client_msg_kind(*msg) != CLIENT_MSG_BAD)
			return 1;
		if (st == QMP_PARSE_VALUE) {
			g_autofree char *text = qmp_json_format(*msg, false);

			/* The start says enough; 8 MiB would not help. */
			fprintf(stderr,
				"tern qmp: the server sent something that is not a QMP message: %.200s%s\n",
				text, strlen(text) > 200 ? "..." : "");
			json_object_put(*msg);
			*msg = NULL;
			return -1;
		}
		if (st != QMP_PARSE_MORE) {
			fprintf(stderr, "tern qmp: the server sent bad JSON: %s\n",
				err->message);
			return -1;
		}
	}
	return 0;
}

int client_conn_recv(struct conn *c, json_object **msg)
{
	for (;;) {
		int r = client_conn_parse(c, msg);
		ssize_t n;

		if (r)
			return r;
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0) {
			fprintf(stderr, "tern qmp: read: %s\n", g_strerror(errno));
			return -1;
		}
		c->pos = 0;
		c->len = n;
	}
}

bool client_conn_send(struct conn *c, json_object *msg)
{
	g_autofree char *text = qmp_json_format(msg, false);
	g_autofree char *line = g_strconcat(text, "\n", NULL);
	int ret = write_full(c->fd, line, strlen(line));

	if (ret) {
		fprintf(stderr, "tern qmp: write: %s\n", g_strerror(-ret));
		return false;
	}
	return true;
}

static bool member_is(json_object *o, const char *key, enum json_type type)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, type);
}

enum client_msg client_msg_kind(json_object *msg)
{
	bool ret, err;
	json_object *e;

	if (!json_object_is_type(msg, json_type_object))
		return CLIENT_MSG_BAD;
	if (json_object_object_get_ex(msg, "event", NULL))
		return member_is(msg, "event", json_type_string)
			? CLIENT_MSG_EVENT : CLIENT_MSG_BAD;
	if (json_object_object_get_ex(msg, "QMP", NULL))
		return member_is(msg, "QMP", json_type_object)
			? CLIENT_MSG_GREETING : CLIENT_MSG_BAD;
	ret = json_object_object_get_ex(msg, "return", NULL);
	err = json_object_object_get_ex(msg, "error", &e);
	if (ret == err)
		return CLIENT_MSG_BAD;
	if (err && !(member_is(e, "class", json_type_string) &&
		     member_is(e, "desc", json_type_string)))
		return CLIENT_MSG_BAD;
	return CLIENT_MSG_REPLY;
}

/* Requests */

/* A value given as key=value: JSON if it is one, else a string. */
static json_object *parse_value(const char *s)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *v = json_tokener_parse_ex(tok, s, strlen(s) + 1);

	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != strlen(s) ||
	    json_object_is_type(v, json_type_object) ||
	    json_object_is_type(v, json_type_array)) {
		json_object_put(v);
		v = json_object_new_string(s);
	}
	json_tokener_free(tok);
	return v;
}

json_object *client_request_build(const char *cmd, char **words, int n,
				  GError **err)
{
	g_autoptr(json_object) req = json_object_new_object();
	json_object *args = NULL;

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (n == 1 && g_str_has_prefix(g_strchug(words[0]), "{")) {
		enum json_tokener_error e;

		args = json_tokener_parse_verbose(words[0], &e);
		if (!json_object_is_type(args, json_type_object)) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "arguments: expected a JSON object%s%s",
				    e ? ": " : "", e ? json_tokener_error_desc(e) : "");
			json_object_put(args);
			return NULL;
		}
	} else if (n) {
		args = json_object_new_object();
		for (int i = 0; i < n; i++) {
			const char *eq = strchr(words[i], '=');
			g_autofree char *key = NULL;

			if (!eq || eq == words[i]) {
				g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
					    "argument '%s': expected key=value or a JSON object",
					    words[i]);
				json_object_put(args);
				return NULL;
			}
			key = g_strndup(words[i], eq - words[i]);
			json_object_object_add(args, key, parse_value(eq + 1));
		}
	}
	if (args)
		json_object_object_add(req, "arguments", args);
	return g_steal_pointer(&req);
}
