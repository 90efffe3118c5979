// SPDX-License-Identifier: MIT
/*
 * What tern hands a confidential guest and serves while it runs: the TD
 * HOB a TDX launch leaves the firmware (src/confidential/tdx_hob.c), the
 * SNP CPUID page, and (src/confidential/runtime.c) what the vCPU exit
 * path does with the
 * guest's page-state changes (KVM_HC_MAP_GPA_RANGE hypercall exits) and
 * private-memory faults (KVM_EXIT_MEMORY_FAULT). The exits are built by
 * hand here: no guest on these hosts can make them (there is no SNP, and
 * the hosts emulate guest ring 0, whose emulator turns VMMCALL into #UD),
 * so they are fed to conf_private_exit() as KVM would hand them over. The
 * memory attributes go to the ioctl double (test-confidential-fake.h);
 * the memory behind them is real: anonymous guest RAM from
 * guest_memory_init() and a memfd standing for the guest_memfd, so the
 * discards are seen in the bytes.
 */
#include <glib.h>
#include <linux/kvm_para.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/confidential_launch.h"
#include "tern/memory.h"
#include "unit.h"

#include "test-confidential-fake.h"

#define RAM_SIZE (16u << 20)
#define FLASH_GPA 0xffff0000ull
#define FLASH_SIZE 0x10000u
#define PAGE CONF_PAGE_SIZE

static uint32_t page_u32(const uint8_t *page, unsigned int entry,
			 unsigned int off)
{
	return le32_get(page + 16 + entry * 48 + off);
}

START_TEST(cpuid_page_layout)
{
	const struct kvm_cpuid_entry2 e[] = {
		/* Leaf 0 without a significant index: ecx_in stays 0. */
		{ .function = 0, .index = 5, .eax = 0x10, .ebx = 0x68747541,
		  .ecx = 0x444d4163, .edx = 0x69746e65 },
		{ .function = 0xd, .index = 0, .flags = 1, .eax = 0x207,
		  .ebx = 0x988, .ecx = 0x988 },
		{ .function = 0xd, .index = 1, .flags = 1, .eax = 0xf,
		  .ebx = 0x3c0 },
		{ .function = 0xd, .index = 2, .flags = 1, .eax = 0x100,
		  .ebx = 0x240 },
		{ .function = 7, .index = 0, .flags = 1, .ebx = 0x219c07ab },
	};
	struct kvm_cpuid_entry2 many[SNP_CPUID_MAX + 1] = { 0 };
	uint8_t page[PAGE];

	ck_assert_int_eq(snp_cpuid_page_fill(page, e, G_N_ELEMENTS(e)), 0);
	ck_assert_uint_eq(le32_get(page), 5);
	ck_assert_uint_eq(page_u32(page, 0, 0), 0);
	ck_assert_uint_eq(page_u32(page, 0, 4), 0);
	ck_assert_uint_eq(page_u32(page, 0, 24), 0x10);
	ck_assert_uint_eq(page_u32(page, 0, 28), 0x68747541);
	ck_assert_uint_eq(page_u32(page, 0, 32), 0x444d4163);
	ck_assert_uint_eq(page_u32(page, 0, 36), 0x69746e65);
	/* XSAVE sub-leaves 0 and 1: the sizes for XCR0 = 1 (x87). */
	for (unsigned int i = 1; i <= 2; i++) {
		ck_assert_uint_eq(page_u32(page, i, 0), 0xd);
		ck_assert_uint_eq(page_u32(page, i, 4), i - 1);
		ck_assert_uint_eq(le64_get(page + 16 + i * 48 + 8), 1);
		ck_assert_uint_eq(le64_get(page + 16 + i * 48 + 16), 0);
		ck_assert_uint_eq(page_u32(page, i, 28), 0x240);
	}
	ck_assert_uint_eq(page_u32(page, 1, 24), 0x207);
	ck_assert_uint_eq(page_u32(page, 1, 32), 0x988);
	/* A component sub-leaf is as KVM gave it. */
	ck_assert_uint_eq(page_u32(page, 3, 4), 2);
	ck_assert_uint_eq(le64_get(page + 16 + 3 * 48 + 8), 0);
	ck_assert_uint_eq(page_u32(page, 3, 24), 0x100);
	ck_assert_uint_eq(page_u32(page, 4, 0), 7);
	ck_assert_uint_eq(page_u32(page, 4, 28), 0x219c07ab);
	/* Nothing after the last entry. */
	for (unsigned int i = 16 + 5 * 48; i < PAGE; i++)
		ck_assert_uint_eq(page[i], 0);

	for (unsigned int i = 0; i < G_N_ELEMENTS(many); i++)
		many[i] = (struct kvm_cpuid_entry2){ .function = i, .edx = 1 };
	ck_assert_int_eq(snp_cpuid_page_fill(page, many, SNP_CPUID_MAX), 0);
	ck_assert_uint_eq(le32_get(page), SNP_CPUID_MAX);
	memset(page, 0xaa, sizeof(page));
	ck_assert_int_eq(snp_cpuid_page_fill(page, many, SNP_CPUID_MAX + 1),
			 -E2BIG);
	for (unsigned int i = 0; i < PAGE; i++)
		ck_assert_uint_eq(page[i], 0);
}
END_TEST

