// SPDX-License-Identifier: MIT
/*
 * The block layer and its three engines against real files: /tmp is ext4
 * here (O_DIRECT works), /dev/shm is tmpfs (cache=none must be refused).
 * Loop tests run every engine/cache combination.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/error.h"
#include "held-engine.h"
#include "unit.h"

/*
 * io_uring_submit() as the engine sees it (the test links with
 * --wrap=io_uring_submit): the real one, unless a test injects a refusal.
 */
struct io_uring;
int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);

static struct {
	int error; /* returned instead of submitting, while non-zero */
	unsigned int calls; /* refused calls */
} uring_fault;

int __wrap_io_uring_submit(struct io_uring *ring)
{
	if (uring_fault.error) {
		uring_fault.calls++;
		return uring_fault.error;
	}
	return __real_io_uring_submit(ring);
}

#define DISK_SIZE (2 * MiB)

static const struct {
	enum blk_engine_kind engine;
	enum blk_cache cache;
} combos[] = {
	{ BLK_ENGINE_IO_URING, BLK_CACHE_WRITEBACK },
	{ BLK_ENGINE_IO_URING, BLK_CACHE_NONE },
	{ BLK_ENGINE_AIO, BLK_CACHE_NONE },
	{ BLK_ENGINE_THREADS, BLK_CACHE_WRITEBACK },
	{ BLK_ENGINE_THREADS, BLK_CACHE_NONE },
};
#define NR_COMBOS ((int)ARRAY_SIZE(combos))

/* The byte a fresh test image holds at offset off. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 7 + (off & 511));
}

struct fixture {
	char path[64];
	struct disk_config cfg;
	struct blk_disk *disk;
	struct blk_queue *q;
};

static void make_image(const char *dir, char *path, size_t path_len,
		       uint64_t size)
{
	uint8_t *buf = g_malloc(size);
	int fd;

	snprintf(path, path_len, "%s/tern-blk-XXXXXX", dir);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	ck_assert_int_eq(write_full(fd, buf, size), 0);
	close(fd);
	g_free(buf);
}

static void fixture_open(struct fixture *f, int combo, bool readonly,
			 unsigned int depth)
{
	GError *err = NULL;

	make_image("/tmp", f->path, sizeof(f->path), DISK_SIZE);
	memset(&f->cfg, 0, sizeof(f->cfg));
	f->cfg.path = g_strdup(f->path);
	f->cfg.spec = g_strdup_printf("path=%s", f->path);
	f->cfg.engine = combos[combo].engine;
	f->cfg.cache = combos[combo].cache;
	f->cfg.readonly = readonly;
	f->cfg.queues = 1;
	f->disk = blk_disk_open(&f->cfg, &err);
	ck_assert_msg(f->disk, "open: %s", err ? err->message : "?");
	ck_assert_uint_eq(f->disk->size, DISK_SIZE);
	f->q = blk_queue_create(f->disk, depth, &err);
	ck_assert_msg(f->q, "queue: %s", err ? err->message : "?");
}

static void fixture_close(struct fixture *f)
{
	blk_queue_destroy(f->q);
	blk_disk_close(f->disk);
	unlink(f->path);
	disk_config_clear(&f->cfg);
}

/* Reap until n requests completed. */
static void reap_n(struct blk_queue *q, unsigned int n)
{
	struct blk_req *done[64];
	unsigned int got = 0;

	ck_assert_int_eq(blk_queue_kick(q), 0);
	while (got < n) {
		unsigned int r = blk_queue_reap(q, done, ARRAY_SIZE(done));

		got += r;
		if (!r)
			ck_assert_int_eq(blk_queue_wait(q, 5000), 0);
	}
	ck_assert_uint_eq(got, n);
	ck_assert_uint_eq(blk_queue_inflight(q), 0);
}

static int64_t run(struct blk_queue *q, enum blk_op op, unsigned int flags,
		   uint64_t off, struct iovec *iov, unsigned int cnt,
		   uint64_t len)
{
	struct blk_req req = {
		.op = op, .flags = flags, .offset = off, .len = len,
		.iov = iov, .iovcnt = cnt,
	};

	blk_queue_submit(q, &req);
	reap_n(q, 1);
	/* The caller's view is restored whatever happened inside. */
	ck_assert_uint_eq(req.offset, off);
	ck_assert_uint_eq(req.len, len);
	ck_assert_ptr_eq(req.iov, iov);
	ck_assert_uint_eq(req.iovcnt, cnt);
	return req.result;
}

static void *aligned(size_t len)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 4096, len), 0);
	return p;
}

/* Plain loops, one assertion: Check records every passing assertion. */
static void expect_pattern(const uint8_t *buf, uint64_t off, size_t len)
{
	size_t i = 0;

	while (i < len && buf[i] == pattern(off + i))
		i++;
	ck_assert_msg(i == len, "byte %zu at %llu: %u, want %u", i,
		      (unsigned long long)off, i < len ? buf[i] : 0,
		      pattern(off + i));
}

static void expect_fill(const uint8_t *buf, uint8_t v, size_t len)
{
	size_t i = 0;

	while (i < len && buf[i] == v)
		i++;
	ck_assert_msg(i == len, "byte %zu is %u, want %u", i,
		      i < len ? buf[i] : 0, v);
}

