// SPDX-License-Identifier: MIT
/*
 * ring3: a 100,000,000-iteration loop at CPL 3, which the development
 * machines' nested KVM runs natively, and a line printed from ring 3
 * through the serial port (IOPL 3). Then back to ring 0.
 */
#include "guest/guest.h"
#include "guest/user.h"

#define RING3_ITERATIONS 100000000UL

struct ring3_run {
	uint64_t sum;
	unsigned int cpl;
};

static long ring3_loop(void *arg)
{
	struct ring3_run *run = arg;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < RING3_ITERATIONS; i++) {
		sum += i;
		/* Keeps gcc from replacing the loop with its closed form. */
		__asm__ volatile("" : "+r"(sum));
	}
	run->sum = sum;
	run->cpl = cpu_cpl();
	con_printf("ring3: %lu iterations done\n", RING3_ITERATIONS);
	return 3;
}

int guest_main(void)
{
	struct ring3_run run = { 0, 0 };
	const uint64_t expect = RING3_ITERATIONS * (RING3_ITERATIONS - 1) / 2;
	long ret = user_call(ring3_loop, &run);

	if (cpu_cpl() != 0)
		result_fail("back from ring 3 at CPL %u", cpu_cpl());
	if (ret != 3 || run.cpl != 3)
		result_fail("loop ran at CPL %u, returned %ld", run.cpl, ret);
	if (run.sum != expect)
		result_fail("checksum %#lx, expected %#lx", run.sum, expect);
	result_pass();
}
