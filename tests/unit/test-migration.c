// SPDX-License-Identifier: MIT
/*
 * The migration stream's pure parts: the checksum, preamble and frame
 * headers, page records, the HELLO shape and its comparison, page bitmaps,
 * URIs; and the frame reader fed every corruption of a real stream
 * through a pipe: each is refused with an error, none crashes or is taken.
 */
#include <glib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/le.h"
#include "tern/memory.h"
#include "dest.h"
#include "internal.h"
#include "source.h"
#include "stream.h"
#include "unit.h"

START_TEST(sum_paths_agree)
{
	g_autofree uint8_t *buf = g_malloc(5000);
	GRand *rnd = g_rand_new_with_seed(7);

	for (size_t i = 0; i < 5000; i++)
		buf[i] = (uint8_t)g_rand_int(rnd);
	/* Every length exercises the blocks, the tail and the fold. */
	for (size_t len = 0; len < 5000; len += 1 + len / 3)
		ck_assert_uint_eq(mig_sum(buf, len), mig_sum_soft(buf, len));
	g_rand_free(rnd);
}
END_TEST

START_TEST(sum_sees_every_bit)
{
	uint8_t page[4096] = { 0 };
	uint32_t base = mig_sum(page, sizeof(page));

	for (size_t bit = 0; bit < sizeof(page) * 8; bit += 61) {
		page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_uint_ne(mig_sum(page, sizeof(page)), base);
		page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* The length counts: zeros of two lengths differ. */
	ck_assert_uint_ne(mig_sum(page, 64), mig_sum(page, 96));
}
END_TEST

START_TEST(preamble)
{
	uint8_t p[MIG_PREAMBLE_SIZE];
	GError *err = NULL;

	mig_preamble_put(p);
	ck_assert(mig_preamble_check(p, &err));
	p[0] = 'X';
	ck_assert(!mig_preamble_check(p, &err));
	ck_assert(strstr(err->message, "magic"));
	g_clear_error(&err);
	mig_preamble_put(p);
	le32_put(p + 8, MIG_VERSION + 1);
	ck_assert(!mig_preamble_check(p, &err));
	ck_assert(strstr(err->message, "version"));
	g_clear_error(&err);
}
END_TEST

START_TEST(header)
{
	uint8_t h[MIG_FRAME_HEADER_SIZE];
	struct mig_frame_header fh;
	GError *err = NULL;

	mig_header_put(h, MIG_FRAME_STATE, "abc", 3);
	ck_assert(mig_header_parse(h, &fh, &err));
	ck_assert_uint_eq(fh.type, MIG_FRAME_STATE);
	ck_assert_uint_eq(fh.len, 3);
	ck_assert_uint_eq(fh.sum, mig_sum("abc", 3));
	/* A corrupted length is never believed. */
	h[5] ^= 0x40;
	ck_assert(!mig_header_parse(h, &fh, &err));
	ck_assert(strstr(err->message, "header"));
	g_clear_error(&err);
	/* An unknown type, a length over the type's bound: refused. */
	mig_header_put(h, 0x77, NULL, 0);
	ck_assert(!mig_header_parse(h, &fh, &err));
	g_clear_error(&err);
	le32_put(h, MIG_FRAME_GO);
	le32_put(h + 4, 1000);
	le32_put(h + 12, mig_sum(h, 12));
	ck_assert(!mig_header_parse(h, &fh, &err));
	ck_assert(strstr(err->message, "bound"));
	g_clear_error(&err);
}
END_TEST

START_TEST(page_records)
{
	uint8_t buf[3 * MIG_PAGE_REC_SIZE + 2 * 4096] = { 0 };
	struct mig_page_rec rec;
	GError *err = NULL;
	size_t pos = 0, len;

	mig_page_rec_put(buf, 0x1000, 2, 0);
	memset(buf + MIG_PAGE_REC_SIZE, 0xaa, 2 * 4096);
	mig_page_rec_put(buf + MIG_PAGE_REC_SIZE + 8192, 0x100000, 300,
			 MIG_PAGE_ZERO);
	len = 2 * MIG_PAGE_REC_SIZE + 8192;
	ck_assert_int_eq(mig_page_rec_next(buf, len, &pos, &rec, &err), 1);
	ck_assert_uint_eq(rec.gpa, 0x1000);
	ck_assert_uint_eq(rec.npages, 2);
	ck_assert_ptr_eq(rec.data, buf + MIG_PAGE_REC_SIZE);
	ck_assert_int_eq(mig_page_rec_next(buf, len, &pos, &rec, &err), 1);
	ck_assert_uint_eq(rec.npages, 300);
	ck_assert_ptr_null(rec.data);
	ck_assert_int_eq(mig_page_rec_next(buf, len, &pos, &rec, &err), 0);

	/* Malformed: cut short, data past the end, unaligned, empty, flags. */
	pos = 0;
	ck_assert_int_eq(mig_page_rec_next(buf, 10, &pos, &rec, &err), -1);
	g_clear_error(&err);
	pos = 0;
	ck_assert_int_eq(mig_page_rec_next(buf, MIG_PAGE_REC_SIZE + 4095, &pos,
					   &rec, &err), -1);
	g_clear_error(&err);
	for (int i = 0; i < 3; i++) {
		pos = 0;
		mig_page_rec_put(buf, i == 0 ? 0x1001 : 0x1000, i == 1 ? 0 : 1,
				 i == 2 ? 8 : MIG_PAGE_ZERO);
		ck_assert_int_eq(mig_page_rec_next(buf, MIG_PAGE_REC_SIZE, &pos,
						   &rec, &err), -1);
		g_clear_error(&err);
	}
}
END_TEST

static void hello_make(struct mig_hello *h, uint32_t cpus, uint64_t ram,
		       const char *const *devices)
{
	memset(h, 0, sizeof(*h));
	h->session = 42;
	h->nr_vcpus = cpus;
	h->ram_size = ram;
	h->nr_regions = 1;
	h->region_size[0] = ram;
	while (devices[h->nr_devices])
		h->nr_devices++;
	h->devices = g_malloc0(32 * MAX(h->nr_devices, 1u));
	for (unsigned int i = 0; i < h->nr_devices; i++)
		g_strlcpy(h->devices[i], devices[i], 32);
}

static const char *const devs[] = { "serial.0", "virtio-blk.0", NULL };
static const char *const other[] = { "serial.0", "virtio-rng.0", NULL };

START_TEST(hello_roundtrip_and_match)
{
	struct mig_hello a, b, c;
	g_autofree uint8_t *buf = NULL;
	GError *err = NULL;
	size_t len;

	hello_make(&a, 2, 64 * MiB, devs);
	buf = mig_hello_encode(&a, &len);
	ck_assert(mig_hello_decode(buf, len, &b, &err));
	ck_assert_uint_eq(b.session, 42);
	ck_assert(mig_hello_match(&a, &b, &err));
	mig_hello_clear(&b);

	hello_make(&c, 1, 64 * MiB, devs);
	ck_assert(!mig_hello_match(&a, &c, &err));
	ck_assert(strstr(err->message, "2 vCPUs, this VM 1") ||
		  strstr(err->message, "1 vCPUs, this VM 2"));
	g_clear_error(&err);
	mig_hello_clear(&c);
	hello_make(&c, 2, 128 * MiB, devs);
	ck_assert(!mig_hello_match(&a, &c, &err));
	ck_assert(strstr(err->message, "MiB of RAM"));
	g_clear_error(&err);
	mig_hello_clear(&c);
	hello_make(&c, 2, 64 * MiB, other);
	ck_assert(!mig_hello_match(&a, &c, &err));
	ck_assert(strstr(err->message, "device 1 is virtio-rng.0"));
	g_clear_error(&err);
	mig_hello_clear(&c);
	mig_hello_clear(&a);
}
END_TEST

/* Every truncation and every flipped byte of a HELLO: an error, no crash. */
/* Encode h with this session and flags; mig_in_hello() on in. */
static bool hello_offer(struct mig_in *in, struct mig_hello *h,
			uint64_t session, uint32_t flags)
{
	g_autofree uint8_t *buf = NULL;
	GError *err = NULL;
	size_t len;
	bool ok;

	h->session = session;
	h->flags = flags;
	buf = mig_hello_encode(h, &len);
	ok = mig_in_hello(in, buf, len, true, &err);
	ck_assert(ok == !err);
	g_clear_error(&err);
	return ok;
}

/*
 * A refused recovery connection (another session, another machine) leaves
 * the session the destination resumes: the source's own resume is still
 * taken afterwards. Found by tests/fuzz/fuzz-migration.c (its corpus's
 * regress-recover-other-session): a refused HELLO used to set the session.
 */
START_TEST(hello_refused_keeps_session)
{
	struct mig_in in = { 0 };
	struct mig_hello h;

	hello_make(&in.want, 2, 64 * MiB, devs);
	hello_make(&h, 2, 64 * MiB, devs);
	in.session = 42;
	ck_assert(!hello_offer(&in, &h, 43, MIG_HELLO_RESUME));
	ck_assert_uint_eq(in.session, 42);
	ck_assert(!hello_offer(&in, &h, 42, 0));
	h.nr_vcpus = 3;
	ck_assert(!hello_offer(&in, &h, 44, MIG_HELLO_RESUME));
	ck_assert_uint_eq(in.session, 42);
	h.nr_vcpus = 2;
	ck_assert(hello_offer(&in, &h, 42, MIG_HELLO_RESUME));
	ck_assert_uint_eq(in.session, 42);
	mig_hello_clear(&h);
	mig_hello_clear(&in.want);
}
END_TEST

START_TEST(hello_malformed)
{
	struct mig_hello a, b;
	g_autofree uint8_t *buf = NULL;
	size_t len;

	hello_make(&a, 2, 64 * MiB, devs);
	buf = mig_hello_encode(&a, &len);
	for (size_t n = 0; n < len; n++) {
		GError *err = NULL;

		ck_assert(!mig_hello_decode(buf, n, &b, &err));
		ck_assert_ptr_nonnull(err);
		g_clear_error(&err);
	}
	for (size_t i = 0; i < len; i++) {
		GError *err = NULL;

		buf[i] ^= 0x5a;
		if (mig_hello_decode(buf, len, &b, &err))
			mig_hello_clear(&b);
		else
			ck_assert_ptr_nonnull(err);
		g_clear_error(&err);
		buf[i] ^= 0x5a;
	}
	mig_hello_clear(&a);
}
END_TEST

START_TEST(bitmap)
{
	struct guest_memory mem;
	struct mig_bitmap b;
	unsigned int r;
	uint64_t page;

	ck_assert_int_eq(guest_memory_layout(3ULL * GiB + 64 * MiB, &mem), 0);
	mig_bitmap_init(&b, &mem);
	ck_assert_uint_eq(mig_bitmap_count(&b), 0);
	mig_bitmap_fill(&b, true);
	ck_assert_uint_eq(mig_bitmap_count(&b), (3ULL * GiB + 64 * MiB) / 4096);
	mig_bitmap_fill(&b, false);
	ck_assert(mig_bitmap_set_range(&b, 4ULL * GiB + 8192, 3 * 4096, true));
	ck_assert_uint_eq(mig_bitmap_count(&b), 3);
	ck_assert(mig_bitmap_find(&b, 4ULL * GiB + 8192, &r, &page));
	ck_assert_uint_eq(r, 1);
	ck_assert_uint_eq(page, 2);
	ck_assert(mig_bitmap_test(&b, 1, 4));
	ck_assert(!mig_bitmap_test(&b, 1, 5));
	/* Not RAM (the hole), and past a region's end: refused. */
	ck_assert(!mig_bitmap_find(&b, 3ULL * GiB + 4096, &r, &page));
	ck_assert(!mig_bitmap_set_range(&b, 4ULL * GiB + 64 * MiB - 4096, 8192,
					true));
	mig_bitmap_set_atomic(&b, 0, 0);
	ck_assert(mig_bitmap_test_atomic(&b, 0, 0));
	mig_bitmap_free(&b);
}
END_TEST

START_TEST(uris)
{
	struct migration_uri u;
	GError *err = NULL;

	ck_assert(migration_uri_parse("tcp:10.0.0.2:4444", &u, &err));
	ck_assert_int_eq(u.kind, MIGRATION_URI_TCP);
	ck_assert_str_eq(u.host, "10.0.0.2");
	ck_assert_str_eq(u.port, "4444");
	migration_uri_clear(&u);
	ck_assert(migration_uri_parse("tcp:[::1]:80", &u, &err));
	ck_assert_str_eq(u.host, "::1");
	migration_uri_clear(&u);
	ck_assert(migration_uri_parse("tcp::4444", &u, &err) == false);
	g_clear_error(&err);
	ck_assert(migration_uri_parse("unix:/run/x.sock", &u, &err));
	ck_assert_int_eq(u.kind, MIGRATION_URI_UNIX);
	migration_uri_clear(&u);
	ck_assert(migration_uri_parse("file:/tmp/s", &u, &err));
	ck_assert_int_eq(u.kind, MIGRATION_URI_FILE);
	migration_uri_clear(&u);
	ck_assert(migration_uri_parse("defer", &u, &err));
	ck_assert_int_eq(u.kind, MIGRATION_URI_DEFER);
	static const char *const bad[] = { "tcp:host", "tcp:host:0", "tcp:h:65536",
					   "tcp:h:08", "unix:", "exec:cat", "", "file:" };
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		ck_assert_msg(!migration_uri_parse(bad[i], &u, &err), "%s", bad[i]);
		ck_assert_ptr_nonnull(err);
		g_clear_error(&err);
	}
}
END_TEST

