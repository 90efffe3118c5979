// SPDX-License-Identifier: MIT
/*
 * Disk images: opening a file or a block device, finding what O_DIRECT
 * needs there, and closing (after the last abandoned queue is done with it).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/error.h"
#include "lock.h"

#include "internal.h"

static const struct blk_engine_ops *blk_engine_ops_of(enum blk_engine_kind k)
{
	switch (k) {
	case BLK_ENGINE_IO_URING:
		return &blk_engine_io_uring;
	case BLK_ENGINE_AIO:
		return &blk_engine_aio;
	case BLK_ENGINE_THREADS:
		return &blk_engine_threads;
	}
	return NULL;
}

#define DISK_OPEN_ERR(...)                                                     \
	do {                                                                   \
		g_autofree char *m_ = g_strdup_printf(__VA_ARGS__);            \
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,                 \
			    "--disk '%s': %s", cfg->spec, m_);                 \
		goto fail;                                                     \
	} while (0)

/*
 * Find what O_DIRECT needs. statx(STATX_DIOALIGN) (Linux 6.1) tells for
 * files; block devices need their logical block size. Without either, probe
 * reads of 512 and 4096 bytes find the offset alignment.
 */
static int disk_dio_alignment(struct blk_disk *d)
{
	struct statx stx;
	void *buf = NULL;
	int ret = -EINVAL;

	if (d->block_device) {
		int lbs;

		if (ioctl(d->fd, BLKSSZGET, &lbs) < 0 || lbs < 512)
			lbs = 512;
		d->mem_align = d->offset_align = lbs;
		return 0;
	}
	if (statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align)
			return -EINVAL; /* the file system has no direct I/O */
		d->mem_align = MAX(stx.stx_dio_mem_align, 1U);
		d->offset_align = stx.stx_dio_offset_align;
		return 0;
	}
	if (posix_memalign(&buf, 4096, 4096))
		return -ENOMEM;
	for (uint32_t align = 512; align <= 4096; align *= 8) {
		/* Too small to probe: trust the common case. */
		if (d->size < align ||
		    pread(d->fd, buf, align, 0) == (ssize_t)align) {
			d->mem_align = d->offset_align = align;
			ret = 0;
			break;
		}
	}
	free(buf);
	return ret;
}

/*
 * One writer or any number of readers per image, across tern processes
 * and QEMU alike (lock.c); the same image twice in one VM was refused
 * before (config_check_files()).
 */
static bool disk_lock(struct blk_disk *d, const struct disk_config *cfg,
		      GError **err)
{
	g_autofree char *holder = NULL;
	int ret = blk_image_lock(d->fd, d->readonly, &holder);

	if (ret == -EAGAIN) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--disk '%s': '%s' is locked: %s (%s)", cfg->spec,
			    cfg->path, holder,
			    d->readonly ? "a reader shares an image with readers only"
					: "a writer needs the image to itself");
		return false;
	}
	if (ret == -EOPNOTSUPP) {
		tern_warn("--disk '%s': '%s' cannot be locked (no OFD locks on its file system): nothing stops a second user",
			  cfg->spec, cfg->path);
	} else if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--disk '%s': cannot lock '%s': %s", cfg->spec,
			    cfg->path, g_strerror(-ret));
		return false;
	}
	return true;
}

struct blk_disk *blk_disk_open(const struct disk_config *cfg, GError **err)
{
	struct blk_disk *d = g_new0(struct blk_disk, 1);
	int flags = O_CLOEXEC | (cfg->readonly ? O_RDONLY : O_RDWR);
	struct statfs sfs;
	struct stat st;

	d->fd = -1;
	d->path = g_strdup(cfg->path);
	d->spec = cfg->spec;
	d->readonly = cfg->readonly;
	d->direct = cfg->cache == BLK_CACHE_NONE;
	d->engine = cfg->engine;
	d->ops = blk_engine_ops_of(cfg->engine);
	d->mem_align = d->offset_align = 1;
	/* NUL padded; exactly 20 characters leave no terminator (virtio). */
	if (cfg->serial)
		memcpy(d->serial, cfg->serial,
		       MIN(strlen(cfg->serial), sizeof(d->serial)));

