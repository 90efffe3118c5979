// SPDX-License-Identifier: MIT
/*
 * QMP end to end, as a client on the socket sees it: the VM's QMP server
 * (qmp_vm_create) on a fake VM listens on a socket handed over as
 * --qmp fd=N, the fuzzer's bytes arrive through a real connection in
 * chunks, and the main loop frames them (lexer, json-c), checks each
 * request and dispatches it to the VM's commands: stop, cont, system_reset,
 * quit, query-status, query-cpus-fast, query-block and the rest.
 *
 * The fake VM: two vCPUs that were never started, a PCI host on plain
 * buses with a virtio-blk disk (a temporary file, thread pool engine), no
 * KVM (its descriptor is -1: a system_reset fails at KVM_SET_IRQCHIP and
 * ends the VM, as a failed reset does). The VM and its QMP server are made
 * once per process; each input gets a new connection (negotiation starts
 * afresh) and the VM put back as a fresh one is: running or paused as the
 * mode says, devices not quiesced, no capture, no exit pending.
 *
 * Input: u8 mode (1: negotiate first, 2: start paused, bits 2-7: the size
 * of each write, 1 + 37 * n bytes but at least a 16th of the input), then
 * the client's bytes. Every line
 * the server sends back must be a JSON object.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tern/device.h"
#include "tern/eventfd.h"
#include "tern/qmp.h"
#include "tern/vcpu.h"
#include "tern/virtio-blk.h"
#include "tern/vm.h"
#include "fuzz.h"

#define NR_VCPUS 2
/* Main loop turns after the input is sent before the server must be done. */
#define MAX_SPINS 100000

static struct {
	struct fuzz_machine fm;
	struct vm_config cfg;
	struct disk_config disk;
	struct vm vm;
	struct vcpu vcpus[NR_VCPUS];
	struct vcpu *vcpu_ptrs[NR_VCPUS];
	struct qmp_endpoint ep;
	struct sockaddr_un addr; /* where the server listens */
	socklen_t addr_len;
	struct qmp_vm *qmp;
	GString *out;
	json_tokener *tok; /* reset for each line */
	uint64_t parsed[4096]; /* hashes of lines that parsed, by hash % 4096 */
} f;

static void fake_vm_init(void)
{
	g_autofree char *path = NULL;
	struct device *d = g_new0(struct device, 1);
	pthread_condattr_t attr;
	GError *err = NULL;
	int fd;

	if (fuzz_machine_init(&f.fm, 1 * MiB))
		abort();
	fd = g_file_open_tmp("tern-fuzz-qmp-XXXXXX.img", &path, &err);
	if (fd < 0 || ftruncate(fd, 1 * MiB) < 0)
		abort();
	close(fd);
	f.disk = (struct disk_config){
		.path = g_strdup(path),
		.engine = BLK_ENGINE_THREADS,
		.cache = BLK_CACHE_WRITEBACK,
		.serial = g_strdup("fuzz-disk"),
		.queues = 1,
		.spec = g_strdup("path=fuzz.img,engine=threads"),
	};
	f.cfg = f.fm.cfg;
	f.cfg.name = g_strdup("fuzz-vm");
	f.cfg.cpus = NR_VCPUS;
	f.cfg.memory = f.fm.mem.ram_size;
	f.cfg.disks = &f.disk;
	f.cfg.nr_disks = 1;
	f.fm.m.cfg = &f.cfg;

	f.vm.cfg = &f.cfg;
	f.vm.kvm.fd = f.vm.kvm.vm_fd = -1;
	f.vm.console_fd = -1;
	f.vm.listeners = g_array_new(FALSE, FALSE, sizeof(struct vm_listener));
	pthread_mutex_init(&f.vm.state_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f.vm.state_cond, &attr);
	pthread_condattr_destroy(&attr);
	f.vm.shutdown_eventfd = efd_new();
	if (f.vm.shutdown_eventfd < 0)
		abort();
	f.vm.machine = f.fm.m;
	f.vm.pci = f.fm.pci;
	for (unsigned int i = 0; i < NR_VCPUS; i++) {
		f.vcpus[i] = (struct vcpu){
			.vm = &f.vm, .id = i, .fd = -1,
			.run = g_new0(struct kvm_run, 1), .tid = 4242 + (pid_t)i,
		};
		f.vcpu_ptrs[i] = &f.vcpus[i];
	}
	f.vm.vcpus = f.vcpu_ptrs;
	f.vm.nr_vcpus = NR_VCPUS;

	f.vm.devices = g_ptr_array_new();
	d->type = &virtio_blk_device_type;
	snprintf(d->id, sizeof(d->id), "virtio-blk.0");
	d->dev = virtio_blk_device_type.create(&f.vm.machine, 0, &err);
	if (!d->dev) {
		fprintf(stderr, "fuzz: virtio-blk: %s\n", err->message);
		abort();
	}
	g_ptr_array_add(f.vm.devices, d);
	/* The disk stays open; nothing else needs the name. */
	unlink(path);
	f.out = g_string_new(NULL);
	f.tok = json_tokener_new();
}

/*
 * The server for every input, listening on a socket handed over as
 * --qmp fd=N (an abstract name the kernel picks: nothing on disk). Each
 * input is a new connection, so negotiation starts afresh.
 */
