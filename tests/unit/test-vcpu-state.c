// SPDX-License-Identifier: MIT
/*
 * vCPU and platform state: the pure format (round trips, every malformed
 * case refused with the field named) and, where /dev/kvm exists, a real
 * round trip: recognisable state set into one VM, captured, saved, loaded
 * and set into a second, fresh VM, captured and saved again, the two
 * streams compared byte for byte, then the second VM runs a few real-mode
 * instructions with the registers it was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <asm/kvm_para.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/le.h"
#include "tern/platform_state.h"
#include "tern/state.h"
#include "tern/vcpu_state.h"
#include "unit.h"

#define MSR_TSC 0x10
#define MSR_SYSENTER_CS 0x174
#define MSR_LSTAR 0xc0000082
#define MSR_TSC_AUX 0xc0000103
#define MSR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_TSC_DEADLINE 0x6e0

/* ---- fixtures ---- */

static void caps_all(struct vcpu_state_caps *caps, uint32_t xsave_size)
{
	memset(caps, 0, sizeof(*caps));
	caps->xsave_size = xsave_size;
	caps->xsave2 = xsave_size > 0;
	caps->xcrs = true;
	caps->sregs2 = true;
	for (unsigned int i = 0; i < x86_nr_state_msrs; i++)
		caps->msrs[caps->nmsrs++] = x86_state_msrs[i].index;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type,
			 bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

static void add_msr(struct vcpu_state *s, uint32_t index, uint64_t v)
{
	s->msrs[s->nmsrs].index = index;
	s->msrs[s->nmsrs].data = v;
	s->nmsrs++;
}

/* A long-mode vCPU with recognisable values everywhere, all valid. */
static struct vcpu_state *state_new(uint32_t xsave_size)
{
	struct vcpu_state *s = g_new0(struct vcpu_state, 1);
	struct kvm_sregs2 *sr = &s->sregs;
	uint8_t *x = (uint8_t *)s->xsave;

	s->regs = (struct kvm_regs){ .rax = 0x1111, .rbx = 0x2222, .rcx = 0x3333,
				     .rdx = 0x4444, .rsi = 0x5555, .rdi = 0x6666,
				     .rsp = 0x7ff0, .rbp = 0x8888, .r8 = 8,
				     .r15 = 0xf15, .rip = 0xffffffff81000000ULL,
				     .rflags = 0x246 };
	flat_segment(&sr->cs, 0x10, 0xb, true);
	flat_segment(&sr->ds, 0x18, 0x3, false);
	sr->es = sr->ss = sr->ds;
	flat_segment(&sr->fs, 0, 0x3, false);
	sr->fs.base = 0x7f0000001000ULL;
	sr->gs = sr->fs;
	sr->gs.base = 0xffff888000000000ULL;
	sr->tr = (struct kvm_segment){ .base = 0x1000, .limit = 0x67,
				       .selector = 0x28, .type = 0xb,
				       .present = 1 };
	sr->ldt = (struct kvm_segment){ .unusable = 1 };
	sr->gdt = (struct kvm_dtable){ .base = 0x500, .limit = 0x2f };
	sr->idt = (struct kvm_dtable){ .base = 0xffffffff82000000ULL, .limit = 0xfff };
	sr->cr0 = 0x80050033; /* PG AM WP NE ET MP PE */
	sr->cr2 = 0xdead000;
	sr->cr3 = 0x9000;
	sr->cr4 = 0x3606a0; /* PAE PGE OSFXSR OSXMMEXCPT PCIDE OSXSAVE SMEP SMAP */
	sr->cr8 = 3;
	sr->efer = 0xd01; /* SCE LME LMA NXE */
	sr->apic_base = 0xfee00900;

	s->xsave_size = xsave_size;
	if (xsave_size) {
		le16_put(x + 0, 0x37f);
		le32_put(x + 24, 0x1f80);
		memset(x + 160, 0xa5, 16); /* xmm0 */
		le64_put(x + 512, 0x7);
	} else {
		s->fpu.fcw = 0x37f;
		s->fpu.mxcsr = 0x1f80;
		memset(s->fpu.xmm[1], 0x5a, 16);
	}
	s->has_xcr0 = true;
	s->xcr0 = 0x7;
	add_msr(s, MSR_TSC, 0x123456789ULL);
	add_msr(s, MSR_SYSENTER_CS, 0x10);
	add_msr(s, MSR_LSTAR, 0xffffffff81800000ULL);
	add_msr(s, MSR_TSC_AUX, 1);
	add_msr(s, MSR_PAT, 0x0007040600070406ULL);
	add_msr(s, MSR_MTRR_DEF_TYPE, 0xc06);
	add_msr(s, MSR_KVM_SYSTEM_TIME_NEW, 0x3001);
	add_msr(s, MSR_TSC_DEADLINE, 0x123456789ULL + 1000000);
	for (unsigned int i = 0; i < sizeof(s->lapic.regs); i++)
		s->lapic.regs[i] = (char)(i * 7);
	s->events.exception.injected = 1;
	s->events.exception.nr = 14;
	s->events.exception.has_error_code = 1;
	s->events.exception.error_code = 2;
	s->events.interrupt.shadow = 1;
	s->events.nmi.masked = 1;
	s->events.smi.latched_init = 1;
	s->mp_state = KVM_MP_STATE_HALTED;
	s->debugregs.db[0] = 0x1000;
	s->debugregs.db[3] = 0x4000;
	s->debugregs.dr6 = 0xffff0ff0;
	s->debugregs.dr7 = 0x10401;
	return s;
}

static uint8_t *vcpu_stream(const struct vcpu_state *s, unsigned int id,
			    size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	vcpu_state_save(s, id, &w);
	return state_writer_finish(&w, len);
}

/* Re-seal the checksum after a test changed bytes on purpose. */
static void reseal(uint8_t *buf, size_t len)
{
	le32_put(buf + len - 4, state_crc32(0, buf, len - 4));
}

/* Where section name's payload starts in a stream. */
static size_t payload_of(const uint8_t *buf, size_t len, const char *name)
{
	size_t pos = STATE_HEADER_SIZE;

	while (pos < len - STATE_TRAILER_SIZE) {
		size_t n = buf[pos];
		size_t payload = pos + 1 + n + 8;

		if (n == strlen(name) && !memcmp(buf + pos + 1, name, n))
			return payload;
		pos = payload + le32_get(buf + pos + 1 + n + 4);
	}
	ck_abort_msg("no section %s", name);
	return 0;
}

static void patch_u8(uint8_t *buf, size_t len, const char *sec, size_t off,
		     uint8_t v)
{
	buf[payload_of(buf, len, sec) + off] = v;
	reseal(buf, len);
}

static void patch_u32(uint8_t *buf, size_t len, const char *sec, size_t off,
		      uint32_t v)
{
	le32_put(buf + payload_of(buf, len, sec) + off, v);
	reseal(buf, len);
}

/* Byte offsets in a "cpu.N" payload (see vcpu_state_format.c). */
#define OFF_SREGS (18 * 8)
#define SEG_SIZE 23
#define OFF_FPU (OFF_SREGS + 8 * SEG_SIZE + 2 * 10 + 7 * 8 + 1 + 4 * 8)

static size_t off_msrs(const struct vcpu_state *s)
{
	size_t fpu = 4 + (s->xsave_size ? s->xsave_size : 128 + 2 + 2 + 1 + 2 +
							     8 + 8 + 256 + 4);

	return OFF_FPU + fpu + 1 + (s->has_xcr0 ? 8 : 0);
}

static size_t off_lapic(const struct vcpu_state *s)
{
	return off_msrs(s) + 4 + 12 * s->nmsrs;
}

static size_t off_events(const struct vcpu_state *s)
{
	return off_lapic(s) + 4 + VCPU_STATE_LAPIC_SIZE;
}

/* Load buf as vCPU 0 with caps; expect failure mentioning what. */
static void expect_vcpu_fails(const uint8_t *buf, size_t len,
			      const struct vcpu_state_caps *caps, const char *what)
{
	g_autofree struct vcpu_state *got = g_new0(struct vcpu_state, 1);
	struct state_reader r;
	GError *err = NULL;

	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert_msg(!vcpu_state_load(&r, 0, caps, got, &err),
		      "a state with a bad '%s' was accepted", what);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err->message, what), "'%s' lacks '%s'",
		      err->message, what);
	g_error_free(err);
	state_reader_clear(&r);
}

