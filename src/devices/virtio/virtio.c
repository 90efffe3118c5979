// SPDX-License-Identifier: MIT
/*
 * The transport-independent half of a virtio 1.x device: feature
 * negotiation, the device status machine (3.1.1), reset, NEEDS_RESET and
 * configuration generation. The transport calls in from the control path
 * (vCPU threads, serialised by the transport); device threads only call
 * virtio_config_changed() and virtio_device_needs_reset(), which take
 * vdev->lock briefly and never wait for anything else.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "tern/virtio.h"

int virtio_device_init(struct virtio_device *vdev, const struct guest_memory *mem,
		       const struct virtio_device_ops *ops, void *priv,
		       uint16_t device_id, uint64_t features,
		       unsigned int nr_queues, uint16_t max_size,
		       uint8_t *config, size_t config_size)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->ops = ops;
	vdev->priv = priv;
	vdev->mem = mem;
	vdev->device_id = device_id;
	/* Virtio 1.x only, rings in guest physical memory: no ACCESS_PLATFORM. */
	vdev->host_features = (features | VIRTIO_TRANSPORT_FEATURES) &
			       ~(1ULL << VIRTIO_F_ACCESS_PLATFORM);
	vdev->config = config;
	vdev->config_size = config_size;
	pthread_mutex_init(&vdev->lock, NULL);
	vdev->queues = g_new0(struct virtqueue *, nr_queues ? nr_queues : 1);
	for (unsigned int i = 0; i < nr_queues; i++) {
		vdev->queues[i] = virtq_create(vdev, i, max_size);
		if (!vdev->queues[i]) {
			int ret = -errno;

			virtio_device_cleanup(vdev);
			return ret;
		}
		vdev->nr_queues++;
	}
	return 0;
}

void virtio_device_cleanup(struct virtio_device *vdev)
{
	if (!vdev->queues)
		return;
	virtio_device_reset(vdev);
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		virtq_destroy(vdev->queues[i]);
	g_free(vdev->queues);
	vdev->queues = NULL;
	vdev->nr_queues = 0;
	pthread_mutex_destroy(&vdev->lock);
}

uint8_t virtio_device_get_status(struct virtio_device *vdev)
{
	uint8_t s;

	pthread_mutex_lock(&vdev->lock);
	s = vdev->status;
	pthread_mutex_unlock(&vdev->lock);
	return s;
}

void virtio_device_reset(struct virtio_device *vdev)
{
	/* The model stops its threads first: nothing touches the rings after. */
	if (vdev->active) {
		vdev->ops->reset(vdev);
		vdev->active = false;
	}
	/* The holds stay: they are the VM's and the bus master bit's. */
	vdev->quiesced = false;
	vdev->activate_pending = VIRTIO_ACTIVATE_NONE;
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		virtq_stop(vdev->queues[i]);
	pthread_mutex_lock(&vdev->lock);
	vdev->status = 0;
	vdev->features = 0;
	vdev->config_dirty = false;
	pthread_mutex_unlock(&vdev->lock);
}

static bool virtio_device_activate(struct virtio_device *vdev,
				   bool start_queues);

int virtio_device_hold(struct virtio_device *vdev, unsigned int reason,
		       uint64_t deadline_ns)
{
	vdev->holds |= reason;
	/*
	 * Quiesce again after a time-out: requests still in the back-end
	 * were left there, and this call may see them finish.
	 */
	if (!vdev->active || (vdev->quiesced && !vdev->quiesce_timed_out))
		return 0;
	vdev->quiesced = true;
	vdev->quiesce_timed_out = false;
	if (vdev->ops->quiesce && vdev->ops->quiesce(vdev, deadline_ns)) {
		vdev->quiesce_timed_out = true;
		return -ETIMEDOUT;
	}
	return 0;
}

