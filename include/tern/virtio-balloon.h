/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon (virtio 1.2, 5.5), for --balloon: the host asks the guest
 * to give up memory (the target in num_pages), the guest hands pages over
 * on the inflate queue and takes them back on the deflate queue, reports
 * its memory statistics on the stats queue when asked, and with free page
 * reporting hands over ranges of its free memory on its own. Pages handed
 * over are given back to the host (guest_memory_discard()).
 *
 * The model is src/devices/virtio/balloon.c; the pure parts (the option,
 * the page lists, the statistics) are in balloon-pages.c for the unit
 * tests; QMP's balloon, query-balloon, qom-get/qom-set and BALLOON_CHANGE
 * (src/qmp/qmp_balloon.c) use the functions at the end.
 */
#ifndef TERN_VIRTIO_BALLOON_H
#define TERN_VIRTIO_BALLOON_H

#include <glib.h>

#include "tern/config.h"
#include "tern/memory.h"
#include "tern/util.h"

#define VIRTIO_ID_BALLOON 5

/* Feature bits (5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_REPORTING 5

/* The inflate and deflate queues count in 4 KiB pages, whatever the guest's. */
#define BALLOON_PFN_SHIFT 12
#define BALLOON_PAGE_SIZE (1ULL << BALLOON_PFN_SHIFT)

/* Config space (5.5.4), little-endian. */
#define BALLOON_CFG_NUM_PAGES 0
#define BALLOON_CFG_ACTUAL 4
#define BALLOON_CFG_FREE_PAGE_HINT_CMD_ID 8
#define BALLOON_CFG_POISON_VAL 12
#define BALLOON_CFG_SIZE 16

/* Statistics tags (5.5.6.3); QEMU's names for them in guest-stats. */
enum balloon_stat {
	BALLOON_S_SWAP_IN,
	BALLOON_S_SWAP_OUT,
	BALLOON_S_MAJFLT,
	BALLOON_S_MINFLT,
	BALLOON_S_MEMFREE,
	BALLOON_S_MEMTOT,
	BALLOON_S_AVAIL,
	BALLOON_S_CACHES,
	BALLOON_S_HTLB_PGALLOC,
	BALLOON_S_HTLB_PGFAIL,
	BALLOON_S_NR,
};
/* One entry on the stats queue: le16 tag, le64 value, packed. */
#define BALLOON_STAT_ENTRY_SIZE 10
/* What a statistic reads before the guest reported it (QEMU: -1). */
#define BALLOON_STAT_UNSET UINT64_MAX

extern const char *const balloon_stat_names[BALLOON_S_NR];

/*
 * --balloon[=deflate-on-oom=on|off,free-page-reporting=on|off,
 * stats-period=SECONDS]; spec NULL or "" for the bare option. false with
 * err (TERN_ERROR_INPUT, naming --balloon) for anything else.
 */
bool balloon_config_parse(const char *spec, struct balloon_config *out,
			  GError **err);

/* A run of whole pages of guest RAM, inside one region. */
struct balloon_range {
	uint64_t gpa, len;
};

/*
 * The pages a driver listed on the inflate or deflate queue (n page
 * numbers, host order), merged into runs of consecutive pages each inside
 * one RAM region, in list order. Numbers that are not guest RAM are left
 * out and counted in *bad, the first of them in *first_bad. out has room
 * for n ranges; returns how many it holds. Pure.
 */
unsigned int balloon_pfn_ranges(const struct guest_memory *mem,
				const uint32_t *pfns, unsigned int n,
				struct balloon_range *out, unsigned int *bad,
				uint32_t *first_bad);

/*
 * A stats buffer's len bytes (entries of BALLOON_STAT_ENTRY_SIZE; a
 * partial last entry is ignored): known tags set their value in values
 * (the last one wins), unknown tags are skipped. Every value is first
 * BALLOON_STAT_UNSET, as QEMU resets them for each buffer. Returns the
 * number of entries with a known tag. Pure.
 */
unsigned int balloon_stats_parse(const uint8_t *buf, size_t len,
				 uint64_t values[BALLOON_S_NR]);

/* ---- for QMP (main thread) ---- */

struct virtio_device;

/* What the guest last reported, as qom-get guest-stats shows it. */
struct balloon_stats {
	uint64_t values[BALLOON_S_NR];
	int64_t last_update; /* wall clock seconds, 0: never */
};

/*
 * The RAM the guest has: all of it minus the pages it says it gave up
 * (config `actual`), in bytes; QEMU's query-balloon `actual`.
 */
uint64_t virtio_balloon_actual(struct virtio_device *vdev);
/*
 * Ask the guest to have target bytes (clamped to the RAM size): num_pages
 * becomes the rest, in 4 KiB pages, and the guest is told with a config
 * interrupt once the device runs. target 0 is the caller's to refuse.
 */
void virtio_balloon_set_target(struct virtio_device *vdev, uint64_t target);
void virtio_balloon_get_stats(struct virtio_device *vdev,
			      struct balloon_stats *out);
/* Seconds between statistics requests; 0 turns polling off. */
uint32_t virtio_balloon_stats_interval(struct virtio_device *vdev);
void virtio_balloon_set_stats_interval(struct virtio_device *vdev,
				       uint32_t seconds);
/*
 * An eventfd that becomes readable when `actual` changed (the guest wrote
 * it, or a reset cleared it): QMP's BALLOON_CHANGE. The reader drains it
 * (efd_drain) and takes the changes.
 */
int virtio_balloon_change_fd(struct virtio_device *vdev);
/*
 * How many times `actual` changed since the last call, with QMP's actual
 * (bytes, as virtio_balloon_actual()) after the first of those changes and
 * now; with 0 changes both are now's.
 */
unsigned int virtio_balloon_take_changes(struct virtio_device *vdev,
					 uint64_t *first, uint64_t *last);

/* Its row in the device table (device.h): one with --balloon. */
struct device_type;
extern const struct device_type virtio_balloon_device_type;

#endif
