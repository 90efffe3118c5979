// SPDX-License-Identifier: MIT
/*
 * The virtio-pci transport as a driver sees it, without /dev/kvm: a
 * machine with a PCI host on plain buses and a recording interrupt sink.
 * It has no ioeventfd operation, so notifications take the BAR's slow
 * path, which this also covers.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/layout.h"
#include "tern/pci.h"
#include "tern/state.h"
#include "tern/virtio.h"
#include "tern/machine.h"
#include "virtio-unit.h"

#define RAM_SIZE (16 * MiB)
#define NQ 2
#define MODEL_FEATURE 3

/* What a VM would give the transport: memory, buses, the PCI host. */
static struct {
	struct guest_memory mem;
	struct bus pio, mmio;
	struct pci_host *pci;
	struct machine machine;
} vm;
static struct virtio_device *vdev;
static unsigned int activations, resets, destroys, quiesces, resumes;
static uint8_t config[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
static bool line[64];
static uint32_t bound[1024];

static int sink_routes(void *o, const struct msi_route *r, unsigned int n)
{
	return 0;
}

static int sink_irqfd(void *o, int fd, uint32_t gsi, bool assign)
{
	bound[fd] = assign ? gsi : 0;
	return 0;
}

static int sink_line(void *o, uint32_t gsi, bool level)
{
	line[gsi] = level;
	return 0;
}

static const struct machine_ops sink_ops = {
	.set_irq_line = sink_line,
	.set_msi_routes = sink_routes,
	.irqfd = sink_irqfd,
};

static int model_activate(struct virtio_device *d)
{
	activations++;
	return 0;
}

static void model_reset(struct virtio_device *d)
{
	resets++;
}

static void model_destroy(struct virtio_device *d)
{
	destroys++;
}

static int model_quiesce(struct virtio_device *d, uint64_t deadline_ns)
{
	quiesces++;
	return 0;
}

static void model_resume(struct virtio_device *d)
{
	resumes++;
}

static const struct virtio_device_ops model_ops = {
	.name = "model",
	.activate = model_activate,
	.reset = model_reset,
	.destroy = model_destroy,
	.quiesce = model_quiesce,
	.resume = model_resume,
};

static unsigned int df; /* the device's devfn */
static uint64_t bar4, msix_table;

static uint32_t cfg_read(unsigned int off, unsigned int len)
{
	uint32_t v = 0;

	pci_host_config_read(vm.pci, 0, df, off, &v, len);
	return v;
}

static void cfg_write(unsigned int off, uint32_t v, unsigned int len)
{
	pci_host_config_write(vm.pci, 0, df, off, &v, len);
}

static uint64_t bar_read(uint64_t off, unsigned int len)
{
	uint64_t v = 0;

	ck_assert(bus_read(&vm.mmio, bar4 + off, &v, len));
	return v;
}

static void bar_write(uint64_t off, uint64_t v, unsigned int len)
{
	ck_assert(bus_write(&vm.mmio, bar4 + off, &v, len));
}

/* Common configuration offsets (4.1.4.3). */
#define DFSELECT 0x00
#define DF 0x04
#define GFSELECT 0x08
#define GF 0x0c
#define MSIX_CONFIG 0x10
#define NUM_QUEUES 0x12
#define STATUS 0x14
#define GENERATION 0x15
#define Q_SELECT 0x16
#define Q_SIZE 0x18
#define Q_MSIX 0x1a
#define Q_ENABLE 0x1c
#define Q_NOFF 0x1e
#define Q_DESC 0x20
#define Q_DRIVER 0x28
#define Q_DEVICE 0x30

struct caps {
	unsigned int off[6]; /* by cfg_type; 0 when absent */
	unsigned int msix;
};

static void find_caps(struct caps *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned int o = cfg_read(PCI_CAPABILITY_LIST, 1); o; o = cfg_read(o + 1, 1)) {
		unsigned int id = cfg_read(o, 1);

		if (id == PCI_CAP_ID_MSIX) {
			c->msix = o;
		} else if (id == PCI_CAP_ID_VNDR) {
			unsigned int type = cfg_read(o + 3, 1);

			ck_assert_uint_lt(type, 6);
			ck_assert_uint_eq(c->off[type], 0);
			c->off[type] = o;
		}
	}
}

