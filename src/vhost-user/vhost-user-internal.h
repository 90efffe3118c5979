/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user frontend inside src/vhost-user/: the socket connection
 * (conn.c) and the device-independent part of a device whose data path is
 * a back-end process (dev.c): connecting and negotiating, guest memory,
 * handing the rings over and taking them back, the inflight buffer, and
 * reconnecting after the back-end went away. The models (blk.c) add their
 * configuration and feature bits.
 */
#ifndef TERN_VHOST_USER_INTERNAL_H
#define TERN_VHOST_USER_INTERNAL_H

#include <glib.h>
#include <pthread.h>

#include "tern/vhost-user.h"

struct machine;
struct virtio_device;
struct iothread;

/* How long any reply may take before the back-end counts as gone. */
#define VHOST_USER_REPLY_TIMEOUT_MS 2000
/* ... except guest memory, which the back-end maps first (dev.c). */
#define VHOST_USER_MEMORY_TIMEOUT_MS 30000
/* Reconnect back-off: 100 ms, doubling up to 1 s. */
#define VHOST_USER_BACKOFF_MIN_MS 100
#define VHOST_USER_BACKOFF_MAX_MS 1000
/*
 * After the back-end's socket appears: tries this far apart, this many
 * times (bind() makes the file, listen() follows), then the back-off.
 */
#define VHOST_USER_QUICK_MS 10
#define VHOST_USER_QUICK_TRIES 5
/* Rings: 16 queue pairs of a net (tern/net.h's NET_MAX_QUEUES). */
#define VHOST_USER_QUEUES_MAX 32
/* Events kept for QMP until the main loop emits them. */
#define VHOST_USER_EVENTS_MAX 16

struct vhost_user_conn {
	int fd; /* -1: not connected */
	unsigned int timeout_ms;
	uint64_t features; /* what the back-end offers */
	uint64_t protocol; /* negotiated protocol features */
	/* Protocol features the model does without (set before connecting). */
	uint64_t protocol_drop;
	unsigned int queue_num; /* GET_QUEUE_NUM (MQ), else 0 */
};

static inline bool vhost_user_conn_has_protocol(const struct vhost_user_conn *c,
						unsigned int bit)
{
	return c->protocol & (1ULL << bit);
}

/* Connect (no message yet): 0 or -errno. */
int vhost_user_conn_open(struct vhost_user_conn *c,
			 const char *path) __must_check;
void vhost_user_conn_close(struct vhost_user_conn *c);
/*
 * Send m (with REPLY_ACK's need-reply flag when negotiated and m has no
 * answer of its own) and wait for its answer into reply (may be NULL) up to
 * the time-out. 0, -EIO (the back-end acked with an error), -ETIMEDOUT,
 * -EPROTO (a malformed reply), -ECONNRESET (closed) or another -errno.
 */
int vhost_user_conn_call(struct vhost_user_conn *c, struct vhost_user_msg *m,
			 struct vhost_user_msg *reply) __must_check;
int vhost_user_conn_get_u64(struct vhost_user_conn *c, uint32_t request,
			    uint64_t *val) __must_check;
int vhost_user_conn_set_u64(struct vhost_user_conn *c, uint32_t request,
			    uint64_t val) __must_check;
/*
 * GET_FEATURES, GET/SET_PROTOCOL_FEATURES (those of
 * VHOST_USER_PROTOCOL_WANTED the back-end offers), GET_QUEUE_NUM (MQ),
 * SET_OWNER.
 */
int vhost_user_conn_negotiate(struct vhost_user_conn *c) __must_check;

/*
 * The connector (connector.c): a process forked at set-up that connects
 * to the back-end's socket for a sandboxed thread, which may not.
 */
struct vhost_user_connector {
	int sock; /* our end of the socketpair, -1 when none */
	int watch_fd; /* inotify on the socket's directory, -1 when none */
};

/* A socket is made (bind) or moved into place: both announce a back-end. */
#define VHOST_USER_WATCH_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)
/* How long start waits for the connector's first message (its watch). */
#define VHOST_USER_CONNECTOR_START_MS 5000

