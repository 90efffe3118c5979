// SPDX-License-Identifier: MIT
/*
 * x86_boot_load() into plain anonymous guest memory (no /dev/kvm), for a
 * hand-built PVH ELF and bzImage; then the register state for both entries.
 * Guest memory is read back at the specifications' offsets.
 */
#include <glib.h>
#include <string.h>

#include "tern/boot.h"
#include "tern/e820.h"
#include "tern/error.h"
#include "tern/layout.h"
#include "unit.h"
#include "x86-images.h"

#define MEM_SIZE (64 * MiB)
#define INITRD_LEN 10000

struct fixture {
	struct guest_memory mem;
	struct boot_config cfg;
	struct boot_entry entry;
	uint8_t *kernel;
	uint8_t *initrd;
	size_t kernel_len;
};

static void fixture_init(struct fixture *f, uint64_t mem_size, bool bzimage)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(guest_memory_init(&f->mem, mem_size), 0);
	if (bzimage)
		f->kernel = bzimage_build(&f->kernel_len);
	else
		f->kernel = elf_image_build(true, 8, NULL, &f->kernel_len);
	f->initrd = g_malloc(INITRD_LEN);
	for (unsigned int i = 0; i < INITRD_LEN; i++)
		f->initrd[i] = (uint8_t)(i ^ 0x5a);
	f->cfg = (struct boot_config){
		.kernel_name = "vmlinux",
		.kernel = f->kernel,
		.kernel_len = f->kernel_len,
		.initrd_name = "initrd.img",
		.cmdline = "console=ttyS0 quiet",
		.ncpus = 2,
	};
}

static void fixture_fini(struct fixture *f)
{
	guest_memory_destroy(&f->mem);
	g_free(f->kernel);
	g_free(f->initrd);
}

static void with_initrd(struct fixture *f)
{
	f->cfg.initrd = f->initrd;
	f->cfg.initrd_len = INITRD_LEN;
}

