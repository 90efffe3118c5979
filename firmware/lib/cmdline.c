// SPDX-License-Identifier: MIT
/* String values on the PVH command line. */
#include "guest/cmdline.h"
#include "guest/start_info.h"
#include "guest/string.h"

/* The value of "key=..." as a pointer into the command line, or NULL. */
static const char *cmdline_find(const char *key)
{
	const char *p = start_info_cmdline();
	size_t klen = strlen(key);

	while (*p) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

bool cmdline_get_str(const char *key, char *buf, size_t size)
{
	const char *v = cmdline_find(key);
	size_t n = 0;

	if (!v || size == 0)
		return false;
	while (v[n] && v[n] != ' ') {
		if (n + 1 >= size)
			return false;
		buf[n] = v[n];
		n++;
	}
	buf[n] = '\0';
	return true;
}

bool cmdline_is(const char *key, const char *value)
{
	const char *v = cmdline_find(key);
	size_t n = strlen(value);

	return v && strncmp(v, value, n) == 0 && (v[n] == '\0' || v[n] == ' ');
}

unsigned long cmdline_uint_or(const char *key, unsigned long max,
			      unsigned long dflt)
{
	unsigned long v;

	return cmdline_get_uint(key, max, &v) ? v : dflt;
}
