// SPDX-License-Identifier: MIT
/*
 * The state target's seeds: streams from tern's savers for the vCPUs (a
 * host with XSAVE and a legacy one, as fuzz-state.c picks by id), the
 * platform, and a machine whose devices a driver brought up (UART, i8042,
 * PCI host, a virtio-pci function with a running queue). Each stream is
 * loaded back, section by section, before it is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/device.h"
#include "tern/devices.h"
#include "tern/le.h"
#include "tern/pci.h"
#include "tern/platform_state.h"
#include "tern/state.h"
#include "tern/vcpu_state.h"
#include "tern/virtio.h"
#include "fuzz.h"
#include "make-seeds.h"

static void caps_make(struct vcpu_state_caps *c, bool legacy)
{
	/* As fuzz-state.c: cpu.N with N odd is the legacy host. */
	memset(c, 0, sizeof(*c));
	if (!legacy) {
		c->xsave_size = 4096;
		c->xsave2 = c->xcrs = c->sregs2 = true;
	}
	for (unsigned int i = 0; i < x86_nr_state_msrs; i += legacy ? 2 : 1)
		c->msrs[c->nmsrs++] = x86_state_msrs[i].index;
}

static void segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool l)
{
	*s = (struct kvm_segment){ .limit = 0xffffffff, .selector = sel,
				   .type = type, .present = 1, .s = 1, .g = 1,
				   .l = l, .db = !l };
}

/* A 64-bit vCPU in the kernel, all valid for caps. */
static void vcpu_fill(struct vcpu_state *s, const struct vcpu_state_caps *c)
{
	struct kvm_sregs2 *sr = &s->sregs;

	memset(s, 0, sizeof(*s));
	s->regs.rip = 0xffffffff81000000ULL;
	s->regs.rsp = 0xffffc90000003f00ULL;
	s->regs.rflags = 0x246;
	segment(&sr->cs, 0x10, 0xb, true);
	segment(&sr->ds, 0x18, 0x3, false);
	sr->es = sr->ss = sr->fs = sr->gs = sr->ds;
	sr->tr = (struct kvm_segment){ .base = 0x1000, .limit = 0x67,
				       .selector = 0x28, .type = 0xb,
				       .present = 1 };
	sr->ldt = (struct kvm_segment){ .unusable = 1 };
	sr->gdt = (struct kvm_dtable){ .base = 0x500, .limit = 0x2f };
	sr->idt = (struct kvm_dtable){ .base = 0x600, .limit = 0xfff };
	sr->cr0 = 0x80050033;
	sr->cr3 = 0x9000;
	sr->cr4 = c->xsave_size ? 0x3406a0 : 0x6a0;
	sr->efer = 0xd01;
	sr->apic_base = 0xfee00900;
	s->xsave_size = c->xsave_size;
	if (s->xsave_size) {
		uint8_t *x = (uint8_t *)s->xsave;

		le16_put(x, 0x37f);
		le32_put(x + 24, 0x1f80);
		le64_put(x + 512, 0x3);
		s->has_xcr0 = true;
		s->xcr0 = 0x3;
	} else {
		s->fpu.fcw = 0x37f;
		s->fpu.mxcsr = 0x1f80;
	}
	for (unsigned int i = 0; i < c->nmsrs; i++) {
		struct kvm_msr_entry *e = &s->msrs[s->nmsrs++];

		e->index = c->msrs[i];
		if (e->index == 0x10)
			e->data = 0x123456789ULL;
		else if (e->index == 0x277)
			e->data = 0x0007040600070406ULL;
		else if (e->index == 0x2ff)
			e->data = 0xc06;
		else if (e->index == 0xc0000082)
			e->data = 0xffffffff81800000ULL;
	}
	for (unsigned int i = 0; i < sizeof(s->lapic.regs); i++)
		s->lapic.regs[i] = (char)(i * 7);
	s->events.interrupt.shadow = 1;
	s->mp_state = KVM_MP_STATE_RUNNABLE;
	s->debugregs.dr6 = 0xffff0ff0;
	s->debugregs.dr7 = 0x400;
}

