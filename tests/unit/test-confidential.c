// SPDX-License-Identifier: MIT
/*
 * The confidential launch flows at the ioctl boundary, against a test
 * double of KVM with a simulated secure processor / TDX module
 * (test-confidential-fake.h): this host has no SEV and no TDX. Each test
 * checks the command order and contents the specs require and that the
 * digest the simulated hardware computes from the commands is the one
 * `tern measure` predicts. Real hardware would still have to confirm the
 * firmware's own checks, encryption, KVM's VMSA contents and the
 * LAUNCH_MEASURE HMAC (docs/confidential.md).
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "tern/confidential.h"
#include "tern/confidential_kvm.h"
#include "tern/confidential_launch.h"
#include "tern/error.h"
#include "unit.h"

#include "test-confidential-fake.h"

/* Both fake RAM regions as guest_memfd slots, as the VMM would bind them. */
static void fake_bind_memory(struct fake_kvm *f)
{
	int fd;

	ck_assert_int_eq(confidential_memory_bind(&fake_ops, f, 0, 0,
						  FAKE_LOW_SIZE,
						  (uintptr_t)f->low, &fd),
			 0);
	ck_assert_int_eq(confidential_memory_bind(
				 &fake_ops, f, 1, FAKE_HIGH_BASE,
				 0x100000000ull - FAKE_HIGH_BASE,
				 (uintptr_t)f->high, &fd),
			 0);
}

#define SYN_AMDSEV "synthetic/virtee-sev-snp-measure-8f2b337/ovmf_AmdSev_suffix.bin"
#define CLEAN_2M "inputs/gce-tcb-verifier-74582c0-reconstructed/clean_example_2m.bin"
#define EPYC_V4 0x800f12

static uint8_t *read_data(const char *rel, size_t *len)
{
	const char *d = getenv("TERN_MEASURE_DATA");
	g_autofree char *p = NULL;
	char *buf = NULL;
	gsize n;

	ck_assert_msg(d, "TERN_MEASURE_DATA is not set (meson sets it)");
	p = g_build_filename(d, rel, NULL);
	ck_assert_msg(g_file_get_contents(p, &buf, &n, NULL), "read %s", p);
	*len = n;
	return (uint8_t *)buf;
}

struct run {
	struct fake_kvm *f;
	struct launch_plan *plan;
	struct confidential_params params;
	struct confidential_launch l;
	uint8_t *img;
	size_t len;
	uint8_t predicted[48];
	size_t predicted_len;
};

static const uint8_t empty_kernel[1];

static void run_setup(struct run *r, const char *spec, const char *fw,
		      unsigned int cpus, bool kernel)
{
	g_autoptr(GError) err = NULL;
	struct launch_options o = { .cpus = cpus,
				    .profile = VMSA_PROFILE_QEMU,
				    .vcpu_sig = EPYC_V4,
				    .guest_features = 0x21 };

	memset(r, 0, sizeof(*r));
	ck_assert_msg(confidential_params_parse(spec, &r->params, &err), "%s",
		      err ? err->message : "");
	o.kind = r->params.kind;
	if (kernel && r->params.kernel_hashes) {
		o.kernel = empty_kernel;
		o.cmdline = "console=ttyS0";
	}
	r->img = read_data(fw, &r->len);
	r->plan = launch_plan_build(r->img, r->len, &o, &err);
	ck_assert_msg(r->plan, "%s", err ? err->message : "");
	r->predicted_len = launch_plan_measure(r->plan, r->predicted);
	r->f = fake_new(o.kind, r->plan->opt.cpus);
	r->l = (struct confidential_launch){ .ops = &fake_ops,
					     .opaque = r->f,
					     .plan = r->plan,
					     .params = &r->params,
					     .sev_fd = 77 };
}

static void run_all(struct run *r)
{
	int ret;

	ret = confidential_launch_begin(&r->l);
	ck_assert_msg(ret == 0, "begin: %d at %s", ret, r->l.failed);
	ret = confidential_launch_vcpus(&r->l);
	ck_assert_msg(ret == 0, "vcpus: %d at %s", ret, r->l.failed);
	if (r->plan->opt.kind == CONFIDENTIAL_SEV_SNP ||
	    r->plan->opt.kind == CONFIDENTIAL_TDX)
		fake_bind_memory(r->f);
	ret = confidential_launch_finish(&r->l);
	ck_assert_msg(ret == 0, "finish: %d at %s", ret, r->l.failed);
	ck_assert_msg(r->f->violations == 0, "%u violations, first: %s",
		      r->f->violations, r->f->first_violation);
	ck_assert_int_eq(r->f->state, FAKE_RUNNABLE);
	/* What the simulated hardware measured is what tern measure said. */
	ck_assert_uint_eq(r->f->digest_len, r->predicted_len);
	ck_assert_mem_eq(r->f->digest, r->predicted, r->predicted_len);
}

