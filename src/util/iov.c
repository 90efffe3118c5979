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