START_TEST(read_write_roundtrip)
{
	struct fixture f;
	uint8_t *a = aligned(8192), *b = aligned(8192), *file = g_malloc(8192);
	struct iovec two[2] = { { a, 4096 }, { b, 4096 } };
	int fd;

	fixture_open(&f, _i, false, 8);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 64 * KiB, two, 2, 8192), 8192);
	expect_pattern(a, 64 * KiB, 4096);
	expect_pattern(b, 64 * KiB + 4096, 4096);

	memset(a, 0xa5, 4096);
	memset(b, 0x5a, 4096);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE, 0, 1 * MiB, two, 2, 8192), 8192);
	ck_assert_int_eq(run(f.q, BLK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);

	fd = open(f.path, O_RDONLY);
	ck_assert_int_eq(pread(fd, file, 8192, 1 * MiB), 8192);
	close(fd);
	expect_fill(file, 0xa5, 4096);
	expect_fill(file + 4096, 0x5a, 4096);
	memset(a, 0, 8192);
	memset(b, 0, 8192);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 1 * MiB, two, 2, 8192), 8192);
	ck_assert_mem_eq(a, file, 4096);
	ck_assert_mem_eq(b, file + 4096, 4096);
	/* A zero-length request completes without touching anything. */
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 0, two, 0, 0), 0);

	free(a);
	free(b);
	g_free(file);
	fixture_close(&f);
}
END_TEST

static void expect_zeroes(struct fixture *f, uint64_t off, size_t len)
{
	uint8_t *buf = aligned(len);
	struct iovec iov = { buf, len };

	memset(buf, 0xff, len);
	ck_assert_int_eq(run(f->q, BLK_OP_READ, 0, off, &iov, 1, len), len);
	expect_fill(buf, 0, len);
	free(buf);
}

START_TEST(discard_and_write_zeroes)
{
	struct fixture f;
	struct stat st;
	uint8_t *buf = aligned(4096);
	struct iovec iov = { buf, 4096 };

	fixture_open(&f, _i, false, 8);
	/* Discard is advisory; on ext4 a punched hole reads back zeroes. */
	ck_assert_int_eq(run(f.q, BLK_OP_DISCARD, 0, 256 * KiB, NULL, 0, 64 * KiB), 0);
	expect_zeroes(&f, 256 * KiB, 64 * KiB);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE_ZEROES, 0, 512 * KiB, NULL, 0, 8192), 0);
	expect_zeroes(&f, 512 * KiB, 8192);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE_ZEROES, BLK_REQ_UNMAP, 768 * KiB,
			     NULL, 0, 12288), 0);
	expect_zeroes(&f, 768 * KiB, 12288);
	/* Neighbours untouched, size kept (FALLOC_FL_KEEP_SIZE). */
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 768 * KiB + 12288, &iov, 1, 4096),
			 4096);
	expect_pattern(buf, 768 * KiB + 12288, 4096);
	ck_assert_int_eq(stat(f.path, &st), 0);
	ck_assert_int_eq(st.st_size, DISK_SIZE);
	/* The last sector, and up to the end exactly. */
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE_ZEROES, 0, DISK_SIZE - 4096, NULL,
			     0, 4096), 0);
	expect_zeroes(&f, DISK_SIZE - 4096, 4096);
	ck_assert_int_eq(stat(f.path, &st), 0);
	ck_assert_int_eq(st.st_size, DISK_SIZE);
	free(buf);
	fixture_close(&f);
}
END_TEST

START_TEST(beyond_the_end)
{
	struct fixture f;
	uint8_t *buf = aligned(8192);
	struct iovec iov = { buf, 4096 }, iov2 = { buf, 8192 };
	struct stat st;

	fixture_open(&f, _i, false, 8);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, DISK_SIZE, &iov, 1, 4096), -EINVAL);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, DISK_SIZE - 4096, &iov2, 1, 8192),
			 -EINVAL);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE, 0, DISK_SIZE, &iov, 1, 4096), -EINVAL);
	/* offset + len wraps around 2^64. */
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, UINT64_MAX - 4095, &iov, 1, 4096),
			 -EINVAL);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE_ZEROES, 0, DISK_SIZE - 512, NULL, 0,
			     4096), -EINVAL);
	ck_assert_int_eq(run(f.q, BLK_OP_DISCARD, 0, UINT64_MAX, NULL, 0, 2),
			 -EINVAL);
	/* The last block itself is fine. */
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, DISK_SIZE - 4096, &iov, 1, 4096),
			 4096);
	expect_pattern(buf, DISK_SIZE - 4096, 4096);
	ck_assert_int_eq(stat(f.path, &st), 0);
	ck_assert_int_eq(st.st_size, DISK_SIZE);
	free(buf);
	fixture_close(&f);
}
END_TEST