static void run_teardown(struct run *r)
{
	launch_plan_free(r->plan);
	confidential_params_clear(&r->params);
	fake_free(r->f);
	g_free(r->img);
}

/* The encrypt-op command ids in call order (0xffff: another ioctl). */
static unsigned int run_ids(struct run *r, uint32_t *ids, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < r->f->n && n < max; i++)
		ids[n++] = r->f->log[i].req == KVM_MEMORY_ENCRYPT_OP ?
				   r->f->log[i].id :
				   0xffff;
	return n;
}

static void assert_ids(struct run *r, const uint32_t *want, unsigned int n)
{
	uint32_t got[64];
	unsigned int k = run_ids(r, got, 64);

	ck_assert_uint_eq(k, n);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "call %u: %#x, want %#x", i,
			      got[i], want[i]);
}

START_TEST(sev_launch_order_and_digest_double)
{
	struct run r;
	const uint32_t want[] = { CONF_KVM_SEV_INIT2, CONF_KVM_SEV_LAUNCH_START,
				  CONF_KVM_SEV_LAUNCH_UPDATE_DATA,
				  CONF_KVM_SEV_LAUNCH_UPDATE_DATA,
				  CONF_KVM_SEV_LAUNCH_MEASURE,
				  CONF_KVM_SEV_LAUNCH_FINISH };

	run_setup(&r, "sev,kernel-hashes=on", SYN_AMDSEV, 1, true);
	run_all(&r);
	assert_ids(&r, want, G_N_ELEMENTS(want));
	ck_assert_uint_eq(r.f->log[1].arg, SEV_POLICY_DEFAULT);
	/* The firmware first, then the 176-byte hashes table at its GPA. */
	ck_assert_uint_eq(r.f->log[2].len, CONF_PAGE_SIZE);
	ck_assert_mem_eq(fake_ptr(r.f, 0xfffff000, 16), r.img, 16);
	ck_assert_uint_eq(r.f->log[3].len, SEV_HASHES_TABLE_PADDED);
	ck_assert_ptr_eq((void *)(uintptr_t)r.f->log[3].arg,
			 fake_ptr(r.f, r.plan->fw.hashes_gpa, 1));
	ck_assert_mem_eq(r.l.measurement, r.predicted, 32);
	run_teardown(&r);
}
END_TEST

START_TEST(sev_es_launch_vmsas_double)
{
	struct run r;
	const uint32_t want[] = { CONF_KVM_SEV_INIT2,
				  CONF_KVM_SEV_LAUNCH_START,
				  0xffff,
				  0xffff,
				  CONF_KVM_SEV_LAUNCH_UPDATE_DATA,
				  CONF_KVM_SEV_LAUNCH_UPDATE_VMSA,
				  CONF_KVM_SEV_LAUNCH_MEASURE,
				  CONF_KVM_SEV_LAUNCH_FINISH };

	static const uint8_t cert[2084], session[108];

	run_setup(&r, "sev-es,dh-cert=cert.bin,session=session.bin",
		  SYN_AMDSEV, 2, false);
	/* The VMM reads the owner's files; the flow hands them over. */
	r.l.dh_cert = cert;
	r.l.dh_cert_len = sizeof(cert);
	r.l.session = session;
	r.l.session_len = sizeof(session);
	run_all(&r);
	ck_assert_uint_eq(r.f->log[1].len, sizeof(cert));
	ck_assert_uint_eq(r.f->log[1].flags, sizeof(session));
	assert_ids(&r, want, G_N_ELEMENTS(want));
	ck_assert_uint_eq(r.f->log[0].arg, 0); /* no SEV_FEATURES for ES */
	ck_assert_uint_eq(r.f->log[1].arg, SEV_ES_POLICY_DEFAULT);
	/* BSP at the reset vector, the AP at the firmware's reset block. */
	ck_assert_uint_eq(r.f->vcpu_eip[0], VMSA_BSP_EIP);
	ck_assert_uint_eq(r.f->vcpu_eip[1], 0x80b004);
	ck_assert_uint_eq(r.f->vcpu_rdx[1], EPYC_V4);
	run_teardown(&r);
}
END_TEST