/* A small stream: preamble, a PAGES frame, a STATE frame. */
static GByteArray *make_stream(void)
{
	GByteArray *s = g_byte_array_new();
	uint8_t pre[MIG_PREAMBLE_SIZE], hdr[MIG_FRAME_HEADER_SIZE];
	uint8_t pages[MIG_PAGE_REC_SIZE + 4096];

	mig_preamble_put(pre);
	g_byte_array_append(s, pre, sizeof(pre));
	mig_page_rec_put(pages, 0x2000, 1, 0);
	memset(pages + MIG_PAGE_REC_SIZE, 0x33, 4096);
	mig_header_put(hdr, MIG_FRAME_PAGES, pages, sizeof(pages));
	g_byte_array_append(s, hdr, sizeof(hdr));
	g_byte_array_append(s, pages, sizeof(pages));
	mig_header_put(hdr, MIG_FRAME_STATE, "state!", 6);
	g_byte_array_append(s, hdr, sizeof(hdr));
	g_byte_array_append(s, (const uint8_t *)"state!", 6);
	return s;
}

/* Read frames from bytes through a pipe: how many were accepted. */
static int read_frames(const uint8_t *p, size_t len, bool *clean_end)
{
	struct mig_frame_header h;
	struct mig_chan *ch;
	GError *err = NULL;
	int fds[2], n = 0;

	ck_assert_int_eq(pipe(fds), 0);
	/* The pipe holds the whole stream (64 KiB): no writer thread needed. */
	ck_assert_int_eq(write_full(fds[1], p, len), 0);
	close(fds[1]);
	ch = mig_chan_new(fds[0], false);
	*clean_end = false;
	if (mig_chan_recv_preamble(ch, &err)) {
		while (mig_chan_recv(ch, &h, &err))
			n++;
		*clean_end = err->code == TERN_ERROR_HOST && n == 2; /* EOF */
	}
	ck_assert_ptr_nonnull(err);
	g_clear_error(&err);
	mig_chan_free(ch);
	return n;
}

