// SPDX-License-Identifier: MIT
/*
 * SEV-SNP and TDX inside `tern run`: guest memory in guest_memfd (every RAM
 * region and the flash a slot whose private side the launch and the guest
 * fill), the TD HOB, and the launch done in one go once the vCPUs exist,
 * since neither has a step between measuring and finishing. The sequences
 * themselves are launch_sev.c's and launch_tdx.c's; docs/confidential.md
 * walks them.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/ioctl.h>

#include <linux/kvm_para.h>

#include "tern/confidential_kvm.h"
#include "tern/error.h"
#include "tern/vm.h"
#include "vm_internal.h"

/* Back [gpa, gpa + size) at hva with a new guest_memfd as slot. */
static int conf_bind(struct confidential_vm *c, uint32_t slot, uint64_t gpa,
		     uint64_t size, uint8_t *hva, bool ram)
{
	int ret = conf_private_bind(&c->pm, slot, gpa, size, hva, ram);

	if (ret < 0)
		c->l.failed = "KVM_CREATE_GUEST_MEMFD / KVM_SET_USER_MEMORY_REGION2";
	return ret;
}

/*
 * SNP and TDX: every RAM region becomes a guest_memfd slot, shared until
 * the guest (or the launch) converts it, and the guest's page-state
 * changes (GHCB; TDX's MapGPA) exit to tern as KVM_HC_MAP_GPA_RANGE
 * hypercalls.
 */
bool conf_private_memory(struct confidential_vm *c, GError **err)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_EXIT_HYPERCALL,
		.args[0] = 1ull << KVM_HC_MAP_GPA_RANGE,
	};
	struct guest_memory *mem = &c->vm->mem;
	int ret;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		ret = conf_bind(c, r->slot, r->gpa, r->size, r->hva, true);
		if (ret < 0)
			return conf_launch_fail(c, ret, err);
	}
	/* Not a confidential command: the real KVM either way. */
	if (ioctl(c->vm->kvm.vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		c->l.failed = "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)";
		return conf_launch_fail(c, -errno, err);
	}
	return true;
}

/*
 * The TD HOB in its TDVF section, for the firmware to find RAM: every RAM
 * region, with the launch's own pages in it as added (tdx_hob.c).
 */
static int conf_tdx_hob(struct confidential_vm *c)
{
	const struct ovmf_info *fw = &c->plan->fw;
	const struct guest_memory *mem = &c->vm->mem;
	const struct tdvf_section *hob = NULL;
	struct conf_range ram[GUEST_MEM_MAX_REGIONS];
	g_autofree struct conf_range *added = NULL;
	uint8_t *buf;
	ssize_t n;

	for (unsigned int i = 0; i < fw->nr_tdvf; i++)
		if (fw->tdvf[i].type == TDVF_SECTION_TD_HOB)
			hob = &fw->tdvf[i];
	if (!hob) {
		c->l.failed = "the TD HOB (the TDVF has no TD_HOB section)";
		return -ENOENT;
	}
	buf = guest_memory_ptr(mem, hob->gpa, hob->mem_size);
	if (!buf) {
		c->l.failed = "the TD HOB (its TDVF section is not in guest RAM)";
		return -EFAULT;
	}
	for (unsigned int i = 0; i < mem->nr_regions; i++)
		ram[i] = (struct conf_range){ mem->regions[i].gpa,
					      mem->regions[i].size };
	added = g_new(struct conf_range, c->plan->nr_steps);
	for (unsigned int i = 0; i < c->plan->nr_steps; i++)
		added[i] = (struct conf_range){ c->plan->steps[i].gpa,
						c->plan->steps[i].len };
	n = tdx_hob_build(buf, hob->mem_size, hob->gpa, ram, mem->nr_regions,
			  added, c->plan->nr_steps);
	if (n < 0) {
		c->l.failed = "the TD HOB (too many RAM ranges for its section)";
		return (int)n;
	}
	return 0;
}

/*
 * SNP and TDX in one go: nothing happens between measuring and finishing
 * (the guest owner's secrets travel in the attestation exchange).
 */
bool conf_private_launch(struct confidential_vm *c, GError **err)
{
	struct flash_image *f = &c->vm->flash;
	enum confidential_kind kind = c->plan->opt.kind;
	int ret;

	ret = conf_bind(c, FLASH_KVM_SLOT, f->gpa, f->size, f->hva, false);
	if (ret == 0)
		ret = confidential_launch_vcpus(&c->l);
	if (ret == 0 && kind == CONFIDENTIAL_TDX)
		ret = conf_tdx_hob(c);
	if (ret == 0)
		ret = confidential_launch_finish(&c->l);
	if (ret < 0)
		return conf_launch_fail(c, ret, err);
	conf_launch_state_set(c, SEV_STATE_RUNNING);
	c->pm.running = true;
	if (kind == CONFIDENTIAL_TDX)
		tern_log("--confidential tdx: launched (%u vCPUs)",
			 c->plan->opt.cpus);
	else
		tern_log("--confidential sev-snp: launched (%u vCPUs, vCPU signature %#x, policy %#" PRIx64 ")",
			 c->plan->opt.cpus, c->plan->opt.vcpu_sig,
			 c->vm->cfg->confidential.policy);
	return true;
}