START_TEST(snp_launch_page_types_double)
{
	struct run r;
	const struct fake_call *upd[64];
	unsigned int updates = 0, s = 0, retries = 0;

	run_setup(&r,
		  "sev-snp,kernel-hashes=on,host-data=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		  SYN_AMDSEV, 4, true);
	r.f->cpuid_rejects = 1;
	run_all(&r);
	ck_assert_uint_eq(r.f->log[0].id, CONF_KVM_SEV_INIT2);
	ck_assert_uint_eq(r.f->log[0].arg, 0x20); /* DebugSwap; SNPActive is KVM's */
	ck_assert_uint_eq(r.f->log[1].id, CONF_KVM_SEV_SNP_LAUNCH_START);
	ck_assert_uint_eq(r.f->log[1].arg, SNP_POLICY_DEFAULT);
	/* One SNP_LAUNCH_UPDATE per plan step, same GPA, length and type;
	 * the CPUID page twice (rejected once, then the corrected page). */
	for (unsigned int i = 0; i < r.f->n; i++) {
		const struct fake_call *c = &r.f->log[i];

		if (c->req != KVM_MEMORY_ENCRYPT_OP ||
		    c->id != CONF_KVM_SEV_SNP_LAUNCH_UPDATE)
			continue;
		if (updates && upd[updates - 1]->type == SNP_PAGE_CPUID &&
		    c->type == SNP_PAGE_CPUID &&
		    upd[updates - 1]->gpa == c->gpa) {
			retries++;
			continue;
		}
		ck_assert_uint_lt(updates, G_N_ELEMENTS(upd));
		upd[updates++] = c;
	}
	ck_assert_uint_eq(retries, 1);
	for (unsigned int i = 0; i < r.plan->nr_steps; i++) {
		const struct launch_step *st = &r.plan->steps[i];

		if (st->kind == LAUNCH_STEP_VMSA)
			continue;
		ck_assert_uint_lt(s, updates);
		ck_assert_uint_eq(upd[s]->gpa, st->gpa);
		ck_assert_uint_eq(upd[s]->len, st->len);
		ck_assert_uint_eq(upd[s]->type, st->kind == LAUNCH_STEP_DATA ?
							SNP_PAGE_NORMAL :
							st->page_type);
		s++;
	}
	ck_assert_uint_eq(s, updates);
	ck_assert_uint_eq(updates, r.plan->nr_steps - 4);
	ck_assert_uint_eq(r.f->cpuid_rejects, 0);
	ck_assert_uint_eq(r.f->log[r.f->n - 1].id,
			  CONF_KVM_SEV_SNP_LAUNCH_FINISH);
	ck_assert_uint_eq(r.f->snp_finish_host_data[1], 0x11);
	ck_assert(!r.f->snp_finish_id_block);
	ck_assert_uint_eq(r.f->vcpu_eip[3], 0x80b004);
	run_teardown(&r);
}
END_TEST

/* The SNP pages become private only through memory attributes on slots
 * backed by guest_memfd: without the binding the double refuses. */
START_TEST(snp_requires_private_memory_double)
{
	struct run r;

	run_setup(&r, "sev-snp", SYN_AMDSEV, 1, false);
	r.f->cpuid_rejects = 0;
	ck_assert_int_eq(confidential_launch_begin(&r.l), 0);
	ck_assert_int_eq(confidential_launch_vcpus(&r.l), 0);
	/* No fake_bind_memory(): attributes land on no slot. */
	ck_assert_int_eq(confidential_launch_finish(&r.l), 0);
	ck_assert_uint_gt(r.f->violations, 0);
	ck_assert_str_eq(r.f->first_violation,
			 "attributes of memory in no guest_memfd slot");
	run_teardown(&r);
}
END_TEST

START_TEST(launch_failure_stops_double)
{
	struct run r;

	run_setup(&r, "sev-es", SYN_AMDSEV, 1, false);
	r.f->fail_armed = true;
	r.f->fail_id = CONF_KVM_SEV_LAUNCH_START;
	ck_assert_int_eq(confidential_launch_begin(&r.l), -EIO);
	ck_assert_str_eq(r.l.failed, "KVM_SEV_LAUNCH_START");
	ck_assert_uint_eq(r.l.fw_error, 0x1a);
	/* INIT2, the failed LAUNCH_START, and nothing after it. */
	ck_assert_uint_eq(r.f->n, 2);
	ck_assert_uint_eq(r.f->log[1].id, CONF_KVM_SEV_LAUNCH_START);
	run_teardown(&r);
}
END_TEST

/* TDX through the double reproduces the published MRTD of the image. */
START_TEST(tdx_launch_mrtd_double)
{
	struct run r;
	static const char published[] =
		"6e540be4917f24f74cc3292b59803d06dc7c38eb4a3c1fd6be9c735ba74bb7a23e25f98da94779d17508b243e4fb582b";
	unsigned int regions = 0, vcpus = 0;
	char hex[97];

	run_setup(&r, "tdx", CLEAN_2M, 2, false);
	run_all(&r);
	for (unsigned int i = 0; i < 48; i++)
		sprintf(hex + 2 * i, "%02x", r.f->digest[i]);
	ck_assert_str_eq(hex, published);
	ck_assert_uint_eq(r.f->log[0].id, CONF_KVM_TDX_CAPABILITIES);
	ck_assert_uint_eq(r.f->log[1].id, CONF_KVM_TDX_INIT_VM);
	ck_assert_uint_eq(r.f->log[1].arg, 1ull << 28); /* SEPT_VE_DISABLE */
	ck_assert_uint_eq(r.f->log[1].len, 0x3); /* xfam */
	for (unsigned int i = 0; i < r.f->n; i++) {
		const struct fake_call *c = &r.f->log[i];

		if (c->req != KVM_MEMORY_ENCRYPT_OP)
			continue;
		if (c->id == CONF_KVM_TDX_INIT_VCPU) {
			ck_assert_int_eq(c->vcpu, (int)vcpus++);
			ck_assert_uint_eq(c->arg, 0x809000); /* the TD HOB */
		}
		if (c->id == CONF_KVM_TDX_INIT_MEM_REGION) {
			const struct launch_step *s = &r.plan->steps[regions++];

			ck_assert_uint_eq(c->gpa, s->gpa);
			ck_assert_uint_eq(c->flags, s->extend ? 1 : 0);
		}
	}
	ck_assert_uint_eq(vcpus, 2);
	ck_assert_uint_eq(regions, r.plan->nr_steps);
	ck_assert_uint_eq(r.f->log[r.f->n - 1].id, CONF_KVM_TDX_FINALIZE_VM);
	run_teardown(&r);
}
END_TEST

START_TEST(memory_convert_double)
{
	struct fake_kvm *f = fake_new(CONFIDENTIAL_SEV_SNP, 1);

	fake_bind_memory(f);
	ck_assert_int_eq(confidential_memory_convert(&fake_ops, f, 0x10000,
						     0x2000, true),
			 0);
	ck_assert(fake_range_private(f, 0x10000, 0x2000));
	/* A guest page-state change back to shared. */
	ck_assert_int_eq(confidential_memory_convert(&fake_ops, f, 0x11000,
						     0x1000, false),
			 0);
	ck_assert(fake_range_private(f, 0x10000, 0x1000));
	ck_assert(!fake_range_private(f, 0x11000, 0x1000));
	ck_assert_int_eq(confidential_memory_convert(&fake_ops, f, 0x10010,
						     0x1000, true),
			 -EINVAL);
	ck_assert_int_eq(confidential_memory_convert(&fake_ops, f, 0x10000, 0,
						     true),
			 -EINVAL);
	ck_assert_uint_eq(f->violations, 0);
	fake_free(f);
}
END_TEST

struct param_case {
	const char *spec;
	const char *error; /* NULL: valid */
};

static const struct param_case param_cases[] = {
	{ "sev", NULL },
	{ "sev-es,policy=0x5,cbitpos=51,reduced-phys-bits=1", NULL },
	{ "sev-snp,policy=0x30000,id-block=a,id-auth=b,kernel-hashes=on",
	  NULL },
	{ "tdx", NULL },
	{ "sgx", "expected sev, sev-es, sev-snp or tdx" },
	{ "sev,policy=zz", "policy='zz'" },
	{ "sev,policy=0x100000000", "32-bit" },
	{ "sev-es,policy=0x1", "needs bit 2" },
	{ "sev,cbitpos=12", "cbitpos='12'" },
	{ "sev,kernel-hashes=yes", "on or off" },
	{ "sev,id-block=a", "'id-block' is not an option of sev" },
	{ "sev-snp,id-block=a", "go together" },
	{ "sev-snp,host-data=0011", "64 hex digits" },
	{ "tdx,cbitpos=51", "not an option of tdx" },
	{ "sev,policy", "expected KEY=VALUE" },
	{ "sev,dh-cert=a", "dh-cert and session go together" },
	{ "sev-snp,dh-cert=a,session=b", "not an option of sev-snp" },
};

START_TEST(confidential_params)
{
	const struct param_case *c = &param_cases[_i];
	struct confidential_params p;
	g_autoptr(GError) err = NULL;
	bool ok = confidential_params_parse(c->spec, &p, &err);

	if (!c->error) {
		ck_assert_msg(ok, "%s: %s", c->spec, err->message);
		confidential_params_clear(&p);
		return;
	}
	ck_assert_msg(!ok, "%s accepted", c->spec);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert_msg(strstr(err->message, c->error), "'%s' lacks '%s'",
		      err->message, c->error);
	ck_assert_msg(strstr(err->message, "--confidential"), "%s",
		      err->message);
}
END_TEST

/* This host's KVM offers only the default type: every kind is refused
 * with what is missing. */
START_TEST(host_check_names_missing_type)
{
	g_autoptr(GError) err = NULL;

	ck_assert(!confidential_host_check(CONFIDENTIAL_SEV_SNP, 0x1, &err));
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_HOST));
	ck_assert(strstr(err->message, "no sev-snp VM type"));
	ck_assert(strstr(err->message, "kvm_amd"));
	g_clear_error(&err);
	ck_assert(!confidential_host_check(CONFIDENTIAL_TDX, -22, &err));
	ck_assert(strstr(err->message, "kvm_intel.tdx=1"));
	ck_assert(confidential_host_check(CONFIDENTIAL_SEV_SNP, 0x1 | 1 << 4,
					  NULL));
	ck_assert(confidential_host_check(CONFIDENTIAL_TDX, 1 << 5, NULL));
}
END_TEST

