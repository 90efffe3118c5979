/* SPDX-License-Identifier: MIT */
/*
 * Inside `tern qmp`: the connection to a server and the requests it sends
 * (client_conn.c), used by the shell and the one-command mode (client.c).
 * Linked only into the binary; nothing else includes this.
 */
#ifndef TERN_QMP_CLIENT_H
#define TERN_QMP_CLIENT_H

#include "tern/qmp.h"

struct conn {
	int fd;
	struct qmp_parser *parser;
	char buf[4096];
	size_t pos, len; /* buf[pos, len) is not parsed yet */
};

bool client_conn_open(struct conn *c, const char *path);
void client_conn_close(struct conn *c);
/*
 * Parse what is buffered: 1 a message (a greeting, reply or event), 0 need
 * more, -1 anything else (printed).
 */
int client_conn_parse(struct conn *c, json_object **msg);
/* The next message: 1 got one, 0 the server closed, -1 an error (printed). */
int client_conn_recv(struct conn *c, json_object **msg);
bool client_conn_send(struct conn *c, json_object *msg);

/* What a server may send (QEMU's docs/interop/qmp-spec). */
enum client_msg {
	CLIENT_MSG_BAD, /* none of these: the server is not speaking QMP */
	CLIENT_MSG_GREETING, /* {"QMP": {...}} */
	CLIENT_MSG_REPLY, /* {"return": ...} or {"error": {"class", "desc"}} */
	CLIENT_MSG_EVENT, /* {"event": NAME, ...} */
};

enum client_msg client_msg_kind(json_object *msg);

/* Read the greeting and negotiate (client.c); errors are printed. */
bool client_negotiate(struct conn *c, const char *path);

/*
 * {"execute": cmd, "arguments": ...} from n words: one JSON object, or
 * key=value words whose values are JSON scalars when they parse as one.
 */
json_object *client_request_build(const char *cmd, char **words, int n,
				  GError **err);

#endif
