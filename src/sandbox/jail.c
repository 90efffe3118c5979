// SPDX-License-Identifier: MIT
/*
 * --jail DIR, in the manner of Firecracker's jailer, but without exec:
 * before anything is built, tern forks into new mount, PID, IPC and network
 * namespaces; the child bind-mounts into DIR exactly the files the options
 * name, each at its own canonical path (so the names tern was given keep
 * working), pivots into DIR and throws the old root away. The parent stays
 * outside: it binds the --qmp unix: sockets where the user asked (the child
 * gets them as descriptors), passes signals on to the child, removes the
 * sockets when the child is gone and ends as the child ended.
 *
 * The child is PID 1 of its namespace: QMP's thread IDs (query-cpus-fast)
 * are numbers in that namespace, and when it exits the kernel kills and
 * waits for everything else in it, so a --teardown reaper could not detach
 * the KVM teardown: under --jail it is synchronous.
 * No tap device exists yet; when one does, it needs the host's network
 * namespace and /dev/net/tun here.
 */
#include <errno.h>
#include <cap-ng.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tern/qmp.h"
#include "tern/vm.h"
#include "tern/vhost-user-fs.h"
#include "sandbox-internal.h"

/* A state file or a console log may grow this much past the largest disk. */
#define JAIL_FSIZE_SLACK (1ULL * GiB)

struct jail_socket {
	char *path;
	dev_t dev;
	ino_t ino;
};

struct jail {
	const char *dir;
	GArray *sockets; /* struct jail_socket: bound here, removed at the end */
	rlim_t fsize;
};

static bool jail_fail(GError **err, const char *what, const char *path,
		      int e)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "--jail: %s%s%s: %s", what,
		    path ? " " : "", path ? path : "", g_strerror(e));
	return false;
}

/* Bind each unix: socket here and hand it to the child as fd=N. */
static bool jail_bind_sockets(struct jail *j, struct vm_config *cfg,
			      GError **err)
{
	for (unsigned int i = 0; i < cfg->nr_qmp; i++) {
		struct qmp_endpoint *ep = &cfg->qmp[i];
		struct jail_socket s;
		struct stat st;
		GError *e = NULL;

		if (ep->kind != QMP_ENDPOINT_UNIX)
			continue;
		ep->fd = qmp_unix_listen(ep->path, &st, &e);
		if (ep->fd < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--qmp '%s': %s", ep->spec, e->message);
			g_error_free(e);
			return false;
		}
		s.path = g_strdup(ep->path);
		s.dev = st.st_dev;
		s.ino = st.st_ino;
		g_array_append_val(j->sockets, s);
		ep->kind = QMP_ENDPOINT_FD;
	}
	return true;
}

static void jail_remove_sockets(struct jail *j)
{
	for (guint i = 0; i < j->sockets->len; i++) {
		struct jail_socket *s = &g_array_index(j->sockets, struct jail_socket, i);
		struct stat st;

		/* Ours, not one someone put in its place since. */
		if (!lstat(s->path, &st) && st.st_dev == s->dev &&
		    st.st_ino == s->ino)
			unlink(s->path);
		g_free(s->path);
	}
	g_array_set_size(j->sockets, 0);
}

/*
 * The canonical name of a file the child needs, which replaces *path: the
 * same file, and a name that needs no symbolic link inside the jail.
 */
static bool jail_canonical(char **path, GError **err)
{
	char *real = realpath(*path, NULL);

	if (!real)
		return jail_fail(err, "cannot find", *path, errno);
	g_free(*path);
	*path = g_strdup(real);
	free(real);
	return true;
}

/*
 * RLIMIT_FSIZE: no file tern writes may grow past the largest disk (writes
 * never pass an image's end) plus room for a state file or a console log,
 * so a guest cannot fill the host's disk through them.
 */
