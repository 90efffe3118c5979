// SPDX-License-Identifier: MIT
/*
 * migrate-set-parameters and query-migrate-parameters: every parameter
 * QEMU 7.2 has, with its defaults and its range checks (and messages),
 * all checked before any is set. The ones tern acts on go to the
 * migration (migration_params); the others are kept and shown.
 */
#include <string.h>

#include "tern/error.h"
#include "tern/migration.h"
#include "tern/qmp.h"
#include "qmp_migration.h"

static const char *const multifd_compression_values[] = { "none", "zlib",
							  "zstd", NULL };

const struct qmp_arg qmp_migration_params_args[] = {
	{ .name = "announce-initial", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "announce-max", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "announce-rounds", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "announce-step", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "compress-level", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "compress-threads", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "compress-wait-thread", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "decompress-threads", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "throttle-trigger-threshold", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "cpu-throttle-initial", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "cpu-throttle-increment", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "cpu-throttle-tailslow", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "tls-creds", .type = QMP_TYPE_ANY, .optional = true },
	{ .name = "tls-hostname", .type = QMP_TYPE_ANY, .optional = true },
	{ .name = "tls-authz", .type = QMP_TYPE_ANY, .optional = true },
	{ .name = "max-bandwidth", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "downtime-limit", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "x-checkpoint-delay", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "block-incremental", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "multifd-channels", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "xbzrle-cache-size", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "max-postcopy-bandwidth", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "max-cpu-throttle", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "multifd-compression", .type = QMP_TYPE_STR, .optional = true,
	  .values = multifd_compression_values },
	{ .name = "multifd-zlib-level", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "multifd-zstd-level", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "block-bitmap-mapping", .type = QMP_TYPE_ARRAY, .optional = true,
	  .elem = QMP_TYPE_OBJECT },
	{ NULL },
};

json_object *qmp_migration_params_new(void)
{
	json_object *p = json_object_new_object();

	qmp_add_int(p, "announce-initial", 50);
	qmp_add_int(p, "announce-max", 550);
	qmp_add_int(p, "announce-rounds", 5);
	qmp_add_int(p, "announce-step", 100);
	qmp_add_int(p, "compress-level", 1);
	qmp_add_int(p, "compress-threads", 8);
	qmp_add_bool(p, "compress-wait-thread", true);
	qmp_add_int(p, "decompress-threads", 2);
	qmp_add_int(p, "throttle-trigger-threshold", 50);
	qmp_add_int(p, "cpu-throttle-initial", 20);
	qmp_add_int(p, "cpu-throttle-increment", 10);
	qmp_add_bool(p, "cpu-throttle-tailslow", false);
	qmp_add_str(p, "tls-creds", "");
	qmp_add_str(p, "tls-hostname", "");
	qmp_add_str(p, "tls-authz", "");
	qmp_add_int(p, "max-bandwidth", (int64_t)MIGRATION_DEFAULT_MAX_BANDWIDTH);
	qmp_add_int(p, "downtime-limit", MIGRATION_DEFAULT_DOWNTIME_MS);
	qmp_add_int(p, "x-checkpoint-delay", 20000);
	qmp_add_bool(p, "block-incremental", false);
	qmp_add_int(p, "multifd-channels", 2);
	qmp_add_int(p, "xbzrle-cache-size", 64 * 1024 * 1024);
	qmp_add_int(p, "max-postcopy-bandwidth", 0);
	qmp_add_int(p, "max-cpu-throttle", 99);
	qmp_add_str(p, "multifd-compression", "none");
	qmp_add_int(p, "multifd-zlib-level", 1);
	qmp_add_int(p, "multifd-zstd-level", 1);
	return p;
}

/* The value in args if given, else the current one; as uint64 (QEMU's size). */
static uint64_t param_u64(json_object *params, json_object *args,
			  const char *key)
{
	json_object *v;
	int64_t s;

	if (!json_object_object_get_ex(args, key, &v))
		v = json_object_object_get(params, key);
	/* A negative number wraps, as QEMU's visitor of a size does. */
	s = json_object_get_int64(v);
	return s < 0 ? (uint64_t)s : json_object_get_uint64(v);
}

struct param_range {
	const char *key, *qemu_name, *expect;
	uint64_t lo, hi;
};

