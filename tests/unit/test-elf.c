// SPDX-License-Identifier: MIT
/* PVH ELF parsing: a valid image both ways, then one corruption per test. */
#include <glib.h>
#include <string.h>

#include "tern/boot.h"
#include "tern/error.h"
#include "unit.h"
#include "x86-images.h"

/* Parse; on failure return the message (g_free it), on success NULL. */
static char *parse_err(const uint8_t *buf, size_t len, struct pvh_image *img)
{
	struct pvh_image scratch;
	GError *err = NULL;
	char *msg;

	if (pvh_elf_parse(buf, len, img ? img : &scratch, &err)) {
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

static void check_valid(bool is64, unsigned int descsz)
{
	struct pvh_image img;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(is64, descsz, NULL, &len);
	g_autofree char *m = parse_err(b, len, &img);

	ck_assert_msg(m == NULL, "%s", m);
	ck_assert_uint_eq(img.entry, IMG_ENTRY);
	ck_assert_uint_eq(img.nr_segs, 1);
	ck_assert_uint_eq(img.segs[0].paddr, IMG_PADDR);
	ck_assert_uint_eq(img.segs[0].offset, IMG_SEG_OFFSET);
	ck_assert_uint_eq(img.segs[0].filesz, IMG_SEG_FILESZ);
	ck_assert_uint_eq(img.segs[0].memsz, IMG_SEG_MEMSZ);
	ck_assert_uint_eq(img.lowest, IMG_PADDR);
	ck_assert_uint_eq(img.highest, IMG_PADDR + IMG_SEG_MEMSZ);
}

START_TEST(valid_elf64_quad_note)
{
	check_valid(true, 8);
}
END_TEST

START_TEST(valid_elf64_long_note)
{
	check_valid(true, 4);
}
END_TEST

START_TEST(valid_elf32)
{
	check_valid(false, 4);
	check_valid(false, 8);
}
END_TEST

START_TEST(detect_formats)
{
	size_t len;
	g_autofree uint8_t *elf = elf_image_build(true, 8, NULL, &len);
	g_autofree uint8_t *bz = bzimage_build(&len);
	uint8_t junk[0x300] = { 0 };

	ck_assert_int_eq(kernel_detect(elf, IMG_ELF_LEN), KERNEL_FORMAT_PVH_ELF);
	ck_assert_int_eq(kernel_detect(bz, BZ_LEN), KERNEL_FORMAT_BZIMAGE);
	ck_assert_int_eq(kernel_detect(junk, sizeof(junk)),
			 KERNEL_FORMAT_UNKNOWN);
	ck_assert_int_eq(kernel_detect(elf, 3), KERNEL_FORMAT_UNKNOWN);
	ck_assert_int_eq(kernel_detect(bz, 0x204), KERNEL_FORMAT_UNKNOWN);
	ck_assert_int_eq(kernel_detect(junk, 0), KERNEL_FORMAT_UNKNOWN);
	/* HdrS without the boot flag, and the flag without HdrS */
	bz[0x1fe] = 0;
	ck_assert_int_eq(kernel_detect(bz, BZ_LEN), KERNEL_FORMAT_UNKNOWN);
	bz[0x1fe] = 0x55;
	bz[0x202] = 'X';
	ck_assert_int_eq(kernel_detect(bz, BZ_LEN), KERNEL_FORMAT_UNKNOWN);
}
END_TEST

START_TEST(bad_ident)
{
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, NULL, &len);

	b[0] = 0x7e;
	ck_assert_parse_fails(b, len, "not an ELF file");
	b[0] = 0x7f;
	b[4] = 3;
	ck_assert_parse_fails(b, len, "unsupported ELF class 3");
	b[4] = 2;
	b[5] = 2;
	ck_assert_parse_fails(b, len, "not little-endian");
	b[5] = 1;
	b[6] = 0;
	ck_assert_parse_fails(b, len, "unsupported ELF version 0");
}
END_TEST

START_TEST(truncated_header)
{
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, NULL, &len);
	g_autofree uint8_t *b32 = elf_image_build(false, 4, NULL, &len);

	ck_assert_parse_fails(b, 0, "not an ELF file");
	ck_assert_parse_fails(b, 10, "ELF header truncated: file is 10 bytes");
	ck_assert_parse_fails(b, 63, "the ELF64 header needs 64");
	ck_assert_parse_fails(b32, 51, "the ELF32 header needs 52");
}
END_TEST

