// SPDX-License-Identifier: MIT
/*
 * What the emulation fallback does for each instruction it completes, over
 * a register file and guest memory (struct x86_emu), following the SDM's
 * pseudo-code (Vol. 2: INT3, IRET). A case the code does not cover is
 * declined with the reason, before anything changes; an exception the SDM
 * says the instruction raises is returned for injection, with the
 * registers as the fault leaves them (unchanged but CR2).
 *
 * Only 64-bit mode is covered: the gaps are met by 64-bit kernels, and a
 * firmware guest proves each case there (firmware/emulate-test.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tern/emulate.h"
#include "tern/le.h"

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_FIXED (1ull << 1) /* always 1 */
#define RFLAGS_PF (1ull << 2)
#define RFLAGS_AF (1ull << 4)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_SF (1ull << 7)
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_OF (1ull << 11)
#define RFLAGS_IOPL (3ull << 12)
#define RFLAGS_NT (1ull << 14)
#define RFLAGS_RF (1ull << 16)
#define RFLAGS_VM (1ull << 17)
#define RFLAGS_AC (1ull << 18)
#define RFLAGS_VIF (1ull << 19)
#define RFLAGS_VIP (1ull << 20)
#define RFLAGS_ID (1ull << 21)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_NE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define FSW_ES (1u << 7) /* an unmasked x87 exception is pending */

/* Segment descriptor fields (SDM Vol. 3A 3.4.5). */
#define DESC_TYPE(d) ((unsigned int)((d) >> 40) & 0xf)
#define DESC_S(d) ((unsigned int)((d) >> 44) & 1)
#define DESC_DPL(d) ((unsigned int)((d) >> 45) & 3)
#define DESC_P(d) ((unsigned int)((d) >> 47) & 1)
#define DESC_L(d) ((unsigned int)((d) >> 53) & 1)
#define DESC_DB(d) ((unsigned int)((d) >> 54) & 1)
#define TYPE_ACCESSED 0x1
#define TYPE_WRITABLE 0x2 /* data */
#define TYPE_CONFORMING 0x4 /* code */
#define TYPE_CODE 0x8

#define SEL_RPL(s) ((unsigned int)(s) & 3)
#define SEL_TI 0x4
#define SEL_NULL(s) (((s) & 0xfffc) == 0) /* index 0 in the GDT */
#define SEL_ERROR(s) ((uint32_t)(s) & 0xfffc) /* its #GP/#NP error code */

static enum x86_emu_result emu_decline(struct x86_emu *emu, const char *why)
{
	snprintf(emu->why, sizeof(emu->why), "%s", why);
	return X86_EMU_DECLINED;
}

static enum x86_emu_result emu_raise(struct x86_emu *emu, uint8_t vector,
				     bool has_error_code, uint32_t error_code)
{
	emu->exc = (struct x86_exception){
		.valid = true,
		.vector = vector,
		.has_error_code = has_error_code,
		.error_code = error_code,
	};
	return X86_EMU_DONE;
}

/* The memory helpers' verdict as an emulation result. */
static enum x86_emu_result emu_mem_failed(struct x86_emu *emu, int ret)
{
	/* -EFAULT: emu->exc holds the #PF; otherwise emu->why says why. */
	return ret == -EFAULT ? X86_EMU_DONE : X86_EMU_DECLINED;
}

static unsigned int emu_cpl(const struct x86_emu *emu)
{
	return SEL_RPL(emu->sregs.cs.selector);
}

/* General register n (0 rax ... 15 r15) as the ModRM byte numbers them. */
static __u64 *emu_gpr(struct kvm_regs *r, unsigned int n)
{
	__u64 *const regs[16] = {
		&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp,
		&r->rsi, &r->rdi, &r->r8,  &r->r9,  &r->r10, &r->r11,
		&r->r12, &r->r13, &r->r14, &r->r15,
	};

	return regs[n & 15];
}

/* A write of size bytes to a register: 4 zero-extends, 2 merges. */
static void emu_gpr_write(struct kvm_regs *r, unsigned int n,
			  unsigned int size, uint64_t v)
{
	__u64 *p = emu_gpr(r, n);

	if (size == 8)
		*p = v;
	else if (size == 4)
		*p = (uint32_t)v;
	else
		*p = (*p & ~0xffffull) | (v & 0xffff);
}