static rlim_t jail_fsize(const struct vm_config *cfg)
{
	uint64_t most = cfg->memory;
	struct stat st;

	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (!stat(cfg->disks[i].path, &st) && (uint64_t)st.st_size > most)
			most = st.st_size;
	return most + JAIL_FSIZE_SLACK;
}

/*
 * Make path (absolute) exist under the jail root rootfd, never following
 * a symbolic link on the way (DIR may be writable by others), as a file
 * (or a directory when dir), and return an O_PATH descriptor of it.
 */
static int jail_mkpath(int rootfd, const char *path, bool dir)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	int fd = dup(rootfd), next;
	unsigned int n = g_strv_length(parts);
	struct stat st;

	for (unsigned int i = 0; fd >= 0 && i < n; i++) {
		const char *p = parts[i];
		bool last = i == n - 1;

		if (!*p || !strcmp(p, "."))
			continue;
		if (!strcmp(p, "..")) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
		if (!last || dir) {
			if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST)
				goto err;
			next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			next = openat(fd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (next < 0 && errno != EEXIST)
				goto err;
			if (next >= 0)
				close(next);
			/* O_PATH: the name, never the file (a device, a FIFO). */
			next = openat(fd, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (next >= 0 && (fstat(next, &st) < 0 || S_ISLNK(st.st_mode))) {
				close(next);
				errno = ELOOP;
				goto err;
			}
		}
		if (next < 0)
			goto err;
		close(fd);
		fd = next;
	}
	return fd;
err:
	next = errno;
	close(fd);
	errno = next;
	return -1;
}

/* Bind-mount the host's path at the same path inside the jail. */
static bool jail_bind(int rootfd, const char *path, bool readonly,
		      GError **err)
{
	char target[64];
	int fd = jail_mkpath(rootfd, path, false);
	unsigned long ro = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC;
	struct stat st;
	bool ok = true;

	/* A disk on a block device must stay openable. */
	if (stat(path, &st) == 0 && !S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
		ro |= MS_NODEV;

	if (fd < 0)
		return jail_fail(err, "cannot make a mount point for", path, errno);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(path, target, NULL, MS_BIND, NULL) < 0)
		ok = jail_fail(err, "cannot bind-mount", path, errno);
	close(fd);
	if (!ok || !readonly)
		return ok;
	/* The name again: now it is the new mount, which a remount needs. */
	fd = jail_mkpath(rootfd, path, false);
	if (fd < 0)
		return jail_fail(err, "cannot find the mount of", path, errno);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(NULL, target, NULL, ro, NULL) < 0)
		ok = jail_fail(err, "cannot make read-only", path, errno);
	close(fd);
	return ok;
}

static bool jail_bind_all(int rootfd, const struct vm_config *cfg,
			  GError **err)
{
	/* --kvm-device names the file tern opens instead of /dev/kvm. */
	if (!jail_bind(rootfd, cfg->kvm_device ? cfg->kvm_device : "/dev/kvm",
		       false, err) ||
	    !jail_bind(rootfd, "/dev/null", false, err))
		return false;
	if (cfg->kernel_path && !jail_bind(rootfd, cfg->kernel_path, true, err))
		return false;
	if (cfg->initrd_path && !jail_bind(rootfd, cfg->initrd_path, true, err))
		return false;
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (!jail_bind(rootfd, cfg->disks[i].path, cfg->disks[i].readonly,
			       err))
			return false;
	/* vhost-user back-ends' sockets (a disk's is its path, above). */
	for (unsigned int i = 0; i < cfg->nr_fs; i++)
		if (!jail_bind(rootfd, cfg->fs[i].path, false, err))
			return false;
	for (unsigned int i = 0; i < cfg->nr_vu_nets; i++)
		if (!jail_bind(rootfd, cfg->vu_nets[i].vhost_user, false, err))
			return false;
	if (cfg->console == CONSOLE_FILE &&
	    !jail_bind(rootfd, cfg->console_path, false, err))
		return false;
	return true;
}

