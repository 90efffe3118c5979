/* SPDX-License-Identifier: MIT */
/*
 * The architectural state of one vCPU, as state save/load and migration
 * carry it: general and special registers, FPU/SSE/AVX (XSAVE) state, XCR0,
 * a fixed list of MSRs (TSC, SYSCALL/SYSENTER, PAT, MTRRs, kvmclock and the
 * other KVM paravirtual MSRs...), the LAPIC register page, pending events,
 * the MP state and the debug registers.
 *
 * Four verbs, kept apart so that the VM layer decides when KVM is touched:
 *   get  = capture: read KVM into a struct vcpu_state (ioctls);
 *   save = serialize a capture into a "cpu.N" section (pure);
 *   load = parse and validate a section into a capture (pure);
 *   set  = apply a capture to a vCPU (ioctls).
 *
 * Determinism. Some values move with host time even while every vCPU is
 * parked: the TSC, the LAPIC timer's current count, kvmclock, the PIT.
 * Reading KVM twice therefore never gives the same bytes, so the rule is:
 * capture once, when the VM is quiesced (all vCPUs parked, devices
 * stopped), and keep that capture while the VM stays paused. A save while
 * paused serializes the capture; a load replaces the capture and sets it
 * into KVM; resuming drops it. Within that rule this module is
 * deterministic: every KVM struct is zeroed before KVM fills it, no padding
 * or reserved byte is serialized, and fields KVM ignores on set are masked
 * at capture (the XSAVE area's software-reserved bytes, an exception
 * "pending" bit and payload KVM folds into "injected" unless the VM enabled
 * KVM_CAP_EXCEPTION_PAYLOAD, ...), so save -> load -> set -> get -> save
 * gives the same bytes except for the clocks that ran in between.
 *
 * Order on get: MP state first (KVM_GET_MP_STATE runs the LAPIC's pending
 * INIT/SIPI, which may rewrite CS:RIP and the rest), events last. Order on
 * set, see vcpu_state_set(). The receiving vCPU must already have the same
 * CPUID (KVM checks XSAVE features, XCR0 and some MSRs against it) and the
 * guest RAM's memory slots (kvmclock, PV EOI and async PF MSRs name guest
 * addresses KVM maps when they are written).
 */
#ifndef TERN_VCPU_STATE_H
#define TERN_VCPU_STATE_H

#include <glib.h>
#include <linux/kvm.h>

#include "tern/state.h"
#include "tern/util.h"

#define VCPU_STATE_VERSION 1
/* Bounds for loading; the MSR table below has fewer entries. */
#define VCPU_STATE_MAX_MSRS 64
#define VCPU_STATE_XSAVE_MAX (16 * 1024)
#define VCPU_STATE_LAPIC_SIZE KVM_APIC_REG_SIZE

/* What this host's KVM can get and set; found once at start-up. */
struct vcpu_state_caps {
	uint32_t xsave_size; /* 0: no XSAVE, the FPU goes through KVM_GET_FPU */
	bool xsave2; /* KVM_GET_XSAVE2 (else KVM_GET_XSAVE) */
	bool xcrs;
	bool sregs2; /* KVM_GET_SREGS2: PAE PDPTRs travel with the state */
	unsigned int nmsrs;
	uint32_t msrs[VCPU_STATE_MAX_MSRS]; /* in x86_state_msrs order */
};

/* A capture. KVM's own structs, never serialized as they are. */
struct vcpu_state {
	struct kvm_regs regs;
	/* flags and pdptrs stay zero without KVM_CAP_SREGS2. */
	struct kvm_sregs2 sregs;
	uint32_t xsave_size; /* 0: fpu below holds the x87/SSE state */
	struct kvm_fpu fpu;
	uint32_t xsave[VCPU_STATE_XSAVE_MAX / 4];
	bool has_xcr0;
	uint64_t xcr0;
	unsigned int nmsrs;
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS]; /* in table order */
	struct kvm_lapic_state lapic;
	/* flags: only KVM_VCPUEVENT_VALID_PAYLOAD / _TRIPLE_FAULT are kept. */
	struct kvm_vcpu_events events;
	uint32_t mp_state;
	struct kvm_debugregs debugregs;
};

/*
 * Probe the host: XSAVE (KVM_CAP_XSAVE2's size, else KVM_CAP_XSAVE, else
 * the legacy FPU ioctls), XCRs, SREGS2, and the MSRs of x86_state_msrs
 * that KVM lists in KVM_GET_MSR_INDEX_LIST (MTRRs, TSC_AUX and SPEC_CTRL
 * also when unlisted, as KVM handles them whether or not it lists them)
 * and that a read on vcpu_fd (a vCPU of this VM, CPUID set) returns.
 * Fails if KVM lacks KVM_CAP_VCPU_EVENTS or KVM_CAP_DEBUGREGS.
 */
