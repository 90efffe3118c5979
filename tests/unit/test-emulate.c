// SPDX-License-Identifier: MIT
/*
 * The emulation fallback's pure parts: the decoder (well-formed, prefixed,
 * cut short, too long, not covered), the page-table walker (4- and 5-level,
 * large pages, rights, reserved bits, accessed and dirty bits) and the
 * instructions over a fake register file and plain guest memory: int3 and
 * IRET, their effects and every fault the SDM gives them, and random
 * frames and descriptors that must never crash or half-apply.
 */
#include <errno.h>

#include "emulate-fixture.h"

static struct x86_insn decode64(const uint8_t *b, size_t n)
{
	struct x86_insn insn;

	ck_assert_int_eq(x86_insn_decode(b, n, X86_MODE_LONG64, &insn), 0);
	return insn;
}

/* ---- decoder ---- */

START_TEST(decode_int3_and_iret)
{
	static const uint8_t int3[] = { 0xcc, 0x90, 0x90, 0x90 };
	static const uint8_t iretq[] = { 0x48, 0xcf, 0x90 };
	static const uint8_t iretd[] = { 0xcf };
	static const uint8_t iretw[] = { 0x66, 0xcf };
	struct x86_insn i = decode64(int3, sizeof(int3));

	ck_assert_int_eq(i.op, X86_INSN_INT3);
	ck_assert_uint_eq(i.len, 1);
	ck_assert(!i.lock);
	i = decode64(iretq, sizeof(iretq));
	ck_assert_int_eq(i.op, X86_INSN_IRET);
	ck_assert_uint_eq(i.len, 2);
	ck_assert_uint_eq(i.opsize, 8);
	i = decode64(iretd, sizeof(iretd));
	ck_assert_uint_eq(i.opsize, 4);
	ck_assert_uint_eq(i.len, 1);
	i = decode64(iretw, sizeof(iretw));
	ck_assert_uint_eq(i.opsize, 2);
	ck_assert_str_eq(x86_insn_name(X86_INSN_INT3), "int3");
	ck_assert_str_eq(x86_insn_name(X86_INSN_IRET), "iret");
	ck_assert_str_eq(x86_insn_name((enum x86_insn_op)99), "?");
}
END_TEST

START_TEST(decode_prefixes)
{
	static const uint8_t lock_int3[] = { 0xf0, 0xcc };
	static const uint8_t seg_int3[] = { 0x3e, 0x2e, 0x67, 0xcc };
	static const uint8_t w_then_66[] = { 0x66, 0x48, 0xcf };
	static const uint8_t rex_lost[] = { 0x48, 0x66, 0xcf };
	static const uint8_t two_rex[] = { 0x48, 0x40, 0xcf };
	struct x86_insn i = decode64(lock_int3, sizeof(lock_int3));

	ck_assert(i.lock);
	ck_assert_uint_eq(i.len, 2);
	i = decode64(seg_int3, sizeof(seg_int3));
	ck_assert_uint_eq(i.len, 4);
	ck_assert_uint_eq(i.nr_prefixes, 3);
	/* REX.W beats 0x66 ... */
	ck_assert_uint_eq(decode64(w_then_66, 3).opsize, 8);
	/* ... but a REX followed by a legacy prefix is ignored ... */
	i = decode64(rex_lost, 3);
	ck_assert_uint_eq(i.opsize, 2);
	ck_assert_uint_eq(i.rex, 0);
	/* ... and of two REX bytes only the last counts. */
	i = decode64(two_rex, 3);
	ck_assert_uint_eq(i.rex, 0x40);
	ck_assert_uint_eq(i.opsize, 4);
}
END_TEST

START_TEST(decode_modes)
{
	static const uint8_t rex_int3[] = { 0x48, 0xcc };
	static const uint8_t iretw[] = { 0x66, 0xcf };
	static const uint8_t iret[] = { 0xcf };
	struct x86_insn i;

	/* Outside 64-bit mode 0x48 is dec %eax, not a prefix. */
	ck_assert_int_eq(x86_insn_decode(rex_int3, 2, X86_MODE_PROT32, &i),
			 -EOPNOTSUPP);
	ck_assert_int_eq(x86_insn_decode(iretw, 2, X86_MODE_PROT32, &i), 0);
	ck_assert_uint_eq(i.opsize, 2);
	ck_assert_int_eq(x86_insn_decode(iret, 1, X86_MODE_PROT16, &i), 0);
	ck_assert_uint_eq(i.opsize, 2);
	ck_assert_int_eq(x86_insn_decode(iretw, 2, X86_MODE_PROT16, &i), 0);
	ck_assert_uint_eq(i.opsize, 4);
}
END_TEST