static bool vcpu_loads(const uint8_t *buf, size_t len, unsigned int id,
		       const struct vcpu_state_caps *caps, struct vcpu_state *out)
{
	struct state_reader r;
	GError *err = NULL;
	bool ok;

	ck_assert(state_reader_init(&r, buf, len, NULL));
	ok = vcpu_state_load(&r, id, caps, out, &err);
	ck_assert_msg(ok, "load failed: %s", err ? err->message : "?");
	ck_assert(state_reader_finish(&r, NULL));
	state_reader_clear(&r);
	return ok;
}

static void platform_fill(struct platform_state *p);

/* ---- pure round trips ---- */

static void check_vcpu_roundtrip(uint32_t xsave_size)
{
	g_autofree struct vcpu_state *s = state_new(xsave_size);
	g_autofree struct vcpu_state *got = g_new0(struct vcpu_state, 1);
	struct vcpu_state_caps caps;
	g_autofree uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;

	caps_all(&caps, xsave_size);
	a = vcpu_stream(s, 3, &alen);
	ck_assert(vcpu_loads(a, alen, 3, &caps, got));
	/* Every field came back, and nothing else (both started zeroed). */
	ck_assert(!memcmp(s, got, sizeof(*s)));
	b = vcpu_stream(got, 3, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert(!memcmp(a, b, alen));
}

START_TEST(vcpu_roundtrip_xsave)
{
	check_vcpu_roundtrip(4096);
}
END_TEST

START_TEST(vcpu_roundtrip_xsave_large)
{
	check_vcpu_roundtrip(VCPU_STATE_XSAVE_MAX);
}
END_TEST

START_TEST(vcpu_roundtrip_legacy_fpu)
{
	check_vcpu_roundtrip(0);
}
END_TEST

/* The layout is fixed: changing it needs a new section version. */
START_TEST(vcpu_layout_fixed)
{
	g_autofree struct vcpu_state *s = state_new(4096);
	g_autofree uint8_t *a = NULL;
	size_t len, p;

	a = vcpu_stream(s, 0, &len);
	p = payload_of(a, len, "cpu.0");
	ck_assert_uint_eq(le64_get(a + p), 0x1111); /* rax first */
	ck_assert_uint_eq(le64_get(a + p + 17 * 8), 0x246); /* rflags */
	ck_assert_uint_eq(le64_get(a + p + OFF_SREGS), 0); /* cs.base */
	ck_assert_uint_eq(le32_get(a + p + OFF_FPU), 4096);
	ck_assert_uint_eq(le32_get(a + p + off_msrs(s)), s->nmsrs);
	ck_assert_uint_eq(le32_get(a + p + off_msrs(s) + 4), MSR_TSC);
	ck_assert_uint_eq(le32_get(a + p + off_lapic(s)), VCPU_STATE_LAPIC_SIZE);
	ck_assert_uint_eq(a[p + off_events(s) + 1], 14); /* exception.nr */
	/* events 37, mp_state 4, debug registers 48: the end. */
	ck_assert_uint_eq(len - 4 - p, off_events(s) + 37 + 4 + 48);
}
END_TEST

/* ---- malformed vCPU states ---- */

struct vcpu_case {
	const char *what; /* a piece of the expected message */
	void (*mutate)(struct vcpu_state *s, struct vcpu_state_caps *caps);
};

#define CASE(name, body)                                                      \
	static void name(struct vcpu_state *s, struct vcpu_state_caps *caps)  \
	{                                                                     \
		(void)caps;                                                   \
		body;                                                         \
	}
CASE(m_rflags_reserved, s->regs.rflags |= 1 << 15)
CASE(m_rflags_fixed, s->regs.rflags &= ~2ULL)
CASE(m_cr0_reserved, s->sregs.cr0 |= 1 << 7)
CASE(m_cr0_nw, s->sregs.cr0 |= 1ULL << 29)
CASE(m_cr0_pg_pe, s->sregs.cr0 &= ~1ULL)
CASE(m_cr4_reserved, s->sregs.cr4 |= 1 << 15)
CASE(m_efer_reserved, s->sregs.efer |= 2)
CASE(m_long_no_pae, s->sregs.cr4 &= ~0x20ULL)
CASE(m_lma_no_lme, { s->sregs.efer &= ~0x100ULL; s->sregs.cs.l = 0; s->sregs.cs.db = 1; })
CASE(m_cr8, s->sregs.cr8 = 16)
CASE(m_apic_unaligned, s->sregs.apic_base = 0xfee00010)
CASE(m_apic_extd, s->sregs.apic_base = 0xfee00400)
CASE(m_apic_high, s->sregs.apic_base |= 1ULL << 60)
CASE(m_pdptrs_long, s->sregs.flags = KVM_SREGS2_FLAGS_PDPTRS_VALID)
CASE(m_pdptrs_unflagged, s->sregs.pdptrs[2] = 0x1001)
CASE(m_cs_data, s->sregs.cs.type = 0x3)
CASE(m_cs_l_db, s->sregs.cs.db = 1)
CASE(m_ds_g, s->sregs.ds.limit = 0xfffff000)
CASE(m_ds_limit, { s->sregs.ds.g = 0; s->sregs.ds.limit = 0x100000; })
CASE(m_ss_base, s->sregs.ss.base = 1ULL << 32)
CASE(m_tr_type, s->sregs.tr.type = 9)
CASE(m_tr_absent, s->sregs.tr.present = 0)
CASE(m_ldt_type, { s->sregs.ldt = s->sregs.tr; s->sregs.ldt.type = 3; })
CASE(m_fs_base, s->sregs.fs.base = 0x0000800000000000ULL)
CASE(m_gdt_base, s->sregs.gdt.base = 0x8000000000000000ULL)
CASE(m_es_type, s->sregs.es.type = 16)
CASE(m_gs_dpl, s->sregs.gs.dpl = 4)
CASE(m_xsave_size, caps->xsave_size = 8192)
CASE(m_xsave_none, caps->xsave_size = 0)
CASE(m_xsave_mxcsr, le32_put((uint8_t *)s->xsave + 24, 0x11f80))
CASE(m_xsave_xcomp, le64_put((uint8_t *)s->xsave + 520, 1ULL << 63 | 3))
CASE(m_xsave_sw, ((uint8_t *)s->xsave)[464] = 7)
CASE(m_xsave_hdr, ((uint8_t *)s->xsave)[560] = 1)
CASE(m_xcr0_x87, s->xcr0 = 6)
CASE(m_xcr0_avx, s->xcr0 = 5)
CASE(m_xcr0_avx512, s->xcr0 = 0x67)
CASE(m_xcr0_caps, caps->xcrs = false)
CASE(m_msr_unknown, s->msrs[1].index = 0x1234)
CASE(m_msr_caps, caps->msrs[10] = MSR_TSC) /* TSC_AUX gone, TSC twice */
CASE(m_msr_order, { struct kvm_msr_entry t = s->msrs[1]; s->msrs[1] = s->msrs[2]; s->msrs[2] = t; })
CASE(m_msr_repeat, s->msrs[2] = s->msrs[1])
CASE(m_msr_pat, s->msrs[4].data = 0x0007040600070402ULL)
CASE(m_msr_lstar, s->msrs[2].data = 0x0000800000000000ULL)
CASE(m_msr_mtrr, s->msrs[5].data = 0x1c06)
CASE(m_msr_tsc_aux, s->msrs[3].data = 1ULL << 32)
CASE(m_exc_nr, s->events.exception.nr = 32)
CASE(m_exc_nmi, s->events.exception.nr = 2)
CASE(m_shadow, s->events.interrupt.shadow = 4)
CASE(m_nmi_pending, s->events.nmi.pending = 3)
CASE(m_sipi, s->events.sipi_vector = 0x100)
CASE(m_ev_flags, s->events.flags = KVM_VCPUEVENT_VALID_SMM)
CASE(m_ev_payload, s->events.exception_payload = 0x1000)
CASE(m_ev_pending, s->events.exception.pending = 1)
CASE(m_ev_triple, s->events.triple_fault.pending = 1)
CASE(m_mp_state, s->mp_state = 5)
CASE(m_dr6, s->debugregs.dr6 |= 1ULL << 32)
CASE(m_dr7, s->debugregs.dr7 |= 1ULL << 40)

static const struct vcpu_case vcpu_cases[] = {
	{ "regs.rflags", m_rflags_reserved },
	{ "regs.rflags", m_rflags_fixed },
	{ "sregs.cr0 0x800500b3: reserved bits 0x80", m_cr0_reserved },
	{ "NW without CD", m_cr0_nw },
	{ "PG without PE", m_cr0_pg_pe },
	{ "sregs.cr4", m_cr4_reserved },
	{ "sregs.efer 0xd03: reserved bits 0x2", m_efer_reserved },
	{ "long mode needs cr4.PAE", m_long_no_pae },
	{ "LMA or a 64-bit CS outside long mode", m_lma_no_lme },
	{ "sregs.cr8 0x10", m_cr8 },
	{ "sregs.apic_base 0xfee00010", m_apic_unaligned },
	{ "x2APIC mode with the APIC disabled", m_apic_extd },
	{ "sregs.apic_base", m_apic_high },
	{ "sregs.pdptrs: valid only with PAE paging", m_pdptrs_long },
	{ "sregs.pdptrs: set but not marked valid", m_pdptrs_unflagged },
	{ "sregs.cs", m_cs_data },
	{ "a 64-bit CS (l=1) must have db=0", m_cs_l_db },
	{ "sregs.ds", m_ds_g },
	{ "limit must fit in 20 bits", m_ds_limit },
	{ "sregs.ss", m_ss_base },
	{ "sregs.tr", m_tr_type },
	{ "sregs.tr", m_tr_absent },
	{ "sregs.ldt", m_ldt_type },
	{ "sregs.fs", m_fs_base },
	{ "sregs.gdt.base", m_gdt_base },
	{ "sregs.es", m_es_type },
	{ "dpl is 0-3", m_gs_dpl },
	{ "fpu.xsave_size: the state has 4096 bytes of XSAVE area, this host's KVM takes 8192",
	  m_xsave_size },
	{ "the legacy FPU", m_xsave_none },
	{ "xsave.mxcsr", m_xsave_mxcsr },
	{ "xsave.xcomp_bv", m_xsave_xcomp },
	{ "reserved byte 464", m_xsave_sw },
	{ "reserved header byte 560", m_xsave_hdr },
	{ "xcr0 0x6: x87", m_xcr0_x87 },
	{ "xcr0 0x5: AVX without SSE", m_xcr0_avx },
	{ "AVX-512", m_xcr0_avx512 },
	{ "KVM_CAP_XCRS", m_xcr0_caps },
	{ "msrs[1]: MSR 0x1234 is not one tern saves", m_msr_unknown },
	{ "msrs[3]: MSR 0xc0000103 (TSC_AUX): this host's KVM does not have it",
	  m_msr_caps },
	{ "msrs[2]: MSR 0x174 (IA32_SYSENTER_CS) repeated or out of tern's order",
	  m_msr_order },
	{ "msrs[2]: MSR 0x174 (IA32_SYSENTER_CS) repeated", m_msr_repeat },
	{ "msrs[4]: MSR 0x277 (IA32_PAT)", m_msr_pat },
	{ "msrs[2]: MSR 0xc0000082 (LSTAR) = 0x800000000000: not a canonical",
	  m_msr_lstar },
	{ "MTRR_DEF_TYPE", m_msr_mtrr },
	{ "TSC_AUX is 32 bits", m_msr_tsc_aux },
	{ "events.exception.nr 32", m_exc_nr },
	{ "an NMI is not queued as an exception", m_exc_nmi },
	{ "events.interrupt.shadow 4", m_shadow },
	{ "events.nmi.pending 3", m_nmi_pending },
	{ "events.sipi_vector 0x100", m_sipi },
	{ "events.flags 0x8", m_ev_flags },
	{ "without the payload flag", m_ev_payload },
	{ "without the payload flag", m_ev_pending },
	{ "without the triple-fault flag", m_ev_triple },
	{ "mp_state 5", m_mp_state },
	{ "debugregs.dr6", m_dr6 },
	{ "debugregs.dr7", m_dr7 },
};

START_TEST(vcpu_field_out_of_range)
{
	const struct vcpu_case *c = &vcpu_cases[_i];
	g_autofree struct vcpu_state *s = state_new(4096);
	g_autofree uint8_t *buf = NULL;
	struct vcpu_state_caps caps;
	size_t len;

	caps_all(&caps, 4096);
	c->mutate(s, &caps);
	buf = vcpu_stream(s, 0, &len);
	expect_vcpu_fails(buf, len, &caps, c->what);
}
END_TEST

START_TEST(vcpu_legacy_fpu_mxcsr)
{
	g_autofree struct vcpu_state *s = state_new(0);
	g_autofree uint8_t *buf = NULL;
	struct vcpu_state_caps caps;
	size_t len;

	caps_all(&caps, 0);
	s->fpu.mxcsr = 0x10000;
	buf = vcpu_stream(s, 0, &len);
	expect_vcpu_fails(buf, len, &caps, "fpu.mxcsr 0x10000");
}
END_TEST

/* Bytes save cannot produce: booleans that are not 0/1, bounds. */
START_TEST(vcpu_bytes_out_of_range)
{
	g_autofree struct vcpu_state *s = state_new(4096);
	struct vcpu_state_caps caps;
	size_t len;
	g_autofree uint8_t *good = NULL;
	g_autofree uint8_t *buf = NULL;

	caps_all(&caps, 4096);
	good = vcpu_stream(s, 0, &len);
	buf = g_memdup2(good, len);

	/* cs.present is byte 16 of the first segment. */
	patch_u8(buf, len, "cpu.0", OFF_SREGS + 16, 2);
	expect_vcpu_fails(buf, len, &caps, "sregs.cs.present 2: a boolean");
	memcpy(buf, good, len);
	patch_u8(buf, len, "cpu.0", off_events(s), 3);
	expect_vcpu_fails(buf, len, &caps, "events.exception.injected 3");
	memcpy(buf, good, len);
	patch_u8(buf, len, "cpu.0", off_msrs(s) - 9, 2);
	expect_vcpu_fails(buf, len, &caps, "xcr.has_xcr0 2");
	/* More MSRs than a state may hold: refused before reading them. */
	memcpy(buf, good, len);
	patch_u32(buf, len, "cpu.0", off_msrs(s), VCPU_STATE_MAX_MSRS + 1);
	expect_vcpu_fails(buf, len, &caps, "msrs: 65 MSRs, more than the 64");
	memcpy(buf, good, len);
	patch_u32(buf, len, "cpu.0", off_msrs(s), 0xffffffff);
	expect_vcpu_fails(buf, len, &caps, "more than the 64");
	memcpy(buf, good, len);
	patch_u32(buf, len, "cpu.0", off_lapic(s), 1023);
	expect_vcpu_fails(buf, len, &caps, "lapic: a 1023-byte register page");
	/* An XSAVE size beyond any bound never reaches a copy. */
	memcpy(buf, good, len);
	patch_u32(buf, len, "cpu.0", OFF_FPU, 0x7fffffff);
	expect_vcpu_fails(buf, len, &caps, "fpu.xsave_size");
}
END_TEST

/* Rebuild a stream whose one section has the given name, version, bytes. */
static uint8_t *stream_with(const char *name, uint32_t version,
			    const uint8_t *payload, size_t plen, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	state_section_begin(&w, version, "%s", name);
	state_put_bytes(&w, payload, plen);
	state_section_end(&w);
	return state_writer_finish(&w, len);
}

START_TEST(vcpu_section_framing)
{
	g_autofree struct vcpu_state *s = state_new(4096);
	struct vcpu_state_caps caps;
	g_autofree uint8_t *good = NULL;
	size_t len, plen, p;

	caps_all(&caps, 4096);
	good = vcpu_stream(s, 0, &len);
	p = payload_of(good, len, "cpu.0");
	plen = len - STATE_TRAILER_SIZE - p;

	/* Cut anywhere: every prefix of the section is refused. */
	for (size_t cut = 0; cut < plen; cut += cut < 600 ? 1 : 97) {
		g_autofree uint8_t *b = NULL;
		size_t blen;

		b = stream_with("cpu.0", 1, good + p, cut, &blen);
		expect_vcpu_fails(b, blen, &caps, "cpu.0");
	}
	{
		g_autofree uint8_t *b = NULL, *longer = g_malloc0(plen + 3);
		size_t blen;

		b = stream_with("cpu.0", 1, good + p, plen / 2, &blen);
		expect_vcpu_fails(b, blen, &caps, "wanted");
		g_free(b);
		b = stream_with("cpu.1", 1, good + p, plen, &blen);
		expect_vcpu_fails(b, blen, &caps, "expected section 'cpu.0', found 'cpu.1'");
		g_free(b);
		b = stream_with("cpu.0", 2, good + p, plen, &blen);
		expect_vcpu_fails(b, blen, &caps, "version 2");
		g_free(b);
		memcpy(longer, good + p, plen);
		b = stream_with("cpu.0", 1, longer, plen + 3, &blen);
		expect_vcpu_fails(b, blen, &caps, "3 bytes this version does not know");
	}
}
END_TEST

/*
 * Every byte of a valid stream replaced (and the checksum re-sealed): the
 * load either accepts the value or refuses it, and never reads or writes
 * out of bounds (the ASan run checks that part).
 */
START_TEST(every_byte_changed)
{
	g_autofree struct vcpu_state *s = state_new(4096);
	g_autofree struct vcpu_state *got = g_new0(struct vcpu_state, 1);
	struct vcpu_state_caps caps;
	struct platform_state p, pgot;
	g_autofree uint8_t *good = NULL;
	struct state_writer w;
	size_t len, cpu, xsave, lapic;
	unsigned int refused = 0;

	caps_all(&caps, 4096);
	platform_fill(&p);
	state_writer_init(&w);
	vcpu_state_save(s, 0, &w);
	platform_state_save(&p, &w);
	good = state_writer_finish(&w, &len);
	cpu = payload_of(good, len, "cpu.0");
	xsave = cpu + OFF_FPU + 4;
	lapic = cpu + off_lapic(s) + 4;
	for (size_t i = STATE_HEADER_SIZE; i < len - STATE_TRAILER_SIZE; i++) {
		static const uint8_t vals[] = { 0xff, 0x80, 0x02 };

		/* Free-form pages: a sample is enough (and keeps this quick). */
		if (((i >= xsave + 600 && i < xsave + 4096) ||
		     (i >= lapic && i < lapic + VCPU_STATE_LAPIC_SIZE)) &&
		    i % 61)
			continue;

		for (size_t v = 0; v < G_N_ELEMENTS(vals); v++) {
			g_autofree uint8_t *b = g_memdup2(good, len);
			struct state_reader r;
			GError *err = NULL;

			if (b[i] == vals[v])
				continue;
			b[i] = vals[v];
			reseal(b, len);
			if (!state_reader_init(&r, b, len, &err)) {
				g_clear_error(&err); /* a section header */
				refused++;
				continue;
			}
			if (!vcpu_state_load(&r, 0, &caps, got, &err) ||
			    !platform_state_load(&r, &pgot, &err) ||
			    !state_reader_finish(&r, &err)) {
				ck_assert_ptr_nonnull(err);
				refused++;
			}
			g_clear_error(&err);
			state_reader_clear(&r);
		}
	}
	/* Most bytes are free-form (registers, XSAVE, LAPIC); many are not. */
	ck_assert_uint_gt(refused, 200);
}
END_TEST

/* ---- x86 facts ---- */

START_TEST(msr_table_order)
{
	const struct x86_msr_desc *t = x86_state_msrs;
	unsigned int n = x86_nr_state_msrs;
	int pos_int = -1, pos_en = -1;

	ck_assert_uint_eq(t[0].index, MSR_TSC);
	ck_assert_uint_eq(t[n - 1].index, MSR_TSC_DEADLINE);
	ck_assert(t[n - 1].flags & X86_MSR_AFTER_LAPIC);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_ptr_eq(x86_state_msr_find(t[i].index), &t[i]);
		if (t[i].index == MSR_KVM_ASYNC_PF_INT)
			pos_int = (int)i;
		if (t[i].index == MSR_KVM_ASYNC_PF_EN)
			pos_en = (int)i;
		if (i + 1 < n)
			ck_assert(!(t[i].flags & X86_MSR_AFTER_LAPIC));
	}
	ck_assert_int_ge(pos_int, 0);
	ck_assert_int_lt(pos_int, pos_en);
	ck_assert_ptr_null(x86_state_msr_find(0x1b)); /* APIC base: in sregs */
	ck_assert_ptr_null(x86_state_msr_find(0xc0000080)); /* EFER: in sregs */
}
END_TEST

