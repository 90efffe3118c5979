// SPDX-License-Identifier: MIT
/*
 * CPUID for vCPUs. KVM_GET_SUPPORTED_CPUID says what the host can offer;
 * here each vCPU gets its APIC id and the topology (one package, one thread
 * per core, ncpus cores), the hypervisor leaves, and then the user's mask:
 * nested KVM cannot emulate some instructions (cmpxchg16b, xrstor) in ring 0,
 * so guests must be told those features are absent.
 */
#include <string.h>

#include "tern/cpuid.h"
#include "tern/error.h"

enum { R_EAX, R_EBX, R_ECX, R_EDX };

#define FEAT(fn, idx, r, b) \
	{ .function = (fn), .index = (idx), .reg = (r), .bit = (b) }

/* The bits other code refers to by name. */
#define F_XSAVE FEAT(1, 0, R_ECX, 26)
#define F_OSXSAVE FEAT(1, 0, R_ECX, 27)
#define F_AVX FEAT(1, 0, R_ECX, 28)
#define F_FMA FEAT(1, 0, R_ECX, 12)
#define F_F16C FEAT(1, 0, R_ECX, 29)
#define F_AVX2 FEAT(7, 0, R_EBX, 5)
#define F_AVX512F FEAT(7, 0, R_EBX, 16)
#define F_PKU FEAT(7, 0, R_ECX, 3)
#define F_OSPKE FEAT(7, 0, R_ECX, 4)
#define F_XSAVEOPT FEAT(0xd, 1, R_EAX, 0)
#define F_XSAVEC FEAT(0xd, 1, R_EAX, 1)
#define F_XGETBV1 FEAT(0xd, 1, R_EAX, 2)
#define F_XSAVES FEAT(0xd, 1, R_EAX, 3)

#define CPUID_LEAF_KVM_SIGNATURE 0x40000000
#define CPUID_LEAF_KVM_FEATURES 0x40000001

struct cpuid_feature {
	const char *name;
	struct cpu_feature_bit bits[2];
	unsigned int nr_bits;
};

#define ONE(n, ...) { .name = (n), .bits = { __VA_ARGS__ }, .nr_bits = 1 }