START_TEST(decode_malformed)
{
	uint8_t b[20] = { 0 };
	struct x86_insn i;

	ck_assert_int_eq(x86_insn_decode(b, 0, X86_MODE_LONG64, &i), -EINVAL);
	memset(b, 0x66, sizeof(b));
	/* Prefixes only, however many bytes KVM hands over. */
	ck_assert_int_eq(x86_insn_decode(b, 2, X86_MODE_LONG64, &i), -EINVAL);
	ck_assert_int_eq(x86_insn_decode(b, 20, X86_MODE_LONG64, &i), -EINVAL);
	/* 14 prefixes and the opcode: 15 bytes, the most there can be. */
	b[14] = 0xcc;
	ck_assert_int_eq(x86_insn_decode(b, 20, X86_MODE_LONG64, &i), 0);
	ck_assert_uint_eq(i.len, 15);
	/* 15 prefixes: the opcode would be the 16th byte. */
	b[14] = 0x66;
	b[15] = 0xcc;
	ck_assert_int_eq(x86_insn_decode(b, 20, X86_MODE_LONG64, &i), -EINVAL);
	/* A REX with nothing after it. */
	b[0] = 0x48;
	ck_assert_int_eq(x86_insn_decode(b, 1, X86_MODE_LONG64, &i), -EINVAL);
}
END_TEST

START_TEST(decode_not_covered)
{
	static const uint8_t seqs[][4] = {
		{ 0x0f, 0x0b, 0 }, /* ud2 */
		{ 0xcd, 0x03, 0 }, /* int $3: INT n, not INT3 */
		{ 0x90, 0, 0 }, { 0xf4, 0, 0 }, { 0xca, 0, 0 }, /* lret imm */
		{ 0x0f, 0x07, 0 }, /* sysret */
		{ 0x0f, 0x01, 0xf9 }, /* rdtscp */
		{ 0x66, 0x0f, 0x01, 0xca }, /* a mandatory prefix: not clac */
		{ 0x0f, 0xb8, 0xc0 }, /* jmpe, not popcnt: no f3 */
		{ 0xf2, 0xf3, 0x0f, 0xb8 }, /* f2 and f3 together */
		{ 0x0f, 0x38, 0x82 }, /* invpcid without 66 */
	};
	struct x86_insn i;

	for (size_t k = 0; k < ARRAY_SIZE(seqs); k++)
		ck_assert_int_eq(
			x86_insn_decode(seqs[k], 4, X86_MODE_LONG64, &i),
			-EOPNOTSUPP);
	ck_assert_int_eq(i.op, X86_INSN_NONE);
}
END_TEST

START_TEST(decode_fwait)
{
	/* fwait alone, and the fwait of "finit" (9b db e3): one byte. */
	static const uint8_t fwait[] = { 0x9b, 0x65, 0x48 };
	static const uint8_t finit[] = { 0x9b, 0xdb, 0xe3 };
	struct x86_insn i = decode64(fwait, sizeof(fwait));

	ck_assert_int_eq(i.op, X86_INSN_FWAIT);
	ck_assert_uint_eq(i.len, 1);
	i = decode64(finit, sizeof(finit));
	ck_assert_int_eq(i.op, X86_INSN_FWAIT);
	ck_assert_uint_eq(i.len, 1);
	ck_assert_str_eq(x86_insn_name(i.op), "fwait");
}
END_TEST

START_TEST(decode_clac_stac)
{
	static const uint8_t clac[] = { 0x0f, 0x01, 0xca, 0x90 };
	static const uint8_t stac[] = { 0x0f, 0x01, 0xcb };
	struct x86_insn i = decode64(clac, sizeof(clac));

	ck_assert_int_eq(i.op, X86_INSN_CLAC);
	ck_assert_uint_eq(i.len, 3);
	ck_assert(!i.has_modrm);
	i = decode64(stac, sizeof(stac));
	ck_assert_int_eq(i.op, X86_INSN_STAC);
	ck_assert_str_eq(x86_insn_name(i.op), "stac");
	/* Cut short after the escape, or before the third byte. */
	ck_assert_int_eq(x86_insn_decode(stac, 1, X86_MODE_LONG64, &i),
			 -EINVAL);
	ck_assert_int_eq(x86_insn_decode(stac, 2, X86_MODE_LONG64, &i),
			 -EINVAL);
}
END_TEST

