// SPDX-License-Identifier: MIT
/*
 * Snapshots: `migrate file:PATH` and `--incoming file:PATH`. The file is
 * the migration stream with the RAM laid out as an image, so a restore can
 * map it instead of reading it:
 *
 *   preamble HELLO(snapshot) RAM_IMAGE            at 0
 *   region 0's RAM, region 1's RAM ...            each at a 2 MiB aligned
 *                                                 offset RAM_IMAGE names;
 *                                                 zero pages are holes
 *   RAM_SUMS STATE END                            after the last region
 *
 * RAM_SUMS holds one checksum per MiB of RAM. A restore checks every frame
 * and every MiB (a MiB that is all hole is checked without reading) before
 * it changes anything, then maps each anonymous region MAP_PRIVATE from
 * the file (copy-on-write: the file never changes) or, for shared memory,
 * copies it in the kernel; then loads the state. The file is written under
 * a temporary name and renamed into place when complete, so a VM mapping
 * an older snapshot at that path keeps its RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/le.h"
#include "tern/state.h"
#include "tern/vm.h"
#include "internal.h"

/* Where each region's image starts, and where the tail starts. */
static uint64_t snap_layout(const struct guest_memory *mem, uint64_t *offsets)
{
	uint64_t at = MIG_IMAGE_ALIGN;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		offsets[i] = at;
		at += ALIGN_UP(mem->regions[i].size, MIG_IMAGE_ALIGN);
	}
	return at;
}

static uint64_t snap_chunks(const struct guest_memory *mem)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < mem->nr_regions; i++)
		n += (mem->regions[i].size + MIG_IMAGE_CHUNK - 1) / MIG_IMAGE_CHUNK;
	return n;
}

static int snap_write_frame(int fd, uint32_t type, const void *buf, size_t len)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	int ret;

	mig_header_put(hdr, type, buf, (uint32_t)len);
	ret = write_full(fd, hdr, sizeof(hdr));
	return ret ? ret : write_full(fd, buf, len);
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t acc = 0;

	for (unsigned int i = 0; i < GUEST_PAGE_SIZE / 8; i++)
		acc |= q[i];
	return !acc;
}

/* One region: the non-zero pages at their place, a sum per chunk. */
static int snap_write_region(int fd, const struct guest_region *r, uint64_t off,
			     uint8_t *sums, uint64_t *bytes)
{
	for (uint64_t c = 0; c < r->size; c += MIG_IMAGE_CHUNK) {
		uint64_t len = MIN(MIG_IMAGE_CHUNK, r->size - c);

		le32_put(sums, mig_sum(r->hva + c, len));
		sums += 4;
		for (uint64_t p = c; p < c + len;) {
			uint64_t q = p;
			ssize_t n;

			while (q < c + len && !page_is_zero(r->hva + q))
				q += GUEST_PAGE_SIZE;
			for (uint64_t w = p; w < q; w += (uint64_t)n) {
				n = pwrite(fd, r->hva + w, q - w, (off_t)(off + w));
				if (n < 0 && errno == EINTR)
					n = 0;
				else if (n <= 0)
					return n < 0 ? -errno : -EIO;
			}
			*bytes += q - p;
			p = q == p ? p + GUEST_PAGE_SIZE : q;
		}
	}
	return 0;
}

/*
 * On the main thread: the migration thread's filter opens no path and
 * renames nothing, so the file is made and put in place from here.
 */
void mig_snapshot_main_create(struct migration *m, void *arg)
{
	struct mig_snap_file *f = arg;

	f->tmp = g_strdup_printf("%s.tmp-%d", f->path, (int)getpid());
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY,
		     0600);
	if (f->fd < 0)
		g_set_error(&f->err, TERN_ERROR, TERN_ERROR_INPUT, "%s: %s",
			    f->tmp, g_strerror(errno));
}

void mig_snapshot_main_commit(struct migration *m, void *arg)
{
	struct mig_snap_file *f = arg;

	if (f->ok && rename(f->tmp, f->path) < 0) {
		g_set_error(&f->err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s",
			    f->path, g_strerror(errno));
		f->ok = false;
	}
	if (!f->ok)
		unlink(f->tmp);
}

