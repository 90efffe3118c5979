// SPDX-License-Identifier: MIT
/*
 * virtio-net: the device model. The features and configuration it offers,
 * creating and freeing it, its life cycle (activate, reset, quiesce,
 * resume), the queue pairs the driver asked for, and what QMP sees of it
 * (link, receive filter), and the control queue's thread. The data path
 * is in net-io.c, the commands themselves in net-ctrl.c, the state in
 * net-state.c.
 *
 * Queues: receive and transmit of pair p are 2p and 2p + 1, the control
 * queue comes last (2 * max_virtqueue_pairs), or is queue 2 for a driver
 * that did not take MQ (5.1.2).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/iov.h"
#include "tern/machine.h"

#include "net-internal.h"

/* What every NIC offers; MTU and MQ depend on the options. */
#define NET_FEATURES                                                           \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |                          \
	 (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |      \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN) | \
	 (1ULL << VIRTIO_NET_F_GUEST_UFO) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |  \
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_ECN) |   \
	 (1ULL << VIRTIO_NET_F_HOST_UFO) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |   \
	 (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_CTRL_VQ) |      \
	 (1ULL << VIRTIO_NET_F_CTRL_RX) | (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE) | \
	 (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR))

static struct virtio_net *to_net(const struct virtio_device *vdev)
{
	return vdev->priv;
}

/* ---- what the pairs and the driver see change ---- */

void net_config_update(struct virtio_net *net, bool notify)
{
	uint8_t mac[NET_MAC_LEN];
	uint16_t status;

	pthread_mutex_lock(&net->lock);
	memcpy(mac, net->ctrl.filter.mac, NET_MAC_LEN);
	status = (net->link_up ? VIRTIO_NET_S_LINK_UP : 0) |
		 (net->announce ? VIRTIO_NET_S_ANNOUNCE : 0);
	pthread_mutex_unlock(&net->lock);
	if (!net->vdev) {
		memcpy(net->config.mac, mac, NET_MAC_LEN);
		net->config.status = htole16(status);
		return;
	}
	/* The core serves config reads from these bytes under vdev->lock. */
	pthread_mutex_lock(&net->vdev->lock);
	memcpy(net->config.mac, mac, NET_MAC_LEN);
	net->config.status = htole16(status);
	pthread_mutex_unlock(&net->vdev->lock);
	if (notify)
		virtio_config_changed(net->vdev);
}

void net_filter_changed(struct virtio_net *net)
{
	/* CTRL_MAC_ADDR's address is the one the configuration shows, as in QEMU. */
	net_config_update(net, false);
	/* One NIC_RX_FILTER_CHANGED until QMP asks again (query-rx-filter). */
	if (__atomic_exchange_n(&net->filter_event_armed, false, __ATOMIC_ACQ_REL))
		efd_signal(net->filter_event_fd);
}

void net_offloads_changed(struct virtio_net *net, uint64_t offloads)
{
	unsigned int tun = virtio_net_tun_offloads(offloads);
	int ret;

	__atomic_store_n(&net->offloads_now, offloads, __ATOMIC_RELAXED);
	ret = net->be->ops->set_offload(net->be->opaque, tun);
	if (ret)
		tern_warn("%s: the %s refuses offloads 0x%x: %s", net->name,
			  net->be->ops->name, tun, g_strerror(-ret));
}

void net_set_active_pairs(struct virtio_net *net, unsigned int n)
{
	const struct net_backend *be = net->be;

	for (unsigned int i = n; i < net->nr_pairs; i++) {
		net_pair_stop(&net->pairs[i], true);
		(void)be->ops->set_queue(be->opaque, i, false);
	}
	for (unsigned int i = 0; i < n; i++) {
		struct net_pair *p = &net->pairs[i];
		int ret;

		if (p->running)
			continue;
		/* A pair the driver did not set up carries nothing. */
		if (!virtq_started(p->rxq) || !virtq_started(p->txq)) {
			tern_debug("%s: queue pair %u is not set up; left off",
				   net->name, i);
			continue;
		}
		ret = be->ops->set_queue(be->opaque, i, true);
		if (!ret)
			ret = net_pair_start(p);
		if (ret)
			virtio_device_needs_reset(net->vdev, "queue pair %u cannot start: %s",
						  i, g_strerror(-ret));
	}
	net->active_pairs = n;
}