/* QEMU's names (target/i386/cpu.c feature_word_info), '_' read as '-'. */
static const struct cpuid_feature cpuid_features[] = {
	/* leaf 1 ECX */
	ONE("sse3", FEAT(1, 0, R_ECX, 0)),
	ONE("pni", FEAT(1, 0, R_ECX, 0)),
	ONE("pclmulqdq", FEAT(1, 0, R_ECX, 1)),
	ONE("pclmuldq", FEAT(1, 0, R_ECX, 1)),
	ONE("monitor", FEAT(1, 0, R_ECX, 3)),
	ONE("vmx", FEAT(1, 0, R_ECX, 5)),
	ONE("ssse3", FEAT(1, 0, R_ECX, 9)),
	ONE("fma", F_FMA),
	ONE("cx16", FEAT(1, 0, R_ECX, 13)),
	ONE("pdcm", FEAT(1, 0, R_ECX, 15)),
	ONE("pcid", FEAT(1, 0, R_ECX, 17)),
	ONE("sse4.1", FEAT(1, 0, R_ECX, 19)),
	ONE("sse4-1", FEAT(1, 0, R_ECX, 19)),
	ONE("sse4.2", FEAT(1, 0, R_ECX, 20)),
	ONE("sse4-2", FEAT(1, 0, R_ECX, 20)),
	ONE("x2apic", FEAT(1, 0, R_ECX, 21)),
	ONE("movbe", FEAT(1, 0, R_ECX, 22)),
	ONE("popcnt", FEAT(1, 0, R_ECX, 23)),
	ONE("tsc-deadline", FEAT(1, 0, R_ECX, 24)),
	ONE("aes", FEAT(1, 0, R_ECX, 25)),
	ONE("xsave", F_XSAVE),
	ONE("osxsave", F_OSXSAVE),
	ONE("avx", F_AVX),
	ONE("f16c", F_F16C),
	ONE("rdrand", FEAT(1, 0, R_ECX, 30)),
	ONE("hypervisor", FEAT(1, 0, R_ECX, 31)),
	/* leaf 1 EDX */
	ONE("mtrr", FEAT(1, 0, R_EDX, 12)),
	ONE("pge", FEAT(1, 0, R_EDX, 13)),
	ONE("mca", FEAT(1, 0, R_EDX, 14)),
	ONE("mce", FEAT(1, 0, R_EDX, 7)),
	ONE("pat", FEAT(1, 0, R_EDX, 16)),
	ONE("pse36", FEAT(1, 0, R_EDX, 17)),
	ONE("clflush", FEAT(1, 0, R_EDX, 19)),
	ONE("ss", FEAT(1, 0, R_EDX, 27)),
	ONE("ht", FEAT(1, 0, R_EDX, 28)),
	/* leaf 7.0 EBX */
	ONE("fsgsbase", FEAT(7, 0, R_EBX, 0)),
	ONE("tsc-adjust", FEAT(7, 0, R_EBX, 1)),
	ONE("bmi1", FEAT(7, 0, R_EBX, 3)),
	ONE("hle", FEAT(7, 0, R_EBX, 4)),
	ONE("avx2", F_AVX2),
	ONE("smep", FEAT(7, 0, R_EBX, 7)),
	ONE("bmi2", FEAT(7, 0, R_EBX, 8)),
	ONE("erms", FEAT(7, 0, R_EBX, 9)),
	ONE("invpcid", FEAT(7, 0, R_EBX, 10)),
	ONE("rtm", FEAT(7, 0, R_EBX, 11)),
	ONE("mpx", FEAT(7, 0, R_EBX, 14)),
	ONE("avx512f", F_AVX512F),
	ONE("avx512dq", FEAT(7, 0, R_EBX, 17)),
	ONE("rdseed", FEAT(7, 0, R_EBX, 18)),
	ONE("adx", FEAT(7, 0, R_EBX, 19)),
	ONE("smap", FEAT(7, 0, R_EBX, 20)),
	ONE("avx512ifma", FEAT(7, 0, R_EBX, 21)),
	ONE("clflushopt", FEAT(7, 0, R_EBX, 23)),
	ONE("clwb", FEAT(7, 0, R_EBX, 24)),
	ONE("avx512pf", FEAT(7, 0, R_EBX, 26)),
	ONE("avx512er", FEAT(7, 0, R_EBX, 27)),
	ONE("avx512cd", FEAT(7, 0, R_EBX, 28)),
	ONE("sha-ni", FEAT(7, 0, R_EBX, 29)),
	ONE("avx512bw", FEAT(7, 0, R_EBX, 30)),
	ONE("avx512vl", FEAT(7, 0, R_EBX, 31)),
	/* leaf 7.0 ECX */
	ONE("avx512vbmi", FEAT(7, 0, R_ECX, 1)),
	ONE("umip", FEAT(7, 0, R_ECX, 2)),
	ONE("pku", F_PKU),
	ONE("ospke", F_OSPKE),
	ONE("waitpkg", FEAT(7, 0, R_ECX, 5)),
	ONE("avx512vbmi2", FEAT(7, 0, R_ECX, 6)),
	ONE("gfni", FEAT(7, 0, R_ECX, 8)),
	ONE("vaes", FEAT(7, 0, R_ECX, 9)),
	ONE("vpclmulqdq", FEAT(7, 0, R_ECX, 10)),
	ONE("avx512vnni", FEAT(7, 0, R_ECX, 11)),
	ONE("avx512bitalg", FEAT(7, 0, R_ECX, 12)),
	ONE("avx512-vpopcntdq", FEAT(7, 0, R_ECX, 14)),
	ONE("la57", FEAT(7, 0, R_ECX, 16)),
	ONE("rdpid", FEAT(7, 0, R_ECX, 22)),
	/* leaf 7.0 EDX */
	ONE("avx512-4vnniw", FEAT(7, 0, R_EDX, 2)),
	ONE("avx512-4fmaps", FEAT(7, 0, R_EDX, 3)),
	ONE("fsrm", FEAT(7, 0, R_EDX, 4)),
	ONE("md-clear", FEAT(7, 0, R_EDX, 10)),
	ONE("serialize", FEAT(7, 0, R_EDX, 14)),
	ONE("avx512-fp16", FEAT(7, 0, R_EDX, 23)),
	ONE("amx-bf16", FEAT(7, 0, R_EDX, 22)),
	ONE("amx-tile", FEAT(7, 0, R_EDX, 24)),
	ONE("amx-int8", FEAT(7, 0, R_EDX, 25)),
	ONE("spec-ctrl", FEAT(7, 0, R_EDX, 26)),
	ONE("stibp", FEAT(7, 0, R_EDX, 27)),
	ONE("arch-capabilities", FEAT(7, 0, R_EDX, 29)),
	ONE("core-capability", FEAT(7, 0, R_EDX, 30)),
	ONE("ssbd", FEAT(7, 0, R_EDX, 31)),
	/* leaf 7.1 EAX */
	ONE("avx-vnni", FEAT(7, 1, R_EAX, 4)),
	ONE("avx512-bf16", FEAT(7, 1, R_EAX, 5)),
	/* leaf 0xd.1 EAX */
	ONE("xsaveopt", F_XSAVEOPT),
	ONE("xsavec", F_XSAVEC),
	ONE("xgetbv1", F_XGETBV1),
	ONE("xsaves", F_XSAVES),
	/* leaf 0x80000001 ECX */
	ONE("lahf-lm", FEAT(0x80000001, 0, R_ECX, 0)),
	ONE("svm", FEAT(0x80000001, 0, R_ECX, 2)),
	ONE("abm", FEAT(0x80000001, 0, R_ECX, 5)),
	ONE("sse4a", FEAT(0x80000001, 0, R_ECX, 6)),
	ONE("3dnowprefetch", FEAT(0x80000001, 0, R_ECX, 8)),
	ONE("xop", FEAT(0x80000001, 0, R_ECX, 11)),
	ONE("fma4", FEAT(0x80000001, 0, R_ECX, 16)),
	ONE("tbm", FEAT(0x80000001, 0, R_ECX, 21)),
	ONE("topoext", FEAT(0x80000001, 0, R_ECX, 22)),
	/* leaf 0x80000001 EDX */
	ONE("nx", FEAT(0x80000001, 0, R_EDX, 20)),
	ONE("xd", FEAT(0x80000001, 0, R_EDX, 20)),
	ONE("pdpe1gb", FEAT(0x80000001, 0, R_EDX, 26)),
	ONE("rdtscp", FEAT(0x80000001, 0, R_EDX, 27)),
	/* leaf 0x80000007 EDX */
	ONE("invtsc", FEAT(0x80000007, 0, R_EDX, 8)),
	/* KVM leaf 0x40000001 EAX: QEMU's kvmclock is both clocksource MSRs. */
	{ .name = "kvmclock",
	  .bits = { FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 0),
		    FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 3) },
	  .nr_bits = 2 },
	ONE("kvm-nopiodelay", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 1)),
	ONE("kvm-mmu", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 2)),
	ONE("kvm-asyncpf", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 4)),
	ONE("kvm-steal-time", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 5)),
	ONE("kvm-pv-eoi", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 6)),
	ONE("kvm-pv-unhalt", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 7)),
	ONE("kvm-pv-tlb-flush", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 9)),
	ONE("kvm-pv-ipi", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 11)),
	ONE("kvm-poll-control", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 12)),
	ONE("kvm-pv-sched-yield", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 13)),
	ONE("kvm-asyncpf-int", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 14)),
	ONE("kvm-msi-ext-dest-id", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 15)),
	ONE("kvmclock-stable-bit", FEAT(CPUID_LEAF_KVM_FEATURES, 0, R_EAX, 24)),
};

