// SPDX-License-Identifier: MIT
/*
 * vhost-user: the messages as pure functions (encoding, and replies of
 * every malformed shape a back-end could send), the connection over a
 * socketpair whose other end this test plays (framing, fds in SCM_RIGHTS,
 * REPLY_ACK, a back-end that never answers or hangs up), and the --disk
 * and --net vhost-user= options (the net model: test-vhost-user-net.c).
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/error.h"
#include "tern/net.h"
#include "tern/vhost-user-net.h"
#include "tern/vhost-user.h"
#include "tern/virtio-net.h"
#include "tern/virtio.h"
#include "../../src/vhost-user/vhost-user-internal.h"
#include "unit.h"
#include "vhost-user-peer.h"

/* ---- encoding ---- */

START_TEST(encode_basic)
{
	struct vhost_user_msg m;

	vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, 0x123456789ULL);
	ck_assert_uint_eq(m.request, VHOST_USER_SET_FEATURES);
	ck_assert_uint_eq(m.flags, VHOST_USER_VERSION);
	ck_assert_uint_eq(m.size, 8);
	ck_assert_uint_eq(rd64(m.payload), 0x123456789ULL);
	ck_assert_uint_eq(m.nr_fds, 0);
	ck_assert_uint_eq(vhost_user_msg_len(&m), 20);

	vhost_user_msg_vring_state(&m, VHOST_USER_SET_VRING_BASE, 3, 77);
	ck_assert_uint_eq(m.size, 8);
	ck_assert_uint_eq(rd32(m.payload), 3);
	ck_assert_uint_eq(rd32(m.payload + 4), 77);

	vhost_user_msg_vring_addr(
	    &m,
	    &(struct vhost_user_vring_addr){
		.index = 1, .desc = 0x1000, .used = 0x3000, .avail = 0x2000});
	ck_assert_uint_eq(m.size, 40);
	ck_assert_uint_eq(rd32(m.payload), 1);
	ck_assert_uint_eq(rd64(m.payload + 8), 0x1000);
	ck_assert_uint_eq(rd64(m.payload + 16), 0x3000); /* used before avail */
	ck_assert_uint_eq(rd64(m.payload + 24), 0x2000);

	/* A kick with an fd, and the "no fd" flag without one. */
	vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_KICK, 2, 9);
	ck_assert_uint_eq(rd64(m.payload), 2);
	ck_assert_uint_eq(m.nr_fds, 1);
	ck_assert_int_eq(m.fds[0], 9);
	vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_ERR, 2, -1);
	ck_assert_uint_eq(rd64(m.payload), 2 | VHOST_USER_VRING_NOFD);
	ck_assert_uint_eq(m.nr_fds, 0);
}
END_TEST

START_TEST(encode_memory_config_inflight)
{
	struct vhost_user_region r[9] = {
	    {0, 0x100000, 0x7f0000000000, 0},
	    {0x100000000, 0x200000, 0x7f0000100000, 0x100000}};
	int fds[9] = {5, 5, 5, 5, 5, 5, 5, 5, 5};
	struct vhost_user_msg m;
	uint8_t cfg[4] = {1, 2, 3, 4};

	ck_assert_int_eq(vhost_user_msg_mem_table(&m, r, fds, 2), 0);
	ck_assert_uint_eq(m.size, 8 + 2 * 32);
	ck_assert_uint_eq(rd32(m.payload), 2);
	ck_assert_uint_eq(rd64(m.payload + 8 + 32), 0x100000000);
	ck_assert_uint_eq(rd64(m.payload + 8 + 32 + 24), 0x100000);
	ck_assert_uint_eq(m.nr_fds, 2);
	/* Too many regions, none, a missing fd. */
	ck_assert_int_eq(vhost_user_msg_mem_table(&m, r, fds, 9), -EINVAL);
	ck_assert_int_eq(vhost_user_msg_mem_table(&m, r, fds, 0), -EINVAL);
	fds[1] = -1;
	ck_assert_int_eq(vhost_user_msg_mem_table(&m, r, fds, 2), -EINVAL);

	vhost_user_msg_add_mem_reg(&m, &r[1], 6);
	ck_assert_uint_eq(m.size, 40);
	ck_assert_uint_eq(rd64(m.payload + 8), 0x100000000);
	ck_assert_uint_eq(m.nr_fds, 1);

	ck_assert_int_eq(
	    vhost_user_msg_config(&m, VHOST_USER_SET_CONFIG, 32, cfg, 4), 0);
	ck_assert_uint_eq(m.size, 12 + 4);
	ck_assert_uint_eq(rd32(m.payload), 32);
	ck_assert_uint_eq(rd32(m.payload + 4), 4);
	ck_assert_mem_eq(m.payload + 12, cfg, 4);
	ck_assert_int_eq(
	    vhost_user_msg_config(&m, VHOST_USER_GET_CONFIG, 0, NULL, 257),
	    -EINVAL);
	ck_assert_int_eq(
	    vhost_user_msg_config(&m, VHOST_USER_GET_CONFIG, 0, NULL, 0),
	    -EINVAL);

	vhost_user_msg_inflight(
	    &m, VHOST_USER_GET_INFLIGHT_FD,
	    &(struct vhost_user_inflight){.num_queues = 2, .queue_size = 256},
	    -1);
	ck_assert_uint_eq(m.size, 24);
	ck_assert_uint_eq(m.nr_fds, 0);
	ck_assert_uint_eq(m.payload[16], 2);
	ck_assert_uint_eq(m.payload[19], 1); /* 256, little-endian */
}
END_TEST

