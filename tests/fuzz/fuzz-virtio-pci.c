// SPDX-License-Identifier: MIT
/*
 * A virtio-pci function as a hostile guest programs it: config space
 * through direct config cycles, ports 0xcf8/0xcfc and the ECAM window;
 * the common configuration, ISR, device configuration and notify areas
 * of BAR 4 wherever the guest moved it; the MSI-X table and PBA; plus
 * machine resets, device-side interrupts and quiesce/resume. The model
 * only counts its activations and resets.
 *
 * Then the state the guest left is saved and loaded into an identical
 * fresh machine, which must accept it: a state a guest can reach and
 * that does not migrate is a bug too.
 *
 * Input: 8-byte operations: u8 op, u8 width (1 << (w & 3)) and devfn
 * (w >> 2), u16 offset, u32 value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/layout.h"
#include "tern/pci.h"
#include "tern/state.h"
#include "tern/virtio.h"
#include "fuzz.h"

#define RAM_SIZE (64 * KiB)
#define NQ 2
#define VPCI_BAR 4
#define VPCI_MSIX_BAR 1
#define MAX_OPS 256

enum pci_op {
	OP_CFG_WRITE,
	OP_CFG_READ,
	OP_BAR_WRITE,
	OP_BAR_READ,
	OP_MSIX_WRITE,
	OP_MSIX_READ,
	OP_CONF1_WRITE, /* 0xcf8 latch (offset 0) or 0xcfc data */
	OP_CONF1_READ,
	OP_ECAM_WRITE,
	OP_ECAM_READ,
	OP_MACHINE_RESET,
	OP_DEVICE_IRQ, /* a queue's or the config's interrupt from the device */
	OP_QUIESCE,
	OP_COUNT,
};

struct fuzz_vpci {
	struct fuzz_machine fm;
	struct virtio_device *vdev;
	struct pci_device *pci;
	uint8_t config[8];
	unsigned int activations, resets;
};

static int model_activate(struct virtio_device *d)
{
	struct fuzz_vpci *v = d->priv;

	v->activations++;
	return 0;
}

static void model_reset(struct virtio_device *d)
{
	struct fuzz_vpci *v = d->priv;

	v->resets++;
}

static const struct virtio_device_ops model_ops = {
	.name = "fuzz-vpci",
	.activate = model_activate,
	.reset = model_reset,
};

static bool vpci_setup(struct fuzz_vpci *v)
{
	GError *err = NULL;

	memset(v, 0, sizeof(*v));
	if (fuzz_machine_init(&v->fm, RAM_SIZE))
		return false;
	for (unsigned int i = 0; i < sizeof(v->config); i++)
		v->config[i] = (uint8_t)(0x11 * (i + 1));
	v->vdev = virtio_pci_create(&v->fm.m, &model_ops, v, VIRTIO_ID_RNG,
				    1ULL << 3, NQ, v->config, sizeof(v->config),
				    &err);
	if (!v->vdev) {
		fprintf(stderr, "fuzz: virtio-pci: %s\n", err->message);
		g_error_free(err);
		fuzz_machine_destroy(&v->fm);
		return false;
	}
	v->pci = virtio_pci_function(v->vdev);
	return true;
}

static void vpci_teardown(struct fuzz_vpci *v)
{
	virtio_pci_destroy(v->vdev);
	fuzz_machine_destroy(&v->fm);
}

