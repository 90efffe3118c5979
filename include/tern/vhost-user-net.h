/* SPDX-License-Identifier: MIT */
/*
 * virtio-net whose data path is a vhost-user back-end (--net
 * vhost-user=SOCK; DPDK's vhost PMD in testpmd, OVS-DPDK, ...): tern keeps
 * the PCI function, the MAC and the link status in config space, the
 * back-end the receive and transmit rings of one queue pair.
 */
#ifndef TERN_VHOST_USER_NET_H
#define TERN_VHOST_USER_NET_H

#include <glib.h>
#include <stdint.h>

struct virtio_device;

extern const struct device_type vhost_user_net_device_type;

/*
 * The virtio-net bits the guest is offered, from what the back-end offers
 * (GET_FEATURES): the offloads and MRG_RXBUF only when the back-end has
 * them (it writes the headers), MAC and STATUS always (tern serves the
 * config space). Transport bits are the core's, masked by dev.c. Pure.
 */
uint64_t vhost_user_net_features(uint64_t backend);
/* The bits of vhost_user_net_features() that tern serves itself. */
uint64_t vhost_user_net_local_features(void);

/* Is vdev a vhost-user-net? */
bool vhost_user_net_is(const struct virtio_device *vdev);

#endif
