/* SPDX-License-Identifier: MIT */
/*
 * The outgoing side's state, shared by source.c (the migration thread's
 * course: set-up, passes, switch-over, post-copy, recovery; the QMP entry
 * points), source_link.c (the connection and the return path) and
 * source_ram.c (sending pages, the dirty log, throttling,
 * statistics). Fields marked "m->lock" are read by QMP on the main thread;
 * the rest belong to the migration thread.
 */
#ifndef TERN_MIGRATION_SOURCE_H
#define TERN_MIGRATION_SOURCE_H

#include "tern/vm.h"
#include "internal.h"

/* A page request from the destination (post-copy). */
struct mig_request {
	uint64_t gpa;
	uint32_t npages;
};

struct mig_out_stats {
	uint64_t start_ns, setup_ns, stop_ns, run_ns, end_ns;
	uint64_t transferred, duplicate, normal, remaining_pages;
	uint64_t precopy_bytes, downtime_bytes, postcopy_bytes;
	uint64_t dirty_sync_count, postcopy_requests;
	uint64_t dirty_pages_rate, pages_per_second;
	uint64_t bandwidth; /* bytes/s, measured */
	uint64_t expected_downtime_ms;
	double mbps;
	uint32_t throttle_pct;
};

enum mig_phase {
	MIG_PHASE_PRECOPY,
	MIG_PHASE_DOWNTIME, /* stopped: the last pages and the state */
	MIG_PHASE_POSTCOPY,
};

struct mig_out {
	struct migration *m;
	struct vm *vm;
	struct mig_job job, rp_job; /* the migration and return-path threads */
	bool thread_live, rp_live;

	/* m->lock */
	enum migration_status status;
	char error[256];
	bool cancel, postcopy_req, continue_req, resume_req;
	struct migration_uri resume_uri;
	struct addrinfo *resume_addrs; /* tcp: resolved by migrate (resume) */
	struct mig_chan *ch; /* shut down from the main thread to interrupt */
	struct mig_out_stats stats;
	/* Filled by the return-path thread. */
	bool rp_ready, rp_done, rp_broken, rp_received;
	/* Pre-copy: END is sent; the return-path thread answers READY with GO. */
	bool go_armed;
	int go_ret;
	char rp_error[256];
	GArray *requests; /* struct mig_request */
	/* Post-copy stream running: the return-path thread sends requested pages. */
	bool rp_serves;
	/*
	 * Requests being served by the return-path thread: pages taken out of
	 * todo and not yet in the stream. END waits for none (mig_ram_send_end()).
	 */
	unsigned int rp_sending;
	/* Why the return path ended (post-copy-paused's error-desc). */
	char rp_why[256];
	struct mig_bitmap received; /* recovery: what the destination has */

	/* The migration thread's own. */
	struct migration_uri uri;
	struct addrinfo *addrs; /* tcp: uri resolved by migrate */
	uint64_t session;
	enum mig_phase phase;
	bool stopped; /* we stopped the VM */
	bool dest_running; /* post-copy: the guest may run there now */
	bool last_was_file; /* the last completed one wrote a snapshot */
	enum vm_run_state was; /* its state before */
	bool disks_inactive;
	bool dirty_logging;
	unsigned int reset_seen;
	struct mig_bitmap todo; /* pages still to send */
	uint8_t *state; /* the device state, taken at the stop */
	size_t state_len;
	/* The frame being built (source_ram.c). */
	uint8_t *frame;
	size_t frame_len;
	size_t rec_off;
	uint64_t rec_gpa;
	uint32_t rec_n;
	bool rec_open, rec_zero;
	/* Rate limiting and measuring (source_ram.c). */
	uint64_t window_start_ns, window_bytes;
	uint64_t pass_start_ns, pass_bytes, last_throttle_ns;
	uint64_t rate_start_ns, rate_bytes, rate_pages;
	/* The best 50 ms of the pass: what the link gives with the guest stopped. */
	uint64_t win_start_ns, win_bytes, pass_peak_bw;
	/* Re-arming the dirty log this pass, for --debug. */
	uint64_t rearm_ns, rearm_calls;
};

/* source.c, for source_postcopy.c and source_ctl.c */
bool out_disks_set_active(struct vm *vm, bool active, GError **err);
void out_set_status(struct mig_out *o, enum migration_status st);
/* On the main thread: stop the VM, hand the disks over, save the state. */
bool out_stop_vm(struct mig_out *o, GError **err);
/* The migration thread (source.c). */
void *mig_out_thread(void *opaque);

