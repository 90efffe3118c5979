/* SPDX-License-Identifier: MIT */
/*
 * AP start-up. smp_init() copies smp_trampoline_start..end to
 * SMP_TRAMPOLINE_ADDR; a SIPI with vector SMP_TRAMPOLINE_ADDR >> 12 starts
 * an AP there in real mode with CS = vector << 8, IP = 0. The trampoline
 * goes straight from real mode to long mode (PE and PG set together), using
 * the image's own GDT and page tables, which sit below 4 GiB.
 */
#include "guest/cpus.h"
#include "guest/layout.h"
#include "guest/x86-defs.h"

	.section .rodata.trampoline, "a"
	.code16
	.globl smp_trampoline_start, smp_trampoline_end
smp_trampoline_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl (tramp_gdt_desc - smp_trampoline_start)
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl $(CR0_PG | CR0_ET | CR0_PE), %eax
	movl %eax, %cr0
	ljmpl $SEL_KERNEL_CS, $smp_ap_start64

	.balign 8
tramp_gdt_desc:
	.word gdt_limit
	.long gdt
smp_trampoline_end:

	.text
	.code64
smp_ap_start64:
	movl $SEL_KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	/* Stack slot by initial APIC id, so no AP needs a lock to get one. */
	movl $1, %eax
	xorl %ecx, %ecx
	cpuid
	shrl $24, %ebx
	cmpl $CPUS_MAX, %ebx
	jae 1f
	leal 1(%ebx), %eax
	imull $FW_AP_STACK_SIZE, %eax
	leaq smp_ap_stacks(%rax), %rsp
	lidt idt_desc
	movl %ebx, %edi
	call smp_ap_main
1:	cli
	hlt
	jmp 1b

	.section .stack, "aw", @nobits
	.balign 4096
smp_ap_stacks:
	.skip CPUS_MAX * FW_AP_STACK_SIZE

	.section .note.GNU-stack, "", @progbits
