// SPDX-License-Identifier: MIT
/*
 * The launch plan: the ordered list of what goes into a confidential guest
 * before it runs, and how each piece is measured. `tern measure` hashes the
 * plan (measure.c); a launch hands the same plan to KVM (launch_sev.c,
 * launch_tdx.c). Keeping the decision in one place is what makes the
 * predicted digest the one the hardware reports.
 *
 * The order is the QEMU/KVM one the published reference values encode
 * (docs/confidential.md): firmware pages, then the SEV metadata sections in
 * table order, then one VMSA per vCPU, BSP first.
 */
#include <string.h>

#include "tern/confidential.h"
#include "tern/error.h"

static const char *const kind_names[] = {
	[CONFIDENTIAL_NONE] = "none",	      [CONFIDENTIAL_SEV] = "sev",
	[CONFIDENTIAL_SEV_ES] = "sev-es",     [CONFIDENTIAL_SEV_SNP] = "sev-snp",
	[CONFIDENTIAL_TDX] = "tdx",
};

bool confidential_kind_parse(const char *s, enum confidential_kind *kind)
{
	for (size_t i = CONFIDENTIAL_SEV; i < G_N_ELEMENTS(kind_names); i++) {
		if (!strcmp(s, kind_names[i])) {
			*kind = (enum confidential_kind)i;
			return true;
		}
	}
	return false;
}

const char *confidential_kind_name(enum confidential_kind kind)
{
	return kind_names[kind];
}

static bool plan_fail(GError **err, const char *msg)
{
	g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT, msg);
	return false;
}

static bool plan_add(struct launch_plan *plan, const struct launch_step *step,
		     GError **err)
{
	if (plan->nr_steps >= LAUNCH_MAX_STEPS)
		return plan_fail(err, "--firmware: too many launch steps");
	plan->steps[plan->nr_steps++] = *step;
	return true;
}

static bool plan_add_firmware(struct launch_plan *plan, const uint8_t *img,
			      size_t len, GError **err)
{
	struct launch_step s = { .kind = LAUNCH_STEP_DATA,
				 .gpa = plan->fw.load_gpa,
				 .len = len,
				 .data = img,
				 .page_type = SNP_PAGE_NORMAL,
				 .firmware = true };

	return plan_add(plan, &s, err);
}

/* One VMSA per vCPU: the BSP at the reset vector, APs at the reset block. */
static bool plan_add_vmsas(struct launch_plan *plan, uint64_t sev_features,
			   GError **err)
{
	const struct launch_options *o = &plan->opt;

	if (o->cpus > 1 && !plan->fw.has_reset_block)
		return plan_fail(err,
				 "--firmware: more than one vCPU needs the SEV-ES reset block in the footer table (where the APs start)");
	plan->vmsa = g_malloc0((size_t)o->cpus * CONF_PAGE_SIZE);
	for (unsigned int i = 0; i < o->cpus; i++) {
		uint32_t eip = i ? plan->fw.ap_reset_eip : VMSA_BSP_EIP;
		struct launch_step s = { .kind = LAUNCH_STEP_VMSA,
					 .gpa = o->vmsa_gpa,
					 .len = CONF_PAGE_SIZE,
					 .data = plan->vmsa +
						 (size_t)i * CONF_PAGE_SIZE,
					 .page_type = SNP_PAGE_VMSA,
					 .vcpu = i,
					 .eip = eip };

		vmsa_build(plan->vmsa + (size_t)i * CONF_PAGE_SIZE, o->profile,
			   i == 0, eip, sev_features, o->vcpu_sig);
		if (!plan_add(plan, &s, err))
			return false;
	}
	return true;
}

static void plan_hashes_table(struct launch_plan *plan, uint8_t *at)
{
	const struct launch_options *o = &plan->opt;

	sev_hashes_table_build(o->kernel, o->kernel_len, o->initrd,
			       o->initrd_len, o->cmdline, at);
}

