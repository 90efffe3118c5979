/* SPDX-License-Identifier: MIT */
/*
 * The fixture the VFIO unit suites share (test-vfio.c, test-vfio-msi.c):
 * a PCI host on plain buses, KVM played by a recorder (struct sink), the
 * VFIO test double (test-vfio-double.h, NO REAL DEVICE) and the guest's
 * side as config cycles on 0xcf8/0xcfc and MMIO bus accesses. Included
 * once per test program.
 */
#ifndef TERN_TEST_VFIO_FIXTURE_H
#define TERN_TEST_VFIO_FIXTURE_H

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/le.h"
#include "tern/machine.h"
#include "tern/pci.h"
#include "tern/vfio.h"
#include "test-vfio-double.h"
#include "unit.h"

#define MAX_SLOTS 16

struct sink {
	uint32_t bound_gsi[1024]; /* by fd; 0: not bound */
	struct msi_route routes[64];
	unsigned int nr_routes;
	int intx_fd, intx_resample_fd;
	uint32_t intx_gsi;
	bool intx_bound;
	struct {
		uint32_t slot;
		uint64_t gpa, size;
		void *hva;
	} slots[MAX_SLOTS];
	unsigned int slot_calls;
	bool no_memory_slots;
};

static struct sink sink;
static struct bus pio, mmio;
static struct guest_memory mem;
static struct pci_host *host;
static struct machine machine;
static struct vm_config vmcfg;
static struct vfio_double dbl;
static struct vfio_config vcfg;

static int sink_routes(void *opaque, const struct msi_route *r, unsigned int n)
{
	ck_assert_uint_le(n, 64);
	memcpy(sink.routes, r, n * sizeof(*r));
	sink.nr_routes = n;
	return 0;
}

static int sink_irqfd(void *opaque, int fd, uint32_t gsi, bool assign)
{
	ck_assert_int_lt(fd, 1024);
	sink.bound_gsi[fd] = assign ? gsi : 0;
	return 0;
}

static int sink_line(void *opaque, uint32_t gsi, bool level)
{
	return 0;
}

static int sink_resample(void *opaque, int fd, int resample_fd, uint32_t gsi,
			 bool assign)
{
	if (assign) {
		ck_assert(!sink.intx_bound);
		sink.intx_fd = fd;
		sink.intx_resample_fd = resample_fd;
		sink.intx_gsi = gsi;
	} else {
		ck_assert(sink.intx_bound);
		ck_assert_int_eq(fd, sink.intx_fd);
	}
	sink.intx_bound = assign;
	return 0;
}

static int sink_slot(void *opaque, uint32_t slot, uint64_t gpa, uint64_t size,
		     void *hva)
{
	unsigned int i;

	if (sink.no_memory_slots)
		return -ENOSPC;
	sink.slot_calls++;
	for (i = 0; i < MAX_SLOTS; i++)
		if (sink.slots[i].size && sink.slots[i].slot == slot)
			break;
	if (!size) {
		ck_assert_msg(i < MAX_SLOTS,
			      "deleting slot %u, which is not there", slot);
		sink.slots[i].size = 0;
		return 0;
	}
	ck_assert_msg(i == MAX_SLOTS, "slot %u added twice", slot);
	for (i = 0; i < MAX_SLOTS && sink.slots[i].size; i++)
		;
	ck_assert_uint_lt(i, MAX_SLOTS);
	sink.slots[i].slot = slot;
	sink.slots[i].gpa = gpa;
	sink.slots[i].size = size;
	sink.slots[i].hva = hva;
	return 0;
}

static const struct machine_ops sink_ops = {
    .set_msi_routes = sink_routes,
    .irqfd = sink_irqfd,
    .set_irq_line = sink_line,
    .irqfd_resample = sink_resample,
    .set_memory_slot = sink_slot,
};

static void setup(void)
{
	struct pci_host_params p;
	GError *err = NULL;

	memset(&sink, 0, sizeof(sink));
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	/* 3.5 GiB of RAM: two regions, around the 32-bit hole. */
	ck_assert_int_eq(guest_memory_layout(3584 * MiB, &mem), 0);
	pci_host_params_platform(&p, &pio, &mmio, &mem);
	p.irq_ops = &sink_ops;
	host = pci_host_new(&p, &err);
	ck_assert_msg(host, "%s", err ? err->message : "?");
	memset(&vmcfg, 0, sizeof(vmcfg));
	machine = (struct machine){
	    .cfg = &vmcfg,
	    .mem = &mem,
	    .pio = &pio,
	    .mmio = &mmio,
	    .pci = host,
	    .ops = &sink_ops,
	    .console_in_fd = -1,
	};
	vfio_double_init(&dbl);
	ck_assert(vfio_config_parse("vfio=" VD_ADDR, &vcfg, NULL));
}

static void teardown(void)
{
	vfio_config_clear(&vcfg);
	vfio_double_clear(&dbl);
	pci_host_destroy(host);
	bus_destroy(&mmio);
	bus_destroy(&pio);
}

static struct vfio_device *create_ok(void)
{
	GError *err = NULL;
	struct vfio_device *v =
	    vfio_device_create(&machine, &vcfg, &vfio_double_ops, &dbl, &err);

	ck_assert_msg(v, "%s", err ? err->message : "?");
	return v;
}

/* A create that must fail, leaving nothing open or mapped. */
static G_GNUC_UNUSED void create_fails(const char *needle)
{
	GError *err = NULL;
	struct vfio_device *v =
	    vfio_device_create(&machine, &vcfg, &vfio_double_ops, &dbl, &err);

	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err->message, needle), "'%s' lacks '%s'",
		      err->message, needle);
	ck_assert_msg(strstr(err->message, "--device vfio=" VD_ADDR),
		      "'%s' names no option", err->message);
	ck_assert_int_eq(err->domain, TERN_ERROR);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
	ck_assert_uint_eq(dbl.nr_dma, 0);
	ck_assert(!sink.intx_bound);
	g_error_free(err);
}

/* ---- the guest's side ---- */

static uint32_t cfg_read(unsigned int slot, unsigned int off, unsigned int len)
{
	uint32_t a = 0x80000000U | slot << 11 | (off & 0xfc), v = 0;

	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(bus_read(&pio, 0xcfc + (off & 3), &v, len));
	return v;
}

static G_GNUC_UNUSED void cfg_write(unsigned int slot, unsigned int off,
				    uint32_t v, unsigned int len)
{
	uint32_t a = 0x80000000U | slot << 11 | (off & 0xfc);

	ck_assert(bus_write(&pio, 0xcf8, &a, 4));
	ck_assert(bus_write(&pio, 0xcfc + (off & 3), &v, len));
}

static G_GNUC_UNUSED uint32_t mmio_read32(uint64_t addr)
{
	uint32_t v = 0;

	ck_assert_msg(bus_read(&mmio, addr, &v, 4), "nothing at 0x%lx",
		      (unsigned long)addr);
	return v;
}

static G_GNUC_UNUSED void mmio_write32(uint64_t addr, uint32_t v)
{
	ck_assert_msg(bus_write(&mmio, addr, &v, 4), "nothing at 0x%lx",
		      (unsigned long)addr);
}

static G_GNUC_UNUSED unsigned int find_cap(unsigned int slot, unsigned int id)
{
	unsigned int hops = 0;

	for (unsigned int off = cfg_read(slot, PCI_CAPABILITY_LIST, 1); off;
	     off = cfg_read(slot, off + 1, 1)) {
		ck_assert_uint_lt(hops++, 48);
		if (cfg_read(slot, off, 1) == id)
			return off;
	}
	return 0;
}

#endif
