// SPDX-License-Identifier: MIT
/*
 * x86 facts for vCPU state: which MSRs a state carries and in what order
 * they are set, and the checks a loaded state must pass. The checks reject
 * what no guest can produce (a guest's own write of such a value faults)
 * and what KVM would refuse on set or turn into a failed VM entry: they
 * follow the SDM's rules for CR0/CR4/EFER, segment registers, XCR0 and the
 * MSRs, and KVM's own checks in KVM_SET_SREGS and KVM_SET_MSRS.
 */
#include <asm/kvm_para.h>
#include <stdio.h>
#include <string.h>

#include "tern/le.h"
#include "tern/vcpu_state.h"

#define MSR_IA32_TSC 0x00000010
#define MSR_IA32_TSC_ADJUST 0x0000003b
#define MSR_IA32_SPEC_CTRL 0x00000048
#define MSR_MISC_FEATURES_ENABLES 0x00000140
#define MSR_IA32_SYSENTER_CS 0x00000174
#define MSR_IA32_SYSENTER_ESP 0x00000175
#define MSR_IA32_SYSENTER_EIP 0x00000176
#define MSR_IA32_MISC_ENABLE 0x000001a0
#define MSR_MTRR_PHYSBASE(n) (0x00000200 + 2 * (n))
#define MSR_MTRR_PHYSMASK(n) (0x00000201 + 2 * (n))
#define MSR_MTRR_FIX64K_00000 0x00000250
#define MSR_MTRR_FIX16K_80000 0x00000258
#define MSR_MTRR_FIX16K_A0000 0x00000259
#define MSR_MTRR_FIX4K_C0000 0x00000268
#define MSR_MTRR_FIX4K_F8000 0x0000026f
#define MSR_IA32_CR_PAT 0x00000277
#define MSR_MTRR_DEF_TYPE 0x000002ff
#define MSR_IA32_TSC_DEADLINE 0x000006e0
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_AMD64_VIRT_SPEC_CTRL 0xc001011f
/* KVM's paravirtual MSRs (kvmclock, async PF, ...): <asm/kvm_para.h>. */

