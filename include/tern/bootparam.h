/* SPDX-License-Identifier: MIT */
/*
 * The guest-visible boot structures, written from the specifications:
 * Linux's x86 boot protocol (Documentation/arch/x86/boot.rst: the setup
 * header and the zero page) and Xen's PVH start of day
 * (xen/include/public/arch-x86/hvm/start_info.h). Only the fields tern
 * touches are named; the rest is padding that keeps every offset where the
 * guest expects it, pinned by the _Static_asserts below.
 */
#ifndef TERN_BOOTPARAM_H
#define TERN_BOOTPARAM_H

#include <stddef.h>
#include <stdint.h>

/* Linux boot protocol */

#define BOOT_SETUP_HEADER_OFFSET 0x1f1
#define BOOT_FLAG_OFFSET 0x1fe
#define BOOT_FLAG_MAGIC 0xaa55
#define BOOT_JUMP_OFFSET 0x200
#define BOOT_HDRS_OFFSET 0x202
#define BOOT_HDRS_MAGIC 0x53726448 /* "HdrS" */
#define BOOT_SECTOR_SIZE 512
#define BOOT_DEFAULT_SETUP_SECTS 4 /* setup_sects == 0 means this */
#define BOOT_64BIT_ENTRY_OFFSET 0x200 /* startup_64 from the kernel start */

/* loadflags */
#define BOOT_LOADED_HIGH 0x01
#define BOOT_CAN_USE_HEAP 0x80

/* xloadflags */
#define BOOT_XLF_KERNEL_64 0x0001
#define BOOT_XLF_CAN_BE_LOADED_ABOVE_4G 0x0002

#define BOOT_LOADER_UNDEFINED 0xff /* type_of_loader for unlisted loaders */
#define BOOT_VID_MODE_NORMAL 0xffff

#define BOOT_E820_MAX 128

struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

struct boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The "zero page": one 4 KiB page whose address the kernel gets in %rsi. */
struct boot_params {
	uint8_t screen_info[0x40];
	uint8_t apm_bios_info[0x14];
	uint8_t _pad2[4];
	uint64_t tboot_addr;
	uint8_t ist_info[0x10];
	uint64_t acpi_rsdp_addr;
	uint8_t _pad3[8];
	uint8_t hd0_info[16];
	uint8_t hd1_info[16];
	uint8_t sys_desc_table[16];
	uint8_t olpc_ofw_header[16];
	uint32_t ext_ramdisk_image;
	uint32_t ext_ramdisk_size;
	uint32_t ext_cmd_line_ptr;
	uint8_t _pad4[112];
	uint32_t cc_blob_address;
	uint8_t edid_info[0x80];
	uint8_t efi_info[0x20];
	uint32_t alt_mem_k;
	uint32_t scratch;
	uint8_t e820_entries;
	uint8_t eddbuf_entries;
	uint8_t edd_mbr_sig_buf_entries;
	uint8_t kbd_status;
	uint8_t secure_boot;
	uint8_t _pad5[2];
	/* Nonzero tells the kernel the loader did not clear this page. */
	uint8_t sentinel;
	uint8_t _pad6[1];
	struct setup_header hdr;
	uint8_t _pad7[0x290 - 0x1f1 - sizeof(struct setup_header)];
	uint32_t edd_mbr_sig_buffer[16];
	struct boot_e820_entry e820_table[BOOT_E820_MAX];
	uint8_t _pad8[48];
	uint8_t eddbuf[6 * 82];
	uint8_t _pad9[276];
} __attribute__((packed));

#define BOOT_PARAMS_HDR_OFFSET(f) \
	(offsetof(struct boot_params, hdr) + offsetof(struct setup_header, f))

_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "rsdp");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0,
	       "ext_ramdisk_image");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_size) == 0x0c4,
	       "ext_ramdisk_size");
_Static_assert(offsetof(struct boot_params, ext_cmd_line_ptr) == 0x0c8,
	       "ext_cmd_line_ptr");
_Static_assert(offsetof(struct boot_params, cc_blob_address) == 0x13c,
	       "cc_blob_address");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8,
	       "e820_entries");
_Static_assert(offsetof(struct boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct boot_params, hdr) == BOOT_SETUP_HEADER_OFFSET,
	       "hdr");
_Static_assert(offsetof(struct boot_params, edd_mbr_sig_buffer) == 0x290,
	       "edd_mbr_sig_buffer");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(offsetof(struct boot_params, eddbuf) == 0xd00, "eddbuf");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(boot_flag) == BOOT_FLAG_OFFSET,
	       "boot_flag");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(header) == BOOT_HDRS_OFFSET, "header");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(version) == 0x206, "version");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(type_of_loader) == 0x210,
	       "type_of_loader");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(loadflags) == 0x211, "loadflags");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(ramdisk_image) == 0x218, "ramdisk_image");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(ramdisk_size) == 0x21c, "ramdisk_size");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(heap_end_ptr) == 0x224, "heap_end_ptr");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(initrd_addr_max) == 0x22c,
	       "initrd_addr_max");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(kernel_alignment) == 0x230,
	       "kernel_alignment");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(relocatable_kernel) == 0x234,
	       "relocatable_kernel");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(xloadflags) == 0x236, "xloadflags");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(cmdline_size) == 0x238, "cmdline_size");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(pref_address) == 0x258, "pref_address");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(init_size) == 0x260, "init_size");
_Static_assert(BOOT_PARAMS_HDR_OFFSET(kernel_info_offset) == 0x268,
	       "kernel_info_offset");

/* Xen PVH start of day, version 1 (adds the memory map) */

#define XEN_HVM_START_MAGIC_VALUE 0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define XEN_HVM_MEMMAP_TYPE_RAM 1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 0x38, "hvm_start_info");
_Static_assert(offsetof(struct hvm_start_info, modlist_paddr) == 0x10,
	       "modlist_paddr");
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == 0x18,
	       "cmdline_paddr");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 0x20,
	       "rsdp_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 0x28,
	       "memmap_paddr");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 0x30,
	       "memmap_entries");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24,
	       "hvm_memmap_table_entry");

#endif
