// SPDX-License-Identifier: MIT
/*
 * virtio-scsi's control queue (scsi-io.c): task management functions and
 * asynchronous notification requests as a driver puts them on a split
 * ring the input writes into guest RAM, popped and answered by the
 * device's own code (scsi_ctrl_process(), the I/O thread's work, called
 * here with that thread never started) while the request queue has
 * commands in flight on its LUNs. Then the commands are answered, as
 * their engine requests would come back (scsi_ctrl_done()), and the queue
 * is looked at again.
 *
 *   - a TMF that waits waits for exactly the commands it marked, and
 *     every marked command is marked ABORTED or RESET;
 *   - once the commands are answered no TMF is left waiting: every chain
 *     the device popped was given back;
 *   - a malformed request puts the device in NEEDS_RESET, nothing else.
 *
 * The device is virtio_scsi_new()'s, on two LUNs (0, and 3 read-only) of
 * small temporary files, made once; each input gets fresh RAM and the
 * state a device reset leaves (unit attentions, no TMF, no command).
 *
 * Input: u8 flags (1: indirect descriptors, 2: EVENT_IDX), u8 RAM pages
 * - 1 (% 8), u8 commands in flight (% 17), each u8 LUN (bit 0: which of
 * the two) and u16 tag; then RAM from address 0, where the control queue
 * of CTRL_QSIZE lies back to back (descriptors, driver area at
 * 16 * CTRL_QSIZE, device area after it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern/virtio-scsi.h"
#include "fuzz.h"
#include "../../src/devices/virtio/scsi-internal.h"

#define CTRL_QSIZE 8
#define NR_LUNS 2
#define MAX_INFLIGHT 16

static struct {
	struct guest_memory mem;
	struct disk_config cfg[NR_LUNS];
	struct virtio_scsi *s;
	struct virtio_device vdev;
	struct fuzz_irqs irqs;
} f;

static const struct virtio_device_ops ctrl_ops = { .name = "fuzz-scsi-ctrl" };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	GError *err = NULL;

	for (unsigned int i = 0; i < NR_LUNS; i++) {
		g_autofree char *path = NULL, *spec = NULL;
		int fd = g_file_open_tmp("tern-fuzz-scsi-XXXXXX.img", &path,
					 &err);

		if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
			abort();
		close(fd);
		spec = g_strdup_printf(i ? "path=%s,bus=scsi,lun=3,readonly=on,engine=threads"
					 : "path=%s,bus=scsi,engine=threads",
				       path);
		if (!disk_config_parse(spec, &f.cfg[i], &err))
			goto fail;
	}
	if (!disk_configs_finish(f.cfg, NR_LUNS, &err))
		goto fail;
	f.s = virtio_scsi_new(NULL, f.cfg, NR_LUNS, NULL, &err);
	if (!f.s)
		goto fail;
	/* The disks stay open; nothing else needs the names. */
	for (unsigned int i = 0; i < NR_LUNS; i++)
		unlink(f.cfg[i].path);
	/* The model's queues on a device of our own: no activation, no thread. */
	if (virtio_device_init(&f.vdev, &f.mem, &ctrl_ops, f.s, VIRTIO_ID_SCSI,
			       0, VIRTIO_SCSI_NR_QUEUES, CTRL_QSIZE, NULL, 0))
		abort();
	fuzz_transport_attach(&f.vdev, &f.irqs);
	f.s->vdev = &f.vdev;
	f.s->ctrlq = f.vdev.queues[VIRTIO_SCSI_CTRLQ];
	return 0;
fail:
	fprintf(stderr, "fuzz: virtio-scsi: %s\n", err ? err->message : "?");
	abort();
}

static struct scsi_slot *slot(unsigned int i)
{
	return (struct scsi_slot *)blkvq_slot_at(&f.s->reqq, i);
}

