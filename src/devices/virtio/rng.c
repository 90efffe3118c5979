// SPDX-License-Identifier: MIT
/*
 * virtio-rng (virtio 1.2, 5.4): one request queue of device-writable
 * buffers, filled from getrandom(2) on the device's I/O thread. A request
 * gets at most RNG_MAX_PER_REQUEST bytes, so a driver asking for huge
 * buffers cannot keep the thread in the kernel's CSPRNG for long; drivers
 * take what the used length says and ask again.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/machine.h"
#include "tern/virtio.h"
#include "tern/virtio_devices.h"

#define RNG_MAX_PER_REQUEST (64 * 1024)

struct virtio_rng {
	struct virtio_device *vdev;
	struct iothread *thread;
	struct virtq_elem elem; /* the request in hand (I/O thread only) */
};

/* Fill up to max bytes of the chain's writable buffers; returns bytes filled. */
static uint32_t rng_fill(const struct virtq_elem *elem)
{
	uint32_t done = 0;

	for (unsigned int i = elem->out_num;
	     i < elem->out_num + elem->in_num && done < RNG_MAX_PER_REQUEST; i++) {
		uint8_t *p = elem->iov[i].iov_base;
		size_t want = MIN(elem->iov[i].iov_len,
				  (size_t)(RNG_MAX_PER_REQUEST - done));
		size_t got = 0;

		while (got < want) {
			ssize_t n = getrandom(p + got, want - got, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return done + (uint32_t)got;
			}
			got += n;
		}
		done += (uint32_t)got;
	}
	return done;
}

static void rng_kick(void *opaque, uint32_t events)
{
	struct virtio_rng *rng = opaque;
	struct virtqueue *vq = rng->vdev->queues[0];
	struct virtq_elem *elem = &rng->elem;
	uint64_t v;

	(void)!read(virtq_kick_fd(vq), &v, sizeof(v));
	do {
		int ret;

		virtq_disable_kicks(vq);
		while ((ret = virtq_pop(vq, elem)) > 0)
			virtq_push(vq, elem, rng_fill(elem));
		virtq_notify(vq);
		if (ret < 0)
			return; /* NEEDS_RESET: the queue stays stopped */
	} while (virtq_enable_kicks(vq));
}

static int rng_activate(struct virtio_device *vdev)
{
	struct virtio_rng *rng = vdev->priv;
	int ret;

	ret = iothread_add(rng->thread, virtq_kick_fd(vdev->queues[0]), EPOLLIN,
			   rng_kick, rng);
	if (!ret)
		iothread_start(rng->thread);
	return ret;
}

static void rng_reset(struct virtio_device *vdev)
{
	struct virtio_rng *rng = vdev->priv;

	iothread_stop(rng->thread);
	(void)iothread_del(rng->thread, virtq_kick_fd(vdev->queues[0]));
}

/* Nothing is in flight outside a callback: parking the thread is enough. */
static int rng_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct virtio_rng *rng = vdev->priv;

	iothread_stop(rng->thread);
	return 0;
}

static void rng_resume(struct virtio_device *vdev)
{
	struct virtio_rng *rng = vdev->priv;

	iothread_start(rng->thread);
	/* Requests may have come while it was parked. */
	efd_signal(virtq_kick_fd(vdev->queues[0]));
}

static void rng_destroy(struct virtio_device *vdev)
{
	struct virtio_rng *rng = vdev->priv;

	iothread_destroy(rng->thread);
	g_free(rng);
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.activate = rng_activate,
	.reset = rng_reset,
	.destroy = rng_destroy,
	.quiesce = rng_quiesce,
	.resume = rng_resume,
};

static struct virtio_device *virtio_rng_create(struct machine *m, GError **err)
{
	struct virtio_rng *rng = g_new0(struct virtio_rng, 1);

	rng->thread = iothread_create(m->threads, "io-rng", virtio_iothread_fault,
				     &rng->vdev, err);
	if (!rng->thread)
		goto err;
	rng->vdev = virtio_pci_create(m, &rng_ops, rng, VIRTIO_ID_RNG, 0, 1,
				      NULL, 0, err);
	if (!rng->vdev)
		goto err;
	return rng->vdev;
err:
	iothread_destroy(rng->thread);
	g_free(rng);
	return NULL;
}

/* ---- registry ---- */

static unsigned int rng_count(const struct vm_config *cfg)
{
	return cfg->rng ? 1 : 0;
}

static void *rng_device_create(struct machine *m, unsigned int index,
			       GError **err)
{
	return virtio_rng_create(m, err);
}

const struct device_type virtio_rng_device_type = {
	.name = "virtio-rng",
	.option = "--rng",
	.count = rng_count,
	.create = rng_device_create,
	.destroy = virtio_pci_device_destroy,
	.quiesce = virtio_pci_device_quiesce,
	.resume = virtio_pci_device_resume,
	.save = virtio_pci_device_save,
	.load = virtio_pci_device_load,
};