/* ---- the control queue (its own thread) ---- */

/* One command: false when the chain breaks the protocol (NEEDS_RESET). */
static bool ctrl_one(struct virtio_net *net, struct virtq_elem *e)
{
	uint8_t buf[2 + NET_CTRL_MAX_DATA];
	uint8_t ack = VIRTIO_NET_ERR;
	unsigned int effects = 0;
	unsigned int pairs = 0;
	uint64_t offloads = 0;

	if (e->out_len < 2 || !e->in_len) {
		virtio_device_needs_reset(net->vdev,
					  "control queue: a command without its class and command bytes or its ack byte");
		return false;
	}
	/* Longer than any valid command: answered ERR without a look. */
	if (e->out_len <= sizeof(buf)) {
		size_t len = iov_to_buf(e->iov, e->out_num, buf, sizeof(buf));

		pthread_mutex_lock(&net->lock);
		ack = virtio_net_ctrl_apply(&net->ctrl, buf[0], buf[1], buf + 2,
					    len - 2, &effects);
		if (effects & VIRTIO_NET_CTRL_FILTER)
			__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
		if (effects & VIRTIO_NET_CTRL_ANNOUNCED)
			net->announce = false;
		pairs = net->ctrl.pairs;
		offloads = net->ctrl.offloads;
		pthread_mutex_unlock(&net->lock);
	}
	if (effects & VIRTIO_NET_CTRL_FILTER)
		net_filter_changed(net);
	if (effects & VIRTIO_NET_CTRL_ANNOUNCED)
		net_config_update(net, false);
	if (effects & VIRTIO_NET_CTRL_OFFLOADS)
		net_offloads_changed(net, offloads);
	/* Threads started or stopped before the driver reads the ack. */
	if (effects & VIRTIO_NET_CTRL_PAIRS)
		net_set_active_pairs(net, pairs);
	iov_from_buf(e->iov + e->out_num, e->in_num, &ack, 1);
	virtq_push(net->ctrlq, e, 1);
	return true;
}

/* The control queue's kick: its own thread, one command at a time. */
static void net_ctrl_kick(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;
	struct virtqueue *vq = net->ctrlq;
	int ret;

	efd_drain(virtq_kick_fd(vq));
	do {
		virtq_disable_kicks(vq);
		while ((ret = virtq_pop(vq, &net->ctrl_elem)) > 0) {
			if (!ctrl_one(net, &net->ctrl_elem))
				return;
			virtq_notify(vq);
		}
		if (ret < 0)
			return; /* NEEDS_RESET: the queue stays stopped */
	} while (virtq_enable_kicks(vq));
}

/* ---- life cycle ---- */

static int net_activate(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);
	uint64_t offloads;
	unsigned int pairs;
	bool announce, mq;
	int ret;

	net->vdev = vdev;
	/*
	 * 5.1.2: without MQ the driver has one pair and its control queue is
	 * queue 2, whatever max_virtqueue_pairs says; a pair beyond the
	 * first would alias it, so it gets no queues.
	 */
	mq = virtio_has_feature(vdev, VIRTIO_NET_F_MQ);
	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		net->pairs[i].rxq = i && !mq ? NULL : vdev->queues[2 * i];
		net->pairs[i].txq = i && !mq ? NULL : vdev->queues[2 * i + 1];
	}
	net->ctrlq = vdev->queues[mq ? 2 * net->nr_pairs : 2];

	pthread_mutex_lock(&net->lock);
	net->ctrl.features = vdev->features;
	/* A fresh driver starts with one pair and every offload it took. */
	if (!net->loaded) {
		net->ctrl.pairs = 1;
		net->ctrl.offloads = vdev->features & VIRTIO_NET_GUEST_OFFLOADS;
	}
	net->loaded = false;
	/* A restored guest tells its network where it is now (GUEST_ANNOUNCE). */
	announce = net->announce_due &&
		   virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
		   virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ);
	if (announce)
		net->announce = true;
	net->announce_due = false;
	pairs = net->ctrl.pairs;
	offloads = net->ctrl.offloads;
	__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->lock);

	net_offloads_changed(net, offloads);
	if (announce)
		net_config_update(net, true);
	if (virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ) &&
	    virtq_started(net->ctrlq)) {
		ret = iothread_add(net->ctrl_thread, virtq_kick_fd(net->ctrlq),
				   EPOLLIN, net_ctrl_kick, net);
		if (ret)
			return ret;
		net->ctrl_running = true;
		iothread_start(net->ctrl_thread);
		efd_signal(virtq_kick_fd(net->ctrlq));
	}
	net_set_active_pairs(net, pairs);
	return 0;
}