#define U X86_MSR_UNLISTED
const struct x86_msr_desc x86_state_msrs[] = {
	/* The TSC first: kvmclock and the TSC deadline count from it. */
	{ MSR_IA32_TSC, "IA32_TSC", 0 },
	{ MSR_IA32_TSC_ADJUST, "IA32_TSC_ADJUST", 0 },
	{ MSR_IA32_SYSENTER_CS, "IA32_SYSENTER_CS", 0 },
	{ MSR_IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP", 0 },
	{ MSR_IA32_SYSENTER_EIP, "IA32_SYSENTER_EIP", 0 },
	{ MSR_STAR, "STAR", 0 },
	{ MSR_LSTAR, "LSTAR", 0 },
	{ MSR_CSTAR, "CSTAR", 0 },
	{ MSR_SYSCALL_MASK, "SYSCALL_MASK", 0 },
	{ MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE", 0 },
	{ MSR_TSC_AUX, "TSC_AUX", U },
	{ MSR_IA32_CR_PAT, "IA32_PAT", 0 },
	{ MSR_IA32_MISC_ENABLE, "IA32_MISC_ENABLE", 0 },
	{ MSR_MISC_FEATURES_ENABLES, "MISC_FEATURES_ENABLES", 0 },
	{ MSR_IA32_SPEC_CTRL, "IA32_SPEC_CTRL", U },
	{ MSR_AMD64_VIRT_SPEC_CTRL, "AMD64_VIRT_SPEC_CTRL", 0 },
	/* KVM emulates the MTRRs without listing them (QEMU keys on CPUID). */
	{ MSR_MTRR_DEF_TYPE, "MTRR_DEF_TYPE", U },
	{ MSR_MTRR_FIX64K_00000, "MTRR_FIX64K_00000", U },
	{ MSR_MTRR_FIX16K_80000, "MTRR_FIX16K_80000", U },
	{ MSR_MTRR_FIX16K_A0000, "MTRR_FIX16K_A0000", U },
	{ MSR_MTRR_FIX4K_C0000 + 0, "MTRR_FIX4K_C0000", U },
	{ MSR_MTRR_FIX4K_C0000 + 1, "MTRR_FIX4K_C8000", U },
	{ MSR_MTRR_FIX4K_C0000 + 2, "MTRR_FIX4K_D0000", U },
	{ MSR_MTRR_FIX4K_C0000 + 3, "MTRR_FIX4K_D8000", U },
	{ MSR_MTRR_FIX4K_C0000 + 4, "MTRR_FIX4K_E0000", U },
	{ MSR_MTRR_FIX4K_C0000 + 5, "MTRR_FIX4K_E8000", U },
	{ MSR_MTRR_FIX4K_C0000 + 6, "MTRR_FIX4K_F0000", U },
	{ MSR_MTRR_FIX4K_F8000, "MTRR_FIX4K_F8000", U },
	{ MSR_MTRR_PHYSBASE(0), "MTRR_PHYSBASE0", U },
	{ MSR_MTRR_PHYSMASK(0), "MTRR_PHYSMASK0", U },
	{ MSR_MTRR_PHYSBASE(1), "MTRR_PHYSBASE1", U },
	{ MSR_MTRR_PHYSMASK(1), "MTRR_PHYSMASK1", U },
	{ MSR_MTRR_PHYSBASE(2), "MTRR_PHYSBASE2", U },
	{ MSR_MTRR_PHYSMASK(2), "MTRR_PHYSMASK2", U },
	{ MSR_MTRR_PHYSBASE(3), "MTRR_PHYSBASE3", U },
	{ MSR_MTRR_PHYSMASK(3), "MTRR_PHYSMASK3", U },
	{ MSR_MTRR_PHYSBASE(4), "MTRR_PHYSBASE4", U },
	{ MSR_MTRR_PHYSMASK(4), "MTRR_PHYSMASK4", U },
	{ MSR_MTRR_PHYSBASE(5), "MTRR_PHYSBASE5", U },
	{ MSR_MTRR_PHYSMASK(5), "MTRR_PHYSMASK5", U },
	{ MSR_MTRR_PHYSBASE(6), "MTRR_PHYSBASE6", U },
	{ MSR_MTRR_PHYSMASK(6), "MTRR_PHYSMASK6", U },
	{ MSR_MTRR_PHYSBASE(7), "MTRR_PHYSBASE7", U },
	{ MSR_MTRR_PHYSMASK(7), "MTRR_PHYSMASK7", U },
	/* kvmclock, old and new numbers (a guest uses one pair). */
	{ MSR_KVM_SYSTEM_TIME, "KVM_SYSTEM_TIME", 0 },
	{ MSR_KVM_WALL_CLOCK, "KVM_WALL_CLOCK", 0 },
	{ MSR_KVM_SYSTEM_TIME_NEW, "KVM_SYSTEM_TIME_NEW", 0 },
	{ MSR_KVM_WALL_CLOCK_NEW, "KVM_WALL_CLOCK_NEW", 0 },
	{ MSR_KVM_STEAL_TIME, "KVM_STEAL_TIME", 0 },
	{ MSR_KVM_PV_EOI_EN, "KVM_PV_EOI_EN", 0 },
	{ MSR_KVM_POLL_CONTROL, "KVM_POLL_CONTROL", 0 },
	/* The vector before the enable, as a guest writes them. */
	{ MSR_KVM_ASYNC_PF_INT, "KVM_ASYNC_PF_INT", 0 },
	{ MSR_KVM_ASYNC_PF_EN, "KVM_ASYNC_PF_EN", 0 },
	/* Dropped by KVM unless LVTT is already in TSC-deadline mode. */
	{ MSR_IA32_TSC_DEADLINE, "IA32_TSC_DEADLINE", X86_MSR_AFTER_LAPIC },
};
#undef U
const unsigned int x86_nr_state_msrs = G_N_ELEMENTS(x86_state_msrs);
_Static_assert(G_N_ELEMENTS(x86_state_msrs) <= VCPU_STATE_MAX_MSRS,
	       "the MSR table must fit a state");

const struct x86_msr_desc *x86_state_msr_find(uint32_t index)
{
	for (unsigned int i = 0; i < x86_nr_state_msrs; i++)
		if (x86_state_msrs[i].index == index)
			return &x86_state_msrs[i];
	return NULL;
}

bool x86_canonical(uint64_t addr, bool la57)
{
	unsigned int shift = la57 ? 64 - 57 : 64 - 48;

	return (uint64_t)((int64_t)(addr << shift) >> shift) == addr;
}

#define X86_RFLAGS_FIXED (1ULL << 1)
/* Bits 3, 5, 15 and 22-63 are reserved (read as zero). */
#define X86_RFLAGS_RESERVED ((1ULL << 3) | (1ULL << 5) | (1ULL << 15) | \
			     ~((1ULL << 22) - 1))

bool x86_regs_check(const struct kvm_regs *regs, char *why, size_t len)
{
	if (!(regs->rflags & X86_RFLAGS_FIXED) ||
	    (regs->rflags & X86_RFLAGS_RESERVED)) {
		snprintf(why, len,
			 "regs.rflags 0x%llx: bit 1 must be set and bits 3, 5, 15, 22-63 clear",
			 (unsigned long long)regs->rflags);
		return false;
	}
	return true;
}

#define CR0_PE (1ULL << 0)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR0_PG (1ULL << 31)
/* PE MP EM TS ET NE, WP, AM, NW CD PG. */
#define CR0_DEFINED (0x3fULL | (1ULL << 16) | (1ULL << 18) | (7ULL << 29))
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
/* Bits 0-14, 16-25 and 28 (LAM_SUP); the rest are reserved. */
#define CR4_DEFINED (0x7fffULL | (0x3ffULL << 16) | (1ULL << 28))
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
/* SCE, LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE, AUTOIBRS. */
#define EFER_DEFINED (1ULL | (0xfdULL << 8) | (1ULL << 21))
#define APIC_BASE_EXTD (1ULL << 10)
#define APIC_BASE_EN (1ULL << 11)
/* BSP (8), EXTD, EN and a page-aligned base below 2^52. */
#define APIC_BASE_DEFINED ((1ULL << 8) | (0x3ffffffffffULL << 10))

#define SEG_TYPE_CODE 0x8
#define SEG_TYPE_TSS16_BUSY 0x3
#define SEG_TYPE_TSS32_BUSY 0xb
#define SEG_TYPE_LDT 0x2

static bool segment_check(const struct kvm_segment *s, const char *name,
			  bool is_tr, bool is_ldt, const struct kvm_sregs2 *sr,
			  char *why, size_t len)
{
	bool usable = s->present && !s->unusable;
	bool la57 = sr->cr4 & CR4_LA57;
	bool wide_base = is_tr || is_ldt || s == &sr->fs || s == &sr->gs;
	const char *bad = NULL;

	if (s->type > 0xf)
		bad = "type is a 4-bit field";
	else if (s->dpl > 3)
		bad = "dpl is 0-3";
	else if (is_tr && (!s->present || s->s ||
			   (s->type != SEG_TYPE_TSS16_BUSY &&
			    s->type != SEG_TYPE_TSS32_BUSY)))
		bad = "TR must hold a present, busy TSS (type 3 or 11, s=0)";
	else if (!usable)
		return true; /* what KVM keeps there is never used */
	else if (s->g && (s->limit & 0xfff) != 0xfff)
		bad = "with g=1 the low 12 bits of the limit must be ones";
	else if (!s->g && s->limit > 0xfffff)
		bad = "with g=0 the limit must fit in 20 bits";
	else if (is_ldt && (s->s || s->type != SEG_TYPE_LDT))
		bad = "LDTR must hold an LDT (type 2, s=0)";
	else if (wide_base && !x86_canonical(s->base, la57))
		bad = "base is not canonical";
	else if (!wide_base && s->base > UINT32_MAX)
		bad = "base must fit in 32 bits";
	else if (s == &sr->cs && (sr->cr0 & CR0_PE) &&
		 (!s->s || !(s->type & SEG_TYPE_CODE)))
		bad = "CS must hold a code segment in protected mode";
	else if (s == &sr->cs && (sr->efer & EFER_LMA) && s->l && s->db)
		bad = "a 64-bit CS (l=1) must have db=0";
	if (!bad)
		return true;
	snprintf(why, len,
		 "sregs.%s (base 0x%llx limit 0x%x type %u dpl %u s %u g %u): %s",
		 name, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		 s->s, s->g, bad);
	return false;
}

static bool control_check(const struct kvm_sregs2 *s, char *why, size_t len)
{
	bool paging64 = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);

#define FAIL(...)                                  \
	do {                                       \
		snprintf(why, len, __VA_ARGS__);   \
		return false;                      \
	} while (0)
	if (s->cr0 & ~CR0_DEFINED)
		FAIL("sregs.cr0 0x%llx: reserved bits 0x%llx set",
		     (unsigned long long)s->cr0,
		     (unsigned long long)(s->cr0 & ~CR0_DEFINED));
	if ((s->cr0 & CR0_NW) && !(s->cr0 & CR0_CD))
		FAIL("sregs.cr0 0x%llx: NW without CD", (unsigned long long)s->cr0);
	if ((s->cr0 & CR0_PG) && !(s->cr0 & CR0_PE))
		FAIL("sregs.cr0 0x%llx: PG without PE", (unsigned long long)s->cr0);
	if (s->cr4 & ~CR4_DEFINED)
		FAIL("sregs.cr4 0x%llx: reserved bits 0x%llx set",
		     (unsigned long long)s->cr4,
		     (unsigned long long)(s->cr4 & ~CR4_DEFINED));
	if (s->efer & ~EFER_DEFINED)
		FAIL("sregs.efer 0x%llx: reserved bits 0x%llx set",
		     (unsigned long long)s->efer,
		     (unsigned long long)(s->efer & ~EFER_DEFINED));
	if (paging64 && (!(s->cr4 & CR4_PAE) || !(s->efer & EFER_LMA)))
		FAIL("sregs.efer 0x%llx with cr0.PG: long mode needs cr4.PAE and efer.LMA",
		     (unsigned long long)s->efer);
	if (!paging64 && ((s->efer & EFER_LMA) || s->cs.l))
		FAIL("sregs.efer 0x%llx: LMA or a 64-bit CS outside long mode",
		     (unsigned long long)s->efer);
	if (s->cr8 > 0xf)
		FAIL("sregs.cr8 0x%llx: the task priority is 4 bits",
		     (unsigned long long)s->cr8);
	if (s->apic_base & ~APIC_BASE_DEFINED)
		FAIL("sregs.apic_base 0x%llx: reserved bits 0x%llx set (unaligned base?)",
		     (unsigned long long)s->apic_base,
		     (unsigned long long)(s->apic_base & ~APIC_BASE_DEFINED));
	if ((s->apic_base & APIC_BASE_EXTD) && !(s->apic_base & APIC_BASE_EN))
		FAIL("sregs.apic_base 0x%llx: x2APIC mode with the APIC disabled",
		     (unsigned long long)s->apic_base);
	if (s->flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID)
		FAIL("sregs.flags 0x%llx: unknown flags", (unsigned long long)s->flags);
	if ((s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) &&
	    (!(s->cr0 & CR0_PG) || !(s->cr4 & CR4_PAE) || (s->efer & EFER_LMA)))
		FAIL("sregs.pdptrs: valid only with PAE paging outside long mode");
	if (!(s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) &&
	    (s->pdptrs[0] | s->pdptrs[1] | s->pdptrs[2] | s->pdptrs[3]))
		FAIL("sregs.pdptrs: set but not marked valid");
	if (!x86_canonical(s->gdt.base, s->cr4 & CR4_LA57))
		FAIL("sregs.gdt.base 0x%llx is not canonical",
		     (unsigned long long)s->gdt.base);
	if (!x86_canonical(s->idt.base, s->cr4 & CR4_LA57))
		FAIL("sregs.idt.base 0x%llx is not canonical",
		     (unsigned long long)s->idt.base);
#undef FAIL
	return true;
}

