// SPDX-License-Identifier: MIT
/* CPU feature masks and per-vCPU CPUID, over a made-up supported set. */
#include <glib.h>
#include <string.h>

#include "tern/cpuid.h"
#include "tern/error.h"
#include "unit.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define BIT(n) (1U << (n))

/* Leaf 1 ECX bits the tests look at */
#define L1C_FMA BIT(12)
#define L1C_CX16 BIT(13)
#define L1C_SSE42 BIT(20)
#define L1C_X2APIC BIT(21)
#define L1C_XSAVE BIT(26)
#define L1C_OSXSAVE BIT(27)
#define L1C_AVX BIT(28)
#define L1C_F16C BIT(29)
#define L1C_HYPERVISOR BIT(31)
#define L1D_HTT BIT(28)
#define L7B_AVX2 BIT(5)
#define L7B_SMEP BIT(7)
#define L7B_AVX512F BIT(16)
#define L7B_AVX512DQ BIT(17)
#define L7B_AVX512VL BIT(31)
#define L7C_PKU BIT(3)
#define L7C_VAES BIT(9)
#define L7D_ARCH_CAP BIT(29)

/*
 * Something like what KVM_GET_SUPPORTED_CPUID returns on a recent Intel
 * host: enough leaves to see every rule of cpuid_setup_vcpu at work.
 */
