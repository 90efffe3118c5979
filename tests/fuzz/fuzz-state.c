// SPDX-License-Identifier: MIT
/*
 * The machine-state loaders on a stream from the input: state_reader_init()
 * checks the container, then each section goes to the loader its name
 * picks, as a restore would hand it:
 *
 *   cpu.N          vcpu_state_load (N even: a host with 4 KiB of XSAVE,
 *                  XCRs, SREGS2 and every MSR; N odd: the legacy FPU
 *                  ioctls and half the MSRs)
 *   irqchip        platform_state_load (irqchip, pit, clock)
 *   pci-host       pci_host_load (the latch, then the bridge's section)
 *   pci.00:SS.0    virtio_pci_device_load for the virtio-pci device in slot
 *                  SS, held for the VM as a restore holds it: the PCI
 *                  function's section, then "virtio.0" (the transport's
 *                  registers, the virtio core, virtq_load for each queue)
 *   serial.0       the 8250's loader, through its device_type row
 *   i8042.0        the i8042's loader, through its device_type row
 *
 * A loader that succeeds is then exercised: vCPU and platform captures are
 * saved and loaded again and must save the same bytes, the UART, the i8042
 * and the virtio-pci device must save back the very sections they loaded,
 * and devices are released and driven through their ports, BARs and
 * queues.
 *
 * The input is the stream; its byte count and checksum are filled in, so
 * that the fuzzer spends its time in the sections (the container checks
 * themselves are a handful of comparisons, unit tested in test-state).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tern/device.h"
#include "tern/devices.h"
#include "tern/le.h"
#include "tern/pci.h"
#include "tern/platform_state.h"
#include "tern/state.h"
#include "tern/vcpu_state.h"
#include "tern/virtio.h"
#include "fuzz.h"

#define RAM_SIZE (64 * KiB)
#define NQ 2
#define MAX_SECTIONS 32
#define VIRTIO_ID "virtio.0"

static struct {
	struct vcpu_state_caps caps[2]; /* XSAVE host, legacy host */
	struct vcpu_state *vcpu[2];
	/* Built when a section needs them, torn down after each input. */
	bool have_machine;
	struct fuzz_machine fm;
	void *serial, *i8042;
	struct virtio_device *vdev;
	uint8_t config[8];
} f;

static int model_activate(struct virtio_device *vdev)
{
	return 0;
}

/* The core calls it for every device it activated. */
static void model_reset(struct virtio_device *vdev)
{
}

static const struct virtio_device_ops model_ops = {
	.name = "fuzz-state",
	.activate = model_activate,
	.reset = model_reset,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_state_caps_init(f.caps);
	f.vcpu[0] = g_new0(struct vcpu_state, 1);
	f.vcpu[1] = g_new0(struct vcpu_state, 1);
	return 0;
}

static bool machine_get(void)
{
	GError *err = NULL;

	if (f.have_machine)
		return true;
	if (fuzz_machine_init(&f.fm, RAM_SIZE))
		abort();
	f.serial = serial_device_type.create(&f.fm.m, 0, &err);
	f.i8042 = f.serial ? i8042_device_type.create(&f.fm.m, 0, &err) : NULL;
	f.vdev = f.i8042 ? virtio_pci_create(&f.fm.m, &model_ops, NULL,
					     VIRTIO_ID_RNG, 1ULL << 3, NQ,
					     f.config, sizeof(f.config), &err) :
			   NULL;
	if (!f.vdev) {
		fprintf(stderr, "fuzz: machine: %s\n", err->message);
		abort();
	}
	f.have_machine = true;
	return true;
}

static void machine_put(void)
{
	if (!f.have_machine)
		return;
	virtio_pci_destroy(f.vdev);
	i8042_device_type.destroy(f.i8042);
	serial_device_type.destroy(f.serial);
	fuzz_machine_destroy(&f.fm);
	f.have_machine = false;
}

/* One section through its saver into a stream of its own. */
static uint8_t *vcpu_stream(const struct vcpu_state *s, unsigned int id,
			    size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	vcpu_state_save(s, id, &w);
	return state_writer_finish(&w, len);
}

static uint8_t *platform_stream(const struct platform_state *s, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	platform_state_save(s, &w);
	return state_writer_finish(&w, len);
}

