/* SPDX-License-Identifier: MIT */
/*
 * Inside src/migration/: what its files share. migration.c owns struct
 * migration (settings, statuses, the main-thread queue); source.c,
 * source_link.c and source_ram.c the outgoing side, dest.c and
 * dest_link.c the incoming side, postcopy.c
 * userfaultfd on the destination, snapshot.c file: URIs, channel.c
 * connections, shape.c the machine shape both ends compare, stream.c the
 * framing. Nothing outside src/migration/ includes this.
 *
 * Locking: m->lock guards the settings, both sides' statuses, statistics
 * and requests; m->cond is broadcast on every change of them. Never held
 * across I/O or a main-thread call.
 */
#ifndef TERN_MIGRATION_INTERNAL_H
#define TERN_MIGRATION_INTERNAL_H

#include <netdb.h>
#include <pthread.h>

#include "tern/memory.h"
#include "tern/migration.h"
#include "stream.h"

struct vm;
struct mig_out;
struct mig_in;
struct thread_registry;

/* worker.c: the threads made at set-up that run migration's jobs. */
#define MIG_WORKERS 4

/* What a thread of migration runs; running until fn has returned. */
struct mig_job {
	void *(*fn)(void *);
	void *arg;
	bool running;
};

struct mig_worker {
	struct mig_workers *pool;
	pthread_t thread;
	struct mig_job *job; /* under pool->lock; NULL: idle */
};

struct mig_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a job given or finished, or stop */
	bool stop;
	unsigned int nr;
	struct mig_worker w[MIG_WORKERS];
};

/* Spawn the workers (confined to THREAD_ROLE_MIGRATION): 0 or -errno. */
int mig_workers_start(struct mig_workers *p, struct thread_registry *reg)
	__must_check;
/* End them: every job must be over (joined) first. */
void mig_workers_stop(struct mig_workers *p);
/* Run fn(arg) on an idle worker: 0, or -EAGAIN when none is idle. */
int mig_job_start(struct mig_workers *p, struct mig_job *job,
		  void *(*fn)(void *), void *arg) __must_check;
/* Wait until the job's fn has returned. */
void mig_job_join(struct mig_workers *p, struct mig_job *job);

struct migration {
	struct vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	/* Work for the main thread, woken by efd. */
	int efd;
	guint watch;
	GQueue calls; /* struct mig_call */
	bool exiting; /* migration_destroy(): every wait gives up */

	migration_event_fn *event_fn;
	void *event_opaque;
	void (*event_free)(void *opaque);

	bool caps[MIGRATION_CAP_COUNT];
	struct migration_params params;

	struct mig_workers workers;
	struct mig_out *out; /* the last outgoing migration, or NULL */
	struct mig_in *in; /* the incoming side (--incoming), or NULL */
};

/* migration.c */

/*
 * Run fn(m, arg) on the main thread. wait: block until it ran (false when
 * the main loop is gone: migration_destroy). Without wait, arg is freed
 * with g_free after fn unless fn is NULL.
 */
typedef void mig_main_fn(struct migration *m, void *arg);
bool mig_call_main(struct migration *m, mig_main_fn *fn, void *arg, bool wait);
/* An event for the listener, in order with every other call. */
void mig_post_event(struct migration *m, enum migration_event ev,
		    enum migration_status status, uint64_t pass);
/* Wait on m->cond until deadline_ns (0: forever); m->lock held. */
void mig_wait_locked(struct migration *m, uint64_t deadline_ns);

/* Bitmaps of guest pages, one per region (pure helpers, unit tested). */
struct mig_bitmap {
	unsigned int nr;
	uint64_t gpa[GUEST_MEM_MAX_REGIONS];
	uint64_t pages[GUEST_MEM_MAX_REGIONS];
	unsigned long *bits[GUEST_MEM_MAX_REGIONS];
};

void mig_bitmap_init(struct mig_bitmap *b, const struct guest_memory *mem);
void mig_bitmap_free(struct mig_bitmap *b);
void mig_bitmap_fill(struct mig_bitmap *b, bool set);
/* The region and page index of gpa, false when not RAM. */
bool mig_bitmap_find(const struct mig_bitmap *b, uint64_t gpa,
		     unsigned int *region, uint64_t *page);
/* Set or clear [gpa, gpa + len) (within one region); false if not RAM. */
bool mig_bitmap_set_range(struct mig_bitmap *b, uint64_t gpa, uint64_t len,
			  bool set);
bool mig_bitmap_test(const struct mig_bitmap *b, unsigned int region,
		     uint64_t page);
uint64_t mig_bitmap_count(const struct mig_bitmap *b);
/* Atomic forms, for a bitmap two threads share. */
bool mig_bitmap_test_atomic(const struct mig_bitmap *b, unsigned int region,
			    uint64_t page);
void mig_bitmap_set_atomic(struct mig_bitmap *b, unsigned int region,
			   uint64_t page);
