// SPDX-License-Identifier: MIT
/*
 * Device worker threads: epoll over the device's fds, callbacks on this
 * thread, and a control eventfd. The thread is spawned at creation and
 * lives until destroy; stop parks it and waits until it is parked, so a
 * device reset that stops its thread knows no callback runs any more, and
 * no thread is ever created while the guest runs.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/thread.h"

#define IOTHREAD_BATCH 16

struct iothread_handler {
	int fd; /* -1 once deleted from a callback (freed after the batch) */
	iothread_fn *fn;
	void *opaque;
};

struct iothread {
	char name[THREAD_NAME_MAX];
	int epfd;
	int ctl_fd; /* wakes the thread to look at want_run / quit */
	pthread_t thread;
	iothread_fault_fn *fault;
	void *fault_opaque;
	GPtrArray *handlers; /* struct iothread_handler *, owned */
	GPtrArray *dead; /* deleted from a callback, freed after the batch */
	bool in_batch;

	/* Control, guarded by lock; changes signalled on cond. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool want_run; /* start() asked to serve the fds */
	bool serving; /* the thread is in its epoll loop */
	bool quit;
};

/* The control eventfd's epoll cookie: no handler has this address. */
static const char iothread_ctl_cookie;

static void *iothread_main(void *opaque);

struct iothread *iothread_create(struct thread_registry *threads,
				 const char *name, iothread_fault_fn *fault,
				 void *fault_opaque, GError **err)
{
	struct iothread *t = g_new0(struct iothread, 1);
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = (void *)&iothread_ctl_cookie };
	int ret;

	g_strlcpy(t->name, name, sizeof(t->name));
	t->fault = fault;
	t->fault_opaque = fault_opaque;
	t->handlers = g_ptr_array_new_with_free_func(g_free);
	t->dead = g_ptr_array_new_with_free_func(g_free);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->ctl_fd = efd_new();
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->ctl_fd < 0 || t->epfd < 0 ||
	    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->ctl_fd, &ev) < 0) {
		ret = t->ctl_fd < 0 ? t->ctl_fd : -errno;
		goto err;
	}
	ret = thread_spawn(threads, &t->thread, THREAD_ROLE_DEVICE_IO,
			   iothread_main, t, "%s", name);
	if (ret)
		goto err;
	return t;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "%s: cannot create its I/O thread: %s", name, g_strerror(-ret));
	if (t->ctl_fd >= 0)
		close(t->ctl_fd);
	if (t->epfd >= 0)
		close(t->epfd);
	g_ptr_array_unref(t->handlers);
	g_ptr_array_unref(t->dead);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	g_free(t);
	return NULL;
}

void iothread_destroy(struct iothread *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->quit = true;
	t->want_run = false;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	efd_signal(t->ctl_fd);
	pthread_join(t->thread, NULL);
	close(t->ctl_fd);
	close(t->epfd);
	g_ptr_array_unref(t->handlers);
	g_ptr_array_unref(t->dead);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
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

/* Serve the fds until stop or quit; false when epoll failed. */
static bool iothread_serve(struct iothread *t)
{
	struct epoll_event evs[IOTHREAD_BATCH];

	for (;;) {
		int n = epoll_wait(t->epfd, evs, IOTHREAD_BATCH, -1);
		bool ctl = false;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		t->in_batch = true;
		for (int i = 0; i < n; i++) {
			struct iothread_handler *h = evs[i].data.ptr;

			if (evs[i].data.ptr == (void *)&iothread_ctl_cookie) {
				ctl = true;
				continue;
			}
			if (h->fd >= 0)
				h->fn(h->opaque, evs[i].events);
		}
		t->in_batch = false;
		g_ptr_array_set_size(t->dead, 0);
		if (ctl) {
			bool run;

			efd_drain(t->ctl_fd);
			pthread_mutex_lock(&t->lock);
			run = t->want_run;
			pthread_mutex_unlock(&t->lock);
			if (!run)
				return true;
		}
	}
}

static void *iothread_main(void *opaque)
{
	struct iothread *t = opaque;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->want_run && !t->quit)
			pthread_cond_wait(&t->cond, &t->lock);
		if (t->quit)
			break;
		t->serving = true;
		pthread_mutex_unlock(&t->lock);

		if (!iothread_serve(t)) {
			g_autofree char *why = g_strdup_printf("epoll_wait: %s",
							      g_strerror(errno));

			tern_warn("%s: %s; the I/O thread stops serving its device",
				  t->name, why);
			if (t->fault)
				t->fault(t->fault_opaque, why);
			pthread_mutex_lock(&t->lock);
			/* Parked until the owner stops and starts it again. */
			t->want_run = false;
		} else {
			pthread_mutex_lock(&t->lock);
		}
		t->serving = false;
		pthread_cond_broadcast(&t->cond);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

void iothread_start(struct iothread *t)
{
	pthread_mutex_lock(&t->lock);
	t->want_run = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void iothread_stop(struct iothread *t)
{
	pthread_mutex_lock(&t->lock);
	t->want_run = false;
	pthread_mutex_unlock(&t->lock);
	efd_signal(t->ctl_fd);
	pthread_mutex_lock(&t->lock);
	while (t->serving)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}
