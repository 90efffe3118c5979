// SPDX-License-Identifier: MIT
/* tern: command dispatch. `tern run` validates, builds, runs, tears down. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tern-config.h"
#include "tern/config.h"
#include "tern/confidential.h"
#include "tern/confidential_launch.h"
#include "tern/error.h"
#include "tern/migration.h"
#include "tern/qmp.h"
#include "tern/sandbox.h"
#include "tern/vm.h"

extern const uint8_t tern_default_guest[];
extern const uint8_t tern_default_guest_end[];

static const char usage[] =
	"Usage: tern COMMAND [OPTIONS]\n"
	"\n"
	"A small virtual machine monitor for Linux/KVM.\n"
	"\n"
	"Commands:\n"
	"  run [OPTIONS]   boot a virtual machine (tern run --help for options)\n"
	"  qmp PATH [COMMAND [ARGS]]\n"
	"                  talk QMP to a running tern (tern qmp --help)\n"
	"  measure --confidential KIND --firmware FILE [OPTIONS]\n"
	"                  print the launch digest of a confidential guest\n"
	"                  (tern measure --help)\n"
	"  migrate QMP-SOCKET URI [--postcopy-after SECONDS]\n"
	"                  migrate a running tern, showing progress\n"
	"  help            show this text\n"
	"\n"
	"Options:\n"
	"  -h, --help      show this text\n"
	"  -V, --version   print the version\n"
	"\n"
	"Exit status of `tern run`: 0 when the guest powers off or resets,\n"
	"(v << 1) | 1 when it writes v to the --test-exit port, 2 for bad input\n"
	"or an unusable host, 4 when the guest crashes (triple fault, KVM\n"
	"internal error).\n";

/*
 * SIGINT, SIGTERM and SIGHUP end tern with status 0 through the main loop.
 * Until the loop handles them they are blocked, from before anything is
 * created: a signal during start-up then waits instead of killing tern
 * half-built with the QMP socket left behind, and every thread created
 * meanwhile inherits the mask. vm_run_main_loop() reads them from a
 * signalfd.
 */
