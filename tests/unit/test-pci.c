// SPDX-License-Identifier: MIT
/*
 * The PCI host as a guest sees it: configuration cycles through 0xcf8/0xcfc
 * and ECAM on real buses, BARs sized and moved, capability lists walked,
 * MSI-X programmed through its BAR. Interrupts go to a recording sink
 * instead of KVM; vector eventfds are real, so pending messages can be
 * counted.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "tern/layout.h"
#include "tern/le.h"
#include "tern/pci.h"
#include "tern/state.h"
#include "unit.h"

#define MAX_ROUTES 64
#define MAX_GSI 256

struct sink {
	struct msi_route routes[MAX_ROUTES];
	unsigned int nr_routes, commits;
	uint32_t bound_gsi[1024]; /* by fd; 0: not bound */
	bool line[MAX_GSI];
	unsigned int line_writes;
	/* Fail the next n calls of each kind, as KVM might (-ENOMEM). */
	unsigned int fail_routes, fail_bind, fail_unbind, fail_line;
};

static struct sink sink;
static struct bus pio, mmio;
static struct guest_memory mem;
static struct pci_host *host;

static int sink_routes(void *opaque, const struct msi_route *r, unsigned int n)
{
	ck_assert_uint_le(n, MAX_ROUTES);
	if (sink.fail_routes) {
		sink.fail_routes--;
		return -ENOMEM; /* KVM keeps the table it had */
	}
	memcpy(sink.routes, r, n * sizeof(*r));
	sink.nr_routes = n;
	sink.commits++;
	return 0;
}

static int sink_irqfd(void *opaque, int fd, uint32_t gsi, bool assign)
{
	ck_assert_int_lt(fd, 1024);
	if (assign && sink.fail_bind) {
		sink.fail_bind--;
		return -ENOMEM;
	}
	if (!assign && sink.fail_unbind) {
		sink.fail_unbind--;
		return -ENOMEM;
	}
	if (assign) {
		ck_assert_uint_eq(sink.bound_gsi[fd], 0);
		sink.bound_gsi[fd] = gsi;
	} else {
		ck_assert_uint_eq(sink.bound_gsi[fd], gsi);
		sink.bound_gsi[fd] = 0;
	}
	return 0;
}

static int sink_line(void *opaque, uint32_t gsi, bool level)
{
	ck_assert_uint_lt(gsi, MAX_GSI);
	if (sink.fail_line) {
		sink.fail_line--;
		return -ENOMEM;
	}
	sink.line[gsi] = level;
	sink.line_writes++;
	return 0;
}

static const struct machine_ops sink_ops = {
	.set_msi_routes = sink_routes,
	.irqfd = sink_irqfd,
	.set_irq_line = sink_line,
};

static void setup(void)
{
	struct pci_host_params p;
	GError *err = NULL;

	memset(&sink, 0, sizeof(sink));
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	/* The layout is enough: BARs are checked against RAM, never mapped over it. */
	ck_assert_int_eq(guest_memory_layout(128 * MiB, &mem), 0);
	pci_host_params_platform(&p, &pio, &mmio, &mem);
	p.irq_ops = &sink_ops;
	host = pci_host_new(&p, &err);
	ck_assert_msg(host, "%s", err ? err->message : "?");
}

static void teardown(void)
{
	pci_host_destroy(host);
	bus_destroy(&mmio);
	bus_destroy(&pio);
}

/* ---- the guest's side ---- */

static uint32_t conf1_addr(unsigned int devfn, unsigned int off)
{
	return 0x80000000U | devfn << 8 | (off & 0xfc);
}

static uint32_t cfg_read(unsigned int devfn, unsigned int off, unsigned int len)
{
	uint32_t a = conf1_addr(devfn, off), v = 0;

	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(bus_read(&pio, 0xcfc + (off & 3), &v, len));
	return v;
}

static void cfg_write(unsigned int devfn, unsigned int off, uint32_t v,
		      unsigned int len)
{
	uint32_t a = conf1_addr(devfn, off);

	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(bus_write(&pio, 0xcfc + (off & 3), &v, len));
}

static uint32_t ecam_read(unsigned int devfn, unsigned int off, unsigned int len)
{
	uint32_t v = 0;

	ck_assert(bus_read(&mmio, LAYOUT_PCI_ECAM_START + ((uint64_t)devfn << 12) + off,
			   &v, len));
	return v;
}

static void ecam_write(unsigned int devfn, unsigned int off, uint32_t v,
		       unsigned int len)
{
	ck_assert(bus_write(&mmio, LAYOUT_PCI_ECAM_START + ((uint64_t)devfn << 12) + off,
			    &v, len));
}

/* ---- a test device ---- */

struct probe {
	uint64_t last_off;
	unsigned int reads, writes;
	unsigned int maps, unmaps;
	uint64_t mapped_at[PCI_NUM_BARS];
	unsigned int resets;
	/* Resets ('R') and bus master calls ('1', '0'), in order. */
	char log[64];
	unsigned int master_calls, master_repeats, master_wrong;
	bool master_last;
};

static void probe_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct probe *p = opaque;

	p->last_off = off;
	p->reads++;
	memset(data, 0x5a, len);
}

static void probe_write(void *opaque, uint64_t off, const void *data,
			unsigned int len)
{
	struct probe *p = opaque;

	p->last_off = off;
	p->writes++;
}

static const struct bus_ops probe_bus_ops = { probe_read, probe_write };

static void probe_bar_mapped(struct pci_device *dev, unsigned int bar,
			     uint64_t addr, bool mapped)
{
	struct probe *p = pci_device_opaque(dev);

	if (mapped) {
		p->maps++;
		p->mapped_at[bar] = addr;
	} else {
		ck_assert_uint_eq(p->mapped_at[bar], addr);
		p->unmaps++;
		p->mapped_at[bar] = 0;
	}
}

static void probe_log(struct probe *p, char c)
{
	size_t n = strlen(p->log);

	if (n + 1 < sizeof(p->log))
		p->log[n] = c;
}

static void probe_reset(struct pci_device *dev)
{
	struct probe *p = pci_device_opaque(dev);

	p->resets++;
	probe_log(p, 'R');
}

/*
 * Runs on whichever thread wrote the command register; checks with a
 * config read of its own (which would deadlock under the host's config
 * lock) that the bit already says what the call says. No ck_assert here:
 * the stress test calls it off the main thread.
 */
static void probe_bus_master(struct pci_device *dev, bool enabled)
{
	struct probe *p = pci_device_opaque(dev);
	uint16_t cmd = 0;

	pci_host_config_read(host, 0, pci_device_slot(dev) << 3, PCI_COMMAND,
			     &cmd, 2);
	if (!!(cmd & PCI_COMMAND_MASTER) != enabled ||
	    pci_bus_master_enabled(dev) != enabled)
		p->master_wrong++;
	if (p->master_calls && p->master_last == enabled)
		p->master_repeats++;
	p->master_last = enabled;
	p->master_calls++;
	probe_log(p, enabled ? '1' : '0');
}

static const struct pci_device_ops probe_dev_ops = {
	.bar_mapped = probe_bar_mapped,
	.reset = probe_reset,
	.bus_master = probe_bus_master,
};

#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x5678
#define NVEC 4

/*
 * BAR 0: 32-bit memory 4 KiB; BAR 1: MSI-X; BAR 2/3: 64-bit prefetchable
 * 16 KiB; BAR 4: 16 I/O ports; BAR 5 unimplemented. A vendor capability
 * before MSI-X's.
 */
static struct pci_device *make_device(struct probe *p, unsigned int slot,
				      unsigned int bar64_flags)
{
	const struct pci_device_info info = {
		.name = "probe",
		.vendor_id = TEST_VENDOR,
		.device_id = TEST_DEVICE,
		.subsystem_vendor_id = 0xaaaa,
		.subsystem_id = 0xbbbb,
		.revision = 3,
		.class_code = 0xff0011,
		.intx = true,
	};
	uint8_t vcap[8] = { PCI_CAP_ID_VNDR, 0xee, 8, 1, 2, 3, 4, 5 };
	struct pci_device *dev;
	GError *err = NULL;

	dev = pci_device_create(host, &info, slot, &probe_dev_ops, p, &err);
	ck_assert_msg(dev, "%s", err ? err->message : "?");
	ck_assert_int_eq(pci_device_add_bar(dev, 0, 4096, 0, &probe_bus_ops, p), 0);
	ck_assert_int_eq(pci_device_add_bar(dev, 2, 16384,
					    PCI_BAR_64 | PCI_BAR_PREFETCH | bar64_flags,
					    &probe_bus_ops, p), 0);
	ck_assert_int_eq(pci_device_add_bar(dev, 4, 16, PCI_BAR_IO, &probe_bus_ops, p), 0);
	ck_assert_int_eq(pci_device_add_capability(dev, vcap, sizeof(vcap)), PCI_CAP_START);
	ck_assert_int_eq(pci_msix_init(dev, 1, NVEC), 0);
	ck_assert_int_eq(pci_device_realize(dev), 0);
	return dev;
}