bool x86_sregs_check(const struct kvm_sregs2 *s, char *why, size_t len)
{
	return control_check(s, why, len) &&
	       segment_check(&s->cs, "cs", false, false, s, why, len) &&
	       segment_check(&s->ds, "ds", false, false, s, why, len) &&
	       segment_check(&s->es, "es", false, false, s, why, len) &&
	       segment_check(&s->fs, "fs", false, false, s, why, len) &&
	       segment_check(&s->gs, "gs", false, false, s, why, len) &&
	       segment_check(&s->ss, "ss", false, false, s, why, len) &&
	       segment_check(&s->tr, "tr", true, false, s, why, len) &&
	       segment_check(&s->ldt, "ldt", false, true, s, why, len);
}

/* Memory types an MTRR or PAT entry may name (2, 3 and 8+ are reserved). */
static bool mem_type_valid(uint8_t t, bool pat)
{
	return t == 0 || t == 1 || (t >= 4 && t <= 6) || (pat && t == 7);
}

static bool bytes_are_types(uint64_t v, bool pat)
{
	for (int i = 0; i < 8; i++)
		if (!mem_type_valid((uint8_t)(v >> (8 * i)), pat))
			return false;
	return true;
}

bool x86_msr_check(uint32_t index, uint64_t v, bool la57, char *why, size_t len)
{
	const struct x86_msr_desc *d = x86_state_msr_find(index);
	bool var_mtrr = index >= MSR_MTRR_PHYSBASE(0) &&
			index <= MSR_MTRR_PHYSMASK(7);
	const char *bad = NULL;

	if (!d)
		bad = "not an MSR tern saves";
	else if (index == MSR_IA32_CR_PAT && !bytes_are_types(v, true))
		bad = "an entry names a reserved memory type";
	else if (index == MSR_MTRR_DEF_TYPE &&
		 ((v & ~0xcffULL) || !mem_type_valid(v & 0xff, false)))
		bad = "reserved bits set or a reserved memory type";
	else if (index >= MSR_MTRR_FIX64K_00000 &&
		 index <= MSR_MTRR_FIX4K_F8000 && !bytes_are_types(v, false))
		bad = "a range names a reserved memory type";
	else if (var_mtrr && !(index & 1) &&
		 ((v & 0xf00) || (v >> 52) || !mem_type_valid(v & 0xff, false)))
		bad = "reserved bits set or a reserved memory type";
	else if (var_mtrr && (index & 1) && ((v & 0x7ff) || (v >> 52)))
		bad = "reserved bits set";
	else if ((index == MSR_LSTAR || index == MSR_CSTAR ||
		  index == MSR_KERNEL_GS_BASE) && !x86_canonical(v, la57))
		bad = "not a canonical address";
	else if (index == MSR_TSC_AUX && (v >> 32))
		bad = "TSC_AUX is 32 bits";
	else if (index == MSR_KVM_STEAL_TIME && (v & KVM_STEAL_RESERVED_MASK))
		bad = "reserved bits 1-5 set";
	else if (index == MSR_KVM_ASYNC_PF_EN && (v & 0x30))
		bad = "reserved bits 4-5 set";
	else if (index == MSR_KVM_ASYNC_PF_INT && v > 0xff) /* the vector */
		bad = "only a vector (bits 0-7) is allowed";
	else if (index == MSR_KVM_POLL_CONTROL && v > 1)
		bad = "only bit 0 is defined";
	if (!bad)
		return true;
	snprintf(why, len, "MSR 0x%x (%s) = 0x%llx: %s", index,
		 d ? d->name : "unknown", (unsigned long long)v, bad);
	return false;
}

