// SPDX-License-Identifier: MIT
/*
 * The incoming side: `--incoming` / migrate-incoming / migrate-recover
 * (main thread) and the receiving thread. The stream is checked frame by
 * frame before anything acts on it; the machine in HELLO must be this one.
 * RAM starts discarded, so a zero page needs writing only when an earlier
 * pass had put data there. Pre-copy: after END the device state is loaded
 * (main thread), the disks are taken over, READY goes back, and the guest
 * runs only after the source's GO. Until then any error ends this tern
 * with status 4 and the guest never ran here. Post-copy: pages arrive
 * through userfaultfd (postcopy.c) while the guest runs; a broken link
 * pauses until migrate-recover.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/state.h"
#include "tern/virtio-blk.h"
#include "tern/virtio.h"
#include "tern/vm.h"
#include "dest.h"

void mig_in_set_status(struct mig_in *in, enum migration_status st)
{
	pthread_mutex_lock(&in->m->lock);
	in->status = st;
	if (st == MIGRATION_COMPLETED || st == MIGRATION_FAILED)
		in->end_ns = tern_now_ns();
	pthread_cond_broadcast(&in->m->cond);
	pthread_mutex_unlock(&in->m->lock);
	mig_post_event(in->m, MIGRATION_EVENT_STATUS, st, 0);
}

int mig_ram_discard(struct vm *vm, uint64_t gpa, uint64_t len)
{
	const struct guest_region *r = NULL;
	uint8_t *hva = guest_memory_ptr(&vm->mem, gpa, len);

	if (!hva)
		return -EFAULT;
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++)
		if (gpa >= vm->mem.regions[i].gpa &&
		    gpa - vm->mem.regions[i].gpa < vm->mem.regions[i].size)
			r = &vm->mem.regions[i];
	/* Shared memory: the memfd's pages go, not only our mapping of them. */
	if (r->fd >= 0) {
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(r->fd_offset + (gpa - r->gpa)), (off_t)len) < 0)
			return -errno;
		return 0;
	}
	return madvise(hva, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

/* Main-thread steps. */
struct in_call {
	struct mig_in *in;
	bool ok;
	char error[256];
};

static bool in_disks_activate(struct vm *vm, GError **err)
{
	for (unsigned int i = 0; i < vm->cfg->nr_disks; i++) {
		const struct virtio_device *vdev =
			vm_device_find(vm, &virtio_blk_device_type, i);

		if (vdev && !virtio_blk_set_active(vdev, true, err))
			return false;
	}
	return true;
}

/* Load the device state; the guest still waits. */
static void in_main_apply(struct migration *m, void *arg)
{
	struct in_call *c = arg;
	struct mig_in *in = c->in;
	g_autoptr(GError) err = NULL;
	struct state_reader r;

	c->ok = state_reader_init(&r, in->state, in->state_len, &err) &&
		vm_state_load(in->vm, &r, &err);
	if (c->ok)
		state_reader_clear(&r);
	if (!c->ok)
		g_strlcpy(c->error, err->message, sizeof(c->error));
}

/*
 * Run (or stay paused with -S). The disks are taken over only now: the
 * source let go of them at its stop, and takes them back if no GO came.
 */
static void in_main_run(struct migration *m, void *arg)
{
	struct in_call *c = arg;
	struct vm *vm = c->in->vm;
	g_autoptr(GError) err = NULL;
	enum vm_run_state ignored;
	bool autostart;

	if (!in_disks_activate(vm, &err))
		tern_warn("incoming migration: %s; the guest runs anyway",
			  err->message);

	pthread_mutex_lock(&vm->state_lock);
	autostart = vm->autostart;
	pthread_mutex_unlock(&vm->state_lock);
	if (autostart)
		vm_resume_any(vm);
	else
		(void)vm_stop_to(vm, VM_STATE_PAUSED, &ignored, NULL);
}

/* Post-copy: load, take the disks, run, at once (the thread goes on). */
static void in_main_apply_run(struct migration *m, void *arg)
{
	struct in_call *c = arg;
	struct mig_in *in = c->in;
	uint64_t t0 = tern_now_ns();
	int ret;

	in_main_apply(m, arg);
	tern_debug("migration: post-copy: state loaded in %llu us",
		   (unsigned long long)(tern_now_ns() - t0) / 1000);
	if (!c->ok) {
		ret = in->ch ? mig_chan_send_buf(in->ch, MIG_RP_ERROR, c->error,
						 strlen(c->error) + 1) : 0;
		(void)ret;
		tern_log("incoming migration failed: %s", c->error);
		vm_request_shutdown(in->vm, VM_EXIT_HOST_ERROR, 0);
		return;
	}
	in->running = true;
	in_main_run(m, arg);
}

static bool in_apply_here(struct mig_in *in)
{
	struct in_call c = { .in = in };
	uint64_t t0 = tern_now_ns();

	in_main_apply(in->m, &c);
	tern_debug("migration: state loaded in %llu us",
		   (unsigned long long)(tern_now_ns() - t0) / 1000);
	if (!c.ok)
		g_strlcpy(in->error, c.error, sizeof(in->error));
	return c.ok;
}

static void in_main_fail(struct migration *m, void *arg)
{
	struct in_call *c = arg;

	tern_log("incoming migration failed: %s", c->error);
	vm_request_shutdown(c->in->vm, VM_EXIT_HOST_ERROR, 0);
}

static bool in_call_main(struct mig_in *in, mig_main_fn *fn, bool wait,
			 const char *error)
{
	struct in_call *c = g_new0(struct in_call, 1);
	bool ok;

	c->in = in;
	if (error)
		g_strlcpy(c->error, error, sizeof(c->error));
	if (!wait)
		return mig_call_main(in->m, fn, c, false);
	ok = mig_call_main(in->m, fn, c, true) && c->ok;
	if (!ok && c->error[0] && !error)
		g_strlcpy(in->error, c->error, sizeof(in->error));
	g_free(c);
	return ok;
}

/* One PAGES frame. */
static bool in_pages(struct mig_in *in, const uint8_t *p, size_t len,
		     GError **err)
{
	struct mig_page_rec rec;
	size_t pos = 0;
	int ret;

	while ((ret = mig_page_rec_next(p, len, &pos, &rec, err)) > 0) {
		uint64_t bytes = (uint64_t)rec.npages << GUEST_PAGE_SHIFT;
		uint8_t *hva = guest_memory_ptr(&in->vm->mem, rec.gpa, bytes);
		unsigned int r;
		uint64_t first;

		if (!hva || !mig_bitmap_find(&in->received, rec.gpa, &r, &first)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "PAGES frame: %u pages at 0x%llx are not RAM",
				    rec.npages, (unsigned long long)rec.gpa);
			return false;
		}
		if (in->pc) {
			ret = mig_postcopy_install(in->pc, rec.gpa, rec.data,
						   rec.npages);
			if (ret) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
					    "installing pages at 0x%llx: %s",
					    (unsigned long long)rec.gpa,
					    g_strerror(-ret));
				return false;
			}
		} else if (rec.data) {
			memcpy(hva, rec.data, bytes);
		}
		for (uint64_t i = 0; i < rec.npages; i++) {
			if (in->pc)
				continue;
			/* Only a page that holds an older pass needs zeroing. */
			if (!rec.data && mig_bitmap_test(&in->received, r, first + i))
				memset(hva + (i << GUEST_PAGE_SHIFT), 0, GUEST_PAGE_SIZE);
			mig_bitmap_set_atomic(&in->received, r, first + i);
		}
		pthread_mutex_lock(&in->m->lock);
		if (rec.data)
			in->pages += rec.npages;
		else
			in->zero_pages += rec.npages;
		pthread_mutex_unlock(&in->m->lock);
	}
	return ret == 0;
}