/* Register k of a leaf: EAX, EBX, ECX, EDX. */
static uint32_t *cpuid_reg(struct kvm_cpuid_entry2 *e, unsigned int k)
{
	uint32_t *regs[] = { &e->eax, &e->ebx, &e->ecx, &e->edx };

	return regs[k];
}

/*
 * KVM reports every leaf up to the maximum, most of them zero (75 on an
 * EPYC host, 25 not zero): the zero ones are left out, so the rest fit.
 */
START_TEST(cpuid_page_zero_leaves_left_out)
{
	/* 63 leaves with a value and the XSAVE one: a full page. */
	struct kvm_cpuid_entry2 e[3 * SNP_CPUID_MAX - 3] = { 0 };
	uint8_t page[PAGE];
	unsigned int n = 0;

	for (unsigned int i = 0; i < G_N_ELEMENTS(e); i++) {
		e[i].function = 0x80000000 + i;
		/* Every third leaf has a value, in one register or another. */
		if (i % 3 == 0)
			*cpuid_reg(&e[i], i / 3 % 4) = 0x100 + i;
	}
	/* XSAVE sub-leaf 1 zero from KVM still carries the XCR0 = 1 size. */
	e[1] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 1,
					  .flags = 1 };
	ck_assert_int_eq(snp_cpuid_page_fill(page, e, G_N_ELEMENTS(e)), 0);
	ck_assert_uint_eq(le32_get(page), SNP_CPUID_MAX);
	ck_assert_uint_eq(page_u32(page, n, 0), 0x80000000);
	ck_assert_uint_eq(page_u32(page, n, 24), 0x100);
	n++;
	ck_assert_uint_eq(page_u32(page, n, 0), 0xd);
	ck_assert_uint_eq(page_u32(page, n, 4), 1);
	ck_assert_uint_eq(page_u32(page, n, 28), 0x240);
	n++;
	for (unsigned int i = 3; i < G_N_ELEMENTS(e); i += 3, n++) {
		ck_assert_uint_eq(page_u32(page, n, 0), 0x80000000 + i);
		ck_assert_uint_eq(page_u32(page, n, 24 + 4 * (i / 3 % 4)),
				  0x100 + i);
	}
	ck_assert_uint_eq(n, le32_get(page));
}
END_TEST

