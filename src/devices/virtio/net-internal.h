/* SPDX-License-Identifier: MIT */
/*
 * virtio-net's own shared state: the model (net.c: configuration, life
 * cycle, queue pairs, the control queue), its data path (net-io.c), its
 * state (net-state.c) and the vhost-net hand-over (net-vhost.c). Nothing else includes it.
 *
 * Threads: each active queue pair has an I/O thread serving its receive
 * queue, transmit queue and tap fd; the control queue has one more. The
 * control thread starts and stops pair threads (VQ_PAIRS_SET); control
 * path calls (activate, reset, quiesce, resume, save, load) stop the
 * control thread first, so the two never act on a pair at once.
 */
#ifndef TERN_VIRTIO_NET_INTERNAL_H
#define TERN_VIRTIO_NET_INTERNAL_H

#include <sys/uio.h>

#include "tern/iothread.h"
#include "tern/virtio-net.h"

/* Frames one callback moves before it lets the thread look at its other fds. */
#define NET_BUDGET 256
/* Keep looking this long after the last frame before sleeping on kicks. */
#define NET_POLL_NS (50 * 1000)
/* The longest a pair's loop runs before yielding to its thread's stop check. */
#define NET_RUN_NS (2 * 1000 * 1000)
/* Transmit chains popped and sent together (one io_uring_enter). */
#define NET_TX_BATCH 32
/* Most frames read from the back-end per io_uring_enter. */
#define NET_RX_BATCH 32
/* Used buffers pushed before the driver is interrupted mid-batch. */
#define NET_NOTIFY_BATCH 64
/* The longest control command we read: a full MAC table and then some. */
#define NET_CTRL_MAX_DATA (2 * (4 + VIRTIO_NET_MAC_TABLE_ENTRIES * NET_MAC_LEN) + 64)

struct virtio_net;
struct io_uring;

struct net_pair {
	struct virtio_net *net;
	unsigned int index;
	struct virtqueue *rxq, *txq;
	int fd; /* the back-end's queue */
	struct iothread *thread;
	bool running; /* started: fds watched, thread not parked for good */
	bool stopped; /* a malformed ring or chain: NEEDS_RESET, pop no more */
	uint32_t tap_events; /* EPOLLIN / EPOLLOUT watched on fd now (0: not in the set) */

	/* Receive: a frame read from the back-end and the chains for it. */
	bool rx_blocked; /* no room for the frame: the tap is not read */
	uint8_t *rx_buf; /* VIRTIO_NET_MAX_BUFFER bytes: read() reads here */
	uint8_t *rx_frame; /* the frame in hand: rx_buf or a slot of rx_stage */
	size_t rx_len; /* a frame is pending (header included) */
	struct virtq_elem *rx_elems; /* VIRTQ_MAX_SIZE chains popped, not used */
	unsigned int rx_held;
	struct virtio_net_filter filter; /* the thread's copy */
	uint32_t filter_gen;

	/*
	 * Transmit: chains popped and not sent yet, oldest first. Outside a
	 * pass, any left mean the back-end had no room for tx_elems[0]
	 * (EAGAIN): its EPOLLOUT brings us back.
	 */
	struct virtq_elem *tx_elems; /* NET_TX_BATCH */
	unsigned int tx_count;

	/*
	 * The back-end fd's io_uring (net_pair_alloc), or NULL: then one
	 * read() or writev() per frame. Receive reads a batch of frames
	 * through it into rx_stage; transmit writes through it only with
	 * ring_tx (net_pair_ring_wanted). Only a back-end that does
	 * RWF_NOWAIT gets one (a probe at set-up).
	 */
	struct io_uring *ring;
	bool ring_tx;
	uint8_t *rx_stage; /* NET_RX_BATCH slots of VIRTIO_NET_MAX_BUFFER */
	struct iovec rx_iov[NET_RX_BATCH];
	int rx_res[NET_RX_BATCH]; /* per slot: the read's length, or -errno */
	unsigned int rx_next, rx_nslots; /* slots [rx_next, rx_nslots) not looked at */
	unsigned int rx_want; /* reads in the next batch: 1..NET_RX_BATCH */

	/* Counters (relaxed atomics: QMP and tests read them). */
	uint64_t rx_frames, rx_dropped, tx_frames, tx_errors;

	/* vhost-net carries this pair's data queues (net-vhost.c). */
	struct vhost_net *vhost;
	bool use_vhost; /* decided at start: vhost-net took the pair */
	bool vhost_running;
	int call_fd[2];
};

