// SPDX-License-Identifier: MIT
/*
 * The hardware-reduced sleep registers (ACPI 6.4, 4.8.3.7-8) the FADT
 * points at: a control byte at PORT_ACPI_SLEEP_CONTROL and a status byte
 * right after it. Only S5 is offered (the DSDT has \_S5 and no other
 * sleep state), so the only write that does anything is SLP_TYP 5 with
 * SLP_EN, which powers the VM off: exit status 0 and SHUTDOWN with
 * "guest-shutdown", as QEMU reports an ACPI power-off.
 *
 * No state: the status register's WAK_STS is never set (nothing sleeps,
 * so nothing wakes) and the control register is write-only.
 */
#include <string.h>

#include "tern/acpi.h"
#include "tern/acpi_devices.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/layout.h"
#include "tern/machine.h"

#define ACPI_SLEEP_PORTS (PORT_ACPI_SLEEP_STATUS - PORT_ACPI_SLEEP_CONTROL + 1)
_Static_assert(PORT_ACPI_SLEEP_STATUS == PORT_ACPI_SLEEP_CONTROL + 1,
	       "the sleep registers are one region: control, then status");

struct acpi_sleep {
	struct machine *m;
};

static void acpi_sleep_control(struct acpi_sleep *s, uint8_t v)
{
	unsigned int typ = (v & ACPI_SLEEP_TYP_MASK) >> ACPI_SLEEP_TYP_SHIFT;

	if (!(v & ACPI_SLEEP_EN))
		return; /* SLP_TYP alone only prepares the transition */
	if (typ == ACPI_S5_SLP_TYP) {
		machine_request_shutdown(s->m, VM_EXIT_POWEROFF, 0);
		return;
	}
	tern_log("acpi: the guest asked for sleep type %u, which tern does not offer; ignored",
		 typ);
}

static void acpi_sleep_read(void *opaque, uint64_t off, void *data,
			    unsigned int len)
{
	/* Control reads as zero; status has WAK_STS clear: never woken. */
	memset(data, 0, len);
}

static void acpi_sleep_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	const uint8_t *b = data;

	/* A wider access covers both bytes; writes to status clear nothing. */
	if (off == 0)
		acpi_sleep_control(opaque, b[0]);
}

static const struct bus_ops acpi_sleep_ops = {
	.read = acpi_sleep_read,
	.write = acpi_sleep_write,
};

static void *acpi_sleep_create(struct machine *m, unsigned int index,
			       GError **err)
{
	struct acpi_sleep *s = g_new0(struct acpi_sleep, 1);
	int ret;

	s->m = m;
	ret = bus_register(m->pio, PORT_ACPI_SLEEP_CONTROL, ACPI_SLEEP_PORTS,
			   &acpi_sleep_ops, s, "acpi-sleep");
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "acpi-sleep at port 0x%x: %s",
			    PORT_ACPI_SLEEP_CONTROL, g_strerror(-ret));
		g_free(s);
		return NULL;
	}
	return s;
}

static void acpi_sleep_destroy(void *dev)
{
	struct acpi_sleep *s = dev;

	if (!s)
		return;
	(void)!bus_unregister(s->m->pio, PORT_ACPI_SLEEP_CONTROL);
	g_free(s);
}

static unsigned int acpi_sleep_count(const struct vm_config *cfg)
{
	return 1;
}

const struct device_type acpi_sleep_device_type = {
	.name = "acpi-sleep",
	.option = "(always present)",
	.count = acpi_sleep_count,
	.create = acpi_sleep_create,
	.destroy = acpi_sleep_destroy,
};
