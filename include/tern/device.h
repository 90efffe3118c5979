/* SPDX-License-Identifier: MIT */
/*
 * The device registry: every device model the VM can have is one const
 * struct device_type, listed once in the table in src/vmm/devices.c. The
 * VM creates the instances the configuration asks for, in table order, and
 * drives all of them through these operations; it names no model itself.
 * Adding a device touches its own file and one table row.
 *
 * Order: devices are created in table order (legacy ports first, then PCI
 * functions in slot order), destroyed in reverse. Quiesce runs after every
 * vCPU is parked, so no vCPU can poke a device that is being quiesced;
 * resume runs before the vCPUs run again. State sections are written and
 * read in table order.
 */
#ifndef TERN_DEVICE_H
#define TERN_DEVICE_H

#include <glib.h>

#include "tern/util.h"

struct machine;
struct vm_config;
struct state_writer;
struct state_reader;

struct device_type {
	const char *name; /* "virtio-blk": state sections are "<name>.<index>" */
	const char *option; /* what creates it, for messages: "--disk" */
	/* How many instances cfg asks for. */
	unsigned int (*count)(const struct vm_config *cfg);
	/* Create instance index; NULL with err set on failure. */
	void *(*create)(struct machine *m, unsigned int index, GError **err);
	void (*destroy)(void *dev);
	/*
	 * Optional. Machine reset with every vCPU parked (PCI functions are
	 * reset by the PCI host before this).
	 */
	void (*reset)(void *dev);
	/*
	 * Optional. Stop writing guest memory and raising interrupts until
	 * resume; in-flight work completes first, until deadline_ns
	 * (CLOCK_MONOTONIC): 0, or -ETIMEDOUT with work still pending.
	 */
	int (*quiesce)(void *dev, uint64_t deadline_ns);
	void (*resume)(void *dev);
	/*
	 * Optional (a device without state writes nothing). Only while
	 * quiesced. load validates everything before changing the device:
	 * false with err set leaves it as it was.
	 */
	void (*save)(void *dev, const char *id, struct state_writer *w);
	bool (*load)(void *dev, const char *id, struct state_reader *r,
		     GError **err);
};

/* One instance. */
struct device {
	const struct device_type *type;
	unsigned int index;
	char id[32]; /* "<type name>.<index>" */
	void *dev;
	bool quiesced;
};

/* The table: every device type, in creation order. */
extern const struct device_type *const device_types[];
extern const unsigned int device_types_count;

#endif
