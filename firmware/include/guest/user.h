/* SPDX-License-Identifier: MIT */
/*
 * Running code at CPL 3. The development machines' nested KVM emulates every
 * ring-0 instruction but runs ring 3 natively, so hot loops go here.
 *
 * Ring 3 reaches the hardware only through user_syscall(); the console and
 * exit-port helpers do that by themselves when called at CPL 3. Every way
 * back to ring 0 is a deliberate #UD (lib/user.S says why neither syscall
 * nor IOPL 3 port I/O works on those machines). No TSS is loaded:
 * exceptions from ring 3 take their stack from RSP0 of the TSS the VMM
 * left in TR, which must have base 0 as after a KVM reset.
 *
 * Any other exception at CPL 3 is reported by the trap handler as
 * "RESULT: FAIL exception ...", like one at CPL 0.
 */
#ifndef GUEST_USER_H
#define GUEST_USER_H

typedef long (*user_fn)(void *arg);

/*
 * Run fn(arg) at CPL 3 on the user stack and return its value. BSP only,
 * not reentrant. Interrupts stay off in ring 3. Clobbers the 8 bytes at
 * linear address 4 (the TSS's RSP0).
 */
long user_call(user_fn fn, void *arg);

enum user_sys {
	USER_SYS_CONSOLE_WRITE = 1, /* a1 = buffer, a2 = length */
	USER_SYS_EXIT, /* a1 = value for the exit port; halts if it returns */
};

/* CPL 3 only: have ring 0 do nr. Returns its result, -1 for an unknown nr. */
long user_syscall(long nr, long a1, long a2);

#endif
