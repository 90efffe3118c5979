/* SPDX-License-Identifier: MIT */
/* Small virtio device models: console and entropy source. */
#ifndef TERN_VIRTIO_DEVICES_H
#define TERN_VIRTIO_DEVICES_H

#include <glib.h>

struct machine;

/*
 * virtio-console with one port (hvc0 in Linux): the guest's output goes to
 * out_fd, in_fd (if >= 0) feeds its input. Both fds stay the caller's.
 */
struct virtio_console;
struct virtio_console *virtio_console_create(struct machine *m, int in_fd,
					     int out_fd, GError **err);
void virtio_console_destroy(struct virtio_console *con);

/* virtio-rng: the guest's buffers are filled from getrandom(2). */
struct virtio_rng;
struct virtio_rng *virtio_rng_create(struct machine *m, GError **err);
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
