/* SPDX-License-Identifier: MIT */
/*
 * Live migration and snapshots (docs/migration.md). The control plane is
 * QEMU's (qapi/migration.json: statuses, capabilities, parameters, the
 * MIGRATION and MIGRATION_PASS events), so tools written for QEMU drive
 * tern unchanged; the data plane is tern's own stream (src/migration/
 * stream.c): framed, versioned, checksummed, carrying the Core state
 * format (state.h) for everything but RAM.
 *
 * One struct migration per VM, created by main() after the VM and given
 * to QMP through vm->migration. Every function here runs on the main
 * thread; the work runs on migration threads (THREAD_ROLE_MIGRATION),
 * which hand whatever touches the run state or QMP back to the main loop.
 */
#ifndef TERN_MIGRATION_H
#define TERN_MIGRATION_H

#include <glib.h>

#include "tern/util.h"

struct vm;
struct migration;

/* QEMU's MigrationStatus, in its order. */
enum migration_status {
	MIGRATION_NONE,
	MIGRATION_SETUP,
	MIGRATION_CANCELLING,
	MIGRATION_CANCELLED,
	MIGRATION_ACTIVE,
	MIGRATION_POSTCOPY_ACTIVE,
	MIGRATION_POSTCOPY_PAUSED,
	MIGRATION_POSTCOPY_RECOVER,
	MIGRATION_COMPLETED,
	MIGRATION_FAILED,
	MIGRATION_COLO,
	MIGRATION_PRE_SWITCHOVER,
	MIGRATION_DEVICE,
	MIGRATION_WAIT_UNPLUG,
	MIGRATION_STATUS_COUNT,
};

const char *migration_status_name(enum migration_status s);
/* NULL-terminated, in enum order: the QMP enum. */
extern const char *const migration_status_names[];

/* QEMU's MigrationCapability, in its order (query-migrate-capabilities). */
enum migration_cap {
	MIGRATION_CAP_XBZRLE,
	MIGRATION_CAP_RDMA_PIN_ALL,
	MIGRATION_CAP_AUTO_CONVERGE,
	MIGRATION_CAP_ZERO_BLOCKS,
	MIGRATION_CAP_COMPRESS,
	MIGRATION_CAP_EVENTS,
	MIGRATION_CAP_POSTCOPY_RAM,
	MIGRATION_CAP_X_COLO,
	MIGRATION_CAP_RELEASE_RAM,
	MIGRATION_CAP_BLOCK,
	MIGRATION_CAP_RETURN_PATH,
	MIGRATION_CAP_PAUSE_BEFORE_SWITCHOVER,
	MIGRATION_CAP_MULTIFD,
	MIGRATION_CAP_DIRTY_BITMAPS,
	MIGRATION_CAP_POSTCOPY_BLOCKTIME,
	MIGRATION_CAP_LATE_BLOCK_ACTIVATE,
	MIGRATION_CAP_X_IGNORE_SHARED,
	MIGRATION_CAP_VALIDATE_UUID,
	MIGRATION_CAP_BACKGROUND_SNAPSHOT,
	MIGRATION_CAP_ZERO_COPY_SEND,
	MIGRATION_CAP_POSTCOPY_PREEMPT,
	MIGRATION_CAP_COUNT,
};

extern const char *const migration_cap_names[]; /* NULL-terminated */

/* The parameters tern acts on (query-migrate-parameters shows QEMU's all). */
struct migration_params {
	uint64_t max_bandwidth; /* bytes/s of pre-copy; 0: no limit */
	uint64_t downtime_limit_ms;
	uint64_t max_postcopy_bandwidth; /* 0: no limit */
	uint32_t cpu_throttle_initial; /* percent, 1..99 */
	uint32_t cpu_throttle_increment; /* percent, 1..99 */
	uint32_t max_cpu_throttle; /* percent, 1..99 */
	uint32_t throttle_trigger_threshold; /* percent, 1..100 */
	bool cpu_throttle_tailslow;
};

/* QEMU's defaults, so a tool that never sets them sees the same. */
#define MIGRATION_DEFAULT_MAX_BANDWIDTH (128ULL * MiB)
#define MIGRATION_DEFAULT_DOWNTIME_MS 300
#define MIGRATION_MAX_DOWNTIME_MS (2000ULL * 1000)