bool mig_snapshot_write(struct vm *vm, int fd, const uint8_t *state,
			size_t state_len, uint64_t *bytes, GError **err)
{
	uint8_t pre[MIG_PREAMBLE_SIZE];
	uint64_t offsets[GUEST_MEM_MAX_REGIONS], tail;
	g_autofree uint8_t *hello = NULL, *image = NULL, *sums = NULL;
	struct mig_hello h;
	size_t hello_len, image_len;
	int ret;

	tail = snap_layout(&vm->mem, offsets);
	mig_hello_from_vm(vm, 0, MIG_HELLO_SNAPSHOT, &h);
	hello = mig_hello_encode(&h, &hello_len);
	mig_hello_clear(&h);
	image_len = 4 + 24 * vm->mem.nr_regions;
	image = g_malloc0(image_len);
	le32_put(image, vm->mem.nr_regions);
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		le64_put(image + 4 + 24 * i, vm->mem.regions[i].gpa);
		le64_put(image + 12 + 24 * i, vm->mem.regions[i].size);
		le64_put(image + 20 + 24 * i, offsets[i]);
	}
	sums = g_malloc0(4 * snap_chunks(&vm->mem));
	mig_preamble_put(pre);
	*bytes = 0;
	ret = write_full(fd, pre, sizeof(pre));
	if (!ret)
		ret = snap_write_frame(fd, MIG_FRAME_HELLO, hello, hello_len);
	if (!ret)
		ret = snap_write_frame(fd, MIG_FRAME_RAM_IMAGE, image, image_len);
	/* Sparse: pages never written stay holes, and read as zero. */
	if (!ret && ftruncate(fd, (off_t)tail) < 0)
		ret = -errno;
	for (unsigned int i = 0, s = 0; !ret && i < vm->mem.nr_regions; i++) {
		ret = snap_write_region(fd, &vm->mem.regions[i], offsets[i],
					sums + 4 * s, bytes);
		s += (unsigned int)((vm->mem.regions[i].size + MIG_IMAGE_CHUNK - 1) /
				    MIG_IMAGE_CHUNK);
	}
	if (!ret && lseek(fd, (off_t)tail, SEEK_SET) < 0)
		ret = -errno;
	if (!ret)
		ret = snap_write_frame(fd, MIG_FRAME_RAM_SUMS, sums,
				       4 * snap_chunks(&vm->mem));
	if (!ret)
		ret = snap_write_frame(fd, MIG_FRAME_STATE, state, state_len);
	if (!ret)
		ret = snap_write_frame(fd, MIG_FRAME_END, NULL, 0);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "snapshot: %s",
			    g_strerror(-ret));
		return false;
	}
	*bytes += MIG_PREAMBLE_SIZE + 5 * MIG_FRAME_HEADER_SIZE + hello_len +
		  image_len + 4 * snap_chunks(&vm->mem) + state_len;
	return true;
}

/* The frame of type at *pos: checked, its payload in a new buffer. */
static uint8_t *snap_read_frame(int fd, uint64_t *pos, uint32_t type,
				uint32_t *len, GError **err)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	struct mig_frame_header h;
	g_autofree uint8_t *buf = NULL;

	if (pread(fd, hdr, sizeof(hdr), (off_t)*pos) != sizeof(hdr)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "truncated: no %s frame at byte %llu",
			    mig_frame_name(type), (unsigned long long)*pos);
		return NULL;
	}
	if (!mig_header_parse(hdr, &h, err))
		return NULL;
	if (h.type != type) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a %s frame where %s was expected",
			    mig_frame_name(h.type), mig_frame_name(type));
		return NULL;
	}
	buf = g_malloc(MAX(h.len, 1u));
	if (h.len && pread(fd, buf, h.len, (off_t)(*pos + sizeof(hdr))) != (ssize_t)h.len) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "truncated: the %s frame is cut short",
			    mig_frame_name(type));
		return NULL;
	}
	if (mig_sum(buf, h.len) != h.sum) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the %s frame's checksum does not match (corrupted file)",
			    mig_frame_name(type));
		return NULL;
	}
	*pos += sizeof(hdr) + h.len;
	*len = h.len;
	return g_steal_pointer(&buf);
}

/* The head: preamble, HELLO for this machine, the RAM image where we put it. */
static bool snap_check_head(struct vm *vm, int fd, const uint64_t *offsets,
			    GError **err)
{
	uint8_t pre[MIG_PREAMBLE_SIZE];
	g_autofree uint8_t *hello = NULL, *image = NULL;
	struct mig_hello want, got;
	uint64_t pos = MIG_PREAMBLE_SIZE;
	uint32_t len;
	bool ok;

	if (pread(fd, pre, sizeof(pre), 0) != sizeof(pre)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "too short for a snapshot");
		return false;
	}
	if (!mig_preamble_check(pre, err))
		return false;
	hello = snap_read_frame(fd, &pos, MIG_FRAME_HELLO, &len, err);
	if (!hello || !mig_hello_decode(hello, len, &got, err))
		return false;
	mig_hello_from_vm(vm, 0, MIG_HELLO_SNAPSHOT, &want);
	ok = mig_hello_match(&want, &got, err);
	if (ok && !(got.flags & MIG_HELLO_SNAPSHOT)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a migration stream, not a snapshot");
		ok = false;
	}
	mig_hello_clear(&want);
	mig_hello_clear(&got);
	if (!ok)
		return false;
	image = snap_read_frame(fd, &pos, MIG_FRAME_RAM_IMAGE, &len, err);
	if (!image)
		return false;
	ok = len == 4 + 24 * vm->mem.nr_regions &&
	     le32_get(image) == vm->mem.nr_regions;
	for (unsigned int i = 0; ok && i < vm->mem.nr_regions; i++)
		ok = le64_get(image + 4 + 24 * i) == vm->mem.regions[i].gpa &&
		     le64_get(image + 12 + 24 * i) == vm->mem.regions[i].size &&
		     le64_get(image + 20 + 24 * i) == offsets[i];
	if (!ok)
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the RAM image's layout is not this machine's");
	return ok;
}

