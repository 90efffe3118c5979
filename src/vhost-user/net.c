// SPDX-License-Identifier: MIT
/*
 * vhost-user-net: a virtio-net function whose receive and transmit rings
 * a back-end process serves (testpmd's net_vhost, OVS-DPDK). Like QEMU's
 * vhost-user netdev, the front-end keeps what the back-end knows nothing
 * of: the MAC and the link status in config space, and with several queue
 * pairs the control queue, which is never handed over. The offloads and
 * mergeable receive buffers are the back-end's (it reads and writes the
 * virtio-net headers), so the guest sees them only when it offers them.
 *
 * The link follows the connection: down (config interrupt) when the
 * back-end leaves, up again when a new one took the rings, which resume
 * at the used index in guest memory; the driver needs no reset.
 *
 * Several queue pairs (queues=N): rings 2p and 2p + 1 are pair p, the
 * control queue is 2N. Its commands are the in-process virtio-net's
 * (virtio_net_ctrl_apply()), served on the device's I/O thread under the
 * device lock; VQ_PAIRS_SET turns pairs on and off in the back-end with
 * SET_VRING_ENABLE, and every start or reconnect enables exactly the
 * active pairs (dev.c's nr_enabled). The receive filter is recorded and
 * answered, not applied: the frames never pass through tern (QEMU's
 * vhost-user netdev is the same).
 */
#include <endian.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <string.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/iov.h"
#include "tern/machine.h"
#include "tern/net.h"
#include "tern/state.h"
#include "tern/vhost-user-net.h"
#include "tern/virtio-net.h"
#include "tern/virtio.h"

#include "vhost-user-internal.h"

/* Bits the back-end must have: it handles the headers they describe. */
#define VU_NET_BACKEND_FEATURES                                                \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO) |   \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF))
/* Bits tern serves from config space; the back-end never hears of them. */
#define VU_NET_LOCAL_FEATURES                                                  \
	((1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS))
/*
 * With several pairs: the control queue and its filter commands are
 * tern's; MQ is the back-end's too (DPDK drops every ring but the first
 * pair when SET_FEATURES lacks it), as in QEMU.
 */
#define VU_NET_LOCAL_MQ_FEATURES                                               \
	((1ULL << VIRTIO_NET_F_CTRL_VQ) | (1ULL << VIRTIO_NET_F_CTRL_RX) |     \
	 (1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR))
/* The longest command answered: both MAC tables full, and a margin. */
#define VU_NET_CTRL_MAX                                                        \
	(2 + 2 * (4 + VIRTIO_NET_MAC_TABLE_ENTRIES * NET_MAC_LEN) + 64)

struct vhost_user_net {
	struct vhost_user_dev dev;
	unsigned int pairs; /* offered: queues= */
	uint8_t mac[NET_MAC_LEN]; /* as configured, for a reset */
	struct virtio_net_config config; /* under vdev->lock once created */
	/*
	 * Several pairs: the control queue is queue 2N when the driver took
	 * MQ, else queue 2 (5.1.2); both kick fds are on the I/O thread,
	 * watched only while that one is the control queue and served.
	 */
	struct vu_net_ctrl_ref {
		struct vhost_user_net *n;
		struct virtqueue *vq;
	} ctrl_refs[2];
	/* Under dev.lock: the control queue now, and whether it is served. */
	struct virtqueue *ctrlq;
	bool ctrl_on;
	struct virtio_net_ctrl_state ctrl; /* under dev.lock */
	struct virtq_elem ctrl_elem;
};

uint64_t vhost_user_net_features(uint64_t backend, unsigned int pairs)
{
	uint64_t want = VU_NET_BACKEND_FEATURES;

	if (pairs > 1)
		want |= 1ULL << VIRTIO_NET_F_MQ;
	return (backend & want) | vhost_user_net_local_features(pairs);
}

uint64_t vhost_user_net_local_features(unsigned int pairs)
{
	return VU_NET_LOCAL_FEATURES |
	       (pairs > 1 ? VU_NET_LOCAL_MQ_FEATURES : 0);
}

