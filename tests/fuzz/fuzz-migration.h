/* SPDX-License-Identifier: MIT */
/*
 * The destination machine fuzz-migration.c builds and its input's mode
 * byte, for make-seeds-migration.c, whose streams are for this machine.
 */
#ifndef TERN_FUZZ_MIGRATION_H
#define TERN_FUZZ_MIGRATION_H

#include <stddef.h>
#include <stdint.h>

#include "tern/memory.h"

/* The input's first byte. */
#define FUZZ_MIG_RAW_SUMS 1u /* checksums as given, not filled in */
#define FUZZ_MIG_RECOVER 2u /* a post-copy recovery connection */
#define FUZZ_MIG_UFFD 4u /* the destination has a userfaultfd */
/* The input is a destination's return path into a source instead. */
#define FUZZ_MIG_RETURN_PATH 8u

/* One vCPU, two RAM regions (pages) with a hole between, two devices. */
#define FUZZ_MIG_VCPUS 1
#define FUZZ_MIG_REGIONS 2
static const uint64_t fuzz_mig_region_gpa[FUZZ_MIG_REGIONS] = {0, 1 * MiB};
static const uint64_t fuzz_mig_region_pages[FUZZ_MIG_REGIONS] = {16, 8};
static const char *const fuzz_mig_devices[] = {"serial.0", "virtio-blk.0"};
#define FUZZ_MIG_NDEVICES 2
/* The session a recovery must name. */
#define FUZZ_MIG_SESSION 0x5e55105e55105eULL

struct migration;

/*
 * fuzz-migration.c: fill in the checksums of the frames of s from at on
 * (and of the state containers in HELLO and STATE), as a sender would.
 */
void fuzz_mig_sums_fill(uint8_t *s, size_t len, size_t at);

/*
 * fuzz-migration-rp.c: a source's return path, p the input after the mode
 * byte, against m's machine.
 */
void fuzz_mig_rp_init(void);
void fuzz_mig_rp_run(struct migration *m, uint8_t mode, const uint8_t *p,
		     size_t len);

#endif