/* Put the image in place: mapped where the RAM is private, else copied. */
static int snap_map_ram(struct vm *vm, int fd, const uint64_t *offsets)
{
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		struct guest_region *r = &vm->mem.regions[i];
		loff_t in = (loff_t)offsets[i], out = (loff_t)r->fd_offset;
		uint64_t left = r->size;

		if (r->fd < 0) {
			/* Same address: KVM's slot follows the new pages. */
			if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_FIXED, fd, (off_t)offsets[i]) ==
			    MAP_FAILED)
				return -errno;
			(void)madvise(r->hva, r->size, MADV_DONTFORK);
			continue;
		}
		while (left) {
			ssize_t n = copy_file_range(fd, &in, r->fd, &out, left, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			left -= (uint64_t)n;
		}
	}
	return 0;
}

/*
 * Every MiB of the RAM now in place against its sum, read where it lies
 * (no copy): a MiB that is all hole in the file is zero and needs no
 * reading, the others are faulted in at once (the guest will not fault on
 * them again).
 */
static bool snap_check_ram(struct vm *vm, int fd, const uint64_t *offsets,
			   const uint8_t *sums, GError **err)
{
	g_autofree uint8_t *zero = g_malloc0(MIG_IMAGE_CHUNK);
	uint32_t zero_sum = mig_sum(zero, MIG_IMAGE_CHUNK);
	uint64_t n = 0;

	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];

		for (uint64_t c = 0; c < r->size; c += MIG_IMAGE_CHUNK, n++) {
			uint64_t len = MIN(MIG_IMAGE_CHUNK, r->size - c);
			off_t at = (off_t)(offsets[i] + c);
			off_t data = lseek(fd, at, SEEK_DATA);
			uint32_t sum;

			if (data < 0 || (uint64_t)data >= (uint64_t)at + len) {
				sum = len == MIG_IMAGE_CHUNK ? zero_sum : mig_sum(zero, len);
			} else {
				(void)madvise(r->hva + c, len, MADV_POPULATE_READ);
				sum = mig_sum(r->hva + c, len);
			}
			if (sum != le32_get(sums + 4 * n)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "RAM at 0x%llx does not match its checksum (corrupted file)",
					    (unsigned long long)(r->gpa + c));
				return false;
			}
		}
	}
	return true;
}

bool mig_snapshot_load(struct vm *vm, const char *path, GError **err)
{
	uint64_t offsets[GUEST_MEM_MAX_REGIONS], tail, pos;
	g_autofree uint8_t *sums = NULL, *state = NULL, *end = NULL;
	uint32_t sums_len = 0, state_len = 0, end_len;
	struct state_reader r;
	struct stat st;
	bool ok = false;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s: %s", path,
			    fd < 0 ? g_strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return false;
	}
	pos = tail = snap_layout(&vm->mem, offsets);
	if (!snap_check_head(vm, fd, offsets, err))
		goto out;
	sums = snap_read_frame(fd, &pos, MIG_FRAME_RAM_SUMS, &sums_len, err);
	if (sums)
		state = snap_read_frame(fd, &pos, MIG_FRAME_STATE, &state_len, err);
	if (state)
		end = snap_read_frame(fd, &pos, MIG_FRAME_END, &end_len, err);
	if (!end)
		goto out;
	if (sums_len != 4 * snap_chunks(&vm->mem) || pos != (uint64_t)st.st_size) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "its size does not match this machine's snapshot");
		goto out;
	}
	if (!state_reader_init(&r, state, state_len, err))
		goto out;
	/*
	 * The RAM goes in place before its check, which reads it there: a
	 * failed check fails the restore, and the guest never runs.
	 */
	ret = snap_map_ram(vm, fd, offsets);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot map the RAM image: %s", g_strerror(-ret));
		state_reader_clear(&r);
		goto out;
	}
	ok = snap_check_ram(vm, fd, offsets, sums, err) &&
	     vm_state_load(vm, &r, err);
	state_reader_clear(&r);
out:
	close(fd);
	if (!ok)
		g_prefix_error(err, "%s: ", path);
	return ok;
}
