/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every module: logging, size parsing, checked I/O. */
#ifndef TERN_UTIL_H
#define TERN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define __must_check __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/*
 * Log lines go to stderr prefixed with "tern: ". tern_log() and tern_warn()
 * let at most TERN_LOG_BURST lines from one call site (one format string)
 * through per TERN_LOG_INTERVAL_US; the next line that gets through says
 * how many were suppressed before it, and a last line at exit reports the
 * rest. Debug lines are not limited.
 */
void tern_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tern_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TERN_LOG_BURST 10
#define TERN_LOG_INTERVAL_US (5 * 1000 * 1000LL)

struct tern_ratelimit {
	int64_t start; /* when the current interval began, in µs */
	unsigned int printed; /* lines let through in it */
	unsigned int suppressed; /* dropped since the last one let through */
};

/*
 * May one more line go out at now_us? If so, *suppressed is how many were
 * dropped before it, to be said with it, and the count starts again.
 */
bool tern_ratelimit_allow(struct tern_ratelimit *rl, int64_t now_us,
			  unsigned int *suppressed);
/* Debug output only after tern_debug_set(true) (`tern run --debug`). */
void tern_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool tern_debug_enabled(void);
/* Call before creating threads. */
void tern_debug_set(bool on);

/*
 * Every number on tern's command line goes through these. Digits are
 * decimal only: no sign, no space, no 0x or octal, no leading zero ("010"
 * is refused rather than read as 8 or 10), so no value a user can type
 * collides with a "not given" marker or means something else than it reads.
 */

/*
 * A size such as "512", "64K", "128M", "2G" (binary multiples,
 * case-insensitive, optional trailing "B"/"iB"). Returns 0 or -EINVAL for a
 * malformed string, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *out) __must_check;

/* An unsigned decimal integer, the whole string; -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t *out) __must_check;

/*
 * Read a whole file into a freshly allocated buffer (g_free it). Fails with
 * -errno; refuses files larger than max_size with -EFBIG, directories with
 * -EISDIR and anything else that is not a regular file (a FIFO, a device)
 * with -EINVAL, without blocking in open().
 */
int file_read_all(const char *path, size_t max_size, uint8_t **buf,
		  size_t *len) __must_check;

/* CLOCK_MONOTONIC in nanoseconds: deadlines and intervals. */
uint64_t tern_now_ns(void);

/* write(2)/read(2) that retry on EINTR and short transfers. */
int write_full(int fd, const void *buf, size_t len) __must_check;

#endif