static bool plan_build_sev(struct launch_plan *plan, const uint8_t *img,
			   size_t len, GError **err)
{
	const struct ovmf_info *fw = &plan->fw;

	if (!plan_add_firmware(plan, img, len, err))
		return false;
	if (plan->opt.kernel) {
		struct launch_step s = { .kind = LAUNCH_STEP_DATA,
					 .len = SEV_HASHES_TABLE_PADDED,
					 .data = plan->hashes_page };

		if (!fw->has_hashes_table ||
		    fw->hashes_size < SEV_HASHES_TABLE_PADDED)
			return plan_fail(err,
					 "--kernel: the firmware has no SEV hashes table to check it against (use an OVMF built from OvmfPkg/AmdSev)");
		s.gpa = fw->hashes_gpa;
		plan_hashes_table(plan, plan->hashes_page);
		if (!plan_add(plan, &s, err))
			return false;
	}
	if (plan->opt.kind == CONFIDENTIAL_SEV_ES)
		return plan_add_vmsas(plan, 0, err);
	return true;
}

static bool plan_add_pages(struct launch_plan *plan, uint64_t gpa,
			   uint64_t len, enum snp_page_type type, GError **err)
{
	struct launch_step s = { .kind = LAUNCH_STEP_PAGES,
				 .gpa = gpa,
				 .len = len,
				 .page_type = type };

	return plan_add(plan, &s, err);
}

static bool plan_snp_section(struct launch_plan *plan,
			     const struct sev_section *sec, GError **err)
{
	const struct launch_options *o = &plan->opt;
	enum snp_page_type sec_mem = o->profile == VMSA_PROFILE_GCE ?
					     SNP_PAGE_UNMEASURED :
					     SNP_PAGE_ZERO;

	switch (sec->type) {
	case SEV_SECTION_SNP_SEC_MEM:
		return plan_add_pages(plan, sec->gpa, sec->size, sec_mem, err);
	case SEV_SECTION_SNP_SECRETS:
		return plan_add_pages(plan, sec->gpa, sec->size,
				      SNP_PAGE_SECRETS, err);
	case SEV_SECTION_CPUID:
		return plan_add_pages(plan, sec->gpa, sec->size, SNP_PAGE_CPUID,
				      err);
	case SEV_SECTION_SVSM_CAA:
		return plan_add_pages(plan, sec->gpa, sec->size, SNP_PAGE_ZERO,
				      err);
	case SEV_SECTION_SNP_KERNEL_HASHES:
		if (o->kernel) {
			uint32_t page = plan->fw.hashes_gpa & ~(CONF_PAGE_SIZE - 1);
			struct launch_step s = { .kind = LAUNCH_STEP_DATA,
						 .gpa = sec->gpa,
						 .len = CONF_PAGE_SIZE,
						 .data = plan->hashes_page,
						 .page_type = SNP_PAGE_NORMAL };

			if (!plan->fw.has_hashes_table || page != sec->gpa ||
			    (plan->fw.hashes_gpa & (CONF_PAGE_SIZE - 1)) +
					    SEV_HASHES_TABLE_PADDED >
				    CONF_PAGE_SIZE)
				return plan_fail(err,
						 "--firmware: the SEV hashes table is not inside the kernel-hashes section's first page");
			plan_hashes_table(plan,
					  plan->hashes_page +
						  (plan->fw.hashes_gpa &
						   (CONF_PAGE_SIZE - 1)));
			if (!plan_add(plan, &s, err))
				return false;
			if (sec->size > CONF_PAGE_SIZE)
				return plan_add_pages(plan,
						      sec->gpa + CONF_PAGE_SIZE,
						      sec->size - CONF_PAGE_SIZE,
						      SNP_PAGE_ZERO, err);
			return true;
		}
		return plan_add_pages(plan, sec->gpa, sec->size, SNP_PAGE_ZERO,
				      err);
	default:
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--firmware: SEV metadata section type %#x is unknown",
			    sec->type);
		return false;
	}
}