static void platform_fill(struct platform_state *p)
{
	memset(p, 0, sizeof(*p));
	p->pic[0] = (struct kvm_pic_state){ .imr = 0xfb, .irq_base = 0x20,
					    .init4 = 1, .elcr_mask = 0xf8 };
	p->pic[1] = (struct kvm_pic_state){ .imr = 0xff, .irq_base = 0x28,
					    .init4 = 1, .elcr_mask = 0xde };
	p->ioapic.base_address = 0xfec00000;
	for (unsigned int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		p->ioapic.redirtbl[i].bits = 1ULL << 16;
	for (unsigned int i = 0; i < 3; i++) {
		p->pit.channels[i].count = 0x10000;
		p->pit.channels[i].mode = 0xff;
		p->pit.channels[i].gate = i != 2;
	}
	p->clock = 1234567890123ULL;
}

/* The devices fuzz-state.c builds, brought up by a driver. */
struct state_machine {
	struct fuzz_machine fm;
	void *serial, *i8042;
	struct virtio_device *vdev;
	uint8_t config[8];
};

static int model_activate(struct virtio_device *vdev)
{
	return 0;
}

/* The core calls it for every device it activated. */
static void model_reset(struct virtio_device *vdev)
{
}

static const struct virtio_device_ops state_model_ops = {
	.name = "fuzz-state",
	.activate = model_activate,
	.reset = model_reset,
};

static void state_machine_make(struct state_machine *sm)
{
	memset(sm, 0, sizeof(*sm));
	if (fuzz_machine_init(&sm->fm, 64 * KiB))
		abort();
	sm->serial = serial_device_type.create(&sm->fm.m, 0, NULL);
	sm->i8042 = i8042_device_type.create(&sm->fm.m, 0, NULL);
	sm->vdev = virtio_pci_create(&sm->fm.m, &state_model_ops, NULL,
				     VIRTIO_ID_RNG, 1ULL << 3, 2, sm->config,
				     sizeof(sm->config), NULL);
	if (!sm->serial || !sm->i8042 || !sm->vdev)
		abort();
}

static void state_machine_drive(struct state_machine *sm)
{
	struct virtio_device *v = sm->vdev;
	struct pci_device *pci = virtio_pci_function(v);
	unsigned int df = pci_device_slot(pci) << 3;
	uint32_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint8_t b;

	pci_host_config_write(sm->fm.pci, 0, df, PCI_COMMAND, &cmd, 2);
	virtio_device_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_set_driver_features(v, 1, 1); /* VERSION_1 */
	virtio_device_set_driver_features(v, 0, 1u << VIRTIO_F_EVENT_IDX);
	virtio_device_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK);
	*virtq_layout(v->queues[0]) = (struct virtq_layout){
		.size = 16, .enabled = true, .desc = 0x1000, .driver = 0x2000,
		.device = 0x3000,
	};
	virtio_device_set_status(v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK |
					    VIRTIO_STATUS_DRIVER_OK);
	/* The UART with its FIFO on and a byte of input; the i8042 a command. */
	b = 0x01;
	(void)bus_write(&sm->fm.pio, 0x3fa, &b, 1);
	b = 0x0b;
	(void)bus_write(&sm->fm.pio, 0x3fc, &b, 1);
	serial_receive(sm->serial, (const uint8_t *)"x", 1);
	b = 0x60;
	(void)bus_write(&sm->fm.pio, 0x64, &b, 1);
}

static void state_machine_free(struct state_machine *sm)
{
	virtio_pci_destroy(sm->vdev);
	i8042_device_type.destroy(sm->i8042);
	serial_device_type.destroy(sm->serial);
	fuzz_machine_destroy(&sm->fm);
}

static void state_fail(const char *seed, const char *section, GError *err)
{
	fprintf(stderr, "seed-%s: section %s does not load: %s\n", seed, section,
		err ? err->message : "?");
	exit(1);
}

