// SPDX-License-Identifier: MIT
/*
 * Device worker threads: epoll over the device's fds, callbacks on this
 * thread, a stop eventfd to leave the loop. Stopping joins the thread, so a
 * device reset that stops its thread knows no callback runs any more.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/iothread.h"

#define IOTHREAD_BATCH 16

struct iothread_handler {
	int fd; /* -1 once deleted from a callback (freed after the batch) */
	iothread_fn *fn;
	void *opaque;
};

struct iothread {
	char name[16];
	int epfd;
	int stop_fd;
	pthread_t thread;
	bool running;
	GPtrArray *handlers; /* struct iothread_handler *, owned */
	GPtrArray *dead; /* deleted from a callback, freed after the batch */
	bool in_batch;
};

/* The stop eventfd's epoll cookie: no handler has this address. */
static char iothread_stop_cookie;

struct iothread *iothread_create(const char *name, GError **err)
{
	struct iothread *t = g_new0(struct iothread, 1);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &iothread_stop_cookie };

	g_strlcpy(t->name, name, sizeof(t->name));
	t->handlers = g_ptr_array_new_with_free_func(g_free);
	t->dead = g_ptr_array_new_with_free_func(g_free);
	t->stop_fd = -1;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		goto err;
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stop_fd < 0)
		goto err;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->stop_fd, &ev) < 0)
		goto err;
	return t;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: cannot create its I/O thread: %s",
		    name, g_strerror(errno));
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	if (t->epfd >= 0)
		close(t->epfd);
	g_ptr_array_unref(t->handlers);
	g_ptr_array_unref(t->dead);
	g_free(t);
	return NULL;
}

void iothread_destroy(struct iothread *t)
{
	if (!t)
		return;
	iothread_stop(t);
	close(t->stop_fd);
	close(t->epfd);
	g_ptr_array_unref(t->handlers);
	g_ptr_array_unref(t->dead);
	g_free(t);
}

static struct iothread_handler *iothread_find(struct iothread *t, int fd,
					      guint *index)
{
	for (guint i = 0; i < t->handlers->len; i++) {
		struct iothread_handler *h = g_ptr_array_index(t->handlers, i);

		if (h->fd == fd) {
			if (index)
				*index = i;
			return h;
		}
	}
	return NULL;
}

int iothread_add(struct iothread *t, int fd, uint32_t events, iothread_fn *fn,
		 void *opaque)
{
	struct iothread_handler *h;
	struct epoll_event ev = { .events = events };

	if (fd < 0 || !fn)
		return -EINVAL;
	if (iothread_find(t, fd, NULL))
		return -EEXIST;
	h = g_new0(struct iothread_handler, 1);
	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	ev.data.ptr = h;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int ret = -errno;

		g_free(h);
		return ret;
	}
	g_ptr_array_add(t->handlers, h);
	return 0;
}

int iothread_mod(struct iothread *t, int fd, uint32_t events)
{
	struct iothread_handler *h = iothread_find(t, fd, NULL);
	struct epoll_event ev = { .events = events };

	if (!h)
		return -ENOENT;
	ev.data.ptr = h;
	if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int iothread_del(struct iothread *t, int fd)
{
	guint i;
	struct iothread_handler *h = iothread_find(t, fd, &i);

	if (!h)
		return -ENOENT;
	/* The fd may already be closed by its owner: EBADF is fine. */
	(void)epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
	g_ptr_array_steal_index(t->handlers, i);
	if (t->in_batch) {
		/* Later events of this batch may still point at it. */
		h->fd = -1;
		g_ptr_array_add(t->dead, h);
	} else {
		g_free(h);
	}
	return 0;
}

static void *iothread_main(void *opaque)
{
	struct iothread *t = opaque;
	struct epoll_event evs[IOTHREAD_BATCH];
	sigset_t set;

	/* Host signals belong to the main loop, the kick signal to vCPUs. */
	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	pthread_setname_np(pthread_self(), t->name);

	for (;;) {
		int n = epoll_wait(t->epfd, evs, IOTHREAD_BATCH, -1);
		bool stop = false;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			tern_warn("%s: epoll_wait: %s; the I/O thread stops",
				  t->name, g_strerror(errno));
			break;
		}
		t->in_batch = true;
		for (int i = 0; i < n; i++) {
			struct iothread_handler *h = evs[i].data.ptr;

			if (evs[i].data.ptr == &iothread_stop_cookie) {
				stop = true;
				continue;
			}
			if (h->fd >= 0)
				h->fn(h->opaque, evs[i].events);
		}
		t->in_batch = false;
		g_ptr_array_set_size(t->dead, 0);
		if (stop)
			break;
	}
	return NULL;
}

int iothread_start(struct iothread *t)
{
	int ret;

	if (t->running)
		return 0;
	ret = pthread_create(&t->thread, NULL, iothread_main, t);
	if (ret)
		return -ret;
	t->running = true;
	return 0;
}

void iothread_stop(struct iothread *t)
{
	uint64_t v = 1;

	if (!t->running)
		return;
	/* An eventfd write cannot fail short of 2^64 - 2 pending wakeups. */
	(void)!write(t->stop_fd, &v, sizeof(v));
	pthread_join(t->thread, NULL);
	t->running = false;
	/* Drain, so the next start does not stop at once. */
	(void)!read(t->stop_fd, &v, sizeof(v));
}

bool iothread_running(const struct iothread *t)
{
	return t->running;
}

bool iothread_is_current(const struct iothread *t)
{
	return t->running && pthread_equal(t->thread, pthread_self());
}
