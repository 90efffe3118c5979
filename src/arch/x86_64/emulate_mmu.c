// SPDX-License-Identifier: MIT
/*
 * Linear addresses of the emulation fallback: 4-level and 5-level paging
 * walked as SDM Vol. 3A chapter 4 says, over guest RAM through
 * guest_memory_ptr(). The walk checks presence and reserved bits level by
 * level, then the access rights of the whole path (U/S and R/W combined
 * over every level, CR0.WP, CR4.SMAP with RFLAGS.AC), and only when the
 * access is allowed sets the accessed bits of the entries it used and the
 * dirty bit of the leaf for a write, with atomic ORs as the CPU's locked
 * updates: a vCPU may be walking the same tables. 32-bit and PAE paging,
 * protection keys and tables outside RAM are declined: no guest we run
 * needs them from here, and an answer we are unsure of is worse than none.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/emulate.h"

#define CR0_PG (1ull << 31)
#define CR0_WP (1ull << 16)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define CR4_SMAP (1ull << 21)
#define CR4_PKE (1ull << 22)
#define CR4_PKS (1ull << 24)
#define EFER_NXE (1ull << 11)
#define EFER_LMA (1ull << 10)
#define RFLAGS_AC (1ull << 18)

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_XD (1ull << 63)

#define PAGE_SIZE_4K 0x1000ull
#define MAX_LEVELS 5

/* Bits [maxphyaddr, 52) of an entry: above the CPU's physical addresses. */
static uint64_t rsvd_high(unsigned int maxphyaddr)
{
	return ((1ull << 52) - 1) & ~((1ull << maxphyaddr) - 1);
}

bool x86_la_canonical(const struct kvm_sregs *s, uint64_t la)
{
	unsigned int bits = (s->cr4 & CR4_LA57) ? 57 : 48;
	int64_t v = (int64_t)(la << (64 - bits)) >> (64 - bits);

	return (uint64_t)v == la;
}

/* Reserved bits of an entry at level (1 = PTE ... 5 = PML5E). */
static uint64_t entry_rsvd(unsigned int level, uint64_t e, uint64_t efer,
			   unsigned int maxphyaddr)
{
	uint64_t rsvd = rsvd_high(maxphyaddr);

	if (!(efer & EFER_NXE))
		rsvd |= PTE_XD;
	if (level >= 4)
		rsvd |= PTE_PS;
	else if (level == 3 && (e & PTE_PS))
		rsvd |= 0x3fffe000ull; /* bits 29:13 of a 1 GiB page */
	else if (level == 2 && (e & PTE_PS))
		rsvd |= 0x1fe000ull; /* bits 20:13 of a 2 MiB page */
	return e & rsvd;
}

static uint32_t pf_bits(unsigned int access)
{
	return ((access & X86_ACCESS_WRITE) ? X86_PF_W : 0) |
	       ((access & X86_ACCESS_USER) ? X86_PF_U : 0);
}

/* May this access use a page the walk found with these combined rights? */
static bool access_allowed(const struct kvm_sregs *s, uint64_t rflags,
			   unsigned int access, bool user_page,
			   bool writable)
{
	bool write = access & X86_ACCESS_WRITE;

	if (access & X86_ACCESS_USER)
		return user_page && (!write || writable);
	if (write && !writable && (s->cr0 & CR0_WP))
		return false;
	/* SMAP: a supervisor data access to a user page (SDM 4.6.1). */
	if (user_page && (s->cr4 & CR4_SMAP) &&
	    ((access & X86_ACCESS_IMPLICIT) || !(rflags & RFLAGS_AC)))
		return false;
	return true;
}

