// SPDX-License-Identifier: MIT
/*
 * PCI configuration mechanism #1 on bus 0, and placing memory BARs.
 *
 * Every access is an exit to the VMM (~8 us from ring 0 on the development
 * machines) on top of the emulated instructions, so the scan reads only what
 * it needs: one vendor/device word per slot, the header type of present
 * functions, and BARs only when one has to be placed.
 */
#include "guest/pci.h"
#include "guest/x86.h"

#define PCI_NR_SLOTS 32
#define PCI_NR_FNS 8
#define PCI_HEADER_TYPE_NORMAL 0
#define PCI_HEADER_TYPE_BRIDGE 1
#define PCI_CAP_WALK_MAX 48 /* a config space holds at most 48 capabilities */
#define PCI_RANGES_MAX 64

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void pci_select(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
	outl(PCI_CONFIG_ADDR, 0x80000000u | (uint32_t)bus << 16 |
				  (uint32_t)dev << 11 | (uint32_t)fn << 8 |
				  (off & 0xfcu));
}

static uint32_t cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t off)
{
	pci_select(bus, dev, fn, off);
	return inl(PCI_CONFIG_DATA);
}

uint32_t pci_read32(const struct pci_dev *d, uint8_t off)
{
	return cfg_read32(d->bus, d->dev, d->fn, off);
}

uint16_t pci_read16(const struct pci_dev *d, uint8_t off)
{
	pci_select(d->bus, d->dev, d->fn, off);
	return inw((uint16_t)(PCI_CONFIG_DATA + (off & 2)));
}

uint8_t pci_read8(const struct pci_dev *d, uint8_t off)
{
	pci_select(d->bus, d->dev, d->fn, off);
	return inb((uint16_t)(PCI_CONFIG_DATA + (off & 3)));
}

void pci_write32(const struct pci_dev *d, uint8_t off, uint32_t v)
{
	pci_select(d->bus, d->dev, d->fn, off);
	outl(PCI_CONFIG_DATA, v);
}

void pci_write16(const struct pci_dev *d, uint8_t off, uint16_t v)
{
	pci_select(d->bus, d->dev, d->fn, off);
	outw((uint16_t)(PCI_CONFIG_DATA + (off & 2)), v);
}

/*
 * Calls fn for every function on bus 0 until it returns true; returns
 * whether one did.
 */
static bool pci_for_each(bool (*fn)(const struct pci_dev *d, void *arg),
			 void *arg)
{
	for (uint8_t dev = 0; dev < PCI_NR_SLOTS; dev++) {
		uint8_t nfn = 1;

		for (uint8_t f = 0; f < nfn; f++) {
			uint32_t id = cfg_read32(0, dev, f, PCI_VENDOR_ID);
			struct pci_dev d = {0, dev, f, (uint16_t)id,
					    (uint16_t)(id >> 16)};

			if (d.vendor == 0xffff)
				continue;
			if (f == 0 && (pci_read8(&d, PCI_HEADER_TYPE) &
				       PCI_HEADER_MULTI_FN))
				nfn = PCI_NR_FNS;
			if (fn(&d, arg))
				return true;
		}
	}
	return false;
}

struct pci_find_arg {
	uint16_t vendor, device;
	unsigned int index;
	struct pci_dev *out;
};

static bool pci_find_one(const struct pci_dev *d, void *arg)
{
	struct pci_find_arg *a = arg;

	if (d->vendor != a->vendor || d->device != a->device)
		return false;
	if (a->index-- > 0)
		return false;
	*a->out = *d;
	return true;
}

bool pci_find(uint16_t vendor, uint16_t device, unsigned int index,
	      struct pci_dev *out)
{
	struct pci_find_arg a = {vendor, device, index, out};

	return pci_for_each(pci_find_one, &a);
}

uint8_t pci_cap_find(const struct pci_dev *d, uint8_t id, uint8_t after)
{
	uint8_t off;

	if (after == 0) {
		if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
			return 0;
		off = pci_read8(d, PCI_CAP_PTR);
	} else {
		off = pci_read8(d, (uint8_t)(after + 1));
	}
	/* Bounded: a looping list must not hang the guest. */
	for (unsigned int i = 0; i < PCI_CAP_WALK_MAX; i++) {
		off &= 0xfc;
		if (off < 0x40)
			return 0;
		uint16_t hdr = pci_read16(d, off);

		if ((hdr & 0xff) == id)
			return off;
		off = (uint8_t)(hdr >> 8);
	}
	return 0;
}

void pci_bar_probe(const struct pci_dev *d, unsigned int bar,
		   struct pci_bar *out)
{
	uint8_t off = (uint8_t)(PCI_BAR0 + 4 * bar);
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	uint32_t lo = pci_read32(d, off), hi = 0, mlo, mhi = 0xffffffffu;

