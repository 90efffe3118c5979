// SPDX-License-Identifier: MIT
/*
 * Launch measurements against the published known-answer vectors in
 * tests/data/launch-measurements (vectors.json; origins in its README),
 * through `tern measure`'s own argument parser. Every vector whose inputs
 * are in the repository must reproduce bit for bit; the others are listed
 * with the reason. Then the pieces (PAGE_INFO per page type, VMSA per
 * profile and vCPU type, the SEV hashes table, the step order of the plan)
 * and malformed firmware.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tern/confidential.h"
#include "tern/le.h"
#include "tern/error.h"
#include "unit.h"

static const char *data_dir(void)
{
	const char *d = getenv("TERN_MEASURE_DATA");

	ck_assert_msg(d, "TERN_MEASURE_DATA is not set (meson sets it)");
	return d;
}

static char *data_path(const char *rel)
{
	return g_build_filename(data_dir(), rel, NULL);
}

static json_object *vectors_load(void)
{
	g_autofree char *p = data_path("vectors.json");
	json_object *root = json_object_from_file(p);

	ck_assert_msg(root, "cannot read %s", p);
	return root;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int jint(json_object *o, const char *key, int dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v ||
	    !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int(v);
}

static bool file_exists(const char *rel)
{
	g_autofree char *p = data_path(rel);

	return g_file_test(p, G_FILE_TEST_IS_REGULAR);
}

/*
 * The upstream firmware fixtures are not shipped. With TERN_MEASURE_FIRMWARE
 * set to a directory holding them under the same relative paths (e.g.
 * inputs/virtee-sev-snp-measure-8f2b337/ovmf_AmdSev_suffix.bin from that
 * repository's tests/fixtures), the vectors that hash them run too; each
 * file must have the SHA-256 vectors.json records.
 */
static char *extra_firmware(json_object *root, const char *rel)
{
	const char *dir = getenv("TERN_MEASURE_FIRMWARE");
	json_object *inputs, *in;
	g_autofree char *p = NULL, *buf = NULL, *sum = NULL;
	gsize len;

	if (!dir || !rel)
		return NULL;
	p = g_build_filename(dir, rel, NULL);
	if (!g_file_get_contents(p, &buf, &len, NULL))
		return NULL;
	ck_assert(json_object_object_get_ex(root, "inputs", &inputs));
	ck_assert(json_object_object_get_ex(inputs, rel, &in));
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)buf,
					  len);
	ck_assert_msg(!g_strcmp0(sum, jstr(in, "sha256")),
		      "%s is not the file vectors.json describes", p);
	return g_steal_pointer(&p);
}

/* "inputs/x/y.bin" -> "synthetic/x/y.bin"; descriptions (.json) -> .bin. */
static char *synthetic_for(const char *firmware)
{
	g_autofree char *rel = g_strdup(firmware + strlen("inputs/"));

	if (g_str_has_suffix(rel, ".json"))
		strcpy(rel + strlen(rel) - 5, ".bin");
	return g_strconcat("synthetic/", rel, NULL);
}

/* The published OVMF hash of a firmware (an snp-ovmf-hash vector). */
static const char *ovmf_hash_of(json_object *vectors, const char *firmware)
{
	for (size_t i = 0; i < json_object_array_length(vectors); i++) {
		json_object *v = json_object_array_get_idx(vectors, i);
		json_object *p;

		if (g_strcmp0(jstr(v, "type"), "snp-ovmf-hash") ||
		    !json_object_object_get_ex(v, "params", &p))
			continue;
		if (!g_strcmp0(jstr(p, "firmware"), firmware))
			return jstr(v, "expected");
	}
	return NULL;
}

static const char *profile_name(const char *vmsa_profile)
{
	/* vectors.json's "qemu-init2" is KVM_SEV_INIT2: tern's "qemu"; the
	 * SVSM profiles are the same two QEMUs with --svsm. */
	if (!g_strcmp0(vmsa_profile, "qemu-init2") ||
	    !g_strcmp0(vmsa_profile, "svsm-qemu-init2"))
		return "qemu";
	if (!g_strcmp0(vmsa_profile, "svsm-qemu-legacy"))
		return "qemu-legacy";
	return vmsa_profile;
}