static unsigned int devfn_of(struct pci_device *dev)
{
	return pci_device_slot(dev) << 3;
}

START_TEST(host_bridge_and_absent_functions)
{
	uint32_t a, v;

	setup();
	ck_assert_uint_eq(cfg_read(0, PCI_VENDOR_ID, 4), 0x00081b36);
	ck_assert_uint_eq(cfg_read(0, PCI_REVISION_ID, 4) >> 8, 0x060000);
	ck_assert_uint_eq(ecam_read(0, PCI_VENDOR_ID, 2), 0x1b36);
	/* Empty slots, other functions, other buses: all-ones. */
	ck_assert_uint_eq(cfg_read(31 << 3, PCI_VENDOR_ID, 4), 0xffffffff);
	ck_assert_uint_eq(cfg_read(1, PCI_VENDOR_ID, 2), 0xffff);
	ck_assert_uint_eq(ecam_read(5 << 3, 0, 4), 0xffffffff);
	ck_assert(bus_read(&mmio, LAYOUT_PCI_ECAM_START + (1 << 20), &v, 4));
	ck_assert_uint_eq(v, 0xffffffff);
	/* The address latch: dword only, reserved bits dropped. */
	a = 0x80000000;
	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(bus_read(&pio, 0xcf8, &v, 4));
	ck_assert_uint_eq(v, 0x80000000);
	a = 0x01;
	ck_assert(bus_write(&pio, 0xcfb, &a, 1)); /* Linux's type 1 probe */
	ck_assert(bus_read(&pio, 0xcf8, &v, 4));
	ck_assert_uint_eq(v, 0x80000000);
	a = 0x7f000003;
	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(bus_read(&pio, 0xcf8, &v, 4));
	ck_assert_uint_eq(v, 0);
	/* Enable bit clear: the data port reads all-ones. */
	ck_assert(bus_read(&pio, 0xcfc, &v, 4));
	ck_assert_uint_eq(v, 0xffffffff);
	/* The bridge's command register does not move. */
	cfg_write(0, PCI_COMMAND, 0xffff, 2);
	ck_assert_uint_eq(cfg_read(0, PCI_COMMAND, 2), 0);
	teardown();
}
END_TEST

START_TEST(header_and_write_masks)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	ck_assert_uint_eq(pci_device_slot(dev), 1); /* first free slot */
	ck_assert_uint_eq(cfg_read(df, PCI_VENDOR_ID, 4), 0x56781234);
	ck_assert_uint_eq(cfg_read(df, PCI_REVISION_ID, 4), 0xff001103);
	ck_assert_uint_eq(cfg_read(df, PCI_SUBSYSTEM_VENDOR_ID, 4), 0xbbbbaaaa);
	ck_assert_uint_eq(cfg_read(df, PCI_HEADER_TYPE, 1), 0);
	/* Byte and word accesses at every offset of the data port. */
	ck_assert_uint_eq(cfg_read(df, PCI_DEVICE_ID + 1, 1), 0x56);
	ck_assert_uint_eq(cfg_read(df, PCI_DEVICE_ID, 2), 0x5678);
	ck_assert_uint_eq(cfg_read(df, PCI_CLASS_DEVICE, 2), 0xff00);

	/* Read-only fields stay. */
	cfg_write(df, PCI_VENDOR_ID, 0, 4);
	cfg_write(df, PCI_REVISION_ID, 0, 4);
	ck_assert_uint_eq(cfg_read(df, PCI_VENDOR_ID, 4), 0x56781234);
	ck_assert_uint_eq(cfg_read(df, PCI_REVISION_ID, 4), 0xff001103);
	/* Command: only the implemented bits; decoding was left on. */
	ck_assert_uint_eq(cfg_read(df, PCI_COMMAND, 2),
			  PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	cfg_write(df, PCI_COMMAND, 0xffff, 2);
	ck_assert_uint_eq(cfg_read(df, PCI_COMMAND, 2), 0x0547);
	/* Interrupt line is the guest's, pin is not: INTA#, line pre-set to its GSI. */
	ck_assert_uint_eq(cfg_read(df, PCI_INTERRUPT_PIN, 1), 1);
	ck_assert_uint_eq(cfg_read(df, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(1, 0));
	cfg_write(df, PCI_INTERRUPT_LINE, 0x0b0b, 2);
	ck_assert_uint_eq(cfg_read(df, PCI_INTERRUPT_LINE, 2), 0x010b);
	/* Status: error bits are write-1-to-clear, the rest read-only. */
	pci_config_set(dev, PCI_STATUS, 0x8000 | 0x0100 | PCI_STATUS_CAP_LIST, 2);
	cfg_write(df, PCI_STATUS, 0x8000 | PCI_STATUS_CAP_LIST, 2);
	ck_assert_uint_eq(cfg_read(df, PCI_STATUS, 2), 0x0100 | PCI_STATUS_CAP_LIST);
	cfg_write(df, PCI_STATUS, 0xffff, 2);
	ck_assert_uint_eq(cfg_read(df, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* Through ECAM, the same registers; beyond 256 bytes, zeros. */
	ecam_write(df, PCI_CACHE_LINE_SIZE, 0x10, 1);
	ck_assert_uint_eq(cfg_read(df, PCI_CACHE_LINE_SIZE, 1), 0x10);
	ck_assert_uint_eq(ecam_read(df, 0x100, 4), 0);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

START_TEST(bar_sizing)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	/* Linux's way: decoding off, all-ones, read the mask, restore. */
	cfg_write(df, PCI_COMMAND, 0, 2);
	for (unsigned int bar = 0; bar < PCI_NUM_BARS; bar++)
		cfg_write(df, PCI_BASE_ADDRESS_0 + 4 * bar, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 4, 4), 0xfffff000); /* MSI-X, 4 KiB */
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 8, 4),
			  0xffffc000 | PCI_BAR_MEM_PREFETCH | PCI_BAR_MEM_TYPE_64);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 12, 4), 0xffffffff);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 16, 4),
			  0xfffffff0 | PCI_BAR_SPACE_IO);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 20, 4), 0);
	ck_assert_uint_eq(cfg_read(df, PCI_ROM_ADDRESS, 4), 0);
	/* Nothing decodes while sizing. */
	ck_assert_uint_eq(p.unmaps, 4);
	ck_assert_uint_eq(pci_bar_address(dev, 0), 0);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

START_TEST(bar_assignment_and_decode)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	uint64_t b0, b2, q = 0;
	uint16_t b4;
	uint32_t v = 0;
	unsigned int df;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	b0 = pci_bar_address(dev, 0);
	b2 = pci_bar_address(dev, 2);
	b4 = (uint16_t)pci_bar_address(dev, 4);
	/* Naturally aligned, inside the windows; the 64-bit BAR below 4 GiB. */
	ck_assert_uint_ge(b0, LAYOUT_PCI_MMIO32_START);
	ck_assert_uint_lt(b0, LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE);
	ck_assert_uint_eq(b0 % 4096, 0);
	ck_assert_uint_eq(b2 % 16384, 0);
	ck_assert_uint_lt(b2, 4 * GiB);
	ck_assert_uint_ge(b4, LAYOUT_PCI_IO_START);
	ck_assert_uint_eq(b4 % 16, 0);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0, 4), b0);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 8, 4),
			  (uint32_t)b2 | PCI_BAR_MEM_PREFETCH | PCI_BAR_MEM_TYPE_64);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0 + 16, 4), b4 | 1U);
	ck_assert_uint_eq(p.maps, 4); /* BARs 0, 1 (MSI-X), 2 and 4 */
	/* Accesses reach the device with the offset into the BAR. */
	ck_assert(bus_read(&mmio, b0 + 0x10, &v, 4));
	ck_assert_uint_eq(v, 0x5a5a5a5a);
	ck_assert_uint_eq(p.last_off, 0x10);
	ck_assert(bus_write(&mmio, b2 + 0x3ff8, &q, 8));
	ck_assert_uint_eq(p.last_off, 0x3ff8);
	ck_assert(bus_write(&pio, b4 + 2, &v, 2));
	ck_assert_uint_eq(p.last_off, 2);
	/* Memory decode off: memory BARs go, the I/O BAR stays. */
	cfg_write(df, PCI_COMMAND, PCI_COMMAND_IO, 2);
	ck_assert(!bus_read(&mmio, b0, &v, 4));
	ck_assert(bus_read(&pio, b4, &v, 1));
	ck_assert_uint_eq(pci_bar_address(dev, 0), 0);
	cfg_write(df, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	ck_assert(bus_read(&mmio, b0, &v, 4));
	pci_device_destroy(dev);
	/* Unplugged: nothing left on the buses but the host's own regions. */
	ck_assert(!bus_read(&mmio, b0, &v, 4));
	ck_assert(!bus_read(&pio, b4, &v, 1));
	pci_host_destroy(host);
	ck_assert_uint_eq(pio.nr_regions, 0);
	ck_assert_uint_eq(mmio.nr_regions, 0);
	bus_destroy(&mmio);
	bus_destroy(&pio);
}
END_TEST

