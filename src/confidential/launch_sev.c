// SPDX-License-Identifier: MIT
/*
 * AMD SEV, SEV-ES and SEV-SNP launch through KVM_MEMORY_ENCRYPT_OP
 * (Documentation/virt/kvm/x86/amd-memory-encryption.rst; the firmware
 * commands behind them: SEV API pub. 55766, SNP ABI pub. 56860):
 *
 *   SEV/SEV-ES: INIT2, LAUNCH_START, LAUNCH_UPDATE_DATA per DATA step,
 *     [SEV-ES: LAUNCH_UPDATE_VMSA], LAUNCH_MEASURE, [LAUNCH_SECRET ...],
 *     LAUNCH_FINISH.
 *   SNP: INIT2, SNP_LAUNCH_START, private memory, SNP_LAUNCH_UPDATE per
 *     step with its page type, SNP_LAUNCH_FINISH (KVM adds the VMSAs).
 *
 * The steps and their order come from the launch plan, which `tern measure`
 * hashes: what is measured here is what was predicted.
 */
#include <errno.h>
#include <string.h>

#include "launch_internal.h"
#include "tern/confidential_kvm.h"
#include "tern/le.h"

#define VMSA_RDX 0x310

static int sev_cmd(struct confidential_launch *l, uint32_t id, void *data,
		   const char *name)
{
	struct conf_kvm_sev_cmd c = { .id = id,
				      .data = (uintptr_t)data,
				      .sev_fd = (uint32_t)l->sev_fd };
	int ret = l->ops->vm_ioctl(l->opaque, KVM_MEMORY_ENCRYPT_OP, &c);

	if (ret < 0) {
		l->fw_error = c.error;
		l->failed = name;
	}
	return ret;
}

int sev_launch_begin(struct confidential_launch *l)
{
	const struct launch_options *o = &l->plan->opt;
	struct conf_kvm_sev_init init = { 0 };
	int ret;

	/* KVM sets SNPActive itself; the other SEV_FEATURES are asked for. */
	if (o->kind == CONFIDENTIAL_SEV_SNP)
		init.vmsa_features = o->guest_features & ~1ull;
	ret = sev_cmd(l, CONF_KVM_SEV_INIT2, &init, "KVM_SEV_INIT2");
	if (ret < 0)
		return ret;
	if (o->kind == CONFIDENTIAL_SEV_SNP) {
		struct conf_kvm_sev_snp_launch_start s = {
			.policy = l->params->policy,
		};

		return sev_cmd(l, CONF_KVM_SEV_SNP_LAUNCH_START, &s,
			       "KVM_SEV_SNP_LAUNCH_START");
	}
	/* The owner's DH certificate and session bind the launch to them;
	 * without them the PSP makes its own keys. */
	struct conf_kvm_sev_launch_start s = {
		.policy = (uint32_t)l->params->policy,
		.dh_uaddr = (uintptr_t)l->dh_cert,
		.dh_len = l->dh_cert_len,
		.session_uaddr = (uintptr_t)l->session,
		.session_len = l->session_len,
	};

	ret = sev_cmd(l, CONF_KVM_SEV_LAUNCH_START, &s, "KVM_SEV_LAUNCH_START");

	/* The PSP names the guest context: query-sev reports it. */
	if (!ret)
		l->handle = s.handle;
	return ret;
}

/*
 * KVM builds each VMSA from the vCPU's registers, so the registers come
 * from the very page the plan measured: start address and RDX.
 */
int sev_launch_vcpus(struct confidential_launch *l)
{
	const struct launch_plan *plan = l->plan;

	for (unsigned int i = 0; i < plan->nr_steps; i++) {
		const struct launch_step *s = &plan->steps[i];
		int ret;

		if (s->kind != LAUNCH_STEP_VMSA)
			continue;
		ret = l->ops->vcpu_set_start(l->opaque, s->vcpu, s->eip,
					     le64_get(s->data + VMSA_RDX));
		if (ret < 0) {
			l->failed = "setting the vCPU start registers";
			return ret;
		}
	}
	return 0;
}

/* Put a step's bytes into guest memory; the host address of them. */
static void *launch_step_load(struct confidential_launch *l,
			      const struct launch_step *s)
{
	void *host = l->ops->guest_ptr(l->opaque, s->gpa, s->len);

	if (!host) {
		l->failed = "guest memory for a launch step";
		return NULL;
	}
	if (s->data)
		memmove(host, s->data, s->len);
	else
		memset(host, 0, s->len);
	return host;
}