/* What query-migrate reports (QEMU's MigrationInfo, the parts tern has). */
struct migration_info {
	enum migration_status status;
	bool outgoing; /* about a migration this VM sends (else receives) */
	bool has_ram; /* the ram member and the times */
	uint64_t total_time_ms, setup_time_ms;
	bool has_expected_downtime, has_downtime;
	uint64_t expected_downtime_ms, downtime_ms;
	bool has_throttle;
	uint32_t cpu_throttle_percentage;
	struct {
		uint64_t transferred, remaining, total, duplicate, normal,
			normal_bytes, dirty_pages_rate, dirty_sync_count,
			postcopy_requests, page_size, pages_per_second,
			precopy_bytes, downtime_bytes, postcopy_bytes;
		double mbps;
	} ram;
	char error[256]; /* error-desc, "" for none */
	/* An incoming migration's listening address: "unix" or "inet". */
	char listen_type[8];
	char listen_path[108];
	char listen_host[64];
	char listen_port[8];
};

/* A migration URI: tcp:HOST:PORT, unix:PATH, file:PATH, or defer. */
enum migration_uri_kind {
	MIGRATION_URI_TCP,
	MIGRATION_URI_UNIX,
	MIGRATION_URI_FILE,
	MIGRATION_URI_DEFER,
};

struct migration_uri {
	enum migration_uri_kind kind;
	char *host, *port; /* TCP; an IPv6 host is written [addr]:port */
	char *path; /* UNIX, FILE */
};

/* Pure: parse uri; false with err saying what is expected. */
bool migration_uri_parse(const char *uri, struct migration_uri *out,
			 GError **err);
void migration_uri_clear(struct migration_uri *u);

enum migration_event {
	MIGRATION_EVENT_STATUS, /* MIGRATION {"status"} */
	MIGRATION_EVENT_PASS, /* MIGRATION_PASS {"pass"} */
};

/*
 * Told of every status change and pass, on the main thread, whatever the
 * events capability says (the listener decides).
 */
typedef void migration_event_fn(void *opaque, enum migration_event ev,
				enum migration_status status, uint64_t pass);

struct migration *migration_create(struct vm *vm, GError **err);
/*
 * Stop every migration thread (a migration in flight fails; the VM is left
 * as it is) and free. After the main loop; emits nothing.
 */
void migration_destroy(struct migration *m);

/* One listener; free_fn(opaque) runs at migration_destroy(). */
void migration_set_listener(struct migration *m, migration_event_fn *fn,
			    void *opaque, void (*free_fn)(void *));

/* Capabilities and parameters; refused while a migration runs. */
bool migration_set_cap(struct migration *m, enum migration_cap cap, bool on,
		       GError **err);
bool migration_get_cap(struct migration *m, enum migration_cap cap);
/* Can tern do cap at all? (Setting an unsupported one is an error.) */
bool migration_cap_supported(enum migration_cap cap);
bool migration_set_params(struct migration *m,
			  const struct migration_params *p, GError **err);
void migration_get_params(struct migration *m, struct migration_params *p);

/* query-migrate. */
void migration_query(struct migration *m, struct migration_info *info);

/*
 * The incoming side: `--incoming URI` and migrate-incoming. The VM must be
 * in the inmigrate state (built with --incoming); a file: URI restores a
 * snapshot at once. err for a URI or state that cannot work.
 */
bool migration_incoming(struct migration *m, const char *uri, GError **err);
/* --incoming defer was given and migrate-incoming not yet. */
bool migration_incoming_deferred(struct migration *m);

/* The outgoing side: migrate {"uri", "resume"}. Returns once started. */
bool migration_start(struct migration *m, const char *uri, bool resume,
		     GError **err);
bool migration_cancel(struct migration *m, GError **err);
bool migration_start_postcopy(struct migration *m, GError **err);
/* migrate-pause: break the link of a post-copy (either side). */
bool migration_pause(struct migration *m, GError **err);
/* migrate-recover: the destination listens again after a post-copy break. */
bool migration_recover(struct migration *m, const char *uri, GError **err);
/* migrate-continue: past pre-switchover. */
bool migration_continue(struct migration *m, enum migration_status state,
			GError **err);

#endif
