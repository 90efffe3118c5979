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

#endif
