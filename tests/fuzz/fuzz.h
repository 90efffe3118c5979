/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: a cursor that turns the fuzzer's bytes
 * into values (running dry gives zeroes, so every input means something),
 * guest RAM backed by one exactly sized heap block (so AddressSanitizer sees
 * a byte read past its end, which an mmap'd region would hide), and a
 * machine without /dev/kvm: plain buses, a PCI host and interrupt
 * operations that only count. No target ever opens /dev/kvm.
 */
#ifndef TERN_FUZZ_H
#define TERN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "tern/bus.h"
#include "tern/config.h"
#include "tern/machine.h"
#include "tern/memory.h"
#include "tern/thread.h"
#include "tern/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

struct fuzz_input {
	const uint8_t *p;
	size_t len;
};

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t v = 0;

	if (in->len) {
		v = *in->p++;
		in->len--;
	}
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/*
 * Guest RAM of size bytes at guest address 0, ending where its heap block
 * ends: no KVM slot, no memfd. Contents are zero. The block is kept for
 * the next fuzz_memory_init() (fuzz-common.c says why). 0 or -errno.
 */
int fuzz_memory_init(struct guest_memory *mem, uint64_t size);
void fuzz_memory_destroy(struct guest_memory *mem);

/*
 * A machine as devices see it (machine.h): RAM from fuzz_memory_init(),
 * the PIO and MMIO buses, a PCI host with the platform's windows, a thread
 * registry and operations that record instead of calling KVM (no
 * ioeventfd, so notifications take the BAR's slow path).
 */
struct fuzz_machine {
	struct guest_memory mem;
	struct bus pio, mmio;
	struct pci_host *pci;
	struct thread_registry threads;
	struct vm_config cfg;
	struct machine m;
	unsigned int irq_changes, msi_updates, shutdowns;
};

/* 0, or -errno with nothing left to free. */
int fuzz_machine_init(struct fuzz_machine *fm, uint64_t ram_size);
void fuzz_machine_destroy(struct fuzz_machine *fm);

/*
 * A transport for a virtio device made by virtio_device_init() alone (no
 * virtio-pci function): its interrupts are counted in irqs, which becomes
 * vdev->transport, instead of reaching a driver.
 */
struct fuzz_irqs {
	unsigned int queue, config;
};

void fuzz_transport_attach(struct virtio_device *vdev, struct fuzz_irqs *irqs);

/*
 * The two hosts a state loader is fuzzed against; caps points at two.
 * caps[0] has XSAVE (4096-byte XSAVE2, XCRs, SREGS2) and every state MSR,
 * caps[1] the legacy FPU and every other MSR. Targets load cpu.N with
 * caps[N % 2].
 */
struct vcpu_state_caps;
void fuzz_state_caps_init(struct vcpu_state_caps *caps);

/* Abort with a message: an invariant of the code under test broke. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail(__FILE__, __LINE__, #cond);                  \
	} while (0)

void fuzz_fail(const char *file, int line, const char *what)
	__attribute__((noreturn));

#endif
