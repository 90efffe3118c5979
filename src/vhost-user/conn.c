// SPDX-License-Identifier: MIT
/*
 * vhost-user over its unix socket: one request at a time, file descriptors
 * in SCM_RIGHTS, and a deadline on every reply. A back-end that does not
 * answer in time, answers something else or closes the socket is gone:
 * the caller sees -ETIMEDOUT, -EPROTO or -ECONNRESET, never a hang. The
 * socket is non-blocking; the waiting is poll()'s.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/fdpass.h"

#include "vhost-user-internal.h"

static uint64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline_ms: 0, -ETIMEDOUT or -errno. */
static int conn_wait(int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		uint64_t now = conn_now_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int n;

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline_ms - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

int vhost_user_conn_open(struct vhost_user_conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix stream connect completes at once or fails (no EINPROGRESS). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int ret = -errno;

		close(fd);
		return ret == -EAGAIN ? -ECONNREFUSED : ret;
	}
	c->fd = fd;
	if (!c->timeout_ms)
		c->timeout_ms = VHOST_USER_REPLY_TIMEOUT_MS;
	return 0;
}

void vhost_user_conn_adopt(struct vhost_user_conn *c, int fd)
{
	c->fd = fd;
	if (!c->timeout_ms)
		c->timeout_ms = VHOST_USER_REPLY_TIMEOUT_MS;
}

