// SPDX-License-Identifier: MIT
/*
 * The "cpu.N" section (version 1), written field by field in this order,
 * all little-endian:
 *
 *   regs    rax rbx rcx rdx rsi rdi rsp rbp r8-r15 rip rflags   18 x u64
 *   sregs   cs ds es fs gs ss tr ldt, each: u64 base, u32 limit,
 *           u16 selector, u8 type, u8 dpl, bool present db s l g avl
 *           unusable; gdt idt, each: u64 base, u16 limit;
 *           u64 cr0 cr2 cr3 cr4 cr8 efer apic_base;
 *           bool pdptrs_valid, 4 x u64 pdptr
 *   fpu     u32 xsave_size; 0: fpr (8 x 16 bytes), u16 fcw fsw, u8 ftwx,
 *           u16 last_opcode, u64 last_ip last_dp, xmm (16 x 16 bytes),
 *           u32 mxcsr; else xsave_size bytes (KVM's XSAVE area)
 *   xcr     bool has_xcr0 [u64 xcr0]
 *   msrs    u32 n, n x (u32 index, u64 value), in the MSR table's order
 *   lapic   u32 size (1024), the register page
 *   events  exception: bool injected, u8 nr, bool has_error_code,
 *           bool pending, u32 error_code; interrupt: bool injected,
 *           u8 nr, bool soft, u8 shadow; nmi: bool injected, u8 pending,
 *           bool masked; u32 sipi_vector; u32 flags; smi: bool smm
 *           pending inside_nmi latched_init; bool triple_fault;
 *           bool has_payload; u64 payload
 *   mp      u32 mp_state
 *   debug   u64 db0-db3 dr6 dr7
 *
 * Nothing of a host struct's layout or padding reaches the bytes.
 */
#include <string.h>

#include "tern/vcpu_state.h"

static void put_segment(struct state_writer *w, const struct kvm_segment *s)
{
	state_put_u64(w, s->base);
	state_put_u32(w, s->limit);
	state_put_u16(w, s->selector);
	state_put_u8(w, s->type);
	state_put_u8(w, s->dpl);
	state_put_bool(w, s->present);
	state_put_bool(w, s->db);
	state_put_bool(w, s->s);
	state_put_bool(w, s->l);
	state_put_bool(w, s->g);
	state_put_bool(w, s->avl);
	state_put_bool(w, s->unusable);
}

static void put_dtable(struct state_writer *w, const struct kvm_dtable *d)
{
	state_put_u64(w, d->base);
	state_put_u16(w, d->limit);
}

static void put_regs(struct state_writer *w, const struct kvm_regs *r)
{
	const uint64_t v[] = { r->rax, r->rbx, r->rcx, r->rdx, r->rsi,
			       r->rdi, r->rsp, r->rbp, r->r8,  r->r9,
			       r->r10, r->r11, r->r12, r->r13, r->r14,
			       r->r15, r->rip, r->rflags };

	for (size_t i = 0; i < G_N_ELEMENTS(v); i++)
		state_put_u64(w, v[i]);
}

static void put_sregs(struct state_writer *w, const struct kvm_sregs2 *s)
{
	const struct kvm_segment *seg[] = { &s->cs, &s->ds, &s->es, &s->fs,
					    &s->gs, &s->ss, &s->tr, &s->ldt };
	const uint64_t cr[] = { s->cr0, s->cr2, s->cr3, s->cr4,
				s->cr8, s->efer, s->apic_base };

	for (size_t i = 0; i < G_N_ELEMENTS(seg); i++)
		put_segment(w, seg[i]);
	put_dtable(w, &s->gdt);
	put_dtable(w, &s->idt);
	for (size_t i = 0; i < G_N_ELEMENTS(cr); i++)
		state_put_u64(w, cr[i]);
	state_put_bool(w, s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID);
	for (int i = 0; i < 4; i++)
		state_put_u64(w, s->pdptrs[i]);
}