START_TEST(canonical_addresses)
{
	ck_assert(x86_canonical(0, false));
	ck_assert(x86_canonical(0x00007fffffffffffULL, false));
	ck_assert(!x86_canonical(0x0000800000000000ULL, false));
	ck_assert(x86_canonical(0xffff800000000000ULL, false));
	ck_assert(x86_canonical(0x0000800000000000ULL, true));
	ck_assert(!x86_canonical(0x0100000000000000ULL, true));
	ck_assert(x86_canonical(0xff00000000000000ULL, true));
}
END_TEST

/* What KVM returns for a vCPU just created (read on the dev host). */
START_TEST(kvm_reset_state_valid)
{
	struct kvm_sregs2 s;
	char why[200] = "";

	memset(&s, 0, sizeof(s));
	s.cs = (struct kvm_segment){ .base = 0xffff0000, .limit = 0xffff,
				     .selector = 0xf000, .type = 11,
				     .present = 1, .s = 1 };
	s.ds = (struct kvm_segment){ .limit = 0xffff, .type = 3, .present = 1,
				     .s = 1 };
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.gdt.limit = s.idt.limit = 0xffff;
	s.cr0 = 0x60000010;
	s.apic_base = 0xfee00900;
	ck_assert_msg(x86_sregs_check(&s, why, sizeof(why)), "%s", why);
}
END_TEST

