// SPDX-License-Identifier: MIT
/*
 * The machine: built in a fixed order by vm_create() (accelerator, memory,
 * platform, buses, legacy devices, boot images, vCPUs), torn down in the
 * exact reverse by vm_destroy(), run by the glib main loop on the main thread
 * while each vCPU has its own thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <unistd.h>

#include "tern/boot.h"
#include "tern/dirty.h"
#include "tern/devices.h"
#include "tern/error.h"
#include "tern/kvm.h"
#include "tern/layout.h"
#include "tern/mptable.h"
#include "tern/pci.h"
#include "tern/vcpu.h"
#include "tern/virtio-blk.h"
#include "tern/virtio_devices.h"
#include "tern/vm.h"

/* Kernels and initrds larger than this are refused before reading them. */
#define BOOT_FILE_MAX (1ULL * GiB)

static bool vm_check_limits(struct vm *vm, GError **err)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned int max = vm->kvm.max_vcpus;
	unsigned int phys_bits = 36;

	if (max > MPTABLE_MAX_CPUS)
		max = MPTABLE_MAX_CPUS;
	if (cfg->cpus > max) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--cpus %u: this host's KVM allows at most %u vCPUs",
			    cfg->cpus, max);
		return false;
	}
	for (unsigned int i = 0; i < vm->kvm.supported_cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &vm->kvm.supported_cpuid->entries[i];

		if (e->function == 0x80000008 && (e->eax & 0xff))
			phys_bits = e->eax & 0xff;
	}
	if (vm->mem.end > (1ULL << phys_bits)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory %lluM: guest RAM would end at 0x%llx, beyond the %u physical address bits this CPU offers",
			    (unsigned long long)(cfg->memory / MiB),
			    (unsigned long long)vm->mem.end, phys_bits);
		return false;
	}
	return true;
}

/* Why guest_memory_init_config() failed, in terms of the --memory option. */
static void vm_memory_error(const struct vm_config *cfg, int ret, GError **err)
{
	const char *kind = cfg->memory_hugepages ? ",hugepages=on" :
			   cfg->memory_shared	 ? ",shared=on" :
						   "";
	unsigned long long mb = cfg->memory / MiB;
	uint64_t page = 0, nfree = 0, need;

	if (!cfg->memory_hugepages || guest_memory_hugepages_free(&page, &nfree) ||
	    !page) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory %lluM%s: cannot map guest RAM: %s", mb,
			    kind, g_strerror(-ret));
		return;
	}
	need = cfg->memory / page;
	if (ret == -EINVAL && cfg->memory % page)
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory %lluM%s: not a multiple of this host's huge page size (%lluK)",
			    mb, kind, (unsigned long long)(page / KiB));
	else if (ret == -ENOMEM)
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory %lluM%s: needs %llu huge pages of %lluK, %llu free; reserve at least %llu more in /proc/sys/vm/nr_hugepages (as root)",
			    mb, kind, (unsigned long long)need,
			    (unsigned long long)(page / KiB),
			    (unsigned long long)nfree,
			    (unsigned long long)(need > nfree ? need - nfree : 1));
	else
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--memory %lluM%s: cannot map guest RAM on huge pages (see /proc/sys/vm/nr_hugepages): %s",
			    mb, kind, g_strerror(-ret));
}

static bool vm_setup_memory(struct vm *vm, GError **err)
{
	const struct guest_memory_config mcfg = {
		.size = vm->cfg->memory,
		.shared = vm->cfg->memory_shared,
		.hugepages = vm->cfg->memory_hugepages,
	};
	int ret = guest_memory_init_config(&vm->mem, &mcfg);

	if (ret) {
		vm_memory_error(vm->cfg, ret, err);
		return false;
	}
	ret = guest_memory_kvm_register(&vm->mem, vm->kvm.vm_fd);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "KVM_SET_USER_MEMORY_REGION (%llu MiB of guest RAM): %s",
			    (unsigned long long)(vm->mem.ram_size / MiB),
			    g_strerror(-ret));
		return false;
	}
	return true;
}