/* What a loader accepted saves, loads and saves again to the same bytes. */
static void vcpu_roundtrip(unsigned int id)
{
	const struct vcpu_state_caps *caps = &f.caps[id % 2];
	struct vcpu_state *again = f.vcpu[1];
	g_autofree uint8_t *a = NULL, *b = NULL;
	struct state_reader r;
	GError *err = NULL;
	size_t alen, blen;

	a = vcpu_stream(f.vcpu[0], id, &alen);
	FUZZ_CHECK(state_reader_init(&r, a, alen, &err));
	if (!vcpu_state_load(&r, id, caps, again, &err)) {
		fprintf(stderr, "fuzz: a saved vCPU state does not load: %s\n",
			err->message);
		FUZZ_CHECK(!"vCPU round trip");
	}
	state_reader_clear(&r);
	b = vcpu_stream(again, id, &blen);
	FUZZ_CHECK(alen == blen && !memcmp(a, b, alen));
}

static void platform_roundtrip(const struct platform_state *s)
{
	g_autofree uint8_t *a = NULL, *b = NULL;
	struct platform_state again;
	struct state_reader r;
	GError *err = NULL;
	size_t alen, blen;

	a = platform_stream(s, &alen);
	FUZZ_CHECK(state_reader_init(&r, a, alen, &err));
	if (!platform_state_load(&r, &again, &err)) {
		fprintf(stderr, "fuzz: a saved platform state does not load: %s\n",
			err->message);
		FUZZ_CHECK(!"platform round trip");
	}
	state_reader_clear(&r);
	b = platform_stream(&again, &blen);
	FUZZ_CHECK(alen == blen && !memcmp(a, b, alen));
}

/*
 * A device that loaded the sections from pos to end of buf saves them back
 * unchanged: a loader that kept one field and dropped or altered another
 * would pass every check and restore a different machine. w holds what
 * the device saved.
 */
static void section_saved_same(const uint8_t *buf, size_t pos, size_t end,
			       struct state_writer *w)
{
	size_t slen;
	g_autofree uint8_t *saved = state_writer_finish(w, &slen);

	if (slen != STATE_HEADER_SIZE + (end - pos) + STATE_TRAILER_SIZE ||
	    memcmp(saved + STATE_HEADER_SIZE, buf + pos, end - pos)) {
		fprintf(stderr, "fuzz: section '%.*s' saves differently than it loaded\n",
			(int)buf[pos], (const char *)buf + pos + 1);
		FUZZ_CHECK(!"a loaded section saves back the same");
	}
}

/*
 * A PCI function's section (state at its start) as the function saves it
 * back: a pending bit of an MSI-X vector that the loaded state makes live
 * (MSI-X on, function and vector unmasked, bus master on) is delivered on
 * load, as KVM would deliver it at once, so it is clear when saved again.
 * tern never saves such a bit, except when KVM refused the vector's
 * irqfd; another host's KVM may take it, and the message then goes out.
 */
static void pci_section_delivered(uint8_t *sec, size_t len)
{
	size_t at = 1 + (size_t)sec[0] + 8; /* name, version, length */
	const uint8_t *cfg = sec + at;
	bool master, on = false;
	uint16_t nvec;
	uint8_t *table, *pba;

	if (len < at + PCI_CFG_SIZE + 8 * 6 + 2)
		return;
	master = le16_get(cfg + PCI_COMMAND) & PCI_COMMAND_MASTER;
	for (unsigned int cap = cfg[PCI_CAPABILITY_LIST] & ~3u, n = 0;
	     cap >= 0x40 && cap + 4 <= PCI_CFG_SIZE && n < 48;
	     cap = cfg[cap + 1] & ~3u, n++) {
		if (cfg[cap] == PCI_CAP_ID_MSIX) {
			uint16_t ctrl = le16_get(cfg + cap + PCI_MSIX_FLAGS);

			on = (ctrl & PCI_MSIX_FLAGS_ENABLE) &&
			     !(ctrl & PCI_MSIX_FLAGS_MASKALL);
			break;
		}
	}
	at += PCI_CFG_SIZE + 8 * 6;
	nvec = le16_get(sec + at);
	table = sec + at + 2;
	pba = table + 16 * (size_t)nvec;
	if (len < at + 2 + 16 * (size_t)nvec + (nvec + 7) / 8)
		return;
	for (unsigned int v = 0; v < nvec; v++)
		if (on && master && !(le32_get(table + 16 * v + 12) & 1))
			pba[v / 8] &= (uint8_t)~(1u << (v % 8));
}

/* A loaded device is driven as a guest would right after the restore. */
static void exercise_ports(uint16_t base, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint8_t v = 0;

		(void)bus_read(&f.fm.pio, base + i, &v, 1);
	}
}