START_TEST(stream_corruption)
{
	g_autoptr(GByteArray) s = make_stream();
	bool clean;

	ck_assert_int_eq(read_frames(s->data, s->len, &clean), 2);
	ck_assert(clean);
	/* Any flipped byte: that frame and what follows are refused. */
	for (size_t i = 0; i < s->len; i++) {
		s->data[i] ^= 0x01;
		ck_assert_int_lt(read_frames(s->data, s->len, &clean), 2);
		s->data[i] ^= 0x01;
	}
	/* Any truncation: fewer frames, never a partial one taken. */
	for (size_t n = 0; n < s->len; n += 7)
		ck_assert_int_lt(read_frames(s->data, n, &clean), 2);
}
END_TEST

/* Frames from fd until EOF: the pages they carry, as a bitmap. */
static void *drain_frames(void *arg)
{
	struct mig_bitmap *got = arg;
	struct mig_chan *ch = mig_chan_new(*(int *)got->bits[GUEST_MEM_MAX_REGIONS - 1], true);
	struct mig_frame_header h;
	GError *err = NULL;

	while (mig_chan_recv(ch, &h, &err)) {
		struct mig_page_rec rec;
		size_t pos = 0;

		while (mig_page_rec_next(ch->payload, h.len, &pos, &rec, &err) > 0)
			ck_assert(mig_bitmap_set_range(got, rec.gpa,
						       (uint64_t)rec.npages << GUEST_PAGE_SHIFT,
						       true));
	}
	g_clear_error(&err);
	mig_chan_free(ch);
	return NULL;
}

