// SPDX-License-Identifier: MIT
#include <string.h>

#include "tern/iov.h"

size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, void *dst,
		  size_t len)
{
	unsigned char *d = dst;
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(d + done, iov[i].iov_base, n);
		done += n;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, const void *src,
		    size_t len)
{
	const unsigned char *s = src;
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, s + done, n);
		done += n;
	}
	return done;
}

struct iovec *iov_advance(struct iovec *iov, unsigned int *cnt, size_t n)
{
	while (*cnt && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt && n) {
		iov->iov_base = (unsigned char *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}
