// SPDX-License-Identifier: MIT
/*
 * What each thread role may do once set-up is done: one list per role, every
 * allowed system call with who needs it, read from the top. A role's filter
 * is the common list, then its own list and its ioctl requests; anything
 * else kills tern (--sandbox on). docs/security.md explains the roles, the
 * table of what each one needs was traced with `strace -f` over the
 * integration tests and is kept honest by running them all with the
 * sandbox on. Adding a feature that needs a new call: run it with
 * --sandbox log, add the lines it reports here with their reason.
 *
 * Nothing here may open a path, create a thread or an io_uring ring, or run
 * a program, except the main thread's openat() for the files QMP clients
 * name (x-tern-state-save, x-tern-state-load, `migrate file:`,
 * `migrate-incoming file:`). Migration's threads are made at set-up and
 * wait for work (src/migration/worker.c); they open no path.
 */
#include <errno.h>
#include <liburing.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/psp-sev.h>
#include <linux/userfaultfd.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sandbox-internal.h"
#include "tern/confidential_kvm.h"
#include "tern/vcpu.h"
#include "tern/vfio-uapi.h"

#define ALLOW(sys, why_)                                                       \
	{ .nr = SCMP_SYS(sys), .name = #sys, .cond = SANDBOX_ANY, .why = why_ }
#define ALLOW_IF(sys, cond_, why_)                                             \
	{ .nr = SCMP_SYS(sys), .name = #sys, .cond = cond_, .why = why_ }
#define ALLOW_ARG(sys, arg_, value_, why_)                                     \
	{ .nr = SCMP_SYS(sys), .name = #sys, .cond = SANDBOX_ARG_EQ,            \
	  .arg = arg_, .value = value_, .why = why_ }
#define REFUSE(sys, cond_, errno_, why_)                                       \
	{ .nr = SCMP_SYS(sys), .name = #sys, .cond = cond_, .fail = errno_,     \
	  .why = why_ }
#define IOCTL(req, why_) { .request = req, .name = #req, .why = why_ }

#define ROLE(rules_, ioctls_)                                                  \
	{ .rules = rules_, .nr_rules = G_N_ELEMENTS(rules_), .ioctls = ioctls_, \
	  .nr_ioctls = G_N_ELEMENTS(ioctls_) }
#define ROLE_NO_IOCTL(rules_)                                                  \
	{ .rules = rules_, .nr_rules = G_N_ELEMENTS(rules_) }

/*
 * vhost=on: the kernel's vhost-net takes the data queues over when a driver
 * starts the NIC (vCPU) or the VM resumes or resets (main), net-vhost.c.
 * Not exercised on the hosts tern is tested on: no /dev/vhost-net.
 */
#define VHOST_NET_HANDOVER_IOCTLS \
	IOCTL(VHOST_SET_FEATURES, "vhost=on: the features the driver negotiated"), \
	IOCTL(VHOST_SET_MEM_TABLE, "vhost=on: guest RAM for the vhost worker"), \
	IOCTL(VHOST_SET_LOG_BASE, "vhost=on: dirty logging"), \
	IOCTL(VHOST_SET_VRING_NUM, "vhost=on: a ring handed over"), \
	IOCTL(VHOST_SET_VRING_ADDR, "vhost=on: a ring handed over"), \
	IOCTL(VHOST_SET_VRING_BASE, "vhost=on: a ring handed over"), \
	IOCTL(VHOST_SET_VRING_KICK, "vhost=on: a ring handed over"), \
	IOCTL(VHOST_SET_VRING_CALL, "vhost=on: a ring handed over"), \
	IOCTL(VHOST_GET_VRING_BASE, "vhost=on: a ring taken back (reset, stop)"), \
	IOCTL(VHOST_NET_SET_BACKEND, "vhost=on: the tap attached to or detached from a ring")

/*
 * --device vfio=: a passed-through function (docs/vfio.md). The guest turns
 * MSI-X on or off (vCPU) or the VM resets (main): VFIO_DEVICE_SET_IRQS; a
 * BAR's mmap'ed area follows the guest's BAR as a KVM slot. Traced on the
 * VFIO test double (tern-vfio-double); not exercised on real hardware.
 */
#define VFIO_PASSTHROUGH_IOCTLS \
	IOCTL(VFIO_DEVICE_SET_IRQS, "vfio: MSI-X on or off, INTx re-armed"), \
	IOCTL(KVM_SET_USER_MEMORY_REGION, "vfio: a passed-through BAR's mmap'ed area follows the guest's BAR")

/* ---- every role ---- */

static const struct sandbox_rule common_rules[] = {
	ALLOW(futex, "locks and condition variables: every structure threads share"),
	ALLOW(read, "eventfds drained (kicks, completions, wake-ups)"),
	ALLOW(write, "eventfds signalled; log lines on stderr"),
	ALLOW(exit, "a thread ends, when its owner stops it at teardown"),
	ALLOW(exit_group, "the process ends"),
	ALLOW(rt_sigreturn, "return from a signal handler (the vCPU kick, --sandbox log's report)"),
	ALLOW(rt_sigprocmask, "pthread_sigmask(): a vCPU opens its kick signal; glibc around a thread's end"),
	ALLOW(restart_syscall, "a call the vCPU kick interrupted resumes"),
	ALLOW_IF(mmap, SANDBOX_NO_EXEC, "malloc: new arenas and large blocks, never executable"),
	ALLOW_IF(mprotect, SANDBOX_NO_EXEC, "malloc: an arena grows, never executable"),
	ALLOW(munmap, "free() of large blocks; a finished thread's stack"),
	ALLOW(mremap, "realloc() of large blocks (glib arrays)"),
	ALLOW(madvise, "glibc releases a finished thread's stack; malloc trims"),
	ALLOW(brk, "malloc's main arena, which any thread may use"),
	ALLOW(clock_gettime, "deadlines and time stamps when the vDSO cannot answer"),
	ALLOW(clock_nanosleep, "back-off sleeps of the block engines and queues"),
	ALLOW(sched_yield, "io_uring: a full submission ring waits for room"),
	ALLOW(getpid, "pthread_kill() and abort() name the process"),
	ALLOW(gettid, "log lines and the thread registry name the thread"),
	ALLOW_ARG(tgkill, 2, SIG_VCPU_KICK,
		  "kick a vCPU out of KVM_RUN: pause, reset and shutdown, from any thread"),
	ALLOW_ARG(tgkill, 2, SIGABRT, "abort() after a failed assertion"),
	REFUSE(clone3, SANDBOX_ANY, ENOSYS,
	       "glibc tries clone3 first; seccomp cannot read its flags in memory, so glibc falls back to clone, which is checked"),
	REFUSE(clone, SANDBOX_THREAD, EPERM,
	       "no thread is made after set-up (it would run under its maker's filter); blk_queue_abandon() reports the failure"),
	REFUSE(io_uring_setup, SANDBOX_ANY, EPERM,
	       "a ring made after set-up would carry no IORING_REGISTER_RESTRICTIONS; blkvq.c abandon() reports the failure"),
};

/* ---- main: the main loop, QMP, reset, state save/load, teardown ---- */

static const struct sandbox_rule main_rules[] = {
	ALLOW(poll, "the glib main loop waits for its sources"),
	ALLOW(ppoll, "the glib main loop waits for its sources"),
	ALLOW(signalfd4, "the main loop reads SIGINT, SIGTERM and SIGHUP from a signalfd"),
	ALLOW(accept4, "a QMP client connects"),
	ALLOW(recvfrom, "QMP input (recv)"),
	ALLOW(sendto, "QMP replies and events (send)"),
	ALLOW(close, "a QMP client leaves; state files; teardown closes everything"),
	ALLOW_ARG(io_uring_register, 1, IORING_UNREGISTER_FILES,
		  "teardown: virtio-net lets go of its tap at once (a ring's own teardown is asynchronous and would keep the tap busy after exit); its rings allow no other register call"),
	ALLOW(openat, "x-tern-state-save, x-tern-state-load, migrate file: and migrate-incoming file: open the file a QMP client names"),
	ALLOW(newfstatat, "state files; the QMP socket is checked before its removal at exit"),
	ALLOW(fstat, "state files, snapshots"),
	ALLOW(lseek, "state files"),
	ALLOW(pread64, "x-tern-state-load reads the state and RAM from its file; migrate-incoming file: checks a snapshot"),
	ALLOW(unlink, "the QMP sockets and a unix: migration socket are removed at exit; a failed snapshot's temporary file"),
	ALLOW(rename, "migrate file: puts the complete snapshot in place of its temporary file"),
	ALLOW(copy_file_range, "migrate-incoming file: copies a snapshot's RAM into shared=on memory"),
	ALLOW_ARG(socket, 0, AF_INET, "migrate-incoming and migrate-recover listen on tcp:; migrate tcp:HOST asks DNS servers"),
	ALLOW_ARG(socket, 0, AF_INET6, "migrate-incoming and migrate-recover listen on tcp:; migrate tcp:HOST asks DNS servers"),
	ALLOW_ARG(socket, 0, AF_UNIX, "migrate-incoming and migrate-recover listen on unix:; migrate tcp:HOST asks nscd"),
	ALLOW(setsockopt, "migrate-incoming and migrate-recover: SO_REUSEADDR on the listening socket"),
	ALLOW(bind, "migrate-incoming and migrate-recover listen for a migration stream"),
	ALLOW(listen, "migrate-incoming and migrate-recover listen for a migration stream"),
	ALLOW(shutdown, "migrate_cancel and migrate-pause interrupt a migration's connection"),
	ALLOW(connect, "migrate tcp:HOST resolves HOST here (glibc asks nscd, then DNS servers)"),
	ALLOW(uname, "migrate tcp:HOST: glibc's resolver reads the host's name"),
	ALLOW(fdatasync, "the migration's switch-over flushes the disks before the destination takes them"),
	ALLOW(pwrite64, "vfio: a reset writes the passed-through function's command register"),
	ALLOW(fcntl, "image locks released at teardown (F_OFD_SETLK)"),
	ALLOW(epoll_ctl, "system_reset and teardown take device fds off their I/O threads"),
	ALLOW(timerfd_settime, "QMP guest-stats-polling-interval and a balloon reset rearm virtio-balloon's statistics timer"),
	ALLOW(getrandom, "json-c seeds its hash tables (QMP)"),
	ALLOW(io_uring_enter, "stop, system_reset and teardown drain a disk's requests (engine=io_uring)"),
	ALLOW(io_getevents, "stop, system_reset and teardown drain a disk's requests (engine=aio)"),
	ALLOW(io_destroy, "teardown of a disk queue (engine=aio)"),
	ALLOW(io_setup, "blkvq.c abandon(): a reset that gave up on hung requests makes its queue anew (engine=aio)"),
	ALLOW(eventfd2, "blkvq.c abandon(): the new queue's completion eventfd"),
	ALLOW_IF(clone, SANDBOX_FORK, "vm_detach_teardown(): the reaper process that drops the last KVM reference"),
	ALLOW(pipe2, "vm_detach_teardown(): the reaper waits on a pipe for tern's exit"),
	ALLOW(set_robust_list, "vm_detach_teardown(): glibc's fork() in the reaper"),
	ALLOW(close_range, "vm_detach_teardown(): the reaper keeps only the KVM descriptors"),
	ALLOW(sendmsg, "vhost-user (src/vhost-user/): stop, system_reset and teardown take the rings back from the back-end (GET_VRING_BASE)"),
	ALLOW(recvmsg, "vhost-user: the back-end's replies to those requests"),
	ALLOW(shutdown, "vhost-user: a back-end that failed a request is cut off; its I/O thread reconnects"),
	ALLOW_IF(ioctl, SANDBOX_IOCTL, "the requests below"),
};

static const struct sandbox_ioctl main_ioctls[] = {
	IOCTL(TCGETS, "the terminal is put back at exit (tcsetattr checks it)"),
	IOCTL(TCSETS, "the terminal is put back at exit"),
	/* system_reset (vm_reset), vcpu_reset(), vcpu_setup_boot() */
	IOCTL(KVM_SET_IRQCHIP, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_PIT2, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_MSRS, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_SREGS, "system_reset, x-tern-state-load"),
	IOCTL(KVM_GET_SREGS, "system_reset (boot registers), x-tern-state-save"),
	IOCTL(KVM_SET_REGS, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_FPU, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_LAPIC, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_VCPU_EVENTS, "system_reset, x-tern-state-load"),
	IOCTL(KVM_SET_MP_STATE, "system_reset, x-tern-state-load"),
	/* PCI and virtio resets, state load of the devices */
	IOCTL(KVM_IOEVENTFD, "system_reset and teardown remove the notify ioeventfds"),
	IOCTL(KVM_IRQFD, "system_reset and teardown unbind MSI-X vectors"),
	IOCTL(KVM_SET_GSI_ROUTING, "system_reset and state load rewrite MSI routes"),
	IOCTL(KVM_IRQ_LINE, "system_reset lowers INTx lines"),
	/* --confidential sev|sev-es --paused (docs/confidential.md) */
	IOCTL(KVM_MEMORY_ENCRYPT_OP, "SEV LAUNCH_SECRET (QMP) and LAUNCH_FINISH (the first cont)"),
	IOCTL(SEV_ISSUE_CMD, "query-sev-capabilities: PDH_CERT_EXPORT and GET_ID2 on the /dev/sev kept open since the launch"),
	/* x-tern-state-save (vcpu_state_get, platform_state_get) */
	IOCTL(KVM_CHECK_EXTENSION, "the first state save asks which state KVM has"),
	IOCTL(KVM_GET_MSR_INDEX_LIST, "the first state save lists the MSRs KVM has"),
	IOCTL(KVM_GET_MP_STATE, "x-tern-state-save"),
	IOCTL(KVM_GET_REGS, "x-tern-state-save"),
	IOCTL(KVM_GET_SREGS2, "x-tern-state-save"),
	IOCTL(KVM_GET_XSAVE, "x-tern-state-save"),
	IOCTL(KVM_GET_XSAVE2, "x-tern-state-save"),
	IOCTL(KVM_GET_FPU, "x-tern-state-save"),
	IOCTL(KVM_GET_XCRS, "x-tern-state-save"),
	IOCTL(KVM_GET_MSRS, "x-tern-state-save"),
	IOCTL(KVM_GET_LAPIC, "x-tern-state-save"),
	IOCTL(KVM_GET_DEBUGREGS, "x-tern-state-save"),
	IOCTL(KVM_GET_VCPU_EVENTS, "x-tern-state-save"),
	IOCTL(KVM_GET_IRQCHIP, "x-tern-state-save"),
	IOCTL(KVM_GET_PIT2, "x-tern-state-save"),
	IOCTL(KVM_GET_CLOCK, "stop holds kvmclock; x-tern-state-save"),
	/* x-tern-state-load (vcpu_state_set, platform_state_set) */
	IOCTL(KVM_SET_SREGS2, "x-tern-state-load"),
	IOCTL(KVM_SET_XSAVE, "x-tern-state-load"),
	IOCTL(KVM_SET_XCRS, "x-tern-state-load"),
	IOCTL(KVM_SET_DEBUGREGS, "x-tern-state-load"),
	IOCTL(KVM_SET_CLOCK, "cont puts the held kvmclock back; x-tern-state-load"),
	/* virtio-net on a tap (net-ctrl.c, tap.c) */
	IOCTL(TUNSETOFFLOAD, "a NIC reset or state load puts the tap's offloads back"),
	IOCTL(TUNSETQUEUE, "a NIC reset or state load re-attaches its queue pairs"),
	VHOST_NET_HANDOVER_IOCTLS,
	VFIO_PASSTHROUGH_IOCTLS,
	IOCTL(VFIO_DEVICE_RESET, "vfio: system_reset resets the passed-through function"),
	/* vfio: a function without FLR gets a bus/slot reset at system_reset (reset.c) */
	IOCTL(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, "vfio: which functions a hot reset affects"),
	IOCTL(VFIO_DEVICE_PCI_HOT_RESET, "vfio: system_reset resets a function without FLR by its bus"),
	/* vfio teardown: DMA unmapped, the IOMMU context released */
	IOCTL(VFIO_IOMMU_UNMAP_DMA, "vfio teardown (container/group)"),
	IOCTL(VFIO_GROUP_UNSET_CONTAINER, "vfio teardown (container/group)"),
	IOCTL(IOMMU_IOAS_UNMAP, "vfio teardown (iommufd)"),
	IOCTL(IOMMU_DESTROY, "vfio teardown (iommufd)"),
};

/* ---- vcpu: KVM_RUN, and the device handlers a guest exit runs ---- */

static const struct sandbox_rule vcpu_rules[] = {
	ALLOW_IF(ioctl, SANDBOX_IOCTL, "the requests below"),
	ALLOW(epoll_ctl, "a virtio driver's DRIVER_OK adds its queues to the device's I/O thread; a reset removes them"),
	ALLOW(poll, "MSI-X pending bits read an eventfd; a device reset waits for a disk's requests"),
	ALLOW(io_uring_enter, "a device reset drains a disk's requests (engine=io_uring)"),
	ALLOW(io_getevents, "a device reset drains a disk's requests (engine=aio)"),
	ALLOW(io_setup, "blkvq.c abandon(): a reset that gave up on hung requests makes its queue anew (engine=aio)"),
	ALLOW(eventfd2, "blkvq.c abandon(): the new queue's completion eventfd"),
	ALLOW(pread64, "vfio: a trapped BAR or config read of a passed-through function"),
	ALLOW(pwrite64, "vfio: a trapped BAR or config write of a passed-through function"),
	ALLOW(sendmsg, "vhost-user (src/vhost-user/): a driver's DRIVER_OK hands the rings to the back-end (with kick and call fds), its reset takes them back"),
	ALLOW(recvmsg, "vhost-user: the back-end's replies, each waited for with poll() and a time-out"),
	ALLOW(shutdown, "vhost-user: a back-end that failed a request is cut off; its I/O thread reconnects"),
	ALLOW(fallocate, "SEV-SNP: a page made shared leaves its guest_memfd (a hole is punched), as does a shared=on page made private"),
};

static const struct sandbox_ioctl vcpu_ioctls[] = {
	IOCTL(KVM_RUN, "runs the guest"),
	IOCTL(CONF_KVM_SET_MEMORY_ATTRIBUTES, "SEV-SNP: the guest's page-state changes and private-memory faults make memory private or shared"),
	IOCTL(KVM_IOEVENTFD, "the guest moves or disables a virtio BAR: notify ioeventfds follow"),
	IOCTL(KVM_IRQFD, "the guest masks or unmasks an MSI-X vector"),
	IOCTL(KVM_SET_GSI_ROUTING, "the guest programs an MSI-X message"),
	IOCTL(KVM_IRQ_LINE, "INTx and ISA interrupts raised or lowered by a device register access"),
	IOCTL(KVM_GET_REGS, "the register dump after a guest crash"),
	IOCTL(KVM_GET_SREGS, "the register dump after a guest crash; the emulation fallback reads the faulting state"),
	/* The emulation-failure fallback (emulate_kvm.c, docs/linux-guest.md) */
	IOCTL(KVM_GET_VCPU_EVENTS, "emulation fallback: pending events before completing an instruction"),
	IOCTL(KVM_GET_FPU, "emulation fallback: fwait reads the x87 status word; MXCSR without XSAVE"),
	IOCTL(KVM_SET_FPU, "emulation fallback: MXCSR after an ldmxcsr, without XSAVE"),
	IOCTL(KVM_GET_XSAVE, "emulation fallback: ldmxcsr/stmxcsr read MXCSR"),
	IOCTL(KVM_SET_XSAVE, "emulation fallback: MXCSR after an ldmxcsr"),
	IOCTL(KVM_GET_CPUID2, "emulation fallback: stac/clac/popcnt check the guest's CPUID (once)"),
	IOCTL(KVM_SET_REGS, "emulation fallback: RIP and registers after the completed instruction"),
	IOCTL(KVM_SET_SREGS, "emulation fallback: CS/SS after an IRET"),
	IOCTL(KVM_SET_VCPU_EVENTS, "emulation fallback: the exception an instruction raises (#BP, #PF, #GP, #UD, #NM, #MF)"),
	IOCTL(TUNSETOFFLOAD, "a virtio-net driver's DRIVER_OK applies the offloads it negotiated to the tap"),
	VHOST_NET_HANDOVER_IOCTLS,
	VFIO_PASSTHROUGH_IOCTLS,
};

/* ---- device-io: a device's I/O thread (iothread.h) ---- */

static const struct sandbox_rule device_io_rules[] = {
	ALLOW(epoll_wait, "the I/O thread waits for its fds"),
	ALLOW(epoll_ctl, "callbacks pause or remove their own fds"),
	ALLOW(poll, "efd_pending(): is an eventfd readable"),
	ALLOW(getrandom, "virtio-rng fills the guest's buffers"),
	ALLOW(timerfd_settime, "virtio-balloon rearms its statistics polling timer"),
	ALLOW(io_uring_enter, "virtio-blk submits to its ring (engine=io_uring); virtio-net sends a batch of frames"),
	ALLOW(io_submit, "virtio-blk submits (engine=aio)"),
	ALLOW(io_getevents, "virtio-blk reaps completions (engine=aio)"),
	ALLOW(preadv2, "engine=threads: a cached read done at once (RWF_NOWAIT)"),
	ALLOW(writev, "virtio-net sends a frame to its tap (header and buffers in one call)"),
	ALLOW(fallocate, "engine=aio: discard and write-zeroes run at once"),
	ALLOW(fdatasync, "engine=aio: a flush where the kernel has no aio fsync"),
	/*
	 * vhost-user (src/vhost-user/dev.c): the device's I/O thread notices a
	 * back-end that went away and reconnects with back-off. It makes no
	 * socket: a connector process forked at set-up connects and passes
	 * the socket back (connector.c, docs/security.md).
	 */
	ALLOW(sendmsg, "vhost-user: renegotiate and hand the rings over again after a reconnect"),
	ALLOW(recvmsg, "vhost-user: the back-end's replies; the socket the connector passes back"),
	ALLOW(recvfrom, "vhost-user: peek at the socket to tell a hang-up from a reply in transit"),
	ALLOW(shutdown, "vhost-user: a back-end that failed a request is cut off"),
	ALLOW(close, "vhost-user: the socket of a back-end that went away"),
	ALLOW_IF(ioctl, SANDBOX_IOCTL, "the requests below"),
};

static const struct sandbox_ioctl device_io_ioctls[] = {
	IOCTL(KVM_IRQ_LINE, "a device without MSI-X raises INTx"),
	IOCTL(TUNSETOFFLOAD, "virtio-net's control queue: CTRL_GUEST_OFFLOADS_SET"),
	IOCTL(TUNSETQUEUE, "virtio-net's control queue: VQ_PAIRS_SET attaches and detaches queue pairs"),
};

/* ---- block-worker: engine=threads workers ---- */

static const struct sandbox_rule block_worker_rules[] = {
	ALLOW(preadv, "a guest read"),
	ALLOW(pwritev, "a guest write"),
	ALLOW(fdatasync, "a guest flush"),
	ALLOW(fallocate, "a guest discard or write-zeroes"),
};

/* ---- console: the console writer (outbuf.h) ---- */

static const struct sandbox_rule console_rules[] = {
	ALLOW(poll, "waits until the console takes data, or for its control eventfd"),
};

/*
 * ---- migration: src/migration/worker.c's threads, which run the sender,
 * its return-path reader, the receiver and the post-copy fault thread.
 * The userfaultfd and a snapshot's file are made on other threads and
 * handed over; the VM is stopped and resumed by the main thread.
 */

static const struct sandbox_rule migration_rules[] = {
	ALLOW(poll, "waits for the stream to take data, for a connection, for faults"),
	ALLOW(writev, "the migration stream and its return path (read() is common)"),
	ALLOW_ARG(socket, 0, AF_INET, "migrate tcp: connects to the destination"),
	ALLOW_ARG(socket, 0, AF_INET6, "migrate tcp: connects to the destination"),
	ALLOW_ARG(socket, 0, AF_UNIX, "migrate unix: connects to the destination"),
	ALLOW(connect, "migrate tcp: and unix: connect to the destination"),
	ALLOW(setsockopt, "the stream's socket: TCP_NODELAY, keep-alive, buffer sizes"),
	ALLOW(accept4, "the destination accepts the stream"),
	ALLOW(shutdown, "the end of a stream, or a broken one, wakes its other thread"),
	ALLOW(close, "connections and the post-copy eventfd when a migration ends"),
	ALLOW(eventfd2, "post-copy: the eventfd that stops the fault thread"),
	ALLOW(membarrier, "dirty logging starts: every thread's stores are made visible (dirty.c)"),
	ALLOW(pwrite64, "migrate file: writes the snapshot's RAM image"),
	ALLOW(ftruncate, "migrate file: sizes the snapshot (unwritten pages stay holes)"),
	ALLOW(lseek, "migrate file: the frames after the RAM image"),
	ALLOW(fallocate, "post-copy on shared=on memory: pages the source sends again are punched out of the memfd"),
	ALLOW_IF(ioctl, SANDBOX_IOCTL, "the requests below"),
};

static const struct sandbox_ioctl migration_ioctls[] = {
	/* the source's dirty log */
	IOCTL(KVM_GET_DIRTY_LOG, "the pages the guest wrote since the last pass"),
	IOCTL(KVM_CLEAR_DIRTY_LOG, "write-protects the pages about to be sent"),
	IOCTL(KVM_SET_USER_MEMORY_REGION, "dirty logging on and off for each RAM slot"),
	IOCTL(KVM_ENABLE_CAP, "dirty logging: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2"),
	/* the destination loads the state it received (vm_state_load) */
	IOCTL(KVM_CHECK_EXTENSION, "the first state load asks which state KVM has"),
	IOCTL(KVM_GET_MSR_INDEX_LIST, "the first state load lists the MSRs KVM has"),
	IOCTL(KVM_GET_MSRS, "the first state load probes which MSRs can be read"),
	IOCTL(KVM_SET_MSRS, "a vCPU's state"),
	IOCTL(KVM_SET_REGS, "a vCPU's state"),
	IOCTL(KVM_SET_SREGS, "a vCPU's state (without SREGS2)"),
	IOCTL(KVM_SET_SREGS2, "a vCPU's state"),
	IOCTL(KVM_SET_FPU, "a vCPU's state (without XSAVE)"),
	IOCTL(KVM_SET_XSAVE, "a vCPU's state"),
	IOCTL(KVM_SET_XCRS, "a vCPU's state"),
	IOCTL(KVM_SET_DEBUGREGS, "a vCPU's state"),
	IOCTL(KVM_SET_LAPIC, "a vCPU's state"),
	IOCTL(KVM_SET_VCPU_EVENTS, "a vCPU's state"),
	IOCTL(KVM_SET_MP_STATE, "a vCPU's state"),
	IOCTL(KVM_SET_IRQCHIP, "the platform's state"),
	IOCTL(KVM_SET_PIT2, "the platform's state"),
	IOCTL(KVM_SET_CLOCK, "the platform's state"),
	IOCTL(KVM_IOEVENTFD, "a device's state: notify ioeventfds of its queues"),
	IOCTL(KVM_IRQFD, "a device's state: MSI-X vectors"),
	IOCTL(KVM_SET_GSI_ROUTING, "a device's state: MSI routes"),
	IOCTL(KVM_IRQ_LINE, "a device's state: INTx lines"),
	/* the destination's post-copy (postcopy.c) */
	IOCTL(UFFDIO_API, "post-copy: the userfaultfd handshake"),
	IOCTL(UFFDIO_REGISTER, "post-copy: guest RAM's missing pages fault to the fault thread"),
	IOCTL(UFFDIO_UNREGISTER, "post-copy: every page is in"),
	IOCTL(UFFDIO_COPY, "post-copy: a page arrived"),
	IOCTL(UFFDIO_ZEROPAGE, "post-copy: a zero page arrived"),
	IOCTL(UFFDIO_WAKE, "post-copy: threads waiting on a page that came in another way"),
};

static const struct sandbox_role_rules common = ROLE_NO_IOCTL(common_rules);

#ifdef __SANITIZE_ADDRESS__
/*
 * ASan and LeakSanitizer builds only (the tests' second pass): what their
 * runtimes do behind tern's back. Never in a normal build.
 */
static const struct sandbox_rule sanitizer_rules[] = {
	ALLOW(sigaltstack, "ASan: each thread's alternate signal stack"),
	ALLOW(rt_sigaction, "ASan: its handlers for fatal signals"),
	ALLOW(prctl, "LeakSanitizer: PR_SET_PTRACER, PR_GET_DUMPABLE at exit"),
	ALLOW_ARG(clone, 0, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED,
		  "LeakSanitizer: its tracer task at exit"),
	ALLOW(getppid, "LeakSanitizer's tracer checks its parent"),
	ALLOW(ptrace, "LeakSanitizer's tracer stops the threads to scan them"),
	ALLOW(wait4, "LeakSanitizer: the tracer and the threads it stops"),
	ALLOW(open, "LeakSanitizer: /proc/self/maps, /proc/self/task; symbolizing a report"),
	ALLOW(openat, "LeakSanitizer: /proc/self/maps, /proc/self/task; symbolizing a report"),
	ALLOW(getdents, "LeakSanitizer: the threads in /proc/self/task"),
	ALLOW(getdents64, "LeakSanitizer: the threads in /proc/self/task"),
	ALLOW(readlink, "symbolizing a report: /proc/self/exe"),
	ALLOW(close, "LeakSanitizer: the /proc files it read"),
	ALLOW(newfstatat, "symbolizing a report: the debug files"),
	ALLOW(fcntl, "symbolizing a report: the debug files"),
	ALLOW(lseek, "symbolizing a report: the debug files"),
	ALLOW(pread64, "symbolizing a report: the debug files"),
	ALLOW(poll, "ASan's report path"),
	ALLOW(kill, "LeakSanitizer's tracer"),
};
static const struct sandbox_role_rules sanitizer = ROLE_NO_IOCTL(sanitizer_rules);
#else
static const struct sandbox_role_rules sanitizer = { .nr_rules = 0 };
#endif

const struct sandbox_role_rules *sandbox_sanitizer_rules(void)
{
	return &sanitizer;
}

static const struct sandbox_role_rules roles[THREAD_ROLE_COUNT] = {
	[THREAD_ROLE_MAIN] = ROLE(main_rules, main_ioctls),
	[THREAD_ROLE_VCPU] = ROLE(vcpu_rules, vcpu_ioctls),
	[THREAD_ROLE_DEVICE_IO] = ROLE(device_io_rules, device_io_ioctls),
	[THREAD_ROLE_BLOCK_WORKER] = ROLE_NO_IOCTL(block_worker_rules),
	[THREAD_ROLE_CONSOLE] = ROLE_NO_IOCTL(console_rules),
	[THREAD_ROLE_MIGRATION] = ROLE(migration_rules, migration_ioctls),
};

const struct sandbox_role_rules *sandbox_common_rules(void)
{
	return &common;
}

const struct sandbox_role_rules *sandbox_role_rules(enum thread_role role)
{
	return role < THREAD_ROLE_COUNT ? &roles[role] : NULL;
}