/* Every proper prefix of a valid image is rejected, none crashes. */
START_TEST(every_truncation_fails)
{
	for (int is64 = 0; is64 < 2; is64++) {
		size_t len;
		g_autofree uint8_t *b = elf_image_build(is64, 8, NULL, &len);

		for (size_t n = 0; n < len; n++) {
			/* A copy of exactly n bytes, so a read past it faults. */
			g_autofree uint8_t *c = g_memdup2(b, n ? n : 1);
			g_autofree char *m = parse_err(c, n, NULL);

			ck_assert_msg(m != NULL, "prefix of %zu bytes parsed", n);
		}
	}
}
END_TEST

START_TEST(wrong_type_and_machine)
{
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, NULL, &len);

	le16_put(b + 16, 3); /* ET_DYN */
	ck_assert_parse_fails(b, len, "ELF type 3 is not an executable");
	le16_put(b + 16, 2);
	le16_put(b + 18, 40); /* EM_ARM */
	ck_assert_parse_fails(b, len, "ELF machine 40 is not x86");
}
END_TEST

START_TEST(program_header_table)
{
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, NULL, &len);

	le16_put(b + 56, 0);
	ck_assert_parse_fails(b, len, "no program headers");
	le16_put(b + 56, 0xffff);
	ck_assert_parse_fails(b, len, "PN_XNUM");
	le16_put(b + 56, 2);
	le16_put(b + 54, 32);
	ck_assert_parse_fails(b, len, "program header size is 32 bytes, expected 56");
	le16_put(b + 54, 56);
	le64_put(b + 32, len - 100);
	ck_assert_parse_fails(b, len, "ELF program headers extend past end of file");
	/* An offset that wraps when the table size is added */
	le64_put(b + 32, UINT64_MAX - 8);
	ck_assert_parse_fails(b, len, "ELF program headers extend past end of file");
	le16_put(b + 56, 500);
	le64_put(b + 32, 64);
	ck_assert_parse_fails(b, len, "offset 0x40, 500 entries of 56 bytes");
}
END_TEST

START_TEST(segment_past_eof)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	le64_put(b + elf_ph(&l, 0, l.p_filesz), IMG_SEG_FILESZ + 1);
	ck_assert_parse_fails(b, len,
			      "ELF program header 0: segment extends past end of file "
			      "(offset 0x1000, size 0x201, file 0x1200)");
}
END_TEST

START_TEST(segment_offset_wraps)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	/* offset + filesz wraps to a small number */
	le64_put(b + elf_ph(&l, 0, l.p_offset), UINT64_MAX - 0xff);
	ck_assert_parse_fails(b, len, "segment extends past end of file");
}
END_TEST

START_TEST(segment_elf32_past_eof)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(false, 4, &l, &len);

	le32_put(b + elf_ph(&l, 0, l.p_offset), 0xffffff00);
	ck_assert_parse_fails(b, len, "ELF program header 0: segment extends past end of file");
}
END_TEST

START_TEST(segment_sizes)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	le64_put(b + elf_ph(&l, 0, l.p_memsz), IMG_SEG_FILESZ - 1);
	ck_assert_parse_fails(b, len, "file size 0x200 exceeds memory size 0x1ff");
	le64_put(b + elf_ph(&l, 0, l.p_memsz), IMG_SEG_MEMSZ);
	le64_put(b + elf_ph(&l, 0, l.p_paddr), UINT64_MAX - 0x1000);
	ck_assert_parse_fails(b, len, "wraps around the address space");
	le64_put(b + elf_ph(&l, 0, l.p_paddr), 0xfffff000);
	ck_assert_parse_fails(b, len, "ends above 4 GiB");
}
END_TEST

START_TEST(too_many_segments)
{
	/* 17 PT_LOADs at distinct addresses, all pointing at one byte range. */
	size_t phoff = 64, n = 17, len = phoff + n * 56 + 64;
	g_autofree uint8_t *b = g_malloc0(len);

	memcpy(b, "\x7f" "ELF", 4);
	b[4] = 2;
	b[5] = 1;
	b[6] = 1;
	le16_put(b + 16, 2);
	le16_put(b + 18, 62);
	le64_put(b + 32, phoff);
	le16_put(b + 54, 56);
	le16_put(b + 56, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *ph = b + phoff + i * 56;

		le32_put(ph, 1);
		le64_put(ph + 8, 0);
		le64_put(ph + 24, 0x100000 + i * 0x1000);
		le64_put(ph + 32, 16);
		le64_put(ph + 40, 16);
	}
	ck_assert_parse_fails(b, len, "more than 16 PT_LOAD segments");
}
END_TEST

