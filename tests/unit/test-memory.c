// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/dirty.h"
#include "tern/layout.h"
#include "tern/memory.h"
#include "run-args.h"
#include "unit.h"

START_TEST(layout_small)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_layout(128 * MiB, &m), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
	ck_assert_uint_eq(m.regions[0].gpa, 0);
	ck_assert_uint_eq(m.regions[0].size, 128 * MiB);
	ck_assert_uint_eq(m.end, 128 * MiB);
	ck_assert_uint_eq(m.ram_size, 128 * MiB);
}
END_TEST

START_TEST(layout_split_around_hole)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_layout(4 * GiB, &m), 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	ck_assert_uint_eq(m.regions[0].size, LAYOUT_MMIO32_START);
	ck_assert_uint_eq(m.regions[1].gpa, LAYOUT_RAM_ABOVE_4G);
	ck_assert_uint_eq(m.regions[1].size, 4 * GiB - LAYOUT_MMIO32_START);
	ck_assert_uint_eq(m.end, LAYOUT_RAM_ABOVE_4G + 1 * GiB);
	ck_assert_uint_ne(m.regions[0].slot, m.regions[1].slot);
	/* Offsets in RAM order, which are the memfd offsets when shared. */
	ck_assert_uint_eq(m.regions[0].fd_offset, 0);
	ck_assert_uint_eq(m.regions[1].fd_offset, LAYOUT_MMIO32_START);
	ck_assert_int_eq(m.regions[0].fd, -1);
	ck_assert_int_eq(m.regions[1].fd, -1);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_int_eq(m.vm_fd, -1);
	/* Exactly the hole size: no high region. */
	ck_assert_int_eq(guest_memory_layout(LAYOUT_MMIO32_START, &m), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
}
END_TEST

START_TEST(layout_rejects)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_layout(0, &m), -EINVAL);
	ck_assert_int_eq(guest_memory_layout(4097, &m), -EINVAL);
	ck_assert_int_eq(guest_memory_layout(1ULL << 50, &m), -ERANGE);
}
END_TEST

START_TEST(translate_bounds)
{
	struct guest_memory m;
	uint8_t *base;

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	base = guest_memory_ptr(&m, 0, 1);
	ck_assert_ptr_nonnull(base);
	ck_assert_ptr_eq(guest_memory_ptr(&m, 0x1000, 16), base + 0x1000);
	ck_assert_ptr_eq(guest_memory_ptr(&m, 16 * MiB - 1, 1), base + 16 * MiB - 1);
	ck_assert_ptr_eq(guest_memory_ptr(&m, 0, 16 * MiB), base);
	/* The end of the range is checked, not only the start. */
	ck_assert_ptr_null(guest_memory_ptr(&m, 16 * MiB - 1, 2));
	ck_assert_ptr_null(guest_memory_ptr(&m, 16 * MiB, 1));
	ck_assert_ptr_null(guest_memory_ptr(&m, 0, 16 * MiB + 1));
	/* Wrapping ranges and absurd lengths. */
	ck_assert_ptr_null(guest_memory_ptr(&m, UINT64_MAX, 2));
	ck_assert_ptr_null(guest_memory_ptr(&m, 0x1000, UINT64_MAX));
	ck_assert_ptr_null(guest_memory_ptr(&m, UINT64_MAX - 0xfff, 0x2000));
	ck_assert(guest_memory_contains(&m, 0x1000, 0x1000));
	ck_assert(!guest_memory_contains(&m, 16 * MiB, 0));
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(translate_high_region)
{
	struct guest_memory m;

	/* Mapped lazily (MAP_NORESERVE): a large size costs nothing here. */
	ck_assert_int_eq(guest_memory_init(&m, LAYOUT_MMIO32_START + 64 * MiB), 0);
	ck_assert_ptr_nonnull(guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G, 4096));
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_MMIO32_START, 1));
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_IOAPIC_START, 4));
	/* A range spanning the hole is refused: regions are not contiguous. */
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_MMIO32_START - 4096, 8192));
	ck_assert_ptr_null(guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G + 64 * MiB, 1));
	ck_assert_ptr_nonnull(guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G + 64 * MiB - 1, 1));
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(read_write)
{
	struct guest_memory m;
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8] = { 0 };

	ck_assert_int_eq(guest_memory_init(&m, 2 * MiB), 0);
	ck_assert_int_eq(guest_memory_write(&m, 0x100, buf, sizeof(buf)), 0);
	ck_assert_int_eq(guest_memory_read(&m, 0x100, out, sizeof(out)), 0);
	ck_assert_mem_eq(buf, out, sizeof(buf));
	ck_assert_int_eq(guest_memory_write(&m, 2 * MiB - 4, buf, 8), -EFAULT);
	ck_assert_int_eq(guest_memory_read(&m, 2 * MiB - 4, out, 8), -EFAULT);
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(anonymous_has_no_fd)
{
	struct guest_memory m;

	ck_assert_int_eq(guest_memory_init(&m, 4 * MiB), 0);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_int_eq(m.regions[0].fd, -1);
	ck_assert_uint_eq(m.page_size, 4096);
	guest_memory_destroy(&m);
}
END_TEST