void virtio_device_release(struct virtio_device *vdev, unsigned int reason)
{
	enum virtio_activation pending = vdev->activate_pending;
	bool was = vdev->quiesced;

	vdev->holds &= ~reason;
	if (vdev->holds)
		return;
	vdev->quiesced = false;
	vdev->quiesce_timed_out = false;
	if (pending != VIRTIO_ACTIVATE_NONE) {
		/* DRIVER_OK came (or was loaded) while held: start it only now. */
		vdev->activate_pending = VIRTIO_ACTIVATE_NONE;
		virtio_device_activate(vdev, pending == VIRTIO_ACTIVATE_ALL);
		return;
	}
	if (was && vdev->active && vdev->ops->resume)
		vdev->ops->resume(vdev);
}

uint32_t virtio_device_host_features(const struct virtio_device *vdev,
				     unsigned int sel)
{
	return sel < 2 ? (uint32_t)(vdev->host_features >> (32 * sel)) : 0;
}

uint32_t virtio_device_driver_features(struct virtio_device *vdev,
				       unsigned int sel)
{
	uint32_t v;

	pthread_mutex_lock(&vdev->lock);
	v = sel < 2 ? (uint32_t)(vdev->features >> (32 * sel)) : 0;
	pthread_mutex_unlock(&vdev->lock);
	return v;
}

void virtio_device_set_driver_features(struct virtio_device *vdev,
				       unsigned int sel, uint32_t val)
{
	uint64_t mask, bits;

	if (sel >= 2)
		return;
	mask = 0xffffffffULL << (32 * sel);
	bits = ((uint64_t)val << (32 * sel)) & vdev->host_features;
	pthread_mutex_lock(&vdev->lock);
	/* Features are final once the driver set FEATURES_OK. */
	if (!(vdev->status & VIRTIO_STATUS_FEATURES_OK))
		vdev->features = (vdev->features & ~mask) | bits;
	pthread_mutex_unlock(&vdev->lock);
}

/* What FEATURES_OK needs: a modern driver, and only bits we offered. */
static bool virtio_features_acceptable(const struct virtio_device *vdev)
{
	return (vdev->features & (1ULL << VIRTIO_F_VERSION_1)) &&
	       !(vdev->features & ~vdev->host_features);
}

/*
 * Start the enabled queues (unless a state load started them) and the
 * model; false put the device in NEEDS_RESET with no queue started, so
 * a saved state tells a model that never ran (NEEDS_RESET, no queue
 * started) from one that ran (virtio_device_load()).
 */
static bool virtio_device_activate(struct virtio_device *vdev,
				   bool start_queues)
{
	int ret;

	for (unsigned int i = 0; i < vdev->nr_queues && start_queues; i++) {
		struct virtqueue *vq = vdev->queues[i];
		const char *why = NULL;

		if (!virtq_layout(vq)->enabled)
			continue;
		if (virtq_start(vq, &why)) {
			virtio_device_needs_reset(vdev, "queue %u: %s", i, why);
			goto fail;
		}
	}
	ret = vdev->ops->activate ? vdev->ops->activate(vdev) : 0;
	if (ret) {
		virtio_device_needs_reset(vdev, "cannot start the device: %s",
					  g_strerror(-ret));
		goto fail;
	}
	vdev->active = true;
	return true;
fail:
	for (unsigned int i = 0; i < vdev->nr_queues; i++)
		virtq_halt(vdev->queues[i]);
	return false;
}

