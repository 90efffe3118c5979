/* SPDX-License-Identifier: MIT */
/*
 * Running code at CPL 3. The development machines' nested KVM emulates every
 * ring-0 instruction but runs ring 3 natively, so hot loops go here.
 *
 * Entry is an iretq to a 64-bit user code segment with RFLAGS.IOPL = 3, so
 * ring 3 can drive the serial port and the exit port itself. The way back
 * is a ud2 that the #UD handler recognises (lib/user.S says why not
 * syscall). No TSS is loaded (ltr followed by that iretq triple-faults on
 * those machines); exceptions from ring 3 take their stack from RSP0 of the
 * TSS the VMM left in TR, which must have base 0 as after a KVM reset.
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

#endif