/* Keep an O_PATH of a reconnecting back-end's socket directory. */
static bool jail_open_socket_dir(struct vm_config *cfg, const char *path,
				 GError **err)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return jail_fail(err, "cannot open the socket directory", dir, errno);
	cfg->socket_dirs = g_renew(struct socket_dir, cfg->socket_dirs,
				   cfg->nr_socket_dirs + 1);
	cfg->socket_dirs[cfg->nr_socket_dirs++] =
		(struct socket_dir){ .path = g_strdup(path), .dirfd = fd };
	return true;
}

/*
 * A restarted back-end unlinks its socket and binds a new one, which the
 * jail's bind mount of the old file never shows. Its reconnect helper
 * (src/vhost-user/connector.c) connects by name from the directory
 * instead: only that helper keeps the directory, tern closes it once the
 * devices exist. Binding the directory would show the whole jail its
 * other files.
 */
static bool jail_open_socket_dirs(struct vm_config *cfg, GError **err)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].vhost_user && cfg->disks[i].reconnect &&
		    !jail_open_socket_dir(cfg, cfg->disks[i].path, err))
			return false;
	for (unsigned int i = 0; i < cfg->nr_vu_nets; i++)
		if (cfg->vu_nets[i].reconnect &&
		    !jail_open_socket_dir(cfg, cfg->vu_nets[i].vhost_user, err))
			return false;
	for (unsigned int i = 0; i < cfg->nr_fs; i++)
		if (cfg->fs[i].reconnect &&
		    !jail_open_socket_dir(cfg, cfg->fs[i].path, err))
			return false;
	return true;
}

/* In the child: build the jail's mounts and move into it. */
static bool jail_build(struct jail *j, struct vm_config *cfg, GError **err)
{
	const unsigned long root_flags = MS_BIND | MS_REMOUNT | MS_NOSUID |
					 MS_NODEV | MS_NOEXEC;
	struct rlimit fsize = { j->fsize, j->fsize };
	int rootfd;
	bool ok;

	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET) < 0)
		return jail_fail(err, "unshare", NULL, errno);
	/* Nothing we mount from here on reaches the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return jail_fail(err, "cannot make the mounts private", NULL, errno);
	/* pivot_root() wants a mount point; DIR's own mounts come along. */
	if (mount(j->dir, j->dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, j->dir, NULL, root_flags, NULL) < 0)
		return jail_fail(err, "cannot bind-mount", j->dir, errno);
	rootfd = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return jail_fail(err, "cannot open", j->dir, errno);
	ok = jail_bind_all(rootfd, cfg, err) && jail_open_socket_dirs(cfg, err);
	close(rootfd);
	if (!ok)
		return false;
	if (chdir(j->dir) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return jail_fail(err, "pivot_root into", j->dir, errno);
	/* The old root is stacked under the new one: detach it. */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return jail_fail(err, "cannot detach the old root", NULL, errno);
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		return jail_fail(err, "RLIMIT_FSIZE", NULL, errno);
	/* A write past it fails (EFBIG) instead of killing tern. */
	signal(SIGXFSZ, SIG_IGN);
	return true;
}

/* The parent's whole job: pass signals on, then end as the child ended. */
static int jail_wait(pid_t child, const sigset_t *set)
{
	siginfo_t si;
	int ws = 0;

	for (;;) {
		int sig = sigwaitinfo(set, &si);

		if (sig == SIGCHLD) {
			if (waitpid(child, &ws, WNOHANG) == child)
				break;
		} else if (sig > 0) {
			kill(child, sig);
		}
	}
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	return 128 + WTERMSIG(ws);
}

/* End the way the child did: killed by its signal (no core of our own). */
static void jail_die_like(int status)
{
	struct rlimit none = { 0, 0 };
	sigset_t set;
	int sig = status - 128;

	if (status <= 128 || sig >= NSIG)
		return;
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

/* The parent needs no privilege but signalling a child of another user. */
static void jail_parent_drop_caps(void)
{
	capng_clear(CAPNG_SELECT_BOTH);
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_KILL);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0)
		tern_warn("--jail: cannot drop the waiting parent's capabilities");
}