struct virtio_net {
	struct virtio_device *vdev;
	const struct net_config *cfg;
	unsigned int index;
	char name[16]; /* "net0": QMP's name for it */
	struct net_backend *be;
	struct virtio_net_config config;
	uint8_t mac[NET_MAC_LEN]; /* as configured (a reset goes back to it) */
	uint64_t features;
	unsigned int nr_pairs; /* offered */
	struct net_pair *pairs;
	struct virtqueue *ctrlq;
	struct iothread *ctrl_thread;
	bool ctrl_running;
	struct virtq_elem ctrl_elem;

	/* Control state, link, announce: lock, or with the control thread stopped. */
	pthread_mutex_t lock;
	struct virtio_net_ctrl_state ctrl;
	uint32_t filter_gen; /* atomic: bumped after each filter change */
	bool link_up; /* atomic: read by the pair threads */
	bool announce; /* VIRTIO_NET_S_ANNOUNCE is set for the driver */
	bool announce_due; /* loaded from a state: announce at activation */
	bool loaded; /* ctrl came from a state: activation keeps it */
	unsigned int active_pairs; /* pairs with a running thread */
	uint64_t offloads_now; /* atomic: ctrl.offloads, for the pair threads */
	int filter_event_fd;
	bool filter_event_armed; /* atomic */

	/* vhost=on|auto and /dev/vhost-net opened: try it at activation. */
	bool vhost_wanted;
	const struct vhost_ioctl_ops *vhost_ops;
	void *vhost_opaque;
};

/* net-io.c: the data path of one pair, on its thread. */
/*
 * One pass over both directions: transmit chains to the back-end, then
 * frames from it into receive chains, each up to NET_BUDGET frames.
 * Returns the frames moved; *rx_pushed and *tx_pushed count buffers used
 * since the caller last interrupted the driver (the caller notifies).
 * The pair's loop is made of these passes; the virtio-net-data fuzz
 * target calls it directly, without a thread, epoll or kicks, so it runs
 * exactly the code a guest's rings and the tap drive.
 */
unsigned int net_pair_pass(struct net_pair *p, unsigned int *rx_pushed,
			   unsigned int *tx_pushed);
/*
 * The pair's buffers, and with ring an io_uring on p->fd for moving a
 * batch of frames per system call (before the sandbox: it makes the
 * ring); it transmits too with ring_tx. A ring that cannot be made is no
 * error: one system call per frame.
 */
void net_pair_alloc(struct net_pair *p, bool ring, bool ring_tx);
/* Frames read from the back-end, not yet the guest's (the one in hand too). */
unsigned int net_pair_rx_pending(const struct net_pair *p);
void net_pair_free(struct net_pair *p);
/* Should the pair send through an io_uring? Only a tap that never refuses a write for room. */
bool net_pair_ring_wanted(int fd);
/* Nothing in hand, not stopped, the filter to be fetched: as a pair starts. */
void net_pair_clear(struct net_pair *p);
int net_pair_start(struct net_pair *p) __must_check;
/* Stop the thread and unwatch; with give_back, held receive chains return to the ring. */
void net_pair_stop(struct net_pair *p, bool give_back);
/*
 * The thread is stopped: give held receive chains back to the ring, drop
 * a frame that had no room, finish a transmit chain the back-end refused.
 */
void net_pair_settle(struct net_pair *p);
/* Restart a settled pair's thread and look at its rings and fd. */
void net_pair_resume(struct net_pair *p);
/* net.c */
/* Run pairs [0, n) and stop the rest (control thread or control path). */
void net_set_active_pairs(struct virtio_net *net, unsigned int n);
/* The guest changed the filter: let the pairs pick it up, tell QMP. */
void net_filter_changed(struct virtio_net *net);
/* Offloads in effect changed: tell the back-end. */
void net_offloads_changed(struct virtio_net *net, uint64_t offloads);
/* Update the configuration space bytes (vdev->lock) and maybe interrupt. */
void net_config_update(struct virtio_net *net, bool notify);

/* net-state.c: the "<id>/model" section. */
void net_state_save(struct virtio_device *vdev, const char *id,
		    struct state_writer *w);
bool net_state_load(struct virtio_device *vdev, const char *id,
		    struct state_reader *r, GError **err);

/* net-vhost.c */
/* Open vhost-net for each pair as cfg->vhost says. false: err set (vhost=on only). */
bool net_vhost_init(struct virtio_net *net, GError **err);
/* Hand the pair's data queues to vhost-net if it can take them; false: ours. */
bool net_vhost_start(struct net_pair *p);
/* Take them back; the rings carry on where vhost-net stopped. */
void net_vhost_stop(struct net_pair *p);
void net_vhost_close(struct virtio_net *net);

#endif