/*
 * A pre-copy pass interrupted by a request (post-copy): every page is
 * either sent or still to send. Pages copied into the frame being built
 * must go out before the switch, or they would be neither sent nor
 * discarded on the destination (a stale page there).
 */
START_TEST(interrupted_pass_loses_no_page)
{
	struct migration m = { 0 };
	struct vm vm = { 0 };
	struct mig_out o = { 0 };
	struct mig_bitmap got;
	pthread_t reader;
	int sv[2], rfd;

	ck_assert_int_eq(guest_memory_init(&vm.mem, 8 * MiB), 0);
	for (uint64_t i = 0; i < 8 * MiB; i += 4096)
		vm.mem.regions[0].hva[i] = (uint8_t)(i >> 12) | 1;
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	m.vm = &vm;
	o.m = &m;
	o.vm = &vm;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	o.ch = mig_chan_new(sv[0], true);
	mig_ram_setup(&o);
	mig_bitmap_init(&got, &vm.mem);
	/* The reader's descriptor rides in the spare slot. */
	rfd = sv[1];
	got.bits[GUEST_MEM_MAX_REGIONS - 1] = (unsigned long *)&rfd;
	ck_assert_int_eq(pthread_create(&reader, NULL, drain_frames, &got), 0);
	o.postcopy_req = true;
	ck_assert_int_eq(mig_ram_send_todo(&o, true), -EINTR);
	mig_chan_shutdown(o.ch);
	pthread_join(reader, NULL);
	got.bits[GUEST_MEM_MAX_REGIONS - 1] = NULL;
	ck_assert_uint_gt(mig_bitmap_count(&got), 0);
	ck_assert_uint_eq(mig_bitmap_count(&got) + mig_bitmap_count(&o.todo),
			  8 * MiB / 4096);
	for (uint64_t p = 0; p < got.pages[0]; p++)
		ck_assert(mig_bitmap_test(&got, 0, p) != mig_bitmap_test(&o.todo, 0, p));
	mig_ram_cleanup(&o);
	mig_chan_free(o.ch);
	mig_bitmap_free(&got);
	guest_memory_destroy(&vm.mem);
}
END_TEST

