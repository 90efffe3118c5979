// SPDX-License-Identifier: MIT
/*
 * counter: print "counter: K" about every 50 ms, forever, from ring 3 (so
 * the waiting runs natively). For stop/cont tests: the count pauses with
 * the VM. A resumed VM whose TSC jumped prints its next line at once, then
 * keeps the period again.
 *
 * clock=1 adds the guest's clock (kvmclock, or the TSC without it) to each
 * line, " clock_ms=T": what a stop looks like to the guest's time.
 */
#include "guest/guest.h"
#include "guest/pvclock.h"
#include "guest/start_info.h"
#include "guest/tsc.h"
#include "guest/user.h"

#define COUNTER_PERIODS_PER_SECOND 20

struct counter {
	uint64_t period; /* TSC ticks per line */
	bool clock;
};

static long counter_loop(void *arg)
{
	const struct counter *c = arg;

	for (unsigned long k = 0;; k++) {
		uint64_t next = rdtsc() + c->period;

		if (c->clock)
			con_printf("counter: %lu clock_ms=%lu\n", k,
				   (unsigned long)(clock_ns() / 1000000));
		else
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
	unsigned long clock = 0;
	struct counter c = {
	    .period = hz / COUNTER_PERIODS_PER_SECOND,
	    .clock = cmdline_get_uint("clock", 1, &clock) && clock,
	};

	con_printf("counter: tsc %lu kHz from %s, one line per %lu ms\n",
		   (unsigned long)(hz / 1000), source,
		   1000UL / COUNTER_PERIODS_PER_SECOND);
	if (c.clock) {
		clock_init();
		con_printf("counter: clock %s\n", clock_source());
	}
	user_call(counter_loop, &c);
	result_fail("the counter loop returned");
}
