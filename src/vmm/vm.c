// SPDX-License-Identifier: MIT
/*
 * The machine: built in a fixed order by vm_create() (accelerator, memory,
 * platform, buses, console, PCI host, devices from the device table, boot
 * images, vCPUs), torn down in the exact reverse by vm_destroy(). Running
 * it is vm_run.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <unistd.h>

#include "tern/boot.h"
#include "tern/confidential_vm.h"
#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/kvm.h"
#include "tern/layout.h"
#include "tern/mptable.h"
#include "tern/outbuf.h"
#include "tern/pci.h"
#include "tern/vcpu.h"
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
	/* Private memory: the launch binds each region to a guest_memfd. */
	if (confidential_private_memory(vm->cfg->confidential.kind)) {
		vm->mem.vm_fd = vm->kvm.vm_fd;
		return true;
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
		/* With virtio, stdin is the virtio-console's; the UART only prints. */
		break;
	case CONSOLE_FILE:
		/*
		 * The UART keeps this descriptor number; the file itself is
		 * only opened (and truncated) once the whole VM is built, by
		 * vm_open_console_file(), so a failure on the way leaves it
		 * untouched. Nothing writes to the console before that.
		 */
		vm->console_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (vm->console_fd < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "/dev/null: %s", g_strerror(errno));
			return false;
		}
		out_fd = vm->console_fd;
		break;
	case CONSOLE_NONE:
		break;
	}
	vm->machine.console_in_fd = in_fd;
	if (out_fd >= 0) {
		vm->console_out = outbuf_new(&vm->threads, out_fd, OUTBUF_DEFAULT_SIZE,
					     "console", err);
		if (!vm->console_out)
			return false;
		vm->machine.console_out = vm->console_out;
	}
	return true;
}

/*
 * Last step of vm_create(): put the --console file in the place of the
 * UART's placeholder. config_check_files() made sure the path is none of
 * the VM's own files. O_NONBLOCK so that a FIFO without a reader fails
 * instead of hanging; the writes after it block as usual.
 */
static bool vm_open_console_file(struct vm *vm, GError **err)
{
	const char *path = vm->cfg->console_path;
	int fd, flags;

	if (vm->cfg->console != CONSOLE_FILE)
		return true;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY |
				O_NONBLOCK, 0644);
	if (fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--console file=%s: cannot open: %s%s", path,
			    g_strerror(errno),
			    errno == ENXIO ? " (a FIFO nobody reads?)" : "");
		return false;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    dup3(fd, vm->console_fd, O_CLOEXEC) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--console file=%s: %s", path, g_strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

static void vm_teardown_console(struct vm *vm)
{
	/* What the guest printed last still reaches a console that reads. */
	outbuf_destroy(vm->console_out);
	vm->console_out = NULL;
	vm->machine.console_out = NULL;
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
	vm->pci = pci_host_create(&vm->machine, err);
	vm->machine.pci = vm->pci;
	return vm->pci != NULL;
}

static void vm_teardown_pci(struct vm *vm)
{
	pci_host_destroy(vm->pci);
	vm->pci = NULL;
	vm->machine.pci = NULL;
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
	flash_image_unmap(&vm->flash);
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
	/* Each thread sets its vCPU up; they run in parallel, we wait for all. */
	for (unsigned int i = 0; i < vm->cfg->cpus; i++) {
		vm->vcpus[i] = vcpu_spawn(vm, i, err);
		if (!vm->vcpus[i])
			return false;
		vm->nr_vcpus++;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (!vcpu_wait_ready(vm->vcpus[i], err))
			return false;
	/* Firmware starts where KVM's reset state puts it: the reset vector. */
	if (!vm->flash.hva && vcpu_setup_boot(vm->vcpus[0], entry)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU 0: cannot set the boot registers: %s",
			    g_strerror(errno));
		return false;
	}
	return true;
}

static void vm_destroy_vcpus(struct vm *vm)
{
	/* Their threads first (parked, or never past their set-up). */
	vm_stop_vcpus(vm);
	for (unsigned int i = vm->nr_vcpus; i-- > 0;)
		vcpu_destroy(vm->vcpus[i]);
	vcpu_reset_templates_free(vm);
	g_free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
}

struct vm *vm_create(const struct vm_config *cfg, GError **err)
{
	struct vm *vm = g_new0(struct vm, 1);
	pthread_condattr_t attr;

	vm->cfg = cfg;
	vm->listeners = g_array_new(FALSE, FALSE, sizeof(struct vm_listener));
	vm->console_fd = -1;
	vm->shutdown_eventfd = -1;
	vm->state = VM_STATE_PRELAUNCH;
	pthread_mutex_init(&vm->state_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->state_cond, &attr);
	pthread_condattr_destroy(&attr);
	thread_registry_init(&vm->threads);
	thread_registry_add_self(&vm->threads, THREAD_ROLE_MAIN, "main");
	/* The sandbox confines each thread as it is born (sandbox.h). */
	vm->threads.enter = cfg->thread_enter;
	vm->threads.enter_opaque = cfg->thread_enter_opaque;
	vcpu_signals_init();

