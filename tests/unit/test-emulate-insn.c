// SPDX-License-Identifier: MIT
/*
 * The instructions of the emulation fallback over a fake register file and
 * plain guest memory (emulate-fixture.h): int3 and IRET as the SDM gives
 * them, every fault they raise with the registers left as they were, the
 * cases declined without a change, and random frames, descriptors and
 * byte strings that must never crash, half-apply or load a bad state.
 */
#include <errno.h>

#include "emulate-fixture.h"

#define FL_CF (1ull << 0)
#define FL_ZF (1ull << 6)
#define FL_SF (1ull << 7)
#define FL_TF (1ull << 8)
#define FL_IF (1ull << 9)
#define FL_DF (1ull << 10)
#define FL_IOPL (3ull << 12)
#define FL_NT (1ull << 14)
#define FL_RF (1ull << 16)
#define FL_VM (1ull << 17)
#define FL_AC (1ull << 18)
#define FL_VIF (1ull << 19)
#define FL_VIP (1ull << 20)
#define FL_ID (1ull << 21)
/* Bits no RFLAGS may hold: 3, 5, 15 and 22-63. */
#define FL_RESERVED (0x8028ull | ~0x3fffffull)

static void put_frame(uint64_t at, unsigned int opsize, uint64_t rip,
		      uint64_t cs, uint64_t rflags, uint64_t rsp, uint64_t ss)
{
	uint64_t v[5] = { rip, cs, rflags, rsp, ss };

	for (unsigned int i = 0; i < 5; i++) {
		if (opsize == 8)
			le64_put(hva(at + 8 * i), v[i]);
		else
			le32_put(hva(at + 4 * i), (uint32_t)v[i]);
	}
}

static struct x86_insn iret_insn(unsigned int opsize)
{
	return (struct x86_insn){
		.op = X86_INSN_IRET,
		.len = opsize == 8 ? 2 : 1,
		.opsize = (uint8_t)opsize,
	};
}

/* Nothing but (maybe) CR2 changed: what a fault or a decline leaves. */
static void ck_unchanged(const struct x86_emu *e, const struct x86_emu *before)
{
	struct kvm_sregs a = e->sregs, b = before->sregs;

	ck_assert(memcmp(&e->regs, &before->regs, sizeof(e->regs)) == 0);
	a.cr2 = b.cr2 = 0;
	ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
}

START_TEST(int3_traps_past_itself)
{
	static const uint8_t bytes[] = { 0x3e, 0xcc, 0x90 };
	struct x86_insn insn;
	struct x86_emu e, before;

	emu_init(&e);
	e.regs.rflags = 0x2 | FL_CF | FL_IF | FL_RF;
	ck_assert_int_eq(x86_insn_decode(bytes, 3, X86_MODE_LONG64, &insn), 0);
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.regs.rip, before.regs.rip + 2);
	ck_assert_uint_eq(e.regs.rflags, 0x2 | FL_CF | FL_IF);
	ck_assert_uint_eq(e.regs.rsp, before.regs.rsp);
	ck_assert_uint_eq(e.regs.rax, 0x1111);
	ck_assert(e.exc.valid && e.exc.trap && !e.exc.has_error_code);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_BP);
	ck_assert(!e.sregs_changed && !e.nmi_unblocked);
}
END_TEST

START_TEST(int3_lock_tf_and_modes)
{
	struct x86_insn insn = { .op = X86_INSN_INT3, .len = 2, .lock = true };
	struct x86_emu e, before;

	emu_init(&e);
	before = e;
	/* LOCK on an instruction that cannot take it: #UD, a fault. */
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(e.exc.valid && !e.exc.trap);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_UD);
	ck_unchanged(&e, &before);

	insn.lock = false;
	emu_init(&e);
	e.regs.rflags |= FL_TF;
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	ck_assert_str_ne(e.why, "");
	ck_unchanged(&e, &before);

	emu_init(&e);
	e.sregs.cs.l = 0;
	e.sregs.cs.db = 1;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	insn.op = X86_INSN_NONE;
	emu_init(&e);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
}
END_TEST