static bool in_discard(struct mig_in *in, const uint8_t *p, size_t len,
		       GError **err)
{
	for (size_t i = 0; i + 16 <= len; i += 16) {
		uint64_t gpa = GUINT64_FROM_LE(*(const uint64_t *)(p + i));
		uint64_t n = GUINT64_FROM_LE(*(const uint64_t *)(p + i + 8));

		if (in->pc || gpa % GUEST_PAGE_SIZE || n % GUEST_PAGE_SIZE ||
		    !mig_bitmap_set_range(&in->received, gpa, n, false) ||
		    mig_ram_discard(in->vm, gpa, n)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "DISCARD frame: a bad range 0x%llx+0x%llx",
				    (unsigned long long)gpa, (unsigned long long)n);
			return false;
		}
	}
	return true;
}

/* Every page must be in before post-copy ends. */
static bool in_all_received(struct mig_in *in)
{
	return mig_bitmap_count(&in->received) == in->vm->mem.ram_size >> GUEST_PAGE_SHIFT;
}

bool mig_in_frame(struct mig_in *in, const struct mig_frame_header *h,
		  const uint8_t *p, enum mig_in_next *next, GError **err)
{
	*next = MIG_IN_READ;
	switch (h->type) {
	case MIG_FRAME_PAGES:
		return in_pages(in, p, h->len, err);
	case MIG_FRAME_PASS:
		return true;
	case MIG_FRAME_DISCARD:
		return in_discard(in, p, h->len, err);
	case MIG_FRAME_POSTCOPY_LISTEN:
		if (in->pc)
			break;
		*next = MIG_IN_LISTEN;
		return true;
	case MIG_FRAME_STATE:
		if (in->state)
			break;
		in->state = g_memdup2(p, h->len);
		in->state_len = h->len;
		return true;
	case MIG_FRAME_POSTCOPY_RUN:
		if (!in->pc || !in->state || in->running)
			break;
		in->running = true;
		*next = MIG_IN_RUN;
		return true;
	case MIG_FRAME_END:
		if (in->pc) {
			if (!in_all_received(in)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "END with %llu pages still missing",
					    (unsigned long long)((in->vm->mem.ram_size >> GUEST_PAGE_SHIFT) -
								 mig_bitmap_count(&in->received)));
				return false;
			}
			*next = MIG_IN_DONE;
			return true;
		}
		if (!in->state)
			break;
		*next = MIG_IN_APPLY;
		return true;
	case MIG_FRAME_GO:
		if (in->pc || !in->state)
			break;
		in->running = true;
		*next = MIG_IN_GO;
		return true;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "an unexpected %s frame", mig_frame_name(h->type));
	return false;
}

