// SPDX-License-Identifier: MIT
/*
 * What every confidential launch shares: the --confidential parameters,
 * the VM type, the host check, guest_memfd slots and private/shared
 * conversion. The flows themselves are in launch_sev.c and launch_tdx.c.
 */
#include <errno.h>
#include <string.h>

#include "launch_internal.h"
#include "tern/confidential_kvm.h"
#include "tern/error.h"

static bool param_bad(GError **err, const char *key, const char *val,
		      const char *expected)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--confidential: %s='%s': expected %s", key, val, expected);
	return false;
}

static bool param_hex(const char *s, uint64_t *out)
{
	char *end;

	if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X"))
		s += 2;
	if (!g_ascii_isxdigit(*s))
		return false;
	errno = 0;
	*out = g_ascii_strtoull(s, &end, 16);
	return !errno && !*end;
}

static bool param_kv(struct confidential_params *p, const char *key,
		     const char *val, GError **err)
{
	bool snp = p->kind == CONFIDENTIAL_SEV_SNP;
	bool sev = p->kind != CONFIDENTIAL_TDX;
	uint64_t v;

	if (!strcmp(key, "policy")) {
		if (!param_hex(val, &v) || (!snp && v > UINT32_MAX))
			return param_bad(err, key, val,
					 snp ? "a 64-bit hex SNP guest policy" :
					       "a 32-bit hex SEV guest policy");
		p->has_policy = true;
		p->policy = v;
	} else if (!strcmp(key, "cbitpos") && sev) {
		if (parse_u64(val, &v) || v < 32 || v > 63)
			return param_bad(err, key, val, "a bit from 32 to 63");
		p->cbitpos = (unsigned int)v;
	} else if (!strcmp(key, "reduced-phys-bits") && sev) {
		if (parse_u64(val, &v) || v > 63)
			return param_bad(err, key, val, "a number from 0 to 63");
		p->reduced_phys_bits = (unsigned int)v;
	} else if (!strcmp(key, "dh-cert") && sev && !snp) {
		g_free(p->dh_cert_path);
		p->dh_cert_path = g_strdup(val);
	} else if (!strcmp(key, "session") && sev && !snp) {
		g_free(p->session_path);
		p->session_path = g_strdup(val);
	} else if (!strcmp(key, "id-block") && snp) {
		g_free(p->id_block_path);
		p->id_block_path = g_strdup(val);
	} else if (!strcmp(key, "id-auth") && snp) {
		g_free(p->id_auth_path);
		p->id_auth_path = g_strdup(val);
	} else if (!strcmp(key, "host-data") && snp) {
		for (unsigned int i = 0; i < 32; i++) {
			int hi, lo;

			if (strlen(val) != 64)
				break;
			hi = g_ascii_xdigit_value(val[2 * i]);
			lo = g_ascii_xdigit_value(val[2 * i + 1]);
			if (hi < 0 || lo < 0)
				break;
			p->host_data[i] = (uint8_t)(hi << 4 | lo);
			p->has_host_data = i == 31;
		}
		if (!p->has_host_data)
			return param_bad(err, key, val, "64 hex digits");
	} else if (!strcmp(key, "kernel-hashes") && sev) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return param_bad(err, key, val, "on or off");
		p->kernel_hashes = !strcmp(val, "on");
	} else {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--confidential: '%s' is not an option of %s", key,
			    confidential_kind_name(p->kind));
		return false;
	}
	return true;
}

bool confidential_params_parse(const char *spec,
			       struct confidential_params *p, GError **err)
{
	g_auto(GStrv) parts = g_strsplit(spec, ",", -1);

	memset(p, 0, sizeof(*p));
	if (!parts[0] || !confidential_kind_parse(parts[0], &p->kind)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--confidential '%s': expected sev, sev-es, sev-snp or tdx, then options",
			    spec);
		return false;
	}
	for (unsigned int i = 1; parts[i]; i++) {
		char *eq = strchr(parts[i], '=');

		if (!eq) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: '%s': expected KEY=VALUE",
				    parts[i]);
			goto fail;
		}
		*eq = '\0';
		if (!param_kv(p, parts[i], eq + 1, err))
			goto fail;
	}
	if (!p->dh_cert_path != !p->session_path) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: dh-cert and session go together");
		goto fail;
	}
	if (!p->id_block_path != !p->id_auth_path) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: id-block and id-auth go together");
		goto fail;
	}
	if (!p->has_policy)
		p->policy = p->kind == CONFIDENTIAL_SEV_SNP ? SNP_POLICY_DEFAULT :
			    p->kind == CONFIDENTIAL_SEV_ES  ? SEV_ES_POLICY_DEFAULT :
							      SEV_POLICY_DEFAULT;
	/* An SEV-ES guest whose policy lacks ES is launched as plain SEV. */
	if (p->kind == CONFIDENTIAL_SEV_ES && !(p->policy & 0x4)) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential sev-es: the policy needs bit 2 (ES)");
		goto fail;
	}
	return true;
fail:
	confidential_params_clear(p);
	return false;
}

void confidential_params_clear(struct confidential_params *p)
{
	g_clear_pointer(&p->dh_cert_path, g_free);
	g_clear_pointer(&p->session_path, g_free);
	g_clear_pointer(&p->id_block_path, g_free);
	g_clear_pointer(&p->id_auth_path, g_free);
}

