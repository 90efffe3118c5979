// SPDX-License-Identifier: MIT
/*
 * Console output through a ring buffer and a writer thread (outbuf.h).
 *
 * The writer never blocks in write(2) for long: it waits in poll() for the
 * fd to take data (and for its control eventfd), then writes at most
 * PIPE_BUF bytes, which a pipe with room accepts without blocking. So
 * teardown can always wake it and join it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/outbuf.h"
#include "tern/thread.h"

struct outbuf {
	int fd;
	char what[32];
	int ctl_fd; /* wakes the writer: data queued, or quit */
	int room_fd; /* signalled when room frees after the buffer filled */
	pthread_t thread;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* the writer consumed bytes, or stopped */
	uint8_t *buf;
	size_t size, head, len; /* ring: len bytes from head */
	bool writing; /* the writer holds bytes it is writing */
	bool full; /* room_fd is owed a signal */
	bool broken; /* the fd failed: drop everything */
	bool quit;
	uint64_t dropped, dropped_reported;
};

static void *outbuf_main(void *opaque);

struct outbuf *outbuf_new(struct thread_registry *threads, int fd, size_t size,
			  const char *what, GError **err)
{
	struct outbuf *ob = g_new0(struct outbuf, 1);
	pthread_condattr_t attr;
	int ret;

	ob->fd = fd;
	g_strlcpy(ob->what, what, sizeof(ob->what));
	ob->size = size;
	ob->buf = g_malloc(size);
	pthread_mutex_init(&ob->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ob->cond, &attr);
	pthread_condattr_destroy(&attr);
	ob->ctl_fd = efd_new();
	ob->room_fd = efd_new();
	if (ob->ctl_fd < 0 || ob->room_fd < 0) {
		ret = ob->ctl_fd < 0 ? ob->ctl_fd : ob->room_fd;
		goto err;
	}
	ret = thread_spawn(threads, &ob->thread, THREAD_ROLE_CONSOLE, outbuf_main,
			   ob, "console");
	if (ret)
		goto err;
	return ob;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "%s output: cannot start its writer: %s", what, g_strerror(-ret));
	if (ob->ctl_fd >= 0)
		close(ob->ctl_fd);
	if (ob->room_fd >= 0)
		close(ob->room_fd);
	pthread_cond_destroy(&ob->cond);
	pthread_mutex_destroy(&ob->lock);
	g_free(ob->buf);
	g_free(ob);
	return NULL;
}

/* Log what was dropped since the last report. Lock held. */
static void outbuf_report_dropped(struct outbuf *ob)
{
	if (ob->dropped == ob->dropped_reported)
		return;
	tern_warn("%s output: %llu bytes dropped while nobody read it",
		  ob->what,
		  (unsigned long long)(ob->dropped - ob->dropped_reported));
	ob->dropped_reported = ob->dropped;
}

size_t outbuf_write(struct outbuf *ob, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t take, tail, first;
	bool wake;

	pthread_mutex_lock(&ob->lock);
	take = ob->broken ? 0 : MIN(len, ob->size - ob->len);
	if (take < len) {
		if (ob->dropped == ob->dropped_reported && !ob->broken)
			tern_warn("%s output is not being read: dropping bytes until it is",
				  ob->what);
		ob->dropped += len - take;
		ob->full = true;
	}
	tail = (ob->head + ob->len) % ob->size;
	first = MIN(take, ob->size - tail);
	memcpy(ob->buf + tail, p, first);
	memcpy(ob->buf, p + first, take - first);
	wake = !ob->len && take;
	ob->len += take;
	pthread_mutex_unlock(&ob->lock);
	if (wake)
		efd_signal(ob->ctl_fd);
	return take;
}

size_t outbuf_room(struct outbuf *ob)
{
	size_t room;

	pthread_mutex_lock(&ob->lock);
	room = ob->broken ? ob->size : ob->size - ob->len;
	if (room < ob->size)
		ob->full = true; /* the caller may wait on room_fd */
	pthread_mutex_unlock(&ob->lock);
	return room;
}

