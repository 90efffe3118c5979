// SPDX-License-Identifier: MIT
/*
 * virtio-scsi: the device model. One controller for every `--disk
 * ...,bus=scsi`, each disk a LUN of target 0 with its own engine queue
 * behind the one request queue; the configuration it offers, creating and
 * freeing it, and its life cycle: activate, reset, quiesce and resume
 * start and stop the I/O thread that serves the control and request
 * queues (scsi-io.c). The pending unit attentions and the driver's
 * cdb_size and sense_size go with the machine state.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/machine.h"
#include "tern/state.h"

#include "scsi-internal.h"

/*
 * Request limits, as virtio-blk's (blk.c says why): a chain carries the
 * request and response headers and 254 data buffers, and a command moves
 * at most 4064 KiB, half the bounce memory an engine queue may hold.
 * max_sectors tells Linux; VPD 0xb0's MAXIMUM TRANSFER LENGTH tells any
 * SCSI initiator, and longer transfers are refused.
 */
#define SCSI_SEG_MAX (VIRTQ_MAX_CHAIN - 2)
#define SCSI_REQ_MAX (4064 * KiB)
_Static_assert(2 * SCSI_REQ_MAX <= BLK_BOUNCE_MAX,
	       "a command of any legal size must fit the bounce cap");
/* UNMAP and WRITE SAME: 1 GiB per command, as virtio-blk's discard. */
#define SCSI_MAX_UNMAP_BYTES (1 * GiB)
/* Commands a LUN should have in flight: half the slots. */
#define SCSI_CMD_PER_LUN (VIRTQ_MAX_SIZE / 2)
#define SCSI_EVENT_INFO_SIZE 16

static void scsi_config_defaults(struct virtio_scsi *s)
{
	struct virtio_scsi_config *c = &s->config;

	*c = (struct virtio_scsi_config){
	    .num_queues = htole32(1),
	    .seg_max = htole32(SCSI_SEG_MAX),
	    .max_sectors = htole32(SCSI_REQ_MAX / BLK_SECTOR_SIZE),
	    .cmd_per_lun = htole32(SCSI_CMD_PER_LUN),
	    .event_info_size = htole32(SCSI_EVENT_INFO_SIZE),
	    .sense_size = htole32(VIRTIO_SCSI_SENSE_DEFAULT),
	    .cdb_size = htole32(VIRTIO_SCSI_CDB_DEFAULT),
	    .max_channel = 0,
	    .max_target = 0,
	    .max_lun = htole32(DISK_SCSI_LUN_MAX),
	};
	__atomic_store_n(&s->cdb_size, VIRTIO_SCSI_CDB_DEFAULT,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&s->sense_size, VIRTIO_SCSI_SENSE_DEFAULT,
			 __ATOMIC_RELAXED);
}

/*
 * A device reset is a power cycle of the target: every LUN reports POWER
 * ON, RESET, OR BUS DEVICE RESET OCCURRED once, as QEMU's do, and the
 * driver's sizes go back to the defaults.
 */
static void scsi_power_on(struct virtio_scsi *s)
{
	for (unsigned int i = 0; i < s->nr_luns; i++)
		s->luns[i].ua = SCSI_SENSE_POWER_ON;
	if (s->vdev)
		pthread_mutex_lock(&s->vdev->lock);
	scsi_config_defaults(s);
	if (s->vdev)
		pthread_mutex_unlock(&s->vdev->lock);
}

/* Called after a successful activate only (the core's rule). */
static void scsi_reset(struct virtio_device *vdev)
{
	struct virtio_scsi *s = vdev->priv;

	iothread_stop(s->thread);
	scsi_ctrl_stop(s);
	blkvq_stop(&s->reqq, blkvq_reset_deadline());
	scsi_ctrl_drop(s);
	scsi_power_on(s);
}

