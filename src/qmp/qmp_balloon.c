// SPDX-License-Identifier: MIT
/*
 * The balloon over QMP, as QEMU 7.2 with `-device virtio-balloon-pci,
 * id=balloon0` answers: balloon, query-balloon, the BALLOON_CHANGE event
 * (at most one a second, as QEMU throttles it), and qom-get/qom-set of the
 * guest statistics on the device's QOM path. tern has no QOM tree: qom-get
 * and qom-set resolve the balloon's two paths and nothing else.
 */
#include <errno.h>
#include <glib-unix.h>
#include <string.h>

#include "tern/eventfd.h"
#include "tern/qmp.h"
#include "tern/virtio-balloon.h"
#include "tern/vm.h"

#include "qmp_balloon.h"

/* QEMU's rate for BALLOON_CHANGE (monitor_qapi_event_conf). */
#define BALLOON_EVENT_PERIOD_MS 1000

struct qmp_balloon {
	struct qmp_server *srv;
	struct virtio_device *vdev; /* NULL without --balloon */
	guint watch; /* the device's change eventfd */
	guint throttle; /* an event went out less than a period ago */
	bool pending; /* ... and another waits for the period's end */
	uint64_t pending_actual;
};

static struct virtio_device *active_balloon(const struct qmp_call *call,
					    GError **err)
{
	struct qmp_balloon *qb = call->opaque;

	if (!qb->vdev)
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_DEVICE_NOT_ACTIVE,
				    "No balloon device has been activated");
	return qb->vdev;
}

/* An integer json-c holds as uint64 above INT64_MAX is not QEMU's int. */
static bool json_is_int64(json_object *v)
{
	return json_object_is_type(v, json_type_int) &&
	       (json_object_get_int64(v) < 0 ||
		json_object_get_uint64(v) <= INT64_MAX);
}

static json_object *cmd_balloon(const struct qmp_call *call, json_object *args,
				GError **err)
{
	struct virtio_device *vdev = active_balloon(call, err);
	json_object *v = json_object_object_get(args, "value");

	if (!vdev)
		return NULL;
	if (!json_is_int64(v)) {
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Invalid parameter type for 'value', expected: integer");
		return NULL;
	}
	/* QEMU names the argument by its C name here. */
	if (json_object_get_int64(v) <= 0) {
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Parameter 'target' expects a size");
		return NULL;
	}
	virtio_balloon_set_target(vdev, (uint64_t)json_object_get_int64(v));
	return json_object_new_object();
}

static json_object *cmd_query_balloon(const struct qmp_call *call,
				      json_object *args, GError **err)
{
	struct virtio_device *vdev = active_balloon(call, err);
	json_object *ret;

	if (!vdev)
		return NULL;
	ret = json_object_new_object();
	qmp_add_int(ret, "actual", (int64_t)virtio_balloon_actual(vdev));
	return ret;
}

/* ---- QOM ---- */

/* The two objects QEMU has for the device, and their type names. */
enum balloon_qom {
	BALLOON_QOM_NONE,
	BALLOON_QOM_PCI, /* /machine/peripheral/balloon0 */
	BALLOON_QOM_DEVICE, /* its child virtio-backend */
};

static const char *const balloon_qom_path[] = {
	"machine", "peripheral", "balloon0", "virtio-backend",
};

static const char *const balloon_qom_type[] = {
	[BALLOON_QOM_PCI] = "virtio-balloon-pci",
	[BALLOON_QOM_DEVICE] = "virtio-balloon-device",
};

/*
 * QEMU's path rules (object_resolve_path): empty components are skipped;
 * an absolute path goes down from the root, a partial one may start at
 * any object, so it names ours when it is a tail of one of our paths.
 */
static enum balloon_qom balloon_qom_resolve(const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	const char *comp[G_N_ELEMENTS(balloon_qom_path)];
	bool absolute = path[0] == '/';
	unsigned int n = 0;

	for (unsigned int i = 0; parts[i]; i++) {
		if (!parts[i][0])
			continue;
		if (n == G_N_ELEMENTS(comp))
			return BALLOON_QOM_NONE;
		comp[n++] = parts[i];
	}
	/* The PCI function's path has 3 components, the backend's 4. */
	for (unsigned int len = 3; len <= 4; len++) {
		bool same = n <= len && n && (!absolute || n == len);

		for (unsigned int i = 0; same && i < n; i++)
			same = !strcmp(comp[i], balloon_qom_path[len - n + i]);
		if (same)
			return len == 3 ? BALLOON_QOM_PCI : BALLOON_QOM_DEVICE;
	}
	return BALLOON_QOM_NONE;
}