uint8_t vhost_user_net_ctrl(struct virtio_net_ctrl_state *st,
			    const uint8_t *cmd, size_t len,
			    unsigned int *effects)
{
	*effects = 0;
	/* Longer than any valid command: ERR without a look. */
	if (len < 2 || len > VU_NET_CTRL_MAX)
		return VIRTIO_NET_ERR;
	return virtio_net_ctrl_apply(st, cmd[0], cmd[1], cmd + 2, len - 2,
				     effects);
}

static void vu_net_free(struct vhost_user_net *n)
{
	vhost_user_dev_fini(&n->dev);
	g_free(n);
}

/*
 * dev.c, on the device's I/O thread with its lock held: the back-end left
 * or is back with the rings. The driver hears it through the status
 * field and a config interrupt (VIRTIO_NET_F_STATUS).
 */
static void vu_net_link(struct vhost_user_dev *d, bool up)
{
	struct vhost_user_net *n = d->model;
	struct virtio_device *vdev = d->vdev;
	uint16_t status;

	pthread_mutex_lock(&vdev->lock);
	status = le16toh(n->config.status);
	if (up)
		status |= VIRTIO_NET_S_LINK_UP;
	else
		status &= ~VIRTIO_NET_S_LINK_UP;
	n->config.status = htole16(status);
	pthread_mutex_unlock(&vdev->lock);
	tern_log("%s: link %s", d->name, up ? "up" : "down");
	virtio_config_changed(vdev);
}

static const struct vhost_user_dev_ops vu_net_dev_ops = {
    .link = vu_net_link,
};

/* ---- the control queue (several pairs only) ---- */

/*
 * One command, on the I/O thread with dev.lock held: false when the chain
 * breaks the protocol (NEEDS_RESET). Effects are carried out before the
 * ack is pushed: a driver that reads OK for VQ_PAIRS_SET finds the pairs
 * enabled in the back-end.
 */
static bool vu_net_ctrl_one(struct vhost_user_net *n, struct virtq_elem *e)
{
	uint8_t buf[VU_NET_CTRL_MAX];
	uint8_t ack = VIRTIO_NET_ERR;
	unsigned int effects = 0;

	if (e->out_len < 2 || !e->in_len) {
		virtio_device_needs_reset(
		    n->dev.vdev, "control queue: a command without its class "
				 "and command bytes or its ack byte");
		return false;
	}
	if (e->out_len <= sizeof(buf)) {
		size_t len = iov_to_buf(e->iov, e->out_num, buf, sizeof(buf));

		ack = vhost_user_net_ctrl(&n->ctrl, buf, len, &effects);
	}
	if (effects & VIRTIO_NET_CTRL_PAIRS) {
		tern_debug("%s: %u queue pair%s active", n->dev.name,
			   n->ctrl.pairs, n->ctrl.pairs == 1 ? "" : "s");
		vhost_user_dev_enable(&n->dev, 2 * n->ctrl.pairs);
	}
	/* CTRL_MAC_ADDR's address shows in config space, as in-process. */
	if (effects & VIRTIO_NET_CTRL_FILTER) {
		pthread_mutex_lock(&n->dev.vdev->lock);
		memcpy(n->config.mac, n->ctrl.filter.mac, NET_MAC_LEN);
		pthread_mutex_unlock(&n->dev.vdev->lock);
	}
	iov_from_buf(e->iov + e->out_num, e->in_num, &ack, 1);
	virtq_push(n->ctrlq, e, 1);
	return true;
}

/*
 * The control queue's kick, on the device's I/O thread. A kick of the
 * queue that is not the control queue now (it was unwatched meanwhile)
 * is left alone: it may be a data ring's, the back-end's to take.
 */
static void vu_net_ctrl_kick(void *opaque, uint32_t events)
{
	const struct vu_net_ctrl_ref *ref = opaque;
	struct vhost_user_net *n = ref->n;
	struct virtqueue *vq = ref->vq;
	int ret = 0;

	pthread_mutex_lock(&n->dev.lock);
	if (!n->ctrl_on || vq != n->ctrlq)
		goto out; /* held or reset: the resume kicks again */
	efd_drain(virtq_kick_fd(vq));
	do {
		virtq_disable_kicks(vq);
		while ((ret = virtq_pop(vq, &n->ctrl_elem)) > 0) {
			if (!vu_net_ctrl_one(n, &n->ctrl_elem))
				goto out;
			virtq_notify(vq);
		}
	} while (!ret && virtq_enable_kicks(vq));
out:
	pthread_mutex_unlock(&n->dev.lock);
}

