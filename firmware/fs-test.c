// SPDX-License-Identifier: MIT
/*
 * fs-test: virtio-fs (virtio 1.2, 5.11) with a small FUSE client. The
 * device's config must carry the tag given as tag=; then, on the first
 * request queue: FUSE_INIT, LOOKUP of the file FS_FILE in the shared
 * directory's root, GETATTR, OPEN, READs of the whole file, RELEASE, and
 * LOOKUP, OPENDIR, READDIR (until an empty answer), RELEASEDIR of FS_DIR.
 * The file's bytes are fs_pattern(i), which the test wrote: every byte is
 * checked, and its length and FNV-1a 64 hash are printed for the host to
 * compare too. Each directory entry but "." and ".." is printed on a line
 * of its own, for the host to compare with the directory it made.
 *
 * With wait=1 the guest then looks FS_FLAG up every 100 ms until it
 * exists (the host creates it after restarting the back-end): a request
 * answered with EIO means a new back-end that never saw FUSE_INIT, so the
 * guest sends a new one and goes on. It then reads the file and the
 * listing again.
 *
 * The PCI class must be mass storage, other (as QEMU's). The hiprio
 * queue is not used. All FUSE traffic runs in ring 3.
 *
 * Command line: tag=TAG size=BYTES [wait=1].
 */
#include "guest/cmdline.h"
#include "guest/dma.h"
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/virtio.h"

#define VIRTIO_ID_FS 26
#define FS_TAG_MAX 36
/* Config space: tag[36], then le32 num_request_queues. */
#define FS_CFG_NUM_QUEUES 36
/* PCI class code: mass storage, other (QEMU's vhost-user-fs-pci). */
#define FS_PCI_CLASS 0x018000

#define FS_FILE "fs-test.dat"
#define FS_DIR "listing"
#define FS_FLAG "phase2"
#define FS_ROOT 1 /* FUSE_ROOT_ID */
#define FS_CHUNK (32 * 1024)
#define FS_REQ_TIMEOUT_NS 10000000000ull
#define FS_WAIT_TIMEOUT_NS 60000000000ull

/* FUSE opcodes (linux/fuse.h, protocol 7.31). */
#define FUSE_LOOKUP 1
#define FUSE_GETATTR 3
#define FUSE_OPEN 14
#define FUSE_READ 15
#define FUSE_RELEASE 18
#define FUSE_INIT 26
#define FUSE_OPENDIR 27
#define FUSE_READDIR 28
#define FUSE_RELEASEDIR 29

#define FS_EIO 5
#define FS_ENOENT 2
#define FS_S_IFMT 0170000
#define FS_S_IFREG 0100000
#define FS_S_IFDIR 0040000

struct fuse_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid, padding;
};

struct fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct fuse_attr {
	uint64_t ino, size, blocks, atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev;
	uint32_t blksize, flags;
};

struct fuse_entry_out {
	uint64_t nodeid, generation, entry_valid, attr_valid;
	uint32_t entry_valid_nsec, attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec, dummy;
	struct fuse_attr attr;
};

/* Up to and including flags: what a 7.31 client sends. */
struct fuse_init_in {
	uint32_t major, minor, max_readahead, flags;
};

struct fuse_getattr_in {
	uint32_t getattr_flags, dummy;
	uint64_t fh;
};

struct fuse_open_in {
	uint32_t flags, open_flags;
};

struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags, padding;
};

struct fuse_read_in {
	uint64_t fh, offset;
	uint32_t size, read_flags;
	uint64_t lock_owner;
	uint32_t flags, padding;
};

struct fuse_release_in {
	uint64_t fh;
	uint32_t flags, release_flags;
	uint64_t lock_owner;
};

struct fuse_dirent {
	uint64_t ino, off;
	uint32_t namelen, type;
	char name[];
};

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct fuse_entry_out) == 128, "fuse_entry_out");
_Static_assert(sizeof(struct fuse_attr_out) == 104, "fuse_attr_out");
_Static_assert(sizeof(struct fuse_read_in) == 40, "fuse_read_in");

static struct virtio_pci vp;
static struct virtq vq;
/* One request at a time: its device-readable and device-writable halves. */
static uint8_t *req_in, *req_out;
static uint64_t unique;

/* The file's content, as the test wrote it (vhost-user-fs.sh). */
static inline uint8_t fs_pattern(uint64_t i)
{
	return (uint8_t)(i + (i >> 8) * 31 + (i >> 16) * 101);
}