/* ---- platform ---- */

static void platform_fill(struct platform_state *p)
{
	memset(p, 0, sizeof(*p));
	p->pic[0] = (struct kvm_pic_state){ .irr = 0x01, .imr = 0xfb,
					    .irq_base = 0x20, .priority_add = 3,
					    .init4 = 1, .elcr_mask = 0xf8 };
	p->pic[1] = (struct kvm_pic_state){ .imr = 0xff, .irq_base = 0x28,
					    .init4 = 1, .elcr = 0x0c,
					    .elcr_mask = 0xde, .init_state = 2 };
	p->ioapic.base_address = 0xfec00000;
	p->ioapic.id = 5;
	p->ioapic.ioregsel = 0x12;
	for (unsigned int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		p->ioapic.redirtbl[i].bits = 1ULL << 16;
	p->ioapic.redirtbl[4].bits = 0x0100000000010034ULL;
	p->ioapic.redirtbl[9].bits = 0x000000000001a039ULL;
	for (unsigned int i = 0; i < 3; i++) {
		p->pit.channels[i].count = 0x10000;
		p->pit.channels[i].mode = 0xff;
		p->pit.channels[i].gate = i != 2;
	}
	p->pit.channels[2] = (struct kvm_pit_channel_state){
		.count = 0x1234, .rw_mode = 3, .read_state = 3, .write_state = 3,
		.mode = 3, .gate = 1, .latched_count = 0x1200,
		.count_latched = 3 };
	p->pit.flags = KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	p->clock = 1234567890123ULL;
	p->clock_flags = KVM_CLOCK_TSC_STABLE;
}

static uint8_t *platform_stream(const struct platform_state *p, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	platform_state_save(p, &w);
	return state_writer_finish(&w, len);
}

static void expect_platform_fails(const uint8_t *buf, size_t len,
				  const char *what)
{
	struct platform_state got;
	struct state_reader r;
	GError *err = NULL;

	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert_msg(!platform_state_load(&r, &got, &err),
		      "a platform state with a bad '%s' was accepted", what);
	ck_assert_msg(strstr(err->message, what), "'%s' lacks '%s'",
		      err->message, what);
	g_error_free(err);
	state_reader_clear(&r);
}

START_TEST(platform_roundtrip)
{
	struct platform_state p, got;
	struct state_reader r;
	g_autofree uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	GError *err = NULL;

	platform_fill(&p);
	a = platform_stream(&p, &alen);
	ck_assert(state_reader_init(&r, a, alen, NULL));
	ck_assert_msg(platform_state_load(&r, &got, &err), "%s",
		      err ? err->message : "");
	ck_assert(state_reader_finish(&r, NULL));
	ck_assert(!memcmp(&p, &got, sizeof(p)));
	b = platform_stream(&got, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert(!memcmp(a, b, alen));
}
END_TEST

struct platform_case {
	const char *what;
	void (*mutate)(struct platform_state *p);
};

#define PCASE(name, body)                                  \
	static void name(struct platform_state *p)         \
	{                                                  \
		body;                                      \
	}
PCASE(p_priority, p->pic[0].priority_add = 8)
PCASE(p_irq_base, p->pic[1].irq_base = 0x29)
PCASE(p_init_state, p->pic[0].init_state = 4)
PCASE(p_elcr_mask, p->pic[0].elcr_mask = 0xff)
PCASE(p_elcr, p->pic[0].elcr = 0x01)
PCASE(p_io_base, p->ioapic.base_address = 0xfec01000)
PCASE(p_io_sel, p->ioapic.ioregsel = 0x100)
PCASE(p_io_id, p->ioapic.id = 0x10)
PCASE(p_io_irr, p->ioapic.irr = 1 << 24)
PCASE(p_io_rte, p->ioapic.redirtbl[7].bits |= 1ULL << 40)
PCASE(p_pit_zero, p->pit.channels[0].count = 0)
PCASE(p_pit_big, p->pit.channels[1].count = 0x10001)
PCASE(p_pit_latched, p->pit.channels[2].count_latched = 4)
PCASE(p_pit_read, p->pit.channels[2].read_state = 5)
PCASE(p_pit_write, p->pit.channels[1].write_state = 5)
PCASE(p_pit_rw, p->pit.channels[0].rw_mode = 4)
PCASE(p_pit_mode, p->pit.channels[2].mode = 8)
PCASE(p_pit_flags, p->pit.flags = 4)
PCASE(p_clock_flags, p->clock_flags = KVM_CLOCK_REALTIME)

static const struct platform_case platform_cases[] = {
	{ "pic[master].priority_add 8", p_priority },
	{ "pic[slave].irq_base 0x29", p_irq_base },
	{ "pic[master].init_state 4", p_init_state },
	{ "pic[master].elcr_mask 0xff: KVM's is 0xf8", p_elcr_mask },
	{ "pic[master].elcr 0x1", p_elcr },
	{ "ioapic.base_address 0xfec01000", p_io_base },
	{ "ioapic.ioregsel 0x100", p_io_sel },
	{ "ioapic.id 0x10", p_io_id },
	{ "ioapic.irr 0x1000000", p_io_irr },
	{ "ioapic.redirtbl[7]", p_io_rte },
	{ "pit.channel[0].count 0", p_pit_zero },
	{ "pit.channel[1].count 65537", p_pit_big },
	{ "pit.channel[2].count_latched 4", p_pit_latched },
	{ "pit.channel[2].read_state 5", p_pit_read },
	{ "pit.channel[1].write_state 5", p_pit_write },
	{ "pit.channel[0].rw_mode 4", p_pit_rw },
	{ "pit.channel[2].mode 8", p_pit_mode },
	{ "pit.flags 0x4", p_pit_flags },
	{ "clock.flags 0x4", p_clock_flags },
};

START_TEST(platform_field_out_of_range)
{
	struct platform_state p;
	g_autofree uint8_t *buf = NULL;
	size_t len;

	platform_fill(&p);
	platform_cases[_i].mutate(&p);
	buf = platform_stream(&p, &len);
	expect_platform_fails(buf, len, platform_cases[_i].what);
}
END_TEST

START_TEST(platform_bytes_and_framing)
{
	struct platform_state p;
	g_autofree uint8_t *good = NULL, *buf = NULL;
	struct state_writer w;
	size_t len, glen;

	platform_fill(&p);
	good = platform_stream(&p, &glen);
	len = glen;
	buf = g_memdup2(good, len);
	patch_u8(buf, len, "irqchip", 7, 2); /* master poll */
	expect_platform_fails(buf, len, "pic[master].poll 2");
	memcpy(buf, good, len);
	patch_u8(buf, len, "pit", 16 + 7, 9); /* channel 1 status_latched */
	expect_platform_fails(buf, len, "pit.channel[1].status_latched 9");
	memcpy(buf, good, len);
	patch_u8(buf, len, "pit", 13, 0xff); /* channel 0 mode: never set, fine */
	{
		struct platform_state got;
		struct state_reader r;

		ck_assert(state_reader_init(&r, buf, len, NULL));
		ck_assert(platform_state_load(&r, &got, NULL));
		ck_assert_uint_eq(got.pit.channels[0].mode, 0xff);
	}

	/* The irqchip section only: "pit" is missing. */
	g_free(buf);
	state_writer_init(&w);
	state_section_begin(&w, 1, "irqchip");
	state_put_bytes(&w, good + payload_of(good, glen, "irqchip"),
			2 * 16 + 8 + 12 + 24 * 8);
	state_section_end(&w);
	buf = state_writer_finish(&w, &len);
	expect_platform_fails(buf, len, "section 'pit' is missing");
	/* A truncated irqchip section. */
	g_free(buf);
	buf = stream_with("irqchip", 1, good + payload_of(good, glen, "irqchip"), 40,
			  &len);
	expect_platform_fails(buf, len, "wanted");
	g_free(buf);
	buf = stream_with("irqchip", 7, good + STATE_HEADER_SIZE, 40, &len);
	expect_platform_fails(buf, len, "version 7");
}
END_TEST

/* ---- against KVM ---- */

#define TEST_MEM (1u << 20)
#define CODE_GPA 0x1000
#define DATA_BASE 0x2000

struct test_vm {
	int kvm, vm, vcpu[2];
	uint8_t *mem;
	unsigned int phys_bits; /* CPUID 0x80000008 as set */
	struct vcpu_state_caps caps;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	ck_assert_msg(ret >= 0, "ioctl 0x%lx: %s", req, g_strerror(errno));
	return ret;
}

static void test_vm_create(struct test_vm *t)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct kvm_userspace_memory_region region;
	struct kvm_cpuid2 *cpuid;
	uint64_t identity = 0xfffbc000;
	GError *err = NULL;

	t->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(t->kvm, 0);
	t->vm = ioctl(t->kvm, KVM_CREATE_VM, 0);
	ck_assert_int_ge(t->vm, 0);
	xioctl(t->vm, KVM_SET_TSS_ADDR, (void *)0xfffbd000UL);
	if (ioctl(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
		xioctl(t->vm, KVM_SET_IDENTITY_MAP_ADDR, &identity);
	xioctl(t->vm, KVM_CREATE_IRQCHIP, NULL);
	xioctl(t->vm, KVM_CREATE_PIT2, &pit);
	t->mem = mmap(NULL, TEST_MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(t->mem != MAP_FAILED);
	region = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = TEST_MEM,
		.userspace_addr = (uintptr_t)t->mem };
	xioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &region);
	cpuid = g_malloc0(sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
	cpuid->nent = 256;
	xioctl(t->kvm, KVM_GET_SUPPORTED_CPUID, cpuid);
	t->phys_bits = 36;
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 0x80000008)
			t->phys_bits = cpuid->entries[i].eax & 0xff;
	for (int i = 0; i < 2; i++) {
		t->vcpu[i] = ioctl(t->vm, KVM_CREATE_VCPU, i);
		ck_assert_int_ge(t->vcpu[i], 0);
		xioctl(t->vcpu[i], KVM_SET_CPUID2, cpuid);
	}
	g_free(cpuid);
	ck_assert_msg(vcpu_state_caps_init(&t->caps, t->kvm, t->vm, t->vcpu[0], &err),
		      "%s", err ? err->message : "");
}

static void test_vm_destroy(struct test_vm *t)
{
	close(t->vcpu[0]);
	close(t->vcpu[1]);
	close(t->vm);
	close(t->kvm);
	munmap(t->mem, TEST_MEM);
}

static bool caps_has(const struct vcpu_state_caps *caps, uint32_t index)
{
	for (unsigned int i = 0; i < caps->nmsrs; i++)
		if (caps->msrs[i] == index)
			return true;
	return false;
}

static void set_msr(int fd, const struct vcpu_state_caps *caps, uint32_t index,
		    uint64_t v)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} m = { .hdr.nmsrs = 1, .e[0] = { .index = index, .data = v } };

	if (!caps_has(caps, index))
		return;
	ck_assert_msg(ioctl(fd, KVM_SET_MSRS, &m) == 1, "MSR 0x%x", index);
}