/* ---- replies ---- */

static void reply(struct vhost_user_msg *m, uint32_t req, uint32_t size)
{
	vhost_user_msg_init(m, req);
	m->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	m->size = size;
}

START_TEST(reply_good)
{
	struct vhost_user_msg m;
	struct vhost_user_inflight in;
	uint32_t idx, num;
	uint8_t buf[8];

	reply(&m, VHOST_USER_GET_FEATURES, 8);
	memcpy(m.payload, &(uint64_t){1ULL << 32}, 8);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_FEATURES),
			 0);
	ck_assert_uint_eq(vhost_user_reply_u64(&m), 1ULL << 32);

	reply(&m, VHOST_USER_GET_VRING_BASE, 8);
	memcpy(m.payload, &(uint32_t){1}, 4);
	memcpy(m.payload + 4, &(uint32_t){513}, 4);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_VRING_BASE),
			 0);
	vhost_user_reply_vring_state(&m, &idx, &num);
	ck_assert_uint_eq(idx, 1);
	ck_assert_uint_eq(num, 513);

	reply(&m, VHOST_USER_GET_CONFIG, 12 + 8);
	memcpy(m.payload + 4, &(uint32_t){8}, 4);
	memset(m.payload + 12, 0xab, 8);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_CONFIG), 0);
	ck_assert_int_eq(vhost_user_reply_config(&m, 0, 8, buf), 0);
	ck_assert_uint_eq(buf[7], 0xab);

	reply(&m, VHOST_USER_GET_INFLIGHT_FD, 24);
	memcpy(m.payload, &(uint64_t){8192}, 8);
	m.payload[16] = 1;
	m.fds[0] = 42;
	m.nr_fds = 1;
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_INFLIGHT_FD),
			 0);
	ck_assert_int_eq(vhost_user_reply_inflight(&m, &in), 0);
	ck_assert_uint_eq(in.mmap_size, 8192);
	ck_assert_uint_eq(in.num_queues, 1);
}
END_TEST

