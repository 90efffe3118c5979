/* SPDX-License-Identifier: MIT */
/* What the virtio unit suites (test-virtio.c, test-virtio-pci.c) share. */
#ifndef TERN_VIRTIO_UNIT_H
#define TERN_VIRTIO_UNIT_H

#include <stdio.h>

#include "tern/state.h"
#include "tern/virtio.h"
#include "unit.h"

/*
 * Save vdev's core fields in a "virtio" section, reset it (reset(vdev):
 * the core's reset, or a driver writing 0 to the status), load them back:
 * true if the load took them, else the loader's error on stderr.
 */
static inline bool virtio_save_reset_load(struct virtio_device *vdev,
					  void (*reset)(struct virtio_device *))
{
	struct state_writer w;
	struct state_reader r;
	g_autofree uint8_t *buf = NULL;
	GError *err = NULL;
	size_t len;
	bool ok;

	state_writer_init(&w);
	state_section_begin(&w, 1, "virtio");
	virtio_device_save(vdev, &w);
	state_section_end(&w);
	buf = state_writer_finish(&w, &len);
	reset(vdev);
	ck_assert(state_reader_init(&r, buf, len, &err));
	ok = state_section_open(&r, 1, 1, NULL, "virtio") &&
	     virtio_device_load(vdev, &r);
	ok = state_section_close(&r, &err) && ok;
	if (!ok)
		fprintf(stderr, "load: %s\n", err ? err->message : "?");
	g_clear_error(&err);
	state_reader_clear(&r);
	return ok;
}

#endif