void virtio_device_set_status(struct virtio_device *vdev, uint8_t status)
{
	uint8_t old, added;

	if (!status) {
		virtio_device_reset(vdev);
		return;
	}
	/*
	 * Bits the spec does not define are not kept (the driver reads them
	 * back clear), so a saved status never holds one: the state loader
	 * refuses them as corruption.
	 */
	status &= VIRTIO_STATUS_KNOWN;
	pthread_mutex_lock(&vdev->lock);
	old = vdev->status;
	/* NEEDS_RESET is the device's to set and only a reset clears it. */
	status = (status & ~VIRTIO_STATUS_NEEDS_RESET) |
		 (old & VIRTIO_STATUS_NEEDS_RESET);
	if (old & ~status) {
		pthread_mutex_unlock(&vdev->lock);
		tern_debug("%s: driver tried to clear status bits (0x%02x -> 0x%02x); ignored",
			   vdev->ops->name, old, status);
		return;
	}
	added = status & ~old;
	if ((added & VIRTIO_STATUS_FEATURES_OK) &&
	    (!(status & VIRTIO_STATUS_DRIVER) || !virtio_features_acceptable(vdev))) {
		/* Refused: the driver reads the status back and sees it missing. */
		tern_debug("%s: features 0x%llx refused", vdev->ops->name,
			   (unsigned long long)vdev->features);
		status &= ~VIRTIO_STATUS_FEATURES_OK;
		added &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) &&
	    (!(status & VIRTIO_STATUS_FEATURES_OK) ||
	     (status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)))) {
		tern_debug("%s: DRIVER_OK without FEATURES_OK (status 0x%02x); ignored",
			   vdev->ops->name, status);
		status &= ~VIRTIO_STATUS_DRIVER_OK;
		added &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	vdev->status = status;
	pthread_mutex_unlock(&vdev->lock);

	if (!(added & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (vdev->holds)
		/* Held (bus master off, VM stopped): the release starts it. */
		vdev->activate_pending = VIRTIO_ACTIVATE_ALL;
	else
		virtio_device_activate(vdev, true);
}

void virtio_device_config_read(struct virtio_device *vdev, uint64_t off,
			       void *data, unsigned int len)
{
	pthread_mutex_lock(&vdev->lock);
	/*
	 * 4.1.4.3.1: after the driver reads a field that changed since its
	 * last read, config_generation must differ. Bumping here, on the
	 * first read after a change, never wraps back to a value the driver
	 * saw (as bumping on every change could).
	 */
	if (vdev->config_dirty) {
		vdev->config_generation++;
		vdev->config_dirty = false;
	}
	if (vdev->ops->config_read) {
		pthread_mutex_unlock(&vdev->lock);
		memset(data, 0, len);
		if (off < vdev->config_size && len <= vdev->config_size - off)
			vdev->ops->config_read(vdev, off, data, len);
		return;
	}
	memset(data, 0, len);
	if (vdev->config && off < vdev->config_size)
		memcpy(data, vdev->config + off,
		       MIN((uint64_t)len, vdev->config_size - off));
	pthread_mutex_unlock(&vdev->lock);
}

void virtio_device_config_write(struct virtio_device *vdev, uint64_t off,
				const void *data, unsigned int len)
{
	if (off >= vdev->config_size || len > vdev->config_size - off)
		return;
	if (vdev->ops->config_write)
		vdev->ops->config_write(vdev, off, data, len);
}

uint8_t virtio_device_config_generation(struct virtio_device *vdev)
{
	uint8_t g;

	pthread_mutex_lock(&vdev->lock);
	g = vdev->config_generation;
	pthread_mutex_unlock(&vdev->lock);
	return g;
}

void virtio_config_changed(struct virtio_device *vdev)
{
	bool driver_ok;

	pthread_mutex_lock(&vdev->lock);
	vdev->config_dirty = true;
	driver_ok = vdev->status & VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_unlock(&vdev->lock);
	if (driver_ok && vdev->transport_ops && vdev->transport_ops->notify_config)
		vdev->transport_ops->notify_config(vdev);
}

void virtio_device_needs_reset(struct virtio_device *vdev, const char *fmt, ...)
{
	g_autofree char *why = NULL;
	bool driver_ok;
	va_list ap;

	pthread_mutex_lock(&vdev->lock);
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET) {
		pthread_mutex_unlock(&vdev->lock);
		return;
	}
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	driver_ok = vdev->status & VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_unlock(&vdev->lock);

	va_start(ap, fmt);
	why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	tern_log("%s: %s; the device needs a reset", vdev->ops->name, why);
	/* 2.1.2: with DRIVER_OK set, NEEDS_RESET comes with a config interrupt. */
	if (driver_ok && vdev->transport_ops && vdev->transport_ops->notify_config)
		vdev->transport_ops->notify_config(vdev);
}

void virtio_iothread_fault(void *vdev_ptr, const char *why)
{
	struct virtio_device *vdev = *(struct virtio_device **)vdev_ptr;

	if (vdev)
		virtio_device_needs_reset(vdev, "its I/O thread failed: %s", why);
}