static const struct {
	uint64_t args[3];
	int ret;
	uint64_t gpa, size;
	bool to_private;
} gpa_range_cases[] = {
	{ { 0x10000, 2, 0x10 }, 0, 0x10000, 0x2000, true },
	{ { 0x10000, 1, 0 }, 0, 0x10000, 0x1000, false },
	{ { 0x200000, 512, 0x11 }, 0, 0x200000, 0x200000, true }, /* 2M */
	{ { 0x10010, 1, 0x10 }, -EINVAL, 0, 0, false },
	{ { 0x10000, 0, 0x10 }, -EINVAL, 0, 0, false },
	{ { 0xfffffffffffff000ull, 2, 0 }, -EINVAL, 0, 0, false }, /* wraps */
	{ { 0x1000, 1ull << 60, 0 }, -EINVAL, 0, 0, false }, /* bytes overflow */
	{ { 0x10000, 1, 0x20 }, -EINVAL, 0, 0, false }, /* unknown attribute */
};

START_TEST(map_gpa_range_decode)
{
	struct conf_convert cv = { 0 };
	int ret = confidential_map_gpa_range_decode(gpa_range_cases[_i].args,
						    &cv);

	ck_assert_int_eq(ret, gpa_range_cases[_i].ret);
	if (ret)
		return;
	ck_assert_uint_eq(cv.gpa, gpa_range_cases[_i].gpa);
	ck_assert_uint_eq(cv.size, gpa_range_cases[_i].size);
	ck_assert_int_eq(cv.to_private, gpa_range_cases[_i].to_private);
}
END_TEST

START_TEST(memory_fault_decode)
{
	struct conf_kvm_memory_fault f = {
		.flags = CONF_KVM_MEMORY_EXIT_FLAG_PRIVATE,
		.gpa = 0x10010,
		.size = 8,
	};
	struct conf_convert cv;

	ck_assert_int_eq(confidential_memory_fault_decode(&f, &cv), 0);
	ck_assert_uint_eq(cv.gpa, 0x10000);
	ck_assert_uint_eq(cv.size, PAGE);
	ck_assert(cv.to_private);
	/* Across a page boundary: both pages. */
	f = (struct conf_kvm_memory_fault){ .gpa = 0x10ff8, .size = 16 };
	ck_assert_int_eq(confidential_memory_fault_decode(&f, &cv), 0);
	ck_assert_uint_eq(cv.gpa, 0x10000);
	ck_assert_uint_eq(cv.size, 2 * PAGE);
	ck_assert(!cv.to_private);
	f.size = 0;
	ck_assert_int_eq(confidential_memory_fault_decode(&f, &cv), -EINVAL);
	f = (struct conf_kvm_memory_fault){ .gpa = UINT64_MAX - 8,
					    .size = 16 };
	ck_assert_int_eq(confidential_memory_fault_decode(&f, &cv), -EINVAL);
}
END_TEST

/* An SNP guest's memory after its launch: RAM and the flash in
 * guest_memfd slots of the double. */
struct snp_vm {
	struct fake_kvm *f;
	struct guest_memory mem;
	uint8_t *flash;
	struct conf_private_mem pm;
	struct kvm_run run;
};

