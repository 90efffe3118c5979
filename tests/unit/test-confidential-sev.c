// SPDX-License-Identifier: MIT
/*
 * An SEV launch inside `tern run`, the pure parts: the launch states and
 * their order, the measurement blob query-sev-launch-measure returns, the
 * checks of sev-inject-launch-secret's arguments, the firmware's secret
 * area, and LAUNCH_SECRET / REG_REGION against the simulated PSP of
 * test-confidential-fake.h (NOT real hardware: nothing is encrypted).
 */
#include <glib.h>
#include <string.h>

#include "tern/confidential.h"
#include "tern/confidential_kvm.h"
#include "tern/confidential_launch.h"
#include "tern/confidential_vm.h"
#include "tern/error.h"
#include "tern/le.h"
#include "unit.h"

#include "test-confidential-fake.h"

#define IMG_SIZE 0x10000u
#define SECRET_GPA 0x8000u

/* A 64 KiB flash image whose footer table holds a secret area entry. */
static uint8_t *image_with_secret_area(uint32_t gpa, uint32_t size)
{
	static const uint8_t footer[16] = { 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f,
					    0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66,
					    0xc5, 0x5a, 0x08, 0x2d };
	static const uint8_t secret[16] = { 0x61, 0xb3, 0x2e, 0x4c, 0x9b, 0x7d,
					    0xc3, 0x4c, 0x80, 0x81, 0x12, 0x7c,
					    0x90, 0xd3, 0xd2, 0x94 };
	uint8_t *img = g_malloc0(IMG_SIZE);
	uint8_t *p = img + IMG_SIZE - 32 - 44; /* table: 26 + 18 bytes */

	le32_put(p, gpa);
	le32_put(p + 4, size);
	le16_put(p + 8, 26);
	memcpy(p + 10, secret, 16);
	le16_put(p + 26, 44);
	memcpy(p + 28, footer, 16);
	return img;
}

START_TEST(ovmf_secret_area_parsed)
{
	g_autofree uint8_t *img = image_with_secret_area(SECRET_GPA, 0x1000);
	g_autoptr(GError) err = NULL;
	struct ovmf_info info;

	ck_assert(ovmf_parse(img, IMG_SIZE, &info, &err));
	ck_assert(info.has_secret_area);
	ck_assert_uint_eq(info.secret_gpa, SECRET_GPA);
	ck_assert_uint_eq(info.secret_size, 0x1000);
	/* A zero base is no secret area (QEMU then wants an explicit gpa). */
	g_free(img);
	img = image_with_secret_area(0, 0x1000);
	ck_assert(ovmf_parse(img, IMG_SIZE, &info, &err));
	ck_assert(!info.has_secret_area);
}
END_TEST

START_TEST(measurement_blob_base64)
{
	uint8_t blob[48];
	g_autofree char *b64 = NULL;
	g_autofree uint8_t *back = NULL;
	gsize n;

	for (unsigned int i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 1);
	b64 = sev_measurement_base64(blob, sizeof(blob));
	/* 48 bytes: 64 base64 characters, no padding. */
	ck_assert_uint_eq(strlen(b64), 64);
	back = g_base64_decode(b64, &n);
	ck_assert_uint_eq(n, sizeof(blob));
	ck_assert_mem_eq(back, blob, sizeof(blob));
	g_free(b64);
	b64 = sev_measurement_base64((const uint8_t *)"\xff", 1);
	ck_assert_str_eq(b64, "/w==");
	ck_assert_ptr_null(sev_measurement_base64(blob, 0));
	ck_assert_ptr_null(sev_measurement_base64(NULL, 48));
}
END_TEST

