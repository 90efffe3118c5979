// SPDX-License-Identifier: MIT
/*
 * --sandbox log: a system call outside the thread's filter traps (SIGSYS)
 * instead of killing tern. The handler writes one line on stderr naming
 * the thread, the call and its arguments, then makes the call itself
 * through sandbox_raw_syscall(), whose syscall instruction the log-mode
 * filter lets through (filter.c), and hands back its result: the program
 * goes on as if the call had been allowed, so one run lists everything a
 * new feature needs.
 *
 * The handler runs in the middle of any code (inside malloc, holding a
 * lock): it calls nothing but sandbox_raw_syscall() and formats by hand.
 * A call that starts a thread on a new stack (clone with CLONE_VM) cannot
 * be made from here; it fails with EPERM, and the line says so.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "sandbox-internal.h"
#include "sandbox-syscall-names.h"

/* nr in rax, arguments in the kernel's order; the stack holds the sixth. */
__asm__(".text\n"
	".globl sandbox_raw_syscall\n"
	".hidden sandbox_raw_syscall\n"
	".type sandbox_raw_syscall, @function\n"
	"sandbox_raw_syscall:\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	movq %rdx, %rsi\n"
	"	movq %rcx, %rdx\n"
	"	movq %r8, %r10\n"
	"	movq %r9, %r8\n"
	"	movq 8(%rsp), %r9\n"
	"	syscall\n"
	".globl sandbox_raw_syscall_ret\n"
	".hidden sandbox_raw_syscall_ret\n"
	"sandbox_raw_syscall_ret:\n"
	"	ret\n"
	".size sandbox_raw_syscall, .-sandbox_raw_syscall\n");

const char *sandbox_syscall_name(long nr)
{
	if (nr < 0 || (size_t)nr >= G_N_ELEMENTS(sandbox_syscall_names))
		return NULL;
	return sandbox_syscall_names[nr];
}

/* A line built without the C library: text and numbers appended. */
struct log_line {
	char buf[448];
	size_t len;
};

static void line_str(struct log_line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void line_strn(struct log_line *l, const char *s, size_t max)
{
	while (max-- && *s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void line_num(struct log_line *l, unsigned long v, unsigned int base)
{
	char tmp[24];
	int n = 0;

	if (base == 16)
		line_str(l, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n-- > 0 && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = tmp[n];
}

static void sandbox_sigsys(int sig, siginfo_t *si, void *opaque)
{
	ucontext_t *uc = opaque;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = si->si_syscall;
	long args[6] = { g[REG_RDI], g[REG_RSI], g[REG_RDX],
			 g[REG_R10], g[REG_R8],	 g[REG_R9] };
	const char *name = sandbox_syscall_name(nr);
	bool thread = nr == SYS_clone && (args[0] & CLONE_VM);
	int path_arg = nr == SYS_openat || nr == SYS_newfstatat ? 1 :
		       nr == SYS_open || nr == SYS_unlink || nr == SYS_execve ? 0 :
									  -1;
	struct log_line l = { .len = 0 };
	char comm[17] = "?";
	int saved = errno;

	sandbox_raw_syscall(SYS_prctl, PR_GET_NAME, (long)comm, 0, 0, 0, 0);
	comm[16] = 0;
	line_str(&l, "tern: sandbox: ");
	line_str(&l, comm);
	line_str(&l, ": system call ");
	line_str(&l, name ? name : "?");
	line_str(&l, " (");
	line_num(&l, nr, 10);
	line_str(&l, ") is outside its role's filter; args");
	for (int i = 0; i < 6; i++) {
		line_str(&l, " ");
		line_num(&l, (unsigned long)args[i], 16);
	}
	if (path_arg >= 0 && args[path_arg]) {
		/* The caller's own pointer: what it asked to open. */
		line_str(&l, " path '");
		line_strn(&l, (const char *)args[path_arg], 96);
		line_str(&l, "'");
	}
	line_str(&l, thread ? "; refused (EPERM): a thread cannot be started from here\n" :
			      "; allowed by --sandbox log\n");
	sandbox_raw_syscall(SYS_write, STDERR_FILENO, (long)l.buf, l.len, 0, 0, 0);
	if (thread)
		g[REG_RAX] = -EPERM;
	else
		g[REG_RAX] = sandbox_raw_syscall(nr, args[0], args[1], args[2],
						 args[3], args[4], args[5]);
	errno = saved;
}

void sandbox_log_handler_install(void)
{
	struct sigaction sa = { .sa_sigaction = sandbox_sigsys,
				.sa_flags = SA_SIGINFO };

	/* A vCPU kick during a long call made here still interrupts it. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
}

void sandbox_log_thread_prepare(void)
{
	sigset_t sys;

	/*
	 * A trapped call with SIGSYS blocked would reset the handler and
	 * kill tern (the kernel forces the signal).
	 */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
}
