// SPDX-License-Identifier: MIT
/* The console outbuf: order kept, never blocks, drops counted, bounded teardown. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "tern/eventfd.h"
#include "tern/outbuf.h"
#include "unit.h"

#define SECOND 1000000000ULL

START_TEST(bytes_arrive_in_order)
{
	struct outbuf *ob;
	int fds[2];
	char in[10000], out[10000];
	size_t got = 0;

	ck_assert_int_eq(pipe(fds), 0);
	ob = outbuf_new(NULL, fds[1], 64 * 1024, "test", NULL);
	ck_assert_ptr_nonnull(ob);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)('a' + i % 26);
	/* In pieces, wrapping the ring several times over. */
	for (size_t off = 0; off < sizeof(in); off += 777)
		ck_assert_uint_eq(outbuf_write(ob, in + off, MIN(777, sizeof(in) - off)),
				  MIN(777, sizeof(in) - off));
	ck_assert(outbuf_flush(ob, tern_now_ns() + 5 * SECOND));
	while (got < sizeof(out)) {
		ssize_t n = read(fds[0], out + got, sizeof(out) - got);

		ck_assert_int_gt(n, 0);
		got += n;
	}
	ck_assert(!memcmp(in, out, sizeof(in)));
	ck_assert_uint_eq(outbuf_dropped(ob), 0);
	outbuf_destroy(ob);
}
END_TEST

START_TEST(unread_pipe_drops_and_never_blocks)
{
	struct outbuf *ob;
	static char chunk[100000];
	uint64_t start, taken = 0;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ob = outbuf_new(NULL, fds[1], 8192, "test", NULL);
	for (int i = 0; i < 100; i++) {
		start = tern_now_ns();
		taken += outbuf_write(ob, chunk, sizeof(chunk));
		ck_assert_msg(tern_now_ns() - start < SECOND / 10, "a write waited");
		/* Time for the writer to fill the pipe, 8 KiB a round. */
		usleep(1000);
	}
	/* The pipe is full: the buffer fills and stays full. */
	usleep(50000);
	taken += outbuf_write(ob, chunk, sizeof(chunk));
	ck_assert_uint_eq(outbuf_room(ob), 0);
	ck_assert(!outbuf_flush(ob, tern_now_ns() + SECOND / 10));
	/* The buffer plus at most the pipe's 64 KiB went out; the rest dropped. */
	ck_assert_uint_le(taken, 8192 + 65536);
	ck_assert_uint_eq(outbuf_dropped(ob), 101 * sizeof(chunk) - taken);
	/* Room frees once someone reads: the room eventfd says so. */
	for (;;) {
		char buf[65536];

		if (read(fds[0], buf, sizeof(buf)) < (ssize_t)sizeof(buf))
			break;
	}
	ck_assert(outbuf_flush(ob, tern_now_ns() + 5 * SECOND));
	ck_assert(efd_pending(outbuf_room_fd(ob)));
	ck_assert_uint_eq(outbuf_room(ob), 8192);
	start = tern_now_ns();
	outbuf_destroy(ob);
	ck_assert_msg(tern_now_ns() - start < SECOND, "destroy waited");
}
END_TEST

START_TEST(destroy_is_bounded_when_nobody_reads)
{
	struct outbuf *ob;
	static char chunk[200000];
	uint64_t start;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ob = outbuf_new(NULL, fds[1], 128 * 1024, "test", NULL);
	(void)outbuf_write(ob, chunk, sizeof(chunk));
	start = tern_now_ns();
	outbuf_destroy(ob);
	ck_assert_msg(tern_now_ns() - start < OUTBUF_DESTROY_FLUSH_NS + SECOND / 2,
		      "destroy took %llu ms",
		      (unsigned long long)((tern_now_ns() - start) / 1000000));
}
END_TEST

START_TEST(broken_fd_drops_everything)
{
	struct outbuf *ob;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	close(fds[0]); /* EPIPE from now on (SIGPIPE is blocked on the writer) */
	ob = outbuf_new(NULL, fds[1], 4096, "test", NULL);
	ck_assert_uint_eq(outbuf_write(ob, "hello", 5), 5);
	/* Once the writer saw the error, writes are taken and dropped. */
	for (int i = 0; i < 100 && outbuf_dropped(ob) < 5; i++)
		usleep(10000);
	ck_assert_uint_ge(outbuf_dropped(ob), 5);
	ck_assert_uint_eq(outbuf_write(ob, "more", 4), 0);
	outbuf_destroy(ob);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outbuf");

	UNIT_TCASE(s, "outbuf", bytes_arrive_in_order,
		   unread_pipe_drops_and_never_blocks,
		   destroy_is_bounded_when_nobody_reads, broken_fd_drops_everything);
	return unit_run(s);
}
