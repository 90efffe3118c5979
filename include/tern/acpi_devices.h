/* SPDX-License-Identifier: MIT */
/*
 * The ACPI platform devices the DSDT and FADT describe (docs/acpi.md):
 *
 * - the Generic Event Device: one byte of pending event bits at
 *   LAYOUT_ACPI_GED_START, cleared by the read that returns them, and an
 *   edge on LAYOUT_ACPI_GED_GSI whenever tern sets one (the DSDT's _EVT
 *   method reads the byte and notifies the power button);
 * - the sleep control and status registers at PORT_ACPI_SLEEP_CONTROL and
 *   PORT_ACPI_SLEEP_STATUS: SLP_TYP S5 with SLP_EN ends the VM as a
 *   guest power-off.
 */
#ifndef TERN_ACPI_DEVICES_H
#define TERN_ACPI_DEVICES_H

#include "tern/util.h"

struct acpi_ged;

/*
 * Raise events (ACPI_GED_EVENT_* bits): they stay pending until the guest
 * reads the register, and the interrupt is pulsed now, or at resume while
 * the device is quiesced (a stopped VM). Any thread.
 */
void acpi_ged_notify(struct acpi_ged *g, uint8_t events);

/* Their rows in the device table (device.h); both always present. */
struct device_type;
extern const struct device_type acpi_ged_device_type;
extern const struct device_type acpi_sleep_device_type;

#endif
