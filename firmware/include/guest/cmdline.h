/* SPDX-License-Identifier: MIT */
/*
 * String-valued "key=value" words of the command line, next to
 * cmdline_get_uint() in guest/start_info.h. Any CPL.
 */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Copy the value of the word "key=value" into buf (NUL-terminated). False
 * when the key is absent or the value does not fit in size - 1 bytes.
 */
bool cmdline_get_str(const char *key, char *buf, size_t size);

/* Whether "key=value" is on the command line with exactly this value. */
bool cmdline_is(const char *key, const char *value);

/* cmdline_get_uint() with a default for an absent or bad value. */
unsigned long cmdline_uint_or(const char *key, unsigned long max,
			      unsigned long dflt);

#endif
