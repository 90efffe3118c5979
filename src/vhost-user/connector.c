// SPDX-License-Identifier: MIT
/*
 * Reconnecting from inside the sandbox. Once set up, no tern thread may
 * make a socket or connect one (src/sandbox/rules.c: socket and connect
 * are in no role's list, by design), yet a restarted back-end can only be
 * reached by connecting to its socket again. So at set-up, before any
 * filter exists, each vhost-user device forks a connector: a process that
 * holds little of tern's (every descriptor but 0-2 closed, guest RAM not
 * inherited: it is MADV_DONTFORK) and can do one thing, connect to the
 * one path it was given and pass the connected socket back over a
 * socketpair (SCM_RIGHTS). It ends when its end of the socketpair reads
 * EOF: tern closed it, or tern is gone. It is forked twice so that init, not
 * tern, reaps it: tern's threads may not wait4() after set-up either.
 *
 * Under --jail the path inside the jail is a bind mount of the socket file
 * the back-end first made; a restarted back-end binds a new file there,
 * which that mount never shows. So the jail hands the connector the
 * socket's directory, opened before the pivot (config.h socket_dirs): it
 * makes it its working directory and connects by the socket's name.
 *
 * The connector also watches that directory (inotify) and hands the watch
 * to tern once, at start: a back-end that binds its socket again is seen
 * at once, not at the next back-off step (up to 1 s later).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tern/fdpass.h"
#include "vhost-user-internal.h"

/* One message: err, and fd (when >= 0) as SCM_RIGHTS. False if tern is gone. */
static bool connector_send(int sock, int err, int fd)
{
	return fdpass_send(sock, &err, sizeof(err), &fd, fd >= 0,
			   MSG_NOSIGNAL) >= 0;
}

/*
 * The first message: a watch on the directory the socket is made in (the
 * working directory under --jail, else the path's own), for tern to read;
 * a connector that cannot make one sends its errno and tern goes by the
 * back-off alone.
 */
static void connector_send_watch(int sock, const char *path, bool in_cwd)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)] = ".";
	const char *slash = strrchr(path, '/');
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (!in_cwd && slash) {
		size_t n = (size_t)(slash - path);

		memcpy(dir, path, n ? n : 1);
		dir[n ? n : 1] = '\0';
	}
	if (fd >= 0 && inotify_add_watch(fd, dir, VHOST_USER_WATCH_EVENTS) < 0) {
		close(fd);
		fd = -1;
	}
	if (!connector_send(sock, fd < 0 ? errno : 0, fd))
		_exit(0);
	if (fd >= 0)
		close(fd);
}

/* The connector's loop: one byte in, a connected socket (or an errno) out. */
static void __attribute__((noreturn)) connector_main(int sock, const char *path,
						     bool in_cwd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	connector_send_watch(sock, path, in_cwd);
	for (;;) {
		int err = 0, fd;
		char b;

		if (read(sock, &b, 1) <= 0)
			_exit(0);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			err = errno;
		if (!connector_send(sock, err, err ? -1 : fd))
			_exit(0);
		if (fd >= 0)
			close(fd);
	}
}

/* One message from the connector: 0 and *fd, or -errno. */
static int connector_recv(int sock, int *fd, unsigned int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int err = 0;
	struct iovec iov = {&err, sizeof(err)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	n = poll(&p, 1, (int)timeout_ms);
	if (n <= 0)
		return n < 0 ? -errno : -ETIMEDOUT;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n != sizeof(err))
		return n < 0 ? -errno : -EPROTO;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (err || *fd < 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return err ? -err : -EPROTO;
	}
	return 0;
}

int vhost_user_connector_start(struct vhost_user_connector *c, const char *path,
			       int dirfd)
{
	const char *name = path;
	int sv[2], st;
	pid_t pid;

	c->sock = c->watch_fd = -1;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	if (dirfd >= 0 && strrchr(path, '/'))
		name = strrchr(path, '/') + 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int ret = -errno;

		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (!pid) {
		/* Only async-signal-safe calls from here: tern has threads. */
		if (fork() != 0)
			_exit(0);
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		/* The working directory holds it: no descriptor needed. */
		if (dirfd >= 0 && fchdir(dirfd) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		connector_main(3, name, dirfd >= 0);
	}
	close(sv[1]);
	/* The middle process exits at once; its child is init's. */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	c->sock = sv[0];
	/* Without a watch, the back-off alone finds a restarted back-end. */
	if (connector_recv(c->sock, &c->watch_fd, VHOST_USER_CONNECTOR_START_MS))
		c->watch_fd = -1;
	return 0;
}

bool vhost_user_connector_watch_saw(struct vhost_user_connector *c,
				    const char *path)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	/* Whole events only: the kernel never splits one across reads. */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool seen = false;
	ssize_t n;

	while ((n = read(c->watch_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->len && !strcmp(ev->name, name))
				seen = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return seen;
}

void vhost_user_connector_stop(struct vhost_user_connector *c)
{
	if (c->sock >= 0)
		close(c->sock); /* the connector reads EOF and ends */
	if (c->watch_fd >= 0)
		close(c->watch_fd);
	c->sock = c->watch_fd = -1;
}

int vhost_user_connector_connect(struct vhost_user_connector *c, int *fd,
				 unsigned int timeout_ms)
{
	*fd = -1;
	if (c->sock < 0)
		return -ENOTCONN;
	/* write(), not send(): the I/O thread's filter has no sendto. */
	if (write(c->sock, "c", 1) != 1)
		return -errno;
	return connector_recv(c->sock, fd, timeout_ms);
}