START_TEST(read_only)
{
	struct fixture f;
	uint8_t *buf = aligned(4096);
	struct iovec iov = { buf, 4096 };

	fixture_open(&f, _i, true, 4);
	ck_assert(f.disk->readonly);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE, 0, 0, &iov, 1, 4096), -EROFS);
	ck_assert_int_eq(run(f.q, BLK_OP_DISCARD, 0, 0, NULL, 0, 4096), -EROFS);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE_ZEROES, 0, 0, NULL, 0, 4096), -EROFS);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 0, &iov, 1, 4096), 4096);
	expect_pattern(buf, 0, 4096);
	ck_assert_int_eq(run(f.q, BLK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	free(buf);
	fixture_close(&f);
}
END_TEST

/* A full queue of random reads and writes, one kick, reaped in batches. */
START_TEST(many_in_flight)
{
	enum { DEPTH = 128, LEN = 4096 };
	struct fixture f;
	struct blk_req reqs[DEPTH];
	struct iovec iovs[DEPTH];
	uint8_t *bufs = aligned(DEPTH * LEN);
	struct blk_req *done[16];
	unsigned int got = 0, seen[DEPTH] = { 0 };
	GRand *rnd = g_rand_new_with_seed(42);

	fixture_open(&f, _i, false, DEPTH);
	for (int round = 0; round < 3; round++) {
		/*
		 * Round 0 reads a cold file: the slow paths (workers,
		 * io_uring's async punt) rather than cached fast paths.
		 */
		if (round == 0) {
			ck_assert_int_eq(fdatasync(f.disk->fd), 0);
			ck_assert_int_eq(posix_fadvise(f.disk->fd, 0, 0,
						       POSIX_FADV_DONTNEED), 0);
		}
		got = 0;
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < DEPTH; i++) {
			/* Distinct 4K blocks: reads of the first half, writes above. */
			uint64_t blk = i * (DISK_SIZE / LEN / DEPTH) +
				       g_rand_int_range(rnd, 0, DISK_SIZE / LEN / DEPTH);
			bool write = i % 2 && round == 1;

			iovs[i].iov_base = bufs + i * LEN;
			iovs[i].iov_len = LEN;
			if (write)
				memset(iovs[i].iov_base, i, LEN);
			reqs[i] = (struct blk_req){
				.op = write ? BLK_OP_WRITE : BLK_OP_READ,
				.offset = blk * LEN, .len = LEN,
				.iov = &iovs[i], .iovcnt = 1, .opaque = &seen[i],
			};
			blk_queue_submit(f.q, &reqs[i]);
		}
		ck_assert_uint_eq(blk_queue_inflight(f.q), DEPTH);
		ck_assert_int_eq(blk_queue_kick(f.q), 0);
		while (got < DEPTH) {
			unsigned int n = blk_queue_reap(f.q, done, ARRAY_SIZE(done));

			for (unsigned int k = 0; k < n; k++) {
				struct blk_req *r = done[k];
				int i = r - reqs;

				ck_assert_int_ge(i, 0);
				ck_assert_int_lt(i, DEPTH);
				ck_assert_uint_eq(seen[i]++, 0);
				ck_assert_int_eq(r->result, LEN);
				if (r->op == BLK_OP_READ && round != 2)
					expect_pattern(r->iov->iov_base, r->offset, LEN);
			}
			got += n;
			if (!n)
				ck_assert_int_eq(blk_queue_wait(f.q, 5000), 0);
		}
		ck_assert_uint_eq(blk_queue_inflight(f.q), 0);
	}
	g_rand_free(rnd);
	free(bufs);
	fixture_close(&f);
}
END_TEST

/* The kernel's errors reach the request, and the queue keeps working. */
START_TEST(error_results)
{
	struct fixture f;
	/* Page 1 is never mapped in a Linux process. */
	struct iovec bad = { (void *)4096, 4096 };
	uint8_t *buf = aligned(4096);
	struct iovec good = { buf, 4096 };
	int64_t r;

	fixture_open(&f, _i, false, 4);
	r = run(f.q, BLK_OP_READ, 0, 0, &bad, 1, 4096);
	ck_assert_msg(r == -EFAULT, "read into an unmapped page: %lld", (long long)r);
	r = run(f.q, BLK_OP_WRITE, 0, 0, &bad, 1, 4096);
	ck_assert_msg(r == -EFAULT, "write from an unmapped page: %lld", (long long)r);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 4096, &good, 1, 4096), 4096);
	expect_pattern(buf, 4096, 4096);
	free(buf);
	fixture_close(&f);
}
END_TEST

/* O_DIRECT: misaligned buffers go through a bounce, misaligned offsets fail. */
START_TEST(direct_alignment)
{
	struct fixture f;
	uint8_t *raw = aligned(3 * 4096);
	uint8_t *odd = raw + 8;
	struct iovec iov[2] = { { odd, 1000 }, { odd + 1000, 4096 - 1000 } };
	int fd;

	fixture_open(&f, _i, false, 4);
	if (!f.disk->direct) {
		ck_assert_uint_eq(f.disk->block_size, 512);
		fixture_close(&f);
		free(raw);
		return;
	}
	ck_assert_uint_ge(f.disk->offset_align, 512);
	ck_assert_uint_eq(f.disk->block_size, f.disk->offset_align);
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 8192, iov, 2, 4096), 4096);
	expect_pattern(odd, 8192, 4096);

	memset(odd, 0x3c, 4096);
	ck_assert_int_eq(run(f.q, BLK_OP_WRITE, 0, 16384, iov, 2, 4096), 4096);
	fd = open(f.path, O_RDONLY);
	ck_assert_int_eq(pread(fd, raw, 4096, 16384), 4096);
	close(fd);
	expect_fill(raw, 0x3c, 4096);

	iov[0].iov_base = raw;
	iov[0].iov_len = 4096;
	ck_assert_int_eq(run(f.q, BLK_OP_READ, 0, 8192 + 256, iov, 1, 4096), -EINVAL);
	free(raw);
	fixture_close(&f);
}
END_TEST

