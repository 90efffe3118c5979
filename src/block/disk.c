// SPDX-License-Identifier: MIT
/*
 * Disk images and the engine-independent half of a queue: range and
 * read-only checks, O_DIRECT alignment (with a bounce buffer for misaligned
 * guest buffers), resubmission of short transfers, and draining.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/iov.h"
#include "tern/error.h"
#include "lock.h"

struct blk_queue {
	struct blk_disk *disk;
	const struct blk_engine_ops *ops;
	void *state;
	unsigned int depth, inflight;
	/* Requests the layer completed itself, handed out by the next reap. */
	struct blk_req *done_head, *done_tail;
};

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
	if (!disk_lock(d, cfg, err))
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

void blk_disk_close(struct blk_disk *disk)
{
	if (!disk)
		return;
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

struct blk_queue *blk_queue_create(struct blk_disk *disk, unsigned int depth,
				   GError **err)
{
	struct blk_queue *q;
	int ret;

	if (!depth || depth > BLK_MAX_DEPTH) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "block queue depth %u out of range", depth);
		return NULL;
	}
	q = g_new0(struct blk_queue, 1);
	q->disk = disk;
	q->ops = disk->ops;
	q->depth = depth;
	ret = q->ops->create(disk, depth, &q->state);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--disk '%s': engine=%s: cannot set up a queue: %s",
			    disk->spec ? disk->spec : disk->path, q->ops->name,
			    g_strerror(-ret));
		g_free(q);
		return NULL;
	}
	return q;
}

static void queue_complete_now(struct blk_queue *q, struct blk_req *req,
			       int64_t result)
{
	req->result = result;
	req->next = NULL;
	if (q->done_tail)
		q->done_tail->next = req;
	else
		q->done_head = req;
	q->done_tail = req;
}

static bool iov_dio_aligned(const struct blk_disk *d, const struct iovec *iov,
			    unsigned int cnt)
{
	for (unsigned int i = 0; i < cnt; i++) {
		if ((uintptr_t)iov[i].iov_base % d->mem_align ||
		    iov[i].iov_len % d->offset_align)
			return false;
	}
	return true;
}

/*
 * O_DIRECT needs aligned guest buffers. A guest that follows blk_size sends
 * them; any other buffer goes through an aligned copy, allocated here: that
 * path is rare and correctness beats speed there.
 */
static int queue_bounce(struct blk_queue *q, struct blk_req *req)
{
	size_t align = MAX(q->disk->mem_align, sizeof(void *));

	if (posix_memalign(&req->bounce, align, req->len)) {
		req->bounce = NULL;
		return -ENOMEM;
	}
	if (req->op == BLK_OP_WRITE)
		iov_to_buf(req->iov, req->iovcnt, req->bounce, req->len);
	req->bounce_iov.iov_base = req->bounce;
	req->bounce_iov.iov_len = req->len;
	req->iov = &req->bounce_iov;
	req->iovcnt = 1;
	return 0;
}