int sev_launch_measure(struct confidential_launch *l)
{
	const struct launch_plan *plan = l->plan;
	struct conf_kvm_sev_launch_measure m = {
		.uaddr = (uintptr_t)l->measurement,
		.len = sizeof(l->measurement),
	};
	int ret;

	for (unsigned int i = 0; i < plan->nr_steps; i++) {
		const struct launch_step *s = &plan->steps[i];
		struct conf_kvm_sev_launch_update_data u = { .len = (uint32_t)s->len };
		void *host;

		if (s->kind != LAUNCH_STEP_DATA)
			continue;
		host = launch_step_load(l, s);
		if (!host)
			return -EFAULT;
		u.uaddr = (uintptr_t)host;
		ret = sev_cmd(l, CONF_KVM_SEV_LAUNCH_UPDATE_DATA, &u,
			      "KVM_SEV_LAUNCH_UPDATE_DATA");
		if (ret < 0)
			return ret;
	}
	/* One command encrypts and measures every vCPU's VMSA, in order. */
	if (plan->opt.kind == CONFIDENTIAL_SEV_ES) {
		ret = sev_cmd(l, CONF_KVM_SEV_LAUNCH_UPDATE_VMSA, NULL,
			      "KVM_SEV_LAUNCH_UPDATE_VMSA");
		if (ret < 0)
			return ret;
	}
	ret = sev_cmd(l, CONF_KVM_SEV_LAUNCH_MEASURE, &m,
		      "KVM_SEV_LAUNCH_MEASURE");
	if (ret < 0)
		return ret;
	l->measurement_len = m.len < sizeof(l->measurement) ?
				     m.len :
				     (uint32_t)sizeof(l->measurement);
	return 0;
}

int sev_launch_complete(struct confidential_launch *l)
{
	return sev_cmd(l, CONF_KVM_SEV_LAUNCH_FINISH, NULL,
		       "KVM_SEV_LAUNCH_FINISH");
}

int sev_launch_finish(struct confidential_launch *l)
{
	int ret = sev_launch_measure(l);

	return ret < 0 ? ret : sev_launch_complete(l);
}

/*
 * The PSP decrypts the owner's packet (transport-encrypted under the
 * launch's TEK, checked against the header's MAC) into guest memory at
 * guest, re-encrypted with the guest's key.
 */
int sev_launch_secret(struct confidential_launch *l, const uint8_t *hdr,
		      uint32_t hdr_len, const uint8_t *data, uint32_t len,
		      void *guest)
{
	struct conf_kvm_sev_launch_secret s = {
		.hdr_uaddr = (uintptr_t)hdr,
		.hdr_len = hdr_len,
		.guest_uaddr = (uintptr_t)guest,
		.guest_len = len,
		.trans_uaddr = (uintptr_t)data,
		.trans_len = len,
	};

	return sev_cmd(l, CONF_KVM_SEV_LAUNCH_SECRET, &s,
		       "KVM_SEV_LAUNCH_SECRET");
}

static int snp_update(struct confidential_launch *l,
		      const struct launch_step *s, void *host)
{
	enum snp_page_type type = s->kind == LAUNCH_STEP_DATA ?
					  SNP_PAGE_NORMAL :
					  s->page_type;
	struct conf_kvm_sev_snp_launch_update u = {
		.gfn_start = s->gpa / CONF_PAGE_SIZE,
		/* KVM ignores the source of ZERO pages. */
		.uaddr = type == SNP_PAGE_ZERO ? 0 : (uintptr_t)host,
		.len = s->len,
		.type = (uint8_t)type,
	};
	bool retried = false;
	int ret;

	/* KVM advances gfn_start/uaddr/len as it goes: resume after -EAGAIN. */
	do {
		ret = sev_cmd(l, CONF_KVM_SEV_SNP_LAUNCH_UPDATE, &u,
			      "KVM_SEV_SNP_LAUNCH_UPDATE");
		/*
		 * The firmware checks the CPUID page against the CPU and, if
		 * it disagrees, KVM copies the corrected page back to uaddr:
		 * retry once with the firmware's values.
		 */
		if (ret == -EIO && type == SNP_PAGE_CPUID && !retried) {
			retried = true;
			ret = -EAGAIN;
		}
	} while (ret == -EAGAIN || ret == -EINTR);
	return ret;
}

int snp_launch_finish(struct confidential_launch *l)
{
	const struct launch_plan *plan = l->plan;
	struct conf_kvm_sev_snp_launch_finish f = {
		.id_block_uaddr = (uintptr_t)l->id_block,
		.id_auth_uaddr = (uintptr_t)l->id_auth,
		.id_block_en = l->id_block != NULL,
		.auth_key_en = 0,
	};
	int ret = launch_plan_make_private(l);

	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < plan->nr_steps; i++) {
		const struct launch_step *s = &plan->steps[i];
		void *host;

		if (s->kind == LAUNCH_STEP_VMSA)
			continue;
		host = launch_step_load(l, s);
		if (!host)
			return -EFAULT;
		if (s->kind == LAUNCH_STEP_PAGES &&
		    s->page_type == SNP_PAGE_CPUID) {
			ret = l->ops->snp_cpuid_fill(l->opaque, host);
			if (ret < 0) {
				if (!l->failed)
					l->failed = "the SNP CPUID page";
				return ret;
			}
		}
		ret = snp_update(l, s, host);
		if (ret < 0)
			return ret;
	}
	if (l->params->has_host_data)
		memcpy(f.host_data, l->params->host_data, sizeof(f.host_data));
	return sev_cmd(l, CONF_KVM_SEV_SNP_LAUNCH_FINISH, &f,
		       "KVM_SEV_SNP_LAUNCH_FINISH");
}