static void net_ctrl_stop(struct virtio_net *net)
{
	if (!net->ctrl_running)
		return;
	iothread_stop(net->ctrl_thread);
	(void)iothread_del(net->ctrl_thread, virtq_kick_fd(net->ctrlq));
	net->ctrl_running = false;
}

static void net_reset(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);

	/* The control thread first: it starts and stops pairs. */
	net_ctrl_stop(net);
	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		net_pair_stop(&net->pairs[i], false);
		if (i)
			(void)net->be->ops->set_queue(net->be->opaque, i, false);
	}
	net->active_pairs = 0;
	pthread_mutex_lock(&net->lock);
	virtio_net_filter_reset(&net->ctrl.filter, net->mac);
	net->ctrl.pairs = 1;
	net->ctrl.offloads = 0;
	net->announce = net->announce_due = net->loaded = false;
	__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->lock);
	net_config_update(net, false);
	net_offloads_changed(net, 0);
}

/*
 * Stop the control thread, then every pair's, then settle each pair on
 * this thread: a transmit chain the back-end refused is sent once more or
 * dropped, and completed either way; receive chains in hand go back to
 * the ring unused; a frame that was waiting for room is dropped. Dropped
 * rather than kept: a NIC that stops loses what it has not delivered,
 * TCP and friends recover, and a state carrying it would replay a stale
 * frame on another network after an arbitrary time.
 */
static int net_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct virtio_net *net = to_net(vdev);

	if (net->ctrl_running)
		iothread_stop(net->ctrl_thread);
	for (unsigned int i = 0; i < net->nr_pairs; i++)
		if (net->pairs[i].running)
			iothread_stop(net->pairs[i].thread);
	for (unsigned int i = 0; i < net->nr_pairs; i++)
		if (net->pairs[i].running)
			net_pair_settle(&net->pairs[i]);
	return 0;
}

static void net_resume(struct virtio_device *vdev)
{
	struct virtio_net *net = to_net(vdev);

	for (unsigned int i = 0; i < net->nr_pairs; i++)
		net_pair_resume(&net->pairs[i]);
	if (net->ctrl_running) {
		iothread_start(net->ctrl_thread);
		efd_signal(virtq_kick_fd(net->ctrlq));
	}
}

/* Every field is read-only (no CTRL_MAC_ADDR through config space in 1.x). */
static void net_config_write(struct virtio_device *vdev, uint64_t off,
			     const void *data, unsigned int len)
{
	tern_debug("virtio-net: config write of %u bytes at %llu ignored", len,
		   (unsigned long long)off);
}

static void net_destroy(struct virtio_device *vdev)
{
	virtio_net_free(vdev->priv);
}

const struct virtio_device_ops virtio_net_ops = {
	.name = "virtio-net",
	.activate = net_activate,
	.reset = net_reset,
	.quiesce = net_quiesce,
	.resume = net_resume,
	.config_write = net_config_write,
	.destroy = net_destroy,
	.save = net_state_save,
	.load = net_state_load,
};

