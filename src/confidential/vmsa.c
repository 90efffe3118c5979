// SPDX-License-Identifier: MIT
/*
 * The initial VMSA of a vCPU, as the hypervisor hands it to the AMD secure
 * processor (SEV-ES LAUNCH_UPDATE_VMSA, SNP LAUNCH_UPDATE of a VMSA page).
 * Layout: AMD64 APM vol. 2 (pub. 24593), appendix B, "VMSA / SEV-ES state
 * save area"; the register values are the x86 reset state as KVM (or a
 * cloud's hypervisor) leaves it, which differs in a few fields per
 * hypervisor: enum vmsa_profile. Bytes not written here stay zero.
 */
#include <string.h>

#include "tern/confidential.h"
#include "tern/le.h"

/* Offsets in the save area. */
#define VMSA_ES 0x00
#define VMSA_CS 0x10
#define VMSA_SS 0x20
#define VMSA_DS 0x30
#define VMSA_FS 0x40
#define VMSA_GS 0x50
#define VMSA_GDTR 0x60
#define VMSA_LDTR 0x70
#define VMSA_IDTR 0x80
#define VMSA_TR 0x90
#define VMSA_EFER 0xd0
#define VMSA_CR4 0x148
#define VMSA_CR0 0x158
#define VMSA_DR7 0x160
#define VMSA_DR6 0x168
#define VMSA_RFLAGS 0x170
#define VMSA_RIP 0x178
#define VMSA_G_PAT 0x268
#define VMSA_RDX 0x310
#define VMSA_SEV_FEATURES 0x3b0
#define VMSA_XCR0 0x3e8
#define VMSA_MXCSR 0x408
#define VMSA_X87_FCW 0x410

/* Segment attributes in the VMCB's compressed format. */
#define ATTR_DATA 0x0093 /* present, writable, accessed */
#define ATTR_LDT 0x0082
#define ATTR_TSS_BUSY 0x008b

#define EFER_SVME (1u << 12)
#define CR4_MCE (1u << 6)
#define CR0_ET (1u << 4)
#define PAT_RESET 0x0007040600070406ull
#define MXCSR_RESET 0x1f80
#define FCW_RESET 0x037f

struct vmsa_profile_regs {
	const char *name;
	uint16_t cs_attr_bsp, cs_attr_ap, ss_attr, tr_attr;
	bool rdx_is_sig; /* RDX = CPUID signature, else rdx below */
	uint64_t rdx;
	uint64_t g_pat;
	bool fpu_reset; /* MXCSR and x87 FCW at their reset values */
};

static const struct vmsa_profile_regs profiles[] = {
	[VMSA_PROFILE_QEMU] = { "qemu", 0x9b, 0x9b, 0x93, 0x8b, true, 0,
				PAT_RESET, true },
	[VMSA_PROFILE_QEMU_LEGACY] = { "qemu-legacy", 0x9b, 0x9b, 0x93, 0x8b,
				       true, 0, PAT_RESET, false },
	/* EC2 leaves the BSP's code segment not accessed, SS and TR too. */
	[VMSA_PROFILE_EC2] = { "ec2", 0x9a, 0x9b, 0x92, 0x83, false, 0x600,
			       PAT_RESET, false },
	[VMSA_PROFILE_EC2_RDX0] = { "ec2-rdx0", 0x9a, 0x9b, 0x92, 0x83, false,
				    0, PAT_RESET, false },
	[VMSA_PROFILE_GCE] = { "gce", 0x9b, 0x9b, 0x93, 0x8b, false, 0x600,
			       0x70106, false },
};

bool vmsa_profile_parse(const char *s, enum vmsa_profile *profile)
{
	for (size_t i = 0; i < G_N_ELEMENTS(profiles); i++) {
		if (!strcmp(s, profiles[i].name)) {
			*profile = (enum vmsa_profile)i;
			return true;
		}
	}
	return false;
}

struct vcpu_model {
	const char *name;
	unsigned int family, model, stepping;
};

/* QEMU's AMD models (target/i386/cpu.c builtin_x86_defs) and versions. */
static const struct vcpu_model vcpu_models[] = {
	{ "EPYC", 23, 1, 2 },	     { "EPYC-v1", 23, 1, 2 },
	{ "EPYC-v2", 23, 1, 2 },     { "EPYC-IBPB", 23, 1, 2 },
	{ "EPYC-v3", 23, 1, 2 },     { "EPYC-v4", 23, 1, 2 },
	{ "EPYC-Rome", 23, 49, 0 },  { "EPYC-Rome-v1", 23, 49, 0 },
	{ "EPYC-Rome-v2", 23, 49, 0 }, { "EPYC-Rome-v3", 23, 49, 0 },
	{ "EPYC-Rome-v4", 23, 49, 0 }, { "EPYC-Milan", 25, 1, 1 },
	{ "EPYC-Milan-v1", 25, 1, 1 }, { "EPYC-Milan-v2", 25, 1, 1 },
	{ "EPYC-Genoa", 25, 17, 0 }, { "EPYC-Genoa-v1", 25, 17, 0 },
};

/* CPUID Fn0000_0001 EAX (AMD CPUID specification, pub. 25481). */
static uint32_t cpu_signature(unsigned int family, unsigned int model,
			      unsigned int stepping)
{
	unsigned int fam_lo = family > 0xf ? 0xf : family;
	unsigned int fam_hi = family > 0xf ? (family - 0xf) & 0xff : 0;

	return fam_hi << 20 | ((model >> 4) & 0xf) << 16 | fam_lo << 8 |
	       (model & 0xf) << 4 | (stepping & 0xf);
}