/* A "kernel"/"initrd" parameter: NULL (absent) or "empty (...)". */
static char *boot_file(const char *param)
{
	if (!param)
		return NULL;
	ck_assert_msg(g_str_has_prefix(param, "empty"), "unknown input %s",
		      param);
	return data_path("inputs/common/empty.bin");
}

/*
 * Build the `tern measure` argv for a digest vector; NULL with *why set
 * when its inputs are not in the repository.
 */
static GPtrArray *vector_argv(json_object *root, json_object *vectors,
			      json_object *v, const char **why)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	const char *type = jstr(v, "type");
	json_object *p;
	const char *fw, *seed, *s;
	char *fw_path, *svsm_path = NULL;

	ck_assert(json_object_object_get_ex(v, "params", &p));
	fw = jstr(p, "firmware");
	if (!fw)
		fw = jstr(p, "firmware_description");
	seed = jstr(p, "ovmf_hash_seed");
	if (!g_strcmp0(jstr(p, "mode"), "snp-svsm")) {
		/* Both images are built software: only with the fixtures. */
		if (!(fw_path = extra_firmware(root, fw)) ||
		    !(svsm_path = extra_firmware(root, jstr(p, "svsm_image")))) {
			g_free(fw_path);
			*why = "SVSM and firmware images not shipped (built software) and their pages are hashed";
			goto none;
		}
	} else if (fw && file_exists(fw) && !g_str_has_suffix(fw, ".json")) {
		fw_path = data_path(fw);
	} else if ((fw_path = extra_firmware(root, fw))) {
		/* the real image: its pages are hashed, no seed needed */
	} else {
		g_autofree char *syn = synthetic_for(fw);

		if (!seed && !strcmp(type, "snp"))
			seed = ovmf_hash_of(vectors, fw);
		if (strcmp(type, "snp") || !seed || !file_exists(syn)) {
			*why = "firmware image not shipped (built software) and its pages are hashed";
			goto none;
		}
		fw_path = data_path(syn);
	}
	g_ptr_array_add(a, g_strdup("measure"));
	g_ptr_array_add(a, g_strdup("--confidential"));
	g_ptr_array_add(a, g_strdup(!strcmp(type, "tdx-mrtd") ? "tdx" :
				    !strcmp(type, "sev") || !strcmp(type, "sev-es") ?
								type :
								"sev-snp"));
	if (!strcmp(type, "snp-ovmf-hash"))
		g_ptr_array_add(a, g_strdup("--ovmf-hash-only"));
	g_ptr_array_add(a, g_strdup("--firmware"));
	g_ptr_array_add(a, fw_path);
	if (jint(p, "vcpus", 0))
		g_ptr_array_add(a, g_strdup_printf("--cpus=%d",
						   jint(p, "vcpus", 0)));
	if ((s = jstr(p, "vcpu_sig")))
		g_ptr_array_add(a, g_strdup_printf("--vcpu-sig=%s", s));
	if ((s = jstr(p, "vmsa_profile")))
		g_ptr_array_add(a, g_strdup_printf("--vmm-type=%s",
						   profile_name(s)));
	if ((s = jstr(p, "guest_features")) && !strcmp(type, "snp"))
		g_ptr_array_add(a, g_strdup_printf("--guest-features=%s", s));
	if (seed && !strcmp(type, "snp"))
		g_ptr_array_add(a, g_strdup_printf("--snp-ovmf-hash=%s", seed));
	if (svsm_path) {
		g_ptr_array_add(a, g_strdup("--svsm"));
		g_ptr_array_add(a, svsm_path);
		g_ptr_array_add(a, g_strdup_printf("--ovmf-vars-size=%s",
						   jstr(p, "ovmf_vars_size")));
	}
	if (jstr(p, "kernel")) {
		g_ptr_array_add(a, g_strdup("--kernel"));
		g_ptr_array_add(a, boot_file(jstr(p, "kernel")));
		if (jstr(p, "initrd")) {
			g_ptr_array_add(a, g_strdup("--initrd"));
			g_ptr_array_add(a, boot_file(jstr(p, "initrd")));
		}
		if ((s = jstr(p, "cmdline")))
			g_ptr_array_add(a, g_strdup_printf("--cmdline=%s", s));
	}
	g_ptr_array_add(a, NULL);
	return a;
