// SPDX-License-Identifier: MIT
/*
 * The sandbox's filters, rule by rule: for each role, a child installs
 * exactly that role's filter and makes every call the role's list allows
 * (it must survive), then in other children one call it does not (each
 * must be killed with SIGSYS, seen by the parent in waitpid's status).
 * --sandbox log lets the same call through and reports it on stderr. And
 * the lists themselves: names right, reasons given, nothing dangerous.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tern/block.h"
#include "tern/config.h"
#include "tern/sandbox.h"
#include "tern/vcpu.h"
#include "src/sandbox/sandbox-internal.h"
#include "run-args.h"
#include "unit.h"

/* Children leave with raw system calls: no atexit, no sanitizer hooks. */
static void child_exit(int code)
{
	syscall(SYS_exit_group, code);
}

static void child_note(int fd, const char *what)
{
	char line[64];
	size_t n = strlen(what);

	if (n > sizeof(line) - 1)
		n = sizeof(line) - 1;
	memcpy(line, what, n);
	line[n] = '\n';
	(void)!syscall(SYS_write, fd, line, n + 1);
}

static volatile sig_atomic_t kicked;

static void on_kick(int sig)
{
	kicked = 1;
}

/* The result the filter must leave the kernel's own checks to give. */
static bool probe_ok(const struct sandbox_rule *r, long ret)
{
	if (r->fail)
		return ret == -1 && errno == r->fail;
	/* Anything but a refusal by the filter (which would have killed us). */
	return true;
}

/*
 * One call the rule allows, with arguments the kernel refuses (-1: a bad
 * descriptor, address or flag), so that nothing happens but the filter's
 * decision. A few calls need real arguments to be harmless.
 */
static bool probe_rule(const struct sandbox_rule *r,
		       const struct sandbox_role_rules *role, int note)
{
	long a[6] = { -1, -1, -1, -1, -1, -1 };
	long ret;

	child_note(note, r->name);
	if (r->nr == SCMP_SYS(exit) || r->nr == SCMP_SYS(exit_group))
		return true; /* made last, by the caller */
	if (r->nr == SCMP_SYS(rt_sigreturn)) {
		/* The return from the kick's handler is the call. */
		kicked = 0;
		syscall(SYS_tgkill, getpid(), gettid(), SIG_VCPU_KICK);
		return kicked;
	}
	switch (r->cond) {
	case SANDBOX_ANY:
		break;
	case SANDBOX_IOCTL:
		for (size_t i = 0; i < role->nr_ioctls; i++) {
			child_note(note, role->ioctls[i].name);
			ret = syscall(SYS_ioctl, -1, role->ioctls[i].request, 0);
			if (ret != -1 || errno != EBADF)
				return false;
		}
		return true;
	case SANDBOX_NO_EXEC:
		a[2] = PROT_READ;
		break;
	case SANDBOX_FORK:
		ret = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		if (ret == 0)
			child_exit(0);
		return ret > 0;
	case SANDBOX_THREAD:
		/* The kernel would refuse it too (no CLONE_SIGHAND), later. */
		a[0] = CLONE_THREAD;
		break;
	case SANDBOX_ARG_EQ:
		a[r->arg] = r->value;
		break;
	}
	ret = syscall(r->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	return probe_ok(r, ret);
}

static bool probe_list(const struct sandbox_role_rules *list,
		       const struct sandbox_role_rules *role, int note)
{
	for (size_t i = 0; i < list->nr_rules; i++) {
		if (!probe_rule(&list->rules[i], role, note)) {
			child_note(note, "FAILED");
			return false;
		}
	}
	return true;
}

/* Fork; the child runs fn(role, arg, fd of a pipe to us); returns its status. */
static int run_child(void (*fn)(enum thread_role, long, int),
		     enum thread_role role, long arg, char *notes, size_t size)
{
	int p[2], status = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		fn(role, arg, p[1]);
		child_exit(0);
	}
	close(p[1]);
	while (got < size - 1 && (n = read(p[0], notes + got, size - 1 - got)) > 0)
		got += n;
	notes[got] = 0;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void child_allowed(enum thread_role role, long last_exit, int note)
{
	const struct sandbox_role_rules *rules = sandbox_role_rules(role);
	struct sigaction sa = { .sa_handler = on_kick };

	/* Set before the filter: sigaction itself is no role's business. */
	sigaction(SIG_VCPU_KICK, &sa, NULL);
	if (sandbox_install_role(role, SANDBOX_ON))
		child_exit(3);
	if (!probe_list(sandbox_common_rules(), rules, note) ||
	    !probe_list(rules, rules, note))
		child_exit(4);
	/* exit ends a single-threaded process as well as exit_group does. */
	child_note(note, last_exit ? "exit" : "exit_group");
	syscall(last_exit ? SYS_exit : SYS_exit_group, 0);
}

static const char *last_line(char *notes)
{
	char *end = notes + strlen(notes), *p;

	if (end > notes && end[-1] == '\n')
		*--end = 0;
	p = strrchr(notes, '\n');
	return p ? p + 1 : notes;
}

START_TEST(each_role_allows_its_list)
{
	char notes[16384];

	for (int last_exit = 0; last_exit < 2; last_exit++) {
		int st = run_child(child_allowed, _i, last_exit, notes, sizeof(notes));

		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "role %s: %s %d at '%s'", thread_role_name(_i),
			      WIFSIGNALED(st) ? "killed by signal" : "exit",
			      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			      last_line(notes));
	}
}
END_TEST

