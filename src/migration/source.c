// SPDX-License-Identifier: MIT
/*
 * The outgoing side: the QMP entry points (main thread) and the migration
 * thread's course. Pre-copy sends all of RAM, then what the guest dirtied
 * meanwhile, pass after pass, until the rest fits in downtime-limit at the
 * measured bandwidth; then the VM stops (on the main thread, STOP), disks
 * are flushed and handed over, the last pages and the device state go,
 * and the destination says READY before the source says GO: a link that
 * breaks before GO leaves the guest running here and never there.
 * Post-copy stops the VM at once, tells the destination which pages went
 * stale, sends the state and lets the destination run, then streams the
 * rest while answering its page requests first; a broken link pauses both
 * sides (postcopy-paused) until `migrate {"resume": true}`.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "tern/device.h"
#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/state.h"
#include "tern/virtio-blk.h"
#include "tern/virtio.h"
#include "tern/vm.h"
#include "source.h"

#define MIG_MAX_PASSES 1000
#define MIG_STOP_TRIES 4

void out_set_status(struct mig_out *o, enum migration_status st)
{
	pthread_mutex_lock(&o->m->lock);
	o->status = st;
	pthread_cond_broadcast(&o->m->cond);
	pthread_mutex_unlock(&o->m->lock);
	mig_post_event(o->m, MIGRATION_EVENT_STATUS, st, 0);
}

/* Main-thread steps, each called with mig_call_main(wait). */
struct out_call {
	struct mig_out *o;
	bool ok;
	GError *err;
};

/* Each disk: flush and unlock (inactive), or lock again. */
bool out_disks_set_active(struct vm *vm, bool active, GError **err)
{
	for (unsigned int i = 0; i < vm->cfg->nr_disks; i++) {
		const struct virtio_device *vdev =
			vm_device_find(vm, &virtio_blk_device_type, i);

		if (vdev && !virtio_blk_set_active(vdev, active, err))
			return false;
	}
	return true;
}

/* Stop the VM, hand the disks over, take the device state. */
static void out_main_stop(struct migration *m, void *arg)
{
	struct out_call *c = arg;
	struct mig_out *o = c->o;
	struct state_writer w;

	uint64_t t0 = tern_now_ns(), t1;

	c->ok = false;
	/*
	 * A vCPU that does not park within vm_pause()'s bound (a loaded
	 * host: its thread not scheduled) left the VM running: try again
	 * rather than fail a migration that has sent everything but this.
	 */
	for (unsigned int i = 0;
	     !vm_stop_to(o->vm, VM_STATE_FINISH_MIGRATE, &o->was, &c->err); i++) {
		if (i + 1 >= MIG_STOP_TRIES ||
		    !g_error_matches(c->err, TERN_ERROR, TERN_ERROR_HOST))
			return;
		tern_debug("migration: stop: %s; again", c->err->message);
		g_clear_error(&c->err);
	}
	t1 = tern_now_ns();
	o->stopped = true;
	/*
	 * The state first: it waits again for requests the stop's bounded
	 * quiesce left in flight (or refuses), so the flush below comes
	 * after the last write, not before it.
	 */
	state_writer_init(&w);
	if (!vm_state_save(o->vm, &w, &c->err)) {
		state_writer_clear(&w);
		return;
	}
	o->state = state_writer_finish(&w, &o->state_len);
	if (!out_disks_set_active(o->vm, false, &c->err))
		return;
	o->disks_inactive = true;
	/* A snapshot only needs them flushed: this VM keeps them. */
	if (o->uri.kind == MIGRATION_URI_FILE) {
		if (!out_disks_set_active(o->vm, true, &c->err))
			return;
		o->disks_inactive = false;
	}
	c->ok = true;
	tern_debug("migration: main thread after %llu us, vCPUs stopped in %llu us, state in %llu us",
		   (unsigned long long)(t0 - o->stats.stop_ns) / 1000,
		   (unsigned long long)(t1 - t0) / 1000,
		   (unsigned long long)(tern_now_ns() - t1) / 1000);
}

