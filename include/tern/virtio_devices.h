/* SPDX-License-Identifier: MIT */
/* Small virtio device models: console and entropy source. */
#ifndef TERN_VIRTIO_DEVICES_H
#define TERN_VIRTIO_DEVICES_H

#include <glib.h>

struct machine;

struct device_type;

/*
 * virtio-console with one port (hvc0 in Linux), for --console virtio: the
 * guest's output goes to the machine's console outbuf, its input comes
 * from the machine's console input fd.
 */
extern const struct device_type virtio_console_device_type;

/* virtio-rng (--rng): the guest's buffers are filled from getrandom(2). */
extern const struct device_type virtio_rng_device_type;

#endif