/*
 * child needs parent: when parent is absent, so is child. After Linux's
 * arch/x86/kernel/cpu/cpuid-deps.c, plus f16c -> avx (VEX-encoded, so it
 * needs the AVX state). Removing xsave removes the whole AVX family.
 */
static const struct {
	struct cpu_feature_bit child;
	struct cpu_feature_bit parent;
} cpuid_deps[] = {
	{ F_OSXSAVE, F_XSAVE },
	{ F_XSAVEOPT, F_XSAVE },
	{ F_XSAVEC, F_XSAVE },
	{ F_XSAVES, F_XSAVE },
	{ F_XGETBV1, F_XSAVE },
	{ F_AVX, F_XSAVE },
	{ F_PKU, F_XSAVE },
	{ FEAT(7, 0, R_EDX, 22), F_XSAVE }, /* amx-bf16 */
	{ FEAT(7, 0, R_EDX, 24), F_XSAVE }, /* amx-tile */
	{ FEAT(7, 0, R_EDX, 25), F_XSAVE }, /* amx-int8 */
	{ F_OSPKE, F_PKU },
	{ F_FMA, F_AVX },
	{ F_F16C, F_AVX },
	{ F_AVX2, F_AVX },
	{ F_AVX512F, F_AVX },
	{ FEAT(7, 0, R_ECX, 9), F_AVX }, /* vaes */
	{ FEAT(7, 0, R_ECX, 10), F_AVX }, /* vpclmulqdq */
	{ FEAT(0x80000001, 0, R_ECX, 11), F_AVX }, /* xop */
	{ FEAT(0x80000001, 0, R_ECX, 16), F_AVX }, /* fma4 */
	{ FEAT(7, 1, R_EAX, 4), F_AVX2 }, /* avx-vnni */
	{ FEAT(7, 0, R_EBX, 17), F_AVX512F }, /* avx512dq */
	{ FEAT(7, 0, R_EBX, 21), F_AVX512F }, /* avx512ifma */
	{ FEAT(7, 0, R_EBX, 26), F_AVX512F }, /* avx512pf */
	{ FEAT(7, 0, R_EBX, 27), F_AVX512F }, /* avx512er */
	{ FEAT(7, 0, R_EBX, 28), F_AVX512F }, /* avx512cd */
	{ FEAT(7, 0, R_EBX, 30), F_AVX512F }, /* avx512bw */
	{ FEAT(7, 0, R_EBX, 31), F_AVX512F }, /* avx512vl */
	{ FEAT(7, 0, R_ECX, 1), F_AVX512F }, /* avx512vbmi */
	{ FEAT(7, 0, R_ECX, 6), F_AVX512F }, /* avx512vbmi2 */
	{ FEAT(7, 0, R_ECX, 11), F_AVX512F }, /* avx512vnni */
	{ FEAT(7, 0, R_ECX, 12), F_AVX512F }, /* avx512bitalg */
	{ FEAT(7, 0, R_ECX, 14), F_AVX512F }, /* avx512-vpopcntdq */
	{ FEAT(7, 0, R_EDX, 2), F_AVX512F }, /* avx512-4vnniw */
	{ FEAT(7, 0, R_EDX, 3), F_AVX512F }, /* avx512-4fmaps */
	{ FEAT(7, 0, R_EDX, 23), F_AVX512F }, /* avx512-fp16 */
	{ FEAT(7, 1, R_EAX, 5), F_AVX512F }, /* avx512-bf16 */
};

