// SPDX-License-Identifier: MIT
/*
 * The migration object: capabilities and parameters, both sides' entry
 * points, query-migrate, and the queue through which migration threads get
 * work done on the main thread (the run state and QMP events live there).
 */
#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/vm.h"
#include "internal.h"

const char *const migration_status_names[] = {
	[MIGRATION_NONE] = "none",
	[MIGRATION_SETUP] = "setup",
	[MIGRATION_CANCELLING] = "cancelling",
	[MIGRATION_CANCELLED] = "cancelled",
	[MIGRATION_ACTIVE] = "active",
	[MIGRATION_POSTCOPY_ACTIVE] = "postcopy-active",
	[MIGRATION_POSTCOPY_PAUSED] = "postcopy-paused",
	[MIGRATION_POSTCOPY_RECOVER] = "postcopy-recover",
	[MIGRATION_COMPLETED] = "completed",
	[MIGRATION_FAILED] = "failed",
	[MIGRATION_COLO] = "colo",
	[MIGRATION_PRE_SWITCHOVER] = "pre-switchover",
	[MIGRATION_DEVICE] = "device",
	[MIGRATION_WAIT_UNPLUG] = "wait-unplug",
	[MIGRATION_STATUS_COUNT] = NULL,
};

const char *const migration_cap_names[] = {
	[MIGRATION_CAP_XBZRLE] = "xbzrle",
	[MIGRATION_CAP_RDMA_PIN_ALL] = "rdma-pin-all",
	[MIGRATION_CAP_AUTO_CONVERGE] = "auto-converge",
	[MIGRATION_CAP_ZERO_BLOCKS] = "zero-blocks",
	[MIGRATION_CAP_COMPRESS] = "compress",
	[MIGRATION_CAP_EVENTS] = "events",
	[MIGRATION_CAP_POSTCOPY_RAM] = "postcopy-ram",
	[MIGRATION_CAP_X_COLO] = "x-colo",
	[MIGRATION_CAP_RELEASE_RAM] = "release-ram",
	[MIGRATION_CAP_BLOCK] = "block",
	[MIGRATION_CAP_RETURN_PATH] = "return-path",
	[MIGRATION_CAP_PAUSE_BEFORE_SWITCHOVER] = "pause-before-switchover",
	[MIGRATION_CAP_MULTIFD] = "multifd",
	[MIGRATION_CAP_DIRTY_BITMAPS] = "dirty-bitmaps",
	[MIGRATION_CAP_POSTCOPY_BLOCKTIME] = "postcopy-blocktime",
	[MIGRATION_CAP_LATE_BLOCK_ACTIVATE] = "late-block-activate",
	[MIGRATION_CAP_X_IGNORE_SHARED] = "x-ignore-shared",
	[MIGRATION_CAP_VALIDATE_UUID] = "validate-uuid",
	[MIGRATION_CAP_BACKGROUND_SNAPSHOT] = "background-snapshot",
	[MIGRATION_CAP_ZERO_COPY_SEND] = "zero-copy-send",
	[MIGRATION_CAP_POSTCOPY_PREEMPT] = "postcopy-preempt",
	[MIGRATION_CAP_COUNT] = NULL,
};

const char *migration_status_name(enum migration_status s)
{
	return s < MIGRATION_STATUS_COUNT ? migration_status_names[s] : "none";
}

bool migration_cap_supported(enum migration_cap cap)
{
	switch (cap) {
	case MIGRATION_CAP_EVENTS:
	case MIGRATION_CAP_POSTCOPY_RAM:
	case MIGRATION_CAP_PAUSE_BEFORE_SWITCHOVER:
	case MIGRATION_CAP_AUTO_CONVERGE:
	/* tern's stream always has a return path. */
	case MIGRATION_CAP_RETURN_PATH:
		return true;
	default:
		return false;
	}
}

struct mig_call {
	mig_main_fn *fn;
	void *arg;
	bool wait, done;
};

struct mig_event {
	enum migration_event ev;
	enum migration_status status;
	uint64_t pass;
};

static gboolean mig_main_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct migration *m = opaque;

	efd_drain(fd);
	for (;;) {
		struct mig_call *c;

		pthread_mutex_lock(&m->lock);
		c = g_queue_pop_head(&m->calls);
		pthread_mutex_unlock(&m->lock);
		if (!c)
			break;
		if (c->fn)
			c->fn(m, c->arg);
		if (!c->wait) {
			g_free(c->arg);
			g_free(c);
			continue;
		}
		pthread_mutex_lock(&m->lock);
		c->done = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
	}
	return G_SOURCE_CONTINUE;
}