static void snp_vm_setup(struct snp_vm *v)
{
	memset(v, 0, sizeof(*v));
	v->f = fake_new(CONFIDENTIAL_SEV_SNP, 1);
	ck_assert_int_eq(guest_memory_init(&v->mem, RAM_SIZE), 0);
	ck_assert_uint_eq(v->mem.nr_regions, 1);
	v->flash = mmap(NULL, FLASH_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(v->flash, MAP_FAILED);
	v->pm.ops = &fake_ops;
	v->pm.opaque = v->f;
	v->pm.mem = &v->mem;
	ck_assert_int_eq(conf_private_bind(&v->pm, 0, 0, RAM_SIZE,
					   v->mem.regions[0].hva, true),
			 0);
	ck_assert_int_eq(conf_private_bind(&v->pm, 16, FLASH_GPA, FLASH_SIZE,
					   v->flash, false),
			 0);
	/* The double's guest_memfd numbers are not descriptors: real
	 * memfds stand for them, so a punched hole shows in the bytes. */
	for (unsigned int i = 0; i < v->pm.nr_bind; i++) {
		v->pm.bind[i].gmem_fd = memfd_create("gmem", MFD_CLOEXEC);
		ck_assert_int_ge(v->pm.bind[i].gmem_fd, 0);
		ck_assert_int_eq(ftruncate(v->pm.bind[i].gmem_fd,
					   (off_t)v->pm.bind[i].size),
				 0);
	}
	v->pm.running = true;
}

static void snp_vm_teardown(struct snp_vm *v)
{
	ck_assert_msg(!v->f->violations, "%s", v->f->first_violation);
	conf_private_close(&v->pm);
	munmap(v->flash, FLASH_SIZE);
	guest_memory_destroy(&v->mem);
	fake_free(v->f);
}

/* The guest's KVM_HC_MAP_GPA_RANGE as KVM hands it to the VMM. */
static int hypercall(struct snp_vm *v, uint64_t nr, uint64_t gpa,
		     uint64_t pages, uint64_t attrs)
{
	memset(&v->run, 0, sizeof(v->run));
	v->run.exit_reason = KVM_EXIT_HYPERCALL;
	v->run.hypercall.nr = nr;
	v->run.hypercall.args[0] = gpa;
	v->run.hypercall.args[1] = pages;
	v->run.hypercall.args[2] = attrs;
	v->run.hypercall.ret = 0x5a5a;
	return conf_private_exit(&v->pm, &v->run, 0);
}

static uint8_t gmem_byte(struct snp_vm *v, unsigned int b, uint64_t off)
{
	uint8_t c = 0xee;

	ck_assert_int_eq(pread(v->pm.bind[b].gmem_fd, &c, 1, (off_t)off), 1);
	return c;
}

START_TEST(page_state_change_double)
{
	struct snp_vm v;
	uint8_t *ram;
	uint8_t one = 0x77;

	snp_vm_setup(&v);
	ram = v.mem.regions[0].hva;
	memset(ram + 0x10000, 0x5a, 2 * PAGE);
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0x10000, 2,
				   CONF_KVM_MAP_GPA_RANGE_ENCRYPTED),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, 0);
	ck_assert(fake_range_private(v.f, 0x10000, 2 * PAGE));
	/* The shared pages it gave up are gone: they read as zeros. */
	ck_assert_uint_eq(ram[0x10000], 0);
	ck_assert_uint_eq(ram[0x11fff], 0);

	/* Back to shared: the private side gets a hole. */
	ck_assert_int_eq(pwrite(v.pm.bind[0].gmem_fd, &one, 1, 0x11000), 1);
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0x11000, 1, 0),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, 0);
	ck_assert(fake_range_private(v.f, 0x10000, PAGE));
	ck_assert(!fake_range_private(v.f, 0x11000, PAGE));
	ck_assert_uint_eq(gmem_byte(&v, 0, 0x11000), 0);

	/* The flash is not RAM: its shared side goes with madvise. */
	memset(v.flash + 0x2000, 0x33, PAGE);
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, FLASH_GPA + 0x2000,
				   1, CONF_KVM_MAP_GPA_RANGE_ENCRYPTED),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, 0);
	ck_assert(fake_range_private(v.f, FLASH_GPA + 0x2000, PAGE));
	ck_assert_uint_eq(v.flash[0x2000], 0);
	snp_vm_teardown(&v);
}
END_TEST