/*
 * dirfd: -1, or the socket's directory (--jail, config.h), which the
 * connector then connects from by the socket's name.
 */
int vhost_user_connector_start(struct vhost_user_connector *c,
			       const char *path, int dirfd) __must_check;
void vhost_user_connector_stop(struct vhost_user_connector *c);
/*
 * Read what the watch reported (non-blocking); true when the socket's own
 * name was among it: a back-end (re)made its socket.
 */
bool vhost_user_connector_watch_saw(struct vhost_user_connector *c,
				    const char *path);
/* A socket connected to the path: 0 and *fd, or -errno (-ECONNREFUSED ...). */
int vhost_user_connector_connect(struct vhost_user_connector *c, int *fd,
				 unsigned int timeout_ms) __must_check;

/* Take a socket connected elsewhere (the connector). */
void vhost_user_conn_adopt(struct vhost_user_conn *c, int fd);

struct vhost_user_dev;

/* What a model adds to the device-independent part. */
struct vhost_user_dev_ops {
	/* The back-end came or went (virtio-net: link up or down). */
	void (*link)(struct vhost_user_dev *d, bool up);
};

/* What a ring's call and err callbacks get. */
struct vhost_user_ring_ref {
	struct vhost_user_dev *d;
	unsigned int index;
};

struct vhost_user_dev {
	const struct vhost_user_dev_ops *ops;
	void *model;
	char *name; /* "vhost-user-blk0", for messages */
	char *path; /* the socket */
	bool reconnect;
	struct machine *m;
	struct virtio_device *vdev;
	unsigned int
	    nr_queues; /* rings handed over (vhost_user_dev_set_rings) */
	unsigned int max_queues; /* rings with call and err fds */
	/*
	 * Set by the model before vhost_user_dev_init() (zero for blk):
	 * device bits tern implements itself and never asks of the back-end
	 * (virtio-net: MAC, STATUS), and how many rings GET_QUEUE_NUM counts
	 * as one queue (virtio-net: 2, a pair).
	 */
	uint64_t local_features;
	unsigned int rings_per_queue;
	/*
	 * The option to name when the back-end has fewer queues than asked
	 * ("--net 'vhost-user=...,queues=4'", g_malloc'd, freed by
	 * vhost_user_dev_fini()); NULL: the generic message.
	 */
	char *option;

	/* Everything below under lock (control threads and the I/O thread). */
	pthread_mutex_t lock;
	struct vhost_user_conn conn;
	/* The socket failed: the I/O thread closes it and reconnects. */
	bool broken;
	bool active; /* the driver started the device and nothing holds it */
	bool running; /* the back-end has the rings */
	/*
	 * Rings [0, nr_enabled) get SET_VRING_ENABLE 1, the others 0, at
	 * every start and reconnect (vhost_user_dev_init: all of them; a
	 * multi-queue net: its active pairs, vhost_user_dev_enable()).
	 */
	unsigned int nr_enabled;
	/*
	 * Each ring's interrupt: the transport's MSI-X vector eventfd when it
	 * has one (queue_irq_fd), so the back-end interrupts the guest through
	 * KVM without tern; else call_fd, which the I/O thread relays
	 * (INTx, no vector). sent_call: what the back-end was given.
	 */
	int call_fd[VHOST_USER_QUEUES_MAX];
	int sent_call[VHOST_USER_QUEUES_MAX];
	int err_fd[VHOST_USER_QUEUES_MAX];
	struct vhost_user_ring_ref refs[VHOST_USER_QUEUES_MAX];
	/*
	 * INFLIGHT_SHMFD: kept across reconnects, dropped by a device reset;
	 * never mapped by tern (rings.c).
	 */
	struct vhost_user_inflight inflight;
	int inflight_fd;

