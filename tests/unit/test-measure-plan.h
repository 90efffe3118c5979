/* SPDX-License-Identifier: MIT */
/*
 * Part of test-measure.c: the launch plan's order, page by page, against the
 * step-by-step traces in derived/traces; then malformed firmware and bad
 * `tern measure` options.
 */
#ifndef TERN_TEST_MEASURE_PLAN_H
#define TERN_TEST_MEASURE_PLAN_H

static uint8_t *read_data(const char *rel, size_t *len)
{
	g_autofree char *p = data_path(rel);
	char *buf = NULL;
	gsize n;

	ck_assert_msg(g_file_get_contents(p, &buf, &n, NULL), "read %s", p);
	*len = n;
	return (uint8_t *)buf;
}

#define SYN_AMDSEV "synthetic/virtee-sev-snp-measure-8f2b337/ovmf_AmdSev_suffix.bin"
#define SYN_OVMFX64 "synthetic/virtee-sev-snp-measure-8f2b337/ovmf_OvmfX64_suffix.bin"

struct trace_case {
	const char *trace;
	enum vmsa_profile profile;
	unsigned int cpus;
	uint64_t features;
	const char *cmdline;
};

static const struct trace_case trace_cases[] = {
	{ "derived/traces/test_snp_default.trace.json", VMSA_PROFILE_QEMU, 1,
	  0x21, "console=ttyS0 loglevel=7" },
	{ "derived/traces/test_snp_ec2_default.trace.json", VMSA_PROFILE_EC2, 1,
	  0x21, "" },
	{ "derived/traces/test_snp_gce_with_multiple_vcpus_default.trace.json",
	  VMSA_PROFILE_GCE, 4, 0x1, "" },
};

static uint64_t jhex(json_object *o, const char *key)
{
	return g_ascii_strtoull(jstr(o, key), NULL, 16);
}

/*
 * The plan's pages, in order, have the trace's page types and GPAs, and the
 * PAGE_INFO chain matches after every page. The trace's first page is the
 * firmware page (not shipped): the chain starts from its digest_after.
 */
START_TEST(plan_order_matches_trace)
{
	const struct trace_case *c = &trace_cases[_i];
	g_autofree char *tp = data_path(c->trace);
	json_object *trace = json_object_from_file(tp), *steps;
	size_t fw_len;
	g_autofree uint8_t *fw = read_data(SYN_AMDSEV, &fw_len);
	struct launch_options o = { .kind = CONFIDENTIAL_SEV_SNP,
				    .cpus = c->cpus,
				    .profile = c->profile,
				    .vcpu_sig = 0x800f12,
				    .guest_features = c->features,
				    .kernel = (const uint8_t *)"",
				    .initrd = (const uint8_t *)"",
				    .cmdline = c->cmdline };
	struct launch_plan *plan;
	g_autoptr(GError) err = NULL;
	uint8_t d[48], want[48], contents[48];
	size_t n = 1;

	ck_assert(trace);
	ck_assert(json_object_object_get_ex(trace, "page_info_steps", &steps));
	hex_decode(jstr(json_object_array_get_idx(steps, 0), "digest_after"), d,
		   48);
	plan = launch_plan_build(fw, fw_len, &o, &err);
	ck_assert_msg(plan, "%s", err ? err->message : "");
	ck_assert(plan->steps[0].firmware);
	for (unsigned int i = 1; i < plan->nr_steps; i++) {
		const struct launch_step *s = &plan->steps[i];

		for (uint64_t off = 0; off < s->len; off += CONF_PAGE_SIZE) {
			json_object *t = json_object_array_get_idx(steps, n++);
			enum snp_page_type type =
				s->kind == LAUNCH_STEP_DATA ? SNP_PAGE_NORMAL :
				s->kind == LAUNCH_STEP_VMSA ? SNP_PAGE_VMSA :
							      s->page_type;
			uint64_t gpa = s->kind == LAUNCH_STEP_VMSA ?
					       s->gpa :
					       s->gpa + off;

			ck_assert_msg(t, "plan has more pages than the trace");
			ck_assert_int_eq(type, jint(t, "page_type", -1));
			ck_assert_uint_eq(gpa, jhex(t, "gpa"));
			memset(contents, 0, sizeof(contents));
			if (type == SNP_PAGE_NORMAL || type == SNP_PAGE_VMSA)
				sha384_of(s->data + (type == SNP_PAGE_VMSA ?
							     0 :
							     off),
					  CONF_PAGE_SIZE, contents);
			hex_decode(jstr(t, "contents"), want, 48);
			ck_assert_mem_eq(contents, want, 48);
			snp_page_info_extend(d, contents, type, gpa);
			hex_decode(jstr(t, "digest_after"), want, 48);
			ck_assert_mem_eq(d, want, 48);
		}
	}
	ck_assert_uint_eq(n, json_object_array_length(steps));
	launch_plan_free(plan);
	json_object_put(trace);
}
END_TEST