static uint8_t *gpa(struct fixture *f, uint64_t addr, uint64_t len)
{
	uint8_t *p = guest_memory_ptr(&f->mem, addr, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Load; on failure return the message (g_free it), on success NULL. */
static char *load_err(struct fixture *f)
{
	GError *err = NULL;
	char *msg;

	if (x86_boot_load(&f->mem, &f->cfg, &f->entry, &err)) {
		ck_assert_ptr_null(err);
		return NULL;
	}
	ck_assert_ptr_nonnull(err);
	ck_assert(err->domain == TERN_ERROR);
	msg = g_strdup(err->message);
	g_error_free(err);
	return msg;
}

#define ck_assert_load_ok(f)                                                   \
	do {                                                                   \
		g_autofree char *m_ = load_err(f);                             \
		ck_assert_msg(m_ == NULL, "load failed: %s", m_);              \
	} while (0)

#define ck_assert_load_fails(f, substr)                                        \
	do {                                                                   \
		g_autofree char *m_ = load_err(f);                             \
		ck_assert_msg(m_ != NULL, "load unexpectedly succeeded");      \
		ck_assert_msg(strstr(m_, substr) != NULL,                      \
			      "message '%s' lacks '%s'", m_, substr);          \
	} while (0)

static void check_mptable(struct fixture *f, unsigned int ncpus)
{
	const uint8_t *mpf = gpa(f, LAYOUT_EBDA_START, 16);
	const uint8_t *mpc = gpa(f, le32_get(mpf + 4), 44);
	uint8_t sum = 0;

	ck_assert(!memcmp(mpf, "_MP_", 4));
	ck_assert(!memcmp(mpc, "PCMP", 4));
	for (unsigned int i = 0; i < le16_get(mpc + 4); i++)
		sum += mpc[i];
	ck_assert_uint_eq(sum, 0);
	/* CPUs, ISA and PCI buses, IOAPIC, 16 ISA + 31 * 4 PCI interrupts, 2 LINTs */
	ck_assert_uint_eq(le16_get(mpc + 34), ncpus + 2 + 1 + 16 + 31 * 4 + 2);
}

/* The e820 map expected for a 64 MiB guest, in (addr, size, type) triples. */
static void check_e820_64m(const uint8_t *e, size_t stride, unsigned int n)
{
	static const uint64_t want[4][3] = {
		{ 0, 0x9fc00, E820_RAM },
		{ 0x9fc00, 0x60400, E820_RESERVED },
		{ 0x100000, MEM_SIZE - 0x100000, E820_RAM },
		{ 0xe0000000, 0x10000000, E820_RESERVED }, /* PCI ECAM */
	};

	ck_assert_uint_eq(n, 4);
	for (unsigned int i = 0; i < 4; i++, e += stride) {
		ck_assert_uint_eq(le64_get(e), want[i][0]);
		ck_assert_uint_eq(le64_get(e + 8), want[i][1]);
		ck_assert_uint_eq(le32_get(e + 16), want[i][2]);
	}
}

START_TEST(pvh_load)
{
	struct fixture f;
	const uint8_t *si, *seg, *mod;

	fixture_init(&f, MEM_SIZE, false);
	with_initrd(&f);
	/* Dirty memory: the loader must clear the bss itself. */
	memset(gpa(&f, IMG_PADDR, IMG_SEG_MEMSZ), 0xcc, IMG_SEG_MEMSZ);
	ck_assert_load_ok(&f);

	ck_assert(!f.entry.long_mode);
	ck_assert_uint_eq(f.entry.rip, IMG_ENTRY);
	ck_assert_uint_eq(f.entry.rbx, LAYOUT_PVH_INFO);
	ck_assert_uint_eq(f.entry.cr3, 0);

	seg = gpa(&f, IMG_PADDR, IMG_SEG_MEMSZ);
	ck_assert(!memcmp(seg, f.kernel + IMG_SEG_OFFSET, IMG_SEG_FILESZ));
	for (unsigned int i = IMG_SEG_FILESZ; i < IMG_SEG_MEMSZ; i++)
		ck_assert_uint_eq(seg[i], 0);

	si = gpa(&f, LAYOUT_PVH_INFO, 0x38);
	ck_assert_uint_eq(le32_get(si), 0x336ec578);
	ck_assert_uint_eq(le32_get(si + 4), 1); /* version */
	ck_assert_uint_eq(le32_get(si + 8), 0); /* flags */
	ck_assert_uint_eq(le32_get(si + 12), 1); /* nr_modules */
	ck_assert_uint_eq(le64_get(si + 0x18), LAYOUT_CMDLINE_START);
	ck_assert_uint_eq(le64_get(si + 0x20), LAYOUT_ACPI_START); /* rsdp */
	ck_assert_mem_eq(gpa(&f, LAYOUT_ACPI_START, 8), "RSD PTR ", 8);
	ck_assert_uint_eq(le64_get(si + 0x28), LAYOUT_PVH_MEMMAP);
	ck_assert_uint_eq(le32_get(si + 0x34), 0); /* reserved */
	ck_assert_str_eq((const char *)gpa(&f, LAYOUT_CMDLINE_START, 20),
			 "console=ttyS0 quiet");

	/* The module: at the top of RAM, page aligned, holding the initrd */
	mod = gpa(&f, le64_get(si + 0x10), 32);
	ck_assert_uint_eq(le64_get(mod), ALIGN_DOWN(MEM_SIZE - INITRD_LEN, 4096));
	ck_assert_uint_eq(le64_get(mod + 8), INITRD_LEN);
	ck_assert_uint_eq(le64_get(mod + 16), 0);
	ck_assert(!memcmp(gpa(&f, le64_get(mod), INITRD_LEN), f.initrd,
			  INITRD_LEN));

	/* The memory map (24-byte entries) */
	check_e820_64m(gpa(&f, LAYOUT_PVH_MEMMAP, 3 * 24), 24,
		       le32_get(si + 0x30));
	check_mptable(&f, 2);
	fixture_fini(&f);
}
END_TEST

START_TEST(pvh_without_initrd_or_cmdline)
{
	struct fixture f;
	const uint8_t *si;

	fixture_init(&f, MEM_SIZE, false);
	f.cfg.cmdline = NULL;
	f.cfg.ncpus = 1;
	ck_assert_load_ok(&f);
	si = gpa(&f, LAYOUT_PVH_INFO, 0x38);
	ck_assert_uint_eq(le32_get(si + 12), 0);
	ck_assert_uint_eq(le64_get(si + 0x10), 0);
	ck_assert_uint_eq(*gpa(&f, LAYOUT_CMDLINE_START, 1), 0);
	check_mptable(&f, 1);
	fixture_fini(&f);
}
END_TEST

START_TEST(pvh_segment_outside_memory)
{
	struct fixture f;
	struct elf_layout l;

	fixture_init(&f, MEM_SIZE, false);
	g_free(f.kernel);
	f.kernel = elf_image_build(true, 8, &l, &f.kernel_len);
	f.cfg.kernel = f.kernel;
	le64_put(f.kernel + elf_ph(&l, 0, l.p_paddr), 0x4000000 - 0x1000);
	le64_put(f.kernel + l.note_off + 16, 0x4000000 - 0x1000);
	ck_assert_load_fails(&f,
			     "kernel 'vmlinux': segment at 0x3fff000 (0x3000 bytes) lies outside guest memory (64 MiB)");
	/* Below 1 MiB is ours */
	le64_put(f.kernel + elf_ph(&l, 0, l.p_paddr), 0x8000);
	le64_put(f.kernel + l.note_off + 16, 0x8000);
	ck_assert_load_fails(&f, "overlaps the boot structures below 1 MiB");
	fixture_fini(&f);
}
END_TEST

START_TEST(pvh_initrd_does_not_fit)
{
	struct fixture f;

	fixture_init(&f, 2 * MiB, false);
	g_free(f.initrd);
	f.initrd = g_malloc0(MiB);
	f.cfg.initrd = f.initrd;
	f.cfg.initrd_len = MiB - 0x1000; /* the kernel's 0x3000 do not leave room */
	ck_assert_load_fails(&f,
			     "initrd 'initrd.img' (1044480 bytes) does not fit below 0x200000");
	f.cfg.initrd_len = MiB - 0x3000;
	ck_assert_load_ok(&f);
	fixture_fini(&f);
}
END_TEST

START_TEST(bzimage_load)
{
	struct fixture f;
	const uint8_t *bp;
	uint64_t initrd;
	const uint64_t *pml4, *pdpt, *pd;
	const uint64_t *gdt;

	fixture_init(&f, MEM_SIZE, true);
	with_initrd(&f);
	ck_assert_load_ok(&f);

	ck_assert(f.entry.long_mode);
	ck_assert_uint_eq(f.entry.rip, BZ_PREF_ADDRESS + 0x200);
	ck_assert_uint_eq(f.entry.rsi, LAYOUT_ZERO_PAGE);
	ck_assert_uint_eq(f.entry.cr3, LAYOUT_PML4_START);
	ck_assert_uint_eq(f.entry.rsp, LAYOUT_BOOT_STACK);

	/* The protected-mode kernel at its preferred address */
	ck_assert(!memcmp(gpa(&f, BZ_PREF_ADDRESS, BZ_KERNEL_SIZE),
			  f.kernel + BZ_SETUP_SIZE, BZ_KERNEL_SIZE));

	bp = gpa(&f, LAYOUT_ZERO_PAGE, 4096);
	ck_assert_uint_eq(bp[0x210], 0xff);
	ck_assert(bp[0x211] & 0x80);
	ck_assert_uint_eq(le16_get(bp + 0x1fa), 0xffff);
	ck_assert_uint_eq(le32_get(bp + 0x202), 0x53726448);
	ck_assert_uint_eq(le32_get(bp + 0x228), LAYOUT_CMDLINE_START);
	ck_assert_str_eq((const char *)gpa(&f, LAYOUT_CMDLINE_START, 20),
			 "console=ttyS0 quiet");

	/* initrd: top of RAM (below initrd_addr_max), above init_size */
	initrd = le32_get(bp + 0x218) | (uint64_t)le32_get(bp + 0x0c0) << 32;
	ck_assert_uint_eq(initrd, ALIGN_DOWN(MEM_SIZE - INITRD_LEN, 4096));
	ck_assert_uint_ge(initrd, BZ_PREF_ADDRESS + BZ_INIT_SIZE);
	ck_assert_uint_eq(le32_get(bp + 0x21c), INITRD_LEN);
	ck_assert(!memcmp(gpa(&f, initrd, INITRD_LEN), f.initrd, INITRD_LEN));

	check_e820_64m(bp + 0x2d0, 20, bp[0x1e8]);

	/* Identity map of 4 GiB in 2 MiB pages */
	pml4 = (const uint64_t *)gpa(&f, LAYOUT_PML4_START, 4096);
	pdpt = (const uint64_t *)gpa(&f, LAYOUT_PDPTE_START, 4096);
	pd = (const uint64_t *)gpa(&f, LAYOUT_PDE_START, 4 * 4096);
	ck_assert_uint_eq(pml4[0], LAYOUT_PDPTE_START | 3);
	ck_assert_uint_eq(pml4[1], 0);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_uint_eq(pdpt[i], (LAYOUT_PDE_START + i * 4096) | 3);
	ck_assert_uint_eq(pdpt[4], 0);
	for (unsigned int i = 0; i < 2048; i++)
		ck_assert_uint_eq(pd[i], (i * 2 * MiB) | 0x83);

	/* GDT: __BOOT_CS 0x10 64-bit code, __BOOT_DS 0x18 data */
	gdt = (const uint64_t *)gpa(&f, LAYOUT_GDT_START, 32);
	ck_assert_uint_eq(gdt[0], 0);
	ck_assert_uint_eq(gdt[1], 0);
	ck_assert_uint_eq(gdt[2], 0x00af9b000000ffffULL);
	ck_assert_uint_eq(gdt[3], 0x00cf93000000ffffULL);

	check_mptable(&f, 2);
	fixture_fini(&f);
}
END_TEST

START_TEST(bzimage_relocated_when_small)
{
	struct fixture f;

	/* 16 MiB cannot hold pref_address (16 MiB) + 4 MiB: go to 2 MiB. */
	fixture_init(&f, 16 * MiB, true);
	ck_assert_load_ok(&f);
	ck_assert_uint_eq(f.entry.rip, 2 * MiB + 0x200);
	ck_assert(!memcmp(gpa(&f, 2 * MiB, BZ_KERNEL_SIZE),
			  f.kernel + BZ_SETUP_SIZE, BZ_KERNEL_SIZE));
	fixture_fini(&f);
}
END_TEST

START_TEST(bzimage_memory_too_small)
{
	struct fixture f;

	fixture_init(&f, 4 * MiB, true);
	ck_assert_load_fails(&f,
			     "kernel 'vmlinux': memory too small for the kernel: it needs 0x400000 bytes at 0x1000000, guest memory is 4 MiB");
	/* Not relocatable: 1 MiB or nothing */
	f.kernel[0x234] = 0;
	ck_assert_load_fails(&f, "at 0x100000, guest memory is 4 MiB");
	fixture_fini(&f);
}
END_TEST

START_TEST(bzimage_cmdline_limits)
{
	struct fixture f;
	g_autofree char *line = g_malloc(LAYOUT_CMDLINE_MAX + 1);

	fixture_init(&f, MEM_SIZE, true);
	memset(line, 'x', BZ_CMDLINE_SIZE);
	line[BZ_CMDLINE_SIZE] = '\0';
	f.cfg.cmdline = line;
	ck_assert_load_ok(&f);
	line[BZ_CMDLINE_SIZE] = 'x';
	line[BZ_CMDLINE_SIZE + 1] = '\0';
	ck_assert_load_fails(&f, "command line is 2048 bytes, the kernel accepts at most 2047");
	/* Past what tern has room for, whatever the kernel says */
	memset(line, 'y', LAYOUT_CMDLINE_MAX);
	line[LAYOUT_CMDLINE_MAX] = '\0';
	ck_assert_load_fails(&f, "command line is 65536 bytes, at most 65535 fit");
	fixture_fini(&f);
}
END_TEST

START_TEST(bzimage_initrd_limits)
{
	struct fixture f;

	fixture_init(&f, MEM_SIZE, true);
	with_initrd(&f);
	/* initrd_addr_max below the kernel's end: nowhere to go */
	le32_put(f.kernel + 0x22c, 0x1000000);
	ck_assert_load_fails(&f,
			     "initrd 'initrd.img' (10000 bytes) does not fit below 0x1000001 (the kernel's initrd_addr_max) above the kernel, which ends at 0x1400000");
	/* initrd_addr_max caps the placement */
	le32_put(f.kernel + 0x22c, 0x2000000 - 1);
	ck_assert_load_ok(&f);
	ck_assert_uint_eq(le32_get(gpa(&f, LAYOUT_ZERO_PAGE, 4096) + 0x218),
			  ALIGN_DOWN(0x2000000 - INITRD_LEN, 4096));
	/* Empty initrd */
	f.cfg.initrd_len = 0;
	ck_assert_load_fails(&f, "initrd 'initrd.img' is empty");
	fixture_fini(&f);
}
END_TEST

START_TEST(corrupt_images)
{
	struct fixture f;
	struct elf_layout l;

	fixture_init(&f, MEM_SIZE, true);
	/* bzImage errors come back prefixed with the kernel's name */
	le16_put(f.kernel + 0x206, 0x0204);
	ck_assert_load_fails(&f, "kernel 'vmlinux': bzImage boot protocol 2.04 is too old");
	f.cfg.kernel_len = 0x300;
	ck_assert_load_fails(&f, "kernel 'vmlinux': ");
	g_free(f.kernel);

	/* ELF: truncated, no note */
	f.kernel = elf_image_build(true, 8, &l, &f.kernel_len);
	f.cfg.kernel = f.kernel;
	f.cfg.kernel_len = 0x100;
	ck_assert_load_fails(&f, "kernel 'vmlinux': ELF program header 0: segment extends past end of file");
	f.cfg.kernel_len = f.kernel_len;
	le32_put(f.kernel + elf_ph(&l, 1, 0), 0); /* PT_NOTE -> PT_NULL */
	le32_put(f.kernel + l.shoff + l.shentsize + 4, 1); /* -> SHT_PROGBITS */
	ck_assert_load_fails(&f, "kernel 'vmlinux': no XEN_ELFNOTE_PHYS32_ENTRY note");

	/* Neither format */
	memset(f.kernel, 0, 0x300);
	ck_assert_load_fails(&f, "kernel 'vmlinux': not a PVH ELF or a bzImage");
	f.cfg.kernel_len = 0;
	ck_assert_load_fails(&f, "kernel 'vmlinux' is empty");
	fixture_fini(&f);
}
END_TEST

START_TEST(bad_machine)
{
	struct fixture f;

	fixture_init(&f, 512 * KiB, false);
	ck_assert_load_fails(&f, "guest memory (512 KiB) is too small: the boot structures need the first 1 MiB");
	fixture_fini(&f);

	fixture_init(&f, MEM_SIZE, false);
	f.cfg.ncpus = 0;
	ck_assert_load_fails(&f, "0 vCPUs: the MP table lists 1 to 254");
	f.cfg.ncpus = 255;
	ck_assert_load_fails(&f, "255 vCPUs");
	f.cfg.ncpus = 254;
	ck_assert_load_ok(&f);
	check_mptable(&f, 254);
	fixture_fini(&f);
}
END_TEST

/* Decode a GDT descriptor the way the CPU would load it. */
static void ck_segment_matches(uint64_t desc, const struct kvm_segment *s)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));

	ck_assert_uint_eq(s->base, ((desc >> 16) & 0xffffff) |
					   ((desc >> 32) & 0xff000000));
	if ((desc >> 55) & 1)
		limit = limit << 12 | 0xfff;
	ck_assert_uint_eq(s->limit, limit);
	ck_assert_uint_eq(s->type, (desc >> 40) & 0xf);
	ck_assert_uint_eq(s->s, (desc >> 44) & 1);
	ck_assert_uint_eq(s->dpl, (desc >> 45) & 3);
	ck_assert_uint_eq(s->present, (desc >> 47) & 1);
	ck_assert_uint_eq(s->l, (desc >> 53) & 1);
	ck_assert_uint_eq(s->db, (desc >> 54) & 1);
	ck_assert_uint_eq(s->g, (desc >> 55) & 1);
	ck_assert_uint_eq(s->unusable, 0);
}

