/* SPDX-License-Identifier: MIT */
/*
 * What a device sees of the virtual machine: guest memory, the two buses,
 * the PCI host, the thread registry and a few narrow operations (interrupt
 * lines and routes, ioeventfds, ending the VM). Devices include this header,
 * never vm.h: they cannot reach KVM or the VM's other parts, and unit tests
 * give them a machine whose operations record instead of calling KVM.
 */
#ifndef TERN_MACHINE_H
#define TERN_MACHINE_H

#include <glib.h>

#include "tern/bus.h"
#include "tern/memory.h"
#include "tern/util.h"

struct vm_config;
struct pci_host;
struct thread_registry;
struct outbuf;

/* Why the VM ended; decides tern's exit status. */
enum vm_exit_reason {
	VM_EXIT_NONE = 0,
	VM_EXIT_RESET, /* i8042 reset: exit 0 */
	VM_EXIT_POWEROFF, /* exit 0 */
	VM_EXIT_TEST_PORT, /* isa-debug-exit: (v << 1) | 1 */
	VM_EXIT_HOST_QUIT, /* QMP quit: exit 0 */
	VM_EXIT_HOST_SIGNAL, /* SIGINT/SIGTERM/SIGHUP: exit 0 */
	VM_EXIT_GUEST_ERROR, /* triple fault, internal error: exit 4 */
	VM_EXIT_HOST_ERROR, /* tern could not go on (a failed reset): exit 4 */
};

/* An MSI route: what KVM delivers when gsi fires. */
struct msi_route {
	uint32_t gsi;
	uint64_t addr;
	uint32_t data;
};

/*
 * The VM's side of interrupts and notifications. Each returns 0 or -errno
 * and may be called from any thread.
 */
struct machine_ops {
	/* Drive an IOAPIC/PIC input (KVM_IRQ_LINE). */
	int (*set_irq_line)(void *opaque, uint32_t gsi, bool level);
	/* Replace every MSI route (KVM_SET_GSI_ROUTING). */
	int (*set_msi_routes)(void *opaque, const struct msi_route *routes,
			      unsigned int n);
	/* Bind or unbind eventfd fd to gsi (KVM_IRQFD). */
	int (*irqfd)(void *opaque, int fd, uint32_t gsi, bool assign);
	/*
	 * Signal fd on a guest write of len bytes (0: any length, when
	 * ioeventfd_any_length) at addr on the MMIO bus (KVM_IOEVENTFD).
	 */
	int (*ioeventfd)(void *opaque, uint64_t addr, unsigned int len, int fd,
			 bool assign);
	/*
	 * Optional (NULL: not offered). Bind fd to the level-triggered gsi
	 * with resample_fd signalled on the guest's EOI (KVM_IRQFD with
	 * KVM_IRQFD_FLAG_RESAMPLE): passed-through INTx.
	 */
	int (*irqfd_resample)(void *opaque, int fd, int resample_fd, uint32_t gsi,
			      bool assign);
	/*
	 * Optional. Map size bytes of host memory at hva as KVM memory slot
	 * slot at gpa (size 0: delete the slot): passed-through BARs.
	 */
	int (*set_memory_slot)(void *opaque, uint32_t slot, uint64_t gpa,
			       uint64_t size, void *hva);
	/* End the VM (the first reason wins). */
	void (*request_shutdown)(void *opaque, enum vm_exit_reason reason,
				 int code);
};

struct machine {
	const struct vm_config *cfg;
	struct guest_memory *mem;
	struct bus *pio, *mmio;
	struct pci_host *pci; /* NULL until the PCI host exists */
	struct thread_registry *threads;
	/* Where console output goes (stdout or --console file), or NULL. */
	struct outbuf *console_out;
	/* Where console input comes from (stdin), or -1. */
	int console_in_fd;
	const struct machine_ops *ops;
	void *opaque;
	bool ioeventfd_any_length;
};

static inline int machine_set_irq_line(const struct machine *m, uint32_t gsi,
				       bool level)
{
	return m->ops->set_irq_line(m->opaque, gsi, level);
}

static inline void machine_request_shutdown(const struct machine *m,
					    enum vm_exit_reason reason, int code)
{
	m->ops->request_shutdown(m->opaque, reason, code);
}

#endif
