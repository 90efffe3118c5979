// SPDX-License-Identifier: MIT
/* `tern run` command line → struct vm_config, every value checked here. */
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/vfio.h"
#include "tern/vhost-user-fs.h"
#include "tern/virtio-balloon.h"

/* As GOption leaves them: NULL or FALSE is "not given", never a number. */
struct run_options {
	char *kernel, *initrd, *cmdline, *cpus, *memory, *console, *cpu_features,
		*name, *teardown, *incoming, *kvm_device, *sandbox, *user, *group, *jail,
		*confidential, *firmware;
	char **qmp;
	char **disks;
	char **nets;
	char **devices;
	char **fs;
	gboolean test_exit, paused, rng, debug, trace_boot;
	char *balloon; /* "" for a bare --balloon, NULL when not given */
};

/* --balloon takes its value only as --balloon=SPEC: the bare form is one. */
static gboolean run_balloon_option(const gchar *name, const gchar *value,
				   gpointer data, GError **err)
{
	struct run_options *o = data;

	if (o->balloon) {
		g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "--balloon: given twice");
		return FALSE;
	}
	o->balloon = g_strdup(value ? value : "");
	return TRUE;
}

/*
 * Every value is taken as FILENAME: GOption hands its bytes over as they
 * are. STRING would convert them from the locale's charset (ASCII, since
 * tern sets no locale) and refuse any other byte with a message that names
 * no option; this way each value reaches its own check, and --name and
 * --cmdline may hold any text. --balloon's callback gets bytes too
 * (G_OPTION_FLAG_FILENAME).
 */