/* The legacy area: MXCSR at 24; bytes 416-511 reserved for software. */
#define XSAVE_MXCSR 24
#define XSAVE_SW_RESERVED 416
#define XSAVE_HEADER 512
#define XSAVE_HEADER_END 576

void x86_xsave_mask(uint8_t *area, size_t size)
{
	/*
	 * KVM writes the host kernel's own bytes here on get (its signal
	 * frame marker) and ignores them on set: dropped, so a state does not
	 * depend on the host it was taken on.
	 */
	if (size >= XSAVE_HEADER)
		memset(area + XSAVE_SW_RESERVED, 0,
		       XSAVE_HEADER - XSAVE_SW_RESERVED);
}

bool x86_xsave_check(const uint8_t *area, size_t size, char *why, size_t len)
{
	uint32_t mxcsr;
	uint64_t xcomp;

	if (size < XSAVE_HEADER_END) {
		snprintf(why, len, "xsave: %zu bytes is shorter than the XSAVE header", size);
		return false;
	}
	mxcsr = le32_get(area + XSAVE_MXCSR);
	xcomp = le64_get(area + XSAVE_HEADER + 8);
	if (mxcsr >> 16) {
		snprintf(why, len, "xsave.mxcsr 0x%x: reserved bits 16-31 set", mxcsr);
		return false;
	}
	for (size_t i = XSAVE_SW_RESERVED; i < XSAVE_HEADER; i++) {
		if (area[i]) {
			snprintf(why, len, "xsave: reserved byte %zu is not zero", i);
			return false;
		}
	}
	if (xcomp) {
		snprintf(why, len, "xsave.xcomp_bv 0x%llx: KVM takes only the standard format",
			 (unsigned long long)xcomp);
		return false;
	}
	for (size_t i = XSAVE_HEADER + 16; i < XSAVE_HEADER_END; i++) {
		if (area[i]) {
			snprintf(why, len, "xsave: reserved header byte %zu is not zero", i);
			return false;
		}
	}
	return true;
}