static bool vm_setup_platform(struct vm *vm, GError **err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = LAYOUT_KVM_IDENTITY_MAP_ADDR;
	const char *what;

	what = "KVM_SET_TSS_ADDR";
	if (ioctl(vm->kvm.vm_fd, KVM_SET_TSS_ADDR, LAYOUT_KVM_TSS_ADDR) < 0)
		goto err;
	what = "KVM_SET_IDENTITY_MAP_ADDR";
	if (ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->kvm.vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		goto err;
	what = "KVM_CREATE_IRQCHIP";
	if (ioctl(vm->kvm.vm_fd, KVM_CREATE_IRQCHIP) < 0)
		goto err;
	what = "KVM_CREATE_PIT2";
	if (ioctl(vm->kvm.vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		goto err;
	return true;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s", what,
		    g_strerror(errno));
	return false;
}

static bool vm_setup_console(struct vm *vm, GError **err)
{
	const struct vm_config *cfg = vm->cfg;
	int in_fd = -1, out_fd = -1;

	switch (cfg->console) {
	case CONSOLE_STDIO:
	case CONSOLE_VIRTIO:
		in_fd = STDIN_FILENO;
		out_fd = STDOUT_FILENO;
		if (isatty(in_fd) && tcgetattr(in_fd, &vm->saved_termios) == 0) {
			struct termios raw = vm->saved_termios;

			/* Keys go to the guest as typed; ^C still ends tern. */
			raw.c_lflag &= ~(ICANON | ECHO);
			raw.c_iflag &= ~(ICRNL | IXON);
			raw.c_cc[VMIN] = 1;
			raw.c_cc[VTIME] = 0;
			if (tcsetattr(in_fd, TCSANOW, &raw) == 0)
				vm->stdin_raw = true;
		}
		/* stdin is the virtio-console's then; the UART only prints. */
		if (cfg->console == CONSOLE_VIRTIO)
			in_fd = -1;
		break;
	case CONSOLE_FILE:
		vm->console_fd = open(cfg->console_path,
				      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (vm->console_fd < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--console file=%s: cannot open: %s",
				    cfg->console_path, g_strerror(errno));
			return false;
		}
		out_fd = vm->console_fd;
		break;
	case CONSOLE_NONE:
		break;
	}
	vm->serial = serial_create(vm, PORT_COM1, PORT_COM1_IRQ, in_fd, out_fd, err);
	return vm->serial != NULL;
}

static void vm_teardown_console(struct vm *vm)
{
	serial_destroy(vm->serial);
	vm->serial = NULL;
	if (vm->stdin_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &vm->saved_termios);
	vm->stdin_raw = false;
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	vm->console_fd = -1;
}

/* The PCI host bridge; devices plug into it next. */
static bool vm_setup_pci(struct vm *vm, GError **err)
{
	vm->pci = pci_host_create(vm, err);
	return vm->pci != NULL;
}

static void vm_teardown_pci(struct vm *vm)
{
	pci_host_destroy(vm->pci);
	vm->pci = NULL;
}

/* PCI devices, in slot order: console, rng, disks. */
static bool vm_setup_devices(struct vm *vm, GError **err)
{
	const struct vm_config *cfg = vm->cfg;

	if (cfg->console == CONSOLE_VIRTIO) {
		vm->virtio_console = virtio_console_create(vm, STDIN_FILENO,
							   STDOUT_FILENO, err);
		if (!vm->virtio_console)
			return false;
	}
	if (cfg->rng) {
		vm->virtio_rng = virtio_rng_create(vm, err);
		if (!vm->virtio_rng)
			return false;
	}
	vm->disks = g_new0(struct virtio_device *, cfg->nr_disks);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		vm->disks[i] = virtio_blk_create(vm, &cfg->disks[i], err);
		if (!vm->disks[i])
			return false;
		vm->nr_disks++;
	}
	return true;
}

static void vm_teardown_devices(struct vm *vm)
{
	/* Each reset drains its disk's in-flight I/O before the free. */
	for (unsigned int i = vm->nr_disks; i-- > 0;)
		virtio_pci_destroy(vm->disks[i]);
	g_free(vm->disks);
	vm->disks = NULL;
	vm->nr_disks = 0;
	virtio_rng_destroy(vm->virtio_rng);
	vm->virtio_rng = NULL;
	virtio_console_destroy(vm->virtio_console);
	vm->virtio_console = NULL;
}

static bool boot_file_read(const char *opt, const char *path, uint8_t **buf,
			   size_t *len, GError **err)
{
	int ret = file_read_all(path, BOOT_FILE_MAX, buf, len);

	if (!ret && !*len) {
		g_clear_pointer(buf, g_free);
		ret = -ENODATA;
	}
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s '%s': %s", opt,
			    path,
			    ret == -EFBIG ? "larger than 1 GiB" :
			    ret == -EISDIR ? "is a directory" :
			    ret == -EINVAL ? "not a regular file" :
			    ret == -ENODATA ? "file is empty" : g_strerror(-ret));
		return false;
	}
	return true;
}

