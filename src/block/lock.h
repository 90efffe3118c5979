/* SPDX-License-Identifier: MIT */
/* Image locks: one writer or any number of readers per image (lock.c). */
#ifndef TERN_BLOCK_LOCK_H
#define TERN_BLOCK_LOCK_H

#include <stdbool.h>

#include "tern/util.h"

/*
 * Lock the image open on fd: shared for a reader, exclusive for a writer
 * (fd must then be open for writing). 0 when locked; -EAGAIN when another
 * user holds a conflicting lock, with *holder describing it (who, if /proc
 * tells, and which lock; g_free it); -EOPNOTSUPP when the file system has
 * no OFD locks (the caller goes on unlocked); other -errno.
 */
int blk_image_lock(int fd, bool readonly, char **holder) __must_check;
/* Drop fd's locks now, whoever else still holds the open file. */
void blk_image_unlock(int fd);

#endif
