/* SPDX-License-Identifier: MIT */
/* What the sandbox's files share (sandbox.h is the interface). */
#ifndef TERN_SANDBOX_INTERNAL_H
#define TERN_SANDBOX_INTERNAL_H

#include <linux/filter.h>

#include "tern/error.h"
#include "tern/sandbox.h"

/*
 * The role's filter for mode (on or log) as a BPF program (g_free its
 * filter); 0, or -errno with err set.
 */
int sandbox_filter_build(enum thread_role role, enum sandbox_mode mode,
			 struct sock_fprog *prog, GError **err) __must_check;
/* no_new_privs, then the program, on the calling thread. */
int sandbox_filter_load(const struct sock_fprog *prog) __must_check;

/*
 * A raw system call from the one instruction the log-mode filter lets
 * through (sandbox_raw_syscall_ret is the address after it). Returns the
 * kernel's result: a value, or -errno.
 */
long sandbox_raw_syscall(long nr, long a0, long a1, long a2, long a3, long a4,
			 long a5);
extern const char sandbox_raw_syscall_ret[];

/* --sandbox log: SIGSYS reports and makes the refused call (process-wide). */
void sandbox_log_handler_install(void);
/* --sandbox log: the calling thread must take SIGSYS. */
void sandbox_log_thread_prepare(void);

#endif