START_TEST(bar_relocation)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	uint64_t b0, b2;
	uint32_t v = 0;
	unsigned int df;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	b0 = pci_bar_address(dev, 0);
	b2 = pci_bar_address(dev, 2);

	cfg_write(df, PCI_BASE_ADDRESS_0, 0xd0000000, 4);
	ck_assert(!bus_read(&mmio, b0, &v, 4));
	ck_assert(bus_read(&mmio, 0xd0000004, &v, 4));
	ck_assert_uint_eq(p.last_off, 4);
	ck_assert_uint_eq(p.mapped_at[0], 0xd0000000);
	/* Low type bits are read-only; address bits below the size too. */
	cfg_write(df, PCI_BASE_ADDRESS_0, 0xd0001fff, 4);
	ck_assert_uint_eq(cfg_read(df, PCI_BASE_ADDRESS_0, 4), 0xd0001000);
	ck_assert_uint_eq(pci_bar_address(dev, 0), 0xd0001000);

	/* Over RAM: not decoded (KVM would give the guest RAM anyway). */
	cfg_write(df, PCI_BASE_ADDRESS_0, 0x00100000, 4);
	ck_assert_uint_eq(pci_bar_address(dev, 0), 0);
	ck_assert(bus_read(&mmio, b2, &v, 4));

	/* The 64-bit BAR goes above 4 GiB, half by half. */
	cfg_write(df, PCI_BASE_ADDRESS_0 + 12, 0x10, 4);
	ck_assert_uint_eq(pci_bar_address(dev, 2), 0x1000000000ULL | b2);
	cfg_write(df, PCI_BASE_ADDRESS_0 + 8, 0x40000000, 4);
	ck_assert_uint_eq(pci_bar_address(dev, 2), 0x1040000000ULL);
	ck_assert(bus_read(&mmio, 0x1040000000ULL + 0x100, &v, 4));
	ck_assert_uint_eq(p.last_off, 0x100);
	ck_assert(!bus_read(&mmio, b2, &v, 4));
	/* Onto another BAR: that one keeps it, this one does not decode. */
	cfg_write(df, PCI_BASE_ADDRESS_0, 0xd0000000, 4);
	cfg_write(df, PCI_BASE_ADDRESS_0 + 12, 0, 4);
	cfg_write(df, PCI_BASE_ADDRESS_0 + 8, 0xd0000000, 4);
	ck_assert_uint_eq(pci_bar_address(dev, 0), 0xd0000000);
	ck_assert_uint_eq(pci_bar_address(dev, 2), 0);
	ck_assert_uint_eq(p.maps - p.unmaps, 3); /* BARs 0, 1 (MSI-X) and 4 */
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* Which probe answered an access at addr (its read count moved). */
static bool reaches(struct bus *bus, uint64_t addr, struct probe *p)
{
	unsigned int before = p->reads;
	uint32_t v = 0;

	return bus_read(bus, addr, &v, 4) && p->reads == before + 1;
}

/*
 * Linux moves 32-bit BARs with decoding on, one register write at a time,
 * so swapping two devices' BARs passes through a moment where one sits on
 * the other. The one refused then must decode once the other moved away.
 */
START_TEST(bar_swap_with_decoding_on)
{
	struct probe pa = { 0 }, pb = { 0 };
	struct pci_device *a, *b;
	uint64_t a0, b0, a2, b2, a1, b1;
	uint16_t a4, b4;

	setup();
	a = make_device(&pa, 0, 0);
	b = make_device(&pb, 0, 0);
	a0 = pci_bar_address(a, 0);
	b0 = pci_bar_address(b, 0);
	a1 = pci_bar_address(a, 1);
	b1 = pci_bar_address(b, 1);
	a2 = pci_bar_address(a, 2);
	b2 = pci_bar_address(b, 2);
	a4 = (uint16_t)pci_bar_address(a, 4);
	b4 = (uint16_t)pci_bar_address(b, 4);

	/* BAR 0: a onto b (refused: b keeps it), then b onto a's old place. */
	cfg_write(devfn_of(a), PCI_BASE_ADDRESS_0, (uint32_t)b0, 4);
	ck_assert_uint_eq(pci_bar_address(a, 0), 0);
	ck_assert(reaches(&mmio, b0, &pb));
	cfg_write(devfn_of(b), PCI_BASE_ADDRESS_0, (uint32_t)a0, 4);
	ck_assert_uint_eq(pci_bar_address(a, 0), b0);
	ck_assert_uint_eq(pci_bar_address(b, 0), a0);
	ck_assert(reaches(&mmio, b0, &pa));
	ck_assert(reaches(&mmio, a0, &pb));
	ck_assert_uint_eq(pa.mapped_at[0], b0);
	ck_assert_uint_eq(pb.mapped_at[0], a0);

	/* The MSI-X BARs and the low halves of the 64-bit BARs, the same way. */
	cfg_write(devfn_of(b), PCI_BASE_ADDRESS_0 + 4, (uint32_t)a1, 4);
	cfg_write(devfn_of(a), PCI_BASE_ADDRESS_0 + 4, (uint32_t)b1, 4);
	cfg_write(devfn_of(b), PCI_BASE_ADDRESS_0 + 8,
		  (uint32_t)a2 | PCI_BAR_MEM_PREFETCH | PCI_BAR_MEM_TYPE_64, 4);
	cfg_write(devfn_of(a), PCI_BASE_ADDRESS_0 + 8,
		  (uint32_t)b2 | PCI_BAR_MEM_PREFETCH | PCI_BAR_MEM_TYPE_64, 4);
	ck_assert_uint_eq(pci_bar_address(a, 1), b1);
	ck_assert_uint_eq(pci_bar_address(b, 1), a1);
	ck_assert_uint_eq(pci_bar_address(a, 2), b2);
	ck_assert_uint_eq(pci_bar_address(b, 2), a2);
	ck_assert(reaches(&mmio, b2 + 0x100, &pa));
	ck_assert(reaches(&mmio, a2 + 0x100, &pb));

	/* The I/O BARs. */
	cfg_write(devfn_of(a), PCI_BASE_ADDRESS_0 + 16, b4 | 1U, 4);
	cfg_write(devfn_of(b), PCI_BASE_ADDRESS_0 + 16, a4 | 1U, 4);
	ck_assert_uint_eq(pci_bar_address(a, 4), b4);
	ck_assert_uint_eq(pci_bar_address(b, 4), a4);
	ck_assert(reaches(&pio, b4, &pa));
	ck_assert(reaches(&pio, a4, &pb));
	ck_assert_uint_eq(pa.maps - pa.unmaps, 4);
	ck_assert_uint_eq(pb.maps - pb.unmaps, 4);

	/* A reset puts a back first, onto b's current place: b must not keep it. */
	pci_host_reset(host);
	ck_assert_uint_eq(pci_bar_address(a, 0), a0);
	ck_assert_uint_eq(pci_bar_address(b, 0), b0);
	ck_assert_uint_eq(pci_bar_address(a, 2), a2);
	ck_assert_uint_eq(pci_bar_address(b, 4), b4);
	ck_assert(reaches(&mmio, a0, &pa));
	ck_assert(reaches(&mmio, b0, &pb));
	pci_device_destroy(a);
	pci_device_destroy(b);
	teardown();
}
END_TEST

