// SPDX-License-Identifier: MIT
/*
 * Creating a vCPU and putting it back to its reset state. Each vCPU sets
 * itself up on its own thread (vcpu_setup(), called by the thread before
 * it parks), so a machine's vCPUs are configured in parallel while the
 * main thread waits for all of them. What a reset restores is captured
 * once per machine, from vCPU 0 (the BSP) and vCPU 1 (an AP): every AP's
 * reset state is the same but for its LAPIC ID.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/boot.h"
#include "tern/cpuid.h"
#include "tern/error.h"
#include "tern/le.h"
#include "tern/vcpu.h"
#include "tern/vm.h"

/* The xAPIC ID register and where the ID sits in it. */
#define APIC_ID_REG 0x20
#define APIC_ID_SHIFT 24

struct vcpu_reset_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
};

/*
 * Read the CPUID back and say which removed features KVM kept: a nested
 * KVM may put the host's bits over ours (kvm_pvm keeps the host's SSSE3,
 * XSAVE, ... and takes only the bits KVM_GET_SUPPORTED_CPUID lists), and
 * a guest that still sees a feature uses it. Every vCPU gets the same
 * table, so vCPU 0 speaks for all. Not an error: the guest can often be
 * told another way (Linux's clearcpuid=, docs/linux-guest.md).
 */
static void vcpu_check_cpuid_mask(struct vcpu *vcpu, uint32_t nent)
{
	g_autofree struct kvm_cpuid2 *c = NULL;
	g_autofree char *kept = NULL;

	if (!vcpu->vm->cfg->cpu_mask.nr_clear)
		return;
	c = g_malloc0(sizeof(*c) + nent * sizeof(c->entries[0]));
	c->nent = nent;
	if (ioctl(vcpu->fd, KVM_GET_CPUID2, c) < 0)
		return;
	kept = cpuid_mask_kept(c->entries, c->nent, &vcpu->vm->cfg->cpu_mask);
	if (kept)
		tern_log("vCPU 0: --cpu-features: KVM keeps %s in the guest's "
			 "CPUID all the same (this KVM overrides those bits)",
			 kept);
}

static bool vcpu_setup_cpuid(struct vcpu *vcpu, GError **err)
{
	const struct kvm_cpuid2 *sup = vcpu->vm->kvm.supported_cpuid;
	size_t size = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	g_autofree struct kvm_cpuid2 *c = g_memdup2(sup, size);

	cpuid_setup_vcpu(c->entries, c->nent, vcpu->id, vcpu->vm->cfg->cpus,
			 &vcpu->vm->cfg->cpu_mask);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU %u: KVM_SET_CPUID2: %s", vcpu->id, g_strerror(errno));
		return false;
	}
	if (vcpu->id == 0)
		vcpu_check_cpuid_mask(vcpu, c->nent);
	return true;
}

/* AMD's HWCR and its TscFreqSel bit: the TSC counts at the P0 frequency. */
#define MSR_K7_HWCR 0xc0010015
#define HWCR_TSC_FREQ_SEL (1ull << 24)

/*
 * The default MSRs, then HWCR.TscFreqSel set, as AMD's firmware leaves
 * it, in one KVM_SET_MSRS (each vCPU ioctl costs tens of microseconds on
 * a nested host). KVM starts a vCPU with HWCR 0, and Linux on an AMD
 * family 0x10+ CPU with a constant TSC then prints "[Firmware Bug]: TSC
 * doesn't count with P0 frequency!". KVM keeps the MSR for every vendor;
 * recent KVMs accept the bit (ours do); an older KVM refuses it, which
 * costs the guest that one warning only, so a refusal of HWCR, last in
 * the list, is not an error. 0, or -errno; *refused names the MSR KVM
 * stopped at.
 */
static int vcpu_set_default_msrs(struct vcpu *vcpu, uint32_t *refused)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[33]; /* up to 32 defaults, then HWCR */
	} msrs = { 0 };
	unsigned int n;
	int ret;

	n = x86_default_msrs(msrs.e, G_N_ELEMENTS(msrs.e) - 1);
	msrs.e[n].index = MSR_K7_HWCR;
	msrs.e[n].data = HWCR_TSC_FREQ_SEL;
	msrs.hdr.nmsrs = n + 1;
	ret = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (ret < 0)
		return -errno;
	/* KVM stops at the first MSR it refuses. */
	if ((unsigned int)ret == n) {
		if (vcpu->id == 0)
			tern_log("vCPU 0: KVM refuses HWCR.TscFreqSel; an AMD guest "
				 "may warn that its TSC does not count at P0");
	} else if ((unsigned int)ret != n + 1) {
		*refused = msrs.e[ret].index;
		return -EINVAL;
	}
	return 0;
}