/* Undo the stop: the guest runs on here as if nothing happened. */
static void out_main_restore(struct migration *m, void *arg)
{
	struct out_call *c = arg;
	struct mig_out *o = c->o;
	g_autoptr(GError) err = NULL;

	if (o->disks_inactive && !out_disks_set_active(o->vm, true, &err))
		tern_warn("migration failed, and %s", err->message);
	o->disks_inactive = false;
	if (!o->stopped)
		return;
	o->stopped = false;
	if (o->was == VM_STATE_RUNNING) {
		vm_resume_any(o->vm);
	} else {
		enum vm_run_state ignored;

		(void)vm_stop_to(o->vm, o->was, &ignored, NULL);
	}
}

static void out_main_finish(struct migration *m, void *arg)
{
	struct out_call *c = arg;
	enum vm_run_state ignored;

	(void)vm_stop_to(c->o->vm, VM_STATE_POSTMIGRATE, &ignored, NULL);
	c->o->stopped = false;
}

static bool out_call(struct mig_out *o, mig_main_fn *fn, GError **err)
{
	struct out_call c = { .o = o, .ok = true };

	if (!mig_call_main(o->m, fn, &c, true)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "tern is exiting");
		return false;
	}
	if (!c.ok)
		g_propagate_error(err, c.err);
	else
		g_clear_error(&c.err);
	return c.ok;
}

bool out_stop_vm(struct mig_out *o, GError **err)
{
	return out_call(o, out_main_stop, err);
}

/* The stop, the last pages and the state: pre-copy's switch-over. */
static bool out_complete_precopy(struct mig_out *o, GError **err)
{
	struct migration *m = o->m;
	bool pause, ok;
	int ret;

	o->stats.stop_ns = tern_now_ns();
	if (!out_stop_vm(o, err))
		return false;
	pthread_mutex_lock(&m->lock);
	pause = m->caps[MIGRATION_CAP_PAUSE_BEFORE_SWITCHOVER];
	pthread_mutex_unlock(&m->lock);
	if (pause) {
		out_set_status(o, MIGRATION_PRE_SWITCHOVER);
		pthread_mutex_lock(&m->lock);
		while (!o->continue_req && !mig_out_should_stop_locked(o))
			mig_wait_locked(m, 0);
		pthread_mutex_unlock(&m->lock);
		out_set_status(o, MIGRATION_DEVICE);
	}
	o->phase = MIG_PHASE_DOWNTIME;
	mig_ram_throttle_off(o);
	tern_debug("migration: stopped in %llu us",
		   (unsigned long long)(tern_now_ns() - o->stats.stop_ns) / 1000);
	if (mig_ram_sync(o) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot read the dirty log");
		return false;
	}
	tern_debug("migration: %llu pages left after the stop",
		   (unsigned long long)mig_bitmap_count(&o->todo));
	ret = mig_ram_send_todo(o, false);
	if (!ret)
		ret = mig_chan_send_buf(o->ch, MIG_FRAME_STATE, o->state,
					o->state_len);
	/* Before END: READY (and so GO) can only follow it. */
	pthread_mutex_lock(&m->lock);
	o->go_armed = !ret;
	o->go_ret = 0;
	pthread_mutex_unlock(&m->lock);
	if (!ret)
		ret = mig_chan_send_buf(o->ch, MIG_FRAME_END, NULL, 0);
	if (ret) {
		pthread_mutex_lock(&m->lock);
		o->go_armed = false;
		pthread_mutex_unlock(&m->lock);
		out_link_error(o, ret, err);
		return false;
	}
	tern_debug("migration: all sent at %llu us",
		   (unsigned long long)(tern_now_ns() - o->stats.stop_ns) / 1000);
	ok = out_wait_rp(o, &o->rp_ready, err);
	pthread_mutex_lock(&m->lock);
	o->go_armed = false;
	ret = o->go_ret;
	pthread_mutex_unlock(&m->lock);
	if (ok && ret) {
		out_link_error(o, ret, err);
		return false;
	}
	tern_debug("migration: GO at %llu us",
		   (unsigned long long)(tern_now_ns() - o->stats.stop_ns) / 1000);
	return ok;
}

