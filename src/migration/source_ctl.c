// SPDX-License-Identifier: MIT
/*
 * The outgoing side's control (main thread): migrate, migrate_cancel,
 * migrate-start-postcopy, migrate-pause, migrate-continue and what
 * query-migrate shows, each with QEMU's checks and messages. They only set
 * requests and wake the migration thread; nothing here waits for it but
 * the teardown.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "tern/error.h"
#include "tern/vm.h"
#include "source.h"

struct mig_out *mig_out_new(struct migration *m)
{
	struct mig_out *o = g_new0(struct mig_out, 1);

	o->m = m;
	o->vm = m->vm;
	o->requests = g_array_new(FALSE, FALSE, sizeof(struct mig_request));
	mig_bitmap_init(&o->received, &m->vm->mem);
	return o;
}

void mig_out_free(struct mig_out *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->m->lock);
	o->cancel = true;
	if (o->ch)
		mig_chan_shutdown(o->ch);
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	if (o->thread_live)
		mig_job_join(&o->m->workers, &o->job);
	migration_uri_clear(&o->uri);
	migration_uri_clear(&o->resume_uri);
	if (o->addrs)
		freeaddrinfo(o->addrs);
	if (o->resume_addrs)
		freeaddrinfo(o->resume_addrs);
	mig_bitmap_free(&o->received);
	g_array_unref(o->requests);
	g_free(o);
}

enum migration_status mig_out_status(struct mig_out *o)
{
	enum migration_status s;

	pthread_mutex_lock(&o->m->lock);
	s = o->status;
	pthread_mutex_unlock(&o->m->lock);
	return s;
}

static bool status_busy(enum migration_status s)
{
	return s != MIGRATION_NONE && s != MIGRATION_COMPLETED &&
	       s != MIGRATION_FAILED && s != MIGRATION_CANCELLED;
}

bool mig_out_busy(const struct mig_out *o)
{
	return status_busy(mig_out_status((struct mig_out *)o));
}

/* A status change made here, on the main thread. */
static void ctl_set_status(struct mig_out *o, enum migration_status st)
{
	pthread_mutex_lock(&o->m->lock);
	o->status = st;
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	mig_post_event(o->m, MIGRATION_EVENT_STATUS, st, 0);
}

void mig_out_vm_resumed(struct mig_out *o)
{
	g_autoptr(GError) err = NULL;

	/* cont after a completed migration: the disks are ours again. */
	if (!o->disks_inactive || mig_out_busy(o))
		return;
	if (!out_disks_set_active(o->vm, true, &err))
		tern_warn("the VM runs again here, but %s", err->message);
	o->disks_inactive = false;
}

void mig_out_refused(struct mig_out *o, const char *why)
{
	pthread_mutex_lock(&o->m->lock);
	g_strlcpy(o->error, why, sizeof(o->error));
	pthread_mutex_unlock(&o->m->lock);
	ctl_set_status(o, MIGRATION_SETUP);
	ctl_set_status(o, MIGRATION_FAILED);
}

static bool out_resume(struct mig_out *o, const struct migration_uri *u,
		       GError **err)
{
	struct addrinfo *addrs = NULL;

	if (mig_out_status(o) != MIGRATION_POSTCOPY_PAUSED) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Cannot resume if there is no paused migration");
		return false;
	}
	if (u->kind != MIGRATION_URI_TCP && u->kind != MIGRATION_URI_UNIX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "resuming needs a tcp: or unix: URI");
		return false;
	}
	if (u->kind == MIGRATION_URI_TCP && !(addrs = mig_resolve(u, err)))
		return false;
	pthread_mutex_lock(&o->m->lock);
	if (o->resume_addrs)
		freeaddrinfo(o->resume_addrs);
	o->resume_addrs = addrs;
	migration_uri_clear(&o->resume_uri);
	o->resume_uri = (struct migration_uri){
		.kind = u->kind,
		.host = g_strdup(u->host),
		.port = g_strdup(u->port),
		.path = g_strdup(u->path),
	};
	o->resume_req = true;
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	return true;
}

