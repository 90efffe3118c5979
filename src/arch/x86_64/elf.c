// SPDX-License-Identifier: MIT
/*
 * Kernel format detection and PVH ELF parsing. An image is untrusted input:
 * every offset and size is checked against the file before it is used, in
 * arithmetic that cannot wrap, and every rejection says what is wrong where.
 */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tern/boot.h"
#include "tern/bootparam.h"
#include "tern/error.h"

#include "arch.h"

#define ELF_NOTE_HDR_SIZE 12 /* namesz, descsz, type */

/* The ELF32 and ELF64 headers normalised, so one parser serves both. */
struct elf_file {
	const uint8_t *buf;
	size_t len;
	bool is64;
	uint64_t phoff;
	uint64_t shoff;
	uint16_t phentsize;
	uint16_t phnum;
	uint16_t shentsize;
	uint16_t shnum;
};

enum kernel_format kernel_detect(const uint8_t *buf, size_t len)
{
	if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG))
		return KERNEL_FORMAT_PVH_ELF;
	if (len >= BOOT_HDRS_OFFSET + 4 &&
	    le16_get(buf + BOOT_FLAG_OFFSET) == BOOT_FLAG_MAGIC &&
	    le32_get(buf + BOOT_HDRS_OFFSET) == BOOT_HDRS_MAGIC)
		return KERNEL_FORMAT_BZIMAGE;
	return KERNEL_FORMAT_UNKNOWN;
}

static bool elf_header_read(const uint8_t *buf, size_t len, struct elf_file *f,
			    GError **err)
{
	uint16_t type, machine;

	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	if (len < SELFMAG || memcmp(buf, ELFMAG, SELFMAG)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "not an ELF file (no \\x7fELF magic)");
		return false;
	}
	if (len < EI_NIDENT) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF header truncated: file is %zu bytes", len);
		return false;
	}
	if (buf[EI_CLASS] != ELFCLASS32 && buf[EI_CLASS] != ELFCLASS64) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "unsupported ELF class %u (expected 1 for ELF32 or 2 for ELF64)",
			    buf[EI_CLASS]);
		return false;
	}
	if (buf[EI_DATA] != ELFDATA2LSB) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF data encoding %u is not little-endian",
			    buf[EI_DATA]);
		return false;
	}
	if (buf[EI_VERSION] != EV_CURRENT) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "unsupported ELF version %u", buf[EI_VERSION]);
		return false;
	}
	f->is64 = buf[EI_CLASS] == ELFCLASS64;
	if (f->is64) {
		Elf64_Ehdr eh;

		if (len < sizeof(eh)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "ELF header truncated: file is %zu bytes, the ELF64 header needs %zu",
				    len, sizeof(eh));
			return false;
		}
		memcpy(&eh, buf, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		f->phoff = eh.e_phoff;
		f->shoff = eh.e_shoff;
		f->phentsize = eh.e_phentsize;
		f->phnum = eh.e_phnum;
		f->shentsize = eh.e_shentsize;
		f->shnum = eh.e_shnum;
	} else {
		Elf32_Ehdr eh;

		if (len < sizeof(eh)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "ELF header truncated: file is %zu bytes, the ELF32 header needs %zu",
				    len, sizeof(eh));
			return false;
		}
		memcpy(&eh, buf, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		f->phoff = eh.e_phoff;
		f->shoff = eh.e_shoff;
		f->phentsize = eh.e_phentsize;
		f->phnum = eh.e_phnum;
		f->shentsize = eh.e_shentsize;
		f->shnum = eh.e_shnum;
	}
	if (type != ET_EXEC) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF type %u is not an executable (ET_EXEC)", type);
		return false;
	}
	/* ELF32 kernels may be EM_386 or, from objcopy, EM_X86_64. */
	if (machine != EM_X86_64 && machine != EM_386) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF machine %u is not x86 (EM_386 or EM_X86_64)",
			    machine);
		return false;
	}
	return true;
}