static bool plan_build_snp(struct launch_plan *plan, const uint8_t *img,
			   size_t len, GError **err)
{
	const struct ovmf_info *fw = &plan->fw;
	/* EC2 measures the CPUID pages after every other section. */
	bool cpuid_last = plan->opt.profile == VMSA_PROFILE_EC2 ||
			  plan->opt.profile == VMSA_PROFILE_EC2_RDX0;
	bool has_hashes_section = false;

	if (fw->sev_problem)
		return plan_fail(err, fw->sev_problem);
	if (!fw->nr_sev)
		return plan_fail(err,
				 "--firmware: no SEV metadata (an SEV-SNP guest needs an OVMF that describes its SNP pages)");
	for (unsigned int i = 0; i < fw->nr_sev; i++)
		has_hashes_section |= fw->sev[i].type ==
				      SEV_SECTION_SNP_KERNEL_HASHES;
	if (plan->opt.kernel && !has_hashes_section)
		return plan_fail(err,
				 "--kernel: the firmware has no SNP kernel-hashes section to check it against (use an OVMF built from OvmfPkg/AmdSev)");
	if (!plan_add_firmware(plan, img, len, err))
		return false;
	for (unsigned int i = 0; i < fw->nr_sev; i++) {
		if (cpuid_last && fw->sev[i].type == SEV_SECTION_CPUID)
			continue;
		if (!plan_snp_section(plan, &fw->sev[i], err))
			return false;
	}
	for (unsigned int i = 0; cpuid_last && i < fw->nr_sev; i++) {
		if (fw->sev[i].type == SEV_SECTION_CPUID &&
		    !plan_snp_section(plan, &fw->sev[i], err))
			return false;
	}
	return plan_add_vmsas(plan, plan->opt.guest_features, err);
}

/*
 * SNP with an SVSM, as QEMU with COCONUT-SVSM launches it: the firmware's
 * pages, the SVSM image's pages (it ends where the firmware's variable
 * store begins), the SVSM's SEV metadata sections (the firmware's are the
 * SVSM's business then), and one identical VMSA per vCPU at the SVSM's
 * entry point.
 */
static bool plan_build_svsm(struct launch_plan *plan, const uint8_t *img,
			    size_t len, GError **err)
{
	const struct launch_options *o = &plan->opt;
	const struct ovmf_info *svsm = &plan->svsm_fw;
	uint64_t gpa, below = plan->fw.load_gpa;
	uint32_t eip;

	if (o->kernel || o->has_seed)
		return plan_fail(err,
				 "--svsm: not with --kernel or --snp-ovmf-hash");
	if (o->profile != VMSA_PROFILE_QEMU &&
	    o->profile != VMSA_PROFILE_QEMU_LEGACY)
		return plan_fail(err,
				 "--svsm: only QEMU launches an SVSM (--vmm-type qemu or qemu-legacy)");
	if (o->ovmf_vars_size % CONF_PAGE_SIZE || o->ovmf_vars_size > below ||
	    o->svsm_len > below - o->ovmf_vars_size)
		return plan_fail(err,
				 "--ovmf-vars-size: whole 4K pages, leaving room below the firmware for the SVSM");
	gpa = below - o->ovmf_vars_size - o->svsm_len;
	if (svsm->sev_problem)
		return plan_fail(err, svsm->sev_problem);
	if (!svsm->nr_sev || !svsm->has_svsm_info)
		return plan_fail(err,
				 "--svsm: the image lacks its SEV metadata or its SVSM info entry (a789a612-...) in the footer table");
	if (svsm->svsm_entry_offset >= o->svsm_len)
		return plan_fail(err,
				 "--svsm: its entry point lies outside the image");
	eip = (uint32_t)(gpa + svsm->svsm_entry_offset);
	if (!plan_add_firmware(plan, img, len, err))
		return false;
	{
		struct launch_step s = { .kind = LAUNCH_STEP_DATA,
					 .gpa = gpa,
					 .len = o->svsm_len,
					 .data = o->svsm,
					 .page_type = SNP_PAGE_NORMAL };

		if (!plan_add(plan, &s, err))
			return false;
	}
	for (unsigned int i = 0; i < svsm->nr_sev; i++)
		if (!plan_snp_section(plan, &svsm->sev[i], err))
			return false;
	plan->vmsa = g_malloc0(CONF_PAGE_SIZE);
	vmsa_build_svsm(plan->vmsa, eip, o->vcpu_sig,
			o->profile == VMSA_PROFILE_QEMU_LEGACY);
	for (unsigned int i = 0; i < o->cpus; i++) {
		struct launch_step s = { .kind = LAUNCH_STEP_VMSA,
					 .gpa = o->vmsa_gpa,
					 .len = CONF_PAGE_SIZE,
					 .data = plan->vmsa,
					 .page_type = SNP_PAGE_VMSA,
					 .vcpu = i,
					 .eip = eip };

		if (!plan_add(plan, &s, err))
			return false;
	}
	return true;
}

