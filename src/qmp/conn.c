// SPDX-License-Identifier: MIT
/*
 * One QMP client's connection: its input, parsed and answered while it
 * keeps up with its replies, and its output queue.
 *
 * A client's replies queue in its output buffer; while more than
 * QMP_OUTPUT_HIGH_WATER bytes wait there its input is not read (pipelined
 * commands wait, as in QEMU), and a client that lets more than
 * QMP_OUTPUT_MAX pile up (events keep coming while it does not read) is
 * disconnected. Nothing a client does or fails to do makes the main loop
 * wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

/* Client output */

size_t qmp_client_pending(const struct qmp_client *c)
{
	return c->out->len - c->out_pos;
}

bool qmp_client_flush(struct qmp_client *c)
{
	while (qmp_client_pending(c)) {
		ssize_t n = send(c->fd, c->out->str + c->out_pos,
				 qmp_client_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* A client that just went away is no news. */
			bool gone = errno == EPIPE || errno == ECONNRESET;

			qmp_client_close(c, gone ? NULL : g_strerror(errno));
			return false;
		}
		c->out_pos += n;
	}
	if (!qmp_client_pending(c)) {
		/* A long reply's buffer is not kept as long as the client. */
		if (c->out->allocated_len > 2 * QMP_OUTPUT_HIGH_WATER) {
			g_string_free(c->out, TRUE);
			c->out = g_string_new(NULL);
		}
		g_string_truncate(c->out, 0);
		c->out_pos = 0;
		c->reply_len = 0;
	} else if (c->out_pos >= QMP_OUTPUT_HIGH_WATER) {
		g_string_erase(c->out, 0, c->out_pos);
		c->out_pos = 0;
	}
	return true;
}

static void client_update_watch(struct qmp_client *c);

/*
 * Queue one line of JSON text ("\r\n" ended, as QEMU's). An event is sent
 * at once; a reply is sent with the others made from the same input, when
 * client_run() has answered what it can (one send() for a burst of
 * pipelined requests, not one per reply).
 */
static void client_queue(struct qmp_client *c, const char *text, bool reply)
{
	size_t len = strlen(text) + 2;

	if (c->closed)
		return;
	/*
	 * Replies are only made while less than QMP_OUTPUT_HIGH_WATER waits
	 * (client_run), so they are queued whole, however long: an error
	 * quoting a long name can pass QMP_OUTPUT_MAX, and a client that reads
	 * must get all of it. What else piles up is events: more than
	 * QMP_OUTPUT_MAX of them behind the last reply, and the client is not
	 * reading.
	 */
	if (!reply && qmp_client_pending(c) > QMP_OUTPUT_MAX + c->reply_len) {
		qmp_client_close(c, "it does not read its replies and events");
		return;
	}
	if (reply)
		c->reply_len = len;
	g_string_append(c->out, text);
	g_string_append(c->out, "\r\n");
	if (reply)
		return;
	if (!qmp_client_flush(c))
		return;
	/* Output left over: wait for the socket to take it. */
	if (qmp_client_pending(c) && !(c->watch_cond & G_IO_OUT))
		client_update_watch(c);
}

void qmp_client_send_text(struct qmp_client *c, const char *text)
{
	client_queue(c, text, false);
}

/* Client input */

/*
 * Answer a request. Its id goes back as the client wrote it, not as json-c
 * would write its value again: then a reply is never much longer than the
 * request (`[0,0]` stays `[0,0]`), and numbers json-c cannot hold (2^64,
 * -0) come back unchanged, as QEMU's docs promise ("copied verbatim").
 */
static void client_handle(struct qmp_client *c, json_object *req,
			  const char *id)
{
	g_autoptr(json_object) rsp = qmp_dispatch(c, req);
	g_autofree char *text = qmp_json_format(rsp, false);
	g_autoptr(GString) line = NULL;

	if (!id) {
		client_queue(c, text, true);
		return;
	}
	/* The reply is an object: its last byte is the closing brace. */
	line = g_string_new(text);
	g_string_truncate(line, line->len - 1);
	g_string_append_printf(line, ", \"id\": %s}", id);
	client_queue(c, line->str, true);
}