static unsigned int supported(struct kvm_cpuid_entry2 *e)
{
	unsigned int n = 0;

#define ENTRY(fn, idx, fl, a, b, c, d)                                         \
	e[n++] = (struct kvm_cpuid_entry2){ .function = (fn),                  \
					    .index = (idx),                    \
					    .flags = (fl),                     \
					    .eax = (a),                        \
					    .ebx = (b),                        \
					    .ecx = (c),                        \
					    .edx = (d) }
	ENTRY(0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	/* leaf 1: EBX has a CLFLUSH size of 8 and junk APIC fields */
	ENTRY(1, 0, 0, 0x000906ea, 0xaa550800,
	      L1C_FMA | L1C_CX16 | L1C_SSE42 | L1C_X2APIC | L1C_XSAVE |
		      L1C_AVX | L1C_F16C | BIT(0),
	      0x178bfbff);
	/* leaf 4: L1d, L1i, L2, L3, then the end */
	ENTRY(4, 0, SIG, 0x1c004121, 0x01c0003f, 0x3f, 0);
	ENTRY(4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0);
	ENTRY(4, 2, SIG, 0x1c004143, 0x03c0003f, 0x3ff, 0);
	ENTRY(4, 3, SIG, 0x1c03c163, 0x03c0003f, 0x3fff, 6);
	ENTRY(4, 4, SIG, 0, 0, 0, 0);
	ENTRY(7, 0, SIG, 1, L7B_AVX2 | L7B_SMEP | L7B_AVX512F | L7B_AVX512DQ |
				   L7B_AVX512VL,
	      L7C_PKU | L7C_VAES, L7D_ARCH_CAP);
	ENTRY(7, 1, SIG, BIT(4), 0, 0, 0); /* avx-vnni */
	ENTRY(0xb, 0, SIG, 1, 2, 0x100, 7);
	ENTRY(0xb, 1, SIG, 4, 12, 0x201, 7);
	ENTRY(0xb, 2, SIG, 0, 0, 2, 7);
	ENTRY(0xd, 0, SIG, 0x2e7, 0xa88, 0xa88, 0);
	ENTRY(0xd, 1, SIG, 0xf, 0x240, 0, 0);
	ENTRY(0xd, 2, SIG, 0x100, 0x240, 0, 0);
	ENTRY(0x1f, 0, SIG, 1, 2, 0x100, 7);
	ENTRY(0x1f, 1, SIG, 4, 12, 0x201, 7);
	ENTRY(0x40000000, 0, 0, 0x40000001, 0, 0, 0);
	ENTRY(0x40000001, 0, 0, 0x01007afb, 0, 0, 0);
	ENTRY(0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800);
#undef ENTRY
	return n;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid_entry2 *e,
				     unsigned int n, uint32_t fn, uint32_t idx)
{
	for (unsigned int i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx)
			return &e[i];
	ck_abort_msg("leaf 0x%x.%u missing", fn, idx);
	return NULL;
}

static char *parse_err(const char *spec, struct cpu_feature_mask *mask)
{
	struct cpu_feature_mask scratch;
	GError *err = NULL;
	char *msg;

	if (cpuid_parse_features(spec, mask ? mask : &scratch, &err)) {
		ck_assert_ptr_null(err);
		return NULL;
	}
	ck_assert_ptr_nonnull(err);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	msg = g_strdup(err->message);
	g_error_free(err);
	return msg;
}

#define ck_assert_spec_fails(spec, substr)                                     \
	do {                                                                   \
		g_autofree char *m_ = parse_err(spec, NULL);                   \
		ck_assert_msg(m_ != NULL, "'%s' unexpectedly parsed", spec);   \
		ck_assert_msg(strstr(m_, substr) != NULL,                      \
			      "message '%s' lacks '%s'", m_, substr);          \
	} while (0)

static bool mask_has(const struct cpu_feature_mask *m, uint32_t fn,
		     uint32_t idx, uint8_t reg, uint8_t bit)
{
	for (unsigned int i = 0; i < m->nr_clear; i++)
		if (m->clear[i].function == fn && m->clear[i].index == idx &&
		    m->clear[i].reg == reg && m->clear[i].bit == bit)
			return true;
	return false;
}

START_TEST(parse_removals)
{
	struct cpu_feature_mask m;
	g_autofree char *e = parse_err("-cx16,-xsave,-arch-capabilities", &m);

	ck_assert_msg(e == NULL, "%s", e);
	ck_assert_uint_eq(m.nr_clear, 3);
	ck_assert(mask_has(&m, 1, 0, 2, 13));
	ck_assert(mask_has(&m, 1, 0, 2, 26));
	ck_assert(mask_has(&m, 7, 0, 3, 29));
}
END_TEST

START_TEST(parse_aliases_and_keep)
{
	struct cpu_feature_mask m;
	g_autofree char *e1 = parse_err("-sse4_1,-sse4.2,-tsc_deadline,+avx,avx2", &m);
	g_autofree char *e2 = NULL;

	ck_assert_msg(e1 == NULL, "%s", e1);
	ck_assert_uint_eq(m.nr_clear, 3);
	ck_assert(mask_has(&m, 1, 0, 2, 19));
	ck_assert(mask_has(&m, 1, 0, 2, 20));
	ck_assert(mask_has(&m, 1, 0, 2, 24));
	/* Keeping only is fine and masks nothing */
	e2 = parse_err("+cx16,xsave", &m);
	ck_assert_msg(e2 == NULL, "%s", e2);
	ck_assert_uint_eq(m.nr_clear, 0);
}
END_TEST

START_TEST(parse_kvmclock_two_bits)
{
	struct cpu_feature_mask m;
	g_autofree char *e = parse_err("-kvmclock,-kvm-pv-eoi", &m);

	ck_assert_msg(e == NULL, "%s", e);
	ck_assert_uint_eq(m.nr_clear, 3);
	ck_assert(mask_has(&m, 0x40000001, 0, 0, 0));
	ck_assert(mask_has(&m, 0x40000001, 0, 0, 3));
	ck_assert(mask_has(&m, 0x40000001, 0, 0, 6));
}
END_TEST

START_TEST(parse_duplicates_once)
{
	struct cpu_feature_mask m;
	g_autofree char *e = parse_err("-cx16,-cx16,-pni,-sse3", &m);

	ck_assert_msg(e == NULL, "%s", e);
	ck_assert_uint_eq(m.nr_clear, 2);
}
END_TEST

START_TEST(parse_required_names)
{
	/* The names the task list promises, each one accepted. */
	static const char *const names[] = {
		"cx16", "xsave", "xsaveopt", "xsavec", "xsaves", "avx", "avx2",
		"avx512f", "fma", "aes", "pclmulqdq", "rdrand", "rdseed",
		"x2apic", "pcid", "invpcid", "tsc-deadline", "hypervisor",
		"pdpe1gb", "rdtscp", "sse4.1", "sse4_1", "sse4.2", "sse4_2",
		"ssse3", "popcnt", "movbe", "f16c", "bmi1", "bmi2", "smep",
		"smap", "erms", "fsgsbase", "la57", "umip", "pku",
		"arch-capabilities", "kvmclock", "kvm-pv-eoi", "monitor", "vmx",
		"svm",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *spec = g_strdup_printf("-%s", names[i]);
		struct cpu_feature_mask m;
		g_autofree char *e = parse_err(spec, &m);

		ck_assert_msg(e == NULL, "%s: %s", spec, e);
		ck_assert_uint_ge(m.nr_clear, 1);
	}
}
END_TEST

START_TEST(parse_errors)
{
	ck_assert_spec_fails("", "empty feature list");
	ck_assert_spec_fails("-cx16,,-xsave", "item 2 is empty");
	ck_assert_spec_fails("-cx16,", "item 2 is empty");
	ck_assert_spec_fails(",-cx16", "item 1 is empty");
	ck_assert_spec_fails("-cx16,-nosuch", "unknown CPU feature 'nosuch'");
	ck_assert_spec_fails("+frobnicate", "unknown CPU feature 'frobnicate'");
	ck_assert_spec_fails("--cx16", "'--cx16': expected -name, +name or name");
	ck_assert_spec_fails("-", "'-': expected");
	ck_assert_spec_fails("~cx16", "'~cx16': expected");
	ck_assert_spec_fails(" -cx16", "' -cx16': expected");
	ck_assert_spec_fails("-cx16 ", "unknown CPU feature 'cx16 '");
	ck_assert_spec_fails("cx16=off", "unknown CPU feature 'cx16=off'");
	ck_assert_spec_fails("-CX16", "unknown CPU feature 'CX16'");
}
END_TEST

START_TEST(parse_too_many)
{
	GString *spec = g_string_new(NULL);
	static const char *const names[] = {
		"cx16", "xsave", "avx", "avx2", "avx512f", "fma", "aes",
		"pclmulqdq", "rdrand", "rdseed", "x2apic", "pcid", "invpcid",
		"tsc-deadline", "hypervisor", "pdpe1gb", "rdtscp", "sse4.1",
		"sse4.2", "ssse3", "popcnt", "movbe", "f16c", "bmi1", "bmi2",
		"smep", "smap", "erms", "fsgsbase", "la57", "umip", "pku",
		"monitor",
	};
	g_autofree char *m = NULL;

	ck_assert_uint_eq(G_N_ELEMENTS(names), CPU_FEATURE_MASK_MAX + 1);
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		g_string_append_printf(spec, "%s-%s", i ? "," : "", names[i]);
	m = parse_err(spec->str, NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(strstr(m, "'-monitor': too many features removed (at most 32"),
		      "%s", m);
	g_string_free(spec, TRUE);
}
END_TEST

START_TEST(parse_failure_leaves_mask)
{
	struct cpu_feature_mask m = { .nr_clear = 1 };
	g_autofree char *e = parse_err("-cx16,-bogus", &m);

	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(m.nr_clear, 1);
}
END_TEST

START_TEST(topology_and_ids)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct kvm_cpuid_entry2 *l;

	cpuid_setup_vcpu(e, n, 3, 6, NULL);

	l = find(e, n, 1, 0);
	ck_assert_uint_eq(l->ebx >> 24, 3);
	ck_assert_uint_eq((l->ebx >> 16) & 0xff, 6);
	ck_assert_uint_eq(l->ebx & 0xffff, 0x0800); /* CLFLUSH size kept */
	ck_assert(l->edx & L1D_HTT);
	ck_assert(l->ecx & L1C_HYPERVISOR);
	ck_assert(l->ecx & L1C_XSAVE);
	ck_assert(!(l->ecx & L1C_OSXSAVE)); /* KVM's value: clear */

	/* Leaf 4: 6 cores per package; L1/L2 per core, L3 shared by 6 */
	for (unsigned int i = 0; i < 4; i++) {
		l = find(e, n, 4, i);
		ck_assert_uint_eq(l->eax >> 26, 5);
		ck_assert_uint_eq((l->eax >> 14) & 0xfff, i == 3 ? 5 : 0);
		ck_assert_uint_eq(l->eax & 0x3fff,
				  (i == 3 ? 0x1c03c163U : i == 2 ? 0x1c004143U :
				   i == 1 ? 0x1c004122U : 0x1c004121U) & 0x3fff);
	}
	ck_assert_uint_eq(find(e, n, 4, 4)->eax, 0);

	/* Leaf 0xb and 0x1f: SMT level of 1, core level of 6 behind 3 bits */
	for (uint32_t fn = 0xb; fn <= 0x1f; fn += 0x14) {
		l = find(e, n, fn, 0);
		ck_assert_uint_eq(l->eax, 0);
		ck_assert_uint_eq(l->ebx, 1);
		ck_assert_uint_eq(l->ecx, 0x100);
		ck_assert_uint_eq(l->edx, 3);
		l = find(e, n, fn, 1);
		ck_assert_uint_eq(l->eax, 3);
		ck_assert_uint_eq(l->ebx, 6);
		ck_assert_uint_eq(l->ecx, 0x201);
		ck_assert_uint_eq(l->edx, 3);
	}
	l = find(e, n, 0xb, 2);
	ck_assert_uint_eq(l->ebx, 0);
	ck_assert_uint_eq(l->ecx, 2);
	ck_assert_uint_eq(l->edx, 3);

	/* KVM's signature and its features, kvmclock included */
	l = find(e, n, 0x40000000, 0);
	ck_assert_uint_eq(l->eax, 0x40000001);
	ck_assert(!memcmp(&l->ebx, "KVMK", 4));
	ck_assert(!memcmp(&l->ecx, "VMKV", 4));
	ck_assert(!memcmp(&l->edx, "M\0\0\0", 4));
	ck_assert_uint_eq(find(e, n, 0x40000001, 0)->eax, 0x01007afb);
}
END_TEST

START_TEST(single_cpu)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct kvm_cpuid_entry2 *l;

	cpuid_setup_vcpu(e, n, 0, 1, NULL);
	l = find(e, n, 1, 0);
	ck_assert_uint_eq(l->ebx >> 16, 0x0001);
	ck_assert(!(l->edx & L1D_HTT));
	ck_assert_uint_eq(find(e, n, 4, 3)->eax >> 14, 0);
	ck_assert_uint_eq(find(e, n, 0xb, 1)->eax, 0);
	ck_assert_uint_eq(find(e, n, 0xb, 1)->ebx, 1);
}
END_TEST

