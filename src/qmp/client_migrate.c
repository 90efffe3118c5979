// SPDX-License-Identifier: MIT
/*
 * `tern migrate QMP-SOCKET URI [--postcopy-after SECONDS]`: start a
 * migration over QMP (tern's or QEMU's: only QEMU's commands are used) and
 * follow it with query-migrate: one updating line on a terminal, a plain
 * line per change of pass or status (and per second) otherwise. Exits 0
 * when it completes, 1 when it fails or is cancelled, 2 for bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tern/error.h"
#include "client.h"

#define POLL_INTERVAL_US (100 * 1000)
#define CLIENT_EXIT_USAGE 2

static const char migrate_usage[] =
	"Usage: tern migrate QMP-SOCKET URI [--postcopy-after SECONDS]\n"
	"\n"
	"Migrate the VM whose QMP socket is QMP-SOCKET to URI (tcp:HOST:PORT,\n"
	"unix:PATH, or file:PATH for a snapshot) and show its progress. With\n"
	"--postcopy-after, switch to post-copy after that many seconds of\n"
	"pre-copy (the destination must allow it: migrate-set-capabilities).\n"
	"Exit status: 0 completed, 1 failed or cancelled, 2 bad usage.\n";

/* Send a request and wait for its reply (events in between are dropped). */
static json_object *call(struct conn *c, const char *cmd, json_object *args)
{
	g_autoptr(json_object) req = json_object_new_object();
	json_object *msg = NULL;

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	if (!client_conn_send(c, req))
		return NULL;
	for (;;) {
		if (client_conn_recv(c, &msg) <= 0) {
			fprintf(stderr, "tern migrate: the connection closed\n");
			return NULL;
		}
		if (client_msg_kind(msg) == CLIENT_MSG_REPLY)
			return msg;
		json_object_put(msg);
		msg = NULL;
	}
}

/* A command that must succeed; prints QEMU's error text otherwise. */
static bool call_ok(struct conn *c, const char *cmd, json_object *args)
{
	g_autoptr(json_object) r = call(c, cmd, args);
	json_object *e;

	if (!r)
		return false;
	if (json_object_object_get_ex(r, "error", &e)) {
		fprintf(stderr, "tern migrate: %s: %s\n", cmd,
			json_object_get_string(json_object_object_get(e, "desc")));
		return false;
	}
	return true;
}

static json_object *cap(const char *name)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "capability", json_object_new_string(name));
	json_object_object_add(o, "state", json_object_new_boolean(true));
	return o;
}

static int64_t member_int(json_object *o, const char *key)
{
	return json_object_get_int64(json_object_object_get(o, key));
}

/* One progress line from query-migrate's reply. */
static void progress_format(json_object *info, char *buf, size_t size)
{
	json_object *ram = json_object_object_get(info, "ram");
	const char *status = json_object_get_string(json_object_object_get(info, "status"));
	int64_t total = member_int(ram, "total"), sent = member_int(ram, "transferred");

	if (!ram) {
		snprintf(buf, size, "%s", status ? status : "starting");
		return;
	}
	snprintf(buf, size,
		 "%s: pass %lld, %lld/%lld MiB sent, %.0f Mbit/s, %lld dirty pages/s, %lld MiB left, expected downtime %lld ms",
		 status, (long long)member_int(ram, "dirty-sync-count"),
		 (long long)(sent >> 20), (long long)(total >> 20),
		 json_object_get_double(json_object_object_get(ram, "mbps")),
		 (long long)member_int(ram, "dirty-pages-rate"),
		 (long long)(member_int(ram, "remaining") >> 20),
		 (long long)member_int(info, "expected-downtime"));
}

static bool status_is(json_object *info, const char *s)
{
	const char *st = json_object_get_string(json_object_object_get(info, "status"));

	return st && !strcmp(st, s);
}

/* Follow the migration to its end; the exit status. */
static int follow(struct conn *c, double postcopy_after)
{
	bool tty = isatty(STDOUT_FILENO), switched = false;
	g_autofree char *last = NULL;
	gint64 start = g_get_monotonic_time(), printed = 0;
	char line[512];

	for (;;) {
		g_autoptr(json_object) r = call(c, "query-migrate", NULL);
		json_object *info = r ? json_object_object_get(r, "return") : NULL;
		gint64 now = g_get_monotonic_time();

		if (!info)
			return 1;
		progress_format(info, line, sizeof(line));
		if (tty) {
			printf("\r%s\033[K", line);
			fflush(stdout);
		} else if (!last || now - printed >= G_USEC_PER_SEC ||
			   strncmp(last, line, strcspn(line, ",")) != 0) {
			printf("%s\n", line);
			fflush(stdout);
			printed = now;
		}
		g_free(last);
		last = g_strdup(line);
		if (status_is(info, "completed")) {
			printf("%scompleted in %lld ms, downtime %lld ms\n", tty ? "\n" : "",
			       (long long)member_int(info, "total-time"),
			       (long long)member_int(info, "downtime"));
			return 0;
		}
		if (status_is(info, "failed") || status_is(info, "cancelled")) {
			const char *why = json_object_get_string(
				json_object_object_get(info, "error-desc"));

			fprintf(stderr, "%stern migrate: migration %s%s%s\n", tty ? "\n" : "",
				json_object_get_string(json_object_object_get(info, "status")),
				why ? ": " : "", why ? why : "");
			return 1;
		}
		if (postcopy_after >= 0 && !switched && status_is(info, "active") &&
		    (double)(now - start) / G_USEC_PER_SEC >= postcopy_after) {
			switched = true;
			if (!call_ok(c, "migrate-start-postcopy", NULL))
				return 1;
		}
		g_usleep(POLL_INTERVAL_US);
	}
}

int qmp_migrate_client_main(int argc, char **argv)
{
	double postcopy_after = -1;
	json_object *caps, *args;
	struct conn c;
	int status;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(migrate_usage, stdout);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[3], "--postcopy-after")) {
		char *end;

		postcopy_after = g_ascii_strtod(argv[4], &end);
		if (*end || end == argv[4] || postcopy_after < 0) {
			fprintf(stderr, "tern migrate: --postcopy-after '%s': expected a number of seconds\n",
				argv[4]);
			return CLIENT_EXIT_USAGE;
		}
	} else if (argc != 3) {
		fputs(migrate_usage, stderr);
		return CLIENT_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!client_conn_open(&c, argv[1]))
		return CLIENT_EXIT_USAGE;
	if (!client_negotiate(&c, argv[1])) {
		client_conn_close(&c);
		return 1;
	}
	caps = json_object_new_array();
	json_object_array_add(caps, cap("events"));
	if (postcopy_after >= 0)
		json_object_array_add(caps, cap("postcopy-ram"));
	args = json_object_new_object();
	json_object_object_add(args, "capabilities", caps);
	status = 1;
	if (call_ok(&c, "migrate-set-capabilities", args)) {
		args = json_object_new_object();
		json_object_object_add(args, "uri", json_object_new_string(argv[2]));
		if (call_ok(&c, "migrate", args))
			status = follow(&c, postcopy_after);
	}
	client_conn_close(&c);
	return status;
}