static char *open_error(const char *spec)
{
	struct disk_config cfg;
	GError *err = NULL;
	struct blk_disk *d;
	char *msg;

	ck_assert(disk_config_parse(spec, &cfg, &err));
	d = blk_disk_open(&cfg, &err);
	ck_assert_ptr_null(d);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	msg = g_strdup(err->message);
	g_error_free(err);
	disk_config_clear(&cfg);
	return msg;
}

static void expect_msg(char *msg, const char *a, const char *b)
{
	ck_assert_msg(strstr(msg, a), "'%s' lacks '%s'", msg, a);
	ck_assert_msg(!b || strstr(msg, b), "'%s' lacks '%s'", msg, b);
	g_free(msg);
}

START_TEST(open_errors)
{
	char path[64];

	expect_msg(open_error("path=/nonexistent/disk.img"), "--disk 'path=/nonexistent/disk.img'",
		   "No such file");
	expect_msg(open_error("path=/tmp"), "'/tmp' is a directory", "--disk");
	expect_msg(open_error("path=/dev/null"), "not a regular file or a block device",
		   "--disk 'path=/dev/null'");

	make_image("/tmp", path, sizeof(path), 8192);
	{
		g_autofree char *spec = g_strdup_printf("path=%s,cache=none", path);
		struct disk_config cfg;
		struct blk_disk *d;

		ck_assert(disk_config_parse(spec, &cfg, NULL));
		d = blk_disk_open(&cfg, NULL);
		ck_assert_ptr_nonnull(d);
		ck_assert(d->direct);
		blk_disk_close(d);
		disk_config_clear(&cfg);
	}
	unlink(path);
}
END_TEST

/* tmpfs has no direct I/O: cache=none is refused with a clear message. */
START_TEST(tmpfs_refuses_direct)
{
	char path[64];
	struct statfs sfs;

	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != 0x01021994) {
		fprintf(stderr, "skipped: /dev/shm is not tmpfs\n");
		return;
	}
	make_image("/dev/shm", path, sizeof(path), 8192);
	{
		g_autofree char *spec = g_strdup_printf("path=%s,cache=none", path);
		g_autofree char *aio = g_strdup_printf("path=%s,engine=aio", path);
		g_autofree char *wb = g_strdup_printf("path=%s", path);
		struct disk_config cfg;
		struct blk_disk *d;

		expect_msg(open_error(spec), "cache=none", "tmpfs");
		expect_msg(open_error(aio), "cache=none", "use cache=writeback");
		/* The page cache path works there. */
		ck_assert(disk_config_parse(wb, &cfg, NULL));
		d = blk_disk_open(&cfg, NULL);
		ck_assert_ptr_nonnull(d);
		ck_assert(!d->direct);
		blk_disk_close(d);
		disk_config_clear(&cfg);
	}
	unlink(path);
}
END_TEST

START_TEST(disk_properties)
{
	char path[64];
	g_autofree char *spec = NULL;
	struct disk_config cfg;
	struct blk_disk *d;

	make_image("/tmp", path, sizeof(path), 1000);
	spec = g_strdup_printf("path=%s,serial=ABCDEFGHIJKLMNOPQRST,readonly=on", path);
	ck_assert(disk_config_parse(spec, &cfg, NULL));
	d = blk_disk_open(&cfg, NULL);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->size, 1000);
	ck_assert_uint_eq(d->block_size, 512);
	ck_assert(d->readonly);
	ck_assert_mem_eq(d->serial, "ABCDEFGHIJKLMNOPQRST", 20);
	blk_disk_close(d);
	disk_config_clear(&cfg);

	g_free(spec);
	spec = g_strdup_printf("path=%s,serial=ab", path);
	ck_assert(disk_config_parse(spec, &cfg, NULL));
	d = blk_disk_open(&cfg, NULL);
	ck_assert_ptr_nonnull(d);
	ck_assert_mem_eq(d->serial, "ab\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	blk_disk_close(d);
	disk_config_clear(&cfg);
	unlink(path);
}
END_TEST

/* A disk and the configuration it borrows from. */
struct locked {
	struct disk_config cfg;
	struct blk_disk *disk;
};

/* Open path as a disk; NULL with *msg (g_free it) when refused. */
static struct locked *lock_open(const char *path, bool readonly, char **msg)
{
	g_autofree char *spec = g_strdup_printf("path=%s%s", path,
						readonly ? ",readonly=on" : "");
	struct locked *l = g_new0(struct locked, 1);
	GError *err = NULL;

	ck_assert(disk_config_parse(spec, &l->cfg, NULL));
	l->disk = blk_disk_open(&l->cfg, &err);
	*msg = err ? g_strdup(err->message) : NULL;
	if (err)
		ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	g_clear_error(&err);
	if (!l->disk) {
		disk_config_clear(&l->cfg);
		g_clear_pointer(&l, g_free);
	}
	return l;
}

static void lock_close(struct locked *l)
{
	blk_disk_close(l->disk);
	disk_config_clear(&l->cfg);
	g_free(l);
}