unsigned long confidential_vm_type(enum confidential_kind kind)
{
	switch (kind) {
	case CONFIDENTIAL_SEV:
		return CONF_KVM_X86_SEV_VM;
	case CONFIDENTIAL_SEV_ES:
		return CONF_KVM_X86_SEV_ES_VM;
	case CONFIDENTIAL_SEV_SNP:
		return CONF_KVM_X86_SNP_VM;
	case CONFIDENTIAL_TDX:
		return CONF_KVM_X86_TDX_VM;
	case CONFIDENTIAL_NONE:
		break;
	}
	return CONF_KVM_X86_DEFAULT_VM;
}

bool confidential_host_check(enum confidential_kind kind, int vm_types,
			     GError **err)
{
	unsigned long type = confidential_vm_type(kind);
	const char *needs = kind == CONFIDENTIAL_TDX ?
				    "an Intel host with TDX enabled in firmware and kvm_intel.tdx=1" :
				    "an AMD EPYC host with SEV enabled in firmware and kvm_amd.sev=1 (sev_es=1, sev_snp=1 for those)";

	if (vm_types > 0 && (vm_types & (1 << type)))
		return true;
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "--confidential %s: KVM offers no %s VM type here (KVM_CAP_VM_TYPES = %#x); it needs %s",
		    confidential_kind_name(kind), confidential_kind_name(kind),
		    vm_types > 0 ? vm_types : 0, needs);
	return false;
}

int confidential_memory_bind(const struct confidential_ops *ops, void *opaque,
			     uint32_t slot, uint64_t gpa, uint64_t size,
			     uint64_t uaddr, int *gmem_fd)
{
	struct conf_kvm_create_guest_memfd gm = { .size = size };
	struct conf_kvm_userspace_memory_region2 r = {
		.slot = slot,
		.flags = CONF_KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = uaddr,
	};
	int fd = ops->vm_ioctl(opaque, CONF_KVM_CREATE_GUEST_MEMFD, &gm);

	/* KVM_CREATE_GUEST_MEMFD returns the new descriptor. */
	if (fd < 0)
		return fd;
	r.guest_memfd = (uint32_t)fd;
	*gmem_fd = fd;
	return ops->vm_ioctl(opaque, CONF_KVM_SET_USER_MEMORY_REGION2, &r);
}

int confidential_memory_convert(const struct confidential_ops *ops,
				void *opaque, uint64_t gpa, uint64_t size,
				bool private)
{
	struct conf_kvm_memory_attributes a = {
		.address = gpa,
		.size = size,
		.attributes = private ? CONF_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};

	if (gpa % CONF_PAGE_SIZE || size % CONF_PAGE_SIZE || !size ||
	    gpa + size < gpa)
		return -EINVAL;
	return ops->vm_ioctl(opaque, CONF_KVM_SET_MEMORY_ATTRIBUTES, &a);
}

int launch_plan_make_private(struct confidential_launch *l)
{
	const struct launch_plan *plan = l->plan;

	for (unsigned int i = 0; i < plan->nr_steps; i++) {
		const struct launch_step *s = &plan->steps[i];
		int ret;

		/* The VMSA page is KVM's own, not guest memory. */
		if (s->kind == LAUNCH_STEP_VMSA)
			continue;
		ret = confidential_memory_convert(l->ops, l->opaque, s->gpa,
						  s->len, true);
		if (ret < 0) {
			l->failed = "KVM_SET_MEMORY_ATTRIBUTES";
			return ret;
		}
	}
	return 0;
}

int confidential_launch_begin(struct confidential_launch *l)
{
	if (l->plan->opt.kind == CONFIDENTIAL_TDX)
		return tdx_launch_begin(l);
	return sev_launch_begin(l);
}

int confidential_launch_vcpus(struct confidential_launch *l)
{
	if (l->plan->opt.kind == CONFIDENTIAL_TDX)
		return tdx_launch_vcpus(l);
	return sev_launch_vcpus(l);
}

int confidential_launch_finish(struct confidential_launch *l)
{
	switch (l->plan->opt.kind) {
	case CONFIDENTIAL_TDX:
		return tdx_launch_finish(l);
	case CONFIDENTIAL_SEV_SNP:
		return snp_launch_finish(l);
	default:
		return sev_launch_finish(l);
	}
}

int confidential_launch_measure(struct confidential_launch *l)
{
	if (l->plan->opt.kind != CONFIDENTIAL_SEV &&
	    l->plan->opt.kind != CONFIDENTIAL_SEV_ES)
		return -EOPNOTSUPP;
	return sev_launch_measure(l);
}

int confidential_launch_complete(struct confidential_launch *l)
{
	if (l->plan->opt.kind != CONFIDENTIAL_SEV &&
	    l->plan->opt.kind != CONFIDENTIAL_SEV_ES)
		return -EOPNOTSUPP;
	return sev_launch_complete(l);
}

int confidential_launch_secret(struct confidential_launch *l,
			       const uint8_t *hdr, uint32_t hdr_len,
			       const uint8_t *data, uint32_t len, void *guest)
{
	if (l->plan->opt.kind != CONFIDENTIAL_SEV &&
	    l->plan->opt.kind != CONFIDENTIAL_SEV_ES)
		return -EOPNOTSUPP;
	return sev_launch_secret(l, hdr, hdr_len, data, len, guest);
}
