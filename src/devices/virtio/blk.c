// SPDX-License-Identifier: MIT
/*
 * virtio-blk: the device model. The configuration it offers (and the
 * request limits behind it), creating and freeing it, and its life cycle:
 * activate, reset, quiesce and resume start and stop the per-queue I/O
 * threads of the data path (blk-io.c).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/machine.h"
#include "tern/vhost-user-blk.h"

#include "blk-internal.h"

/*
 * Request limits. Linux's driver takes seg_max as the segment count and
 * size_max as the segment size and sets no other limit ("no real sector
 * limit": max_hw_sectors is UINT_MAX), so the largest request it can build
 * is seg_max * size_max bytes; we refuse anything larger with IOERR. A
 * chain carries at most VIRTQ_MAX_CHAIN buffers, header and status among
 * them, hence 254 segments. 16 KiB segments make 4064 KiB: three times
 * Linux's default max_sectors_kb (1280), so guests never get near it, and
 * half the bounce memory a queue may hold (BLK_BOUNCE_MAX), so misaligned
 * requests of any legal size only ever wait for each other. Without a
 * limit a chain of 254 descriptors could describe a terabyte.
 */
#define BLK_SEG_MAX (VIRTQ_MAX_CHAIN - 2)
#define BLK_SIZE_MAX (16U * KiB)
#define BLK_REQ_MAX ((uint64_t)BLK_SEG_MAX * BLK_SIZE_MAX)
_Static_assert(2 * BLK_REQ_MAX <= BLK_BOUNCE_MAX,
	       "a request of any legal size must fit the bounce cap");
/* Discard and write zeroes: 1 GiB and one segment per request. */
#define BLK_MAX_DISCARD_SECTORS (1U << 21)
/*
 * One deadline for every queue: a reset waits BLK_RESET_WAIT_NS at most in
 * all, not per queue. It may follow a quiesce without a resume: the
 * threads are then stopped already.
 */
static void blk_reset(struct virtio_device *vdev)
{
	struct virtio_blk *blk = vdev->priv;
	uint64_t deadline = blkvq_reset_deadline();

	for (unsigned int i = 0; i < blk->nr_queues; i++)
		blkvq_stop(&blk->queues[i], deadline);
}

static int blk_activate(struct virtio_device *vdev)
{
	struct virtio_blk *blk = vdev->priv;
	int ret;

	blk->vdev = vdev;
	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		struct blkvq *q = &blk->queues[i];

		q->vq = vdev->queues[i];
		/* A driver may use fewer queues than offered. */
		if (!virtq_started(q->vq))
			continue;
		ret = blkvq_start(q);
		if (ret) {
			blk_reset(vdev);
			return ret;
		}
	}
	return 0;
}

/*
 * Stop every thread first, so that all queues stop popping at once, then
 * finish each queue's requests on this thread: their completions are
 * pushed and notified before we return.
 */
static int blk_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct virtio_blk *blk = vdev->priv;
	int ret = 0;

	for (unsigned int i = 0; i < blk->nr_queues; i++)
		if (blk->queues[i].running)
			iothread_stop(blk->queues[i].thread);
	for (unsigned int i = 0; i < blk->nr_queues; i++)
		if (blk->queues[i].running &&
		    blkvq_settle(&blk->queues[i], deadline_ns))
			ret = -ETIMEDOUT;
	return ret;
}

static void blk_resume(struct virtio_device *vdev)
{
	struct virtio_blk *blk = vdev->priv;

	for (unsigned int i = 0; i < blk->nr_queues; i++)
		if (blk->queues[i].running)
			blkvq_resume(&blk->queues[i]);
}

/* Every field is read-only (no CONFIG_WCE): writes are ignored. */
static void blk_config_write(struct virtio_device *vdev, uint64_t off,
			     const void *data, unsigned int len)
{
	tern_debug("virtio-blk: config write of %u bytes at %llu ignored", len,
		   (unsigned long long)off);
}

static void blk_destroy(struct virtio_device *vdev)
{
	virtio_blk_free(vdev->priv);
}

const struct virtio_device_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.activate = blk_activate,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.resume = blk_resume,
	.config_write = blk_config_write,
	.destroy = blk_destroy,
};

/* --disk ...,poll-us=N (spec.c checked the range; 0 turns polling off). */
static uint64_t blk_poll_ns(const struct disk_config *cfg)
{
	return (uint64_t)cfg->poll_us * 1000;
}

static void blk_fill_config(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;
	const struct blk_disk *d = blk->disk;
	uint64_t f = (1ULL << VIRTIO_BLK_F_SIZE_MAX) |
		     (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_MQ);

	blk->limits.capacity = d->size / BLK_SECTOR_SIZE;
	blk->limits.readonly = d->readonly;
	blk->limits.max_rw_bytes = BLK_REQ_MAX;
	if (d->readonly) {
		f |= 1ULL << VIRTIO_BLK_F_RO;
	} else {
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) |
		     (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
		blk->limits.discard = blk->limits.write_zeroes = true;
		blk->limits.max_discard_sectors = BLK_MAX_DISCARD_SECTORS;
		blk->limits.max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS;
	}
	blk->features = f;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(blk->limits.capacity);
	c->size_max = htole32(BLK_SIZE_MAX);
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(d->block_size);
	c->num_queues = htole16(blk->nr_queues);
	if (!d->readonly) {
		c->max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
		c->max_discard_seg = htole32(1);
		c->discard_sector_alignment =
			htole32(d->block_size / BLK_SECTOR_SIZE);
		c->max_write_zeroes_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
		c->max_write_zeroes_seg = htole32(1);
		c->write_zeroes_may_unmap = 1;
	}
}

