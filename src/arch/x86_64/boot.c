// SPDX-License-Identifier: MIT
/*
 * Putting a kernel into guest memory with everything it needs to start:
 * its segments or protected-mode code, the initrd, the command line, the
 * boot structures (hvm_start_info or the zero page, e820), the boot GDT,
 * identity page tables for a 64-bit entry, and the MP table. The fixed
 * addresses all come from layout.h; below 1 MiB belongs to tern, the
 * kernel goes above it and the initrd above the kernel.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "tern/acpi.h"
#include "tern/boot.h"
#include "tern/bootparam.h"
#include "tern/e820.h"
#include "tern/error.h"
#include "tern/layout.h"
#include "tern/mptable.h"

#include "arch.h"

#define PAGE_SIZE_4K 0x1000ULL
#define PAGE_SIZE_2M (2ULL * MiB)
#define PTE_PRESENT (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7) /* a 2 MiB page in a PDE */
#define PT_ENTRIES 512

#define PVH_MODLIST_ADDR (LAYOUT_PVH_INFO + sizeof(struct hvm_start_info))
#define IDT_BYTES 16 /* one zero gate: the limit of 0 covers less */
#define IDENTITY_PDE_PAGES (LAYOUT_IDENTITY_MAP_SIZE / GiB)
/*
 * The MP table starts at the EBDA, where guests scan for its floating
 * pointer, and may run on into the reserved hole up to the ACPI tables:
 * LAYOUT's 1 KiB only holds 40 processor entries and we allow
 * MPTABLE_MAX_CPUS.
 */
#define MPTABLE_ROOM (LAYOUT_ACPI_START - LAYOUT_EBDA_START)
_Static_assert(LAYOUT_ACPI_START + LAYOUT_ACPI_MAX <= LAYOUT_HIGHMEM_START,
	       "ACPI tables run into the kernel");

/* The fixed structures below 1 MiB must not run into one another. */
_Static_assert(LAYOUT_GDT_START + X86_GDT_ENTRIES * 8 <= LAYOUT_IDT_START,
	       "GDT runs into IDT");
_Static_assert(LAYOUT_IDT_START + IDT_BYTES <= LAYOUT_PVH_INFO,
	       "IDT runs into hvm_start_info");
_Static_assert(PVH_MODLIST_ADDR % 8 == 0, "module list alignment");
_Static_assert(PVH_MODLIST_ADDR + sizeof(struct hvm_modlist_entry) <=
		       LAYOUT_PVH_MEMMAP,
	       "module list runs into the PVH memory map");
_Static_assert(LAYOUT_PVH_MEMMAP +
			       E820_MAX_ENTRIES *
				       sizeof(struct hvm_memmap_table_entry) <=
		       LAYOUT_ZERO_PAGE,
	       "PVH memory map runs into the zero page");
_Static_assert(LAYOUT_ZERO_PAGE + sizeof(struct boot_params) <=
		       LAYOUT_BOOT_STACK - 0x800,
	       "the boot stack has less than 2 KiB above the zero page");
_Static_assert(LAYOUT_BOOT_STACK < LAYOUT_PML4_START, "stack in page tables");
_Static_assert(LAYOUT_PML4_START + PAGE_SIZE_4K <= LAYOUT_PDPTE_START &&
		       LAYOUT_PDPTE_START + PAGE_SIZE_4K <= LAYOUT_PDE_START,
	       "page tables overlap");
_Static_assert(LAYOUT_PDE_START + IDENTITY_PDE_PAGES * PAGE_SIZE_4K <=
		       LAYOUT_CMDLINE_START,
	       "page directories run into the command line");
_Static_assert(LAYOUT_CMDLINE_START + LAYOUT_CMDLINE_MAX <= LAYOUT_EBDA_START,
	       "command line runs into the EBDA");
_Static_assert(LAYOUT_IDENTITY_MAP_SIZE <= 512 * GiB,
	       "identity map needs more than one PDPT");