/* popcnt's ModRM operand in each addressing form. */
START_TEST(decode_popcnt_operands)
{
	static const struct {
		uint8_t bytes[12];
		size_t n;
		uint8_t len, opsize, mod, reg, rm;
		bool base, index, rip;
		uint8_t base_reg, index_reg, scale;
		int32_t disp;
	} cases[] = {
		/* popcnt %rcx, %rax: f3 48 0f b8 c1 */
		{ { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 }, 5, 5, 8, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0 },
		/* popcnt %r9d, %r10d: f3 45 0f b8 d1 */
		{ { 0xf3, 0x45, 0x0f, 0xb8, 0xd1 }, 5, 5, 4, 3, 10, 9, 0, 0, 0, 0, 0, 0, 0 },
		/* popcnt %cx, %ax: 66 f3 0f b8 c1 */
		{ { 0x66, 0xf3, 0x0f, 0xb8, 0xc1 }, 5, 5, 2, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0 },
		/* popcnt (%rdi), %rax */
		{ { 0xf3, 0x48, 0x0f, 0xb8, 0x07 }, 5, 5, 8, 0, 0, 7, true,
		  false, false, 7, 0, 0, 0 },
		/* popcnt 0x10(%rsp), %rdx: SIB with no index */
		{ { 0xf3, 0x48, 0x0f, 0xb8, 0x54, 0x24, 0x10 }, 7, 7, 8, 1, 2,
		  4, true, false, false, 4, 0, 1, 0x10 },
		/* popcnt -0x80(%rbx,%r12,8), %rax: disp32 */
		{ { 0xf3, 0x4a, 0x0f, 0xb8, 0x84, 0xe3, 0x80, 0xff, 0xff,
		    0xff },
		  10, 10, 8, 2, 0, 4, true, true, false, 3, 12, 8, -0x80 },
		/* popcnt 0x1000(%rip), %rax */
		{ { 0xf3, 0x48, 0x0f, 0xb8, 0x05, 0x00, 0x10, 0, 0 }, 9, 9,
		  8, 0, 0, 5, false, false, true, 0, 0, 0, 0x1000 },
		/* popcnt 0x20(,%rcx,4), %rax: no base, disp32 */
		{ { 0xf3, 0x48, 0x0f, 0xb8, 0x04, 0x8d, 0x20, 0, 0, 0 }, 10,
		  10, 8, 0, 0, 4, false, true, false, 0, 1, 4, 0x20 },
		/* popcnt 8(%r13), %rax: r13 with mod 1 is a base */
		{ { 0xf3, 0x49, 0x0f, 0xb8, 0x45, 0x08 }, 6, 6, 8, 1, 0, 13,
		  true, false, false, 13, 0, 0, 8 },
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		struct x86_insn i = decode64(cases[k].bytes, cases[k].n);

		ck_assert_int_eq(i.op, X86_INSN_POPCNT);
		ck_assert_msg(i.len == cases[k].len, "case %zu: len %u", k,
			      i.len);
		ck_assert_uint_eq(i.opsize, cases[k].opsize);
		ck_assert(i.has_modrm);
		ck_assert_uint_eq(i.mod, cases[k].mod);
		ck_assert_uint_eq(i.reg, cases[k].reg);
		ck_assert_uint_eq(i.rm, cases[k].rm);
		if (i.mod == 3)
			continue;
		ck_assert_msg(i.has_base == cases[k].base, "case %zu", k);
		ck_assert_msg(i.has_index == cases[k].index, "case %zu", k);
		ck_assert_msg(i.rip_relative == cases[k].rip, "case %zu", k);
		if (i.has_base)
			ck_assert_uint_eq(i.base, cases[k].base_reg);
		if (i.has_index) {
			ck_assert_uint_eq(i.index, cases[k].index_reg);
			ck_assert_uint_eq(i.scale, cases[k].scale);
		}
		ck_assert_int_eq(i.disp, cases[k].disp);
		/* Every shorter prefix of the bytes is cut short. */
		for (size_t n = 0; n < cases[k].n; n++)
			ck_assert_int_eq(x86_insn_decode(cases[k].bytes, n,
							 X86_MODE_LONG64, &i),
					 -EINVAL);
	}
}
END_TEST

