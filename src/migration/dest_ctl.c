// SPDX-License-Identifier: MIT
/*
 * The incoming side's control (main thread): --incoming, migrate-incoming,
 * migrate-recover and migrate-pause, what query-migrate shows, and file:
 * snapshots, restored here and now.
 */
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/vm.h"
#include "dest.h"

struct mig_in *mig_in_new(struct migration *m)
{
	struct mig_in *in = g_new0(struct mig_in, 1);

	in->m = m;
	in->vm = m->vm;
	in->listen_fd = -1;
	in->cancel_efd = efd_new();
	in->uffd = mig_postcopy_open_uffd();
	mig_bitmap_init(&in->received, &m->vm->mem);
	return in;
}

void mig_in_free(struct mig_in *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&in->m->lock);
	if (in->ch)
		mig_chan_shutdown(in->ch);
	pthread_cond_broadcast(&in->m->cond);
	pthread_mutex_unlock(&in->m->lock);
	if (in->cancel_efd >= 0)
		efd_signal(in->cancel_efd);
	if (in->thread_live)
		mig_job_join(&in->m->workers, &in->job);
	if (in->listen_fd >= 0)
		close(in->listen_fd);
	if (in->cancel_efd >= 0)
		close(in->cancel_efd);
	if (in->uffd >= 0)
		close(in->uffd);
	if (in->uri.kind == MIGRATION_URI_UNIX && in->uri.path)
		unlink(in->uri.path);
	migration_uri_clear(&in->uri);
	mig_hello_clear(&in->want);
	mig_bitmap_free(&in->received);
	g_free(in->state);
	g_free(in);
}

enum migration_status mig_in_status(struct mig_in *in)
{
	enum migration_status s;

	pthread_mutex_lock(&in->m->lock);
	s = in->status;
	pthread_mutex_unlock(&in->m->lock);
	return s;
}

/* A snapshot file: restored here and now, on the main thread. */
static bool in_restore_file(struct mig_in *in, const char *path, GError **err)
{
	uint64_t t0 = tern_now_ns();

	mig_in_set_status(in, MIGRATION_SETUP);
	mig_in_set_status(in, MIGRATION_ACTIVE);
	if (!mig_snapshot_load(in->vm, path, err)) {
		g_strlcpy(in->error, (*err)->message, sizeof(in->error));
		mig_in_set_status(in, MIGRATION_FAILED);
		return false;
	}
	tern_debug("snapshot %s restored in %llu us", path,
		   (unsigned long long)(tern_now_ns() - t0) / 1000);
	mig_in_run_guest(in);
	mig_in_set_status(in, MIGRATION_COMPLETED);
	return true;
}

bool mig_in_start(struct mig_in *in, const struct migration_uri *u,
		  bool recover, GError **err)
{
	int fd, ret;

	if (!recover && in->status != MIGRATION_NONE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "The incoming migration has already been started");
		return false;
	}
	if (u->kind == MIGRATION_URI_FILE)
		return in_restore_file(in, u->path, err);
	fd = mig_listen(u, err);
	if (fd < 0)
		return false;
	pthread_mutex_lock(&in->m->lock);
	if (in->uri.kind == MIGRATION_URI_UNIX && in->uri.path &&
	    g_strcmp0(in->uri.path, u->path))
		unlink(in->uri.path);
	migration_uri_clear(&in->uri);
	in->uri = (struct migration_uri){
		.kind = u->kind,
		.host = g_strdup(u->host),
		.port = g_strdup(u->port),
		.path = g_strdup(u->path),
	};
	in->tcp = u->kind == MIGRATION_URI_TCP;
	in->listen_fd = fd;
	if (recover) {
		in->recover_req = true;
		pthread_cond_broadcast(&in->m->cond);
	}
	pthread_mutex_unlock(&in->m->lock);
	if (recover)
		return true;
	in->start_ns = tern_now_ns();
	mig_hello_from_vm(in->vm, 0, 0, &in->want);
	mig_in_set_status(in, MIGRATION_SETUP);
	ret = mig_job_start(&in->m->workers, &in->job, mig_in_thread, in);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot start the incoming migration thread: %s",
			    g_strerror(-ret));
		return false;
	}
	in->thread_live = true;
	return true;
}

bool mig_in_pause(struct mig_in *in, GError **err)
{
	pthread_mutex_lock(&in->m->lock);
	if (in->ch)
		mig_chan_shutdown(in->ch);
	pthread_mutex_unlock(&in->m->lock);
	return true;
}

void mig_in_query(struct mig_in *in, struct migration_info *info)
{
	pthread_mutex_lock(&in->m->lock);
	info->status = in->status;
	g_strlcpy(info->error, in->error, sizeof(info->error));
	/* QEMU shows where it listens until the stream connects. */
	if (in->listen_fd >= 0 && in->uri.kind == MIGRATION_URI_UNIX) {
		g_strlcpy(info->listen_type, "unix", sizeof(info->listen_type));
		g_strlcpy(info->listen_path, in->uri.path, sizeof(info->listen_path));
	} else if (in->listen_fd >= 0) {
		g_strlcpy(info->listen_type, "inet", sizeof(info->listen_type));
		g_strlcpy(info->listen_host, in->uri.host, sizeof(info->listen_host));
		g_strlcpy(info->listen_port, in->uri.port, sizeof(info->listen_port));
	}
	pthread_mutex_unlock(&in->m->lock);
}