int outbuf_room_fd(const struct outbuf *ob)
{
	return ob->room_fd;
}

uint64_t outbuf_dropped(struct outbuf *ob)
{
	uint64_t n;

	pthread_mutex_lock(&ob->lock);
	n = ob->dropped;
	pthread_mutex_unlock(&ob->lock);
	return n;
}

bool outbuf_flush(struct outbuf *ob, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
		.tv_nsec = (long)(deadline_ns % 1000000000ULL),
	};
	bool done;

	pthread_mutex_lock(&ob->lock);
	while ((ob->len || ob->writing) && !ob->broken &&
	       tern_now_ns() < deadline_ns)
		pthread_cond_timedwait(&ob->cond, &ob->lock, &ts);
	done = !ob->len && !ob->writing;
	pthread_mutex_unlock(&ob->lock);
	return done;
}

/* Wait until fd takes data; false when asked to look at quit. */
static bool outbuf_wait_writable(struct outbuf *ob)
{
	struct pollfd p[2] = {
		{ .fd = ob->fd, .events = POLLOUT },
		{ .fd = ob->ctl_fd, .events = POLLIN },
	};

	for (;;) {
		int n = poll(p, 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return false;
		/* POLLERR/POLLHUP too: the write below reports the error. */
		return true;
	}
}

static void *outbuf_main(void *opaque)
{
	struct outbuf *ob = opaque;

	pthread_mutex_lock(&ob->lock);
	for (;;) {
		size_t chunk;
		ssize_t n;

		if (ob->quit)
			break;
		if (!ob->len || ob->broken) {
			pthread_mutex_unlock(&ob->lock);
			/* Sleep until data or quit (the ctl eventfd). */
			struct pollfd p = { .fd = ob->ctl_fd, .events = POLLIN };

			while (poll(&p, 1, -1) < 0 && errno == EINTR)
				;
			efd_drain(ob->ctl_fd);
			pthread_mutex_lock(&ob->lock);
			continue;
		}
		chunk = MIN(MIN(ob->len, ob->size - ob->head), (size_t)PIPE_BUF);
		ob->writing = true;
		pthread_mutex_unlock(&ob->lock);

		if (!outbuf_wait_writable(ob)) {
			efd_drain(ob->ctl_fd);
			pthread_mutex_lock(&ob->lock);
			ob->writing = false;
			continue;
		}
		n = write(ob->fd, ob->buf + ob->head, chunk);

		pthread_mutex_lock(&ob->lock);
		ob->writing = false;
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			/* A console that went away must not stop the guest. */
			tern_warn("%s output: %s; dropping it from now on", ob->what,
				  g_strerror(errno));
			ob->broken = true;
			ob->dropped += ob->len;
			ob->dropped_reported = ob->dropped;
			ob->len = 0;
		} else {
			ob->head = (ob->head + (size_t)n) % ob->size;
			ob->len -= (size_t)n;
		}
		if (!ob->len)
			ob->head = 0;
		if (ob->full) {
			ob->full = false;
			outbuf_report_dropped(ob);
			efd_signal(ob->room_fd);
		}
		pthread_cond_broadcast(&ob->cond);
	}
	ob->writing = false;
	pthread_cond_broadcast(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
	return NULL;
}

void outbuf_destroy(struct outbuf *ob)
{
	if (!ob)
		return;
	outbuf_flush(ob, tern_now_ns() + OUTBUF_DESTROY_FLUSH_NS);
	pthread_mutex_lock(&ob->lock);
	ob->quit = true;
	if (ob->len)
		ob->dropped += ob->len;
	outbuf_report_dropped(ob);
	pthread_mutex_unlock(&ob->lock);
	efd_signal(ob->ctl_fd);
	pthread_join(ob->thread, NULL);
	close(ob->ctl_fd);
	close(ob->room_fd);
	pthread_cond_destroy(&ob->cond);
	pthread_mutex_destroy(&ob->lock);
	g_free(ob->buf);
	g_free(ob);
}
