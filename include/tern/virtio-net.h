/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1) on a network back-end (net.h): the device's
 * layout and constants, the receive filter and the control queue's
 * commands as pure functions, and the device model with one I/O thread
 * per queue pair (src/devices/virtio/net*.c).
 */
#ifndef TERN_VIRTIO_NET_H
#define TERN_VIRTIO_NET_H

#include <glib.h>

#include "tern/net.h"
#include "tern/virtio.h"

struct thread_registry;

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* The offloads a driver may switch with CTRL_GUEST_OFFLOADS (5.1.6.5.6.1). */
#define VIRTIO_NET_GUEST_OFFLOADS                                              \
	((1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN) |  \
	 (1ULL << VIRTIO_NET_F_GUEST_UFO))

/* The header in front of every frame (5.1.6), virtio 1.x: 12 bytes. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_hdr) == NET_VNET_HDR_LEN, "virtio_net_hdr");

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* The configuration space (5.1.4), up to mtu. */
struct virtio_net_config {
	uint8_t mac[NET_MAC_LEN];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_config) == 12, "virtio_net_config");

#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

/* The largest frame the back-end hands over (64 KiB GSO) plus its header. */
#define VIRTIO_NET_MAX_FRAME (65535 + 14 + 4)
#define VIRTIO_NET_MAX_BUFFER (VIRTIO_NET_MAX_FRAME + NET_VNET_HDR_LEN)

/* Control queue (5.1.6.5): class, command, data, then an ack byte. */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_RX_ALLUNI 2
#define VIRTIO_NET_CTRL_RX_NOMULTI 3
#define VIRTIO_NET_CTRL_RX_NOUNI 4
#define VIRTIO_NET_CTRL_RX_NOBCAST 5
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_VLAN 2
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS 5
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET 0

/* Entries of the MAC filter table, unicast and multicast together (QEMU's). */
#define VIRTIO_NET_MAC_TABLE_ENTRIES 64

/*
 * What the receive filter lets through (5.1.6.5.1, .2). After a reset the
 * NIC is promiscuous, as QEMU's is, for drivers without CTRL_RX.
 */
struct virtio_net_filter {
	uint8_t mac[NET_MAC_LEN];
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	bool uni_overflow, multi_overflow;
	unsigned int nr_uni, nr_multi;
	uint8_t uni[VIRTIO_NET_MAC_TABLE_ENTRIES][NET_MAC_LEN];
	uint8_t multi[VIRTIO_NET_MAC_TABLE_ENTRIES][NET_MAC_LEN];
};

/* The filter after a device reset, for a NIC whose address is mac. */
void virtio_net_filter_reset(struct virtio_net_filter *f,
			     const uint8_t mac[NET_MAC_LEN]);
/* Does the filter take a frame for destination dst (its first 6 bytes)? */
bool virtio_net_filter_accept(const struct virtio_net_filter *f,
			      const uint8_t dst[NET_MAC_LEN]);

/* What a control command did besides answering. */
enum virtio_net_ctrl_effect {
	VIRTIO_NET_CTRL_FILTER = 1 << 0, /* filter changed: NIC_RX_FILTER_CHANGED */
	VIRTIO_NET_CTRL_PAIRS = 1 << 1, /* pairs: the new count of queue pairs */
	VIRTIO_NET_CTRL_OFFLOADS = 1 << 2, /* offloads: new guest offloads */
	VIRTIO_NET_CTRL_ANNOUNCED = 1 << 3, /* the driver acked an announce */
};

/* The state control commands act on; the device's, or a test's. */
struct virtio_net_ctrl_state {
	struct virtio_net_filter filter;
	uint64_t features; /* negotiated */
	unsigned int max_pairs;
	unsigned int pairs;
	uint64_t offloads; /* VIRTIO_NET_GUEST_OFFLOADS bits in effect */
};

/*
 * Carry out one control command: class and command from the header, data
 * (len bytes, the readable part after the header, copied out of guest
 * memory). Returns VIRTIO_NET_OK or VIRTIO_NET_ERR, changing st only on
 * OK; *effects says what changed. Pure: malformed commands (wrong length,
 * counts beyond the data, a feature not negotiated, pairs out of range,
 * offloads not negotiated) answer ERR and change nothing.
 */
uint8_t virtio_net_ctrl_apply(struct virtio_net_ctrl_state *st, uint8_t cls,
			      uint8_t cmd, const uint8_t *data, size_t len,
			      unsigned int *effects);

/* Guest offloads (VIRTIO_NET_F_GUEST_* bits) as the tap's NET_TUN_F_*. */
unsigned int virtio_net_tun_offloads(uint64_t offloads);

/*
 * The device: --net's row in the device table, and what QMP asks of an
 * instance (main thread).
 */
extern const struct device_type virtio_net_device_type;

struct virtio_net;

/*
 * The model alone, on a back-end it takes over (closed with it, also on
 * failure); threads may be NULL (unit tests). I/O threads are named after
 * index: "io-net0", "io-net0q1", ..., and "io-net0c" for the control
 * queue. cfg must outlive the model.
 */
struct virtio_net *virtio_net_new(struct thread_registry *threads,
				  unsigned int index, const struct net_config *cfg,
				  struct net_backend *be, GError **err);
/* The same with vhost-net's ioctls going to ops (NULL: the host's). */
struct virtio_net *virtio_net_new_vhost(struct thread_registry *threads,
					unsigned int index,
					const struct net_config *cfg,
					struct net_backend *be,
					const struct vhost_ioctl_ops *vhost_ops,
					void *vhost_opaque, GError **err);
void virtio_net_free(struct virtio_net *net);
/* What virtio_pci_create() or a test's virtio_device_init() needs. */
struct virtio_net_info {
	uint64_t features;
	unsigned int nr_queues;
	uint8_t *config;
	size_t config_size;
};
void virtio_net_get_info(struct virtio_net *net, struct virtio_net_info *info);
extern const struct virtio_device_ops virtio_net_ops;

/* The NIC's QMP name ("net0"). */
const char *virtio_net_name(const struct virtio_device *vdev);
/* Link up or down (QMP set_link): the guest sees STATUS change. */
void virtio_net_set_link(struct virtio_device *vdev, bool up);
bool virtio_net_link_up(const struct virtio_device *vdev);
/* A copy of the receive filter, for query-rx-filter. */
void virtio_net_get_filter(struct virtio_device *vdev,
			   struct virtio_net_filter *f);
/*
 * An eventfd the device signals when the guest changed the receive filter
 * (NIC_RX_FILTER_CHANGED). As in QEMU there is one event per change until
 * the filter is queried: a signal disarms it, _arm() (query-rx-filter)
 * arms it again. Armed when the NIC is created.
 */
int virtio_net_filter_event_fd(const struct virtio_device *vdev);
void virtio_net_filter_event_arm(struct virtio_device *vdev);

/* Frame counters of one NIC (all queue pairs). */
struct virtio_net_stats {
	uint64_t rx_frames, rx_dropped, tx_frames, tx_errors;
};
void virtio_net_get_stats(struct virtio_device *vdev,
			  struct virtio_net_stats *s);

#endif
