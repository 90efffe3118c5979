// SPDX-License-Identifier: MIT
/* The --disk option: "key=value,..." → struct disk_config, nothing opened. */
#include <errno.h>
#include <string.h>

#include "tern/block.h"
#include "tern/error.h"

static const char disk_keys[] =
	"path, vhost-user, bus, lun, readonly, engine, cache, serial, queues, poll-us, reconnect";

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
	uint64_t n;

	memset(out, 0, sizeof(*out));
	out->engine = BLK_ENGINE_IO_URING;
	out->cache = BLK_CACHE_WRITEBACK;
	out->queues = 1;
	out->poll_us = BLK_POLL_US_DEFAULT;
	out->reconnect = true;
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
		else if (!strcmp(key, "bus"))
			bit = 7;
		else if (!strcmp(key, "lun"))
			bit = 8;
		else if (!strcmp(key, "vhost-user"))
			bit = 9;
		else if (!strcmp(key, "reconnect"))
			bit = 10;
		else
			DISK_ERR("unknown key '%s' (keys: %s)", key, disk_keys);
		if (seen & (1U << bit))
			DISK_ERR("'%s' given twice", key);
		seen |= 1U << bit;
		if (!*val)
			DISK_ERR("'%s' needs a value", key);

		switch (bit) {
		case 0:
			if (out->path)
				DISK_ERR("path= and vhost-user= exclude each other (vhost-user=SOCK: a back-end serves the disk)");
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
		case 5:
			if (parse_u64(val, &n) || n < 1 || n > BLK_MAX_QUEUES)
				DISK_ERR("queues='%s': expected a decimal number from 1 to %d",
					 val, BLK_MAX_QUEUES);
			out->queues = n;
			break;
		case 6:
			if (parse_u64(val, &n) || n > BLK_POLL_US_MAX)
				DISK_ERR("poll-us='%s': expected microseconds from 0 to %d",
					 val, BLK_POLL_US_MAX);
			out->poll_us = n;
			break;
		case 7:
			if (!strcmp(val, "blk"))
				out->bus = DISK_BUS_BLK;
			else if (!strcmp(val, "scsi"))
				out->bus = DISK_BUS_SCSI;
			else
				DISK_ERR("bus='%s': expected blk or scsi", val);
			break;
		case 8:
			if (parse_u64(val, &n) || n > DISK_SCSI_LUN_MAX)
				DISK_ERR("lun='%s': expected a decimal number from 0 to %d",
					 val, DISK_SCSI_LUN_MAX);
			out->lun = n;
			out->lun_given = true;
			break;
		case 9:
			if (out->path)
				DISK_ERR("path= and vhost-user= exclude each other (vhost-user=SOCK: a back-end serves the disk)");
			out->path = g_strdup(val);
			out->vhost_user = true;
			break;
		case 10:
			if (!parse_bool(val, &out->reconnect))
				DISK_ERR("reconnect='%s': expected on or off", val);
			break;
		}
	}
	if (!out->path)
		DISK_ERR("path=FILE is required (or vhost-user=SOCK)");
	/* The back-end owns the image, its cache and its queues' polling. */
	if (out->vhost_user && (seen & ~((1U << 9) | (1U << 5) | (1U << 10))))
		DISK_ERR("vhost-user= takes only queues= and reconnect= (the back-end owns the image and how it is read)");
	if (!out->vhost_user && (seen & (1U << 10)))
		DISK_ERR("reconnect= applies to vhost-user= disks only");
	if (out->lun_given && out->bus != DISK_BUS_SCSI)
		DISK_ERR("lun=%u needs bus=scsi (a virtio-blk disk has no LUN)",
			 out->lun);
	/*
	 * The controller has one request queue and one I/O thread for all
	 * its LUNs: a per-disk queue count or polling time means nothing.
	 */
	if (out->bus == DISK_BUS_SCSI && (seen & (1U << 5)))
		DISK_ERR("queues= applies to bus=blk only (the virtio-scsi controller has one request queue for all its disks)");
	if (out->bus == DISK_BUS_SCSI && (seen & (1U << 6)))
		DISK_ERR("poll-us= applies to bus=blk only (the virtio-scsi controller polls as virtio-blk does by default)");
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

bool disk_configs_finish(struct disk_config *disks, unsigned int n,
			 GError **err)
{
	const struct disk_config *owner[DISK_SCSI_LUN_MAX + 1] = { NULL };
	unsigned int count[2] = { 0, 0 }, next = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct disk_config *d = &disks[i];

		d->bus_index = count[d->bus]++;
		if (d->bus != DISK_BUS_SCSI || !d->lun_given)
			continue;
		if (owner[d->lun]) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--disk '%s': lun=%u is --disk '%s''s already",
				    d->spec, d->lun, owner[d->lun]->spec);
			return false;
		}
		owner[d->lun] = d;
	}
	/* Given LUNs first, so that an earlier disk cannot take one. */
	for (unsigned int i = 0; i < n; i++) {
		struct disk_config *d = &disks[i];

		if (d->bus != DISK_BUS_SCSI || d->lun_given)
			continue;
		while (next <= DISK_SCSI_LUN_MAX && owner[next])
			next++;
		/* At most CONFIG_MAX_DISKS disks: never, but not silently. */
		if (next > DISK_SCSI_LUN_MAX) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--disk '%s': no free LUN left", d->spec);
			return false;
		}
		d->lun = next;
		owner[next] = d;
	}
	return true;
}

unsigned int disk_configs_count(const struct disk_config *disks,
				unsigned int n, enum disk_bus bus)
{
	unsigned int count = 0;

	for (unsigned int i = 0; i < n; i++)
		count += disks[i].bus == bus;
	return count;
}

const struct disk_config *disk_configs_nth(const struct disk_config *disks,
					   unsigned int n, enum disk_bus bus,
					   unsigned int index)
{
	for (unsigned int i = 0; i < n; i++)
		if (disks[i].bus == bus && disks[i].bus_index == index)
			return &disks[i];
	return NULL;
}

void disk_config_clear(struct disk_config *cfg)
{
	g_free(cfg->path);
	g_free(cfg->serial);
	g_free(cfg->spec);
	memset(cfg, 0, sizeof(*cfg));
}
