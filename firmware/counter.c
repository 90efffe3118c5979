// SPDX-License-Identifier: MIT
/*
 * counter: print "counter: K" about every 50 ms, forever, from ring 3 (so
 * the waiting runs natively). For stop/cont tests: the count pauses with
 * the VM. A resumed VM whose TSC jumped prints its next line at once, then
 * keeps the period again.
 */
#include "guest/guest.h"
#include "guest/tsc.h"
#include "guest/user.h"

#define COUNTER_PERIODS_PER_SECOND 20

static long counter_loop(void *arg)
{
	uint64_t period = *(const uint64_t *)arg;

	for (unsigned long k = 0;; k++) {
		uint64_t next = rdtsc() + period;

		con_printf("counter: %lu\n", k);
		while (rdtsc() < next)
			cpu_relax();
	}
	return 0;
}

int guest_main(void)
{
	const char *source;
	uint64_t hz = tsc_hz(&source);
	uint64_t period = hz / COUNTER_PERIODS_PER_SECOND;

	con_printf("counter: tsc %lu kHz from %s, one line per %lu ms\n",
		   (unsigned long)(hz / 1000), source,
		   1000UL / COUNTER_PERIODS_PER_SECOND);
	user_call(counter_loop, &period);
	result_fail("the counter loop returned");
}