static void put_fpu(struct state_writer *w, const struct vcpu_state *s)
{
	const struct kvm_fpu *f = &s->fpu;

	state_put_u32(w, s->xsave_size);
	if (s->xsave_size) {
		state_put_bytes(w, s->xsave, s->xsave_size);
		return;
	}
	state_put_bytes(w, f->fpr, sizeof(f->fpr));
	state_put_u16(w, f->fcw);
	state_put_u16(w, f->fsw);
	state_put_u8(w, f->ftwx);
	state_put_u16(w, f->last_opcode);
	state_put_u64(w, f->last_ip);
	state_put_u64(w, f->last_dp);
	state_put_bytes(w, f->xmm, sizeof(f->xmm));
	state_put_u32(w, f->mxcsr);
}

static void put_events(struct state_writer *w, const struct kvm_vcpu_events *e)
{
	state_put_bool(w, e->exception.injected);
	state_put_u8(w, e->exception.nr);
	state_put_bool(w, e->exception.has_error_code);
	state_put_bool(w, e->exception.pending);
	state_put_u32(w, e->exception.error_code);
	state_put_bool(w, e->interrupt.injected);
	state_put_u8(w, e->interrupt.nr);
	state_put_bool(w, e->interrupt.soft);
	state_put_u8(w, e->interrupt.shadow);
	state_put_bool(w, e->nmi.injected);
	state_put_u8(w, e->nmi.pending);
	state_put_bool(w, e->nmi.masked);
	state_put_u32(w, e->sipi_vector);
	state_put_u32(w, e->flags);
	state_put_bool(w, e->smi.smm);
	state_put_bool(w, e->smi.pending);
	state_put_bool(w, e->smi.smm_inside_nmi);
	state_put_bool(w, e->smi.latched_init);
	state_put_bool(w, e->triple_fault.pending);
	state_put_bool(w, e->exception_has_payload);
	state_put_u64(w, e->exception_payload);
}

void vcpu_state_save(const struct vcpu_state *s, unsigned int id,
		     struct state_writer *w)
{
	/* A capture comes from get or load, which keep both in bounds. */
	g_assert(s->nmsrs <= VCPU_STATE_MAX_MSRS &&
		 s->xsave_size <= VCPU_STATE_XSAVE_MAX);
	state_section_begin(w, VCPU_STATE_VERSION, "cpu.%u", id);
	put_regs(w, &s->regs);
	put_sregs(w, &s->sregs);
	put_fpu(w, s);
	state_put_bool(w, s->has_xcr0);
	if (s->has_xcr0)
		state_put_u64(w, s->xcr0);
	state_put_u32(w, s->nmsrs);
	for (unsigned int i = 0; i < s->nmsrs; i++) {
		state_put_u32(w, s->msrs[i].index);
		state_put_u64(w, s->msrs[i].data);
	}
	state_put_u32(w, sizeof(s->lapic.regs));
	state_put_bytes(w, s->lapic.regs, sizeof(s->lapic.regs));
	put_events(w, &s->events);
	state_put_u32(w, s->mp_state);
	for (int i = 0; i < 4; i++)
		state_put_u64(w, s->debugregs.db[i]);
	state_put_u64(w, s->debugregs.dr6);
	state_put_u64(w, s->debugregs.dr7);
	state_section_end(w);
}

/* ---- load ---- */

/* KVM's __u64 is unsigned long long, uint64_t unsigned long: no casts. */
static void get_u64(struct state_reader *r, __u64 *v)
{
	uint64_t x;

	state_get_u64(r, &x);
	*v = x;
}

/* A boolean byte, named in the error if it is neither 0 nor 1. */
static void get_flag(struct state_reader *r, __u8 *v, const char *prefix,
		     const char *field)
{
	uint8_t b = 0;

	state_get_u8(r, &b);
	state_check(r, b <= 1, "%s.%s %u: a boolean (0 or 1)", prefix, field, b);
	*v = b;
}

