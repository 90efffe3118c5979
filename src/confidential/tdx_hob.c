// SPDX-License-Identifier: MIT
/*
 * The TD HOB: the hand-off block list the VMM leaves in the TDVF's TD_HOB
 * section, from which the firmware learns the guest's memory (TDX Virtual
 * Firmware Design Guide rev 1.01, "TD Hand-Off Block"; the HOB structures
 * are the UEFI PI specification's, vol. 3 ch. 5). As QEMU builds it
 * (hw/i386/tdvf-hob.c): a PHIT (hand-off info table), one resource
 * descriptor per stretch of RAM in address order, SYSTEM_MEMORY where the
 * launch added pages (TDH.MEM.PAGE.ADD) and MEMORY_UNACCEPTED elsewhere
 * (the guest accepts it), and the end-of-list HOB. Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tern/confidential_launch.h"
#include "tern/le.h"

#define HOB_TYPE_HANDOFF 0x0001
#define HOB_TYPE_RESOURCE_DESCRIPTOR 0x0003
#define HOB_TYPE_END_OF_HOB_LIST 0xffff
#define HOB_HANDOFF_TABLE_VERSION 0x0009
#define HOB_HANDOFF_LEN 56 /* header, version, boot mode, 5 addresses */
#define HOB_RESOURCE_LEN 48 /* header, owner GUID, type, attrs, start, len */
#define HOB_END_LEN 8
#define RESOURCE_SYSTEM_MEMORY 0x0
#define RESOURCE_MEMORY_UNACCEPTED 0x7
/* PRESENT | INITIALIZED | TESTED, for both kinds (QEMU's TDVF_PRIVATE and
 * TDVF_UNACCEPTED). */
#define RESOURCE_ATTRS 0x7

struct hob_writer {
	uint8_t *buf;
	size_t len, used;
};

static uint8_t *hob_put(struct hob_writer *w, uint16_t type, uint16_t len)
{
	uint8_t *h;

	if (w->len - w->used < len)
		return NULL;
	h = w->buf + w->used;
	memset(h, 0, len);
	le16_put(h, type);
	le16_put(h + 2, len);
	w->used += len; /* every length here is a multiple of 8 */
	return h;
}

static bool hob_resource(struct hob_writer *w, uint32_t type, uint64_t start,
			 uint64_t len)
{
	uint8_t *h;

	if (!len)
		return true;
	h = hob_put(w, HOB_TYPE_RESOURCE_DESCRIPTOR, HOB_RESOURCE_LEN);
	if (!h)
		return false;
	/* Owner GUID (8..23) stays zero. */
	le32_put(h + 24, type);
	le32_put(h + 28, RESOURCE_ATTRS);
	le64_put(h + 32, start);
	le64_put(h + 40, len);
	return true;
}

static int range_cmp(const void *a, const void *b)
{
	const struct conf_range *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* One RAM range, split where added pages lie (added sorted, disjoint). */
static bool hob_ram(struct hob_writer *w, const struct conf_range *ram,
		    const struct conf_range *added, unsigned int nr_added)
{
	uint64_t pos = ram->gpa, end = ram->gpa + ram->size;

	for (unsigned int i = 0; i < nr_added && pos < end; i++) {
		uint64_t a = added[i].gpa, b = added[i].gpa + added[i].size;

		if (b <= pos || a >= end)
			continue;
		if (a < pos)
			a = pos;
		if (b > end)
			b = end;
		if (!hob_resource(w, RESOURCE_MEMORY_UNACCEPTED, pos, a - pos) ||
		    !hob_resource(w, RESOURCE_SYSTEM_MEMORY, a, b - a))
			return false;
		pos = b;
	}
	return hob_resource(w, RESOURCE_MEMORY_UNACCEPTED, pos, end - pos);
}

ssize_t tdx_hob_build(uint8_t *buf, size_t len, uint64_t hob_gpa,
		      const struct conf_range *ram, unsigned int nr_ram,
		      const struct conf_range *added, unsigned int nr_added)
{
	struct hob_writer w = { .buf = buf, .len = len };
	g_autofree struct conf_range *sorted = NULL;
	uint8_t *phit;

	phit = hob_put(&w, HOB_TYPE_HANDOFF, HOB_HANDOFF_LEN);
	if (!phit)
		return -ENOSPC;
	/* Boot mode 0 (full configuration); the memory fields are unused
	 * by TDVF and stay zero, as QEMU leaves them. */
	le32_put(phit + 8, HOB_HANDOFF_TABLE_VERSION);
	sorted = g_memdup2(added, nr_added * sizeof(*added));
	if (nr_added)
		qsort(sorted, nr_added, sizeof(*sorted), range_cmp);
	/* Overlapping sections: not a TDVF any launch could add. */
	for (unsigned int i = 1; i < nr_added; i++)
		if (sorted[i].gpa < sorted[i - 1].gpa + sorted[i - 1].size)
			return -EINVAL;
	for (unsigned int i = 0; i < nr_ram; i++)
		if (!hob_ram(&w, &ram[i], sorted, nr_added))
			return -ENOSPC;
	if (!hob_put(&w, HOB_TYPE_END_OF_HOB_LIST, HOB_END_LEN))
		return -ENOSPC;
	/* EfiEndOfHobList: the guest address just past the end HOB, as
	 * QEMU sets it. */
	le64_put(phit + 48, hob_gpa + w.used);
	return (ssize_t)w.used;
}
