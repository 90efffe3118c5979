/* SPDX-License-Identifier: MIT */
/* What make-seeds.c and make-seeds-state.c share. */
#ifndef TERN_FUZZ_MAKE_SEEDS_H
#define TERN_FUZZ_MAKE_SEEDS_H

#include <stddef.h>

/* Write corpus/TARGET/seed-NAME; exits on failure. */
void seed_write(const char *target, const char *name, const void *p,
		size_t len);
void seeds_state(void);
void seeds_queues(void);
void seeds_migration(void);

struct state_writer;
/*
 * The vCPU sections (cpu.N, N odd for the legacy host as fuzz-state.c
 * reads them) and the platform's, from their savers (make-seeds-state.c).
 */
void seeds_state_core_put(struct state_writer *w, unsigned int nr_vcpus);

#endif
