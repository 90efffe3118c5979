/* SPDX-License-Identifier: MIT */
/*
 * Passing file descriptors over a unix socket (SCM_RIGHTS): the
 * vhost-user front-end's requests, the connector's answers, and the
 * back-ends the tests play.
 */
#ifndef TERN_FDPASS_H
#define TERN_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* The most descriptors one message carries (vhost-user's limit). */
#define FDPASS_MAX 8

/*
 * One sendmsg() of len bytes of buf with fds[0..nfds) (nfds at most
 * FDPASS_MAX; none if 0) on its first byte, with flags. What sendmsg()
 * returns: a short count means the rest goes without the descriptors.
 */
ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds,
		    unsigned int nfds, int flags);

#endif
