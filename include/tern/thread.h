/* SPDX-License-Identifier: MIT */
/*
 * Every thread tern creates is spawned here: it gets a name (visible in
 * /proc/PID/task/TID/comm as "tern-vcpu0", "tern-io-blk0", ...), a role, all
 * host signals blocked, and is recorded in the VM's registry while it
 * lives. A role says what a thread may do; the sandbox installs the role's
 * seccomp filter through the registry's enter hook, on the new thread,
 * before the thread's own code runs, so there is one place for it.
 */
#ifndef TERN_THREAD_H
#define TERN_THREAD_H

#include <glib.h>
#include <pthread.h>
#include <sys/types.h>

#include "tern/util.h"

enum thread_role {
	THREAD_ROLE_MAIN, /* the main loop: QMP, signals, console input, set-up */
	THREAD_ROLE_VCPU, /* one per vCPU: KVM_RUN and exit handling */
	THREAD_ROLE_DEVICE_IO, /* a device's I/O thread (iothread.h) */
	THREAD_ROLE_BLOCK_WORKER, /* the threads block engine's workers */
	THREAD_ROLE_CONSOLE, /* writes console output (outbuf.h) */
	THREAD_ROLE_MIGRATION,
	THREAD_ROLE_COUNT,
};

/* 15 bytes of comm: "tern-" and up to 10 of the thread's own name. */
#define THREAD_NAME_MAX 16

struct thread_info {
	pid_t tid;
	enum thread_role role;
	char name[THREAD_NAME_MAX];
};

/*
 * Runs on each new thread, before its function, with its role; a non-zero
 * return (-errno) makes thread_spawn() fail and the thread exit. A vCPU
 * thread is the exception: it first sets its vCPU up (CPUID, MSRs, the
 * reset state: ioctls its role's filter refuses) and then calls
 * thread_confine_self() itself, before its first KVM_RUN.
 */
typedef int thread_enter_fn(void *opaque, enum thread_role role);

struct thread_registry {
	pthread_mutex_t lock;
	GArray *threads; /* struct thread_info of the live threads */
	thread_enter_fn *enter;
	void *enter_opaque;
};

void thread_registry_init(struct thread_registry *r);
void thread_registry_destroy(struct thread_registry *r);
/* Record the calling thread (the main thread) under role and name. */
void thread_registry_add_self(struct thread_registry *r, enum thread_role role,
			      const char *name);
/* Live threads of a role (THREAD_ROLE_COUNT: all of them). */
unsigned int thread_registry_count(struct thread_registry *r,
				   enum thread_role role);
/* A copy of the live threads (g_array_unref it). */
GArray *thread_registry_list(struct thread_registry *r);

/*
 * Start fn(arg) on a new thread named by fmt. Returns once the thread has
 * set itself up (name, signal mask, registry entry, enter hook): 0, or
 * -errno from pthread_create or the enter hook. r may be NULL (unit tests):
 * the thread is then named but recorded nowhere.
 */
int thread_spawn(struct thread_registry *r, pthread_t *out,
		 enum thread_role role, void *(*fn)(void *), void *arg,
		 const char *fmt, ...) __must_check
	__attribute__((format(printf, 6, 7)));

/* Run the enter hook on the calling thread (see thread_enter_fn). */
int thread_confine_self(struct thread_registry *r, enum thread_role role)
	__must_check;

const char *thread_role_name(enum thread_role role);

#endif
