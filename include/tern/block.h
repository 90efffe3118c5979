/* SPDX-License-Identifier: MIT */
/*
 * Block back-ends: a disk image (struct blk_disk) and one asynchronous I/O
 * interface with three engines behind it (io_uring, libaio, a thread pool),
 * in Cloud Hypervisor's shape. A device model opens a queue per virtqueue,
 * submits requests whose iovecs point straight into guest memory, pushes a
 * batch to the kernel with one kick, and reaps completions when the queue's
 * eventfd is readable. Nothing on this path allocates.
 */
#ifndef TERN_BLOCK_H
#define TERN_BLOCK_H

#include <glib.h>
#include <sys/uio.h>

#include "tern/util.h"

struct thread_registry;

#define BLK_SECTOR_SIZE 512
/* Queues per disk, and requests in flight per queue (a virtqueue's size). */
#define BLK_MAX_QUEUES 16
#define BLK_MAX_DEPTH 256
/* The longest GET_ID string (virtio-blk's device ID). */
#define BLK_SERIAL_MAX 20
/*
 * Bounce memory a queue may hold at once (O_DIRECT copies of misaligned
 * guest buffers). A request that does not fit while others hold some waits
 * for them, in order; one bigger than this on its own fails with -E2BIG.
 * A device keeps its requests below it (virtio-blk: 4064 KiB), so only
 * waiting is ever seen there; 16 queues hold at most 128 MiB.
 */
#define BLK_BOUNCE_MAX (8 * MiB)

enum blk_engine_kind {
	BLK_ENGINE_IO_URING,
	BLK_ENGINE_AIO,
	BLK_ENGINE_THREADS,
};

enum blk_cache {
	BLK_CACHE_WRITEBACK, /* the host page cache; FLUSH is fdatasync */
	BLK_CACHE_NONE, /* O_DIRECT */
};

/*
 * How long a virtio-blk queue keeps polling after its last piece of work
 * before it sleeps (poll-us=N, 0 turns polling off).
 */
#define BLK_POLL_US_DEFAULT 32
#define BLK_POLL_US_MAX 1000000

/* Which device a --disk becomes. */
enum disk_bus {
	DISK_BUS_BLK, /* a virtio-blk function of its own (the default) */
	DISK_BUS_SCSI, /* a LUN of the one virtio-scsi controller */
};

/* bus=scsi: LUNs 0..DISK_SCSI_LUN_MAX of target 0. */
#define DISK_SCSI_LUN_MAX 255

/* One --disk option, validated but not opened. */
struct disk_config {
	char *path;
	bool readonly;
	enum blk_engine_kind engine;
	enum blk_cache cache;
	char *serial; /* NULL: GET_ID answers an empty string */
	unsigned int queues;
	unsigned int poll_us; /* 0..BLK_POLL_US_MAX */
	enum disk_bus bus;
	bool lun_given; /* lun=N was in the option */
	unsigned int lun; /* bus=scsi: given, or assigned by disk_configs_finish() */
	/* The disk's place among the disks of its bus, in command-line order. */
	unsigned int bus_index;
	char *spec; /* as given, for messages */
	/*
	 * Open the image without its lock (an incoming migration: the source
	 * still holds it); blk_disk_set_active() takes it at the switch-over.
	 */
	bool inactive;
	/*
	 * vhost-user=SOCK: a back-end serves the disk; path is then the
	 * socket (src/vhost-user/), and reconnect=off latches it off when
	 * the back-end goes.
	 */
	bool vhost_user;
	bool reconnect;
};

/*
 * Parse `path=FILE[,bus=blk|scsi][,lun=N][,readonly=on|off]
 * [,engine=io_uring|aio|threads][,cache=writeback|none][,serial=STR]
 * [,queues=N][,poll-us=N]`, or `vhost-user=SOCK[,queues=N][,reconnect=on|off]`
 * for a disk a vhost-user back-end serves. A literal comma in a value is written ",,".
 * Numbers are decimal (parse_u64). lun= needs bus=scsi; queues= and
 * poll-us= are virtio-blk's (a virtio-scsi controller has one request
 * queue for all its disks). Pure: the file is not looked at. On error
 * returns false with a TERN_ERROR_INPUT message that starts with
 * "--disk 'SPEC'" and names the key or value at fault; out is then cleared.
 */
