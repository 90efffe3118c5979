// SPDX-License-Identifier: MIT
/*
 * LDMXCSR and STMXCSR in the emulation fallback (the gap Debian's kernel
 * met in kernel_fpu_begin_mask(), docs/linux-guest.md): decoded only with
 * a memory operand and no mandatory prefix; loaded and stored as the SDM
 * gives them; every #UD, #NM, #GP and #PF they raise leaves the registers
 * and MXCSR as they were.
 */
#include <errno.h>
#include <glib.h>

#include "emulate-fixture.h"

#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR4_OSFXSR (1ull << 9)
#define MXCSR_DEFAULT 0x1f80u
#define MXCSR_MASK_AMD 0x2ffffu /* with MM (bit 17), as AMD's FXSAVE says */

static void mxcsr_init(struct x86_emu *e)
{
	emu_init(e);
	e->sregs.cr4 |= CR4_OSFXSR;
	e->features |= X86_FEAT_SSE;
	e->mxcsr = MXCSR_DEFAULT;
	e->mxcsr_mask = MXCSR_MASK_AMD;
}

static struct x86_insn decoded(const uint8_t *b, size_t n,
			       enum x86_insn_op op)
{
	struct x86_insn insn;

	ck_assert_int_eq(x86_insn_decode(b, n, X86_MODE_LONG64, &insn), 0);
	ck_assert_int_eq(insn.op, op);
	return insn;
}

START_TEST(decode_group15)
{
	/* ldmxcsr 0x4(%rsp): the kernel's bytes */
	static const uint8_t ld[] = { 0x0f, 0xae, 0x54, 0x24, 0x04 };
	/* stmxcsr (%rdi); with REX.R, still /3 */
	static const uint8_t st[] = { 0x0f, 0xae, 0x1f };
	static const uint8_t st_rexr[] = { 0x44, 0x0f, 0xae, 0x1f };
	/* Not these: sfence/lfence/mfence (mod 3), fxsave (/0), clflush
	 * (/7), wrfsbase (f3 0f ae /2 mod 3), a 66-prefixed ldmxcsr form. */
	static const uint8_t others[][4] = {
		{ 0x0f, 0xae, 0xf8 }, { 0x0f, 0xae, 0xe8 }, { 0x0f, 0xae, 0xf0 },
		{ 0x0f, 0xae, 0x07 }, { 0x0f, 0xae, 0x3f }, { 0xf3, 0x0f, 0xae, 0xd7 },
		{ 0x66, 0x0f, 0xae, 0x17 },
	};
	struct x86_insn insn = decoded(ld, sizeof(ld), X86_INSN_LDMXCSR);

	ck_assert_uint_eq(insn.len, 5);
	ck_assert(insn.has_base && insn.base == 4 && insn.disp == 4);
	insn = decoded(st, sizeof(st), X86_INSN_STMXCSR);
	ck_assert_uint_eq(insn.len, 3);
	decoded(st_rexr, sizeof(st_rexr), X86_INSN_STMXCSR);
	for (unsigned int i = 0; i < G_N_ELEMENTS(others); i++) {
		size_t n = others[i][0] == 0x0f ? 3 : 4;

		ck_assert_int_eq(x86_insn_decode(others[i], n, X86_MODE_LONG64,
						 &insn),
				 -EOPNOTSUPP);
	}
	/* Cut short before the SIB byte: malformed, never guessed. */
	ck_assert_int_eq(x86_insn_decode(ld, 3, X86_MODE_LONG64, &insn), -EINVAL);
	ck_assert_str_eq(x86_insn_name(X86_INSN_LDMXCSR), "ldmxcsr");
	ck_assert_str_eq(x86_insn_name(X86_INSN_STMXCSR), "stmxcsr");
}
END_TEST

START_TEST(load_and_store)
{
	static const uint8_t ld[] = { 0x0f, 0xae, 0x54, 0x24, 0x04 };
	static const uint8_t st[] = { 0x0f, 0xae, 0x1f };
	struct x86_insn insn = decoded(ld, sizeof(ld), X86_INSN_LDMXCSR);
	struct x86_emu e;

	mxcsr_init(&e);
	/* Round toward zero, all masked, MM: allowed by AMD's mask. */
	le32_put(hva(e.regs.rsp + 4), 0x27f80);
	e.regs.rflags = 0x2 | (1ull << 16); /* RF */
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid);
	ck_assert(e.mxcsr_changed);
	ck_assert_uint_eq(e.mxcsr, 0x27f80);
	ck_assert_uint_eq(e.regs.rip, 0x100005);
	ck_assert_uint_eq(e.regs.rflags, 0x2); /* RF cleared */

	insn = decoded(st, sizeof(st), X86_INSN_STMXCSR);
	e.mxcsr_changed = false;
	e.regs.rdi = STACK_PAGE + 0x40;
	le32_put(hva(STACK_PAGE + 0x40), 0xdeadbeef);
	le32_put(hva(STACK_PAGE + 0x44), 0x12345678);
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(!e.exc.valid && !e.mxcsr_changed);
	ck_assert_uint_eq(le32_get(hva(STACK_PAGE + 0x40)), 0x27f80);
	ck_assert_uint_eq(le32_get(hva(STACK_PAGE + 0x44)), 0x12345678);
	ck_assert_uint_eq(e.regs.rip, 0x100008);
}
END_TEST