START_TEST(overlapping_segments)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	/* Turn the PT_NOTE into a second PT_LOAD inside the first. */
	le32_put(b + elf_ph(&l, 1, 0), 1);
	le64_put(b + elf_ph(&l, 1, l.p_paddr), IMG_PADDR + 0x100);
	ck_assert_parse_fails(b, len, "ELF program header 1: segment at 0x100100");
	ck_assert_parse_fails(b, len, "overlaps the one at 0x100000");
}
END_TEST

START_TEST(no_load_segments)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	le32_put(b + elf_ph(&l, 0, 0), 6); /* PT_PHDR */
	ck_assert_parse_fails(b, len, "no loadable (PT_LOAD) segments");
}
END_TEST

START_TEST(note_only_in_sections)
{
	struct elf_layout l;
	struct pvh_image img;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);
	g_autofree char *m = NULL;

	le32_put(b + elf_ph(&l, 1, 0), 0); /* PT_NULL */
	m = parse_err(b, len, &img);
	ck_assert_msg(m == NULL, "%s", m);
	ck_assert_uint_eq(img.entry, IMG_ENTRY);
}
END_TEST

START_TEST(missing_note)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	le32_put(b + elf_ph(&l, 1, 0), 0);
	le32_put(b + l.shoff + l.shentsize + 4, 1); /* SHT_PROGBITS */
	ck_assert_parse_fails(b, len,
			      "no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel");
}
END_TEST

START_TEST(other_notes_skipped)
{
	struct elf_layout l;
	struct pvh_image img;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);
	g_autofree char *m = NULL;
	uint8_t *n = b + l.note_off;

	/* Same note, other owner: "Xeo" is not Xen; then "GNU" type 18. */
	n[14] = 'o';
	ck_assert_parse_fails(b, len, "not a PVH kernel");
	memcpy(n + 12, "GNU", 4);
	ck_assert_parse_fails(b, len, "not a PVH kernel");
	/* Right owner, wrong type */
	memcpy(n + 12, "Xen", 4);
	le32_put(n + 8, 17);
	ck_assert_parse_fails(b, len, "not a PVH kernel");
	le32_put(n + 8, 18);
	m = parse_err(b, len, &img);
	ck_assert_msg(m == NULL, "%s", m);
}
END_TEST

START_TEST(bad_note_desc_size)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 3, &l, &len);

	ck_assert_parse_fails(b, len,
			      "ELF program header 1: XEN_ELFNOTE_PHYS32_ENTRY note has a 3-byte descriptor, expected 4 or 8");
}
END_TEST

START_TEST(bad_note_sizes)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);
	uint8_t *n = b + l.note_off;

	le32_put(n, 0xfffffff0); /* namesz: pads past the end, must not wrap */
	ck_assert_parse_fails(b, len, "name size 4294967280 runs past the end");
	le32_put(n, 4);
	le32_put(n + 4, 0xffffffff);
	ck_assert_parse_fails(b, len, "descriptor size 4294967295 runs past the end");
	le32_put(n + 4, 8);
	/* The PT_NOTE covers only part of a note header */
	le64_put(b + elf_ph(&l, 1, l.p_filesz), 8);
	ck_assert_parse_fails(b, len, "header truncated (8 bytes left, a note header is 12)");
	/* ... and notes that run past the file */
	le64_put(b + elf_ph(&l, 1, l.p_filesz), len);
	ck_assert_parse_fails(b, len, "notes extend past end of file");
}
END_TEST

START_TEST(bad_section_headers)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);

	le32_put(b + elf_ph(&l, 1, 0), 0); /* force the section path */
	le16_put(b + 58, 40);
	ck_assert_parse_fails(b, len, "section header size is 40 bytes, expected 64");
	le16_put(b + 58, 64);
	le64_put(b + 40, len - 64);
	ck_assert_parse_fails(b, len, "section headers extend past end of file");
	le64_put(b + 40, l.shoff);
	le64_put(b + l.shoff + 64 + 32, 0x10000); /* sh_size */
	ck_assert_parse_fails(b, len, "ELF section 1: notes extend past end of file");
}
END_TEST

