// SPDX-License-Identifier: MIT
/*
 * Linux bzImage: the setup header (Documentation/arch/x86/boot.rst) and the
 * zero page built from it. tern enters the kernel at its 64-bit entry point,
 * so the real-mode setup code is never run and only the protected-mode
 * kernel is loaded.
 */
#include <inttypes.h>
#include <string.h>

#include "tern/boot.h"
#include "tern/bootparam.h"
#include "tern/e820.h"
#include "tern/error.h"

#include "arch.h"

#define BOOT_PROTOCOL_MIN 0x0206 /* cmdline_size exists from 2.06 */
#define BOOT_PROTOCOL_XLF 0x020c /* xloadflags came with 2.12 */
/* Setup header bytes we read: everything up to and including init_size. */
#define BOOT_HEADER_NEEDED (BOOT_PARAMS_HDR_OFFSET(init_size) + 4)
#define BOOT_NONRELOC_ADDRESS 0x100000
/*
 * Where the 16-bit setup code's heap would end, relative to it, minus 0x200
 * (boot.rst). The setup code never runs with the 64-bit entry; the value only
 * keeps the header consistent for kernels that look at it.
 */
#define BOOT_HEAP_END_PTR 0xfe00

/* syssize is in paragraphs, rounded up: the file may end this much short. */
#define BOOT_SYSSIZE_ROUNDING 15

#define PROTO_ARGS(v) ((v) >> 8), ((v)&0xff)

bool bzimage_parse(const uint8_t *buf, size_t len, struct bzimage_info *info,
		   GError **err)
{
	uint64_t setup_sects, syssize;
	uint16_t boot_flag;

	memset(info, 0, sizeof(*info));
	if (len < BOOT_HDRS_OFFSET + 4 ||
	    le32_get(buf + BOOT_HDRS_OFFSET) != BOOT_HDRS_MAGIC) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "not a bzImage: no 'HdrS' setup header signature at 0x202");
		return false;
	}
	boot_flag = le16_get(buf + BOOT_FLAG_OFFSET);
	if (boot_flag != BOOT_FLAG_MAGIC) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage boot flag at 0x1fe is 0x%04x, expected 0xaa55",
			    boot_flag);
		return false;
	}
	/* The 2-byte jump at 0x200 skips the header: its end is our bound. */
	info->header_end = BOOT_HDRS_OFFSET + buf[BOOT_JUMP_OFFSET + 1];
	if (info->header_end > len) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage setup header runs past end of file (ends at 0x%x, file 0x%zx)",
			    info->header_end, len);
		return false;
	}
	/* Even an old header must hold the version field we read next. */
	if (info->header_end < BOOT_PARAMS_HDR_OFFSET(version) + 2) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage setup header ends at 0x%x, before its boot protocol version at 0x%zx",
			    info->header_end,
			    (size_t)BOOT_PARAMS_HDR_OFFSET(version));
		return false;
	}
	info->protocol = le16_get(buf + BOOT_PARAMS_HDR_OFFSET(version));
	if (info->protocol < BOOT_PROTOCOL_MIN) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage boot protocol %u.%02u is too old: 2.06 or newer is needed",
			    PROTO_ARGS(info->protocol));
		return false;
	}
	if (info->protocol < BOOT_PROTOCOL_XLF) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage boot protocol %u.%02u has no 64-bit entry point (xloadflags came with 2.12)",
			    PROTO_ARGS(info->protocol));
		return false;
	}
	if (info->header_end < BOOT_HEADER_NEEDED) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage setup header ends at 0x%x, too short for boot protocol %u.%02u (needs 0x%zx)",
			    info->header_end, PROTO_ARGS(info->protocol),
			    (size_t)BOOT_HEADER_NEEDED);
		return false;
	}
	info->xloadflags = le16_get(buf + BOOT_PARAMS_HDR_OFFSET(xloadflags));
	if (!(info->xloadflags & BOOT_XLF_KERNEL_64)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags 0x%04x)",
			    info->xloadflags);
		return false;
	}

	setup_sects = buf[BOOT_SETUP_HEADER_OFFSET];
	if (!setup_sects)
		setup_sects = BOOT_DEFAULT_SETUP_SECTS;
	info->setup_size = (setup_sects + 1) * BOOT_SECTOR_SIZE;
	if (info->setup_size >= len) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage has no protected-mode kernel: the setup code (%" PRIu64
			    " sectors, 0x%" PRIx64 " bytes) reaches the end of the file (0x%zx)",
			    setup_sects + 1, info->setup_size, len);
		return false;
	}
	info->kernel_offset = info->setup_size;
	info->kernel_size = len - info->setup_size;
	/*
	 * syssize counts 16-byte paragraphs rounded up: Linux's build tool
	 * computes it from the kernel's size but does not pad the file, so
	 * the last paragraph may be up to 15 bytes short. QEMU and GRUB
	 * load such files as they are; only a bigger gap is a truncation.
	 */
	syssize = (uint64_t)le32_get(buf + BOOT_PARAMS_HDR_OFFSET(syssize)) * 16;
	if (syssize > info->kernel_size + BOOT_SYSSIZE_ROUNDING) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "bzImage truncated: syssize says the kernel is 0x%" PRIx64
			    " bytes, the file holds 0x%" PRIx64 " after the setup code",
			    syssize, info->kernel_size);
		return false;
	}

	info->initrd_addr_max =
		le32_get(buf + BOOT_PARAMS_HDR_OFFSET(initrd_addr_max));
	info->cmdline_size = le32_get(buf + BOOT_PARAMS_HDR_OFFSET(cmdline_size));
	info->init_size = le32_get(buf + BOOT_PARAMS_HDR_OFFSET(init_size));
	info->kernel_alignment =
		le32_get(buf + BOOT_PARAMS_HDR_OFFSET(kernel_alignment));
	/* pref_address exists from 2.10; we already require 2.12. */
	info->relocatable = buf[BOOT_PARAMS_HDR_OFFSET(relocatable_kernel)] != 0;
	if (info->relocatable)
		info->load_address =
			le64_get(buf + BOOT_PARAMS_HDR_OFFSET(pref_address));
	else
		info->load_address = BOOT_NONRELOC_ADDRESS;
	return true;
}