/* Pre-copy passes until mig_precopy_converged() (or post-copy is asked). */
static int out_precopy(struct mig_out *o, GError **err)
{
	struct migration *m = o->m;
	unsigned int high = 0, polish = 0;
	/* Then what the last pass left: mig_ram_pass_done() counted it. */
	uint64_t todo = mig_bitmap_count(&o->todo);
	bool postcopy;
	int ret;

	for (unsigned int pass = 1; pass <= MIG_MAX_PASSES; pass++) {
		uint64_t limit_ms, expected, sent = o->pass_bytes, left, pass_ms;
		struct mig_converge c;
		int64_t dirty;

		ret = mig_ram_send_todo(o, true);
		if (ret == -EINTR) {
			pthread_mutex_lock(&m->lock);
			postcopy = o->postcopy_req && !mig_out_should_stop_locked(o);
			pthread_mutex_unlock(&m->lock);
			if (postcopy)
				return 1;
		}
		if (ret == -EIO) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "cannot re-arm the dirty log");
			return -1;
		}
		if (ret) {
			out_link_error(o, ret, err);
			return -1;
		}
		sent = o->pass_bytes;
		dirty = mig_ram_sync(o);
		if (dirty < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "cannot read the dirty log: %s",
				    g_strerror((int)-dirty));
			return -1;
		}
		pass_ms = (tern_now_ns() - o->pass_start_ns) / 1000000;
		mig_ram_pass_done(o, dirty);
		tern_debug("migration: pass %u: %llu ms, %lld pages dirty, %llu MB/s, expected downtime %llu ms, dirty log re-armed %llu times in %llu us",
			   pass, (unsigned long long)pass_ms, (long long)dirty,
			   (unsigned long long)(o->stats.bandwidth / 1000000),
			   (unsigned long long)o->stats.expected_downtime_ms,
			   (unsigned long long)o->rearm_calls,
			   (unsigned long long)o->rearm_ns / 1000);
		o->rearm_calls = o->rearm_ns = 0;
		mig_post_event(m, MIGRATION_EVENT_PASS, o->status,
			       o->stats.dirty_sync_count);
		pthread_mutex_lock(&m->lock);
		limit_ms = m->params.downtime_limit_ms;
		expected = o->stats.expected_downtime_ms;
		left = o->stats.remaining_pages;
		postcopy = o->postcopy_req;
		pthread_mutex_unlock(&m->lock);
		if (postcopy)
			return 1;
		c = (struct mig_converge){ .expected_ms = expected,
					   .limit_ms = limit_ms,
					   .sent_pages = todo,
					   .dirty_pages = (uint64_t)dirty,
					   .polish_passes = polish };
		todo = left;
		if (mig_precopy_converged(&c))
			return 0;
		if (expected <= limit_ms) {
			polish++;
			continue;
		}
		/* auto-converge: the guest dirties faster than we send. */
		if (migration_get_cap(m, MIGRATION_CAP_AUTO_CONVERGE) &&
		    (uint64_t)dirty * GUEST_PAGE_SIZE * 100 >
			    sent * m->params.throttle_trigger_threshold &&
		    ++high >= 2) {
			high = 0;
			mig_ram_throttle_up(o);
		}
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "no convergence after %u passes (raise downtime-limit, or use auto-converge or post-copy)",
		    MIG_MAX_PASSES);
	return -1;
}

