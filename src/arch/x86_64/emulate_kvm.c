// SPDX-License-Identifier: MIT
/*
 * The KVM side of the emulation fallback, on the vCPU thread after
 * KVM_RUN returned KVM_EXIT_INTERNAL_ERROR: read the registers, decode
 * the bytes KVM reports, complete the instruction (emulate.c), write the
 * registers back and queue the exception it delivers, then let the vCPU
 * run again. The only file of the fallback that makes ioctls.
 *
 * Order of the writes: KVM_SET_SREGS, then KVM_SET_REGS (which drops a
 * queued exception in KVM), then KVM_SET_VCPU_EVENTS. An exception goes
 * in as "injected" (KVM_CAP_EXCEPTION_PAYLOAD is not enabled, so a #PF's
 * address is CR2, set with the special registers first).
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tern/emulate.h"

#define CPUID_MAXPHYADDR_LEAF 0x80000008u
#define MAXPHYADDR_DEFAULT 36 /* SDM: without leaf 0x80000008 */
#define CPUID_MAX_ENTRIES 256
#define CPUID_1_ECX_POPCNT (1u << 23)
#define CPUID_1_EDX_SSE (1u << 25)
#define FXSAVE_MXCSR_MASK 28 /* offset in the FXSAVE area */
#define MXCSR_MASK_DEFAULT 0xffbfu /* SDM 11.6.6: when FXSAVE stores 0 */
#define XSAVE_MXCSR 24 /* offset in the legacy region */
#define XSAVE_XSTATE_BV 512 /* the XSAVE header's first byte */
#define XFEATURE_SSE (1u << 1)
#define CPUID_7_EBX_SMAP (1u << 20)

static const char *const vector_names[32] = {
	[X86_VEC_BP] = "#BP", [X86_VEC_UD] = "#UD", [X86_VEC_NM] = "#NM",
	[X86_VEC_NP] = "#NP", [X86_VEC_SS] = "#SS", [X86_VEC_GP] = "#GP",
	[X86_VEC_PF] = "#PF", [X86_VEC_MF] = "#MF",
};

static const char *vector_name(uint8_t v)
{
	return v < 32 && vector_names[v] ? vector_names[v] : "an exception";
}

/*
 * The MXCSR bits this CPU implements, as FXSAVE reports them (SDM 11.6.6);
 * KVM gives a guest the host's, so LDMXCSR's #GP follows the host's mask.
 */
static uint32_t host_mxcsr_mask(void)
{
	uint8_t area[512] __attribute__((aligned(16))) = { 0 };
	uint32_t mask;

	__asm__ volatile("fxsave %0" : "=m"(area));
	memcpy(&mask, area + FXSAVE_MXCSR_MASK, sizeof(mask));
	return mask ? mask : MXCSR_MASK_DEFAULT;
}

/*
 * What the instructions need of the vCPU, read once: from its CPUID (set
 * by tern at creation) MAXPHYADDR for the page walks and the feature bits
 * without which an instruction raises #UD; the MXCSR bits LDMXCSR takes.
 */
static void emu_read_cpuid(struct x86_emu_vcpu *ev, int fd)
{
	struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	} c = { .hdr.nent = CPUID_MAX_ENTRIES };

	if (ev->cpuid_read)
		return;
	ev->cpuid_read = true;
	ev->maxphyaddr = MAXPHYADDR_DEFAULT;
	ev->mxcsr_mask = host_mxcsr_mask();
	if (ioctl(fd, KVM_GET_CPUID2, &c) < 0)
		return;
	for (unsigned int i = 0; i < c.hdr.nent && i < CPUID_MAX_ENTRIES; i++) {
		const struct kvm_cpuid_entry2 *e = &c.e[i];

		if (e->function == CPUID_MAXPHYADDR_LEAF &&
		    (e->eax & 0xff) >= 32)
			ev->maxphyaddr = e->eax & 0xff;
		if (e->function == 1 && (e->ecx & CPUID_1_ECX_POPCNT))
			ev->features |= X86_FEAT_POPCNT;
		if (e->function == 1 && (e->edx & CPUID_1_EDX_SSE))
			ev->features |= X86_FEAT_SSE;
		if (e->function == 7 && e->index == 0 &&
		    (e->ebx & CPUID_7_EBX_SMAP))
			ev->features |= X86_FEAT_SMAP;
	}
}