	vm->shutdown_eventfd = efd_new();
	if (vm->shutdown_eventfd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "eventfd: %s",
			    g_strerror(-vm->shutdown_eventfd));
		goto err_free;
	}
	if (!kvm_open(&vm->kvm, cfg->kvm_device,
		      confidential_host_default.vm_type(cfg->confidential.kind),
		      err))
		goto err_eventfd;
	vm_trace_mark(vm, "kvm");
	if (!vm_setup_memory(vm, err) ||
	    !kvm_cpuid_wait(&vm->kvm, cfg->kvm_device, err) ||
	    !vm_check_limits(vm, err))
		goto err_memory;
	vm_trace_mark(vm, "memory");
	/* Before any vCPU: INIT and LAUNCH_START (confidential_vm.h). */
	if (cfg->confidential.kind) {
		vm->conf = confidential_vm_begin(vm, err);
		if (!vm->conf)
			goto err_memory;
	}
	if (!vm_setup_platform(vm, err) || !vm_save_platform_reset_state(vm, err))
		goto err_memory;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm_machine_init(vm);
	if (!vm_setup_console(vm, err))
		goto err_console;
	if (!vm_setup_pci(vm, err))
		goto err_pci;
	if (!vm_devices_create(vm, err))
		goto err_devices;
	vm_trace_mark(vm, "devices");
	if (cfg->firmware_path) {
		if (!flash_image_map(&vm->flash, vm->kvm.vm_fd,
				     cfg->firmware_path,
				     confidential_private_memory(cfg->confidential.kind),
				     err))
			goto err_boot;
	} else if (!vm_read_boot_images(vm, err) ||
		   !x86_boot_load(&vm->mem, &vm->boot, &vm->boot_entry, err)) {
		goto err_boot;
	}
	vm_trace_mark(vm, "boot-images");
	if (!vm_create_vcpus(vm, &vm->boot_entry, err) ||
	    !vm_open_console_file(vm, err))
		goto err_vcpus;
	/* Measured before the first KVM_RUN; finished at once unless the
	 * owner may inject a secret while it is paused (as QEMU's -S). */
	if (vm->conf && !confidential_vm_measure(vm->conf, cfg->paused, err))
		goto err_vcpus;
	vm_trace_mark(vm, "vcpus");
	return vm;

err_vcpus:
	vm_destroy_vcpus(vm);
err_boot:
	vm_free_boot_images(vm);
err_devices:
	vm_devices_destroy(vm);
	vm_teardown_pci(vm);
err_pci:
	vm_teardown_console(vm);
err_console:
	bus_destroy(&vm->mmio);
	bus_destroy(&vm->pio);
err_memory:
	confidential_vm_free(vm->conf);
	kvm_close(&vm->kvm);
	guest_memory_destroy(&vm->mem);
err_eventfd:
	close(vm->shutdown_eventfd);
err_free:
	thread_registry_destroy(&vm->threads);
	g_array_unref(vm->listeners);
	pthread_cond_destroy(&vm->state_cond);
	pthread_mutex_destroy(&vm->state_lock);
	g_free(vm);
	return NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_stop_vcpus(vm);
	/*
	 * A vCPU thread that would not end may still be in a device handler:
	 * freeing anything it can reach would turn a hang into a crash. The
	 * process is about to exit; the kernel cleans up.
	 */
	if (vm->vcpus_stuck)
		return;
	vm_capture_drop(vm);
	vm_destroy_vcpus(vm);
	vm_free_boot_images(vm);
	vm_devices_destroy(vm);
	vm_teardown_pci(vm);
	vm_teardown_console(vm);
	bus_destroy(&vm->mmio);
	bus_destroy(&vm->pio);
	confidential_vm_free(vm->conf);
	/* Closing the VM fd drops the memory slots before the unmap. */
	kvm_close(&vm->kvm);
	guest_memory_destroy(&vm->mem);
	close(vm->shutdown_eventfd);
	thread_registry_destroy(&vm->threads);
	g_array_unref(vm->listeners);
	pthread_cond_destroy(&vm->state_cond);
	pthread_mutex_destroy(&vm->state_lock);
	g_free(vm);
}

/*
 * Destroying a KVM VM with an in-kernel PIC/IOAPIC waits for RCU grace
 * periods: ~20 ms on our nested hosts, more than the whole boot. The last
 * close of the VM fd pays it, and a process's exit status is only delivered
 * once its files are released. So a forked reaper keeps a reference to the
 * KVM fds (and nothing else: no console pipes, no guest RAM, which is
 * MADV_DONTFORK) until this process has exited, then drops it: the caller
 * sees our exit at once and the teardown runs detached. --teardown sync
 * turns this off (the benchmark reports both).
 */
void vm_detach_teardown(struct vm *vm)
{
	/* Allocated before the fork: the child only reads it. */
	g_autofree int *keep = NULL;
	int nkeep = 0, p[2];
	pid_t pid;

	if (vm->cfg->teardown == TEARDOWN_SYNC)
		return;
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	keep = g_new(int, vm->nr_vcpus + 2);
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