	*out = (struct pci_bar){0};
	out->io = lo & PCI_BAR_IO;
	out->is64 =
	    !out->io && (lo & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64;
	out->prefetch = !out->io && (lo & PCI_BAR_MEM_PREFETCH);

	/* Sizing writes all ones: nothing may decode the BAR meanwhile. */
	pci_write16(d, PCI_COMMAND,
		    cmd & (uint16_t) ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	pci_write32(d, off, 0xffffffffu);
	mlo = pci_read32(d, off);
	pci_write32(d, off, lo);
	if (out->is64 && bar + 1 < PCI_NR_BARS) {
		hi = pci_read32(d, (uint8_t)(off + 4));
		pci_write32(d, (uint8_t)(off + 4), 0xffffffffu);
		mhi = pci_read32(d, (uint8_t)(off + 4));
		pci_write32(d, (uint8_t)(off + 4), hi);
	}
	pci_write16(d, PCI_COMMAND, cmd);

	if (out->io) {
		uint32_t m = mlo & ~3u;

		out->addr = lo & ~3u;
		out->size = m ? (uint32_t)(~m + 1) & 0xffff : 0;
		return;
	}
	uint64_t mask = ((uint64_t)mhi << 32) | (mlo & PCI_BAR_MEM_ADDR_MASK);

	if (!out->is64)
		mask |= 0xffffffff00000000ull;
	out->addr = ((uint64_t)hi << 32) | (lo & PCI_BAR_MEM_ADDR_MASK);
	out->size = (mlo & PCI_BAR_MEM_ADDR_MASK) ? ~mask + 1 : 0;
}

/* Assigned memory ranges on bus 0, collected once, when a BAR needs room. */
struct pci_range {
	uint64_t start, end;
};

static struct pci_range ranges[PCI_RANGES_MAX];
static unsigned int nr_ranges;
static bool ranges_known;
static uint64_t alloc_next = PCI_ALLOC_START;

static void range_add(uint64_t start, uint64_t size)
{
	if (nr_ranges < PCI_RANGES_MAX)
		ranges[nr_ranges++] = (struct pci_range){start, start + size};
}

static bool collect_ranges(const struct pci_dev *d, void *arg)
{
	unsigned int nbars;

	(void)arg;
	switch (pci_read8(d, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK) {
	case PCI_HEADER_TYPE_NORMAL:
		nbars = PCI_NR_BARS;
		break;
	case PCI_HEADER_TYPE_BRIDGE:
		nbars = 2;
		break;
	default:
		return false;
	}
	for (unsigned int i = 0; i < nbars; i++) {
		struct pci_bar b;

		pci_bar_probe(d, i, &b);
		if (!b.io && b.size != 0 && b.addr != 0)
			range_add(b.addr, b.size);
		if (b.is64)
			i++;
	}
	return false;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t alloc_window(uint64_t size)
{
	uint64_t at = align_up(alloc_next, size);
	bool moved = true;

	if (!ranges_known) {
		pci_for_each(collect_ranges, NULL);
		ranges_known = true;
	}
	while (moved) {
		moved = false;
		for (unsigned int i = 0; i < nr_ranges; i++) {
			if (at < ranges[i].end && ranges[i].start < at + size) {
				at = align_up(ranges[i].end, size);
				moved = true;
			}
		}
	}
	if (at + size > PCI_ALLOC_END)
		return 0;
	range_add(at, size);
	alloc_next = at + size;
	return at;
}

uint64_t pci_bar_map(const struct pci_dev *d, unsigned int bar, bool *assigned)
{
	struct pci_bar b;
	uint8_t off = (uint8_t)(PCI_BAR0 + 4 * bar);

	if (assigned)
		*assigned = false;
	pci_bar_probe(d, bar, &b);
	if (b.io || b.size == 0)
		return 0;
	/* The guests identity-map 4 GiB: a BAR must live below that. */
	if (b.addr == 0 || b.addr + b.size > 0x100000000ull) {
		uint64_t at = alloc_window(b.size);
		uint16_t cmd = pci_read16(d, PCI_COMMAND);

		if (at == 0)
			return 0;
		pci_write16(d, PCI_COMMAND,
			    cmd & (uint16_t)~PCI_COMMAND_MEMORY);
		pci_write32(d, off, (uint32_t)at);
		if (b.is64)
			pci_write32(d, (uint8_t)(off + 4), 0);
		pci_write16(d, PCI_COMMAND, cmd);
		b.addr = at;
		if (assigned)
			*assigned = true;
	}
	pci_enable(d);
	return b.addr;
}

void pci_enable(const struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	uint16_t want = cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	if (want != cmd)
		pci_write16(d, PCI_COMMAND, want);
}