	struct vhost_user_connector connector; /* reconnect=on */
	struct iothread *thread; /* always running: calls, socket, timer */
	int timer_fd; /* reconnect back-off */
	unsigned int backoff_ms;
	unsigned int quick_tries; /* left after the socket appeared */
	uint64_t connected_ms; /* CLOCK_MONOTONIC of the last (re)connect */
	int event_fd; /* signalled when events[] has something for QMP */
	bool events[VHOST_USER_EVENTS_MAX]; /* true: connected, false: gone */
	unsigned int nr_events;
	unsigned int disconnects, reconnects;
};

/*
 * Connect to path and negotiate; set up eventfds, the reconnect timer and
 * the I/O thread (parked). TERN_ERROR_INPUT when the back-end is not there
 * or unusable. nr_queues: what the model will offer (≤ the back-end's).
 */
bool vhost_user_dev_init(struct vhost_user_dev *d, struct machine *m,
			 const char *name, const char *path, bool reconnect,
			 unsigned int nr_queues, GError **err);
/*
 * The model's virtio device exists: keep only the feature bits the
 * back-end offers, hand it guest memory and start the I/O thread.
 */
bool vhost_user_dev_attach(struct vhost_user_dev *d, struct virtio_device *vdev,
			   GError **err);
void vhost_user_dev_fini(struct vhost_user_dev *d);
/* The device's virtio features that the back-end offers. */
uint64_t vhost_user_dev_features(const struct vhost_user_dev *d);

/* activate / resume: give the rings to the back-end (now or on reconnect). */
void vhost_user_dev_start(struct vhost_user_dev *d);
/*
 * reset / quiesce: take the rings back (GET_VRING_BASE); reset also
 * forgets the ring positions and the inflight buffer.
 */
void vhost_user_dev_stop(struct vhost_user_dev *d, bool reset);
/*
 * Lock held: enable rings [0, n) and disable the rest; while the back-end
 * has the rings, SET_VRING_ENABLE for each started ring that changes, and
 * a kick for each ring turned on (buffers may wait in it). A failed
 * request cuts the back-end off; the count stays for the reconnect.
 */
void vhost_user_dev_enable(struct vhost_user_dev *d, unsigned int n);
/*
 * Lock held, the back-end without the rings (before a start): hand over
 * rings [0, n) only, n at most the count given to vhost_user_dev_init()
 * (a net whose driver took no MQ has one pair and its control queue where
 * the second pair's receive ring would be).
 */
void vhost_user_dev_set_rings(struct vhost_user_dev *d, unsigned int n);
/* The call fd ring i must have now (queue_irq_fd, or the relay). */
int vhost_user_dev_call_fd(struct vhost_user_dev *d, unsigned int i);
/*
 * The transport moved an interrupt (virtio_device_ops.irq_route_changed):
 * the back-end gets the new call fds now (a reply wait, bounded).
 */
void vhost_user_dev_irq_route_changed(struct vhost_user_dev *d);
/* Lock held, running: send SET_VRING_CALL where the call fd moved. */
int vhost_user_dev_calls_update(struct vhost_user_dev *d) __must_check;

/*
 * Inside src/vhost-user/, with the device's lock held: the rings to the
 * back-end (connected, active; *what names the step that failed), back
 * from it (GET_VRING_BASE), or, after a crash, positioned at the used
 * index in guest memory (rings.c); a failed request cuts the back-end off
 * for the I/O thread to reconnect (dev.c).
 */
int vhost_user_dev_rings_start(struct vhost_user_dev *d,
			       const char **what) __must_check;
void vhost_user_dev_rings_stop(struct vhost_user_dev *d);
uint16_t vhost_user_resume_index(uint16_t base, uint16_t used, uint16_t size);
void vhost_user_dev_bases_from_used(struct vhost_user_dev *d);
void vhost_user_dev_fail(struct vhost_user_dev *d, const char *what, int ret);

/* GET_CONFIG of size bytes at 0 (CONFIG negotiated): 0 or -errno. */
int vhost_user_dev_get_config(struct vhost_user_dev *d, void *buf,
			      uint32_t size) __must_check;

/* QMP: the next pending event (true: connected), false when none. */
bool vhost_user_dev_next_event(struct vhost_user_dev *d, bool *connected);

#endif
