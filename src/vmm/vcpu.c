// SPDX-License-Identifier: MIT
/*
 * vCPU threads. The life of one exit: KVM_RUN returns with run->exit_reason;
 * PIO and MMIO go to the VM's buses (the device handler runs on this thread,
 * after the bus has dropped its lock) and the thread re-enters KVM_RUN,
 * which completes the access (for a read, KVM copies the data we left in
 * the run page into the guest register). A vCPU asked to park first
 * completes its last exit that way, with immediate_exit set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tern/boot.h"
#include "tern/confidential_vm.h"
#include "tern/error.h"
#include "tern/vcpu.h"
#include "tern/vm.h"

static void vcpu_kick_handler(int sig)
{
	/* Nothing to do: the signal only makes KVM_RUN return with EINTR. */
}

void vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIG_VCPU_KICK, &sa, NULL);
}

static void dump_segment(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, "  %-3s sel=0x%04x base=0x%016llx limit=0x%08x type=%u dpl=%u l=%u db=%u p=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type,
		s->dpl, s->l, s->db, s->present);
}

void vcpu_dump(struct vcpu *vcpu, const char *why)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	/* One buffer, written at once, so concurrent dumps do not interleave. */
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return;
	fprintf(f, "tern: vCPU %u: %s\n", vcpu->id, why);
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) == 0) {
		fprintf(f, "  rip=0x%016llx rflags=0x%08llx\n",
			(unsigned long long)r.rip, (unsigned long long)r.rflags);
		fprintf(f, "  rax=0x%016llx rbx=0x%016llx rcx=0x%016llx rdx=0x%016llx\n",
			(unsigned long long)r.rax, (unsigned long long)r.rbx,
			(unsigned long long)r.rcx, (unsigned long long)r.rdx);
		fprintf(f, "  rsi=0x%016llx rdi=0x%016llx rsp=0x%016llx rbp=0x%016llx\n",
			(unsigned long long)r.rsi, (unsigned long long)r.rdi,
			(unsigned long long)r.rsp, (unsigned long long)r.rbp);
		fprintf(f, "  r8 =0x%016llx r9 =0x%016llx r10=0x%016llx r11=0x%016llx\n",
			(unsigned long long)r.r8, (unsigned long long)r.r9,
			(unsigned long long)r.r10, (unsigned long long)r.r11);
		fprintf(f, "  r12=0x%016llx r13=0x%016llx r14=0x%016llx r15=0x%016llx\n",
			(unsigned long long)r.r12, (unsigned long long)r.r13,
			(unsigned long long)r.r14, (unsigned long long)r.r15);
	}
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) == 0) {
		fprintf(f, "  cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx apic_base=0x%llx\n",
			(unsigned long long)s.cr0, (unsigned long long)s.cr2,
			(unsigned long long)s.cr3, (unsigned long long)s.cr4,
			(unsigned long long)s.efer, (unsigned long long)s.apic_base);
		dump_segment(f, "cs", &s.cs);
		dump_segment(f, "ds", &s.ds);
		dump_segment(f, "ss", &s.ss);
		dump_segment(f, "tr", &s.tr);
		fprintf(f, "  gdt base=0x%llx limit=0x%x idt base=0x%llx limit=0x%x\n",
			(unsigned long long)s.gdt.base, s.gdt.limit,
			(unsigned long long)s.idt.base, s.idt.limit);
	}
	fclose(f);
	(void)!write_full(STDERR_FILENO, text, size);
	free(text);
}

