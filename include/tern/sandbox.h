/* SPDX-License-Identifier: MIT */
/*
 * The sandbox (docs/security.md): once set-up is done, every thread of
 * tern runs under the seccomp filter of its role (thread.h), without
 * capabilities, with no_new_privs, optionally as another user and inside a
 * jail. Threads spawned while the VM is built install their own role's
 * filter through the thread registry's enter hook, before their code runs;
 * the main thread seals itself last, once every thread exists.
 *
 * The filters are lists, one per role, in src/sandbox/rules.c: every
 * allowed system call with who needs it. Anything else kills the process
 * (--sandbox on), or is reported on stderr and let through (--sandbox log).
 */
#ifndef TERN_SANDBOX_H
#define TERN_SANDBOX_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "tern/config.h"
#include "tern/thread.h"
#include "tern/util.h"

struct sandbox;

/*
 * Before anything is built, on the main thread: compile every role's
 * filter for cfg (mode, identity), and take no_new_privs and empty the
 * capability bounding set, which every thread made later inherits. NULL
 * with err set when a step fails. With --sandbox off and no --user/--group
 * there is nothing to do: returns NULL, no error.
 */
struct sandbox *sandbox_new(const struct vm_config *cfg, GError **err);
void sandbox_free(struct sandbox *sb);

/*
 * The thread registry's enter hook (thread_enter_fn): runs on each new
 * thread, before its code, with the sandbox as opaque. 0, or -errno when
 * the thread could not be confined (thread_spawn() then fails).
 */
int sandbox_thread_enter(void *opaque, enum thread_role role);

/*
 * The end of set-up, on the main thread once every thread exists: with
 * --jail, the descriptor limit; then the same steps as a new thread (no
 * capabilities, the new identity, the main role's filter). False with err
 * set when a step failed; tern must then not run the guest.
 */
bool sandbox_seal(struct sandbox *sb, GError **err);

/*
 * One role's filter as the enter hook installs it, for tests: the calling
 * thread gets no_new_privs and the filter of role in mode (SANDBOX_ON or
 * SANDBOX_LOG). 0 or -errno.
 */
int sandbox_install_role(enum thread_role role, enum sandbox_mode mode)
	__must_check;

/*
 * --jail DIR, before anything is built (no thread exists yet): creates the
 * --qmp unix: sockets here and hands them on as descriptors, forks into
 * new mount, PID, IPC and network namespaces, bind-mounts what cfg names
 * into DIR, pivots into it and sets RLIMIT_FSIZE. Returns true in the
 * jailed child (*status untouched), which goes on to build the VM; in the
 * parent, returns true once the child is gone, with *status the exit
 * status to end with (signals to the parent are passed on). False with err
 * set when the jail could not be made (then in the parent, nothing forked).
 */
bool sandbox_jail_enter(struct vm_config *cfg, bool *parent, int *status,
			GError **err);

/*
 * The filters as data (src/sandbox/rules.c), so tests can make every call
 * a role may make and docs/security.md can be checked against them. A rule
 * allows one system call, when its condition on the arguments holds;
 * several rules for one call are alternatives.
 */
enum sandbox_cond {
	SANDBOX_ANY,
	SANDBOX_IOCTL, /* argument 1 (32 bits) is in the role's ioctl list */
	SANDBOX_NO_EXEC, /* argument 2 (protection) lacks PROT_EXEC */
	SANDBOX_FORK, /* argument 0 (clone flags) makes a process, as fork() */
	SANDBOX_THREAD, /* argument 0 (clone flags) has CLONE_THREAD */
	SANDBOX_ARG_EQ, /* argument arg equals value */
};

struct sandbox_rule {
	int nr;
	const char *name;
	enum sandbox_cond cond;
	unsigned int arg;
	uint64_t value;
	/* 0: allowed; else refused with this errno, which callers cope with */
	int fail;
	const char *why; /* who needs it */
};

struct sandbox_ioctl {
	unsigned long request;
	const char *name;
	const char *why;
};

struct sandbox_role_rules {
	const struct sandbox_rule *rules;
	size_t nr_rules;
	const struct sandbox_ioctl *ioctls;
	size_t nr_ioctls;
};

/* Every role's list starts with these: what any thread of tern does. */
const struct sandbox_role_rules *sandbox_common_rules(void);
/* The role's own rules and its ioctl requests. */
const struct sandbox_role_rules *sandbox_role_rules(enum thread_role role);
/*
 * Added to every role in AddressSanitizer builds only (what its runtime
 * and LeakSanitizer's tracer do); empty otherwise.
 */
const struct sandbox_role_rules *sandbox_sanitizer_rules(void);

/* The system call with number nr on this architecture, or NULL. */
const char *sandbox_syscall_name(long nr);

#endif
