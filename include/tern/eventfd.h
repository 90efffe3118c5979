/* SPDX-License-Identifier: MIT */
/*
 * eventfds as tern uses them everywhere (kicks, interrupts, wake-ups):
 * non-blocking, close-on-exec, a counter that a write adds one to.
 */
#ifndef TERN_EVENTFD_H
#define TERN_EVENTFD_H

#include <stdbool.h>

#include "tern/util.h"

/* A new eventfd (EFD_NONBLOCK | EFD_CLOEXEC), or -errno. */
int efd_new(void) __must_check;
/*
 * Add one. Never blocks and cannot fail short of 2^64 - 2 pending counts,
 * so any thread (a device thread, a signal-free path) may call it.
 */
void efd_signal(int fd);
/* Read (and so reset) the counter; true if it was non-zero. */
bool efd_drain(int fd);
/* Is the counter non-zero? Leaves it as it is. */
bool efd_pending(int fd);

#endif