/* dev.lock held: as after a device reset, one pair and the configured MAC. */
static void vu_net_ctrl_reset(struct vhost_user_net *n)
{
	virtio_net_filter_reset(&n->ctrl.filter, n->mac);
	n->ctrl.features = 0;
	n->ctrl.max_pairs = n->pairs;
	n->ctrl.pairs = 1;
	n->ctrl.offloads = 0;
	vhost_user_dev_enable(&n->dev, 2);
}

/* dev.lock held: watch the control queue's kicks while it is served, only. */
static void vu_net_ctrl_watch(struct vhost_user_net *n)
{
	for (unsigned int i = 0; i < 2 && n->ctrl_refs[i].vq; i++) {
		struct virtqueue *vq = n->ctrl_refs[i].vq;
		bool on = n->ctrl_on && vq == n->ctrlq;

		if (iothread_mod(n->dev.thread, virtq_kick_fd(vq),
				 on ? EPOLLIN : 0))
			tern_warn("%s: cannot %s the control queue's kicks",
				  n->dev.name, on ? "watch" : "unwatch");
	}
}

/* ---- life cycle ---- */

/*
 * The back-end takes the rings now, or when it is back: only the first
 * pair enabled, until the driver asks for more. A driver without MQ has
 * one pair, and its control queue (if any) is queue 2.
 */
static int vu_net_activate(struct virtio_device *vdev)
{
	struct vhost_user_net *n = vdev->priv;
	bool mq = virtio_has_feature(vdev, VIRTIO_NET_F_MQ);
	bool ctrl = false;

	pthread_mutex_lock(&n->dev.lock);
	n->ctrl.features = vdev->features;
	if (n->pairs > 1) {
		vhost_user_dev_set_rings(&n->dev, mq ? 2 * n->pairs : 2);
		n->ctrlq = n->ctrl_refs[mq ? 0 : 1].vq;
		ctrl = virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_VQ) &&
		       virtq_started(n->ctrlq);
	}
	n->ctrl_on = ctrl;
	if (n->pairs > 1)
		vu_net_ctrl_watch(n);
	pthread_mutex_unlock(&n->dev.lock);
	vhost_user_dev_start(&n->dev);
	/* Commands the driver queued before DRIVER_OK. */
	if (ctrl)
		efd_signal(virtq_kick_fd(n->ctrlq));
	return 0;
}

/* dev.lock held: the control queue is left alone until activated again. */
static void vu_net_ctrl_off(struct vhost_user_net *n)
{
	n->ctrl_on = false;
	if (n->pairs > 1)
		vu_net_ctrl_watch(n);
}

static void vu_net_reset(struct virtio_device *vdev)
{
	struct vhost_user_net *n = vdev->priv;

	pthread_mutex_lock(&n->dev.lock);
	vu_net_ctrl_off(n);
	pthread_mutex_unlock(&n->dev.lock);
	vhost_user_dev_stop(&n->dev, true);
	pthread_mutex_lock(&n->dev.lock);
	vu_net_ctrl_reset(n);
	pthread_mutex_unlock(&n->dev.lock);
	pthread_mutex_lock(&vdev->lock);
	memcpy(n->config.mac, n->mac, NET_MAC_LEN);
	pthread_mutex_unlock(&vdev->lock);
}

/*
 * The control queue is left alone from here (a command in progress
 * holds the lock to its end); the active pairs stay for the resume.
 */
static int vu_net_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct vhost_user_net *n = vdev->priv;

	pthread_mutex_lock(&n->dev.lock);
	vu_net_ctrl_off(n);
	pthread_mutex_unlock(&n->dev.lock);
	vhost_user_dev_stop(&n->dev, false);
	return 0;
}

static void vu_net_resume(struct virtio_device *vdev)
{
	vu_net_activate(vdev);
}

static void vu_net_destroy(struct virtio_device *vdev)
{
	vu_net_free(vdev->priv);
}

/* ---- state: what the driver set that the back-end does not keep ---- */

#define VU_NET_STATE_VERSION 1