START_TEST(regs_pvh)
{
	struct fixture f;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	const uint64_t *gdt;

	fixture_init(&f, MEM_SIZE, false);
	ck_assert_load_ok(&f);
	memset(&regs, 0xff, sizeof(regs));
	x86_boot_setup_regs(&f.entry, &regs);
	ck_assert_uint_eq(regs.rflags, 2);
	ck_assert_uint_eq(regs.rip, IMG_ENTRY);
	ck_assert_uint_eq(regs.rbx, LAYOUT_PVH_INFO);
	ck_assert_uint_eq(regs.rax, 0);

	memset(&sregs, 0, sizeof(sregs));
	sregs.cr0 = 0x60000010; /* KVM's reset value: CD, NW, ET */
	x86_boot_setup_sregs(&f.entry, &sregs);
	ck_assert_uint_eq(sregs.cr0, 0x11);
	ck_assert_uint_eq(sregs.cr4, 0);
	ck_assert_uint_eq(sregs.efer, 0);
	ck_assert_uint_eq(sregs.cs.selector, 0x10);
	ck_assert_uint_eq(sregs.cs.base, 0);
	ck_assert_uint_eq(sregs.cs.limit, 0xffffffff);
	ck_assert_uint_eq(sregs.cs.type, 0xb);
	ck_assert_uint_eq(sregs.cs.db, 1);
	ck_assert_uint_eq(sregs.cs.l, 0);
	ck_assert_uint_eq(sregs.ds.selector, 0x18);
	ck_assert_uint_eq(sregs.ds.type, 0x3);
	ck_assert_uint_eq(sregs.ss.selector, 0x18);
	ck_assert_uint_eq(sregs.tr.type, 0xb);
	ck_assert_uint_eq(sregs.tr.base, 0);
	ck_assert_uint_eq(sregs.tr.limit, 0x67);
	ck_assert_uint_eq(sregs.tr.present, 1);
	ck_assert_uint_eq(sregs.tr.s, 0);
	ck_assert_uint_eq(sregs.gdt.base, LAYOUT_GDT_START);
	ck_assert_uint_eq(sregs.gdt.limit, 31);

	/* What is in memory is what the segment registers hold */
	gdt = (const uint64_t *)gpa(&f, LAYOUT_GDT_START, 32);
	ck_segment_matches(gdt[2], &sregs.cs);
	ck_segment_matches(gdt[3], &sregs.ds);
	ck_segment_matches(gdt[3], &sregs.es);
	ck_segment_matches(gdt[3], &sregs.fs);
	ck_segment_matches(gdt[3], &sregs.gs);
	ck_segment_matches(gdt[3], &sregs.ss);
	fixture_fini(&f);
}
END_TEST

