/* SPDX-License-Identifier: MIT */
/*
 * A block engine for tests whose requests complete only when the test says
 * so (held_release(), from any thread), as a hung NFS server or a stuck
 * device would hold them, and whose kick fails on demand. Each queue
 * created on it gets the next instance of a small static array (a device
 * that gives up on a queue opens a fresh one); nothing is allocated, so
 * nothing can leak, and a destroyed instance stays readable.
 */
#ifndef TERN_TEST_HELD_ENGINE_H
#define TERN_TEST_HELD_ENGINE_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tern/block.h"

#define HELD_MAX_INSTANCES 8

struct held_engine {
	pthread_mutex_t lock;
	int efd;
	struct blk_disk *disk;
	struct blk_req *held_head, *held_tail; /* submitted, not completed */
	struct blk_req *done_head, *done_tail; /* completed, not reaped */
	unsigned int submitted, held, reaped;
	unsigned int unkicked; /* submitted since the last kick */
	int failed; /* a failed kick sticks, as in the real engines */
	bool destroyed;
};

static struct {
	struct held_engine inst[HELD_MAX_INSTANCES];
	unsigned int created; /* instances handed out */
	int kick_error; /* the next kick with requests to hand over fails so */
	unsigned int kicks;
} held;

static int held_create(struct blk_disk *disk, unsigned int depth, void **state)
{
	struct held_engine *e;

	if (held.created == HELD_MAX_INSTANCES)
		return -ENOSPC;
	e = &held.inst[held.created++];
	pthread_mutex_init(&e->lock, NULL);
	e->disk = disk;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0)
		return -errno;
	*state = e;
	return 0;
}

static void held_submit(void *state, struct blk_req *req)
{
	struct held_engine *e = state;

	pthread_mutex_lock(&e->lock);
	req->next = NULL;
	if (e->held_tail)
		e->held_tail->next = req;
	else
		e->held_head = req;
	e->held_tail = req;
	e->submitted++;
	e->held++;
	e->unkicked++;
	pthread_mutex_unlock(&e->lock);
}

static int held_kick(void *state)
{
	struct held_engine *e = state;
	int ret;

	__atomic_add_fetch(&held.kicks, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&e->lock);
	if (!e->failed && e->unkicked)
		e->failed = __atomic_load_n(&held.kick_error, __ATOMIC_RELAXED);
	e->unkicked = 0;
	ret = e->failed;
	pthread_mutex_unlock(&e->lock);
	return ret;
}

static int held_event_fd(void *state)
{
	struct held_engine *e = state;

	return e->efd;
}

static unsigned int held_reap(void *state, struct blk_req **done,
			      unsigned int max)
{
	struct held_engine *e = state;
	unsigned int n = 0;

	pthread_mutex_lock(&e->lock);
	while (n < max && e->done_head) {
		done[n++] = e->done_head;
		e->done_head = e->done_head->next;
	}
	if (!e->done_head)
		e->done_tail = NULL;
	e->reaped += n;
	pthread_mutex_unlock(&e->lock);
	return n;
}

static void held_destroy(void *state)
{
	struct held_engine *e = state;

	/* Under ASan, a disk freed before its last queue shows here. */
	if (e->disk)
		(void)__atomic_load_n(&e->disk->fd, __ATOMIC_RELAXED);
	close(e->efd);
	__atomic_store_n(&e->destroyed, true, __ATOMIC_RELEASE);
}

static const struct blk_engine_ops held_ops = {
	.name = "held",
	.create = held_create,
	.submit = held_submit,
	.kick = held_kick,
	.event_fd = held_event_fd,
	.reap = held_reap,
	.destroy = held_destroy,
};

/*
 * Complete up to n of instance i's held requests, oldest first, as
 * successful (the data is not moved); returns how many.
 */
static inline unsigned int held_release(unsigned int i, unsigned int n)
{
	struct held_engine *e = &held.inst[i];
	unsigned int k = 0;
	uint64_t one = 1;

	pthread_mutex_lock(&e->lock);
	while (k < n && e->held_head) {
		struct blk_req *r = e->held_head;

		e->held_head = r->next;
		r->next = NULL;
		r->result = r->op == BLK_OP_READ || r->op == BLK_OP_WRITE ?
				    (int64_t)r->len :
				    0;
		if (e->done_tail)
			e->done_tail->next = r;
		else
			e->done_head = r;
		e->done_tail = r;
		e->held--;
		k++;
	}
	if (!e->held_head)
		e->held_tail = NULL;
	pthread_mutex_unlock(&e->lock);
	if (k)
		(void)!write(e->efd, &one, sizeof(one));
	return k;
}

static inline unsigned int held_count(unsigned int i)
{
	struct held_engine *e = &held.inst[i];
	unsigned int n;

	pthread_mutex_lock(&e->lock);
	n = e->held;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* Whether request r is held by instance i. */
static inline bool held_has(unsigned int i, const struct blk_req *r)
{
	struct held_engine *e = &held.inst[i];
	bool found = false;

	pthread_mutex_lock(&e->lock);
	for (struct blk_req *p = e->held_head; p && !found; p = p->next)
		found = p == r;
	pthread_mutex_unlock(&e->lock);
	return found;
}

#endif
