// SPDX-License-Identifier: MIT
/*
 * The BSP's first register state, the MSRs every vCPU starts with and the
 * LAPIC's local interrupt pins. PVH enters in 32-bit flat protected mode
 * with paging off (the PVH ABI); a bzImage enters its 64-bit entry point in
 * long mode on identity page tables (boot.rst, "64-bit Boot Protocol").
 */
#include <string.h>

#include "tern/boot.h"
#include "tern/layout.h"

#include "arch.h"

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)
#define X86_RFLAGS_RESERVED (1ULL << 1) /* reads as one */

/* Descriptor flags: access byte in bits 0-7, G/DB/L/AVL in bits 12-15. */
#define GDT_CODE64 0xa09b /* G, L, present, code execute/read, accessed */
#define GDT_CODE32 0xc09b /* G, D, present, code execute/read, accessed */
#define GDT_DATA 0xc093 /* G, B, present, data read/write, accessed */
#define SEG_TYPE_TSS_BUSY 0xb
#define TSS_LIMIT 0x67 /* a 104-byte TSS, as the PVH ABI asks */

#define MSR_IA32_SYSENTER_CS 0x00000174
#define MSR_IA32_SYSENTER_ESP 0x00000175
#define MSR_IA32_SYSENTER_EIP 0x00000176
#define MSR_IA32_MISC_ENABLE 0x000001a0
#define MSR_MTRR_DEF_TYPE 0x000002ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MTRR_DEF_TYPE_ENABLE (1ULL << 11)
#define MTRR_TYPE_WRBACK 6

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_DELIVERY_MODE_MASK 0x700
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) |
	       ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) |
	       ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

void x86_boot_gdt_fill(bool long_mode, uint64_t gdt[X86_GDT_ENTRIES])
{
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[X86_BOOT_CS >> 3] =
		gdt_entry(long_mode ? GDT_CODE64 : GDT_CODE32, 0, 0xfffff);
	gdt[X86_BOOT_DS >> 3] = gdt_entry(GDT_DATA, 0, 0xfffff);
}

/* The hidden segment state that loading selector from this GDT would give. */
static void segment_from_gdt(uint64_t desc, uint16_t selector,
			     struct kvm_segment *seg)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));

	memset(seg, 0, sizeof(*seg));
	seg->base = ((desc >> 16) & 0xffffff) | ((desc >> 32) & 0xff000000);
	seg->selector = selector;
	seg->type = (desc >> 40) & 0xf;
	seg->s = (desc >> 44) & 1;
	seg->dpl = (desc >> 45) & 3;
	seg->present = (desc >> 47) & 1;
	seg->avl = (desc >> 52) & 1;
	seg->l = (desc >> 53) & 1;
	seg->db = (desc >> 54) & 1;
	seg->g = (desc >> 55) & 1;
	seg->limit = seg->g ? (limit << 12) | 0xfff : limit;
	seg->unusable = !seg->present;
}

void x86_boot_setup_regs(const struct boot_entry *entry, struct kvm_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = X86_RFLAGS_RESERVED; /* IF clear: no interrupts yet */
	regs->rip = entry->rip;
	regs->rsp = entry->rsp;
	regs->rsi = entry->rsi;
	regs->rbx = entry->rbx;
}

void x86_boot_setup_sregs(const struct boot_entry *entry,
			  struct kvm_sregs *sregs)
{
	uint64_t gdt[X86_GDT_ENTRIES];
	struct kvm_segment data;

	x86_boot_gdt_fill(entry->long_mode, gdt);
	segment_from_gdt(gdt[X86_BOOT_CS >> 3], X86_BOOT_CS, &sregs->cs);
	segment_from_gdt(gdt[X86_BOOT_DS >> 3], X86_BOOT_DS, &data);
	sregs->ds = data;
	sregs->es = data;
	sregs->fs = data;
	sregs->gs = data;
	sregs->ss = data;

	/*
	 * VM entry wants a usable busy TSS in TR whatever the mode. The guest
	 * never task-switches through it and loads its own before it needs
	 * one, so no descriptor for it sits in the 4-entry GDT.
	 */
	memset(&sregs->tr, 0, sizeof(sregs->tr));
	sregs->tr.limit = TSS_LIMIT;
	sregs->tr.type = SEG_TYPE_TSS_BUSY;
	sregs->tr.present = 1;

	sregs->gdt.base = LAYOUT_GDT_START;
	sregs->gdt.limit = sizeof(gdt) - 1;
	/* An empty IDT: any exception before the guest sets one up is fatal. */
	sregs->idt.base = LAYOUT_IDT_START;
	sregs->idt.limit = 0;

	if (entry->long_mode) {
		sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
		sregs->cr3 = entry->cr3;
		sregs->cr4 = X86_CR4_PAE;
		sregs->efer = X86_EFER_LME | X86_EFER_LMA;
	} else {
		/* PVH: PE set, PG clear, every other writable bit clear. */
		sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	}
}

unsigned int x86_default_msrs(struct kvm_msr_entry *entries, unsigned int max)
{
	/* The TSC is left alone: KVM keeps the vCPUs' TSCs in step. */
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		/* Linux expects the fast-string bit a BIOS sets. */
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		/* MTRRs on, everything write-back unless a range says otherwise. */
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK },
	};
	unsigned int n = 0;

	for (; n < max && n < sizeof(msrs) / sizeof(msrs[0]); n++) {
		memset(&entries[n], 0, sizeof(entries[n]));
		entries[n].index = msrs[n].index;
		entries[n].data = msrs[n].data;
	}
	return n;
}

static uint32_t lapic_reg_get(const struct kvm_lapic_state *lapic,
			      unsigned int off)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[off], sizeof(v));
	return v;
}

static void lapic_reg_set(struct kvm_lapic_state *lapic, unsigned int off,
			  uint32_t v)
{
	memcpy(&lapic->regs[off], &v, sizeof(v));
}

static uint32_t lvt_delivery_mode_set(uint32_t lvt, uint32_t mode)
{
	return (lvt & ~APIC_DELIVERY_MODE_MASK) | (mode << 8);
}

void x86_setup_lapic(struct kvm_lapic_state *lapic)
{
	/*
	 * Only the delivery modes change; the mask bits stay as KVM's reset
	 * left them (LINT0 open on the BSP, so the 8259 reaches it before
	 * the guest programs its LAPIC).
	 */
	lapic_reg_set(lapic, APIC_LVT0,
		      lvt_delivery_mode_set(lapic_reg_get(lapic, APIC_LVT0),
					    APIC_MODE_EXTINT));
	lapic_reg_set(lapic, APIC_LVT1,
		      lvt_delivery_mode_set(lapic_reg_get(lapic, APIC_LVT1),
					    APIC_MODE_NMI));
}