bool vcpu_state_caps_init(struct vcpu_state_caps *caps, int kvm_fd, int vm_fd,
			  int vcpu_fd, GError **err);

/*
 * Capture the vCPU (parked, not in KVM_RUN). 0 or -errno; err names the
 * ioctl that failed (and the MSR KVM refused).
 */
int vcpu_state_get(int vcpu_fd, const struct vcpu_state_caps *caps,
		   struct vcpu_state *s, GError **err) __must_check;

/*
 * Apply a capture (from vcpu_state_get or vcpu_state_load with the same
 * caps) to a parked vCPU, in this order:
 *   1. KVM_SET_SREGS(2): the APIC base first, because KVM_SET_LAPIC reads
 *      the LAPIC ID in the mode (xAPIC/x2APIC) the base selects; CR0/CR4/
 *      EFER before anything checked against the paging mode;
 *   2. KVM_SET_REGS;
 *   3. KVM_SET_XSAVE (or KVM_SET_FPU), then KVM_SET_XCRS;
 *   4. KVM_SET_MSRS, all but TSC_DEADLINE, in table order: the TSC first
 *      (kvmclock and the deadline count from it), ASYNC_PF_INT before
 *      ASYNC_PF_EN (QEMU's order);
 *   5. KVM_SET_LAPIC: restarts the LAPIC timer from the saved count;
 *   6. KVM_SET_MSRS with TSC_DEADLINE alone: KVM drops a deadline written
 *      while LVTT is not in TSC-deadline mode, so it follows the LAPIC;
 *   7. KVM_SET_DEBUGREGS;
 *   8. KVM_SET_VCPU_EVENTS (NMI, SIPI vector, interrupt shadow, SMM and
 *      latched INIT, plus payload/triple fault if the state has them):
 *      after the registers, whose setting may queue or drop events;
 *   9. KVM_SET_MP_STATE last: KVM_SET_SREGS can make a BSP at the reset
 *      vector runnable, and KVM refuses INIT_RECEIVED/SIPI_RECEIVED while
 *      the events just set say SMM or a pending SMI.
 * 0 or -errno; err names the ioctl (and the MSR) KVM refused.
 */
int vcpu_state_set(int vcpu_fd, const struct vcpu_state_caps *caps,
		   const struct vcpu_state *s, GError **err) __must_check;

/* Write the "cpu.<id>" section: little-endian, field by field. */
void vcpu_state_save(const struct vcpu_state *s, unsigned int id,
		     struct state_writer *w);

/*
 * Read and validate the "cpu.<id>" section into s, for a vCPU of this host
 * (caps): every field in range (an error names the field), the XSAVE area
 * the size this host's KVM takes, every MSR one this host's KVM has. s is
 * meaningful only on success.
 */
bool vcpu_state_load(struct state_reader *r, unsigned int id,
		     const struct vcpu_state_caps *caps, struct vcpu_state *s,
		     GError **err);

/* ---- x86 facts (src/arch/x86_64/cpu_state.c), pure ---- */

#define X86_MSR_UNLISTED (1u << 0) /* KVM may handle it without listing it */
#define X86_MSR_AFTER_LAPIC (1u << 1) /* set after KVM_SET_LAPIC */

struct x86_msr_desc {
	uint32_t index;
	const char *name;
	unsigned int flags;
};

/* The MSRs a vCPU state may carry, in the order they are set. */
extern const struct x86_msr_desc x86_state_msrs[];
extern const unsigned int x86_nr_state_msrs;

/* The table entry for index, or NULL. */
const struct x86_msr_desc *x86_state_msr_find(uint32_t index);

/*
 * Checks of values a guest cannot produce and KVM would refuse or act oddly
 * on. Each returns true when valid, else false with why (a message naming
 * the field) written into why[len].
 */
bool x86_regs_check(const struct kvm_regs *regs, char *why, size_t len);
bool x86_sregs_check(const struct kvm_sregs2 *s, char *why, size_t len);
/* la57: CR4.LA57, which decides what a canonical address is. */
bool x86_msr_check(uint32_t index, uint64_t value, bool la57, char *why,
		   size_t len);
/* An XSAVE area in KVM's (standard, uncompacted) format. */
bool x86_xsave_check(const uint8_t *area, size_t size, char *why, size_t len);
bool x86_xcr0_check(uint64_t xcr0, char *why, size_t len);
/* Zero what KVM ignores in an XSAVE area (bytes 416-511 of the legacy area). */
void x86_xsave_mask(uint8_t *area, size_t size);
bool x86_canonical(uint64_t addr, bool la57);

#endif