static void setup(void)
{
	struct pci_host_params p;
	GError *err = NULL;

	memset(&vm, 0, sizeof(vm));
	ck_assert_int_eq(guest_memory_init(&vm.mem, RAM_SIZE), 0);
	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	pci_host_params_platform(&p, &vm.pio, &vm.mmio, &vm.mem);
	p.irq_ops = &sink_ops;
	vm.pci = pci_host_new(&p, &err);
	ck_assert_ptr_nonnull(vm.pci);
	vm.machine = (struct machine){
		.mem = &vm.mem, .pio = &vm.pio, .mmio = &vm.mmio, .pci = vm.pci,
		.ops = &sink_ops,
	};
	vdev = virtio_pci_create(&vm.machine, &model_ops, NULL, VIRTIO_ID_RNG,
				 1ULL << MODEL_FEATURE, NQ, config, sizeof(config), &err);
	ck_assert_msg(vdev, "%s", err ? err->message : "?");
	df = 1 << 3;
	bar4 = cfg_read(PCI_BASE_ADDRESS_0 + 16, 4) & ~0xfULL;
	bar4 |= (uint64_t)cfg_read(PCI_BASE_ADDRESS_0 + 20, 4) << 32;
	msix_table = cfg_read(PCI_BASE_ADDRESS_0 + 4, 4) & ~0xfULL;
	activations = resets = destroys = quiesces = resumes = 0;
	memset(line, 0, sizeof(line));
}

static void teardown(void)
{
	virtio_pci_destroy(vdev);
	ck_assert_uint_eq(destroys, 1);
	pci_host_destroy(vm.pci);
	bus_destroy(&vm.mmio);
	bus_destroy(&vm.pio);
	guest_memory_destroy(&vm.mem);
}

static void bus_master(bool on)
{
	uint32_t cmd = cfg_read(PCI_COMMAND, 2);

	cfg_write(PCI_COMMAND, on ? cmd | PCI_COMMAND_MASTER : cmd & ~PCI_COMMAND_MASTER, 2);
}

/* What a driver does: bus mastering on, then the status sequence. */
static void driver_ok(void)
{
	bus_master(true);
	bar_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_write(GFSELECT, 1, 4);
	bar_write(GF, 1, 4); /* VERSION_1 */
	bar_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK, 1);
	bar_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
}

