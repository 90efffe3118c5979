/* SPDX-License-Identifier: MIT */
/*
 * A device worker thread: an epoll set of file descriptors, each with a
 * callback, and a stop eventfd. Device work (virtqueue kicks, back-end
 * completions, host input) runs here, never on a vCPU thread or the main
 * loop. One per device, or one per queue for devices that scale by queue.
 *
 * Life: create (stopped) → add fds → start → ... → stop → del fds → start
 * again, or destroy. Callbacks run on the thread only. Adding or removing an
 * fd is allowed while the thread is stopped, or from one of its own
 * callbacks; iothread_mod() works at any time.
 */
#ifndef TERN_IOTHREAD_H
#define TERN_IOTHREAD_H

#include <glib.h>
#include <stdint.h>

#include "tern/util.h"

struct iothread;

/* events: the EPOLL* bits that fired. */
typedef void iothread_fn(void *opaque, uint32_t events);

/* A stopped thread named name (at most 15 characters are kept). */
struct iothread *iothread_create(const char *name, GError **err);
/* Stops the thread if it runs, then frees it; the caller's fds stay open. */
void iothread_destroy(struct iothread *t);

/*
 * Watch fd for events (EPOLLIN, EPOLLOUT, ...; level-triggered). -EEXIST
 * if fd is watched already, -EPERM for a file epoll cannot watch (a regular
 * file), other -errno from epoll_ctl().
 */
int iothread_add(struct iothread *t, int fd, uint32_t events, iothread_fn *fn,
		 void *opaque) __must_check;
/* Change the events watched on fd; 0 pauses it without removing it. */
int iothread_mod(struct iothread *t, int fd, uint32_t events) __must_check;
/* Stop watching fd; -ENOENT if it was not watched. */
int iothread_del(struct iothread *t, int fd);

/* Start the thread; 0 or -errno. Starting a running thread does nothing. */
int iothread_start(struct iothread *t) __must_check;
/*
 * Make the thread leave its loop (after the callback it is running, if
 * any) and join it. No callback runs after this returns. Must not be called
 * from the thread itself.
 */
void iothread_stop(struct iothread *t);
bool iothread_running(const struct iothread *t);
/* True on the thread itself (a callback asking where it runs). */
bool iothread_is_current(const struct iothread *t);

#endif