void vhost_user_net_state_put(struct state_writer *w, const char *id,
			      unsigned int pairs,
			      const uint8_t mac[NET_MAC_LEN])
{
	state_section_begin(w, VU_NET_STATE_VERSION, "%s/model", id);
	state_put_u32(w, pairs);
	state_put_bytes(w, mac, NET_MAC_LEN);
	state_section_end(w);
}

bool vhost_user_net_state_get(struct state_reader *r, const char *id,
			      unsigned int max_pairs, bool mq,
			      unsigned int *pairs, uint8_t mac[NET_MAC_LEN],
			      GError **err)
{
	uint8_t m[NET_MAC_LEN] = {0};
	uint32_t n = 0;

	if (state_section_open(r, VU_NET_STATE_VERSION, VU_NET_STATE_VERSION,
			       NULL, "%s/model", id) &&
	    state_get_u32(r, &n) &&
	    state_check(r, n >= 1 && n <= max_pairs,
			"%u queue pairs in use, this NIC has %u", n,
			max_pairs) &&
	    state_check(r, n == 1 || mq,
			"%u queue pairs in use without VIRTIO_NET_F_MQ", n))
		state_get_bytes(r, m, NET_MAC_LEN);
	if (!state_section_close(r, err))
		return false;
	*pairs = n;
	memcpy(mac, m, NET_MAC_LEN);
	return true;
}

static void vu_net_save(struct virtio_device *vdev, const char *id,
			struct state_writer *w)
{
	struct vhost_user_net *n = vdev->priv;
	uint8_t mac[NET_MAC_LEN];
	unsigned int pairs;

	pthread_mutex_lock(&n->dev.lock);
	pairs = n->ctrl.pairs;
	memcpy(mac, n->ctrl.filter.mac, NET_MAC_LEN);
	pthread_mutex_unlock(&n->dev.lock);
	vhost_user_net_state_put(w, id, pairs, mac);
}

/* Into a device just reset: its activation enables the pairs loaded. */
static bool vu_net_load(struct virtio_device *vdev, const char *id,
			struct state_reader *r, GError **err)
{
	struct vhost_user_net *n = vdev->priv;
	uint8_t mac[NET_MAC_LEN];
	unsigned int pairs;

	if (!vhost_user_net_state_get(r, id, n->pairs,
				      virtio_has_feature(vdev, VIRTIO_NET_F_MQ),
				      &pairs, mac, err))
		return false;
	pthread_mutex_lock(&n->dev.lock);
	n->ctrl.pairs = pairs;
	memcpy(n->ctrl.filter.mac, mac, NET_MAC_LEN);
	vhost_user_dev_enable(&n->dev, 2 * pairs);
	pthread_mutex_unlock(&n->dev.lock);
	pthread_mutex_lock(&vdev->lock);
	memcpy(n->config.mac, mac, NET_MAC_LEN);
	pthread_mutex_unlock(&vdev->lock);
	return true;
}

static void vu_net_irq_route_changed(struct virtio_device *vdev)
{
	struct vhost_user_net *n = vdev->priv;

	vhost_user_dev_irq_route_changed(&n->dev);
}

static const struct virtio_device_ops vu_net_ops = {
    .name = "vhost-user-net",
    .activate = vu_net_activate,
    .reset = vu_net_reset,
    .quiesce = vu_net_quiesce,
    .resume = vu_net_resume,
    .destroy = vu_net_destroy,
    .save = vu_net_save,
    .load = vu_net_load,
    .irq_route_changed = vu_net_irq_route_changed,
};

bool vhost_user_net_is(const struct virtio_device *vdev)
{
	return vdev && vdev->ops == &vu_net_ops;
}

