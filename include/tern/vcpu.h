/* SPDX-License-Identifier: MIT */
/*
 * A vCPU: its fd, its kvm_run page and its thread. The thread loops on
 * KVM_RUN and dispatches exits to the VM's buses; it parks when the VM
 * pauses. A pause is requested by setting immediate_exit and sending
 * SIG_VCPU_KICK, whose handler is empty.
 */
#ifndef TERN_VCPU_H
#define TERN_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>

#include "tern/emulate.h"
#include "tern/util.h"

struct vm;
struct boot_entry;

#define SIG_VCPU_KICK SIGUSR1

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	pid_t tid; /* for query-cpus-fast; guarded by vm->state_lock */
	bool parked; /* guarded by vm->state_lock */
	/*
	 * The last exit (PIO, MMIO) is finished only by the next KVM_RUN: KVM
	 * copies an `in` result into the guest's register and moves RIP past
	 * the instruction then. A vCPU re-enters once with immediate_exit set
	 * before it parks, so a parked vCPU never has a half-done instruction
	 * (a reset or a state capture would act on it). vCPU thread only.
	 */
	bool exit_pending;
	/* The thread's set-up is over (guarded by vm->state_lock). */
	bool setup_done;
	GError *setup_err;
	/* Instructions KVM could not emulate that tern completed (emulate.h). */
	struct x86_emu_vcpu emu;
};

/*
 * Start vCPU id's thread, which creates and configures its KVM vCPU
 * itself (CPUID, MSRs, LAPIC; vCPU 0 and 1 also capture the reset state
 * of the BSP and of an AP) and then parks: a machine's vCPUs set up in
 * parallel. vcpu_wait_ready() waits for that set-up and gives its error.
 */
struct vcpu *vcpu_spawn(struct vm *vm, unsigned int id, GError **err);
bool vcpu_wait_ready(struct vcpu *vcpu, GError **err);
/* After its thread was joined: close the vCPU, free it. */
void vcpu_destroy(struct vcpu *vcpu);

/* vcpu_setup.c: the set-up the thread runs, and its undoing. */
int vcpu_setup(struct vcpu *vcpu, GError **err);
void vcpu_teardown(struct vcpu *vcpu);
/* Free the machine's reset captures (vm->reset_bsp, vm->reset_ap). */
void vcpu_reset_templates_free(struct vm *vm);

/* Program the boot register state (BSP only). */
int vcpu_setup_boot(struct vcpu *vcpu, const struct boot_entry *entry) __must_check;

/*
 * Put the vCPU back to the state it had right after its set-up (the
 * register, FPU, LAPIC, event and MP state a reset gives, from the
 * machine's BSP or AP capture with this vCPU's LAPIC ID). Only while the
 * vCPU is parked. The BSP then needs vcpu_setup_boot().
 */
int vcpu_reset(struct vcpu *vcpu) __must_check;
/* Make the thread leave KVM_RUN promptly (it then re-checks the VM state). */
void vcpu_kick(struct vcpu *vcpu);
/* The host thread id of the vCPU thread (0 before it started). */
pid_t vcpu_thread_id(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
/* Join unless the thread is still running at abstime (CLOCK_REALTIME). */
bool vcpu_join_until(struct vcpu *vcpu, const struct timespec *abstime);

/* Print the exit reason and the registers to stderr. */
void vcpu_dump(struct vcpu *vcpu, const char *why);

/* Install the empty SIG_VCPU_KICK handler once per process. */
void vcpu_signals_init(void);

#endif
