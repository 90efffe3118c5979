// SPDX-License-Identifier: MIT
/*
 * The VM's side of struct machine (machine.h): what devices may ask of KVM
 * (interrupt lines, MSI routes, irqfds, ioeventfds) and of the VM (to end
 * it), and nothing else.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "tern/machine.h"
#include "tern/vm.h"

/* KVM's default routing (GSI n → IOAPIC pin n, and PIC pin n for n < 16). */
#define KVM_IOAPIC_PINS 24
#define KVM_PIC_PINS 16

static int vm_kvm_set_irq_line(void *opaque, uint32_t gsi, bool level)
{
	return vm_set_irq_line(opaque, gsi, level);
}

static int vm_kvm_set_msi_routes(void *opaque, const struct msi_route *routes,
				 unsigned int n)
{
	struct vm *vm = opaque;
	unsigned int total = KVM_IOAPIC_PINS + KVM_PIC_PINS + n, i = 0;
	g_autofree struct kvm_irq_routing *r =
		g_malloc0(sizeof(*r) + total * sizeof(r->entries[0]));

	/*
	 * KVM_SET_GSI_ROUTING replaces the whole table, so the irqchip
	 * entries KVM starts with (which the ISA and PCI INTx wiring and the
	 * MP table rely on) are written back each time.
	 */
	for (unsigned int gsi = 0; gsi < KVM_IOAPIC_PINS; gsi++) {
		r->entries[i].gsi = gsi;
		r->entries[i].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[i].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		r->entries[i].u.irqchip.pin = gsi;
		i++;
		if (gsi < KVM_PIC_PINS) {
			r->entries[i].gsi = gsi;
			r->entries[i].type = KVM_IRQ_ROUTING_IRQCHIP;
			r->entries[i].u.irqchip.irqchip =
				gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			r->entries[i].u.irqchip.pin = gsi % 8;
			i++;
		}
	}
	for (unsigned int m = 0; m < n; m++) {
		r->entries[i].gsi = routes[m].gsi;
		r->entries[i].type = KVM_IRQ_ROUTING_MSI;
		r->entries[i].u.msi.address_lo = (uint32_t)routes[m].addr;
		r->entries[i].u.msi.address_hi = (uint32_t)(routes[m].addr >> 32);
		r->entries[i].u.msi.data = routes[m].data;
		i++;
	}
	r->nr = i;
	if (ioctl(vm->kvm.vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
		return -errno;
	return 0;
}

static int vm_kvm_irqfd(void *opaque, int fd, uint32_t gsi, bool assign)
{
	struct vm *vm = opaque;
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->kvm.vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	return 0;
}

static int vm_kvm_ioeventfd(void *opaque, uint64_t addr, unsigned int len,
			    int fd, bool assign)
{
	struct vm *vm = opaque;
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}

static int vm_kvm_irqfd_resample(void *opaque, int fd, int resample_fd,
				 uint32_t gsi, bool assign)
{
	struct vm *vm = opaque;
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? KVM_IRQFD_FLAG_RESAMPLE : KVM_IRQFD_FLAG_DEASSIGN,
		.resamplefd = assign ? (uint32_t)resample_fd : 0,
	};

	if (ioctl(vm->kvm.vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	return 0;
}

static int vm_kvm_set_memory_slot(void *opaque, uint32_t slot, uint64_t gpa,
				  uint64_t size, void *hva)
{
	struct vm *vm = opaque;
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->kvm.vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

static void vm_machine_request_shutdown(void *opaque, enum vm_exit_reason reason,
					int code)
{
	vm_request_shutdown(opaque, reason, code);
}

static const struct machine_ops vm_machine_ops = {
	.set_irq_line = vm_kvm_set_irq_line,
	.set_msi_routes = vm_kvm_set_msi_routes,
	.irqfd = vm_kvm_irqfd,
	.ioeventfd = vm_kvm_ioeventfd,
	.irqfd_resample = vm_kvm_irqfd_resample,
	.set_memory_slot = vm_kvm_set_memory_slot,
	.request_shutdown = vm_machine_request_shutdown,
};

void vm_machine_init(struct vm *vm)
{
	struct machine *m = &vm->machine;

	*m = (struct machine){
		.cfg = vm->cfg,
		.mem = &vm->mem,
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.threads = &vm->threads,
		.ops = &vm_machine_ops,
		.opaque = vm,
		.ioeventfd_any_length = ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION,
					      KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0,
	};
}