/* The fault leaves registers and MXCSR as they were. */
static void ck_fault(struct x86_emu *e, const struct x86_insn *insn,
		     uint8_t vector, bool has_error_code)
{
	struct x86_emu before = *e;

	ck_assert_int_eq(x86_emulate(e, insn), X86_EMU_DONE);
	ck_assert(e->exc.valid && !e->exc.trap);
	ck_assert_uint_eq(e->exc.vector, vector);
	ck_assert(e->exc.has_error_code == has_error_code);
	if (has_error_code)
		ck_assert_uint_eq(e->exc.error_code, 0);
	ck_assert(!e->mxcsr_changed);
	ck_assert_uint_eq(e->mxcsr, before.mxcsr);
	ck_assert(memcmp(&e->regs, &before.regs, sizeof(e->regs)) == 0);
}

START_TEST(faults)
{
	static const uint8_t ld[] = { 0x0f, 0xae, 0x17 }; /* ldmxcsr (%rdi) */
	static const uint8_t st[] = { 0x0f, 0xae, 0x1f }; /* stmxcsr (%rdi) */
	static const uint8_t ld_rbp[] = { 0x0f, 0xae, 0x55, 0x00 };
	static const uint8_t lock_ld[] = { 0xf0, 0x0f, 0xae, 0x17 };
	struct x86_insn insn = decoded(ld, sizeof(ld), X86_INSN_LDMXCSR);
	struct x86_emu e;

	/* A bit outside the mask: #GP(0), nothing loaded. */
	mxcsr_init(&e);
	e.regs.rdi = STACK_PAGE + 0x40;
	le32_put(hva(STACK_PAGE + 0x40), 0x80001f80);
	ck_fault(&e, &insn, X86_VEC_GP, true);
	/* Bit 17 (MM) where the CPU's mask lacks it (Intel's 0xffff). */
	mxcsr_init(&e);
	e.mxcsr_mask = 0xffff;
	e.regs.rdi = STACK_PAGE + 0x40;
	le32_put(hva(STACK_PAGE + 0x40), 0x21f80);
	ck_fault(&e, &insn, X86_VEC_GP, true);
	/* #UD: CR0.EM, no CR4.OSFXSR, no SSE, LOCK. */
	mxcsr_init(&e);
	e.regs.rdi = STACK_PAGE + 0x40;
	le32_put(hva(STACK_PAGE + 0x40), 0x1f80);
	e.sregs.cr0 |= CR0_EM;
	ck_fault(&e, &insn, X86_VEC_UD, false);
	mxcsr_init(&e);
	e.regs.rdi = STACK_PAGE + 0x40;
	e.sregs.cr4 &= ~CR4_OSFXSR;
	ck_fault(&e, &insn, X86_VEC_UD, false);
	mxcsr_init(&e);
	e.regs.rdi = STACK_PAGE + 0x40;
	e.features &= ~X86_FEAT_SSE;
	ck_fault(&e, &insn, X86_VEC_UD, false);
	mxcsr_init(&e);
	e.regs.rdi = STACK_PAGE + 0x40;
	insn = decoded(lock_ld, sizeof(lock_ld), X86_INSN_LDMXCSR);
	ck_fault(&e, &insn, X86_VEC_UD, false);
	/* #NM with CR0.TS, before the memory operand is looked at. */
	insn = decoded(ld, sizeof(ld), X86_INSN_LDMXCSR);
	mxcsr_init(&e);
	e.regs.rdi = HOLE_PAGE;
	e.sregs.cr0 |= CR0_TS;
	ck_fault(&e, &insn, X86_VEC_NM, false);
	/* A missing page: #PF with CR2 (a write for stmxcsr). */
	mxcsr_init(&e);
	e.regs.rdi = HOLE_PAGE + 0x10;
	ck_fault(&e, &insn, X86_VEC_PF, true);
	ck_assert_uint_eq(e.sregs.cr2, HOLE_PAGE + 0x10);
	insn = decoded(st, sizeof(st), X86_INSN_STMXCSR);
	mxcsr_init(&e);
	e.regs.rdi = HOLE_PAGE + 0x20;
	ck_assert_int_eq(x86_emulate(&e, &insn), X86_EMU_DONE);
	ck_assert(e.exc.valid && e.exc.vector == X86_VEC_PF);
	ck_assert(e.exc.error_code & X86_PF_W);
	ck_assert_uint_eq(e.sregs.cr2, HOLE_PAGE + 0x20);
	/* Non-canonical: #GP(0), #SS(0) when RBP-based. */
	mxcsr_init(&e);
	e.regs.rdi = 0x0000800000000000ull;
	insn = decoded(ld, sizeof(ld), X86_INSN_LDMXCSR);
	ck_fault(&e, &insn, X86_VEC_GP, true);
	mxcsr_init(&e);
	e.regs.rbp = 0x0000800000000000ull;
	insn = decoded(ld_rbp, sizeof(ld_rbp), X86_INSN_LDMXCSR);
	ck_fault(&e, &insn, X86_VEC_SS, true);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emulate-mxcsr");
	TCase *tc = tcase_create("mxcsr");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, decode_group15);
	tcase_add_test(tc, load_and_store);
	tcase_add_test(tc, faults);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
