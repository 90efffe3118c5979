/* SPDX-License-Identifier: MIT */
/*
 * The emulation-failure fallback (x86_64). On hosts whose KVM emulates
 * guest ring 0 instruction by instruction (the nested kvm_pvm of our
 * development machines), KVM_RUN stops with KVM_EXIT_INTERNAL_ERROR /
 * KVM_INTERNAL_ERROR_EMULATION at instructions its emulator lacks, and
 * reports their bytes. For a small documented set (docs/linux-guest.md)
 * tern completes the instruction itself and resumes the vCPU:
 *
 *   int3   RIP past it, #BP injected (KVM delivers it through the IDT)
 *   iret   IRET/IRETD/IRETQ from CPL 0 to CPL 0 in 64-bit mode (the frame
 *          popped, CS and SS loaded from their descriptors, RFLAGS as the
 *          SDM says, NMIs unblocked)
 *
 * Three layers, so that the first two are pure and unit tested with a fake
 * register file and plain memory:
 *   - the decoder (emulate_decode.c): bytes -> struct x86_insn, never past
 *     the bytes KVM gave, never a guess; anything else is refused;
 *   - the semantics (emulate.c) and the page-table walker (emulate_mmu.c)
 *     over struct x86_emu (KVM's register structs and guest memory);
 *   - the KVM glue (emulate_kvm.c): the ioctls around them, the counters
 *     and the log line.
 * An instruction that faults as the SDM says (a not-present stack page, a
 * bad selector) gets that exception injected instead; anything outside
 * the set, or a case the code does not cover, is declined and the VM ends
 * with the register dump, as before.
 */
#ifndef TERN_EMULATE_H
#define TERN_EMULATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "tern/memory.h"
#include "tern/util.h"

#define X86_INSN_MAX_LEN 15 /* SDM: longer is #GP, never decoded */

/* The instructions tern completes; names in x86_insn_name(). */
enum x86_insn_op {
	X86_INSN_NONE = 0,
	X86_INSN_INT3,
	X86_INSN_IRET,
	X86_INSN_CLAC,
	X86_INSN_STAC,
	X86_INSN_POPCNT,
	X86_INSN_FWAIT,
	X86_INSN_LDMXCSR,
	X86_INSN_STMXCSR,
	X86_INSN_NR, /* counters are indexed by op */
};

/* Default operand and address size of the code segment. */
enum x86_cpu_mode {
	X86_MODE_REAL, /* and virtual-8086: never emulated here */
	X86_MODE_PROT16,
	X86_MODE_PROT32,
	X86_MODE_LONG64, /* IA-32e 64-bit mode (EFER.LMA and CS.L) */
};

/* Segment registers, in the order of KVM's and the SDM's encodings. */
enum x86_seg { X86_SEG_ES, X86_SEG_CS, X86_SEG_SS, X86_SEG_DS, X86_SEG_FS,
	       X86_SEG_GS, X86_SEG_NONE = -1 };

struct x86_insn {
	enum x86_insn_op op;
	uint8_t len; /* bytes, prefixes included */
	uint8_t opsize; /* effective operand size: 2, 4 or 8 */
	uint8_t addrsize; /* effective address size: 2, 4 or 8 */
	uint8_t rex; /* 0 when absent */
	bool lock;
	bool opsize_prefix; /* 0x66 was given */
	uint8_t rep; /* 0, 0xf2 or 0xf3 (the last one given) */
	bool rep_both; /* both 0xf2 and 0xf3 were given */
	enum x86_seg seg; /* the last segment override, or X86_SEG_NONE */
	uint8_t nr_prefixes; /* legacy prefixes and REX */
	/* The ModRM operand, for the instructions that have one. */
	bool has_modrm;
	uint8_t mod; /* 3: rm is a register */
	uint8_t reg, rm; /* register numbers, REX.R and REX.B applied */
	bool has_base, has_index, rip_relative;
	uint8_t base, index, scale; /* REX.B and REX.X applied */
	int32_t disp;
};

/*
 * Decode one instruction from bytes[0..n) as the CPU would in mode.
 * 0 with *insn filled; -EINVAL when the bytes are malformed (no opcode
 * within n bytes or within 15, which the CPU would refuse or KVM cut
 * short); -EOPNOTSUPP when well formed but not one tern completes.
 */
int x86_insn_decode(const uint8_t *bytes, size_t n, enum x86_cpu_mode mode,
		    struct x86_insn *insn) __must_check;
const char *x86_insn_name(enum x86_insn_op op);

/* The mode the CPU executes in, from CR0, EFER and CS. */
enum x86_cpu_mode x86_cpu_mode_of(const struct kvm_sregs *s);

/* An exception to deliver after the instruction (trap) or instead (fault). */
struct x86_exception {
	bool valid;
	uint8_t vector;
	bool has_error_code;
	uint32_t error_code;
	bool trap; /* after the instruction completed (int3), else a fault */
};

#define X86_VEC_BP 3
#define X86_VEC_UD 6
#define X86_VEC_NM 7
#define X86_VEC_NP 11
#define X86_VEC_SS 12
#define X86_VEC_GP 13
#define X86_VEC_PF 14
#define X86_VEC_MF 16