START_TEST(iretq_same_privilege)
{
	struct x86_insn insn = iret_insn(8);
	struct x86_emu e;
	uint64_t image = FL_CF | FL_ZF | FL_IF | FL_AC | FL_ID | FL_IOPL |
			 FL_VIF | FL_VIP | FL_RF | FL_RESERVED;

	emu_init(&e);
	e.regs.rflags = 0x2 | FL_DF;
	put_frame(e.regs.rsp, 8, 0xffffffff81001234ull, 0x08, image, 0x5550,
		  0x10);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rip, 0xffffffff81001234ull);
	ck_assert_uint_eq(e.regs.rsp, 0x5550);
	/* DF cleared (not in the image), reserved bits never loaded. */
	ck_assert_uint_eq(e.regs.rflags, 0x2 | FL_CF | FL_ZF | FL_IF | FL_AC |
						 FL_ID | FL_IOPL | FL_VIF |
						 FL_VIP | FL_RF);
	ck_assert_uint_eq(e.sregs.cs.selector, 0x08);
	ck_assert(e.sregs.cs.l && !e.sregs.cs.db && e.sregs.cs.present);
	ck_assert_uint_eq(e.sregs.cs.type, 0xb);
	ck_assert_uint_eq(e.sregs.ss.selector, 0x10);
	ck_assert_uint_eq(e.sregs.ss.type, 0x3);
	ck_assert_uint_eq(e.sregs.ss.limit, 0xffffffff);
	ck_assert(e.sregs_changed && e.nmi_unblocked);
	ck_assert_uint_eq(e.regs.rax, 0x1111);
	ck_assert_uint_eq(e.regs.r15, 0xf15);
}
END_TEST

START_TEST(iretd_pops_32_bit_slots)
{
	struct x86_insn insn = iret_insn(4);
	struct x86_emu e;

	emu_init(&e);
	/* The high half of the CS slot is discarded. */
	put_frame(e.regs.rsp, 4, 0x00101234, 0xdead0008, FL_CF | 0x2, 0x6000,
		  0x10);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rip, 0x101234);
	ck_assert_uint_eq(e.regs.rsp, 0x6000);
	ck_assert_uint_eq(e.regs.rflags, 0x2 | FL_CF);
	ck_assert_uint_eq(e.sregs.cs.selector, 0x08);
}
END_TEST

START_TEST(iret_null_ss)
{
	struct x86_insn insn = iret_insn(8);
	struct x86_emu e, before;

	emu_init(&e);
	put_frame(e.regs.rsp, 8, 0x100000, 0x08, 0x2, 0x5000, 0);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.sregs.ss.selector, 0);
	ck_assert_uint_eq(e.sregs.ss.dpl, 0);
	ck_assert(e.sregs.ss.present && !e.sregs.ss.unusable);

	/* A null SS must carry RPL = CPL. */
	emu_init(&e);
	put_frame(e.regs.rsp, 8, 0x100000, 0x08, 0x2, 0x5000, 3);
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(e.exc.valid && e.exc.has_error_code);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_GP);
	ck_assert_uint_eq(e.exc.error_code, 0);
	ck_unchanged(&e, &before);
}
END_TEST

START_TEST(iret_faults)
{
	static const struct {
		uint64_t rip, cs, ss;
		uint8_t vector;
		uint32_t error;
	} cases[] = {
		{ 0x100000, 0x00, 0x10, X86_VEC_GP, 0 }, /* null CS */
		{ 0x100000, 0x50, 0x10, X86_VEC_GP, 0x50 }, /* past the limit */
		{ 0x100000, 0x10, 0x10, X86_VEC_GP, 0x10 }, /* data as CS */
		{ 0x100000, 0x28, 0x10, X86_VEC_NP, 0x28 }, /* not present */
		{ 0x100000, 0x30, 0x10, X86_VEC_GP, 0x30 }, /* L and D */
		{ 0x100000, 0x0b, 0x10, X86_VEC_GP, 0x08 }, /* RPL 3, DPL 0 */
		{ 0x0000800000000000ull, 0x08, 0x10, X86_VEC_GP, 0 },
		{ 0x100000, 0x08, 0x08, X86_VEC_GP, 0x08 }, /* code as SS */
		{ 0x100000, 0x08, 0x38, X86_VEC_SS, 0x38 }, /* SS not present */
		{ 0x100000, 0x08, 0x40, X86_VEC_GP, 0x40 }, /* read-only SS */
		{ 0x100000, 0x08, 0x13, X86_VEC_GP, 0x10 }, /* SS RPL 3 */
		{ 0x100000, 0x08, 0x14, X86_VEC_GP, 0x14 }, /* LDT, none */
	};
	struct x86_insn insn = iret_insn(8);
	struct x86_emu e, before;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		emu_init(&e);
		e.sregs.ldt.unusable = 1;
		put_frame(e.regs.rsp, 8, cases[i].rip, cases[i].cs, 0x2,
			  0x5000, cases[i].ss);
		before = e;
		ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
		ck_assert_msg(e.exc.valid && !e.exc.trap, "case %zu", i);
		ck_assert_msg(e.exc.vector == cases[i].vector,
			      "case %zu: vector %u", i, e.exc.vector);
		ck_assert(e.exc.has_error_code);
		ck_assert_msg(e.exc.error_code == cases[i].error,
			      "case %zu: error %#x", i, e.exc.error_code);
		ck_assert(e.nmi_unblocked);
		ck_unchanged(&e, &before);
	}
}
END_TEST