/* The BAR in the way stops decoding (command register) rather than moving. */
START_TEST(bar_collision_cleared_by_decode_off)
{
	struct probe pa = { 0 }, pb = { 0 };
	struct pci_device *a, *b;
	uint64_t b0;

	setup();
	a = make_device(&pa, 0, 0);
	b = make_device(&pb, 0, 0);
	b0 = pci_bar_address(b, 0);
	cfg_write(devfn_of(a), PCI_BASE_ADDRESS_0, (uint32_t)b0, 4);
	ck_assert_uint_eq(pci_bar_address(a, 0), 0);
	cfg_write(devfn_of(b), PCI_COMMAND, PCI_COMMAND_IO, 2);
	ck_assert_uint_eq(pci_bar_address(a, 0), b0);
	ck_assert(reaches(&mmio, b0, &pa));
	/* b decoding again finds its place taken: first come, first served. */
	cfg_write(devfn_of(b), PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	ck_assert_uint_eq(pci_bar_address(b, 0), 0);
	ck_assert_uint_ne(pci_bar_address(b, 2), 0);
	ck_assert(reaches(&mmio, b0, &pa));
	pci_device_destroy(a);
	pci_device_destroy(b);
	teardown();
}
END_TEST

START_TEST(bar_high_window)
{
	struct probe p = { 0 };
	struct pci_device *dev;

	setup();
	dev = make_device(&p, 0, PCI_BAR_HIGH);
	ck_assert_uint_eq(pci_bar_address(dev, 2), 4 * GiB);
	ck_assert_uint_eq(cfg_read(devfn_of(dev), PCI_BASE_ADDRESS_0 + 12, 4), 1);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

START_TEST(bad_bars_refused)
{
	const struct pci_device_info info = { .name = "bad" };
	struct pci_device *dev;

	setup();
	dev = pci_device_create(host, &info, 0, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(dev);
	ck_assert_int_eq(pci_device_add_bar(dev, 6, 4096, 0, &probe_bus_ops, NULL), -EINVAL);
	ck_assert_int_eq(pci_device_add_bar(dev, 5, 4096, PCI_BAR_64, &probe_bus_ops, NULL), -EINVAL);
	ck_assert_int_eq(pci_device_add_bar(dev, 0, 3000, 0, &probe_bus_ops, NULL), -EINVAL);
	ck_assert_int_eq(pci_device_add_bar(dev, 0, 1024, 0, &probe_bus_ops, NULL), -EINVAL);
	ck_assert_int_eq(pci_device_add_bar(dev, 0, 512, PCI_BAR_IO, &probe_bus_ops, NULL), -EINVAL);
	ck_assert_int_eq(pci_device_add_bar(dev, 0, 4096, PCI_BAR_64, &probe_bus_ops, NULL), 0);
	ck_assert_int_eq(pci_device_add_bar(dev, 1, 4096, 0, &probe_bus_ops, NULL), -EEXIST);
	ck_assert_int_eq(pci_device_add_bar(dev, 0, 4096, 0, &probe_bus_ops, NULL), -EEXIST);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

START_TEST(capability_list)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, off, seen = 0;
	uint8_t ids[4];

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	ck_assert(cfg_read(df, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Walk it like a guest: dword-aligned pointers, ending in 0. */
	for (off = cfg_read(df, PCI_CAPABILITY_LIST, 1); off; off = cfg_read(df, off + 1, 1)) {
		ck_assert_uint_ge(off, 0x40);
		ck_assert_uint_eq(off % 4, 0);
		ck_assert_uint_lt(seen, 4);
		ids[seen++] = (uint8_t)cfg_read(df, off, 1);
	}
	ck_assert_uint_eq(seen, 2);
	ck_assert_uint_eq(ids[0], PCI_CAP_ID_VNDR);
	ck_assert_uint_eq(ids[1], PCI_CAP_ID_MSIX);
	/* The vendor capability's bytes are read-only, its next pointer fixed up. */
	ck_assert_uint_eq(cfg_read(df, PCI_CAP_START + 4, 4), 0x05040302);
	cfg_write(df, PCI_CAP_START, 0, 4);
	ck_assert_uint_eq(cfg_read(df, PCI_CAP_START, 1), PCI_CAP_ID_VNDR);
	ck_assert_uint_eq(cfg_read(df, PCI_CAP_START + 1, 1), 0x48);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* ---- MSI-X ---- */

static unsigned int msix_cap(unsigned int df)
{
	for (unsigned int off = cfg_read(df, PCI_CAPABILITY_LIST, 1); off;
	     off = cfg_read(df, off + 1, 1))
		if (cfg_read(df, off, 1) == PCI_CAP_ID_MSIX)
			return off;
	ck_abort_msg("no MSI-X capability");
	return 0;
}

static uint64_t msix_bar;

static void msix_entry(unsigned int v, uint64_t addr, uint32_t data, bool masked)
{
	uint32_t w[4] = { (uint32_t)addr, (uint32_t)(addr >> 32), data, masked };

	for (int i = 0; i < 4; i++)
		ck_assert(bus_write(&mmio, msix_bar + 16 * v + 4 * i, &w[i], 4));
}

static void msix_mask(unsigned int v, bool masked)
{
	uint32_t w = masked;

	ck_assert(bus_write(&mmio, msix_bar + 16 * v + 12, &w, 4));
}

static uint32_t msix_pba(void)
{
	uint32_t v = 0;

	ck_assert(bus_read(&mmio, msix_bar + 0x800, &v, 4));
	return v;
}

/* Messages waiting in a vector's eventfd (what KVM would deliver). */
static uint64_t pending(struct pci_device *dev, unsigned int v)
{
	uint64_t n = 0;

	if (read(pci_msix_vector_fd(dev, v), &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static uint32_t gsi_of(struct pci_device *dev, unsigned int v)
{
	return LAYOUT_MSI_GSI_BASE + v; /* the first device with vectors */
}

/* What a driver does before it uses MSI-X or DMA: set bus master. */
static void bus_master(unsigned int df, bool on)
{
	uint16_t cmd = cfg_read(df, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER;

	cfg_write(df, PCI_COMMAND, cmd | (on ? PCI_COMMAND_MASTER : 0), 2);
}

START_TEST(msix_table_and_routes)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, cap;
	uint32_t v = 0;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	cap = msix_cap(df);
	msix_bar = pci_bar_address(dev, 1);
	ck_assert_uint_ne(msix_bar, 0);
	ck_assert_uint_eq(cfg_read(df, cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	ck_assert_uint_eq(cfg_read(df, cap + PCI_MSIX_TABLE, 4), 1); /* BIR 1, offset 0 */
	ck_assert_uint_eq(cfg_read(df, cap + PCI_MSIX_PBA, 4), 0x800 | 1);
	/* Every entry starts masked; only the mask bit of vector control sticks. */
	ck_assert(bus_read(&mmio, msix_bar + 12, &v, 4));
	ck_assert_uint_eq(v, 1);
	msix_entry(0, 0xfee00000, 0x4041, false);
	msix_entry(1, 0xfee01000, 0x4042, true);
	ck_assert(bus_read(&mmio, msix_bar + 16, &v, 4));
	ck_assert_uint_eq(v, 0xfee01000);
	v = 0xfffffffe;
	ck_assert(bus_write(&mmio, msix_bar + 16 + 12, &v, 4));
	ck_assert(bus_read(&mmio, msix_bar + 16 + 12, &v, 4));
	ck_assert_uint_eq(v, 0);
	msix_mask(1, true);
	/* MSI-X still off: nothing routed or bound, and the table size is read-only. */
	ck_assert_uint_eq(sink.commits, 0);
	bus_master(df, true);
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | 0x7ff, 2);
	ck_assert(pci_msix_enabled(dev));
	ck_assert_uint_eq(cfg_read(df, cap + PCI_MSIX_FLAGS, 2),
			  PCI_MSIX_FLAGS_ENABLE | (NVEC - 1));
	/* Vector 0 (unmasked) is routed and bound; vector 1 is not. */
	ck_assert_uint_eq(sink.nr_routes, 1);
	ck_assert_uint_eq(sink.routes[0].gsi, gsi_of(dev, 0));
	ck_assert_uint_eq(sink.routes[0].addr, 0xfee00000);
	ck_assert_uint_eq(sink.routes[0].data, 0x4041);
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 0)], gsi_of(dev, 0));
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 1)], 0);
	/* Unmasking vector 1 routes it too (the whole table each time). */
	msix_mask(1, false);
	ck_assert_uint_eq(sink.nr_routes, 2);
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 1)], gsi_of(dev, 1));
	/* Mask and unmask without a change: no new routing table. */
	{
		unsigned int commits = sink.commits;

		msix_mask(1, true);
		msix_mask(1, false);
		ck_assert_uint_eq(sink.commits, commits);
		/* Changed while unmasked (the spec's undefined case): followed anyway. */
		msix_entry(1, 0xfee02000, 0x4043, false);
		ck_assert_uint_gt(sink.commits, commits);
		ck_assert_uint_eq(sink.routes[1].data, 0x4043);
		ck_assert_uint_eq(sink.routes[1].addr, 0xfee02000);
	}
	/* Disabling unbinds everything. */
	cfg_write(df, cap + PCI_MSIX_FLAGS, 0, 2);
	ck_assert(!pci_msix_enabled(dev));
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 0)], 0);
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 1)], 0);
	pci_device_destroy(dev);
	/* Unplugging takes its routes away. */
	ck_assert_uint_eq(sink.nr_routes, 0);
	teardown();
}
END_TEST