struct virtio_blk *virtio_blk_new_engine(struct thread_registry *threads,
					 unsigned int index,
					 const struct disk_config *cfg,
					 const struct blk_engine_ops *engine,
					 GError **err)
{
	struct virtio_blk *blk = g_new0(struct virtio_blk, 1);

	blk->cfg = cfg;
	blk->nr_queues = cfg->queues ? cfg->queues : 1;
	blk->disk = blk_disk_open(cfg, err);
	if (!blk->disk)
		goto err;
	if (engine)
		blk->disk->ops = engine;
	blk->disk->threads = threads;
	blk->queues = g_new0(struct blkvq, blk->nr_queues);
	blk->threads = g_new0(struct iothread *, blk->nr_queues);
	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		struct blkvq *q = &blk->queues[i];
		char name[32]; /* the registry keeps the first ten bytes */

		if (i)
			snprintf(name, sizeof(name), "io-blk%uq%u", index, i);
		else
			snprintf(name, sizeof(name), "io-blk%u", index);
		blk->threads[i] = iothread_create(threads, name,
						  virtio_iothread_fault,
						  &blk->vdev, err);
		if (!blk->threads[i])
			goto err;
		*q = (struct blkvq){
			.ops = &blk_vq_ops,
			.model = blk,
			.vdev = &blk->vdev,
			.name = "virtio-blk",
			.index = i,
			.poll_ns = blk_poll_ns(cfg),
			.thread = blk->threads[i],
		};
		if (!blkvq_init(q, &blk->disk, 1, sizeof(struct blk_slot), err))
			goto err;
	}
	blk_fill_config(blk);
	return blk;

err:
	virtio_blk_free(blk);
	return NULL;
}

struct virtio_blk *virtio_blk_new(struct thread_registry *threads,
				  unsigned int index,
				  const struct disk_config *cfg, GError **err)
{
	return virtio_blk_new_engine(threads, index, cfg, NULL, err);
}

void virtio_blk_free(struct virtio_blk *blk)
{
	if (!blk)
		return;
	/* The threads first: none may run while the engines go. */
	for (unsigned int i = 0; blk->threads && i < blk->nr_queues; i++)
		iothread_destroy(blk->threads[i]);
	for (unsigned int i = 0; blk->queues && i < blk->nr_queues; i++)
		blkvq_fini(&blk->queues[i]);
	g_free(blk->threads);
	g_free(blk->queues);
	blk_disk_close(blk->disk);
	g_free(blk);
}

void virtio_blk_get_info(struct virtio_blk *blk, struct virtio_blk_info *info)
{
	info->features = blk->features;
	info->nr_queues = blk->nr_queues;
	info->config = (uint8_t *)&blk->config;
	info->config_size = sizeof(blk->config);
}

struct virtio_device *virtio_blk_create(struct machine *m, unsigned int index,
					const struct disk_config *cfg,
					GError **err)
{
	struct virtio_blk *blk = virtio_blk_new(m->threads, index, cfg, err);
	struct virtio_blk_info info;
	struct virtio_device *vdev;

	if (!blk)
		return NULL;
	virtio_blk_get_info(blk, &info);
	vdev = virtio_pci_create(m, &virtio_blk_ops, blk, VIRTIO_ID_BLOCK,
				 info.features, info.nr_queues, info.config,
				 info.config_size, err);
	if (!vdev) {
		virtio_blk_free(blk);
		return NULL;
	}
	blk->vdev = vdev;
	return vdev;
}

bool virtio_blk_set_active(const struct virtio_device *vdev, bool active,
			   GError **err)
{
	const struct virtio_blk *blk = vdev->priv;
	g_autofree char *holder = NULL;
	int ret = blk_disk_set_active(blk->disk, active, &holder);

	if (ret)
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--disk '%s': %s '%s': %s", blk->cfg->spec,
			    active ? "cannot lock" : "cannot flush",
			    blk->cfg->path, holder ? holder : g_strerror(-ret));
	return !ret;
}

uint64_t virtio_blk_size(const struct virtio_device *vdev)
{
	const struct virtio_blk_config *c = (const void *)vdev->config;

	/* The config space, so that a vhost-user-blk answers too. */
	return le64toh(c->capacity) * BLK_SECTOR_SIZE;
}

/* ---- registry ---- */

/* Every --disk but the bus=scsi ones, which are virtio-scsi's LUNs. */
static unsigned int blk_count(const struct vm_config *cfg)
{
	return disk_configs_count(cfg->disks, cfg->nr_disks, DISK_BUS_BLK);
}

static void *blk_device_create(struct machine *m, unsigned int index,
			       GError **err)
{
	const struct disk_config *cfg = disk_configs_nth(
		m->cfg->disks, m->cfg->nr_disks, DISK_BUS_BLK, index);

	/* The same function, its requests served by another process. */
	if (cfg->vhost_user)
		return vhost_user_blk_create(m, index, cfg, err);
	return virtio_blk_create(m, index, cfg, err);
}

const struct device_type virtio_blk_device_type = {
	.name = "virtio-blk",
	.option = "--disk",
	.count = blk_count,
	.create = blk_device_create,
	.destroy = virtio_pci_device_destroy,
	.quiesce = virtio_pci_device_quiesce,
	.resume = virtio_pci_device_resume,
	.save = virtio_pci_device_save,
	.load = virtio_pci_device_load,
};
