/* SPDX-License-Identifier: MIT */
/*
 * Network back-ends for virtio-net: the --net option, the tap device
 * (/dev/net/tun with virtio-net headers, one fd per queue pair) and the
 * kernel's vhost-net. A back-end knows nothing of virtio rings: the device
 * reads and writes whole frames, each behind a 12-byte virtio-net header,
 * on the back-end's fds, and asks it for offloads and queue attachment
 * through struct net_backend_ops, so the unit tests can plug in a socket
 * pair instead of a tap.
 */
#ifndef TERN_NET_H
#define TERN_NET_H

#include <glib.h>
#include <net/if.h>
#include <stdint.h>

#include "tern/util.h"

/* Queue pairs a NIC may have: one I/O thread each. */
#define NET_MAX_QUEUES 16
#define NET_MTU_MIN 68
#define NET_MTU_MAX 65535
#define NET_MAC_LEN 6

enum net_vhost_mode {
	NET_VHOST_OFF, /* default, as QEMU's tap */
	NET_VHOST_ON, /* the kernel's vhost-net, or exit 2 */
	NET_VHOST_AUTO, /* vhost-net when the host has it, else tern's own */
};

/*
 * --net tap=NAME|fd=N[,mac=..][,queues=N][,mtu=BYTES][,vhost=on|off|auto]
 * or --net vhost-user=SOCK[,queues=1][,mac=..][,reconnect=on|off]
 */
struct net_config {
	char *ifname; /* tap=NAME; NULL with fd= */
	int fd; /* fd=N, else -1 */
	uint8_t mac[NET_MAC_LEN];
	bool mac_given; /* else QEMU's default for the NIC's index */
	unsigned int queues; /* queue pairs, 1..NET_MAX_QUEUES */
	unsigned int mtu; /* 0: not given (VIRTIO_NET_F_MTU not offered) */
	enum net_vhost_mode vhost;
	char *vhost_user; /* vhost-user=SOCK: a back-end process, else NULL */
	bool reconnect; /* vhost-user: reconnect after it left (default on) */
	char *spec; /* as given, for messages */
};

/*
 * Parse one --net value. Pure: no device is opened. On error returns false
 * with a TERN_ERROR_INPUT message that starts with "--net 'SPEC'" and names
 * the key or value at fault; out is then cleared.
 */
bool net_config_parse(const char *spec, struct net_config *out, GError **err);
void net_config_clear(struct net_config *cfg);
/*
 * "52:54:00:12:34:56" (hex, either case, colons) into mac. A multicast
 * address (bit 0 of the first byte) is refused: it cannot be a NIC's own.
 * 0 or -EINVAL.
 */
int net_mac_parse(const char *s, uint8_t mac[NET_MAC_LEN]) __must_check;
/* QEMU's default for NIC n: 52:54:00:12:34:56 + n. */
void net_mac_default(unsigned int n, uint8_t mac[NET_MAC_LEN]);
/* "52:54:00:12:34:56"; buf holds 18 bytes. */
void net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[18]);

/* Offloads the reader of a tap accepts (linux/if_tun.h TUN_F_*). */
#define NET_TUN_F_CSUM 0x01
#define NET_TUN_F_TSO4 0x02
#define NET_TUN_F_TSO6 0x04
#define NET_TUN_F_TSO_ECN 0x08
#define NET_TUN_F_UFO 0x10

/* What the device asks of a back-end besides reading and writing frames. */
struct net_backend_ops {
	const char *name;
	/* Offloads the guest takes (NET_TUN_F_*). 0 or -errno. */
	int (*set_offload)(void *opaque, unsigned int flags);
	/*
	 * Let queue q carry traffic or not (a multi-queue tap steers frames
	 * only to attached queues). 0 or -errno.
	 */
	int (*set_queue)(void *opaque, unsigned int q, bool enabled);
	/* Close the fds and free the back-end (net_backend_close()). */
	void (*close)(void *opaque);
};

/*
 * An open back-end: nr_queues non-blocking fds, one per queue pair. Each
 * read() returns one frame, each writev() sends one, both with a
 * NET_VNET_HDR_LEN header in front.
 */
#define NET_VNET_HDR_LEN 12
struct net_backend {
	const struct net_backend_ops *ops;
	void *opaque;
	unsigned int nr_queues;
	int fds[NET_MAX_QUEUES];
	char ifname[IFNAMSIZ]; /* the tap's name, for QMP and messages */
};

/*
 * Open the tap cfg names: tap=NAME opens /dev/net/tun and attaches to (or
 * creates) the interface with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, plus
 * IFF_MULTI_QUEUE and one fd per queue pair when queues > 1; fd=N checks
 * that N is such a tap (one queue) and takes it over. The header size is
 * set to NET_VNET_HDR_LEN and every fd made non-blocking. Errors name the
 * option (TERN_ERROR_INPUT: tern exits 2).
 */
struct net_backend *net_tap_open(const struct net_config *cfg, GError **err);
/* Close the back-end (its fds and itself); NULL is ignored. */
void net_backend_close(struct net_backend *be);

/*
 * The kernel's vhost-net (drivers/vhost/net.c) for the data queues of one
 * queue pair: tern hands it guest memory, the rings, the kick and call
 * eventfds and the tap fd, and keeps the control queue. Every ioctl goes
 * through struct vhost_ioctl_ops, so the unit tests record the sequence
 * against a fake; these machines have no /dev/vhost-net.
 */
struct vhost_ioctl_ops {
	/* open("/dev/vhost-net", O_RDWR): an fd or -errno. */
	int (*open)(void *opaque);
	/* ioctl(fd, req, arg): 0 (or the ioctl's result) or -errno. */
	int (*ioctl)(void *opaque, int fd, unsigned long req, void *arg);
	void (*close)(void *opaque, int fd);
};
extern const struct vhost_ioctl_ops vhost_ioctl_host;

/* What one vring is, in the host's terms. */
struct vhost_vring {
	unsigned int num; /* queue size */
	uint16_t base; /* the next available entry to take */
	void *desc, *avail, *used; /* host addresses (guest_memory_ptr()) */
	int kick_fd, call_fd;
};

struct guest_memory;
struct vhost_net;

/*
 * Open vhost-net, make it ours (VHOST_SET_OWNER) and learn what it can
 * carry (VHOST_GET_FEATURES). -ENOENT when the host has no
 * /dev/vhost-net, other -errno from the kernel.
 */
int vhost_net_open(const struct vhost_ioctl_ops *ops, void *opaque,
		   struct vhost_net **out) __must_check;
/* The ring features it supports (VERSION_1, MRG_RXBUF, EVENT_IDX, ...). */
uint64_t vhost_net_features(const struct vhost_net *v);
/*
 * Start the pair: the negotiated features it supports, the guest memory
 * table, then for vring 0 (receive) and 1 (transmit) size, base,
 * addresses, kick and call eventfds, then the tap fd as both vrings'
 * back-end. 0 or -errno; on failure nothing stays attached.
 */
int vhost_net_start(struct vhost_net *v, const struct guest_memory *mem,
		    uint64_t features, const struct vhost_vring rings[2],
		    int tap_fd) __must_check;
/*
 * Stop: detach the back-end from both vrings, then read where each
 * stopped (VHOST_GET_VRING_BASE) into bases[]. 0 or -errno.
 */
int vhost_net_stop(struct vhost_net *v, uint16_t bases[2]) __must_check;
void vhost_net_close(struct vhost_net *v);

#endif