struct boot_ctx {
	const struct guest_memory *mem;
	const struct boot_config *cfg;
	const char *kernel_name;
	const char *initrd_name;
	const char *cmdline;
	size_t cmdline_len; /* without the NUL */
	uint64_t low_end; /* end of the RAM that starts at 0, below the hole */
};

static char *mem_size_str(uint64_t bytes)
{
	if (bytes % MiB == 0)
		return g_strdup_printf("%" PRIu64 " MiB", (uint64_t)(bytes / MiB));
	return g_strdup_printf("%" PRIu64 " KiB", (uint64_t)(bytes / KiB));
}

/*
 * Writes below 1 MiB were checked up front; one failing is tern's bug,
 * not the user's input.
 */
static bool boot_write(const struct boot_ctx *ctx, uint64_t gpa,
		       const void *src, uint64_t len, const char *what,
		       GError **err)
{
	if (guest_memory_write(ctx->mem, gpa, src, len)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "cannot write the %s at 0x%" PRIx64 " (0x%" PRIx64
			    " bytes) to guest memory",
			    what, gpa, len);
		return false;
	}
	return true;
}

static bool boot_write_cmdline(const struct boot_ctx *ctx, GError **err)
{
	return boot_write(ctx, LAYOUT_CMDLINE_START, ctx->cmdline,
			  ctx->cmdline_len + 1, "command line", err);
}

static bool boot_write_gdt(const struct boot_ctx *ctx, bool long_mode,
			   GError **err)
{
	uint64_t gdt[X86_GDT_ENTRIES];
	uint8_t idt[IDT_BYTES] = { 0 };

	x86_boot_gdt_fill(long_mode, gdt);
	return boot_write(ctx, LAYOUT_GDT_START, gdt, sizeof(gdt), "boot GDT",
			  err) &&
	       boot_write(ctx, LAYOUT_IDT_START, idt, sizeof(idt), "boot IDT",
			  err);
}

/* The MP table and the ACPI tables, both in the reserved hole below 1 MiB. */
static bool boot_write_platform_tables(const struct boot_ctx *ctx, GError **err)
{
	uint8_t *mp = guest_memory_ptr(ctx->mem, LAYOUT_EBDA_START, MPTABLE_ROOM);
	uint8_t *acpi = guest_memory_ptr(ctx->mem, LAYOUT_ACPI_START,
					 LAYOUT_ACPI_MAX);
	const struct acpi_platform platform = {
		.ncpus = ctx->cfg->ncpus,
		.pci_mmio64_start = layout_pci_mmio64_start(ctx->mem->end),
	};
	int ret;

	if (!mp || !acpi) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "the firmware table area 0x%llx-0x%llx is not guest RAM",
			    LAYOUT_EBDA_START, LAYOUT_HIGHMEM_START);
		return false;
	}
	ret = mptable_build(mp, MPTABLE_ROOM, LAYOUT_EBDA_START, ctx->cfg->ncpus);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "cannot build the MP table for %u vCPUs: %s",
			    ctx->cfg->ncpus, g_strerror(-ret));
		return false;
	}
	ret = acpi_build(acpi, LAYOUT_ACPI_MAX, LAYOUT_ACPI_START, &platform);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "cannot build the ACPI tables for %u vCPUs: %s",
			    ctx->cfg->ncpus, g_strerror(-ret));
		return false;
	}
	return true;
}

/* 2 MiB pages identity-mapping LAYOUT_IDENTITY_MAP_SIZE, hole included. */
static bool boot_write_page_tables(const struct boot_ctx *ctx, GError **err)
{
	uint64_t *pml4 = guest_memory_ptr(ctx->mem, LAYOUT_PML4_START,
					  PAGE_SIZE_4K);
	uint64_t *pdpt = guest_memory_ptr(ctx->mem, LAYOUT_PDPTE_START,
					  PAGE_SIZE_4K);
	uint64_t *pd = guest_memory_ptr(ctx->mem, LAYOUT_PDE_START,
					IDENTITY_PDE_PAGES * PAGE_SIZE_4K);

	if (!pml4 || !pdpt || !pd) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "the boot page tables at 0x%llx are not guest RAM",
			    LAYOUT_PML4_START);
		return false;
	}
	memset(pml4, 0, PAGE_SIZE_4K);
	memset(pdpt, 0, PAGE_SIZE_4K);
	pml4[0] = LAYOUT_PDPTE_START | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < IDENTITY_PDE_PAGES; i++)
		pdpt[i] = (LAYOUT_PDE_START + i * PAGE_SIZE_4K) | PTE_PRESENT |
			  PTE_RW;
	for (uint64_t i = 0; i < IDENTITY_PDE_PAGES * PT_ENTRIES; i++)
		pd[i] = (i * PAGE_SIZE_2M) | PTE_PRESENT | PTE_RW | PTE_PS;
	return true;
}

