// SPDX-License-Identifier: MIT
/*
 * The VM's run state: starting, pausing (vCPUs parked, then devices
 * quiesced), resuming, resetting and ending it, and the main loop that
 * serves QMP and signals meanwhile. Every wait here has a deadline: the
 * main thread must keep answering whatever the guest does.
 */
#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "tern/boot.h"
#include "tern/confidential_vm.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/pci.h"
#include "tern/vcpu.h"
#include "tern/vm.h"

bool vm_start(struct vm *vm, GError **err)
{
	/* The vCPU threads exist, parked in prelaunch since their set-up. */
	pthread_mutex_lock(&vm->state_lock);
	vm->autostart = !vm->cfg->paused;
	if (vm->cfg->incoming)
		vm->state = VM_STATE_INMIGRATE;
	else
		vm->state = vm->cfg->paused ? VM_STATE_PRELAUNCH : VM_STATE_RUNNING;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	vm_trace_mark(vm, "start");
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

static struct timespec vm_deadline(uint64_t ns)
{
	return (struct timespec){
		.tv_sec = (time_t)(ns / 1000000000ULL),
		.tv_nsec = (long)(ns % 1000000000ULL),
	};
}

/*
 * Kick every vCPU and wait until each is parked (its last exit completed),
 * or until deadline_ns. Returns the number of a vCPU still running, or -1
 * when all are parked. Lock held; the caller has set a parking state.
 */
static int vm_park_all_locked(struct vm *vm, uint64_t deadline_ns)
{
	struct timespec ts = vm_deadline(deadline_ns);

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	/* A vCPU sleeping out a throttle waits on the condition, not in KVM. */
	pthread_cond_broadcast(&vm->state_cond);
	for (;;) {
		int busy = -1;

		for (unsigned int i = 0; i < vm->nr_vcpus && busy < 0; i++)
			if (!vm->vcpus[i]->parked && vm->vcpus[i]->thread_started)
				busy = (int)i;
		if (busy < 0 || vm->state == VM_STATE_SHUTDOWN ||
		    tern_now_ns() >= deadline_ns)
			return busy;
		pthread_cond_timedwait(&vm->state_cond, &vm->state_lock, &ts);
	}
}

/*
 * Take the VM from `from` to PAUSED with every vCPU parked. On a vCPU that
 * does not park in time the state goes back to `from` and err says which.
 */
static bool vm_park(struct vm *vm, enum vm_run_state from, GError **err)
{
	int busy;

	vm->state = VM_STATE_PAUSED;
	busy = vm_park_all_locked(vm, tern_now_ns() + VM_PARK_TIMEOUT_NS);
	if (vm->state == VM_STATE_SHUTDOWN) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is shutting down");
		return false;
	}
	if (busy >= 0) {
		vm->state = from;
		pthread_cond_broadcast(&vm->state_cond);
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU %d did not stop within %llu ms (busy in a device, or the host gave it no CPU); nothing was done",
			    busy, VM_PARK_TIMEOUT_NS / 1000000);
		return false;
	}
	return true;
}

/*
 * kvmclock stands still while the VM is stopped. KVM's clock runs on with
 * the host's, so a guest stopped for a minute (or restored and left
 * paused) would see a minute pass between two of its instructions: a
 * watchdog's stall, a timeout that fired. QEMU's kvmclock device holds the
 * clock across a stop the same way. The TSC and the timers counted from it
 * move on; what tells time in a KVM guest is kvmclock.
 */