START_TEST(identity_and_capabilities)
{
	struct caps c;

	setup();
	ck_assert_uint_eq(cfg_read(PCI_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	ck_assert_uint_eq(cfg_read(PCI_REVISION_ID, 1), 1);
	ck_assert_uint_eq(cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_eq(cfg_read(PCI_SUBSYSTEM_ID, 2), 0x1100);
	ck_assert_uint_eq(cfg_read(PCI_REVISION_ID, 4) >> 8, 0x00ff00);
	ck_assert_uint_eq(cfg_read(PCI_INTERRUPT_PIN, 1), 1);
	/* BAR 4: 64-bit prefetchable memory, 16 KiB; BAR 1: MSI-X, 4 KiB. */
	ck_assert_uint_eq(cfg_read(PCI_BASE_ADDRESS_0 + 16, 4) & 0xf, 0xc);
	ck_assert_uint_ne(bar4, 0);
	ck_assert_uint_eq(bar4 % 0x4000, 0);
	ck_assert_uint_ne(msix_table, 0);

	find_caps(&c);
	for (unsigned int t = 1; t <= 5; t++)
		ck_assert_msg(c.off[t], "no capability of type %u", t);
	for (unsigned int t = 1; t <= 4; t++)
		ck_assert_uint_eq(cfg_read(c.off[t] + 4, 1), 4); /* bar */
	ck_assert_uint_eq(cfg_read(c.off[1] + 8, 4), 0x0000); /* common */
	ck_assert_uint_eq(cfg_read(c.off[3] + 8, 4), 0x1000); /* ISR */
	ck_assert_uint_eq(cfg_read(c.off[4] + 8, 4), 0x2000); /* device */
	ck_assert_uint_eq(cfg_read(c.off[2] + 8, 4), 0x3000); /* notify */
	ck_assert_uint_ge(cfg_read(c.off[1] + 12, 4), 0x38);
	ck_assert_uint_eq(cfg_read(c.off[2] + 2, 1), 20); /* cap_len */
	ck_assert_uint_eq(cfg_read(c.off[2] + 16, 4), 4); /* notify_off_multiplier */
	ck_assert_uint_eq(cfg_read(c.off[5] + 2, 1), 20);
	ck_assert(c.msix);
	ck_assert_uint_eq(cfg_read(c.msix + PCI_MSIX_FLAGS, 2), NQ); /* NQ + 1 vectors */
	teardown();
}
END_TEST

START_TEST(common_config)
{
	setup();
	ck_assert_uint_eq(bar_read(NUM_QUEUES, 2), NQ);
	bar_write(DFSELECT, 0, 4);
	ck_assert_uint_eq(bar_read(DF, 4),
			  (1U << MODEL_FEATURE) | (1U << VIRTIO_F_INDIRECT_DESC) |
				  (1U << VIRTIO_F_EVENT_IDX));
	bar_write(DFSELECT, 1, 4);
	ck_assert_uint_eq(bar_read(DF, 4), 1 | 4); /* VERSION_1, RING_PACKED */
	bar_write(DFSELECT, 7, 4);
	ck_assert_uint_eq(bar_read(DF, 4), 0);
	ck_assert_uint_eq(bar_read(DFSELECT, 4), 7);

	/* Queues: size, notify offset, vectors, the 64-bit addresses in halves. */
	bar_write(Q_SELECT, 1, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), VIRTQ_MAX_SIZE);
	ck_assert_uint_eq(bar_read(Q_NOFF, 2), 1);
	ck_assert_uint_eq(bar_read(Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	bar_write(Q_MSIX, 2, 2);
	ck_assert_uint_eq(bar_read(Q_MSIX, 2), 2);
	bar_write(Q_MSIX, NQ + 1, 2); /* beyond the table: refused */
	ck_assert_uint_eq(bar_read(Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	bar_write(Q_SIZE, 64, 2);
	bar_write(Q_DESC, 0x12345000, 4);
	bar_write(Q_DESC + 4, 0x1, 4);
	bar_write(Q_DRIVER, 0x2000, 8);
	ck_assert_uint_eq(bar_read(Q_DESC, 8), 0x112345000ULL);
	ck_assert_uint_eq(bar_read(Q_DESC + 4, 4), 1);
	ck_assert_uint_eq(bar_read(Q_DRIVER, 4), 0x2000);
	ck_assert_uint_eq(virtq_layout(vdev->queues[1])->size, 64);
	/* A queue that does not exist: size 0, writes ignored. */
	bar_write(Q_SELECT, NQ, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), 0);
	bar_write(Q_SIZE, 8, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), 0);
	/* Wrong-width writes are ignored. */
	bar_write(Q_SELECT, 0, 4);
	ck_assert_uint_eq(bar_read(Q_SELECT, 2), NQ);
	bar_write(MSIX_CONFIG, 0, 2);
	ck_assert_uint_eq(bar_read(MSIX_CONFIG, 2), 0);

	/* Reset: status 0 puts the registers back. */
	bar_write(STATUS, 0, 1);
	ck_assert_uint_eq(bar_read(STATUS, 1), 0);
	ck_assert_uint_eq(bar_read(MSIX_CONFIG, 2), VIRTIO_MSI_NO_VECTOR);
	bar_write(Q_SELECT, 1, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), VIRTQ_MAX_SIZE);
	ck_assert_uint_eq(bar_read(Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	ck_assert_uint_eq(bar_read(Q_DESC, 4), 0);
	teardown();
}
END_TEST

/* A confidential guest's devices offer ACCESS_PLATFORM (bit 33), as QEMU. */
START_TEST(confidential_offers_access_platform)
{
	struct vm_config cfg = { .confidential.kind = CONFIDENTIAL_SEV };
	struct virtio_device *conf_dev;
	GError *err = NULL;

	setup();
	bar_write(DFSELECT, 1, 4);
	ck_assert_uint_eq(bar_read(DF, 4) & 2, 0);
	vm.machine.cfg = &cfg;
	conf_dev = virtio_pci_create(&vm.machine, &model_ops, NULL,
				     VIRTIO_ID_RNG, 0, NQ, config,
				     sizeof(config), &err);
	ck_assert_msg(conf_dev, "%s", err ? err->message : "?");
	ck_assert(conf_dev->host_features & 1ULL << VIRTIO_F_ACCESS_PLATFORM);
	ck_assert(!(vdev->host_features & 1ULL << VIRTIO_F_ACCESS_PLATFORM));
	virtio_pci_destroy(conf_dev);
	destroys--;
	vm.machine.cfg = NULL;
	teardown();
}
END_TEST

START_TEST(status_and_activation)
{
	setup();
	/* Queue 0 on valid rings, queue 1 left disabled. */
	bar_write(Q_SELECT, 0, 2);
	bar_write(Q_SIZE, 16, 2);
	bar_write(Q_DESC, 0x10000, 8);
	bar_write(Q_DRIVER, 0x11000, 8);
	bar_write(Q_DEVICE, 0x12000, 8);
	bar_write(Q_ENABLE, 1, 2);
	ck_assert_uint_eq(bar_read(Q_ENABLE, 2), 1);
	driver_ok();
	ck_assert_uint_eq(bar_read(STATUS, 1), 0x0f);
	ck_assert_uint_eq(activations, 1);
	ck_assert(virtq_started(vdev->queues[0]));
	ck_assert(!virtq_started(vdev->queues[1]));
	/* Frozen after DRIVER_OK (no VIRTIO_F_RING_RESET). */
	bar_write(Q_SIZE, 8, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), 16);
	bar_write(STATUS, 0, 1);
	ck_assert_uint_eq(resets, 1);
	ck_assert(!virtq_started(vdev->queues[0]));
	ck_assert_uint_eq(bar_read(Q_ENABLE, 2), 0);

	/* FEATURES_OK without VERSION_1 does not stick. */
	bar_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				  VIRTIO_STATUS_FEATURES_OK, 1);
	ck_assert_uint_eq(bar_read(STATUS, 1), 3);
	teardown();
}
END_TEST

/* No bus mastering, no guest memory: the queues wait for the bit. */
START_TEST(bus_master_holds_the_device)
{
	setup();
	bar_write(Q_SELECT, 0, 2);
	bar_write(Q_SIZE, 16, 2);
	bar_write(Q_DESC, 0x10000, 8);
	bar_write(Q_DRIVER, 0x11000, 8);
	bar_write(Q_DEVICE, 0x12000, 8);
	bar_write(Q_ENABLE, 1, 2);
	driver_ok();
	bus_master(false);
	ck_assert_uint_eq(quiesces, 1);
	bus_master(true);
	ck_assert_uint_eq(resumes, 1);
	/* Again from reset, with the bit clear all along. */
	bar_write(STATUS, 0, 1);
	bus_master(false);
	bar_write(Q_SELECT, 0, 2);
	bar_write(Q_SIZE, 16, 2);
	bar_write(Q_DESC, 0x10000, 8);
	bar_write(Q_DRIVER, 0x11000, 8);
	bar_write(Q_DEVICE, 0x12000, 8);
	bar_write(Q_ENABLE, 1, 2);
	bar_write(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_write(GFSELECT, 1, 4);
	bar_write(GF, 1, 4);
	bar_write(STATUS, 0x0b, 1);
	bar_write(STATUS, 0x0f, 1);
	/* The driver sees DRIVER_OK; the device starts only with the bit. */
	ck_assert_uint_eq(bar_read(STATUS, 1), 0x0f);
	ck_assert_uint_eq(activations, 1);
	ck_assert(!virtq_started(vdev->queues[0]));
	bus_master(true);
	ck_assert_uint_eq(activations, 2);
	ck_assert(virtq_started(vdev->queues[0]));
	teardown();
}
END_TEST

START_TEST(notify_slow_path)
{
	struct pollfd p;

	setup();
	p.fd = virtq_kick_fd(vdev->queues[1]);
	p.events = POLLIN;
	ck_assert_int_eq(poll(&p, 1, 0), 0);
	bar_write(0x3000 + 4 * 1, 1, 2);
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	/* Beyond the last queue: nothing. */
	bar_write(0x3000 + 4 * NQ, NQ, 2);
	ck_assert_uint_eq(bar_read(0x3000, 2), 0);
	teardown();
}
END_TEST

START_TEST(isr_and_intx)
{
	unsigned int gsi;

	setup();
	gsi = cfg_read(PCI_INTERRUPT_LINE, 1);
	ck_assert_uint_eq(gsi, pci_intx_gsi(1, 0));
	driver_ok();
	/* MSI-X off: a used buffer sets ISR bit 0 and raises INTA#. */
	vdev->transport_ops->notify_queue(vdev, vdev->queues[0]);
	ck_assert(line[gsi]);
	ck_assert(cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(bar_read(0x1000, 1), 1);
	ck_assert(!line[gsi]);
	ck_assert_uint_eq(bar_read(0x1000, 1), 0);
	/* A config change: bit 1. */
	virtio_config_changed(vdev);
	ck_assert(line[gsi]);
	ck_assert_uint_eq(bar_read(0x1000, 1), 2);
	ck_assert(!line[gsi]);
	teardown();
}
END_TEST

START_TEST(msix_vectors)
{
	struct caps c;
	uint32_t w[4] = { 0xfee00000, 0, 0x40, 0 };
	unsigned int gsi;

	setup();
	find_caps(&c);
	for (unsigned int v = 0; v <= NQ; v++)
		for (int i = 0; i < 4; i++)
			ck_assert(bus_write(&vm.mmio, msix_table + 16 * v + 4 * i, &w[i], 4));
	/* As a driver does first (an MSI is a memory write): bus master on. */
	cfg_write(PCI_COMMAND, cfg_read(PCI_COMMAND, 2) | PCI_COMMAND_MASTER, 2);
	cfg_write(c.msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	bar_write(MSIX_CONFIG, 0, 2);
	bar_write(Q_SELECT, 1, 2);
	bar_write(Q_MSIX, 2, 2);
	driver_ok();
	gsi = cfg_read(PCI_INTERRUPT_LINE, 1);

	/*
	 * A used buffer on queue 1 goes to vector 2: its eventfd is bound
	 * (irqfd) and gets the write; INTx and ISR stay quiet.
	 */
	vdev->transport_ops->notify_queue(vdev, vdev->queues[1]);
	ck_assert(!line[gsi]);
	ck_assert_uint_eq(bar_read(0x1000, 1), 0);
	{
		struct pollfd p[NQ + 1];

		for (unsigned int v = 0; v <= NQ; v++) {
			/* The vector eventfds are the ones the sink saw bound. */
			p[v].events = POLLIN;
			p[v].fd = -1;
		}
		for (int fd = 0; fd < 1024; fd++)
			if (bound[fd])
				p[bound[fd] - LAYOUT_MSI_GSI_BASE].fd = fd;
		for (unsigned int v = 0; v <= NQ; v++)
			ck_assert_int_ge(p[v].fd, 0);
		ck_assert_int_eq(poll(p, NQ + 1, 0), 1);
		ck_assert(p[2].revents & POLLIN);
		/* Queue 0 has no vector: nothing at all. */
		vdev->transport_ops->notify_queue(vdev, vdev->queues[0]);
		ck_assert_int_eq(poll(p, NQ + 1, 0), 1);
		/* A config change: vector 0, and ISR bit 1 (4.1.4.5.1) without INTx. */
		virtio_config_changed(vdev);
		ck_assert_int_eq(poll(p, NQ + 1, 0), 2);
		ck_assert(p[0].revents & POLLIN);
		ck_assert(!line[gsi]);
		ck_assert_uint_eq(bar_read(0x1000, 1), 2);
	}
	teardown();
}
END_TEST

START_TEST(device_config)
{
	setup();
	ck_assert_uint_eq(bar_read(0x2000, 4), 0x44332211);
	ck_assert_uint_eq(bar_read(0x2006, 2), 0x8877);
	ck_assert_uint_eq(bar_read(0x2008, 4), 0); /* past its end */
	ck_assert_uint_eq(bar_read(GENERATION, 1), 0);
	config[0] = 0x99;
	virtio_config_changed(vdev);
	ck_assert_uint_eq(bar_read(0x2000, 1), 0x99);
	ck_assert_uint_eq(bar_read(GENERATION, 1), 1);
	teardown();
}
END_TEST

/* VIRTIO_PCI_CAP_PCI_CFG: BAR 4 through the config space window. */
START_TEST(pci_cfg_window)
{
	struct caps c;
	unsigned int w;

	setup();
	find_caps(&c);
	w = c.off[5];
	cfg_write(w + 4, 4, 1); /* bar */
	cfg_write(w + 8, NUM_QUEUES, 4); /* offset */
	cfg_write(w + 12, 2, 4); /* length */
	ck_assert_uint_eq(cfg_read(w + 16, 2), NQ);
	cfg_write(w + 8, 0x2004, 4);
	cfg_write(w + 12, 4, 4);
	ck_assert_uint_eq(cfg_read(w + 16, 4), 0x88776655);
	/* A write goes through too: status. */
	cfg_write(w + 8, STATUS, 4);
	cfg_write(w + 12, 1, 4);
	cfg_write(w + 16, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	ck_assert_uint_eq(bar_read(STATUS, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(cfg_read(w + 16, 1), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Misaligned, or another BAR: no access. */
	cfg_write(w + 8, Q_SELECT + 1, 4);
	cfg_write(w + 12, 2, 4);
	cfg_write(w + 16, 1, 2);
	ck_assert_uint_eq(bar_read(Q_SELECT, 2), 0);
	cfg_write(w + 4, 1, 1);
	cfg_write(w + 8, 0, 4);
	cfg_write(w + 12, 4, 4);
	cfg_write(w + 16, 0xfee00000, 4);
	{
		uint32_t v = 1;

		ck_assert(bus_read(&vm.mmio, msix_table, &v, 4));
		ck_assert_uint_eq(v, 0);
	}
	teardown();
}
END_TEST

/* A malformed ring: NEEDS_RESET and a config interrupt, then a reset recovers. */
START_TEST(needs_reset_recovery)
{
	struct virtq_elem elem;
	unsigned int gsi;
	uint16_t idx = 1;

	setup();
	gsi = cfg_read(PCI_INTERRUPT_LINE, 1);
	bar_write(Q_SELECT, 0, 2);
	bar_write(Q_SIZE, 16, 2);
	bar_write(Q_DESC, 0x10000, 8);
	bar_write(Q_DRIVER, 0x11000, 8);
	bar_write(Q_DEVICE, 0x12000, 8);
	bar_write(Q_ENABLE, 1, 2);
	driver_ok();
	/* avail->ring[0] = 99 in a 16-entry queue, avail->idx = 1. */
	ck_assert_int_eq(guest_memory_write(&vm.mem, 0x11004, &(uint16_t){ 99 }, 2), 0);
	ck_assert_int_eq(guest_memory_write(&vm.mem, 0x11002, &idx, 2), 0);
	ck_assert_int_eq(virtq_pop(vdev->queues[0], &elem), -EINVAL);
	ck_assert(bar_read(STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert(line[gsi]);
	ck_assert_uint_eq(bar_read(0x1000, 1), 2);
	bar_write(STATUS, 0, 1);
	ck_assert_uint_eq(bar_read(STATUS, 1), 0);
	ck_assert_uint_eq(resets, 1);
	teardown();
}
END_TEST

/* A driver's reset: 0 written to the device status. */
static void driver_reset(struct virtio_device *d)
{
	bar_write(STATUS, 0, 1);
}

/*
 * queue_size takes 1 to the maximum; a write of 0 or above the maximum is
 * ignored, as QEMU does, so every size a driver can leave saves and loads.
 * (Found by the virtio-pci fuzz target: a size of 2056 was kept, and the
 * state loader refused the device's own state.)
 */
START_TEST(queue_size_out_of_range_ignored)
{
	setup();
	bar_write(Q_SELECT, 0, 2);
	bar_write(Q_SIZE, 32, 2);
	bar_write(Q_SIZE, VIRTQ_MAX_SIZE + 1, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), 32);
	bar_write(Q_SIZE, 2056, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), 32);
	bar_write(Q_SIZE, 0, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), 32);
	bar_write(Q_SIZE, VIRTQ_MAX_SIZE, 2);
	ck_assert_uint_eq(bar_read(Q_SIZE, 2), VIRTQ_MAX_SIZE);
	bar_write(Q_SELECT, 1, 2);
	bar_write(Q_SIZE, 0xffff, 2);
	ck_assert(virtio_save_reset_load(vdev, driver_reset));
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio-pci");

	UNIT_TCASE(s, "layout", identity_and_capabilities, pci_cfg_window);
	UNIT_TCASE(s, "common", common_config, confidential_offers_access_platform,
		   status_and_activation,
		   bus_master_holds_the_device, device_config, notify_slow_path,
		   queue_size_out_of_range_ignored);
	UNIT_TCASE(s, "interrupts", isr_and_intx, msix_vectors,
		   needs_reset_recovery);
	return unit_run(s);
}
