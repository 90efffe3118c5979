// SPDX-License-Identifier: MIT
/*
 * The QMP server: its command tables, its listening sockets and the
 * clients they accept, events to every client, and the end. Every socket
 * is non-blocking and served from the main loop.
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

#include "server.h"

#define QMP_LISTEN_BACKLOG 16
/* At exit, how long queued output (the reply to quit, SHUTDOWN) may take. */
#define QMP_FLUSH_TIMEOUT_MS 500
/* After accept() fails for want of descriptors, wait before trying again. */
#define QMP_ACCEPT_RETRY_S 1

struct qmp_listener {
	struct qmp_server *srv;
	int fd;
	guint watch;
	char *path; /* a socket we bound: removed at the end if still ours */
	dev_t dev;
	ino_t ino;
};

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
			qmp_client_send_text(c, text);
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

int qmp_unix_listen(const char *path, struct stat *st, GError **err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (!*path || strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "a socket path must have 1 to %zu bytes",
			    sizeof(addr.sun_path) - 1);
		return -1;
	}
	strcpy(addr.sun_path, path);
	if (!unix_path_free(&addr, err))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "socket: %s",
			    g_strerror(errno));
		return -1;
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
		return -1;
	}
	if (lstat(path, st) < 0 || ((st->st_mode & 0777) != 0600 &&
				    chmod(path, 0600) < 0) ||
	    listen(fd, QMP_LISTEN_BACKLOG) < 0) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "listen: %s",
			    g_strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

bool qmp_server_listen_unix(struct qmp_server *srv, const char *path,
			    GError **err)
{
	struct stat st;
	int fd = qmp_unix_listen(path, &st, err);

	if (fd < 0)
		return false;
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

/* What a client gets first, the same for all: formatted once. */
static char *server_greeting_format(const struct qmp_server *srv)
{
	g_autoptr(json_object) greeting = json_object_new_object();
	json_object *q = json_object_new_object();

	json_object_object_add(q, "version", qmp_version_info(srv));
	json_object_object_add(q, "capabilities", json_object_new_array());
	json_object_object_add(greeting, "QMP", q);
	return qmp_json_format(greeting, false);
}

struct qmp_server *qmp_server_new(const char *version)
{
	struct qmp_server *srv = g_new0(struct qmp_server, 1);
	g_auto(GStrv) parts = g_strsplit(version, ".", 3);

	for (unsigned int i = 0; i < 3 && parts[i]; i++)
		srv->version[i] = atoi(parts[i]);
	srv->package = g_strdup_printf("tern %s", version);
	srv->greeting = server_greeting_format(srv);
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
		struct qmp_client *c = qmp_client_ref(l->data);

		next = l->next;
		while (!c->closed && qmp_client_pending(c)) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
			gint64 left = deadline - g_get_monotonic_time();

			if (left <= 0 || poll(&pfd, 1, left / 1000 + 1) <= 0)
				break;
			qmp_client_flush(c);
		}
		qmp_client_unref(c);
	}
}

void qmp_server_free(struct qmp_server *srv)
{
	if (!srv)
		return;
	g_ptr_array_free(srv->listeners, TRUE);
	qmp_server_drain(srv);
	while (srv->clients)
		qmp_client_close(srv->clients->data, NULL);
	g_ptr_array_free(srv->order, TRUE);
	g_hash_table_destroy(srv->commands);
	g_free(srv->package);
	g_free(srv->greeting);
	g_free(srv);
}