static int scsi_activate(struct virtio_device *vdev)
{
	struct virtio_scsi *s = vdev->priv;
	int ret = 0;

	s->vdev = vdev;
	s->ctrlq = vdev->queues[VIRTIO_SCSI_CTRLQ];
	s->reqq.vq = vdev->queues[VIRTIO_SCSI_REQUESTQ];
	/* The event queue's buffers wait for events we do not send (yet). */
	if (virtq_started(s->ctrlq))
		ret = scsi_ctrl_start(s);
	if (!ret && virtq_started(s->reqq.vq))
		ret = blkvq_start(&s->reqq);
	if (ret) {
		scsi_reset(vdev);
		return ret;
	}
	iothread_start(s->thread);
	return 0;
}

/*
 * Stop the thread, so that neither queue pops any more, then finish the
 * commands in the engines on this thread: their answers, and those of
 * the TMFs waiting for them, are pushed and notified before we return.
 */
static int scsi_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct virtio_scsi *s = vdev->priv;

	iothread_stop(s->thread);
	if (s->reqq.running)
		return blkvq_settle(&s->reqq, deadline_ns);
	return 0;
}

static void scsi_resume(struct virtio_device *vdev)
{
	struct virtio_scsi *s = vdev->priv;

	if (s->reqq.running)
		blkvq_resume(&s->reqq);
	else
		iothread_start(s->thread);
	scsi_ctrl_kick(s);
}

/*
 * sense_size and cdb_size are the driver's to set (5.6.4); any other
 * field is read-only. Values beyond what the response and request
 * headers can describe are a broken driver: NEEDS_RESET, as QEMU.
 */