START_TEST(msix_masking_and_pba)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, cap;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	cap = msix_cap(df);
	msix_bar = pci_bar_address(dev, 1);
	for (unsigned int v = 0; v < NVEC; v++)
		msix_entry(v, 0xfee00000, 0x4040 + v, false);
	bus_master(df, true);
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);

	/* Live vector: the eventfd write is the interrupt; PBA stays clear. */
	pci_msix_notify(dev, 2);
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 2), 1);

	/* Masked vector: held, shown in the PBA, delivered once on unmask. */
	msix_mask(2, true);
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 2)], 0);
	pci_msix_notify(dev, 2);
	pci_msix_notify(dev, 2);
	ck_assert_uint_eq(msix_pba(), 1 << 2);
	ck_assert_uint_eq(msix_pba(), 1 << 2); /* reading the PBA takes nothing */
	msix_mask(2, false);
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 2)], gsi_of(dev, 2));
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 2), 1);

	/* Function mask: every vector held, then released. */
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	for (unsigned int v = 0; v < NVEC; v++)
		ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, v)], 0);
	pci_msix_notify(dev, 0);
	pci_msix_notify(dev, 3);
	ck_assert_uint_eq(msix_pba(), (1 << 0) | (1 << 3));
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 0), 1);
	ck_assert_uint_eq(pending(dev, 1), 0);
	ck_assert_uint_eq(pending(dev, 3), 1);
	/* Out of range vectors are ignored; the PBA is read-only. */
	pci_msix_notify(dev, NVEC);
	{
		uint32_t v = ~0U;

		ck_assert(bus_write(&mmio, msix_bar + 0x800, &v, 4));
		ck_assert_uint_eq(msix_pba(), 0);
	}
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* ---- interrupt set-up failures ---- */

static bool bound(struct pci_device *dev, unsigned int v)
{
	return sink.bound_gsi[pci_msix_vector_fd(dev, v)] == gsi_of(dev, v);
}

/*
 * A vector whose irqfd could not be bound is not live: its messages wait
 * in the PBA, and the guest's next write to its entry (or to the MSI-X
 * control word) tries again and delivers them.
 */
START_TEST(msix_failed_bind_stays_pending)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, cap;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	cap = msix_cap(df);
	msix_bar = pci_bar_address(dev, 1);
	msix_entry(0, 0xfee00000, 0x4041, false);
	msix_entry(1, 0xfee00000, 0x4042, false);

	/* Enabling binds vectors 0 and 1; vector 0's bind fails. */
	bus_master(df, true);
	sink.fail_bind = 1;
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert(!bound(dev, 0));
	ck_assert(bound(dev, 1));
	pci_msix_notify(dev, 0);
	ck_assert_uint_eq(msix_pba(), 1 << 0);
	/* The next write to its entry retries, and the message goes out. */
	msix_mask(0, false);
	ck_assert(bound(dev, 0));
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 0), 1);

	/* The same at unmask time; a function-mask toggle also retries. */
	msix_mask(0, true);
	sink.fail_bind = 1;
	msix_mask(0, false);
	ck_assert(!bound(dev, 0));
	pci_msix_notify(dev, 0);
	pci_msix_notify(dev, 0);
	ck_assert_uint_eq(msix_pba(), 1 << 0);
	cfg_write(df, cap + PCI_MSIX_FLAGS,
		  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert(bound(dev, 0));
	ck_assert_uint_eq(pending(dev, 0), 1);

	/* A failed unbind leaves the vector bound (it is), retried on the next write. */
	sink.fail_unbind = 1;
	msix_mask(1, true);
	ck_assert(bound(dev, 1));
	msix_mask(1, true);
	ck_assert(!bound(dev, 1));
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/*
 * A routing table KVM refused leaves KVM with the old one, so a vector
 * whose message changed is not bound to its GSI (that would deliver the
 * old message): it holds its messages until a later write commits.
 */
START_TEST(msix_failed_route_commit_retried)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, cap, commits;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	cap = msix_cap(df);
	msix_bar = pci_bar_address(dev, 1);
	msix_entry(0, 0xfee00000, 0x4041, false);
	msix_entry(1, 0xfee00000, 0x4042, false);
	bus_master(df, true);
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(sink.nr_routes, 2);
	ck_assert(bound(dev, 0));

	/* The usual reprogramming: mask, new message, unmask; the commit fails. */
	msix_mask(0, true);
	msix_entry(0, 0xfee00000, 0x4051, true);
	sink.fail_routes = 1;
	msix_mask(0, false);
	ck_assert_uint_eq(sink.routes[0].data, 0x4041); /* KVM's, unchanged */
	ck_assert(!bound(dev, 0));
	ck_assert(bound(dev, 1)); /* its route is in KVM as it believes */
	pci_msix_notify(dev, 0);
	ck_assert_uint_eq(msix_pba(), 1 << 0);

	/* Another vector's write recommits (the table is known stale)... */
	commits = sink.commits;
	msix_mask(1, true);
	msix_mask(1, false);
	ck_assert_uint_eq(sink.commits, commits + 1);
	ck_assert_uint_eq(sink.routes[0].data, 0x4051);
	/* ...and vector 0's own next write binds it and sends what waited. */
	ck_assert(!bound(dev, 0));
	msix_mask(0, false);
	ck_assert_uint_eq(sink.commits, commits + 1);
	ck_assert(bound(dev, 0));
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 0), 1);

	/*
	 * A message changed while live: unbound until a commit goes through
	 * (the data write's and the control write's both fail here).
	 */
	sink.fail_routes = 2;
	msix_entry(0, 0xfee00000, 0x4061, false);
	ck_assert_uint_eq(sink.fail_routes, 0);
	ck_assert(!bound(dev, 0));
	ck_assert_uint_eq(sink.routes[0].data, 0x4051);
	msix_mask(0, false);
	ck_assert(bound(dev, 0));
	ck_assert_uint_eq(sink.routes[0].data, 0x4061);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* A refused KVM_IRQ_LINE is not taken as done: the next change retries. */
START_TEST(intx_failed_line_retried)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int gsi;

	setup();
	dev = make_device(&p, 0, 0);
	gsi = pci_intx_gsi(pci_device_slot(dev), 0);
	sink.fail_line = 1;
	pci_intx_set(dev, true);
	ck_assert(!sink.line[gsi]);
	pci_intx_set(dev, true);
	ck_assert(sink.line[gsi]);
	sink.fail_line = 1;
	pci_intx_set(dev, false);
	ck_assert(sink.line[gsi]);
	pci_intx_set(dev, false);
	ck_assert(!sink.line[gsi]);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* ---- bus master ---- */

/*
 * The device hears of every change of the bus master bit, once, in order,
 * with the bit already changed and the config lock free; never of a write
 * that leaves the bit alone.
 */
START_TEST(bus_master_callbacks)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	/* tern's realize leaves it clear, as SeaBIOS does: nothing said. */
	ck_assert(!(cfg_read(df, PCI_COMMAND, 2) & PCI_COMMAND_MASTER));
	ck_assert(!pci_bus_master_enabled(dev));
	ck_assert_str_eq(p.log, "");

	bus_master(df, true);
	ck_assert_str_eq(p.log, "1");
	ck_assert(pci_bus_master_enabled(dev));
	/* Writes that leave the bit as it is. */
	cfg_write(df, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
		  PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
	cfg_write(df, PCI_COMMAND + 1, 0, 1);
	cfg_write(df, PCI_CACHE_LINE_SIZE, 0x10, 1);
	cfg_write(df, PCI_BASE_ADDRESS_0, 0xd0000000, 4);
	ck_assert_str_eq(p.log, "1");
	/* A byte write, ECAM, a dword write over command and status. */
	cfg_write(df, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 1);
	ck_assert_str_eq(p.log, "10");
	ecam_write(df, PCI_COMMAND,
		   PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ck_assert_str_eq(p.log, "101");
	cfg_write(df, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 4);
	ck_assert_str_eq(p.log, "1010");
	ck_assert(!pci_bus_master_enabled(dev));

	/* A reset: the device's own reset first, then bus master off. */
	bus_master(df, true);
	pci_host_reset(host);
	ck_assert_str_eq(p.log, "10101R0");
	ck_assert(!pci_bus_master_enabled(dev));
	/* Already off: the reset says nothing more. */
	pci_host_reset(host);
	ck_assert_str_eq(p.log, "10101R0R");
	ck_assert_uint_eq(p.master_wrong, 0);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

struct toggler {
	unsigned int df;
	bool on;
	unsigned int failed;
};

static void *toggle_master(void *opaque)
{
	struct toggler *t = opaque;
	uint32_t v = PCI_COMMAND_MEMORY | (t->on ? PCI_COMMAND_MASTER : 0);
	uint64_t a = LAYOUT_PCI_ECAM_START + ((uint64_t)t->df << 12) + PCI_COMMAND;

	for (int i = 0; i < 2000; i++)
		if (!bus_write(&mmio, a, &v, 2))
			t->failed++;
	return NULL;
}

/* Two vCPUs fighting over the bit: calls alternate and the last one is right. */
START_TEST(bus_master_concurrent_writes)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	struct toggler on, off;
	pthread_t a, b;

	setup();
	dev = make_device(&p, 0, 0);
	on = (struct toggler){ .df = devfn_of(dev), .on = true };
	off = (struct toggler){ .df = devfn_of(dev), .on = false };
	ck_assert_int_eq(pthread_create(&a, NULL, toggle_master, &on), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, toggle_master, &off), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	ck_assert_uint_eq(on.failed + off.failed, 0);
	ck_assert_uint_gt(p.master_calls, 0);
	ck_assert_uint_eq(p.master_repeats, 0);
	/*
	 * Not master_wrong: while one call runs, the other thread may already
	 * have flipped the bit again (its own call follows). What holds is
	 * that calls alternate and the last one matches the register.
	 */
	ck_assert_int_eq(pci_bus_master_enabled(dev),
			 !!(ecam_read(devfn_of(dev), PCI_COMMAND, 2) & PCI_COMMAND_MASTER));
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* An MSI is a memory write: held (PBA) while bus master is off, sent when set. */
START_TEST(msix_held_while_bus_master_off)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, cap;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	cap = msix_cap(df);
	msix_bar = pci_bar_address(dev, 1);
	msix_entry(0, 0xfee00000, 0x4041, false);
	msix_entry(1, 0xfee00000, 0x4042, true);

	/* Enabled with bus master off: routed nothing, bound nothing. */
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert(!bound(dev, 0));
	pci_msix_notify(dev, 0);
	ck_assert_uint_eq(msix_pba(), 1 << 0);
	bus_master(df, true);
	ck_assert(bound(dev, 0));
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 0), 1);

	/* Off again: held; a vector unmasked meanwhile is held too. */
	bus_master(df, false);
	ck_assert(!bound(dev, 0));
	pci_msix_notify(dev, 0);
	pci_msix_notify(dev, 0);
	msix_mask(1, false);
	ck_assert(!bound(dev, 1));
	pci_msix_notify(dev, 1);
	ck_assert_uint_eq(msix_pba(), (1 << 0) | (1 << 1));
	/* On: one message each for what waited. */
	bus_master(df, true);
	ck_assert(bound(dev, 0));
	ck_assert(bound(dev, 1));
	ck_assert_uint_eq(msix_pba(), 0);
	ck_assert_uint_eq(pending(dev, 0), 1);
	ck_assert_uint_eq(pending(dev, 1), 1);
	/* INTx is a wire, not a memory write: bus master does not hold it. */
	cfg_write(df, cap + PCI_MSIX_FLAGS, 0, 2);
	bus_master(df, false);
	pci_intx_set(dev, true);
	ck_assert(sink.line[pci_intx_gsi(pci_device_slot(dev), 0)]);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* ---- INTx ---- */

