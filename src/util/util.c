// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/util.h"

static void log_line(const char *prefix, const char *fmt, va_list ap)
{
	/* One fprintf per line keeps lines from different threads whole. */
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "tern: %s%s\n", prefix, buf);
}

void tern_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("", fmt, ap);
	va_end(ap);
}

void tern_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("warning: ", fmt, ap);
	va_end(ap);
}

/*
 * Set once by main() from --debug, before any thread exists; thread creation
 * orders the write before every read. Logging is process-wide, like stderr.
 */
static bool debug_enabled;

void tern_debug_set(bool on)
{
	debug_enabled = on;
}

bool tern_debug_enabled(void)
{
	return debug_enabled;
}

void tern_debug(const char *fmt, ...)
{
	va_list ap;

	if (!tern_debug_enabled())
		return;
	va_start(ap, fmt);
	log_line("debug: ", fmt, ap);
	va_end(ap);
}

/*
 * The one digit reader behind every number tern takes: ASCII decimal digits
 * only, no sign, space or base prefix, and no leading zero (so "010" is
 * neither silently octal, as strtoull's base 0 reads it, nor silently ten).
 * *end gets the first byte after the digits.
 */
static int parse_decimal(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || !g_ascii_isdigit(*s))
		return -EINVAL;
	if (s[0] == '0' && g_ascii_isdigit(s[1]))
		return -EINVAL;
	for (; g_ascii_isdigit(*p); p++) {
		unsigned int d = *p - '0';

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*end = p;
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int ret = parse_decimal(s, &end, &v);

	if (ret)
		return ret;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;
	uint64_t mult = 1;
	int ret = parse_decimal(s, &end, &v);

	if (ret)
		return ret;
	switch (g_ascii_toupper(*end)) {
	case '\0':
		break;
	case 'K':
		mult = KiB;
		end++;
		break;
	case 'M':
		mult = MiB;
		end++;
		break;
	case 'G':
		mult = GiB;
		end++;
		break;
	case 'T':
		mult = 1024 * GiB;
		end++;
		break;
	case 'B':
		break;
	default:
		return -EINVAL;
	}
	/* Accept "M", "MB" and "MiB" alike: all mean binary multiples here. */
	if (mult != 1 && g_ascii_tolower(end[0]) == 'i' &&
	    g_ascii_toupper(end[1]) == 'B')
		end++;
	if (g_ascii_toupper(*end) == 'B')
		end++;
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int file_read_all(const char *path, size_t max_size, uint8_t **buf,
		  size_t *len)
{
	struct stat st;
	uint8_t *data;
	size_t done = 0;
	int fd, ret;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out_close;
	}
	if ((uint64_t)st.st_size > max_size) {
		ret = -EFBIG;
		goto out_close;
	}
	data = g_malloc(st.st_size ? st.st_size : 1);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			g_free(data);
			goto out_close;
		}
		if (n == 0)
			break; /* truncated under us: take what is there */
		done += n;
	}
	*buf = data;
	*len = done;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

G_DEFINE_QUARK(tern-error-quark, tern_error)

uint64_t tern_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
