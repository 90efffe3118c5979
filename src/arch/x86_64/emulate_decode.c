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
#define OP_FWAIT 0x9b
#define OP_ESCAPE 0x0f
#define OP2_GROUP7 0x01 /* 0f 01: clac and stac among others */
#define OP2_POPCNT 0xb8 /* f3 0f b8 */
#define OP2_GROUP15 0xae /* 0f ae: ldmxcsr (/2), stmxcsr (/3) among others */
#define GROUP15_LDMXCSR 2
#define GROUP15_STMXCSR 3
#define MODRM_CLAC 0xca
#define MODRM_STAC 0xcb
#define PREFIX_LOCK 0xf0
#define PREFIX_REPNE 0xf2
#define PREFIX_REP 0xf3
#define PREFIX_OPSIZE 0x66
#define PREFIX_ADDRSIZE 0x67
#define REX_W 0x08
#define REX_R 0x04
#define REX_X 0x02
#define REX_B 0x01

static const char *const insn_names[X86_INSN_NR] = {
	[X86_INSN_NONE] = "none",
	[X86_INSN_INT3] = "int3",
	[X86_INSN_IRET] = "iret",
	[X86_INSN_CLAC] = "clac",
	[X86_INSN_STAC] = "stac",
	[X86_INSN_POPCNT] = "popcnt",
	[X86_INSN_FWAIT] = "fwait",
	[X86_INSN_LDMXCSR] = "ldmxcsr",
	[X86_INSN_STMXCSR] = "stmxcsr",
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

/* The segment a prefix byte overrides, or X86_SEG_NONE. */
static enum x86_seg segment_prefix(uint8_t b)
{
	switch (b) {
	case 0x26:
		return X86_SEG_ES;
	case 0x2e:
		return X86_SEG_CS;
	case 0x36:
		return X86_SEG_SS;
	case 0x3e:
		return X86_SEG_DS;
	case 0x64:
		return X86_SEG_FS;
	case 0x65:
		return X86_SEG_GS;
	default:
		return X86_SEG_NONE;
	}
}

/* The next byte, or false when KVM's bytes end before it. */
static bool next_byte(const uint8_t *bytes, size_t n, size_t *i, uint8_t *b)
{
	if (*i >= n)
		return false;
	*b = bytes[(*i)++];
	return true;
}

static bool next_disp(const uint8_t *bytes, size_t n, size_t *i,
		      unsigned int size, int32_t *disp)
{
	uint32_t v = 0;
	uint8_t b;

	for (unsigned int k = 0; k < size; k++) {
		if (!next_byte(bytes, n, i, &b))
			return false;
		v |= (uint32_t)b << (8 * k);
	}
	*disp = size == 1 ? (int8_t)v : (int32_t)v;
	return true;
}

/*
 * The ModRM byte and what follows it (SIB, displacement) with 32- or
 * 64-bit addressing (SDM Vol. 2 2.1.5, 2.2.1.6): the only kinds in
 * protected and 64-bit mode without a 0x67 in 16-bit code, which is
 * refused. -EINVAL when the bytes end inside it.
 */
static int decode_modrm(const uint8_t *bytes, size_t n, size_t *i,
			enum x86_cpu_mode mode, struct x86_insn *insn)
{
	uint8_t modrm, sib, rm;

	if (insn->addrsize == 2)
		return -EOPNOTSUPP;
	if (!next_byte(bytes, n, i, &modrm))
		return -EINVAL;
	insn->has_modrm = true;
	insn->mod = modrm >> 6;
	insn->reg = ((modrm >> 3) & 7) | ((insn->rex & REX_R) ? 8 : 0);
	rm = modrm & 7;
	insn->rm = rm | ((insn->rex & REX_B) ? 8 : 0);
	if (insn->mod == 3)
		return 0;
	if (rm == 4) {
		if (!next_byte(bytes, n, i, &sib))
			return -EINVAL;
		insn->scale = (uint8_t)(1u << (sib >> 6));
		insn->index = ((sib >> 3) & 7) | ((insn->rex & REX_X) ? 8 : 0);
		insn->has_index = insn->index != 4; /* 4 alone: no index */
		insn->base = (sib & 7) | ((insn->rex & REX_B) ? 8 : 0);
		insn->has_base = !((sib & 7) == 5 && insn->mod == 0);
		if (!insn->has_base)
			return next_disp(bytes, n, i, 4, &insn->disp) ? 0 :
									 -EINVAL;
	} else if (rm == 5 && insn->mod == 0) {
		/* disp32 alone: RIP-relative in 64-bit mode. */
		insn->rip_relative = mode == X86_MODE_LONG64;
		return next_disp(bytes, n, i, 4, &insn->disp) ? 0 : -EINVAL;
	} else {
		insn->base = insn->rm;
		insn->has_base = true;
	}
	if (insn->mod == 1 && !next_disp(bytes, n, i, 1, &insn->disp))
		return -EINVAL;
	if (insn->mod == 2 && !next_disp(bytes, n, i, 4, &insn->disp))
		return -EINVAL;
	return 0;
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

/*
 * Two-byte opcodes (0f xx). A mandatory prefix (66, f2, f3) selects
 * another instruction, so each case says which it needs.
 */
static int decode_0f(const uint8_t *bytes, size_t n, size_t *i,
		     enum x86_cpu_mode mode, struct x86_insn *insn)
{
	bool no_mandatory = !insn->opsize_prefix && !insn->rep;
	uint8_t op2, modrm;

	if (!next_byte(bytes, n, i, &op2))
		return -EINVAL;
	switch (op2) {
	case OP2_GROUP7:
		/* The ModRM byte is part of the opcode for these two. */
		if (!next_byte(bytes, n, i, &modrm))
			return -EINVAL;
		if (!no_mandatory)
			return -EOPNOTSUPP;
		if (modrm == MODRM_CLAC)
			insn->op = X86_INSN_CLAC;
		else if (modrm == MODRM_STAC)
			insn->op = X86_INSN_STAC;
		else
			return -EOPNOTSUPP;
		return 0;
	case OP2_POPCNT:
		/* f3 is mandatory; f2 with it is another encoding. */
		if (insn->rep != PREFIX_REP || insn->rep_both)
			return -EOPNOTSUPP;
		insn->op = X86_INSN_POPCNT;
		return decode_modrm(bytes, n, i, mode, insn);
	case OP2_GROUP15: {
		/* A memory operand: with a register, /2 and /3 are other insns. */
		int ret;

		if (!no_mandatory)
			return -EOPNOTSUPP;
		ret = decode_modrm(bytes, n, i, mode, insn);
		if (ret)
			return ret;
		if (insn->mod == 3)
			return -EOPNOTSUPP;
		/* The opcode extension is ModRM.reg alone, REX.R aside. */
		if ((insn->reg & 7) == GROUP15_LDMXCSR)
			insn->op = X86_INSN_LDMXCSR;
		else if ((insn->reg & 7) == GROUP15_STMXCSR)
			insn->op = X86_INSN_STMXCSR;
		else
			return -EOPNOTSUPP;
		return 0;
	}
	default:
		return -EOPNOTSUPP;
	}
}

int x86_insn_decode(const uint8_t *bytes, size_t n, enum x86_cpu_mode mode,
		    struct x86_insn *insn)
{
	bool addrsize_prefix = false;
	size_t i = 0;
	uint8_t op;
	int ret;

	*insn = (struct x86_insn){ .op = X86_INSN_NONE };
	if (n > X86_INSN_MAX_LEN)
		n = X86_INSN_MAX_LEN; /* bytes past 15 are never part of it */

	/*
	 * Prefixes, any order, any repetition. In 64-bit mode 0x40-0x4f are
	 * REX, which counts only right before the opcode: a legacy prefix
	 * after it makes the CPU ignore it (SDM 2.2.1), and of several REX
	 * bytes the last one counts.
	 */
	insn->seg = X86_SEG_NONE;
	for (; i < n; i++) {
		uint8_t b = bytes[i];

		if (mode == X86_MODE_LONG64 && (b & 0xf0) == 0x40) {
			insn->rex = b;
			insn->nr_prefixes++;
			continue;
		}
		if (b == PREFIX_LOCK) {
			insn->lock = true;
		} else if (b == PREFIX_REPNE || b == PREFIX_REP) {
			if (insn->rep && insn->rep != b)
				insn->rep_both = true;
			insn->rep = b;
		} else if (b == PREFIX_OPSIZE) {
			insn->opsize_prefix = true;
		} else if (b == PREFIX_ADDRSIZE) {
			addrsize_prefix = true;
		} else if (segment_prefix(b) != X86_SEG_NONE) {
			insn->seg = segment_prefix(b);
		} else {
			break;
		}
		insn->rex = 0;
		insn->nr_prefixes++;
	}
	if (i >= n)
		return -EINVAL; /* prefixes only: the opcode is missing */

	op = bytes[i++];
	insn->opsize = operand_size(mode, insn->opsize_prefix, insn->rex);
	if (mode == X86_MODE_LONG64)
		insn->addrsize = addrsize_prefix ? 4 : 8;
	else
		insn->addrsize = (mode == X86_MODE_PROT32) != addrsize_prefix ?
					 4 : 2;
	switch (op) {
	case OP_INT3:
		insn->op = X86_INSN_INT3;
		break;
	case OP_IRET:
		insn->op = X86_INSN_IRET;
		break;
	case OP_FWAIT:
		/*
		 * Alone, even before an x87 opcode: "finit" is fwait then
		 * fninit, two instructions to the CPU (SDM FINIT).
		 */
		insn->op = X86_INSN_FWAIT;
		break;
	case OP_ESCAPE:
		ret = decode_0f(bytes, n, &i, mode, insn);
		if (ret) {
			insn->op = X86_INSN_NONE;
			return ret;
		}
		break;
	default:
		return -EOPNOTSUPP;
	}
	insn->len = (uint8_t)i;
	return 0;
}