/* tern run --confidential on a device without the VM type: exit 2 naming
 * it. /dev/null stands in for a KVM that answers no VM types. */
START_TEST(run_prepare_refuses_here)
{
	const char *d = getenv("TERN_MEASURE_DATA");
	g_autofree char *fw = g_build_filename(d, SYN_AMDSEV, NULL);
	g_autofree char *tdvf = g_build_filename(d, CLEAN_2M, NULL);
	struct confidential_params p = { .kind = CONFIDENTIAL_SEV_SNP };
	g_autoptr(GError) err = NULL;

	ck_assert(!confidential_run_prepare(&p, fw, "/dev/null", 1, &err));
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_HOST));
	ck_assert_msg(strstr(err->message, "KVM offers no sev-snp VM type"),
		      "%s", err->message);
	g_clear_error(&err);
	/* The firmware is checked first: a TDX guest needs TDVF metadata. */
	p.kind = CONFIDENTIAL_TDX;
	ck_assert(!confidential_run_prepare(&p, fw, "/dev/null", 1, &err));
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert(strstr(err->message, "--firmware: no TDVF metadata"));
	g_clear_error(&err);
	ck_assert(!confidential_run_prepare(&p, tdvf, "/nonexistent/kvm", 1,
					    &err));
	ck_assert(strstr(err->message, "cannot open /nonexistent/kvm"));
	g_clear_error(&err);
	ck_assert(!confidential_config_check(&p, NULL, false, &err));
	ck_assert(strstr(err->message, "needs --firmware"));
	g_clear_error(&err);
	ck_assert(!confidential_config_check(&p, fw, true, &err));
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert(strstr(err->message, "--confidential: not with --kernel"));
	g_clear_error(&err);
	p.kind = CONFIDENTIAL_NONE;
	ck_assert(confidential_config_check(&p, fw, false, NULL));
	ck_assert(!confidential_config_check(&p, fw, true, &err));
	ck_assert(strstr(err->message, "--firmware: not with --kernel"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("confidential");
	TCase *tc;

	UNIT_TCASE(s, "launch-double", sev_launch_order_and_digest_double,
		   sev_es_launch_vmsas_double, snp_launch_page_types_double,
		   snp_requires_private_memory_double,
		   launch_failure_stops_double, tdx_launch_mrtd_double,
		   memory_convert_double);
	tc = tcase_create("params");
	tcase_add_loop_test(tc, confidential_params, 0,
			    G_N_ELEMENTS(param_cases));
	tcase_add_test(tc, host_check_names_missing_type);
	tcase_add_test(tc, run_prepare_refuses_here);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