static uint64_t emu_segment_base(const struct x86_emu *emu, enum x86_seg seg)
{
	/* In 64-bit mode only FS and GS have a base (SDM Vol. 1 3.4.2.1). */
	if (seg == X86_SEG_FS)
		return emu->sregs.fs.base;
	if (seg == X86_SEG_GS)
		return emu->sregs.gs.base;
	return 0;
}

/*
 * The linear address of the ModRM memory operand of size bytes. It must
 * be canonical, else #SS(0) when it is RSP or RBP based (those default to
 * SS) or #GP(0).
 */
static enum x86_emu_result emu_rm_address(struct x86_emu *emu,
					  const struct x86_insn *insn,
					  unsigned int size, uint64_t *la)
{
	uint64_t ea = (uint64_t)(int64_t)insn->disp;
	bool stack = false;

	if (insn->rip_relative)
		ea += emu->regs.rip + insn->len;
	if (insn->has_base) {
		ea += *emu_gpr(&emu->regs, insn->base);
		stack = insn->base == 4 || insn->base == 5; /* not r12, r13 */
	}
	if (insn->has_index)
		ea += *emu_gpr(&emu->regs, insn->index) * insn->scale;
	if (insn->addrsize == 4)
		ea = (uint32_t)ea;
	if (insn->seg != X86_SEG_NONE)
		stack = insn->seg == X86_SEG_SS;
	ea += emu_segment_base(emu, insn->seg);
	if (!x86_la_canonical(&emu->sregs, ea) ||
	    !x86_la_canonical(&emu->sregs, ea + size - 1))
		return emu_raise(emu, stack ? X86_VEC_SS : X86_VEC_GP, true, 0);
	*la = ea;
	return X86_EMU_DONE;
}

/* Read the ModRM memory or register operand of size bytes (at most 8). */
static enum x86_emu_result emu_read_rm(struct x86_emu *emu,
				       const struct x86_insn *insn,
				       unsigned int size, uint64_t *v)
{
	enum x86_emu_result res;
	uint8_t buf[8];
	uint64_t la = 0;
	int ret;

	if (insn->mod == 3) {
		*v = *emu_gpr(&emu->regs, insn->rm);
		if (size < 8)
			*v &= (1ull << (8 * size)) - 1;
		return X86_EMU_DONE;
	}
	res = emu_rm_address(emu, insn, size, &la);
	if (res != X86_EMU_DONE || emu->exc.valid)
		return res;
	ret = x86_emu_read(emu, la, buf, size,
			   emu_cpl(emu) == 3 ? X86_ACCESS_USER : 0);
	if (ret)
		return emu_mem_failed(emu, ret);
	*v = 0;
	for (unsigned int i = 0; i < size; i++)
		*v |= (uint64_t)buf[i] << (8 * i);
	return X86_EMU_DONE;
}