/* The name the kernel gives the fd: "/memfd:tern-ram (deleted)". */
static void expect_memfd_name(int fd)
{
	char link[64], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = 0;
	ck_assert_msg(strstr(target, "/memfd:tern-ram"), "fd %d is '%s'", fd,
		      target);
}

START_TEST(shared_is_one_sealed_memfd)
{
	const struct guest_memory_config cfg = {
		.size = LAYOUT_MMIO32_START + 64 * MiB,
		.shared = true,
	};
	struct guest_memory m;
	uint8_t *high;
	uint32_t v = 0;
	int seals;

	ck_assert_int_eq(guest_memory_init_config(&m, &cfg), 0);
	ck_assert_int_ge(m.fd, 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	/* One memfd, each region a slice of it at its RAM offset. */
	ck_assert_int_eq(m.regions[0].fd, m.fd);
	ck_assert_int_eq(m.regions[1].fd, m.fd);
	ck_assert_uint_eq(m.regions[1].fd_offset, LAYOUT_MMIO32_START);
	ck_assert_int_eq(lseek(m.fd, 0, SEEK_END), (off_t)cfg.size);
	expect_memfd_name(m.fd);
	ck_assert(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);

	/* A write through the mapping is in the file at fd_offset. */
	high = guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G + 0x1234, 4);
	ck_assert_ptr_eq(high, m.regions[1].hva + 0x1234);
	memcpy(high, &(uint32_t){ 0xdeadbeef }, 4);
	ck_assert_int_eq(pread(m.fd, &v, 4, m.regions[1].fd_offset + 0x1234), 4);
	ck_assert_uint_eq(v, 0xdeadbeef);
	/* ... and what another process writes to the file, the guest sees. */
	ck_assert_int_eq(pwrite(m.fd, &(uint32_t){ 0x12345678 }, 4, 0x40), 4);
	ck_assert_uint_eq(*(uint32_t *)guest_memory_ptr(&m, 0x40, 4), 0x12345678);

	/* Nobody holding the fd may shrink or grow it, or change the seals. */
	seals = fcntl(m.fd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	ck_assert_int_ne(ftruncate(m.fd, 4096), 0);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_ne(fcntl(m.fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
	guest_memory_destroy(&m);
	ck_assert_int_eq(m.fd, -1);
}
END_TEST

/* How many huge pages this host could hand out at most (free + surplus). */
static uint64_t hugepages_obtainable(uint64_t *page)
{
	uint64_t nfree = 0, over = 0;
	FILE *f;

	if (guest_memory_hugepages_free(page, &nfree))
		return 0;
	f = fopen("/proc/sys/vm/nr_overcommit_hugepages", "r");
	if (f) {
		if (fscanf(f, "%llu", (unsigned long long *)&over) != 1)
			over = 0;
		fclose(f);
	}
	return nfree + over;
}

START_TEST(hugepages_refused_at_init)
{
	struct guest_memory_config cfg = { .hugepages = true };
	struct guest_memory m;
	uint64_t page = 0, n = hugepages_obtainable(&page);

	ck_assert_uint_gt(page, 0);
	/* One page more than the host can give: the mapping fails now. */
	cfg.size = (n + 1) * page;
	ck_assert_int_eq(guest_memory_init_config(&m, &cfg), -ENOMEM);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_uint_eq(m.nr_regions, 0);
	/* Not a multiple of the huge page size: refused before mapping. */
	cfg.size = page + 4096;
	ck_assert_int_eq(guest_memory_init_config(&m, &cfg), -EINVAL);
	ck_assert_int_eq(m.fd, -1);
}
END_TEST

START_TEST(hugepages_free_reads_the_host)
{
	uint64_t page = 0, nfree = UINT64_MAX;

	ck_assert_int_eq(guest_memory_hugepages_free(&page, &nfree), 0);
	ck_assert(page == 2 * MiB || page == 1 * GiB || page == 4 * MiB);
	ck_assert_uint_ne(nfree, UINT64_MAX);
}
END_TEST

/* ---- --memory SIZE[,shared=on|off][,hugepages=on|off] ---- */

static void expect_error(const char *needle, char *msg)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, needle), "'%s' does not mention '%s'", msg,
		      needle);
	g_free(msg);
}