static const struct cpuid_feature *cpuid_feature_find(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(cpuid_features); i++)
		if (!strcmp(cpuid_features[i].name, name))
			return &cpuid_features[i];
	return NULL;
}

static bool feature_bit_equal(const struct cpu_feature_bit *a,
			      const struct cpu_feature_bit *b)
{
	return a->function == b->function && a->index == b->index &&
	       a->reg == b->reg && a->bit == b->bit;
}

bool cpuid_parse_features(const char *spec, struct cpu_feature_mask *mask,
			  GError **err)
{
	g_auto(GStrv) items = NULL;
	struct cpu_feature_mask m = { 0 };

	items = g_strsplit(spec, ",", -1);
	/* g_strsplit("") gives no items; "" is as empty as ",". */
	if (!items[0]) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "empty feature list");
		return false;
	}
	for (unsigned int i = 0; items[i]; i++) {
		const char *item = items[i];
		const struct cpuid_feature *feat;
		g_autofree char *name = NULL;
		bool remove = false;

		if (!*item) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "item %u is empty", i + 1);
			return false;
		}
		if (*item == '-' || *item == '+') {
			remove = *item == '-';
			item++;
		}
		if (!g_ascii_isalnum(*item)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "'%s': expected -name, +name or name",
				    items[i]);
			return false;
		}
		name = g_strdup(item);
		g_strdelimit(name, "_", '-');
		feat = cpuid_feature_find(name);
		if (!feat) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "unknown CPU feature '%s'", item);
			return false;
		}
		/*
		 * Keeping a feature is what happens anyway: KVM's supported
		 * set is the ceiling, and tern does not add what KVM lacks.
		 */
		if (!remove)
			continue;
		for (unsigned int b = 0; b < feat->nr_bits; b++) {
			bool dup = false;

			for (unsigned int j = 0; j < m.nr_clear; j++)
				dup |= feature_bit_equal(&m.clear[j],
							 &feat->bits[b]);
			if (dup)
				continue;
			if (m.nr_clear == CPU_FEATURE_MASK_MAX) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "'%s': too many features removed (at most %u CPUID bits)",
					    items[i], CPU_FEATURE_MASK_MAX);
				return false;
			}
			m.clear[m.nr_clear++] = feat->bits[b];
		}
	}
	*mask = m;
	return true;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, uint8_t reg)
{
	switch (reg) {
	case R_EAX:
		return &e->eax;
	case R_EBX:
		return &e->ebx;
	case R_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

/* Does entry e hold leaf function.index? */
static bool entry_is(const struct kvm_cpuid_entry2 *e, uint32_t function,
		     uint32_t index)
{
	if (e->function != function)
		return false;
	return !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index;
}

static struct kvm_cpuid_entry2 *entry_find(struct kvm_cpuid_entry2 *entries,
					   unsigned int nr, uint32_t function,
					   uint32_t index)
{
	for (unsigned int i = 0; i < nr; i++)
		if (entry_is(&entries[i], function, index))
			return &entries[i];
	return NULL;
}

static void feature_clear(struct kvm_cpuid_entry2 *entries, unsigned int nr,
			  const struct cpu_feature_bit *f)
{
	for (unsigned int i = 0; i < nr; i++)
		if (entry_is(&entries[i], f->function, f->index))
			*entry_reg(&entries[i], f->reg) &= ~(1U << f->bit);
}

/* Present means: its leaf exists and the bit is set. */
static bool feature_present(struct kvm_cpuid_entry2 *entries, unsigned int nr,
			    const struct cpu_feature_bit *f)
{
	struct kvm_cpuid_entry2 *e = entry_find(entries, nr, f->function,
						f->index);

	return e && (*entry_reg(e, f->reg) & (1U << f->bit));
}

/* Bits needed to number n things: the x2APIC id shift for n cores. */
static unsigned int order_base_2(unsigned int n)
{
	unsigned int order = 0;

	while ((1U << order) < n)
		order++;
	return order;
}

static void cpuid_topology_level(struct kvm_cpuid_entry2 *e,
				 unsigned int vcpu_id, unsigned int ncpus)
{
	/* Level 0 is SMT (one thread per core), level 1 the cores. */
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1 << 8) | e->index;
		break;
	case 1:
		e->eax = order_base_2(ncpus);
		e->ebx = ncpus;
		e->ecx = (2 << 8) | e->index;
		break;
	default:
		/* Level type 0: no more levels. */
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
	e->edx = vcpu_id;
}

void cpuid_setup_vcpu(struct kvm_cpuid_entry2 *entries, unsigned int nr,
		      unsigned int vcpu_id, unsigned int ncpus,
		      const struct cpu_feature_mask *mask)
{
	/* Leaf 1 and 4 fields are 8 and 6 bits wide. */
	uint32_t logical = MIN(ncpus, 255U);
	uint32_t cores_m1 = MIN(ncpus - 1, 63U);
	bool changed;

	for (unsigned int i = 0; i < nr; i++) {
		struct kvm_cpuid_entry2 *e = &entries[i];

		switch (e->function) {
		case 1:
			e->ebx &= 0x0000ffff;
			e->ebx |= (vcpu_id & 0xff) << 24;
			e->ebx |= logical << 16;
			if (ncpus > 1)
				e->edx |= 1U << 28; /* HTT: the count is valid */
			else
				e->edx &= ~(1U << 28);
			e->ecx |= 1U << 31; /* hypervisor */
			/* OSXSAVE stays as KVM says: it tracks CR4 at run time. */
			break;
		case 4: {
			uint32_t level = (e->eax >> 5) & 0x7;
			/* L1 and L2 belong to a core, L3 is shared by all. */
			uint32_t sharing = level >= 3 ? MIN(ncpus - 1, 0xfffU) : 0;

			if (!(e->eax & 0x1f))
				break; /* no cache at this index */
			e->eax &= 0x3fff;
			e->eax |= cores_m1 << 26;
			e->eax |= sharing << 14;
			break;
		}
		case 0xb:
		case 0x1f:
			cpuid_topology_level(e, vcpu_id, ncpus);
			break;
		case CPUID_LEAF_KVM_SIGNATURE:
			e->eax = CPUID_LEAF_KVM_FEATURES;
			memcpy(&e->ebx, "KVMK", 4);
			memcpy(&e->ecx, "VMKV", 4);
			memcpy(&e->edx, "M\0\0\0", 4);
			break;
		default:
			/* 0x40000001 keeps KVM's bits, kvmclock among them. */
			break;
		}
	}

	if (!mask)
		return;
	for (unsigned int i = 0; i < mask->nr_clear; i++)
		feature_clear(entries, nr, &mask->clear[i]);

	/* Chains are short (xsave -> avx -> avx512f -> ...): iterate to rest. */
	do {
		changed = false;
		for (size_t i = 0; i < G_N_ELEMENTS(cpuid_deps); i++) {
			if (feature_present(entries, nr, &cpuid_deps[i].parent) ||
			    !feature_present(entries, nr, &cpuid_deps[i].child))
				continue;
			feature_clear(entries, nr, &cpuid_deps[i].child);
			changed = true;
		}
	} while (changed);

	/* Without XSAVE the state-component leaf must describe nothing. */
	{
		const struct cpu_feature_bit xsave = F_XSAVE;

		if (entry_find(entries, nr, 1, 0) &&
		    !feature_present(entries, nr, &xsave)) {
			for (unsigned int i = 0; i < nr; i++) {
				if (entries[i].function != 0xd)
					continue;
				entries[i].eax = 0;
				entries[i].ebx = 0;
				entries[i].ecx = 0;
				entries[i].edx = 0;
			}
		}
	}
}

/* The first name the table gives bit f ("sse3" before "pni"). */
static const char *feature_bit_name(const struct cpu_feature_bit *f)
{
	for (size_t i = 0; i < G_N_ELEMENTS(cpuid_features); i++)
		for (unsigned int b = 0; b < cpuid_features[i].nr_bits; b++)
			if (feature_bit_equal(&cpuid_features[i].bits[b], f))
				return cpuid_features[i].name;
	return "?";
}

char *cpuid_mask_kept(struct kvm_cpuid_entry2 *entries, unsigned int nr,
		      const struct cpu_feature_mask *mask)
{
	g_autoptr(GString) kept = g_string_new(NULL);
	const char *last = NULL;

	for (unsigned int i = 0; i < mask->nr_clear; i++) {
		const char *name;

		if (!feature_present(entries, nr, &mask->clear[i]))
			continue;
		name = feature_bit_name(&mask->clear[i]);
		/* kvmclock's two bits are one name. */
		if (last && !strcmp(last, name))
			continue;
		g_string_append_printf(kept, "%s%s", kept->len ? "," : "",
				       name);
		last = name;
	}
	if (!kept->len)
		return NULL;
	return g_string_free(g_steal_pointer(&kept), false);
}