START_TEST(decode_segment_and_address_size)
{
	static const uint8_t fs_67[] = { 0x64, 0x67, 0xf3, 0x48,
					 0x0f, 0xb8, 0x00 };
	static const uint8_t ds_gs[] = { 0x3e, 0x65, 0xf3, 0x0f, 0xb8, 0x00 };
	struct x86_insn i = decode64(fs_67, sizeof(fs_67));

	ck_assert_int_eq(i.seg, X86_SEG_FS);
	ck_assert_uint_eq(i.addrsize, 4);
	i = decode64(ds_gs, sizeof(ds_gs));
	ck_assert_int_eq(i.seg, X86_SEG_GS); /* the last one given */
	ck_assert_uint_eq(i.addrsize, 8);
	/* 16-bit addressing (0x67 in 32-bit code) is not covered. */
	ck_assert_int_eq(x86_insn_decode(fs_67 + 1, 6, X86_MODE_PROT16, &i),
			 -EOPNOTSUPP);
}
END_TEST

START_TEST(cpu_modes)
{
	struct kvm_sregs s = long_mode_sregs();

	ck_assert_int_eq(x86_cpu_mode_of(&s), X86_MODE_LONG64);
	s.cs.l = 0;
	s.cs.db = 1;
	ck_assert_int_eq(x86_cpu_mode_of(&s), X86_MODE_PROT32);
	s.cs.db = 0;
	ck_assert_int_eq(x86_cpu_mode_of(&s), X86_MODE_PROT16);
	s.cr0 = 0;
	ck_assert_int_eq(x86_cpu_mode_of(&s), X86_MODE_REAL);
}
END_TEST

/* ---- page-table walker ---- */

static int walk(const struct kvm_sregs *s, uint64_t la, unsigned int access,
		uint64_t *gpa, uint32_t *err)
{
	return x86_mmu_translate(&mem, s, 0x2, 46, la, access, gpa, err);
}

START_TEST(walk_4k_2m_1g)
{
	struct kvm_sregs s = long_mode_sregs();
	uint64_t gpa = 0;
	uint32_t err = 0;

	ck_assert_int_eq(walk(&s, STACK_PAGE + 0x123, 0, &gpa, &err), 0);
	ck_assert_uint_eq(gpa, STACK_PAGE + 0x123);
	/* Accessed set on the path, dirty not (a read). */
	ck_assert(pte(PML4) & A);
	ck_assert(pte(PD) & A);
	ck_assert(pte(PT + (STACK_PAGE >> 12) * 8) & A);
	ck_assert(!(pte(PT + (STACK_PAGE >> 12) * 8) & D));
	ck_assert_int_eq(walk(&s, STACK_PAGE, X86_ACCESS_WRITE, &gpa, &err), 0);
	ck_assert(pte(PT + (STACK_PAGE >> 12) * 8) & D);
	ck_assert(!(pte(PD) & D)); /* only the leaf gets dirty */

	/* A 2 MiB page mapped elsewhere. */
	set_pte(PD, 1, (6 * MiB) | P | W | PS);
	ck_assert_int_eq(walk(&s, 2 * MiB + 0x1234, 0, &gpa, &err), 0);
	ck_assert_uint_eq(gpa, 6 * MiB + 0x1234);
	/* A 1 GiB page, in the higher half: PML4[511] -> PDPT[510]. */
	set_pte(PML4, 511, PDPT | P | W);
	set_pte(PDPT, 510, 0 | P | W | PS);
	ck_assert_int_eq(walk(&s, 0xffffffff80001234ull, 0, &gpa, &err), 0);
	ck_assert_uint_eq(gpa, 0x1234);
}
END_TEST

START_TEST(walk_5_level)
{
	struct kvm_sregs s = long_mode_sregs();
	uint64_t gpa = 0, la = (0xffull << 48) | STACK_PAGE;
	uint32_t err = 0;

	s.cr4 |= CR4_LA57;
	s.cr3 = PML5;
	/* Bits 56:48 of la select the PML5 entry. */
	set_pte(PML5, 0xff, PML4 | P | W);
	ck_assert_int_eq(walk(&s, la, 0, &gpa, &err), 0);
	ck_assert_uint_eq(gpa, STACK_PAGE);
	/* 48-bit canonical is not 57-bit canonical and the other way. */
	ck_assert(x86_la_canonical(&s, 0x00ff000000000000ull));
	s.cr4 &= ~CR4_LA57;
	ck_assert(!x86_la_canonical(&s, 0x00ff000000000000ull));
	ck_assert(x86_la_canonical(&s, 0xffff800000000000ull));
	ck_assert(!x86_la_canonical(&s, 0xfff0800000000000ull));
}
END_TEST

