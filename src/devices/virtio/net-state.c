// SPDX-License-Identifier: MIT
/*
 * virtio-net's own state section, "<id>/model", next to what the virtio
 * core saves of every device (status, features, queues): the link, the
 * receive filter as the driver set it (address, modes, MAC tables), the
 * queue pairs in use, the offloads in effect and whether an announce
 * waits for the driver's ack. Saved while quiesced, when no frame is in
 * hand (net_quiesce() settled every pair); loaded into a device just
 * reset, every value checked before any is used.
 */
#include <string.h>

#include "tern/state.h"

#include "net-internal.h"

#define NET_STATE_VERSION 1

static void put_macs(struct state_writer *w, const uint8_t (*macs)[NET_MAC_LEN],
		     unsigned int n)
{
	state_put_u32(w, n);
	state_put_bytes(w, macs, (size_t)n * NET_MAC_LEN);
}

void net_state_save(struct virtio_device *vdev, const char *id,
		    struct state_writer *w)
{
	struct virtio_net *net = vdev->priv;
	const struct virtio_net_filter *f = &net->ctrl.filter;

	pthread_mutex_lock(&net->lock);
	state_section_begin(w, NET_STATE_VERSION, "%s/model", id);
	state_put_bool(w, net->link_up);
	state_put_bool(w, net->announce);
	state_put_u32(w, net->ctrl.pairs);
	state_put_u64(w, net->ctrl.offloads);
	state_put_bytes(w, f->mac, NET_MAC_LEN);
	state_put_bool(w, f->promisc);
	state_put_bool(w, f->allmulti);
	state_put_bool(w, f->alluni);
	state_put_bool(w, f->nomulti);
	state_put_bool(w, f->nouni);
	state_put_bool(w, f->nobcast);
	state_put_bool(w, f->uni_overflow);
	state_put_bool(w, f->multi_overflow);
	put_macs(w, f->uni, f->nr_uni);
	put_macs(w, f->multi, f->nr_multi);
	state_section_end(w);
	pthread_mutex_unlock(&net->lock);
}

/* A MAC table of at most room entries. */
static void get_macs(struct state_reader *r, const char *what,
		     uint8_t (*macs)[NET_MAC_LEN], unsigned int room,
		     unsigned int *n)
{
	uint32_t count = 0;

	if (state_get_u32(r, &count) &&
	    state_check(r, count <= room,
			"%u %s MAC addresses, the table has room for %u", count,
			what, room))
		state_get_bytes(r, macs, (size_t)count * NET_MAC_LEN);
	*n = count;
}

bool net_state_load(struct virtio_device *vdev, const char *id,
		    struct state_reader *r, GError **err)
{
	struct virtio_net *net = vdev->priv;
	struct virtio_net_filter f = { 0 };
	uint64_t offloads = 0;
	uint32_t pairs = 0;
	bool link = true, announce = false, running;

	if (state_section_open(r, NET_STATE_VERSION, NET_STATE_VERSION, NULL,
			       "%s/model", id)) {
		state_get_bool(r, &link);
		state_get_bool(r, &announce);
		state_get_u32(r, &pairs);
		state_get_u64(r, &offloads);
		state_get_bytes(r, f.mac, NET_MAC_LEN);
		state_get_bool(r, &f.promisc);
		state_get_bool(r, &f.allmulti);
		state_get_bool(r, &f.alluni);
		state_get_bool(r, &f.nomulti);
		state_get_bool(r, &f.nouni);
		state_get_bool(r, &f.nobcast);
		state_get_bool(r, &f.uni_overflow);
		state_get_bool(r, &f.multi_overflow);
		get_macs(r, "unicast", f.uni, VIRTIO_NET_MAC_TABLE_ENTRIES, &f.nr_uni);
		if (state_ok(r))
			get_macs(r, "multicast", f.multi,
				 VIRTIO_NET_MAC_TABLE_ENTRIES - f.nr_uni, &f.nr_multi);
		state_check(r, pairs >= 1 && pairs <= net->nr_pairs,
			    "%u queue pairs in use, this NIC has %u", pairs,
			    net->nr_pairs);
		state_check(r, pairs == 1 || virtio_has_feature(vdev, VIRTIO_NET_F_MQ),
			    "%u queue pairs in use without VIRTIO_NET_F_MQ", pairs);
		state_check(r, !(offloads & ~(vdev->features & VIRTIO_NET_GUEST_OFFLOADS)),
			    "guest offloads 0x%llx, negotiated 0x%llx",
			    (unsigned long long)offloads,
			    (unsigned long long)(vdev->features &
						 VIRTIO_NET_GUEST_OFFLOADS));
		state_check(r, !(f.uni_overflow && f.nr_uni) &&
				       !(f.multi_overflow && f.nr_multi),
			    "a MAC table both overflowed and filled");
	}
	if (!state_section_close(r, err))
		return false;

	running = virtio_device_get_status(vdev) & VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_lock(&net->lock);
	net->ctrl.filter = f;
	net->ctrl.pairs = pairs;
	net->ctrl.offloads = offloads;
	__atomic_store_n(&net->link_up, link, __ATOMIC_RELAXED);
	net->announce = announce;
	/* A running driver keeps its pairs and offloads; it is told to announce. */
	net->loaded = running;
	net->announce_due = running;
	__atomic_add_fetch(&net->filter_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&net->lock);
	net->vdev = vdev;
	net_config_update(net, false);
	return true;
}