/* Run one mig_ram_send_todo() into a reader that notes what arrived. */
static int send_todo_drained(struct mig_out *o, struct mig_bitmap *got)
{
	pthread_t reader;
	int sv[2], rfd, ret;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	o->ch = mig_chan_new(sv[0], true);
	rfd = sv[1];
	got->bits[GUEST_MEM_MAX_REGIONS - 1] = (unsigned long *)&rfd;
	ck_assert_int_eq(pthread_create(&reader, NULL, drain_frames, got), 0);
	ret = mig_ram_send_todo(o, false);
	mig_chan_shutdown(o->ch);
	pthread_join(reader, NULL);
	got->bits[GUEST_MEM_MAX_REGIONS - 1] = NULL;
	mig_chan_free(o->ch);
	o->ch = NULL;
	return ret;
}

/*
 * A pre-copy pass re-arms KVM's log of each chunk before sending from it,
 * and only the pages it sends: with real KVM and the log starting all
 * set, afterwards exactly the pages left out of todo (one page, a whole
 * chunk, the region's last page in its 40-page last chunk, KVM's rule at
 * a slot's end) are still in the log. Stopped, nothing is re-armed.
 */
START_TEST(pass_rearms_what_it_sends)
{
	const uint64_t pages = 2048 + 40;
	unsigned long log[2088 / 64 + 1];
	struct kvm_dirty_log get = { .slot = 0, .dirty_bitmap = log };
	struct migration m = { 0 };
	struct vm vm = { 0 };
	struct mig_out o = { .m = &m, .vm = &vm };
	struct mig_bitmap got;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm_fd;

	ck_assert_int_eq(guest_memory_init(&vm.mem, pages * 4096), 0);
	if (kvm < 0) {
		printf("note: /dev/kvm: %s: the pass is checked without KVM's log\n",
		       strerror(errno));
		vm_fd = -1;
	} else {
		vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
		ck_assert_int_ge(vm_fd, 0);
		ck_assert_int_eq(guest_memory_kvm_register(&vm.mem, vm_fd), 0);
	}
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	m.vm = &vm;
	ck_assert_int_eq(guest_memory_dirty_start_by_caller(&vm.mem), 0);
	mig_ram_setup(&o);
	ck_assert_uint_eq(mig_bitmap_count(&o.todo), pages);
	ck_assert(mig_bitmap_set_range(&o.todo, 5 * 4096, 4096, false));
	ck_assert(mig_bitmap_set_range(&o.todo, 512 * 4096, 512 * 4096, false));
	ck_assert(mig_bitmap_set_range(&o.todo, (pages - 1) * 4096, 4096, false));
	mig_bitmap_init(&got, &vm.mem);
	ck_assert_int_eq(send_todo_drained(&o, &got), 0);
	ck_assert_uint_eq(mig_bitmap_count(&got), pages - 514);
	ck_assert_uint_eq(mig_bitmap_count(&o.todo), 0);
	if (vm_fd >= 0 && vm.mem.kvm_initially_set) {
		ck_assert_int_eq(ioctl(vm_fd, KVM_GET_DIRTY_LOG, &get), 0);
		for (uint64_t p = 0; p < pages; p++)
			ck_assert_msg((log[p / 64] >> (p % 64) & 1) ==
					      !mig_bitmap_test(&got, 0, p),
				      "page %llu: log %lu, sent %d",
				      (unsigned long long)p, log[p / 64] >> (p % 64) & 1,
				      mig_bitmap_test(&got, 0, p));
		/* Stopped: the last pass leaves the log as it is. */
		ck_assert_int_eq(guest_memory_dirty_stop(&vm.mem), 0);
		ck_assert_int_eq(guest_memory_dirty_start_by_caller(&vm.mem), 0);
		mig_bitmap_fill(&o.todo, true);
		o.phase = MIG_PHASE_DOWNTIME;
		ck_assert_int_eq(send_todo_drained(&o, &got), 0);
		ck_assert_int_eq(ioctl(vm_fd, KVM_GET_DIRTY_LOG, &get), 0);
		for (uint64_t p = 0; p < pages; p++)
			ck_assert(log[p / 64] >> (p % 64) & 1);
	} else if (vm_fd >= 0) {
		printf("note: KVM_DIRTY_LOG_INITIALLY_SET absent: the log is not checked\n");
	}
	ck_assert_int_eq(guest_memory_dirty_stop(&vm.mem), 0);
	mig_ram_cleanup(&o);
	mig_bitmap_free(&got);
	guest_memory_destroy(&vm.mem);
	if (vm_fd >= 0)
		close(vm_fd);
	if (kvm >= 0)
		close(kvm);
}
END_TEST

/* The frames of a stream in the order they came: types and first gpas. */
struct frame_log {
	int fd;
	unsigned int n;
	uint32_t type[16];
	uint64_t gpa[16];
	uint32_t pages[16];
};