START_TEST(walk_faults)
{
	struct kvm_sregs s = long_mode_sregs();
	uint64_t gpa = 0;
	uint32_t err = 0;

	ck_assert_int_eq(walk(&s, HOLE_PAGE, 0, &gpa, &err), -EFAULT);
	ck_assert_uint_eq(err, 0);
	ck_assert_int_eq(walk(&s, HOLE_PAGE, X86_ACCESS_WRITE, &gpa, &err),
			 -EFAULT);
	ck_assert_uint_eq(err, X86_PF_W);
	/* PML4[1] is empty: a fault at the top level. */
	ck_assert_int_eq(walk(&s, 1ull << 39, X86_ACCESS_USER, &gpa, &err),
			 -EFAULT);
	ck_assert_uint_eq(err, X86_PF_U);
	/* Read-only page: writes fault with CR0.WP, pass without it. */
	ck_assert_int_eq(walk(&s, RO_PAGE, 0, &gpa, &err), 0);
	ck_assert_int_eq(walk(&s, RO_PAGE, X86_ACCESS_WRITE, &gpa, &err),
			 -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_W);
	ck_assert(!(pte(PT + (RO_PAGE >> 12) * 8) & D)); /* no D on a fault */
	s.cr0 &= ~CR0_WP;
	ck_assert_int_eq(walk(&s, RO_PAGE, X86_ACCESS_WRITE, &gpa, &err), 0);
	/* ... but never for a user access. */
	set_pte(PT, RO_PAGE >> 12, RO_PAGE | P | U);
	ck_assert_int_eq(walk(&s, RO_PAGE, X86_ACCESS_WRITE | X86_ACCESS_USER,
			      &gpa, &err),
			 -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_W | X86_PF_U);
	/* A user access to a supervisor page. */
	ck_assert_int_eq(walk(&s, STACK_PAGE, X86_ACCESS_USER, &gpa, &err),
			 -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_U);
	ck_assert_int_eq(walk(&s, USER_PAGE, X86_ACCESS_USER, &gpa, &err), 0);
}
END_TEST

START_TEST(walk_reserved_bits)
{
	struct kvm_sregs s = long_mode_sregs();
	uint64_t gpa = 0;
	uint32_t err = 0;

	/* Above MAXPHYADDR (46). */
	set_pte(PT, STACK_PAGE >> 12, STACK_PAGE | P | W | (1ull << 50));
	ck_assert_int_eq(walk(&s, STACK_PAGE, 0, &gpa, &err), -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_RSVD);
	/* XD without EFER.NXE. */
	set_pte(PT, STACK_PAGE >> 12, STACK_PAGE | P | W | (1ull << 63));
	ck_assert_int_eq(walk(&s, STACK_PAGE, 0, &gpa, &err), 0);
	s.efer &= ~EFER_NXE;
	ck_assert_int_eq(walk(&s, STACK_PAGE, X86_ACCESS_WRITE, &gpa, &err),
			 -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_RSVD | X86_PF_W);
	/* PS in a PML4E; the low address bits of a 2 MiB page. */
	s.efer |= EFER_NXE;
	set_pte(PML4, 0, PDPT | P | W | U | PS);
	ck_assert_int_eq(walk(&s, STACK_PAGE, 0, &gpa, &err), -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_RSVD);
	set_pte(PML4, 0, PDPT | P | W | U);
	set_pte(PD, 2, (4 * MiB) | 0x2000 | P | W | PS);
	ck_assert_int_eq(walk(&s, 4 * MiB, 0, &gpa, &err), -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P | X86_PF_RSVD);
	/* ... while bit 12 of a large page is PAT, not an address bit. */
	set_pte(PD, 2, (4 * MiB) | 0x1000 | P | W | PS);
	ck_assert_int_eq(walk(&s, 4 * MiB + 8, 0, &gpa, &err), 0);
	ck_assert_uint_eq(gpa, 4 * MiB + 8);
}
END_TEST

