/* SPDX-License-Identifier: MIT */
/*
 * One struct vm owns everything: the KVM handles, guest memory, buses,
 * devices and vCPUs. vm_create() builds in a fixed order and unwinds on
 * failure; vm_destroy() is its exact reverse.
 */
#ifndef TERN_VM_H
#define TERN_VM_H

#include <glib.h>
#include <pthread.h>
#include <termios.h>

#include "tern/boot.h"
#include "tern/bus.h"
#include "tern/config.h"
#include "tern/cpuid.h"
#include "tern/machine.h"
#include "tern/memory.h"
#include "tern/thread.h"

struct vcpu;
struct serial;
struct i8042;
struct test_exit;
struct pci_host;
struct virtio_console;
struct virtio_rng;
struct virtio_device;

enum vm_run_state {
	VM_STATE_PRELAUNCH, /* built, vCPUs not started yet (--paused) */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_SHUTDOWN, /* the guest asked to end, or an error ended it */
};

#define TERN_EXIT_BAD_INPUT 2
#define TERN_EXIT_GUEST_ERROR 4

/* Run-state events, delivered on the main thread (QMP turns them into JSON). */
enum vm_event {
	VM_EVENT_STOP,
	VM_EVENT_RESUME,
	VM_EVENT_RESET,
	VM_EVENT_SHUTDOWN,
};

struct vm_event_info {
	bool guest; /* caused by the guest, not the host */
	const char *reason; /* QEMU's ShutdownCause name, for RESET/SHUTDOWN */
};

typedef void vm_event_fn(void *opaque, enum vm_event ev,
			 const struct vm_event_info *info);

struct vm_listener {
	vm_event_fn *fn;
	void *opaque;
};

struct kvm_handle {
	int fd; /* /dev/kvm */
	int vm_fd;
	int run_size; /* mmap size of struct kvm_run */
	int max_vcpus;
	struct kvm_cpuid2 *supported_cpuid;
};

struct vm {
	const struct vm_config *cfg;
	struct kvm_handle kvm;
	struct guest_memory mem;
	struct bus pio;
	struct bus mmio;
	/* What devices see of all this (machine.h). */
	struct machine machine;
	struct thread_registry threads;

	struct serial *serial;
	struct i8042 *i8042;
	struct test_exit *test_exit;

	struct pci_host *pci;
	struct virtio_console *virtio_console; /* --console virtio */
	struct virtio_rng *virtio_rng; /* --rng */
	struct virtio_device **disks; /* --disk, virtio-blk */
	unsigned int nr_disks;

	struct vcpu **vcpus;
	unsigned int nr_vcpus;

	/* Run state, guarded by state_lock; changes are signalled on state_cond. */
	pthread_mutex_t state_lock;
	pthread_cond_t state_cond;
	enum vm_run_state state;
	enum vm_exit_reason exit_reason;
	int exit_code; /* the test-exit value for VM_EXIT_TEST_PORT */

	int console_fd; /* --console file=PATH, owned */
	bool stdin_raw; /* saved_termios must be restored */
	struct termios saved_termios;

	/* Kept for system_reset, which reloads them. */
	uint8_t *kernel_buf, *initrd_buf;
	struct boot_config boot;
	struct boot_entry boot_entry;
	/* In-kernel PIC, IOAPIC and PIT as created, restored on reset. */
	struct kvm_irqchip irqchip_reset[3];
	struct kvm_pit_state2 pit_reset;

	GArray *listeners; /* struct vm_listener */

	/* Written by any thread to wake the main loop when the VM must end. */
	int shutdown_eventfd;
	GMainLoop *loop;
};

/* Fill vm->machine (machine.c): what devices see of this VM. */
void vm_machine_init(struct vm *vm);

/* Validate nothing (vm_config_validate did), build the machine. */
struct vm *vm_create(const struct vm_config *cfg, GError **err);
void vm_destroy(struct vm *vm);

/* Start the vCPU threads (running, or parked if cfg->paused). */
bool vm_start(struct vm *vm, GError **err);

/* Run the main loop until the VM ends; returns tern's exit status. */
int vm_run_main_loop(struct vm *vm);

/*
 * After the vCPUs have stopped: let a detached process drop the last
 * reference to the KVM VM, so this process exits without waiting for the
 * kernel's teardown. vm_destroy() is still called as usual.
 */
void vm_detach_teardown(struct vm *vm);

/*
 * Stop every vCPU and wait until each is parked outside KVM_RUN; resume them.
 * Safe to call from the main loop; not from a vCPU thread.
 */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/*
 * Reset the machine as a power cycle would, without ending it: vCPUs and the
 * in-kernel irqchip and PIT go back to their initial state, the kernel and
 * boot structures are loaded again, the run state is kept. Main thread only.
 */
bool vm_reset(struct vm *vm, GError **err);

/* Be told about run-state events (main thread only). */
void vm_add_listener(struct vm *vm, vm_event_fn *fn, void *opaque);
void vm_remove_listener(struct vm *vm, vm_event_fn *fn, void *opaque);

/* Any thread: end the VM with this reason (the first reason wins). */
void vm_request_shutdown(struct vm *vm, enum vm_exit_reason reason, int code);

/* Raise or lower an interrupt line on the in-kernel irqchip. */
int vm_set_irq_line(struct vm *vm, unsigned int irq, bool level) __must_check;

enum vm_run_state vm_get_state(struct vm *vm);
/* The process exit status for how the VM ended. */
int vm_exit_status(const struct vm *vm);
const char *vm_run_state_name(enum vm_run_state state);

#endif