/*
 * The frames of one connection, until the end (true) or an error. *link
 * tells a broken link (recoverable in post-copy) from a bad stream.
 */
static bool in_receive(struct mig_in *in, bool *link, GError **err)
{
	struct mig_chan *ch = in->ch;
	struct mig_frame_header h;
	enum mig_in_next next;
	uint64_t t0;
	int ret;

	for (;;) {
		*link = true;
		if (!mig_chan_recv(ch, &h, err))
			return *link = (*err)->code == TERN_ERROR_HOST, false;
		*link = false;
		if (!mig_in_frame(in, &h, ch->payload, &next, err))
			return false;
		switch (next) {
		case MIG_IN_READ:
			break;
		case MIG_IN_LISTEN:
			t0 = tern_now_ns();
			in->pc = mig_postcopy_listen(in, err);
			tern_debug("migration: post-copy: listening in %llu us",
				   (unsigned long long)(tern_now_ns() - t0) / 1000);
			if (!in->pc)
				return false;
			mig_in_set_status(in, MIGRATION_POSTCOPY_ACTIVE);
			break;
		case MIG_IN_RUN:
			/* The main thread may fault on pages: do not wait for it. */
			in_call_main(in, in_main_apply_run, false, NULL);
			break;
		case MIG_IN_DONE:
			ret = mig_chan_send_buf(ch, MIG_RP_DONE, NULL, 0);
			(void)ret;
			return true;
		case MIG_IN_APPLY:
			/*
			 * Loaded here, not on the main thread: one thread hop
			 * less in the guest's downtime. The VM is inmigrate:
			 * no QMP command touches the device state meanwhile.
			 */
			if (!in_apply_here(in)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s",
					    in->error[0] ? in->error : "tern is exiting");
				ret = mig_chan_send_buf(ch, MIG_RP_ERROR, in->error,
							strlen(in->error) + 1);
				return false;
			}
			ret = mig_chan_send_buf(ch, MIG_RP_READY, NULL, 0);
			if (ret) {
				*link = true;
				g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
					    "sending READY: %s", g_strerror(-ret));
				return false;
			}
			break;
		case MIG_IN_GO:
			in_call_main(in, in_main_run, false, NULL);
			return true;
		}
	}
}