START_TEST(launch_state_order)
{
	const enum sev_launch_state U = SEV_STATE_UNINIT,
				    LU = SEV_STATE_LAUNCH_UPDATE,
				    LS = SEV_STATE_LAUNCH_SECRET,
				    R = SEV_STATE_RUNNING;

	ck_assert(sev_launch_state_next(U, LU, false));
	ck_assert(sev_launch_state_next(LU, LS, false));
	ck_assert(sev_launch_state_next(LS, LS, false)); /* LAUNCH_SECRET, again */
	ck_assert(sev_launch_state_next(LS, R, false));
	ck_assert(!sev_launch_state_next(U, LS, false));
	ck_assert(!sev_launch_state_next(U, R, false));
	ck_assert(!sev_launch_state_next(LU, R, false)); /* FINISH before MEASURE */
	ck_assert(!sev_launch_state_next(R, LS, false)); /* a secret after FINISH */
	ck_assert(!sev_launch_state_next(R, U, false));
	ck_assert(!sev_launch_state_next(LS, LU, false));
	/* SNP: no measurement or secret; FINISH ends the launch-update. */
	ck_assert(sev_launch_state_next(U, LU, true));
	ck_assert(sev_launch_state_next(LU, R, true));
	ck_assert(!sev_launch_state_next(LU, LS, true));
	ck_assert(!sev_launch_state_next(LS, R, true));
	ck_assert(!sev_launch_state_next(U, R, true));
	/* QEMU's SevState names. */
	ck_assert_str_eq(sev_launch_state_name(U), "uninit");
	ck_assert_str_eq(sev_launch_state_name(LU), "launch-update");
	ck_assert_str_eq(sev_launch_state_name(LS), "launch-secret");
	ck_assert_str_eq(sev_launch_state_name(R), "running");
	ck_assert_str_eq(sev_launch_state_name((enum sev_launch_state)99),
			 "uninit");
}
END_TEST

static const struct {
	const char *hdr, *secret, *error;
	gsize hdr_len, len;
} secret_args[] = {
	{ "AAAA", "AQID", NULL, 3, 3 },
	{ "", "AQID", "SEV: Failed to decode sequence header", 0, 0 },
	{ "@@@@", "AQID", "SEV: Failed to decode sequence header", 0, 0 },
	{ "AAAA", "A", "SEV: Failed to decode data", 0, 0 },
	{ "AAAA", "", "SEV: Failed to decode data", 0, 0 },
	{ "AAAA", "=", "SEV: Failed to decode data", 0, 0 },
};

START_TEST(secret_args_checked)
{
	g_autoptr(GError) err = NULL;
	uint8_t *hdr = NULL, *data = NULL;
	gsize hl = 0, dl = 0;
	bool ok = sev_secret_args_decode(secret_args[_i].hdr,
					 secret_args[_i].secret, &hdr, &hl,
					 &data, &dl, &err);

	if (!secret_args[_i].error) {
		ck_assert_msg(ok, "%s", err ? err->message : "");
		ck_assert_uint_eq(hl, secret_args[_i].hdr_len);
		ck_assert_uint_eq(dl, secret_args[_i].len);
		ck_assert_uint_eq(data[2], 3);
	} else {
		ck_assert(!ok);
		ck_assert_ptr_null(hdr);
		ck_assert_ptr_null(data);
		ck_assert_str_eq(err->message, secret_args[_i].error);
	}
	g_free(hdr);
	g_free(data);
}
END_TEST

struct sev_run {
	struct fake_kvm *f;
	struct launch_plan *plan;
	struct confidential_params params;
	struct confidential_launch l;
	uint8_t *img;
};

static void sev_run_setup(struct sev_run *r, enum confidential_kind kind)
{
	g_autoptr(GError) err = NULL;
	struct launch_options o = { .kind = kind, .cpus = 1 };

	memset(r, 0, sizeof(*r));
	r->img = image_with_secret_area(SECRET_GPA, 0x1000);
	r->plan = launch_plan_build(r->img, IMG_SIZE, &o, &err);
	ck_assert_msg(r->plan, "%s", err ? err->message : "");
	r->params.kind = kind;
	r->params.policy = SEV_POLICY_DEFAULT;
	r->f = fake_new(kind, 1);
	r->l = (struct confidential_launch){ .ops = &fake_ops,
					     .opaque = r->f,
					     .plan = r->plan,
					     .params = &r->params,
					     .sev_fd = 77 };
}

static void sev_run_teardown(struct sev_run *r)
{
	launch_plan_free(r->plan);
	fake_free(r->f);
	g_free(r->img);
}

static void register_fake_ram(struct fake_kvm *f)
{
	struct kvm_enc_region lo = { (uintptr_t)f->low, FAKE_LOW_SIZE };
	struct kvm_enc_region hi = { (uintptr_t)f->high,
				     0x100000000ull - FAKE_HIGH_BASE };

	ck_assert_int_eq(fake_ops.vm_ioctl(f, KVM_MEMORY_ENCRYPT_REG_REGION,
					   &lo),
			 0);
	ck_assert_int_eq(fake_ops.vm_ioctl(f, KVM_MEMORY_ENCRYPT_REG_REGION,
					   &hi),
			 0);
}