static void out_finish(struct mig_out *o, bool ok, GError *err)
{
	struct migration *m = o->m;
	bool cancelled;

	mig_ram_throttle_off(o);
	if (o->dirty_logging && guest_memory_dirty_stop(&o->vm->mem))
		tern_warn("migration: cannot turn the dirty log off");
	o->dirty_logging = false;
	pthread_mutex_lock(&m->lock);
	cancelled = o->cancel;
	if (!o->stats.end_ns)
		o->stats.end_ns = tern_now_ns();
	if (!ok && err)
		g_strlcpy(o->error, err->message, sizeof(o->error));
	pthread_mutex_unlock(&m->lock);
	if (ok) {
		o->stats.remaining_pages = 0;
		o->last_was_file = o->uri.kind == MIGRATION_URI_FILE;
		(void)out_call(o, out_main_finish, NULL);
		out_set_status(o, MIGRATION_COMPLETED);
	} else if (o->dest_running && !o->rp_error[0]) {
		/* The guest runs there now: never here too. */
		out_set_status(o, MIGRATION_FAILED);
		tern_warn("post-copy failed after the destination started: %s",
			  err ? err->message : "?");
	} else {
		/* Before the status: a client seeing "failed" finds it running. */
		(void)out_call(o, out_main_restore, NULL);
		out_set_status(o, cancelled ? MIGRATION_CANCELLED : MIGRATION_FAILED);
		if (!cancelled && err)
			tern_warn("migration failed: %s", err->message);
	}
	out_disconnect(o);
	g_clear_pointer(&o->state, g_free);
	mig_ram_cleanup(o);
}

/* file: stop, write the snapshot, stay stopped (postmigrate) as QEMU. */
static bool out_snapshot(struct mig_out *o, GError **err)
{
	struct mig_snap_file f = { .path = o->uri.path, .fd = -1 };
	uint64_t bytes = 0;
	bool ok;

	pthread_mutex_lock(&o->m->lock);
	o->stats.setup_ns = tern_now_ns();
	o->stats.dirty_sync_count = 1;
	pthread_mutex_unlock(&o->m->lock);
	out_set_status(o, MIGRATION_ACTIVE);
	o->stats.stop_ns = tern_now_ns();
	if (!out_stop_vm(o, err))
		return false;
	o->phase = MIG_PHASE_DOWNTIME;
	if (!mig_call_main(o->m, mig_snapshot_main_create, &f, true) ||
	    f.fd < 0) {
		if (f.err)
			g_propagate_error(err, f.err);
		else
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "tern is exiting");
		g_free(f.tmp);
		return false;
	}
	f.ok = mig_snapshot_write(o->vm, f.fd, o->state, o->state_len, &bytes,
				  err);
	ok = f.ok;
	/* Exiting: the main loop is gone, the temporary file stays. */
	if (mig_call_main(o->m, mig_snapshot_main_commit, &f, true) && ok &&
	    !f.ok) {
		g_propagate_error(err, f.err);
		ok = false;
	}
	g_free(f.tmp);
	pthread_mutex_lock(&o->m->lock);
	o->stats.run_ns = tern_now_ns();
	o->stats.transferred = o->stats.downtime_bytes = bytes;
	o->stats.normal = bytes / GUEST_PAGE_SIZE;
	pthread_mutex_unlock(&o->m->lock);
	return ok;
}

void *mig_out_thread(void *opaque)
{
	struct mig_out *o = opaque;
	g_autoptr(GError) err = NULL;
	bool ok = false;
	int ret;

	if (o->uri.kind == MIGRATION_URI_FILE) {
		ok = out_snapshot(o, &err);
		out_finish(o, ok, err);
		return NULL;
	}
	mig_ram_setup(o);
	if (!out_connect(o, &o->uri, o->addrs, 0, &err))
		goto out;
	/* Re-armed chunk by chunk as pages go (mig_ram_send_todo()). */
	ret = guest_memory_dirty_start_by_caller(&o->vm->mem);
	if (ret) {
		g_set_error(&err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot start dirty logging: %s", g_strerror(-ret));
		goto out;
	}
	o->dirty_logging = true;
	pthread_mutex_lock(&o->m->lock);
	o->stats.setup_ns = tern_now_ns();
	o->stats.dirty_sync_count = 1;
	pthread_mutex_unlock(&o->m->lock);
	mig_post_event(o->m, MIGRATION_EVENT_PASS, MIGRATION_ACTIVE, 1);
	out_set_status(o, MIGRATION_ACTIVE);
	ret = out_precopy(o, &err);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		ok = out_complete_precopy(o, &err);
		goto out;
	}
	ok = out_start_postcopy(o, &err) && out_run_postcopy(o, &err);
out:
	out_finish(o, ok, err);
	return NULL;
}