/*
 * Put the initrd as high as it goes below top, page aligned, and no lower
 * than floor (the kernel's end). Kernels free the initrd late, so high
 * keeps it out of the way of early allocations.
 */
static bool boot_load_initrd(const struct boot_ctx *ctx, uint64_t top,
			     const char *top_what, uint64_t floor,
			     uint64_t *addr, GError **err)
{
	const struct boot_config *cfg = ctx->cfg;
	uint64_t len = cfg->initrd_len;
	uint64_t base = ALIGN_UP(floor, PAGE_SIZE_4K);

	if (!len) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "initrd '%s' is empty", ctx->initrd_name);
		return false;
	}
	if (len > top || ALIGN_DOWN(top - len, PAGE_SIZE_4K) < base) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "initrd '%s' (%" PRIu64
			    " bytes) does not fit below 0x%" PRIx64
			    " (%s) above the kernel, which ends at 0x%" PRIx64,
			    ctx->initrd_name, len, top, top_what, floor);
		return false;
	}
	*addr = ALIGN_DOWN(top - len, PAGE_SIZE_4K);
	return boot_write(ctx, *addr, cfg->initrd, len, "initrd", err);
}

static bool boot_load_pvh(const struct boot_ctx *ctx,
			  struct boot_entry *entry, GError **err)
{
	const struct guest_memory *mem = ctx->mem;
	const struct boot_config *cfg = ctx->cfg;
	struct pvh_image img;
	struct hvm_start_info si = { 0 };
	struct hvm_modlist_entry mod = { 0 };
	struct e820_entry e820[E820_MAX_ENTRIES];
	struct hvm_memmap_table_entry memmap[E820_MAX_ENTRIES] = { 0 };
	unsigned int nr_e820;

