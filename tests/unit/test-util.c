// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tern/fdpass.h"
#include "tern/iov.h"
#include "tern/util.h"
#include "unit.h"

START_TEST(ratelimit_bursts)
{
	struct tern_ratelimit rl = { 0 };
	const int64_t t0 = 1000000;
	unsigned int dropped = 99;

	/* A burst goes through, then the rest of the interval is dropped. */
	for (int i = 0; i < TERN_LOG_BURST; i++) {
		ck_assert(tern_ratelimit_allow(&rl, t0 + i, &dropped));
		ck_assert_uint_eq(dropped, 0);
	}
	for (int i = 0; i < 1000; i++)
		ck_assert(!tern_ratelimit_allow(&rl, t0 + 100 + i, &dropped));
	ck_assert(!tern_ratelimit_allow(&rl, t0 + TERN_LOG_INTERVAL_US - 1,
					&dropped));
	/* The next interval: the first line says how many were dropped. */
	ck_assert(tern_ratelimit_allow(&rl, t0 + TERN_LOG_INTERVAL_US, &dropped));
	ck_assert_uint_eq(dropped, 1001);
	ck_assert(tern_ratelimit_allow(&rl, t0 + TERN_LOG_INTERVAL_US + 1,
				       &dropped));
	ck_assert_uint_eq(dropped, 0);
	/* A clock that went back starts a new interval, not a stuck one. */
	for (int i = 0; i < TERN_LOG_BURST; i++)
		tern_ratelimit_allow(&rl, t0 + TERN_LOG_INTERVAL_US + 2, &dropped);
	ck_assert(tern_ratelimit_allow(&rl, 5, &dropped));
	ck_assert_uint_gt(dropped, 0);
}
END_TEST

/* Run fn in a child with stderr captured; its lines in *out. */
static int capture_stderr(void (*fn)(void), char **out)
{
	int pipefd[2], status;
	GString *s = g_string_new(NULL);
	char buf[4096];
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		fn();
		exit(0); /* runs the report at exit */
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		g_string_append_len(s, buf, n);
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	*out = g_string_free(s, FALSE);
	return status;
}

static void warn_storm(void)
{
	for (int i = 0; i < 100000; i++)
		tern_warn("qmp: refusing a connection: %d clients", i);
	tern_log("a different line");
	for (int i = 0; i < 3; i++)
		tern_warn("another site %d", i);
}

START_TEST(warn_storm_is_limited)
{
	g_autofree char *out = NULL;
	g_auto(GStrv) lines = NULL;
	int storm = 0;

	ck_assert_int_eq(capture_stderr(warn_storm, &out), 0);
	lines = g_strsplit(out, "\n", -1);
	for (char **l = lines; *l; l++)
		if (g_str_has_prefix(*l, "tern: warning: qmp: refusing"))
			storm++;
	/* The burst, then silence, then one line saying what was lost. */
	ck_assert_int_eq(storm, TERN_LOG_BURST);
	ck_assert_ptr_nonnull(strstr(out, "tern: warning: qmp: refusing a connection: 9 clients\n"));
	ck_assert_ptr_nonnull(strstr(out, "tern: a different line\n"));
	ck_assert_ptr_nonnull(strstr(out, "tern: warning: another site 2\n"));
	ck_assert_msg(g_str_has_suffix(out, "tern: warning: 99990 similar lines "
		"suppressed, the last: qmp: refusing a connection: 99999 clients\n"),
		"%s", out);
}
END_TEST

START_TEST(size_plain)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("512", &v), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(parse_size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(size_suffixes)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("64K", &v), 0);
	ck_assert_uint_eq(v, 64 * KiB);
	ck_assert_int_eq(parse_size("128m", &v), 0);
	ck_assert_uint_eq(v, 128 * MiB);
	ck_assert_int_eq(parse_size("2G", &v), 0);
	ck_assert_uint_eq(v, 2 * GiB);
	ck_assert_int_eq(parse_size("1T", &v), 0);
	ck_assert_uint_eq(v, 1024 * GiB);
	ck_assert_int_eq(parse_size("256MiB", &v), 0);
	ck_assert_uint_eq(v, 256 * MiB);
	ck_assert_int_eq(parse_size("256MB", &v), 0);
	ck_assert_uint_eq(v, 256 * MiB);
	ck_assert_int_eq(parse_size("100B", &v), 0);
	ck_assert_uint_eq(v, 100);
}
END_TEST

