/* SPDX-License-Identifier: MIT */
/*
 * long user_call(user_fn fn, void *arg): run fn(arg) at CPL 3.
 *
 * In: iretq to SEL_USER_CS with IOPL 3 and interrupts off.
 *
 * Out: the user side executes ud2 at user_return_ud2, and the #UD stub in
 * lib/entry.S sends that one #UD to user_return, which goes back to the
 * ring-0 stack user_call saved. Not syscall: on the development machines'
 * nested KVM (kvm_pvm) a syscall from ring 3 jumps to LSTAR but stays at
 * CPL 3 (cs reads 0x33, the first privileged instruction raises #GP), while
 * exceptions from ring 3 are delivered through the IDT into real ring 0.
 *
 * An exception from CPL 3 switches to the stack in TSS.RSP0. No TSS is
 * loaded here (ltr makes the iretq to ring 3 triple-fault on those
 * machines), so the CPU uses the task register the VMM left: KVM's reset
 * value, base 0, limit 0xffff. user_call therefore writes its exception
 * stack into RSP0 at linear address 4, inside the unused real-mode IVT.
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

/* CPL 0, on the exception stack, %rax = the value for user_call to return. */
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
