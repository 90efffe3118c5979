// SPDX-License-Identifier: MIT
/*
 * vhost-user: handing a device's rings to the back-end and taking them
 * back (dev.c has the connection around it). The order of a ring's
 * set-up, the inflight buffer kept across reconnects, and where a ring
 * resumes after a clean stop or a crash.
 */
#include <endian.h>
#include <errno.h>
#include <unistd.h>

#include "tern/eventfd.h"
#include "tern/util.h"
#include "tern/virtio.h"

#include "vhost-user-internal.h"

/*
 * The inflight buffer: asked for once, kept across reconnects (a new
 * back-end finds there what the old one had taken). tern never maps it:
 * only back-ends read and write it, and the back-end owns the file, so a
 * hostile or broken one could shrink it under a mapping of ours and turn
 * our next touch into SIGBUS. A device reset drops it (dev.c) instead of
 * clearing it, and the next start asks for a fresh one, as QEMU does.
 */
static int dev_inflight(struct vhost_user_dev *d)
{
	struct vhost_user_msg m, r;
	int ret;

	if (!vhost_user_conn_has_protocol(&d->conn,
					  VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		return 0;
	if (d->inflight_fd < 0) {
		struct vhost_user_inflight in = {
		    .num_queues = d->nr_queues,
		    .queue_size = VIRTQ_MAX_SIZE,
		};

		vhost_user_msg_inflight(&m, VHOST_USER_GET_INFLIGHT_FD, &in,
					-1);
		ret = vhost_user_conn_call(&d->conn, &m, &r);
		if (ret)
			return ret;
		ret = vhost_user_reply_inflight(&r, &in);
		if (ret) {
			close(r.fds[0]);
			return ret;
		}
		d->inflight = in;
		d->inflight_fd = r.fds[0];
	}
	vhost_user_msg_inflight(&m, VHOST_USER_SET_INFLIGHT_FD, &d->inflight,
				d->inflight_fd);
	return vhost_user_conn_call(&d->conn, &m, NULL);
}

/* Rings are enabled and disabled only with protocol features. */
static bool dev_has_enable(const struct vhost_user_dev *d)
{
	return d->conn.features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
}

static int dev_ring_start(struct vhost_user_dev *d, unsigned int i)
{
	struct virtqueue *vq = d->vdev->queues[i];
	const struct guest_memory *mem = d->vdev->mem;
	const struct virtq_layout *l = virtq_layout(vq);
	uint64_t n = l->size;
	struct vhost_user_vring_addr a = {.index = i};
	struct vhost_user_msg m;
	void *desc = guest_memory_ptr(mem, l->desc, 16 * n);
	void *avail = guest_memory_ptr(mem, l->driver, 6 + 2 * n);
	void *used = guest_memory_ptr(mem, l->device, 6 + 8 * n);
	int ret;

	/* virtq_start() checked them; this is the same check, once more. */
	if (!desc || !avail || !used)
		return -EFAULT;
	a.desc = (uintptr_t)desc;
	a.avail = (uintptr_t)avail;
	a.used = (uintptr_t)used;
	vhost_user_msg_vring_state(&m, VHOST_USER_SET_VRING_NUM, i, l->size);
	ret = vhost_user_conn_call(&d->conn, &m, NULL);
	if (!ret) {
		vhost_user_msg_vring_state(&m, VHOST_USER_SET_VRING_BASE, i,
					   virtq_split_last_avail(vq));
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	if (!ret) {
		vhost_user_msg_vring_addr(&m, &a);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	if (!ret) {
		d->sent_call[i] = vhost_user_dev_call_fd(d, i);
		vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_CALL, i,
					d->sent_call[i]);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	if (!ret) {
		vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_ERR, i,
					d->err_fd[i]);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	/*
	 * The kick last: it starts the ring in libvhost-user, which then
	 * completes what a pending kick finds and signals the call fd at
	 * once (qemu-storage-daemon panics on a call fd it does not have yet).
	 */
	if (!ret) {
		vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_KICK, i,
					virtq_kick_fd(vq));
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	/*
	 * With protocol features a ring starts disabled; one beyond the
	 * active queue pairs of a net stays so, said explicitly as QEMU does
	 * (a back-end that came back must not keep an old enable).
	 */
	if (!ret && dev_has_enable(d)) {
		vhost_user_msg_vring_state(&m, VHOST_USER_SET_VRING_ENABLE, i,
					   i < d->nr_enabled);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	return ret;
}

/* Lock held, connected and active: hand every started ring over. */
int vhost_user_dev_rings_start(struct vhost_user_dev *d, const char **what)
{
	uint64_t f = d->vdev->features & ~d->local_features;
	int ret;

	*what = "feature set";
	if (f & ~d->conn.features)
		return -EPROTONOSUPPORT; /* a new back-end that can do less */
	f |= d->conn.features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	ret = vhost_user_conn_set_u64(&d->conn, VHOST_USER_SET_FEATURES, f);
	if (!ret) {
		*what = "inflight buffer";
		ret = dev_inflight(d);
	}
	*what = "ring set-up";
	for (unsigned int i = 0; i < d->nr_queues && !ret; i++)
		if (virtq_started(d->vdev->queues[i]))
			ret = dev_ring_start(d, i);
	if (!ret && vhost_user_conn_has_protocol(
			&d->conn, VHOST_USER_PROTOCOL_F_STATUS)) {
		*what = "status";
		ret = vhost_user_conn_set_u64(&d->conn, VHOST_USER_SET_STATUS,
					      d->vdev->status);
	}
	if (ret)
		return ret;
	d->running = true;
	/*
	 * A back-end only looks at a ring when kicked, and a driver that
	 * already made its requests available (before a crash, or while the
	 * VM was stopped) may wait for their completion without kicking
	 * again: kick every ring once. A spurious kick costs a ring check.
	 */
	for (unsigned int i = 0; i < d->nr_queues; i++)
		if (virtq_started(d->vdev->queues[i]))
			efd_signal(virtq_kick_fd(d->vdev->queues[i]));
	return 0;
}

int vhost_user_dev_call_fd(struct vhost_user_dev *d, unsigned int i)
{
	const struct virtio_transport_ops *t = d->vdev->transport_ops;
	int fd = t->queue_irq_fd ? t->queue_irq_fd(d->vdev, d->vdev->queues[i])
				 : -1;

	return fd >= 0 ? fd : d->call_fd[i];
}

/*
 * Lock held, running: each started ring whose interrupt moved gets its new
 * call fd, then one interrupt through it, since a call the back-end made
 * between the move and this went where the guest no longer looks (a
 * spurious interrupt costs the driver a look at its used ring).
 */
int vhost_user_dev_calls_update(struct vhost_user_dev *d)
{
	int ret = 0;

	for (unsigned int i = 0; i < d->nr_queues && !ret; i++) {
		struct virtqueue *vq = d->vdev->queues[i];
		int fd = vhost_user_dev_call_fd(d, i);
		struct vhost_user_msg m;

		if (!virtq_started(vq) || fd == d->sent_call[i])
			continue;
		vhost_user_msg_vring_fd(&m, VHOST_USER_SET_VRING_CALL, i, fd);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
		if (!ret) {
			d->sent_call[i] = fd;
			d->vdev->transport_ops->notify_queue(d->vdev, vq);
		}
	}
	return ret;
}

void vhost_user_dev_set_rings(struct vhost_user_dev *d, unsigned int n)
{
	d->nr_queues = MIN(n, d->max_queues);
	d->nr_enabled = MIN(d->nr_enabled, d->nr_queues);
}

void vhost_user_dev_enable(struct vhost_user_dev *d, unsigned int n)
{
	unsigned int old = d->nr_enabled;
	int ret = 0;

	d->nr_enabled = MIN(n, d->nr_queues);
	if (!d->running || !dev_has_enable(d))
		return; /* the next start or reconnect sends it */
	for (unsigned int i = 0; i < d->nr_queues && !ret; i++) {
		struct virtqueue *vq = d->vdev->queues[i];
		bool on = i < d->nr_enabled;
		struct vhost_user_msg m;

		if (on == (i < old) || !virtq_started(vq))
			continue;
		vhost_user_msg_vring_state(&m, VHOST_USER_SET_VRING_ENABLE, i,
					   on);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
		/* What the driver queued while the ring was off. */
		if (!ret && on)
			efd_signal(virtq_kick_fd(vq));
	}
	if (ret)
		vhost_user_dev_fail(d, "SET_VRING_ENABLE", ret);
}

/*
 * Where ring i resumes after GET_VRING_BASE said base: base, or the used
 * index when that is ahead of it by at most the ring's size.
 * libvhost-user (qemu-storage-daemon, virtiofsd) reads its next avail
 * index before it stops the ring, and its queue thread can still take
 * requests until it is stopped; it finishes them before it answers, so
 * they are in the used ring, past base. Resuming at base would hand them
 * to the back-end again and the driver would see each completed twice.
 * The used index is never past what the back-end took, so taking it
 * skips nothing.
 */
uint16_t vhost_user_resume_index(uint16_t base, uint16_t used, uint16_t size)
{
	uint16_t ahead = (uint16_t)(used - base);

	return ahead && ahead <= size ? used : base;
}

/* Ring i's used index as the driver sees it; false if not in RAM. */
static bool ring_used_index(struct vhost_user_dev *d, unsigned int i,
			    uint16_t *used)
{
	const struct virtq_layout *l = virtq_layout(d->vdev->queues[i]);
	uint16_t *idx = guest_memory_ptr(d->vdev->mem, l->device + 2, 2);

	if (!idx)
		return false;
	*used = le16toh(__atomic_load_n(idx, __ATOMIC_ACQUIRE));
	return true;
}

static uint16_t ring_stop_base(struct vhost_user_dev *d, unsigned int i,
			       uint32_t base)
{
	uint16_t used, at;

	if (!ring_used_index(d, i, &used))
		return (uint16_t)base;
	at = vhost_user_resume_index((uint16_t)base, used,
				     virtq_layout(d->vdev->queues[i])->size);
	if (at != base)
		tern_debug("%s: ring %u: the back-end stopped at %u, its used "
			   "index is %u: resuming at %u",
			   d->name, i, base, used, at);
	return at;
}

/* Lock held: the rings back from the back-end, at the place it stopped. */
void vhost_user_dev_rings_stop(struct vhost_user_dev *d)
{
	int ret = 0;

	if (!d->running)
		return;
	d->running = false;
	for (unsigned int i = 0; i < d->nr_queues && !ret; i++) {
		struct vhost_user_msg m, r;
		uint32_t index, num;

		if (!virtq_started(d->vdev->queues[i]))
			continue;
		vhost_user_msg_vring_state(&m, VHOST_USER_GET_VRING_BASE, i, 0);
		ret = vhost_user_conn_call(&d->conn, &m, &r);
		if (ret)
			break;
		vhost_user_reply_vring_state(&r, &index, &num);
		if (index != i || num > 0xffff)
			ret = -EPROTO;
		else
			/* The core's queue follows, for state saves and
			 * resumes. */
			virtq_split_resume_at(d->vdev->queues[i],
					      ring_stop_base(d, i, num));
	}
	if (ret)
		vhost_user_dev_fail(d, "GET_VRING_BASE", ret);
}

/*
 * After a crash nobody can say where the back-end stopped: resume at the
 * used index the driver sees. Requests taken but not used are in the
 * inflight buffer, and the new back-end submits them again.
 */
void vhost_user_dev_bases_from_used(struct vhost_user_dev *d)
{
	for (unsigned int i = 0; i < d->nr_queues; i++) {
		struct virtqueue *vq = d->vdev->queues[i];
		uint16_t used;

		if (virtq_started(vq) && ring_used_index(d, i, &used))
			virtq_split_resume_at(vq, used);
	}
}
