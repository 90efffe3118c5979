// SPDX-License-Identifier: MIT
/*
 * The --disk option parser: disk_config_parse() on the input as the
 * option's value (up to its first NUL byte, as argv would end it). A
 * value it accepts must say what it parsed within the documented ranges;
 * one it refuses must name the option, and leave nothing allocated.
 */
#include <string.h>

#include "tern/block.h"
#include "tern/error.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *spec = g_strndup((const char *)data, size);
	struct disk_config cfg;
	GError *err = NULL;

	if (disk_config_parse(spec, &cfg, &err)) {
		FUZZ_CHECK(!err && cfg.path && *cfg.path);
		FUZZ_CHECK(cfg.queues >= 1 && cfg.queues <= BLK_MAX_QUEUES);
		FUZZ_CHECK(cfg.poll_us <= BLK_POLL_US_MAX);
		FUZZ_CHECK(!cfg.serial || strlen(cfg.serial) <= BLK_SERIAL_MAX);
		FUZZ_CHECK(cfg.engine != BLK_ENGINE_AIO ||
			   cfg.cache == BLK_CACHE_NONE);
		FUZZ_CHECK(cfg.spec && !strcmp(cfg.spec, spec));
		disk_config_clear(&cfg);
	} else {
		FUZZ_CHECK(err && err->domain == TERN_ERROR &&
			   err->code == TERN_ERROR_INPUT);
		FUZZ_CHECK(g_str_has_prefix(err->message, "--disk '"));
		FUZZ_CHECK(!cfg.path && !cfg.serial && !cfg.spec);
		g_error_free(err);
	}
	return 0;
}