static void vcpu_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char why[256];
	int n;

	n = snprintf(why, sizeof(why), "KVM internal error, suberror %u%s",
		     run->internal.suberror,
		     run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			     " (emulation failure)" : "");
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n += snprintf(why + n, sizeof(why) - n, ", instruction bytes:");
		for (unsigned int i = 0; i < run->emulation_failure.insn_size &&
					 i < sizeof(run->emulation_failure.insn_bytes) &&
					 n < (int)sizeof(why) - 4; i++)
			n += snprintf(why + n, sizeof(why) - n, " %02x",
				      run->emulation_failure.insn_bytes[i]);
	} else {
		for (unsigned int i = 0; i < run->internal.ndata && i < 16 &&
					 n < (int)sizeof(why) - 24; i++)
			n += snprintf(why + n, sizeof(why) - n, " data[%u]=0x%llx", i,
				      (unsigned long long)run->internal.data[i]);
	}
	vcpu_dump(vcpu, why);
}

/* Returns false when the thread must stop running the guest. */
static bool vcpu_handle_exit(struct vcpu *vcpu);

/*
 * KVM_RUN failed: an SNP guest touched memory on the side (private or
 * shared) it has not asked for, which KVM reports as KVM_EXIT_MEMORY_FAULT
 * (QEMU converts and runs on, and so does tern). True when handled.
 */
static bool vcpu_memory_fault(struct vcpu *vcpu, int err)
{
	return err == EFAULT &&
	       confidential_vm_exit(vcpu->vm->conf, vcpu->run, err) > 0;
}

/*
 * The VM wants this vCPU parked but its last exit is not finished: re-enter
 * KVM_RUN with immediate_exit set, which completes the instruction and
 * returns EINTR before the guest runs another one (KVM API, "immediate_exit").
 * A string instruction may exit again for its next chunk; that exit is
 * handled and completed the same way. Returns false when the VM must end.
 */
static bool vcpu_complete_exit(struct vcpu *vcpu)
{
	while (vcpu->exit_pending) {
		vcpu->run->immediate_exit = 1;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN) {
				vcpu->exit_pending = false;
				break;
			}
			if (vcpu_memory_fault(vcpu, e))
				continue;
			errno = e;
			tern_log("vCPU %u: KVM_RUN (completing an exit): %s",
				 vcpu->id, g_strerror(errno));
			vcpu_dump(vcpu, "KVM_RUN failed");
			vm_request_shutdown(vcpu->vm, VM_EXIT_GUEST_ERROR, 0);
			return false;
		}
		if (!vcpu_handle_exit(vcpu))
			return false;
	}
	return true;
}

static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	char why[128];

	vcpu->exit_pending = false;
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *p = (uint8_t *)run + run->io.data_offset;

		for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size) {
			if (run->io.direction == KVM_EXIT_IO_OUT) {
				if (!bus_write(&vm->pio, run->io.port, p, run->io.size))
					tern_debug("vCPU %u: unclaimed out 0x%x",
						   vcpu->id, run->io.port);
			} else if (!bus_read(&vm->pio, run->io.port, p, run->io.size)) {
				memset(p, 0xff, run->io.size);
			}
		}
		vcpu->exit_pending = true;
		return true;
	}
	case KVM_EXIT_MMIO:
		if (run->mmio.is_write) {
			if (!bus_write(&vm->mmio, run->mmio.phys_addr, run->mmio.data,
				       run->mmio.len))
				tern_debug("vCPU %u: unclaimed MMIO write 0x%llx",
					   vcpu->id,
					   (unsigned long long)run->mmio.phys_addr);
		} else if (!bus_read(&vm->mmio, run->mmio.phys_addr, run->mmio.data,
				     run->mmio.len)) {
			memset(run->mmio.data, 0xff, run->mmio.len);
		}
		vcpu->exit_pending = true;
		return true;
	case KVM_EXIT_INTR:
		return true;
	case CONF_KVM_EXIT_TDX:
		/*
		 * A TDVMCALL KVM leaves to the VMM (GetQuote, SetupEventNotify-
		 * Interrupt, GetTdVmCallInfo): KVM has set its answer to "not
		 * supported" already, and tern has no quote service.
		 */
		vcpu->exit_pending = true;
		return true;
	case KVM_EXIT_HYPERCALL:
		/* Enabled for SNP page-state changes only; anything else gets
		 * -KVM_ENOSYS. KVM hands the answer over on the next run. */
		(void)!confidential_vm_exit(vm->conf, run, 0);
		vcpu->exit_pending = true;
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_dump(vcpu, "triple fault (KVM_EXIT_SHUTDOWN)");
		vm_request_shutdown(vm, VM_EXIT_GUEST_ERROR, 0);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		if (x86_emulate_fallback(&vcpu->emu, vcpu->fd, vcpu->id, run,
					 &vm->mem))
			return true;
		vcpu_internal_error(vcpu);
		vm_request_shutdown(vm, VM_EXIT_GUEST_ERROR, 0);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_dump(vcpu, why);
		vm_request_shutdown(vm, VM_EXIT_GUEST_ERROR, 0);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_shutdown(vm, VM_EXIT_RESET, 0);
			break;
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_shutdown(vm, VM_EXIT_POWEROFF, 0);
			break;
		default:
			snprintf(why, sizeof(why), "system event %u",
				 run->system_event.type);
			vcpu_dump(vcpu, why);
			vm_request_shutdown(vm, VM_EXIT_GUEST_ERROR, 0);
			break;
		}
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC, which tern always has. */
		vm_request_shutdown(vm, VM_EXIT_POWEROFF, 0);
		return false;
	default:
		snprintf(why, sizeof(why), "unhandled exit reason %u",
			 run->exit_reason);
		vcpu_dump(vcpu, why);
		vm_request_shutdown(vm, VM_EXIT_GUEST_ERROR, 0);
		return false;
	}
}