bool disk_config_parse(const char *spec, struct disk_config *out,
		       GError **err);
void disk_config_clear(struct disk_config *cfg);
/*
 * Once every --disk is parsed, in order: number the disks of each bus
 * (bus_index) and give each bus=scsi disk without lun= the lowest LUN no
 * other one has. A LUN given twice is a TERN_ERROR_INPUT naming both
 * options.
 */
bool disk_configs_finish(struct disk_config *disks, unsigned int n,
			 GError **err);
/* How many of disks are on bus, and the one with bus_index index (or NULL). */
unsigned int disk_configs_count(const struct disk_config *disks,
				unsigned int n, enum disk_bus bus);
const struct disk_config *disk_configs_nth(const struct disk_config *disks,
					   unsigned int n, enum disk_bus bus,
					   unsigned int index);
const char *blk_engine_name(enum blk_engine_kind kind);

/* An open disk image, shared by all its queues. */
struct blk_disk {
	int fd;
	char *path;
	uint64_t size; /* bytes */
	bool readonly;
	bool direct; /* opened O_DIRECT (cache=none) */
	bool block_device;
	/*
	 * What O_DIRECT demands (both 1 without it): buffer addresses and
	 * lengths aligned to mem_align, offsets and lengths to offset_align.
	 */
	uint32_t mem_align, offset_align;
	/* The block size the guest is told: 512, or offset_align (O_DIRECT). */
	uint32_t block_size;
	enum blk_engine_kind engine;
	const struct blk_engine_ops *ops;
	char serial[BLK_SERIAL_MAX]; /* NUL padded, not terminated at 20 */
	const char *spec; /* the --disk text, for messages (borrowed) */
	/* Where engine threads are recorded and confined (may be NULL). */
	struct thread_registry *threads;
	/*
	 * Two per abandoned queue still using the disk, plus one once
	 * blk_disk_close() was called: whoever brings it to 1 frees it.
	 */
	unsigned int orphan_refs;
};

/*
 * Open the image a disk_config names: a regular file or a block device,
 * O_RDONLY when readonly, O_DIRECT for cache=none (refused on file systems
 * without real direct I/O, such as tmpfs). Errors are TERN_ERROR_INPUT
 * naming the --disk option and the file. cfg must outlive the disk.
 */
struct blk_disk *blk_disk_open(const struct disk_config *cfg, GError **err);
/* Close and free; abandoned queues still running keep it open until done. */
void blk_disk_close(struct blk_disk *disk);
/*
 * Migration's hand-over of a shared image (as QEMU's inactivate and
 * activate): inactive flushes it (fdatasync) and drops its lock so the
 * destination can take it; active takes the lock again, -EAGAIN with
 * *holder (g_free) when someone else holds it. No I/O may run meanwhile.
 */
int blk_disk_set_active(struct blk_disk *disk, bool active,
			char **holder) __must_check;

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH, /* fdatasync */
	BLK_OP_DISCARD, /* punch a hole; advisory */
	BLK_OP_WRITE_ZEROES, /* reads return zeroes afterwards */
};

/* WRITE_ZEROES may deallocate (punch a hole) instead of allocating zeroes. */
#define BLK_REQ_UNMAP 0x1

/*
 * One request. The caller owns the memory (preallocated slots) and fills op,
 * flags, offset, len, iov/iovcnt (READ/WRITE: iov_len totals len) and
 * opaque; the layer may rewrite iov in place (short transfers). On
 * completion result is len for READ/WRITE, 0 for the others, or -errno.
 */
struct blk_req {
	enum blk_op op;
	unsigned int flags;
	uint64_t offset, len;
	struct iovec *iov;
	unsigned int iovcnt;
	int64_t result;
	void *opaque;

	/* Private to the block layer and its engines. */
	struct blk_req *next; /* engines' lists */
	uint64_t done; /* bytes moved by earlier short transfers */
	void *bounce; /* O_DIRECT copy of a misaligned buffer */
	struct iovec bounce_iov;
	struct iovec *orig_iov; /* iov and iovcnt as the caller gave them */
	unsigned int orig_iovcnt;
	/*
	 * What short transfers advance: a copy, never the caller's array (a
	 * virtqueue chain's, from which virtq_push() marks what the device
	 * wrote for migration). NULL until the first short transfer.
	 */
	struct iovec *advanced;
};

