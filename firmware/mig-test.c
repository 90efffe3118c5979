// SPDX-License-Identifier: MIT
/*
 * mig-test: dirties memory from ring 3 at a set rate and checks, page by
 * page, that every page holds the generation it was last given, so that a
 * migration that loses a page, sends one from the wrong pass or tears one
 * is caught the next time the loop comes round to it.
 *
 * The working set starts at 8 MiB. Pass g writes the value (page << 32 | g)
 * to all 512 words of each page, after checking that all 512 hold
 * (page << 32 | g - 1) (pass 1 expects zeros). Command line:
 *   mem=MIB     working set in MiB (default: the RAM above 8 MiB, below 3 GiB)
 *   rate=N      pages per second (default 0: as fast as it goes)
 *   tick=MS     print "mig-test: tick K pages P" every MS milliseconds (0:
 *               never; P: pages written so far), so the host can time the
 *               guest's stall and its speed from its console
 *   passes=N    stop after N passes with RESULT: PASS (default 0: never)
 * Each pass ends with "mig-test: pass G verified N pages"; a bad page with
 * "RESULT: FAIL page P (gpa X) holds page Q generation H, expected G".
 */
#include "guest/guest.h"
#include "guest/tsc.h"
#include "guest/user.h"

#define MT_BASE (8UL << 20)
#define MT_LIMIT (3UL << 30)
#define MT_BATCH 16
#define MT_WORDS (4096 / 8)

struct mt_run {
	uint64_t *base;
	unsigned long npages;
	unsigned long passes;
	uint64_t batch_cycles; /* 0: no pacing */
	uint64_t tick_cycles; /* 0: no ticks */
};

static inline uint64_t mt_value(unsigned long page, unsigned long gen)
{
	return gen ? (uint64_t)page << 32 | gen : 0;
}

/* The page's first word that is not want, or -1. */
static long mt_check(const uint64_t *p, uint64_t want)
{
	uint64_t diff = 0;

	for (unsigned int i = 0; i < MT_WORDS; i++)
		diff |= p[i] ^ want;
	if (!diff)
		return -1;
	for (unsigned int i = 0; i < MT_WORDS; i++)
		if (p[i] != want)
			return i;
	return -1;
}

static long mt_loop(void *arg)
{
	const struct mt_run *run = arg;
	uint64_t next_batch = rdtsc(), next_tick = rdtsc() + run->tick_cycles;
	unsigned long tick = 0, written = 0;

	for (unsigned long gen = 1;; gen++) {
		for (unsigned long pg = 0; pg < run->npages; pg++) {
			uint64_t *p = run->base + pg * MT_WORDS;
			uint64_t want = mt_value(pg, gen - 1), v = mt_value(pg, gen);
			long bad = mt_check(p, want);

			if (bad >= 0)
				result_fail("page %lu (gpa 0x%lx) word %ld holds page %lu generation %lu, expected generation %lu",
					    pg, (unsigned long)(uintptr_t)p, bad,
					    (unsigned long)(p[bad] >> 32),
					    (unsigned long)(p[bad] & 0xffffffffUL),
					    gen - 1);
			for (unsigned int i = 0; i < MT_WORDS; i++)
				p[i] = v;
			written++;
			if ((pg + 1) % MT_BATCH)
				continue;
			do {
				uint64_t now = rdtsc();

				if (run->tick_cycles && now >= next_tick) {
					con_printf("mig-test: tick %lu pages %lu\n",
						   tick++, written);
					next_tick += run->tick_cycles;
					/* After a stop, do not print the backlog. */
					if (next_tick < now)
						next_tick = now + run->tick_cycles;
				}
				if (!run->batch_cycles || now >= next_batch)
					break;
				cpu_relax();
			} while (1);
			next_batch += run->batch_cycles;
			if (next_batch + 100 * run->batch_cycles < rdtsc())
				next_batch = rdtsc();
		}
		con_printf("mig-test: pass %lu verified %lu pages\n", gen,
			   run->npages);
		if (run->passes && gen >= run->passes)
			result_pass();
	}
	return 0;
}

/* The end of the RAM entry that holds MT_BASE, at most MT_LIMIT. */
static uint64_t mt_ram_end(void)
{
	const struct hvm_start_info *si = start_info_get();
	const struct hvm_memmap_table_entry *e;

	if (!si || si->version < 1 || !si->memmap_paddr)
		return 0;
	e = (const struct hvm_memmap_table_entry *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		if (e[i].type != HVM_MEMMAP_TYPE_RAM || e[i].addr > MT_BASE ||
		    e[i].addr + e[i].size <= MT_BASE)
			continue;
		return e[i].addr + e[i].size < MT_LIMIT ? e[i].addr + e[i].size :
							 MT_LIMIT;
	}
	return 0;
}

int guest_main(void)
{
	static struct mt_run run;
	const char *source;
	uint64_t hz = tsc_hz(&source), end = mt_ram_end();
	unsigned long mib = 0, rate = 0, tick_ms = 0;

	if (end <= MT_BASE)
		result_fail("no RAM above %lu MiB in the memory map", MT_BASE >> 20);
	cmdline_get_uint("mem", 1UL << 20, &mib);
	cmdline_get_uint("rate", 1UL << 30, &rate);
	cmdline_get_uint("tick", 100000, &tick_ms);
	cmdline_get_uint("passes", 1UL << 30, &run.passes);
	run.base = (uint64_t *)MT_BASE;
	run.npages = (end - MT_BASE) / 4096;
	if (mib && (mib << 20) / 4096 < run.npages)
		run.npages = (mib << 20) / 4096;
	run.npages -= run.npages % MT_BATCH;
	run.batch_cycles = rate ? hz * MT_BATCH / rate : 0;
	run.tick_cycles = hz / 1000 * tick_ms;
	con_printf("mig-test: %lu pages at 0x%lx, %lu pages/s (0: unpaced), tick %lu ms, tsc %lu kHz from %s\n",
		   run.npages, MT_BASE, rate, tick_ms, (unsigned long)(hz / 1000),
		   source);
	user_call(mt_loop, &run);
	result_fail("the loop returned");
}