static void scsi_config_write(struct virtio_device *vdev, uint64_t off,
			      const void *data, unsigned int len)
{
	struct virtio_scsi *s = vdev->priv;
	struct virtio_scsi_config c;
	uint32_t sense, cdb;

	pthread_mutex_lock(&vdev->lock);
	c = s->config;
	memcpy((uint8_t *)&c + off, data, len);
	sense = le32toh(c.sense_size);
	cdb = le32toh(c.cdb_size);
	if (sense <= VIRTIO_SCSI_SENSE_SIZE_MAX &&
	    cdb <= VIRTIO_SCSI_CDB_SIZE_MAX) {
		s->config.sense_size = c.sense_size;
		s->config.cdb_size = c.cdb_size;
		__atomic_store_n(&s->sense_size, sense, __ATOMIC_RELAXED);
		__atomic_store_n(&s->cdb_size, cdb, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&vdev->lock);
	if (sense > VIRTIO_SCSI_SENSE_SIZE_MAX ||
	    cdb > VIRTIO_SCSI_CDB_SIZE_MAX)
		virtio_device_needs_reset(
		    vdev,
		    "sense_size %u or cdb_size %u written, at most %u and %u",
		    sense, cdb, VIRTIO_SCSI_SENSE_SIZE_MAX,
		    VIRTIO_SCSI_CDB_SIZE_MAX);
}

static void scsi_destroy(struct virtio_device *vdev)
{
	virtio_scsi_free(vdev->priv);
}

#define SCSI_STATE_VERSION 1

static void scsi_save(struct virtio_device *vdev, const char *id,
		      struct state_writer *w)
{
	struct virtio_scsi *s = vdev->priv;

	state_section_begin(w, SCSI_STATE_VERSION, "%s/model", id);
	pthread_mutex_lock(&vdev->lock);
	state_put_u32(w, le32toh(s->config.cdb_size));
	state_put_u32(w, le32toh(s->config.sense_size));
	pthread_mutex_unlock(&vdev->lock);
	state_put_u32(w, s->nr_luns);
	for (unsigned int i = 0; i < s->nr_luns; i++) {
		state_put_u16(w, s->luns[i].info.lun);
		state_put_u8(w, s->luns[i].ua.key);
		state_put_u8(w, s->luns[i].ua.asc);
		state_put_u8(w, s->luns[i].ua.ascq);
	}
	state_section_end(w);
}

/* Every value checked before any is applied. */
static bool scsi_load(struct virtio_device *vdev, const char *id,
		      struct state_reader *r, GError **err)
{
	struct virtio_scsi *s = vdev->priv;
	struct scsi_sense ua[BLKVQ_MAX_ENGINES];
	uint32_t cdb = 0, sense = 0, n = 0;

	if (state_section_open(r, SCSI_STATE_VERSION, SCSI_STATE_VERSION, NULL,
			       "%s/model", id)) {
		state_get_u32(r, &cdb);
		state_get_u32(r, &sense);
		state_check(r, cdb <= VIRTIO_SCSI_CDB_SIZE_MAX,
			    "cdb_size %u, at most %u", cdb,
			    VIRTIO_SCSI_CDB_SIZE_MAX);
		state_check(r, sense <= VIRTIO_SCSI_SENSE_SIZE_MAX,
			    "sense_size %u, at most %u", sense,
			    VIRTIO_SCSI_SENSE_SIZE_MAX);
		if (state_get_u32(r, &n))
			state_check(r, n == s->nr_luns,
				    "the state has %u LUNs, this controller %u",
				    n, s->nr_luns);
		for (unsigned int i = 0; state_ok(r) && i < n; i++) {
			uint16_t lun = 0;

			state_get_u16(r, &lun);
			state_get_u8(r, &ua[i].key);
			state_get_u8(r, &ua[i].asc);
			state_get_u8(r, &ua[i].ascq);
			state_check(r, lun == s->luns[i].info.lun,
				    "LUN %u where this controller has LUN %u",
				    lun, s->luns[i].info.lun);
			state_check(
			    r,
			    ua[i].key == SCSI_KEY_UNIT_ATTENTION ||
				(!ua[i].key && !ua[i].asc && !ua[i].ascq),
			    "LUN %u: pending sense %x/%02x/%02x is no unit "
			    "attention",
			    lun, ua[i].key, ua[i].asc, ua[i].ascq);
		}
	}
	if (!state_section_close(r, err))
		return false;
	pthread_mutex_lock(&vdev->lock);
	s->config.cdb_size = htole32(cdb);
	s->config.sense_size = htole32(sense);
	__atomic_store_n(&s->cdb_size, cdb, __ATOMIC_RELAXED);
	__atomic_store_n(&s->sense_size, sense, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned int i = 0; i < n; i++)
		s->luns[i].ua = ua[i];
	return true;
}

const struct virtio_device_ops virtio_scsi_ops = {
    .name = "virtio-scsi",
    .activate = scsi_activate,
    .reset = scsi_reset,
    .quiesce = scsi_quiesce,
    .resume = scsi_resume,
    .config_write = scsi_config_write,
    .destroy = scsi_destroy,
    .save = scsi_save,
    .load = scsi_load,
};

/* FNV-1a: a stable name for the LUN from its --disk. */
static uint64_t lun_wwn(const struct disk_config *cfg)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = cfg->path; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	for (const char *p = cfg->serial ? cfg->serial : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	return h;
}

static void lun_fill_info(struct scsi_lun *l)
{
	struct scsi_lun_info *in = &l->info;
	const struct blk_disk *d = l->disk;

	in->lun = (uint16_t)l->cfg->lun;
	in->block_size = d->block_size;
	in->nblocks = d->size / d->block_size;
	in->readonly = d->readonly;
	in->max_xfer_blocks = SCSI_REQ_MAX / d->block_size;
	in->max_unmap_blocks = SCSI_MAX_UNMAP_BYTES / d->block_size;
	in->max_ws_blocks = SCSI_MAX_UNMAP_BYTES / d->block_size;
	in->max_unmap_descs = SCSI_UNMAP_DESCS_MAX;
	if (l->cfg->serial)
		g_strlcpy(in->serial, l->cfg->serial, sizeof(in->serial));
	in->wwn = lun_wwn(l->cfg);
}

static int lun_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

struct virtio_scsi *virtio_scsi_new(struct thread_registry *threads,
				    const struct disk_config *disks,
				    unsigned int n,
				    const struct blk_engine_ops *engine,
				    GError **err)
{
	struct virtio_scsi *s = g_new0(struct virtio_scsi, 1);
	struct blk_disk *bd[BLKVQ_MAX_ENGINES];
	unsigned int nr = disk_configs_count(disks, n, DISK_BUS_SCSI);

	if (!nr || nr > BLKVQ_MAX_ENGINES) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--disk: a virtio-scsi controller takes 1 to %u "
			    "disks, not %u",
			    BLKVQ_MAX_ENGINES, nr);
		goto err;
	}
	s->luns = g_new0(struct scsi_lun, nr);
	for (unsigned int i = 0; i < nr; i++) {
		struct scsi_lun *l = &s->luns[i];

		l->cfg = disk_configs_nth(disks, n, DISK_BUS_SCSI, i);
		l->disk = blk_disk_open(l->cfg, err);
		if (!l->disk)
			goto err;
		s->nr_luns++;
		if (engine)
			l->disk->ops = engine;
		/* engine=threads workers are registered and confined. */
		l->disk->threads = threads;
		l->engine = i;
		lun_fill_info(l);
		s->by_lun[l->info.lun] = l;
		s->lun_list[i] = l->info.lun;
		bd[i] = l->disk;
	}
	qsort(s->lun_list, nr, sizeof(s->lun_list[0]), lun_cmp);
	s->target = (struct scsi_target_info){s->lun_list, nr};
	s->thread = iothread_create(threads, "io-scsi", virtio_iothread_fault,
				    &s->vdev, err);
	if (!s->thread)
		goto err;
	s->reqq = (struct blkvq){
	    .ops = &scsi_vq_ops,
	    .model = s,
	    .vdev = &s->vdev,
	    .name = "virtio-scsi",
	    .index = VIRTIO_SCSI_REQUESTQ,
	    .poll_ns = (uint64_t)BLK_POLL_US_DEFAULT * 1000,
	    .thread = s->thread,
	};
	if (!blkvq_init(&s->reqq, bd, nr, sizeof(struct scsi_slot), err))
		goto err;
	scsi_power_on(s);
	return s;