static GOptionEntry *run_entries(struct run_options *o)
{
	GOptionEntry entries[] = {
		{ "kernel", 'k', 0, G_OPTION_ARG_FILENAME, &o->kernel,
		  "Guest kernel: a PVH ELF or a Linux bzImage (default: the embedded hello guest)",
		  "FILE" },
		{ "initrd", 'i', 0, G_OPTION_ARG_FILENAME, &o->initrd,
		  "Initial ramdisk", "FILE" },
		{ "cmdline", 'c', 0, G_OPTION_ARG_FILENAME, &o->cmdline,
		  "Kernel command line", "STR" },
		{ "cpus", 'n', 0, G_OPTION_ARG_FILENAME, &o->cpus,
		  "Number of vCPUs (default 1)", "N" },
		{ "memory", 'm', 0, G_OPTION_ARG_FILENAME, &o->memory,
		  "Guest RAM, with K/M/G suffix (default 128M); shared=on puts it in a memfd other processes can map, hugepages=on in huge pages (implies shared=on)",
		  "SIZE[,shared=on|off][,hugepages=on|off]" },
		{ "console", 0, 0, G_OPTION_ARG_FILENAME, &o->console,
		  "Console: stdio (default, the 8250 UART), virtio (virtio-console on stdio, the UART output only), file=PATH or none",
		  "MODE" },
		{ "cpu-features", 0, 0, G_OPTION_ARG_FILENAME, &o->cpu_features,
		  "CPUID features to mask, e.g. -cx16,-xsave", "LIST" },
		{ "test-exit", 0, 0, G_OPTION_ARG_NONE, &o->test_exit,
		  "Add the isa-debug-exit compatible port at 0xf4", NULL },
		{ "paused", 'S', 0, G_OPTION_ARG_NONE, &o->paused,
		  "Start with vCPUs stopped until a QMP 'cont'", NULL },
		{ "name", 0, 0, G_OPTION_ARG_FILENAME, &o->name,
		  "A name for the VM (QMP query-name)", "NAME" },
		{ "qmp", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->qmp,
		  "QMP control socket: unix:PATH (created, mode 0600) or fd=N (a listening socket); repeatable",
		  "unix:PATH|fd=N" },
		{ "rng", 0, 0, G_OPTION_ARG_NONE, &o->rng,
		  "Add a virtio-rng device fed from getrandom()", NULL },
		{ "balloon", 0, G_OPTION_FLAG_OPTIONAL_ARG | G_OPTION_FLAG_FILENAME,
		  G_OPTION_ARG_CALLBACK,
		  run_balloon_option,
		  "Add a virtio-balloon device (QMP balloon, guest-stats): deflate-on-oom and free page reporting offered when on, stats requested every stats-period seconds",
		  "deflate-on-oom=on|off,free-page-reporting=on|off,stats-period=SECONDS" },
		{ "disk", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->disks,
		  "A disk: path=FILE[,bus=blk|scsi][,lun=N][,readonly=on][,engine=io_uring|aio|threads][,cache=writeback|none][,serial=STR][,queues=N][,poll-us=N], or vhost-user=SOCK[,queues=N][,reconnect=on|off]; repeatable",
		  "SPEC" },
		{ "net", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->nets,
		  "A virtio-net NIC on a tap: tap=NAME|fd=N[,mac=52:54:00:xx:xx:xx][,queues=N][,mtu=BYTES][,vhost=on|off|auto], or on a vhost-user back-end: vhost-user=SOCK[,queues=N][,mac=...][,reconnect=on|off]; repeatable",
		  "SPEC" },
		{ "fs", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->fs,
		  "A virtio-fs device served by a vhost-user back-end such as virtiofsd (needs --memory SIZE,shared=on); repeatable",
		  "vhost-user=SOCK,tag=TAG[,queues=N][,reconnect=on|off]" },
		{ "device", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->devices,
		  "Pass a host PCI function bound to vfio-pci through to the guest (docs/vfio.md); repeatable",
		  "vfio=HOST[,iommufd=on|off|auto]" },
		{ "debug", 0, 0, G_OPTION_ARG_NONE, &o->debug,
		  "Log unclaimed port and MMIO accesses and other detail to stderr",
		  NULL },
		{ "incoming", 0, 0, G_OPTION_ARG_FILENAME, &o->incoming,
		  "Wait for a migration (tcp:HOST:PORT, unix:PATH, defer: then QMP migrate-incoming) or restore a snapshot (file:PATH)",
		  "URI" },
		{ "kvm-device", 0, 0, G_OPTION_ARG_FILENAME, &o->kvm_device,
		  "The KVM device to open (default /dev/kvm)", "PATH" },
		{ "trace-boot", 0, 0, G_OPTION_ARG_NONE, &o->trace_boot,
		  "Print when each step of building, running and ending the VM finished (ms since main) on stderr",
		  NULL },
		{ "confidential", 0, 0, G_OPTION_ARG_FILENAME, &o->confidential,
		  "A confidential guest (needs --firmware): sev and sev-es launch, sev-snp and tdx stop at the host checks (docs/confidential.md)",
		  "sev|sev-es|sev-snp|tdx[,policy=HEX][,cbitpos=N][,reduced-phys-bits=N][,dh-cert=FILE,session=FILE][,id-block=FILE,id-auth=FILE][,host-data=HEX][,kernel-hashes=on]" },
		{ "firmware", 0, 0, G_OPTION_ARG_FILENAME, &o->firmware,
		  "Flash image mapped to end at 4 GiB; the vCPU starts at its reset vector (QEMU -bios); OVMF/TDVF with --confidential",
		  "FILE" },
		{ "teardown", 0, 0, G_OPTION_ARG_FILENAME, &o->teardown,
		  "Destroy the KVM VM after exiting (detached, default) or before (sync)",
		  "detached|sync" },
		{ "sandbox", 0, 0, G_OPTION_ARG_FILENAME, &o->sandbox,
		  "Seccomp filter per thread role, no capabilities: on (default; a forbidden system call kills tern), log (reported on stderr and allowed) or off",
		  "on|log|off" },
		{ "user", 0, 0, G_OPTION_ARG_FILENAME, &o->user,
		  "Run as this numeric user ID once set up (needs --group)",
		  "UID" },
		{ "group", 0, 0, G_OPTION_ARG_FILENAME, &o->group,
		  "Run as this numeric group ID once set up, with no supplementary groups",
		  "GID" },
		{ "jail", 0, 0, G_OPTION_ARG_FILENAME, &o->jail,
		  "Run in new mount, PID, IPC and network namespaces with DIR as the root, holding only the files the options name",
		  "DIR" },
		{ NULL },
	};

	return g_memdup2(entries, sizeof(entries));
}