static void qmp_server_init(void)
{
	socklen_t alen = sizeof(sa_family_t);
	GError *err = NULL;
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	f.addr.sun_family = AF_UNIX;
	if (l < 0 || bind(l, (struct sockaddr *)&f.addr, alen) < 0 ||
	    listen(l, 4) < 0)
		abort();
	f.addr_len = sizeof(f.addr);
	if (getsockname(l, (struct sockaddr *)&f.addr, &f.addr_len) < 0)
		abort();
	f.ep = (struct qmp_endpoint){ .kind = QMP_ENDPOINT_FD, .fd = l,
				      .spec = "fd" };
	f.cfg.qmp = &f.ep;
	f.cfg.nr_qmp = 1;
	f.qmp = qmp_vm_create(&f.vm, "0.1.0", &err);
	if (!f.qmp) {
		fprintf(stderr, "fuzz: QMP: %s\n", err->message);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fake_vm_init();
	qmp_server_init();
	return 0;
}

static int client_connect(void)
{
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (c < 0 || connect(c, (struct sockaddr *)&f.addr, f.addr_len) < 0)
		abort();
	return c;
}

/* Take what the server sent; false once it closed the connection. */
static bool client_read(int fd)
{
	char buf[16384];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			g_string_append_len(f.out, buf, n);
			continue;
		}
		return !(n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR));
	}
}

/*
 * FNV-1a, 64 bits. Not inlined: coverage-ignore.txt names it, so that it
 * runs without a coverage callback per byte.
 */
static __attribute__((noinline)) uint64_t fuzz_qmp_line_hash(const char *p,
							     size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ULL;
	return h | 1; /* 0 marks an empty entry */
}

/*
 * Every line QMP sends is one JSON object, "\r\n" ended. The lines are
 * found by length (strstr() measured the rest of the output for each
 * line under AddressSanitizer) and parsed by one tokener, unless a line
 * with the same 64-bit hash parsed before: most lines are the greeting
 * and the same few errors, json-c's verdict on the same bytes cannot
 * change, and the table allocates nothing (libFuzzer runs an input twice
 * and looks for leaks when it allocates more than it frees).
 */
static void check_replies(void)
{
	char *line = f.out->str, *end = f.out->str + f.out->len, *nl;

	while ((nl = memmem(line, (size_t)(end - line), "\r\n", 2))) {
		uint64_t h = fuzz_qmp_line_hash(line, (size_t)(nl - line));
		uint64_t *seen = &f.parsed[h % G_N_ELEMENTS(f.parsed)];
		json_object *o;

		if (*seen == h) {
			line = nl + 2;
			continue;
		}
		json_tokener_reset(f.tok);
		o = json_tokener_parse_ex(f.tok, line, (int)(nl - line));
		FUZZ_CHECK(o && json_tokener_get_error(f.tok) ==
					json_tokener_success);
		FUZZ_CHECK(json_object_is_type(o, json_type_object));
		json_object_put(o);
		*seen = h;
		line = nl + 2;
	}
	/* Nothing half-written is left when the server hangs up. */
	FUZZ_CHECK(line == end);
}

/*
 * What an input starts from, whatever the one before it did: a `stop`
 * leaves the devices quiesced (vm_devices_quiesce() marks them, and a
 * second `stop` would skip them), a failed state save may leave a capture
 * behind. Without this an input's path depended on the one before it, and
 * a crash found that way would not reproduce alone.
 */
static void vm_state_reset(bool paused)
{
	vm_devices_resume(&f.vm);
	vm_capture_drop(&f.vm);
	f.vm.state = paused ? VM_STATE_PRELAUNCH : VM_STATE_RUNNING;
	f.vm.exit_reason = VM_EXIT_NONE;
	f.vm.exit_code = 0;
	efd_drain(f.vm.shutdown_eventfd);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		f.vcpus[i].parked = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char negotiate[] = "{\"execute\": \"qmp_capabilities\"}";
	struct fuzz_input in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	/* Small writes, but at most 16 of them: each is a turn of the loop. */
	size_t chunk = MAX(1 + 37 * (size_t)(mode >> 2), size / 16), sent = 0;
	int client, spins = 0;
	bool open = true;

	vm_state_reset(mode & 2);
	g_string_truncate(f.out, 0);
	client = client_connect();
	if ((mode & 1) &&
	    send(client, negotiate, sizeof(negotiate) - 1, MSG_NOSIGNAL) < 0)
		abort();

	/* The input in writes of chunk bytes, the server running in between. */
	while (sent < in.len) {
		ssize_t n = send(client, in.p + sent, MIN(chunk, in.len - sent),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break; /* the server hung up (an oversized message) */
		if (n > 0)
			sent += (size_t)n;
		g_main_context_iteration(NULL, FALSE);
		open = client_read(client);
		FUZZ_CHECK(++spins < MAX_SPINS);
	}
	shutdown(client, SHUT_WR);
	/* The server answers what came, then closes at the end of input. */
	while (open) {
		g_main_context_iteration(NULL, FALSE);
		open = client_read(client);
		FUZZ_CHECK(++spins < MAX_SPINS);
	}
	close(client);
	check_replies();
	return 0;
}