static void get_segment(struct state_reader *r, const char *n,
			struct kvm_segment *s)
{
	get_u64(r, &s->base);
	state_get_u32(r, &s->limit);
	state_get_u16(r, &s->selector);
	state_get_u8(r, &s->type);
	state_get_u8(r, &s->dpl);
	get_flag(r, &s->present, n, "present");
	get_flag(r, &s->db, n, "db");
	get_flag(r, &s->s, n, "s");
	get_flag(r, &s->l, n, "l");
	get_flag(r, &s->g, n, "g");
	get_flag(r, &s->avl, n, "avl");
	get_flag(r, &s->unusable, n, "unusable");
}

static void get_dtable(struct state_reader *r, struct kvm_dtable *d)
{
	get_u64(r, &d->base);
	state_get_u16(r, &d->limit);
}

static void get_regs(struct state_reader *r, struct kvm_regs *g)
{
	__u64 *v[] = { &g->rax, &g->rbx, &g->rcx, &g->rdx, &g->rsi,
		       &g->rdi, &g->rsp, &g->rbp, &g->r8,  &g->r9,
		       &g->r10, &g->r11, &g->r12, &g->r13, &g->r14,
		       &g->r15, &g->rip, &g->rflags };
	char why[160];

	for (size_t i = 0; i < G_N_ELEMENTS(v); i++)
		get_u64(r, v[i]);
	state_check(r, x86_regs_check(g, why, sizeof(why)), "%s", why);
}

static void get_sregs(struct state_reader *r, struct kvm_sregs2 *s)
{
	struct kvm_segment *seg[] = { &s->cs, &s->ds, &s->es, &s->fs,
				      &s->gs, &s->ss, &s->tr, &s->ldt };
	static const char *const name[] = { "sregs.cs", "sregs.ds", "sregs.es",
					    "sregs.fs", "sregs.gs", "sregs.ss",
					    "sregs.tr", "sregs.ldt" };
	__u64 *cr[] = { &s->cr0, &s->cr2, &s->cr3, &s->cr4,
			&s->cr8, &s->efer, &s->apic_base };
	char why[200];
	__u8 valid;

	for (size_t i = 0; i < G_N_ELEMENTS(seg); i++)
		get_segment(r, name[i], seg[i]);
	get_dtable(r, &s->gdt);
	get_dtable(r, &s->idt);
	for (size_t i = 0; i < G_N_ELEMENTS(cr); i++)
		get_u64(r, cr[i]);
	get_flag(r, &valid, "sregs", "pdptrs_valid");
	s->flags = valid ? KVM_SREGS2_FLAGS_PDPTRS_VALID : 0;
	for (int i = 0; i < 4; i++)
		get_u64(r, &s->pdptrs[i]);
	if (state_ok(r))
		state_check(r, x86_sregs_check(s, why, sizeof(why)), "%s", why);
}

static void get_fpu(struct state_reader *r, const struct vcpu_state_caps *caps,
		    struct vcpu_state *s)
{
	struct kvm_fpu *f = &s->fpu;
	char why[160];

	state_get_u32(r, &s->xsave_size);
	if (!state_check(r, s->xsave_size == caps->xsave_size &&
				    s->xsave_size <= VCPU_STATE_XSAVE_MAX,
			 "fpu.xsave_size: the state has %u bytes of XSAVE area, this host's KVM takes %u%s",
			 s->xsave_size, caps->xsave_size,
			 caps->xsave_size ? "" : " (no XSAVE: the legacy FPU)"))
		return;
	if (s->xsave_size) {
		state_get_bytes(r, s->xsave, s->xsave_size);
		if (state_ok(r) &&
		    !x86_xsave_check((const uint8_t *)s->xsave, s->xsave_size,
				     why, sizeof(why)))
			state_check(r, false, "%s", why);
		return;
	}
	state_get_bytes(r, f->fpr, sizeof(f->fpr));
	state_get_u16(r, &f->fcw);
	state_get_u16(r, &f->fsw);
	state_get_u8(r, &f->ftwx);
	state_get_u16(r, &f->last_opcode);
	get_u64(r, &f->last_ip);
	get_u64(r, &f->last_dp);
	state_get_bytes(r, f->xmm, sizeof(f->xmm));
	state_get_u32(r, &f->mxcsr);
	state_check(r, !(f->mxcsr >> 16), "fpu.mxcsr 0x%x: reserved bits 16-31 set",
		    f->mxcsr);
}

