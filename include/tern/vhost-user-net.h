/* SPDX-License-Identifier: MIT */
/*
 * virtio-net whose data path is a vhost-user back-end (--net
 * vhost-user=SOCK; DPDK's vhost PMD in testpmd, OVS-DPDK, ...): tern keeps
 * the PCI function, the MAC and the link status in config space and,
 * with several queue pairs, the control queue; the back-end the receive
 * and transmit rings of each pair.
 */
#ifndef TERN_VHOST_USER_NET_H
#define TERN_VHOST_USER_NET_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/net.h"

struct state_reader;
struct state_writer;
struct virtio_device;
struct virtio_net_ctrl_state;

extern const struct device_type vhost_user_net_device_type;

/*
 * The virtio-net bits the guest is offered, from what the back-end offers
 * (GET_FEATURES) and the queue pairs configured: the offloads and
 * MRG_RXBUF only when the back-end has them (it writes the headers), MAC
 * and STATUS always (tern serves the config space); with several pairs
 * MQ when the back-end has it, and CTRL_VQ, CTRL_RX and CTRL_MAC_ADDR
 * (tern serves the control queue). Transport bits are the core's, masked
 * by dev.c. Pure.
 */
uint64_t vhost_user_net_features(uint64_t backend, unsigned int pairs);
/* The bits of vhost_user_net_features() that tern serves itself. */
uint64_t vhost_user_net_local_features(unsigned int pairs);
/*
 * One control command as read from the control queue (class, command,
 * data; len bytes in all) against st, answered as the in-process
 * virtio-net answers it (virtio_net_ctrl_apply()): VIRTIO_NET_OK or
 * VIRTIO_NET_ERR, st changed only on OK, *effects what changed
 * (VIRTIO_NET_CTRL_PAIRS: st->pairs is the new count of active pairs).
 * A command shorter than its header or longer than any valid one is ERR.
 * Pure.
 */
uint8_t vhost_user_net_ctrl(struct virtio_net_ctrl_state *st,
			    const uint8_t *cmd, size_t len,
			    unsigned int *effects);

/*
 * The model's state section "<id>/model": the queue pairs the driver set
 * active and the address it set (CTRL_MAC_ADDR), which the back-end does
 * not keep. get checks pairs against max_pairs and mq (the driver took
 * VIRTIO_NET_F_MQ) and sets *pairs and mac only when all is well; false
 * with err otherwise.
 */
void vhost_user_net_state_put(struct state_writer *w, const char *id,
			      unsigned int pairs,
			      const uint8_t mac[NET_MAC_LEN]);
bool vhost_user_net_state_get(struct state_reader *r, const char *id,
			      unsigned int max_pairs, bool mq,
			      unsigned int *pairs, uint8_t mac[NET_MAC_LEN],
			      GError **err);

/* Is vdev a vhost-user-net? */
bool vhost_user_net_is(const struct virtio_device *vdev);

#endif