static void lapic_set(struct kvm_lapic_state *l, unsigned int off, uint32_t v)
{
	memcpy(&l->regs[off], &v, 4);
}

/* Recognisable values in every part of VM 1, through KVM's own ioctls. */
static void test_vm_fill(struct test_vm *t)
{
	for (int i = 0; i < 2; i++) {
		int fd = t->vcpu[i];
		const struct vcpu_state_caps *c = &t->caps;
		struct kvm_regs regs = { .rax = 0x1233 + 0x100 * i, .rbx = 0xb0b0,
					 .rcx = 0xc0c0 + i, .rsp = 0x8000,
					 .rip = CODE_GPA + 0x100 * i, .rflags = 0x2 };
		struct kvm_sregs sregs;
		struct kvm_lapic_state lapic;
		struct kvm_debugregs dbg;
		struct kvm_vcpu_events ev;
		struct kvm_mp_state mp = { i ? KVM_MP_STATE_HALTED
					     : KVM_MP_STATE_RUNNABLE };
		uint8_t xsave[VCPU_STATE_XSAVE_MAX];
		struct kvm_xcrs xcrs = { .nr_xcrs = 1,
					 .xcrs[0] = { .xcr = 0, .value = 0x7 } };

		xioctl(fd, KVM_GET_SREGS, &sregs);
		sregs.cs.selector = 0;
		sregs.cs.base = 0;
		sregs.ds.selector = DATA_BASE >> 4;
		sregs.ds.base = DATA_BASE;
		sregs.gdt.base = 0x500;
		sregs.gdt.limit = 0x1f;
		sregs.idt.limit = 0x3ff;
		sregs.cr2 = 0xdead000 + i;
		xioctl(fd, KVM_SET_SREGS, &sregs);
		xioctl(fd, KVM_SET_REGS, &regs);
		if (c->xsave_size) {
			memset(xsave, 0, sizeof(xsave));
			xioctl(fd, KVM_GET_XSAVE, xsave);
			memset(xsave + 160, 0xa5 + i, 16); /* xmm0 */
			le64_put(xsave + 512, le64_get(xsave + 512) | 3);
			xioctl(fd, KVM_SET_XSAVE, xsave);
		} else {
			struct kvm_fpu fpu;

			xioctl(fd, KVM_GET_FPU, &fpu);
			memset(fpu.xmm[0], 0xa5 + i, 16);
			xioctl(fd, KVM_SET_FPU, &fpu);
		}
		if (c->xcrs)
			xioctl(fd, KVM_SET_XCRS, &xcrs);
		set_msr(fd, c, 0x10, 0x10000000000ULL + i);
		set_msr(fd, c, 0x174, 0x10);
		set_msr(fd, c, 0x175, 0x8000);
		set_msr(fd, c, 0x176, 0x9000);
		set_msr(fd, c, 0xc0000081, 0x0023001000000000ULL);
		set_msr(fd, c, MSR_LSTAR, 0xffffffff81000000ULL + i);
		set_msr(fd, c, 0xc0000083, 0xffffffff81000100ULL);
		set_msr(fd, c, 0xc0000084, 0x47700);
		set_msr(fd, c, 0xc0000102, 0xffff888000001000ULL);
		set_msr(fd, c, MSR_TSC_AUX, 3 + i);
		set_msr(fd, c, MSR_PAT, 0x0007010600070106ULL);
		set_msr(fd, c, MSR_MTRR_DEF_TYPE, 0xc06);
		set_msr(fd, c, 0x250, 0x0606060606060606ULL);
		set_msr(fd, c, 0x200, 0x80000000);
		set_msr(fd, c, 0x201, 0xfc0000800ULL);
		set_msr(fd, c, MSR_KVM_SYSTEM_TIME_NEW, 0x3001);
		set_msr(fd, c, MSR_KVM_WALL_CLOCK_NEW, 0x4000);
		set_msr(fd, c, MSR_KVM_PV_EOI_EN, 0x5001);
		set_msr(fd, c, MSR_KVM_ASYNC_PF_INT, 0xec);
		set_msr(fd, c, MSR_KVM_POLL_CONTROL, 0);

		xioctl(fd, KVM_GET_LAPIC, &lapic);
		lapic_set(&lapic, 0x80, 0x20); /* TPR */
		lapic_set(&lapic, 0xd0, 0x01000000 << i); /* LDR */
		lapic_set(&lapic, 0xf0, 0x1ff); /* SPIV: enabled */
		lapic_set(&lapic, 0x320, 0x500ec); /* LVTT: TSC deadline, masked */
		lapic_set(&lapic, 0x350, 0x700); /* LVT0: ExtINT */
		lapic_set(&lapic, 0x360, 0x400); /* LVT1: NMI */
		lapic_set(&lapic, 0x370, 0x100fe); /* LVTERR */
		lapic_set(&lapic, 0x3e0, 0xb); /* TDCR */
		xioctl(fd, KVM_SET_LAPIC, &lapic);
		/* Far ahead of the TSC: it never fires during the test. */
		set_msr(fd, c, MSR_TSC_DEADLINE, 0x10000000000ULL << 4);

		xioctl(fd, KVM_GET_DEBUGREGS, &dbg);
		dbg.db[0] = 0x1000 + i;
		dbg.db[3] = 0x4000;
		dbg.dr7 = 0x400 | (1 << 16); /* RW0 set, nothing enabled */
		xioctl(fd, KVM_SET_DEBUGREGS, &dbg);
		xioctl(fd, KVM_GET_VCPU_EVENTS, &ev);
		ev.nmi.masked = 1;
		ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
			   KVM_VCPUEVENT_VALID_SHADOW;
		xioctl(fd, KVM_SET_VCPU_EVENTS, &ev);
		xioctl(fd, KVM_SET_MP_STATE, &mp);
	}
	{
		struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
		struct kvm_pit_state2 pit;
		struct kvm_clock_data clock = { .clock = 1000000000ULL };

		xioctl(t->vm, KVM_GET_IRQCHIP, &chip);
		chip.chip.ioapic.id = 5;
		chip.chip.ioapic.ioregsel = 0x12;
		chip.chip.ioapic.redirtbl[4].bits = 0x0100000000010034ULL;
		chip.chip.ioapic.redirtbl[9].bits = 0x000000000001a039ULL;
		xioctl(t->vm, KVM_SET_IRQCHIP, &chip);
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = KVM_IRQCHIP_PIC_SLAVE;
		xioctl(t->vm, KVM_GET_IRQCHIP, &chip);
		chip.chip.pic.irq_base = 0x28;
		chip.chip.pic.imr = 0xff;
		chip.chip.pic.elcr = 0x0c;
		xioctl(t->vm, KVM_SET_IRQCHIP, &chip);
		memset(&pit, 0, sizeof(pit));
		xioctl(t->vm, KVM_GET_PIT2, &pit);
		/* Channel 2 only: channel 0 would raise IRQ 0 as time goes. */
		pit.channels[2].count = 0x1234;
		pit.channels[2].mode = 3;
		pit.channels[2].rw_mode = 3;
		pit.channels[2].read_state = 3;
		pit.channels[2].write_state = 3;
		xioctl(t->vm, KVM_SET_PIT2, &pit);
		xioctl(t->vm, KVM_SET_CLOCK, &clock);
	}
}

