// SPDX-License-Identifier: MIT
/*
 * What virtio-balloon parses (balloon-pages.c), fed as balloon.c feeds it:
 *
 *   mode 0  an inflate or deflate list: the readable bytes as le32 page
 *           numbers, at most 64 Ki of them, in chunks of 1024 through
 *           balloon_pfn_ranges() against RAM laid out as a VM of that
 *           size has it (below the 32-bit hole and above 4 GiB); every
 *           page that is RAM must come back in a range, in list order,
 *           and no range may leave its region
 *   mode 1  a statistics buffer through balloon_stats_parse(), cut to
 *           what the device reads of it, checked against the entries
 *   mode 2  the --balloon option's value through balloon_config_parse()
 *
 * The page numbers, the ranges and the statistics are heap blocks of
 * their exact size, so AddressSanitizer sees a read or write past them.
 *
 * Input: u8 mode (% 3); mode 0: u32 RAM pages - 1, then the list; mode 1:
 * the buffer; mode 2: the option's value.
 */
#include <endian.h>
#include <string.h>

#include "tern/memory.h"
#include "tern/virtio-balloon.h"
#include "fuzz.h"

/*
 * The bounds balloon.c applies before it parses (balloon-internal.h's,
 * which only the device's own files include): page numbers per chunk and
 * per chain, statistics bytes read. The functions' contracts hold for any.
 */
#define PFN_CHUNK 1024
#define MAX_PFNS (64U * PFN_CHUNK)
#define STATS_MAX_BYTES (64 * BALLOON_STAT_ENTRY_SIZE)

static void ranges_check(const struct guest_memory *mem, const uint32_t *pfns,
			 unsigned int n, const struct balloon_range *r,
			 unsigned int nr, unsigned int bad, uint32_t first_bad)
{
	unsigned int seen_bad = 0;
	uint64_t off = 0;
	int j = -1;

	FUZZ_CHECK(nr <= n);
	for (unsigned int k = 0; k < nr; k++) {
		FUZZ_CHECK(r[k].len && !((r[k].gpa | r[k].len) &
					 (BALLOON_PAGE_SIZE - 1)));
		/* Inside one region: the discard is one madvise of one map. */
		FUZZ_CHECK(guest_memory_contains(mem, r[k].gpa, r[k].len));
	}
	/* Each page that is RAM extends the current range or starts the next. */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)pfns[i] << BALLOON_PFN_SHIFT;

		if (!guest_memory_contains(mem, gpa, BALLOON_PAGE_SIZE)) {
			if (!seen_bad++)
				FUZZ_CHECK(first_bad == pfns[i]);
			continue;
		}
		if (j >= 0 && off < r[j].len) {
			FUZZ_CHECK(gpa == r[j].gpa + off);
		} else {
			j++;
			FUZZ_CHECK((unsigned int)j < nr && gpa == r[j].gpa);
			off = 0;
		}
		off += BALLOON_PAGE_SIZE;
	}
	FUZZ_CHECK(seen_bad == bad);
	FUZZ_CHECK(j + 1 == (int)nr && (!nr || off == r[j].len));
}

/* balloon_handle_pages(): the list in chunks, each chunk parsed alone. */
static void pages_run(struct fuzz_input *in)
{
	uint64_t ram = ((uint64_t)fuzz_u32(in) + 1) * BALLOON_PAGE_SIZE;
	uint64_t total = MIN(in->len / sizeof(uint32_t), (size_t)MAX_PFNS);
	struct guest_memory mem;

	if (guest_memory_layout(ram, &mem))
		return;
	for (uint64_t done = 0; done < total;) {
		unsigned int n = (unsigned int)MIN(total - done, PFN_CHUNK);
		uint32_t *pfns = g_new(uint32_t, n);
		struct balloon_range *r = g_new(struct balloon_range, n);
		unsigned int nr, bad = 0;
		uint32_t first_bad = 0;

		memcpy(pfns, in->p + done * sizeof(uint32_t),
		       n * sizeof(uint32_t));
		for (unsigned int i = 0; i < n; i++)
			pfns[i] = le32toh(pfns[i]);
		nr = balloon_pfn_ranges(&mem, pfns, n, r, &bad, &first_bad);
		ranges_check(&mem, pfns, n, r, nr, bad, first_bad);
		g_free(r);
		g_free(pfns);
		done += n;
	}
}

/* balloon_handle_stats(): the first STATS_MAX_BYTES of the buffer. */
static void stats_run(struct fuzz_input *in)
{
	size_t len = MIN(in->len, (size_t)STATS_MAX_BYTES);
	uint8_t *buf = g_memdup2(in->p, len);
	uint64_t values[BALLOON_S_NR], want[BALLOON_S_NR];
	unsigned int known = 0;

	for (unsigned int t = 0; t < BALLOON_S_NR; t++)
		want[t] = BALLOON_STAT_UNSET;
	for (size_t off = 0; off + BALLOON_STAT_ENTRY_SIZE <= len;
	     off += BALLOON_STAT_ENTRY_SIZE) {
		uint16_t tag = (uint16_t)(buf[off] | buf[off + 1] << 8);
		uint64_t v = 0;

		for (unsigned int b = 0; b < 8; b++)
			v |= (uint64_t)buf[off + 2 + b] << (8 * b);
		if (tag < BALLOON_S_NR) {
			want[tag] = v;
			known++;
		}
	}
	FUZZ_CHECK(balloon_stats_parse(buf, len, values) == known);
	FUZZ_CHECK(!memcmp(values, want, sizeof(values)));
	g_free(buf);
}

static void option_run(struct fuzz_input *in)
{
	g_autofree char *spec = g_strndup((const char *)in->p, in->len);
	struct balloon_config c;
	GError *err = NULL;

	if (balloon_config_parse(spec, &c, &err)) {
		FUZZ_CHECK(c.enabled);
	} else {
		FUZZ_CHECK(err && strstr(err->message, "--balloon"));
		g_error_free(err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };

	switch (fuzz_u8(&in) % 3) {
	case 0:
		pages_run(&in);
		break;
	case 1:
		stats_run(&in);
		break;
	default:
		option_run(&in);
		break;
	}
	return 0;
}