START_TEST(iret_stack_faults)
{
	struct x86_insn insn = iret_insn(8);
	struct x86_emu e, before;

	/* NT: no task return in IA-32e mode. */
	emu_init(&e);
	e.regs.rflags |= FL_NT;
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_GP);
	ck_assert(e.nmi_unblocked);
	ck_unchanged(&e, &before);
	/* The frame on a missing page: #PF, CR2 the first byte there. */
	emu_init(&e);
	e.regs.rsp = HOLE_PAGE - 16;
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_PF);
	ck_assert_uint_eq(e.exc.error_code, 0);
	ck_assert_uint_eq(e.sregs.cr2, HOLE_PAGE);
	ck_assert(e.sregs_changed);
	ck_unchanged(&e, &before);
	/* A non-canonical stack: #SS(0). */
	emu_init(&e);
	e.regs.rsp = 0x00007ffffffffff0ull;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_SS);
	ck_assert_uint_eq(e.exc.error_code, 0);
}
END_TEST

START_TEST(iret_declined)
{
	struct x86_insn insn = iret_insn(8);
	struct x86_emu e, before;
	uint64_t cs[] = { 0x23, 0x18 }; /* outer privilege; compatibility */

	for (size_t i = 0; i < ARRAY_SIZE(cs); i++) {
		emu_init(&e);
		put_frame(e.regs.rsp, 8, 0x100000, cs[i], 0x2, 0x5000, 0x10);
		before = e;
		ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
		ck_assert(!e.exc.valid);
		ck_unchanged(&e, &before);
	}
	/* 16-bit operands, CPL 3, TF, a return to virtual-8086 mode. */
	emu_init(&e);
	insn = iret_insn(2);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	insn = iret_insn(8);
	e.sregs.cs.selector = 0x2b;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	emu_init(&e);
	e.regs.rflags |= FL_TF;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	emu_init(&e);
	insn = iret_insn(4);
	put_frame(e.regs.rsp, 4, 0x100000, 0x08, 0x2 | FL_VM, 0x5000, 0x10);
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	ck_assert(!e.nmi_unblocked);
	ck_unchanged(&e, &before);
}
END_TEST

START_TEST(iret_sets_accessed_bit)
{
	struct x86_insn insn = iret_insn(8);
	struct x86_emu e, before;

	emu_init(&e);
	put_frame(e.regs.rsp, 8, 0x100000, 0x48, 0x2, 0x5000, 0x10);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.sregs.cs.type, 0xb);
	ck_assert_uint_eq(le64_get(hva(GDT + 0x48)), KCODE);

	/* A read-only GDT page: the accessed-bit write faults. */
	le64_put(hva(GDT + 0x48), KCODE & ~(1ull << 40));
	set_pte(PT, GDT >> 12, GDT | P);
	emu_init(&e);
	put_frame(e.regs.rsp, 8, 0x100000, 0x48, 0x2, 0x5000, 0x10);
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_PF);
	ck_assert_uint_eq(e.exc.error_code, X86_PF_P | X86_PF_W);
	ck_assert_uint_eq(e.sregs.cr2, GDT + 0x48 + 5);
	ck_unchanged(&e, &before);
}
END_TEST

