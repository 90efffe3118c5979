/* SPDX-License-Identifier: MIT */
/* The TSC's frequency, for guests that pace themselves with rdtsc. */
#ifndef GUEST_TSC_H
#define GUEST_TSC_H

#include <stdint.h>

/*
 * TSC ticks per second, from (in order) CPUID leaf 0x15, leaf 0x16, the
 * KVM clock (one MSR write, read back, then switched off again), and the
 * hypervisor timing leaf 0x40000010; *source names the one used. Without
 * any of them: TSC_HZ_DEFAULT, source "guess". CPL 0 only.
 */
#define TSC_HZ_DEFAULT 2500000000ULL
uint64_t tsc_hz(const char **source);

#endif
