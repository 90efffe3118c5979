// SPDX-License-Identifier: MIT
/*
 * The transport-independent state of a virtio device (virtio.h): status,
 * negotiated features, configuration generation, the queues, then the
 * model's own section. The transport writes its registers around it.
 */
#include <string.h>

#include "tern/state.h"
#include "tern/virtio.h"

void virtio_device_save(struct virtio_device *vdev, struct state_writer *w)
{
	pthread_mutex_lock(&vdev->lock);
	state_put_u8(w, vdev->status);
	state_put_u64(w, vdev->features);
	state_put_u8(w, vdev->config_generation);
	state_put_bool(w, vdev->config_dirty);
	pthread_mutex_unlock(&vdev->lock);
	state_put_u32(w, vdev->nr_queues);
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		virtq_save(vdev->queues[i], w);
}

bool virtio_device_load(struct virtio_device *vdev, struct state_reader *r)
{
	uint8_t status, generation;
	uint64_t features;
	uint32_t nr_queues;
	bool dirty, driver_ok, running, any_started = false;

	state_get_u8(r, &status);
	state_get_u64(r, &features);
	state_get_u8(r, &generation);
	state_get_bool(r, &dirty);
	state_get_u32(r, &nr_queues);
	state_check(r, !(status & ~VIRTIO_STATUS_KNOWN),
		    "device status 0x%02x has unknown bits", status);
	state_check(r, !(features & ~vdev->host_features),
		    "features 0x%llx include ones this device does not offer (0x%llx)",
		    (unsigned long long)features,
		    (unsigned long long)vdev->host_features);
	state_check(r, !(status & VIRTIO_STATUS_FEATURES_OK) ||
			       (features & (1ULL << VIRTIO_F_VERSION_1)),
		    "FEATURES_OK without VIRTIO_F_VERSION_1");
	state_check(r, nr_queues == vdev->nr_queues,
		    "%u queues, this device has %u", nr_queues, vdev->nr_queues);
	if (!state_ok(r))
		return false;
	/* The queues check their layout against these features. */
	vdev->features = features;
	/*
	 * Only an accepted DRIVER_OK starts queues, and only a reset takes
	 * DRIVER_OK away. FAILED (the driver's) and NEEDS_RESET (a broken
	 * ring) can come after it and stop nothing: the queues stay started,
	 * a broken one stays broken, and the model runs on. A NEEDS_RESET
	 * that came with DRIVER_OK (a queue that could not start, an
	 * activation that failed) left the model stopped and no queue
	 * started.
	 */
	driver_ok = status & VIRTIO_STATUS_DRIVER_OK;
	for (unsigned int i = 0; i < vdev->nr_queues; i++) {
		struct virtqueue *vq = vdev->queues[i];

		if (!virtq_load(vq, r))
			goto fail;
		if (!state_check(r, driver_ok || !virtq_started(vq),
				 "queue %u runs without DRIVER_OK", i))
			goto fail;
		any_started |= virtq_started(vq);
	}
	running = driver_ok &&
		  (!(status & VIRTIO_STATUS_NEEDS_RESET) || any_started);
	pthread_mutex_lock(&vdev->lock);
	vdev->status = status;
	vdev->config_generation = generation;
	vdev->config_dirty = dirty;
	pthread_mutex_unlock(&vdev->lock);
	/* The transport holds it while loading; the release starts it. */
	vdev->activate_pending = running ? VIRTIO_ACTIVATE_MODEL :
					   VIRTIO_ACTIVATE_NONE;
	return true;
fail:
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		virtq_stop(vdev->queues[i]);
	vdev->features = 0;
	return false;
}