struct capture {
	struct vcpu_state cpu[2];
	struct platform_state platform;
};

static void capture_get(struct test_vm *t, struct capture *c)
{
	GError *err = NULL;

	for (int i = 0; i < 2; i++)
		ck_assert_msg(!vcpu_state_get(t->vcpu[i], &t->caps, &c->cpu[i], &err),
			      "%s", err ? err->message : "");
	ck_assert_msg(!platform_state_get(t->vm, &c->platform, &err), "%s",
		      err ? err->message : "");
}

static void capture_set(struct test_vm *t, const struct capture *c)
{
	GError *err = NULL;

	for (int i = 0; i < 2; i++)
		ck_assert_msg(!vcpu_state_set(t->vcpu[i], &t->caps, &c->cpu[i], &err),
			      "vCPU %d: %s", i, err ? err->message : "");
	ck_assert_msg(!platform_state_set(t->vm, &c->platform, &err), "%s",
		      err ? err->message : "");
}

static uint8_t *capture_save(const struct capture *c, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	vcpu_state_save(&c->cpu[0], 0, &w);
	vcpu_state_save(&c->cpu[1], 1, &w);
	platform_state_save(&c->platform, &w);
	return state_writer_finish(&w, len);
}

static void capture_load(const uint8_t *buf, size_t len,
			 const struct vcpu_state_caps *caps, struct capture *c)
{
	struct state_reader r;
	GError *err = NULL;

	ck_assert_msg(state_reader_init(&r, buf, len, &err), "%s", err->message);
	for (unsigned int i = 0; i < 2; i++)
		ck_assert_msg(vcpu_state_load(&r, i, caps, &c->cpu[i], &err), "%s",
			      err->message);
	ck_assert_msg(platform_state_load(&r, &c->platform, &err), "%s",
		      err->message);
	ck_assert(state_reader_finish(&r, NULL));
}

