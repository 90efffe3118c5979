/* SPDX-License-Identifier: MIT */
/*
 * x86_64 boot: kernel image parsing (PVH ELF, Linux bzImage), placing the
 * kernel, initrd, command line and boot structures in guest memory, and the
 * initial BSP register state.
 */
#ifndef TERN_BOOT_H
#define TERN_BOOT_H

#include <glib.h>
#include <linux/kvm.h>

#include "tern/memory.h"

enum kernel_format {
	KERNEL_FORMAT_UNKNOWN = 0,
	KERNEL_FORMAT_PVH_ELF,
	KERNEL_FORMAT_BZIMAGE,
};

#define ELF_MAX_LOAD_SEGMENTS 16

struct elf_load_segment {
	uint64_t paddr;
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t memsz;
};

struct pvh_image {
	uint32_t entry; /* XEN_ELFNOTE_PHYS32_ENTRY */
	struct elf_load_segment segs[ELF_MAX_LOAD_SEGMENTS];
	unsigned int nr_segs;
	uint64_t lowest; /* lowest paddr loaded */
	uint64_t highest; /* highest paddr + memsz */
};

struct bzimage_info {
	uint16_t protocol; /* boot protocol version, e.g. 0x020f */
	uint64_t setup_size; /* (setup_sects + 1) * 512 */
	uint64_t kernel_offset; /* protected-mode kernel within the file */
	uint64_t kernel_size;
	uint64_t load_address; /* where the protected-mode kernel goes */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size; /* max length, excluding the NUL */
	uint32_t init_size; /* memory the kernel needs from load_address */
	uint16_t xloadflags;
	bool relocatable;
	uint32_t kernel_alignment; /* where a relocatable kernel may go instead */
	uint32_t header_end; /* 0x202 + byte 0x201: end of the setup header */
};

/* Sniff the format from the image bytes. */
enum kernel_format kernel_detect(const uint8_t *buf, size_t len);

/* Parse an ELF64 (or ELF32) x86 image with a PVH entry note. */
bool pvh_elf_parse(const uint8_t *buf, size_t len, struct pvh_image *img,
		   GError **err);

/* Parse a bzImage's setup header; requires protocol >= 2.06 and a 64-bit entry. */
bool bzimage_parse(const uint8_t *buf, size_t len, struct bzimage_info *info,
		   GError **err);

struct boot_params;
struct e820_entry;

/* What the zero page points at; chosen by the loader. */
struct bzimage_boot_args {
	uint64_t cmdline_addr;
	uint64_t initrd_addr; /* ignored when initrd_size is 0 */
	uint64_t initrd_size;
	const struct e820_entry *e820;
	unsigned int nr_e820;
	uint64_t rsdp_addr; /* boot_params.acpi_rsdp_addr (protocol 2.14) */
};

/*
 * Build the zero page of a bzImage that bzimage_parse() accepted: the image's
 * own setup header plus what the loader fills in. Pure, so it is unit tested;
 * the caller writes bp into guest memory.
 */
void bzimage_build_boot_params(const uint8_t *image,
			       const struct bzimage_info *info,
			       const struct bzimage_boot_args *args,
			       struct boot_params *bp);

struct boot_config {
	const char *kernel_name; /* for messages */
	const uint8_t *kernel;
	size_t kernel_len;
	const char *initrd_name;
	const uint8_t *initrd; /* NULL when none */
	size_t initrd_len;
	const char *cmdline; /* NULL or "" when none */
	unsigned int ncpus;
};

/* How the BSP starts, computed by x86_boot_load(). */
struct boot_entry {
	bool long_mode; /* false: 32-bit flat protected mode, paging off (PVH) */
	uint64_t rip;
	uint64_t rsp;
	uint64_t rsi; /* boot_params for Linux */
	uint64_t rbx; /* hvm_start_info for PVH */
	uint64_t cr3; /* page tables when long_mode */
};

/*
 * Load the kernel (detected from its bytes), initrd and command line into
 * guest memory and write the boot structures (hvm_start_info or boot_params,
 * e820, GDT, identity page tables, MP table). Every failure names the input.
 */
bool x86_boot_load(const struct guest_memory *mem,
		   const struct boot_config *cfg, struct boot_entry *entry,
		   GError **err);

/* Fill the BSP registers for entry; sregs must come from KVM_GET_SREGS. */
void x86_boot_setup_regs(const struct boot_entry *entry, struct kvm_regs *regs);
void x86_boot_setup_sregs(const struct boot_entry *entry,
			  struct kvm_sregs *sregs);

/*
 * The MSRs every vCPU starts with (SYSENTER/STAR/... zeroed, MISC_ENABLE
 * fast strings, MTRR default type write-back). Returns the number written.
 */
unsigned int x86_default_msrs(struct kvm_msr_entry *entries, unsigned int max);

/* LINT0 as ExtINT and LINT1 as NMI, as a BIOS leaves them. */
void x86_setup_lapic(struct kvm_lapic_state *lapic);

#endif
