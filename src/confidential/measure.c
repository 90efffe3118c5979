// SPDX-License-Identifier: MIT
/*
 * The launch digest a plan produces, computed as the hardware does:
 *  - SEV-SNP MEASUREMENT: each page replaces the digest by SHA-384 of its
 *    PAGE_INFO (SNP firmware ABI, pub. 56860, SNP_LAUNCH_UPDATE);
 *  - SEV/SEV-ES: SHA-256 over every byte of LAUNCH_UPDATE_DATA and
 *    LAUNCH_UPDATE_VMSA (SEV API, pub. 55766), before LAUNCH_MEASURE's HMAC;
 *  - TDX MRTD: SHA-384 over the 128-byte records of TDH.MEM.PAGE.ADD and
 *    TDH.MR.EXTEND (TDX module base architecture, "MRTD"), one page at a
 *    time as KVM_TDX_INIT_MEM_REGION does it.
 */
#include <string.h>

#include "tern/confidential.h"
#include "tern/le.h"

#define PAGE_INFO_LEN 0x70
#define TDX_RECORD 128
#define TDX_EXTEND_CHUNK 256

static void sha384(const uint8_t *data, size_t len, uint8_t out[48])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA384);
	gsize dlen = SNP_DIGEST_SIZE;

	g_checksum_update(sum, data, len);
	g_checksum_get_digest(sum, out, &dlen);
}

void snp_page_info_extend(uint8_t digest[SNP_DIGEST_SIZE],
			  const uint8_t contents[SNP_DIGEST_SIZE],
			  enum snp_page_type type, uint64_t gpa)
{
	uint8_t info[PAGE_INFO_LEN] = { 0 };

	memcpy(info, digest, SNP_DIGEST_SIZE);
	memcpy(info + 0x30, contents, SNP_DIGEST_SIZE);
	le16_put(info + 0x60, PAGE_INFO_LEN);
	info[0x62] = (uint8_t)type;
	/* IMI_PAGE and the VMPL permissions stay 0: a VMM launch. */
	le64_put(info + 0x68, gpa);
	sha384(info, sizeof(info), digest);
}

static const uint8_t zero_page[CONF_PAGE_SIZE];

static void snp_step_measure(const struct launch_step *s,
			     uint8_t digest[SNP_DIGEST_SIZE])
{
	uint8_t contents[SNP_DIGEST_SIZE];

	for (uint64_t off = 0; off < s->len; off += CONF_PAGE_SIZE) {
		switch (s->kind) {
		case LAUNCH_STEP_DATA:
			sha384(s->data ? s->data + off : zero_page,
			       CONF_PAGE_SIZE, contents);
			snp_page_info_extend(digest, contents, SNP_PAGE_NORMAL,
					     s->gpa + off);
			break;
		case LAUNCH_STEP_VMSA:
			sha384(s->data, CONF_PAGE_SIZE, contents);
			snp_page_info_extend(digest, contents, SNP_PAGE_VMSA,
					     s->gpa);
			break;
		case LAUNCH_STEP_PAGES:
			/* Only NORMAL and VMSA pages have measured contents. */
			memset(contents, 0, sizeof(contents));
			snp_page_info_extend(digest, contents, s->page_type,
					     s->gpa + off);
			break;
		}
	}
}

static void tdx_record(GChecksum *sum, const char *op, uint64_t gpa)
{
	uint8_t rec[TDX_RECORD] = { 0 };

	memcpy(rec, op, strlen(op));
	le64_put(rec + 16, gpa);
	g_checksum_update(sum, rec, sizeof(rec));
}

static void tdx_step_measure(const struct launch_step *s, GChecksum *sum)
{
	for (uint64_t off = 0; off < s->len; off += CONF_PAGE_SIZE) {
		const uint8_t *page = s->kind == LAUNCH_STEP_DATA && s->data ?
					      s->data + off :
					      zero_page;

		tdx_record(sum, "MEM.PAGE.ADD", s->gpa + off);
		if (!s->extend)
			continue;
		for (unsigned int c = 0; c < CONF_PAGE_SIZE;
		     c += TDX_EXTEND_CHUNK) {
			tdx_record(sum, "MR.EXTEND", s->gpa + off + c);
			g_checksum_update(sum, page + c, TDX_EXTEND_CHUNK);
		}
	}
}

size_t launch_plan_measure(const struct launch_plan *plan,
			   uint8_t out[SNP_DIGEST_SIZE])
{
	const struct launch_options *o = &plan->opt;
	g_autoptr(GChecksum) sum = NULL;
	gsize dlen;

	switch (o->kind) {
	case CONFIDENTIAL_SEV_SNP:
		memset(out, 0, SNP_DIGEST_SIZE);
		if (o->has_seed)
			memcpy(out, o->seed, SNP_DIGEST_SIZE);
		for (unsigned int i = 0; i < plan->nr_steps; i++) {
			if (plan->steps[i].firmware ? o->has_seed :
						      o->firmware_only)
				continue;
			snp_step_measure(&plan->steps[i], out);
		}
		return SNP_DIGEST_SIZE;
	case CONFIDENTIAL_SEV:
	case CONFIDENTIAL_SEV_ES:
		sum = g_checksum_new(G_CHECKSUM_SHA256);
		for (unsigned int i = 0; i < plan->nr_steps; i++)
			g_checksum_update(sum, plan->steps[i].data,
					  plan->steps[i].len);
		dlen = SEV_DIGEST_SIZE;
		g_checksum_get_digest(sum, out, &dlen);
		return SEV_DIGEST_SIZE;
	case CONFIDENTIAL_TDX:
		sum = g_checksum_new(G_CHECKSUM_SHA384);
		for (unsigned int i = 0; i < plan->nr_steps; i++)
			tdx_step_measure(&plan->steps[i], sum);
		dlen = SNP_DIGEST_SIZE;
		g_checksum_get_digest(sum, out, &dlen);
		return SNP_DIGEST_SIZE;
	case CONFIDENTIAL_NONE:
		break;
	}
	return 0;
}