int x86_mmu_translate(const struct guest_memory *mem,
		      const struct kvm_sregs *s, uint64_t rflags,
		      unsigned int maxphyaddr, uint64_t la, unsigned int access,
		      uint64_t *gpa, uint32_t *pf_error)
{
	uint64_t *entries[MAX_LEVELS];
	uint64_t addr_mask, table, e = 0;
	bool user_page = true, writable = true;
	unsigned int levels, level, used = 0;

	if (maxphyaddr < 32 || maxphyaddr > 52)
		return -EOPNOTSUPP;
	if (!(s->cr0 & CR0_PG)) {
		*gpa = la & 0xffffffffull; /* no paging: protected mode only */
		return 0;
	}
	if (!(s->cr4 & CR4_PAE) || !(s->efer & EFER_LMA))
		return -EOPNOTSUPP; /* 32-bit or PAE paging */
	if (!x86_la_canonical(s, la))
		return -EINVAL; /* the caller raises #GP or #SS first */

	levels = (s->cr4 & CR4_LA57) ? 5 : 4;
	addr_mask = ((1ull << maxphyaddr) - 1) & ~(PAGE_SIZE_4K - 1);
	table = s->cr3 & addr_mask;
	for (level = levels; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		uint64_t idx = (la >> shift) & 511;
		uint64_t *p = guest_memory_ptr(mem, table + idx * 8, 8);

		if (!p)
			return -EOPNOTSUPP; /* a paging structure outside RAM */
		/* One read: the guest may change the entry meanwhile. */
		e = __atomic_load_n(p, __ATOMIC_RELAXED);
		if (!(e & PTE_P)) {
			*pf_error = pf_bits(access);
			return -EFAULT;
		}
		if (entry_rsvd(level, e, s->efer, maxphyaddr)) {
			*pf_error = X86_PF_P | X86_PF_RSVD | pf_bits(access);
			return -EFAULT;
		}
		entries[used++] = p;
		user_page = user_page && (e & PTE_U);
		writable = writable && (e & PTE_W);
		if (level == 1 || (level <= 3 && (e & PTE_PS)))
			break;
		table = e & addr_mask;
	}

	if (!access_allowed(s, rflags, access, user_page, writable)) {
		*pf_error = X86_PF_P | pf_bits(access);
		return -EFAULT;
	}
	/* Protection keys would need PKRU or the PKRS MSR: not covered. */
	if ((user_page && (s->cr4 & CR4_PKE)) ||
	    (!user_page && (s->cr4 & CR4_PKS)))
		return -EOPNOTSUPP;

	for (unsigned int i = 0; i < used; i++) {
		uint64_t set = PTE_A;

		if (i == used - 1 && (access & X86_ACCESS_WRITE))
			set |= PTE_D;
		uint64_t old = __atomic_load_n(entries[i], __ATOMIC_RELAXED);

		if ((old & set) != set) {
			__atomic_fetch_or(entries[i], set, __ATOMIC_SEQ_CST);
			guest_memory_mark_dirty_hva(mem, entries[i], 8);
		}
	}
	{
		uint64_t page = 1ull << (12 + 9 * (level - 1));

		*gpa = (e & addr_mask & ~(page - 1)) | (la & (page - 1));
	}
	return 0;
}

/* The page-sized pieces of [la, la + len): at most two for len <= 4 KiB. */
struct la_piece {
	uint64_t gpa;
	size_t len;
	void *hva;
};

static int emu_translate_range(struct x86_emu *emu, uint64_t la, size_t len,
			       unsigned int access, struct la_piece pieces[2])
{
	size_t done = 0;
	unsigned int n = 0;

	if (len == 0 || len > PAGE_SIZE_4K) {
		snprintf(emu->why, sizeof(emu->why),
			 "memory access of %zu bytes", len);
		return -EOPNOTSUPP;
	}
	while (done < len) {
		uint64_t at = la + done;
		size_t chunk = PAGE_SIZE_4K - (at & (PAGE_SIZE_4K - 1));
		uint32_t pf_error = 0;
		int ret;

		if (chunk > len - done)
			chunk = len - done;
		ret = x86_mmu_translate(emu->mem, &emu->sregs, emu->regs.rflags,
					emu->maxphyaddr, at, access,
					&pieces[n].gpa, &pf_error);
		if (ret == -EFAULT) {
			emu->exc = (struct x86_exception){
				.valid = true,
				.vector = X86_VEC_PF,
				.has_error_code = true,
				.error_code = pf_error,
			};
			emu->sregs.cr2 = at;
			emu->sregs_changed = true;
			return -EFAULT;
		}
		if (ret) {
			snprintf(emu->why, sizeof(emu->why),
				 "linear address %#llx: %s",
				 (unsigned long long)at,
				 ret == -EINVAL ? "not canonical" :
						  "paging not covered");
			return -EOPNOTSUPP;
		}
		pieces[n].len = chunk;
		pieces[n].hva =
			guest_memory_ptr(emu->mem, pieces[n].gpa, chunk);
		if (!pieces[n].hva) {
			snprintf(emu->why, sizeof(emu->why),
				 "linear address %#llx is not RAM (gpa %#llx)",
				 (unsigned long long)at,
				 (unsigned long long)pieces[n].gpa);
			return -EOPNOTSUPP;
		}
		done += chunk;
		n++;
	}
	return (int)n;
}

int x86_emu_read(struct x86_emu *emu, uint64_t la, void *buf, size_t len,
		 unsigned int access)
{
	struct la_piece pieces[2];
	int n = emu_translate_range(emu, la, len, access & ~X86_ACCESS_WRITE,
				    pieces);
	uint8_t *out = buf;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		memcpy(out, pieces[i].hva, pieces[i].len);
		out += pieces[i].len;
	}
	return 0;
}

int x86_emu_write(struct x86_emu *emu, uint64_t la, const void *buf,
		  size_t len, unsigned int access)
{
	struct la_piece pieces[2];
	/* Both pages translated before either is written: no torn store. */
	int n = emu_translate_range(emu, la, len, access | X86_ACCESS_WRITE,
				    pieces);
	const uint8_t *in = buf;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		memcpy(pieces[i].hva, in, pieces[i].len);
		guest_memory_mark_dirty(emu->mem, pieces[i].gpa, pieces[i].len);
		in += pieces[i].len;
	}
	return 0;
}
