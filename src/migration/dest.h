/* SPDX-License-Identifier: MIT */
/*
 * The incoming side's state, shared by dest.c (the receiving thread and
 * the QMP entry points), dest_link.c (waiting for the stream, accepting
 * it, post-copy recovery) and postcopy.c (userfaultfd: missing pages, the
 * fault thread, page requests).
 */
#ifndef TERN_MIGRATION_DEST_H
#define TERN_MIGRATION_DEST_H

#include "internal.h"

struct mig_postcopy;

struct mig_in {
	struct migration *m;
	struct vm *vm;
	struct mig_job job; /* the receiving thread */
	bool thread_live;
	int cancel_efd; /* wakes a thread waiting in accept() */
	/*
	 * A userfaultfd for post-copy, or -errno: made before the sandbox
	 * seals, taken by mig_postcopy_listen().
	 */
	int uffd;

	/* m->lock */
	enum migration_status status;
	char error[256];
	struct mig_chan *ch; /* NULL while paused */
	int listen_fd;
	bool tcp;
	struct migration_uri uri; /* where it listens, for query-migrate */
	bool recover_req; /* migrate-recover: listen_fd is the new socket */
	uint64_t start_ns, end_ns;
	uint64_t pages, zero_pages;

	/* The receiving thread's own. */
	struct mig_hello want; /* this machine */
	/* Populating RAM while waiting for the stream (in_warm_step()). */
	bool warm_started; /* RAM discarded: connecting need not */
	unsigned int warm_region;
	uint64_t warm_off, warm_bytes, warm_ns;
	uint64_t session;
	bool connected_once;
	/* Pages that arrived (atomic: the fault thread reads it too). */
	struct mig_bitmap received;
	struct mig_postcopy *pc; /* after POSTCOPY_LISTEN */
	uint8_t *state;
	size_t state_len;
	bool running; /* the guest was let run here */
};

/* dest.c */
/* What the receiving thread does after a frame mig_in_frame() took. */
enum mig_in_next {
	MIG_IN_READ, /* the next frame */
	MIG_IN_LISTEN, /* POSTCOPY_LISTEN: mig_postcopy_listen() */
	MIG_IN_RUN, /* POSTCOPY_RUN: load the state and run; read on */
	MIG_IN_APPLY, /* END (pre-copy): load the state, answer READY */
	MIG_IN_DONE, /* END (post-copy): every page is in; answer DONE */
	MIG_IN_GO, /* GO: run the guest; the stream is over */
};

/*
 * HELLO's payload: is it this machine and, when recovering, the session
 * being resumed? Sets in->session when it is accepted.
 */
bool mig_in_hello(struct mig_in *in, const uint8_t *p, size_t len,
		  bool recover, GError **err);
/*
 * One frame after HELLO, checked against the frames before it and
 * applied: pages into guest RAM, discards, the state kept for later. No
 * stream I/O and no other thread, so the fuzz target drives it with what
 * a hostile source sends (tests/fuzz/fuzz-migration.c); *next says what
 * the receiving thread does then. false with err: the stream is refused.
 */
bool mig_in_frame(struct mig_in *in, const struct mig_frame_header *h,
		  const uint8_t *p, enum mig_in_next *next, GError **err);
void mig_in_set_status(struct mig_in *in, enum migration_status st);
/* The receiving thread. */
void *mig_in_thread(void *opaque);
/* Run the guest (or leave it paused for -S) once its state is in. */
void mig_in_run_guest(struct mig_in *in);

/* dest_link.c */
/*
 * Accept on the listening socket (populating RAM meanwhile unless
 * recovering), read the preamble and HELLO.
 */
bool mig_in_connect(struct mig_in *in, bool recover, GError **err);
/*
 * After a post-copy link break (why: the link's error): postcopy-paused
 * until migrate-recover brings a resuming source, which gets RECEIVED.
 */
bool mig_in_recover(struct mig_in *in, const GError *why, GError **err);

/* postcopy.c */
/* Register every missing page with userfaultfd; start the fault thread. */
struct mig_postcopy *mig_postcopy_listen(struct mig_in *in, GError **err);
/* A new userfaultfd (O_CLOEXEC | O_NONBLOCK), or -errno. */
int mig_postcopy_open_uffd(void);
/*
 * Install npages at gpa (data, or zero pages for NULL) unless already in,
 * and mark them received. 0 or -errno.
 */
int mig_postcopy_install(struct mig_postcopy *pc, uint64_t gpa,
			 const uint8_t *data, uint32_t npages) __must_check;
/* After a recovery: ask again for every page a thread is waiting for. */
void mig_postcopy_resend(struct mig_postcopy *pc);
/* Every page is in: unregister, stop the fault thread, free. */
void mig_postcopy_end(struct mig_postcopy *pc);

/* Drop [gpa, gpa + len) of RAM: it reads as zero (or faults) afterwards. */
int mig_ram_discard(struct vm *vm, uint64_t gpa, uint64_t len) __must_check;

#endif