/*
 * MXCSR as KVM holds it: in the XSAVE image where KVM has one (this
 * host's KVM leaves KVM_GET_FPU's mxcsr 0 and ignores it in KVM_SET_FPU
 * for a vCPU with XSAVE state), else in the FXSAVE-style FPU state.
 */
static int mxcsr_read(int fd, struct kvm_fpu *fpu, struct kvm_xsave *xs,
		      bool *use_xsave, uint32_t *mxcsr)
{
	if (ioctl(fd, KVM_GET_XSAVE, xs) == 0) {
		memcpy(mxcsr, (const uint8_t *)xs->region + XSAVE_MXCSR,
		       sizeof(*mxcsr));
		*use_xsave = true;
		return 0;
	}
	if (ioctl(fd, KVM_GET_FPU, fpu) < 0)
		return -errno;
	*mxcsr = fpu->mxcsr;
	*use_xsave = false;
	return 0;
}

static int mxcsr_write(int fd, struct kvm_fpu *fpu, struct kvm_xsave *xs,
		       bool use_xsave, uint32_t mxcsr)
{
	if (!use_xsave) {
		fpu->mxcsr = mxcsr;
		return ioctl(fd, KVM_SET_FPU, fpu) < 0 ? -errno : 0;
	}
	memcpy((uint8_t *)xs->region + XSAVE_MXCSR, &mxcsr, sizeof(mxcsr));
	/* XRSTOR loads MXCSR with the SSE component (SDM 13.8.1). */
	((uint8_t *)xs->region)[XSAVE_XSTATE_BV] |= XFEATURE_SSE;
	return ioctl(fd, KVM_SET_XSAVE, xs) < 0 ? -errno : 0;
}

static bool emu_decline(struct x86_emu_vcpu *ev, unsigned int id,
			uint64_t rip, const char *why)
{
	__atomic_fetch_add(&ev->stats.declined, 1, __ATOMIC_RELAXED);
	tern_log("vCPU %u: emulation fallback declined at rip %#" PRIx64
		 ": %s",
		 id, rip, why);
	return false;
}

/* Write back what x86_emulate() changed and queue its exception. */
static int emu_commit(int fd, const struct x86_emu *emu,
		      struct kvm_vcpu_events *events)
{
	if (emu->sregs_changed && ioctl(fd, KVM_SET_SREGS, &emu->sregs) < 0)
		return -errno;
	if (ioctl(fd, KVM_SET_REGS, &emu->regs) < 0)
		return -errno;
	/* Nothing to change (popcnt, stac, clac): one ioctl less. */
	if (!emu->exc.valid && !events->interrupt.shadow &&
	    !(emu->nmi_unblocked && events->nmi.masked))
		return 0;
	/*
	 * Only the shadow among the flagged fields: the instruction ended
	 * any STI/MOV SS interrupt shadow. NMI and interrupt fields are
	 * always applied, as read (but NMI blocking after an IRET).
	 */
	events->flags = KVM_VCPUEVENT_VALID_SHADOW;
	events->interrupt.shadow = 0;
	if (emu->nmi_unblocked)
		events->nmi.masked = 0;
	if (emu->exc.valid) {
		events->exception.injected = 1;
		events->exception.nr = emu->exc.vector;
		events->exception.has_error_code = emu->exc.has_error_code;
		events->exception.error_code = emu->exc.error_code;
	}
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, events) < 0)
		return -errno;
	return 0;
}