static bool jail_prepare(struct jail *j, struct vm_config *cfg, GError **err)
{
	g_autofree char *real = realpath(j->dir, NULL);
	struct stat st;

	if (!real || stat(real, &st) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "--jail '%s': %s",
			    j->dir, g_strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode) || !strcmp(real, "/")) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--jail '%s': expected a directory other than /",
			    j->dir);
		return false;
	}
	/* Canonical names, so the same names work inside. */
	if ((cfg->kernel_path && !jail_canonical(&cfg->kernel_path, err)) ||
	    (cfg->initrd_path && !jail_canonical(&cfg->initrd_path, err)))
		return false;
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (!jail_canonical(&cfg->disks[i].path, err))
			return false;
	for (unsigned int i = 0; i < cfg->nr_fs; i++)
		if (!jail_canonical(&cfg->fs[i].path, err))
			return false;
	for (unsigned int i = 0; i < cfg->nr_vu_nets; i++)
		if (!jail_canonical(&cfg->vu_nets[i].vhost_user, err))
			return false;
	if (cfg->console == CONSOLE_FILE) {
		/* A mount point needs a file: made empty now if missing. */
		int fd = open(cfg->console_path, O_WRONLY | O_CREAT | O_EXCL |
					  O_NOCTTY | O_CLOEXEC, 0644);

		if (fd < 0 && errno != EEXIST)
			return jail_fail(err, "cannot create the console file",
					 cfg->console_path, errno);
		if (fd >= 0)
			close(fd);
		if (!jail_canonical(&cfg->console_path, err))
			return false;
	}
	j->fsize = jail_fsize(cfg);
	return jail_bind_sockets(j, cfg, err);
}

bool sandbox_jail_enter(struct vm_config *cfg, bool *parent, int *status,
			GError **err)
{
	struct jail j = { .dir = cfg->jail_dir };
	sigset_t wait_set, old;
	bool ok = false;
	pid_t child;

	*parent = false;
	j.sockets = g_array_new(FALSE, FALSE, sizeof(struct jail_socket));
	if (!jail_prepare(&j, cfg, err))
		goto out;
	/*
	 * The signals the parent waits for, blocked before the child exists:
	 * the ones that end the VM (and not an ignored SIGHUP, as in the
	 * child), and SIGCHLD.
	 */
	vm_host_signals(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &wait_set, &old);
	/* The next child is PID 1 of a new PID namespace. */
	if (unshare(CLONE_NEWPID) < 0) {
		jail_fail(err, "unshare", NULL, errno);
		goto out_mask;
	}
	child = fork();
	if (child < 0) {
		jail_fail(err, "fork", NULL, errno);
		goto out_mask;
	}
	if (child == 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		/* The sockets are the parent's to remove. */
		for (guint i = 0; i < j.sockets->len; i++)
			g_free(g_array_index(j.sockets, struct jail_socket, i).path);
		g_array_set_size(j.sockets, 0);
		ok = jail_build(&j, cfg, err);
		/*
		 * The --teardown reaper cannot outlive PID 1 (the kernel kills
		 * it when tern exits and waits for it): no point forking it.
		 */
		cfg->teardown = TEARDOWN_SYNC;
		goto out;
	}
	*parent = true;
	for (unsigned int i = 0; i < cfg->nr_qmp; i++)
		if (cfg->qmp[i].kind == QMP_ENDPOINT_FD)
			close(cfg->qmp[i].fd);
	jail_parent_drop_caps();
	*status = jail_wait(child, &wait_set);
	jail_remove_sockets(&j);
	jail_die_like(*status);
	ok = true;
out_mask:
	if (!*parent)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	if (!ok && !*parent)
		jail_remove_sockets(&j);
	g_array_unref(j.sockets);
	return ok;
}