static GOptionContext *run_context(struct run_options *o, GOptionEntry **ent)
{
	GOptionContext *ctx = g_option_context_new("- boot a virtual machine");
	/* A group of our own: callbacks (--balloon) get o as their data. */
	GOptionGroup *main_group = g_option_group_new(NULL, NULL, NULL, o, NULL);

	*ent = run_entries(o);
	g_option_group_add_entries(main_group, *ent);
	g_option_context_set_main_group(ctx, main_group);
	g_option_context_set_summary(ctx,
		"Boot a guest kernel on KVM. With no --kernel, boot the embedded\n"
		"hello guest, which prints the CPUs and memory it found.");
	g_option_context_set_help_enabled(ctx, TRUE);
	return ctx;
}

char *config_run_help(void)
{
	struct run_options o = { 0 };
	g_autofree GOptionEntry *ent = NULL;
	GOptionContext *ctx = run_context(&o, &ent);
	char *help = g_option_context_get_help(ctx, TRUE, NULL);

	g_option_context_free(ctx);
	return help;
}

static bool parse_console(const char *s, struct vm_config *cfg, GError **err)
{
	if (!strcmp(s, "stdio")) {
		cfg->console = CONSOLE_STDIO;
	} else if (!strcmp(s, "none")) {
		cfg->console = CONSOLE_NONE;
	} else if (!strcmp(s, "virtio")) {
		cfg->console = CONSOLE_VIRTIO;
	} else if (g_str_has_prefix(s, "file=") && s[5]) {
		cfg->console = CONSOLE_FILE;
		cfg->console_path = g_strdup(s + 5);
	} else {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--console '%s': expected stdio, virtio, file=PATH or none", s);
		return false;
	}
	return true;
}

static bool parse_qmp(const char *s, struct qmp_endpoint *ep, GError **err)
{
	struct sockaddr_un addr;
	uint64_t fd;

	ep->spec = g_strdup(s);
	if (g_str_has_prefix(s, "unix:") && s[5]) {
		if (strlen(s + 5) >= sizeof(addr.sun_path)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--qmp '%s': a socket path has at most %zu bytes",
				    s, sizeof(addr.sun_path) - 1);
			return false;
		}
		ep->kind = QMP_ENDPOINT_UNIX;
		ep->path = g_strdup(s + 5);
		return true;
	}
	if (g_str_has_prefix(s, "fd=") && s[3]) {
		if (parse_u64(s + 3, &fd) || fd > INT_MAX) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--qmp '%s': expected a file descriptor number", s);
			return false;
		}
		if (fd <= 2) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--qmp '%s': descriptors 0-2 are the console's, not a listening socket",
				    s);
			return false;
		}
		ep->kind = QMP_ENDPOINT_FD;
		ep->fd = fd;
		return true;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--qmp '%s': expected unix:PATH or fd=N", s);
	return false;
}

static bool config_fill_qmp(char **specs, struct vm_config *cfg, GError **err)
{
	unsigned int n = specs ? g_strv_length(specs) : 0;

	if (n > CONFIG_MAX_QMP) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--qmp: at most %u sockets", CONFIG_MAX_QMP);
		return false;
	}
	cfg->qmp = g_new0(struct qmp_endpoint, n);
	for (unsigned int i = 0; i < n; i++) {
		struct qmp_endpoint *ep = &cfg->qmp[i];

		cfg->nr_qmp++;
		if (!parse_qmp(specs[i], ep, err))
			return false;
		for (unsigned int j = 0; j < i; j++) {
			const struct qmp_endpoint *o = &cfg->qmp[j];

			if (o->kind == ep->kind &&
			    (ep->kind == QMP_ENDPOINT_UNIX ? !strcmp(o->path, ep->path)
							   : o->fd == ep->fd)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--qmp '%s': given twice", specs[i]);
				return false;
			}
		}
	}
	return true;
}