/* Build a plan from a modified copy of the synthetic AmdSev image. */
static char *plan_error(uint8_t *img, size_t len, enum confidential_kind kind,
			unsigned int cpus, bool kernel)
{
	struct launch_options o = { .kind = kind,
				    .cpus = cpus,
				    .vcpu_sig = 0x800f12,
				    .guest_features = 1,
				    .kernel = kernel ? (const uint8_t *)"" :
						       NULL };
	g_autoptr(GError) err = NULL;
	struct launch_plan *plan = launch_plan_build(img, len, &o, &err);

	if (plan) {
		launch_plan_free(plan);
		return NULL;
	}
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	return g_strdup(err->message);
}

#define ck_assert_plan_fails(img, len, kind, cpus, kernel, substr)             \
	do {                                                                   \
		g_autofree char *m_ =                                          \
			plan_error(img, len, kind, cpus, kernel);              \
		ck_assert_msg(m_, "plan unexpectedly built");                  \
		ck_assert_msg(strstr(m_, substr), "'%s' lacks '%s'", m_,       \
			      substr);                                         \
	} while (0)

#define FOOTER_AT (CONF_PAGE_SIZE - 32 - 18)
#define SEV_META_AT (CONF_PAGE_SIZE - 0x554)

START_TEST(malformed_firmware)
{
	size_t len;
	g_autofree uint8_t *good = read_data(SYN_AMDSEV, &len);
	uint8_t img[CONF_PAGE_SIZE];
	g_autofree char *ok = NULL;

	ck_assert_uint_eq(len, CONF_PAGE_SIZE);
	memcpy(img, good, len);
	ok = plan_error(img, len, CONFIDENTIAL_SEV_SNP, 2, true);
	ck_assert_msg(!ok, "the good image fails: %s", ok);
	/* Not whole pages. */
	ck_assert_plan_fails(img, len - 1, CONFIDENTIAL_SEV_SNP, 1, false,
			     "whole 4K pages");
	/* Footer table longer than the image. */
	memcpy(img, good, len);
	img[FOOTER_AT] = 0xff;
	img[FOOTER_AT + 1] = 0xff;
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "footer GUID table has a bad length");
	/* An entry of length 0 would loop for ever. */
	memcpy(img, good, len);
	img[FOOTER_AT - 18] = 0;
	img[FOOTER_AT - 17] = 0;
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "entry with a bad length");
	/* An entry longer than what is left of the table. */
	memcpy(img, good, len);
	img[FOOTER_AT - 18] = 0xf0;
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "entry with a bad length");
	/* SEV metadata: wrong signature, huge count, misaligned section. */
	memcpy(img, good, len);
	img[SEV_META_AT] = 'X';
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "ASEV");
	memcpy(img, good, len);
	img[SEV_META_AT + 15] = 0x80;
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "bad length or count");
	memcpy(img, good, len);
	img[SEV_META_AT + 16] = 0x10; /* first section GPA 0x800010 */
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "not whole pages");
	/* Unknown section type. */
	memcpy(img, good, len);
	img[SEV_META_AT + 16 + 8] = 0x7;
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 1, false,
			     "type 0x7 is unknown");
	/* The same bad metadata does not matter to SEV, which never reads it. */
	ck_assert_ptr_null(plan_error(img, len, CONFIDENTIAL_SEV, 1, false));
}
END_TEST

