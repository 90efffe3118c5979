// SPDX-License-Identifier: MIT
/*
 * The OVMF/TDVF GUIDed footer table and the SEV and TDVF metadata it points
 * to. Layout: edk2 OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm (the table
 * ends 32 bytes before the end of the image, walked backwards),
 * OvmfSevMetadata.asm ("ASEV"), and the TDX Virtual Firmware Design Guide
 * rev 1.01 ch. 11 ("TDVF"). QEMU's hw/i386/pc_sysfw_ovmf.c reads the same.
 * Every offset comes from the image, so every one is checked against it.
 */
#include <string.h>

#include "tern/confidential.h"
#include "tern/error.h"
#include "tern/le.h"

#define FOOTER_TAIL 32 /* bytes after the table: the reset vector */
#define ENTRY_HDR 18 /* u16 length + 16-byte GUID, after the data */

/* GUIDs in EFI byte order (first three fields little-endian). */
static const uint8_t guid_footer[16] = { 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f,
					 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66,
					 0xc5, 0x5a, 0x08, 0x2d };
static const uint8_t guid_reset_block[16] = { 0xde, 0x71, 0xf7, 0x00, 0x7e,
					      0x1a, 0xcb, 0x4f, 0x89, 0x0e,
					      0x68, 0xc7, 0x7e, 0x2f, 0xb4,
					      0x4e };
static const uint8_t guid_sev_metadata[16] = { 0x66, 0x65, 0x88, 0xdc, 0x4a,
					       0x98, 0x98, 0x47, 0xa7, 0x5e,
					       0x55, 0x85, 0xa7, 0xbf, 0x67,
					       0xcc };
static const uint8_t guid_hashes_table[16] = { 0x1f, 0x37, 0x55, 0x72, 0x3b,
					       0x3a, 0x04, 0x4b, 0x92, 0x7b,
					       0x1d, 0xa6, 0xef, 0xa8, 0xd4,
					       0x54 };
/* 4c2eb361-7d9b-4cc3-8081-127c90d3d294: where the owner's secret goes. */
static const uint8_t guid_secret_area[16] = { 0x61, 0xb3, 0x2e, 0x4c, 0x9b,
					      0x7d, 0xc3, 0x4c, 0x80, 0x81,
					      0x12, 0x7c, 0x90, 0xd3, 0xd2,
					      0x94 };
/* a789a612-0597-4c4b-a49f-cbb1fe9d1ddd: an SVSM image's entry point. */
static const uint8_t guid_svsm_info[16] = { 0x12, 0xa6, 0x89, 0xa7, 0x97,
					    0x05, 0x4b, 0x4c, 0xa4, 0x9f,
					    0xcb, 0xb1, 0xfe, 0x9d, 0x1d,
					    0xdd };
static const uint8_t guid_tdx_metadata[16] = { 0x35, 0x65, 0x7a, 0xe4, 0x4a,
					       0x98, 0x98, 0x47, 0x86, 0x5e,
					       0x46, 0x85, 0xa7, 0xbf, 0x8e,
					       0xc2 };

#define SEV_META_SIG "ASEV"
#define SEV_META_HDR 16
#define SEV_META_ENTRY 12
#define TDVF_SIG "TDVF"
#define TDVF_HDR 16
#define TDVF_ENTRY 32

static bool fail(GError **err, const char *fmt, const char *what)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, fmt, what);
	return false;
}

/* NULL, or what is wrong with the SEV metadata. */
static const char *ovmf_sev_metadata_parse(const uint8_t *img, size_t len,
					   uint32_t from_end,
					   struct ovmf_info *info)
{
	const uint8_t *p;
	uint32_t mlen, count;

	if (from_end > len || len - from_end + SEV_META_HDR > len)
		return "--firmware: the SEV metadata offset points outside the image";
	p = img + len - from_end;
	if (memcmp(p, SEV_META_SIG, 4))
		return "--firmware: the SEV metadata lacks its \"ASEV\" signature";
	mlen = le32_get(p + 4);
	count = le32_get(p + 12);
	if (le32_get(p + 8) != 1)
		return "--firmware: the SEV metadata has an unknown version";
	if (count > OVMF_MAX_SECTIONS ||
	    mlen < SEV_META_HDR + (uint64_t)count * SEV_META_ENTRY ||
	    mlen > from_end)
		return "--firmware: the SEV metadata has a bad length or count";
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = p + SEV_META_HDR + i * SEV_META_ENTRY;
		struct sev_section *s = &info->sev[i];

		s->gpa = le32_get(e);
		s->size = le32_get(e + 4);
		s->type = le32_get(e + 8);
		if (s->gpa % CONF_PAGE_SIZE || s->size % CONF_PAGE_SIZE ||
		    !s->size || (uint64_t)s->gpa + s->size > 1ull << 32)
			return "--firmware: an SEV metadata section is not whole pages below 4G";
	}
	info->nr_sev = count;
	return NULL;
}