/*
 * An engine: one instance per queue. Engines see only requests the layer
 * checked (in range, writable, aligned for O_DIRECT). submit() queues;
 * kick() hands everything queued to the kernel or the workers in one go;
 * completions make event_fd() readable and are taken with reap(), which
 * never blocks. A request completes exactly once, possibly with an error.
 */
struct blk_engine_ops {
	const char *name;
	int (*create)(struct blk_disk *disk, unsigned int depth,
		      void **state) __must_check;
	void (*submit)(void *state, struct blk_req *req);
	/*
	 * 0, or -errno when the engine itself failed (not one request): it
	 * stays failed and every later kick says so. An engine that the
	 * kernel refuses for a while (out of memory, completions to reap)
	 * keeps the requests and returns 0; its reap() tries again, and when
	 * no completion is due to wake the caller it backs off before
	 * signalling event_fd itself. Never a busy loop.
	 */
	int (*kick)(void *state) __must_check;
	int (*event_fd)(void *state);
	unsigned int (*reap)(void *state, struct blk_req **done,
			     unsigned int max);
	/*
	 * Optional: stop (false) or resume (true) signalling completions on
	 * event_fd, for a caller that polls while it is busy anyway.
	 */
	void (*signal)(void *state, bool on);
	/* Only with nothing in flight. */
	void (*destroy)(void *state);
};

extern const struct blk_engine_ops blk_engine_io_uring;
extern const struct blk_engine_ops blk_engine_aio;
extern const struct blk_engine_ops blk_engine_threads;

/* A queue: the engine instance and the layer's bookkeeping around it. */
struct blk_queue;

/*
 * Create a queue with at most depth requests in flight (1..BLK_MAX_DEPTH).
 * Errors are TERN_ERROR_HOST naming the engine and the --disk option.
 */
struct blk_queue *blk_queue_create(struct blk_disk *disk, unsigned int depth,
				   GError **err);
/* Wait for everything in flight (completions are dropped), then free. */
void blk_queue_destroy(struct blk_queue *q);
/*
 * Give up on a queue whose requests may never complete (a hung NFS server,
 * a stuck device) without waiting: a detached reaper thread takes them as
 * they finish, destroys the queue and then calls release(opaque), where the
 * caller frees what the requests point into (their slots and iovec arrays).
 * Nothing new reaches the engine: requests waiting for bounce memory fail
 * with -ECANCELED, short transfers are not continued, bounced reads are not
 * copied back. The caller must not touch q again. The disk stays open until
 * the reaper is done, whenever blk_disk_close() is called. If no thread can
 * be created, the queue is leaked, never freed under the kernel's feet.
 */
void blk_queue_abandon(struct blk_queue *q, void (*release)(void *opaque),
		       void *opaque);

/*
 * Queue a request (at most depth in flight). Requests the layer refuses
 * (beyond the end of the disk: -EINVAL, a write to a read-only disk:
 * -EROFS, misaligned O_DIRECT offsets: -EINVAL, a bounce buffer bigger
 * than BLK_BOUNCE_MAX: -E2BIG, no memory for one: -ENOMEM) complete at
 * once: reap after every kick. A request waiting for bounce memory counts
 * as in flight; a reap that frees some submits it.
 */
void blk_queue_submit(struct blk_queue *q, struct blk_req *req);
int blk_queue_kick(struct blk_queue *q) __must_check;
/* Readable when completions wait; the caller reads (clears) it. */
int blk_queue_event_fd(const struct blk_queue *q);
/* Take up to max completed requests; never blocks. */
unsigned int blk_queue_reap(struct blk_queue *q, struct blk_req **done,
			    unsigned int max);
unsigned int blk_queue_inflight(const struct blk_queue *q);
/*
 * While busy, a caller that reaps by polling can turn the eventfd's
 * wake-ups off (they cost the engine a signal per completion and the caller
 * a spurious wake-up). After turning them back on, reap once more before
 * sleeping: what completed in between did not signal. On by default.
 */
void blk_queue_signal(struct blk_queue *q, bool on);
/* Block until at least one completion could be reaped, or timeout_ms. */
int blk_queue_wait(struct blk_queue *q, int timeout_ms) __must_check;

#endif
