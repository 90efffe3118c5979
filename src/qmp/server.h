/* SPDX-License-Identifier: MIT */
/*
 * Inside the QMP server: what its three files share. server.c owns the
 * server, its listeners and events; conn.c one client's connection (input,
 * the output queue, its life); dispatch.c the protocol's own commands,
 * argument checks and dispatch. Nothing outside src/qmp/ includes this.
 */
#ifndef TERN_QMP_SERVER_H
#define TERN_QMP_SERVER_H

#include "tern/qmp.h"

#define QMP_READ_CHUNK (16 * KiB)

struct qmp_entry {
	const struct qmp_command *cmd;
	void *opaque;
};

struct qmp_client {
	struct qmp_server *srv;
	unsigned int id; /* for log messages */
	int refs; /* one for the server's list, one while a callback runs */
	int fd;
	guint watch;
	GIOCondition watch_cond;
	struct qmp_parser *parser;
	char *in; /* QMP_READ_CHUNK bytes, not zeroed: recv() fills them */
	size_t in_pos, in_len; /* in[in_pos, in_len) is not parsed yet */
	GString *out;
	size_t out_pos; /* out->str[out_pos, out->len) is not sent yet */
	size_t reply_len; /* the last reply queued, until out is empty */
	bool negotiated;
	bool eof; /* nothing more will be read */
	bool closed;
};

struct qmp_server {
	int version[3];
	char *package;
	char *greeting; /* its text: it never changes */
	GHashTable *commands; /* name → struct qmp_entry */
	GPtrArray *order; /* struct qmp_entry, in the order added */
	GPtrArray *listeners;
	GList *clients;
	unsigned int nr_clients;
	unsigned int next_id;
};

/* dispatch.c */
extern const struct qmp_command qmp_builtin_commands[];
json_object *qmp_version_info(const struct qmp_server *srv);
json_object *qmp_error_response(const GError *err);
/* The reply to one request from c (a new reference), without its id. */
json_object *qmp_dispatch(struct qmp_client *c, json_object *req);

/* conn.c */
/* Bytes queued for c and not sent yet. */
size_t qmp_client_pending(const struct qmp_client *c);
/* Send what the socket takes now; false when the client is gone. */
bool qmp_client_flush(struct qmp_client *c);
/* Queue an event's line of JSON text and send it. */
void qmp_client_send_text(struct qmp_client *c, const char *text);
struct qmp_client *qmp_client_ref(struct qmp_client *c);
void qmp_client_unref(struct qmp_client *c);
/* why: logged as a warning; NULL for an ordinary end. */
void qmp_client_close(struct qmp_client *c, const char *why);

#endif
