// SPDX-License-Identifier: MIT
/*
 * Confining a thread (sandbox.h): each thread of tern does it to itself,
 * because capabilities, user IDs and seccomp filters all belong to a thread
 * in Linux, not to the process. The steps, in an order each one needs:
 *
 *   1. no_new_privs, and the capability bounding set and ambient set
 *      emptied (dropping from the bounding set needs CAP_SETPCAP, still
 *      held): nothing tern runs can ever gain a privilege again. A new
 *      thread inherits these three from its maker, so sandbox_new() does
 *      this step once, on the main thread, before any other exists;
 *   2. --group / --user: supplementary groups dropped, then the group,
 *      then the user (CAP_SETGID and CAP_SETUID still held). Raw system
 *      calls, on purpose: glibc's setresuid() would make every thread of
 *      the process change too, through a signal whose handler calls
 *      setresuid() on threads whose filter forbids it;
 *   3. every capability dropped (libcap-ng), whoever we are now;
 *   4. the role's seccomp filter, compiled once by sandbox_new().
 *
 * Threads made while the VM is built do it in the registry's enter hook,
 * before their code runs; the main thread last, in sandbox_seal().
 */
#include <errno.h>
#include <cap-ng.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox-internal.h"

/* Descriptors the main thread may still open after set-up (--jail). */
#define SANDBOX_NOFILE_HEADROOM 256

struct sandbox {
	enum sandbox_mode mode;
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
	bool jailed;
	/* Filled once, loaded by every thread of the role. */
	struct sock_fprog progs[THREAD_ROLE_COUNT];
	/* QMP sockets we bound, handed to the new user (--user). */
	char **qmp_paths;
};

/* Step 1, once for every thread to come. */
static int sandbox_drop_privileges_for_good(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	/*
	 * Not capng_apply(CAPNG_SELECT_BOUNDS): it reads the bounding set
	 * from /proc, which a jail does not have. Without CAP_SETPCAP (tern
	 * started unprivileged) there is nothing to drop: no_new_privs
	 * already keeps any capability from coming back.
	 */
	if (!prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0))
		return 0;
	for (unsigned long c = 0; prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++) {
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EPERM)
			return -errno;
	}
	return 0;
}

/*
 * What libraries load from files on first use, loaded now, before any
 * thread is confined: glib reads charset.alias the first time a thread
 * asks for the locale's charset, and g_strerror() on a thread converts its
 * text to UTF-8 with iconv, whose first use reads glibc's gconv cache.
 * Found when a vCPU thread's first warning was killed for its openat().
 */
static void sandbox_preload(void)
{
	const char *charset;
	GIConv cd;

	(void)g_get_charset(&charset);
	cd = g_iconv_open("UTF-8", charset);
	if (cd != (GIConv)-1)
		g_iconv_close(cd);
	(void)g_strerror(EINVAL);
}

struct sandbox *sandbox_new(const struct vm_config *cfg, GError **err)
{
	struct sandbox *sb;

	if (cfg->sandbox == SANDBOX_OFF && !cfg->set_uid && !cfg->set_gid)
		return NULL;
	if (cfg->sandbox != SANDBOX_OFF) {
		int ret = sandbox_drop_privileges_for_good();

		if (ret) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "sandbox: no_new_privs or the capability bounding set: %s",
				    g_strerror(-ret));
			return NULL;
		}
	}
	sandbox_preload();
	sb = g_new0(struct sandbox, 1);
	sb->mode = cfg->sandbox;
	sb->set_uid = cfg->set_uid;
	sb->set_gid = cfg->set_gid;
	sb->uid = cfg->uid;
	sb->gid = cfg->gid;
	sb->jailed = cfg->jail_dir != NULL;
	sb->qmp_paths = g_new0(char *, cfg->nr_qmp + 1);
	/* A jail's sockets are its parent's, outside. */
	for (unsigned int i = 0, n = 0; !sb->jailed && i < cfg->nr_qmp; i++)
		if (cfg->qmp[i].kind == QMP_ENDPOINT_UNIX)
			sb->qmp_paths[n++] = g_strdup(cfg->qmp[i].path);
	if (sb->mode == SANDBOX_OFF)
		return sb;
	for (unsigned int r = 0; r < THREAD_ROLE_COUNT; r++) {
		if (sandbox_filter_build(r, sb->mode, &sb->progs[r], err)) {
			sandbox_free(sb);
			return NULL;
		}
	}
	if (sb->mode == SANDBOX_LOG)
		sandbox_log_handler_install();
	return sb;
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	for (unsigned int r = 0; r < THREAD_ROLE_COUNT; r++)
		g_free(sb->progs[r].filter);
	g_strfreev(sb->qmp_paths);
	g_free(sb);
}