/* ---- creation ---- */

static bool net_pairs_create(struct virtio_net *net,
			     struct thread_registry *threads, GError **err)
{
	net->pairs = g_new0(struct net_pair, net->nr_pairs);
	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pairs[i];
		char name[32]; /* the registry keeps ten bytes: io-net15q15 is cut */

		p->net = net;
		p->index = i;
		p->fd = net->be->fds[i];
		p->call_fd[0] = p->call_fd[1] = -1;
		net_pair_alloc(p, true, net_pair_ring_wanted(p->fd));
		if (i)
			snprintf(name, sizeof(name), "io-net%uq%u", net->index, i);
		else
			snprintf(name, sizeof(name), "io-net%u", net->index);
		p->thread = iothread_create(threads, name, virtio_iothread_fault,
					    &net->vdev, err);
		if (!p->thread)
			return false;
	}
	return true;
}

struct virtio_net *virtio_net_new_vhost(struct thread_registry *threads,
					unsigned int index,
					const struct net_config *cfg,
					struct net_backend *be,
					const struct vhost_ioctl_ops *vhost_ops,
					void *vhost_opaque, GError **err)
{
	struct virtio_net *net = g_new0(struct virtio_net, 1);
	char name[32];

	net->cfg = cfg;
	net->index = index;
	net->be = be;
	net->vhost_ops = vhost_ops ? vhost_ops : &vhost_ioctl_host;
	net->vhost_opaque = vhost_opaque;
	pthread_mutex_init(&net->lock, NULL);
	snprintf(net->name, sizeof(net->name), "net%u", index);
	net->nr_pairs = be->nr_queues;
	net->filter_event_fd = efd_new();
	net->filter_event_armed = true;
	if (cfg->mac_given)
		memcpy(net->mac, cfg->mac, NET_MAC_LEN);
	else
		net_mac_default(index, net->mac);
	net->features = NET_FEATURES;
	if (cfg->mtu)
		net->features |= 1ULL << VIRTIO_NET_F_MTU;
	if (net->nr_pairs > 1)
		net->features |= 1ULL << VIRTIO_NET_F_MQ;
	net->link_up = true;
	virtio_net_filter_reset(&net->ctrl.filter, net->mac);
	net->ctrl.max_pairs = net->nr_pairs;
	net->ctrl.pairs = 1;
	net->config.max_virtqueue_pairs = htole16(net->nr_pairs);
	net->config.mtu = htole16(cfg->mtu);
	net_config_update(net, false);
	if (net->filter_event_fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "--net '%s': eventfd: %s",
			    cfg->spec, g_strerror(-net->filter_event_fd));
		goto err;
	}
	if (!net_pairs_create(net, threads, err))
		goto err;
	snprintf(name, sizeof(name), "io-net%uc", index);
	net->ctrl_thread = iothread_create(threads, name, virtio_iothread_fault,
					   &net->vdev, err);
	if (!net->ctrl_thread || !net_vhost_init(net, err))
		goto err;
	/* One pair until the driver asks for more (VQ_PAIRS_SET). */
	for (unsigned int i = 1; i < net->nr_pairs; i++)
		(void)be->ops->set_queue(be->opaque, i, false);
	return net;
err:
	virtio_net_free(net);
	return NULL;
}

struct virtio_net *virtio_net_new(struct thread_registry *threads,
				  unsigned int index, const struct net_config *cfg,
				  struct net_backend *be, GError **err)
{
	return virtio_net_new_vhost(threads, index, cfg, be, NULL, NULL, err);
}

void virtio_net_free(struct virtio_net *net)
{
	if (!net)
		return;
	net_vhost_close(net);
	for (unsigned int i = 0; net->pairs && i < net->nr_pairs; i++) {
		iothread_destroy(net->pairs[i].thread);
		net_pair_free(&net->pairs[i]);
	}
	g_free(net->pairs);
	iothread_destroy(net->ctrl_thread);
	if (net->filter_event_fd >= 0)
		close(net->filter_event_fd);
	net_backend_close(net->be);
	pthread_mutex_destroy(&net->lock);
	g_free(net);
}