/* Refused, and the message names the image and the lock's holder. */
static void expect_locked(const char *path, bool readonly, const char *lock)
{
	g_autofree char *holder = g_strdup_printf("process %d (test-block) holds %s",
						  (int)getpid(), lock);
	char *msg;

	ck_assert_ptr_null(lock_open(path, readonly, &msg));
	expect_msg(msg, path, "is locked");
	ck_assert_ptr_null(lock_open(path, readonly, &msg));
	expect_msg(msg, holder, readonly ? "readers only" : "to itself");
}

START_TEST(lock_one_writer)
{
	struct locked *w, *r;
	char path[64], *msg;

	make_image("/tmp", path, sizeof(path), 8192);
	w = lock_open(path, false, &msg);
	ck_assert_msg(w, "%s", msg);
	expect_locked(path, false, "a write lock");
	expect_locked(path, true, "a write lock");
	lock_close(w);
	/* Closed is unlocked: the next writer, then readers, get it. */
	w = lock_open(path, false, &msg);
	ck_assert_msg(w, "%s", msg);
	lock_close(w);
	r = lock_open(path, true, &msg);
	ck_assert_msg(r, "%s", msg);
	lock_close(r);
	unlink(path);
}
END_TEST

START_TEST(lock_readers_share)
{
	struct locked *r1, *r2, *w;
	char path[64], *msg;

	make_image("/tmp", path, sizeof(path), 8192);
	r1 = lock_open(path, true, &msg);
	ck_assert_msg(r1, "%s", msg);
	r2 = lock_open(path, true, &msg);
	ck_assert_msg(r2, "%s", msg);
	expect_locked(path, false, "a shared (read-only) lock");
	lock_close(r1);
	expect_locked(path, false, "a shared (read-only) lock");
	lock_close(r2);
	w = lock_open(path, false, &msg);
	ck_assert_msg(w, "%s", msg);
	lock_close(w);
	unlink(path);
}
END_TEST

/* Another open file description of path with QEMU's locks on bytes. */
static int qemu_like_holder(const char *path, const off_t *bytes, size_t n)
{
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < n; i++) {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET,
				    .l_start = bytes[i], .l_len = 1 };

		ck_assert_int_eq(fcntl(fd, F_OFD_SETLK, &fl), 0);
	}
	return fd;
}

/* Would QEMU 7.2 get its shared lock on byte (it tests before using)? */
static bool qemu_byte_free(const char *path, off_t byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = byte, .l_len = 1 };
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type == F_UNLCK;
}

/*
 * tern's locks sit on QEMU's bytes (100 + permission held, 200 +
 * permission not shared; 0 read, 1 write): a QEMU writer holds 100, 101,
 * 201, a read-only QEMU 100 and 201 (as measured with QEMU 7.2).
 */
START_TEST(lock_qemu_compatible)
{
	static const off_t qemu_writer[] = { 100, 101, 201 };
	static const off_t qemu_reader[] = { 100, 201 };
	struct locked *d;
	char path[64], *msg;
	int q;

	make_image("/tmp", path, sizeof(path), 8192);
	q = qemu_like_holder(path, qemu_writer, G_N_ELEMENTS(qemu_writer));
	expect_locked(path, false, "a write lock");
	expect_locked(path, true, "a write lock");
	close(q);

	q = qemu_like_holder(path, qemu_reader, G_N_ELEMENTS(qemu_reader));
	d = lock_open(path, true, &msg);
	ck_assert_msg(d, "%s", msg);
	lock_close(d);
	expect_locked(path, false, "a shared (read-only) lock");
	close(q);

	/* Seen from QEMU: a tern writer holds every byte it would take... */
	d = lock_open(path, false, &msg);
	ck_assert_msg(d, "%s", msg);
	ck_assert(!qemu_byte_free(path, 100));
	ck_assert(!qemu_byte_free(path, 201));
	lock_close(d);
	/* ...a tern reader what a read-only QEMU holds: no writer may come. */
	d = lock_open(path, true, &msg);
	ck_assert_msg(d, "%s", msg);
	ck_assert(!qemu_byte_free(path, 201));
	ck_assert(qemu_byte_free(path, 101));
	ck_assert(qemu_byte_free(path, 200));
	lock_close(d);
	ck_assert(qemu_byte_free(path, 100));
	unlink(path);
}
END_TEST

/* Destroying a queue with requests in flight waits for them. */
START_TEST(destroy_drains)
{
	enum { N = 32 };
	struct fixture f;
	struct blk_req reqs[N];
	struct iovec iovs[N];
	uint8_t *bufs = aligned(N * 4096);

	fixture_open(&f, _i, false, N);
	for (int i = 0; i < N; i++) {
		iovs[i] = (struct iovec){ bufs + i * 4096, 4096 };
		reqs[i] = (struct blk_req){ .op = BLK_OP_READ, .offset = i * 65536,
					    .len = 4096, .iov = &iovs[i], .iovcnt = 1 };
		blk_queue_submit(f.q, &reqs[i]);
	}
	ck_assert_int_eq(blk_queue_kick(f.q), 0);
	blk_queue_destroy(f.q);
	f.q = NULL;
	for (int i = 0; i < N; i++)
		expect_pattern(bufs + i * 4096, i * 65536, 4096);
	free(bufs);
	blk_disk_close(f.disk);
	unlink(f.path);
	disk_config_clear(&f.cfg);
}
END_TEST

/*
 * A fake engine over memory that moves at most `chunk` bytes per request,
 * as the kernel may: the layer must resubmit the rest and hand the caller
 * one whole completion.
 */