START_TEST(clac_stac)
{
	static const uint8_t stac[] = { 0x0f, 0x01, 0xcb };
	static const uint8_t clac[] = { 0x0f, 0x01, 0xca };
	struct x86_insn insn;
	struct x86_emu e, before;

	emu_init(&e);
	e.regs.rflags = 0x2 | FL_CF | FL_RF;
	ck_assert_int_eq(x86_insn_decode(stac, 3, X86_MODE_LONG64, &insn), 0);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rflags, 0x2 | FL_CF | FL_AC);
	ck_assert_uint_eq(e.regs.rip, 0x100003);
	ck_assert_int_eq(x86_insn_decode(clac, 3, X86_MODE_LONG64, &insn), 0);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.regs.rflags, 0x2 | FL_CF);
	ck_assert_uint_eq(e.regs.rip, 0x100006);

	/* #UD above CPL 0, without SMAP in CPUID, with LOCK. */
	for (int k = 0; k < 3; k++) {
		emu_init(&e);
		if (k == 0)
			e.sregs.cs.selector = 0x2b;
		else if (k == 1)
			e.features = X86_FEAT_POPCNT;
		else
			insn.lock = true;
		before = e;
		ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
		ck_assert(e.exc.valid && !e.exc.trap);
		ck_assert_uint_eq(e.exc.vector, X86_VEC_UD);
		ck_unchanged(&e, &before);
	}
}
END_TEST

static struct x86_insn popcnt(const uint8_t *b, size_t n)
{
	struct x86_insn insn;

	ck_assert_int_eq(x86_insn_decode(b, n, X86_MODE_LONG64, &insn), 0);
	ck_assert_int_eq(insn.op, X86_INSN_POPCNT);
	return insn;
}

START_TEST(popcnt_register_sizes)
{
	/* popcnt %rcx, %rax; %ecx, %eax; %cx, %ax */
	static const uint8_t q[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 };
	static const uint8_t l[] = { 0xf3, 0x0f, 0xb8, 0xc1 };
	static const uint8_t w[] = { 0x66, 0xf3, 0x0f, 0xb8, 0xc1 };
	struct x86_insn insn = popcnt(q, sizeof(q));
	struct x86_emu e;

	emu_init(&e);
	e.regs.rcx = 0xf0f0f0f0f0f0f0f1ull;
	e.regs.rax = 0xdead;
	e.regs.rflags = 0x2 | FL_CF | FL_ZF | FL_SF | FL_IF;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rax, 33);
	ck_assert_uint_eq(e.regs.rflags, 0x2 | FL_IF); /* ZF clear: src != 0 */
	ck_assert_uint_eq(e.regs.rip, 0x100005);

	insn = popcnt(l, sizeof(l));
	e.regs.rax = 0xffffffffffffffffull;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.regs.rax, 17); /* zero-extended */

	insn = popcnt(w, sizeof(w));
	e.regs.rax = 0x1234567812345678ull;
	e.regs.rcx = 0xffff0000;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.regs.rax, 0x1234567812340000ull); /* merged */
	ck_assert(e.regs.rflags & FL_ZF);
}
END_TEST

START_TEST(popcnt_memory_operands)
{
	/* popcnt 0x10(%rsp), %rdx */
	static const uint8_t sp[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x54, 0x24, 0x10 };
	/* popcnt 0x8(%rip), %rax */
	static const uint8_t rip[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x05, 8, 0, 0, 0 };
	/* popcnt %fs:(%rdi), %rax with a 32-bit address (0x67) */
	static const uint8_t fs[] = { 0x64, 0x67, 0xf3, 0x48, 0x0f, 0xb8, 0x07 };
	/* popcnt -8(%rbx,%rsi,4), %rax */
	static const uint8_t sib[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x44, 0xb3, 0xf8 };
	struct x86_insn insn = popcnt(sp, sizeof(sp));
	struct x86_emu e;

	emu_init(&e);
	le64_put(hva(e.regs.rsp + 0x10), 0xff);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rdx, 8);

	/* RIP-relative counts from the end of the instruction. */
	emu_init(&e);
	e.regs.rip = STACK_PAGE + 0x100;
	le64_put(hva(STACK_PAGE + 0x100 + sizeof(rip) + 8), 0x7);
	insn = popcnt(rip, sizeof(rip));
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.regs.rax, 3);

	/* FS base added after the 32-bit address wraps. */
	emu_init(&e);
	e.sregs.fs.base = STACK_PAGE;
	e.regs.rdi = 0xffffffff00000040ull;
	le64_put(hva(STACK_PAGE + 0x40), 0x3);
	insn = popcnt(fs, sizeof(fs));
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rax, 2);

	emu_init(&e);
	e.regs.rbx = STACK_PAGE;
	e.regs.rsi = 4;
	le64_put(hva(STACK_PAGE + 8), 0xf);
	insn = popcnt(sib, sizeof(sib));
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.regs.rax, 4);
}
END_TEST