/* Read the images once; vm->boot keeps them for system_reset. */
static bool vm_read_boot_images(struct vm *vm, GError **err)
{
	const struct vm_config *cfg = vm->cfg;
	struct boot_config *boot = &vm->boot;
	size_t len;

	boot->cmdline = cfg->cmdline;
	boot->ncpus = cfg->cpus;
	if (cfg->kernel_path) {
		if (!boot_file_read("--kernel", cfg->kernel_path, &vm->kernel_buf,
				    &len, err))
			return false;
		boot->kernel = vm->kernel_buf;
		boot->kernel_len = len;
		boot->kernel_name = cfg->kernel_path;
	} else {
		boot->kernel = cfg->default_kernel;
		boot->kernel_len = cfg->default_kernel_len;
		boot->kernel_name = "(embedded hello guest)";
	}
	if (cfg->initrd_path) {
		if (!boot_file_read("--initrd", cfg->initrd_path, &vm->initrd_buf,
				    &len, err))
			return false;
		boot->initrd = vm->initrd_buf;
		boot->initrd_len = len;
		boot->initrd_name = cfg->initrd_path;
	}
	return true;
}

static void vm_free_boot_images(struct vm *vm)
{
	g_free(vm->kernel_buf);
	g_free(vm->initrd_buf);
	vm->kernel_buf = vm->initrd_buf = NULL;
}

/* The in-kernel irqchip and PIT as created: what a reset goes back to. */
static bool vm_save_platform_reset_state(struct vm *vm, GError **err)
{
	for (unsigned int i = 0; i < G_N_ELEMENTS(vm->irqchip_reset); i++) {
		vm->irqchip_reset[i].chip_id = i;
		if (ioctl(vm->kvm.vm_fd, KVM_GET_IRQCHIP, &vm->irqchip_reset[i]) < 0)
			goto err;
	}
	if (ioctl(vm->kvm.vm_fd, KVM_GET_PIT2, &vm->pit_reset) < 0)
		goto err;
	return true;
err:
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "cannot read the in-kernel irqchip/PIT state: %s",
		    g_strerror(errno));
	return false;
}

static bool vm_create_vcpus(struct vm *vm, const struct boot_entry *entry,
			    GError **err)
{
	vm->vcpus = g_new0(struct vcpu *, vm->cfg->cpus);
	for (unsigned int i = 0; i < vm->cfg->cpus; i++) {
		vm->vcpus[i] = vcpu_create(vm, i, err);
		if (!vm->vcpus[i])
			return false;
		vm->nr_vcpus++;
	}
	if (vcpu_setup_boot(vm->vcpus[0], entry)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU 0: cannot set the boot registers: %s",
			    g_strerror(errno));
		return false;
	}
	return true;
}

static void vm_destroy_vcpus(struct vm *vm)
{
	for (unsigned int i = vm->nr_vcpus; i-- > 0;)
		vcpu_destroy(vm->vcpus[i]);
	g_free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
}

struct vm *vm_create(const struct vm_config *cfg, GError **err)
{
	struct vm *vm = g_new0(struct vm, 1);

	vm->cfg = cfg;
	vm->listeners = g_array_new(FALSE, FALSE, sizeof(struct vm_listener));
	vm->console_fd = -1;
	vm->shutdown_eventfd = -1;
	vm->state = VM_STATE_PRELAUNCH;
	pthread_mutex_init(&vm->state_lock, NULL);
	pthread_cond_init(&vm->state_cond, NULL);
	vcpu_signals_init();