static void *log_frames(void *arg)
{
	struct frame_log *l = arg;
	struct mig_chan *ch = mig_chan_new(l->fd, true);
	struct mig_frame_header h;
	GError *err = NULL;

	while (l->n < 16 && mig_chan_recv(ch, &h, &err)) {
		struct mig_page_rec rec;
		size_t pos = 0;

		l->type[l->n] = h.type;
		l->pages[l->n] = 0;
		while (h.type == MIG_FRAME_PAGES &&
		       mig_page_rec_next(ch->payload, h.len, &pos, &rec, &err) > 0) {
			if (!l->pages[l->n])
				l->gpa[l->n] = rec.gpa;
			l->pages[l->n] += rec.npages;
		}
		l->n++;
	}
	g_clear_error(&err);
	mig_chan_free(ch);
	return NULL;
}

struct serve_call {
	struct mig_out *o;
	uint64_t gpa;
	uint32_t npages;
	uint8_t *buf;
	int ret;
};

static void *serve_call_run(void *arg)
{
	struct serve_call *c = arg;

	c->ret = mig_ram_serve_request(c->o, c->gpa, c->npages, c->buf);
	return NULL;
}

static void *end_call_run(void *arg)
{
	struct serve_call *c = arg;

	c->ret = mig_ram_send_todo(c->o, false);
	if (!c->ret)
		c->ret = mig_ram_send_end(c->o);
	return NULL;
}

/*
 * Post-copy: the return-path thread serving a request takes its pages out
 * of todo, then reads them from guest RAM and sends them. If the sender
 * finds todo empty in between, its END must wait for that frame: the
 * destination checks at END that every page is in (under load, a
 * recovered post-copy failed "END with 7 pages still missing": a request
 * and its 7 read-ahead pages overtaken). The serving thread is held
 * between the two steps by a userfaultfd on the page it reads.
 */
START_TEST(postcopy_end_waits_for_served_request)
{
	const uint64_t first = 8, n = 8;
	struct migration m = { 0 };
	struct vm vm = { 0 };
	struct mig_out o = { .m = &m, .vm = &vm };
	struct frame_log log = { 0 };
	struct serve_call serve = { .o = &o, .gpa = first * 4096, .npages = n };
	struct serve_call end = { .o = &o };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_copy copy;
	struct uffd_msg msg;
	pthread_t reader, server, ender;
	g_autofree uint8_t *pages = g_malloc(n * 4096);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC), sv[2];

	/* Not root: faults from user mode (the copy here) are enough. */
	if (uffd < 0)
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0) {
		printf("note: userfaultfd: %s: END's wait is not checked\n",
		       strerror(errno));
		return;
	}
	ck_assert_int_eq(guest_memory_init(&vm.mem, 2 * MiB), 0);
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	m.vm = &vm;
	mig_ram_setup(&o);
	o.phase = MIG_PHASE_POSTCOPY;
	mig_bitmap_fill(&o.todo, false);
	ck_assert(mig_bitmap_set_range(&o.todo, first * 4096, n * 4096, true));
	ck_assert_int_eq(ioctl(uffd, UFFDIO_API, &api), 0);
	reg.range.start = (uintptr_t)vm.mem.regions[0].hva;
	reg.range.len = vm.mem.regions[0].size;
	ck_assert_int_eq(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	o.ch = mig_chan_new(sv[0], true);
	log.fd = sv[1];
	ck_assert_int_eq(pthread_create(&reader, NULL, log_frames, &log), 0);
	/* Every page of the request is there but its last. */
	for (uint64_t i = 0; i < n * 4096; i++)
		pages[i] = (uint8_t)(i >> 12) + 1;
	copy = (struct uffdio_copy){
		.dst = (uintptr_t)vm.mem.regions[0].hva + first * 4096,
		.src = (uintptr_t)pages,
		.len = (n - 1) * 4096,
	};
	ck_assert_int_eq(ioctl(uffd, UFFDIO_COPY, &copy), 0);
	serve.buf = g_malloc(MIG_RP_FRAME_CAP);
	ck_assert_int_eq(pthread_create(&server, NULL, serve_call_run, &serve), 0);
	/* Held reading its last page: every page of it left todo. */
	ck_assert_int_eq(read(uffd, &msg, sizeof(msg)), sizeof(msg));
	ck_assert_uint_eq(msg.arg.pagefault.address & ~4095ULL,
			  (uintptr_t)vm.mem.regions[0].hva + (first + n - 1) * 4096);
	ck_assert_uint_eq(mig_bitmap_count(&o.todo), 0);
	ck_assert_int_eq(pthread_create(&ender, NULL, end_call_run, &end), 0);
	/* Time enough for an END that does not wait to go out first. */
	usleep(300 * 1000);
	copy = (struct uffdio_copy){
		.dst = (uintptr_t)vm.mem.regions[0].hva + (first + n - 1) * 4096,
		.src = (uintptr_t)pages + (n - 1) * 4096,
		.len = 4096,
	};
	ck_assert_int_eq(ioctl(uffd, UFFDIO_COPY, &copy), 0);
	pthread_join(server, NULL);
	pthread_join(ender, NULL);
	ck_assert_int_eq(serve.ret, 0);
	ck_assert_int_eq(end.ret, 0);
	mig_chan_shutdown(o.ch);
	pthread_join(reader, NULL);
	ck_assert_uint_eq(log.n, 2);
	ck_assert_msg(log.type[0] == MIG_FRAME_PAGES && log.type[1] == MIG_FRAME_END,
		      "frames %s, %s: END overtook the served pages",
		      mig_frame_name(log.type[0]), mig_frame_name(log.type[1]));
	ck_assert_uint_eq(log.gpa[0], first * 4096);
	ck_assert_uint_eq(log.pages[0], n);
	g_free(serve.buf);
	mig_ram_cleanup(&o);
	mig_chan_free(o.ch);
	close(uffd);
	guest_memory_destroy(&vm.mem);
}
END_TEST

