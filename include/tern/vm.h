/* SPDX-License-Identifier: MIT */
/*
 * One struct vm owns everything: the KVM handles, guest memory, buses,
 * devices and vCPUs. vm_create() builds in a fixed order and unwinds on
 * failure; vm_destroy() is its exact reverse (vm.c). The run state, pausing,
 * resetting and ending the VM, and the main loop are in vm_run.c.
 *
 * Who waits for whom: the main thread (QMP, signals) never waits on the
 * guest or on a console reader without a deadline. Pausing waits at most
 * VM_PARK_TIMEOUT_NS for the vCPUs to park and VM_QUIESCE_TIMEOUT_NS for
 * the devices to finish what is in flight; ending the VM waits at most
 * VM_STOP_TIMEOUT_NS for the vCPU threads.
 */
#ifndef TERN_VM_H
#define TERN_VM_H

#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <termios.h>

#include "tern/boot.h"
#include "tern/confidential.h"
#include "tern/bus.h"
#include "tern/config.h"
#include "tern/cpuid.h"
#include "tern/machine.h"
#include "tern/memory.h"
#include "tern/thread.h"
#include "tern/vcpu_state.h"

struct vcpu;
struct pci_host;
struct device_type;
struct outbuf;
struct vm_capture;
struct migration;
struct vcpu_reset_state;
struct state_writer;
struct state_reader;

enum vm_run_state {
	VM_STATE_PRELAUNCH, /* built, vCPUs not started yet (--paused) */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_SHUTDOWN, /* the guest asked to end, or an error ended it */
	/* QEMU's migration run states (query-status shows their names). */
	VM_STATE_INMIGRATE, /* --incoming: waiting for a migration stream */
	VM_STATE_FINISH_MIGRATE, /* stopped while a migration sends the rest */
	VM_STATE_POSTMIGRATE, /* stopped after migrating away; cont resumes */
};

/*
 * The host signals that end the VM: SIGINT, SIGTERM and SIGHUP, but not
 * SIGHUP when tern was started with it ignored (nohup): that ignore
 * then holds for the whole run, instead of only until main() blocks it.
 */
void vm_host_signals(sigset_t *set);

/* Is this a state in which the vCPU threads stay parked? */
static inline bool vm_state_parks(enum vm_run_state s)
{
	return s == VM_STATE_PAUSED || s == VM_STATE_PRELAUNCH ||
	       s == VM_STATE_INMIGRATE || s == VM_STATE_FINISH_MIGRATE ||
	       s == VM_STATE_POSTMIGRATE;
}

#define TERN_EXIT_BAD_INPUT 2
#define TERN_EXIT_GUEST_ERROR 4

/*
 * A parking vCPU thread only has to finish its exit: its wait is the
 * host's scheduler (an overloaded host leaves a runnable thread off the
 * CPU for a second and more) or a device's bounded control path (a virtio
 * reset waits up to 2 s for its requests). 500 ms refused stops on a
 * loaded CI host; QEMU waits without a bound.
 */
#define VM_PARK_TIMEOUT_NS (5000ULL * 1000 * 1000)
#define VM_QUIESCE_TIMEOUT_NS (500ULL * 1000 * 1000)
#define VM_STOP_TIMEOUT_NS (1000ULL * 1000 * 1000)
#define VM_TRACE_MAX 16

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
	/* Valid once kvm_cpuid_wait() said so (kvm_open() starts fetching it). */
	struct kvm_cpuid2 *supported_cpuid;
	pthread_t cpuid_thread;
	bool cpuid_pending; /* cpuid_thread runs, not joined yet */
	int cpuid_errno;
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

	struct pci_host *pci;
	GPtrArray *devices; /* struct device *, in creation order (device.h) */

	struct vcpu **vcpus;
	unsigned int nr_vcpus;
	/* What a reset restores: the BSP's and an AP's state after set-up. */
	struct vcpu_reset_state *reset_bsp, *reset_ap;

	/* Run state, guarded by state_lock; changes are signalled on state_cond. */
	pthread_mutex_t state_lock;
	pthread_cond_t state_cond; /* CLOCK_MONOTONIC, for the deadlines */
	enum vm_run_state state;
	enum vm_exit_reason exit_reason;
	int exit_code; /* the test-exit value for VM_EXIT_TEST_PORT */
	/* A vCPU thread did not end by VM_STOP_TIMEOUT_NS: no teardown. */
	bool vcpus_stuck;
	/*
	 * Migration's hooks (under state_lock): run when an incoming
	 * migration completes (not --paused, or cont while inmigrate); each
	 * vCPU sleeps throttle_sleep_ns once per change of throttle_gen
	 * (auto-converge). reset_count grows with every machine reset, whose
	 * boot images are copied in without dirty marks (read atomically).
	 */
	bool autostart;
	uint64_t throttle_gen, throttle_sleep_ns;
	unsigned int reset_count;
	/* Live migration and snapshots (migration.h); set by main(). */
	struct migration *migration;

	int console_fd; /* --console file=PATH, owned */
	struct outbuf *console_out; /* the UART's and virtio-console's output */
	bool stdin_raw; /* saved_termios must be restored */
	struct termios saved_termios;

	/* Kept for system_reset, which reloads them. */
	uint8_t *kernel_buf, *initrd_buf;
	/* --firmware: no kernel; the BSP starts at the reset vector. */
	struct flash_image flash;
	/* --confidential: the launch (confidential_vm.h), NULL otherwise. */
	struct confidential_vm *conf;
	struct boot_config boot;
	struct boot_entry boot_entry;
	/* In-kernel PIC, IOAPIC and PIT as created, restored on reset. */
	struct kvm_irqchip irqchip_reset[3];
	struct kvm_pit_state2 pit_reset;

	/* State save/load (vm_state.c): the vCPUs and platform as captured
	 * at this stop, kept until the VM runs again. */
	struct vm_capture *capture;
	/*
	 * kvmclock as it read when the vCPUs parked (or as a load set it),
	 * put back when they run again: the guest's clock stands still while
	 * the VM is stopped, as under QEMU (vm_run.c, vm_clock_hold()).
	 */
	uint64_t held_clock;
	bool clock_held;
	struct vcpu_state_caps state_caps;
	bool state_caps_ready;

	/* --trace-boot: when each step finished (vm_trace_mark()). */
	struct vm_trace_mark {
		const char *what;
		uint64_t ns;
	} trace[VM_TRACE_MAX];
	unsigned int trace_len;

	GArray *listeners; /* struct vm_listener */

	/* Written by any thread to wake the main loop when the VM must end. */
	int shutdown_eventfd;
	GMainLoop *loop;
};