START_TEST(reply_malformed)
{
	struct vhost_user_msg m;
	struct vhost_user_inflight in;
	uint8_t buf[8];

	/* Not a reply, wrong version, wrong request. */
	reply(&m, VHOST_USER_GET_FEATURES, 8);
	m.flags = VHOST_USER_VERSION;
	ck_assert_int_eq(
	    vhost_user_reply_check_hdr(&m, VHOST_USER_GET_FEATURES), -EPROTO);
	reply(&m, VHOST_USER_GET_FEATURES, 8);
	m.flags = 2 | VHOST_USER_FLAG_REPLY;
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_FEATURES),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_PROTOCOL_FEATURES, 8);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_FEATURES),
			 -EPROTO);
	/* Short and long u64 replies; oversized payloads in the header. */
	reply(&m, VHOST_USER_GET_FEATURES, 4);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_FEATURES),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_FEATURES, 16);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_FEATURES),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_CONFIG, VHOST_USER_PAYLOAD_MAX + 1);
	ck_assert_int_eq(vhost_user_reply_check_hdr(&m, VHOST_USER_GET_CONFIG),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_CONFIG, 0xffffffff);
	ck_assert_int_eq(vhost_user_reply_check_hdr(&m, VHOST_USER_GET_CONFIG),
			 -EPROTO);
	/* A config of more than 256 bytes, or none; another offset or size. */
	reply(&m, VHOST_USER_GET_CONFIG, 12 + 257);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_CONFIG),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_CONFIG, 12);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_CONFIG),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_CONFIG, 12 + 8);
	memcpy(m.payload + 4, &(uint32_t){4}, 4);
	ck_assert_int_eq(vhost_user_reply_config(&m, 0, 8, buf), -EPROTO);
	memcpy(m.payload, &(uint32_t){4}, 4);
	memcpy(m.payload + 4, &(uint32_t){8}, 4);
	ck_assert_int_eq(vhost_user_reply_config(&m, 0, 8, buf), -EPROTO);
	/* Bad fd counts: none where one is due, one where none is. */
	reply(&m, VHOST_USER_GET_INFLIGHT_FD, 24);
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_INFLIGHT_FD),
			 -EPROTO);
	m.nr_fds = 2;
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_INFLIGHT_FD),
			 -EPROTO);
	reply(&m, VHOST_USER_GET_FEATURES, 8);
	m.nr_fds = 1;
	ck_assert_int_eq(vhost_user_reply_check(&m, VHOST_USER_GET_FEATURES),
			 -EPROTO);
	/* An inflight region of 0 bytes, or at an unaligned offset. */
	reply(&m, VHOST_USER_GET_INFLIGHT_FD, 24);
	ck_assert_int_eq(vhost_user_reply_inflight(&m, &in), -EPROTO);
	memcpy(m.payload, &(uint64_t){4096}, 8);
	memcpy(m.payload + 8, &(uint64_t){100}, 8);
	ck_assert_int_eq(vhost_user_reply_inflight(&m, &in), -EPROTO);
}
END_TEST

START_TEST(conn_negotiate)
{
	struct vhost_user_conn c;
	uint64_t features =
	    (1ULL << 32) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	/* Everything plus bits tern does not know (LOG_SHMFD, BACKEND_REQ). */
	uint64_t proto = VHOST_USER_PROTOCOL_WANTED | 0x2 | 0x20;
	uint64_t qnum = 4, ack = 0;
	uint8_t p[64];
	uint32_t flags;
	int peer;

	conn_pair(&c, &peer);
	/* The answers queue up in the socket before the questions. */
	peer_send(peer, VHOST_USER_GET_FEATURES, RF, &features, 8, -1);
	peer_send(peer, VHOST_USER_GET_PROTOCOL_FEATURES, RF, &proto, 8, -1);
	peer_send(peer, VHOST_USER_GET_QUEUE_NUM, RF, &qnum, 8, -1);
	peer_send(peer, VHOST_USER_SET_OWNER, RF, &ack, 8, -1);
	ck_assert_int_eq(vhost_user_conn_negotiate(&c), 0);
	ck_assert_uint_eq(c.features, features);
	ck_assert_uint_eq(c.protocol, VHOST_USER_PROTOCOL_WANTED);
	ck_assert_uint_eq(c.queue_num, 4);

	ck_assert_uint_eq(peer_recv(peer, NULL, NULL, NULL),
			  VHOST_USER_GET_FEATURES);
	ck_assert_uint_eq(peer_recv(peer, NULL, NULL, NULL),
			  VHOST_USER_GET_PROTOCOL_FEATURES);
	ck_assert_uint_eq(peer_recv(peer, p, &flags, NULL),
			  VHOST_USER_SET_PROTOCOL_FEATURES);
	ck_assert_uint_eq(rd64(p), VHOST_USER_PROTOCOL_WANTED);
	/* Not acked: REPLY_ACK is not in force before this message is taken. */
	ck_assert_uint_eq(flags & VHOST_USER_FLAG_NEED_REPLY, 0);
	ck_assert_uint_eq(peer_recv(peer, NULL, NULL, NULL),
			  VHOST_USER_GET_QUEUE_NUM);
	ck_assert_uint_eq(peer_recv(peer, NULL, &flags, NULL),
			  VHOST_USER_SET_OWNER);
	ck_assert_uint_ne(flags & VHOST_USER_FLAG_NEED_REPLY, 0);
	vhost_user_conn_close(&c);
	close(peer);
}
END_TEST

