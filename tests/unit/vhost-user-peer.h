/* SPDX-License-Identifier: MIT */
/*
 * The back-end's end of a socketpair for the vhost-user unit suites
 * (test-vhost-user.c, test-vhost-user-net.c): the test plays the back-end,
 * sending raw replies and reading what the front-end sent.
 */
#ifndef TERN_TEST_VHOST_USER_PEER_H
#define TERN_TEST_VHOST_USER_PEER_H

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/fdpass.h"
#include "tern/vhost-user.h"
#include "../../src/vhost-user/vhost-user-internal.h"
#include "unit.h"

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* ---- the connection, against a socketpair ---- */

static inline void conn_pair(struct vhost_user_conn *c, int *peer)
{
	int sv[2];

	ck_assert_int_eq(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	*c = (struct vhost_user_conn){.fd = sv[0], .timeout_ms = 200};
	*peer = sv[1];
}

/* The back-end's side: send raw bytes, with an fd if fd >= 0. */
static inline void peer_send(int peer, uint32_t req, uint32_t flags,
			     const void *p, uint32_t size, int fd)
{
	uint8_t buf[512];

	memcpy(buf, &req, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &size, 4);
	if (size)
		memcpy(buf + 12, p, size);
	ck_assert_int_eq(fdpass_send(peer, buf, 12 + size, &fd, fd >= 0, 0),
			 (ssize_t)(12 + size));
}

#define RF (VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY)

/* What the front-end sent: header, and the fd it carried (or -1). */
static inline uint32_t peer_recv(int peer, uint8_t *payload, uint32_t *flags,
				 int *fd)
{
	uint8_t buf[512];
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {buf, 12};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	ssize_t n = recvmsg(peer, &mh, 0);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	uint32_t size;

	/* A stream: the header, then exactly its payload. */
	ck_assert_int_eq(n, 12);
	memcpy(&size, buf + 8, 4);
	ck_assert_uint_le(size, sizeof(buf) - 12);
	if (size)
		ck_assert_int_eq(read(peer, buf + 12, size), (ssize_t)size);
	if (flags)
		memcpy(flags, buf + 4, 4);
	if (payload)
		memcpy(payload, buf + 12, size);
	if (fd)
		*fd = -1;
	if (cm && cm->cmsg_type == SCM_RIGHTS && fd)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return rd32(buf);
}

#endif