none:
	g_ptr_array_free(a, TRUE);
	return NULL;
}

static char *measure_argv(GPtrArray *a, GError **err)
{
	/* GOption permutes argv: hand it a copy of the pointers. */
	g_autofree char **argv = g_memdup2(a->pdata, a->len * sizeof(char *));
	char *hex = NULL;

	if (!confidential_measure_run((int)a->len - 1, argv, &hex, err))
		return NULL;
	return hex;
}

static const char *const digest_types[] = { "snp", "sev", "sev-es",
					    "tdx-mrtd", "snp-ovmf-hash" };

/*
 * Every digest vector with its inputs here reproduces. The counts pin what
 * this repository can check: a lost input file fails the test instead of
 * quietly shrinking it.
 */
START_TEST(published_vectors_reproduce)
{
	json_object *root = vectors_load(), *vectors;
	unsigned int ok = 0, skipped = 0, bad = 0, ok_snp = 0, ok_tdx = 0;

	ck_assert(json_object_object_get_ex(root, "vectors", &vectors));
	for (size_t i = 0; i < json_object_array_length(vectors); i++) {
		json_object *v = json_object_array_get_idx(vectors, i);
		const char *type = jstr(v, "type"), *why = NULL;
		bool digest = false;
		GPtrArray *a;

		for (size_t t = 0; t < G_N_ELEMENTS(digest_types); t++)
			digest |= !strcmp(type, digest_types[t]);
		if (!digest)
			continue; /* primitives: their own tests below */
		a = vector_argv(root, vectors, v, &why);
		if (!a) {
			printf("SKIP %s: %s\n", jstr(v, "id"), why);
			skipped++;
			continue;
		}
		g_autoptr(GError) err = NULL;
		g_autofree char *hex = measure_argv(a, &err);

		if (!hex || strcmp(hex, jstr(v, "expected"))) {
			printf("FAIL %s: got %s, expected %s\n", jstr(v, "id"),
			       hex ? hex : err->message, jstr(v, "expected"));
			bad++;
		} else {
			printf("PASS %s\n", jstr(v, "id"));
			ok++;
			ok_snp += !strcmp(type, "snp");
			ok_tdx += !strcmp(type, "tdx-mrtd");
		}
		g_ptr_array_free(a, TRUE);
	}
	printf("%u reproduced, %u not reproducible here, %u wrong\n", ok,
	       skipped, bad);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(ok_tdx, 1);
	if (!getenv("TERN_MEASURE_FIRMWARE")) {
		ck_assert_uint_eq(ok_snp, 29);
		ck_assert_uint_eq(ok, 30);
	}
	json_object_put(root);
}
END_TEST

static void hex_decode(const char *hex, uint8_t *out, size_t len)
{
	ck_assert_uint_eq(strlen(hex), 2 * len);
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(g_ascii_xdigit_value(hex[2 * i]) << 4 |
				   g_ascii_xdigit_value(hex[2 * i + 1]));
}

static void sha384_of(const uint8_t *d, size_t len, uint8_t out[48])
{
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA384);
	gsize n = 48;

	g_checksum_update(c, d, len);
	g_checksum_get_digest(c, out, &n);
}

static json_object *vector_by_id(json_object *root, const char *id)
{
	json_object *vectors;

	ck_assert(json_object_object_get_ex(root, "vectors", &vectors));
	for (size_t i = 0; i < json_object_array_length(vectors); i++) {
		json_object *v = json_object_array_get_idx(vectors, i);

		if (!g_strcmp0(jstr(v, "id"), id))
			return v;
	}
	ck_abort_msg("no vector %s", id);
	return NULL;
}