/* What stops a migration before it starts, with QEMU's words. */
static bool out_can_start(struct mig_out *o, const struct migration_uri *u,
			  GError **err)
{
	struct vm *vm = o->vm;
	enum vm_run_state vs = vm_get_state(vm);

	if (mig_out_busy(o)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "There's a migration process in progress");
		return false;
	}
	/*
	 * As QEMU, except after a snapshot: that VM still owns its disks
	 * and RAM, so another snapshot of it is safe (docs/migration.md).
	 */
	if (vs == VM_STATE_POSTMIGRATE && !o->last_was_file) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Can't migrate the vm that was paused due to previous migration");
		return false;
	}
	if (vs == VM_STATE_INMIGRATE || vs == VM_STATE_SHUTDOWN) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is %s: nothing to migrate",
			    vm_run_state_name(vs));
		return false;
	}
	if (u->kind == MIGRATION_URI_DEFER) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Parameter 'uri' expects a valid migration protocol");
		return false;
	}
	if (u->kind != MIGRATION_URI_FILE &&
	    migration_get_cap(o->m, MIGRATION_CAP_POSTCOPY_RAM) &&
	    vm->mem.page_size != GUEST_PAGE_SIZE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "postcopy-ram: tern's post-copy works on 4 KiB pages, not on hugepages=on memory");
		return false;
	}
	return true;
}

bool mig_out_start(struct mig_out *o, const struct migration_uri *u,
		   bool resume, GError **err)
{
	struct addrinfo *addrs = NULL;
	int ret;

	if (resume)
		return out_resume(o, u, err);
	if (!out_can_start(o, u, err))
		return false;
	/* As QEMU: a host that does not resolve fails the migration. */
	if (u->kind == MIGRATION_URI_TCP && !(addrs = mig_resolve(u, err))) {
		mig_out_refused(o, (*err)->message);
		return false;
	}
	if (o->thread_live) {
		/* The last one is over (not busy): collect its thread. */
		mig_job_join(&o->m->workers, &o->job);
		o->thread_live = false;
	}
	pthread_mutex_lock(&o->m->lock);
	memset(&o->stats, 0, sizeof(o->stats));
	o->stats.start_ns = tern_now_ns();
	o->error[0] = o->rp_error[0] = 0;
	o->cancel = o->postcopy_req = o->continue_req = o->resume_req = false;
	o->phase = MIG_PHASE_PRECOPY;
	o->stopped = o->dest_running = o->disks_inactive = false;
	o->last_was_file = false;
	migration_uri_clear(&o->uri);
	if (o->addrs)
		freeaddrinfo(o->addrs);
	o->addrs = addrs;
	o->uri = (struct migration_uri){
		.kind = u->kind,
		.host = g_strdup(u->host),
		.port = g_strdup(u->port),
		.path = g_strdup(u->path),
	};
	pthread_mutex_unlock(&o->m->lock);
	if (getrandom(&o->session, sizeof(o->session), 0) != sizeof(o->session))
		o->session = tern_now_ns();
	ctl_set_status(o, MIGRATION_SETUP);
	ret = mig_job_start(&o->m->workers, &o->job, mig_out_thread, o);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot start the migration thread: %s",
			    g_strerror(-ret));
		ctl_set_status(o, MIGRATION_FAILED);
		return false;
	}
	o->thread_live = true;
	return true;
}

bool mig_out_cancel(struct mig_out *o, GError **err)
{
	enum migration_status s = mig_out_status(o);

	if (s == MIGRATION_POSTCOPY_ACTIVE || s == MIGRATION_POSTCOPY_PAUSED ||
	    s == MIGRATION_POSTCOPY_RECOVER) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a post-copy migration cannot be cancelled: the destination runs the guest");
		return false;
	}
	if (!status_busy(s) || s == MIGRATION_CANCELLING)
		return true;
	pthread_mutex_lock(&o->m->lock);
	o->cancel = true;
	if (o->ch)
		mig_chan_shutdown(o->ch);
	pthread_mutex_unlock(&o->m->lock);
	ctl_set_status(o, MIGRATION_CANCELLING);
	return true;
}