/* A guest's bad request is answered, never acted on, and never stops it. */
START_TEST(page_state_change_refused_double)
{
	struct snp_vm v;
	unsigned int calls;

	snp_vm_setup(&v);
	calls = v.f->n;
	/* Outside every guest_memfd slot (the MMIO hole). */
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0xc0000000, 1,
				   CONF_KVM_MAP_GPA_RANGE_ENCRYPTED),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_EINVAL);
	/* Running off the end of RAM. */
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, RAM_SIZE - PAGE,
				   2, 0),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_EINVAL);
	/* Across RAM and the flash in one request. */
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0x10000,
				   (FLASH_GPA - 0x10000) / PAGE + 1, 0),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_EINVAL);
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0x10800, 1, 0),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_EINVAL);
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0x10000, 1,
				   1ull << 63),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_EINVAL);
	/* A hypercall tern does not serve. */
	ck_assert_int_eq(hypercall(&v, KVM_HC_KICK_CPU, 0, 0, 0), 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_ENOSYS);
	/* None reached KVM's memory attributes. */
	ck_assert_uint_eq(v.f->n, calls);
	/* Before the launch finished, the launch owns the attributes. */
	v.pm.running = false;
	ck_assert_int_eq(hypercall(&v, KVM_HC_MAP_GPA_RANGE, 0x10000, 1, 0),
			 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_EINVAL);
	ck_assert_uint_eq(v.f->n, calls);
	/* Not a confidential VM: still answered. */
	memset(&v.run, 0, sizeof(v.run));
	v.run.exit_reason = KVM_EXIT_HYPERCALL;
	v.run.hypercall.nr = KVM_HC_MAP_GPA_RANGE;
	ck_assert_int_eq(conf_private_exit(NULL, &v.run, 0), 1);
	ck_assert_uint_eq(v.run.hypercall.ret, (uint64_t)-KVM_ENOSYS);
	snp_vm_teardown(&v);
}
END_TEST

/* KVM_RUN failed EFAULT with KVM_EXIT_MEMORY_FAULT. */
static int memory_fault(struct snp_vm *v, int err, uint64_t flags,
			uint64_t gpa, uint64_t size)
{
	struct conf_kvm_memory_fault f = { flags, gpa, size };

	memset(&v->run, 0, sizeof(v->run));
	v->run.exit_reason = CONF_KVM_EXIT_MEMORY_FAULT;
	memcpy((uint8_t *)&v->run + offsetof(struct kvm_run, hw), &f,
	       sizeof(f));
	return conf_private_exit(&v->pm, &v->run, err);
}

START_TEST(memory_fault_converts_double)
{
	struct snp_vm v;
	unsigned int calls;

	snp_vm_setup(&v);
	ck_assert_int_eq(memory_fault(&v, EFAULT,
				      CONF_KVM_MEMORY_EXIT_FLAG_PRIVATE,
				      0x20010, 8),
			 1);
	ck_assert(fake_range_private(v.f, 0x20000, PAGE));
	ck_assert(!fake_range_private(v.f, 0x21000, PAGE));
	ck_assert_int_eq(memory_fault(&v, EFAULT, 0, 0x20000, PAGE), 1);
	ck_assert(!fake_range_private(v.f, 0x20000, PAGE));
	calls = v.f->n;
	/* Not a memory fault: KVM_RUN's other failures are the caller's. */
	ck_assert_int_eq(memory_fault(&v, EINTR, 0, 0x20000, PAGE), 0);
	v.run.exit_reason = KVM_EXIT_MMIO;
	ck_assert_int_eq(conf_private_exit(&v.pm, &v.run, EFAULT), 0);
	ck_assert_int_eq(conf_private_exit(NULL, &v.run, EFAULT), 0);
	/* A fault outside any slot cannot be mended: the vCPU must stop. */
	ck_assert_int_eq(memory_fault(&v, EFAULT,
				      CONF_KVM_MEMORY_EXIT_FLAG_PRIVATE,
				      0xc0000000, 8),
			 -EINVAL);
	ck_assert_int_eq(memory_fault(&v, EFAULT, 0, 0x20000, 0), -EINVAL);
	ck_assert_uint_eq(v.f->n, calls);
	snp_vm_teardown(&v);
}
END_TEST

/* The TD HOB's resource descriptors, as (type, start, length). */
struct hob_res {
	uint32_t type;
	uint64_t start, len;
};

/* Walk a HOB list; the resource descriptors into res, their count. */
static unsigned int hob_walk(const uint8_t *buf, size_t used, uint64_t gpa,
			     struct hob_res *res, unsigned int max)
{
	unsigned int n = 0;
	size_t off = 56;