START_TEST(entry_checks)
{
	struct elf_layout l;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);
	uint8_t *desc = b + l.note_off + 16;

	le64_put(desc, 0x100000000ULL + IMG_ENTRY);
	ck_assert_parse_fails(b, len, "is above 4 GiB");
	/* In memsz but past the file bytes: nothing to execute there. */
	le64_put(desc, IMG_PADDR + IMG_SEG_FILESZ + 0x10);
	ck_assert_parse_fails(b, len,
			      "PVH entry 0x100210 does not lie in the file contents of any PT_LOAD segment");
	le64_put(desc, 0x200000);
	ck_assert_parse_fails(b, len, "PVH entry 0x200000");
}
END_TEST

START_TEST(note_align_8)
{
	struct elf_layout l;
	struct pvh_image img;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);
	g_autofree char *m = NULL;

	/* namesz 4 pads to 8 with 8-byte alignment: move the descriptor. */
	le64_put(b + elf_ph(&l, 1, l.p_align), 8);
	le64_put(b + elf_ph(&l, 1, l.p_filesz), 12 + 8 + 8);
	le64_put(b + l.note_off + 20, IMG_ENTRY);
	m = parse_err(b, len, &img);
	ck_assert_msg(m == NULL, "%s", m);
	ck_assert_uint_eq(img.entry, IMG_ENTRY);
}
END_TEST

START_TEST(empty_load_segment_ignored)
{
	struct elf_layout l;
	struct pvh_image img;
	size_t len;
	g_autofree uint8_t *b = elf_image_build(true, 8, &l, &len);
	g_autofree uint8_t *c = NULL;
	g_autofree char *m = NULL;

	/* A third program header: PT_LOAD with nothing in it, overlapping. */
	c = g_malloc0(len);
	memcpy(c, b, len);
	le16_put(c + 56, 3);
	/* The third header lands on the note: move the note out of the way. */
	le64_put(c + 32, 0x800);
	memcpy(c + 0x800, b + l.phoff, 2 * 56);
	le32_put(c + 0x800 + 2 * 56, 1);
	le64_put(c + 0x800 + 2 * 56 + 24, IMG_PADDR);
	m = parse_err(c, len, &img);
	ck_assert_msg(m == NULL, "%s", m);
	ck_assert_uint_eq(img.nr_segs, 1);
}
END_TEST

/* Random corruption: parse either succeeds or explains; never crashes. */
START_TEST(mutations_do_not_crash)
{
	GRand *r = g_rand_new_with_seed(0x7e4e);
	size_t len;
	g_autofree uint8_t *orig = elf_image_build(true, 8, NULL, &len);

	for (int i = 0; i < 5000; i++) {
		g_autofree uint8_t *b = g_memdup2(orig, len);
		int flips = g_rand_int_range(r, 1, 6);
		struct pvh_image img;
		GError *err = NULL;

		for (int f = 0; f < flips; f++)
			b[g_rand_int_range(r, 0, 0x150)] = (uint8_t)g_rand_int(r);
		if (!pvh_elf_parse(b, len, &img, &err)) {
			ck_assert_ptr_nonnull(err);
			ck_assert(err->message[0] != '\0');
			g_error_free(err);
		} else {
			ck_assert_uint_ge(img.nr_segs, 1);
			for (unsigned int s = 0; s < img.nr_segs; s++)
				ck_assert_uint_le(img.segs[s].offset +
							  img.segs[s].filesz,
						  len);
		}
	}
	g_rand_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("elf");

	UNIT_TCASE(s, "valid", valid_elf64_quad_note, valid_elf64_long_note,
		   valid_elf32, detect_formats, note_only_in_sections,
		   other_notes_skipped, note_align_8, empty_load_segment_ignored);
	UNIT_TCASE(s, "malformed", bad_ident, truncated_header,
		   every_truncation_fails, wrong_type_and_machine,
		   program_header_table, segment_past_eof, segment_offset_wraps,
		   segment_elf32_past_eof, segment_sizes, too_many_segments,
		   overlapping_segments, no_load_segments, missing_note,
		   bad_note_desc_size, bad_note_sizes, bad_section_headers,
		   entry_checks, mutations_do_not_crash);
	return unit_run(s);
}
