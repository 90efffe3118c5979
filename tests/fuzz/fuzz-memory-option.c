// SPDX-License-Identifier: MIT
/*
 * The --memory option, through the `tern run` parser as the command line
 * gives it: config_parse_run() on {"run", "--memory=VALUE"}, the value
 * being the input up to its first NUL byte. An accepted size is one guest
 * RAM can be laid out with; a refusal names the option.
 */
#include <string.h>

#include "tern/config.h"
#include "tern/error.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *value = g_strndup((const char *)data, size);
	g_autofree char *arg = g_strconcat("--memory=", value, NULL);
	char *argv[] = { "run", arg, NULL };
	struct vm_config cfg;
	GError *err = NULL;

	if (config_parse_run(2, argv, &cfg, &err)) {
		FUZZ_CHECK(!err);
		FUZZ_CHECK(cfg.memory >= CONFIG_MIN_MEMORY &&
			   cfg.memory <= CONFIG_MAX_MEMORY);
		FUZZ_CHECK(cfg.memory % (4 * KiB) == 0);
		FUZZ_CHECK(!cfg.memory_hugepages ||
			   (cfg.memory_shared && cfg.memory % (2 * MiB) == 0));
		config_clear(&cfg);
	} else {
		FUZZ_CHECK(err && err->domain == TERN_ERROR &&
			   err->code == TERN_ERROR_INPUT);
		FUZZ_CHECK(strstr(err->message, "--memory"));
		g_error_free(err);
	}
	return 0;
}
