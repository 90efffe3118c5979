// SPDX-License-Identifier: MIT
/*
 * Connections for tcp: and unix: URIs. TCP ones notice a dead link: a
 * peer that vanished without a word (a cable pulled, a veth dropped) would
 * otherwise keep a blocked send or receive waiting for minutes. Keepalive
 * probes every second after two idle seconds, and a user time-out for
 * unacknowledged data, end them within MIG_TCP_DEAD_MS.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tern/error.h"
#include "internal.h"

#define MIG_TCP_DEAD_MS 5000
#define MIG_CONNECT_TIMEOUT_S 10
#define MIG_SOCKET_BUFFER (4 * MiB)

static void mig_tcp_options(int fd)
{
	int one = 1, idle = 2, intvl = 1, cnt = 3, user = MIG_TCP_DEAD_MS;
	int buf = (int)MIG_SOCKET_BUFFER;

	/* Small control frames (READY, GO, page requests) go out at once. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof(user));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static bool mig_unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return false;
	strcpy(a->sun_path, path);
	return true;
}

static int mig_connect_unix(const char *path, GError **err)
{
	struct sockaddr_un a;
	int fd;

	if (!mig_unix_addr(path, &a)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "'%s': path too long", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "Failed to connect to '%s': %s", path,
			    g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct addrinfo *mig_resolve(const struct migration_uri *u, GError **err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int ret = getaddrinfo(u->host, u->port, &hints, &res);

	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "address resolution failed for %s:%s: %s", u->host,
			    u->port, gai_strerror(ret));
		return NULL;
	}
	return res;
}

static int mig_connect_tcp(const char *host, const char *port,
			   const struct addrinfo *res, GError **err)
{
	struct timeval tv = { .tv_sec = MIG_CONNECT_TIMEOUT_S };
	const struct addrinfo *ai;
	int fd = -1, saved = 0;

	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		/* connect() obeys the send time-out: no endless SYN retries. */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "Failed to connect to '%s:%s': %s", host, port,
			    g_strerror(saved ? saved : ENOENT));
		return -1;
	}
	tv.tv_sec = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	mig_tcp_options(fd);
	return fd;
}

struct mig_chan *mig_connect(const struct migration_uri *u,
			     const struct addrinfo *addrs, GError **err)
{
	int fd;

	if (u->kind == MIGRATION_URI_TCP)
		fd = mig_connect_tcp(u->host, u->port, addrs, err);
	else
		fd = mig_connect_unix(u->path, err);
	return fd < 0 ? NULL : mig_chan_new(fd, true);
}

static int mig_listen_unix(const char *path, GError **err)
{
	struct sockaddr_un a;
	struct stat st;
	int fd;

	if (!mig_unix_addr(path, &a)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "'%s': path too long", path);
		return -1;
	}
	/* A socket left by an earlier run is replaced, as QEMU does. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 1) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Failed to bind socket to %s: %s", path,
			    g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int mig_listen_tcp(const char *host, const char *port, GError **err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE },
			*res, *ai;
	int fd = -1, one = 1, ret, saved = 0;

	ret = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "address resolution failed for %s:%s: %s", host, port,
			    gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Failed to bind socket to %s:%s: %s", host, port,
			    g_strerror(saved ? saved : ENOENT));
	return fd;
}

int mig_listen(const struct migration_uri *u, GError **err)
{
	if (u->kind == MIGRATION_URI_TCP)
		return mig_listen_tcp(u->host, u->port, err);
	return mig_listen_unix(u->path, err);
}

struct mig_chan *mig_accept(int lfd, int cancel_fd, bool tcp, mig_idle_fn *idle,
			    void *idle_arg, GError **err)
{
	struct pollfd p[2] = { { lfd, POLLIN, 0 }, { cancel_fd, POLLIN, 0 } };
	int fd, n;

	for (;;) {
		n = poll(p, 2, idle ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Nothing yet: a step of the idle work, then look again. */
		if (!n) {
			if (!idle(idle_arg))
				idle = NULL;
			continue;
		}
		if (p[1].revents) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "stopped waiting for the migration stream");
			return NULL;
		}
		if (!p[0].revents)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			if (tcp)
				mig_tcp_options(fd);
			return mig_chan_new(fd, true);
		}
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			break;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "accept: %s",
		    g_strerror(errno));
	return NULL;
}