	ck_assert_uint_eq(le16_get(buf), 1); /* the hand-off table first */
	ck_assert_uint_eq(le16_get(buf + 2), 56);
	ck_assert_uint_eq(le32_get(buf + 8), 9); /* its version */
	ck_assert_uint_eq(le32_get(buf + 12), 0); /* boot mode */
	for (;;) {
		uint16_t type = le16_get(buf + off), len = le16_get(buf + off + 2);

		ck_assert_uint_eq(len % 8, 0);
		ck_assert_uint_eq(le32_get(buf + off + 4), 0);
		if (type == 0xffff) {
			ck_assert_uint_eq(len, 8);
			off += len;
			break;
		}
		ck_assert_uint_eq(type, 3);
		ck_assert_uint_eq(len, 48);
		ck_assert_uint_lt(n, max);
		for (unsigned int i = 8; i < 24; i++) /* owner GUID */
			ck_assert_uint_eq(buf[off + i], 0);
		res[n].type = le32_get(buf + off + 24);
		ck_assert_uint_eq(le32_get(buf + off + 28), 0x7);
		res[n].start = le64_get(buf + off + 32);
		res[n++].len = le64_get(buf + off + 40);
		off += len;
	}
	ck_assert_uint_eq(off, used);
	/* EfiEndOfHobList: just past the end HOB, in guest addresses. */
	ck_assert_uint_eq(le64_get(buf + 48), gpa + used);
	return n;
}

START_TEST(td_hob_layout)
{
	/* RAM below the 32-bit hole and above 4 GiB; the HOB and temporary
	 * memory inside the low part, the firmware outside RAM. */
	const struct conf_range ram[] = { { 0, 0xc0000000 },
					  { 0x100000000ull, 0x20000000 } };
	const struct conf_range added[] = { { 0x10000, 0x2000 },
					    { 0xffff0000, 0x10000 },
					    { 0x8000, 0x2000 } };
	const struct hob_res want[] = {
		{ 7, 0, 0x8000 },	   { 0, 0x8000, 0x2000 },
		{ 7, 0xa000, 0x6000 },	   { 0, 0x10000, 0x2000 },
		{ 7, 0x12000, 0xc0000000 - 0x12000 },
		{ 7, 0x100000000ull, 0x20000000 },
	};
	struct hob_res res[8];
	uint8_t buf[0x2000];
	ssize_t used;
	unsigned int n;

	memset(buf, 0xcc, sizeof(buf));
	used = tdx_hob_build(buf, sizeof(buf), 0x8000, ram, 2, added, 3);
	ck_assert_int_eq(used, 56 + 6 * 48 + 8);
	n = hob_walk(buf, (size_t)used, 0x8000, res, G_N_ELEMENTS(res));
	ck_assert_uint_eq(n, G_N_ELEMENTS(want));
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_uint_eq(res[i].type, want[i].type);
		ck_assert_uint_eq(res[i].start, want[i].start);
		ck_assert_uint_eq(res[i].len, want[i].len);
	}
	/* Added pages at the very start and end of RAM: no empty ranges. */
	{
		const struct conf_range r1[] = { { 0, 0x20000 } };
		const struct conf_range a1[] = { { 0x1f000, 0x1000 },
						 { 0, 0x1000 } };

		used = tdx_hob_build(buf, sizeof(buf), 0, r1, 1, a1, 2);
		n = hob_walk(buf, (size_t)used, 0, res, G_N_ELEMENTS(res));
		ck_assert_uint_eq(n, 3);
		ck_assert_uint_eq(res[0].type, 0);
		ck_assert_uint_eq(res[1].start, 0x1000);
		ck_assert_uint_eq(res[1].len, 0x1e000);
		ck_assert_uint_eq(res[2].type, 0);
	}
	/* No RAM at all: the hand-off table and the end. */
	used = tdx_hob_build(buf, sizeof(buf), 0x8000, ram, 0, added, 0);
	ck_assert_int_eq(used, 64);
	ck_assert_uint_eq(hob_walk(buf, 64, 0x8000, res, 1), 0);
}
END_TEST