START_TEST(conn_fds_and_acks)
{
	struct vhost_user_conn c;
	struct vhost_user_msg m, r;
	uint64_t nak = 1;
	uint8_t inflight[24] = {0};
	int peer, efd = eventfd(0, EFD_CLOEXEC), got;

	conn_pair(&c, &peer);
	c.protocol = 1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK;
	/* A kick fd goes over with the message. */
	peer_send(peer, VHOST_USER_SET_VRING_KICK, RF, &(uint64_t){0}, 8, -1);
	vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_KICK, 0, efd);
	ck_assert_int_eq(vhost_user_conn_call(&c, &m, NULL), 0);
	ck_assert_uint_eq(peer_recv(peer, NULL, NULL, &got),
			  VHOST_USER_SET_VRING_KICK);
	ck_assert_int_ge(got, 0);
	ck_assert_int_ne(got, efd);
	close(got);
	/* A non-zero ack is the back-end refusing. */
	peer_send(peer, VHOST_USER_SET_VRING_NUM, RF, &nak, 8, -1);
	vhost_user_msg_vring_state(&m, VHOST_USER_SET_VRING_NUM, 0, 256);
	ck_assert_int_eq(vhost_user_conn_call(&c, &m, NULL), -EIO);
	(void)peer_recv(peer, NULL, NULL, NULL);
	/* An fd comes back with GET_INFLIGHT_FD. */
	memcpy(inflight, &(uint64_t){4096}, 8);
	peer_send(peer, VHOST_USER_GET_INFLIGHT_FD, RF, inflight, 24, efd);
	vhost_user_msg_inflight(&m, VHOST_USER_GET_INFLIGHT_FD,
				&(struct vhost_user_inflight){0}, -1);
	ck_assert_int_eq(vhost_user_conn_call(&c, &m, &r), 0);
	ck_assert_uint_eq(r.nr_fds, 1);
	close(r.fds[0]);
	(void)peer_recv(peer, NULL, NULL, NULL);
	/* An fd where none belongs: refused, and not leaked open. */
	peer_send(peer, VHOST_USER_GET_FEATURES, RF, &nak, 8, efd);
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &nak),
	    -EPROTO);
	vhost_user_conn_close(&c);
	close(peer);
	close(efd);
}
END_TEST

START_TEST(conn_broken_backends)
{
	struct vhost_user_conn c;
	uint64_t v;
	uint8_t half[6] = {0};
	int peer;

	/* No answer at all: a time-out, not a hang. */
	conn_pair(&c, &peer);
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v),
	    -ETIMEDOUT);
	/* Half a header, then nothing. */
	ck_assert_int_eq(write(peer, half, sizeof(half)),
			 (ssize_t)sizeof(half));
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v),
	    -ETIMEDOUT);
	vhost_user_conn_close(&c);
	close(peer);

	/* The answer to another question. */
	conn_pair(&c, &peer);
	peer_send(peer, VHOST_USER_GET_QUEUE_NUM, RF, &v, 8, -1);
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v), -EPROTO);
	vhost_user_conn_close(&c);
	close(peer);

	/* A header announcing more than any message holds. */
	conn_pair(&c, &peer);
	{
		uint32_t hdr[3] = {VHOST_USER_GET_FEATURES, RF, 1U << 20};

		ck_assert_int_eq(write(peer, hdr, 12), 12);
	}
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v), -EPROTO);
	vhost_user_conn_close(&c);
	close(peer);

	/* The back-end hangs up: before, and in the middle of, a reply. */
	conn_pair(&c, &peer);
	close(peer);
	ck_assert_int_lt(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v), 0);
	vhost_user_conn_close(&c);
	conn_pair(&c, &peer);
	ck_assert_int_eq(write(peer, half, sizeof(half)),
			 (ssize_t)sizeof(half));
	shutdown(peer, SHUT_WR);
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v),
	    -ECONNRESET);
	vhost_user_conn_close(&c);
	close(peer);
	/* Nothing to send on. */
	ck_assert_int_eq(
	    vhost_user_conn_get_u64(&c, VHOST_USER_GET_FEATURES, &v),
	    -ENOTCONN);
	/* A socket path nobody listens on. */
	ck_assert_int_lt(
	    vhost_user_conn_open(&c, "/nonexistent/vhost-user.sock"), 0);
}
END_TEST