/*
 * One FUSE request: header and arg (arg_len bytes), answered into req_out
 * with room for out_max bytes after the header. Returns the answer's
 * payload length, or -errno as the back-end said.
 */
static long fs_call(uint32_t opcode, uint64_t nodeid, const void *arg,
		    uint32_t arg_len, const char *name, uint32_t out_max)
{
	struct fuse_in_header *h = (struct fuse_in_header *)req_in;
	struct fuse_out_header *o = (struct fuse_out_header *)req_out;
	uint32_t name_len = name ? strlen(name) + 1 : 0;
	uint32_t in_len = sizeof(*h) + arg_len + name_len;
	uint32_t out_len = sizeof(*o) + out_max;
	struct virtq_sg sg[2] = {
	    {dma_addr(req_in), in_len, false},
	    {dma_addr(req_out), out_len, true},
	};
	uint64_t deadline = clock_ns() + FS_REQ_TIMEOUT_NS;
	uint32_t n;
	void *cookie;

	memset(h, 0, sizeof(*h));
	h->len = in_len;
	h->opcode = opcode;
	h->unique = ++unique;
	h->nodeid = nodeid;
	if (arg_len)
		memcpy(req_in + sizeof(*h), arg, arg_len);
	if (name)
		memcpy(req_in + sizeof(*h) + arg_len, name, name_len);
	memset(o, 0xff, sizeof(*o));
	if (virtq_add(&vq, sg, 2, false, req_in) < 0)
		result_fail("fs: request queue full");
	virtq_kick(&vq);
	while ((cookie = virtq_get(&vq, &n)) == NULL) {
		if (clock_ns() > deadline)
			result_fail("fs: opcode %u: no answer in 10 s", opcode);
		cpu_relax();
	}
	if (cookie != req_in)
		result_fail("fs: the device completed a buffer it was not "
			    "given");
	if (n < sizeof(*o) || o->unique != h->unique || o->len != n ||
	    n > out_len)
		result_fail("fs: opcode %u: malformed answer (used %u, len %u, "
			    "unique %lu of %lu)",
			    opcode, n, o->len, (unsigned long)o->unique,
			    (unsigned long)h->unique);
	if (o->error > 0 || o->error < -4095)
		result_fail("fs: opcode %u: error field %d", opcode, o->error);
	if (o->error)
		return o->error;
	return n - sizeof(*o);
}

/* fs_call() that must succeed with at least min bytes; the payload. */
static void *fs_must(const char *what, uint32_t opcode, uint64_t nodeid,
		     const void *arg, uint32_t arg_len, const char *name,
		     uint32_t out_max, uint32_t min)
{
	long ret = fs_call(opcode, nodeid, arg, arg_len, name, out_max);

	if (ret < 0)
		result_fail("fs: %s: error %ld", what, -ret);
	if ((uint32_t)ret < min)
		result_fail("fs: %s: %ld bytes, expected %u", what, ret, min);
	return req_out + sizeof(struct fuse_out_header);
}

static void fs_init(void)
{
	struct fuse_init_in in = {.major = 7, .minor = 31};
	const uint32_t *out;

	out = fs_must("FUSE_INIT", FUSE_INIT, 0, &in, sizeof(in), NULL, 64, 8);
	if (out[0] != 7)
		result_fail("fs: FUSE_INIT: major %u", out[0]);
	con_printf("fs-test: FUSE_INIT: protocol 7.%u\n", out[1]);
}

static struct fuse_attr fs_lookup(uint64_t parent, const char *name,
				  uint64_t *nodeid)
{
	struct fuse_entry_out *e;

	e = fs_must("LOOKUP", FUSE_LOOKUP, parent, NULL, 0, name, sizeof(*e),
		    sizeof(*e));
	*nodeid = e->nodeid;
	return e->attr;
}