/* Write v to the ModRM memory operand, size bytes (at most 8). */
static enum x86_emu_result emu_write_mem(struct x86_emu *emu,
					 const struct x86_insn *insn,
					 unsigned int size, uint64_t v)
{
	enum x86_emu_result res;
	uint8_t buf[8];
	uint64_t la = 0;
	int ret;

	res = emu_rm_address(emu, insn, size, &la);
	if (res != X86_EMU_DONE || emu->exc.valid)
		return res;
	for (unsigned int i = 0; i < size; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	ret = x86_emu_write(emu, la, buf, size,
			    X86_ACCESS_WRITE |
				    (emu_cpl(emu) == 3 ? X86_ACCESS_USER : 0));
	if (ret)
		return emu_mem_failed(emu, ret);
	return X86_EMU_DONE;
}

/* The instruction is done: RIP past it, RF cleared (SDM Vol. 3A 17.3.1.1). */
static enum x86_emu_result emu_next(struct x86_emu *emu,
				    const struct x86_insn *insn)
{
	emu->regs.rip += insn->len;
	emu->regs.rflags &= ~RFLAGS_RF;
	return X86_EMU_DONE;
}

/* CLAC, STAC: #UD with LOCK, above CPL 0 or without SMAP in CPUID. */
static enum x86_emu_result emu_clac_stac(struct x86_emu *emu,
					 const struct x86_insn *insn)
{
	if (insn->lock || emu_cpl(emu) != 0 ||
	    !(emu->features & X86_FEAT_SMAP))
		return emu_raise(emu, X86_VEC_UD, false, 0);
	if (insn->op == X86_INSN_STAC)
		emu->regs.rflags |= RFLAGS_AC;
	else
		emu->regs.rflags &= ~RFLAGS_AC;
	return emu_next(emu, insn);
}

/* POPCNT r, r/m: the count; ZF if the source is 0, the other flags 0. */
static enum x86_emu_result emu_popcnt(struct x86_emu *emu,
				      const struct x86_insn *insn)
{
	const uint64_t arith = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF |
			       RFLAGS_SF | RFLAGS_OF;
	enum x86_emu_result res;
	uint64_t src = 0;

	if (insn->lock || !(emu->features & X86_FEAT_POPCNT))
		return emu_raise(emu, X86_VEC_UD, false, 0);
	res = emu_read_rm(emu, insn, insn->opsize, &src);
	if (res != X86_EMU_DONE || emu->exc.valid)
		return res;
	emu_gpr_write(&emu->regs, insn->reg, insn->opsize,
		      (uint64_t)__builtin_popcountll(src));
	emu->regs.rflags &= ~arith;
	if (!src)
		emu->regs.rflags |= RFLAGS_ZF;
	return emu_next(emu, insn);
}

/*
 * FWAIT: #NM when CR0.MP and CR0.TS are set, #MF when an unmasked x87
 * exception is pending (FSW.ES) and CR0.NE is set; otherwise nothing.
 * With CR0.NE clear the CPU would signal FERR# to the chipset instead:
 * not covered.
 */
static enum x86_emu_result emu_fwait(struct x86_emu *emu,
				     const struct x86_insn *insn)
{
	if (insn->lock)
		return emu_raise(emu, X86_VEC_UD, false, 0);
	if ((emu->sregs.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		return emu_raise(emu, X86_VEC_NM, false, 0);
	if (emu->fsw & FSW_ES) {
		if (!(emu->sregs.cr0 & CR0_NE))
			return emu_decline(emu, "fwait with a pending x87 "
						"exception and CR0.NE clear");
		return emu_raise(emu, X86_VEC_MF, false, 0);
	}
	return emu_next(emu, insn);
}

/*
 * LDMXCSR m32, STMXCSR m32 (SDM Vol. 2B): #UD with LOCK, CR0.EM, without
 * CR4.OSFXSR or SSE in CPUID; #NM with CR0.TS; LDMXCSR #GP(0) for a bit
 * outside MXCSR_MASK (nothing loaded). The memory operand as any other:
 * #GP/#SS for a non-canonical address, #PF.
 */
static enum x86_emu_result emu_mxcsr(struct x86_emu *emu,
				     const struct x86_insn *insn)
{
	enum x86_emu_result res;
	uint64_t v = 0;

	if (insn->lock || (emu->sregs.cr0 & CR0_EM) ||
	    !(emu->sregs.cr4 & CR4_OSFXSR) || !(emu->features & X86_FEAT_SSE))
		return emu_raise(emu, X86_VEC_UD, false, 0);
	if (emu->sregs.cr0 & CR0_TS)
		return emu_raise(emu, X86_VEC_NM, false, 0);
	if (insn->op == X86_INSN_STMXCSR) {
		res = emu_write_mem(emu, insn, 4, emu->mxcsr);
		if (res != X86_EMU_DONE || emu->exc.valid)
			return res;
		return emu_next(emu, insn);
	}
	res = emu_read_rm(emu, insn, 4, &v);
	if (res != X86_EMU_DONE || emu->exc.valid)
		return res;
	if (v & ~(uint64_t)emu->mxcsr_mask)
		return emu_raise(emu, X86_VEC_GP, true, 0);
	emu->mxcsr = (uint32_t)v;
	emu->mxcsr_changed = true;
	return emu_next(emu, insn);
}

static enum x86_emu_result emu_int3(struct x86_emu *emu,
				    const struct x86_insn *insn)
{
	if (insn->lock)
		return emu_raise(emu, X86_VEC_UD, false, 0);
	/*
	 * A trap: the #BP frame holds the address after the instruction,
	 * and RF is clear once an instruction completes. KVM delivers the
	 * exception through the IDT when the vCPU runs again.
	 */
	emu_next(emu, insn);
	emu_raise(emu, X86_VEC_BP, false, 0);
	emu->exc.trap = true;
	return X86_EMU_DONE;
}

/*
 * The descriptor sel names, from the GDT or the LDT (an implicit
 * supervisor read, as the CPU's). -ERANGE when it lies past the table's
 * limit, -EFAULT with the #PF in emu->exc, -EOPNOTSUPP with emu->why.
 */
static int emu_read_descriptor(struct x86_emu *emu, uint16_t sel,
			       uint64_t *desc, uint64_t *la)
{
	uint64_t base = emu->sregs.gdt.base, limit = emu->sregs.gdt.limit;
	uint8_t bytes[8];
	int ret;

	if (sel & SEL_TI) {
		const struct kvm_segment *ldt = &emu->sregs.ldt;

		if (ldt->unusable || SEL_NULL(ldt->selector))
			return -ERANGE;
		base = emu->sregs.ldt.base;
		limit = emu->sregs.ldt.limit;
	}
	if ((uint64_t)(sel & ~7u) + 7 > limit)
		return -ERANGE;
	*la = base + (sel & ~7u);
	ret = x86_emu_read(emu, *la, bytes, sizeof(bytes), X86_ACCESS_IMPLICIT);
	if (ret)
		return ret;
	*desc = le64_get(bytes);
	return 0;
}

/* A loaded segment's hidden part: what the CPU caches from desc. */
static void emu_segment_from_desc(uint64_t d, uint16_t sel,
				  struct kvm_segment *seg)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

	*seg = (struct kvm_segment){
		.base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000),
		.selector = sel,
		.type = (uint8_t)(DESC_TYPE(d) | TYPE_ACCESSED),
		.present = (uint8_t)DESC_P(d),
		.dpl = (uint8_t)DESC_DPL(d),
		.db = (uint8_t)DESC_DB(d),
		.s = (uint8_t)DESC_S(d),
		.l = (uint8_t)DESC_L(d),
		.g = (uint8_t)((d >> 55) & 1),
		.avl = (uint8_t)((d >> 52) & 1),
	};
	seg->limit = seg->g ? (limit << 12) | 0xfff : limit;
}

/*
 * Loading a descriptor sets its accessed bit (a locked write the CPU
 * makes; a read-only GDT page faults here, as on hardware).
 */
static int emu_mark_accessed(struct x86_emu *emu, uint64_t desc,
			     uint64_t la)
{
	uint8_t type_byte = (uint8_t)(desc >> 40);

	if (DESC_TYPE(desc) & TYPE_ACCESSED)
		return 0;
	type_byte |= TYPE_ACCESSED;
	return x86_emu_write(emu, la + 5, &type_byte, 1, X86_ACCESS_IMPLICIT);
}

/* The new RFLAGS after IRET at this CPL (SDM IRET, "EFLAGS ← tempEFLAGS"). */
static uint64_t iret_rflags(uint64_t old, uint64_t img, unsigned int cpl,
			    unsigned int opsize)
{
	uint64_t mask = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF |
			RFLAGS_SF | RFLAGS_TF | RFLAGS_DF | RFLAGS_OF |
			RFLAGS_NT;

	if (opsize >= 4)
		mask |= RFLAGS_RF | RFLAGS_AC | RFLAGS_ID;
	if (cpl <= ((old & RFLAGS_IOPL) >> 12))
		mask |= RFLAGS_IF;
	if (cpl == 0)
		mask |= RFLAGS_IOPL | RFLAGS_VIF | RFLAGS_VIP;
	return (old & ~mask) | (img & mask) | RFLAGS_FIXED;
}

struct iret_frame {
	uint64_t rip, rflags, rsp;
	uint16_t cs, ss;
};

/* Pop the 64-bit mode frame: RIP, CS, RFLAGS, RSP, SS, opsize bytes each. */
static enum x86_emu_result iret_pop(struct x86_emu *emu, unsigned int opsize,
				    struct iret_frame *f)
{
	uint64_t rsp = emu->regs.rsp, v[5];
	uint8_t buf[5 * 8];
	int ret;

	/* A stack access at a non-canonical address is #SS(0). */
	if (!x86_la_canonical(&emu->sregs, rsp) ||
	    !x86_la_canonical(&emu->sregs, rsp + 5 * opsize - 1))
		return emu_raise(emu, X86_VEC_SS, true, 0);
	ret = x86_emu_read(emu, rsp, buf, 5 * opsize, 0);
	if (ret)
		return emu_mem_failed(emu, ret);
	for (unsigned int i = 0; i < 5; i++)
		v[i] = opsize == 8 ? le64_get(buf + 8 * i) :
				     le32_get(buf + 4 * i);
	*f = (struct iret_frame){
		.rip = v[0],
		.cs = (uint16_t)v[1],
		.rflags = v[2],
		.rsp = v[3],
		.ss = (uint16_t)v[4],
	};
	return X86_EMU_DONE;
}

/*
 * The new SS for a return to 64-bit mode at privilege rpl (SDM IRET,
 * IA-32e-MODE-RETURN and RETURN-TO-OUTER-PRIVILEGE-LEVEL's SS checks).
 * Returns X86_EMU_DONE with emu->exc valid on a fault.
 */
static enum x86_emu_result iret_load_ss(struct x86_emu *emu, uint16_t sel,
					unsigned int rpl,
					struct kvm_segment *ss)
{
	uint64_t desc, la;
	int ret;

	if (SEL_NULL(sel)) {
		/* Allowed back to 64-bit mode below CPL 3 with RPL = CPL. */
		if (SEL_RPL(sel) != rpl)
			return emu_raise(emu, X86_VEC_GP, true, 0);
		/*
		 * KVM keeps the CPL in SS.DPL, and its own emulator gives a
		 * null SS loaded in 64-bit mode this shape (an expand-up
		 * 32-bit data segment with DPL = CPL): the same here.
		 */
		*ss = (struct kvm_segment){
			.selector = sel, .limit = 0xffffffff, .type = 3,
			.present = 1, .dpl = (uint8_t)rpl, .db = 1, .s = 1,
			.g = 1,
		};
		return X86_EMU_DONE;
	}
	ret = emu_read_descriptor(emu, sel, &desc, &la);
	if (ret == -ERANGE)
		return emu_raise(emu, X86_VEC_GP, true, SEL_ERROR(sel));
	if (ret)
		return emu_mem_failed(emu, ret);
	if (SEL_RPL(sel) != rpl || !DESC_S(desc) ||
	    (DESC_TYPE(desc) & TYPE_CODE) ||
	    !(DESC_TYPE(desc) & TYPE_WRITABLE) || DESC_DPL(desc) != rpl)
		return emu_raise(emu, X86_VEC_GP, true, SEL_ERROR(sel));
	if (!DESC_P(desc))
		return emu_raise(emu, X86_VEC_SS, true, SEL_ERROR(sel));
	ret = emu_mark_accessed(emu, desc, la);
	if (ret)
		return emu_mem_failed(emu, ret);
	emu_segment_from_desc(desc, sel, ss);
	return X86_EMU_DONE;
}

/*
 * IRET in 64-bit mode at CPL 0 back to CPL 0 in 64-bit mode: the case a
 * kernel returning from its own exception or interrupt takes. In 64-bit
 * mode IRET always pops SS:RSP (SDM Vol. 3A 6.14.3), at every operand size.
 */
static enum x86_emu_result emu_iret(struct x86_emu *emu,
				    const struct x86_insn *insn)
{
	struct kvm_regs *r = &emu->regs;
	unsigned int cpl = SEL_RPL(emu->sregs.cs.selector), rpl;
	struct kvm_segment cs, ss;
	struct iret_frame f = { 0 };
	uint64_t desc, la;
	enum x86_emu_result res;
	int ret;

	if (insn->lock)
		return emu_raise(emu, X86_VEC_UD, false, 0);
	if (insn->opsize == 2)
		return emu_decline(emu, "16-bit iret");
	if (cpl != 0)
		return emu_decline(emu, "iret above CPL 0");
	/* IRET ends NMI blocking even when it faults (SDM Vol. 3A 6.7.1). */
	emu->nmi_unblocked = true;
	if (r->rflags & RFLAGS_NT)
		return emu_raise(emu, X86_VEC_GP, true, 0); /* no task return */
	res = iret_pop(emu, insn->opsize, &f);
	if (res != X86_EMU_DONE || emu->exc.valid)
		return res;
	if (insn->opsize == 4) {
		f.rip &= 0xffffffff;
		if (f.rflags & RFLAGS_VM)
			return emu_decline(emu, "iret to virtual-8086 mode");
	}

	if (SEL_NULL(f.cs))
		return emu_raise(emu, X86_VEC_GP, true, 0);
	ret = emu_read_descriptor(emu, f.cs, &desc, &la);
	if (ret == -ERANGE)
		return emu_raise(emu, X86_VEC_GP, true, SEL_ERROR(f.cs));
	if (ret)
		return emu_mem_failed(emu, ret);
	rpl = SEL_RPL(f.cs);
	if (!DESC_S(desc) || !(DESC_TYPE(desc) & TYPE_CODE) || rpl < cpl)
		return emu_raise(emu, X86_VEC_GP, true, SEL_ERROR(f.cs));
	if ((DESC_TYPE(desc) & TYPE_CONFORMING) ? DESC_DPL(desc) > rpl :
						    DESC_DPL(desc) != rpl)
		return emu_raise(emu, X86_VEC_GP, true, SEL_ERROR(f.cs));
	if (!DESC_P(desc))
		return emu_raise(emu, X86_VEC_NP, true, SEL_ERROR(f.cs));
	if (rpl > cpl)
		return emu_decline(emu, "iret to an outer privilege level");
	if (!DESC_L(desc))
		return emu_decline(emu, "iret to compatibility mode");
	if (DESC_DB(desc))
		return emu_raise(emu, X86_VEC_GP, true, SEL_ERROR(f.cs));
	if (!x86_la_canonical(&emu->sregs, f.rip))
		return emu_raise(emu, X86_VEC_GP, true, 0);
	res = iret_load_ss(emu, f.ss, rpl, &ss);
	if (res != X86_EMU_DONE || emu->exc.valid)
		return res;
	ret = emu_mark_accessed(emu, desc, la);
	if (ret)
		return emu_mem_failed(emu, ret);

	emu_segment_from_desc(desc, f.cs, &cs);
	emu->sregs.cs = cs;
	emu->sregs.ss = ss;
	emu->sregs_changed = true;
	r->rip = f.rip;
	r->rsp = f.rsp;
	r->rflags = iret_rflags(r->rflags, f.rflags, cpl, insn->opsize);
	return X86_EMU_DONE;
}

enum x86_emu_result x86_emulate(struct x86_emu *emu,
				const struct x86_insn *insn)
{
	struct x86_emu saved;
	enum x86_emu_result res;

	emu->exc = (struct x86_exception){ 0 };
	emu->why[0] = '\0';
	if (x86_cpu_mode_of(&emu->sregs) != X86_MODE_LONG64)
		return emu_decline(emu, "not in 64-bit mode");
	/* A single-step trap would be due after the instruction: not covered. */
	if (emu->regs.rflags & RFLAGS_TF)
		return emu_decline(emu, "RFLAGS.TF is set");
	/* A fault or a decline leaves the registers as they were. */
	saved = *emu;
	switch (insn->op) {
	case X86_INSN_INT3:
		res = emu_int3(emu, insn);
		break;
	case X86_INSN_IRET:
		res = emu_iret(emu, insn);
		break;
	case X86_INSN_CLAC:
	case X86_INSN_STAC:
		res = emu_clac_stac(emu, insn);
		break;
	case X86_INSN_POPCNT:
		res = emu_popcnt(emu, insn);
		break;
	case X86_INSN_FWAIT:
		res = emu_fwait(emu, insn);
		break;
	case X86_INSN_LDMXCSR:
	case X86_INSN_STMXCSR:
		res = emu_mxcsr(emu, insn);
		break;
	default:
		return emu_decline(emu, "instruction not covered");
	}
	if (res == X86_EMU_DECLINED) {
		char why[sizeof(emu->why)];

		memcpy(why, emu->why, sizeof(why));
		*emu = saved;
		memcpy(emu->why, why, sizeof(why));
	} else if (emu->exc.valid && !emu->exc.trap) {
		/* A fault: only CR2 (a #PF) and the NMI unblocking stay. */
		uint64_t cr2 = emu->sregs.cr2;
		bool cr2_changed = emu->sregs_changed &&
				   emu->exc.vector == X86_VEC_PF;
		bool nmi = emu->nmi_unblocked;
		struct x86_exception exc = emu->exc;

		*emu = saved;
		emu->exc = exc;
		emu->nmi_unblocked = nmi;
		if (cr2_changed) {
			emu->sregs.cr2 = cr2;
			emu->sregs_changed = true;
		}
	}
	return res;
}
