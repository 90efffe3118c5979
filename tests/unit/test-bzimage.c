// SPDX-License-Identifier: MIT
/* bzImage setup header parsing and the zero page built from it. */
#include <glib.h>
#include <string.h>

#include "tern/boot.h"
#include "tern/bootparam.h"
#include "tern/e820.h"
#include "tern/error.h"
#include "unit.h"
#include "x86-images.h"

static char *parse_err(const uint8_t *buf, size_t len, struct bzimage_info *info)
{
	struct bzimage_info scratch;
	GError *err = NULL;
	char *msg;

	if (bzimage_parse(buf, len, info ? info : &scratch, &err)) {
		ck_assert_ptr_null(err);
		return NULL;
	}
	ck_assert_ptr_nonnull(err);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	msg = g_strdup(err->message);
	g_error_free(err);
	return msg;
}

#define ck_assert_parse_fails(buf, len, substr)                                \
	do {                                                                   \
		g_autofree char *m_ = parse_err(buf, len, NULL);               \
		ck_assert_msg(m_ != NULL, "parse unexpectedly succeeded");     \
		ck_assert_msg(strstr(m_, substr) != NULL,                      \
			      "message '%s' lacks '%s'", m_, substr);          \
	} while (0)

START_TEST(valid_image)
{
	struct bzimage_info info;
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	g_autofree char *m = parse_err(b, len, &info);

	ck_assert_msg(m == NULL, "%s", m);
	ck_assert_uint_eq(info.protocol, 0x020f);
	ck_assert_uint_eq(info.setup_size, BZ_SETUP_SIZE);
	ck_assert_uint_eq(info.kernel_offset, BZ_SETUP_SIZE);
	ck_assert_uint_eq(info.kernel_size, BZ_KERNEL_SIZE);
	ck_assert(info.relocatable);
	ck_assert_uint_eq(info.load_address, BZ_PREF_ADDRESS);
	ck_assert_uint_eq(info.initrd_addr_max, BZ_INITRD_ADDR_MAX);
	ck_assert_uint_eq(info.cmdline_size, BZ_CMDLINE_SIZE);
	ck_assert_uint_eq(info.init_size, BZ_INIT_SIZE);
	ck_assert_uint_eq(info.xloadflags, 3);
	ck_assert_uint_eq(info.kernel_alignment, BZ_KERNEL_ALIGNMENT);
	ck_assert_uint_eq(info.header_end, 0x26c);
}
END_TEST

START_TEST(setup_sects_zero_means_four)
{
	struct bzimage_info info;
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	g_autofree uint8_t *big = g_malloc0(5 * 512 + BZ_KERNEL_SIZE);
	g_autofree char *m = NULL;

	memcpy(big, b, BZ_SETUP_SIZE);
	big[0x1f1] = 0;
	m = parse_err(big, 5 * 512 + BZ_KERNEL_SIZE, &info);
	ck_assert_msg(m == NULL, "%s", m);
	ck_assert_uint_eq(info.setup_size, 5 * 512);
	ck_assert_uint_eq(info.kernel_offset, 5 * 512);
	ck_assert_uint_eq(info.kernel_size, BZ_KERNEL_SIZE);
}
END_TEST

START_TEST(not_relocatable_loads_at_1m)
{
	struct bzimage_info info;
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	g_autofree char *m = NULL;

	b[0x234] = 0;
	m = parse_err(b, len, &info);
	ck_assert_msg(m == NULL, "%s", m);
	ck_assert(!info.relocatable);
	ck_assert_uint_eq(info.load_address, 0x100000);
}
END_TEST

START_TEST(bad_magic)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	b[0x205] = 'T';
	ck_assert_parse_fails(b, len, "no 'HdrS' setup header signature at 0x202");
	b[0x205] = 'S';
	le16_put(b + 0x1fe, 0x55aa);
	ck_assert_parse_fails(b, len, "boot flag at 0x1fe is 0x55aa, expected 0xaa55");
}
END_TEST