START_TEST(walk_smap_and_modes)
{
	struct kvm_sregs s = long_mode_sregs();
	uint64_t gpa = 0;
	uint32_t err = 0;

	s.cr4 |= CR4_SMAP;
	ck_assert_int_eq(walk(&s, USER_PAGE, 0, &gpa, &err), -EFAULT);
	ck_assert_uint_eq(err, X86_PF_P);
	/* RFLAGS.AC lifts SMAP for explicit accesses only. */
	ck_assert_int_eq(x86_mmu_translate(&mem, &s, 0x2 | (1 << 18), 46,
					   USER_PAGE, 0, &gpa, &err),
			 0);
	ck_assert_int_eq(x86_mmu_translate(&mem, &s, 0x2 | (1 << 18), 46,
					   USER_PAGE, X86_ACCESS_IMPLICIT,
					   &gpa, &err),
			 -EFAULT);
	ck_assert_int_eq(walk(&s, STACK_PAGE, 0, &gpa, &err), 0);
	/* Protection keys on a user page: not covered. */
	s.cr4 = CR4_PAE | CR4_PKE;
	ck_assert_int_eq(walk(&s, USER_PAGE, X86_ACCESS_USER, &gpa, &err),
			 -EOPNOTSUPP);
	/* Non-canonical, paging off, PAE paging, tables outside RAM. */
	s = long_mode_sregs();
	ck_assert_int_eq(walk(&s, 0x0000800000000000ull, 0, &gpa, &err),
			 -EINVAL);
	s.cr0 &= ~CR0_PG;
	ck_assert_int_eq(walk(&s, 0x12345678, 0, &gpa, &err), 0);
	ck_assert_uint_eq(gpa, 0x12345678);
	s = long_mode_sregs();
	s.efer &= ~EFER_LMA;
	ck_assert_int_eq(walk(&s, 0x1000, 0, &gpa, &err), -EOPNOTSUPP);
	s = long_mode_sregs();
	s.cr3 = 64 * MiB;
	ck_assert_int_eq(walk(&s, 0x1000, 0, &gpa, &err), -EOPNOTSUPP);
	s = long_mode_sregs();
	ck_assert_int_eq(x86_mmu_translate(&mem, &s, 2, 20, 0x1000, 0, &gpa,
					   &err),
			 -EOPNOTSUPP);
}
END_TEST

START_TEST(emu_memory_split)
{
	struct x86_emu e;
	uint8_t buf[16];

	emu_init(&e);
	/* A read that crosses into the hole faults at the hole's address. */
	ck_assert_int_eq(x86_emu_read(&e, HOLE_PAGE - 8, buf, 16, 0), -EFAULT);
	ck_assert(e.exc.valid);
	ck_assert_uint_eq(e.exc.vector, X86_VEC_PF);
	ck_assert_uint_eq(e.sregs.cr2, HOLE_PAGE);
	/* A write across a read-only page writes neither page. */
	emu_init(&e);
	memset(hva(RO_PAGE - 8), 0xaa, 8);
	memset(buf, 0x55, sizeof(buf));
	ck_assert_int_eq(x86_emu_write(&e, RO_PAGE - 8, buf, 16, 0), -EFAULT);
	ck_assert_uint_eq(e.exc.error_code, X86_PF_P | X86_PF_W);
	ck_assert_uint_eq(hva(RO_PAGE - 8)[0], 0xaa);
	/* Memory past RAM (a 2 MiB page at 64 MiB) is declined. */
	emu_init(&e);
	set_pte(PD, 3, (64 * MiB) | P | W | PS);
	ck_assert_int_eq(x86_emu_read(&e, 6 * MiB, buf, 8, 0), -EOPNOTSUPP);
	ck_assert(!e.exc.valid);
	ck_assert_str_ne(e.why, "");
	ck_assert_int_eq(x86_emu_read(&e, 0x1000, buf, 0, 0), -EOPNOTSUPP);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emulate");
	TCase *tc = tcase_create("decode");

	tcase_add_test(tc, decode_int3_and_iret);
	tcase_add_test(tc, decode_prefixes);
	tcase_add_test(tc, decode_modes);
	tcase_add_test(tc, decode_malformed);
	tcase_add_test(tc, decode_not_covered);
	tcase_add_test(tc, decode_clac_stac);
	tcase_add_test(tc, decode_fwait);
	tcase_add_test(tc, decode_popcnt_operands);
	tcase_add_test(tc, decode_segment_and_address_size);
	tcase_add_test(tc, cpu_modes);
	suite_add_tcase(s, tc);
	tc = tcase_create("mmu");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, walk_4k_2m_1g);
	tcase_add_test(tc, walk_5_level);
	tcase_add_test(tc, walk_faults);
	tcase_add_test(tc, walk_reserved_bits);
	tcase_add_test(tc, walk_smap_and_modes);
	tcase_add_test(tc, emu_memory_split);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
