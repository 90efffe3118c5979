// SPDX-License-Identifier: MIT
/* io_uring restrictions (uring.h). */
#include <errno.h>

#include "tern/uring.h"

#define URING_MAX_OPS 8

int tern_uring_restrict(struct io_uring *ring, const uint8_t *ops,
			unsigned int nr_ops, unsigned int sqe_flags,
			bool unregister_files)
{
	struct io_uring_restriction res[URING_MAX_OPS + 3] = { 0 };
	unsigned int n = 0;
	int ret;

	if (nr_ops > URING_MAX_OPS)
		return -EINVAL;
	for (unsigned int i = 0; i < nr_ops; i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = (uint8_t)sqe_flags;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = (uint8_t)sqe_flags;
	if (unregister_files) {
		res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
		res[n++].register_op = IORING_UNREGISTER_FILES;
	}
	/*
	 * Through the raw register call: Debian 12's liburing 2.3 declares
	 * io_uring_register_restrictions() and io_uring_enable_rings() but
	 * its shared library does not export them.
	 */
	ret = io_uring_register(ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (ret < 0)
		return ret;
	return io_uring_register(ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}