START_TEST(popcnt_faults)
{
	static const uint8_t rdi[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x07 };
	static const uint8_t rbp[] = { 0xf3, 0x48, 0x0f, 0xb8, 0x45, 0x00 };
	struct x86_insn insn = popcnt(rdi, sizeof(rdi));
	struct x86_emu e, before;

	/* A missing page: #PF with CR2, registers as they were. */
	emu_init(&e);
	e.regs.rdi = HOLE_PAGE + 8;
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(e.exc.valid && !e.exc.trap);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_PF);
	ck_assert_uint_eq(e.exc.error_code, 0);
	ck_assert_uint_eq(e.sregs.cr2, HOLE_PAGE + 8);
	ck_unchanged(&e, &before);
	/* Straddling into it: CR2 is the first byte on the missing page. */
	emu_init(&e);
	e.regs.rdi = HOLE_PAGE - 4;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.sregs.cr2, HOLE_PAGE);
	/* Non-canonical: #GP(0), or #SS(0) when RBP-based. */
	emu_init(&e);
	e.regs.rdi = 0x0000800000000000ull;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_GP);
	emu_init(&e);
	e.regs.rbp = 0x00007ffffffffffcull;
	insn = popcnt(rbp, sizeof(rbp));
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_SS);
	/* R12 as a base defaults to DS, not SS: #GP. */
	emu_init(&e);
	e.regs.r12 = 0x00007ffffffffffcull;
	{
		static const uint8_t r12[] = { 0xf3, 0x49, 0x0f, 0xb8, 0x04,
					       0x24 };
		struct x86_insn i12 = popcnt(r12, sizeof(r12));

		ck_assert_int_eq(x86_emulate(&e, &i12), X86_EMU_DONE);
		ck_assert_uint_eq(e.exc.vector, X86_VEC_GP);
	}
	/* A user-mode access to a supervisor page at CPL 3. */
	emu_init(&e);
	e.sregs.cs.selector = 0x2b;
	e.regs.rbp = STACK_PAGE;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_PF);
	ck_assert_uint_eq(e.exc.error_code, X86_PF_P | X86_PF_U);
	/* Not in CPUID: #UD; memory that is not RAM: declined. */
	emu_init(&e);
	e.features = 0;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_UD);
	emu_init(&e);
	set_pte(PD, 3, (64 * MiB) | P | W | PS);
	e.regs.rbp = 6 * MiB;
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	ck_unchanged(&e, &before);
}
END_TEST

START_TEST(fwait_cases)
{
	struct x86_insn insn = { .op = X86_INSN_FWAIT, .len = 1 };
	struct x86_emu e, before;

	/* Nothing pending: RIP past it, RF cleared, nothing else. */
	emu_init(&e);
	e.regs.rflags |= FL_RF;
	e.fsw = 0x3800; /* TOP = 7, no exception */
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert_uint_eq(e.regs.rip, 0x100001);
	ck_assert_uint_eq(e.regs.rflags, 0x2);
	/* CR0.TS alone: nothing; TS and MP: #NM. */
	emu_init(&e);
	e.sregs.cr0 |= 1u << 3;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	emu_init(&e);
	e.sregs.cr0 |= (1u << 3) | (1u << 1);
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(e.exc.valid && !e.exc.trap && !e.exc.has_error_code);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_NM);
	ck_unchanged(&e, &before);
	/* A pending unmasked exception (ES): #MF with CR0.NE ... */
	emu_init(&e);
	e.sregs.cr0 |= 1u << 5;
	e.fsw = 0x81;
	before = e;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_MF);
	ck_unchanged(&e, &before);
	/* ... and without it FERR# would go to the chipset: declined. */
	emu_init(&e);
	e.fsw = 0x81;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DECLINED);
	/* LOCK: #UD. */
	emu_init(&e);
	insn.lock = true;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_UD);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Garbage frames and GDTs: an outcome the SDM allows, nothing half done. */