/* source_link.c: the connection and the return path */
bool out_connect(struct mig_out *o, const struct migration_uri *u,
		 const struct addrinfo *addrs, uint32_t flags, GError **err);
void out_disconnect(struct mig_out *o);
void out_link_error(struct mig_out *o, int ret, GError **err);
/* Wait for the destination to set *flag (READY, DONE, RECEIVED). */
bool out_wait_rp(struct mig_out *o, bool *flag, GError **err);
/*
 * One frame from the return path (m->lock held; dropped while a requested
 * page is sent): READY (GO if armed), DONE, ERROR, REQUEST (served now or
 * queued), RECEIVED. rp_frame: MIG_RP_FRAME_CAP bytes for serving. No
 * reading: the fuzz target drives it with what a hostile destination
 * sends (tests/fuzz/fuzz-migration.c).
 */
void out_rp_frame(struct mig_out *o, const struct mig_frame_header *h,
		  const uint8_t *p, uint8_t *rp_frame);

/* source_postcopy.c */
bool out_start_postcopy(struct mig_out *o, GError **err);
bool out_run_postcopy(struct mig_out *o, GError **err);

/* source_ram.c */
void mig_ram_setup(struct mig_out *o);
void mig_ram_cleanup(struct mig_out *o);
/*
 * Send every page in todo (requests first in post-copy). 0 when todo is
 * empty; -EINTR when a request (cancel, post-copy, pause) interrupted it;
 * -errno when the link broke; -EIO when the dirty log of a chunk could
 * not be re-armed before it was sent (pre-copy).
 */
int mig_ram_send_todo(struct mig_out *o, bool stop_on_postcopy);
/* Merge the dirty log into todo; the number of dirty pages or -errno. */
int64_t mig_ram_sync(struct mig_out *o);
/* Serve queued page requests; same returns as mig_ram_send_todo(). */
int mig_ram_serve_requests(struct mig_out *o);
/*
 * Send the pages of one request still to send, in a frame of its own
 * built in buf (MIG_RP_FRAME_CAP bytes): for the return-path thread, while
 * the sender streams the rest. todo's bits are taken atomically.
 */
#define MIG_RP_FRAME_CAP (512 * (4096 + 16))
int mig_ram_serve_request(struct mig_out *o, uint64_t gpa, uint32_t npages,
			  uint8_t *buf);
/*
 * Post-copy's END, once no page taken out of todo is still on its way
 * (a request the return-path thread is serving): the destination checks
 * at END that every page is in. 0, -EPIPE when the link broke meanwhile,
 * or the send's -errno.
 */
int mig_ram_send_end(struct mig_out *o) __must_check;
/* Statistics after a pass: bandwidth, dirty rate, expected downtime. */
void mig_ram_pass_done(struct mig_out *o, int64_t dirty);
/*
 * Pre-copy's switch-over rule. The rest must fit in downtime-limit, but
 * the first pass under the limit is not the end: while a pass still
 * shrinks the dirty set by a quarter or more, one more pass (sent with
 * the guest running) costs less than sending the same pages with it
 * stopped. The switch-over comes at a fixed point: the set shrinks by
 * less than a quarter, the rest would go in MIG_DOWNTIME_FLOOR_MS or less
 * (the stop's own cost is of that order), or MIG_POLISH_PASSES passes
 * under the limit were spent.
 */
#define MIG_DOWNTIME_FLOOR_MS 10
#define MIG_POLISH_PASSES 8

struct mig_converge {
	uint64_t expected_ms; /* the rest at the measured bandwidth */
	uint64_t limit_ms; /* downtime-limit */
	uint64_t sent_pages; /* what the pass had to send */
	uint64_t dirty_pages; /* what it left dirty */
	unsigned int polish_passes; /* passes already under the limit */
};

bool mig_precopy_converged(const struct mig_converge *c);
/* auto-converge: raise the throttle, and tick it while it is on. */
void mig_ram_throttle_up(struct mig_out *o);
void mig_ram_throttle_tick(struct mig_out *o);
void mig_ram_throttle_off(struct mig_out *o);
/* Is a stop request pending (cancel), or the link gone? m->lock held. */
bool mig_out_should_stop_locked(const struct mig_out *o);

#endif