static int sandbox_change_identity(const struct sandbox *sb)
{
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return -errno;
	if (sb->set_gid &&
	    syscall(SYS_setresgid, sb->gid, sb->gid, sb->gid) < 0)
		return -errno;
	if (sb->set_uid &&
	    syscall(SYS_setresuid, sb->uid, sb->uid, sb->uid) < 0)
		return -errno;
	return 0;
}

static int sandbox_confine(struct sandbox *sb, enum thread_role role)
{
	int ret = 0;

	if (sb->set_uid || sb->set_gid) {
		ret = sandbox_change_identity(sb);
		if (ret)
			return ret;
	}
	/* Changing identity clears it: the jail's child dies with its parent. */
	if (role == THREAD_ROLE_MAIN && sb->jailed &&
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -errno;
	if (sb->mode == SANDBOX_OFF)
		return 0;
	capng_clear(CAPNG_SELECT_CAPS);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		return -EPERM;
	if (sb->mode == SANDBOX_LOG)
		sandbox_log_thread_prepare();
	return sandbox_filter_load(&sb->progs[role]);
}

int sandbox_thread_enter(void *opaque, enum thread_role role)
{
	struct sandbox *sb = opaque;
	int ret = sandbox_confine(sb, role);

	if (ret)
		tern_warn("sandbox: cannot confine a %s thread: %s",
			  thread_role_name(role), g_strerror(-ret));
	return ret;
}

/*
 * The highest descriptor open now, or -1. A jail has no /proc/self/fd:
 * poll() marks closed descriptors POLLNVAL, 4096 at a time.
 */
static int sandbox_highest_fd(void)
{
	struct pollfd *p = g_new(struct pollfd, 4096);
	struct rlimit rl;
	int high = -1, limit = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)limit)
		limit = rl.rlim_cur;
	for (int base = 0; base < limit; base += 4096) {
		int n = MIN(4096, limit - base);

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = base + i };
		if (poll(p, n, 0) < 0)
			break;
		for (int i = 0; i < n; i++)
			if (!(p[i].revents & POLLNVAL))
				high = base + i;
	}
	g_free(p);
	return high;
}

bool sandbox_seal(struct sandbox *sb, GError **err)
{
	int ret;

	if (!sb)
		return true;
	if (sb->jailed) {
		/*
		 * Set-up has opened all it needs; what comes later is QMP
		 * clients and state files. A descriptor leak then fails
		 * calls, it does not exhaust the host.
		 */
		rlim_t n = sandbox_highest_fd() + 1 + SANDBOX_NOFILE_HEADROOM;
		struct rlimit rl = { n, n };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "--jail: RLIMIT_NOFILE %llu: %s",
				    (unsigned long long)n, g_strerror(errno));
			return false;
		}
	}
	/*
	 * A socket in a sticky directory (/tmp) can be removed only by its
	 * owner: hand ours to the new user, who removes them at exit.
	 */
	for (char **p = sb->qmp_paths; sb->set_uid && *p; p++)
		if (lchown(*p, sb->uid, sb->set_gid ? sb->gid : (gid_t)-1) < 0)
			tern_warn("--user: cannot hand %s to user %u: %s", *p,
				  sb->uid, g_strerror(errno));
	ret = sandbox_confine(sb, THREAD_ROLE_MAIN);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "sandbox: cannot confine the main thread: %s",
			    g_strerror(-ret));
		return false;
	}
	return true;
}