/* Every section loads into a fresh machine, as fuzz-state.c loads it. */
static void state_seed_check(const char *seed, const uint8_t *buf, size_t len)
{
	struct vcpu_state *s = g_new0(struct vcpu_state, 1);
	struct vcpu_state_caps caps;
	struct platform_state p;
	struct state_machine sm;
	struct state_reader r;
	GError *err = NULL;
	const char *next;

	state_machine_make(&sm);
	if (!state_reader_init(&r, buf, len, &err))
		state_fail(seed, "(container)", err);
	while ((next = state_next_section(&r))) {
		char name[STATE_NAME_MAX + 1];
		unsigned int id;
		bool ok;

		g_strlcpy(name, next, sizeof(name));
		if (sscanf(name, "cpu.%u", &id) == 1) {
			caps_make(&caps, id % 2);
			ok = vcpu_state_load(&r, id, &caps, s, &err);
		} else if (!strcmp(name, "irqchip")) {
			ok = platform_state_load(&r, &p, &err);
		} else if (!strcmp(name, "serial.0")) {
			ok = serial_device_type.load(sm.serial, name, &r, &err);
		} else if (!strcmp(name, "i8042.0")) {
			ok = i8042_device_type.load(sm.i8042, name, &r, &err);
		} else if (!strcmp(name, "pci-host")) {
			ok = pci_host_load(sm.fm.pci, &r, &err);
		} else {
			FUZZ_CHECK(virtio_pci_device_quiesce(sm.vdev, 0) == 0);
			ok = virtio_pci_device_load(sm.vdev, "virtio.0", &r,
						    &err);
		}
		if (!ok)
			state_fail(seed, name, err);
	}
	if (!state_reader_finish(&r, &err))
		state_fail(seed, "(end)", err);
	state_reader_clear(&r);
	state_machine_free(&sm);
	g_free(s);
}

/* Every section a restore of this machine reads, in one stream. */
static void state_seed(const char *name, bool cpus, bool platform, bool devices)
{
	struct state_writer w;
	struct vcpu_state_caps caps;
	struct vcpu_state *s = g_new0(struct vcpu_state, 1);
	struct platform_state p;
	struct state_machine sm;
	uint8_t *buf;
	size_t len;

	state_writer_init(&w);
	for (unsigned int id = 0; cpus && id < 2; id++) {
		caps_make(&caps, id % 2);
		vcpu_fill(s, &caps);
		vcpu_state_save(s, id, &w);
	}
	if (platform) {
		platform_fill(&p);
		platform_state_save(&p, &w);
	}
	if (devices) {
		state_machine_make(&sm);
		state_machine_drive(&sm);
		serial_device_type.save(sm.serial, "serial.0", &w);
		i8042_device_type.save(sm.i8042, "i8042.0", &w);
		pci_host_save(sm.fm.pci, &w);
		FUZZ_CHECK(virtio_pci_device_quiesce(sm.vdev, 0) == 0);
		virtio_pci_device_save(sm.vdev, "virtio.0", &w);
		state_machine_free(&sm);
	}
	buf = state_writer_finish(&w, &len);
	state_seed_check(name, buf, len);
	seed_write("state", name, buf, len);
	g_free(buf);
	g_free(s);
}

void seeds_state(void)
{
	state_seed("vcpus", true, false, false);
	state_seed("platform", false, true, false);
	state_seed("devices", false, false, true);
}


void seeds_state_core_put(struct state_writer *w, unsigned int nr_vcpus)
{
	struct vcpu_state *s = g_new0(struct vcpu_state, 1);
	struct vcpu_state_caps caps;
	struct platform_state p;

	for (unsigned int id = 0; id < nr_vcpus; id++) {
		caps_make(&caps, id % 2);
		vcpu_fill(s, &caps);
		vcpu_state_save(s, id, w);
	}
	platform_fill(&p);
	platform_state_save(&p, w);
	g_free(s);
}