bool mig_in_hello(struct mig_in *in, const uint8_t *p, size_t len,
		  bool recover, GError **err)
{
	struct mig_hello got;
	bool ok;

	if (!mig_hello_decode(p, len, &got, err))
		return false;
	ok = mig_hello_match(&in->want, &got, err);
	if (ok && recover && (!(got.flags & MIG_HELLO_RESUME) ||
			      got.session != in->session)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the connection does not resume this migration");
		ok = false;
	} else if (ok && !recover && got.flags) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a resuming or snapshot stream where a migration was expected");
		ok = false;
	}
	/*
	 * Only an accepted connection names the session: a refused recovery
	 * attempt must not make the source's own resume look foreign.
	 */
	if (ok)
		in->session = got.session;
	mig_hello_clear(&got);
	return ok;
}

void *mig_in_thread(void *opaque)
{
	struct mig_in *in = opaque;
	g_autoptr(GError) err = NULL;
	bool ok, link = false;

	ok = mig_in_connect(in, false, &err);
	if (ok) {
		mig_in_set_status(in, MIGRATION_ACTIVE);
		/* Pages arrive over what is there: none of it counts. */
		for (unsigned int i = 0; ok && !in->warm_started &&
					 i < in->vm->mem.nr_regions; i++)
			ok = !mig_ram_discard(in->vm, in->vm->mem.regions[i].gpa,
					      in->vm->mem.regions[i].size);
		if (!ok)
			g_set_error(&err, TERN_ERROR, TERN_ERROR_HOST,
				    "cannot discard guest RAM");
	}
	while (ok) {
		ok = in_receive(in, &link, &err);
		if (ok || !in->pc || !in->running || !link)
			break;
		g_autoptr(GError) why = g_steal_pointer(&err);

		ok = mig_in_recover(in, why, &err);
	}
	if (in->pc)
		mig_postcopy_end(in->pc);
	in->pc = NULL;
	if (ok) {
		mig_in_set_status(in, MIGRATION_COMPLETED);
	} else {
		pthread_mutex_lock(&in->m->lock);
		g_strlcpy(in->error, err->message, sizeof(in->error));
		/* Best effort: the source's error-desc then says why. */
		if (in->ch && !in->running)
			(void)!mig_chan_send_buf(in->ch, MIG_RP_ERROR, err->message,
						 strlen(err->message) + 1);
		pthread_mutex_unlock(&in->m->lock);
		mig_in_set_status(in, MIGRATION_FAILED);
		in_call_main(in, in_main_fail, false, err->message);
	}
	pthread_mutex_lock(&in->m->lock);
	mig_chan_free(in->ch);
	in->ch = NULL;
	pthread_mutex_unlock(&in->m->lock);
	return NULL;
}

void mig_in_run_guest(struct mig_in *in)
{
	struct in_call c = { .in = in };

	in->running = true;
	in_main_run(in->m, &c);
}
