// SPDX-License-Identifier: MIT
/* The --disk option: "key=value,..." → struct disk_config, nothing opened. */
#include <errno.h>
#include <string.h>

#include "tern/block.h"
#include "tern/error.h"

static const char disk_keys[] =
	"path, readonly, engine, cache, serial, queues, poll-us";

const char *blk_engine_name(enum blk_engine_kind kind)
{
	switch (kind) {
	case BLK_ENGINE_IO_URING:
		return "io_uring";
	case BLK_ENGINE_AIO:
		return "aio";
	case BLK_ENGINE_THREADS:
		return "threads";
	}
	return "?";
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true" };
	static const char *const no[] = { "off", "no", "false" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(v, yes[i])) {
			*out = true;
			return true;
		}
		if (!strcmp(v, no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

/*
 * Split at single commas; ",," stands for one literal comma (QEMU's
 * convention, so a path may contain commas). Returns the elements.
 */
static GPtrArray *split_spec(const char *spec)
{
	GPtrArray *items = g_ptr_array_new_with_free_func(g_free);
	GString *cur = g_string_new(NULL);

	for (const char *p = spec;; p++) {
		if (*p == ',' && p[1] == ',') {
			g_string_append_c(cur, ',');
			p++;
		} else if (*p == ',' || !*p) {
			g_ptr_array_add(items, g_string_free(cur, FALSE));
			if (!*p)
				break;
			cur = g_string_new(NULL);
		} else {
			g_string_append_c(cur, *p);
		}
	}
	return items;
}

#define DISK_ERR(...)                                                          \
	do {                                                                   \
		g_autofree char *m_ = g_strdup_printf(__VA_ARGS__);            \
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,                 \
			    "--disk '%s': %s", spec, m_);                      \
		goto fail;                                                     \
	} while (0)

bool disk_config_parse(const char *spec, struct disk_config *out,
		       GError **err)
{
	g_autoptr(GPtrArray) items = NULL;
	bool seen_cache = false;
	unsigned int seen = 0;

	memset(out, 0, sizeof(*out));
	out->engine = BLK_ENGINE_IO_URING;
	out->cache = BLK_CACHE_WRITEBACK;
	out->queues = 1;
	out->poll_us = BLK_POLL_US_DEFAULT;
	out->spec = g_strdup(spec);
	if (!*spec)
		DISK_ERR("expected path=FILE[,key=value...]");

	items = split_spec(spec);
	for (guint i = 0; i < items->len; i++) {
		const char *item = items->pdata[i];
		const char *eq = strchr(item, '=');
		g_autofree char *key = NULL;
		const char *val;
		unsigned int bit;

		if (!*item)
			DISK_ERR("empty option (a stray comma?)");
		if (!eq)
			DISK_ERR("'%s': expected key=value (keys: %s)", item,
				 disk_keys);
		key = g_strndup(item, eq - item);
		val = eq + 1;

		if (!strcmp(key, "path"))
			bit = 0;
		else if (!strcmp(key, "readonly"))
			bit = 1;
		else if (!strcmp(key, "engine"))
			bit = 2;
		else if (!strcmp(key, "cache"))
			bit = 3;
		else if (!strcmp(key, "serial"))
			bit = 4;
		else if (!strcmp(key, "queues"))
			bit = 5;
		else if (!strcmp(key, "poll-us"))
			bit = 6;
		else
			DISK_ERR("unknown key '%s' (keys: %s)", key, disk_keys);
		if (seen & (1U << bit))
			DISK_ERR("'%s' given twice", key);
		seen |= 1U << bit;
		if (!*val)
			DISK_ERR("'%s' needs a value", key);

		switch (bit) {
		case 0:
			out->path = g_strdup(val);
			break;
		case 1:
			if (!parse_bool(val, &out->readonly))
				DISK_ERR("readonly='%s': expected on or off", val);
			break;
		case 2:
			if (!strcmp(val, "io_uring"))
				out->engine = BLK_ENGINE_IO_URING;
			else if (!strcmp(val, "aio"))
				out->engine = BLK_ENGINE_AIO;
			else if (!strcmp(val, "threads"))
				out->engine = BLK_ENGINE_THREADS;
			else
				DISK_ERR("engine='%s': expected io_uring, aio or threads",
					 val);
			break;
		case 3:
			seen_cache = true;
			if (!strcmp(val, "writeback"))
				out->cache = BLK_CACHE_WRITEBACK;
			else if (!strcmp(val, "none"))
				out->cache = BLK_CACHE_NONE;
			else
				DISK_ERR("cache='%s': expected writeback or none", val);
			break;
		case 4:
			if (strlen(val) > BLK_SERIAL_MAX)
				DISK_ERR("serial='%s': at most %d characters", val,
					 BLK_SERIAL_MAX);
			for (const char *c = val; *c; c++)
				if (*c < 0x20 || *c > 0x7e)
					DISK_ERR("serial='%s': printable ASCII only",
						 val);
			out->serial = g_strdup(val);
			break;
		case 5: {
			uint64_t n;

			if (parse_u64(val, &n) || n < 1 || n > BLK_MAX_QUEUES)
				DISK_ERR("queues='%s': expected a decimal number from 1 to %d",
					 val, BLK_MAX_QUEUES);
			out->queues = n;
			break;
		}
		case 6: {
			uint64_t n;

			if (parse_u64(val, &n) || n > BLK_POLL_US_MAX)
				DISK_ERR("poll-us='%s': expected microseconds from 0 to %d",
					 val, BLK_POLL_US_MAX);
			out->poll_us = n;
			break;
		}
		}
	}
	if (!out->path)
		DISK_ERR("path=FILE is required");
	/*
	 * Linux AIO is only asynchronous with O_DIRECT: on the page cache
	 * io_submit() does the I/O itself and blocks. QEMU refuses the
	 * combination too; engine=aio alone implies cache=none.
	 */
	if (out->engine == BLK_ENGINE_AIO) {
		if (seen_cache && out->cache != BLK_CACHE_NONE)
			DISK_ERR("engine=aio needs cache=none (Linux AIO blocks on the page cache)");
		out->cache = BLK_CACHE_NONE;
	}
	return true;

fail:
	disk_config_clear(out);
	return false;
}

void disk_config_clear(struct disk_config *cfg)
{
	g_free(cfg->path);
	g_free(cfg->serial);
	g_free(cfg->spec);
	memset(cfg, 0, sizeof(*cfg));
}
