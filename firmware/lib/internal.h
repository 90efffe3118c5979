/* SPDX-License-Identifier: MIT */
/* Symbols shared between guestlib's assembly and C, not for guests. */
#ifndef GUESTLIB_INTERNAL_H
#define GUESTLIB_INTERNAL_H

#include <stdint.h>

/* Register frame lib/entry.S builds before calling trap_handler(). */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

__attribute__((noreturn)) void trap_handler(struct trap_frame *f);

/* Ring 0's side of user_syscall() (lib/user.c), from lib/user.S. */
long user_syscall_handler(long nr, long a1, long a2);

/* First C code an AP runs (lib/smp.c), from lib/trampoline.S. */
__attribute__((noreturn)) void smp_ap_main(unsigned int apic_id);

/* lib/trampoline.S: the real-mode code smp_init() copies below 1 MiB. */
extern const char smp_trampoline_start[], smp_trampoline_end[];

#endif