	vm->shutdown_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->shutdown_eventfd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "eventfd: %s",
			    g_strerror(errno));
		goto err_free;
	}
	if (!kvm_open(&vm->kvm, err))
		goto err_eventfd;
	if (!vm_setup_memory(vm, err) || !vm_check_limits(vm, err))
		goto err_memory;
	if (!vm_setup_platform(vm, err) || !vm_save_platform_reset_state(vm, err))
		goto err_memory;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	if (!vm_setup_console(vm, err))
		goto err_console;
	vm->i8042 = i8042_create(vm, err);
	if (!vm->i8042)
		goto err_console;
	if (cfg->test_exit) {
		vm->test_exit = test_exit_create(vm, PORT_TEST_EXIT, err);
		if (!vm->test_exit)
			goto err_i8042;
	}
	if (!vm_setup_pci(vm, err))
		goto err_pci;
	if (!vm_setup_devices(vm, err))
		goto err_devices;
	if (!vm_read_boot_images(vm, err) ||
	    !x86_boot_load(&vm->mem, &vm->boot, &vm->boot_entry, err))
		goto err_boot;
	if (!vm_create_vcpus(vm, &vm->boot_entry, err))
		goto err_vcpus;
	return vm;

err_vcpus:
	vm_destroy_vcpus(vm);
err_boot:
	vm_free_boot_images(vm);
err_devices:
	vm_teardown_devices(vm);
err_pci:
	vm_teardown_pci(vm);
	test_exit_destroy(vm->test_exit);
err_i8042:
	i8042_destroy(vm->i8042);
err_console:
	vm_teardown_console(vm);
	bus_destroy(&vm->mmio);
	bus_destroy(&vm->pio);
err_memory:
	kvm_close(&vm->kvm);
	guest_memory_destroy(&vm->mem);
err_eventfd:
	close(vm->shutdown_eventfd);
err_free:
	g_array_unref(vm->listeners);
	pthread_cond_destroy(&vm->state_cond);
	pthread_mutex_destroy(&vm->state_lock);
	g_free(vm);
	return NULL;
}

/* Stop and join every vCPU thread; afterwards no thread touches the VM. */
static void vm_stop_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	vm->state = VM_STATE_SHUTDOWN;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(vm->vcpus[i]);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_stop_vcpus(vm);
	vm_destroy_vcpus(vm);
	vm_free_boot_images(vm);
	vm_teardown_devices(vm);
	vm_teardown_pci(vm);
	test_exit_destroy(vm->test_exit);
	i8042_destroy(vm->i8042);
	vm_teardown_console(vm);
	bus_destroy(&vm->mmio);
	bus_destroy(&vm->pio);
	/* Closing the VM fd drops the memory slots before the unmap. */
	kvm_close(&vm->kvm);
	guest_memory_destroy(&vm->mem);
	close(vm->shutdown_eventfd);
	g_array_unref(vm->listeners);
	pthread_cond_destroy(&vm->state_cond);
	pthread_mutex_destroy(&vm->state_lock);
	g_free(vm);
}

bool vm_start(struct vm *vm, GError **err)
{
	pthread_mutex_lock(&vm->state_lock);
	vm->state = vm->cfg->paused ? VM_STATE_PRELAUNCH : VM_STATE_RUNNING;
	pthread_mutex_unlock(&vm->state_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_start_thread(vm->vcpus[i]);

		if (ret) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "vCPU %u: cannot start its thread: %s", i,
				    g_strerror(-ret));
			return false;
		}
	}
	return true;
}

void vm_add_listener(struct vm *vm, vm_event_fn *fn, void *opaque)
{
	struct vm_listener l = { fn, opaque };

	g_array_append_val(vm->listeners, l);
}

void vm_remove_listener(struct vm *vm, vm_event_fn *fn, void *opaque)
{
	for (guint i = 0; i < vm->listeners->len; i++) {
		struct vm_listener *l = &g_array_index(vm->listeners, struct vm_listener, i);

		if (l->fn == fn && l->opaque == opaque) {
			g_array_remove_index(vm->listeners, i);
			return;
		}
	}
}

static void vm_emit(struct vm *vm, enum vm_event ev, bool guest,
		    const char *reason)
{
	struct vm_event_info info = { .guest = guest, .reason = reason };

	/* A listener may remove itself: iterate over a copy. */
	g_autoptr(GArray) copy = g_array_copy(vm->listeners);

	for (guint i = 0; i < copy->len; i++) {
		struct vm_listener *l = &g_array_index(copy, struct vm_listener, i);

		l->fn(l->opaque, ev, &info);
	}
}