START_TEST(option_backends)
{
	struct vm_config c;

	ck_assert(parse_run(&c, NULL, "--memory", "1G", NULL));
	ck_assert_uint_eq(c.memory, 1 * GiB);
	ck_assert(!c.memory_shared);
	ck_assert(!c.memory_hugepages);
	config_clear(&c);

	ck_assert(parse_run(&c, NULL, "--memory", "256M,shared=on", NULL));
	ck_assert_uint_eq(c.memory, 256 * MiB);
	ck_assert(c.memory_shared);
	ck_assert(!c.memory_hugepages);
	config_clear(&c);

	ck_assert(parse_run(&c, NULL, "--memory", "512M,shared=off", NULL));
	ck_assert(!c.memory_shared);
	config_clear(&c);

	/* hugepages=on implies shared=on; the order of the keys is free. */
	ck_assert(parse_run(&c, NULL, "-m", "1G,hugepages=on", NULL));
	ck_assert(c.memory_shared);
	ck_assert(c.memory_hugepages);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL, "--memory=2G,hugepages=on,shared=on", NULL));
	ck_assert(c.memory_shared && c.memory_hugepages);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL, "--memory", "64M,hugepages=off,shared=on", NULL));
	ck_assert(c.memory_shared && !c.memory_hugepages);
	config_clear(&c);
}
END_TEST

