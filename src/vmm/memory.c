// SPDX-License-Identifier: MIT
/*
 * Guest RAM. Below 4 GiB the RAM stops at the 32-bit hole; the rest goes
 * above 4 GiB. Each region is one mapping and one KVM slot: anonymous
 * memory by default, or slices of one memfd that another process (a
 * vhost-user back-end) can map too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/dirty.h"
#include "tern/layout.h"
#include "tern/memory.h"

/* The name /proc/PID/maps and /proc/PID/fd show: "/memfd:tern-ram". */
#define GUEST_MEMFD_NAME "tern-ram"

int guest_memory_layout(uint64_t ram_size, struct guest_memory *mem)
{
	uint64_t low;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->vm_fd = -1;
	if (!ram_size || ram_size & (GUEST_PAGE_SIZE - 1))
		return -EINVAL;
	/* 47 bits of host virtual space is the real ceiling; stay well below. */
	if (ram_size > (1ULL << 46))
		return -ERANGE;

	low = ram_size < LAYOUT_MMIO32_START ? ram_size : LAYOUT_MMIO32_START;
	mem->regions[0] = (struct guest_region){
		.gpa = 0, .size = low, .slot = 0, .fd = -1, .fd_offset = 0,
	};
	mem->nr_regions = 1;
	mem->end = low;
	if (ram_size > low) {
		/*
		 * The high region follows the low one in the memfd: 3 GiB is
		 * a multiple of every x86 huge page size, so both slices stay
		 * huge page aligned.
		 */
		mem->regions[1] = (struct guest_region){
			.gpa = LAYOUT_RAM_ABOVE_4G,
			.size = ram_size - low,
			.slot = 1,
			.fd = -1,
			.fd_offset = low,
		};
		mem->nr_regions = 2;
		mem->end = LAYOUT_RAM_ABOVE_4G + ram_size - low;
	}
	mem->ram_size = ram_size;
	mem->page_size = GUEST_PAGE_SIZE;
	return 0;
}

/*
 * One memfd for all of RAM, regions at offsets (as QEMU's memory backends
 * do), rather than one per region: the vhost-user protocol carries an fd
 * and an mmap offset per region either way, one fd is one descriptor to
 * pass, to seal and to keep, and the file is the whole RAM in order for a
 * later snapshot to write out.
 */
static int guest_memory_open_memfd(struct guest_memory *mem, bool hugepages)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	struct stat st;
	int fd;

	if (hugepages)
		flags |= MFD_HUGETLB;
	fd = memfd_create(GUEST_MEMFD_NAME, flags);
	if (fd < 0)
		return -errno;
	mem->fd = fd;
	/* hugetlbfs reports its page size as the block size. */
	if (fstat(fd, &st) < 0)
		return -errno;
	if (hugepages) {
		mem->page_size = st.st_blksize;
		if (!mem->page_size || mem->ram_size % mem->page_size)
			return -EINVAL;
	}
	if (ftruncate(fd, mem->ram_size) < 0)
		return -errno;
	/*
	 * A back-end holding the fd must not shrink the file under KVM's and
	 * our mappings (access beyond the end is SIGBUS) nor grow it behind
	 * our back, and F_SEAL_SEAL stops it adding seals of its own.
	 */
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	return 0;
}

static int guest_memory_map_region(struct guest_memory *mem,
				   struct guest_region *r, bool hugepages)
{
	void *p;

	if (mem->fd >= 0) {
		/*
		 * No MAP_NORESERVE: on hugetlbfs the reservation made here is
		 * what turns "no free huge pages" into ENOMEM now instead of
		 * SIGBUS at the guest's first touch. (shmem accounts per file
		 * and memfds are not accounted, so it changes nothing there.)
		 */
		p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 mem->fd, r->fd_offset);
		r->fd = mem->fd;
	} else {
		p = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (p == MAP_FAILED)
		return -errno;
	r->hva = p;
	/* Fewer TLB misses for the guest; failure is harmless. */
	if (!hugepages)
		(void)madvise(p, r->size, MADV_HUGEPAGE);
	/* A fork (the teardown reaper) must not copy guest page tables. */
	(void)madvise(p, r->size, MADV_DONTFORK);
	return 0;
}

int guest_memory_init_config(struct guest_memory *mem,
			     const struct guest_memory_config *cfg)
{
	bool shared = cfg->shared || cfg->hugepages;
	int ret = guest_memory_layout(cfg->size, mem);

	if (ret)
		return ret;
	if (shared) {
		ret = guest_memory_open_memfd(mem, cfg->hugepages);
		if (ret)
			goto err;
	}
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		ret = guest_memory_map_region(mem, &mem->regions[i],
					      cfg->hugepages);
		if (ret)
			goto err;
	}
	return 0;