bool mig_call_main(struct migration *m, mig_main_fn *fn, void *arg, bool wait)
{
	struct mig_call *c = g_new0(struct mig_call, 1);
	bool done;

	c->fn = fn;
	c->arg = arg;
	c->wait = wait;
	pthread_mutex_lock(&m->lock);
	if (m->exiting) {
		pthread_mutex_unlock(&m->lock);
		if (!wait)
			g_free(arg);
		g_free(c);
		return false;
	}
	g_queue_push_tail(&m->calls, c);
	pthread_mutex_unlock(&m->lock);
	efd_signal(m->efd);
	if (!wait)
		return true;
	pthread_mutex_lock(&m->lock);
	while (!c->done && !m->exiting)
		pthread_cond_wait(&m->cond, &m->lock);
	done = c->done;
	/* Exiting: the main loop is gone and will never run it. */
	if (!done)
		g_queue_remove(&m->calls, c);
	pthread_mutex_unlock(&m->lock);
	g_free(c);
	return done;
}

static void mig_deliver_event(struct migration *m, void *arg)
{
	const struct mig_event *e = arg;

	if (m->event_fn)
		m->event_fn(m->event_opaque, e->ev, e->status, e->pass);
}

void mig_post_event(struct migration *m, enum migration_event ev,
		    enum migration_status status, uint64_t pass)
{
	struct mig_event *e = g_new0(struct mig_event, 1);

	e->ev = ev;
	e->status = status;
	e->pass = pass;
	mig_call_main(m, mig_deliver_event, e, false);
}

void mig_wait_locked(struct migration *m, uint64_t deadline_ns)
{
	struct timespec ts;

	if (!deadline_ns) {
		pthread_cond_wait(&m->cond, &m->lock);
		return;
	}
	ts.tv_sec = (time_t)(deadline_ns / 1000000000ULL);
	ts.tv_nsec = (long)(deadline_ns % 1000000000ULL);
	pthread_cond_timedwait(&m->cond, &m->lock, &ts);
}

static void mig_vm_event(void *opaque, enum vm_event ev,
			 const struct vm_event_info *info)
{
	struct migration *m = opaque;

	if (ev == VM_EVENT_RESUME && m->out)
		mig_out_vm_resumed(m->out);
}

/*
 * migrate tcp:HOST resolves HOST on the main thread once the sandbox is
 * sealed, and a filter allows no executable mapping: the resolver's
 * modules (nsswitch.conf's hosts line) are loaded now, with a name that
 * /etc/hosts answers.
 */
static void mig_resolver_preload(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

	if (!getaddrinfo("localhost", "0", &hints, &res))
		freeaddrinfo(res);
}

struct migration *migration_create(struct vm *vm, GError **err)
{
	struct migration *m = g_new0(struct migration, 1);
	pthread_condattr_t attr;
	int ret;

	m->vm = vm;
	mig_resolver_preload();
	m->efd = efd_new();
	if (m->efd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "eventfd: %s",
			    g_strerror(-m->efd));
		g_free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &attr);
	pthread_condattr_destroy(&attr);
	g_queue_init(&m->calls);
	m->params = (struct migration_params){
		.max_bandwidth = MIGRATION_DEFAULT_MAX_BANDWIDTH,
		.downtime_limit_ms = MIGRATION_DEFAULT_DOWNTIME_MS,
		.cpu_throttle_initial = 20,
		.cpu_throttle_increment = 10,
		.max_cpu_throttle = 99,
		.throttle_trigger_threshold = 50,
	};
	ret = mig_workers_start(&m->workers, &vm->threads);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot start the migration threads: %s",
			    g_strerror(-ret));
		pthread_cond_destroy(&m->cond);
		pthread_mutex_destroy(&m->lock);
		close(m->efd);
		g_free(m);
		return NULL;
	}
	m->watch = g_unix_fd_add(m->efd, G_IO_IN, mig_main_ready, m);
	if (vm->cfg->incoming)
		m->in = mig_in_new(m);
	vm_add_listener(vm, mig_vm_event, m);
	return m;
}

void migration_destroy(struct migration *m)
{
	if (!m)
		return;
	vm_remove_listener(m->vm, mig_vm_event, m);
	pthread_mutex_lock(&m->lock);
	m->exiting = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	/* Both sides stop their threads (a transfer in flight fails). */
	mig_out_free(m->out);
	mig_in_free(m->in);
	mig_workers_stop(&m->workers);
	g_source_remove(m->watch);
	while (!g_queue_is_empty(&m->calls)) {
		struct mig_call *c = g_queue_pop_head(&m->calls);

		if (!c->wait)
			g_free(c->arg);
		g_free(c);
	}
	if (m->event_free)
		m->event_free(m->event_opaque);
	close(m->efd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	g_free(m);
}

void migration_set_listener(struct migration *m, migration_event_fn *fn,
			    void *opaque, void (*free_fn)(void *))
{
	m->event_fn = fn;
	m->event_opaque = opaque;
	m->event_free = free_fn;
}

/* As QEMU: only an outgoing migration freezes the settings. */
static bool migration_busy(struct migration *m)
{
	return m->out && mig_out_busy(m->out);
}

bool migration_set_cap(struct migration *m, enum migration_cap cap, bool on,
		       GError **err)
{
	if (migration_busy(m)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "There's a migration process in progress");
		return false;
	}
	if (on && !migration_cap_supported(cap)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "tern does not support the migration capability '%s'",
			    migration_cap_names[cap]);
		return false;
	}
	pthread_mutex_lock(&m->lock);
	m->caps[cap] = on;
	pthread_mutex_unlock(&m->lock);
	return true;
}

