/* SPDX-License-Identifier: MIT */
/* Driving config_parse_run() from a test with a plain argument list. */
#ifndef TERN_RUN_ARGS_H
#define TERN_RUN_ARGS_H

#include <glib.h>
#include <stdarg.h>

#include "tern/config.h"
#include "tern/error.h"
#include "unit.h"

/*
 * Parse a NULL-terminated argument list as `tern run ARGS...`. On failure
 * the error must be an input error (exit status 2); *msg gets its text.
 */
static inline bool parse_run(struct vm_config *cfg, char **msg, ...)
{
	char *argv[32] = { "run" };
	int argc = 1;
	va_list ap;
	GError *err = NULL;
	bool ok;

	va_start(ap, msg);
	for (char *a; argc < 31 && (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	ok = config_parse_run(argc, argv, cfg, &err);
	if (msg)
		*msg = err ? g_strdup(err->message) : NULL;
	if (err) {
		ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
		g_error_free(err);
	}
	return ok;
}

#endif
