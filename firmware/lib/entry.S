/* SPDX-License-Identifier: MIT */
/*
 * PVH entry, static GDT/IDT/page tables, the switch to long mode, and the
 * exception stubs.
 *
 * Ring 0 is emulated one instruction at a time on the development machines,
 * so nothing here loops: the page tables and the IDT are built by the
 * assembler, and the path from the PVH entry to C is about 25 instructions.
 */
#include "guest/layout.h"
#include "guest/x86-defs.h"

/* Vectors for which the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30. */
#define TRAP_ERRCODE_MASK 0x60227d00

#define TRAP_UD 6

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/*
 * Exception stubs, at a fixed address (FW_LOAD_ADDR, checked by guest.ld)
 * so that the assembler can split their addresses into IDT gates below.
 */
	.section .text.traps, "ax"
	.code64
	.globl trap_stubs
trap_stubs:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.balign FW_TRAP_STUB_SIZE
	.if \vec == TRAP_UD
	jmp trap_ud
	.else
	.if ((TRAP_ERRCODE_MASK >> \vec) & 1) == 0
	pushq $0
	.endif
	pushq $\vec
	jmp trap_common
	.endif
	.endr
	.balign FW_TRAP_STUB_SIZE
trap_stubs_end:

/* Two ud2s from ring 3 are calls into ring 0 (lib/user.S). */
trap_ud:
	testb $3, 8(%rsp)	/* CPL of the saved cs */
	jz 1f
	cmpq $user_syscall_ud2, (%rsp)
	je user_syscall_entry
	cmpq $user_return_ud2, (%rsp)
	je user_return
1:	pushq $0
	pushq $TRAP_UD
	jmp trap_common

trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call trap_handler
1:	cli
	hlt
	jmp 1b

/*
 * 32-bit PVH entry: protected mode, paging off, flat segments, interrupts
 * off, %ebx = physical address of struct hvm_start_info. No stack.
 */
	.section .text.entry, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cld
	lgdt gdt_desc
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	andl $~(CR0_CD | CR0_NW), %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_KERNEL_CS, $start64

	.code64
start64:
	movl $SEL_KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq $bsp_stack_top, %rsp
	lidt idt_desc

	movl %ebx, %edi
	call guest_start
1:	cli
	hlt
	jmp 1b

	.section .data, "aw"
/*
 * The selectors are in guest/x86-defs.h. Accessed bits are preset so that
 * loading a selector never writes the table.
 */
	.balign 16
	.globl gdt, gdt_limit
gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf93000000ffff	/* 0x10 kernel data */
	.quad 0x00cffb000000ffff	/* 0x18 user code, 32-bit (unused) */
	.quad 0x00cff3000000ffff	/* 0x20 user data */
	.quad 0x00affb000000ffff	/* 0x28 user code, 64-bit */
gdt_end:
	.set gdt_limit, gdt_end - gdt - 1

	/* lgdt reads a 32-bit base in 32-bit mode, a 64-bit one in long mode. */
	.balign 8
	.globl gdt_desc
gdt_desc:
	.word gdt_limit
	.quad gdt

	.balign 8
	.globl idt_desc
idt_desc:
	.word idt_end - idt - 1
	.quad idt

/* 64-bit interrupt gates, DPL 0, no IST, to the stubs above. */
	.balign 16
idt:
	.set vec, 0
	.rept FW_NR_TRAPS
	.set handler, FW_LOAD_ADDR + vec * FW_TRAP_STUB_SIZE
	.word handler & 0xffff
	.word SEL_KERNEL_CS
	.word 0x8e00
	.word (handler >> 16) & 0xffff
	.long 0
	.long 0
	.set vec, vec + 1
	.endr
idt_end:

/*
 * Identity map of the low 4 GiB with 2 MiB pages, user-accessible so that
 * ring 3 can reach code, data, the serial port's neighbours and the LAPIC.
 * The last GiB (PCI holes, IOAPIC, LAPIC) is uncached.
 */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + (PTE_P | PTE_W | PTE_U | PTE_A)
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x0000 + (PTE_P | PTE_W | PTE_U | PTE_A)
	.quad pd + 0x1000 + (PTE_P | PTE_W | PTE_U | PTE_A)
	.quad pd + 0x2000 + (PTE_P | PTE_W | PTE_U | PTE_A)
	.quad pd + 0x3000 + (PTE_P | PTE_W | PTE_U | PTE_A)
	.fill 508, 8, 0
pd:
	.set addr, 0
	.rept 2048
	.if addr < 0xc0000000
	.quad addr | (PTE_P | PTE_W | PTE_U | PTE_A | PTE_D | PTE_PS)
	.else
	.quad addr | (PTE_P | PTE_W | PTE_U | PTE_A | PTE_D | PTE_PS | PTE_PCD | PTE_PWT)
	.endif
	.set addr, addr + 0x200000
	.endr

	.section .stack, "aw", @nobits
	.balign 16
	.skip FW_BSP_STACK_SIZE
bsp_stack_top:

/*
 * XEN_ELFNOTE_PHYS32_ENTRY. The descriptor is 8 bytes like Linux's: QEMU
 * reads a size_t there, a loader reading 32 bits gets the same value.
 */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4
	.long 8
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad pvh_start32
	.balign 4

	.section .note.GNU-stack, "", @progbits
