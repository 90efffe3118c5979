// SPDX-License-Identifier: MIT
/*
 * `tern measure`: the launch digest of a confidential guest, computed
 * offline from the same launch plan a launch would use, so a guest owner can
 * decide which attestation report to accept before the guest exists.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tern/confidential.h"
#include "tern/error.h"

#define FIRMWARE_MAX (64ull * MiB)
#define BOOT_MAX (1ull * GiB)

struct measure_options {
	gboolean ovmf_hash_only;
	char *kind, *firmware, *cpus, *vcpu_type, *vcpu_sig, *vmm_type,
		*kernel, *initrd, *cmdline, *guest_features, *ovmf_hash, *svsm,
		*vars_size;
};

static void measure_options_clear(struct measure_options *o)
{
	g_free(o->kind);
	g_free(o->firmware);
	g_free(o->cpus);
	g_free(o->vcpu_type);
	g_free(o->vcpu_sig);
	g_free(o->vmm_type);
	g_free(o->kernel);
	g_free(o->initrd);
	g_free(o->cmdline);
	g_free(o->guest_features);
	g_free(o->ovmf_hash);
	g_free(o->svsm);
	g_free(o->vars_size);
}

static bool bad(GError **err, const char *opt, const char *val,
		const char *expected)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s '%s': expected %s",
		    opt, val, expected);
	return false;
}

static bool parse_hex_u64(const char *s, uint64_t *out)
{
	char *end;

	if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X"))
		s += 2;
	if (!*s || !g_ascii_isxdigit(*s))
		return false;
	errno = 0;
	*out = g_ascii_strtoull(s, &end, 16);
	return !errno && !*end;
}

static bool parse_hex_bytes(const char *s, uint8_t *out, size_t len)
{
	if (strlen(s) != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = g_ascii_xdigit_value(s[2 * i]);
		int lo = g_ascii_xdigit_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool read_input(const char *opt, const char *path, size_t max,
		       uint8_t **buf, size_t *len, GError **err)
{
	int ret = file_read_all(path, max, buf, len);

	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s %s: %s", opt,
			    path, g_strerror(-ret));
		return false;
	}
	return true;
}

static bool measure_options_fill(const struct measure_options *o,
				 struct launch_options *lo, GError **err)
{
	uint64_t v;

	memset(lo, 0, sizeof(*lo));
	if (!o->kind || !confidential_kind_parse(o->kind, &lo->kind))
		return bad(err, "--confidential", o->kind ? o->kind : "",
			   "sev, sev-es, sev-snp or tdx");
	if (!o->firmware) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--firmware: the firmware image is required");
		return false;
	}
	lo->cpus = 1;
	if (o->cpus) {
		if (parse_u64(o->cpus, &v) || !v || v > 1024)
			return bad(err, "--cpus", o->cpus,
				   "a number of vCPUs from 1 to 1024");
		lo->cpus = (unsigned int)v;
	}
	lo->profile = VMSA_PROFILE_QEMU;
	if (o->vmm_type && !vmsa_profile_parse(o->vmm_type, &lo->profile))
		return bad(err, "--vmm-type", o->vmm_type,
			   "qemu, qemu-legacy, ec2, ec2-rdx0 or gce");
	if (o->vcpu_type && !vcpu_type_signature(o->vcpu_type, &lo->vcpu_sig))
		return bad(err, "--vcpu-type", o->vcpu_type,
			   "a QEMU AMD model: EPYC, EPYC-v1..v4, EPYC-IBPB, EPYC-Rome[-v1..v4], EPYC-Milan[-v1..v2], EPYC-Genoa[-v1]");
	if (o->vcpu_sig) {
		if (o->vcpu_type)
			return bad(err, "--vcpu-sig", o->vcpu_sig,
				   "either --vcpu-type or --vcpu-sig, not both");
		if (!parse_hex_u64(o->vcpu_sig, &v) || v > UINT32_MAX)
			return bad(err, "--vcpu-sig", o->vcpu_sig,
				   "a 32-bit hex CPUID signature such as 0x800f12");
		lo->vcpu_sig = (uint32_t)v;
	}
	/* Only the QEMU profiles put the signature in the VMSA's RDX. */
	if (o->ovmf_hash_only) {
		if (lo->kind != CONFIDENTIAL_SEV_SNP || o->ovmf_hash ||
		    o->kernel || o->cpus)
			return bad(err, "--ovmf-hash-only", o->kind,
				   "--confidential sev-snp and a firmware, nothing else");
		lo->firmware_only = true;
	}
	if (!lo->firmware_only &&
	    (lo->kind == CONFIDENTIAL_SEV_ES ||
	     lo->kind == CONFIDENTIAL_SEV_SNP) &&
	    (lo->profile == VMSA_PROFILE_QEMU ||
	     lo->profile == VMSA_PROFILE_QEMU_LEGACY) &&
	    !o->vcpu_type && !o->vcpu_sig) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--vcpu-type: needed for sev-es and sev-snp (the vCPU signature is part of the measured VMSA)");
		return false;
	}
	lo->guest_features = 0x1; /* SNPActive: what tern's launch asks */
	if (o->guest_features) {
		if (!parse_hex_u64(o->guest_features, &v) || !(v & 1))
			return bad(err, "--guest-features", o->guest_features,
				   "a hex SEV_FEATURES value with bit 0 (SNPActive) set, e.g. 0x1 or 0x21");
		lo->guest_features = v;
	}
	if (o->ovmf_hash) {
		if (lo->kind != CONFIDENTIAL_SEV_SNP)
			return bad(err, "--snp-ovmf-hash", o->ovmf_hash,
				   "only with --confidential sev-snp");
		if (!parse_hex_bytes(o->ovmf_hash, lo->seed, SNP_DIGEST_SIZE))
			return bad(err, "--snp-ovmf-hash", o->ovmf_hash,
				   "96 hex digits (a SHA-384 digest)");
		lo->has_seed = true;
	}
	if ((o->initrd || o->cmdline) && !o->kernel) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--initrd/--cmdline: need --kernel");
		return false;
	}
	if (!o->svsm != !o->vars_size) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--svsm and --ovmf-vars-size go together");
		return false;
	}
	if (o->vars_size) {
		bool hex = g_str_has_prefix(o->vars_size, "0x") ||
			   g_str_has_prefix(o->vars_size, "0X");

		if ((hex ? !parse_hex_u64(o->vars_size, &v) :
			   parse_u64(o->vars_size, &v) != 0) ||
		    v % CONF_PAGE_SIZE ||
		    v >= 1ull << 32)
			return bad(err, "--ovmf-vars-size", o->vars_size,
				   "the firmware variable store's size in bytes, whole 4K pages (e.g. 0x84000)");
		lo->ovmf_vars_size = v;
	}
	if (o->kernel && lo->kind == CONFIDENTIAL_TDX) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--kernel: a TDX kernel is measured into RTMRs, not MRTD; measure the firmware alone");
		return false;
	}
	return true;
}

