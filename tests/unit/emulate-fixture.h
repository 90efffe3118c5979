/* SPDX-License-Identifier: MIT */
/*
 * What test-emulate.c and test-emulate-insn.c share: 16 MiB of guest
 * memory with 4-level page tables (2 MiB pages, the first 2 MiB through a
 * page table holding a read-only, a user and a missing page), a GDT, and
 * a register file in 64-bit mode at CPL 0.
 */
#ifndef TERN_TEST_EMULATE_FIXTURE_H
#define TERN_TEST_EMULATE_FIXTURE_H

#include <string.h>

#include "tern/emulate.h"
#include "tern/le.h"
#include "unit.h"

#define MEM_SIZE (16 * MiB)
#define PML4 0x1000ull
#define PDPT 0x2000ull
#define PD 0x3000ull
#define PT 0x4000ull
#define PML5 0x5000ull
#define GDT 0x6000ull
#define STACK_PAGE 0x7000ull /* 4 KiB page mapped through PT */
#define RO_PAGE 0x8000ull /* read-only, through PT */
#define USER_PAGE 0x9000ull /* user-accessible, through PT */
#define HOLE_PAGE 0xa000ull /* not present in PT */

#define P 0x1ull
#define W 0x2ull
#define U 0x4ull
#define A 0x20ull
#define D 0x40ull
#define PS 0x80ull

#define CR0_PE 0x1ull
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define CR4_SMAP (1ull << 21)
#define CR4_PKE (1ull << 22)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

#define KCODE 0x00af9b000000ffffull /* 64-bit code, DPL 0, accessed */
#define KDATA 0x00cf93000000ffffull /* data, writable, DPL 0, accessed */
#define CODE32 0x00cf9b000000ffffull /* 32-bit code (L = 0) */
#define UCODE 0x00affb000000ffffull /* 64-bit code, DPL 3 */

static struct guest_memory mem;

static inline uint8_t *hva(uint64_t gpa)
{
	return guest_memory_ptr(&mem, gpa, 1);
}

static inline uint64_t pte(uint64_t gpa)
{
	return le64_get(hva(gpa));
}

static inline void set_pte(uint64_t table, unsigned int idx, uint64_t v)
{
	le64_put(hva(table + idx * 8), v);
}

/*
 * The low 16 MiB: 2 MiB pages but for the first 2 MiB, which goes through
 * PT with one page each of the kinds above. PML4[0] -> PDPT -> PD.
 */
static inline void setup(void)
{
	ck_assert_int_eq(guest_memory_init(&mem, MEM_SIZE), 0);
	set_pte(PML4, 0, PDPT | P | W | U);
	set_pte(PDPT, 0, PD | P | W | U);
	set_pte(PD, 0, PT | P | W | U);
	for (unsigned int i = 1; i < 8; i++)
		set_pte(PD, i, (i * 2 * MiB) | P | W | PS);
	for (unsigned int i = 0; i < 512; i++)
		set_pte(PT, i, (i * 0x1000ull) | P | W);
	set_pte(PT, RO_PAGE >> 12, RO_PAGE | P);
	set_pte(PT, USER_PAGE >> 12, USER_PAGE | P | W | U);
	set_pte(PT, HOLE_PAGE >> 12, 0);
	/* GDT: null, 0x08 64-bit code, 0x10 data, 0x18 32-bit code, ... */
	le64_put(hva(GDT + 0x08), KCODE);
	le64_put(hva(GDT + 0x10), KDATA);
	le64_put(hva(GDT + 0x18), CODE32);
	le64_put(hva(GDT + 0x20), UCODE);
	le64_put(hva(GDT + 0x28), KCODE & ~(1ull << 47)); /* not present */
	le64_put(hva(GDT + 0x30), KCODE | (1ull << 54)); /* L and D */
	le64_put(hva(GDT + 0x38), KDATA & ~(1ull << 47)); /* SS not present */
	le64_put(hva(GDT + 0x40), KDATA & ~(2ull << 40)); /* read-only data */
	le64_put(hva(GDT + 0x48), KCODE & ~(1ull << 40)); /* not accessed */
}

static inline void teardown(void)
{
	guest_memory_destroy(&mem);
}

static inline struct kvm_sregs long_mode_sregs(void)
{
	struct kvm_sregs s = {
		.cr0 = CR0_PE | CR0_PG | CR0_WP,
		.cr3 = PML4,
		.cr4 = CR4_PAE,
		.efer = EFER_LME | EFER_LMA | EFER_NXE,
		.cs = { .selector = 0x08, .type = 0xb, .present = 1, .s = 1,
			.l = 1, .g = 1, .limit = 0xffffffff },
		.ss = { .selector = 0x10, .type = 0x3, .present = 1, .s = 1,
			.db = 1, .g = 1, .limit = 0xffffffff },
		.gdt = { .base = GDT, .limit = 0x4f },
	};

	return s;
}

static inline void emu_init(struct x86_emu *e)
{
	*e = (struct x86_emu){
		.sregs = long_mode_sregs(),
		.mem = &mem,
		.maxphyaddr = 46,
		.features = X86_FEAT_SMAP | X86_FEAT_POPCNT,
		.regs = { .rip = 0x100000, .rsp = STACK_PAGE + 0x800,
			  .rflags = 0x2, .rax = 0x1111, .r15 = 0xf15 },
	};
}

#endif