/* NULL, or what is wrong with the TDVF metadata. */
static const char *ovmf_tdvf_parse(const uint8_t *img, size_t len,
				   uint32_t from_end, struct ovmf_info *info)
{
	const uint8_t *p;
	uint32_t dlen, count;

	if (from_end > len || len - from_end + TDVF_HDR > len)
		return "--firmware: the TDX metadata offset points outside the image";
	p = img + len - from_end;
	if (memcmp(p, TDVF_SIG, 4))
		return "--firmware: the TDX metadata lacks its \"TDVF\" signature";
	dlen = le32_get(p + 4);
	count = le32_get(p + 12);
	if (count > OVMF_MAX_SECTIONS ||
	    dlen < TDVF_HDR + (uint64_t)count * TDVF_ENTRY || dlen > from_end)
		return "--firmware: the TDX metadata has a bad length or count";
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = p + TDVF_HDR + i * TDVF_ENTRY;
		struct tdvf_section *s = &info->tdvf[i];

		s->data_offset = le32_get(e);
		s->raw_size = le32_get(e + 4);
		s->gpa = le64_get(e + 8);
		s->mem_size = le64_get(e + 16);
		s->type = le32_get(e + 24);
		s->attributes = le32_get(e + 28);
		if ((uint64_t)s->data_offset + s->raw_size > len ||
		    s->raw_size > s->mem_size || s->gpa % CONF_PAGE_SIZE ||
		    s->mem_size % CONF_PAGE_SIZE ||
		    s->gpa + s->mem_size < s->gpa)
			return "--firmware: a TDVF section is outside the image or not whole pages";
	}
	info->nr_tdvf = count;
	info->has_tdvf = true;
	return NULL;
}

bool ovmf_parse(const uint8_t *img, size_t len, struct ovmf_info *info,
		GError **err)
{
	const uint8_t *footer;
	size_t table_len, pos, start;
	bool has_sev_meta = false, has_tdx_meta = false;
	uint32_t sev_off = 0, tdx_off = 0;

	memset(info, 0, sizeof(*info));
	if (!len || len % CONF_PAGE_SIZE || len > 1ull << 32)
		return fail(err, "--firmware: %s must be whole 4K pages, at most 4G",
			    "the image");
	info->load_gpa = (1ull << 32) - len;
	if (len < FOOTER_TAIL + ENTRY_HDR)
		return true;
	footer = img + len - FOOTER_TAIL - ENTRY_HDR;
	if (memcmp(footer + 2, guid_footer, 16))
		return true; /* no table: a plain flash image */
	table_len = le16_get(footer);
	if (table_len < ENTRY_HDR || table_len > len - FOOTER_TAIL)
		return fail(err, "--firmware: %s has a bad length",
			    "the footer GUID table");
	start = len - FOOTER_TAIL - table_len;
	/* Walk back from the footer entry; each entry's length covers it all. */
	pos = len - FOOTER_TAIL - ENTRY_HDR;
	while (pos > start) {
		const uint8_t *hdr;
		size_t elen;

		if (pos - start < ENTRY_HDR)
			return fail(err, "--firmware: %s has a truncated entry",
				    "the footer GUID table");
		hdr = img + pos - ENTRY_HDR;
		elen = le16_get(hdr);
		if (elen < ENTRY_HDR || elen > pos - start)
			return fail(err, "--firmware: %s has an entry with a bad length",
				    "the footer GUID table");
		const uint8_t *data = img + pos - elen;
		size_t dlen = elen - ENTRY_HDR;

		if (!memcmp(hdr + 2, guid_svsm_info, 16) && dlen >= 4) {
			info->has_svsm_info = true;
			info->svsm_entry_offset = le32_get(data);
		}
		if (!memcmp(hdr + 2, guid_reset_block, 16) && dlen >= 4) {
			info->has_reset_block = true;
			info->ap_reset_eip = le32_get(data);
		} else if (!memcmp(hdr + 2, guid_hashes_table, 16) &&
			   dlen >= 8) {
			info->hashes_gpa = le32_get(data);
			info->hashes_size = le32_get(data + 4);
			info->has_hashes_table = info->hashes_gpa != 0;
		} else if (!memcmp(hdr + 2, guid_secret_area, 16) &&
			   dlen >= 8) {
			info->secret_gpa = le32_get(data);
			info->secret_size = le32_get(data + 4);
			info->has_secret_area = info->secret_gpa != 0;
		} else if (!memcmp(hdr + 2, guid_sev_metadata, 16) &&
			   dlen >= 4) {
			has_sev_meta = true;
			sev_off = le32_get(data);
		} else if (!memcmp(hdr + 2, guid_tdx_metadata, 16) &&
			   dlen >= 4) {
			has_tdx_meta = true;
			tdx_off = le32_get(data);
		}
		pos -= elen;
	}
	/*
	 * A bad metadata table matters only to the guest kind that reads it
	 * (test images carry TDVF tables sized for another image): recorded
	 * here, reported by the launch plan that needs it.
	 */
	if (has_sev_meta)
		info->sev_problem = ovmf_sev_metadata_parse(img, len, sev_off,
							    info);
	if (has_tdx_meta)
		info->tdvf_problem = ovmf_tdvf_parse(img, len, tdx_off, info);
	return true;
}