static bool elf_phdrs_check(const struct elf_file *f, GError **err)
{
	size_t want = f->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);

	if (f->phnum == 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF file has no program headers");
		return false;
	}
	if (f->phnum == PN_XNUM) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF file uses extended program header numbering (PN_XNUM), not supported");
		return false;
	}
	if (f->phentsize != want) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF program header size is %u bytes, expected %zu",
			    f->phentsize, want);
		return false;
	}
	/* phnum * phentsize is at most 0xfffe * 56: no overflow in 64 bits. */
	if (!range_in_buf(f->phoff, (uint64_t)f->phnum * f->phentsize, f->len)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF program headers extend past end of file (offset 0x%" PRIx64
			    ", %u entries of %u bytes, file 0x%zx)",
			    f->phoff, f->phnum, f->phentsize, f->len);
		return false;
	}
	return true;
}

/* Only after elf_phdrs_check(). */
static void elf_phdr_get(const struct elf_file *f, unsigned int i,
			 Elf64_Phdr *ph)
{
	const uint8_t *p = f->buf + f->phoff + (uint64_t)i * f->phentsize;

	if (f->is64) {
		memcpy(ph, p, sizeof(*ph));
	} else {
		Elf32_Phdr ph32;

		memcpy(&ph32, p, sizeof(ph32));
		ph->p_type = ph32.p_type;
		ph->p_flags = ph32.p_flags;
		ph->p_offset = ph32.p_offset;
		ph->p_vaddr = ph32.p_vaddr;
		ph->p_paddr = ph32.p_paddr;
		ph->p_filesz = ph32.p_filesz;
		ph->p_memsz = ph32.p_memsz;
		ph->p_align = ph32.p_align;
	}
}

/* Only after the section header table was checked to lie in the file. */
static void elf_shdr_get(const struct elf_file *f, unsigned int i,
			 Elf64_Shdr *sh)
{
	const uint8_t *p = f->buf + f->shoff + (uint64_t)i * f->shentsize;

	if (f->is64) {
		memcpy(sh, p, sizeof(*sh));
	} else {
		Elf32_Shdr sh32;

		memcpy(&sh32, p, sizeof(sh32));
		sh->sh_name = sh32.sh_name;
		sh->sh_type = sh32.sh_type;
		sh->sh_flags = sh32.sh_flags;
		sh->sh_addr = sh32.sh_addr;
		sh->sh_offset = sh32.sh_offset;
		sh->sh_size = sh32.sh_size;
		sh->sh_link = sh32.sh_link;
		sh->sh_info = sh32.sh_info;
		sh->sh_addralign = sh32.sh_addralign;
		sh->sh_entsize = sh32.sh_entsize;
	}
}

/*
 * Walk the notes in [off, off + size) of the file (already checked to lie in
 * it) looking for Xen's PHYS32_ENTRY. Returns 1 with *entry set, 0 when the
 * notes are well formed but hold none, -1 with err set when they are not.
 */
static int elf_notes_find_entry(const struct elf_file *f, uint64_t off,
				uint64_t size, uint64_t align,
				const char *where, uint32_t *entry,
				GError **err)
{
	const uint8_t *notes = f->buf + off;
	uint64_t pos = 0;

	while (pos < size) {
		uint64_t left = size - pos;
		uint32_t namesz, descsz, type;
		uint64_t name_span, desc_pos, next;

		if (left < ELF_NOTE_HDR_SIZE) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "%s: note at offset 0x%" PRIx64
				    ": header truncated (%" PRIu64 " bytes left, a note header is 12)",
				    where, off + pos, left);
			return -1;
		}
		namesz = le32_get(notes + pos);
		descsz = le32_get(notes + pos + 4);
		type = le32_get(notes + pos + 8);
		/* 32-bit sizes padded in 64 bits cannot wrap. */
		name_span = ALIGN_UP((uint64_t)namesz, align);
		if (name_span > left - ELF_NOTE_HDR_SIZE) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "%s: note at offset 0x%" PRIx64
				    ": name size %u runs past the end of the notes (0x%" PRIx64
				    " bytes left)",
				    where, off + pos, namesz, left);
			return -1;
		}
		desc_pos = pos + ELF_NOTE_HDR_SIZE + name_span;
		if (descsz > size - desc_pos) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "%s: note at offset 0x%" PRIx64
				    ": descriptor size %u runs past the end of the notes (0x%" PRIx64
				    " bytes left)",
				    where, off + pos, descsz, size - desc_pos);
			return -1;
		}
		if (namesz == 4 && !memcmp(notes + pos + ELF_NOTE_HDR_SIZE, "Xen", 4) &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t value;

			/* Linux emits a .quad, smaller kernels a .long. */
			if (descsz == 4) {
				value = le32_get(notes + desc_pos);
			} else if (descsz == 8) {
				value = le64_get(notes + desc_pos);
			} else {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "%s: XEN_ELFNOTE_PHYS32_ENTRY note has a %u-byte descriptor, expected 4 or 8",
					    where, descsz);
				return -1;
			}
			if (value > UINT32_MAX) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "%s: XEN_ELFNOTE_PHYS32_ENTRY 0x%" PRIx64
					    " is above 4 GiB, out of reach of a 32-bit entry",
					    where, value);
				return -1;
			}
			*entry = (uint32_t)value;
			return 1;
		}
		next = desc_pos + ALIGN_UP((uint64_t)descsz, align);
		/* The last note may omit its trailing padding. */
		pos = next < size ? next : size;
	}
	return 0;
}