/*
 * The destination's ERROR text is bounded by the frame's length, not by a
 * NUL: a payload without one (exactly sized, so ASan sees any read past
 * it) gives the text and no more; an embedded NUL ends it; a long text is
 * cut to the buffer.
 */
START_TEST(rp_error_text_bounded)
{
	static const char why[] = "memory size differs";
	g_autofree uint8_t *p = g_memdup2(why, strlen(why));
	g_autofree uint8_t *big = g_malloc(MIG_RP_ERROR_MAX);
	char out[64];

	mig_rp_error_text(out, sizeof(out), p, strlen(why));
	ck_assert_str_eq(out, "the destination failed: memory size differs");
	mig_rp_error_text(out, sizeof(out), p, 6);
	ck_assert_str_eq(out, "the destination failed: memory");
	mig_rp_error_text(out, sizeof(out), (const uint8_t *)"ab\0cd", 5);
	ck_assert_str_eq(out, "the destination failed: ab");
	mig_rp_error_text(out, sizeof(out), p, 0);
	ck_assert_str_eq(out, "the destination failed: ");
	memset(big, 'x', MIG_RP_ERROR_MAX);
	mig_rp_error_text(out, sizeof(out), big, MIG_RP_ERROR_MAX);
	ck_assert_uint_eq(strlen(out), sizeof(out) - 1);
}
END_TEST

/*
 * A page request for an address inside a page (a broken or hostile
 * destination) is ignored: served, it went out as a record at that very
 * address, which no destination takes (records are page-aligned). Found
 * by tests/fuzz/fuzz-migration.c (regress-rp-request-unaligned).
 */
START_TEST(rp_request_unaligned_ignored)
{
	struct migration m = { 0 };
	struct vm vm = { 0 };
	struct mig_out o = { .m = &m, .vm = &vm };
	struct mig_frame_header h = { .type = MIG_RP_REQUEST, .len = 32 };
	g_autofree uint8_t *buf = g_malloc(MIG_RP_FRAME_CAP);
	struct mig_page_rec rec;
	struct mig_chan *rd;
	GError *err = NULL;
	uint8_t req[32];
	size_t pos = 0;
	int sv[2];

	ck_assert_int_eq(guest_memory_init(&vm.mem, 1 * MiB), 0);
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	o.requests = g_array_new(FALSE, FALSE, sizeof(struct mig_request));
	mig_bitmap_init(&o.todo, &vm.mem);
	mig_bitmap_fill(&o.todo, true);
	o.rp_serves = true;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	o.ch = mig_chan_new(sv[0], true);
	rd = mig_chan_new(sv[1], true);
	mig_page_rec_put(req, 0x3100, 2, 0);
	mig_page_rec_put(req + 16, 0x8000, 1, 0);
	pthread_mutex_lock(&m.lock);
	out_rp_frame(&o, &h, req, buf);
	pthread_mutex_unlock(&m.lock);
	mig_chan_shutdown(o.ch);
	/* One PAGES frame with the aligned request's page, and nothing else. */
	ck_assert(mig_chan_recv(rd, &h, &err));
	ck_assert_uint_eq(h.type, MIG_FRAME_PAGES);
	ck_assert_int_eq(mig_page_rec_next(rd->payload, h.len, &pos, &rec, &err), 1);
	ck_assert_uint_eq(rec.gpa, 0x8000);
	ck_assert_uint_eq(rec.npages, 1);
	ck_assert_int_eq(mig_page_rec_next(rd->payload, h.len, &pos, &rec, &err), 0);
	ck_assert(!mig_chan_recv(rd, &h, &err));
	g_clear_error(&err);
	ck_assert_uint_eq(mig_bitmap_count(&o.todo), 1 * MiB / 4096 - 1);
	mig_chan_free(rd);
	mig_chan_free(o.ch);
	mig_bitmap_free(&o.todo);
	g_array_unref(o.requests);
	guest_memory_destroy(&vm.mem);
}
END_TEST