static bool config_fill_disks(char **specs, struct vm_config *cfg,
			      GError **err)
{
	unsigned int n = specs ? g_strv_length(specs) : 0;

	if (n > CONFIG_MAX_DISKS) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--disk: at most %u disks", CONFIG_MAX_DISKS);
		return false;
	}
	cfg->disks = g_new0(struct disk_config, n);
	for (unsigned int i = 0; i < n; i++) {
		struct disk_config *d = &cfg->disks[i];

		if (!disk_config_parse(specs[i], d, err))
			return false;
		cfg->nr_disks++;
		/*
		 * Two writers of one image corrupt it. The same spelling is
		 * refused here; config_check_files() compares the files.
		 */
		for (unsigned int j = 0; j < i; j++) {
			if (!strcmp(cfg->disks[j].path, d->path)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--disk '%s': path '%s' given twice",
					    specs[i], d->path);
				return false;
			}
		}
	}
	return disk_configs_finish(cfg->disks, cfg->nr_disks, err);
}

static bool config_fill_devices(char **specs, struct vm_config *cfg,
				GError **err)
{
	unsigned int n = specs ? g_strv_length(specs) : 0;

	if (n > VFIO_MAX_DEVICES) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--device: at most %u devices", VFIO_MAX_DEVICES);
		return false;
	}
	cfg->vfio = g_new0(struct vfio_config, n);
	for (unsigned int i = 0; i < n; i++) {
		if (!vfio_config_parse(specs[i], &cfg->vfio[i], err))
			return false;
		cfg->nr_vfio++;
		for (unsigned int j = 0; j < i; j++) {
			if (!strcmp(cfg->vfio[j].addr, cfg->vfio[i].addr)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--device '%s': host function %s given twice",
					    specs[i], cfg->vfio[i].addr);
				return false;
			}
		}
	}
	return true;
}

/* "on" or "off" for key in --memory; false (err set) for anything else. */
static bool config_fill_nets(char **specs, struct vm_config *cfg,
			     GError **err)
{
	unsigned int n = specs ? g_strv_length(specs) : 0;

	if (n > CONFIG_MAX_NETS) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--net: at most %u NICs", CONFIG_MAX_NETS);
		return false;
	}
	cfg->nets = g_new0(struct net_config, n);
	cfg->vu_nets = g_new0(struct net_config, n);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = cfg->nr_nets;
		struct net_config *c = &cfg->nets[k];

		if (!net_config_parse(specs[i], c, err))
			return false;
		if (c->vhost_user) {
			/* Its own device type (src/vhost-user/net.c). */
			cfg->vu_nets[cfg->nr_vu_nets++] = *c;
			memset(c, 0, sizeof(*c));
			c->fd = -1;
			if (!cfg->memory_shared) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--net '%s': a vhost-user back-end needs shared guest memory: add --memory SIZE,shared=on",
					    specs[i]);
				return false;
			}
			continue;
		}
		cfg->nr_nets++;
		/* Two NICs on one tap queue would steal each other's frames. */
		for (unsigned int j = 0; j < k; j++) {
			const struct net_config *o = &cfg->nets[j];
			bool same = c->ifname ? o->ifname && !strcmp(c->ifname, o->ifname) :
						o->fd == c->fd;

			if (same) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--net '%s': the same tap as --net '%s'",
					    c->spec, o->spec);
				return false;
			}
		}
		for (unsigned int j = 0; c->fd >= 0 && j < cfg->nr_qmp; j++) {
			if (cfg->qmp[j].kind == QMP_ENDPOINT_FD && cfg->qmp[j].fd == c->fd) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--net '%s': fd %d is --qmp '%s'", c->spec,
					    c->fd, cfg->qmp[j].spec);
				return false;
			}
		}
	}
	return true;
}

