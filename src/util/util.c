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

bool tern_ratelimit_allow(struct tern_ratelimit *rl, int64_t now_us,
			  unsigned int *suppressed)
{
	if (!rl->printed || now_us - rl->start >= TERN_LOG_INTERVAL_US ||
	    now_us < rl->start) {
		rl->start = now_us;
		rl->printed = 0;
	}
	if (rl->printed >= TERN_LOG_BURST) {
		rl->suppressed++;
		return false;
	}
	rl->printed++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

/*
 * Repeated lines are limited per call site, told apart by their format
 * string: a connection storm past the QMP client cap once wrote 101 k
 * warnings in 15 s. The state is process-wide, as stderr is: every thread
 * and module logs, and none has a context to keep it in. A site beyond
 * LOG_SITES takes the place of the one whose interval began longest ago
 * (reporting what that one suppressed first).
 */
#define LOG_SITES 32

struct log_site {
	const char *fmt;
	const char *prefix;
	struct tern_ratelimit rl;
	char last[256]; /* the last line suppressed, for the report at exit */
};

static GMutex log_lock;
static struct log_site log_sites[LOG_SITES];
static bool log_report_registered;

/* Say how many of a site's lines were dropped and not yet reported. */
static void log_site_report(struct log_site *site)
{
	if (!site->rl.suppressed)
		return;
	fprintf(stderr, "tern: %s%u similar lines suppressed, the last: %s\n",
		site->prefix, site->rl.suppressed, site->last);
	site->rl.suppressed = 0;
}

/* At exit, what the storm's last lines were and how many. */
static void log_report_all(void)
{
	g_mutex_lock(&log_lock);
	for (size_t i = 0; i < LOG_SITES; i++)
		log_site_report(&log_sites[i]);
	g_mutex_unlock(&log_lock);
}

/* Called with log_lock held. */
static struct log_site *log_site_get(const char *fmt, const char *prefix)
{
	struct log_site *site = &log_sites[0];

	for (size_t i = 0; i < LOG_SITES; i++) {
		if (log_sites[i].fmt == fmt)
			return &log_sites[i];
		if (!log_sites[i].fmt ||
		    (site->fmt && log_sites[i].rl.start < site->rl.start))
			site = &log_sites[i];
	}
	log_site_report(site);
	memset(site, 0, sizeof(*site));
	site->fmt = fmt;
	site->prefix = prefix;
	return site;
}

static void log_limited(const char *prefix, const char *fmt, va_list ap)
{
	unsigned int dropped = 0;
	struct log_site *site;
	char buf[1024];
	bool allow;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	g_mutex_lock(&log_lock);
	site = log_site_get(fmt, prefix);
	allow = tern_ratelimit_allow(&site->rl, g_get_monotonic_time(),
				     &dropped);
	if (!allow) {
		g_strlcpy(site->last, buf, sizeof(site->last));
		if (!log_report_registered)
			log_report_registered = !atexit(log_report_all);
	}
	g_mutex_unlock(&log_lock);
	if (!allow)
		return;
	if (dropped)
		fprintf(stderr, "tern: %s%s [%u similar lines before it suppressed]\n",
			prefix, buf, dropped);
	else
		fprintf(stderr, "tern: %s%s\n", prefix, buf);
}

void tern_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited("", fmt, ap);
	va_end(ap);
}

void tern_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_limited("warning: ", fmt, ap);
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