static void get_xcr0(struct state_reader *r, const struct vcpu_state_caps *caps,
		     struct vcpu_state *s)
{
	char why[160];
	__u8 has = 0;

	get_flag(r, &has, "xcr", "has_xcr0");
	s->has_xcr0 = has;
	if (!has)
		return;
	state_get_u64(r, &s->xcr0);
	if (state_check(r, caps->xcrs,
			"xcr0: this host's KVM has no KVM_SET_XCRS (KVM_CAP_XCRS)"))
		state_check(r, x86_xcr0_check(s->xcr0, why, sizeof(why)), "%s", why);
}

static void get_msrs(struct state_reader *r, const struct vcpu_state_caps *caps,
		     struct vcpu_state *s)
{
	bool la57 = s->sregs.cr4 & (1ULL << 12);
	const struct x86_msr_desc *prev = NULL;
	uint32_t n;
	char why[160];

	state_get_u32(r, &n);
	if (!state_check(r, n <= VCPU_STATE_MAX_MSRS,
			 "msrs: %u MSRs, more than the %u a state may hold", n,
			 VCPU_STATE_MAX_MSRS))
		return;
	s->nmsrs = n;
	for (uint32_t i = 0; i < n && state_ok(r); i++) {
		struct kvm_msr_entry *e = &s->msrs[i];
		const struct x86_msr_desc *d;
		bool have = false;

		state_get_u32(r, &e->index);
		get_u64(r, &e->data);
		d = x86_state_msr_find(e->index);
		if (!state_check(r, d, "msrs[%u]: MSR 0x%x is not one tern saves",
				 i, e->index))
			return;
		for (unsigned int j = 0; j < caps->nmsrs; j++)
			have |= caps->msrs[j] == e->index;
		state_check(r, have, "msrs[%u]: MSR 0x%x (%s): this host's KVM does not have it",
			    i, e->index, d->name);
		/* One order (the set order), so no MSR comes twice. */
		state_check(r, !prev || d > prev,
			    "msrs[%u]: MSR 0x%x (%s) repeated or out of tern's order",
			    i, e->index, d->name);
		if (!x86_msr_check(e->index, e->data, la57, why, sizeof(why)))
			state_check(r, false, "msrs[%u]: %s", i, why);
		prev = d;
	}
}