static void run_op(struct fuzz_vpci *v, const uint8_t *op)
{
	unsigned int len = 1u << (op[1] & 3), devfn = op[1] >> 2;
	uint16_t off = (uint16_t)(op[2] | op[3] << 8);
	uint64_t val = (uint64_t)op[4] | (uint64_t)op[5] << 8 |
		       (uint64_t)op[6] << 16 | (uint64_t)op[7] << 24;
	uint64_t data = val | val << 32, base;
	unsigned int dev_devfn = pci_device_slot(v->pci) << 3;

	/* devfn 0-63 of the 6 bits: mostly our device, sometimes others. */
	devfn = devfn < 48 ? dev_devfn : (devfn - 48) << 3;
	switch (op[0] % OP_COUNT) {
	case OP_CFG_WRITE:
		if (len > 4)
			len = 4;
		pci_host_config_write(v->fm.pci, 0, devfn, off & 0xff, &data, len);
		break;
	case OP_CFG_READ:
		if (len > 4)
			len = 4;
		pci_host_config_read(v->fm.pci, 0, devfn, off & 0xff, &data, len);
		break;
	case OP_BAR_WRITE:
		base = pci_bar_address(v->pci, VPCI_BAR);
		(void)bus_write(&v->fm.mmio, base + (off & 0x3fff), &data, len);
		break;
	case OP_BAR_READ:
		base = pci_bar_address(v->pci, VPCI_BAR);
		(void)bus_read(&v->fm.mmio, base + (off & 0x3fff), &data, len);
		break;
	case OP_MSIX_WRITE:
		base = pci_bar_address(v->pci, VPCI_MSIX_BAR);
		(void)bus_write(&v->fm.mmio, base + (off & 0xfff), &data, len);
		break;
	case OP_MSIX_READ:
		base = pci_bar_address(v->pci, VPCI_MSIX_BAR);
		(void)bus_read(&v->fm.mmio, base + (off & 0xfff), &data, len);
		break;
	case OP_CONF1_WRITE:
		/* Offset 0: the latch, as bus 0, this devfn, register off. */
		if (!(off & 0x100))
			data = 0x80000000u | devfn << 8 | (off & 0xfc);
		(void)bus_write(&v->fm.pio, off & 0x100 ? 0xcfc + (off & 3) : 0xcf8,
				&data, len);
		break;
	case OP_CONF1_READ:
		(void)bus_read(&v->fm.pio, 0xcf8 + (off & 7), &data, len);
		break;
	case OP_ECAM_WRITE:
		(void)bus_write(&v->fm.mmio,
				LAYOUT_PCI_ECAM_START + ((uint64_t)devfn << 12) +
					(off & 0xfff),
				&data, len);
		break;
	case OP_ECAM_READ:
		(void)bus_read(&v->fm.mmio,
			       LAYOUT_PCI_ECAM_START + ((uint64_t)devfn << 12) +
				       (off & 0xfff),
			       &data, len);
		break;
	case OP_MACHINE_RESET:
		pci_host_reset(v->fm.pci);
		break;
	case OP_DEVICE_IRQ:
		if (off % (NQ + 1) == NQ)
			virtio_config_changed(v->vdev);
		else
			v->vdev->transport_ops->notify_queue(
				v->vdev, v->vdev->queues[off % (NQ + 1)]);
		break;
	case OP_QUIESCE:
		if (virtio_pci_device_quiesce(v->vdev, 0) == 0)
			virtio_pci_device_resume(v->vdev);
		break;
	}
}

/*
 * The one guest-reachable state the PCI loader refuses on purpose
 * (docs/devices.md): a memory BAR left decoding over RAM.
 */
static bool bar_over_ram_decoding(struct fuzz_vpci *v)
{
	uint64_t bar1, bar4;

	if (!(pci_config_get(v->pci, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY))
		return false;
	bar1 = pci_config_get(v->pci, PCI_BASE_ADDRESS_0 + 4 * VPCI_MSIX_BAR, 4) &
	       ~0xfULL;
	bar4 = (pci_config_get(v->pci, PCI_BASE_ADDRESS_0 + 4 * VPCI_BAR, 4) &
		~0xfULL) |
	       (uint64_t)pci_config_get(v->pci,
					PCI_BASE_ADDRESS_0 + 4 * VPCI_BAR + 4, 4)
		       << 32;
	return bar1 < RAM_SIZE || bar4 < RAM_SIZE;
}

/*
 * Save what the guest left (virtio_pci_device_save: the function's section
 * and the transport's with the virtio core's fields, with the device held
 * as a pause leaves it) and load it into an identical machine, held as a
 * restore holds it, then resume that one.
 */
static void vpci_migrate(struct fuzz_vpci *src)
{
	static struct fuzz_vpci dst;
	struct state_writer w;
	struct state_reader r;
	GError *err = NULL;
	uint8_t *buf;
	size_t len;
	bool ok, refusable = bar_over_ram_decoding(src);

	FUZZ_CHECK(virtio_pci_device_quiesce(src->vdev, 0) == 0);
	state_writer_init(&w);
	virtio_pci_device_save(src->vdev, "virtio.0", &w);
	buf = state_writer_finish(&w, &len);
	virtio_pci_device_resume(src->vdev);

	if (!vpci_setup(&dst))
		abort();
	FUZZ_CHECK(virtio_pci_device_quiesce(dst.vdev, 0) == 0);
	ok = state_reader_init(&r, buf, len, &err) &&
	     virtio_pci_device_load(dst.vdev, "virtio.0", &r, &err) &&
	     state_reader_finish(&r, &err);
	if (!ok && !refusable)
		fprintf(stderr, "fuzz: a state the guest reached does not load: %s\n",
			err ? err->message : "?");
	FUZZ_CHECK(ok || refusable);
	virtio_pci_device_resume(dst.vdev);
	state_reader_clear(&r);
	g_clear_error(&err);
	g_free(buf);
	vpci_teardown(&dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_vpci v;
	size_t nops = MIN(size / 8, (size_t)MAX_OPS);

	if (!vpci_setup(&v))
		abort();
	for (size_t i = 0; i < nops; i++)
		run_op(&v, data + 8 * i);
	vpci_migrate(&v);
	vpci_teardown(&v);
	return 0;
}