bool x86_emulate_fallback(struct x86_emu_vcpu *ev, int vcpu_fd,
			  unsigned int vcpu_id, const struct kvm_run *run,
			  const struct guest_memory *mem)
{
	struct x86_emu emu = { .mem = mem };
	struct kvm_vcpu_events events;
	struct kvm_fpu fpu;
	struct kvm_xsave xs;
	bool use_xsave = false;
	struct x86_insn insn;
	uint64_t rip;
	size_t n;
	int ret;

	if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR ||
	    run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION)
		return false;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &emu.regs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_SREGS, &emu.sregs) < 0 ||
	    ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &events) < 0) {
		tern_log("vCPU %u: emulation fallback: reading registers: %s",
			 vcpu_id, g_strerror(errno));
		return false;
	}
	if (!(run->emulation_failure.flags &
	      KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return emu_decline(ev, vcpu_id, emu.regs.rip,
				   "KVM reported no instruction bytes");
	if (events.exception.injected || events.exception.pending ||
	    events.interrupt.injected || events.nmi.injected)
		return emu_decline(ev, vcpu_id, emu.regs.rip,
				   "an event was being delivered");

	n = run->emulation_failure.insn_size;
	if (n > sizeof(run->emulation_failure.insn_bytes))
		n = sizeof(run->emulation_failure.insn_bytes);
	ret = x86_insn_decode(run->emulation_failure.insn_bytes, n,
			      x86_cpu_mode_of(&emu.sregs), &insn);
	if (ret)
		return emu_decline(ev, vcpu_id, emu.regs.rip,
				   ret == -EINVAL ?
					   "malformed instruction bytes" :
					   "instruction not covered");
	emu_read_cpuid(ev, vcpu_fd);
	emu.maxphyaddr = ev->maxphyaddr;
	emu.features = ev->features;
	if (insn.op == X86_INSN_FWAIT) {
		if (ioctl(vcpu_fd, KVM_GET_FPU, &fpu) < 0)
			return emu_decline(ev, vcpu_id, emu.regs.rip,
					   "cannot read the x87 state");
		emu.fsw = fpu.fsw;
	}
	if (insn.op == X86_INSN_LDMXCSR || insn.op == X86_INSN_STMXCSR) {
		ret = mxcsr_read(vcpu_fd, &fpu, &xs, &use_xsave, &emu.mxcsr);
		if (ret)
			return emu_decline(ev, vcpu_id, emu.regs.rip,
					   "cannot read MXCSR");
		emu.mxcsr_mask = ev->mxcsr_mask;
	}
	rip = emu.regs.rip;
	if (x86_emulate(&emu, &insn) != X86_EMU_DONE)
		return emu_decline(ev, vcpu_id, emu.regs.rip, emu.why);
	if (emu.mxcsr_changed) {
		ret = mxcsr_write(vcpu_fd, &fpu, &xs, use_xsave, emu.mxcsr);
		if (ret) {
			tern_log("vCPU %u: emulation fallback: writing MXCSR: %s",
				 vcpu_id, g_strerror(-ret));
			return false;
		}
	}

	ret = emu_commit(vcpu_fd, &emu, &events);
	if (ret) {
		tern_log("vCPU %u: emulation fallback: writing registers: %s",
			 vcpu_id, g_strerror(-ret));
		return false;
	}
	__atomic_fetch_add(&ev->stats.done[insn.op], 1, __ATOMIC_RELAXED);
	if (emu.exc.valid && !emu.exc.trap)
		__atomic_fetch_add(&ev->stats.faults, 1, __ATOMIC_RELAXED);
	tern_log("vCPU %u: completed %s at rip %#" PRIx64
		 " for KVM (emulation failure)%s%s",
		 vcpu_id, x86_insn_name(insn.op), rip,
		 emu.exc.valid ? ", delivering " : "",
		 emu.exc.valid ? vector_name(emu.exc.vector) : "");
	return true;
}

void x86_emu_stats_read(const struct x86_emu_vcpu *ev,
			struct x86_emu_stats *out)
{
	for (unsigned int i = 0; i < X86_INSN_NR; i++)
		out->done[i] = __atomic_load_n(&ev->stats.done[i],
					       __ATOMIC_RELAXED);
	out->faults = __atomic_load_n(&ev->stats.faults, __ATOMIC_RELAXED);
	out->declined = __atomic_load_n(&ev->stats.declined, __ATOMIC_RELAXED);
}