static bool parse_memory_switch(const char *spec, const char *key,
				const char *val, bool *out, GError **err)
{
	if (!strcmp(val, "on") || !strcmp(val, "off")) {
		*out = !strcmp(val, "on");
		return true;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "--memory '%s': %s='%s': expected on or off", spec, key, val);
	return false;
}

/*
 * --memory SIZE[,shared=on|off][,hugepages=on|off]. hugepages=on implies
 * shared=on (huge pages come from an MFD_HUGETLB memfd, as in QEMU's
 * memory-backend-memfd); asking for both hugepages=on and shared=off is
 * refused rather than silently overridden.
 */
static bool parse_memory(const char *spec, struct vm_config *cfg,
			 GError **err)
{
	g_auto(GStrv) items = g_strsplit(spec, ",", -1);
	bool seen_shared = false, seen_huge = false, shared = false;
	uint64_t size;
	int ret;

	ret = parse_size(items[0], &size);
	if (ret == -ERANGE || (!ret && size > CONFIG_MAX_MEMORY)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory '%s': too large, at most %lluG", spec,
			    CONFIG_MAX_MEMORY / GiB);
		return false;
	}
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory '%s': expected a size such as 512M or 2G, then optional shared=on|off, hugepages=on|off",
			    spec);
		return false;
	}
	if (size < CONFIG_MIN_MEMORY || size % (4 * KiB)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory '%s': expected a multiple of 4K, at least %lluM",
			    spec, CONFIG_MIN_MEMORY / MiB);
		return false;
	}
	for (unsigned int i = 1; items[i]; i++) {
		const char *eq = strchr(items[i], '=');
		g_autofree char *key = eq ? g_strndup(items[i], eq - items[i]) :
					    g_strdup(items[i]);
		bool *seen, *value;

		if (!strcmp(key, "shared")) {
			seen = &seen_shared;
			value = &shared;
		} else if (!strcmp(key, "hugepages")) {
			seen = &seen_huge;
			value = &cfg->memory_hugepages;
		} else {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--memory '%s': unknown option '%s' (expected shared=on|off or hugepages=on|off)",
				    spec, items[i]);
			return false;
		}
		if (*seen) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--memory '%s': '%s' given twice", spec, key);
			return false;
		}
		*seen = true;
		if (!parse_memory_switch(spec, key, eq ? eq + 1 : "", value, err))
			return false;
	}
	if (cfg->memory_hugepages) {
		if (seen_shared && !shared) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--memory '%s': hugepages=on needs shared memory (it is a hugetlbfs memfd); drop shared=off",
				    spec);
			return false;
		}
		/*
		 * The smallest x86 huge page; the host's own size is checked
		 * when the memory is mapped.
		 */
		if (size % (2 * MiB)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--memory '%s': hugepages=on needs a size that is a multiple of the huge page size (2M)",
				    spec);
			return false;
		}
		shared = true;
	}
	cfg->memory = size;
	cfg->memory_shared = shared;
	return true;
}

/* A numeric user or group ID for --user or --group; -1 means "unchanged". */
static bool parse_id(const char *opt, const char *s, uint32_t *out,
		     GError **err)
{
	uint64_t v;

	if (parse_u64(s, &v) || v >= UINT32_MAX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s '%s': expected a decimal ID below 4294967295", opt,
			    s);
		return false;
	}
	*out = v;
	return true;
}