static struct {
	uint8_t img[64 * 1024];
	uint64_t chunk;
	unsigned int submits;
	unsigned int fail_after; /* fail the nth submission with -ENOSPC */
	int efd;
	struct blk_req *head, *tail;
} fake;

static int fake_create(struct blk_disk *disk, unsigned int depth, void **state)
{
	fake.efd = eventfd(0, EFD_NONBLOCK);
	*state = &fake;
	return fake.efd < 0 ? -errno : 0;
}

static void fake_submit(void *state, struct blk_req *req)
{
	uint64_t n = MIN(req->len, fake.chunk), done = 0, one = 1;
	bool fail = fake.fail_after && !--fake.fail_after;

	fake.submits++;
	if (fail)
		n = 0;
	for (unsigned int i = 0; i < req->iovcnt && done < n; i++) {
		uint64_t k = MIN(req->iov[i].iov_len, n - done);
		uint8_t *disk = fake.img + req->offset + done;

		if (req->op == BLK_OP_READ)
			memcpy(req->iov[i].iov_base, disk, k);
		else
			memcpy(disk, req->iov[i].iov_base, k);
		done += k;
	}
	req->result = fail ? -ENOSPC : (int64_t)done;
	req->next = NULL;
	if (fake.tail)
		fake.tail->next = req;
	else
		fake.head = req;
	fake.tail = req;
	(void)!write(fake.efd, &one, sizeof(one));
}

static int fake_kick(void *state)
{
	return 0;
}

static int fake_event_fd(void *state)
{
	return fake.efd;
}

static unsigned int fake_reap(void *state, struct blk_req **done, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && fake.head) {
		done[n++] = fake.head;
		fake.head = fake.head->next;
	}
	if (!fake.head)
		fake.tail = NULL;
	return n;
}

static void fake_destroy(void *state)
{
	close(fake.efd);
}

static const struct blk_engine_ops fake_ops = {
	.name = "fake", .create = fake_create, .submit = fake_submit,
	.kick = fake_kick, .event_fd = fake_event_fd, .reap = fake_reap,
	.destroy = fake_destroy,
};

START_TEST(short_transfers)
{
	struct blk_disk d = {
		.fd = -1, .size = sizeof(fake.img), .ops = &fake_ops,
		.mem_align = 1, .offset_align = 1, .block_size = 512,
	};
	uint8_t *raw = aligned(8192), *buf = raw + 8;
	struct iovec iov[3];
	struct blk_queue *q;

	for (size_t i = 0; i < sizeof(fake.img); i++)
		fake.img[i] = pattern(i);
	/* _i: 0 buffered, 1 O_DIRECT with a misaligned buffer (bounced). */
	if (_i) {
		d.direct = true;
		d.mem_align = d.offset_align = 512;
	}
	q = blk_queue_create(&d, 4, NULL);
	ck_assert_ptr_nonnull(q);

	fake.chunk = 700;
	fake.submits = 0;
	iov[0] = (struct iovec){ buf, 1000 };
	iov[1] = (struct iovec){ buf + 1000, 2000 };
	iov[2] = (struct iovec){ buf + 3000, 1096 };
	ck_assert_int_eq(run(q, BLK_OP_READ, 0, 512, iov, 3, 4096), 4096);
	expect_pattern(buf, 512, 4096);
	ck_assert_uint_eq(fake.submits, 6); /* ceil(4096 / 700) */
	/*
	 * The caller's array as it gave it: a virtqueue chain's, from which
	 * the device marks what it wrote for migration (a cut entry hid the
	 * bytes at its start).
	 */
	ck_assert_ptr_eq(iov[0].iov_base, buf);
	ck_assert_uint_eq(iov[0].iov_len, 1000);
	ck_assert_ptr_eq(iov[1].iov_base, buf + 1000);
	ck_assert_uint_eq(iov[1].iov_len, 2000);
	ck_assert_ptr_eq(iov[2].iov_base, buf + 3000);
	ck_assert_uint_eq(iov[2].iov_len, 1096);

	memset(buf, 0x42, 4096);
	iov[0] = (struct iovec){ buf, 4096 };
	ck_assert_int_eq(run(q, BLK_OP_WRITE, 0, 8192, iov, 1, 4096), 4096);
	expect_fill(fake.img + 8192, 0x42, 4096);
	ck_assert_uint_eq(fake.img[8192 + 4096], pattern(8192 + 4096));

	ck_assert_ptr_eq(iov[0].iov_base, buf);
	ck_assert_uint_eq(iov[0].iov_len, 4096);
	/* No progress at all inside the disk: the file shrank under us. */
	fake.chunk = 0;
	ck_assert_int_eq(run(q, BLK_OP_READ, 0, 0, iov, 1, 4096), -EIO);
	/* Some progress, then an error: the error, and the caller's view. */
	fake.chunk = 1024;
	fake.fail_after = 2;
	fake.submits = 0;
	ck_assert_int_eq(run(q, BLK_OP_READ, 0, 4096, iov, 1, 4096), -ENOSPC);
	ck_assert_uint_eq(fake.submits, 2);
	fake.fail_after = 0;
	blk_queue_destroy(q);
	free(raw);
}
END_TEST