/* Calls no role may make, one per child. */
enum forbidden {
	FORBID_EXECVE,
	FORBID_EXEC_MAPPING,
	FORBID_IOCTL, /* KVM_CREATE_VM: in no list */
	FORBID_SOCKET,
	FORBID_PTRACE,
	FORBID_COUNT,
};

static const char *const forbidden_names[FORBID_COUNT] = {
	"execve", "mmap(PROT_EXEC)", "ioctl(KVM_CREATE_VM)", "socket(AF_PACKET)",
	"ptrace",
};

static const int forbidden_nrs[FORBID_COUNT] = {
	SCMP_SYS(execve), SCMP_SYS(mmap), SCMP_SYS(ioctl), SCMP_SYS(socket),
	SCMP_SYS(ptrace),
};

/*
 * An ASan build lets its runtime make a few calls tern may not (ptrace,
 * openat for LeakSanitizer's tracer): not checked there, and said so.
 */
static bool sanitizer_allows(int nr, const char *what)
{
	const struct sandbox_role_rules *l = sandbox_sanitizer_rules();

	for (size_t i = 0; i < l->nr_rules; i++) {
		if (l->rules[i].nr == nr && l->rules[i].cond == SANDBOX_ANY) {
			printf("not checked in this ASan build: %s (%s)\n", what,
			       l->rules[i].why);
			return true;
		}
	}
	return false;
}

static void child_forbidden(enum thread_role role, long which, int note)
{
	char *argv[] = { "/bin/true", NULL };

	if (sandbox_install_role(role, SANDBOX_ON))
		child_exit(3);
	child_note(note, forbidden_names[which]);
	switch ((enum forbidden)which) {
	case FORBID_EXECVE:
		syscall(SYS_execve, argv[0], argv, NULL);
		break;
	case FORBID_EXEC_MAPPING:
		syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case FORBID_IOCTL:
		syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0);
		break;
	case FORBID_SOCKET:
		/* main and migration make inet and unix sockets, no role these. */
		syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
		break;
	case FORBID_PTRACE:
		syscall(SYS_ptrace, 0, 0, 0, 0);
		break;
	case FORBID_COUNT:
		break;
	}
	/* Still here: the filter let it through. */
	child_exit(5);
}

START_TEST(each_role_kills_a_forbidden_call)
{
	char notes[256];

	for (long f = 0; f < FORBID_COUNT; f++) {
		int st;

		if (sanitizer_allows(forbidden_nrs[f], forbidden_names[f]))
			continue;
		st = run_child(child_forbidden, _i, f, notes, sizeof(notes));

		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
			      "role %s, %s: %s %d, expected SIGSYS",
			      thread_role_name(_i), forbidden_names[f],
			      WIFSIGNALED(st) ? "killed by signal" : "exit",
			      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
}
END_TEST

/* Only the main thread opens files after set-up (state save and load). */
static void child_open(enum thread_role role, long unused, int note)
{
	if (sandbox_install_role(role, SANDBOX_ON))
		child_exit(3);
	child_note(note, "openat");
	child_exit(syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY) >= 0 ? 0 : 6);
}