START_TEST(firmware_cannot_carry_request)
{
	size_t len, x64_len;
	g_autofree uint8_t *img = read_data(SYN_AMDSEV, &len);
	g_autofree uint8_t *x64 = read_data(SYN_OVMFX64, &x64_len);
	uint8_t plain[CONF_PAGE_SIZE] = { 0 };

	ck_assert_plan_fails(x64, x64_len, CONFIDENTIAL_SEV_SNP, 1, true,
			     "no SNP kernel-hashes section");
	ck_assert_plan_fails(x64, x64_len, CONFIDENTIAL_SEV, 1, true,
			     "no SEV hashes table");
	ck_assert_plan_fails(plain, sizeof(plain), CONFIDENTIAL_SEV_SNP, 1,
			     false, "no SEV metadata");
	ck_assert_plan_fails(plain, sizeof(plain), CONFIDENTIAL_SEV_ES, 2,
			     false, "reset block");
	ck_assert_plan_fails(img, len, CONFIDENTIAL_TDX, 1, false,
			     "no TDVF metadata");
	ck_assert_plan_fails(img, len, CONFIDENTIAL_SEV_SNP, 2000, false,
			     "at most 1024");
}
END_TEST

struct cli_case {
	const char *args[8];
	const char *substr;
};

static const struct cli_case cli_cases[] = {
	{ { "--confidential=sev-snq", "--firmware=" SYN_AMDSEV }, "--confidential 'sev-snq'" },
	{ { "--confidential=sev" }, "--firmware" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV },
	  "--vcpu-type: needed" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV,
	    "--vcpu-type=EPYC-Foo" },
	  "--vcpu-type 'EPYC-Foo'" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV, "--vmm-type=gce",
	    "--guest-features=0x20" },
	  "--guest-features '0x20'" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV, "--vmm-type=gce",
	    "--snp-ovmf-hash=abcd" },
	  "--snp-ovmf-hash 'abcd'" },
	{ { "--confidential=sev", "--firmware=" SYN_AMDSEV, "--cpus=0" },
	  "--cpus '0'" },
	{ { "--confidential=sev", "--firmware=" SYN_AMDSEV, "--initrd=x" },
	  "need --kernel" },
	{ { "--confidential=sev", "--firmware=" SYN_AMDSEV, "--vmm-type=xen" },
	  "--vmm-type 'xen'" },
	{ { "--confidential=sev", "--firmware=/nonexistent/fw.bin" },
	  "--firmware /nonexistent/fw.bin" },
	{ { "--confidential=sev", "--firmware=" SYN_AMDSEV, "--ovmf-hash-only" },
	  "--ovmf-hash-only 'sev'" },
	{ { "--confidential=sev", "--firmware=" SYN_AMDSEV, "stray" },
	  "unexpected argument 'stray'" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV,
	    "--vcpu-sig=0x800f12", "--svsm=" SYN_AMDSEV },
	  "--svsm and --ovmf-vars-size go together" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV,
	    "--vcpu-sig=0x800f12", "--svsm=" SYN_AMDSEV,
	    "--ovmf-vars-size=0x123" },
	  "--ovmf-vars-size '0x123'" },
	{ { "--confidential=sev-es", "--firmware=" SYN_AMDSEV,
	    "--vcpu-sig=0x800f12", "--svsm=" SYN_AMDSEV,
	    "--ovmf-vars-size=0x84000" },
	  "--svsm: only with --confidential sev-snp" },
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV,
	    "--vmm-type=ec2", "--svsm=" SYN_AMDSEV,
	    "--ovmf-vars-size=0x84000" },
	  "--svsm: only QEMU launches an SVSM" },
	/* An OVMF is no SVSM: it has no SVSM info entry. */
	{ { "--confidential=sev-snp", "--firmware=" SYN_AMDSEV,
	    "--vcpu-sig=0x800f12", "--svsm=" SYN_AMDSEV,
	    "--ovmf-vars-size=0x84000" },
	  "SVSM info entry" },
};