err:
	guest_memory_destroy(mem);
	return ret;
}

int guest_memory_init(struct guest_memory *mem, uint64_t ram_size)
{
	const struct guest_memory_config cfg = { .size = ram_size };

	return guest_memory_init_config(mem, &cfg);
}

void guest_memory_destroy(struct guest_memory *mem)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		struct guest_region *r = &mem->regions[i];

		if (r->hva)
			munmap(r->hva, r->size);
		r->hva = NULL;
		r->fd = -1;
	}
	guest_memory_dirty_cleanup(mem);
	if (mem->fd >= 0)
		close(mem->fd);
	mem->fd = -1;
	mem->nr_regions = 0;
}

/* One "Key: value" number from a /proc or /sys file; 0 or -errno. */
static int read_number(const char *path, const char *key, uint64_t *out)
{
	char line[256];
	FILE *f = fopen(path, "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		size_t n = key ? strlen(key) : 0;

		if (key && strncmp(line, key, n))
			continue;
		if (sscanf(line + n, " %llu", &v) == 1) {
			*out = v;
			ret = 0;
		}
		break;
	}
	fclose(f);
	return ret;
}

int guest_memory_hugepages_free(uint64_t *page_size, uint64_t *free)
{
	uint64_t kb, nfree, resv;
	char path[128];
	int ret;

	ret = read_number("/proc/meminfo", "Hugepagesize:", &kb);
	if (ret)
		return ret;
	*page_size = kb * KiB;
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
		 (unsigned long long)kb);
	ret = read_number(path, NULL, &nfree);
	if (ret)
		return ret;
	/* Free pages already promised to other mappings are not ours. */
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/resv_hugepages",
		 (unsigned long long)kb);
	if (read_number(path, NULL, &resv))
		resv = 0;
	*free = nfree > resv ? nfree - resv : 0;
	return 0;
}

static const struct guest_region *region_find(const struct guest_memory *mem,
					      uint64_t gpa, uint64_t len)
{
	/* len 0 still needs gpa inside a region. */
	uint64_t span = len ? len : 1;

	if (gpa + span < gpa)
		return NULL;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];

		/* Written to avoid overflow: gpa - r->gpa only once gpa >= r->gpa. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    span <= r->size - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa,
		       uint64_t len)
{
	const struct guest_region *r = region_find(mem, gpa, len);

	if (!r || !r->hva)
		return NULL;
	return r->hva + (gpa - r->gpa);
}

bool guest_memory_contains(const struct guest_memory *mem, uint64_t gpa,
			   uint64_t len)
{
	return region_find(mem, gpa, len) != NULL;
}

int guest_memory_write(const struct guest_memory *mem, uint64_t gpa,
		       const void *src, uint64_t len)
{
	void *p = guest_memory_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	/* After the copy: a sync that sees the mark also sees the bytes. */
	guest_memory_mark_dirty(mem, gpa, len);
	return 0;
}

int guest_memory_read(const struct guest_memory *mem, uint64_t gpa, void *dst,
		      uint64_t len)
{
	const void *p = guest_memory_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int guest_memory_gpa(const struct guest_memory *mem, const void *hva,
		     uint64_t len, uint64_t *gpa)
{
	const uint8_t *p = hva;
	uint64_t span = len ? len : 1;

	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t off;

		/* Compared as addresses, never formed past the mapping. */
		if (!r->hva || (uintptr_t)p < (uintptr_t)r->hva)
			continue;
		off = (uintptr_t)p - (uintptr_t)r->hva;
		if (off < r->size && span <= r->size - off) {
			*gpa = r->gpa + off;
			return 0;
		}
	}
	return -EFAULT;
}

int guest_memory_discard(const struct guest_memory *mem, uint64_t gpa,
			 uint64_t len)
{
	const struct guest_region *r;
	uint64_t off;

	if (!len || (gpa | len) & (mem->page_size - 1))
		return -EINVAL;
	r = region_find(mem, gpa, len);
	if (!r || !r->hva)
		return -EFAULT;
	off = gpa - r->gpa;
	if (r->fd >= 0) {
		/*
		 * MADV_DONTNEED would only drop this mapping's view of a
		 * shared page; the file keeps it. KEEP_SIZE: the memfd is
		 * sealed against changes of size anyway.
		 */
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(r->fd_offset + off), (off_t)len) < 0)
			return -errno;
	} else if (madvise(r->hva + off, len, MADV_DONTNEED) < 0) {
		return -errno;
	}
	/* After the discard: a sync that sees the mark sees the zeros. */
	guest_memory_mark_dirty(mem, gpa, len);
	return 0;
}
