/* SPDX-License-Identifier: MIT */
/*
 * Kernel images built byte by byte at run time for the x86 boot tests: a
 * minimal PVH ELF (ELF64 or ELF32) and a minimal bzImage, each with a known
 * layout so a test can corrupt exactly one field.
 */
#ifndef TERN_TEST_X86_IMAGES_H
#define TERN_TEST_X86_IMAGES_H

#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "tern/le.h"

/*
 * The PVH ELF fixture:
 *   0x000 ELF header
 *   phoff program headers: [0] PT_LOAD, [1] PT_NOTE
 *   note  "Xen" XEN_ELFNOTE_PHYS32_ENTRY (4- or 8-byte descriptor)
 *   shoff section headers: [0] null, [1] SHT_NOTE over the same note
 *   0x1000 the segment's file bytes (IMG_SEG_FILESZ of a pattern)
 * The segment loads at IMG_PADDR with IMG_SEG_MEMSZ bytes; the entry is
 * IMG_ENTRY.
 */
#define IMG_PADDR 0x100000ULL
#define IMG_ENTRY 0x100010U
#define IMG_SEG_OFFSET 0x1000
#define IMG_SEG_FILESZ 0x200
#define IMG_SEG_MEMSZ 0x3000
#define IMG_ELF_LEN (IMG_SEG_OFFSET + IMG_SEG_FILESZ)

struct elf_layout {
	bool is64;
	size_t ehsize, phentsize, shentsize;
	size_t phoff, note_off, note_len, shoff;
	/* Field offsets inside a program header. */
	size_t p_offset, p_paddr, p_filesz, p_memsz, p_align;
	unsigned int addr_size; /* 4 or 8 */
};

static inline struct elf_layout elf_layout_get(bool is64, unsigned int descsz)
{
	struct elf_layout l = { .is64 = is64 };

	l.ehsize = is64 ? 64 : 52;
	l.phentsize = is64 ? 56 : 32;
	l.shentsize = is64 ? 64 : 40;
	l.phoff = l.ehsize;
	l.note_off = l.phoff + 2 * l.phentsize;
	l.note_len = 12 + 4 + ((descsz + 3) & ~3U);
	l.shoff = (l.note_off + l.note_len + 7) & ~7UL;
	l.addr_size = is64 ? 8 : 4;
	if (is64) {
		l.p_offset = 8;
		l.p_paddr = 24;
		l.p_filesz = 32;
		l.p_memsz = 40;
		l.p_align = 48;
	} else {
		l.p_offset = 4;
		l.p_paddr = 12;
		l.p_filesz = 16;
		l.p_memsz = 20;
		l.p_align = 28;
	}
	return l;
}

static inline void put_addr(uint8_t *p, unsigned int size, uint64_t v)
{
	if (size == 8)
		le64_put(p, v);
	else
		le32_put(p, (uint32_t)v);
}

/* Offset of program header i's field (one of the l.p_* offsets). */
static inline size_t elf_ph(const struct elf_layout *l, unsigned int i,
			    size_t field)
{
	return l->phoff + i * l->phentsize + field;
}

static inline uint8_t *elf_image_build(bool is64, unsigned int descsz,
				       struct elf_layout *lo, size_t *len)
{
	struct elf_layout l = elf_layout_get(is64, descsz);
	uint8_t *b = g_malloc0(IMG_ELF_LEN);
	unsigned int as = l.addr_size;
	uint8_t *ph, *sh, *n;

	/* ELF header */
	memcpy(b, "\x7f" "ELF", 4);
	b[4] = is64 ? 2 : 1; /* class */
	b[5] = 1; /* little-endian */
	b[6] = 1; /* version */
	le16_put(b + 16, 2); /* ET_EXEC */
	le16_put(b + 18, is64 ? 62 : 3); /* EM_X86_64 / EM_386 */
	le32_put(b + 20, 1);
	if (is64) {
		le64_put(b + 24, IMG_ENTRY);
		le64_put(b + 32, l.phoff);
		le64_put(b + 40, l.shoff);
		le16_put(b + 52, 64);
		le16_put(b + 54, 56);
		le16_put(b + 56, 2);
		le16_put(b + 58, 64);
		le16_put(b + 60, 2);
	} else {
		le32_put(b + 24, IMG_ENTRY);
		le32_put(b + 28, (uint32_t)l.phoff);
		le32_put(b + 32, (uint32_t)l.shoff);
		le16_put(b + 40, 52);
		le16_put(b + 42, 32);
		le16_put(b + 44, 2);
		le16_put(b + 46, 40);
		le16_put(b + 48, 2);
	}