/*
 * A synthetic SVSM image: the footer table with SEV metadata for its SNP
 * pages and the SVSM info entry (entry point at offset entry).
 */
static uint8_t *svsm_image(size_t len, uint32_t entry)
{
	static const uint8_t g_footer[16] = { 0xde, 0x82, 0xb5, 0x96, 0xb2,
					      0x1f, 0xf7, 0x45, 0xba, 0xea,
					      0xa3, 0x66, 0xc5, 0x5a, 0x08,
					      0x2d };
	static const uint8_t g_meta[16] = { 0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98,
					    0x98, 0x47, 0xa7, 0x5e, 0x55, 0x85,
					    0xa7, 0xbf, 0x67, 0xcc };
	static const uint8_t g_info[16] = { 0x12, 0xa6, 0x89, 0xa7, 0x97, 0x05,
					    0x4b, 0x4c, 0xa4, 0x9f, 0xcb, 0xb1,
					    0xfe, 0x9d, 0x1d, 0xdd };
	/* { GPA, size, type }: SEC_MEM, SECRETS, CPUID, SVSM_CAA. */
	static const uint32_t sec[4][3] = { { 0x800000, 0x2000, 1 },
					    { 0x802000, 0x1000, 2 },
					    { 0x803000, 0x1000, 3 },
					    { 0x804000, 0x1000, 4 } };
	uint8_t *img = g_malloc0(len);
	size_t meta = 0x100, t = len - 32 - 62;

	memcpy(img + meta, "ASEV", 4);
	le32_put(img + meta + 4, 16 + 4 * 12);
	le32_put(img + meta + 8, 1);
	le32_put(img + meta + 12, 4);
	for (unsigned int i = 0; i < 4; i++)
		for (unsigned int j = 0; j < 3; j++)
			le32_put(img + meta + 16 + i * 12 + j * 4, sec[i][j]);
	/* Table (walked back from its end): metadata, info, footer. */
	le32_put(img + t, (uint32_t)(len - meta));
	le16_put(img + t + 4, 22);
	memcpy(img + t + 6, g_meta, 16);
	le32_put(img + t + 22, entry);
	le16_put(img + t + 26, 22);
	memcpy(img + t + 28, g_info, 16);
	le16_put(img + t + 44, 62);
	memcpy(img + t + 46, g_footer, 16);
	return img;
}

/*
 * An SVSM launch: the firmware's pages, the SVSM's below them and the
 * variable store, the SVSM's SNP sections (not the firmware's), then the
 * same VMSA for every vCPU at the SVSM entry point, byte for byte the
 * derived svsm-qemu-init2 page; qemu-legacy only clears MXCSR.
 */
