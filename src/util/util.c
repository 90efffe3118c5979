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

bool tern_debug_enabled(void)
{
	static int enabled = -1;

	if (enabled < 0)
		enabled = getenv("TERN_DEBUG") != NULL;
	return enabled;
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

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || g_ascii_isspace(*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!s || !*s || !g_ascii_isdigit(*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
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

	fd = open(path, O_RDONLY | O_CLOEXEC);
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
