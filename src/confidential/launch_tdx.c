// SPDX-License-Identifier: MIT
/*
 * Intel TDX launch (Documentation/virt/kvm/x86/intel-tdx.rst): the VM
 * ioctls KVM_TDX_CAPABILITIES and KVM_TDX_INIT_VM before the vCPUs, per
 * vCPU KVM_TDX_INIT_VCPU (RCX = the TD HOB), private memory, then per TDVF
 * section KVM_TDX_INIT_MEM_REGION (TDH.MEM.PAGE.ADD, and TDH.MR.EXTEND of
 * each page when the section says MR.EXTEND), and KVM_TDX_FINALIZE_VM
 * (TDH.MR.FINALIZE: MRTD is fixed). The sections come from the launch plan
 * `tern measure --confidential tdx` hashes.
 */
#include <errno.h>
#include <string.h>

#include "launch_internal.h"
#include "tern/confidential_kvm.h"

#define TDX_CPUID_ENTRIES 256
#define TDX_ATTR_SEPT_VE_DISABLE (1ull << 28)
#define TDX_XFAM_FIXED 0x3ull /* x87 and SSE state are always on */

static int tdx_cmd(struct confidential_launch *l, int vcpu, uint32_t id,
		   uint32_t flags, void *data, const char *name)
{
	struct conf_kvm_tdx_cmd c = { .id = id,
				      .flags = flags,
				      .data = (uintptr_t)data };
	int ret = vcpu < 0 ? l->ops->vm_ioctl(l->opaque, KVM_MEMORY_ENCRYPT_OP,
					      &c) :
			     l->ops->vcpu_ioctl(l->opaque, (unsigned int)vcpu,
						KVM_MEMORY_ENCRYPT_OP, &c);

	if (ret < 0) {
		l->fw_error = (uint32_t)c.hw_error;
		l->failed = name;
	}
	return ret;
}

unsigned int tdx_cpuid_config(const struct kvm_cpuid_entry2 *caps,
			      unsigned int nr_caps,
			      const struct kvm_cpuid_entry2 *vm,
			      unsigned int nr_vm, struct kvm_cpuid_entry2 *out)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < nr_caps; i++) {
		const struct kvm_cpuid_entry2 *c = &caps[i];

		for (unsigned int j = 0; j < nr_vm; j++) {
			const struct kvm_cpuid_entry2 *v = &vm[j];

			if (v->function != c->function ||
			    ((c->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) &&
			     v->index != c->index))
				continue;
			out[n] = *c;
			out[n].eax = v->eax & c->eax;
			out[n].ebx = v->ebx & c->ebx;
			out[n].ecx = v->ecx & c->ecx;
			out[n].edx = v->edx & c->edx;
			n++;
			break;
		}
	}
	return n;
}

int tdx_launch_begin(struct confidential_launch *l)
{
	size_t caps_len = sizeof(struct conf_kvm_tdx_capabilities) +
			  TDX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	g_autofree struct conf_kvm_tdx_capabilities *caps = g_malloc0(caps_len);
	g_autofree struct conf_kvm_tdx_init_vm *init = NULL;
	int ret;

	caps->cpuid.nent = TDX_CPUID_ENTRIES;
	ret = tdx_cmd(l, -1, CONF_KVM_TDX_CAPABILITIES, 0, caps,
		      "KVM_TDX_CAPABILITIES");
	if (ret < 0)
		return ret;
	if ((caps->supported_xfam & TDX_XFAM_FIXED) != TDX_XFAM_FIXED) {
		l->failed = "KVM_TDX_CAPABILITIES (x87/SSE state unsupported)";
		return -EOPNOTSUPP;
	}
	if (caps->cpuid.nent > TDX_CPUID_ENTRIES) {
		l->failed = "KVM_TDX_CAPABILITIES (more CPUID leaves than asked for)";
		return -E2BIG;
	}
	init = g_malloc0(sizeof(*init) +
			 caps->cpuid.nent * sizeof(struct kvm_cpuid_entry2));
	/* #VE on EPT violations of unaccepted memory is never wanted. */
	init->attributes = caps->supported_attrs & TDX_ATTR_SEPT_VE_DISABLE;
	init->xfam = TDX_XFAM_FIXED;
	/*
	 * The configurable CPUID bits as the VMM's vCPUs have them, as QEMU
	 * gives them: what the module fixes, it fixes; what it leaves to the
	 * VMM follows the vCPU's CPUID.
	 */
	init->cpuid.nent = tdx_cpuid_config(caps->cpuid.entries,
					    caps->cpuid.nent, l->cpuid,
					    l->nr_cpuid, init->cpuid.entries);
	return tdx_cmd(l, -1, CONF_KVM_TDX_INIT_VM, 0, init,
		       "KVM_TDX_INIT_VM");
}

int tdx_launch_vcpus(struct confidential_launch *l)
{
	const struct ovmf_info *fw = &l->plan->fw;
	uint64_t hob = 0;

	for (unsigned int i = 0; i < fw->nr_tdvf; i++)
		if (fw->tdvf[i].type == TDVF_SECTION_TD_HOB)
			hob = fw->tdvf[i].gpa;
	for (unsigned int v = 0; v < l->plan->opt.cpus; v++) {
		/* data is the vCPU's initial RCX: where TDVF finds its HOB. */
		int ret = tdx_cmd(l, (int)v, CONF_KVM_TDX_INIT_VCPU, 0,
				  (void *)(uintptr_t)hob, "KVM_TDX_INIT_VCPU");

		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * The source is the section's own shared view, as QEMU passes it: the
 * image's bytes for a data section, otherwise what the VMM left there (the
 * TD HOB) or zeros. KVM copies it into the private page (PAGE.ADD).
 */
static int tdx_add_region(struct confidential_launch *l,
			  const struct launch_step *s)
{
	struct conf_kvm_tdx_init_mem_region r = {
		.gpa = s->gpa,
		.nr_pages = s->len / CONF_PAGE_SIZE,
	};
	uint8_t *src = l->ops->guest_ptr(l->opaque, s->gpa, s->len);
	int ret;

	if (!src || (uintptr_t)src % CONF_PAGE_SIZE) {
		l->failed = "guest memory for a TDVF section";
		return -EFAULT;
	}
	if (s->kind == LAUNCH_STEP_DATA && s->data)
		memmove(src, s->data, s->len);
	r.source_addr = (uintptr_t)src;
	/* KVM advances the region as it goes: resume after -EAGAIN. */
	do {
		ret = tdx_cmd(l, 0, CONF_KVM_TDX_INIT_MEM_REGION,
			      s->extend ? CONF_KVM_TDX_MEASURE_MEMORY_REGION : 0,
			      &r, "KVM_TDX_INIT_MEM_REGION");
	} while (ret == -EAGAIN || ret == -EINTR);
	return ret;
}

int tdx_launch_finish(struct confidential_launch *l)
{
	const struct launch_plan *plan = l->plan;
	int ret = launch_plan_make_private(l);

	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < plan->nr_steps; i++) {
		ret = tdx_add_region(l, &plan->steps[i]);
		if (ret < 0)
			return ret;
	}
	return tdx_cmd(l, -1, CONF_KVM_TDX_FINALIZE_VM, 0, NULL,
		       "KVM_TDX_FINALIZE_VM");
}