static void get_events(struct state_reader *r, struct kvm_vcpu_events *e)
{
	const uint32_t known = KVM_VCPUEVENT_VALID_PAYLOAD |
			       KVM_VCPUEVENT_VALID_TRIPLE_FAULT;

	get_flag(r, &e->exception.injected, "events.exception", "injected");
	state_get_u8(r, &e->exception.nr);
	get_flag(r, &e->exception.has_error_code, "events.exception", "has_error_code");
	get_flag(r, &e->exception.pending, "events.exception", "pending");
	state_get_u32(r, &e->exception.error_code);
	get_flag(r, &e->interrupt.injected, "events.interrupt", "injected");
	state_get_u8(r, &e->interrupt.nr);
	get_flag(r, &e->interrupt.soft, "events.interrupt", "soft");
	state_get_u8(r, &e->interrupt.shadow);
	get_flag(r, &e->nmi.injected, "events.nmi", "injected");
	state_get_u8(r, &e->nmi.pending);
	get_flag(r, &e->nmi.masked, "events.nmi", "masked");
	state_get_u32(r, &e->sipi_vector);
	state_get_u32(r, &e->flags);
	get_flag(r, &e->smi.smm, "events.smi", "smm");
	get_flag(r, &e->smi.pending, "events.smi", "pending");
	get_flag(r, &e->smi.smm_inside_nmi, "events.smi", "smm_inside_nmi");
	get_flag(r, &e->smi.latched_init, "events.smi", "latched_init");
	get_flag(r, &e->triple_fault.pending, "events.triple_fault", "pending");
	get_flag(r, &e->exception_has_payload, "events", "exception_has_payload");
	get_u64(r, &e->exception_payload);

	state_check(r, e->exception.nr < 32,
		    "events.exception.nr %u is not an exception vector (0-31)",
		    e->exception.nr);
	state_check(r, !(e->exception.injected || e->exception.pending) ||
			       e->exception.nr != 2,
		    "events.exception.nr 2: an NMI is not queued as an exception");
	state_check(r, e->interrupt.shadow <= 3,
		    "events.interrupt.shadow %u: only MOV SS (1) and STI (2) exist",
		    e->interrupt.shadow);
	state_check(r, e->nmi.pending <= 2,
		    "events.nmi.pending %u: KVM holds at most 2", e->nmi.pending);
	state_check(r, e->sipi_vector <= 0xff,
		    "events.sipi_vector 0x%x: a SIPI vector is 8 bits", e->sipi_vector);
	state_check(r, !(e->flags & ~known), "events.flags 0x%x: unknown flags",
		    e->flags);
	state_check(r, (e->flags & KVM_VCPUEVENT_VALID_PAYLOAD) ||
			       (!e->exception.pending &&
				!e->exception_has_payload &&
				!e->exception_payload),
		    "events.exception: pending/payload set without the payload flag");
	state_check(r, (e->flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT) ||
			       !e->triple_fault.pending,
		    "events.triple_fault: pending without the triple-fault flag");
}

bool vcpu_state_load(struct state_reader *r, unsigned int id,
		     const struct vcpu_state_caps *caps, struct vcpu_state *s,
		     GError **err)
{
	uint32_t lapic_size;

	memset(s, 0, sizeof(*s));
	state_section_open(r, VCPU_STATE_VERSION, VCPU_STATE_VERSION, NULL,
			   "cpu.%u", id);
	get_regs(r, &s->regs);
	get_sregs(r, &s->sregs);
	get_fpu(r, caps, s);
	get_xcr0(r, caps, s);
	get_msrs(r, caps, s);
	state_get_u32(r, &lapic_size);
	if (state_check(r, lapic_size == sizeof(s->lapic.regs),
			"lapic: a %u-byte register page, KVM's is %zu bytes",
			lapic_size, sizeof(s->lapic.regs)))
		state_get_bytes(r, s->lapic.regs, sizeof(s->lapic.regs));
	get_events(r, &s->events);
	state_get_u32(r, &s->mp_state);
	state_check(r, s->mp_state <= KVM_MP_STATE_SIPI_RECEIVED,
		    "mp_state %u: x86 has RUNNABLE, UNINITIALIZED, INIT_RECEIVED, HALTED and SIPI_RECEIVED (0-4)",
		    s->mp_state);
	for (int i = 0; i < 4; i++)
		get_u64(r, &s->debugregs.db[i]);
	get_u64(r, &s->debugregs.dr6);
	get_u64(r, &s->debugregs.dr7);
	state_check(r, !(s->debugregs.dr6 >> 32), "debugregs.dr6 0x%llx: bits 32-63 are reserved",
		    (unsigned long long)s->debugregs.dr6);
	state_check(r, !(s->debugregs.dr7 >> 32), "debugregs.dr7 0x%llx: bits 32-63 are reserved",
		    (unsigned long long)s->debugregs.dr7);
	return state_section_close(r, err);
}