	if (!pvh_elf_parse(cfg->kernel, cfg->kernel_len, &img, err)) {
		g_prefix_error(err, "kernel '%s': ", ctx->kernel_name);
		return false;
	}
	/* Check every segment before writing any. */
	for (unsigned int i = 0; i < img.nr_segs; i++) {
		const struct elf_load_segment *s = &img.segs[i];

		if (s->paddr < LAYOUT_HIGHMEM_START) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "kernel '%s': segment at 0x%" PRIx64
				    " (0x%" PRIx64
				    " bytes) overlaps the boot structures below 1 MiB",
				    ctx->kernel_name, s->paddr, s->memsz);
			return false;
		}
		if (!guest_memory_contains(mem, s->paddr, s->memsz)) {
			g_autofree char *size = mem_size_str(mem->ram_size);

			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "kernel '%s': segment at 0x%" PRIx64
				    " (0x%" PRIx64
				    " bytes) lies outside guest memory (%s)",
				    ctx->kernel_name, s->paddr, s->memsz, size);
			return false;
		}
	}
	for (unsigned int i = 0; i < img.nr_segs; i++) {
		const struct elf_load_segment *s = &img.segs[i];
		uint8_t *p = guest_memory_ptr(mem, s->paddr, s->memsz);

		if (!p) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
				    "segment at 0x%" PRIx64 " is not mapped",
				    s->paddr);
			return false;
		}
		memcpy(p, cfg->kernel + s->offset, s->filesz);
		/* The guest may not be fresh memory (a reboot reloads it). */
		memset(p + s->filesz, 0, s->memsz - s->filesz);
	}

	if (cfg->initrd) {
		uint64_t addr;

		if (!boot_load_initrd(ctx, ctx->low_end, "the end of RAM below 4 GiB",
				      img.highest, &addr, err))
			return false;
		mod.paddr = addr;
		mod.size = cfg->initrd_len;
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
	}
	if (!boot_write_cmdline(ctx, err))
		return false;

	nr_e820 = e820_build(mem, e820, E820_MAX_ENTRIES);
	for (unsigned int i = 0; i < nr_e820; i++) {
		memmap[i].addr = e820[i].addr;
		memmap[i].size = e820[i].size;
		/* E820 and XEN_HVM_MEMMAP_TYPE values are the same. */
		memmap[i].type = e820[i].type;
	}
	si.magic = XEN_HVM_START_MAGIC_VALUE;
	si.version = 1;
	si.cmdline_paddr = LAYOUT_CMDLINE_START;
	si.rsdp_paddr = LAYOUT_ACPI_START;
	si.memmap_paddr = LAYOUT_PVH_MEMMAP;
	si.memmap_entries = nr_e820;
	if (!boot_write(ctx, LAYOUT_PVH_INFO, &si, sizeof(si), "hvm_start_info",
			err) ||
	    !boot_write(ctx, PVH_MODLIST_ADDR, &mod, sizeof(mod),
			"PVH module list", err) ||
	    !boot_write(ctx, LAYOUT_PVH_MEMMAP, memmap,
			nr_e820 * sizeof(memmap[0]), "PVH memory map", err) ||
	    !boot_write_gdt(ctx, false, err))
		return false;

	entry->long_mode = false;
	entry->rip = img.entry;
	entry->rbx = LAYOUT_PVH_INFO;
	/* The PVH ABI gives no stack; a valid one costs nothing. */
	entry->rsp = LAYOUT_BOOT_STACK;
	return true;
}

/* Can the kernel's footprint sit at load: in RAM, above 1 MiB, below 4 GiB? */
static bool boot_kernel_fits(const struct boot_ctx *ctx, uint64_t load,
			     uint64_t footprint)
{
	return load >= LAYOUT_HIGHMEM_START && load <= ctx->low_end &&
	       footprint <= ctx->low_end - load;
}

static bool boot_load_bzimage(const struct boot_ctx *ctx,
			      struct boot_entry *entry, GError **err)
{
	const struct guest_memory *mem = ctx->mem;
	const struct boot_config *cfg = ctx->cfg;
	struct bzimage_info info;
	struct bzimage_boot_args args = { 0 };
	struct e820_entry e820[E820_MAX_ENTRIES];
	g_autofree struct boot_params *bp = NULL;
	uint64_t load, footprint;