/* PAGE_INFO of NORMAL pages: gce-tcb-verifier TestUpdateData. */
START_TEST(page_type_normal_chain)
{
	json_object *root = vectors_load();
	json_object *v = vector_by_id(root, "gce-74582c0/TestUpdateData");
	g_autofree char *p = data_path(
		"inputs/gce-tcb-verifier-74582c0-reconstructed/lgtm_3pages.bin");
	g_autofree char *buf = NULL;
	gsize len;
	uint8_t d[48] = { 0 }, c[48], want[48];

	ck_assert(g_file_get_contents(p, &buf, &len, NULL));
	ck_assert_uint_eq(len, 3 * CONF_PAGE_SIZE);
	for (unsigned int i = 0; i < 3; i++) {
		sha384_of((uint8_t *)buf + i * CONF_PAGE_SIZE, CONF_PAGE_SIZE,
			  c);
		snp_page_info_extend(d, c, SNP_PAGE_NORMAL,
				     i * CONF_PAGE_SIZE);
	}
	hex_decode(jstr(v, "expected"), want, 48);
	ck_assert_mem_eq(d, want, 48);
	json_object_put(root);
}
END_TEST

/* ZERO pages: contents not measured (TestZeroContentUpdateData). */
START_TEST(page_type_zero_chain)
{
	json_object *root = vectors_load();
	json_object *v =
		vector_by_id(root, "gce-74582c0/TestZeroContentUpdateData");
	uint8_t d[48] = { 0 }, zero[48] = { 0 }, want[48];

	for (unsigned int i = 0; i < 3; i++)
		snp_page_info_extend(d, zero, SNP_PAGE_ZERO,
				     0x9000 + i * CONF_PAGE_SIZE);
	hex_decode(jstr(v, "expected"), want, 48);
	ck_assert_mem_eq(d, want, 48);
	json_object_put(root);
}
END_TEST

