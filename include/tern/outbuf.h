/* SPDX-License-Identifier: MIT */
/*
 * A bounded, asynchronous writer for console output. A vCPU or a device
 * thread hands bytes over with outbuf_write(), which copies what fits and
 * never blocks; a thread of its own (role console) writes them to the fd.
 * So a console nobody reads (stdout on a full pipe, a stopped terminal)
 * costs dropped bytes, counted and logged, and never a vCPU, a device
 * thread or the control plane waiting on it.
 */
#ifndef TERN_OUTBUF_H
#define TERN_OUTBUF_H

#include <glib.h>

#include "tern/util.h"

#define OUTBUF_DEFAULT_SIZE (256 * KiB)
/* How long teardown waits for buffered output to reach a slow reader. */
#define OUTBUF_DESTROY_FLUSH_NS (100ULL * 1000 * 1000)

struct outbuf;
struct thread_registry;

/*
 * Write to fd (which stays the caller's) through a buffer of size bytes;
 * what names the output in log lines ("console"). threads may be NULL.
 */
struct outbuf *outbuf_new(struct thread_registry *threads, int fd, size_t size,
			  const char *what, GError **err);
/* Flush for at most OUTBUF_DESTROY_FLUSH_NS, stop the thread, free. */
void outbuf_destroy(struct outbuf *ob);

/*
 * Queue bytes; returns how many were taken. Whatever does not fit is
 * dropped (counted; one log line when dropping starts, one with the count
 * when output flows again). Any thread; never blocks.
 */
size_t outbuf_write(struct outbuf *ob, const void *buf, size_t len);
/* Free bytes now, for a writer that would rather wait than drop. */
size_t outbuf_room(struct outbuf *ob);
/* Signalled (an eventfd) whenever room frees up after a full buffer. */
int outbuf_room_fd(const struct outbuf *ob);
/* Wait until everything queued was written or deadline_ns passes; true if flushed. */
bool outbuf_flush(struct outbuf *ob, uint64_t deadline_ns);
/* Bytes dropped so far. */
uint64_t outbuf_dropped(struct outbuf *ob);

#endif