/* A note's alignment is 8 only where its container says so; else 4. */
static uint64_t elf_note_align(uint64_t container_align)
{
	return container_align == 8 ? 8 : 4;
}

static int elf_find_entry_in_sections(const struct elf_file *f,
				      uint32_t *entry, GError **err)
{
	size_t want = f->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);

	/* shnum 0 with shoff set means > 0xff00 sections: no kernel has that. */
	if (!f->shoff || !f->shnum)
		return 0;
	if (f->shentsize != want) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF section header size is %u bytes, expected %zu",
			    f->shentsize, want);
		return -1;
	}
	if (!range_in_buf(f->shoff, (uint64_t)f->shnum * f->shentsize, f->len)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF section headers extend past end of file (offset 0x%" PRIx64
			    ", %u entries of %u bytes, file 0x%zx)",
			    f->shoff, f->shnum, f->shentsize, f->len);
		return -1;
	}
	for (unsigned int i = 0; i < f->shnum; i++) {
		Elf64_Shdr sh;
		char where[48];
		int ret;

		elf_shdr_get(f, i, &sh);
		if (sh.sh_type != SHT_NOTE)
			continue;
		snprintf(where, sizeof(where), "ELF section %u", i);
		if (!range_in_buf(sh.sh_offset, sh.sh_size, f->len)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "%s: notes extend past end of file (offset 0x%" PRIx64
				    ", size 0x%" PRIx64 ", file 0x%zx)",
				    where, (uint64_t)sh.sh_offset,
				    (uint64_t)sh.sh_size, f->len);
			return -1;
		}
		ret = elf_notes_find_entry(f, sh.sh_offset, sh.sh_size,
					   elf_note_align(sh.sh_addralign),
					   where, entry, err);
		if (ret)
			return ret;
	}
	return 0;
}

