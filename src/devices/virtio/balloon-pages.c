// SPDX-License-Identifier: MIT
/*
 * The pure parts of virtio-balloon: the --balloon option, the page lists
 * of the inflate and deflate queues, and the statistics buffers. Nothing
 * here touches guest memory or a device, so the unit tests feed them
 * every malformed input directly.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "tern/error.h"
#include "tern/virtio-balloon.h"

/* QEMU 7.2's names (hw/virtio/virtio-balloon.c), indexed by tag. */
const char *const balloon_stat_names[BALLOON_S_NR] = {
	[BALLOON_S_SWAP_IN] = "stat-swap-in",
	[BALLOON_S_SWAP_OUT] = "stat-swap-out",
	[BALLOON_S_MAJFLT] = "stat-major-faults",
	[BALLOON_S_MINFLT] = "stat-minor-faults",
	[BALLOON_S_MEMFREE] = "stat-free-memory",
	[BALLOON_S_MEMTOT] = "stat-total-memory",
	[BALLOON_S_AVAIL] = "stat-available-memory",
	[BALLOON_S_CACHES] = "stat-disk-caches",
	[BALLOON_S_HTLB_PGALLOC] = "stat-htlb-pgalloc",
	[BALLOON_S_HTLB_PGFAIL] = "stat-htlb-pgfail",
};

#define BALLOON_OPTIONS \
	"deflate-on-oom=on|off, free-page-reporting=on|off or stats-period=SECONDS"

static bool balloon_switch(const char *spec, const char *key, const char *val,
			   bool *out, GError **err)
{
	if (!strcmp(val, "on") || !strcmp(val, "off")) {
		*out = !strcmp(val, "on");
		return true;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--balloon '%s': %s='%s': expected on or off", spec, key, val);
	return false;
}

bool balloon_config_parse(const char *spec, struct balloon_config *out,
			  GError **err)
{
	struct balloon_config c = { .enabled = true };
	bool seen_oom = false, seen_report = false, seen_period = false;
	g_auto(GStrv) items = NULL;

	if (!spec || !*spec) {
		*out = c;
		return true;
	}
	items = g_strsplit(spec, ",", -1);
	for (unsigned int i = 0; items[i]; i++) {
		const char *eq = strchr(items[i], '=');
		g_autofree char *key = eq ? g_strndup(items[i], eq - items[i]) :
					    g_strdup(items[i]);
		const char *val = eq ? eq + 1 : "";
		bool *seen;

		if (!strcmp(key, "deflate-on-oom"))
			seen = &seen_oom;
		else if (!strcmp(key, "free-page-reporting"))
			seen = &seen_report;
		else if (!strcmp(key, "stats-period"))
			seen = &seen_period;
		else {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--balloon '%s': unknown option '%s' (expected "
				    BALLOON_OPTIONS ")", spec, items[i]);
			return false;
		}
		if (*seen) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--balloon '%s': '%s' given twice", spec, key);
			return false;
		}
		*seen = true;
		if (seen == &seen_oom) {
			if (!balloon_switch(spec, key, val, &c.deflate_on_oom, err))
				return false;
		} else if (seen == &seen_report) {
			if (!balloon_switch(spec, key, val,
					    &c.free_page_reporting, err))
				return false;
		} else {
			uint64_t n;

			/* QEMU's guest-stats-polling-interval has the same bound. */
			if (parse_u64(val, &n) || n > UINT32_MAX) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--balloon '%s': stats-period='%s': expected a number of seconds from 0 to %u",
					    spec, val, UINT32_MAX);
				return false;
			}
			c.stats_period = (uint32_t)n;
		}
	}
	*out = c;
	return true;
}

unsigned int balloon_pfn_ranges(const struct guest_memory *mem,
				const uint32_t *pfns, unsigned int n,
				struct balloon_range *out, unsigned int *bad,
				uint32_t *first_bad)
{
	unsigned int nr = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)pfns[i] << BALLOON_PFN_SHIFT;
		struct balloon_range *last = nr ? &out[nr - 1] : NULL;

		if (!guest_memory_contains(mem, gpa, BALLOON_PAGE_SIZE)) {
			if (!(*bad)++)
				*first_bad = pfns[i];
			continue;
		}
		/* Contiguous and still in the same region: one range. */
		if (last && last->gpa + last->len == gpa &&
		    guest_memory_contains(mem, last->gpa,
					  last->len + BALLOON_PAGE_SIZE)) {
			last->len += BALLOON_PAGE_SIZE;
			continue;
		}
		out[nr++] = (struct balloon_range){ gpa, BALLOON_PAGE_SIZE };
	}
	return nr;
}

unsigned int balloon_stats_parse(const uint8_t *buf, size_t len,
				 uint64_t values[BALLOON_S_NR])
{
	unsigned int known = 0;

	for (unsigned int i = 0; i < BALLOON_S_NR; i++)
		values[i] = BALLOON_STAT_UNSET;
	for (size_t off = 0; len - off >= BALLOON_STAT_ENTRY_SIZE;
	     off += BALLOON_STAT_ENTRY_SIZE) {
		uint16_t tag;
		uint64_t val;

		/* Packed: the value is not aligned. */
		memcpy(&tag, buf + off, sizeof(tag));
		memcpy(&val, buf + off + sizeof(tag), sizeof(val));
		tag = le16toh(tag);
		if (tag >= BALLOON_S_NR)
			continue;
		values[tag] = le64toh(val);
		known++;
	}
	return known;
}