	/* [0] PT_LOAD */
	ph = b + l.phoff;
	le32_put(ph, 1);
	put_addr(ph + l.p_offset, as, IMG_SEG_OFFSET);
	put_addr(ph + (is64 ? 16 : 8), as, IMG_PADDR); /* vaddr */
	put_addr(ph + l.p_paddr, as, IMG_PADDR);
	put_addr(ph + l.p_filesz, as, IMG_SEG_FILESZ);
	put_addr(ph + l.p_memsz, as, IMG_SEG_MEMSZ);
	put_addr(ph + l.p_align, as, 0x1000);
	/* [1] PT_NOTE */
	ph += l.phentsize;
	le32_put(ph, 4);
	put_addr(ph + l.p_offset, as, l.note_off);
	put_addr(ph + l.p_filesz, as, l.note_len);
	put_addr(ph + l.p_memsz, as, l.note_len);
	put_addr(ph + l.p_align, as, 4);

	/* The note: namesz 4 "Xen\0", descsz, type 18, descriptor */
	n = b + l.note_off;
	le32_put(n, 4);
	le32_put(n + 4, descsz);
	le32_put(n + 8, 18);
	memcpy(n + 12, "Xen", 4);
	if (descsz == 8)
		le64_put(n + 16, IMG_ENTRY);
	else if (descsz >= 4)
		le32_put(n + 16, IMG_ENTRY);

	/* Section [1] SHT_NOTE over the same bytes. */
	sh = b + l.shoff + l.shentsize;
	le32_put(sh + 4, 7);
	if (is64) {
		le64_put(sh + 24, l.note_off);
		le64_put(sh + 32, l.note_len);
		le64_put(sh + 48, 4);
	} else {
		le32_put(sh + 16, (uint32_t)l.note_off);
		le32_put(sh + 20, (uint32_t)l.note_len);
		le32_put(sh + 32, 4);
	}

	for (unsigned int i = 0; i < IMG_SEG_FILESZ; i++)
		b[IMG_SEG_OFFSET + i] = (uint8_t)(i * 7 + 1);
	if (lo)
		*lo = l;
	*len = IMG_ELF_LEN;
	return b;
}

/*
 * The bzImage fixture: one setup sector after the boot sector (setup_size
 * 0x400), then BZ_KERNEL_SIZE bytes of protected-mode kernel. Protocol
 * 2.15, relocatable, prefers 16 MiB, needs BZ_INIT_SIZE from there.
 */
#define BZ_SETUP_SECTS 1
#define BZ_SETUP_SIZE 0x400
#define BZ_KERNEL_SIZE 0x1000
#define BZ_LEN (BZ_SETUP_SIZE + BZ_KERNEL_SIZE)
#define BZ_PREF_ADDRESS 0x1000000ULL
#define BZ_INIT_SIZE 0x400000U
#define BZ_CMDLINE_SIZE 2047U
#define BZ_INITRD_ADDR_MAX 0x7fffffffU
#define BZ_KERNEL_ALIGNMENT 0x200000U

static inline uint8_t *bzimage_build(size_t *len)
{
	uint8_t *b = g_malloc0(BZ_LEN);

	b[0x1f1] = BZ_SETUP_SECTS;
	le32_put(b + 0x1f4, BZ_KERNEL_SIZE / 16); /* syssize */
	le16_put(b + 0x1fa, 0xfffd); /* vid_mode "ask": we must override */
	le16_put(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb; /* jmp short past the header */
	b[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(b + 0x202, "HdrS", 4);
	le16_put(b + 0x206, 0x020f);
	b[0x211] = 0x01; /* LOADED_HIGH */
	le32_put(b + 0x214, 0x100000); /* code32_start */
	le32_put(b + 0x22c, BZ_INITRD_ADDR_MAX);
	le32_put(b + 0x230, BZ_KERNEL_ALIGNMENT);
	b[0x234] = 1; /* relocatable */
	b[0x235] = 21; /* min_alignment: 2 MiB */
	le16_put(b + 0x236, 0x0003); /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	le32_put(b + 0x238, BZ_CMDLINE_SIZE);
	le64_put(b + 0x258, BZ_PREF_ADDRESS);
	le32_put(b + 0x260, BZ_INIT_SIZE);
	for (unsigned int i = 0; i < BZ_KERNEL_SIZE; i++)
		b[BZ_SETUP_SIZE + i] = (uint8_t)(i * 13 + 5);
	*len = BZ_LEN;
	return b;
}

#endif