bool mig_out_start_postcopy(struct mig_out *o, GError **err)
{
	enum migration_status s = mig_out_status(o);

	if (s != MIGRATION_ACTIVE && s != MIGRATION_SETUP) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Postcopy must be started after migration has been started");
		return false;
	}
	if (o->uri.kind == MIGRATION_URI_FILE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a snapshot to a file has no post-copy");
		return false;
	}
	pthread_mutex_lock(&o->m->lock);
	o->postcopy_req = true;
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	return true;
}

bool mig_out_pause(struct mig_out *o, GError **err)
{
	pthread_mutex_lock(&o->m->lock);
	if (o->ch)
		mig_chan_shutdown(o->ch);
	pthread_mutex_unlock(&o->m->lock);
	return true;
}

bool mig_out_continue(struct mig_out *o, enum migration_status state,
		      GError **err)
{
	enum migration_status s = mig_out_status(o);

	if (s != state || s != MIGRATION_PRE_SWITCHOVER) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "Migration not in expected state: %s",
			    migration_status_name(s));
		return false;
	}
	pthread_mutex_lock(&o->m->lock);
	o->continue_req = true;
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	return true;
}

void mig_out_query(struct mig_out *o, struct migration_info *info)
{
	const struct mig_out_stats *s = &o->stats;
	uint64_t now = tern_now_ns();

	pthread_mutex_lock(&o->m->lock);
	info->status = o->status;
	info->outgoing = true;
	g_strlcpy(info->error, o->error, sizeof(info->error));
	/* QEMU shows the numbers once set-up is over. */
	info->has_ram = o->status != MIGRATION_SETUP &&
			o->status != MIGRATION_FAILED &&
			o->status != MIGRATION_CANCELLED &&
			o->status != MIGRATION_CANCELLING;
	if (s->setup_ns)
		info->setup_time_ms = (s->setup_ns - s->start_ns) / 1000000;
	info->total_time_ms = ((s->end_ns && o->status == MIGRATION_COMPLETED ?
					s->end_ns : now) - s->start_ns) / 1000000;
	info->has_expected_downtime = o->status == MIGRATION_ACTIVE ||
				      o->status == MIGRATION_POSTCOPY_ACTIVE ||
				      o->status == MIGRATION_PRE_SWITCHOVER ||
				      o->status == MIGRATION_DEVICE;
	info->expected_downtime_ms = s->expected_downtime_ms;
	if (o->status == MIGRATION_COMPLETED && s->stop_ns && s->run_ns) {
		info->has_downtime = true;
		info->downtime_ms = (s->run_ns - s->stop_ns) / 1000000;
	}
	info->has_throttle = s->throttle_pct != 0;
	info->cpu_throttle_percentage = s->throttle_pct;
	info->ram.transferred = s->transferred;
	info->ram.total = o->vm->mem.ram_size;
	info->ram.remaining = s->remaining_pages * GUEST_PAGE_SIZE;
	info->ram.duplicate = s->duplicate;
	info->ram.normal = s->normal;
	info->ram.normal_bytes = s->normal * GUEST_PAGE_SIZE;
	info->ram.dirty_pages_rate = s->dirty_pages_rate;
	info->ram.mbps = s->mbps;
	info->ram.dirty_sync_count = s->dirty_sync_count;
	info->ram.postcopy_requests = s->postcopy_requests;
	info->ram.page_size = GUEST_PAGE_SIZE;
	info->ram.pages_per_second = s->pages_per_second;
	info->ram.precopy_bytes = s->precopy_bytes;
	info->ram.downtime_bytes = s->downtime_bytes;
	info->ram.postcopy_bytes = s->postcopy_bytes;
	pthread_mutex_unlock(&o->m->lock);
}