	/* stat() first so that a directory or a FIFO gets a clear message. */
	if (stat(cfg->path, &st) < 0)
		DISK_OPEN_ERR("cannot open '%s': %s", cfg->path, g_strerror(errno));
	if (S_ISDIR(st.st_mode))
		DISK_OPEN_ERR("'%s' is a directory", cfg->path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		DISK_OPEN_ERR("'%s' is not a regular file or a block device",
			      cfg->path);

	d->fd = open(cfg->path, flags);
	if (d->fd < 0) {
		int e = errno;

		if (!cfg->readonly && (e == EACCES || e == EROFS || e == EPERM))
			DISK_OPEN_ERR("cannot open '%s' for writing: %s (readonly=on?)",
				      cfg->path, g_strerror(e));
		DISK_OPEN_ERR("cannot open '%s': %s", cfg->path, g_strerror(e));
	}
	if (fstat(d->fd, &st) < 0)
		DISK_OPEN_ERR("'%s': fstat: %s", cfg->path, g_strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		d->block_device = true;
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0)
			DISK_OPEN_ERR("'%s': BLKGETSIZE64: %s", cfg->path,
				      g_strerror(errno));
	} else if (S_ISREG(st.st_mode)) {
		d->size = st.st_size;
	} else {
		DISK_OPEN_ERR("'%s' is not a regular file or a block device",
			      cfg->path);
	}
	if (!cfg->inactive && !disk_lock(d, cfg, err))
		goto fail;

	if (d->direct) {
		/*
		 * tmpfs and ramfs have no direct I/O: older kernels refuse
		 * O_DIRECT there, newer ones (6.6+) accept it and still go
		 * through the page cache. Either way cache=none would be a
		 * lie, so say so instead of pretending.
		 */
		if (!d->block_device && fstatfs(d->fd, &sfs) == 0 &&
		    (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC))
			DISK_OPEN_ERR("cache=none%s: '%s' is on tmpfs/ramfs, which has no direct I/O; use cache=writeback",
				      cfg->engine == BLK_ENGINE_AIO ? " (engine=aio needs it)" : "",
				      cfg->path);
		if (fcntl(d->fd, F_SETFL, O_DIRECT) < 0)
			DISK_OPEN_ERR("cache=none: the file system of '%s' refuses O_DIRECT (%s); use cache=writeback",
				      cfg->path, g_strerror(errno));
		if (disk_dio_alignment(d) < 0)
			DISK_OPEN_ERR("cache=none: direct I/O does not work on '%s'; use cache=writeback",
				      cfg->path);
	}
	/* Tell the guest the block size O_DIRECT needs, so it aligns to it. */
	d->block_size = MAX(d->offset_align, BLK_SECTOR_SIZE);
	if (d->block_size > 4096)
		DISK_OPEN_ERR("cache=none: '%s' needs %u-byte aligned I/O, more than 4096",
			      cfg->path, d->block_size);
	if (d->size % BLK_SECTOR_SIZE)
		tern_warn("--disk '%s': size %llu is not a multiple of 512; the last %llu bytes are not visible",
			  cfg->spec, (unsigned long long)d->size,
			  (unsigned long long)(d->size % BLK_SECTOR_SIZE));
	return d;

fail:
	blk_disk_close(d);
	return NULL;
}

static void disk_free(struct blk_disk *disk)
{
	/*
	 * Unlock before the close: an io_uring that registered the file may
	 * keep it open a little longer, and the next user should not wait.
	 */
	if (disk->fd >= 0) {
		blk_image_unlock(disk->fd);
		close(disk->fd);
	}
	g_free(disk->path);
	g_free(disk);
}

int blk_disk_set_active(struct blk_disk *disk, bool active, char **holder)
{
	int ret;

	if (active) {
		ret = blk_image_lock(disk->fd, disk->readonly, holder);
		return ret == -EOPNOTSUPP ? 0 : ret;
	}
	if (!disk->readonly && fdatasync(disk->fd) < 0)
		return -errno;
	blk_image_unlock(disk->fd);
	return 0;
}

void blk_disk_close(struct blk_disk *disk)
{
	if (!disk)
		return;
	/* The reaper of an abandoned queue frees it when it is done. */
	if (__atomic_or_fetch(&disk->orphan_refs, 1, __ATOMIC_ACQ_REL) == 1)
		disk_free(disk);
}

void blk_disk_orphan_get(struct blk_disk *disk)
{
	__atomic_add_fetch(&disk->orphan_refs, 2, __ATOMIC_ACQ_REL);
}

void blk_disk_orphan_put(struct blk_disk *disk)
{
	if (__atomic_sub_fetch(&disk->orphan_refs, 2, __ATOMIC_ACQ_REL) == 1)
		disk_free(disk);
}