/*
 * The switch-over rule, on the passes measured with the benchmark's two
 * guests: a 64 MiB guest dirtying 10000 pages/s goes on while its dirty
 * set shrinks (6515 -> ~700 pages), a 256 MiB guest dirtying everything
 * stops as soon as it fits when a pass barely dents its set (63491 ->
 * 60000), and goes on when one did (65536 -> 40397). Then passes measured
 * again with the destination's RAM populated while it waited
 * (2026-11-30): a first pass over the limit (59411 pages, 435 ms) goes on
 * however little it shrank, a second that left 55915 of them (179 ms)
 * stops, a first that left 23937 (113 ms) or 17608 (50 ms) goes on.
 */
START_TEST(precopy_switch_over)
{
	struct mig_converge c;

	/* Over the limit: never, however little the set shrank. */
	c = (struct mig_converge){ .expected_ms = 715, .limit_ms = 300,
				   .sent_pages = 65536, .dirty_pages = 63491 };
	ck_assert(!mig_precopy_converged(&c));
	c.dirty_pages = 10;
	ck_assert(!mig_precopy_converged(&c));
	/* Under it and shrinking by a quarter or more: one more pass. */
	c = (struct mig_converge){ .expected_ms = 79, .limit_ms = 300,
				   .sent_pages = 16384, .dirty_pages = 6515 };
	ck_assert(!mig_precopy_converged(&c));
	c = (struct mig_converge){ .expected_ms = 157, .limit_ms = 300,
				   .sent_pages = 65536, .dirty_pages = 40397 };
	ck_assert(!mig_precopy_converged(&c));
	c = (struct mig_converge){ .expected_ms = 435, .limit_ms = 300,
				   .sent_pages = 65536, .dirty_pages = 59411 };
	ck_assert(!mig_precopy_converged(&c));
	c = (struct mig_converge){ .expected_ms = 179, .limit_ms = 300,
				   .sent_pages = 59411, .dirty_pages = 55915 };
	ck_assert(mig_precopy_converged(&c));
	c = (struct mig_converge){ .expected_ms = 113, .limit_ms = 300,
				   .sent_pages = 65536, .dirty_pages = 23937 };
	ck_assert(!mig_precopy_converged(&c));
	c.expected_ms = 50;
	c.dirty_pages = 17608;
	ck_assert(!mig_precopy_converged(&c));
	/* Under it, shrinking by less than a quarter: stop. */
	c = (struct mig_converge){ .expected_ms = 240, .limit_ms = 300,
				   .sent_pages = 63491, .dirty_pages = 60000 };
	ck_assert(mig_precopy_converged(&c));
	/* Exactly a quarter still counts as shrinking. */
	c.sent_pages = 4000;
	c.dirty_pages = 3000;
	ck_assert(!mig_precopy_converged(&c));
	c.dirty_pages = 3001;
	ck_assert(mig_precopy_converged(&c));
	/* The rest is at the floor: stop, shrinking or not. */
	c = (struct mig_converge){ .expected_ms = MIG_DOWNTIME_FLOOR_MS,
				   .limit_ms = 300, .sent_pages = 6515,
				   .dirty_pages = 700 };
	ck_assert(mig_precopy_converged(&c));
	/* Polishing is bounded. */
	c = (struct mig_converge){ .expected_ms = 50, .limit_ms = 300,
				   .sent_pages = 1000, .dirty_pages = 100,
				   .polish_passes = MIG_POLISH_PASSES - 1 };
	ck_assert(!mig_precopy_converged(&c));
	c.polish_passes = MIG_POLISH_PASSES;
	ck_assert(mig_precopy_converged(&c));
	/* A limit of 0 (as QEMU allows) is never met. */
	c = (struct mig_converge){ .expected_ms = 1, .limit_ms = 0,
				   .sent_pages = 1, .dirty_pages = 1 };
	ck_assert(!mig_precopy_converged(&c));
	/* Nothing dirty: at the floor. */
	c = (struct mig_converge){ .limit_ms = 300, .sent_pages = 5 };
	ck_assert(mig_precopy_converged(&c));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migration");

	UNIT_TCASE(s, "sum", sum_paths_agree, sum_sees_every_bit);
	UNIT_TCASE(s, "frames", preamble, header, page_records);
	UNIT_TCASE(s, "hello", hello_roundtrip_and_match, hello_malformed,
		   hello_refused_keeps_session);
	UNIT_TCASE(s, "bitmap", bitmap);
	UNIT_TCASE(s, "uri", uris);
	UNIT_TCASE(s, "stream", stream_corruption);
	UNIT_TCASE(s, "sender", interrupted_pass_loses_no_page, precopy_switch_over,
		   pass_rearms_what_it_sends);
	UNIT_TCASE(s, "return-path", rp_error_text_bounded,
		   postcopy_end_waits_for_served_request,
		   rp_request_unaligned_ignored);
	return unit_run(s);
}