static uint64_t msr_of(const struct vcpu_state *s, uint32_t index)
{
	for (unsigned int i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == index)
			return s->msrs[i].data;
	ck_abort_msg("MSR 0x%x not captured", index);
	return 0;
}

static void msr_put(struct vcpu_state *s, uint32_t index, uint64_t v)
{
	for (unsigned int i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == index)
			s->msrs[i].data = v;
}

static uint32_t lapic_get(const struct kvm_lapic_state *l, unsigned int off)
{
	uint32_t v;

	memcpy(&v, &l->regs[off], 4);
	return v;
}

/* The first differing byte, for a readable failure. */
static void ck_same_bytes(const uint8_t *a, size_t alen, const uint8_t *b,
			  size_t blen)
{
	size_t i = 0;

	while (i < alen && i < blen && a[i] == b[i])
		i++;
	ck_assert_msg(alen == blen && i == alen,
		      "streams differ: lengths %zu/%zu, first difference at byte %zu",
		      alen, blen, i);
}

static bool kvm_usable(const char *test)
{
	if (!access("/dev/kvm", R_OK | W_OK))
		return true;
	printf("SKIP: %s: /dev/kvm is not usable (%s)\n", test, g_strerror(errno));
	fflush(stdout);
	return false;
}

/* Without XSAVE, XCRs and SREGS2: the fallbacks for an older KVM. */
static void caps_legacy(struct vcpu_state_caps *caps)
{
	caps->xsave_size = 0;
	caps->xsave2 = false;
	caps->xcrs = false;
	caps->sregs2 = false;
}

static void test_vm_create_with(struct test_vm *t, bool legacy)
{
	test_vm_create(t);
	if (legacy)
		caps_legacy(&t->caps);
}

/*
 * VM 1 filled, captured, saved (stream a); loaded and set into a fresh
 * VM 2, captured and saved again (stream b): the same bytes once the two
 * clocks that ran in between (TSC, kvmclock) are checked and put back.
 * Then VM 2's vCPU 0 runs: inc ax; out 0x10, ax; mov ax, [0x10]; out
 * 0x11, ax; hlt -- with CS base 0, RIP 0x1000, DS base 0x2000 and AX
 * 0x1233 only if the set state is what the vCPU really runs with.
 */
