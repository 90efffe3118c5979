// SPDX-License-Identifier: MIT
/*
 * Sorted, non-overlapping regions; lookup by binary search under a read lock
 * so vCPUs dispatch in parallel. The handler is called after the lock is
 * dropped, so a handler may move regions on its own bus (a BAR write through
 * ECAM moves an MMIO BAR). The price: unregistering a region does not wait
 * for a handler already running, so a device's state may only be freed
 * while the vCPUs are parked (teardown, hot-unplug).
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "tern/bus.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	g_free(bus->regions);
	bus->regions = NULL;
	bus->nr_regions = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first region whose end is above addr (may be nr_regions). */
static unsigned int bus_lower_bound(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr_regions;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct bus_region *r = &bus->regions[mid];

		if (r->base + (r->len - 1) < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct bus_region *bus_find(const struct bus *bus, uint64_t addr,
				  uint64_t len)
{
	unsigned int i;
	const struct bus_region *r;

	if (!len || addr + (len - 1) < addr)
		return NULL;
	i = bus_lower_bound(bus, addr);
	if (i == bus->nr_regions)
		return NULL;
	r = &bus->regions[i];
	if (addr < r->base || addr + (len - 1) > r->base + (r->len - 1))
		return NULL;
	return r;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name)
{
	unsigned int i;
	int ret = 0;

	if (!len || base + (len - 1) < base || !ops)
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	i = bus_lower_bound(bus, base);
	/* regions[i] is the first ending at or after base: it must start past us. */
	if (i < bus->nr_regions && bus->regions[i].base <= base + (len - 1)) {
		ret = -EEXIST;
		goto out;
	}
	if (bus->nr_regions == bus->cap) {
		bus->cap = bus->cap ? bus->cap * 2 : 16;
		bus->regions = g_renew(struct bus_region, bus->regions, bus->cap);
	}
	memmove(&bus->regions[i + 1], &bus->regions[i],
		(bus->nr_regions - i) * sizeof(*bus->regions));
	bus->regions[i] = (struct bus_region){
		.base = base, .len = len, .ops = ops, .opaque = opaque, .name = name,
	};
	bus->nr_regions++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	unsigned int i;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = bus_lower_bound(bus, base);
	if (i < bus->nr_regions && bus->regions[i].base == base) {
		memmove(&bus->regions[i], &bus->regions[i + 1],
			(bus->nr_regions - i - 1) * sizeof(*bus->regions));
		bus->nr_regions--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* Copy the region covering the access out from under the lock. */
static bool bus_lookup(struct bus *bus, uint64_t addr, unsigned int len,
		       struct bus_region *out)
{
	const struct bus_region *r;

	pthread_rwlock_rdlock(&bus->lock);
	r = bus_find(bus, addr, len);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&bus->lock);
	return r != NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned int len)
{
	struct bus_region r;

	if (!bus_lookup(bus, addr, len, &r))
		return false;
	if (r.ops->read)
		r.ops->read(r.opaque, addr - r.base, data, len);
	else
		memset(data, 0, len); /* write-only region: reads see zeros */
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data,
	       unsigned int len)
{
	struct bus_region r;

	if (!bus_lookup(bus, addr, len, &r))
		return false;
	if (r.ops->write)
		r.ops->write(r.opaque, addr - r.base, data, len);
	return true;
}