static struct virtio_device *vu_net_create(struct machine *m,
					   unsigned int index,
					   const struct net_config *cfg,
					   GError **err)
{
	struct vhost_user_net *n = g_new0(struct vhost_user_net, 1);
	unsigned int rings = 2 * cfg->queues;
	struct virtio_device *vdev;
	char name[32], mac[18];
	uint64_t f;

	snprintf(name, sizeof(name), "vu-net%u", index);
	n->pairs = cfg->queues;
	n->dev.ops = &vu_net_dev_ops;
	n->dev.model = n;
	n->dev.local_features = vhost_user_net_local_features(n->pairs);
	n->dev.rings_per_queue = 2;
	n->dev.option = g_strdup_printf("--net '%s'", cfg->spec);
	/*
	 * As QEMU's vhost-user netdev: no inflight buffer (a lost frame is
	 * the network's business) and no device config from the back-end.
	 */
	n->dev.conn.protocol_drop =
	    (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	    (1ULL << VHOST_USER_PROTOCOL_F_CONFIG);
	if (!vhost_user_dev_init(&n->dev, m, name, cfg->vhost_user,
				 cfg->reconnect, rings, err))
		goto err;
	if (n->pairs > 1 &&
	    !(vhost_user_dev_features(&n->dev) & (1ULL << VIRTIO_NET_F_MQ))) {
		g_set_error(
		    err, TERN_ERROR, TERN_ERROR_INPUT,
		    "%s: the back-end at '%s' offers no VIRTIO_NET_F_MQ: "
		    "expected queues=1",
		    n->dev.option, cfg->vhost_user);
		goto err;
	}
	if (cfg->mac_given)
		memcpy(n->mac, cfg->mac, NET_MAC_LEN);
	else
		/* After the tap NICs' defaults: no two NICs share one. */
		net_mac_default(m->cfg->nr_nets + index, n->mac);
	memcpy(n->config.mac, n->mac, NET_MAC_LEN);
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16(n->pairs);
	vu_net_ctrl_reset(n);
	f = vhost_user_net_features(vhost_user_dev_features(&n->dev), n->pairs);
	/* The control queue comes after the pairs, with several only. */
	vdev = virtio_pci_create(m, &vu_net_ops, n, VIRTIO_ID_NET, f,
				 rings + (n->pairs > 1), (uint8_t *)&n->config,
				 sizeof(n->config), err);
	if (!vdev)
		goto err;
	if (n->pairs > 1) {
		/*
		 * Before the thread starts (fds are added to a parked one),
		 * unwatched until a driver starts the device.
		 */
		int ret;

		n->ctrl_refs[0] =
		    (struct vu_net_ctrl_ref){n, vdev->queues[rings]};
		n->ctrl_refs[1] = (struct vu_net_ctrl_ref){n, vdev->queues[2]};
		ret = iothread_add(n->dev.thread,
				   virtq_kick_fd(n->ctrl_refs[0].vq), 0,
				   vu_net_ctrl_kick, &n->ctrl_refs[0]);
		if (!ret)
			ret = iothread_add(n->dev.thread,
					   virtq_kick_fd(n->ctrl_refs[1].vq), 0,
					   vu_net_ctrl_kick, &n->ctrl_refs[1]);
		if (ret) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "%s: cannot watch its control queue: %s",
				    name, g_strerror(-ret));
			virtio_pci_destroy(vdev); /* frees n */
			return NULL;
		}
	}
	if (!vhost_user_dev_attach(&n->dev, vdev, err)) {
		virtio_pci_destroy(vdev); /* frees n */
		return NULL;
	}
	net_mac_format(n->config.mac, mac);
	tern_debug("%s: %s: mac %s, %u queue pair%s, features %#llx, "
		   "protocol %#llx",
		   name, cfg->vhost_user, mac, n->pairs,
		   n->pairs == 1 ? "" : "s",
		   (unsigned long long)vdev->host_features,
		   (unsigned long long)n->dev.conn.protocol);
	return vdev;

err:
	vu_net_free(n);
	return NULL;
}

/* ---- registry ---- */

static unsigned int vu_net_count(const struct vm_config *cfg)
{
	return cfg->nr_vu_nets;
}

static void *vu_net_device_create(struct machine *m, unsigned int index,
				  GError **err)
{
	return vu_net_create(m, index, &m->cfg->vu_nets[index], err);
}

const struct device_type vhost_user_net_device_type = {
    .name = "vhost-user-net",
    .option = "--net",
    .count = vu_net_count,
    .create = vu_net_device_create,
    .destroy = virtio_pci_device_destroy,
    .quiesce = virtio_pci_device_quiesce,
    .resume = virtio_pci_device_resume,
    .save = virtio_pci_device_save,
    .load = virtio_pci_device_load,
};