START_TEST(mask_xsave_takes_dependents)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct cpu_feature_mask m;
	g_autofree char *err = parse_err("-xsave", &m);
	struct kvm_cpuid_entry2 *l;

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, n, 0, 2, &m);
	l = find(e, n, 1, 0);
	ck_assert(!(l->ecx & (L1C_XSAVE | L1C_AVX | L1C_FMA | L1C_F16C |
			      L1C_OSXSAVE)));
	/* Unrelated bits stay */
	ck_assert(l->ecx & L1C_CX16);
	ck_assert(l->ecx & L1C_SSE42);
	ck_assert(l->ecx & L1C_HYPERVISOR);
	l = find(e, n, 7, 0);
	ck_assert_uint_eq(l->ebx, L7B_SMEP);
	ck_assert_uint_eq(l->ecx, 0); /* pku and vaes went too */
	ck_assert_uint_eq(l->edx, L7D_ARCH_CAP);
	ck_assert_uint_eq(find(e, n, 7, 1)->eax, 0); /* avx-vnni via avx2 */
	/* Leaf 0xd describes nothing, every subleaf */
	for (unsigned int i = 0; i < 3; i++) {
		l = find(e, n, 0xd, i);
		ck_assert_uint_eq(l->eax | l->ebx | l->ecx | l->edx, 0);
	}
}
END_TEST