/* Every byte against the pattern; returns the FNV-1a 64 hash. */
static uint64_t fs_read_file(uint64_t size)
{
	struct fuse_attr attr;
	struct fuse_getattr_in ga = {0};
	struct fuse_attr_out *ao;
	struct fuse_open_in oi = {0}; /* O_RDONLY */
	struct fuse_open_out *oo;
	struct fuse_release_in rel = {0};
	uint64_t node, fh, off = 0, hash = 0xcbf29ce484222325ull;
	unsigned int reads = 0;

	attr = fs_lookup(FS_ROOT, FS_FILE, &node);
	if ((attr.mode & FS_S_IFMT) != FS_S_IFREG || attr.size != size)
		result_fail("fs: LOOKUP " FS_FILE ": mode %o size %lu, "
			    "expected a regular file of %lu bytes",
			    attr.mode, (unsigned long)attr.size,
			    (unsigned long)size);
	ao = fs_must("GETATTR", FUSE_GETATTR, node, &ga, sizeof(ga), NULL,
		     sizeof(*ao), sizeof(*ao));
	if (ao->attr.size != size || ao->attr.ino != attr.ino)
		result_fail("fs: GETATTR " FS_FILE ": size %lu ino %lu, LOOKUP "
			    "said %lu, %lu",
			    (unsigned long)ao->attr.size,
			    (unsigned long)ao->attr.ino, (unsigned long)size,
			    (unsigned long)attr.ino);
	oo = fs_must("OPEN", FUSE_OPEN, node, &oi, sizeof(oi), NULL,
		     sizeof(*oo), sizeof(*oo));
	fh = oo->fh;
	for (;;) {
		struct fuse_read_in rd = {
		    .fh = fh, .offset = off, .size = FS_CHUNK};
		const uint8_t *data;
		long n =
		    fs_call(FUSE_READ, node, &rd, sizeof(rd), NULL, FS_CHUNK);

		if (n < 0)
			result_fail("fs: READ at %lu: error %ld",
				    (unsigned long)off, -n);
		if (n == 0)
			break;
		data = req_out + sizeof(struct fuse_out_header);
		for (long i = 0; i < n; i++) {
			if (data[i] != fs_pattern(off + i))
				result_fail("fs: byte %lu is %#x, expected %#x",
					    (unsigned long)(off + i), data[i],
					    fs_pattern(off + i));
			hash = (hash ^ data[i]) * 0x100000001b3ull;
		}
		off += n;
		reads++;
		if (off > size)
			result_fail(
			    "fs: READ gave %lu bytes of a %lu-byte file",
			    (unsigned long)off, (unsigned long)size);
	}
	if (off != size)
		result_fail("fs: READ ended at %lu of %lu bytes",
			    (unsigned long)off, (unsigned long)size);
	rel.fh = fh;
	fs_must("RELEASE", FUSE_RELEASE, node, &rel, sizeof(rel), NULL, 0, 0);
	con_printf("fs-test: file " FS_FILE " %lu bytes in %u READs, "
		   "fnv1a64 %016lx\n",
		   (unsigned long)off, reads, (unsigned long)hash);
	return hash;
}

static unsigned int fs_read_dir(void)
{
	struct fuse_open_in oi = {0};
	struct fuse_open_out *oo;
	struct fuse_release_in rel = {0};
	struct fuse_attr attr;
	uint64_t node, fh, off = 0;
	unsigned int entries = 0, dots = 0;

	attr = fs_lookup(FS_ROOT, FS_DIR, &node);
	if ((attr.mode & FS_S_IFMT) != FS_S_IFDIR)
		result_fail("fs: " FS_DIR " is not a directory (mode %o)",
			    attr.mode);
	oo = fs_must("OPENDIR", FUSE_OPENDIR, node, &oi, sizeof(oi), NULL,
		     sizeof(*oo), sizeof(*oo));
	fh = oo->fh;
	for (;;) {
		struct fuse_read_in rd = {
		    .fh = fh, .offset = off, .size = 4096};
		const uint8_t *p;
		long n =
		    fs_call(FUSE_READDIR, node, &rd, sizeof(rd), NULL, 4096);
		long at = 0;

		if (n < 0)
			result_fail("fs: READDIR: error %ld", -n);
		if (n == 0)
			break;
		p = req_out + sizeof(struct fuse_out_header);
		while (at < n) {
			const struct fuse_dirent *d =
			    (const struct fuse_dirent *)(p + at);
			char name[256];
			uint32_t rec;

			if (n - at < (long)sizeof(*d) || d->namelen == 0 ||
			    d->namelen > 255 ||
			    (long)(sizeof(*d) + d->namelen) > n - at)
				result_fail("fs: READDIR: malformed entry at "
					    "%ld of %ld",
					    at, n);
			memcpy(name, d->name, d->namelen);
			name[d->namelen] = 0;
			if ((d->namelen == 1 && name[0] == '.') ||
			    (d->namelen == 2 && name[0] == '.' &&
			     name[1] == '.')) {
				dots++;
			} else {
				con_printf("fs-test: entry %s type %u\n", name,
					   d->type);
				entries++;
			}
			off = d->off;
			rec = (sizeof(*d) + d->namelen + 7) & ~7u;
			at += rec;
		}
	}
	rel.fh = fh;
	fs_must("RELEASEDIR", FUSE_RELEASEDIR, node, &rel, sizeof(rel), NULL, 0,
		0);
	con_printf("fs-test: listing " FS_DIR " %u entries (and %u of . and "
		   "..)\n",
		   entries, dots);
	return entries;
}