static void client_send_error(struct qmp_client *c, const GError *err)
{
	g_autofree char *text =
		qmp_json_format_error(qmp_error_class_name(err), err->message);

	client_queue(c, text, true);
}

/* Parse and answer buffered input while less than the high water waits. */
static void client_answer(struct qmp_client *c)
{
	while (!c->closed && c->in_pos < c->in_len &&
	       qmp_client_pending(c) < QMP_OUTPUT_HIGH_WATER) {
		g_autoptr(GError) err = NULL;
		json_object *req = NULL;
		size_t used;

		switch (qmp_parser_feed(c->parser, c->in + c->in_pos,
					c->in_len - c->in_pos, &used, &req,
					&err)) {
		case QMP_PARSE_MORE:
			break;
		case QMP_PARSE_VALUE:
			client_handle(c, req, qmp_parser_id(c->parser));
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
}

/*
 * Parse and answer buffered input while the client keeps up with replies,
 * then send the replies.
 */
static void client_run(struct qmp_client *c)
{
	do
		client_answer(c);
	while (!c->closed && qmp_client_flush(c) && c->in_pos < c->in_len &&
	       qmp_client_pending(c) < QMP_OUTPUT_HIGH_WATER);
	if (!c->closed && c->eof && c->in_pos == c->in_len &&
	    !qmp_client_pending(c))
		qmp_client_close(c, NULL);
}

static void client_read(struct qmp_client *c)
{
	ssize_t n;

	do
		n = recv(c->fd, c->in, QMP_READ_CHUNK, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in_pos = 0;
		c->in_len = n;
	} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		c->eof = true;
	}
}

struct qmp_client *qmp_client_ref(struct qmp_client *c)
{
	c->refs++;
	return c;
}

void qmp_client_unref(struct qmp_client *c)
{
	if (--c->refs)
		return;
	qmp_parser_free(c->parser);
	g_string_free(c->out, TRUE);
	g_free(c->in);
	g_free(c);
}

static gboolean client_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct qmp_client *c = qmp_client_ref(opaque);

	/* HUP and ERR come whatever was asked: let send/recv say what is up. */
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR))
		qmp_client_flush(c);
	if (!c->closed && (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) &&
	    !c->eof && c->in_pos == c->in_len &&
	    qmp_client_pending(c) < QMP_OUTPUT_HIGH_WATER)
		client_read(c);
	client_run(c);
	if (!c->closed)
		client_update_watch(c);
	qmp_client_unref(c);
	return G_SOURCE_CONTINUE;
}

static void client_update_watch(struct qmp_client *c)
{
	GIOCondition want = G_IO_HUP | G_IO_ERR;

	if (!c->eof && c->in_pos == c->in_len &&
	    qmp_client_pending(c) < QMP_OUTPUT_HIGH_WATER)
		want |= G_IO_IN;
	if (qmp_client_pending(c))
		want |= G_IO_OUT;
	if (c->watch && want == c->watch_cond)
		return;
	if (c->watch)
		g_source_remove(c->watch);
	c->watch = g_unix_fd_add(c->fd, want, client_ready, c);
	c->watch_cond = want;
}

void qmp_client_close(struct qmp_client *c, const char *why)
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
	qmp_client_unref(c);
}

bool qmp_server_add_client(struct qmp_server *srv, int fd, GError **err)
{
	struct qmp_client *c;
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "client socket: %s", g_strerror(errno));
		return false;
	}
	c = g_new0(struct qmp_client, 1);
	c->srv = srv;
	c->id = ++srv->next_id;
	c->refs = 1;
	c->fd = fd;
	c->parser = qmp_parser_new(QMP_MAX_MESSAGE, QMP_MAX_PARSE_MEMORY);
	c->in = g_malloc(QMP_READ_CHUNK);
	c->out = g_string_new(NULL);
	srv->clients = g_list_append(srv->clients, c);
	srv->nr_clients++;
	tern_debug("qmp: client %u connected", c->id);

	qmp_client_ref(c);
	client_queue(c, srv->greeting, false);
	if (!c->closed)
		client_update_watch(c);
	qmp_client_unref(c);
	return true;
}