/* Bytes of one region's bitmap as the stream carries it (LE words). */
size_t mig_bitmap_bytes(const struct mig_bitmap *b, unsigned int region);

/* shape.c: what a stream's HELLO says of the machine and the session. */
#define MIG_HELLO_RESUME 1u /* a post-copy recovery connection */
#define MIG_HELLO_SNAPSHOT 2u /* a file: the RAM image and state follow */

struct mig_hello {
	uint64_t session;
	uint32_t flags;
	uint32_t nr_vcpus;
	uint64_t ram_size;
	unsigned int nr_regions;
	uint64_t region_gpa[GUEST_MEM_MAX_REGIONS];
	uint64_t region_size[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_devices;
	char (*devices)[32];
};

void mig_hello_from_vm(struct vm *vm, uint64_t session, uint32_t flags,
		       struct mig_hello *h);
void mig_hello_clear(struct mig_hello *h);
uint8_t *mig_hello_encode(const struct mig_hello *h, size_t *len);
bool mig_hello_decode(const uint8_t *buf, size_t len, struct mig_hello *h,
		      GError **err);
/* Does the stream's machine (got) match this one (want)? err says how not. */
bool mig_hello_match(const struct mig_hello *want, const struct mig_hello *got,
		     GError **err);

/* channel.c: connections. Each may be interrupted with shutdown(). */
/*
 * A tcp: URI's addresses (freeaddrinfo them), or NULL with err. On the
 * main thread: reading /etc/hosts and asking DNS servers are not for the
 * migration threads' filter.
 */
struct addrinfo *mig_resolve(const struct migration_uri *u, GError **err);
/* Connect to a tcp: (at addrs, from mig_resolve) or unix: URI. */
struct mig_chan *mig_connect(const struct migration_uri *u,
			     const struct addrinfo *addrs, GError **err);
/* A listening socket for u (SOCK_CLOEXEC), or -1 with err. */
int mig_listen(const struct migration_uri *u, GError **err);
/*
 * Accept one connection on lfd, waiting until cancel_fd is readable.
 * While nothing has arrived, idle (if not NULL) is called again and again
 * between looks at both: one short step of work each, returning false
 * once it has nothing left to do. Then it waits without it.
 */
typedef bool mig_idle_fn(void *arg);
struct mig_chan *mig_accept(int lfd, int cancel_fd, bool tcp, mig_idle_fn *idle,
			    void *idle_arg, GError **err);

/* source.c: the outgoing side. */
struct mig_out *mig_out_new(struct migration *m);
void mig_out_free(struct mig_out *o);
bool mig_out_start(struct mig_out *o, const struct migration_uri *u,
		   bool resume, GError **err);
bool mig_out_busy(const struct mig_out *o);
/* The VM runs again (cont after a completed migration): relock disks. */
void mig_out_vm_resumed(struct mig_out *o);
/* A migrate refused at once: set-up, then failed with why (as QEMU). */
void mig_out_refused(struct mig_out *o, const char *why);
void mig_out_query(struct mig_out *o, struct migration_info *info);
bool mig_out_cancel(struct mig_out *o, GError **err);
bool mig_out_start_postcopy(struct mig_out *o, GError **err);
bool mig_out_pause(struct mig_out *o, GError **err);
bool mig_out_continue(struct mig_out *o, enum migration_status state,
		      GError **err);
enum migration_status mig_out_status(struct mig_out *o);

/* dest.c: the incoming side. */
struct mig_in *mig_in_new(struct migration *m);
void mig_in_free(struct mig_in *in);
bool mig_in_start(struct mig_in *in, const struct migration_uri *u,
		  bool recover, GError **err);
void mig_in_query(struct mig_in *in, struct migration_info *info);
bool mig_in_pause(struct mig_in *in, GError **err);
enum migration_status mig_in_status(struct mig_in *in);

/* snapshot.c: file: URIs. */
/*
 * Writing one: a temporary file beside path, made on the main thread
 * (mig_call_main with a struct mig_snap_file), written by the migration
 * thread, renamed over path once complete (or removed) on the main thread.
 */
struct mig_snap_file {
	const char *path;
	char *tmp; /* g_free it */
	int fd; /* -1 with err after create */
	bool ok; /* for commit: was it written? false after: it is removed */
	GError *err;
};

void mig_snapshot_main_create(struct migration *m, void *arg);
void mig_snapshot_main_commit(struct migration *m, void *arg);
/*
 * Write the stopped VM (its RAM, and state, the device state taken at the
 * stop) to fd, which it closes. *bytes: what was written.
 */
bool mig_snapshot_write(struct vm *vm, int fd, const uint8_t *state,
			size_t state_len, uint64_t *bytes, GError **err);
/* Restore the snapshot at path into the inmigrate VM (main thread). */
bool mig_snapshot_load(struct vm *vm, const char *path, GError **err);

#endif
