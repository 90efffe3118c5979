/* SPDX-License-Identifier: MIT */
/*
 * An address space of I/O regions (the PIO space or the MMIO space). Devices
 * register a range with an ops table; an access is dispatched by range lookup
 * and the handler gets the offset into its region, never the absolute address.
 */
#ifndef TERN_BUS_H
#define TERN_BUS_H

#include <pthread.h>

#include "tern/util.h"

struct bus_ops {
	/* len is 1, 2, 4 or 8; data is little-endian guest bytes. */
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned int len);
	void (*write)(void *opaque, uint64_t offset, const void *data,
		      unsigned int len);
};

struct bus_region {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	pthread_rwlock_t lock; /* vCPUs dispatch concurrently; BARs move rarely */
	struct bus_region *regions; /* sorted by base, non-overlapping */
	unsigned int nr_regions;
	unsigned int cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* -EINVAL for an empty or wrapping range, -EEXIST when it overlaps another. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque,
		 const char *name) __must_check;
/* Remove the region starting at base; -ENOENT if none. */
int bus_unregister(struct bus *bus, uint64_t base) __must_check;

/*
 * Dispatch an access; returns false (and leaves data untouched) when no
 * region covers the whole access, so the caller can apply the platform's
 * rule for unclaimed addresses.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned int len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data,
	       unsigned int len);

/* Lookup without dispatch (caller holds the lock, or owns the bus alone). */
const struct bus_region *bus_find(const struct bus *bus, uint64_t addr,
				  uint64_t len);

#endif