static void kvm_roundtrip_check(bool legacy)
{
	g_autofree struct capture *c1 = g_new0(struct capture, 1);
	g_autofree struct capture *loaded = g_new0(struct capture, 1);
	g_autofree struct capture *c2 = g_new0(struct capture, 1);
	g_autofree uint8_t *a = NULL, *b = NULL;
	struct test_vm vm1, vm2;
	size_t alen, blen;
	uint64_t tsc_khz;

	test_vm_create_with(&vm1, legacy);
	test_vm_fill(&vm1);
	capture_get(&vm1, c1);
	a = capture_save(c1, &alen);

	/* The capture holds what was put in. */
	ck_assert_uint_eq(c1->cpu[0].regs.rax, 0x1233);
	ck_assert_uint_eq(c1->cpu[1].regs.rip, CODE_GPA + 0x100);
	ck_assert_uint_eq(c1->cpu[0].sregs.ds.base, DATA_BASE);
	ck_assert_uint_eq(c1->cpu[1].sregs.cr2, 0xdead001);
	ck_assert_uint_eq(c1->cpu[1].mp_state, KVM_MP_STATE_HALTED);
	ck_assert_uint_eq(msr_of(&c1->cpu[1], MSR_LSTAR), 0xffffffff81000001ULL);
	ck_assert_uint_eq(msr_of(&c1->cpu[0], MSR_TSC_DEADLINE),
			  0x10000000000ULL << 4);
	ck_assert_uint_eq(msr_of(&c1->cpu[0], MSR_KVM_SYSTEM_TIME_NEW), 0x3001);
	ck_assert_uint_eq(lapic_get(&c1->cpu[0].lapic, 0x320), 0x500ec);
	ck_assert_uint_eq(lapic_get(&c1->cpu[1].lapic, 0xd0), 0x02000000);
	ck_assert_uint_eq(c1->cpu[0].debugregs.db[0], 0x1000);
	ck_assert(c1->cpu[0].events.nmi.masked);
	if (vm1.caps.xsave_size)
		ck_assert_uint_eq(((uint8_t *)c1->cpu[1].xsave)[160], 0xa6);
	else
		ck_assert_uint_eq(c1->cpu[1].fpu.xmm[0][0], 0xa6);
	ck_assert(vm1.caps.xcrs == c1->cpu[0].has_xcr0);
	if (vm1.caps.xcrs)
		ck_assert_uint_eq(c1->cpu[0].xcr0, 7);
	ck_assert_uint_eq(c1->platform.ioapic.id, 5);
	ck_assert_uint_eq(c1->platform.ioapic.redirtbl[4].bits,
			  0x0100000000010034ULL);
	ck_assert_uint_eq(c1->platform.pic[1].elcr, 0x0c);
	ck_assert_uint_eq(c1->platform.pit.channels[2].count, 0x1234);
	ck_assert_uint_eq(c1->platform.pit.channels[1].count_load_time, 0);

	/* Into a fresh VM, and back out. */
	test_vm_create_with(&vm2, legacy);
	memcpy(vm2.mem + CODE_GPA, "\x40\xe7\x10\xa1\x10\x00\xe7\x11\xf4", 9);
	le16_put(vm2.mem + DATA_BASE + 0x10, 0xbeef);
	capture_load(a, alen, &vm2.caps, loaded);
	capture_set(&vm2, loaded);
	capture_get(&vm2, c2);

	tsc_khz = (uint64_t)ioctl(vm2.vcpu[0], KVM_GET_TSC_KHZ);
	ck_assert_int_gt(tsc_khz, 0);
	for (int i = 0; i < 2; i++) {
		uint64_t t1 = msr_of(&c1->cpu[i], MSR_TSC);
		uint64_t t2 = msr_of(&c2->cpu[i], MSR_TSC);

		ck_assert_msg(t2 >= t1 && t2 - t1 < 10 * 1000 * tsc_khz,
			      "vCPU %d TSC went from 0x%llx to 0x%llx", i,
			      (unsigned long long)t1, (unsigned long long)t2);
		msr_put(&c2->cpu[i], MSR_TSC, t1);
	}
	ck_assert(c2->platform.clock >= c1->platform.clock &&
		  c2->platform.clock - c1->platform.clock < 10000000000ULL);
	c2->platform.clock = c1->platform.clock;
	b = capture_save(c2, &blen);
	ck_same_bytes(a, alen, b, blen);

	{
		int size = ioctl(vm2.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
		struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE,
					   MAP_SHARED, vm2.vcpu[0], 0);
		const uint16_t want[2] = { 0x1234, 0xbeef };

		ck_assert(run != MAP_FAILED);
		for (int i = 0; i < 2; i++) {
			xioctl(vm2.vcpu[0], KVM_RUN, NULL);
			ck_assert_msg(run->exit_reason == KVM_EXIT_IO,
				      "exit reason %u", run->exit_reason);
			ck_assert_uint_eq(run->io.port, 0x10 + i);
			ck_assert_uint_eq(run->io.direction, KVM_EXIT_IO_OUT);
			ck_assert_uint_eq(run->io.size, 2);
			ck_assert_uint_eq(le16_get((uint8_t *)run +
						   run->io.data_offset),
					  want[i]);
		}
		munmap(run, size);
	}
	test_vm_destroy(&vm2);
	test_vm_destroy(&vm1);
}

START_TEST(kvm_roundtrip)
{
	if (kvm_usable("kvm_roundtrip"))
		kvm_roundtrip_check(false);
}
END_TEST

/* The same through KVM_GET_FPU and KVM_GET_SREGS, without XCRs. */
START_TEST(kvm_roundtrip_legacy_ioctls)
{
	if (kvm_usable("kvm_roundtrip_legacy_ioctls"))
		kvm_roundtrip_check(true);
}
END_TEST

/* A set that KVM refuses names the ioctl and the MSR. */
START_TEST(kvm_set_refused_names_msr)
{
	g_autofree struct vcpu_state *s = g_new0(struct vcpu_state, 1);
	struct test_vm vm;
	GError *err = NULL;
	unsigned int phys;

	if (!kvm_usable("kvm_set_refused_names_msr"))
		return;
	test_vm_create(&vm);
	phys = vm.phys_bits;
	if (phys >= 52) {
		printf("SKIP: kvm_set_refused_names_msr: 52 physical address bits, no MTRR mask bit is reserved\n");
		fflush(stdout);
		test_vm_destroy(&vm);
		return;
	}
	ck_assert(!vcpu_state_get(vm.vcpu[0], &vm.caps, s, &err));
	/* Valid for the format, but beyond this vCPU's physical bits. */
	msr_put(s, 0x201, (((1ULL << 52) - 1) & ~((1ULL << phys) - 1)) | 0x800);
	ck_assert_int_lt(vcpu_state_set(vm.vcpu[0], &vm.caps, s, &err), 0);
	ck_assert_msg(strstr(err->message,
			     "KVM_SET_MSRS: KVM refused MSR 0x201 (MTRR_PHYSMASK0)"),
		      "%s", err->message);
	g_error_free(err);
	test_vm_destroy(&vm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vcpu-state");
	TCase *tc;

	UNIT_TCASE(s, "format", vcpu_roundtrip_xsave, vcpu_roundtrip_xsave_large,
		   vcpu_roundtrip_legacy_fpu, vcpu_layout_fixed, platform_roundtrip);
	tc = tcase_create("malformed");
	tcase_add_loop_test(tc, vcpu_field_out_of_range, 0,
			    G_N_ELEMENTS(vcpu_cases));
	tcase_add_loop_test(tc, platform_field_out_of_range, 0,
			    G_N_ELEMENTS(platform_cases));
	tcase_add_test(tc, vcpu_legacy_fpu_mxcsr);
	tcase_add_test(tc, vcpu_bytes_out_of_range);
	tcase_add_test(tc, vcpu_section_framing);
	tcase_add_test(tc, platform_bytes_and_framing);
	tcase_add_test(tc, every_byte_changed);
	suite_add_tcase(s, tc);
	UNIT_TCASE(s, "x86", msr_table_order, canonical_addresses,
		   kvm_reset_state_valid);
	UNIT_TCASE(s, "kvm", kvm_roundtrip, kvm_roundtrip_legacy_ioctls,
		   kvm_set_refused_names_msr);
	return unit_run(s);
}