void bzimage_build_boot_params(const uint8_t *image,
			       const struct bzimage_info *info,
			       const struct bzimage_boot_args *args,
			       struct boot_params *bp)
{
	/* The header may be newer than ours: copy all of it that fits. */
	size_t end = MIN((size_t)info->header_end, offsetof(struct boot_params,
							     edd_mbr_sig_buffer));
	unsigned int n = MIN(args->nr_e820, (unsigned int)BOOT_E820_MAX);

	memset(bp, 0, sizeof(*bp));
	memcpy((uint8_t *)bp + BOOT_SETUP_HEADER_OFFSET,
	       image + BOOT_SETUP_HEADER_OFFSET, end - BOOT_SETUP_HEADER_OFFSET);

	bp->hdr.type_of_loader = BOOT_LOADER_UNDEFINED;
	bp->hdr.vid_mode = BOOT_VID_MODE_NORMAL;
	bp->hdr.loadflags |= BOOT_CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = BOOT_HEAP_END_PTR;

	bp->acpi_rsdp_addr = args->rsdp_addr;
	bp->hdr.cmd_line_ptr = (uint32_t)args->cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(args->cmdline_addr >> 32);
	/* Whatever the image's own header says, no initrd means zeros. */
	if (args->initrd_size) {
		bp->hdr.ramdisk_image = (uint32_t)args->initrd_addr;
		bp->ext_ramdisk_image = (uint32_t)(args->initrd_addr >> 32);
		bp->hdr.ramdisk_size = (uint32_t)args->initrd_size;
		bp->ext_ramdisk_size = (uint32_t)(args->initrd_size >> 32);
	} else {
		bp->hdr.ramdisk_image = 0;
		bp->hdr.ramdisk_size = 0;
	}

	for (unsigned int i = 0; i < n; i++) {
		bp->e820_table[i].addr = args->e820[i].addr;
		bp->e820_table[i].size = args->e820[i].size;
		bp->e820_table[i].type = args->e820[i].type;
	}
	bp->e820_entries = (uint8_t)n;
}