/* LAUNCH_SECRET only between LAUNCH_MEASURE and LAUNCH_FINISH. */
START_TEST(launch_secret_window_double)
{
	static const uint8_t hdr[FAKE_SEV_HDR_LEN], secret[16] = "tern-secret!";
	struct sev_run r;
	void *guest;

	sev_run_setup(&r, CONFIDENTIAL_SEV);
	r.f->require_enc = true;
	register_fake_ram(r.f);
	guest = fake_ptr(r.f, SECRET_GPA, sizeof(secret));
	ck_assert_int_eq(confidential_launch_begin(&r.l), 0);
	ck_assert_uint_eq(r.l.handle, 0x2a);
	ck_assert_int_eq(confidential_launch_vcpus(&r.l), 0);
	/* Before the measurement the PSP refuses it: a VMM bug. */
	ck_assert_int_eq(confidential_launch_secret(&r.l, hdr, sizeof(hdr),
						    secret, sizeof(secret),
						    guest),
			 -EINVAL);
	ck_assert_uint_eq(r.l.fw_error, SEV_RET_INVALID_GUEST_STATE);
	ck_assert_uint_eq(r.f->violations, 1);
	r.f->violations = 0;
	ck_assert_int_eq(confidential_launch_measure(&r.l), 0);
	ck_assert_uint_eq(r.l.measurement_len, 48);
	/* A header that is not the PSP's 52 bytes: the firmware says so. */
	ck_assert_int_eq(confidential_launch_secret(&r.l, hdr, 4, secret,
						    sizeof(secret), guest),
			 -EIO);
	ck_assert_uint_eq(r.l.fw_error, SEV_RET_INVALID_LEN);
	ck_assert_int_eq(confidential_launch_secret(&r.l, hdr, sizeof(hdr),
						    secret, sizeof(secret),
						    guest),
			 0);
	ck_assert_mem_eq(guest, secret, sizeof(secret));
	ck_assert_uint_eq(r.f->secrets, 1);
	ck_assert_int_eq(confidential_launch_complete(&r.l), 0);
	ck_assert_int_eq(r.f->state, FAKE_RUNNABLE);
	ck_assert_int_eq(confidential_launch_secret(&r.l, hdr, sizeof(hdr),
						    secret, sizeof(secret),
						    guest),
			 -EINVAL);
	ck_assert_uint_eq(r.f->secrets, 1);
	sev_run_teardown(&r);
}
END_TEST

/* A VMM that forgot KVM_MEMORY_ENCRYPT_REG_REGION is caught. */
START_TEST(update_needs_registered_memory_double)
{
	struct sev_run r;

	sev_run_setup(&r, CONFIDENTIAL_SEV_ES);
	r.f->require_enc = true;
	ck_assert_int_eq(confidential_launch_begin(&r.l), 0);
	ck_assert_int_eq(confidential_launch_vcpus(&r.l), 0);
	ck_assert_int_eq(confidential_launch_measure(&r.l), 0);
	ck_assert_uint_ge(r.f->violations, 1);
	ck_assert_str_eq(r.f->first_violation,
			 "LAUNCH_UPDATE_DATA of unregistered memory");
	sev_run_teardown(&r);
}
END_TEST

/* The split halves are SEV-only. */
START_TEST(split_launch_refused_for_snp)
{
	struct sev_run r;

	sev_run_setup(&r, CONFIDENTIAL_SEV);
	r.plan->opt.kind = CONFIDENTIAL_SEV_SNP;
	ck_assert_int_eq(confidential_launch_measure(&r.l), -EOPNOTSUPP);
	ck_assert_int_eq(confidential_launch_complete(&r.l), -EOPNOTSUPP);
	ck_assert_int_eq(confidential_launch_secret(&r.l, NULL, 0, NULL, 0,
						    NULL),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(r.f->n, 0);
	sev_run_teardown(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("confidential-sev");
	TCase *tc;

	UNIT_TCASE(s, "pure", ovmf_secret_area_parsed, measurement_blob_base64,
		   launch_state_order);
	tc = tcase_create("qmp-args");
	tcase_add_loop_test(tc, secret_args_checked, 0,
			    G_N_ELEMENTS(secret_args));
	suite_add_tcase(s, tc);
	UNIT_TCASE(s, "launch-double", launch_secret_window_double,
		   update_needs_registered_memory_double,
		   split_launch_refused_for_snp);
	return unit_run(s);
}