static void *vcpu_thread(void *opaque)
{
	struct vcpu *vcpu = opaque;
	struct vm *vm = vcpu->vm;
	uint64_t throttle_seen = 0;
	GError *err = NULL;
	sigset_t set;
	int ret;

	/* Host signals belong to the main loop; only the kick comes here. */
	sigfillset(&set);
	sigdelset(&set, SIG_VCPU_KICK);
	/* --sandbox log reports a refused call through SIGSYS (sandbox.h). */
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	/* Each vCPU sets itself up: the machine's vCPUs in parallel. */
	ret = vcpu_setup(vcpu, &err);
	/* Then into the sandbox, before the first KVM_RUN (thread.h). */
	if (!ret) {
		ret = thread_confine_self(&vm->threads, THREAD_ROLE_VCPU);
		if (ret)
			g_set_error(&err, TERN_ERROR, TERN_ERROR_HOST,
				    "vCPU %u: cannot enter the sandbox: %s",
				    vcpu->id, g_strerror(-ret));
	}
	/* Under the lock: query-cpus-fast reads tid from the main thread. */
	pthread_mutex_lock(&vm->state_lock);
	vcpu->tid = gettid();
	vcpu->setup_done = true;
	vcpu->setup_err = err;
	pthread_cond_broadcast(&vm->state_cond);
	if (ret) {
		vcpu->parked = true;
		pthread_mutex_unlock(&vm->state_lock);
		return NULL;
	}
	pthread_mutex_unlock(&vm->state_lock);

	for (;;) {
		pthread_mutex_lock(&vm->state_lock);
		/* Migration's auto-converge: sleep once per throttle tick. */
		if (vm->throttle_gen != throttle_seen) {
			uint64_t until = tern_now_ns() + vm->throttle_sleep_ns;
			struct timespec ts = { .tv_sec = (time_t)(until / 1000000000ULL),
					       .tv_nsec = (long)(until % 1000000000ULL) };

			throttle_seen = vm->throttle_gen;
			while (vm->state == VM_STATE_RUNNING &&
			       tern_now_ns() < until)
				pthread_cond_timedwait(&vm->state_cond,
						       &vm->state_lock, &ts);
		}
		if (vcpu->exit_pending && vm->state != VM_STATE_RUNNING) {
			/* Finish the instruction before parking (or ending). */
			pthread_mutex_unlock(&vm->state_lock);
			if (!vcpu_complete_exit(vcpu))
				break;
			continue;
		}
		while (vm_state_parks(vm->state)) {
			/*
			 * Tell the waiters once, when parking. Every parked vCPU
			 * waits on the same condition: one that broadcast again
			 * on each wake-up woke the others, which woke it, and a
			 * paused VM with 4 vCPUs spent 0.8 CPU on the ping-pong.
			 */
			if (!vcpu->parked) {
				vcpu->parked = true;
				pthread_cond_broadcast(&vm->state_cond);
			}
			pthread_cond_wait(&vm->state_cond, &vm->state_lock);
		}
		vcpu->parked = false;
		if (vm->state == VM_STATE_SHUTDOWN) {
			pthread_mutex_unlock(&vm->state_lock);
			break;
		}
		/*
		 * Cleared under the lock: a pause that comes after this sets
		 * it again before its signal, so KVM_RUN cannot miss it.
		 */
		vcpu->run->immediate_exit = 0;
		pthread_mutex_unlock(&vm->state_lock);

		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			int e = errno;

			if (e == EINTR || e == EAGAIN || vcpu_memory_fault(vcpu, e))
				continue;
			errno = e;
			tern_log("vCPU %u: KVM_RUN: %s", vcpu->id, g_strerror(errno));
			vcpu_dump(vcpu, "KVM_RUN failed");
			vm_request_shutdown(vm, VM_EXIT_GUEST_ERROR, 0);
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}

	pthread_mutex_lock(&vm->state_lock);
	vcpu->parked = true;
	pthread_cond_broadcast(&vm->state_cond);
	pthread_mutex_unlock(&vm->state_lock);
	return NULL;
}