err:
	virtio_scsi_free(s);
	return NULL;
}

void virtio_scsi_free(struct virtio_scsi *s)
{
	if (!s)
		return;
	iothread_destroy(s->thread);
	blkvq_fini(&s->reqq);
	for (unsigned int i = 0; i < s->nr_luns; i++)
		blk_disk_close(s->luns[i].disk);
	g_free(s->luns);
	g_free(s);
}

void virtio_scsi_get_info(struct virtio_scsi *s, struct virtio_scsi_info *info)
{
	info->features = 0;
	info->config = (uint8_t *)&s->config;
	info->config_size = sizeof(s->config);
}

uint64_t virtio_scsi_lun_size(const struct virtio_device *vdev, uint16_t lun)
{
	const struct virtio_scsi *s = vdev->priv;
	const struct scsi_lun *l =
	    lun <= DISK_SCSI_LUN_MAX ? s->by_lun[lun] : NULL;

	return l ? l->info.nblocks * l->info.block_size : 0;
}

/* ---- registry ---- */

static unsigned int scsi_count(const struct vm_config *cfg)
{
	return disk_configs_count(cfg->disks, cfg->nr_disks, DISK_BUS_SCSI) ? 1
									    : 0;
}

static void *scsi_device_create(struct machine *m, unsigned int index,
				GError **err)
{
	struct virtio_scsi *s = virtio_scsi_new(m->threads, m->cfg->disks,
						m->cfg->nr_disks, NULL, err);
	struct virtio_scsi_info info;
	struct virtio_device *vdev;

	if (!s)
		return NULL;
	virtio_scsi_get_info(s, &info);
	vdev = virtio_pci_create(m, &virtio_scsi_ops, s, VIRTIO_ID_SCSI,
				 info.features, VIRTIO_SCSI_NR_QUEUES,
				 info.config, info.config_size, err);
	if (!vdev) {
		virtio_scsi_free(s);
		return NULL;
	}
	s->vdev = vdev;
	return vdev;
}

const struct device_type virtio_scsi_device_type = {
    .name = "virtio-scsi",
    .option = "--disk bus=scsi",
    .count = scsi_count,
    .create = scsi_device_create,
    .destroy = virtio_pci_device_destroy,
    .quiesce = virtio_pci_device_quiesce,
    .resume = virtio_pci_device_resume,
    .save = virtio_pci_device_save,
    .load = virtio_pci_device_load,
};
