// SPDX-License-Identifier: MIT
/*
 * The decoder of the emulation fallback: the bytes KVM reports for the
 * instruction it could not emulate, turned into a struct x86_insn, or a
 * refusal. It reads prefixes and the opcode exactly as the CPU does in the
 * given mode (SDM Vol. 2, chapter 2) and never looks past the bytes it was
 * given: an instruction cut short is malformed, not completed by guessing
 * what the next byte might have been.
 */
#include <errno.h>

#include "tern/emulate.h"

#define OP_INT3 0xcc
#define OP_IRET 0xcf
#define PREFIX_LOCK 0xf0
#define PREFIX_REPNE 0xf2
#define PREFIX_REP 0xf3
#define PREFIX_OPSIZE 0x66
#define PREFIX_ADDRSIZE 0x67
#define REX_W 0x08

static const char *const insn_names[X86_INSN_NR] = {
	[X86_INSN_NONE] = "none",
	[X86_INSN_INT3] = "int3",
	[X86_INSN_IRET] = "iret",
};

const char *x86_insn_name(enum x86_insn_op op)
{
	if ((unsigned int)op >= X86_INSN_NR)
		return "?";
	return insn_names[op];
}

enum x86_cpu_mode x86_cpu_mode_of(const struct kvm_sregs *s)
{
	/* CR0.PE, EFER.LMA, RFLAGS.VM is not here: vm86 is never emulated. */
	if (!(s->cr0 & 1))
		return X86_MODE_REAL;
	if ((s->efer & (1u << 10)) && s->cs.l)
		return X86_MODE_LONG64;
	return s->cs.db ? X86_MODE_PROT32 : X86_MODE_PROT16;
}

static bool is_segment_prefix(uint8_t b)
{
	return b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 ||
	       b == 0x65;
}

/*
 * The operand size of an instruction whose default is the mode's (16 or
 * 32 bits outside 64-bit mode, 32 in it), which 0x66 flips and REX.W
 * makes 64 (REX.W wins over 0x66).
 */
static uint8_t operand_size(enum x86_cpu_mode mode, bool opsize_prefix,
			    uint8_t rex)
{
	if (mode == X86_MODE_LONG64 && (rex & REX_W))
		return 8;
	if (mode == X86_MODE_PROT16 || mode == X86_MODE_REAL)
		return opsize_prefix ? 4 : 2;
	return opsize_prefix ? 2 : 4;
}

int x86_insn_decode(const uint8_t *bytes, size_t n, enum x86_cpu_mode mode,
		    struct x86_insn *insn)
{
	bool opsize_prefix = false;
	size_t i = 0;
	uint8_t op;

	*insn = (struct x86_insn){ .op = X86_INSN_NONE };
	if (n > X86_INSN_MAX_LEN)
		n = X86_INSN_MAX_LEN; /* bytes past 15 are never part of it */

	/*
	 * Prefixes, any order, any repetition. In 64-bit mode 0x40-0x4f are
	 * REX, which counts only right before the opcode: a legacy prefix
	 * after it makes the CPU ignore it (SDM 2.2.1), and of several REX
	 * bytes the last one counts.
	 */
	for (; i < n; i++) {
		uint8_t b = bytes[i];

		if (mode == X86_MODE_LONG64 && (b & 0xf0) == 0x40) {
			insn->rex = b;
			insn->nr_prefixes++;
			continue;
		}
		if (b == PREFIX_LOCK)
			insn->lock = true;
		else if (b == PREFIX_REPNE || b == PREFIX_REP)
			insn->rep = b;
		else if (b == PREFIX_OPSIZE)
			opsize_prefix = true;
		else if (b != PREFIX_ADDRSIZE && !is_segment_prefix(b))
			break; /* 0x67, segments: unused by what we complete */
		insn->rex = 0;
		insn->nr_prefixes++;
	}
	if (i >= n)
		return -EINVAL; /* prefixes only: the opcode is missing */

	op = bytes[i++];
	insn->len = (uint8_t)i;
	insn->opsize = operand_size(mode, opsize_prefix, insn->rex);
	switch (op) {
	case OP_INT3:
		insn->op = X86_INSN_INT3;
		return 0;
	case OP_IRET:
		insn->op = X86_INSN_IRET;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}