pid_t vcpu_thread_id(struct vcpu *vcpu)
{
	pid_t tid;

	pthread_mutex_lock(&vcpu->vm->state_lock);
	tid = vcpu->tid;
	pthread_mutex_unlock(&vcpu->vm->state_lock);
	return tid;
}

struct vcpu *vcpu_spawn(struct vm *vm, unsigned int id, GError **err)
{
	struct vcpu *vcpu = g_new0(struct vcpu, 1);
	int ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = -1;
	ret = thread_spawn(&vm->threads, &vcpu->thread, THREAD_ROLE_VCPU,
			   vcpu_thread, vcpu, "vcpu%u", id);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "vCPU %u: cannot start its thread: %s", id,
			    g_strerror(-ret));
		g_free(vcpu);
		return NULL;
	}
	vcpu->thread_started = true;
	return vcpu;
}

bool vcpu_wait_ready(struct vcpu *vcpu, GError **err)
{
	struct vm *vm = vcpu->vm;
	bool ok;

	pthread_mutex_lock(&vm->state_lock);
	while (!vcpu->setup_done)
		pthread_cond_wait(&vm->state_cond, &vm->state_lock);
	ok = !vcpu->setup_err;
	if (!ok)
		g_propagate_error(err, g_steal_pointer(&vcpu->setup_err));
	pthread_mutex_unlock(&vm->state_lock);
	return ok;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (!vcpu)
		return;
	vcpu_teardown(vcpu);
	g_clear_error(&vcpu->setup_err);
	g_free(vcpu);
}

void vcpu_kick(struct vcpu *vcpu)
{
	/*
	 * Callers hold vm->state_lock, under which the thread publishes its
	 * set-up: before that it has no run page, and the state says stop.
	 */
	if (vcpu->setup_done && vcpu->run)
		vcpu->run->immediate_exit = 1;
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIG_VCPU_KICK);
}

bool vcpu_join_until(struct vcpu *vcpu, const struct timespec *abstime)
{
	if (!vcpu->thread_started)
		return true;
	if (pthread_timedjoin_np(vcpu->thread, NULL, abstime))
		return false;
	vcpu->thread_started = false;
	return true;
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->thread_started) {
		pthread_join(vcpu->thread, NULL);
		vcpu->thread_started = false;
	}
}