START_TEST(option_malformed)
{
	struct vm_config c;
	char *msg;

	ck_assert(!parse_run(&c, &msg, "--memory", "1G,shared=maybe", NULL));
	expect_error("--memory '1G,shared=maybe': shared='maybe': expected on or off", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,hugepages=yes please", NULL));
	expect_error("expected on or off", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,shared", NULL));
	expect_error("shared='': expected on or off", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,shared=", NULL));
	expect_error("expected on or off", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,prealloc=on", NULL));
	expect_error("unknown option 'prealloc=on'", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,", NULL));
	expect_error("unknown option ''", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,,shared=on", NULL));
	expect_error("--memory '1G,,shared=on'", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,shared=on,shared=off", NULL));
	expect_error("'shared' given twice", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "shared=on", NULL));
	expect_error("expected a size", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", ",shared=on", NULL));
	expect_error("expected a size", msg);
	/* Huge pages: whole 2 MiB pages, and not with shared=off. */
	ck_assert(!parse_run(&c, &msg, "--memory", "5M,hugepages=on", NULL));
	expect_error("multiple of the huge page size (2M)", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1025K,hugepages=on", NULL));
	expect_error("multiple of 4K", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1G,hugepages=on,shared=off", NULL));
	expect_error("drop shared=off", msg);
	/* 5M is fine without huge pages; the size checks still apply. */
	ck_assert(parse_run(&c, NULL, "--memory", "5M,shared=on", NULL));
	config_clear(&c);
	ck_assert(!parse_run(&c, &msg, "--memory", "1M,shared=on", NULL));
	expect_error("at least", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "2048G,shared=on", NULL));
	expect_error("too large", msg);
}
END_TEST

/* Every 4 KiB page of [p, p + len) holds its byte value v. */
static bool pages_hold(const uint8_t *p, uint64_t len, uint8_t v)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Bytes of the memfd really allocated (st_blocks), for the hole checks. */
static uint64_t memfd_allocated(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Pages of [p, p + len) resident in this process (mincore). */
static uint64_t resident_pages(void *p, uint64_t len)
{
	unsigned char vec[4096];
	uint64_t n = 0, pages = len / 4096;

	ck_assert_uint_le(pages, sizeof(vec));
	ck_assert_int_eq(mincore(p, len, vec), 0);
	for (uint64_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

static void discard_reads_zero(bool shared)
{
	const struct guest_memory_config cfg = {
		.size = LAYOUT_MMIO32_START + 8 * MiB, .shared = shared,
	};
	const uint64_t gpa = 1 * MiB, len = 256 * KiB;
	const uint64_t high = LAYOUT_RAM_ABOVE_4G + 2 * MiB;
	struct guest_memory m;
	uint8_t *p, *h;
	uint64_t before = 0;

	ck_assert_int_eq(guest_memory_init_config(&m, &cfg), 0);
	p = guest_memory_ptr(&m, gpa - 4096, len + 8192);
	h = guest_memory_ptr(&m, high, 4096);
	memset(p, 0x5a, len + 8192);
	memset(h, 0xa5, 4096);
	ck_assert_uint_eq(resident_pages(p + 4096, len), len / 4096);
	if (shared)
		before = memfd_allocated(m.fd);

	ck_assert_int_eq(guest_memory_discard(&m, gpa, len), 0);
	ck_assert_int_eq(guest_memory_discard(&m, high, 4096), 0);
	/* Gone from this process, and from the file when shared. */
	ck_assert_uint_eq(resident_pages(p + 4096, len), 0);
	if (shared)
		ck_assert_uint_le(memfd_allocated(m.fd), before - len - 4096);
	/* The pages read as zero; their neighbours are untouched. */
	ck_assert(pages_hold(p + 4096, len, 0));
	ck_assert(pages_hold(h, 4096, 0));
	ck_assert(pages_hold(p, 4096, 0x5a));
	ck_assert(pages_hold(p + 4096 + len, 4096, 0x5a));
	/* A discarded page is backed again when written. */
	p[4096] = 1;
	ck_assert_uint_eq(p[4096], 1);
	ck_assert_uint_eq(resident_pages(p + 4096, 4096), 1);
	guest_memory_destroy(&m);
}

START_TEST(discard_anonymous)
{
	discard_reads_zero(false);
}
END_TEST

START_TEST(discard_shared)
{
	discard_reads_zero(true);
}
END_TEST

START_TEST(discard_rejects)
{
	const struct guest_memory_config cfg = {
		.size = LAYOUT_MMIO32_START + 8 * MiB,
	};
	struct guest_memory m, unmapped;
	uint8_t *p;

	ck_assert_int_eq(guest_memory_init_config(&m, &cfg), 0);
	p = guest_memory_ptr(&m, 0x10000, 4096);
	memset(p, 0x77, 4096);
	/* Misaligned start or length, or nothing at all. */
	ck_assert_int_eq(guest_memory_discard(&m, 0x10001, 4096), -EINVAL);
	ck_assert_int_eq(guest_memory_discard(&m, 0x10000, 4095), -EINVAL);
	ck_assert_int_eq(guest_memory_discard(&m, 0x10000, 0), -EINVAL);
	/* Outside RAM: the hole, past the end, across regions, wrapping. */
	ck_assert_int_eq(guest_memory_discard(&m, LAYOUT_MMIO32_START, 4096),
			 -EFAULT);
	ck_assert_int_eq(guest_memory_discard(&m, m.end, 4096), -EFAULT);
	ck_assert_int_eq(guest_memory_discard(&m, m.end - 4096, 8192), -EFAULT);
	ck_assert_int_eq(guest_memory_discard(&m, LAYOUT_MMIO32_START - 4096,
					      LAYOUT_RAM_ABOVE_4G), -EFAULT);
	ck_assert_int_eq(guest_memory_discard(&m, UINT64_MAX - 4095, 8192),
			 -EFAULT);
	/* None of them touched anything. */
	ck_assert(pages_hold(p, 4096, 0x77));
	guest_memory_destroy(&m);

	/* A layout alone has no mapping to discard. */
	ck_assert_int_eq(guest_memory_layout(16 * MiB, &unmapped), 0);
	ck_assert_int_eq(guest_memory_discard(&unmapped, 0, 4096), -EFAULT);
}
END_TEST

static int collect_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	uint64_t *r = opaque;

	r[0] = gpa;
	r[1] = len;
	r[2]++;
	return 0;
}

START_TEST(discard_marks_dirty)
{
	struct guest_memory m;
	uint64_t r[3] = { 0 };

	ck_assert_int_eq(guest_memory_init(&m, 16 * MiB), 0);
	ck_assert_int_eq(guest_memory_dirty_start(&m), 0);
	ck_assert_int_ge(guest_memory_dirty_sync(&m, collect_dirty, r), 0);
	r[2] = 0;
	ck_assert_int_eq(guest_memory_discard(&m, 2 * MiB, 3 * 4096), 0);
	/* A migration sees the three pages change (to zeros). */
	ck_assert_int_eq(guest_memory_dirty_sync(&m, collect_dirty, r), 3);
	ck_assert_uint_eq(r[0], 2 * MiB);
	ck_assert_uint_eq(r[1], 3 * 4096);
	ck_assert_uint_eq(r[2], 1);
	/* A refused discard marks nothing. */
	ck_assert_int_eq(guest_memory_discard(&m, 2 * MiB + 1, 4096), -EINVAL);
	ck_assert_int_eq(guest_memory_dirty_sync(&m, collect_dirty, r), 0);
	ck_assert_int_eq(guest_memory_dirty_stop(&m), 0);
	guest_memory_destroy(&m);
}
END_TEST

START_TEST(gpa_of_host_pointer)
{
	const struct guest_memory_config cfg = {
		.size = LAYOUT_MMIO32_START + 8 * MiB,
	};
	struct guest_memory m;
	uint8_t *low, *high;
	uint64_t gpa = 0;

	ck_assert_int_eq(guest_memory_init_config(&m, &cfg), 0);
	low = guest_memory_ptr(&m, 0, 1);
	high = guest_memory_ptr(&m, LAYOUT_RAM_ABOVE_4G, 1);
	ck_assert_int_eq(guest_memory_gpa(&m, low + 0x1234, 16, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x1234);
	ck_assert_int_eq(guest_memory_gpa(&m, high + 8 * MiB - 4096, 4096, &gpa),
			 0);
	ck_assert_uint_eq(gpa, LAYOUT_RAM_ABOVE_4G + 8 * MiB - 4096);
	/* Each result translates back to the same pointer. */
	ck_assert_ptr_eq(guest_memory_ptr(&m, gpa, 4096), high + 8 * MiB - 4096);
	/*
	 * Across a region's end (even into a mapping right after it), or
	 * not guest RAM at all.
	 */
	ck_assert_int_eq(guest_memory_gpa(&m, high + 8 * MiB - 4096, 4097, &gpa),
			 -EFAULT);
	ck_assert_int_eq(guest_memory_gpa(&m, &gpa, 8, &gpa), -EFAULT);
	ck_assert_int_eq(guest_memory_gpa(&m, low, UINT64_MAX, &gpa), -EFAULT);
	guest_memory_destroy(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memory");

	UNIT_TCASE(s, "layout", layout_small, layout_split_around_hole,
		   layout_rejects);
	UNIT_TCASE(s, "translate", translate_bounds, translate_high_region,
		   read_write);
	UNIT_TCASE(s, "backends", anonymous_has_no_fd, shared_is_one_sealed_memfd,
		   hugepages_refused_at_init, hugepages_free_reads_the_host);
	UNIT_TCASE(s, "option", option_backends, option_malformed);
	UNIT_TCASE(s, "discard", discard_anonymous, discard_shared,
		   discard_rejects, discard_marks_dirty, gpa_of_host_pointer);
	return unit_run(s);
}