START_TEST(size_malformed)
{
	uint64_t v = 42;
	const char *bad[] = { "", "M", "-1", "+5", " 5", "5 ", "5X", "5MM",
			      "5MiBB", "0x10", "1.5G", "5Mi", "G5", "5iB",
			      "010M", "00" };

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		ck_assert_msg(parse_size(bad[i], &v) == -EINVAL, "'%s' accepted",
			      bad[i]);
	ck_assert_int_eq(parse_size(NULL, &v), -EINVAL);
	ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(size_overflow)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("18446744073709551615", &v), 0);
	ck_assert_int_eq(parse_size("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(parse_size("17179869184G", &v), -ERANGE);
	ck_assert_int_eq(parse_size("16777216T", &v), -ERANGE);
}
END_TEST

START_TEST(u64_parse)
{
	uint64_t v = 7;
	/* Decimal only: no base prefix, no octal, no sign, no space. */
	const char *bad[] = { "", "0x10", "0X10", "010", "00", "-1", "+1", " 1",
			      "1 ", "12a", "1e3", "1.0", "\xd9\xa1" /* Arabic one */ };

	ck_assert_int_eq(parse_u64("42", &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(parse_u64("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("10", &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(parse_u64("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	v = 7;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
		ck_assert_msg(parse_u64(bad[i], &v) == -EINVAL, "'%s' accepted",
			      bad[i]);
	ck_assert_int_eq(parse_u64(NULL, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(parse_u64("99999999999999999999", &v), -ERANGE);
	ck_assert_uint_eq(v, 7);
}
END_TEST

/* Only --debug turns debug logging on; the environment is not read. */
START_TEST(debug_switch)
{
	setenv("TERN_DEBUG", "1", 1);
	ck_assert(!tern_debug_enabled());
	tern_debug_set(true);
	ck_assert(tern_debug_enabled());
	tern_debug_set(false);
	ck_assert(!tern_debug_enabled());
}
END_TEST

START_TEST(read_all)
{
	char path[] = "/tmp/tern-test-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *buf = NULL;
	size_t len = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, "hello", 5), 0);
	close(fd);
	ck_assert_int_eq(file_read_all(path, 100, &buf, &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(buf, "hello", 5);
	g_free(buf);
	ck_assert_int_eq(file_read_all(path, 4, &buf, &len), -EFBIG);
	unlink(path);
	ck_assert_int_eq(file_read_all(path, 100, &buf, &len), -ENOENT);
	ck_assert_int_eq(file_read_all("/tmp", 100, &buf, &len), -EISDIR);
	ck_assert_int_eq(file_read_all("/dev/null", 100, &buf, &len), -EINVAL);
}
END_TEST

/* A FIFO nobody writes to is refused at once, not waited on in open(). */
START_TEST(read_all_fifo)
{
	char dir[] = "/tmp/tern-test-XXXXXX";
	g_autofree char *fifo = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fifo = g_strdup_printf("%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(file_read_all(fifo, 100, &buf, &len), -EINVAL);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

/* Descriptors go with the bytes, the same files; none, or at most 8. */
START_TEST(fdpass_carries_fds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)], buf[8];
	int sv[2], fds[10], got[16];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	struct stat a, b;
	unsigned int n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (unsigned int i = 0; i < 10; i++)
		fds[i] = i % 2 ? sv[0] : STDERR_FILENO;
	/* Ten asked for: the first eight go. */
	ck_assert_int_eq(fdpass_send(sv[0], "abcd", 4, fds, 10, 0), 4);
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	ck_assert_int_eq(recvmsg(sv[1], &mh, 0), 4);
	ck_assert(!memcmp(buf, "abcd", 4));
	cm = CMSG_FIRSTHDR(&mh);
	ck_assert(cm && cm->cmsg_type == SCM_RIGHTS);
	n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	ck_assert_uint_eq(n, 8);
	memcpy(got, CMSG_DATA(cm), n * sizeof(int));
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(fstat(fds[i], &a), 0);
		ck_assert_int_eq(fstat(got[i], &b), 0);
		ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		close(got[i]);
	}
	/* None: plain bytes. */
	ck_assert_int_eq(fdpass_send(sv[0], "ef", 2, NULL, 0, 0), 2);
	mh.msg_controllen = sizeof(cbuf);
	ck_assert_int_eq(recvmsg(sv[1], &mh, 0), 2);
	ck_assert_ptr_null(CMSG_FIRSTHDR(&mh));
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(iov_copies)
{
	char a[3] = { 0 }, b[5] = { 0 }, flat[16];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

	/* Into the iovecs: spans both, stops at the end of the array. */
	ck_assert_uint_eq(iov_from_buf(iov, 2, "abcdefghij", 10), 8);
	ck_assert_mem_eq(a, "abc", 3);
	ck_assert_mem_eq(b, "defgh", 5);
	/* Out of them: a short len stops early, a long one takes all there is. */
	ck_assert_uint_eq(iov_to_buf(iov, 2, flat, 4), 4);
	ck_assert_mem_eq(flat, "abcd", 4);
	ck_assert_uint_eq(iov_to_buf(iov, 2, flat, sizeof(flat)), 8);
	ck_assert_mem_eq(flat, "abcdefgh", 8);
	ck_assert_uint_eq(iov_to_buf(iov, 0, flat, sizeof(flat)), 0);
	ck_assert_uint_eq(iov_from_buf(iov, 2, "x", 0), 0);
	ck_assert_int_eq(a[0], 'a');
}
END_TEST

START_TEST(iov_advance_trims)
{
	char a[3], b[5], c[2];
	struct iovec iov[3] = { { a, 3 }, { b, 5 }, { c, 2 } }, *p;
	unsigned int cnt = 3;

	p = iov_advance(iov, &cnt, 0);
	ck_assert_ptr_eq(p, &iov[0]);
	ck_assert_uint_eq(cnt, 3);
	/* A whole element and part of the next. */
	p = iov_advance(iov, &cnt, 4);
	ck_assert_ptr_eq(p, &iov[1]);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_ptr_eq(p->iov_base, b + 1);
	ck_assert_uint_eq(p->iov_len, 4);
	/* Exactly to an element boundary, then past the end. */
	p = iov_advance(p, &cnt, 4);
	ck_assert_ptr_eq(p, &iov[2]);
	ck_assert_uint_eq(cnt, 1);
	p = iov_advance(p, &cnt, 100);
	ck_assert_uint_eq(cnt, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");

	UNIT_TCASE(s, "size", size_plain, size_suffixes, size_malformed,
		   size_overflow, u64_parse);
	UNIT_TCASE(s, "log", debug_switch, ratelimit_bursts, warn_storm_is_limited);
	UNIT_TCASE(s, "file", read_all, read_all_fifo);
	UNIT_TCASE(s, "iov", iov_copies, iov_advance_trims);
	UNIT_TCASE(s, "fdpass", fdpass_carries_fds);
	return unit_run(s);
}