/* --sandbox, --user, --group, --jail (docs/security.md). */
static bool parse_sandbox(struct run_options *o, struct vm_config *cfg,
			  GError **err)
{
	if (o->sandbox) {
		if (!strcmp(o->sandbox, "on")) {
			cfg->sandbox = SANDBOX_ON;
		} else if (!strcmp(o->sandbox, "log")) {
			cfg->sandbox = SANDBOX_LOG;
		} else if (!strcmp(o->sandbox, "off")) {
			cfg->sandbox = SANDBOX_OFF;
		} else {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--sandbox '%s': expected on, log or off",
				    o->sandbox);
			return false;
		}
	}
	if (o->user && !parse_id("--user", o->user, &cfg->uid, err))
		return false;
	if (o->group && !parse_id("--group", o->group, &cfg->gid, err))
		return false;
	/* Without it tern would keep group root and its file access. */
	if (o->user && !o->group) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--user %s: give --group too", o->user);
		return false;
	}
	cfg->set_uid = o->user;
	cfg->set_gid = o->group;
	if (o->jail && (!*o->jail || !g_path_is_absolute(o->jail))) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--jail '%s': expected an absolute directory path",
			    o->jail);
		return false;
	}
	cfg->jail_dir = g_steal_pointer(&o->jail);
	return true;
}

static bool config_fill(struct run_options *o, struct vm_config *cfg,
			GError **err)
{
	cfg->cpus = CONFIG_DEFAULT_CPUS;
	cfg->memory = CONFIG_DEFAULT_MEMORY;
	cfg->console = CONSOLE_STDIO;

	if (o->cpus) {
		uint64_t n;

		if (parse_u64(o->cpus, &n) || n < 1 || n > UINT_MAX) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--cpus %s: expected a decimal number of vCPUs >= 1",
				    o->cpus);
			return false;
		}
		cfg->cpus = n;
	}
	if (o->memory && !parse_memory(o->memory, cfg, err))
		return false;
	if (o->console && !parse_console(o->console, cfg, err))
		return false;
	if (o->cpu_features) {
		g_autoptr(GError) e = NULL;

		if (!cpuid_parse_features(o->cpu_features, &cfg->cpu_mask, &e)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--cpu-features '%s': %s", o->cpu_features,
				    e->message);
			return false;
		}
	}
	if (o->name && !*o->name) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--name: expected a non-empty name");
		return false;
	}
	/* QMP shows the name (query-name): it must be JSON text. */
	if (o->name && !g_utf8_validate(o->name, -1, NULL)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--name: expected UTF-8 text");
		return false;
	}
	if (o->teardown) {
		if (!strcmp(o->teardown, "detached")) {
			cfg->teardown = TEARDOWN_DETACHED;
		} else if (!strcmp(o->teardown, "sync")) {
			cfg->teardown = TEARDOWN_SYNC;
		} else {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--teardown '%s': expected detached or sync",
				    o->teardown);
			return false;
		}
	}
	if (!parse_sandbox(o, cfg, err))
		return false;
	if (!config_fill_qmp(o->qmp, cfg, err))
		return false;
	if (!config_fill_disks(o->disks, cfg, err))
		return false;
	/* The back-end maps guest RAM: it must be a memfd it can be given. */
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		if (cfg->disks[i].vhost_user && !cfg->memory_shared) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--disk '%s': a vhost-user back-end needs shared guest memory: add --memory SIZE,shared=on",
				    cfg->disks[i].spec);
			return false;
		}
	}
	if (!config_fill_nets(o->nets, cfg, err))
		return false;
	if (!config_fill_devices(o->devices, cfg, err))
		return false;
	if (!vhost_user_fs_configs_parse(o->fs, cfg->memory_shared, &cfg->fs,
					 &cfg->nr_fs, err))
		return false;
	if (o->balloon && !balloon_config_parse(o->balloon, &cfg->balloon, err))
		return false;
	if (o->confidential && !confidential_params_parse(
				       o->confidential, &cfg->confidential, err))
		return false;
	if (!confidential_config_check(&cfg->confidential, o->firmware,
				       o->kernel || o->initrd || o->cmdline,
				       err))
		return false;
	cfg->firmware_path = g_steal_pointer(&o->firmware);
	cfg->kernel_path = g_steal_pointer(&o->kernel);
	cfg->initrd_path = g_steal_pointer(&o->initrd);
	cfg->cmdline = g_steal_pointer(&o->cmdline);
	cfg->name = g_steal_pointer(&o->name);
	/* Its syntax is migration's to check (main(), before anything is built). */
	cfg->incoming = g_steal_pointer(&o->incoming);
	cfg->test_exit = o->test_exit;
	cfg->paused = o->paused;
	cfg->rng = o->rng;
	cfg->debug = o->debug;
	cfg->trace_boot = o->trace_boot;
	cfg->kvm_device = g_steal_pointer(&o->kvm_device);
	return true;
}