START_TEST(protocol_too_old)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	le16_put(b + 0x206, 0x0205);
	ck_assert_parse_fails(b, len, "boot protocol 2.05 is too old: 2.06 or newer is needed");
	le16_put(b + 0x206, 0x0200);
	ck_assert_parse_fails(b, len, "boot protocol 2.00 is too old");
	le16_put(b + 0x206, 0x020a);
	ck_assert_parse_fails(b, len, "boot protocol 2.10 has no 64-bit entry point");
}
END_TEST

START_TEST(no_kernel_64)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	le16_put(b + 0x236, 0x0002);
	ck_assert_parse_fails(b, len,
			      "no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags 0x0002)");
}
END_TEST

START_TEST(header_bounds)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	/* The jump says the header ends before init_size */
	b[0x201] = 0x20;
	ck_assert_parse_fails(b, len,
			      "setup header ends at 0x222, too short for boot protocol 2.15 (needs 0x264)");
	/* ... or even before the version field (a zero jump offset) */
	b[0x201] = 0;
	ck_assert_parse_fails(b, 0x206, "before its boot protocol version at 0x206");
	ck_assert_parse_fails(b, len, "before its boot protocol version at 0x206");
	/* ... or past the end of the file */
	b[0x201] = 0x6a;
	ck_assert_parse_fails(b, 0x240, "setup header runs past end of file (ends at 0x26c, file 0x240)");
}
END_TEST

START_TEST(setup_past_eof)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	b[0x1f1] = 200;
	ck_assert_parse_fails(b, len, "no protected-mode kernel: the setup code (201 sectors");
	b[0x1f1] = BZ_SETUP_SECTS;
	ck_assert_parse_fails(b, BZ_SETUP_SIZE, "no protected-mode kernel");
}
END_TEST

START_TEST(syssize_truncated)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	le32_put(b + 0x1f4, BZ_KERNEL_SIZE / 16 + 1);
	ck_assert_parse_fails(b, len,
			      "truncated: syssize says the kernel is 0x1010 bytes, the file holds 0x1000");
}
END_TEST

/*
 * syssize rounds the kernel up to whole paragraphs and Linux's build tool
 * does not pad the file: up to 15 bytes short is a whole image (QEMU and
 * GRUB load it), 16 is a truncation.
 */
START_TEST(syssize_rounding_accepted)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	for (size_t short_by = 1; short_by <= 15; short_by++) {
		struct bzimage_info info;
		g_autofree char *m = parse_err(b, len - short_by, &info);

		ck_assert_msg(m == NULL, "%zu bytes short: %s", short_by, m);
		ck_assert_uint_eq(info.kernel_size, BZ_KERNEL_SIZE - short_by);
	}
	ck_assert_parse_fails(b, len - 16,
			      "truncated: syssize says the kernel is 0x1000 bytes, the file holds 0xff0");
}
END_TEST

/* Every prefix that is more than the rounding short is refused. */
START_TEST(every_truncation_fails)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);

	for (size_t n = 0; n < len - 15; n++) {
		g_autofree uint8_t *c = g_memdup2(b, n ? n : 1);
		g_autofree char *m = parse_err(c, n, NULL);

		ck_assert_msg(m != NULL, "prefix of %zu bytes parsed", n);
	}
}
END_TEST

static void build_params(const uint8_t *image, size_t len,
			 const struct bzimage_boot_args *args,
			 struct boot_params *bp)
{
	struct bzimage_info info;
	g_autofree char *m = parse_err(image, len, &info);

	ck_assert_msg(m == NULL, "%s", m);
	bzimage_build_boot_params(image, &info, args, bp);
}