void vhost_user_conn_close(struct vhost_user_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

_Static_assert(VHOST_USER_MAX_FDS <= FDPASS_MAX, "a message's fds in one send");

static int conn_send(struct vhost_user_conn *c, const struct vhost_user_msg *m,
		     uint64_t deadline)
{
	size_t len = vhost_user_msg_len(m), done = 0;
	uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_PAYLOAD_MAX];

	memcpy(buf, &m->request, 4);
	memcpy(buf + 4, &m->flags, 4);
	memcpy(buf + 8, &m->size, 4);
	memcpy(buf + VHOST_USER_HDR_SIZE, m->payload, m->size);
	while (done < len) {
		/* The fds go with the first byte, and only once. */
		ssize_t n = fdpass_send(c->fd, buf + done, len - done, m->fds,
					done ? 0 : m->nr_fds,
					MSG_NOSIGNAL | MSG_DONTWAIT);
		int ret;

		if (n > 0) {
			done += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return errno == EPIPE ? -ECONNRESET : -errno;
		ret = conn_wait(c->fd, POLLOUT, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

/* Take the fds a recvmsg() brought; more than a message may carry is -EPROTO.
 */
static int conn_take_fds(struct msghdr *mh, struct vhost_user_msg *m)
{
	int ret = 0;

	if (mh->msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		unsigned int n;
		int fds[VHOST_USER_MAX_FDS];

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (n > VHOST_USER_MAX_FDS)
			n = VHOST_USER_MAX_FDS;
		memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
		for (unsigned int i = 0; i < n; i++) {
			if (m->nr_fds < VHOST_USER_MAX_FDS) {
				m->fds[m->nr_fds++] = fds[i];
			} else {
				close(fds[i]);
				ret = -EPROTO;
			}
		}
	}
	return ret;
}

static int conn_recv(struct vhost_user_conn *c, void *buf, size_t len,
		     struct vhost_user_msg *m, uint64_t deadline)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		struct iovec iov = {(uint8_t *)buf + done, len - done};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n =
		    recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n > 0) {
			if (conn_take_fds(&mh, m))
				ret = -EPROTO;
			done += n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = conn_wait(c->fd, POLLIN, deadline);
		if (n)
			return n;
	}
	return ret;
}

static void conn_close_fds(struct vhost_user_msg *m)
{
	for (unsigned int i = 0; i < m->nr_fds; i++)
		close(m->fds[i]);
	m->nr_fds = 0;
}

/* Read and check the reply to request into r; on error no fd stays open. */
static int conn_reply(struct vhost_user_conn *c, uint32_t request,
		      struct vhost_user_msg *r, uint64_t deadline)
{
	uint32_t hdr[3];
	int ret;

	vhost_user_msg_init(r, 0);
	ret = conn_recv(c, hdr, sizeof(hdr), r, deadline);
	if (!ret) {
		r->request = hdr[0];
		r->flags = hdr[1];
		r->size = hdr[2];
		ret = vhost_user_reply_check_hdr(r, request);
	}
	if (!ret && r->size)
		ret = conn_recv(c, r->payload, r->size, r, deadline);
	if (!ret)
		ret = vhost_user_reply_check(r, request);
	if (ret)
		conn_close_fds(r);
	return ret;
}

int vhost_user_conn_call(struct vhost_user_conn *c, struct vhost_user_msg *m,
			 struct vhost_user_msg *reply)
{
	uint64_t deadline = conn_now_ms() + c->timeout_ms;
	bool has_reply = vhost_user_request_has_reply(m->request);
	bool ack = !has_reply && vhost_user_conn_has_protocol(
				     c, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vhost_user_msg local;
	uint32_t request = m->request;
	int ret;

	if (c->fd < 0)
		return -ENOTCONN;
	if (ack)
		m->flags |= VHOST_USER_FLAG_NEED_REPLY;
	ret = conn_send(c, m, deadline);
	if (ret || (!has_reply && !ack))
		goto out;
	if (!reply)
		reply = &local;
	ret = conn_reply(c, request, reply, deadline);
	if (!ret && ack && vhost_user_reply_u64(reply))
		ret = -EIO; /* the back-end refused the request */
	if (reply == &local)
		conn_close_fds(&local);
out:
	if (ret && ret != -EIO)
		tern_debug("vhost-user: %s: %s",
			   vhost_user_request_name(request), g_strerror(-ret));
	return ret;
}

int vhost_user_conn_get_u64(struct vhost_user_conn *c, uint32_t request,
			    uint64_t *val)
{
	struct vhost_user_msg m, r;
	int ret;

	vhost_user_msg_init(&m, request);
	ret = vhost_user_conn_call(c, &m, &r);
	if (!ret)
		*val = vhost_user_reply_u64(&r);
	return ret;
}

int vhost_user_conn_set_u64(struct vhost_user_conn *c, uint32_t request,
			    uint64_t val)
{
	struct vhost_user_msg m;

	vhost_user_msg_u64(&m, request, val);
	return vhost_user_conn_call(c, &m, NULL);
}

int vhost_user_conn_negotiate(struct vhost_user_conn *c)
{
	struct vhost_user_msg m;
	uint64_t offered;
	int ret;

	c->protocol = 0;
	c->queue_num = 0;
	ret = vhost_user_conn_get_u64(c, VHOST_USER_GET_FEATURES, &c->features);
	if (ret)
		return ret;
	if (c->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) {
		ret = vhost_user_conn_get_u64(
		    c, VHOST_USER_GET_PROTOCOL_FEATURES, &offered);
		if (ret)
			return ret;
		/* Known before it is acked: SET_PROTOCOL_FEATURES gets no ack.
		 */
		ret = vhost_user_conn_set_u64(
		    c, VHOST_USER_SET_PROTOCOL_FEATURES,
		    offered & VHOST_USER_PROTOCOL_WANTED & ~c->protocol_drop);
		if (ret)
			return ret;
		c->protocol =
		    offered & VHOST_USER_PROTOCOL_WANTED & ~c->protocol_drop;
	}
	if (vhost_user_conn_has_protocol(c, VHOST_USER_PROTOCOL_F_MQ)) {
		uint64_t n;

		ret = vhost_user_conn_get_u64(c, VHOST_USER_GET_QUEUE_NUM, &n);
		if (ret)
			return ret;
		c->queue_num = n > 0xffff ? 0xffff : (unsigned int)n;
	}
	vhost_user_msg_init(&m, VHOST_USER_SET_OWNER);
	return vhost_user_conn_call(c, &m, NULL);
}
