// SPDX-License-Identifier: MIT
/*
 * QMP for SEV guests, after QEMU 7.2 (qapi/misc-target.json,
 * target/i386/sev.c): query-sev, query-sev-launch-measure,
 * query-sev-capabilities, query-sev-attestation-report and
 * sev-inject-launch-secret, with QEMU's reply
 * shapes and error texts. On a VM that is not confidential they answer as
 * QEMU does without SEV. The launch itself is src/confidential/vm_launch.c.
 */
#include "tern/confidential_vm.h"
#include "tern/error.h"
#include "tern/qmp.h"
#include "tern/vm.h"

/* The VM's SEV launch; NULL without one (a TDX guest is not SEV). */
static struct confidential_vm *call_conf(const struct qmp_call *call)
{
	struct confidential_vm *c = ((struct vm *)call->opaque)->conf;

	return confidential_vm_is_sev(c) ? c : NULL;
}

/* QEMU 7.2's SevInfo: all fields, zero and "uninit" without SEV. */
static json_object *cmd_query_sev(const struct qmp_call *call,
				  json_object *args, GError **err)
{
	struct confidential_vm *c = call_conf(call);
	json_object *o = json_object_new_object();
	struct sev_guest_info info;

	confidential_vm_info(c, &info);
	qmp_add_bool(o, "enabled", c != NULL);
	qmp_add_int(o, "api-major", info.api_major);
	qmp_add_int(o, "api-minor", info.api_minor);
	qmp_add_int(o, "build-id", info.build_id);
	if (info.kind == CONFIDENTIAL_SEV_SNP) {
		/* QEMU 9.1's SevInfo union (7.2 has no SNP): sev-type, then
		 * the 64-bit snp-policy instead of policy and handle. */
		qmp_add_str(o, "state", sev_launch_state_name(info.state));
		qmp_add_str(o, "sev-type", "sev-snp");
		json_object_object_add(o, "snp-policy",
				       json_object_new_uint64(info.policy));
		return o;
	}
	qmp_add_int(o, "policy", info.policy);
	qmp_add_str(o, "state", sev_launch_state_name(info.state));
	qmp_add_int(o, "handle", info.handle);
	return o;
}

static json_object *cmd_query_sev_launch_measure(const struct qmp_call *call,
						 json_object *args,
						 GError **err)
{
	g_autofree char *data = confidential_vm_measurement(call_conf(call));
	json_object *o;

	if (!data) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV launch measurement is not available");
		return NULL;
	}
	o = json_object_new_object();
	qmp_add_str(o, "data", data);
	return o;
}

static json_object *cmd_query_sev_capabilities(const struct qmp_call *call,
					       json_object *args,
					       GError **err)
{
	struct confidential_vm *c = call_conf(call);
	struct sev_capabilities cap;
	json_object *o;

	/* QEMU asks KVM_MEMORY_ENCRYPT_OP first: a VM without SEV fails it. */
	if (!c) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV is not enabled in KVM");
		return NULL;
	}
	if (!confidential_vm_capabilities(c, &cap, err))
		return NULL;
	o = json_object_new_object();
	qmp_add_str(o, "pdh", cap.pdh);
	qmp_add_str(o, "cert-chain", cap.cert_chain);
	qmp_add_str(o, "cpu0-id", cap.cpu0_id);
	qmp_add_int(o, "cbitpos", cap.cbitpos);
	qmp_add_int(o, "reduced-phys-bits", cap.reduced_phys_bits);
	sev_capabilities_clear(&cap);
	return o;
}

static json_object *cmd_sev_inject_launch_secret(const struct qmp_call *call,
						 json_object *args,
						 GError **err)
{
	struct confidential_vm *c = call_conf(call);
	json_object *gpa = json_object_object_get(args, "gpa");
	const char *hdr = json_object_get_string(
		json_object_object_get(args, "packet-header"));
	const char *secret =
		json_object_get_string(json_object_object_get(args, "secret"));

	if (!c) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV not enabled for guest");
		return NULL;
	}
	if (!confidential_vm_inject_secret(c, hdr, secret, gpa != NULL,
					   (uint64_t)json_object_get_int64(gpa),
					   err))
		return NULL;
	return json_object_new_object();
}

static json_object *cmd_query_sev_attestation_report(
	const struct qmp_call *call, json_object *args, GError **err)
{
	struct confidential_vm *c = call_conf(call);
	const char *mnonce =
		json_object_get_string(json_object_object_get(args, "mnonce"));
	g_autofree char *data = NULL;
	json_object *o;

	if (!c) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "SEV is not enabled");
		return NULL;
	}
	data = confidential_vm_attestation_report(c, mnonce, err);
	if (!data)
		return NULL;
	o = json_object_new_object();
	qmp_add_str(o, "data", data);
	return o;
}

static const struct qmp_arg report_args[] = {
	{ .name = "mnonce", .type = QMP_TYPE_STR },
	{ NULL },
};

static const struct qmp_arg inject_args[] = {
	{ .name = "packet-header", .type = QMP_TYPE_STR },
	{ .name = "secret", .type = QMP_TYPE_STR },
	{ .name = "gpa", .type = QMP_TYPE_INT, .optional = true },
	{ NULL },
};

const struct qmp_command qmp_sev_commands[] = {
	{ .name = "query-sev", .fn = cmd_query_sev },
	{ .name = "query-sev-launch-measure",
	  .fn = cmd_query_sev_launch_measure },
	{ .name = "query-sev-capabilities", .fn = cmd_query_sev_capabilities },
	{ .name = "query-sev-attestation-report",
	  .fn = cmd_query_sev_attestation_report,
	  .args = report_args },
	{ .name = "sev-inject-launch-secret",
	  .fn = cmd_sev_inject_launch_secret,
	  .args = inject_args },
	{ NULL },
};