bool confidential_measure_run(int argc, char **argv, char **hex,
			      GError **err)
{
	struct measure_options o = { 0 };
	GOptionEntry entries[] = {
		{ "confidential", 0, 0, G_OPTION_ARG_STRING, &o.kind,
		  "sev, sev-es, sev-snp or tdx", "KIND" },
		{ "firmware", 0, 0, G_OPTION_ARG_FILENAME, &o.firmware,
		  "OVMF/TDVF image, loaded to end at 4 GiB", "FILE" },
		{ "cpus", 0, 0, G_OPTION_ARG_STRING, &o.cpus,
		  "Number of vCPUs, one VMSA each (default 1)", "N" },
		{ "vcpu-type", 0, 0, G_OPTION_ARG_STRING, &o.vcpu_type,
		  "QEMU CPU model whose signature goes into the VMSA", "NAME" },
		{ "vcpu-sig", 0, 0, G_OPTION_ARG_STRING, &o.vcpu_sig,
		  "CPUID Fn0000_0001 EAX instead of --vcpu-type", "HEX" },
		{ "vmm-type", 0, 0, G_OPTION_ARG_STRING, &o.vmm_type,
		  "Whose initial vCPU state: qemu (default, also tern's), qemu-legacy, ec2, ec2-rdx0, gce",
		  "TYPE" },
		{ "kernel", 0, 0, G_OPTION_ARG_FILENAME, &o.kernel,
		  "Directly booted kernel (adds the SEV hashes table)", "FILE" },
		{ "initrd", 0, 0, G_OPTION_ARG_FILENAME, &o.initrd,
		  "Initial ramdisk", "FILE" },
		{ "cmdline", 0, 0, G_OPTION_ARG_STRING, &o.cmdline,
		  "Kernel command line", "STR" },
		{ "guest-features", 0, 0, G_OPTION_ARG_STRING,
		  &o.guest_features, "SNP SEV_FEATURES (default 0x1)", "HEX" },
		{ "snp-ovmf-hash", 0, 0, G_OPTION_ARG_STRING, &o.ovmf_hash,
		  "SNP digest of the firmware pages, precomputed", "HEX" },
		{ "svsm", 0, 0, G_OPTION_ARG_FILENAME, &o.svsm,
		  "SNP: an SVSM image (COCONUT-SVSM) launched below the firmware",
		  "FILE" },
		{ "ovmf-vars-size", 0, 0, G_OPTION_ARG_STRING, &o.vars_size,
		  "With --svsm: the firmware's variable store between it and the SVSM",
		  "BYTES" },
		{ "ovmf-hash-only", 0, 0, G_OPTION_ARG_NONE, &o.ovmf_hash_only,
		  "SNP: print the digest of the firmware pages alone (for --snp-ovmf-hash)",
		  NULL },
		{ NULL },
	};
	GOptionContext *ctx = g_option_context_new("- predict a launch digest");
	g_autoptr(GError) e = NULL;
	g_autofree uint8_t *fw = NULL, *kernel = NULL, *initrd = NULL,
			   *svsm = NULL;
	size_t fw_len = 0, kernel_len = 0, initrd_len = 0, svsm_len = 0;
	struct launch_options lo;
	struct launch_plan *plan = NULL;
	uint8_t digest[SNP_DIGEST_SIZE];
	size_t n;
	bool ok = false;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_help_enabled(ctx, TRUE);
	if (!g_option_context_parse(ctx, &argc, &argv, &e))
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s", e->message);
	else if (argc > 1)
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "unexpected argument '%s'", argv[1]);
	else if (measure_options_fill(&o, &lo, err) &&
		 read_input("--firmware", o.firmware, FIRMWARE_MAX, &fw,
			    &fw_len, err) &&
		 (!o.kernel || read_input("--kernel", o.kernel, BOOT_MAX,
					  &kernel, &kernel_len, err)) &&
		 (!o.initrd || read_input("--initrd", o.initrd, BOOT_MAX,
					  &initrd, &initrd_len, err)) &&
		 (!o.svsm || read_input("--svsm", o.svsm, FIRMWARE_MAX, &svsm,
					&svsm_len, err)))
		ok = true;
	if (ok) {
		/* An empty kernel file is still a kernel: keep a pointer. */
		lo.kernel = o.kernel ? (kernel ? kernel : (uint8_t *)"") : NULL;
		lo.kernel_len = kernel_len;
		lo.initrd = initrd;
		lo.initrd_len = initrd_len;
		lo.cmdline = o.cmdline;
		if (o.svsm) {
			if (!svsm_len) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--svsm %s: empty", o.svsm);
				ok = false;
			}
			lo.svsm = svsm;
			lo.svsm_len = svsm_len;
		}
	}
	if (ok) {
		plan = launch_plan_build(fw, fw_len, &lo, err);
		ok = plan != NULL;
	}
	if (ok) {
		n = launch_plan_measure(plan, digest);
		*hex = g_malloc(2 * n + 1);
		for (size_t i = 0; i < n; i++)
			sprintf(*hex + 2 * i, "%02x", digest[i]);
	}
	launch_plan_free(plan);
	g_option_context_free(ctx);
	measure_options_clear(&o);
	return ok;
}

int confidential_measure_main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *hex = NULL;

	if (!confidential_measure_run(argc, argv, &hex, &err)) {
		fprintf(stderr, "tern measure: %s\n", err->message);
		fprintf(stderr, "Try 'tern measure --help' for the options.\n");
		return 2;
	}
	printf("%s\n", hex);
	return 0;
}
