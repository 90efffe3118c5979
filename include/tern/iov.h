/* SPDX-License-Identifier: MIT */
/* Copies between iovec arrays (guest buffers) and flat host buffers. */
#ifndef TERN_IOV_H
#define TERN_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Copy up to len bytes from the start of iov into dst; returns the count. */
size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, void *dst,
		  size_t len);

/* Copy up to len bytes from src into the start of iov; returns the count. */
size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, const void *src,
		    size_t len);

/*
 * Drop the first n bytes of an iovec array in place: whole elements are
 * skipped (*cnt shrinks), a partly consumed one is trimmed. Returns the new
 * start of the array.
 */
struct iovec *iov_advance(struct iovec *iov, unsigned int *cnt, size_t n);

#endif