START_TEST(svsm_plan)
{
	size_t fw_len, vmsa_len;
	g_autofree uint8_t *fw = read_data(SYN_AMDSEV, &fw_len);
	g_autofree uint8_t *want = read_data(
		"derived/vmsa/svsm-qemu-init2_EPYC-v4.bin", &vmsa_len);
	g_autofree uint8_t *svsm = svsm_image(0x2000, 0);
	struct launch_options o = { .kind = CONFIDENTIAL_SEV_SNP,
				    .cpus = 3,
				    .profile = VMSA_PROFILE_QEMU,
				    .vcpu_sig = 0x800f12,
				    .guest_features = 0x21,
				    .svsm = svsm,
				    .svsm_len = 0x2000 };
	static const uint64_t want_gpa[] = { 0xfffff000, 0xffaea000, 0x800000,
					     0x802000, 0x803000, 0x804000 };
	static const enum snp_page_type want_type[] = {
		SNP_PAGE_NORMAL,  SNP_PAGE_NORMAL, SNP_PAGE_ZERO,
		SNP_PAGE_SECRETS, SNP_PAGE_CPUID,  SNP_PAGE_ZERO,
	};
	g_autoptr(GError) err = NULL;
	struct launch_plan *plan;

	/* The derived page's RIP, 0xffaea000: the SVSM ends 0x513000 below
	 * the 4 KiB firmware. */
	o.ovmf_vars_size = 0xfffff000 - 0xffaea000 - 0x2000;
	plan = launch_plan_build(fw, fw_len, &o, &err);
	ck_assert_msg(plan, "%s", err ? err->message : "");
	ck_assert_uint_eq(plan->nr_steps, 6 + 3);
	for (unsigned int i = 0; i < 6; i++) {
		ck_assert_uint_eq(plan->steps[i].gpa, want_gpa[i]);
		ck_assert_uint_eq(plan->steps[i].kind == LAUNCH_STEP_DATA ?
					  SNP_PAGE_NORMAL :
					  plan->steps[i].page_type,
				  want_type[i]);
	}
	ck_assert_uint_eq(plan->steps[2].len, 0x2000);
	ck_assert_ptr_eq(plan->steps[1].data, svsm);
	for (unsigned int i = 6; i < 9; i++) {
		ck_assert_uint_eq(plan->steps[i].kind, LAUNCH_STEP_VMSA);
		ck_assert_uint_eq(plan->steps[i].eip, 0xffaea000);
		ck_assert_uint_eq(plan->steps[i].gpa, SNP_VMSA_GPA_48BIT);
		/* guest_features is ignored: SVSM VMSAs say SNPActive only. */
		ck_assert_mem_eq(plan->steps[i].data, want, CONF_PAGE_SIZE);
	}
	launch_plan_free(plan);
	o.profile = VMSA_PROFILE_QEMU_LEGACY;
	plan = launch_plan_build(fw, fw_len, &o, &err);
	ck_assert(plan);
	ck_assert_uint_eq(le32_get(plan->steps[6].data + 0x408), 0);
	ck_assert_mem_eq(plan->steps[6].data, want, 0x408);
	launch_plan_free(plan);
	/* An entry point past the image, or no room below the firmware. */
	g_free(svsm);
	svsm = svsm_image(0x2000, 0x2000);
	o.svsm = svsm;
	ck_assert(!launch_plan_build(fw, fw_len, &o, &err));
	ck_assert(strstr(err->message, "entry point lies outside"));
	g_clear_error(&err);
	o.ovmf_vars_size = 0xfffff000;
	ck_assert(!launch_plan_build(fw, fw_len, &o, &err));
	ck_assert(strstr(err->message, "--ovmf-vars-size"));
}
END_TEST

/* Bad options fail naming the option; paths are relative to the data. */
START_TEST(measure_cli_rejects)
{
	const struct cli_case *c = &cli_cases[_i];
	g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	g_autofree char *hex = NULL;
	g_autofree char *cwd = g_get_current_dir();

	ck_assert_int_eq(chdir(data_dir()), 0);
	g_ptr_array_add(a, g_strdup("measure"));
	for (unsigned int i = 0; c->args[i]; i++)
		g_ptr_array_add(a, g_strdup(c->args[i]));
	g_ptr_array_add(a, NULL);
	hex = measure_argv(a, &err);
	ck_assert_msg(!hex, "accepted: %s", hex);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert_msg(strstr(err->message, c->substr), "'%s' lacks '%s'",
		      err->message, c->substr);
	ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

static void measure_plan_tcases(Suite *s)
{
	TCase *tc = tcase_create("plan");

	tcase_add_loop_test(tc, plan_order_matches_trace, 0,
			    G_N_ELEMENTS(trace_cases));
	tcase_add_test(tc, malformed_firmware);
	tcase_add_test(tc, firmware_cannot_carry_request);
	tcase_add_test(tc, svsm_plan);
	tcase_add_loop_test(tc, measure_cli_rejects, 0,
			    G_N_ELEMENTS(cli_cases));
	suite_add_tcase(s, tc);
}

#endif
