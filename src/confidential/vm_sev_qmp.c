// SPDX-License-Identifier: MIT
/*
 * What QMP reads from and does to an SEV launch (src/qmp/qmp_sev.c): the
 * launch state, the LAUNCH_MEASURE blob, sev-inject-launch-secret's
 * LAUNCH_SECRET and query-sev-capabilities' platform certificates, with
 * QEMU 7.2's texts for every error.
 */
#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <linux/psp-sev.h>

#include "tern/confidential_kvm.h"
#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/vm.h"
#include "vm_internal.h"

void confidential_vm_info(const struct confidential_vm *c,
			  struct sev_guest_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!c)
		return;
	info->kind = c->plan->opt.kind;
	info->state = c->state;
	info->api_major = c->platform.api_major;
	info->api_minor = c->platform.api_minor;
	info->build_id = c->platform.build_id;
	info->policy = c->vm->cfg->confidential.policy;
	info->handle = c->l.handle;
}

char *confidential_vm_measurement(const struct confidential_vm *c)
{
	/* QEMU: available from launch-secret on. */
	if (!c || c->state < SEV_STATE_LAUNCH_SECRET)
		return NULL;
	return sev_measurement_base64(c->l.measurement, c->l.measurement_len);
}

bool confidential_vm_inject_secret(struct confidential_vm *c,
				   const char *header_b64,
				   const char *secret_b64, bool has_gpa,
				   uint64_t gpa, GError **err)
{
	g_autofree uint8_t *hdr = NULL, *data = NULL;
	gsize hdr_len, len;
	void *guest;
	int ret;

	if (!has_gpa) {
		if (!c->plan->fw.has_secret_area) {
			g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "SEV: no secret area found in OVMF, gpa must be specified.");
			return false;
		}
		gpa = c->plan->fw.secret_gpa;
	}
	if (c->state != SEV_STATE_LAUNCH_SECRET) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "SEV: Not in correct state. (LSECRET) %x", c->state);
		return false;
	}
	if (!sev_secret_args_decode(header_b64, secret_b64, &hdr, &hdr_len,
				    &data, &len, err))
		return false;
	guest = conf_guest_ptr(c, gpa, len);
	if (!guest) {
		/* QEMU's gpa2hva: nothing there, or the region ends early. */
		if (conf_guest_ptr(c, gpa, 1))
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV: Failed to calculate guest address: Size of memory region at 0x%" PRIx64
				    " exceeded.",
				    gpa);
		else
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV: Failed to calculate guest address: No memory is mapped at address 0x%" PRIx64,
				    gpa);
		return false;
	}
	ret = confidential_launch_secret(&c->l, hdr, (uint32_t)hdr_len, data,
					 (uint32_t)len, guest);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "SEV: failed to inject secret ret=%d fw_error=%u '%s'",
			    ret, c->l.fw_error, conf_fw_error_name(c->l.fw_error));
		return false;
	}
	/* The guest's memory changed behind the dirty log. */
	guest_memory_mark_dirty(&c->vm->mem, gpa, len);
	return true;
}

/* Lengths the PSP may ask for: certificates and an ID are kilobytes. */
#define SEV_CERT_MAX (1u << 20)

static bool cap_fail(GError **err, const char *what, int ret, uint32_t fw)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "SEV: Failed to %s ret=%d fw_err=%u (%s)", what, ret, fw,
		    conf_fw_error_name(fw));
	return false;
}

/*
 * A platform command whose output lengths the PSP tells first: the call
 * with zero lengths fails INVALID_LEN and fills them in (QEMU's order).
 */
static bool cap_pdh(struct confidential_vm *c, struct sev_capabilities *cap,
		    GError **err)
{
	struct sev_user_data_pdh_cert_export e = { 0 };
	g_autofree uint8_t *pdh = NULL, *chain = NULL;
	uint32_t fw = 0;
	int ret = c->host->sev_platform_cmd(c->l.sev_fd, SEV_PDH_CERT_EXPORT,
					    &e, &fw);

	if (ret < 0 && fw != SEV_RET_INVALID_LEN)
		return cap_fail(err, "export PDH cert", ret, fw);
	if (e.pdh_cert_len > SEV_CERT_MAX || e.cert_chain_len > SEV_CERT_MAX)
		return cap_fail(err, "export PDH cert", -EOVERFLOW, 0);
	pdh = g_malloc0(e.pdh_cert_len + 1);
	chain = g_malloc0(e.cert_chain_len + 1);
	e.pdh_cert_address = (uintptr_t)pdh;
	e.cert_chain_address = (uintptr_t)chain;
	ret = c->host->sev_platform_cmd(c->l.sev_fd, SEV_PDH_CERT_EXPORT, &e,
					&fw);
	if (ret < 0)
		return cap_fail(err, "export PDH cert", ret, fw);
	cap->pdh = g_base64_encode(pdh, MIN(e.pdh_cert_len, SEV_CERT_MAX));
	cap->cert_chain =
		g_base64_encode(chain, MIN(e.cert_chain_len, SEV_CERT_MAX));
	return true;
}