/*
 * One instruction's machine: the registers in, the registers out. The
 * caller fills regs, sregs and mem; x86_emulate() updates regs and sregs
 * (sregs_changed says whether they must be written back) and says what to
 * deliver.
 */
/* The guest's CPUID bits the instructions depend on (#UD without them). */
#define X86_FEAT_SMAP (1u << 0)
#define X86_FEAT_POPCNT (1u << 1)
#define X86_FEAT_SSE (1u << 2)

struct x86_emu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	const struct guest_memory *mem;
	unsigned int maxphyaddr; /* CPUID 0x80000008 EAX[7:0] */
	uint32_t features; /* X86_FEAT_* of the guest's CPUID */
	uint16_t fsw; /* FWAIT: the x87 status word (KVM_GET_FPU) */
	/* LDMXCSR, STMXCSR: MXCSR (KVM_GET_FPU) and the bits it may hold. */
	uint32_t mxcsr, mxcsr_mask;
	bool mxcsr_changed;
	bool sregs_changed;
	bool nmi_unblocked; /* IRET: NMI blocking ends */
	struct x86_exception exc;
	char why[128]; /* set when declined */
};

enum x86_emu_result {
	X86_EMU_DONE, /* complete (exc may hold a trap or a fault to deliver) */
	X86_EMU_DECLINED, /* not covered: emu->why says why; nothing changed */
};

/*
 * Complete insn on emu: the architectural effect, or the exception the
 * instruction raises (with the registers as the fault leaves them).
 */
enum x86_emu_result x86_emulate(struct x86_emu *emu,
				const struct x86_insn *insn) __must_check;

/* Page-table walks (emulate_mmu.c). */
enum {
	X86_ACCESS_WRITE = 1 << 0,
	X86_ACCESS_USER = 1 << 1, /* a CPL 3 access */
	/* A supervisor access to a system structure (GDT, LDT): no SMAP. */
	X86_ACCESS_IMPLICIT = 1 << 2,
};

/* Page-fault error code bits (SDM 4.7). */
#define X86_PF_P (1u << 0)
#define X86_PF_W (1u << 1)
#define X86_PF_U (1u << 2)
#define X86_PF_RSVD (1u << 3)

/*
 * Translate linear address la for one access through the paging mode in
 * sregs (none, 4-level or 5-level; 32-bit and PAE paging are declined),
 * setting accessed and dirty bits as the CPU does. rflags supplies AC for
 * SMAP. Returns 0 with *gpa; -EFAULT for a page fault (*pf_error set,
 * the faulting address is la); -EOPNOTSUPP for a paging mode or a page
 * table the walker does not cover (a table outside RAM, protection keys).
 */
int x86_mmu_translate(const struct guest_memory *mem,
		      const struct kvm_sregs *s, uint64_t rflags,
		      unsigned int maxphyaddr, uint64_t la, unsigned int access,
		      uint64_t *gpa, uint32_t *pf_error) __must_check;

/* Is la canonical for the paging mode (48 or 57 bits)? */
bool x86_la_canonical(const struct kvm_sregs *s, uint64_t la);

/*
 * Read or write len bytes at linear address la (split at page
 * boundaries). 0; -EFAULT with emu->exc set to the #PF (and CR2 in
 * emu->sregs); -EOPNOTSUPP with emu->why set (memory that is not RAM, an
 * uncovered paging mode).
 */
int x86_emu_read(struct x86_emu *emu, uint64_t la, void *buf, size_t len,
		 unsigned int access) __must_check;
int x86_emu_write(struct x86_emu *emu, uint64_t la, const void *buf,
		  size_t len, unsigned int access) __must_check;

/* Counters of one vCPU (relaxed atomics: QMP reads them from its thread). */
struct x86_emu_stats {
	uint64_t done[X86_INSN_NR]; /* completed, by op */
	uint64_t faults; /* of those, ended by an exception they raised */
	uint64_t declined; /* emulation failures left to end the VM */
};

/* The fallback's per-vCPU state: a field of struct vcpu. */
struct x86_emu_vcpu {
	struct x86_emu_stats stats;
	/* From the vCPU's CPUID and the host, read at the first fallback. */
	bool cpuid_read;
	unsigned int maxphyaddr;
	uint32_t features;
	uint32_t mxcsr_mask; /* the host's, from FXSAVE */
};

/*
 * The fallback, called on the vCPU thread for KVM_EXIT_INTERNAL_ERROR.
 * True when the instruction was completed (or its exception injected)
 * and the vCPU may run again; false to end the VM as before (not an
 * emulation failure, no instruction bytes, an instruction or a case
 * outside the set, or an ioctl that failed; each logged with the reason).
 */
bool x86_emulate_fallback(struct x86_emu_vcpu *ev, int vcpu_fd,
			  unsigned int vcpu_id, const struct kvm_run *run,
			  const struct guest_memory *mem);

/* A snapshot of the counters, from any thread. */
void x86_emu_stats_read(const struct x86_emu_vcpu *ev,
			struct x86_emu_stats *out);

#endif