bool vcpu_type_signature(const char *name, uint32_t *sig)
{
	for (size_t i = 0; i < G_N_ELEMENTS(vcpu_models); i++) {
		const struct vcpu_model *m = &vcpu_models[i];

		if (!g_ascii_strcasecmp(name, m->name)) {
			*sig = cpu_signature(m->family, m->model, m->stepping);
			return true;
		}
	}
	return false;
}

static void vmsa_segment_put(uint8_t *p, uint16_t sel, uint16_t attr,
			     uint32_t limit, uint64_t base)
{
	le16_put(p, sel);
	le16_put(p + 2, attr);
	le32_put(p + 4, limit);
	le64_put(p + 8, base);
}

void vmsa_build(uint8_t page[CONF_PAGE_SIZE], enum vmsa_profile profile,
		bool bsp, uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig)
{
	const struct vmsa_profile_regs *r = &profiles[profile];

	memset(page, 0, CONF_PAGE_SIZE);
	/* Real mode: CS.base holds the upper bits of the start address. */
	vmsa_segment_put(page + VMSA_ES, 0, ATTR_DATA, 0xffff, 0);
	vmsa_segment_put(page + VMSA_CS, 0xf000,
			 bsp ? r->cs_attr_bsp : r->cs_attr_ap, 0xffff,
			 eip & 0xffff0000u);
	vmsa_segment_put(page + VMSA_SS, 0, r->ss_attr, 0xffff, 0);
	vmsa_segment_put(page + VMSA_DS, 0, ATTR_DATA, 0xffff, 0);
	vmsa_segment_put(page + VMSA_FS, 0, ATTR_DATA, 0xffff, 0);
	vmsa_segment_put(page + VMSA_GS, 0, ATTR_DATA, 0xffff, 0);
	vmsa_segment_put(page + VMSA_GDTR, 0, 0, 0xffff, 0);
	vmsa_segment_put(page + VMSA_LDTR, 0, ATTR_LDT, 0xffff, 0);
	vmsa_segment_put(page + VMSA_IDTR, 0, 0, 0xffff, 0);
	vmsa_segment_put(page + VMSA_TR, 0, r->tr_attr, 0xffff, 0);
	le64_put(page + VMSA_EFER, EFER_SVME);
	le64_put(page + VMSA_CR4, CR4_MCE);
	le64_put(page + VMSA_CR0, CR0_ET);
	le64_put(page + VMSA_DR7, 0x400);
	le64_put(page + VMSA_DR6, 0xffff0ff0);
	le64_put(page + VMSA_RFLAGS, 0x2);
	le64_put(page + VMSA_RIP, eip & 0xffff);
	le64_put(page + VMSA_G_PAT, r->g_pat);
	le64_put(page + VMSA_RDX, r->rdx_is_sig ? vcpu_sig : r->rdx);
	le64_put(page + VMSA_SEV_FEATURES, sev_features);
	le64_put(page + VMSA_XCR0, 0x1);
	if (r->fpu_reset) {
		le32_put(page + VMSA_MXCSR, MXCSR_RESET);
		le16_put(page + VMSA_X87_FCW, FCW_RESET);
	}
}

/* Flat 32-bit segments in the VMCB's compressed attribute format. */
#define ATTR_CODE32 0x0c9b /* G, D, present, code, readable, accessed */
#define ATTR_DATA32 0x0c93 /* G, B, present, writable, accessed */
#define CR0_PE (1u << 0)

void vmsa_build_svsm(uint8_t page[CONF_PAGE_SIZE], uint32_t eip,
		     uint32_t vcpu_sig, bool legacy)
{
	memset(page, 0, CONF_PAGE_SIZE);
	vmsa_segment_put(page + VMSA_ES, 0x10, ATTR_DATA32, 0xffffffff, 0);
	vmsa_segment_put(page + VMSA_CS, 0x08, ATTR_CODE32, 0xffffffff, 0);
	vmsa_segment_put(page + VMSA_SS, 0x10, ATTR_DATA32, 0xffffffff, 0);
	vmsa_segment_put(page + VMSA_DS, 0x10, ATTR_DATA32, 0xffffffff, 0);
	vmsa_segment_put(page + VMSA_FS, 0x10, ATTR_DATA32, 0xffffffff, 0);
	vmsa_segment_put(page + VMSA_GS, 0, ATTR_DATA, 0xffff, 0);
	vmsa_segment_put(page + VMSA_GDTR, 0, 0, 0xffff, 0);
	vmsa_segment_put(page + VMSA_LDTR, 0, ATTR_LDT, 0xffff, 0);
	vmsa_segment_put(page + VMSA_IDTR, 0, 0, 0xffff, 0);
	vmsa_segment_put(page + VMSA_TR, 0, ATTR_TSS_BUSY, 0xffff, 0);
	le64_put(page + VMSA_EFER, EFER_SVME);
	le64_put(page + VMSA_CR4, CR4_MCE);
	le64_put(page + VMSA_CR0, CR0_ET | CR0_PE);
	le64_put(page + VMSA_DR7, 0x400);
	le64_put(page + VMSA_DR6, 0xffff0ff0);
	le64_put(page + VMSA_RFLAGS, 0x2);
	le64_put(page + VMSA_RIP, eip);
	le64_put(page + VMSA_G_PAT, PAT_RESET);
	le64_put(page + VMSA_RDX, vcpu_sig);
	le64_put(page + VMSA_SEV_FEATURES, 0x1);
	le64_put(page + VMSA_XCR0, 0x1);
	if (!legacy)
		le32_put(page + VMSA_MXCSR, MXCSR_RESET);
}
