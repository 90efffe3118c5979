// SPDX-License-Identifier: MIT
/*
 * Thread spawning and the registry of live threads (thread.h). The new
 * thread sets itself up and reports back before thread_spawn() returns, so
 * a failed enter hook (a seccomp filter that would not load) is an error
 * at set-up time, never a thread running without its filter.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tern/thread.h"

struct thread_start {
	struct thread_registry *r;
	enum thread_role role;
	char name[THREAD_NAME_MAX];
	void *(*fn)(void *);
	void *arg;
	/* The new thread's verdict on its set-up. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int result;
};

static const char *const role_names[THREAD_ROLE_COUNT] = {
	[THREAD_ROLE_MAIN] = "main",
	[THREAD_ROLE_VCPU] = "vcpu",
	[THREAD_ROLE_DEVICE_IO] = "device-io",
	[THREAD_ROLE_BLOCK_WORKER] = "block-worker",
	[THREAD_ROLE_CONSOLE] = "console",
	[THREAD_ROLE_MIGRATION] = "migration",
};

const char *thread_role_name(enum thread_role role)
{
	return role < THREAD_ROLE_COUNT ? role_names[role] : "unknown";
}

void thread_registry_init(struct thread_registry *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->threads = g_array_new(FALSE, FALSE, sizeof(struct thread_info));
}

void thread_registry_destroy(struct thread_registry *r)
{
	if (!r->threads)
		return;
	g_array_unref(r->threads);
	r->threads = NULL;
	pthread_mutex_destroy(&r->lock);
}

static void thread_registry_record(struct thread_registry *r,
				   enum thread_role role, const char *name)
{
	struct thread_info t = { .tid = gettid(), .role = role };

	g_strlcpy(t.name, name, sizeof(t.name));
	pthread_mutex_lock(&r->lock);
	g_array_append_val(r->threads, t);
	pthread_mutex_unlock(&r->lock);
}

static void thread_registry_forget(struct thread_registry *r, pid_t tid)
{
	pthread_mutex_lock(&r->lock);
	for (guint i = 0; i < r->threads->len; i++) {
		if (g_array_index(r->threads, struct thread_info, i).tid == tid) {
			g_array_remove_index_fast(r->threads, i);
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
}

void thread_registry_add_self(struct thread_registry *r, enum thread_role role,
			      const char *name)
{
	thread_registry_record(r, role, name);
}

unsigned int thread_registry_count(struct thread_registry *r,
				   enum thread_role role)
{
	unsigned int n = 0;

	pthread_mutex_lock(&r->lock);
	for (guint i = 0; i < r->threads->len; i++) {
		const struct thread_info *t =
			&g_array_index(r->threads, struct thread_info, i);

		n += role == THREAD_ROLE_COUNT || t->role == role;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

GArray *thread_registry_list(struct thread_registry *r)
{
	GArray *copy;

	pthread_mutex_lock(&r->lock);
	copy = g_array_copy(r->threads);
	pthread_mutex_unlock(&r->lock);
	return copy;
}

static void thread_start_report(struct thread_start *s, int result)
{
	pthread_mutex_lock(&s->lock);
	s->result = result;
	s->done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int thread_confine_self(struct thread_registry *r, enum thread_role role)
{
	return r && r->enter ? r->enter(r->enter_opaque, role) : 0;
}

static void *thread_trampoline(void *opaque)
{
	struct thread_start *s = opaque;
	struct thread_registry *r = s->r;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg, *ret;
	char comm[THREAD_NAME_MAX];
	pid_t tid = gettid();
	sigset_t all;
	int err = 0;

	/* Host signals belong to the main loop; a vCPU unblocks its kick. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	/* comm holds 15 bytes: "tern-" and the first ten of the name. */
	memcpy(comm, "tern-", 5);
	g_strlcpy(comm + 5, s->name, sizeof(comm) - 5);
	pthread_setname_np(pthread_self(), comm);
	if (r) {
		thread_registry_record(r, s->role, s->name);
		/* A vCPU confines itself after its set-up (thread_enter_fn). */
		if (s->role != THREAD_ROLE_VCPU)
			err = thread_confine_self(r, s->role);
	}
	if (err && r)
		thread_registry_forget(r, tid);
	/* s lives on the spawner's stack: not touched after this. */
	thread_start_report(s, err);
	if (err)
		return NULL;
	ret = fn(arg);
	if (r)
		thread_registry_forget(r, tid);
	return ret;
}

int thread_spawn(struct thread_registry *r, pthread_t *out,
		 enum thread_role role, void *(*fn)(void *), void *arg,
		 const char *fmt, ...)
{
	struct thread_start s = { .r = r, .role = role, .fn = fn, .arg = arg };
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(s.name, sizeof(s.name), fmt, ap);
	va_end(ap);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	ret = pthread_create(out, NULL, thread_trampoline, &s);
	if (ret) {
		ret = -ret;
		goto out;
	}
	pthread_mutex_lock(&s.lock);
	while (!s.done)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	ret = s.result;
	if (ret)
		pthread_join(*out, NULL);
out:
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	return ret;
}