/* Park every vCPU; returns false if the VM is shutting down. Lock held. */
static bool vm_park_all_locked(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	for (;;) {
		unsigned int parked = 0;

		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			parked += vm->vcpus[i]->parked || !vm->vcpus[i]->thread_started;
		if (parked == vm->nr_vcpus)
			return true;
		if (vm->state == VM_STATE_SHUTDOWN)
			return false;
		pthread_cond_wait(&vm->state_cond, &vm->state_lock);
	}
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->state_lock);
	if (vm->state != VM_STATE_RUNNING) {
		pthread_mutex_unlock(&vm->state_lock);
		return;
	}
	vm->state = VM_STATE_PAUSED;
	vm_park_all_locked(vm);
	pthread_mutex_unlock(&vm->state_lock);
	vm_emit(vm, VM_EVENT_STOP, false, NULL);
}

void vm_resume(struct vm *vm)
{
	bool resumed = false;

	pthread_mutex_lock(&vm->state_lock);
	if (vm->state == VM_STATE_PAUSED || vm->state == VM_STATE_PRELAUNCH) {
		vm->state = VM_STATE_RUNNING;
		pthread_cond_broadcast(&vm->state_cond);
		resumed = true;
	}
	pthread_mutex_unlock(&vm->state_lock);
	if (resumed)
		vm_emit(vm, VM_EVENT_RESUME, false, NULL);
}

bool vm_reset(struct vm *vm, GError **err)
{
	enum vm_run_state was;
	const char *what = NULL;
	int ret = 0;

	pthread_mutex_lock(&vm->state_lock);
	was = vm->state;
	if (was == VM_STATE_SHUTDOWN) {
		pthread_mutex_unlock(&vm->state_lock);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is shutting down");
		return false;
	}
	/* Parked in PAUSED without an event: a reset is not a stop. */
	vm->state = VM_STATE_PAUSED;
	if (!vm_park_all_locked(vm)) {
		pthread_mutex_unlock(&vm->state_lock);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is shutting down");
		return false;
	}
	pthread_mutex_unlock(&vm->state_lock);

	/* Devices first: their threads stop and their INTx lines drop. */
	pci_host_reset(vm->pci);
	for (unsigned int i = 0; i < G_N_ELEMENTS(vm->irqchip_reset) && !what; i++)
		if (ioctl(vm->kvm.vm_fd, KVM_SET_IRQCHIP, &vm->irqchip_reset[i]) < 0)
			what = "KVM_SET_IRQCHIP";
	if (!what && ioctl(vm->kvm.vm_fd, KVM_SET_PIT2, &vm->pit_reset) < 0)
		what = "KVM_SET_PIT2";
	for (unsigned int i = 0; i < vm->nr_vcpus && !what; i++) {
		ret = vcpu_reset(vm->vcpus[i]);
		if (ret)
			what = "vCPU reset";
	}
	if (!what && !x86_boot_load(&vm->mem, &vm->boot, &vm->boot_entry, err))
		return false;
	if (!what) {
		ret = vcpu_setup_boot(vm->vcpus[0], &vm->boot_entry);
		if (ret)
			what = "boot registers";
	}
	if (what) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "system reset: %s: %s",
			    what, g_strerror(ret ? -ret : errno));
		return false;
	}

	pthread_mutex_lock(&vm->state_lock);
	if (vm->state == VM_STATE_PAUSED) {
		vm->state = was;
		pthread_cond_broadcast(&vm->state_cond);
	}
	pthread_mutex_unlock(&vm->state_lock);
	vm_emit(vm, VM_EVENT_RESET, false, "host-qmp-system-reset");
	return true;
}

void vm_request_shutdown(struct vm *vm, enum vm_exit_reason reason, int code)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->state_lock);
	if (vm->exit_reason == VM_EXIT_NONE) {
		vm->exit_reason = reason;
		vm->exit_code = code;
	}
	vm->state = VM_STATE_SHUTDOWN;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	/* An eventfd write never blocks short of 2^64 - 2 pending wakeups. */
	(void)!write(vm->shutdown_eventfd, &one, sizeof(one));
}

int vm_set_irq_line(struct vm *vm, unsigned int irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vm->kvm.vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	return 0;
}

enum vm_run_state vm_get_state(struct vm *vm)
{
	enum vm_run_state s;

	pthread_mutex_lock(&vm->state_lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->state_lock);
	return s;
}

const char *vm_run_state_name(enum vm_run_state state)
{
	switch (state) {
	case VM_STATE_PRELAUNCH:
		return "prelaunch";
	case VM_STATE_RUNNING:
		return "running";
	case VM_STATE_PAUSED:
		return "paused";
	case VM_STATE_SHUTDOWN:
		return "shutdown";
	}
	return "unknown";
}