	if (!bzimage_parse(cfg->kernel, cfg->kernel_len, &info, err)) {
		g_prefix_error(err, "kernel '%s': ", ctx->kernel_name);
		return false;
	}
	if (ctx->cmdline_len > info.cmdline_size) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "command line is %zu bytes, the kernel accepts at most %" PRIu32,
			    ctx->cmdline_len, info.cmdline_size);
		return false;
	}

	/* init_size covers decompression; the image alone may be larger. */
	footprint = MAX((uint64_t)info.init_size, info.kernel_size);
	load = info.load_address;
	if (!boot_kernel_fits(ctx, load, footprint)) {
		uint64_t align = info.kernel_alignment;
		bool align_ok = align >= PAGE_SIZE_4K && !(align & (align - 1));
		uint64_t alt = align_ok ? ALIGN_UP(LAYOUT_HIGHMEM_START, align) : 0;

		/* A relocatable kernel may go lower than it prefers. */
		if (!info.relocatable || !align_ok ||
		    !boot_kernel_fits(ctx, alt, footprint)) {
			g_autofree char *size = mem_size_str(mem->ram_size);

			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "kernel '%s': memory too small for the kernel: it needs 0x%" PRIx64
				    " bytes at 0x%" PRIx64 ", guest memory is %s",
				    ctx->kernel_name, footprint, load, size);
			return false;
		}
		load = alt;
	}
	if (!boot_write(ctx, load, cfg->kernel + info.kernel_offset,
			info.kernel_size, "kernel", err))
		return false;

	if (cfg->initrd) {
		uint64_t top = MIN((uint64_t)info.initrd_addr_max + 1,
				   ctx->low_end);
		const char *what = top == ctx->low_end ?
					   "the end of RAM below 4 GiB" :
					   "the kernel's initrd_addr_max";

		if (!boot_load_initrd(ctx, top, what, load + footprint,
				      &args.initrd_addr, err))
			return false;
		args.initrd_size = cfg->initrd_len;
	}
	if (!boot_write_cmdline(ctx, err))
		return false;

	args.cmdline_addr = LAYOUT_CMDLINE_START;
	args.nr_e820 = e820_build(mem, e820, E820_MAX_ENTRIES);
	args.rsdp_addr = LAYOUT_ACPI_START;
	args.e820 = e820;
	bp = g_new(struct boot_params, 1);
	bzimage_build_boot_params(cfg->kernel, &info, &args, bp);
	if (!boot_write(ctx, LAYOUT_ZERO_PAGE, bp, sizeof(*bp), "zero page",
			err) ||
	    !boot_write_page_tables(ctx, err) || !boot_write_gdt(ctx, true, err))
		return false;

	entry->long_mode = true;
	entry->rip = load + BOOT_64BIT_ENTRY_OFFSET;
	entry->rsp = LAYOUT_BOOT_STACK;
	entry->rsi = LAYOUT_ZERO_PAGE;
	entry->cr3 = LAYOUT_PML4_START;
	return true;
}

bool x86_boot_load(const struct guest_memory *mem,
		   const struct boot_config *cfg, struct boot_entry *entry,
		   GError **err)
{
	struct boot_ctx ctx = {
		.mem = mem,
		.cfg = cfg,
		.kernel_name = cfg->kernel_name ? cfg->kernel_name : "(built-in)",
		.initrd_name = cfg->initrd_name ? cfg->initrd_name : "(unnamed)",
		.cmdline = cfg->cmdline ? cfg->cmdline : "",
	};
	bool ok;

	memset(entry, 0, sizeof(*entry));
	ctx.cmdline_len = strlen(ctx.cmdline);

	if (!cfg->ncpus || cfg->ncpus > MPTABLE_MAX_CPUS) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%u vCPUs: the MP table lists 1 to %u",
			    cfg->ncpus, MPTABLE_MAX_CPUS);
		return false;
	}
	for (unsigned int i = 0; i < mem->nr_regions; i++)
		if (mem->regions[i].gpa == 0)
			ctx.low_end = mem->regions[i].size;
	/* Everything tern itself writes lives in the first 1 MiB. */
	if (ctx.low_end < LAYOUT_HIGHMEM_START ||
	    !guest_memory_ptr(mem, 0, LAYOUT_HIGHMEM_START)) {
		g_autofree char *size = mem_size_str(mem->ram_size);

		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "guest memory (%s) is too small: the boot structures need the first 1 MiB",
			    size);
		return false;
	}
	if (ctx.cmdline_len + 1 > LAYOUT_CMDLINE_MAX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "command line is %zu bytes, at most %llu fit",
			    ctx.cmdline_len, LAYOUT_CMDLINE_MAX - 1);
		return false;
	}
	if (!cfg->kernel || !cfg->kernel_len) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "kernel '%s' is empty", ctx.kernel_name);
		return false;
	}

	switch (kernel_detect(cfg->kernel, cfg->kernel_len)) {
	case KERNEL_FORMAT_PVH_ELF:
		ok = boot_load_pvh(&ctx, entry, err);
		break;
	case KERNEL_FORMAT_BZIMAGE:
		ok = boot_load_bzimage(&ctx, entry, err);
		break;
	default:
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "kernel '%s': not a PVH ELF or a bzImage (no ELF magic, no 'HdrS' setup header)",
			    ctx.kernel_name);
		return false;
	}
	if (!ok)
		return false;
	return boot_write_platform_tables(&ctx, err);
}