START_TEST(iret_random_frames)
{
	for (unsigned int iter = 0; iter < 5000; iter++) {
		struct x86_insn insn = iret_insn((rnd() & 1) ? 8 : 4);
		struct x86_emu e, before;
		uint64_t sel[2];

		emu_init(&e);
		e.regs.rflags = (rnd() & 0x3f7fd5) | 0x2;
		e.regs.rflags &= ~(FL_TF | FL_VM);
		for (unsigned int i = 1; i < 10; i++)
			if (rnd() & 1)
				le64_put(hva(GDT + 8 * i), rnd());
		for (unsigned int i = 0; i < 2; i++)
			sel[i] = (rnd() & 3) ? rnd() & 0x57 : rnd();
		put_frame(e.regs.rsp, insn.opsize,
			  (rnd() & 1) ? rnd() : 0x100000 + (rnd() & 0xfff),
			  sel[0], rnd(), rnd(), sel[1]);
		before = e;
		if (x86_emulate(&e, &insn) == X86_EMU_DECLINED) {
			ck_assert(!e.exc.valid);
			ck_unchanged(&e, &before);
			continue;
		}
		if (e.exc.valid) {
			ck_assert(!e.exc.trap);
			ck_unchanged(&e, &before);
			continue;
		}
		ck_assert(e.sregs.cs.l && !e.sregs.cs.db && e.sregs.cs.s);
		ck_assert(e.sregs.cs.present && (e.sregs.cs.type & 0x8));
		ck_assert_uint_eq(e.sregs.cs.selector & 3, 0);
		ck_assert(x86_la_canonical(&e.sregs, e.regs.rip));
		ck_assert(!(e.regs.rflags & (FL_RESERVED | FL_VM)));
		ck_assert(e.regs.rflags & 0x2);
		ck_assert(e.sregs.ss.present && !(e.sregs.ss.type & 0x8));
	}
}
END_TEST

/* Random byte strings: a verdict for each, never a read past n. */
START_TEST(decode_random_bytes)
{
	static const uint8_t likely[] = { 0x66, 0x48, 0xf0, 0x3e, 0xcc,
					  0xcf, 0x0f, 0x01, 0xca, 0xb8,
					  0xf3, 0x04, 0x24, 0x05, 0x9b };
	static const enum x86_cpu_mode modes[] = {
		X86_MODE_PROT16, X86_MODE_PROT32, X86_MODE_LONG64,
	};

	for (unsigned int iter = 0; iter < 30000; iter++) {
		uint8_t buf[20];
		size_t n = rnd() % (sizeof(buf) + 1);
		struct x86_insn insn;
		int ret;

		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd();

			/* Many prefixes and the two opcodes, some noise. */
			buf[i] = (r & 3) ? likely[r % sizeof(likely)] :
					   (uint8_t)(r >> 8);
		}
		ret = x86_insn_decode(buf, n, modes[iter % 3], &insn);
		ck_assert(ret == 0 || ret == -EINVAL || ret == -EOPNOTSUPP);
		if (ret == 0) {
			ck_assert_uint_le(insn.len, n);
			ck_assert_uint_le(insn.len, X86_INSN_MAX_LEN);
			ck_assert(insn.op > X86_INSN_NONE &&
				  insn.op < X86_INSN_NR);
			ck_assert(insn.opsize == 2 || insn.opsize == 4 ||
				  insn.opsize == 8);
		} else {
			ck_assert_int_eq(insn.op, X86_INSN_NONE);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emulate-insn");
	TCase *tc = tcase_create("insn");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, int3_traps_past_itself);
	tcase_add_test(tc, int3_lock_tf_and_modes);
	tcase_add_test(tc, iretq_same_privilege);
	tcase_add_test(tc, iretd_pops_32_bit_slots);
	tcase_add_test(tc, iret_null_ss);
	tcase_add_test(tc, iret_faults);
	tcase_add_test(tc, iret_stack_faults);
	tcase_add_test(tc, iret_declined);
	tcase_add_test(tc, iret_sets_accessed_bit);
	tcase_add_test(tc, iret_random_frames);
	tcase_add_test(tc, clac_stac);
	tcase_add_test(tc, popcnt_register_sizes);
	tcase_add_test(tc, popcnt_memory_operands);
	tcase_add_test(tc, popcnt_faults);
	tcase_add_test(tc, fwait_cases);
	tcase_add_test(tc, decode_random_bytes);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