void virtio_net_get_info(struct virtio_net *net, struct virtio_net_info *info)
{
	info->features = net->features;
	info->nr_queues = 2 * net->nr_pairs + 1;
	info->config = (uint8_t *)&net->config;
	info->config_size = sizeof(net->config);
}

static struct virtio_device *virtio_net_create(struct machine *m,
					       unsigned int index,
					       const struct net_config *cfg,
					       GError **err)
{
	struct net_backend *be = net_tap_open(cfg, err);
	struct virtio_net_info info;
	struct virtio_device *vdev;
	struct virtio_net *net;

	if (!be)
		return NULL;
	net = virtio_net_new(m->threads, index, cfg, be, err);
	if (!net)
		return NULL;
	virtio_net_get_info(net, &info);
	vdev = virtio_pci_create(m, &virtio_net_ops, net, VIRTIO_ID_NET,
				 info.features, info.nr_queues, info.config,
				 info.config_size, err);
	if (!vdev) {
		virtio_net_free(net);
		return NULL;
	}
	net->vdev = vdev;
	return vdev;
}

/* ---- what QMP asks ---- */

const char *virtio_net_name(const struct virtio_device *vdev)
{
	return to_net(vdev)->name;
}

void virtio_net_set_link(struct virtio_device *vdev, bool up)
{
	struct virtio_net *net = to_net(vdev);
	bool changed;

	pthread_mutex_lock(&net->lock);
	changed = net->link_up != up;
	__atomic_store_n(&net->link_up, up, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&net->lock);
	/* STATUS negotiated or not, the bytes say it; the interrupt is for drivers that look. */
	if (changed)
		net_config_update(net, virtio_has_feature(vdev, VIRTIO_NET_F_STATUS));
}

bool virtio_net_link_up(const struct virtio_device *vdev)
{
	return __atomic_load_n(&to_net(vdev)->link_up, __ATOMIC_RELAXED);
}

void virtio_net_get_filter(struct virtio_device *vdev,
			   struct virtio_net_filter *f)
{
	struct virtio_net *net = to_net(vdev);

	pthread_mutex_lock(&net->lock);
	*f = net->ctrl.filter;
	pthread_mutex_unlock(&net->lock);
}

int virtio_net_filter_event_fd(const struct virtio_device *vdev)
{
	return to_net(vdev)->filter_event_fd;
}

void virtio_net_filter_event_arm(struct virtio_device *vdev)
{
	__atomic_store_n(&to_net(vdev)->filter_event_armed, true, __ATOMIC_RELEASE);
}

void virtio_net_get_stats(struct virtio_device *vdev, struct virtio_net_stats *s)
{
	struct virtio_net *net = to_net(vdev);

	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		const struct net_pair *p = &net->pairs[i];

		s->rx_frames += __atomic_load_n(&p->rx_frames, __ATOMIC_RELAXED);
		s->rx_dropped += __atomic_load_n(&p->rx_dropped, __ATOMIC_RELAXED);
		s->tx_frames += __atomic_load_n(&p->tx_frames, __ATOMIC_RELAXED);
		s->tx_errors += __atomic_load_n(&p->tx_errors, __ATOMIC_RELAXED);
	}
}

/* ---- registry ---- */

static unsigned int net_count(const struct vm_config *cfg)
{
	return cfg->nr_nets;
}

static void *net_device_create(struct machine *m, unsigned int index,
			       GError **err)
{
	return virtio_net_create(m, index, &m->cfg->nets[index], err);
}

const struct device_type virtio_net_device_type = {
	.name = "virtio-net",
	.option = "--net",
	.count = net_count,
	.create = net_device_create,
	.destroy = virtio_pci_device_destroy,
	.quiesce = virtio_pci_device_quiesce,
	.resume = virtio_pci_device_resume,
	.save = virtio_pci_device_save,
	.load = virtio_pci_device_load,
};