static bool elf_load_segment_add(struct pvh_image *img, unsigned int i,
				 const Elf64_Phdr *ph, size_t len,
				 GError **err)
{
	struct elf_load_segment *seg;

	if (ph->p_filesz > ph->p_memsz) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF program header %u: file size 0x%" PRIx64
			    " exceeds memory size 0x%" PRIx64,
			    i, (uint64_t)ph->p_filesz, (uint64_t)ph->p_memsz);
		return false;
	}
	if (!range_in_buf(ph->p_offset, ph->p_filesz, len)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF program header %u: segment extends past end of file (offset 0x%" PRIx64
			    ", size 0x%" PRIx64 ", file 0x%zx)",
			    i, (uint64_t)ph->p_offset, (uint64_t)ph->p_filesz,
			    len);
		return false;
	}
	if (ph->p_paddr > UINT64_MAX - ph->p_memsz) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF program header %u: segment at 0x%" PRIx64
			    " (0x%" PRIx64 " bytes) wraps around the address space",
			    i, (uint64_t)ph->p_paddr, (uint64_t)ph->p_memsz);
		return false;
	}
	/* The PVH entry runs with paging off: nothing above 4 GiB is reachable. */
	if (ph->p_paddr + ph->p_memsz > 4 * GiB) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF program header %u: segment at 0x%" PRIx64
			    " (0x%" PRIx64
			    " bytes) ends above 4 GiB, out of reach of the 32-bit PVH entry",
			    i, (uint64_t)ph->p_paddr, (uint64_t)ph->p_memsz);
		return false;
	}
	if (img->nr_segs == ELF_MAX_LOAD_SEGMENTS) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF file has more than %u PT_LOAD segments",
			    ELF_MAX_LOAD_SEGMENTS);
		return false;
	}
	for (unsigned int j = 0; j < img->nr_segs; j++) {
		const struct elf_load_segment *o = &img->segs[j];

		if (ph->p_paddr < o->paddr + o->memsz &&
		    o->paddr < ph->p_paddr + ph->p_memsz) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "ELF program header %u: segment at 0x%" PRIx64
				    " (0x%" PRIx64
				    " bytes) overlaps the one at 0x%" PRIx64
				    " (0x%" PRIx64 " bytes)",
				    i, (uint64_t)ph->p_paddr,
				    (uint64_t)ph->p_memsz, o->paddr, o->memsz);
			return false;
		}
	}
	seg = &img->segs[img->nr_segs++];
	seg->paddr = ph->p_paddr;
	seg->offset = ph->p_offset;
	seg->filesz = ph->p_filesz;
	seg->memsz = ph->p_memsz;
	if (img->nr_segs == 1 || seg->paddr < img->lowest)
		img->lowest = seg->paddr;
	if (seg->paddr + seg->memsz > img->highest)
		img->highest = seg->paddr + seg->memsz;
	return true;
}

bool pvh_elf_parse(const uint8_t *buf, size_t len, struct pvh_image *img,
		   GError **err)
{
	struct elf_file f;
	bool found = false;
	uint32_t entry = 0;
	int ret;

	memset(img, 0, sizeof(*img));
	if (!elf_header_read(buf, len, &f, err) || !elf_phdrs_check(&f, err))
		return false;

	for (unsigned int i = 0; i < f.phnum; i++) {
		Elf64_Phdr ph;

		elf_phdr_get(&f, i, &ph);
		if (ph.p_type == PT_LOAD) {
			/* An empty PT_LOAD loads nothing; linkers do emit them. */
			if (!ph.p_memsz && !ph.p_filesz)
				continue;
			if (!elf_load_segment_add(img, i, &ph, len, err))
				return false;
		} else if (ph.p_type == PT_NOTE && !found) {
			char where[48];

			snprintf(where, sizeof(where), "ELF program header %u", i);
			if (!range_in_buf(ph.p_offset, ph.p_filesz, len)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "%s: notes extend past end of file (offset 0x%" PRIx64
					    ", size 0x%" PRIx64 ", file 0x%zx)",
					    where, (uint64_t)ph.p_offset,
					    (uint64_t)ph.p_filesz, len);
				return false;
			}
			ret = elf_notes_find_entry(&f, ph.p_offset, ph.p_filesz,
						   elf_note_align(ph.p_align),
						   where, &entry, err);
			if (ret < 0)
				return false;
			found = ret > 0;
		}
	}
	if (!img->nr_segs) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "ELF file has no loadable (PT_LOAD) segments");
		return false;
	}
	if (!found) {
		/* Linkers that drop PT_NOTE still keep the section. */
		ret = elf_find_entry_in_sections(&f, &entry, err);
		if (ret < 0)
			return false;
		found = ret > 0;
	}
	if (!found) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "no XEN_ELFNOTE_PHYS32_ENTRY note: not a PVH kernel");
		return false;
	}
	for (unsigned int i = 0; i < img->nr_segs; i++) {
		const struct elf_load_segment *s = &img->segs[i];

		if (entry >= s->paddr && entry - s->paddr < s->filesz) {
			img->entry = entry;
			return true;
		}
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "PVH entry 0x%" PRIx32
		    " does not lie in the file contents of any PT_LOAD segment",
		    entry);
	return false;
}