/* QEMU's checks (migration/migration.c migrate_params_check), its words. */
static const struct param_range param_ranges[] = {
	{ "compress-level", "compress_level", "a value between 0 and 9", 0, 9 },
	{ "compress-threads", "compress_threads", "a value between 1 and 255", 1, 255 },
	{ "decompress-threads", "decompress_threads", "a value between 1 and 255", 1, 255 },
	{ "throttle-trigger-threshold", "throttle_trigger_threshold",
	  "an integer in the range of 1 to 100", 1, 100 },
	{ "cpu-throttle-initial", "cpu_throttle_initial",
	  "an integer in the range of 1 to 99", 1, 99 },
	{ "cpu-throttle-increment", "cpu_throttle_increment",
	  "an integer in the range of 1 to 99", 1, 99 },
	{ "downtime-limit", "downtime_limit",
	  "an integer in the range of 0 to (2000 * 1000) ms", 0,
	  MIGRATION_MAX_DOWNTIME_MS },
	{ "multifd-channels", "multifd_channels", "a value between 1 and 255", 1, 255 },
	{ "multifd-zlib-level", "multifd_zlib_level", "a value between 0 and 9", 0, 9 },
	{ "multifd-zstd-level", "multifd_zstd_level", "a value between 0 and 20", 0, 20 },
	{ "announce-initial", "announce_initial", "a value between 0 and 100000", 0, 100000 },
	{ "announce-max", "announce_max", "a value between 0 and 100000", 0, 100000 },
	{ "announce-rounds", "announce_rounds", "a value between 0 and 1000", 0, 1000 },
	{ "announce-step", "announce_step", "a value between 0 and 10000", 0, 10000 },
};

static bool params_check(json_object *params, json_object *args, GError **err)
{
	uint64_t v, initial;
	json_object *tls;

	for (size_t i = 0; i < G_N_ELEMENTS(param_ranges); i++) {
		const struct param_range *r = &param_ranges[i];

		if (!json_object_object_get(args, r->key))
			continue;
		v = param_u64(params, args, r->key);
		if (v < r->lo || v > r->hi) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Parameter '%s' expects %s", r->qemu_name,
				    r->expect);
			return false;
		}
	}
	initial = param_u64(params, args, "cpu-throttle-initial");
	v = param_u64(params, args, "max-cpu-throttle");
	if (json_object_object_get(args, "max-cpu-throttle") &&
	    (v < initial || v > 99)) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99");
		return false;
	}
	v = param_u64(params, args, "xbzrle-cache-size");
	if (json_object_object_get(args, "xbzrle-cache-size") &&
	    (v < 4096 || (v & (v - 1)))) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size");
		return false;
	}
	for (const char *const *k = (const char *const[]){ "tls-creds", "tls-hostname",
							    "tls-authz", NULL };
	     *k; k++) {
		tls = json_object_object_get(args, *k);
		if (tls && !json_object_is_type(tls, json_type_null) &&
		    !json_object_is_type(tls, json_type_string)) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Invalid parameter type for '%s', expected: string or null",
				    *k);
			return false;
		}
		if (tls && json_object_is_type(tls, json_type_string) &&
		    *json_object_get_string(tls) && !strcmp(*k, "tls-creds")) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "tern does not encrypt migration streams: tls-creds must be empty");
			return false;
		}
	}
	return true;
}

json_object *qmp_migration_set_params(struct migration *m, json_object *params,
				      json_object *args, GError **err)
{
	struct migration_params p;

	if (!params_check(params, args, err))
		return NULL;
	json_object_object_foreach(args, key, val) {
		json_object *copy = NULL;

		/* tls-*: null means "", as query shows it. */
		if (json_object_is_type(val, json_type_null))
			copy = json_object_new_string("");
		else if (json_object_is_type(val, json_type_int))
			copy = json_object_new_uint64(json_object_get_uint64(val));
		else
			json_object_deep_copy(val, &copy, NULL);
		json_object_object_add(params, key, copy);
	}
	migration_get_params(m, &p);
	p.max_bandwidth = param_u64(params, args, "max-bandwidth");
	p.downtime_limit_ms = param_u64(params, args, "downtime-limit");
	p.max_postcopy_bandwidth = param_u64(params, args, "max-postcopy-bandwidth");
	p.cpu_throttle_initial = (uint32_t)param_u64(params, args, "cpu-throttle-initial");
	p.cpu_throttle_increment =
		(uint32_t)param_u64(params, args, "cpu-throttle-increment");
	p.max_cpu_throttle = (uint32_t)param_u64(params, args, "max-cpu-throttle");
	p.throttle_trigger_threshold =
		(uint32_t)param_u64(params, args, "throttle-trigger-threshold");
	p.cpu_throttle_tailslow = json_object_get_boolean(
		json_object_object_get(params, "cpu-throttle-tailslow"));
	if (!migration_set_params(m, &p, err))
		return NULL;
	return json_object_new_object();
}