static void vm_clock_hold(struct vm *vm)
{
	struct kvm_clock_data clock;

	if (vm->clock_held)
		return;
	memset(&clock, 0, sizeof(clock));
	/* Without it (a VM type without kvmclock) the clock just runs on. */
	if (ioctl(vm->kvm.vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return;
	vm->held_clock = clock.clock;
	vm->clock_held = true;
}

static void vm_clock_release(struct vm *vm)
{
	struct kvm_clock_data clock;

	if (!vm->clock_held)
		return;
	vm->clock_held = false;
	memset(&clock, 0, sizeof(clock));
	clock.clock = vm->held_clock;
	if (ioctl(vm->kvm.vm_fd, KVM_SET_CLOCK, &clock) < 0)
		tern_warn("cont: KVM_SET_CLOCK: %s; the guest's clock jumps by the stop",
			  g_strerror(errno));
}

bool vm_pause(struct vm *vm, GError **err)
{
	g_autoptr(GError) qerr = NULL;

	pthread_mutex_lock(&vm->state_lock);
	if (vm->state != VM_STATE_RUNNING) {
		pthread_mutex_unlock(&vm->state_lock);
		return true;
	}
	if (!vm_park(vm, VM_STATE_RUNNING, err)) {
		pthread_mutex_unlock(&vm->state_lock);
		return false;
	}
	pthread_mutex_unlock(&vm->state_lock);
	vm_clock_hold(vm);
	/* vCPUs first: none of them can poke a device being quiesced. */
	if (!vm_devices_quiesce(vm, tern_now_ns() + VM_QUIESCE_TIMEOUT_NS, &qerr))
		tern_warn("stop: %s; they complete when the VM continues",
			  qerr->message);
	vm_emit(vm, VM_EVENT_STOP, false, NULL);
	return true;
}

/* Resume from a parked state; the caller checked which. */
static void vm_resume_parked(struct vm *vm)
{
	g_autoptr(GError) err = NULL;

	/* A confidential guest left in launch-secret (--paused) is finished
	 * before its first KVM_RUN; QEMU exits when that fails, so do we. */
	if (!confidential_vm_ready(vm->conf, &err)) {
		fprintf(stderr, "tern: %s\n", err->message);
		vm_request_shutdown(vm, VM_EXIT_HOST_ERROR, 0);
		return;
	}
	/* The vCPUs and clocks run on from here: a capture is stale. */
	vm_capture_drop(vm);
	vm_clock_release(vm);
	/* Devices first: a running vCPU may kick them at once. */
	vm_devices_resume(vm);
	pthread_mutex_lock(&vm->state_lock);
	vm->state = VM_STATE_RUNNING;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	vm_emit(vm, VM_EVENT_RESUME, false, NULL);
}

void vm_resume(struct vm *vm)
{
	bool resume;

	pthread_mutex_lock(&vm->state_lock);
	resume = vm->state == VM_STATE_PAUSED ||
		 vm->state == VM_STATE_PRELAUNCH ||
		 vm->state == VM_STATE_POSTMIGRATE;
	/* QEMU's cont during inmigrate: run when the migration completes. */
	if (vm->state == VM_STATE_INMIGRATE)
		vm->autostart = true;
	pthread_mutex_unlock(&vm->state_lock);
	if (resume)
		vm_resume_parked(vm);
}

void vm_resume_any(struct vm *vm)
{
	bool resume;

	pthread_mutex_lock(&vm->state_lock);
	resume = vm_state_parks(vm->state);
	pthread_mutex_unlock(&vm->state_lock);
	if (resume)
		vm_resume_parked(vm);
}

bool vm_stop_to(struct vm *vm, enum vm_run_state to, enum vm_run_state *was,
		GError **err)
{
	pthread_mutex_lock(&vm->state_lock);
	*was = vm->state;
	if (vm->state == VM_STATE_SHUTDOWN) {
		pthread_mutex_unlock(&vm->state_lock);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is shutting down");
		return false;
	}
	if (vm->state != VM_STATE_RUNNING) {
		vm->state = to;
		pthread_cond_broadcast(&vm->state_cond);
		pthread_mutex_unlock(&vm->state_lock);
		return true;
	}
	pthread_mutex_unlock(&vm->state_lock);
	if (!vm_pause(vm, err))
		return false;
	pthread_mutex_lock(&vm->state_lock);
	if (vm->state == VM_STATE_PAUSED)
		vm->state = to;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	return true;
}

void vm_throttle(struct vm *vm, uint64_t sleep_ns)
{
	pthread_mutex_lock(&vm->state_lock);
	if (vm->state == VM_STATE_RUNNING) {
		vm->throttle_sleep_ns = sleep_ns;
		vm->throttle_gen++;
		/* A vCPU in the guest sees it at its next exit: make one. */
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(vm->vcpus[i]);
	}
	pthread_mutex_unlock(&vm->state_lock);
}

/* The steps of a reset after the vCPUs parked; NULL, or what failed. */
static const char *vm_reset_steps(struct vm *vm, int *ret, GError **err)
{
	vm_capture_drop(vm);
	/* The boot images go back without dirty marks: migration resends all. */
	__atomic_add_fetch(&vm->reset_count, 1, __ATOMIC_RELEASE);
	/* Devices first: their threads stop and their INTx lines drop. */
	pci_host_reset(vm->pci);
	vm_devices_reset(vm);
	for (unsigned int i = 0; i < G_N_ELEMENTS(vm->irqchip_reset); i++)
		if (ioctl(vm->kvm.vm_fd, KVM_SET_IRQCHIP, &vm->irqchip_reset[i]) < 0)
			goto err_errno_irqchip;
	if (ioctl(vm->kvm.vm_fd, KVM_SET_PIT2, &vm->pit_reset) < 0) {
		*ret = -errno;
		return "KVM_SET_PIT2";
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		*ret = vcpu_reset(vm->vcpus[i]);
		if (*ret)
			return "vCPU reset";
	}
	/* A flash image is read-only and starts at the reset vector again. */
	if (vm->flash.hva)
		return NULL;
	if (!x86_boot_load(&vm->mem, &vm->boot, &vm->boot_entry, err))
		return "loading the kernel";
	*ret = vcpu_setup_boot(vm->vcpus[0], &vm->boot_entry);
	if (*ret)
		return "boot registers";
	return NULL;
err_errno_irqchip:
	*ret = -errno;
	return "KVM_SET_IRQCHIP";
}

bool vm_reset_machine(struct vm *vm, GError **err)
{
	g_autoptr(GError) step_err = NULL;
	const char *failed;
	int ret = 0;

	failed = vm_reset_steps(vm, &ret, &step_err);
	if (failed)
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "system reset failed at %s: %s", failed,
			    step_err ? step_err->message : g_strerror(-ret));
	return !failed;
}

bool vm_reset(struct vm *vm, GError **err)
{
	enum vm_run_state was;

	/* An SEV-ES vCPU's registers are the guest's: QEMU shuts down. */
	if (!confidential_vm_resettable(vm->conf)) {
		tern_log("cpus are not resettable, terminating");
		vm_request_shutdown(vm, VM_EXIT_HOST_QUIT, 0);
		return true;
	}

	pthread_mutex_lock(&vm->state_lock);
	was = vm->state;
	if (was == VM_STATE_SHUTDOWN) {
		pthread_mutex_unlock(&vm->state_lock);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is shutting down");
		return false;
	}
	/* Its RAM and state are a migration's, being received or sent. */
	if (was == VM_STATE_INMIGRATE || was == VM_STATE_FINISH_MIGRATE) {
		pthread_mutex_unlock(&vm->state_lock);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "the VM is %s: a migration is in progress",
			    vm_run_state_name(was));
		return false;
	}
	/* Parked in PAUSED without an event: a reset is not a stop. */
	if (!vm_park(vm, was, err)) {
		pthread_mutex_unlock(&vm->state_lock);
		return false;
	}
	pthread_mutex_unlock(&vm->state_lock);

	if (!vm_reset_machine(vm, err)) {
		/* Half reset cannot run: end it, with the SHUTDOWN event. */
		g_prefix_error(err, "the VM is shut down: ");
		tern_log("%s", (*err)->message);
		vm_request_shutdown(vm, VM_EXIT_HOST_ERROR, 0);
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
	efd_signal(vm->shutdown_eventfd);
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
	case VM_STATE_INMIGRATE:
		return "inmigrate";
	case VM_STATE_FINISH_MIGRATE:
		return "finish-migrate";
	case VM_STATE_POSTMIGRATE:
		return "postmigrate";
	}
	return "unknown";
}