/* A disk that is nothing but an engine: O_DIRECT rules, 64 MiB. */
static struct blk_disk held_disk(void)
{
	return (struct blk_disk){
		.fd = -1, .size = 64 * MiB, .ops = &held_ops, .direct = true,
		.mem_align = 512, .offset_align = 512, .block_size = 512,
	};
}

static void submit_read(struct blk_queue *q, struct blk_req *r,
			struct iovec *iov, void *buf, uint64_t off,
			uint64_t len)
{
	*iov = (struct iovec){ buf, len };
	*r = (struct blk_req){ .op = BLK_OP_READ, .offset = off, .len = len,
			       .iov = iov, .iovcnt = 1 };
	blk_queue_submit(q, r);
}

/*
 * Misaligned O_DIRECT buffers share BLK_BOUNCE_MAX of bounce memory per
 * queue: a request that does not fit waits, in order, for the others to
 * finish; one that alone exceeds the cap fails at once.
 */
START_TEST(bounce_memory_capped)
{
	enum { A, B, C, D, BIG, ALIGNED, NR };
	const uint64_t len[NR] = { 3 * MiB, 3 * MiB, 3 * MiB, 1 * MiB,
				   BLK_BOUNCE_MAX + 512, 3 * MiB };
	struct blk_disk d = held_disk();
	uint8_t *raw = aligned(BLK_BOUNCE_MAX + 4096), *odd = raw + 8;
	struct blk_req r[NR], *done[NR];
	struct iovec iov[NR];
	struct blk_queue *q = blk_queue_create(&d, 16, NULL);

	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < NR; i++)
		submit_read(q, &r[i], &iov[i], i == ALIGNED ? raw : odd,
			    i * 16 * MiB / 8, len[i]);
	ck_assert_int_eq(blk_queue_kick(q), 0);
	/* A and B hold 6 MiB; C does not fit, D waits behind C. */
	ck_assert_uint_eq(held.inst[0].submitted, 3);
	ck_assert(held_has(0, &r[A]) && held_has(0, &r[B]));
	ck_assert(held_has(0, &r[ALIGNED]));
	ck_assert_uint_eq(blk_queue_inflight(q), 6);
	/* BIG alone is more than the cap: refused, never allocated. */
	ck_assert_uint_eq(blk_queue_reap(q, done, NR), 1);
	ck_assert_ptr_eq(done[0], &r[BIG]);
	ck_assert_int_eq(r[BIG].result, -E2BIG);

	/* A's buffer is freed: C and D fit now (3 + 3 + 1 MiB). */
	ck_assert_uint_eq(held_release(0, 1), 1);
	ck_assert_uint_eq(blk_queue_reap(q, done, NR), 1);
	ck_assert_ptr_eq(done[0], &r[A]);
	ck_assert_int_eq(r[A].result, (int64_t)len[A]);
	ck_assert(held_has(0, &r[C]) && held_has(0, &r[D]));
	ck_assert_uint_eq(held.inst[0].submitted, 5);

	ck_assert_uint_eq(held_release(0, NR), 4);
	ck_assert_uint_eq(blk_queue_reap(q, done, NR), 4);
	ck_assert_uint_eq(blk_queue_inflight(q), 0);
	for (int i = 0; i < NR; i++)
		if (i != BIG)
			ck_assert_int_eq(r[i].result, (int64_t)len[i]);
	blk_queue_destroy(q);
	free(raw);
}
END_TEST

static void note_released(void *opaque)
{
	__atomic_store_n((bool *)opaque, true, __ATOMIC_RELEASE);
}

/*
 * A queue whose requests never finish is handed to a reaper: the caller
 * goes on at once, its disk closed; when the requests do finish, the
 * reaper destroys the queue, calls back and frees the disk (ASan and LSan
 * watch). A bounced read is not copied back, a request waiting for bounce
 * memory never reaches the engine.
 */
START_TEST(abandon_hands_requests_to_a_reaper)
{
	struct fixture f;
	GError *err = NULL;
	uint8_t *raw = aligned(BLK_BOUNCE_MAX + 8192), *odd = raw + 8;
	struct blk_req r[3];
	struct iovec iov[3];
	bool released = false;
	int ms;

	make_image("/tmp", f.path, sizeof(f.path), DISK_SIZE);
	ck_assert_int_eq(truncate(f.path, 2 * BLK_BOUNCE_MAX), 0);
	memset(&f.cfg, 0, sizeof(f.cfg));
	f.cfg.path = g_strdup(f.path);
	f.cfg.spec = g_strdup_printf("path=%s,cache=none", f.path);
	f.cfg.cache = BLK_CACHE_NONE;
	f.disk = blk_disk_open(&f.cfg, &err);
	ck_assert_msg(f.disk, "open: %s", err ? err->message : "?");
	f.disk->ops = &held_ops;
	f.q = blk_queue_create(f.disk, 8, &err);
	ck_assert_ptr_nonnull(f.q);

	memset(raw, 0x5a, BLK_BOUNCE_MAX + 8192);
	submit_read(f.q, &r[0], &iov[0], odd, 0, 4096);
	submit_read(f.q, &r[1], &iov[1], raw + 4096, 4096, 4096);
	/* More than the cap holds with r[0]'s 4 KiB: waits. */
	submit_read(f.q, &r[2], &iov[2], odd, 0, BLK_BOUNCE_MAX);
	ck_assert_int_eq(blk_queue_kick(f.q), 0);
	ck_assert_uint_eq(held_count(0), 2);

	blk_queue_abandon(f.q, note_released, &released);
	blk_disk_close(f.disk);
	usleep(50 * 1000);
	ck_assert(!__atomic_load_n(&released, __ATOMIC_ACQUIRE));
	ck_assert(!__atomic_load_n(&held.inst[0].destroyed, __ATOMIC_ACQUIRE));

	ck_assert_uint_eq(held_release(0, 2), 2);
	for (ms = 0; ms < 5000; ms++) {
		if (__atomic_load_n(&released, __ATOMIC_ACQUIRE))
			break;
		usleep(1000);
	}
	ck_assert_msg(ms < 5000, "the reaper did not finish");
	ck_assert(__atomic_load_n(&held.inst[0].destroyed, __ATOMIC_ACQUIRE));
	ck_assert_uint_eq(held.inst[0].submitted, 2);
	ck_assert_int_eq(r[2].result, -ECANCELED);
	/* The device was reset: guest memory is not written any more. */
	expect_fill(odd, 0x5a, 4096);
	free(raw);
	unlink(f.path);
	disk_config_clear(&f.cfg);
}
END_TEST