/* QEMU's ShutdownCause names, so QMP clients read the same reasons. */
static const char *vm_shutdown_reason(enum vm_exit_reason r, bool *guest)
{
	*guest = r != VM_EXIT_HOST_QUIT && r != VM_EXIT_HOST_SIGNAL;
	switch (r) {
	case VM_EXIT_RESET:
		return "guest-reset";
	case VM_EXIT_POWEROFF:
	case VM_EXIT_TEST_PORT:
		return "guest-shutdown";
	case VM_EXIT_HOST_QUIT:
		return "host-qmp-quit";
	case VM_EXIT_HOST_SIGNAL:
		return "host-signal";
	case VM_EXIT_GUEST_ERROR:
		return "guest-panic";
	default:
		return "none";
	}
}

static gboolean vm_shutdown_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct vm *vm = opaque;
	const char *reason;
	uint64_t v;
	bool guest;

	(void)!read(fd, &v, sizeof(v));
	reason = vm_shutdown_reason(vm->exit_reason, &guest);
	vm_emit(vm, VM_EVENT_SHUTDOWN, guest, reason);
	g_main_loop_quit(vm->loop);
	return G_SOURCE_REMOVE;
}

static gboolean vm_signal(gpointer opaque)
{
	vm_request_shutdown(opaque, VM_EXIT_HOST_SIGNAL, 0);
	return G_SOURCE_CONTINUE;
}

int vm_exit_status(const struct vm *vm)
{
	switch (vm->exit_reason) {
	case VM_EXIT_TEST_PORT:
		return ((vm->exit_code << 1) | 1) & 0xff;
	case VM_EXIT_GUEST_ERROR:
		return TERN_EXIT_GUEST_ERROR;
	default:
		return 0;
	}
}

/*
 * Destroying a KVM VM with an in-kernel PIC/IOAPIC waits for RCU grace
 * periods: ~20 ms on our nested hosts, more than the whole boot. The last
 * close of the VM fd pays it, and a process's exit status is only delivered
 * once its files are released. So a forked reaper keeps a reference to the
 * KVM fds (and nothing else: no console pipes, no guest RAM, which is
 * MADV_DONTFORK) until this process has exited, then drops it: the caller
 * sees our exit at once and the teardown runs detached. TERN_SYNC_TEARDOWN=1
 * turns this off (the benchmark reports both).
 */
void vm_detach_teardown(struct vm *vm)
{
	int keep[8 + 2], nkeep = 0, p[2];
	pid_t pid;

	if (getenv("TERN_SYNC_TEARDOWN") || vm->nr_vcpus > 8)
		return;
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	keep[nkeep++] = p[0];
	keep[nkeep++] = vm->kvm.vm_fd;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		keep[nkeep++] = vm->vcpus[i]->fd;
	/* Sorted, so the gaps between them can be closed with close_range(). */
	for (int i = 1; i < nkeep; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}

	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls from here: we forked threads. */
		unsigned int lo = 0;
		char c;

		for (int i = 0; i < nkeep; i++) {
			if ((unsigned int)keep[i] > lo)
				close_range(lo, keep[i] - 1, 0);
			lo = keep[i] + 1;
		}
		close_range(lo, ~0U, 0);
		/* EOF when the parent's write end closes, i.e. at its exit. */
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	/* p[1] stays open (close-on-exec) until this process exits. */
}

int vm_run_main_loop(struct vm *vm)
{
	guint sources[4];

	vm->loop = g_main_loop_new(NULL, FALSE);
	sources[0] = g_unix_fd_add(vm->shutdown_eventfd, G_IO_IN,
				   vm_shutdown_ready, vm);
	sources[1] = g_unix_signal_add(SIGINT, vm_signal, vm);
	sources[2] = g_unix_signal_add(SIGTERM, vm_signal, vm);
	sources[3] = g_unix_signal_add(SIGHUP, vm_signal, vm);

	/* Runs until the shutdown eventfd fires, even for a guest that ended
	 * before the loop started: the eventfd stays readable. */
	g_main_loop_run(vm->loop);

	for (unsigned int i = 1; i < G_N_ELEMENTS(sources); i++)
		g_source_remove(sources[i]);
	vm_stop_vcpus(vm);
	g_main_loop_unref(vm->loop);
	vm->loop = NULL;
	return vm_exit_status(vm);
}