static bool cap_id(struct confidential_vm *c, struct sev_capabilities *cap,
		   GError **err)
{
	struct sev_user_data_get_id2 id = { 0 };
	g_autofree uint8_t *buf = NULL;
	uint32_t fw = 0;
	int ret = c->host->sev_platform_cmd(c->l.sev_fd, SEV_GET_ID2, &id, &fw);

	if (ret < 0 && fw != SEV_RET_INVALID_LEN)
		return cap_fail(err, "get ID", ret, fw);
	if (id.length > SEV_CERT_MAX)
		return cap_fail(err, "get ID", -EOVERFLOW, 0);
	buf = g_malloc0(id.length + 1);
	id.address = (uintptr_t)buf;
	ret = c->host->sev_platform_cmd(c->l.sev_fd, SEV_GET_ID2, &id, &fw);
	if (ret < 0)
		return cap_fail(err, "get ID", ret, fw);
	cap->cpu0_id = g_base64_encode(buf, MIN(id.length, SEV_CERT_MAX));
	return true;
}

bool confidential_vm_capabilities(struct confidential_vm *c,
				  struct sev_capabilities *cap, GError **err)
{
	unsigned int eax = 0, ebx = 0, ecx, edx;

	memset(cap, 0, sizeof(*cap));
	if (!cap_pdh(c, cap, err) || !cap_id(c, cap, err)) {
		sev_capabilities_clear(cap);
		return false;
	}
	/* The memory encryption leaf of the host's CPU, as QEMU reads it. */
	if (__get_cpuid_max(0x80000000u, NULL) >= 0x8000001fu)
		__cpuid(0x8000001fu, eax, ebx, ecx, edx);
	cap->cbitpos = ebx & 0x3f;
	/* QEMU: "we loose one bit in guest physical addressing". */
	cap->reduced_phys_bits = 1;
	return true;
}

void sev_capabilities_clear(struct sev_capabilities *cap)
{
	g_clear_pointer(&cap->pdh, g_free);
	g_clear_pointer(&cap->cert_chain, g_free);
	g_clear_pointer(&cap->cpu0_id, g_free);
}

/* KVM_SEV_GET_ATTESTATION_REPORT through the launch's /dev/sev. */
static int report_cmd(struct confidential_vm *c,
		      struct kvm_sev_attestation_report *r, uint32_t *fw)
{
	struct conf_kvm_sev_cmd cmd = { .id = KVM_SEV_GET_ATTESTATION_REPORT,
					.data = (uintptr_t)r,
					.sev_fd = (uint32_t)c->l.sev_fd };
	int ret = c->host->vm_ioctl(c->vm->kvm.vm_fd, KVM_MEMORY_ENCRYPT_OP,
				    &cmd);

	*fw = cmd.error;
	return ret;
}

char *confidential_vm_attestation_report(struct confidential_vm *c,
					 const char *mnonce_b64, GError **err)
{
	struct kvm_sev_attestation_report r = { 0 };
	g_autofree uint8_t *nonce = NULL, *report = NULL;
	gsize len = 0;
	uint32_t fw = 0;
	int ret;

	nonce = g_base64_decode(mnonce_b64, &len);
	if (!nonce) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV: failed to decode mnonce input");
		return NULL;
	}
	if (len != sizeof(r.mnonce)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "SEV: mnonce must be %zu bytes (got %zu)",
			    sizeof(r.mnonce), (size_t)len);
		return NULL;
	}
	ret = report_cmd(c, &r, &fw);
	if (ret < 0 && fw != SEV_RET_INVALID_LEN) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "SEV: Failed to query the attestation report length ret=%d fw_err=%u (%s)",
			    ret, fw, conf_fw_error_name(fw));
		return NULL;
	}
	if (!r.len || r.len > SEV_CERT_MAX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "SEV: Failed to query the attestation report length ret=%d fw_err=%u (%s)",
			    -EOVERFLOW, fw, conf_fw_error_name(fw));
		return NULL;
	}
	report = g_malloc0(r.len);
	r.uaddr = (uintptr_t)report;
	memcpy(r.mnonce, nonce, sizeof(r.mnonce));
	ret = report_cmd(c, &r, &fw);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "SEV: Failed to get attestation report ret=%d fw_err=%u (%s): %s",
			    ret, fw, conf_fw_error_name(fw), g_strerror(-ret));
		return NULL;
	}
	return g_base64_encode(report, MIN(r.len, SEV_CERT_MAX));
}