static int queue_check(const struct blk_queue *q, const struct blk_req *req)
{
	const struct blk_disk *d = q->disk;

	switch (req->op) {
	case BLK_OP_FLUSH:
		return 0;
	case BLK_OP_READ:
	case BLK_OP_WRITE:
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (req->op != BLK_OP_READ && d->readonly)
		return -EROFS;
	if (req->offset > d->size || req->len > d->size - req->offset)
		return -EINVAL;
	if (d->direct && (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
	    (req->offset % d->offset_align || req->len % d->offset_align))
		return -EINVAL;
	return 0;
}

void blk_queue_submit(struct blk_queue *q, struct blk_req *req)
{
	int ret;

	req->next = NULL;
	req->done = 0;
	req->bounce = NULL;
	req->result = 0;
	req->orig_iov = req->iov;
	req->orig_iovcnt = req->iovcnt;
	q->inflight++;

	ret = queue_check(q, req);
	if (ret) {
		queue_complete_now(q, req, ret);
		return;
	}
	/* Nothing to move (fallocate would even refuse a zero length). */
	if (req->op != BLK_OP_FLUSH && !req->len) {
		queue_complete_now(q, req, 0);
		return;
	}
	if (q->disk->direct &&
	    (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
	    !iov_dio_aligned(q->disk, req->iov, req->iovcnt)) {
		ret = queue_bounce(q, req);
		if (ret) {
			queue_complete_now(q, req, ret);
			return;
		}
	}
	q->ops->submit(q->state, req);
}

int blk_queue_kick(struct blk_queue *q)
{
	return q->ops->kick(q->state);
}

int blk_queue_event_fd(const struct blk_queue *q)
{
	return q->ops->event_fd(q->state);
}

unsigned int blk_queue_inflight(const struct blk_queue *q)
{
	return q->inflight;
}

void blk_queue_signal(struct blk_queue *q, bool on)
{
	if (q->ops->signal)
		q->ops->signal(q->state, on);
}

/*
 * A completion from the engine. Returns false when the request went back to
 * the engine (a short transfer: the kernel may stop early, the rest is
 * resubmitted), true when it is finished for the caller, with offset, len,
 * iov and iovcnt as the caller filled them (iov's contents excepted).
 */
static bool queue_finish(struct blk_queue *q, struct blk_req *req)
{
	bool rw = req->op == BLK_OP_READ || req->op == BLK_OP_WRITE;
	uint64_t got = req->result >= 0 ? (uint64_t)req->result : 0;

	if (rw && got && got < req->len) {
		req->iov = iov_advance(req->iov, &req->iovcnt, got);
		req->offset += got;
		req->len -= got;
		req->done += got;
		q->ops->submit(q->state, req);
		return false;
	}
	/* Whole again, whether the last piece succeeded or not. */
	req->offset -= req->done;
	req->len += req->done;
	if (rw && req->result >= 0)
		/* No progress inside the disk's range: the file shrank. */
		req->result = got ? (int64_t)req->len : -EIO;
	req->iov = req->orig_iov;
	req->iovcnt = req->orig_iovcnt;
	if (req->bounce) {
		if (req->op == BLK_OP_READ && req->result >= 0)
			iov_from_buf(req->iov, req->iovcnt, req->bounce,
				     req->len);
		free(req->bounce);
		req->bounce = NULL;
	}
	req->next = NULL;
	req->done = 0;
	return true;
}

unsigned int blk_queue_reap(struct blk_queue *q, struct blk_req **done,
			    unsigned int max)
{
	unsigned int n = 0;
	bool resubmitted = false;

	while (n < max && q->done_head) {
		struct blk_req *r = q->done_head;

		q->done_head = r->next;
		if (!q->done_head)
			q->done_tail = NULL;
		r->next = NULL;
		done[n++] = r;
	}
	while (n < max) {
		unsigned int got = q->ops->reap(q->state, done + n, max - n);
		unsigned int kept = 0;

		if (!got)
			break;
		for (unsigned int i = 0; i < got; i++) {
			if (queue_finish(q, done[n + i]))
				done[n + kept++] = done[n + i];
			else
				resubmitted = true;
		}
		n += kept;
	}
	if (resubmitted && q->ops->kick(q->state))
		tern_warn("--disk '%s': cannot resubmit a short transfer",
			  q->disk->spec ? q->disk->spec : q->disk->path);
	q->inflight -= n;
	return n;
}

int blk_queue_wait(struct blk_queue *q, int timeout_ms)
{
	struct pollfd pfd = { .fd = blk_queue_event_fd(q), .events = POLLIN };
	uint64_t v;
	int ret;

	if (q->done_head)
		return 0;
	do {
		ret = poll(&pfd, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	/* The eventfd is non-blocking; a racing reader may have cleared it. */
	if (read(pfd.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

void blk_queue_destroy(struct blk_queue *q)
{
	struct blk_req *done[32];

	if (!q)
		return;
	while (q->inflight) {
		if (blk_queue_kick(q))
			break;
		if (!blk_queue_reap(q, done, ARRAY_SIZE(done)) &&
		    blk_queue_wait(q, 1000) == -ETIMEDOUT)
			tern_warn("--disk '%s': still waiting for %u requests",
				  q->disk->spec ? q->disk->spec : q->disk->path,
				  q->inflight);
	}
	q->ops->destroy(q->state);
	g_free(q);
}
