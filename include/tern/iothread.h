/* SPDX-License-Identifier: MIT */
/*
 * A device worker thread: an epoll set of file descriptors, each with a
 * callback, and a stop eventfd. Device work (virtqueue kicks, back-end
 * completions, host input) runs here, never on a vCPU thread or the main
 * loop. One per device, or one per queue for devices that scale by queue.
 *
 * Life: create (the thread exists, parked) → add fds → start → ... → stop
 * → del fds → start again, or destroy. The thread is created with the
 * device, before the guest runs, and lives until destroy: stop parks it,
 * start wakes it, so no thread is created while the guest runs and the
 * sandbox sees every thread at start-up. Callbacks run on the thread only.
 * Adding or removing an fd is allowed while the thread is stopped, or from
 * one of its own callbacks; iothread_mod() works at any time.
 *
 * If epoll itself fails the thread cannot serve its fds any more: it calls
 * the fault callback (the device goes to NEEDS_RESET) and parks until the
 * next start.
 */
#ifndef TERN_IOTHREAD_H
#define TERN_IOTHREAD_H

#include <glib.h>
#include <stdint.h>

#include "tern/util.h"

struct iothread;
struct thread_registry;

/* events: the EPOLL* bits that fired. */
typedef void iothread_fn(void *opaque, uint32_t events);

/* Called on the thread when epoll fails; why is the error text. */
typedef void iothread_fault_fn(void *opaque, const char *why);

/*
 * A stopped (parked) thread, spawned with role device-io and named name
 * (the registry prefixes "tern-"; ten characters are kept). fault may be
 * NULL (the failure is then only logged).
 */
struct iothread *iothread_create(struct thread_registry *threads,
				 const char *name, iothread_fault_fn *fault,
				 void *fault_opaque, GError **err);
/* Ends and joins the thread, then frees it; the caller's fds stay open. */
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

/* Let the thread serve its fds. Starting a running thread does nothing. */
void iothread_start(struct iothread *t);
/*
 * Park the thread (after the callback it is running, if any) and wait until
 * it is parked: no callback runs after this returns. Must not be called
 * from the thread itself.
 */
void iothread_stop(struct iothread *t);

#endif
