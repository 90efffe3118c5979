// SPDX-License-Identifier: MIT
#include <string.h>
#include <sys/socket.h>

#include "tern/fdpass.h"

ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds,
		    unsigned int nfds, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > FDPASS_MAX)
		nfds = FDPASS_MAX;
	if (nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, flags);
}