START_TEST(boot_params_fields)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	const struct e820_entry e820[] = {
		{ 0, 0x9fc00, E820_RAM },
		{ 0x9fc00, 0x60400, E820_RESERVED },
		{ 0x100000, 0x3f00000, E820_RAM },
	};
	struct bzimage_boot_args args = {
		.cmdline_addr = 0x20000,
		.initrd_addr = 0x3f00000,
		.initrd_size = 0x12345,
		.e820 = e820,
		.nr_e820 = 3,
		.rsdp_addr = 0xe0000,
	};
	g_autofree struct boot_params *bp = g_malloc(sizeof(*bp));
	const uint8_t *raw = (const uint8_t *)bp;

	memset(bp, 0xcc, sizeof(*bp));
	build_params(b, len, &args, bp);
	ck_assert_uint_eq(le64_get(raw + 0x070), 0xe0000); /* acpi_rsdp_addr */

	/* Read at the protocol's offsets, not through our struct. */
	ck_assert_uint_eq(raw[0x210], 0xff); /* type_of_loader */
	ck_assert_uint_eq(raw[0x211], 0x81); /* LOADED_HIGH kept, CAN_USE_HEAP */
	ck_assert_uint_eq(le16_get(raw + 0x224), 0xfe00); /* heap_end_ptr */
	ck_assert_uint_eq(le16_get(raw + 0x1fa), 0xffff); /* vid_mode */
	ck_assert_uint_eq(le32_get(raw + 0x228), 0x20000); /* cmd_line_ptr */
	ck_assert_uint_eq(le32_get(raw + 0x0c8), 0); /* ext_cmd_line_ptr */
	ck_assert_uint_eq(le32_get(raw + 0x218), 0x3f00000); /* ramdisk_image */
	ck_assert_uint_eq(le32_get(raw + 0x21c), 0x12345); /* ramdisk_size */
	ck_assert_uint_eq(le32_get(raw + 0x0c0), 0);
	ck_assert_uint_eq(le32_get(raw + 0x0c4), 0);
	ck_assert_uint_eq(raw[0x1e8], 3); /* e820_entries */
	for (unsigned int i = 0; i < 3; i++) {
		const uint8_t *e = raw + 0x2d0 + 20 * i;

		ck_assert_uint_eq(le64_get(e), e820[i].addr);
		ck_assert_uint_eq(le64_get(e + 8), e820[i].size);
		ck_assert_uint_eq(le32_get(e + 16), e820[i].type);
	}
	ck_assert_uint_eq(le64_get(raw + 0x2d0 + 20 * 3), 0);
	/* The image's header came across */
	ck_assert_uint_eq(raw[0x1f1], BZ_SETUP_SECTS);
	ck_assert_uint_eq(le16_get(raw + 0x1fe), 0xaa55);
	ck_assert_uint_eq(le32_get(raw + 0x202), 0x53726448);
	ck_assert_uint_eq(le16_get(raw + 0x206), 0x020f);
	ck_assert_uint_eq(le16_get(raw + 0x236), 3);
	ck_assert_uint_eq(le32_get(raw + 0x238), BZ_CMDLINE_SIZE);
	ck_assert_uint_eq(le64_get(raw + 0x258), BZ_PREF_ADDRESS);
	ck_assert_uint_eq(le32_get(raw + 0x260), BZ_INIT_SIZE);
	/* Everything else is zero: the sentinel above all */
	ck_assert_uint_eq(raw[0x1ef], 0);
	for (size_t i = 0; i < 0x0c0; i++)
		if (i < 0x070 || i >= 0x078) /* acpi_rsdp_addr, checked above */
			ck_assert_uint_eq(raw[i], 0);
	for (size_t i = 0x26c; i < 0x2d0; i++)
		ck_assert_uint_eq(raw[i], 0);
	for (size_t i = 0x2d0 + 20 * 3; i < 0x1000; i++)
		ck_assert_uint_eq(raw[i], 0);
}
END_TEST

