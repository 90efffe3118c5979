/* SPDX-License-Identifier: MIT */
/* x86 constants, plain #defines so that the assembly can include them too. */
#ifndef GUEST_X86_DEFS_H
#define GUEST_X86_DEFS_H

/*
 * GDT selectors, fixed by lib/entry.S. The order (kernel code, kernel data,
 * 32-bit user code, user data, user code) is the one syscall/sysret would
 * need, although nothing uses them: see lib/user.S.
 */
#define SEL_KERNEL_CS 0x08
#define SEL_KERNEL_DS 0x10
#define SEL_USER_CS32 0x1b /* unused, keeps sysret's layout */
#define SEL_USER_DS 0x23
#define SEL_USER_CS 0x2b

#define CR0_PE (1 << 0)
#define CR0_ET (1 << 4)
#define CR0_NW (1 << 29)
#define CR0_CD (1 << 30)
#define CR0_PG 0x80000000
#define CR4_PAE (1 << 5)

#define EFER_LME (1 << 8)

#define RFLAGS_RESERVED (1 << 1)
#define RFLAGS_IF (1 << 9)
#define RFLAGS_IOPL3 (3 << 12)

#define MSR_APIC_BASE 0x0000001b
#define MSR_EFER 0xc0000080

#define APIC_BASE_X2APIC (1 << 10)
#define APIC_BASE_ENABLE (1 << 11)
#define APIC_BASE_ADDR_MASK 0xfffff000

/* Page table entry bits. */
#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_U 0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_A 0x020
#define PTE_D 0x040
#define PTE_PS 0x080

#endif
