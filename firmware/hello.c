// SPDX-License-Identifier: MIT
/*
 * hello: the default guest embedded in tern. One banner line, then a reset
 * through the i8042; where there is no i8042 (QEMU microvm), the exit port.
 */
#include "guest/cpus.h"
#include "guest/guest.h"

#define MIB (1024 * 1024)

int guest_main(void)
{
	struct cpus_info cpus;

	cpus_discover(&cpus);
	/* Rounded to the nearest MiB: the memmap leaves out the BIOS hole. */
	con_printf("tern hello: %u CPUs, %lu MiB memory\n", cpus.count,
		   (unsigned long)((start_info_ram_bytes() + MIB / 2) / MIB));
	i8042_reset();
	return 0;
}