static bool plan_build_tdx(struct launch_plan *plan, const uint8_t *img,
			   GError **err)
{
	const struct ovmf_info *fw = &plan->fw;

	if (fw->tdvf_problem)
		return plan_fail(err, fw->tdvf_problem);
	if (!fw->has_tdvf)
		return plan_fail(err,
				 "--firmware: no TDVF metadata (a TDX guest needs a TDVF/OVMF built with TDX support)");
	for (unsigned int i = 0; i < fw->nr_tdvf; i++) {
		const struct tdvf_section *sec = &fw->tdvf[i];
		struct launch_step s = {
			.gpa = sec->gpa,
			.len = sec->mem_size,
			.extend = sec->attributes & TDVF_ATTR_MR_EXTEND,
		};

		/* PAGE.AUG sections are accepted by the guest later: never
		 * added, never in MRTD. */
		if (sec->attributes & TDVF_ATTR_PAGE_AUG)
			continue;
		if (sec->raw_size == sec->mem_size) {
			s.kind = LAUNCH_STEP_DATA;
			s.data = img + sec->data_offset;
		} else if (!sec->raw_size) {
			s.kind = LAUNCH_STEP_PAGES;
		} else {
			return plan_fail(err,
					 "--firmware: a TDVF section with data shorter than its memory is not supported");
		}
		if (!plan_add(plan, &s, err))
			return false;
	}
	return true;
}

struct launch_plan *launch_plan_build(const uint8_t *img, size_t len,
				      const struct launch_options *opt,
				      GError **err)
{
	struct launch_plan *plan = g_new0(struct launch_plan, 1);
	bool ok = false;

	plan->opt = *opt;
	if (!plan->opt.vmsa_gpa)
		plan->opt.vmsa_gpa = SNP_VMSA_GPA_48BIT;
	if (!plan->opt.cpus)
		plan->opt.cpus = 1;
	if (plan->opt.cpus > 1024)
		plan_fail(err, "--cpus: at most 1024 vCPUs");
	else if (opt->svsm && opt->kind != CONFIDENTIAL_SEV_SNP)
		plan_fail(err, "--svsm: only with --confidential sev-snp");
	else if (!ovmf_parse(img, len, &plan->fw, err))
		;
	else if (opt->svsm &&
		 !ovmf_parse(opt->svsm, opt->svsm_len, &plan->svsm_fw, err))
		g_prefix_error(err, "--svsm: ");
	else
		ok = true;
	if (!ok) {
		launch_plan_free(plan);
		return NULL;
	}
	ok = false;
	switch (opt->kind) {
	case CONFIDENTIAL_SEV:
	case CONFIDENTIAL_SEV_ES:
		ok = plan_build_sev(plan, img, len, err);
		break;
	case CONFIDENTIAL_SEV_SNP:
		ok = opt->svsm ? plan_build_svsm(plan, img, len, err) :
				 plan_build_snp(plan, img, len, err);
		break;
	case CONFIDENTIAL_TDX:
		ok = plan_build_tdx(plan, img, err);
		break;
	case CONFIDENTIAL_NONE:
		plan_fail(err, "--confidential: no confidential kind given");
		break;
	}
	if (!ok) {
		launch_plan_free(plan);
		return NULL;
	}
	return plan;
}

void launch_plan_free(struct launch_plan *plan)
{
	if (!plan)
		return;
	g_free(plan->vmsa);
	g_free(plan);
}
