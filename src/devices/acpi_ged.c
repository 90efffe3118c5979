// SPDX-License-Identifier: MIT
/*
 * The ACPI Generic Event Device (ACPI 6.4, 5.6.9), the hardware-reduced
 * way Cloud Hypervisor reports platform events: tern ORs an event into a
 * one-byte register and pulses an edge-triggered interrupt; the guest's
 * GED driver runs the DSDT's _EVT, whose read of the register returns the
 * pending bits and clears them. Only the power button exists here
 * (QMP system_powerdown).
 *
 * While the VM is stopped the device is quiesced: an event is recorded
 * and its interrupt owed until resume, so nothing touches the irqchip
 * between a state capture and the save that writes it.
 */
#include <pthread.h>
#include <string.h>

#include "tern/acpi.h"
#include "tern/acpi_devices.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/layout.h"
#include "tern/machine.h"
#include "tern/state.h"

#define ACPI_GED_STATE_VERSION 1

struct acpi_ged {
	struct machine *m;
	pthread_mutex_t lock;
	uint8_t pending; /* events the guest has not read */
	bool quiesced;
	bool irq_owed; /* an event came while quiesced */
};

/* An edge on the GED's line: the OS's handler runs _EVT once per edge. */
static void acpi_ged_pulse_locked(struct acpi_ged *g)
{
	int ret = machine_set_irq_line(g->m, LAYOUT_ACPI_GED_GSI, true);

	if (!ret)
		ret = machine_set_irq_line(g->m, LAYOUT_ACPI_GED_GSI, false);
	if (ret)
		tern_warn("acpi-ged: cannot pulse IRQ %u: %s",
			  LAYOUT_ACPI_GED_GSI, g_strerror(-ret));
}

void acpi_ged_notify(struct acpi_ged *g, uint8_t events)
{
	pthread_mutex_lock(&g->lock);
	g->pending |= events & ACPI_GED_EVENTS;
	if (g->quiesced)
		g->irq_owed = true;
	else
		acpi_ged_pulse_locked(g);
	pthread_mutex_unlock(&g->lock);
}

static void acpi_ged_read(void *opaque, uint64_t off, void *data,
			  unsigned int len)
{
	struct acpi_ged *g = opaque;

	/* The region is one byte: the bus hands us nothing wider. */
	pthread_mutex_lock(&g->lock);
	*(uint8_t *)data = g->pending;
	g->pending = 0;
	pthread_mutex_unlock(&g->lock);
}

static void acpi_ged_write(void *opaque, uint64_t off, const void *data,
			   unsigned int len)
{
	/* Read-only: the guest acknowledges by reading. */
}

static const struct bus_ops acpi_ged_ops = {
	.read = acpi_ged_read,
	.write = acpi_ged_write,
};

static void *acpi_ged_create(struct machine *m, unsigned int index,
			     GError **err)
{
	struct acpi_ged *g = g_new0(struct acpi_ged, 1);
	int ret;

	g->m = m;
	pthread_mutex_init(&g->lock, NULL);
	ret = bus_register(m->mmio, LAYOUT_ACPI_GED_START, LAYOUT_ACPI_GED_SIZE,
			   &acpi_ged_ops, g, "acpi-ged");
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "acpi-ged at 0x%llx: %s", LAYOUT_ACPI_GED_START,
			    g_strerror(-ret));
		pthread_mutex_destroy(&g->lock);
		g_free(g);
		return NULL;
	}
	return g;
}

static void acpi_ged_destroy(void *dev)
{
	struct acpi_ged *g = dev;

	if (!g)
		return;
	(void)!bus_unregister(g->m->mmio, LAYOUT_ACPI_GED_START);
	pthread_mutex_destroy(&g->lock);
	g_free(g);
}

/* A machine reset forgets events: the guest that would read them is gone. */
static void acpi_ged_reset(void *dev)
{
	struct acpi_ged *g = dev;

	pthread_mutex_lock(&g->lock);
	g->pending = 0;
	g->irq_owed = false;
	pthread_mutex_unlock(&g->lock);
}

static int acpi_ged_quiesce(void *dev, uint64_t deadline_ns)
{
	struct acpi_ged *g = dev;

	pthread_mutex_lock(&g->lock);
	g->quiesced = true;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void acpi_ged_resume(void *dev)
{
	struct acpi_ged *g = dev;

	pthread_mutex_lock(&g->lock);
	g->quiesced = false;
	if (g->irq_owed)
		acpi_ged_pulse_locked(g);
	g->irq_owed = false;
	pthread_mutex_unlock(&g->lock);
}

static unsigned int acpi_ged_count(const struct vm_config *cfg)
{
	return 1;
}

static void acpi_ged_save(void *dev, const char *id, struct state_writer *w)
{
	struct acpi_ged *g = dev;

	pthread_mutex_lock(&g->lock);
	state_section_begin(w, ACPI_GED_STATE_VERSION, "%s", id);
	state_put_u8(w, g->pending);
	state_put_bool(w, g->irq_owed);
	state_section_end(w);
	pthread_mutex_unlock(&g->lock);
}

static bool acpi_ged_load(void *dev, const char *id, struct state_reader *r,
			  GError **err)
{
	struct acpi_ged *g = dev;
	uint8_t pending;
	bool owed;

	if (!state_section_open(r, ACPI_GED_STATE_VERSION,
				ACPI_GED_STATE_VERSION, NULL, "%s", id))
		return state_section_close(r, err);
	state_get_u8(r, &pending);
	state_get_bool(r, &owed);
	state_check(r, !(pending & ~ACPI_GED_EVENTS),
		    "pending events 0x%02x have bits this device never sets",
		    pending);
	if (!state_section_close(r, err))
		return false;
	pthread_mutex_lock(&g->lock);
	g->pending = pending;
	/* Loaded into a stopped VM: the interrupt goes out at resume. */
	g->irq_owed = owed;
	pthread_mutex_unlock(&g->lock);
	return true;
}

const struct device_type acpi_ged_device_type = {
	.name = "acpi-ged",
	.option = "(always present)",
	.count = acpi_ged_count,
	.create = acpi_ged_create,
	.destroy = acpi_ged_destroy,
	.reset = acpi_ged_reset,
	.quiesce = acpi_ged_quiesce,
	.resume = acpi_ged_resume,
	.save = acpi_ged_save,
	.load = acpi_ged_load,
};