START_TEST(td_hob_refuses)
{
	const struct conf_range ram[] = { { 0, 0x100000 } };
	const struct conf_range overlap[] = { { 0x8000, 0x2000 },
					      { 0x9000, 0x1000 } };
	uint8_t buf[4096];

	/* Too small for the hand-off table, or for the resources. */
	ck_assert_int_eq(tdx_hob_build(buf, 48, 0, ram, 1, NULL, 0), -ENOSPC);
	ck_assert_int_eq(tdx_hob_build(buf, 56 + 48, 0, ram, 1, overlap, 1),
			 -ENOSPC);
	ck_assert_int_eq(tdx_hob_build(buf, 56 + 48, 0, ram, 1, NULL, 0),
			 -ENOSPC); /* no room for the end */
	ck_assert_int_eq(tdx_hob_build(buf, sizeof(buf), 0, ram, 1, overlap, 2),
			 -EINVAL);
}
END_TEST

/* KVM_TDX_INIT_VM's CPUID: the vCPU's bits, within what is configurable. */
START_TEST(tdx_cpuid_configuration)
{
	const struct kvm_cpuid_entry2 caps[] = {
		{ .function = 1, .ecx = 0x1ff83203 },
		{ .function = 7, .index = 0, .flags = 1, .ebx = 0x219c07ab },
		{ .function = 0xd, .index = 1, .flags = 1, .eax = 0xf },
	};
	const struct kvm_cpuid_entry2 vm[] = {
		{ .function = 7, .index = 1, .flags = 1, .ebx = 0xffffffff },
		{ .function = 1, .eax = 0xa00f11, .ecx = 0xfffffffe,
		  .edx = 0x178bfbff },
		{ .function = 7, .index = 0, .flags = 1, .ebx = 0x0000ffff,
		  .ecx = 0x5 },
	};
	struct kvm_cpuid_entry2 out[G_N_ELEMENTS(caps)];

	memset(out, 0xaa, sizeof(out));
	ck_assert_uint_eq(tdx_cpuid_config(caps, 3, vm, 3, out), 2);
	ck_assert_uint_eq(out[0].function, 1);
	ck_assert_uint_eq(out[0].eax, 0); /* not configurable */
	ck_assert_uint_eq(out[0].ecx, 0x1ff83202);
	ck_assert_uint_eq(out[0].edx, 0);
	/* Leaf 7 sub-leaf 0, not the vCPU's sub-leaf 1. */
	ck_assert_uint_eq(out[1].function, 7);
	ck_assert_uint_eq(out[1].index, 0);
	ck_assert_uint_eq(out[1].flags, 1);
	ck_assert_uint_eq(out[1].ebx, 0x07ab);
	ck_assert_uint_eq(out[1].ecx, 0);
	/* No vCPU CPUID: nothing configured (the module's defaults). */
	ck_assert_uint_eq(tdx_cpuid_config(caps, 3, NULL, 0, out), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("confidential-run");
	TCase *tc;

	tc = tcase_create("pure");
	tcase_add_test(tc, td_hob_layout);
	tcase_add_test(tc, td_hob_refuses);
	tcase_add_test(tc, tdx_cpuid_configuration);
	tcase_add_test(tc, cpuid_page_layout);
	tcase_add_test(tc, cpuid_page_zero_leaves_left_out);
	tcase_add_loop_test(tc, map_gpa_range_decode, 0,
			    G_N_ELEMENTS(gpa_range_cases));
	tcase_add_test(tc, memory_fault_decode);
	suite_add_tcase(s, tc);
	UNIT_TCASE(s, "run-time-double", page_state_change_double,
		   page_state_change_refused_double,
		   memory_fault_converts_double);
	return unit_run(s);
}
