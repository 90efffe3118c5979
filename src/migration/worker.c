// SPDX-License-Identifier: MIT
/*
 * Migration's threads, made once with the VM and idle until a migration
 * gives them work. The sandbox lets no thread be made after set-up (a
 * thread made later would run under its maker's filter too, and clone is
 * refused), so `migrate` and `migrate-incoming` cannot spawn theirs: they
 * hand a job to one of these, each confined to the migration role from
 * its first instruction (thread.h's enter hook).
 *
 * One job per worker at a time. The most that run at once: a sender and
 * its return-path reader, and a receiver and its post-copy fault thread
 * (a destination that migrates on, or both in one test process).
 */
#include <errno.h>

#include "tern/vm.h"
#include "internal.h"

static void *mig_worker_main(void *opaque)
{
	struct mig_worker *w = opaque;
	struct mig_workers *p = w->pool;
	struct mig_job *job;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && !w->job)
			pthread_cond_wait(&p->cond, &p->lock);
		job = w->job;
		if (!job)
			break;
		pthread_mutex_unlock(&p->lock);
		job->fn(job->arg);
		pthread_mutex_lock(&p->lock);
		job->running = false;
		w->job = NULL;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int mig_workers_start(struct mig_workers *p, struct thread_registry *reg)
{
	int ret;

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->stop = false;
	p->nr = 0;
	for (unsigned int i = 0; i < MIG_WORKERS; i++) {
		struct mig_worker *w = &p->w[i];

		w->pool = p;
		w->job = NULL;
		ret = thread_spawn(reg, &w->thread, THREAD_ROLE_MIGRATION,
				   mig_worker_main, w, "mig%u", i);
		if (ret) {
			mig_workers_stop(p);
			return ret;
		}
		p->nr++;
	}
	return 0;
}

void mig_workers_stop(struct mig_workers *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* A worker ends after its job: its owner joined or stopped it first. */
	for (unsigned int i = 0; i < p->nr; i++)
		pthread_join(p->w[i].thread, NULL);
	p->nr = 0;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

int mig_job_start(struct mig_workers *p, struct mig_job *job,
		  void *(*fn)(void *), void *arg)
{
	int ret = -EAGAIN;

	pthread_mutex_lock(&p->lock);
	for (unsigned int i = 0; i < p->nr && !p->stop; i++) {
		if (p->w[i].job)
			continue;
		job->fn = fn;
		job->arg = arg;
		job->running = true;
		p->w[i].job = job;
		pthread_cond_broadcast(&p->cond);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void mig_job_join(struct mig_workers *p, struct mig_job *job)
{
	pthread_mutex_lock(&p->lock);
	while (job->running)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
}
