// SPDX-License-Identifier: MIT
/* The fuzz targets' shared set-up: heap-backed guest RAM, a machine without KVM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/dirty.h"
#include "tern/pci.h"
#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

int fuzz_memory_init(struct guest_memory *mem, uint64_t size)
{
	void *p = NULL;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->vm_fd = -1;
	/* 64-byte aligned like a cache line; the end is exact. */
	if (!size || posix_memalign(&p, 64, size))
		return -ENOMEM;
	memset(p, 0, size);
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
		free(mem->regions[0].hva);
	guest_memory_dirty_cleanup(mem);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	mem->vm_fd = -1;
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