#define XFEATURE_X87 (1ULL << 0)
#define XFEATURE_SSE (1ULL << 1)
#define XFEATURE_YMM (1ULL << 2)
#define XFEATURE_BND (3ULL << 3)
#define XFEATURE_AVX512 (7ULL << 5)
#define XFEATURE_AMX (3ULL << 17)

bool x86_xcr0_check(uint64_t x, char *why, size_t len)
{
	const char *bad = NULL;

	if (!(x & XFEATURE_X87))
		bad = "x87 (bit 0) must be set";
	else if ((x & XFEATURE_YMM) && !(x & XFEATURE_SSE))
		bad = "AVX without SSE";
	else if ((x & XFEATURE_BND) && (x & XFEATURE_BND) != XFEATURE_BND)
		bad = "MPX's two bits go together";
	else if ((x & XFEATURE_AVX512) &&
		 ((x & XFEATURE_AVX512) != XFEATURE_AVX512 ||
		  !(x & XFEATURE_YMM)))
		bad = "AVX-512's three bits go together, with AVX";
	else if ((x & XFEATURE_AMX) && (x & XFEATURE_AMX) != XFEATURE_AMX)
		bad = "AMX's two bits go together";
	if (!bad)
		return true;
	snprintf(why, len, "xcr0 0x%llx: %s", (unsigned long long)x, bad);
	return false;
}