START_TEST(mask_avx512f_only)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct cpu_feature_mask m;
	g_autofree char *err = parse_err("-avx512f", &m);
	struct kvm_cpuid_entry2 *l;

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, n, 0, 1, &m);
	l = find(e, n, 7, 0);
	ck_assert_uint_eq(l->ebx, L7B_AVX2 | L7B_SMEP);
	ck_assert(find(e, n, 1, 0)->ecx & L1C_AVX);
	ck_assert_uint_eq(find(e, n, 0xd, 0)->eax, 0x2e7); /* xsave kept */
}
END_TEST

START_TEST(mask_cx16_leaves_xsave)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct cpu_feature_mask m;
	g_autofree char *err = parse_err("-cx16,-hypervisor,-kvmclock", &m);
	struct kvm_cpuid_entry2 *l;

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, n, 1, 2, &m);
	l = find(e, n, 1, 0);
	ck_assert(!(l->ecx & L1C_CX16));
	ck_assert(l->ecx & L1C_XSAVE);
	ck_assert(l->ecx & L1C_AVX);
	/* The mask has the last word, even over the hypervisor bit */
	ck_assert(!(l->ecx & L1C_HYPERVISOR));
	ck_assert_uint_eq(find(e, n, 0xd, 1)->eax, 0xf);
	ck_assert_uint_eq(find(e, n, 0x40000001, 0)->eax, 0x01007afb & ~0x9U);
}
END_TEST