static void exercise_pci(void)
{
	struct pci_device *pci = virtio_pci_function(f.vdev);
	uint64_t bar4 = pci_bar_address(pci, 4);

	for (unsigned int off = 0; off < PCI_CFG_SIZE; off += 4) {
		uint32_t v = 0;

		pci_host_config_read(f.fm.pci, 0, pci_device_slot(pci) << 3, off,
				     &v, 4);
	}
	for (unsigned int off = 0; bar4 && off < 0x40; off += 4) {
		uint32_t v = 0;

		(void)bus_read(&f.fm.mmio, bar4 + off, &v, 4);
	}
}

static void exercise_virtio(void)
{
	struct virtq_elem *e = g_new(struct virtq_elem, 1);

	for (unsigned int q = 0; q < NQ; q++) {
		struct virtqueue *vq = f.vdev->queues[q];

		if (virtq_pop(vq, e) == 1)
			virtq_push(vq, e, 0);
		virtq_notify(vq);
		(void)virtq_enable_kicks(vq);
	}
	g_free(e);
}

/* Load the next section; false when the stream stops here. */
static bool load_section(struct state_reader *r, const char *name)
{
	GError *err = NULL;
	unsigned int id, slot;
	size_t pos = r->pos;
	struct state_writer w;
	char tail;
	bool ok = false;

	if (sscanf(name, "cpu.%u%c", &id, &tail) == 1) {
		ok = vcpu_state_load(r, id, &f.caps[id % 2], f.vcpu[0], &err);
		if (ok)
			vcpu_roundtrip(id);
	} else if (!strcmp(name, "irqchip")) {
		struct platform_state p;

		ok = platform_state_load(r, &p, &err);
		if (ok)
			platform_roundtrip(&p);
	} else if (!strcmp(name, "pci-host") && machine_get()) {
		ok = pci_host_load(f.fm.pci, r, &err);
	} else if (sscanf(name, "pci.00:%x.0%c", &slot, &tail) == 1 &&
		   machine_get() &&
		   slot == pci_device_slot(virtio_pci_function(f.vdev))) {
		FUZZ_CHECK(virtio_pci_device_quiesce(f.vdev, 0) == 0);
		ok = virtio_pci_device_load(f.vdev, VIRTIO_ID, r, &err);
		if (ok) {
			g_autofree uint8_t *want =
				g_memdup2(r->buf + pos, r->pos - pos);

			pci_section_delivered(want, r->pos - pos);
			state_writer_init(&w);
			virtio_pci_device_save(f.vdev, VIRTIO_ID, &w);
			section_saved_same(want, 0, r->pos - pos, &w);
		}
		/* What a resumed VM does: a device that ran starts here. */
		virtio_pci_device_resume(f.vdev);
		if (ok) {
			exercise_pci();
			exercise_virtio();
		}
	} else if (!strcmp(name, "serial.0") && machine_get()) {
		ok = serial_device_type.load(f.serial, name, r, &err);
		if (ok) {
			state_writer_init(&w);
			serial_device_type.save(f.serial, name, &w);
			section_saved_same(r->buf, pos, r->pos, &w);
			exercise_ports(0x3f8, 8);
		}
	} else if (!strcmp(name, "i8042.0") && machine_get()) {
		ok = i8042_device_type.load(f.i8042, name, r, &err);
		if (ok) {
			state_writer_init(&w);
			i8042_device_type.save(f.i8042, name, &w);
			section_saved_same(r->buf, pos, r->pos, &w);
			exercise_ports(0x60, 1);
			exercise_ports(0x64, 1);
		}
	}
	if (!ok && err)
		FUZZ_CHECK(err->message && *err->message);
	g_clear_error(&err);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	struct state_reader r;
	GError *err = NULL;

	if (size < STATE_HEADER_SIZE + STATE_TRAILER_SIZE)
		return 0;
	/*
	 * The container's length and checksum, as a writer would put them.
	 * zlib's CRC-32 is the same function (test-state's known answer) and
	 * many times faster than the instrumented state_crc32(), which the
	 * reader runs anyway: computing it twice that way took a third of
	 * the target's time.
	 */
	buf = g_memdup2(data, size);
	le64_put(buf + 16, size - STATE_HEADER_SIZE - STATE_TRAILER_SIZE);
	le32_put(buf + size - 4, (uint32_t)crc32(0, buf, (uInt)(size - 4)));
	if (state_reader_init(&r, buf, size, &err)) {
		for (unsigned int n = 0; n < MAX_SECTIONS; n++) {
			const char *next = state_next_section(&r);
			char name[STATE_NAME_MAX + 1];

			if (!next) {
				(void)state_reader_finish(&r, &err);
				break;
			}
			g_strlcpy(name, next, sizeof(name));
			if (!load_section(&r, name))
				break;
		}
		state_reader_clear(&r);
	}
	g_clear_error(&err);
	machine_put();
	g_free(buf);
	return 0;
}