START_TEST(regs_long_mode)
{
	struct fixture f;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	const uint64_t *gdt;

	fixture_init(&f, MEM_SIZE, true);
	ck_assert_load_ok(&f);
	x86_boot_setup_regs(&f.entry, &regs);
	ck_assert_uint_eq(regs.rflags, 2);
	ck_assert_uint_eq(regs.rip, BZ_PREF_ADDRESS + 0x200);
	ck_assert_uint_eq(regs.rsi, LAYOUT_ZERO_PAGE);
	ck_assert_uint_eq(regs.rsp, LAYOUT_BOOT_STACK);

	memset(&sregs, 0, sizeof(sregs));
	x86_boot_setup_sregs(&f.entry, &sregs);
	ck_assert_uint_eq(sregs.cr0, 0x80000011);
	ck_assert_uint_eq(sregs.cr3, LAYOUT_PML4_START);
	ck_assert_uint_eq(sregs.cr4, 0x20);
	ck_assert_uint_eq(sregs.efer, 0x500);
	ck_assert_uint_eq(sregs.cs.selector, 0x10);
	ck_assert_uint_eq(sregs.cs.l, 1);
	ck_assert_uint_eq(sregs.cs.db, 0);
	ck_assert_uint_eq(sregs.ds.selector, 0x18);
	ck_assert_uint_eq(sregs.idt.base, LAYOUT_IDT_START);
	ck_assert_uint_eq(sregs.idt.limit, 0);
	ck_assert_uint_eq(sregs.tr.type, 0xb);
	gdt = (const uint64_t *)gpa(&f, LAYOUT_GDT_START, 32);
	ck_segment_matches(gdt[2], &sregs.cs);
	ck_segment_matches(gdt[3], &sregs.ss);
	fixture_fini(&f);
}
END_TEST