/* QEMU's ShutdownCause names, so QMP clients read the same reasons. */
static const char *vm_shutdown_reason(enum vm_exit_reason r, bool *guest)
{
	*guest = r != VM_EXIT_HOST_QUIT && r != VM_EXIT_HOST_SIGNAL &&
		 r != VM_EXIT_HOST_ERROR;
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
	case VM_EXIT_HOST_ERROR:
		return "host-error";
	default:
		return "none";
	}
}

int vm_exit_status(const struct vm *vm)
{
	switch (vm->exit_reason) {
	case VM_EXIT_TEST_PORT:
		return ((vm->exit_code << 1) | 1) & 0xff;
	case VM_EXIT_GUEST_ERROR:
	case VM_EXIT_HOST_ERROR:
		return TERN_EXIT_GUEST_ERROR;
	default:
		return 0;
	}
}

/*
 * Stop and join every vCPU thread, waiting at most VM_STOP_TIMEOUT_NS in
 * all. A thread that does not end (stuck in a device handler) is left; the
 * VM is then marked vcpus_stuck and not torn down, and tern exits anyway.
 */
void vm_stop_vcpus(struct vm *vm)
{
	struct timespec ts = { 0 };

	pthread_mutex_lock(&vm->state_lock);
	vm->state = VM_STATE_SHUTDOWN;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	/* pthread_timedjoin_np takes CLOCK_REALTIME. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += VM_STOP_TIMEOUT_NS / 1000000000ULL;
	ts.tv_nsec += VM_STOP_TIMEOUT_NS % 1000000000ULL;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vcpu_join_until(vm->vcpus[i], &ts))
			continue;
		tern_warn("vCPU %u did not stop within %llu ms; tern exits without tearing the VM down",
			  i, VM_STOP_TIMEOUT_NS / 1000000);
		vm->vcpus_stuck = true;
	}
}

static gboolean vm_shutdown_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct vm *vm = opaque;
	const char *reason;
	bool guest;

	efd_drain(fd);
	vm_trace_mark(vm, "guest-ended");
	reason = vm_shutdown_reason(vm->exit_reason, &guest);
	vm_emit(vm, VM_EVENT_SHUTDOWN, guest, reason);
	g_main_loop_quit(vm->loop);
	return G_SOURCE_REMOVE;
}

/* SIGINT, SIGTERM, SIGHUP, read from the signalfd. */
static gboolean vm_signal(gint fd, GIOCondition cond, gpointer opaque)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		vm_request_shutdown(opaque, VM_EXIT_HOST_SIGNAL, 0);
	return G_SOURCE_CONTINUE;
}

