// SPDX-License-Identifier: MIT
/*
 * Virtqueues, the part both layouts share: life cycle, the checks every
 * buffer goes through, and dispatch to split_ring.c or packed_ring.c. Pure
 * over guest memory: no KVM, no transport (interrupts go through the
 * device's transport ops), so the unit tests drive it on hand-built rings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtqueue.h"

struct virtqueue *virtq_create(struct virtio_device *vdev, unsigned int index,
			       uint16_t max_size)
{
	struct virtqueue *vq;
	int fd;

	if (!max_size || max_size > VIRTQ_MAX_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return NULL;
	vq = g_new0(struct virtqueue, 1);
	vq->vdev = vdev;
	vq->index = index;
	vq->max_size = max_size;
	vq->kick_fd = fd;
	virtq_stop(vq);
	return vq;
}

void virtq_destroy(struct virtqueue *vq)
{
	if (!vq)
		return;
	close(vq->kick_fd);
	g_free(vq);
}

struct virtq_layout *virtq_layout(struct virtqueue *vq)
{
	return &vq->layout;
}

uint16_t virtq_max_size(const struct virtqueue *vq)
{
	return vq->max_size;
}

int virtq_kick_fd(const struct virtqueue *vq)
{
	return vq->kick_fd;
}

unsigned int virtq_index(const struct virtqueue *vq)
{
	return vq->index;
}

struct virtio_device *virtq_device(const struct virtqueue *vq)
{
	return vq->vdev;
}

bool virtq_started(const struct virtqueue *vq)
{
	return vq->started;
}

bool virtq_broken(const struct virtqueue *vq)
{
	return __atomic_load_n(&vq->broken, __ATOMIC_ACQUIRE);
}

int virtq_start(struct virtqueue *vq, const char **why)
{
	const struct virtio_device *vdev = vq->vdev;
	const struct virtq_layout *l = &vq->layout;
	int ret;

	if (!l->size || l->size > vq->max_size) {
		*why = "queue size is 0 or above the maximum";
		return -EINVAL;
	}
	memset(&vq->split, 0, sizeof(vq->split));
	memset(&vq->packed, 0, sizeof(vq->packed));
	vq->size = l->size;
	vq->is_packed = virtio_has_feature(vdev, VIRTIO_F_RING_PACKED);
	vq->event_idx = virtio_has_feature(vdev, VIRTIO_F_EVENT_IDX);
	vq->indirect = virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);
	vq->kicks_enabled = true;
	__atomic_store_n(&vq->broken, false, __ATOMIC_RELEASE);
	ret = vq->is_packed ? vq_packed_start(vq, why) : vq_split_start(vq, why);
	if (ret)
		return ret;
	vq->started = true;
	return 0;
}

void virtq_stop(struct virtqueue *vq)
{
	uint64_t v;

	vq->started = false;
	__atomic_store_n(&vq->broken, false, __ATOMIC_RELEASE);
	vq->layout = (struct virtq_layout){ .size = vq->max_size };
	/* A kick from before the reset must not wake the next incarnation. */
	(void)!read(vq->kick_fd, &v, sizeof(v));
}

void virtq_halt(struct virtqueue *vq)
{
	vq->started = false;
}

int vq_malformed(struct virtqueue *vq, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_store_n(&vq->broken, true, __ATOMIC_RELEASE);
	virtio_device_needs_reset(vq->vdev, "queue %u: %s", vq->index, msg);
	return -EINVAL;
}

int vq_elem_add(struct virtqueue *vq, struct virtq_elem *elem, uint64_t addr,
		uint32_t len, bool writable)
{
	unsigned int n = elem->out_num + elem->in_num;
	void *p;

	if (!len)
		return vq_malformed(vq, "zero-length buffer at 0x%llx",
				    (unsigned long long)addr);
	if (n >= VIRTQ_MAX_CHAIN)
		return vq_malformed(vq, "more than %u buffers in one chain",
				    VIRTQ_MAX_CHAIN);
	if (!writable && elem->in_num)
		return vq_malformed(vq, "device-readable buffer at 0x%llx after a device-writable one",
				    (unsigned long long)addr);
	p = guest_memory_ptr(vq->vdev->mem, addr, len);
	if (!p)
		return vq_malformed(vq, "buffer 0x%llx+0x%x is not inside guest RAM",
				    (unsigned long long)addr, len);
	elem->iov[n].iov_base = p;
	elem->iov[n].iov_len = len;
	if (writable) {
		elem->in_num++;
		elem->in_len += len;
	} else {
		elem->out_num++;
		elem->out_len += len;
	}
	return 0;
}