/* The back-end was restarted meanwhile: the flag file says it is back. */
static void fs_wait_flag(void)
{
	uint64_t deadline = clock_ns() + FS_WAIT_TIMEOUT_NS;
	unsigned int inits = 0;

	for (;;) {
		struct fuse_entry_out e;
		long ret =
		    fs_call(FUSE_LOOKUP, FS_ROOT, NULL, 0, FS_FLAG, sizeof(e));

		if (ret >= 0)
			break;
		if (ret == -FS_EIO) {
			/* A new back-end: its FUSE session starts afresh. */
			con_printf("fs-test: LOOKUP " FS_FLAG ": EIO, sending "
				   "FUSE_INIT again\n");
			fs_init();
			if (++inits > 5)
				result_fail("fs: EIO after 5 FUSE_INITs");
			continue;
		}
		if (ret != -FS_ENOENT)
			result_fail("fs: LOOKUP " FS_FLAG ": error %ld", -ret);
		if (clock_ns() > deadline)
			result_fail("fs: no " FS_FLAG " after 60 s");
		for (uint64_t t = clock_ns() + 100000000ull; clock_ns() < t;)
			cpu_relax();
	}
	con_printf("fs-test: " FS_FLAG " found\n");
}

static long fs_user(void *arg)
{
	uint64_t size = *(uint64_t *)arg;

	fs_init();
	fs_read_file(size);
	fs_read_dir();
	if (cmdline_is("wait", "1")) {
		con_printf("fs-test: phase 1 done, waiting for " FS_FLAG "\n");
		fs_wait_flag();
		fs_read_file(size);
		fs_read_dir();
	}
	return 0;
}

int guest_main(void)
{
	const char *why = "";
	char want_tag[FS_TAG_MAX + 1], tag[FS_TAG_MAX + 1];
	uint32_t queues, class;
	static uint64_t size;

	clock_init();
	if (!cmdline_get_str("tag", want_tag, sizeof(want_tag)))
		result_fail("fs-test: tag=TAG missing from the command line");
	size = cmdline_uint_or("size", 1ul << 30, 0);
	if (virtio_pci_open(&vp, VIRTIO_ID_FS, 0, &why) < 0)
		result_fail("virtio-fs: %s", why);
	class = pci_read32(&vp.pci, 0x08) >> 8;
	if (class != FS_PCI_CLASS)
		result_fail("virtio-fs: PCI class %06x, expected %06x", class,
			    FS_PCI_CLASS);
	if (virtio_pci_negotiate(&vp, VIRTIO_BIT(VIRTIO_F_VERSION_1)) < 0)
		result_fail("virtio-fs: feature negotiation failed");
	for (unsigned int i = 0; i < FS_TAG_MAX; i++)
		tag[i] = (char)virtio_cfg_read8(&vp, i);
	tag[FS_TAG_MAX] = 0;
	queues = virtio_cfg_read32(&vp, FS_CFG_NUM_QUEUES);
	con_printf("fs-test: tag '%s', %u request queue(s), %u queues\n", tag,
		   queues, vp.num_queues);
	if (strncmp(tag, want_tag, sizeof(tag)))
		result_fail("virtio-fs: tag '%s', expected '%s'", tag,
			    want_tag);
	if (queues < 1 || vp.num_queues < 1 + queues)
		result_fail("virtio-fs: %u request queues in %u queues", queues,
			    vp.num_queues);
	/* Queue 0 is hiprio; requests go to queue 1. */
	if (virtq_setup(&vq, &vp, 1, 0, VIRTIO_MSI_NO_VECTOR, &why) < 0)
		result_fail("virtio-fs: %s", why);
	virtio_pci_driver_ok(&vp);
	req_in = dma_alloc(4096, 4096);
	req_out = dma_alloc(FS_CHUNK + 4096, 4096);
	if (!req_in || !req_out)
		result_fail("out of memory");
	user_call(fs_user, &size);
	result_pass();
}