START_TEST(intx_levels_and_sharing)
{
	struct probe pa = { 0 }, pb = { 0 };
	struct pci_device *a, *b;
	unsigned int gsi;

	setup();
	/* Slots 1 and 9 share a pin under the (slot + pin) % 8 rotation. */
	a = make_device(&pa, 1, 0);
	b = make_device(&pb, 9, 0);
	gsi = pci_intx_gsi(1, 0);
	ck_assert_uint_eq(gsi, pci_intx_gsi(9, 0));
	ck_assert_uint_eq(gsi, LAYOUT_PCI_INTX_GSI_BASE + 1);

	pci_intx_set(a, true);
	ck_assert(sink.line[gsi]);
	ck_assert(cfg_read(devfn_of(a), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	ck_assert(!(cfg_read(devfn_of(b), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	pci_intx_set(b, true);
	pci_intx_set(a, false);
	ck_assert(sink.line[gsi]); /* b still holds it */
	pci_intx_set(b, false);
	ck_assert(!sink.line[gsi]);

	/* INTx disable drops the line but not the status bit. */
	pci_intx_set(a, true);
	cfg_write(devfn_of(a), PCI_COMMAND,
		  PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	ck_assert(!sink.line[gsi]);
	ck_assert(cfg_read(devfn_of(a), PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg_write(devfn_of(a), PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	ck_assert(sink.line[gsi]);
	/* MSI-X on silences INTx. */
	cfg_write(devfn_of(a), msix_cap(devfn_of(a)) + PCI_MSIX_FLAGS,
		  PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert(!sink.line[gsi]);
	cfg_write(devfn_of(a), msix_cap(devfn_of(a)) + PCI_MSIX_FLAGS, 0, 2);
	ck_assert(sink.line[gsi]);
	pci_device_destroy(a);
	ck_assert(!sink.line[gsi]);
	pci_device_destroy(b);
	teardown();
}
END_TEST

START_TEST(intx_swizzle)
{
	for (unsigned int slot = 0; slot < PCI_SLOTS; slot++)
		for (unsigned int pin = 0; pin < PCI_INTX_PINS; pin++)
			ck_assert_uint_eq(pci_intx_gsi(slot, pin),
					  16 + (slot + pin) % 8);
}
END_TEST

START_TEST(slots)
{
	const struct pci_device_info info = { .name = "x" };
	struct pci_device *devs[PCI_SLOTS];
	GError *err = NULL;

	setup();
	for (unsigned int s = 1; s < PCI_SLOTS; s++) {
		devs[s] = pci_device_create(host, &info, 0, NULL, NULL, &err);
		ck_assert_ptr_nonnull(devs[s]);
		ck_assert_uint_eq(pci_device_slot(devs[s]), s);
	}
	/* Bus 0 is full. */
	ck_assert_ptr_null(pci_device_create(host, &info, 0, NULL, NULL, &err));
	ck_assert_ptr_nonnull(err);
	g_clear_error(&err);
	ck_assert_ptr_null(pci_device_create(host, &info, 5, NULL, NULL, &err));
	g_clear_error(&err);
	/* Not realized: invisible to the guest. */
	ck_assert_uint_eq(cfg_read(5 << 3, PCI_VENDOR_ID, 4), 0xffffffff);
	for (unsigned int s = 1; s < PCI_SLOTS; s++)
		pci_device_destroy(devs[s]);
	teardown();
}
END_TEST

/* ---- machine state ---- */

static uint8_t *state_save(struct pci_device **devs, unsigned int n,
			   bool with_host, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	if (with_host)
		pci_host_save(host, &w);
	for (unsigned int i = 0; i < n; i++)
		pci_device_save(devs[i], &w);
	return state_writer_finish(&w, len);
}

static bool state_load(const uint8_t *buf, size_t len, struct pci_device **devs,
		       unsigned int n, bool with_host, GError **err)
{
	struct state_reader r;
	bool ok = state_reader_init(&r, buf, len, err);

	if (ok && with_host)
		ok = pci_host_load(host, &r, err);
	for (unsigned int i = 0; ok && i < n; i++)
		ok = pci_device_load(devs[i], &r, err);
	if (ok)
		ok = state_reader_finish(&r, err);
	state_reader_clear(&r);
	return ok;
}

static uint32_t latch(void)
{
	uint32_t v = 0;

	ck_assert(bus_read(&pio, 0xcf8, &v, 4));
	return v;
}

/*
 * Save, load into a fresh machine with the same devices, save again: the
 * same bytes, and a machine that decodes, routes and interrupts as the
 * first one did.
 */
START_TEST(state_round_trip)
{
	struct probe pa = { 0 }, pb = { 0 };
	struct pci_device *d[2];
	g_autofree uint8_t *first = NULL, *second = NULL;
	size_t len1, len2;
	uint64_t a0, b0, b2;
	uint32_t latch1;
	unsigned int dfa, dfb, cap;
	GError *err = NULL;

	setup();
	d[0] = make_device(&pa, 0, 0);
	d[1] = make_device(&pb, 0, 0);
	dfa = devfn_of(d[0]);
	dfb = devfn_of(d[1]);
	cap = msix_cap(dfa);
	a0 = pci_bar_address(d[0], 0);
	b0 = pci_bar_address(d[1], 0);
	/* BARs swapped, and b's 64-bit BAR moved above 4 GiB. */
	cfg_write(dfa, PCI_BASE_ADDRESS_0, (uint32_t)b0, 4);
	cfg_write(dfb, PCI_BASE_ADDRESS_0, (uint32_t)a0, 4);
	cfg_write(dfb, PCI_BASE_ADDRESS_0 + 12, 0x10, 4);
	b2 = pci_bar_address(d[1], 2);
	ck_assert_uint_eq(b2 >> 32, 0x10);
	/* a: bus master, MSI-X on, vector 1 masked with a message pending. */
	bus_master(dfa, true);
	msix_bar = pci_bar_address(d[0], 1);
	msix_entry(0, 0xfee00000, 0x4041, false);
	msix_entry(1, 0xfee01000, 0x4042, true);
	msix_entry(2, 0xfee00000, 0x4043, false);
	cfg_write(dfa, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	pci_msix_notify(d[0], 1);
	ck_assert_uint_eq(msix_pba(), 1 << 1);
	cfg_write(dfa, PCI_CACHE_LINE_SIZE, 0x10, 1);
	cfg_write(dfa, PCI_INTERRUPT_LINE, 0x0b, 1);
	/* b: INTx asserted, INTx only. */
	pci_intx_set(d[1], true);
	ck_assert(sink.line[pci_intx_gsi(pci_device_slot(d[1]), 0)]);
	latch1 = latch();
	first = state_save(d, 2, true, &len1);
	pci_device_destroy(d[0]);
	pci_device_destroy(d[1]);
	teardown();

	/* A fresh machine with the same devices. */
	memset(&pa, 0, sizeof(pa));
	memset(&pb, 0, sizeof(pb));
	setup();
	d[0] = make_device(&pa, 0, 0);
	d[1] = make_device(&pb, 0, 0);
	ck_assert_msg(state_load(first, len1, d, 2, true, &err), "%s",
		      err ? err->message : "?");
	ck_assert_uint_eq(latch(), latch1);
	second = state_save(d, 2, true, &len2);
	ck_assert_uint_eq(len1, len2);
	ck_assert(memcmp(first, second, len1) == 0);

	/* Decoding where the state says (b moved away, so a got its place). */
	ck_assert_uint_eq(pci_bar_address(d[0], 0), b0);
	ck_assert_uint_eq(pci_bar_address(d[1], 0), a0);
	ck_assert_uint_eq(pci_bar_address(d[1], 2), b2);
	ck_assert(reaches(&mmio, b0, &pa));
	ck_assert(reaches(&mmio, a0, &pb));
	ck_assert(reaches(&mmio, b2, &pb));
	/* Bus master told, vectors 0 and 2 routed and bound, 1 held. */
	ck_assert_str_eq(pa.log, "1");
	ck_assert(pci_bus_master_enabled(d[0]));
	ck_assert(!pci_bus_master_enabled(d[1]));
	ck_assert(pci_msix_enabled(d[0]));
	ck_assert_uint_eq(sink.nr_routes, 2);
	ck_assert_uint_eq(sink.routes[0].data, 0x4041);
	ck_assert_uint_eq(sink.routes[1].data, 0x4043);
	ck_assert(bound(d[0], 0));
	ck_assert(!bound(d[0], 1));
	ck_assert(bound(d[0], 2));
	msix_bar = pci_bar_address(d[0], 1);
	ck_assert_uint_eq(msix_pba(), 1 << 1);
	msix_mask(1, false);
	ck_assert(bound(d[0], 1));
	ck_assert_uint_eq(pending(d[0], 1), 1);
	/* INTx: the line is up and the status bit says so. */
	ck_assert(sink.line[pci_intx_gsi(pci_device_slot(d[1]), 0)]);
	ck_assert(cfg_read(dfb, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(cfg_read(dfa, PCI_CACHE_LINE_SIZE, 1), 0x10);
	pci_device_destroy(d[0]);
	pci_device_destroy(d[1]);
	teardown();
}
END_TEST

/* The payload of dev's section as saved, for the malformed cases. */
static uint8_t *section_payload(struct pci_device *dev, size_t *plen)
{
	size_t len;
	g_autofree uint8_t *buf = state_save(&dev, 1, false, &len);
	struct state_reader r;
	uint8_t *payload;

	ck_assert(state_reader_init(&r, buf, len, NULL));
	ck_assert(state_section_open(&r, 1, 1, NULL, "pci.00:%02x.0",
				     pci_device_slot(dev)));
	*plen = r.sec_len;
	payload = g_memdup2(r.sec, r.sec_len);
	state_reader_clear(&r);
	return payload;
}

/* Payload layout for the test device (4 vectors). */
#define ST_BARS 256
#define ST_NVEC (ST_BARS + 8 * PCI_NUM_BARS)
#define ST_TABLE (ST_NVEC + 2)
#define ST_PBA (ST_TABLE + 16 * NVEC)
#define ST_INTX (ST_PBA + 8)
#define ST_LEN (ST_INTX + 1)

struct bad_case {
	const char *name;
	unsigned int off; /* byte to change, or ~0U */
	uint8_t xor_mask;
	size_t len; /* payload length used (0: as saved) */
	const char *error; /* what the message must name */
};

/* Load payload as dev's section; it must fail naming what, and change nothing. */
static void expect_rejected(struct pci_device *dev, struct probe *p,
			    const uint8_t *payload, size_t plen,
			    uint32_t version, unsigned int slot, const char *what)
{
	size_t before_len, after_len, len;
	g_autofree uint8_t *before = state_save(&dev, 1, false, &before_len);
	g_autofree uint8_t *after = NULL, *buf = NULL;
	struct probe p0 = *p;
	struct sink s0 = sink;
	struct state_writer w;
	GError *err = NULL;

	state_writer_init(&w);
	state_section_begin(&w, version, "pci.00:%02x.0", slot);
	state_put_bytes(&w, payload, plen);
	state_section_end(&w);
	buf = state_writer_finish(&w, &len);
	ck_assert_msg(!state_load(buf, len, &dev, 1, false, &err),
		      "loaded although '%s' is wrong", what);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err->message, what), "'%s' does not name '%s'",
		      err->message, what);
	g_error_free(err);
	/* Untouched: same state, nothing new reached the buses or KVM. */
	after = state_save(&dev, 1, false, &after_len);
	ck_assert_uint_eq(before_len, after_len);
	ck_assert(memcmp(before, after, before_len) == 0);
	ck_assert(memcmp(p, &p0, sizeof(p0)) == 0);
	ck_assert(memcmp(&sink, &s0, sizeof(s0)) == 0);
}

START_TEST(state_malformed_rejected)
{
	static const struct bad_case cases[] = {
		{ "a single byte", ~0U, 0, 1, "bytes wanted" },
		{ "truncated in config space", ~0U, 0, 100, "bytes wanted" },
		{ "truncated in the BAR sizes", ~0U, 0, ST_BARS + 12, "bytes wanted" },
		{ "truncated in the vector count", ~0U, 0, ST_NVEC + 1, "bytes wanted" },
		{ "truncated in the MSI-X table", ~0U, 0, ST_TABLE + 20, "bytes wanted" },
		{ "truncated in the pending bits", ~0U, 0, ST_PBA + 3, "bytes wanted" },
		{ "truncated before INTx", ~0U, 0, ST_INTX, "bytes wanted" },
		{ "vendor id", PCI_VENDOR_ID, 0x01, 0, "vendor:device id 1235:5678" },
		{ "device id", PCI_DEVICE_ID + 1, 0x80, 0, "vendor:device id 1234:d678" },
		{ "header type", PCI_HEADER_TYPE, 0x80, 0, "header type 0x80" },
		{ "revision", PCI_REVISION_ID, 0x01, 0, "revision" },
		{ "class code", PCI_CLASS_DEVICE + 1, 0x01, 0, "class code" },
		{ "subsystem", PCI_SUBSYSTEM_ID, 0x01, 0, "subsystem ids" },
		{ "command reserved bit", PCI_COMMAND + 1, 0x08, 0, "command register" },
		{ "status capability bit", PCI_STATUS, PCI_STATUS_CAP_LIST, 0, "status register" },
		{ "interrupt pin", PCI_INTERRUPT_PIN, 0x02, 0, "interrupt pin" },
		{ "capability pointer", PCI_CAPABILITY_LIST, 0x04, 0, "capability pointer" },
		{ "capability body", PCI_CAP_START + 4, 0x01, 0, "capability list" },
		{ "MSI-X table size", 0x48 + PCI_MSIX_FLAGS, 0x01, 0, "capability list" },
		{ "BAR 0 prefetch bit", PCI_BASE_ADDRESS_0, PCI_BAR_MEM_PREFETCH, 0, "BAR 0" },
		{ "BAR 0 bits below its size", PCI_BASE_ADDRESS_0 + 1, 0x01, 0, "BAR 0" },
		{ "BAR 4 turned to memory", PCI_BASE_ADDRESS_0 + 16, PCI_BAR_SPACE_IO, 0, "BAR 4" },
		{ "unimplemented BAR 5", PCI_BASE_ADDRESS_0 + 23, 0x80, 0, "BAR 5" },
		{ "BAR 0 size", ST_BARS + 1, 0x30, 0, "BAR 0: size 0x2000, this device's is 0x1000" },
		{ "64-bit BAR's upper half with a size", ST_BARS + 3 * 8 + 1, 0x40, 0, "BAR 3: size" },
		{ "vector count", ST_NVEC, 0x01, 0, "MSI-X: 5 vectors, this device has 4" },
		{ "vector control reserved bit", ST_TABLE + 16 + 13, 0x01, 0, "MSI-X vector 1: reserved vector control bits 0x100" },
		{ "pending bit past the vectors", ST_PBA, 0x10, 0, "pending bit for vector 4, the device has 4" },
		{ "last pending bit", ST_PBA + 7, 0x80, 0, "pending bit for vector 63" },
		{ "INTx not a boolean", ST_INTX, 0x02, 0, "neither 0 nor 1" },
		{ "a byte too many", ~0U, 0, ST_LEN + 1, "does not know" },
	};
	struct probe p = { 0 };
	struct pci_device *dev;
	g_autofree uint8_t *good = NULL, *bad = NULL;
	size_t plen;

	setup();
	dev = make_device(&p, 0, 0);
	bus_master(devfn_of(dev), true);
	good = section_payload(dev, &plen);
	ck_assert_uint_eq(plen, ST_LEN);
	bad = g_malloc0(ST_LEN + 1);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		const struct bad_case *c = &cases[i];

		memcpy(bad, good, plen);
		if (c->off != ~0U)
			bad[c->off] ^= c->xor_mask;
		expect_rejected(dev, &p, bad, c->len ? c->len : plen, 1,
				pci_device_slot(dev), c->error);
	}
	expect_rejected(dev, &p, good, 0, 1, pci_device_slot(dev), "bytes wanted");
	/* Another kind of device altogether: its ids are what is named. */
	memcpy(bad, good, plen);
	le16_put(bad + PCI_DEVICE_ID, 0x1042);
	bad[ST_NVEC] = 9;
	expect_rejected(dev, &p, bad, plen, 1, pci_device_slot(dev),
			"vendor:device id 1234:1042, this device (probe) is 1234:5678");
	/* Another section's name, another version. */
	expect_rejected(dev, &p, good, plen, 1, pci_device_slot(dev) + 1,
			"expected section 'pci.00:01.0', found 'pci.00:02.0'");
	expect_rejected(dev, &p, good, plen, 2, pci_device_slot(dev),
			"version 2");
	/* A decoding BAR over RAM: the 32-bit one at 1 MiB, the 64-bit one at 0. */
	memcpy(bad, good, plen);
	le32_put(bad + PCI_BASE_ADDRESS_0, 0x00100000);
	expect_rejected(dev, &p, bad, plen, 1, pci_device_slot(dev),
			"BAR 0 at 0x100000 (0x1000 bytes, decoding) overlaps guest RAM");
	memcpy(bad, good, plen);
	le32_put(bad + PCI_BASE_ADDRESS_0 + 8, PCI_BAR_MEM_PREFETCH | PCI_BAR_MEM_TYPE_64);
	expect_rejected(dev, &p, bad, plen, 1, pci_device_slot(dev),
			"BAR 2 at 0x0 (0x4000 bytes, decoding) overlaps guest RAM");
	/* Not decoding (a guest sizing it), the same address is a fine state. */
	memcpy(bad, good, plen);
	le32_put(bad + PCI_BASE_ADDRESS_0, 0x00100000);
	bad[PCI_COMMAND] &= (uint8_t)~PCI_COMMAND_MEMORY;
	{
		struct state_writer w;
		g_autofree uint8_t *buf = NULL;
		size_t len;
		GError *err = NULL;

		state_writer_init(&w);
		state_section_begin(&w, 1, "pci.00:%02x.0", pci_device_slot(dev));
		state_put_bytes(&w, bad, plen);
		state_section_end(&w);
		buf = state_writer_finish(&w, &len);
		ck_assert_msg(state_load(buf, len, &dev, 1, false, &err), "%s",
			      err ? err->message : "?");
		ck_assert_uint_eq(pci_bar_address(dev, 0), 0);
		ck_assert_uint_eq(pci_bar_address(dev, 2), 0);
	}
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* The host's section: the latch, then the bridge. */
START_TEST(state_host)
{
	g_autofree uint8_t *buf = NULL;
	size_t len;
	uint32_t a = 0x80000804;
	GError *err = NULL;

	setup();
	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	buf = state_save(NULL, 0, true, &len);
	a = 0;
	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(state_load(buf, len, NULL, 0, true, &err));
	ck_assert_uint_eq(latch(), 0x80000804);
	/* Bits the latch cannot hold: refused, the latch left as it was. */
	a = 0x80000000;
	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	le32_put(buf + STATE_HEADER_SIZE + 1 + strlen("pci-host") + 8, 0x80000805);
	le32_put(buf + len - 4, state_crc32(0, buf, len - 4));
	ck_assert(!state_load(buf, len, NULL, 0, true, &err));
	ck_assert_msg(strstr(err->message, "0xcf8 latch 0x80000805"), "%s", err->message);
	g_clear_error(&err);
	ck_assert_uint_eq(latch(), 0x80000000);
	/* A broken container never reaches the devices. */
	buf[len - 1] ^= 1;
	ck_assert(!state_load(buf, len, NULL, 0, true, &err));
	ck_assert_msg(strstr(err->message, "checksum"), "%s", err->message);
	g_clear_error(&err);
	teardown();
}
END_TEST
END_TEST

START_TEST(machine_reset)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	unsigned int df, cap;
	uint64_t b0;

	setup();
	dev = make_device(&p, 0, 0);
	df = devfn_of(dev);
	cap = msix_cap(df);
	b0 = pci_bar_address(dev, 0);
	msix_bar = pci_bar_address(dev, 1);
	cfg_write(df, PCI_BASE_ADDRESS_0, 0xd0000000, 4);
	cfg_write(df, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	msix_entry(0, 0xfee00000, 0x4041, false);
	cfg_write(df, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	pci_intx_set(dev, true);

	pci_host_reset(host);
	ck_assert_uint_eq(p.resets, 1);
	ck_assert_uint_eq(pci_bar_address(dev, 0), b0);
	ck_assert_uint_eq(cfg_read(df, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	ck_assert(!pci_msix_enabled(dev));
	ck_assert_uint_eq(cfg_read(df, cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	ck_assert_uint_eq(sink.bound_gsi[pci_msix_vector_fd(dev, 0)], 0);
	{
		uint32_t v = 0;

		ck_assert(bus_read(&mmio, msix_bar, &v, 4));
		ck_assert_uint_eq(v, 0);
		ck_assert(bus_read(&mmio, msix_bar + 12, &v, 4));
		ck_assert_uint_eq(v, 1);
	}
	ck_assert(!(cfg_read(df, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	ck_assert(!sink.line[pci_intx_gsi(pci_device_slot(dev), 0)]);
	pci_device_destroy(dev);
	teardown();
}
END_TEST

/* The read-only walk QMP's query-pci makes. */
START_TEST(walk_devices_and_bars)
{
	struct probe p = { 0 };
	struct pci_device *dev;
	struct pci_bar_info b;

	setup();
	dev = make_device(&p, 5, 0);
	ck_assert_ptr_nonnull(pci_host_device(host, 0)); /* the bridge */
	ck_assert_ptr_eq(pci_host_device(host, 5), dev);
	ck_assert_ptr_null(pci_host_device(host, 6));
	ck_assert_ptr_null(pci_host_device(host, PCI_SLOTS));
	ck_assert(pci_device_bar_info(dev, 0, &b));
	ck_assert_uint_eq(b.size, 4096);
	ck_assert(!b.io && !b.mem64 && !b.prefetch);
	ck_assert_uint_eq(b.addr, pci_bar_address(dev, 0));
	ck_assert(pci_device_bar_info(dev, 2, &b));
	ck_assert(b.mem64 && b.prefetch);
	ck_assert_uint_eq(b.size, 16384);
	/* The upper half of the 64-bit BAR, and unimplemented BARs. */
	ck_assert(!pci_device_bar_info(dev, 3, &b));
	ck_assert(!pci_device_bar_info(dev, 5, &b));
	ck_assert(!pci_device_bar_info(dev, 6, &b));
	ck_assert(pci_device_bar_info(dev, 4, &b));
	ck_assert(b.io);
	/* Decoding off: the BAR is there, at no address. */
	cfg_write(devfn_of(dev), PCI_COMMAND, PCI_COMMAND_IO, 2);
	ck_assert(pci_device_bar_info(dev, 0, &b));
	ck_assert_uint_eq(b.addr, 0);
	pci_device_destroy(dev);
	ck_assert_ptr_null(pci_host_device(host, 5));
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pci");

	UNIT_TCASE(s, "config", host_bridge_and_absent_functions,
		   header_and_write_masks, capability_list, slots);
	UNIT_TCASE(s, "bars", bar_sizing, bar_assignment_and_decode,
		   bar_relocation, bar_swap_with_decoding_on,
		   bar_collision_cleared_by_decode_off, bar_high_window,
		   bad_bars_refused);
	UNIT_TCASE(s, "msix", msix_table_and_routes, msix_masking_and_pba);
	UNIT_TCASE(s, "intx", intx_levels_and_sharing, intx_swizzle);
	UNIT_TCASE(s, "bus master", bus_master_callbacks,
		   bus_master_concurrent_writes, msix_held_while_bus_master_off);
	UNIT_TCASE(s, "failures", msix_failed_bind_stays_pending,
		   msix_failed_route_commit_retried, intx_failed_line_retried);
	UNIT_TCASE(s, "reset", machine_reset);
	UNIT_TCASE(s, "walk", walk_devices_and_bars);
	UNIT_TCASE(s, "state", state_round_trip, state_malformed_rejected,
		   state_host);
	return unit_run(s);
}