/*
 * The kernel refuses io_uring submissions for a while (-EAGAIN, -EBUSY:
 * "come back after reaping"). With nothing in flight no completion would
 * wake the I/O thread, so the engine wakes it itself, but only after a
 * growing pause: a thread that waits and reaps as the I/O thread does
 * makes a few dozen attempts in 200 ms, not tens of thousands. Once the
 * kernel accepts again, the request completes.
 */
START_TEST(uring_refusal_backs_off)
{
	static const int errs[] = { -EAGAIN, -EBUSY };
	struct fixture f;
	uint8_t *buf = aligned(4096);
	struct blk_req r, *done[1];
	struct iovec iov;
	uint64_t start;
	unsigned int got = 0;

	fixture_open(&f, 0, false, 4);
	uring_fault.error = errs[_i];
	uring_fault.calls = 0;
	submit_read(f.q, &r, &iov, buf, 8192, 4096);
	ck_assert_int_eq(blk_queue_kick(f.q), 0);
	start = g_get_monotonic_time();
	while (g_get_monotonic_time() - start < 200 * 1000) {
		ck_assert_uint_eq(blk_queue_reap(f.q, done, 1), 0);
		(void)!blk_queue_wait(f.q, 10);
	}
	ck_assert_uint_ge(uring_fault.calls, 3);
	ck_assert_msg(uring_fault.calls < 100, "%u submission attempts in 200 ms",
		      uring_fault.calls);

	uring_fault.error = 0;
	for (int i = 0; i < 500 && !got; i++) {
		got = blk_queue_reap(f.q, done, 1);
		if (!got)
			(void)!blk_queue_wait(f.q, 10);
	}
	ck_assert_uint_eq(got, 1);
	ck_assert_int_eq(r.result, 4096);
	expect_pattern(buf, 8192, 4096);
	fixture_close(&f);
	free(buf);
}
END_TEST

/* Any other refusal is the engine failing: it stays failed, kicks say so. */
START_TEST(uring_failure_sticks)
{
	struct fixture f;
	uint8_t *buf = aligned(4096);
	struct blk_req r, *done[1];
	struct iovec iov;

	fixture_open(&f, 0, false, 4);
	uring_fault.error = -EIO;
	uring_fault.calls = 0;
	submit_read(f.q, &r, &iov, buf, 0, 4096);
	ck_assert_int_eq(blk_queue_kick(f.q), -EIO);
	ck_assert_int_eq(blk_queue_kick(f.q), -EIO);
	ck_assert_uint_eq(blk_queue_reap(f.q, done, 1), 0);
	uring_fault.error = 0;
	ck_assert_int_eq(blk_queue_kick(f.q), -EIO);
	ck_assert_uint_eq(uring_fault.calls, 1);
	/* Destroying it does not wait for what never reached the kernel. */
	fixture_close(&f);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("block");
	TCase *tc = tcase_create("engines");

	tcase_add_loop_test(tc, read_write_roundtrip, 0, NR_COMBOS);
	tcase_add_loop_test(tc, discard_and_write_zeroes, 0, NR_COMBOS);
	tcase_add_loop_test(tc, beyond_the_end, 0, NR_COMBOS);
	tcase_add_loop_test(tc, read_only, 0, NR_COMBOS);
	tcase_add_loop_test(tc, many_in_flight, 0, NR_COMBOS);
	tcase_add_loop_test(tc, error_results, 0, NR_COMBOS);
	tcase_add_loop_test(tc, direct_alignment, 0, NR_COMBOS);
	tcase_add_loop_test(tc, destroy_drains, 0, NR_COMBOS);
	suite_add_tcase(s, tc);
	UNIT_TCASE(s, "disk", open_errors, tmpfs_refuses_direct, disk_properties);
	UNIT_TCASE(s, "lock", lock_one_writer, lock_readers_share,
		   lock_qemu_compatible);
	tc = tcase_create("layer");
	tcase_add_loop_test(tc, short_transfers, 0, 2);
	tcase_add_test(tc, bounce_memory_capped);
	tcase_add_test(tc, abandon_hands_requests_to_a_reaper);
	tcase_add_loop_test(tc, uring_refusal_backs_off, 0, 2);
	tcase_add_test(tc, uring_failure_sticks);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