START_TEST(boot_params_high_addresses)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	struct bzimage_boot_args args = {
		.cmdline_addr = 0x123456789ULL,
		.initrd_addr = 0x200000000ULL,
		.initrd_size = 0x100000001ULL,
	};
	g_autofree struct boot_params *bp = g_malloc(sizeof(*bp));
	const uint8_t *raw = (const uint8_t *)bp;

	build_params(b, len, &args, bp);
	ck_assert_uint_eq(le32_get(raw + 0x228), 0x23456789);
	ck_assert_uint_eq(le32_get(raw + 0x0c8), 0x1);
	ck_assert_uint_eq(le32_get(raw + 0x218), 0);
	ck_assert_uint_eq(le32_get(raw + 0x0c0), 2);
	ck_assert_uint_eq(le32_get(raw + 0x21c), 1);
	ck_assert_uint_eq(le32_get(raw + 0x0c4), 1);
	ck_assert_uint_eq(raw[0x1e8], 0);
}
END_TEST

START_TEST(boot_params_no_initrd)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	struct bzimage_boot_args args = { .cmdline_addr = 0x20000,
					  .initrd_addr = 0x5000000 };
	g_autofree struct boot_params *bp = g_malloc(sizeof(*bp));
	const uint8_t *raw = (const uint8_t *)bp;

	/* An image that already names a ramdisk must not pass it on. */
	le32_put(b + 0x218, 0xdead000);
	le32_put(b + 0x21c, 0x1000);
	build_params(b, len, &args, bp);
	ck_assert_uint_eq(le32_get(raw + 0x218), 0);
	ck_assert_uint_eq(le32_get(raw + 0x21c), 0);
	ck_assert_uint_eq(le32_get(raw + 0x0c0), 0);
	ck_assert_uint_eq(le32_get(raw + 0x0c4), 0);
}
END_TEST

START_TEST(boot_params_long_header_clamped)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	struct bzimage_boot_args args = { .cmdline_addr = 0x20000 };
	g_autofree struct boot_params *bp = g_malloc(sizeof(*bp));
	const uint8_t *raw = (const uint8_t *)bp;

	/* A future kernel with a header reaching 0x301: copy up to 0x290. */
	b[0x201] = 0xff;
	memset(b + 0x26c, 0xee, 0x301 - 0x26c);
	build_params(b, len, &args, bp);
	ck_assert_uint_eq(raw[0x26c], 0xee);
	ck_assert_uint_eq(raw[0x28f], 0xee);
	ck_assert_uint_eq(raw[0x290], 0);
	ck_assert_uint_eq(raw[0x300], 0);
}
END_TEST

START_TEST(boot_params_e820_capped)
{
	size_t len;
	g_autofree uint8_t *b = bzimage_build(&len);
	g_autofree struct e820_entry *e820 = g_new0(struct e820_entry, 200);
	struct bzimage_boot_args args = { .e820 = e820, .nr_e820 = 200 };
	g_autofree struct boot_params *bp = g_malloc(sizeof(*bp));
	const uint8_t *raw = (const uint8_t *)bp;

	for (unsigned int i = 0; i < 200; i++) {
		e820[i].addr = i * 0x1000ULL;
		e820[i].size = 0x1000;
		e820[i].type = E820_RAM;
	}
	build_params(b, len, &args, bp);
	ck_assert_uint_eq(raw[0x1e8], 128);
	ck_assert_uint_eq(le64_get(raw + 0x2d0 + 20 * 127), 127 * 0x1000);
	ck_assert_uint_eq(raw[0xcd0], 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bzimage");

	UNIT_TCASE(s, "parse", valid_image, setup_sects_zero_means_four,
		   not_relocatable_loads_at_1m);
	UNIT_TCASE(s, "malformed", bad_magic, protocol_too_old, no_kernel_64,
		   header_bounds, setup_past_eof, syssize_truncated,
		   syssize_rounding_accepted, every_truncation_fails);
	UNIT_TCASE(s, "boot_params", boot_params_fields,
		   boot_params_high_addresses, boot_params_no_initrd,
		   boot_params_long_header_clamped, boot_params_e820_capped);
	return unit_run(s);
}
