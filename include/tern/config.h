/* SPDX-License-Identifier: MIT */
/*
 * The whole machine configuration, parsed from the command line and validated
 * before anything is built (Firecracker's order: validate, then build once).
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <glib.h>
#include <signal.h>

#include "tern/block.h"
#include "tern/confidential_launch.h"
#include "tern/cpuid.h"
#include "tern/thread.h"
#include "tern/net.h"
#include "tern/util.h"

#define CONFIG_DEFAULT_MEMORY (128ULL * MiB)
#define CONFIG_DEFAULT_CPUS 1
#define CONFIG_MIN_MEMORY (2ULL * MiB)
#define CONFIG_MAX_MEMORY (1024ULL * GiB)

enum console_mode {
	CONSOLE_STDIO,
	CONSOLE_FILE,
	CONSOLE_NONE,
	/* virtio-console on stdio; the UART keeps stdout for early output. */
	CONSOLE_VIRTIO,
};

/* --teardown: how the KVM VM is destroyed once tern is done with it. */
enum vm_teardown {
	/* A forked reaper drops the last KVM reference after tern exits. */
	TEARDOWN_DETACHED,
	/* In the foreground: the exit status waits for the kernel's teardown. */
	TEARDOWN_SYNC,
};

/* --sandbox: what a system call outside a thread's role does (sandbox.h). */
enum sandbox_mode {
	SANDBOX_ON, /* kills the process (the default) */
	SANDBOX_LOG, /* reported on stderr and let through, for debugging */
	SANDBOX_OFF, /* no filters, no capability drop */
};

struct vfio_config; /* --device vfio=...: tern/vfio.h */
struct vhost_user_fs_config; /* --fs: tern/vhost-user-fs.h */

/* --disk SPEC (repeatable): one virtio-blk device each. */
#define CONFIG_MAX_DISKS 16

/* --net SPEC (repeatable): one virtio-net NIC each. */
#define CONFIG_MAX_NETS 8

/* --qmp unix:PATH or fd=N (repeatable). */
#define CONFIG_MAX_QMP 16

enum qmp_endpoint_kind {
	QMP_ENDPOINT_UNIX, /* create a listening socket at path */
	QMP_ENDPOINT_FD, /* accept on a listening socket a manager passed */
};

struct qmp_endpoint {
	enum qmp_endpoint_kind kind;
	char *path;
	int fd;
	char *spec; /* as given, for messages */
};

/* --balloon[=...]: a virtio-balloon device (include/tern/virtio-balloon.h). */
struct balloon_config {
	bool enabled;
	bool deflate_on_oom; /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	bool free_page_reporting; /* offer VIRTIO_BALLOON_F_REPORTING */
	uint32_t stats_period; /* seconds between stats requests; 0: none */
};

struct vm_config {
	char *kernel_path; /* NULL: the embedded default guest */
	char *initrd_path;
	char *cmdline;
	unsigned int cpus;
	uint64_t memory;
	bool memory_shared; /* --memory ...,shared=on: a memfd, MAP_SHARED */
	bool memory_hugepages; /* --memory ...,hugepages=on (implies shared) */
	enum console_mode console;
	char *console_path; /* CONSOLE_FILE */
	struct cpu_feature_mask cpu_mask;
	bool test_exit;
	bool paused;
	bool rng; /* --rng: a virtio-rng device */
	struct balloon_config balloon;
	char *name;
	struct qmp_endpoint *qmp;
	unsigned int nr_qmp;
	struct disk_config *disks; /* --disk, in order: virtio-blk devices */
	unsigned int nr_disks;
	struct net_config *nets; /* --net, in order: virtio-net NICs */
	unsigned int nr_nets;
	/* --net vhost-user=, in order: NICs a back-end process serves */
	struct net_config *vu_nets;
	unsigned int nr_vu_nets;
	struct vfio_config *vfio; /* --device vfio=...: passed-through functions */
	unsigned int nr_vfio;
	struct vhost_user_fs_config *fs; /* --fs, in order: virtio-fs devices */
	unsigned int nr_fs;
	bool debug; /* --debug: tern_debug() lines on stderr */
	char *incoming; /* --incoming URI (migration.h), or NULL */
	bool trace_boot; /* --trace-boot: the time of each step on stderr */
	sigset_t host_signals; /* blocked by main(), read by the main loop */
	char *kvm_device; /* --kvm-device PATH, NULL: /dev/kvm */
	uint64_t start_ns; /* when main() began (tern_now_ns()), for the trace */
	enum vm_teardown teardown;
	/* --sandbox, --user, --group, --jail (docs/security.md). */
	enum sandbox_mode sandbox;
	bool set_uid, set_gid;
	uid_t uid;
	gid_t gid;
	char *jail_dir;
	/*
	 * --jail: each reconnecting vhost-user back-end's socket directory,
	 * opened before the pivot, for its reconnect helper only (a restarted
	 * back-end makes a new socket the jail's bind mount never shows).
	 * Closed once the devices exist (config_close_socket_dirs).
	 */
	struct socket_dir *socket_dirs;
	unsigned int nr_socket_dirs;
	/* Run on each thread tern spawns, before its code (set by main()). */
	thread_enter_fn *thread_enter;
	void *thread_enter_opaque;
	/* --confidential and its --firmware image (docs/confidential.md). */
	struct confidential_params confidential;
	char *firmware_path;
	/* The image booted when kernel_path is NULL (set by main()). */
	const uint8_t *default_kernel;
	size_t default_kernel_len;
};

/*
 * Parse `tern run` arguments (argv[0] is "run"). On a bad option returns
 * false with err naming it; the caller exits 2.
 */
bool config_parse_run(int argc, char **argv, struct vm_config *cfg,
		      GError **err);
/*
 * The checks that look at the files a valid configuration names, run after
 * config_parse_run() and before anything is built or any file is written:
 * the kernel and initrd are regular files (a FIFO is refused, not opened
 * for reading); no --disk image is named twice (compared by device and
 * inode, so "d.img" and "./d.img" or a hard link are one image); a
 * --console file is not a directory, a socket, the kernel, the initrd, a
 * disk or a --qmp socket path (it would be truncated); a --qmp unix: path
 * is in an existing directory and is a socket if it exists. Errors are
 * TERN_ERROR_INPUT naming the option.
 */
bool config_check_files(const struct vm_config *cfg, GError **err);
/* The usage text for `tern run --help`. */
char *config_run_help(void);
void config_clear(struct vm_config *cfg);

struct socket_dir {
	char *path; /* the socket, canonical */
	int dirfd; /* O_PATH of its directory */
};
/* The directory fd --jail opened for socket path, or -1. */
int config_socket_dir(const struct vm_config *cfg, const char *path);
/* Close them: the helpers that need one have their own by now. */
void config_close_socket_dirs(struct vm_config *cfg);

#endif
