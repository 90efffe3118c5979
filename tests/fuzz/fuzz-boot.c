// SPDX-License-Identifier: MIT
/*
 * The kernel loaders: x86_boot_load() with a kernel image from the input,
 * detected as a PVH ELF (ELF64 or ELF32, its notes and program headers) or
 * a Linux bzImage (its setup header), placed into guest RAM with the
 * initrd, command line, zero page or hvm_start_info, e820, page tables and
 * MP/ACPI tables. The image is the fuzzer's own heap block, so a read one
 * byte past it is an AddressSanitizer report.
 *
 * Input: u8 config (bits 0-1: RAM of 1 MiB + 64 KiB, 2, 8 or 32 MiB; bit
 * 2: a 4 KiB initrd; bit 3: a command line of 2000 bytes; bits 4-7: 1 to
 * 16 vCPUs), then the kernel image.
 */
#include <stdlib.h>
#include <string.h>

#include "tern/boot.h"
#include "tern/layout.h"
#include "fuzz.h"

static const uint64_t ram_sizes[4] = {
	1 * MiB + 64 * KiB, 2 * MiB, 8 * MiB, 32 * MiB,
};

static struct {
	struct guest_memory mem[4];
	uint8_t initrd[4096];
	char long_cmdline[2001];
} f;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Allocated once: a loader writes guest RAM, it never reads it. */
	for (unsigned int i = 0; i < 4; i++)
		if (fuzz_memory_init(&f.mem[i], ram_sizes[i]))
			abort();
	for (unsigned int i = 0; i < sizeof(f.initrd); i++)
		f.initrd[i] = (uint8_t)(i * 13);
	memset(f.long_cmdline, 'a', sizeof(f.long_cmdline) - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t config = fuzz_u8(&in);
	const struct guest_memory *mem = &f.mem[config & 3];
	struct boot_config cfg = {
		.kernel_name = "fuzz-kernel",
		.kernel = in.len ? in.p : NULL,
		.kernel_len = in.len,
		.initrd_name = "fuzz-initrd",
		.cmdline = (config & 8) ? f.long_cmdline : "console=ttyS0",
		.ncpus = 1 + (config >> 4),
	};
	struct boot_entry entry;
	GError *err = NULL;

	if (config & 4) {
		cfg.initrd = f.initrd;
		cfg.initrd_len = sizeof(f.initrd);
	}
	if (x86_boot_load(mem, &cfg, &entry, &err)) {
		FUZZ_CHECK(!err);
		/* The boot structures the entry points at are in RAM. */
		FUZZ_CHECK(guest_memory_contains(mem, LAYOUT_BOOT_STACK - 1, 1));
		if (entry.long_mode)
			FUZZ_CHECK(entry.cr3 == LAYOUT_PML4_START &&
				   entry.rsi == LAYOUT_ZERO_PAGE);
		else
			FUZZ_CHECK(entry.rbx == LAYOUT_PVH_INFO);
	} else {
		FUZZ_CHECK(err && err->message && *err->message);
		g_error_free(err);
	}
	return 0;
}