/* ---- the connector: a process that connects for a sandboxed thread ---- */

START_TEST(connector_connects_and_reports)
{
	char dir[] = "/tmp/tern-vu-XXXXXX", path[64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vhost_user_connector c;
	int lfd, fd, peer;
	char b = 'x';

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	ck_assert_int_eq(vhost_user_connector_start(&c, path, -1), 0);
	/* Nobody listens yet: the connector's errno comes back. */
	ck_assert_int_eq(vhost_user_connector_connect(&c, &fd, 2000), -ENOENT);
	ck_assert_int_eq(fd, -1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	/* Twice: one connector serves every reconnect. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(vhost_user_connector_connect(&c, &fd, 2000),
				 0);
		peer = accept(lfd, NULL, NULL);
		ck_assert_int_ge(peer, 0);
		ck_assert_int_eq(write(fd, &b, 1), 1);
		ck_assert_int_eq(read(peer, &b, 1), 1);
		close(peer);
		close(fd);
	}
	/* Stopped: its end closes and nothing answers any more. */
	vhost_user_connector_stop(&c);
	ck_assert_int_eq(vhost_user_connector_connect(&c, &fd, 100), -ENOTCONN);
	close(lfd);
	unlink(path);
	rmdir(dir);
}
END_TEST

/*
 * --jail: the connector gets the socket's directory and connects by name
 * from there, whatever the path shows (in a jail: a bind mount of the
 * first socket file, which a restarted back-end's new socket replaces).
 */
START_TEST(connector_connects_from_its_directory)
{
	char dir[] = "/tmp/tern-vu-XXXXXX", path[64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vhost_user_connector c;
	int lfd, fd, peer, dirfd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	strcpy(sa.sun_path, path);
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dirfd, 0);
	/* A name no directory but dirfd resolves. */
	ck_assert_int_eq(vhost_user_connector_start(&c, "/nowhere/at/all/s",
						    dirfd), 0);
	close(dirfd); /* the connector keeps its working directory */
	/* A first socket, then a restarted back-end's new one, same name. */
	for (int i = 0; i < 2; i++) {
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		unlink(path);
		ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(listen(lfd, 4), 0);
		ck_assert_int_eq(vhost_user_connector_connect(&c, &fd, 2000), 0);
		peer = accept(lfd, NULL, NULL);
		ck_assert_int_ge(peer, 0);
		close(peer);
		close(fd);
		close(lfd);
	}
	vhost_user_connector_stop(&c);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* Poll the watch for up to a second; true once it reported the name. */
static bool watch_saw_within(struct vhost_user_connector *c, const char *path)
{
	struct pollfd p = {.fd = c->watch_fd, .events = POLLIN};

	while (poll(&p, 1, 1000) > 0)
		if (vhost_user_connector_watch_saw(c, path))
			return true;
	return false;
}

/*
 * The watch: a back-end making its socket is seen at once (no back-off
 * wait); another file in the same directory is not taken for it. Both
 * with the path and from the directory (--jail).
 */
START_TEST(connector_watch_sees_the_socket_made)
{
	char dir[] = "/tmp/tern-vu-XXXXXX", path[64], other[64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vhost_user_connector c;
	int lfd, dirfd = -1;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	snprintf(other, sizeof(other), "%s/s.other", dir);
	strcpy(sa.sun_path, path);
	if (_i == 1) {
		dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		ck_assert_int_ge(dirfd, 0);
	}
	ck_assert_int_eq(vhost_user_connector_start(&c, _i ? "/nowhere/s" : path,
						    dirfd), 0);
	if (dirfd >= 0)
		close(dirfd);
	ck_assert_int_ge(c.watch_fd, 0);
	/* Nothing yet, then another file: not the socket. */
	ck_assert(!vhost_user_connector_watch_saw(&c, path));
	close(open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	ck_assert(!watch_saw_within(&c, path));
	/* The back-end binds: seen. */
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert(watch_saw_within(&c, path));
	vhost_user_connector_stop(&c);
	ck_assert_int_eq(c.watch_fd, -1);
	close(lfd);
	unlink(path);
	unlink(other);
	rmdir(dir);
}
END_TEST

START_TEST(connector_long_path)
{
	struct vhost_user_connector c;
	char longp[200];

	/* Longer than a unix socket address holds: refused before forking. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	ck_assert_int_eq(vhost_user_connector_start(&c, longp, -1), -ENAMETOOLONG);
	ck_assert_int_eq(c.sock, -1);
}
END_TEST

/* ---- --disk vhost-user= ---- */

static void disk_bad(const char *spec, const char *needle)
{
	struct disk_config c;
	GError *err = NULL;

	ck_assert_msg(!disk_config_parse(spec, &c, &err), "'%s' parsed", spec);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert_msg(strstr(err->message, needle), "'%s' lacks '%s'",
		      err->message, needle);
	g_error_free(err);
}

START_TEST(disk_spec)
{
	struct disk_config c;

	ck_assert(disk_config_parse("vhost-user=/run/vu.sock", &c, NULL));
	ck_assert(c.vhost_user);
	ck_assert(c.reconnect);
	ck_assert_str_eq(c.path, "/run/vu.sock");
	ck_assert_uint_eq(c.queues, 1);
	disk_config_clear(&c);
	ck_assert(
	    disk_config_parse("vhost-user=s,queues=4,reconnect=off", &c, NULL));
	ck_assert_uint_eq(c.queues, 4);
	ck_assert(!c.reconnect);
	disk_config_clear(&c);

	disk_bad("vhost-user=s,path=x", "exclude each other");
	disk_bad("path=x,vhost-user=s", "exclude each other");
	disk_bad("vhost-user=s,engine=aio",
		 "takes only queues= and reconnect=");
	disk_bad("vhost-user=s,bus=scsi", "takes only queues= and reconnect=");
	disk_bad("vhost-user=s,readonly=on",
		 "takes only queues= and reconnect=");
	disk_bad("vhost-user=s,reconnect=maybe", "reconnect='maybe'");
	disk_bad("vhost-user=", "needs a value");
	disk_bad("path=x,reconnect=off", "vhost-user= disks only");
}
END_TEST

static void net_bad(const char *spec, const char *needle)
{
	g_autofree char *start = g_strdup_printf("--net '%s': ", spec);
	struct net_config c;
	GError *err = NULL;

	ck_assert_msg(!net_config_parse(spec, &c, &err), "'%s' parsed", spec);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert_msg(g_str_has_prefix(err->message, start) &&
			  strstr(err->message, needle),
		      "'%s' lacks '%s'", err->message, needle);
	ck_assert_ptr_null(c.vhost_user);
	g_error_free(err);
}

START_TEST(net_spec)
{
	struct net_config c;

	ck_assert(net_config_parse("vhost-user=/run/vu.sock", &c, NULL));
	ck_assert_str_eq(c.vhost_user, "/run/vu.sock");
	ck_assert_ptr_null(c.ifname);
	ck_assert_int_eq(c.fd, -1);
	ck_assert(c.reconnect);
	ck_assert(!c.mac_given);
	ck_assert_uint_eq(c.queues, 1);
	net_config_clear(&c);
	ck_assert(net_config_parse(
	    "vhost-user=s,queues=1,mac=52:54:00:ab:cd:01,reconnect=off", &c,
	    NULL));
	ck_assert(!c.reconnect);
	ck_assert(c.mac_given);
	ck_assert_uint_eq(c.mac[5], 0x01);
	net_config_clear(&c);
	/* A tap NIC has no back-end to reconnect to. */
	ck_assert(net_config_parse("tap=t0", &c, NULL));
	ck_assert_ptr_null(c.vhost_user);
	ck_assert(!c.reconnect);
	net_config_clear(&c);

	/* Several pairs: the control queue is tern's (net.c). */
	ck_assert(net_config_parse("vhost-user=s,queues=2", &c, NULL));
	ck_assert_uint_eq(c.queues, 2);
	net_config_clear(&c);
	ck_assert(net_config_parse("vhost-user=s,queues=16", &c, NULL));
	net_config_clear(&c);
	net_bad("vhost-user=s,queues=17", "queues='17': expected a decimal "
					  "number of queue pairs from 1 to 16");
	net_bad("vhost-user=s,queues=0", "queues='0'");
	net_bad("vhost-user=s,tap=t0", "takes only queues=, mac= and "
				       "reconnect=");
	net_bad("fd=5,vhost-user=s", "takes only queues=, mac= and reconnect=");
	net_bad("vhost-user=s,mtu=9000", "takes only");
	net_bad("vhost-user=s,vhost=on", "takes only");
	net_bad("vhost-user=s,reconnect=maybe",
		"reconnect='maybe': expected on or off");
	net_bad("vhost-user=s,reconnect=on,reconnect=off", "given twice");
	net_bad("vhost-user=s,mac=01:00:5e:00:00:01", "expected a unicast MAC");
	net_bad("vhost-user=", "'vhost-user' needs a value");
	net_bad("tap=t0,reconnect=on", "vhost-user= NICs only");
}
END_TEST

/* A model's protocol_drop: those bits are never asked for. */
START_TEST(conn_protocol_drop)
{
	struct vhost_user_conn c;
	uint64_t features =
	    (1ULL << 32) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t proto = VHOST_USER_PROTOCOL_WANTED;
	uint64_t drop = (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
			(1ULL << VHOST_USER_PROTOCOL_F_CONFIG);
	uint64_t qnum = 1, ack = 0;
	uint8_t p[64];
	int peer;

	conn_pair(&c, &peer);
	c.protocol_drop = drop;
	peer_send(peer, VHOST_USER_GET_FEATURES, RF, &features, 8, -1);
	peer_send(peer, VHOST_USER_GET_PROTOCOL_FEATURES, RF, &proto,
		  8, -1);
	peer_send(peer, VHOST_USER_GET_QUEUE_NUM, RF, &qnum, 8, -1);
	peer_send(peer, VHOST_USER_SET_OWNER, RF, &ack, 8, -1);
	ck_assert_int_eq(vhost_user_conn_negotiate(&c), 0);
	ck_assert_uint_eq(c.protocol, VHOST_USER_PROTOCOL_WANTED & ~drop);
	(void)peer_recv(peer, NULL, NULL, NULL);
	(void)peer_recv(peer, NULL, NULL, NULL);
	ck_assert_uint_eq(peer_recv(peer, p, NULL, NULL),
			  VHOST_USER_SET_PROTOCOL_FEATURES);
	ck_assert_uint_eq(rd64(p), VHOST_USER_PROTOCOL_WANTED & ~drop);
	vhost_user_conn_close(&c);
	close(peer);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhost-user");

	UNIT_TCASE(s, "encode", encode_basic, encode_memory_config_inflight);
	UNIT_TCASE(s, "reply", reply_good, reply_malformed);
	UNIT_TCASE(s, "conn", conn_negotiate, conn_fds_and_acks,
		   conn_broken_backends);
	UNIT_TCASE(s, "connector", connector_connects_and_reports,
		   connector_connects_from_its_directory, connector_long_path);
	{
		/* 0: by the path; 1: from the directory, as under --jail. */
		TCase *tc = tcase_create("connector watch");

		tcase_add_loop_test(tc, connector_watch_sees_the_socket_made, 0, 2);
		suite_add_tcase(s, tc);
	}
	UNIT_TCASE(s, "disk-spec", disk_spec);
	UNIT_TCASE(s, "net", net_spec, conn_protocol_drop);
	return unit_run(s);
}