static void run_block_host_signals(sigset_t *set)
{
	vm_host_signals(set);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/*
 * --incoming: its URI is checked before anything is built; the disks are
 * opened without their locks, taken when the migration hands them over.
 */
static bool run_check_incoming(struct vm_config *cfg, GError **err)
{
	struct migration_uri u;

	if (!cfg->incoming)
		return true;
	if (!migration_uri_parse(cfg->incoming, &u, err)) {
		g_prefix_error(err, "--incoming '%s': ", cfg->incoming);
		return false;
	}
	migration_uri_clear(&u);
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		cfg->disks[i].inactive = true;
	return true;
}

/* Listen for the stream, or restore the snapshot (not for defer). */
static bool run_start_incoming(struct migration *mig, const char *uri,
			       GError **err)
{
	if (!uri || !strcmp(uri, "defer"))
		return true;
	if (!migration_incoming(mig, uri, err)) {
		g_prefix_error(err, "--incoming '%s': ", uri);
		return false;
	}
	return true;
}

/* Build, run and tear down the VM; the sandbox is on before it runs. */
static int run_vm(struct vm_config *cfg, struct sandbox *sb, uint64_t start)
{
	g_autoptr(GError) err = NULL;
	struct migration *mig;
	struct qmp_vm *qmp;
	struct vm *vm;
	int status;

	cfg->start_ns = start;
	cfg->default_kernel = tern_default_guest;
	cfg->default_kernel_len = tern_default_guest_end - tern_default_guest;
	if (sb) {
		cfg->thread_enter = sandbox_thread_enter;
		cfg->thread_enter_opaque = sb;
	}
	vm = vm_create(cfg, &err);
	/* --jail: the reconnect helpers have the socket directories now. */
	config_close_socket_dirs(cfg);
	if (!vm) {
		fprintf(stderr, "tern run: %s\n", err->message);
		return TERN_EXIT_BAD_INPUT;
	}
	/*
	 * Its threads are made now, confined, idle until a migration. Only
	 * a QMP client or --incoming can start one: without either, none is
	 * made (its four threads and resolver preload cost ~1.5 ms of boot).
	 */
	mig = NULL;
	if (cfg->nr_qmp || cfg->incoming) {
		mig = migration_create(vm, &err);
		if (!mig) {
			fprintf(stderr, "tern run: %s\n", err->message);
			vm_destroy(vm);
			return TERN_EXIT_BAD_INPUT;
		}
	}
	vm->migration = mig;
	/* Listening before the vCPUs start: a --paused VM waits for cont. */
	qmp = qmp_vm_create(vm, TERN_VERSION, &err);
	/*
	 * Every thread exists once the vCPUs do, each already confined (the
	 * registry's enter hook), and the guest can reach none but them; the
	 * main thread, which serves nothing until its loop runs, seals last.
	 */
	if (!qmp || !vm_start(vm, &err) ||
	    !run_start_incoming(mig, cfg->incoming, &err) ||
	    !sandbox_seal(sb, &err)) {
		fprintf(stderr, "tern run: %s\n", err->message);
		migration_destroy(mig);
		qmp_vm_destroy(qmp);
		vm_destroy(vm);
		return TERN_EXIT_BAD_INPUT;
	}
	status = vm_run_main_loop(vm);
	/* Its threads end first: nothing of it reaches QMP any more. */
	migration_destroy(mig);
	vm->migration = NULL;
	/* Sends what is queued (quit's reply, SHUTDOWN), removes the sockets. */
	qmp_vm_destroy(qmp);
	vm_detach_teardown(vm);
	vm_trace_mark(vm, "teardown-detached");
	vm_trace_print(vm);
	vm_destroy(vm);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	g_autoptr(GError) err = NULL;
	struct sandbox *sb = NULL;
	bool parent = false;
	uint64_t start = tern_now_ns();
	sigset_t host;
	int status;

	run_block_host_signals(&host);
	if (!config_parse_run(argc, argv, &cfg, &err)) {
		fprintf(stderr, "tern run: %s\n", err->message);
		fprintf(stderr, "Try 'tern run --help' for the options.\n");
		return TERN_EXIT_BAD_INPUT;
	}
	/* The main loop reads them; it runs sealed, without sigaction. */
	cfg.host_signals = host;
	tern_debug_set(cfg.debug);
	/* Every file is looked at before any is created or truncated. */
	if (!run_check_incoming(&cfg, &err) || !config_check_files(&cfg, &err))
		goto err;
	/* What a confidential launch needs from the host, before any build:
	 * exit 2 naming what is missing (SNP and TDX: not wired yet). An
	 * SEV guest's memory cannot be migrated in (as QEMU: not implemented). */
	if (cfg.confidential.kind && cfg.incoming) {
		g_set_error_literal(&err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: not with --incoming (SEV migration is not implemented)");
		goto err;
	}
	if (cfg.confidential.kind &&
	    !confidential_run_prepare(&cfg.confidential, cfg.firmware_path,
				      cfg.kvm_device, cfg.cpus, &err))
		goto err;
	/* The filters are compiled before anything is built. */
	sb = sandbox_new(&cfg, &err);
	if (!sb && err)
		goto err;
	/* Before any thread: a jail forks, and namespaces are per process. */
	if (cfg.jail_dir && !sandbox_jail_enter(&cfg, &parent, &status, &err))
		goto err;
	if (!parent)
		status = run_vm(&cfg, sb, start);
	sandbox_free(sb);
	config_clear(&cfg);
	return status;
err:
	fprintf(stderr, "tern run: %s\n", err->message);
	sandbox_free(sb);
	config_clear(&cfg);
	return TERN_EXIT_BAD_INPUT;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage, stderr);
		return TERN_EXIT_BAD_INPUT;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("tern %s\n", TERN_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "qmp"))
		return qmp_client_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "measure"))
		return confidential_measure_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "migrate"))
		return qmp_migrate_client_main(argc - 1, argv + 1);
	fprintf(stderr, "tern: unknown command '%s'\n", cmd);
	fputs("Try 'tern --help'.\n", stderr);
	return TERN_EXIT_BAD_INPUT;
}