/*
 * MSRs and the LAPIC's LINT pins. The FPU needs nothing: KVM creates a
 * vCPU with it as FNINIT leaves it (FCW 0x37f, MXCSR 0x1f80), which is
 * what the reset capture then records.
 */
static bool vcpu_setup_state(struct vcpu *vcpu, GError **err)
{
	struct kvm_lapic_state lapic;
	const char *what;
	uint32_t refused = 0;
	int ret;

	ret = vcpu_set_default_msrs(vcpu, &refused);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU %u: KVM_SET_MSRS: %s (MSR 0x%x)", vcpu->id,
			    g_strerror(-ret), refused);
		return false;
	}
	what = "KVM_GET_LAPIC";
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		goto err;
	x86_setup_lapic(&lapic);
	what = "KVM_SET_LAPIC";
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		goto err;
	return true;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "vCPU %u: %s: %s", vcpu->id,
		    what, g_strerror(errno));
	return false;
}

/* What KVM_SET_* will restore on reset, read right after set-up. */
static struct vcpu_reset_state *vcpu_capture_reset(struct vcpu *vcpu,
						   GError **err)
{
	struct vcpu_reset_state *r = g_new0(struct vcpu_reset_state, 1);
	const char *what;

	what = "KVM_GET_REGS";
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r->regs) < 0)
		goto err;
	what = "KVM_GET_SREGS";
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &r->sregs) < 0)
		goto err;
	what = "KVM_GET_FPU";
	if (ioctl(vcpu->fd, KVM_GET_FPU, &r->fpu) < 0)
		goto err;
	what = "KVM_GET_LAPIC";
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &r->lapic) < 0)
		goto err;
	what = "KVM_GET_VCPU_EVENTS";
	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &r->events) < 0)
		goto err;
	what = "KVM_GET_MP_STATE";
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &r->mp_state) < 0)
		goto err;
	return r;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "vCPU %u: %s: %s", vcpu->id,
		    what, g_strerror(errno));
	g_free(r);
	return NULL;
}

int vcpu_setup(struct vcpu *vcpu, GError **err)
{
	struct vm *vm = vcpu->vm;

	vcpu->fd = ioctl(vm->kvm.vm_fd, KVM_CREATE_VCPU, vcpu->id);
	if (vcpu->fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU %u: KVM_CREATE_VCPU: %s", vcpu->id,
			    g_strerror(errno));
		return -errno;
	}
	vcpu->run = mmap(NULL, vm->kvm.run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU %u: cannot map kvm_run: %s", vcpu->id,
			    g_strerror(errno));
		return -ENOMEM;
	}
	if (!vcpu_setup_cpuid(vcpu, err) || !vcpu_setup_state(vcpu, err))
		return -EINVAL;
	/* One capture each for the BSP and the APs (only this thread writes it). */
	if (vcpu->id < 2) {
		struct vcpu_reset_state *r = vcpu_capture_reset(vcpu, err);

		if (!r)
			return -EINVAL;
		if (vcpu->id == 0)
			vm->reset_bsp = r;
		else
			vm->reset_ap = r;
	}
	return 0;
}

void vcpu_teardown(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->vm->kvm.run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

void vcpu_reset_templates_free(struct vm *vm)
{
	g_clear_pointer(&vm->reset_bsp, g_free);
	g_clear_pointer(&vm->reset_ap, g_free);
}

int vcpu_reset(struct vcpu *vcpu)
{
	const struct vcpu_reset_state *r = vcpu->id ? vcpu->vm->reset_ap :
						      vcpu->vm->reset_bsp;
	struct kvm_lapic_state lapic = r->lapic;
	uint32_t refused;
	int ret = vcpu_set_default_msrs(vcpu, &refused);

	if (ret)
		return ret;
	/* The AP template is vCPU 1's: its LAPIC ID becomes this vCPU's. */
	le32_put((uint8_t *)lapic.regs + APIC_ID_REG, vcpu->id << APIC_ID_SHIFT);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &r->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &r->regs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_FPU, &r->fpu) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &r->events) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_MP_STATE, &r->mp_state) < 0)
		return -errno;
	return 0;
}

int vcpu_setup_boot(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	x86_boot_setup_sregs(entry, &sregs);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	x86_boot_setup_regs(entry, &regs);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