enum balloon_prop {
	BALLOON_PROP_NONE,
	BALLOON_PROP_TYPE,
	BALLOON_PROP_STATS,
	BALLOON_PROP_INTERVAL,
};

static enum balloon_prop balloon_qom_prop(const char *name)
{
	if (!strcmp(name, "type"))
		return BALLOON_PROP_TYPE;
	if (!strcmp(name, "guest-stats"))
		return BALLOON_PROP_STATS;
	if (!strcmp(name, "guest-stats-polling-interval"))
		return BALLOON_PROP_INTERVAL;
	return BALLOON_PROP_NONE;
}

/* The object the arguments name and which of its properties; errors as QEMU's. */
static enum balloon_qom balloon_qom_find(const struct qmp_call *call,
					 json_object *args,
					 enum balloon_prop *prop, GError **err)
{
	struct qmp_balloon *qb = call->opaque;
	const char *path = json_object_get_string(json_object_object_get(args, "path"));
	const char *name = json_object_get_string(json_object_object_get(args, "property"));
	enum balloon_qom obj = qb->vdev ? balloon_qom_resolve(path) :
					  BALLOON_QOM_NONE;

	if (obj == BALLOON_QOM_NONE) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_DEVICE_NOT_FOUND,
			    "Device '%s' not found", path);
		return obj;
	}
	*prop = balloon_qom_prop(name);
	if (*prop == BALLOON_PROP_NONE) {
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "Property '%s.%s' not found", balloon_qom_type[obj],
			    name);
		return BALLOON_QOM_NONE;
	}
	return obj;
}

/* QEMU's guest-stats: the last statistics and when they came. */
static json_object *balloon_guest_stats(struct virtio_device *vdev)
{
	json_object *ret = json_object_new_object();
	json_object *stats = json_object_new_object();
	struct balloon_stats s;

	virtio_balloon_get_stats(vdev, &s);
	for (unsigned int i = 0; i < BALLOON_S_NR; i++)
		json_object_object_add(stats, balloon_stat_names[i],
				       json_object_new_uint64(s.values[i]));
	json_object_object_add(ret, "stats", stats);
	qmp_add_int(ret, "last-update", s.last_update);
	return ret;
}

static json_object *cmd_qom_get(const struct qmp_call *call, json_object *args,
				GError **err)
{
	struct qmp_balloon *qb = call->opaque;
	enum balloon_prop prop;
	enum balloon_qom obj = balloon_qom_find(call, args, &prop, err);

	switch (obj == BALLOON_QOM_NONE ? BALLOON_PROP_NONE : prop) {
	case BALLOON_PROP_TYPE:
		return json_object_new_string(balloon_qom_type[obj]);
	case BALLOON_PROP_STATS:
		return balloon_guest_stats(qb->vdev);
	case BALLOON_PROP_INTERVAL:
		return json_object_new_int64(virtio_balloon_stats_interval(qb->vdev));
	case BALLOON_PROP_NONE:
		break;
	}
	return NULL;
}

/* QEMU's checks of guest-stats-polling-interval, in its order and words. */
static bool balloon_interval_check(json_object *v, uint32_t *seconds,
				   GError **err)
{
	int64_t n;

	if (!json_is_int64(v)) {
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "Invalid parameter type for 'guest-stats-polling-interval', expected: integer");
		return false;
	}
	n = json_object_get_int64(v);
	if (n < 0) {
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "timer value must be greater than zero");
		return false;
	}
	if (n > UINT32_MAX) {
		g_set_error_literal(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "timer value is too big");
		return false;
	}
	*seconds = (uint32_t)n;
	return true;
}