START_TEST(only_main_opens_files)
{
	char notes[256];
	int st;

	if (_i != THREAD_ROLE_MAIN && sanitizer_allows(SCMP_SYS(openat), "openat"))
		return;
	st = run_child(child_open, _i, 0, notes, sizeof(notes));
	if (_i == THREAD_ROLE_MAIN)
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "main: status %d", st);
	else
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
			      "%s opened a file: status %d", thread_role_name(_i), st);
}
END_TEST

/*
 * --sandbox log: the call happens (the kernel's own ENOENT comes back,
 * not the filter's), and stderr says which it was. unlink: in no list
 * but main's, even in ASan builds.
 */
static void child_log(enum thread_role role, long unused, int note)
{
	long ret;

	/* The report goes to stderr: here, the pipe to the parent. */
	dup2(note, STDERR_FILENO);
	if (sandbox_install_role(role, SANDBOX_LOG))
		child_exit(3);
	ret = syscall(SYS_unlink, "/nonexistent/tern-sandbox-test");
	child_exit(ret == -1 && errno == ENOENT ? 0 : 6);
}

START_TEST(log_mode_reports_and_allows)
{
	char notes[1024];
	int st = run_child(child_log, THREAD_ROLE_VCPU, 0, notes, sizeof(notes));

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st,
		      notes);
	ck_assert_msg(strstr(notes, "tern: sandbox: ") &&
			      strstr(notes, "system call unlink (87) is outside its role's filter") &&
			      strstr(notes, "path '/nonexistent/tern-sandbox-test'; allowed by --sandbox log"),
		      "report: '%s'", notes);
}
END_TEST

/*
 * A thread confined by sandbox_new()'s filters through the registry, as
 * tern's are, whose first act is a warning: glib reads charset.alias the
 * first time a thread asks for the charset (g_strerror() does), which the
 * filter would kill unless sandbox_new() loaded it first.
 */
static void *warn_once(void *opaque)
{
	*(const char **)opaque = g_strerror(EIO);
	return NULL;
}

static void child_thread_warns(enum thread_role role, long unused, int note)
{
	struct vm_config cfg = { .sandbox = SANDBOX_ON };
	struct thread_registry r;
	const char *msg = NULL;
	struct sandbox *sb;
	pthread_t t;

	sb = sandbox_new(&cfg, NULL);
	if (!sb)
		child_exit(3);
	thread_registry_init(&r);
	r.enter = sandbox_thread_enter;
	r.enter_opaque = sb;
	child_note(note, "thread_spawn");
	if (thread_spawn(&r, &t, role, warn_once, &msg, "warn"))
		child_exit(4);
	pthread_join(t, NULL);
	child_exit(msg && *msg ? 0 : 5);
}

START_TEST(confined_thread_can_warn)
{
	char notes[256];
	int st = run_child(child_thread_warns, _i, 0, notes, sizeof(notes));

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "role %s: status %d at '%s'", thread_role_name(_i), st,
		      last_line(notes));
}
END_TEST

/*
 * io_uring submissions never meet seccomp: the engine's rings accept only
 * the opcodes it uses, on its fixed file. The ring is the first member of
 * the engine's state (io_uring.c).
 */
