/* SPDX-License-Identifier: MIT */
/*
 * io_uring rings as tern's I/O threads use them (block/io_uring.c,
 * virtio-net's data path): made with IORING_SETUP_R_DISABLED, then held
 * to a few operations on a fixed file before they are enabled, because
 * what a ring submits bypasses seccomp.
 */
#ifndef TERN_URING_H
#define TERN_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Allow only the nr_ops operations in ops, each with exactly sqe_flags
 * (IOSQE_FIXED_FILE: only the registered files), then enable the ring.
 * No register call is allowed afterwards but, with unregister_files,
 * IORING_UNREGISTER_FILES. 0 or a negative errno.
 */
int tern_uring_restrict(struct io_uring *ring, const uint8_t *ops,
			unsigned int nr_ops, unsigned int sqe_flags,
			bool unregister_files);

#endif