int vq_indirect_table(struct virtqueue *vq, uint64_t addr, uint32_t len,
		      const void **table, unsigned int *n)
{
	if (!vq->indirect)
		return vq_malformed(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (!len || len % sizeof(struct vring_desc))
		return vq_malformed(vq, "indirect table length %u is not a non-zero multiple of 16",
				    len);
	if (len / sizeof(struct vring_desc) > VIRTQ_MAX_CHAIN)
		return vq_malformed(vq, "indirect table of %u descriptors, more than %u",
				    (unsigned int)(len / sizeof(struct vring_desc)),
				    VIRTQ_MAX_CHAIN);
	*table = guest_memory_ptr(vq->vdev->mem, addr, len);
	if (!*table)
		return vq_malformed(vq, "indirect table 0x%llx+0x%x is not inside guest RAM",
				    (unsigned long long)addr, len);
	*n = len / sizeof(struct vring_desc);
	return 0;
}

void vq_elem_init(struct virtq_elem *elem)
{
	elem->id = 0;
	elem->ndesc = 0;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
}

int virtq_pop(struct virtqueue *vq, struct virtq_elem *elem)
{
	if (!vq->started)
		return 0;
	if (virtq_broken(vq))
		return -EINVAL;
	return vq->is_packed ? vq_packed_pop(vq, elem) : vq_split_pop(vq, elem);
}

void virtq_push(struct virtqueue *vq, const struct virtq_elem *elem,
		uint32_t written)
{
	if (!vq->started || virtq_broken(vq))
		return;
	/* A model never reports more than the chain could take. */
	if (written > elem->in_len)
		written = (uint32_t)MIN(elem->in_len, (uint64_t)UINT32_MAX);
	/*
	 * The model wrote these bytes before pushing; marking them before
	 * the driver can see the completion keeps "completed" implying
	 * "marked". Bytes a model writes beyond `written` it marks itself.
	 */
	guest_memory_mark_dirty_iov(vq->vdev->mem, elem->iov + elem->out_num,
				    elem->in_num, written);
	if (vq->is_packed)
		vq_packed_push(vq, elem, written);
	else
		vq_split_push(vq, elem, written);
}

void virtq_push_batch(struct virtqueue *vq, const struct virtq_elem *const *elems,
		      const uint32_t *written, unsigned int n)
{
	uint32_t w[VIRTQ_MAX_SIZE];

	if (!vq->started || virtq_broken(vq) || !n)
		return;
	/* More chains than the ring holds cannot have been popped. */
	n = MIN(n, (unsigned int)vq->size);
	for (unsigned int i = 0; i < n; i++) {
		w[i] = (uint32_t)MIN((uint64_t)written[i], elems[i]->in_len);
		guest_memory_mark_dirty_iov(vq->vdev->mem,
					    elems[i]->iov + elems[i]->out_num,
					    elems[i]->in_num, w[i]);
	}
	if (vq->is_packed)
		vq_packed_push_batch(vq, elems, w, n);
	else
		vq_split_push_batch(vq, elems, w, n);
}

void virtq_unpop(struct virtqueue *vq, const struct virtq_elem *elem)
{
	if (!vq->started || virtq_broken(vq))
		return;
	if (vq->is_packed)
		vq_packed_unpop(vq, elem);
	else
		vq->split.last_avail--;
}

uint16_t virtq_split_last_avail(const struct virtqueue *vq)
{
	return vq->split.last_avail;
}

void virtq_split_resume_at(struct virtqueue *vq, uint16_t last_avail)
{
	if (!vq->started || vq->is_packed)
		return;
	vq->split.last_avail = last_avail;
	/* The outside path published used entries: read where it left idx. */
	vq->split.used_idx = le16toh(__atomic_load_n(&vq->split.used->idx,
						     __ATOMIC_ACQUIRE));
	/* Whatever it signalled, the next notify decides afresh. */
	vq->split.signalled_valid = false;
}

void virtq_notify(struct virtqueue *vq)
{
	struct virtio_device *vdev = vq->vdev;
	bool fire;

	if (!vq->started || virtq_broken(vq))
		return;
	fire = vq->is_packed ? vq_packed_should_notify(vq) : vq_split_should_notify(vq);
	if (fire && vdev->transport_ops && vdev->transport_ops->notify_queue)
		vdev->transport_ops->notify_queue(vdev, vq);
}

void virtq_disable_kicks(struct virtqueue *vq)
{
	if (!vq->started || !vq->kicks_enabled)
		return;
	vq->kicks_enabled = false;
	if (vq->is_packed)
		vq_packed_disable_kicks(vq);
	else
		vq_split_disable_kicks(vq);
}

bool virtq_enable_kicks(struct virtqueue *vq)
{
	if (!vq->started || virtq_broken(vq))
		return false;
	vq->kicks_enabled = true;
	return vq->is_packed ? vq_packed_enable_kicks(vq) : vq_split_enable_kicks(vq);
}