START_TEST(default_msrs)
{
	struct kvm_msr_entry e[16];
	unsigned int n = x86_default_msrs(e, 16);
	bool misc = false, mtrr = false, star = false;

	ck_assert_uint_eq(n, 10);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_uint_ne(e[i].index, 0x10); /* TSC left alone */
		if (e[i].index == 0x1a0) {
			ck_assert_uint_eq(e[i].data, 1);
			misc = true;
		} else if (e[i].index == 0x2ff) {
			ck_assert_uint_eq(e[i].data, 0x806);
			mtrr = true;
		} else {
			ck_assert_uint_eq(e[i].data, 0);
			star |= e[i].index == 0xc0000081;
		}
	}
	ck_assert(misc && mtrr && star);
	ck_assert_uint_eq(x86_default_msrs(e, 3), 3);
	ck_assert_uint_eq(x86_default_msrs(e, 0), 0);
}
END_TEST

START_TEST(lapic_lint)
{
	struct kvm_lapic_state lapic;

	memset(&lapic, 0, sizeof(lapic));
	/* KVM's reset state for an AP: both masked, fixed mode */
	le32_put((uint8_t *)lapic.regs + 0x350, 0x10000);
	le32_put((uint8_t *)lapic.regs + 0x360, 0x10000);
	le32_put((uint8_t *)lapic.regs + 0x340, 0x12345678);
	x86_setup_lapic(&lapic);
	ck_assert_uint_eq(le32_get((uint8_t *)lapic.regs + 0x350), 0x10700);
	ck_assert_uint_eq(le32_get((uint8_t *)lapic.regs + 0x360), 0x10400);
	ck_assert_uint_eq(le32_get((uint8_t *)lapic.regs + 0x340), 0x12345678);
	/* The BSP's LINT0 arrives unmasked ExtINT and stays so */
	le32_put((uint8_t *)lapic.regs + 0x350, 0x700);
	x86_setup_lapic(&lapic);
	ck_assert_uint_eq(le32_get((uint8_t *)lapic.regs + 0x350), 0x700);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot");

	UNIT_TCASE(s, "pvh", pvh_load, pvh_without_initrd_or_cmdline,
		   pvh_segment_outside_memory, pvh_initrd_does_not_fit);
	UNIT_TCASE(s, "bzimage", bzimage_load, bzimage_relocated_when_small,
		   bzimage_memory_too_small, bzimage_cmdline_limits,
		   bzimage_initrd_limits);
	UNIT_TCASE(s, "errors", corrupt_images, bad_machine);
	UNIT_TCASE(s, "regs", regs_pvh, regs_long_mode, default_msrs,
		   lapic_lint);
	return unit_run(s);
}
