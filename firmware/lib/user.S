/* SPDX-License-Identifier: MIT */
/*
 * Ring 3: entering it, calling back into ring 0, and leaving it.
 *
 * long user_call(user_fn fn, void *arg) runs fn(arg) at CPL 3: an iretq to
 * SEL_USER_CS with interrupts off. The way back to ring 0, both for
 * user_syscall() and for fn's return, is a ud2 at a known address, which
 * the #UD stub in lib/entry.S recognises.
 *
 * Why not syscall, or in/out with IOPL 3, as the first design had it: on
 * the development machines' nested KVM (kvm_pvm), a syscall from ring 3
 * jumps to LSTAR but stays at CPL 3 (cs reads 0x33, the next privileged
 * instruction raises #GP); and ring 3's RFLAGS.IOPL is not honoured, so
 * in/out at CPL 3 succeed only if the TSS I/O bitmap allows them (under
 * QEMU by luck of what lies at address 0x66, under tern never). Exceptions
 * from ring 3, though, are delivered through the IDT into real ring 0.
 *
 * An exception from CPL 3 switches to the stack in TSS.RSP0. No TSS is
 * loaded here (ltr makes the iretq to ring 3 triple-fault on those
 * machines), so the CPU uses the task register the VMM left: base 0, as
 * KVM resets it and as QEMU and tern boot PVH guests. user_call therefore
 * writes its exception stack into RSP0 at linear address 4, inside the
 * unused real-mode IVT.
 */
#include "guest/layout.h"
#include "guest/x86-defs.h"

#define TSS_RSP0 4 /* offset of RSP0 in the 64-bit TSS, whose base is 0 */

	.text
	.code64
	.globl user_call
user_call:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, user_saved_rsp(%rip)
	movq $user_trap_stack_top, %rax
	movq %rax, TSS_RSP0
	movq %rdi, %rax
	movq %rsi, %rdi
	pushq $SEL_USER_DS
	pushq $user_stack_top
	pushq $(RFLAGS_IOPL3 | RFLAGS_RESERVED)
	pushq $SEL_USER_CS
	pushq $user_trampoline
	iretq

/* CPL 3 from here to the ud2. */
user_trampoline:
	call *%rax
	.globl user_return_ud2
user_return_ud2:
	ud2			/* fn's return value in %rax */

/* CPL 3: long user_syscall(long nr, long a1, long a2), a plain C call. */
	.globl user_syscall, user_syscall_ud2
user_syscall:
user_syscall_ud2:
	ud2
	ret

/*
 * From the #UD stub, CPL 0 on the exception stack; the CPU's frame (rip,
 * cs, rflags, rsp, ss) on top. Arguments still in %rdi, %rsi, %rdx.
 */
	.globl user_syscall_entry
user_syscall_entry:
	subq $8, %rsp		/* the frame is 40 bytes: realign for the call */
	cld
	call user_syscall_handler
	addq $8, %rsp
	addq $2, (%rsp)		/* resume after the ud2 */
	iretq

/* From the #UD stub, CPL 0, %rax = the value for user_call to return. */
	.globl user_return
user_return:
	movq user_saved_rsp(%rip), %rsp
	movl $SEL_KERNEL_DS, %ecx	/* the privilege change nulled %ss */
	movl %ecx, %ss
	movl %ecx, %ds
	movl %ecx, %es
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

	.data
	.balign 8
user_saved_rsp:
	.quad 0

	.section .stack, "aw", @nobits
	.balign 16
	.skip FW_USER_STACK_SIZE
user_stack_top:
	.skip FW_USER_TRAP_STACK_SIZE
user_trap_stack_top:

	.section .note.GNU-stack, "", @progbits