/*
 * --trace-boot: note that a step just finished (main thread); print them
 * all, in ms since main() began, as one line on stderr.
 */
void vm_trace_mark(struct vm *vm, const char *what);
void vm_trace_print(struct vm *vm);

/* Fill vm->machine (machine.c): what devices see of this VM. */
void vm_machine_init(struct vm *vm);

/* Build the machine from a validated configuration (config_parse_run()
 * and config_check_files() checked it). */
struct vm *vm_create(const struct vm_config *cfg, GError **err);
/* Tear down; with vcpus_stuck set only what no vCPU thread can touch. */
void vm_destroy(struct vm *vm);

/* Let the vCPUs run (or leave them parked if cfg->paused). */
bool vm_start(struct vm *vm, GError **err);

/* Run the main loop until the VM ends; returns tern's exit status. */
int vm_run_main_loop(struct vm *vm);
/*
 * End every vCPU thread, waiting at most VM_STOP_TIMEOUT_NS; one that does
 * not end sets vcpus_stuck. Main thread; the main loop does it on its way out.
 */
void vm_stop_vcpus(struct vm *vm);

/*
 * After the vCPUs have stopped: let a detached process drop the last
 * reference to the KVM VM, so this process exits without waiting for the
 * kernel's teardown. vm_destroy() is still called as usual.
 */
void vm_detach_teardown(struct vm *vm);

/*
 * Stop: park every vCPU (each completes its last exit first), then quiesce
 * the devices. Main thread only. Fails, leaving the VM running, when a
 * vCPU does not park within VM_PARK_TIMEOUT_NS; a device that still has
 * requests in flight at VM_QUIESCE_TIMEOUT_NS is logged, the stop stands.
 * Does nothing unless running.
 */
bool vm_pause(struct vm *vm, GError **err);
/*
 * Resume devices, then vCPUs: from paused, prelaunch or postmigrate (what
 * QMP cont resumes). In inmigrate it only asks to run once the incoming
 * migration completes, as QEMU does. Otherwise nothing.
 */
void vm_resume(struct vm *vm);

/*
 * For migration (main thread). vm_stop_to(): from running, stop as
 * vm_pause() does (STOP event) into state `to`; from any parked state,
 * only change its name to `to`. *was gets the state before. Fails as
 * vm_pause() does, or when the VM is shutting down.
 */
bool vm_stop_to(struct vm *vm, enum vm_run_state to, enum vm_run_state *was,
		GError **err);
/* Resume from any parked state (RESUME event), e.g. after a failed migration. */
void vm_resume_any(struct vm *vm);
/* Each running vCPU sleeps sleep_ns once, from now (any thread). */
void vm_throttle(struct vm *vm, uint64_t sleep_ns);

/*
 * Reset the machine as a power cycle would, without ending it: devices,
 * the in-kernel irqchip and PIT, vCPUs go back to their initial state, the
 * kernel and boot structures are loaded again, the run state is kept.
 * Main thread only. Fails before touching anything when a vCPU does not
 * park in time (the VM goes on); a failure part-way ends the VM with
 * reason host-error (exit status 4), since it cannot run half reset.
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

/*
 * Put devices, the irqchip, the PIT and the vCPUs back to their state at
 * creation and load the boot images again (the guts of vm_reset()).
 * vCPUs parked; false names the step that failed.
 */
bool vm_reset_machine(struct vm *vm, GError **err);

/*
 * The machine's state without its RAM (vm_state.c), for snapshots and
 * migration. Only while stopped (paused or prelaunch). Saving waits once
 * more for devices with requests in flight; loading checks the state is
 * for a machine built like this one and leaves the VM stopped, resumed by
 * cont; a load that fails part-way resets the machine.
 */
bool vm_state_save(struct vm *vm, struct state_writer *w, GError **err);
bool vm_state_load(struct vm *vm, struct state_reader *r, GError **err);
/* Forget the capture (the VM runs again, or was reset). */
void vm_capture_drop(struct vm *vm);
/*
 * tern's own snapshot of a stopped VM, in this process (QMP
 * x-tern-state-save/-load): the state, then guest RAM, region by region.
 * Snapshots for others to restore are `migrate file:` (migration.h).
 */
bool vm_snapshot_save(struct vm *vm, const char *path, GError **err);
bool vm_snapshot_load(struct vm *vm, const char *path, GError **err);

/* The device list (devices.c). */
bool vm_devices_create(struct vm *vm, GError **err);
void vm_devices_destroy(struct vm *vm);
void vm_devices_reset(struct vm *vm);
bool vm_devices_quiesce(struct vm *vm, uint64_t deadline_ns, GError **err);
void vm_devices_resume(struct vm *vm);
/* Instance index of type (its create() result), or NULL. */
void *vm_device_find(struct vm *vm, const struct device_type *type,
		     unsigned int index);

#endif
