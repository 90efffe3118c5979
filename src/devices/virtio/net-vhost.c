// SPDX-License-Identifier: MIT
/*
 * virtio-net on the kernel's vhost-net (src/net/vhost.c): with vhost=on or
 * auto, each queue pair gets a /dev/vhost-net instance when the NIC is
 * created, and at activation its two data rings go to the kernel when the
 * negotiated features allow (a split ring: vhost-net has no packed rings);
 * otherwise the pair runs on tern's own data path. The control queue is
 * always tern's.
 *
 * The kernel reads the kick eventfds the transport's ioeventfds already
 * signal, and signals a call eventfd per ring; the pair's I/O thread
 * turns a call into the queue's interrupt through the transport (MSI-X
 * irqfd or INTx), which keeps masking, INTx and the PBA where they are.
 * Quiesce and reset take the rings back (VHOST_GET_VRING_BASE) and the
 * virtqueues carry on from where the kernel stopped.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"

#include "net-internal.h"

bool net_vhost_init(struct virtio_net *net, GError **err)
{
	int ret = 0;

	if (net->cfg->vhost == NET_VHOST_OFF)
		return true;
	for (unsigned int i = 0; i < net->nr_pairs && !ret; i++) {
		struct net_pair *p = &net->pairs[i];

		ret = vhost_net_open(net->vhost_ops, net->vhost_opaque, &p->vhost);
		for (unsigned int k = 0; !ret && k < 2; k++) {
			p->call_fd[k] = efd_new();
			if (p->call_fd[k] < 0)
				ret = p->call_fd[k];
		}
	}
	if (!ret) {
		net->vhost_wanted = true;
		return true;
	}
	net_vhost_close(net);
	if (net->cfg->vhost == NET_VHOST_ON) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--net '%s': vhost=on: cannot use /dev/vhost-net: %s",
			    net->cfg->spec,
			    ret == -ENOENT ? "this host has none (modprobe vhost_net)" :
					     g_strerror(-ret));
		return false;
	}
	/* auto: once per NIC, at start-up. */
	tern_log("%s: vhost=auto: /dev/vhost-net is not usable (%s); using tern's own data path",
		 net->name, g_strerror(-ret));
	return true;
}

void net_vhost_close(struct virtio_net *net)
{
	for (unsigned int i = 0; net->pairs && i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pairs[i];

		vhost_net_close(p->vhost);
		p->vhost = NULL;
		for (unsigned int k = 0; k < 2; k++) {
			if (p->call_fd[k] >= 0)
				close(p->call_fd[k]);
			p->call_fd[k] = -1;
		}
	}
	net->vhost_wanted = false;
}

/* The kernel used buffers of one ring: interrupt as the transport does. */
static void net_vhost_call(struct net_pair *p, unsigned int k)
{
	struct virtio_device *vdev = p->net->vdev;

	efd_drain(p->call_fd[k]);
	if (vdev->transport_ops && vdev->transport_ops->notify_queue)
		vdev->transport_ops->notify_queue(vdev, k ? p->txq : p->rxq);
}

static void net_vhost_call_rx(void *opaque, uint32_t events)
{
	net_vhost_call(opaque, 0);
}

static void net_vhost_call_tx(void *opaque, uint32_t events)
{
	net_vhost_call(opaque, 1);
}

/* A started split ring's areas as host addresses, checked like any access. */
static bool net_vhost_ring(struct net_pair *p, struct virtqueue *vq,
			   unsigned int k, struct vhost_vring *r)
{
	const struct guest_memory *mem = p->net->vdev->mem;
	const struct virtq_layout *l = virtq_layout(vq);
	uint64_t n = l->size;

	r->num = l->size;
	r->base = virtq_split_last_avail(vq);
	r->desc = guest_memory_ptr(mem, l->desc, 16 * n);
	r->avail = guest_memory_ptr(mem, l->driver, 6 + 2 * n);
	r->used = guest_memory_ptr(mem, l->device, 6 + 8 * n);
	r->kick_fd = virtq_kick_fd(vq);
	r->call_fd = p->call_fd[k];
	return r->desc && r->avail && r->used;
}

bool net_vhost_start(struct net_pair *p)
{
	struct virtio_net *net = p->net;
	struct virtio_device *vdev = net->vdev;
	struct vhost_vring rings[2];
	int ret;

	if (!net->vhost_wanted || !p->vhost)
		return false;
	if (virtio_has_feature(vdev, VIRTIO_F_RING_PACKED)) {
		tern_debug("%s: queue pair %u: packed rings are tern's (vhost-net has none)",
			   net->name, p->index);
		return false;
	}
	if (!net_vhost_ring(p, p->rxq, 0, &rings[0]) ||
	    !net_vhost_ring(p, p->txq, 1, &rings[1]))
		return false;
	ret = iothread_add(p->thread, p->call_fd[0], EPOLLIN, net_vhost_call_rx, p);
	if (!ret)
		ret = iothread_add(p->thread, p->call_fd[1], EPOLLIN,
				   net_vhost_call_tx, p);
	if (!ret)
		ret = vhost_net_start(p->vhost, vdev->mem, vdev->features, rings,
				      p->fd);
	if (ret) {
		tern_warn("%s: queue pair %u: vhost-net refused the rings (%s); using tern's own data path",
			  net->name, p->index, g_strerror(-ret));
		(void)iothread_del(p->thread, p->call_fd[0]);
		(void)iothread_del(p->thread, p->call_fd[1]);
		return false;
	}
	p->vhost_running = true;
	iothread_start(p->thread);
	return true;
}

void net_vhost_stop(struct net_pair *p)
{
	uint16_t bases[2] = { 0, 0 };
	int ret;

	if (!p->vhost_running)
		return;
	ret = vhost_net_stop(p->vhost, bases);
	(void)iothread_del(p->thread, p->call_fd[0]);
	(void)iothread_del(p->thread, p->call_fd[1]);
	p->vhost_running = false;
	if (ret) {
		virtio_device_needs_reset(p->net->vdev,
					  "queue pair %u: vhost-net did not give the rings back: %s",
					  p->index, g_strerror(-ret));
		return;
	}
	/* Interrupts the kernel signalled and we did not relay yet. */
	if (efd_drain(p->call_fd[0]))
		p->net->vdev->transport_ops->notify_queue(p->net->vdev, p->rxq);
	if (efd_drain(p->call_fd[1]))
		p->net->vdev->transport_ops->notify_queue(p->net->vdev, p->txq);
	virtq_split_resume_at(p->rxq, bases[0]);
	virtq_split_resume_at(p->txq, bases[1]);
}