static void file_eq(const char *rel, const uint8_t *bytes, size_t len)
{
	g_autofree char *p = data_path(rel);
	g_autofree char *buf = NULL;
	gsize flen;

	ck_assert_msg(g_file_get_contents(p, &buf, &flen, NULL), "read %s", p);
	ck_assert_uint_eq(flen, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg((uint8_t)buf[i] == bytes[i],
			      "%s differs at byte %#zx: %#x, want %#x", rel, i,
			      bytes[i], (uint8_t)buf[i]);
}

struct vmsa_case {
	const char *file;
	enum vmsa_profile profile;
	bool bsp;
	uint64_t features;
	const char *vcpu_type;
};

/* The VMSA pages behind the vectors, byte for byte, per profile and role. */
static const struct vmsa_case vmsa_cases[] = {
	{ "derived/vmsa/qemu-init2_bsp_EPYC-v4_gf0x21.bin", VMSA_PROFILE_QEMU,
	  true, 0x21, "EPYC-v4" },
	{ "derived/vmsa/qemu-init2_ap_EPYC-v4_gf0x21_eip0x80b004.bin",
	  VMSA_PROFILE_QEMU, false, 0x21, "EPYC-v4" },
	{ "derived/vmsa/qemu-legacy_bsp_EPYC-v4_gf0x21.bin",
	  VMSA_PROFILE_QEMU_LEGACY, true, 0x21, "EPYC-v4" },
	{ "derived/vmsa/sev-es_qemu-init2_bsp_EPYC-v4.bin", VMSA_PROFILE_QEMU,
	  true, 0, "EPYC-v4" },
	{ "derived/vmsa/sev-es_qemu-init2_ap_EPYC-v4_eip0x80b004.bin",
	  VMSA_PROFILE_QEMU, false, 0, "EPYC-v4" },
	{ "derived/vmsa/ec2_bsp_gf0x21.bin", VMSA_PROFILE_EC2, true, 0x21,
	  NULL },
	{ "derived/vmsa/ec2_ap_gf0x21_eip0x80b004.bin", VMSA_PROFILE_EC2, false,
	  0x21, NULL },
	{ "derived/vmsa/gce_bsp_gf0x1.bin", VMSA_PROFILE_GCE, true, 0x1, NULL },
	{ "derived/vmsa/gce_ap_gf0x1_eip0x80b004.bin", VMSA_PROFILE_GCE, false,
	  0x1, NULL },
	{ "expected/gce-tcb-verifier-74582c0/vmsa_bsp_gce_milan.bin",
	  VMSA_PROFILE_GCE, true, 0x1, NULL },
};

START_TEST(page_type_vmsa_bytes)
{
	const struct vmsa_case *c = &vmsa_cases[_i];
	uint8_t page[CONF_PAGE_SIZE];
	uint32_t sig = 0;

	if (c->vcpu_type)
		ck_assert(vcpu_type_signature(c->vcpu_type, &sig));
	vmsa_build(page, c->profile, c->bsp, c->bsp ? VMSA_BSP_EIP : 0x80b004,
		   c->features, sig);
	file_eq(c->file, page, sizeof(page));
}
END_TEST

/* The one VMSA page vector (TestPutVmsa): its SHA-384. */
START_TEST(vmsa_page_vector)
{
	json_object *root = vectors_load();
	json_object *v = vector_by_id(root, "gce-74582c0/TestPutVmsa-bsp");
	uint8_t page[CONF_PAGE_SIZE], d[48], want[48];

	vmsa_build(page, VMSA_PROFILE_GCE, true, VMSA_BSP_EIP, 0x1, 0);
	sha384_of(page, sizeof(page), d);
	hex_decode(jstr(v, "expected"), want, 48);
	ck_assert_mem_eq(d, want, 48);
	json_object_put(root);
}
END_TEST

struct sig_case {
	const char *name;
	uint32_t sig;
};

/* CPUID signatures of QEMU's AMD models (family/model/stepping). */
static const struct sig_case sig_cases[] = {
	{ "EPYC", 0x800f12 },	    { "EPYC-v4", 0x800f12 },
	{ "EPYC-IBPB", 0x800f12 },  { "EPYC-Rome", 0x830f10 },
	{ "EPYC-Rome-v2", 0x830f10 }, { "EPYC-Milan", 0xa00f11 },
	{ "EPYC-Milan-v2", 0xa00f11 }, { "EPYC-Genoa", 0xa10f10 },
};

START_TEST(vcpu_type_signatures)
{
	const struct sig_case *c = &sig_cases[_i];
	uint8_t page[CONF_PAGE_SIZE];
	uint32_t sig;

	ck_assert(vcpu_type_signature(c->name, &sig));
	ck_assert_uint_eq(sig, c->sig);
	/* The QEMU profile carries it in RDX (VMSA offset 0x310). */
	vmsa_build(page, VMSA_PROFILE_QEMU, true, VMSA_BSP_EIP, 1, sig);
	ck_assert_uint_eq(page[0x310] | page[0x311] << 8 | page[0x312] << 16,
			  c->sig);
	ck_assert(!vcpu_type_signature("EPYC-Nonexistent", &sig));
}
END_TEST

START_TEST(sev_hashes_tables)
{
	uint8_t t[SEV_HASHES_TABLE_PADDED];

	sev_hashes_table_build((const uint8_t *)"", 0, (const uint8_t *)"", 0,
			       "console=ttyS0 loglevel=7", t);
	file_eq("derived/sev-hashes-table/kernel-empty_initrd-empty_cmdline-console.bin",
		t, sizeof(t));
	sev_hashes_table_build((const uint8_t *)"", 0, NULL, 0, NULL, t);
	file_eq("derived/sev-hashes-table/kernel-empty_initrd-empty_cmdline-empty.bin",
		t, sizeof(t));
}
END_TEST

#include "test-measure-plan.h"

int main(void)
{
	Suite *s = suite_create("measure");
	TCase *tc;

	UNIT_TCASE(s, "vectors", published_vectors_reproduce, vmsa_page_vector,
		   sev_hashes_tables);
	UNIT_TCASE(s, "page-types", page_type_normal_chain,
		   page_type_zero_chain);
	tc = tcase_create("vmsa");
	tcase_add_loop_test(tc, page_type_vmsa_bytes, 0,
			    G_N_ELEMENTS(vmsa_cases));
	tcase_add_loop_test(tc, vcpu_type_signatures, 0,
			    G_N_ELEMENTS(sig_cases));
	suite_add_tcase(s, tc);
	measure_plan_tcases(s);
	return unit_run(s);
}