static json_object *cmd_qom_set(const struct qmp_call *call, json_object *args,
				GError **err)
{
	struct qmp_balloon *qb = call->opaque;
	enum balloon_prop prop;
	enum balloon_qom obj = balloon_qom_find(call, args, &prop, err);
	uint32_t seconds;

	if (obj == BALLOON_QOM_NONE)
		return NULL;
	if (prop == BALLOON_PROP_TYPE || prop == BALLOON_PROP_STATS) {
		/* The PCI function's guest-stats is the device's, aliased. */
		g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
			    "Property '%s.%s' is not writable",
			    balloon_qom_type[prop == BALLOON_PROP_TYPE ?
					     obj : BALLOON_QOM_DEVICE],
			    prop == BALLOON_PROP_TYPE ? "type" : "guest-stats");
		return NULL;
	}
	if (!balloon_interval_check(json_object_object_get(args, "value"),
				    &seconds, err))
		return NULL;
	virtio_balloon_set_stats_interval(qb->vdev, seconds);
	return json_object_new_object();
}

static const struct qmp_arg balloon_args[] = {
	{ .name = "value", .type = QMP_TYPE_INT },
	{ NULL },
};

static const struct qmp_arg qom_get_args[] = {
	{ .name = "path", .type = QMP_TYPE_STR },
	{ .name = "property", .type = QMP_TYPE_STR },
	{ NULL },
};

static const struct qmp_arg qom_set_args[] = {
	{ .name = "path", .type = QMP_TYPE_STR },
	{ .name = "property", .type = QMP_TYPE_STR },
	{ .name = "value", .type = QMP_TYPE_ANY },
	{ NULL },
};

static const struct qmp_command qmp_balloon_commands[] = {
	{ .name = "balloon", .fn = cmd_balloon, .args = balloon_args },
	{ .name = "query-balloon", .fn = cmd_query_balloon },
	{ .name = "qom-get", .fn = cmd_qom_get, .args = qom_get_args },
	{ .name = "qom-set", .fn = cmd_qom_set, .args = qom_set_args },
	{ NULL },
};

/* ---- BALLOON_CHANGE ---- */

static void balloon_event_emit(struct qmp_balloon *qb, uint64_t actual)
{
	json_object *data = json_object_new_object();

	qmp_add_int(data, "actual", (int64_t)actual);
	qmp_server_emit(qb->srv, "BALLOON_CHANGE", data);
}

/* The period is over: the last change that waited goes out now. */
static gboolean balloon_event_period(gpointer opaque)
{
	struct qmp_balloon *qb = opaque;

	if (!qb->pending) {
		qb->throttle = 0;
		return G_SOURCE_REMOVE;
	}
	qb->pending = false;
	balloon_event_emit(qb, qb->pending_actual);
	return G_SOURCE_CONTINUE;
}

/*
 * QEMU sends each change at once unless one went out less than a period
 * ago; then the last change waits for the period's end. Several changes
 * may have come before this runs: the first is the one sent at once.
 */
static gboolean balloon_changed(gint fd, GIOCondition cond, gpointer opaque)
{
	struct qmp_balloon *qb = opaque;
	uint64_t first, last;
	unsigned int n;

	efd_drain(fd);
	n = virtio_balloon_take_changes(qb->vdev, &first, &last);
	if (!n)
		return G_SOURCE_CONTINUE;
	if (!qb->throttle) {
		balloon_event_emit(qb, first);
		qb->throttle = g_timeout_add(BALLOON_EVENT_PERIOD_MS,
					     balloon_event_period, qb);
		if (n == 1)
			return G_SOURCE_CONTINUE;
	}
	qb->pending = true;
	qb->pending_actual = last;
	return G_SOURCE_CONTINUE;
}

struct qmp_balloon *qmp_balloon_create(struct qmp_server *srv, struct vm *vm,
				       GError **err)
{
	struct qmp_balloon *qb = g_new0(struct qmp_balloon, 1);

	qb->srv = srv;
	qb->vdev = vm_device_find(vm, &virtio_balloon_device_type, 0);
	if (!qmp_server_add_commands(srv, qmp_balloon_commands, qb, err)) {
		g_free(qb);
		return NULL;
	}
	if (qb->vdev)
		qb->watch = g_unix_fd_add(virtio_balloon_change_fd(qb->vdev),
					  G_IO_IN, balloon_changed, qb);
	return qb;
}

void qmp_balloon_destroy(struct qmp_balloon *qb)
{
	if (!qb)
		return;
	if (qb->watch)
		g_source_remove(qb->watch);
	if (qb->throttle)
		g_source_remove(qb->throttle);
	g_free(qb);
}
