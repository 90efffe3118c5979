// SPDX-License-Identifier: MIT
/* The fuzz targets' shared set-up: heap-backed guest RAM, a machine without KVM. */
#include <errno.h>
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/pci.h"
#include "tern/vcpu_state.h"
#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

/*
 * Guest RAM blocks kept from one input to the next. A fresh block per
 * input cost more than most targets' own work: AddressSanitizer's
 * quarantine never hands the same pages back, so every input faulted its
 * RAM in anew (and the kernel zeroed it), which on this nested host is
 * slow. A kept block is zeroed with memset instead. RAM sits in a block's
 * last bytes, so its end is still the block's end (a byte past it is a
 * heap overflow); the rest of the block, and the whole block while no
 * RAM uses it, is poisoned, so a byte before RAM or RAM used after
 * fuzz_memory_destroy() is reported as well. The blocks are the only
 * state kept across inputs and nothing of their contents survives.
 */
#define RAM_BLOCKS 4
/* RAM's start in a block stays aligned as malloc() aligns. */
#define RAM_ALIGN 16

static struct ram_block {
	uint8_t *p;
	uint64_t cap;
	bool busy;
} ram_blocks[RAM_BLOCKS];

static uint8_t *ram_block_get(uint64_t size)
{
	struct ram_block *best = NULL, *spare = NULL;

	for (unsigned int i = 0; i < RAM_BLOCKS; i++) {
		struct ram_block *b = &ram_blocks[i];

		if (b->busy)
			continue;
		if (!b->p || b->cap < size || (b->cap - size) % RAM_ALIGN) {
			/* An empty slot before a block to replace. */
			if (!spare || (spare->p && !b->p))
				spare = b;
			continue;
		}
		if (!best || b->cap < best->cap)
			best = b;
	}
	if (!best && spare) {
		/* Grow: too small, or RAM would start unaligned. */
		ASAN_UNPOISON_MEMORY_REGION(spare->p, spare->cap);
		free(spare->p);
		/* A large block comes straight from mmap, already zero. */
		spare->p = calloc(1, size);
		if (!spare->p) {
			spare->cap = 0;
			return NULL;
		}
		spare->cap = size;
		spare->busy = true;
		return spare->p;
	}
	if (!best)
		return calloc(1, size); /* every block in use: one of its own */
	best->busy = true;
	ASAN_UNPOISON_MEMORY_REGION(best->p + best->cap - size, size);
	memset(best->p + best->cap - size, 0, size);
	return best->p + best->cap - size;
}

static void ram_block_put(uint8_t *ram)
{
	for (unsigned int i = 0; i < RAM_BLOCKS; i++) {
		struct ram_block *b = &ram_blocks[i];

		if (b->busy && ram >= b->p && ram < b->p + b->cap) {
			b->busy = false;
			ASAN_POISON_MEMORY_REGION(b->p, b->cap);
			return;
		}
	}
	free(ram);
}

int fuzz_memory_init(struct guest_memory *mem, uint64_t size)
{
	uint8_t *p;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->vm_fd = -1;
	p = size ? ram_block_get(size) : NULL;
	if (!p)
		return -ENOMEM;
	mem->regions[0] = (struct guest_region){
		.gpa = 0, .size = size, .hva = p, .fd = -1,
	};
	mem->nr_regions = 1;
	mem->ram_size = size;
	mem->end = size;
	mem->page_size = GUEST_PAGE_SIZE;
	return 0;
}

void fuzz_memory_destroy(struct guest_memory *mem)
{
	if (mem->nr_regions)
		ram_block_put(mem->regions[0].hva);
	guest_memory_dirty_cleanup(mem);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->vm_fd = -1;
}

static void fuzz_count_queue_irq(struct virtio_device *vdev,
				 struct virtqueue *vq)
{
	struct fuzz_irqs *irqs = vdev->transport;

	irqs->queue++;
}

static void fuzz_count_config_irq(struct virtio_device *vdev)
{
	struct fuzz_irqs *irqs = vdev->transport;

	irqs->config++;
}

static const struct virtio_transport_ops fuzz_counting_transport = {
	.notify_queue = fuzz_count_queue_irq,
	.notify_config = fuzz_count_config_irq,
};

void fuzz_transport_attach(struct virtio_device *vdev, struct fuzz_irqs *irqs)
{
	vdev->transport = irqs;
	vdev->transport_ops = &fuzz_counting_transport;
}

static int fuzz_irq_line(void *opaque, uint32_t gsi, bool level)
{
	struct fuzz_machine *fm = opaque;

	fm->irq_changes++;
	return 0;
}

static int fuzz_msi_routes(void *opaque, const struct msi_route *r,
			   unsigned int n)
{
	struct fuzz_machine *fm = opaque;

	fm->msi_updates++;
	return 0;
}

static int fuzz_irqfd(void *opaque, int fd, uint32_t gsi, bool assign)
{
	return 0;
}

static void fuzz_shutdown(void *opaque, enum vm_exit_reason reason, int code)
{
	struct fuzz_machine *fm = opaque;

	fm->shutdowns++;
}

static const struct machine_ops fuzz_machine_ops = {
	.set_irq_line = fuzz_irq_line,
	.set_msi_routes = fuzz_msi_routes,
	.irqfd = fuzz_irqfd,
	.request_shutdown = fuzz_shutdown,
};

int fuzz_machine_init(struct fuzz_machine *fm, uint64_t ram_size)
{
	struct pci_host_params p;
	GError *err = NULL;
	int ret;

	memset(fm, 0, sizeof(*fm));
	ret = fuzz_memory_init(&fm->mem, ram_size);
	if (ret)
		return ret;
	bus_init(&fm->pio, "pio");
	bus_init(&fm->mmio, "mmio");
	thread_registry_init(&fm->threads);
	fm->cfg.console = CONSOLE_NONE;
	fm->m = (struct machine){
		.cfg = &fm->cfg,
		.mem = &fm->mem,
		.pio = &fm->pio,
		.mmio = &fm->mmio,
		.threads = &fm->threads,
		.console_in_fd = -1,
		.ops = &fuzz_machine_ops,
		.opaque = fm,
	};
	pci_host_params_platform(&p, &fm->pio, &fm->mmio, &fm->mem);
	p.irq_ops = &fuzz_machine_ops;
	p.irq_opaque = fm;
	fm->pci = pci_host_new(&p, &err);
	if (!fm->pci) {
		fprintf(stderr, "fuzz: PCI host: %s\n", err->message);
		g_error_free(err);
		fuzz_machine_destroy(fm);
		return -EINVAL;
	}
	fm->m.pci = fm->pci;
	return 0;
}

void fuzz_machine_destroy(struct fuzz_machine *fm)
{
	if (fm->pci)
		pci_host_destroy(fm->pci);
	fm->pci = NULL;
	thread_registry_destroy(&fm->threads);
	bus_destroy(&fm->mmio);
	bus_destroy(&fm->pio);
	fuzz_memory_destroy(&fm->mem);
}

void fuzz_state_caps_init(struct vcpu_state_caps *caps)
{
	struct vcpu_state_caps *c = &caps[0];

	c->xsave_size = 4096;
	c->xsave2 = c->xcrs = c->sregs2 = true;
	for (unsigned int i = 0; i < x86_nr_state_msrs; i++)
		c->msrs[c->nmsrs++] = x86_state_msrs[i].index;
	c = &caps[1];
	for (unsigned int i = 0; i < x86_nr_state_msrs; i += 2)
		c->msrs[c->nmsrs++] = x86_state_msrs[i].index;
}