bool migration_get_cap(struct migration *m, enum migration_cap cap)
{
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->caps[cap];
	pthread_mutex_unlock(&m->lock);
	return on;
}

bool migration_set_params(struct migration *m, const struct migration_params *p,
			  GError **err)
{
	/* Takes effect at once, also for a migration in flight (as QEMU). */
	pthread_mutex_lock(&m->lock);
	m->params = *p;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return true;
}

void migration_get_params(struct migration *m, struct migration_params *p)
{
	pthread_mutex_lock(&m->lock);
	*p = m->params;
	pthread_mutex_unlock(&m->lock);
}

void migration_query(struct migration *m, struct migration_info *info)
{
	memset(info, 0, sizeof(*info));
	/* As QEMU: an outgoing migration, once started, is what it shows. */
	if (m->out && mig_out_status(m->out) != MIGRATION_NONE)
		mig_out_query(m->out, info);
	else if (m->in)
		mig_in_query(m->in, info);
}

bool migration_incoming(struct migration *m, const char *uri, GError **err)
{
	struct migration_uri u;
	bool ok;

	if (!m->in || vm_get_state(m->vm) != VM_STATE_INMIGRATE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "'-incoming' was not specified on the command line");
		return false;
	}
	if (!migration_uri_parse(uri, &u, err))
		return false;
	if (u.kind == MIGRATION_URI_DEFER) {
		migration_uri_clear(&u);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "'defer' is only for the command line: give a URI to listen on");
		return false;
	}
	ok = mig_in_start(m->in, &u, false, err);
	migration_uri_clear(&u);
	return ok;
}

bool migration_incoming_deferred(struct migration *m)
{
	return m->in && mig_in_status(m->in) == MIGRATION_NONE;
}

bool migration_start(struct migration *m, const char *uri, bool resume,
		     GError **err)
{
	struct migration_uri u;
	bool ok;

	if (!m->out)
		m->out = mig_out_new(m);
	if (!migration_uri_parse(uri, &u, err)) {
		/* As QEMU: it counts as a migration that failed at set-up. */
		if (!resume && !mig_out_busy(m->out))
			mig_out_refused(m->out, (*err)->message);
		return false;
	}
	ok = mig_out_start(m->out, &u, resume, err);
	migration_uri_clear(&u);
	return ok;
}

bool migration_cancel(struct migration *m, GError **err)
{
	return !m->out || mig_out_cancel(m->out, err);
}

bool migration_start_postcopy(struct migration *m, GError **err)
{
	if (!migration_get_cap(m, MIGRATION_CAP_POSTCOPY_RAM)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Enable postcopy with migrate_set_capability before the start of migration");
		return false;
	}
	if (!m->out) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Postcopy must be started after migration has been started");
		return false;
	}
	return mig_out_start_postcopy(m->out, err);
}

bool migration_pause(struct migration *m, GError **err)
{
	if (m->out && mig_out_status(m->out) == MIGRATION_POSTCOPY_ACTIVE)
		return mig_out_pause(m->out, err);
	if (m->in && mig_in_status(m->in) == MIGRATION_POSTCOPY_ACTIVE)
		return mig_in_pause(m->in, err);
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "migrate-pause is currently only supported during postcopy-active state");
	return false;
}

bool migration_recover(struct migration *m, const char *uri, GError **err)
{
	struct migration_uri u;
	bool ok;

	if (!m->in || mig_in_status(m->in) != MIGRATION_POSTCOPY_PAUSED) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Migrate recover can only be run when postcopy is paused.");
		return false;
	}
	if (!migration_uri_parse(uri, &u, err))
		return false;
	if (u.kind != MIGRATION_URI_TCP && u.kind != MIGRATION_URI_UNIX) {
		migration_uri_clear(&u);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "migrate-recover needs a tcp: or unix: URI");
		return false;
	}
	ok = mig_in_start(m->in, &u, true, err);
	migration_uri_clear(&u);
	return ok;
}

bool migration_continue(struct migration *m, enum migration_status state,
			GError **err)
{
	if (!m->out) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Migration not in expected state: none");
		return false;
	}
	return mig_out_continue(m->out, state, err);
}