void vm_host_signals(sigset_t *set)
{
	struct sigaction hup;

	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	/* A blocked signal is queued even when ignored: leave nohup's be. */
	if (sigaction(SIGHUP, NULL, &hup) < 0 || hup.sa_handler != SIG_IGN)
		sigaddset(set, SIGHUP);
}

int vm_run_main_loop(struct vm *vm)
{
	guint sources[2] = { 0, 0 };
	sigset_t host;
	int sfd;

	vm->loop = g_main_loop_new(NULL, FALSE);
	sources[0] = g_unix_fd_add(vm->shutdown_eventfd, G_IO_IN,
				   vm_shutdown_ready, vm);
	/*
	 * main() blocked these before building anything, so every thread
	 * has them blocked; they stay so and are read from a signalfd. A
	 * signal that came during start-up is pending and ends the VM like
	 * any other, during teardown one waits, and no helper thread of
	 * glib's (g_unix_signal_add() starts one) runs outside the sandbox.
	 */
	host = vm->cfg->host_signals;
	sfd = signalfd(-1, &host, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd >= 0)
		sources[1] = g_unix_fd_add(sfd, G_IO_IN, vm_signal, vm);
	else
		tern_warn("signalfd: %s; SIGINT, SIGTERM and SIGHUP wait until the guest ends",
			  g_strerror(errno));

	/* Runs until the shutdown eventfd fires, even for a guest that ended
	 * before the loop started: the eventfd stays readable. */
	g_main_loop_run(vm->loop);

	if (sources[1])
		g_source_remove(sources[1]);
	if (sfd >= 0)
		close(sfd);
	vm_stop_vcpus(vm);
	vm_trace_mark(vm, "vcpus-stopped");
	g_main_loop_unref(vm->loop);
	vm->loop = NULL;
	return vm_exit_status(vm);
}

void vm_trace_mark(struct vm *vm, const char *what)
{
	if (!vm->cfg->trace_boot || vm->trace_len >= VM_TRACE_MAX)
		return;
	vm->trace[vm->trace_len].what = what;
	vm->trace[vm->trace_len].ns = tern_now_ns();
	vm->trace_len++;
}

void vm_trace_print(struct vm *vm)
{
	char line[512];
	int n = 0;

	if (!vm->cfg->trace_boot)
		return;
	n = snprintf(line, sizeof(line), "boot trace, ms since main:");
	for (unsigned int i = 0; i < vm->trace_len && n < (int)sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, " %s %.3f",
			      vm->trace[i].what,
			      (vm->trace[i].ns - vm->cfg->start_ns) / 1e6);
	tern_log("%s", line);
}
