/* SPDX-License-Identifier: MIT */
/* Waking application processors with INIT-SIPI-SIPI through the local APIC. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdbool.h>
#include <stdint.h>

#define SMP_TRAMPOLINE_ADDR 0x8000 /* SIPI vector 0x08; below 1 MiB */

/* Each AP calls fn(apic_id) in 64-bit ring 0 on its own 4 KiB stack. */
typedef void (*smp_ap_fn)(unsigned int apic_id);

/*
 * Copy the real-mode trampoline to SMP_TRAMPOLINE_ADDR, enable the local
 * APIC and remember fn. Call once on the BSP before smp_start_ap().
 */
void smp_init(smp_ap_fn fn);
/* Send INIT, SIPI, SIPI to one APIC id. False when the ICR stays busy. */
bool smp_start_ap(uint32_t apic_id);

#endif