bool config_parse_run(int argc, char **argv, struct vm_config *cfg,
		      GError **err)
{
	struct run_options o = { 0 };
	g_autofree GOptionEntry *ent = NULL;
	GOptionContext *ctx = run_context(&o, &ent);
	g_autoptr(GError) e = NULL;
	bool ok;

	memset(cfg, 0, sizeof(*cfg));
	ok = g_option_context_parse(ctx, &argc, &argv, &e);
	if (!ok) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s", e->message);
	} else if (argc > 1) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "unexpected argument '%s'", argv[1]);
		ok = false;
	} else {
		ok = config_fill(&o, cfg, err);
	}
	g_option_context_free(ctx);
	g_free(o.kernel);
	g_free(o.initrd);
	g_free(o.cmdline);
	g_free(o.cpus);
	g_free(o.memory);
	g_free(o.console);
	g_free(o.cpu_features);
	g_free(o.name);
	g_free(o.teardown);
	g_free(o.incoming);
	g_free(o.kvm_device);
	g_free(o.sandbox);
	g_free(o.user);
	g_free(o.group);
	g_free(o.jail);
	g_free(o.confidential);
	g_free(o.firmware);
	g_strfreev(o.qmp);
	g_strfreev(o.disks);
	g_strfreev(o.devices);
	g_strfreev(o.fs);
	g_free(o.balloon);
	g_strfreev(o.nets);
	if (!ok)
		config_clear(cfg);
	return ok;
}

int config_socket_dir(const struct vm_config *cfg, const char *path)
{
	for (unsigned int i = 0; i < cfg->nr_socket_dirs; i++)
		if (!strcmp(cfg->socket_dirs[i].path, path))
			return cfg->socket_dirs[i].dirfd;
	return -1;
}

void config_close_socket_dirs(struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_socket_dirs; i++) {
		close(cfg->socket_dirs[i].dirfd);
		g_free(cfg->socket_dirs[i].path);
	}
	g_clear_pointer(&cfg->socket_dirs, g_free);
	cfg->nr_socket_dirs = 0;
}

void config_clear(struct vm_config *cfg)
{
	config_close_socket_dirs(cfg);
	g_free(cfg->kernel_path);
	g_free(cfg->kvm_device);
	g_free(cfg->firmware_path);
	confidential_params_clear(&cfg->confidential);
	g_free(cfg->initrd_path);
	g_free(cfg->cmdline);
	g_free(cfg->console_path);
	g_free(cfg->name);
	g_free(cfg->incoming);
	g_free(cfg->jail_dir);
	for (unsigned int i = 0; i < cfg->nr_qmp; i++) {
		g_free(cfg->qmp[i].path);
		g_free(cfg->qmp[i].spec);
	}
	g_free(cfg->qmp);
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		disk_config_clear(&cfg->disks[i]);
	g_free(cfg->disks);
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		net_config_clear(&cfg->nets[i]);
	g_free(cfg->nets);
	for (unsigned int i = 0; i < cfg->nr_vu_nets; i++)
		net_config_clear(&cfg->vu_nets[i]);
	g_free(cfg->vu_nets);
	for (unsigned int i = 0; i < cfg->nr_vfio; i++)
		vfio_config_clear(&cfg->vfio[i]);
	g_free(cfg->vfio);
	for (unsigned int i = 0; i < cfg->nr_fs; i++)
		vhost_user_fs_config_clear(&cfg->fs[i]);
	g_free(cfg->fs);
	memset(cfg, 0, sizeof(*cfg));
}