static int uring_try(struct io_uring *ring, void (*prep)(struct io_uring_sqe *, int),
		     int fd, bool fixed)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	ck_assert_ptr_nonnull(sqe);
	prep(sqe, fd);
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	ck_assert_int_eq(io_uring_submit(ring), 1);
	ck_assert_int_eq(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static char uring_buf[512];

static void prep_read(struct io_uring_sqe *sqe, int fd)
{
	io_uring_prep_read(sqe, fd, uring_buf, sizeof(uring_buf), 0);
}

static void prep_readv(struct io_uring_sqe *sqe, int fd)
{
	static struct iovec iov = { uring_buf, sizeof(uring_buf) };

	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
}

static void prep_openat(struct io_uring_sqe *sqe, int fd)
{
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
}

START_TEST(io_uring_ring_is_restricted)
{
	struct disk_config cfg = { .engine = BLK_ENGINE_IO_URING };
	char path[] = "/tmp/tern-sandbox-XXXXXX";
	struct blk_disk *disk;
	struct io_uring *ring;
	GError *err = NULL;
	void *state;
	int fd = mkstemp(path), other;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	cfg.path = g_strdup(path);
	cfg.spec = g_strdup(path);
	disk = blk_disk_open(&cfg, &err);
	ck_assert_msg(disk, "%s", err ? err->message : "?");
	ck_assert_int_eq(blk_engine_io_uring.create(disk, 8, &state), 0);
	ring = state;
	other = open(path, O_RDONLY | O_CLOEXEC);
	/* What the engine submits: readv on fixed file 0. */
	ck_assert_int_eq(uring_try(ring, prep_readv, 0, true), sizeof(uring_buf));
	/* Any other opcode, another file, or no fixed file: refused. */
	ck_assert_int_eq(uring_try(ring, prep_read, 0, true), -EACCES);
	ck_assert_int_eq(uring_try(ring, prep_openat, 0, false), -EACCES);
	ck_assert_int_eq(uring_try(ring, prep_readv, other, false), -EACCES);
	/* And no register call once enabled (a new file, new restrictions). */
	ck_assert_int_eq(io_uring_register_files(ring, &other, 1), -EACCES);
	close(other);
	blk_engine_io_uring.destroy(state);
	blk_disk_close(disk);
	unlink(path);
	disk_config_clear(&cfg);
}
END_TEST

/* Calls that would undo the sandbox or widen what a thread can reach. */
static const char *const never[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"setuid", "setresuid", "setgid", "setresgid", "setgroups", "capset",
	"prctl", "seccomp", "bpf", "init_module", "finit_module", "kexec_load",
	"perf_event_open", "userfaultfd", "open_by_handle_at", "socket",
	"connect", "bind", "listen", "keyctl", "add_key", "open", "creat",
	"memfd_create", "kill",
};

/*
 * Migration's exceptions to `never`: the stream's sockets. The migration
 * threads connect to a destination; the main thread listens for one
 * (migrate-incoming, migrate-recover) and resolves a host name. socket()
 * only for inet and unix sockets.
 */
static bool migration_may(const struct sandbox_role_rules *list,
			  const struct sandbox_rule *r)
{
	bool main = list == sandbox_role_rules(THREAD_ROLE_MAIN);
	bool mig = list == sandbox_role_rules(THREAD_ROLE_MIGRATION);

	if (!strcmp(r->name, "socket"))
		return (main || mig) && r->cond == SANDBOX_ARG_EQ && r->arg == 0 &&
		       (r->value == AF_INET || r->value == AF_INET6 ||
			r->value == AF_UNIX);
	if (!strcmp(r->name, "connect"))
		return main || mig;
	if (!strcmp(r->name, "bind") || !strcmp(r->name, "listen"))
		return main;
	return false;
}

static void check_list(const struct sandbox_role_rules *list, const char *who)
{
	for (size_t i = 0; i < list->nr_rules; i++) {
		const struct sandbox_rule *r = &list->rules[i];

		ck_assert_msg(seccomp_syscall_resolve_name(r->name) == r->nr,
			      "%s: %s has number %d", who, r->name, r->nr);
		ck_assert_msg(r->why && strlen(r->why) > 10,
			      "%s: %s has no reason", who, r->name);
		for (size_t j = 0; j < G_N_ELEMENTS(never); j++)
			ck_assert_msg(r->fail || strcmp(r->name, never[j]) ||
					      migration_may(list, r),
				      "%s allows %s", who, r->name);
		ck_assert_msg(r->fail || strcmp(r->name, "openat") ||
				      list == sandbox_role_rules(THREAD_ROLE_MAIN),
			      "%s allows openat", who);
		ck_assert_msg(r->cond != SANDBOX_IOCTL || list->nr_ioctls,
			      "%s filters ioctl on an empty list", who);
	}
	for (size_t i = 0; i < list->nr_ioctls; i++)
		ck_assert_msg(list->ioctls[i].why && strlen(list->ioctls[i].why) > 5,
			      "%s: %s has no reason", who, list->ioctls[i].name);
}

START_TEST(lists_are_sound)
{
	check_list(sandbox_common_rules(), "common");
	for (int r = 0; r < THREAD_ROLE_COUNT; r++)
		check_list(sandbox_role_rules(r), thread_role_name(r));
	/* The vCPU runs the guest; nothing else does. */
	for (int r = 0; r < THREAD_ROLE_COUNT; r++) {
		const struct sandbox_role_rules *l = sandbox_role_rules(r);
		bool run = false;

		for (size_t i = 0; i < l->nr_ioctls; i++)
			run |= l->ioctls[i].request == KVM_RUN;
		ck_assert_msg(run == (r == THREAD_ROLE_VCPU), "%s and KVM_RUN",
			      thread_role_name(r));
	}
	ck_assert_str_eq(sandbox_syscall_name(SCMP_SYS(openat)), "openat");
	ck_assert_ptr_null(sandbox_syscall_name(-1));
	ck_assert_ptr_null(sandbox_syscall_name(100000));
}
END_TEST

/*
 * --sandbox on loads the programs gen-sandbox-filters compiled at build
 * time: they must be exactly what rules.c compiles to now.
 */
START_TEST(prebuilt_filters_match_rules)
{
	g_autoptr(GError) err = NULL;

	for (unsigned int r = 0; r < THREAD_ROLE_COUNT; r++) {
		const struct sandbox_prebuilt *p = &sandbox_prebuilt[r];
		struct sock_fprog prog;

		ck_assert_int_eq(sandbox_filter_build(r, SANDBOX_ON, &prog, &err), 0);
		ck_assert_msg(prog.len == p->len && p->len > 0 &&
				      !memcmp(prog.filter, p->insns,
					      p->len * sizeof(*p->insns)),
			      "%s: the built-in program differs from rules.c's",
			      thread_role_name(r));
		g_free(prog.filter);
	}
}
END_TEST

START_TEST(options)
{
	struct vm_config c;
	char *msg;

	ck_assert(parse_run(&c, NULL, NULL));
	ck_assert_int_eq(c.sandbox, SANDBOX_ON);
	ck_assert(!c.set_uid && !c.set_gid && !c.jail_dir);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL, "--sandbox", "log", "--user", "1000",
			    "--group", "100", "--jail", "/srv/jail", NULL));
	ck_assert_int_eq(c.sandbox, SANDBOX_LOG);
	ck_assert(c.set_uid && c.uid == 1000 && c.set_gid && c.gid == 100);
	ck_assert_str_eq(c.jail_dir, "/srv/jail");
	config_clear(&c);
	ck_assert(parse_run(&c, NULL, "--sandbox", "off", "--group", "0", NULL));
	ck_assert_int_eq(c.sandbox, SANDBOX_OFF);
	ck_assert(!c.set_uid && c.set_gid && c.gid == 0);
	config_clear(&c);

	ck_assert(!parse_run(&c, &msg, "--sandbox", "strict", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--sandbox 'strict': expected on, log or off"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--user", "1000", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--user 1000: give --group too"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--user", "nobody", "--group", "1", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--user 'nobody': expected a decimal ID"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--group", "4294967295", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--group '4294967295'"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--group", "-1", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--group '-1'"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--jail", "jail", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--jail 'jail': expected an absolute directory path"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--jail", "", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--jail ''"));
	g_free(msg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *roles = tcase_create("roles");

	tcase_add_loop_test(roles, each_role_allows_its_list, 0, THREAD_ROLE_COUNT);
	tcase_add_loop_test(roles, each_role_kills_a_forbidden_call, 0,
			    THREAD_ROLE_COUNT);
	tcase_add_loop_test(roles, only_main_opens_files, 0, THREAD_ROLE_COUNT);
	tcase_add_loop_test(roles, confined_thread_can_warn, 0, THREAD_ROLE_COUNT);
	suite_add_tcase(s, roles);
	UNIT_TCASE(s, "log", log_mode_reports_and_allows);
	UNIT_TCASE(s, "io_uring", io_uring_ring_is_restricted);
	UNIT_TCASE(s, "lists", lists_are_sound);
	UNIT_TCASE(s, "prebuilt", prebuilt_filters_match_rules);
	UNIT_TCASE(s, "options", options);
	return unit_run(s);
}