/* What a device reset leaves, and the control queue started again. */
static bool device_reset(uint8_t flags)
{
	struct virtqueue *vq = f.s->ctrlq;
	const char *why = NULL;

	virtq_stop(vq);
	scsi_ctrl_drop(f.s);
	for (unsigned int i = 0; i < MAX_INFLIGHT; i++) {
		struct scsi_slot *c = slot(i);

		c->base.busy = false;
		c->lun = NULL;
		c->r.tag = 0;
		c->aborted = 0;
		c->tmf_waiting = 0;
	}
	for (unsigned int i = 0; i < f.s->nr_luns; i++)
		f.s->luns[i].ua = SCSI_SENSE_POWER_ON;
	f.vdev.features = 1ULL << VIRTIO_F_VERSION_1;
	if (flags & 1)
		f.vdev.features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	if (flags & 2)
		f.vdev.features |= 1ULL << VIRTIO_F_EVENT_IDX;
	f.vdev.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	*virtq_layout(vq) = (struct virtq_layout){
		.size = CTRL_QSIZE, .enabled = true, .desc = 0,
		.driver = 16 * CTRL_QSIZE,
		.device = ALIGN_UP(16 * CTRL_QSIZE + 6 + 2 * CTRL_QSIZE, 4),
	};
	f.s->ctrl_watched = true;
	f.irqs = (struct fuzz_irqs){ 0 };
	return virtq_start(vq, &why) == 0;
}

/* Each waiting TMF waits for the commands that carry its bit, no others. */
static void tmf_check(void)
{
	for (unsigned int t = 0; t < SCSI_TMF_MAX; t++) {
		unsigned int marked = 0;

		for (unsigned int i = 0; i < MAX_INFLIGHT; i++)
			if (slot(i)->tmf_waiting & (1U << t))
				marked++;
		if (f.s->tmf[t].busy)
			FUZZ_CHECK(f.s->tmf[t].waiting == marked && marked);
		else
			FUZZ_CHECK(!marked);
	}
	for (unsigned int i = 0; i < MAX_INFLIGHT; i++) {
		struct scsi_slot *c = slot(i);

		FUZZ_CHECK(!c->tmf_waiting || c->base.busy);
		FUZZ_CHECK(!c->tmf_waiting ||
			   c->aborted == VIRTIO_SCSI_S_ABORTED ||
			   c->aborted == VIRTIO_SCSI_S_RESET);
	}
}

/* The commands come back from their engines, in slot order. */
static void commands_answer(void)
{
	for (unsigned int i = 0; i < MAX_INFLIGHT; i++) {
		struct scsi_slot *c = slot(i);
		uint32_t waiting = c->tmf_waiting;

		if (!c->base.busy)
			continue;
		c->base.busy = false;
		c->tmf_waiting = 0;
		if (waiting)
			scsi_ctrl_done(f.s, waiting);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	uint64_t ram = (1 + fuzz_u8(&in) % 8ULL) * GUEST_PAGE_SIZE;
	unsigned int n = fuzz_u8(&in) % (MAX_INFLIGHT + 1);

	if (fuzz_memory_init(&f.mem, ram))
		abort();
	if (!device_reset(flags))
		goto out;
	for (unsigned int i = 0; i < n; i++) {
		struct scsi_slot *c = slot(i);

		c->base.busy = true;
		c->lun = &f.s->luns[fuzz_u8(&in) % f.s->nr_luns];
		c->r.tag = fuzz_u16(&in);
	}
	memcpy(f.mem.regions[0].hva, in.p, MIN(in.len, (size_t)ram));

	scsi_ctrl_process(f.s);
	tmf_check();
	if (virtq_broken(f.s->ctrlq) || !f.s->ctrl_watched)
		FUZZ_CHECK(f.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	commands_answer();
	for (unsigned int t = 0; t < SCSI_TMF_MAX; t++)
		FUZZ_CHECK(!f.s->tmf[t].busy);
	/* What waited behind full TMF slots, with nothing in flight now. */
	scsi_ctrl_process(f.s);
	tmf_check();
	for (unsigned int t = 0; t < SCSI_TMF_MAX; t++)
		FUZZ_CHECK(!f.s->tmf[t].busy);
out:
	virtq_stop(f.s->ctrlq);
	fuzz_memory_destroy(&f.mem);
	return 0;
}
