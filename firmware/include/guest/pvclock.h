/* SPDX-License-Identifier: MIT */
/*
 * Nanoseconds since boot from the KVM clock (pvclock), readable at CPL 3
 * without an exit: ring 0 points MSR_KVM_SYSTEM_TIME_NEW at a structure in
 * guest memory once, and the VMM's KVM keeps it current. Both QEMU and tern
 * offer it through CPUID 0x40000001, so times measured with it mean the same
 * under either. Without it, the TSC and tsc_hz() stand in.
 */
#ifndef GUEST_PVCLOCK_H
#define GUEST_PVCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define CPUID_KVM_SIGNATURE 0x40000000
#define CPUID_KVM_FEATURES 0x40000001
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)

/* Does the hypervisor say "KVMKVMKVM" and offer KVM_FEATURE_CLOCKSOURCE2? */
bool kvmclock_offered(void);
/*
 * CPL 0: register the clock structure (if not yet) and derive the TSC
 * frequency from its scale; 0 when KVM did not fill it in.
 */
uint64_t kvmclock_tsc_hz(void);

/* CPL 0, once. True when the KVM clock is in use. */
bool clock_init(void);
/* "kvmclock", or "tsc (SOURCE)" for the fallback. */
const char *clock_source(void);
/* Any CPL, after clock_init(). */
uint64_t clock_ns(void);

#endif