START_TEST(mask_xsaves_subleaf_only)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct cpu_feature_mask m;
	g_autofree char *err = parse_err("-xsaves,-xsavec", &m);

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, n, 0, 1, &m);
	ck_assert_uint_eq(find(e, n, 0xd, 1)->eax, 0x5);
	/* Subleaf 0 and 2 untouched: the index is significant */
	ck_assert_uint_eq(find(e, n, 0xd, 0)->eax, 0x2e7);
	ck_assert_uint_eq(find(e, n, 0xd, 2)->eax, 0x100);
}
END_TEST

START_TEST(missing_leaves_are_fine)
{
	/* A host without leaves 0xb, 0xd, 0x1f or KVM's: nothing breaks. */
	struct kvm_cpuid_entry2 e[2] = {
		{ .function = 0, .eax = 1 },
		{ .function = 1, .ecx = L1C_XSAVE | L1C_AVX },
	};
	struct cpu_feature_mask m;
	g_autofree char *err = parse_err("-xsave,-kvmclock,-avx512f", &m);

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, 2, 0, 4, &m);
	ck_assert_uint_eq(e[1].ecx, L1C_HYPERVISOR);
	cpuid_setup_vcpu(e, 0, 0, 4, &m);
}
END_TEST

START_TEST(mask_kept_none_when_kvm_obeys)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct cpu_feature_mask m;
	g_autofree char *err = parse_err("-cx16,-xsave,-kvmclock,-avx512f", &m);

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, n, 0, 1, &m);
	ck_assert_ptr_null(cpuid_mask_kept(e, n, &m));
}
END_TEST

/*
 * What kvm_pvm does: KVM_GET_CPUID2 after KVM_SET_CPUID2 has the host's
 * leaf 1 ECX back in, but for the bits KVM_GET_SUPPORTED_CPUID lists
 * (cx16 among them). Every removed feature the vCPU still has is named
 * once, in the order given, by its first name.
 */
START_TEST(mask_kept_names_what_kvm_put_back)
{
	struct kvm_cpuid_entry2 e[32];
	unsigned int n = supported(e);
	struct cpu_feature_mask m;
	g_autofree char *err =
		parse_err("-cx16,-xsave,-ssse3,-pni,-sse4.2,-kvmclock,-pku", &m);
	g_autofree char *kept = NULL;

	ck_assert_ptr_null(err);
	cpuid_setup_vcpu(e, n, 0, 1, &m);
	find(e, n, 1, 0)->ecx |= L1C_XSAVE | BIT(9) | BIT(0) | L1C_SSE42;
	find(e, n, 0x40000001, 0)->eax |= 0x9;
	kept = cpuid_mask_kept(e, n, &m);
	ck_assert_str_eq(kept, "xsave,ssse3,sse3,sse4.2,kvmclock");

	/* One of kvmclock's two bits is enough to keep it; a leaf KVM
	 * left out entirely keeps nothing. */
	g_clear_pointer(&kept, g_free);
	find(e, n, 1, 0)->ecx &= ~(L1C_XSAVE | BIT(9) | BIT(0) | L1C_SSE42);
	find(e, n, 0x40000001, 0)->eax &= ~0x1U;
	find(e, n, 7, 0)->function = 0x12345;
	kept = cpuid_mask_kept(e, n, &m);
	ck_assert_str_eq(kept, "kvmclock");
	g_clear_pointer(&kept, g_free);
	ck_assert_ptr_null(cpuid_mask_kept(e, 0, &m));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpuid");

	UNIT_TCASE(s, "parse", parse_removals, parse_aliases_and_keep,
		   parse_kvmclock_two_bits, parse_duplicates_once,
		   parse_required_names, parse_errors, parse_too_many,
		   parse_failure_leaves_mask);
	UNIT_TCASE(s, "setup", topology_and_ids, single_cpu,
		   mask_xsave_takes_dependents, mask_avx512f_only,
		   mask_cx16_leaves_xsave, mask_xsaves_subleaf_only,
		   missing_leaves_are_fine);
	UNIT_TCASE(s, "kept", mask_kept_none_when_kvm_obeys,
		   mask_kept_names_what_kvm_put_back);
	return unit_run(s);
}
