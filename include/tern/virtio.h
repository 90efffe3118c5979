/* SPDX-License-Identifier: MIT */
/*
 * Virtio 1.x device core: the seam between device models (blk, console,
 * rng, later net/scsi/balloon), the virtqueues (split and packed) and the
 * transport (virtio-pci modern). Device models only see this header.
 */
#ifndef TERN_VIRTIO_H
#define TERN_VIRTIO_H

#include <glib.h>
#include <pthread.h>
#include <sys/uio.h>

#include "tern/memory.h"
#include "tern/util.h"

struct machine;
struct pci_device;
struct virtio_device;
struct state_writer;
struct state_reader;

/* Device status bits (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80
/* The bits above; a device keeps no other, and a state load refuses others. */
#define VIRTIO_STATUS_KNOWN                                                    \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                    \
	 VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK |                 \
	 VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* Reserved feature bits the core and transport own (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

/* Device types (5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_SCSI 8
#define VIRTIO_ID_FS 26

/* The largest queue we offer; a chain is never longer than its queue. */
#define VIRTQ_MAX_SIZE 256
#define VIRTQ_MAX_CHAIN VIRTQ_MAX_SIZE

/*
 * One descriptor chain, validated and translated: out (device-readable)
 * buffers first, then in (device-writable) buffers, as host pointers into
 * guest RAM that the memory module checked end to end.
 */
struct virtq_elem {
	uint16_t id; /* split: head index; packed: buffer id */
	uint16_t ndesc; /* descriptors the chain used in the ring (packed) */
	unsigned int out_num, in_num;
	uint64_t out_len, in_len; /* byte totals */
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

struct virtqueue;
struct virtio_transport_ops;

/*
 * Threads: a queue has a pop side (virtq_pop, virtq_disable_kicks,
 * virtq_enable_kicks) and a push side (virtq_push, virtq_notify). Each side
 * is used by one thread at a time; the two sides may be on different
 * threads (submission on one, completion on another).
 *
 * Take the next available chain. Returns 1 with elem filled, 0 when the
 * ring is empty (elem untouched), -EINVAL when the driver's ring is
 * malformed (addresses outside RAM, loops, a chain longer than the queue,
 * readable after writable, zero-length buffers, nested or misplaced
 * indirect tables, a packed chain running into a descriptor that is not
 * available): the device is then put in NEEDS_RESET with one log line and
 * the queue stops (every later pop returns -EINVAL, push and notify do
 * nothing) until the driver resets the device.
 */
int virtq_pop(struct virtqueue *vq, struct virtq_elem *elem) __must_check;

/*
 * Return a chain to the driver with `written` bytes written to its in
 * buffers, which are marked for migration from elem's iovecs: a model
 * that cut or advanced them in place marks the bytes they no longer
 * cover itself (virtio-blk's status byte, virtio-scsi restores them).
 */
void virtq_push(struct virtqueue *vq, const struct virtq_elem *elem,
		uint32_t written);

/*
 * Return n chains at once, in the order they were popped: the driver sees
 * all of them or none (one used index store, or the first descriptor's
 * flags written last). virtio-net's mergeable receive buffers need it: a
 * frame spread over several chains must not be seen half delivered.
 */
void virtq_push_batch(struct virtqueue *vq, const struct virtq_elem *const *elems,
		      const uint32_t *written, unsigned int n);

/*
 * Give back the chain popped last, unused and not pushed: the next pop
 * returns it again. Several are given back newest first. A model that
 * holds chains it could not fill (virtio-net waiting for enough receive
 * buffers) returns them this way before a quiesce, so that the ring is as
 * the driver left it and everything popped was used. Pop side only.
 */
void virtq_unpop(struct virtqueue *vq, const struct virtq_elem *elem);

/*
 * Hand-over of a split ring to a data path outside tern (kernel vhost)
 * and back: where the device side stands (the next available entry it
 * will take), and, after the outside path stopped at last_avail, carry on
 * from there with the used index it published in guest memory. Only for
 * a started split ring, pop and push sides idle.
 */
uint16_t virtq_split_last_avail(const struct virtqueue *vq);
void virtq_split_resume_at(struct virtqueue *vq, uint16_t last_avail);

/* After pushes: interrupt the driver unless it suppressed it (EVENT_IDX or flags). */
void virtq_notify(struct virtqueue *vq);

/*
 * Polling control: stop asking the driver for kicks while draining; re-enable
 * returns true if buffers arrived in between (drain again before sleeping).
 */
void virtq_disable_kicks(struct virtqueue *vq);
bool virtq_enable_kicks(struct virtqueue *vq);

/* The eventfd the transport's ioeventfd signals on a driver kick. */
int virtq_kick_fd(const struct virtqueue *vq);
unsigned int virtq_index(const struct virtqueue *vq);
struct virtio_device *virtq_device(const struct virtqueue *vq);

/* Reasons a device is held (quiesced, not started). */
#define VIRTIO_HOLD_VM 0x1 /* the VM is stopped, or its state is being taken */
#define VIRTIO_HOLD_BUS_MASTER 0x2 /* the transport may not touch guest memory */

enum virtio_activation {
	VIRTIO_ACTIVATE_NONE,
	VIRTIO_ACTIVATE_ALL, /* DRIVER_OK while held: queues and model */
	VIRTIO_ACTIVATE_MODEL, /* loaded from a state: the queues already run */
};

struct virtio_device_ops {
	const char *name; /* "virtio-blk" */
	/*
	 * The driver set DRIVER_OK: features are final (vdev->features) and
	 * the queues are set up. Start processing (kick fds, I/O threads).
	 */
	int (*activate)(struct virtio_device *vdev);
	/*
	 * Stop processing and drop in-flight state: the driver wrote status 0
	 * (also after NEEDS_RESET), the machine is reset, or the VM is being
	 * destroyed. Called only after a successful activate(), on a control
	 * thread (never a device thread, so it may join them). After it
	 * returns no device thread touches the queues or guest memory.
	 */
	void (*reset)(struct virtio_device *vdev);
	/* Stop popping; complete and push what is in flight (interrupts included) until deadline_ns (CLOCK_MONOTONIC); after a 0 return the model touches neither guest memory nor interrupts until resume(). -ETIMEDOUT: requests are still in the back-end (they stay there; resume() or reset() takes them). Control thread only, only while active. */
	int (*quiesce)(struct virtio_device *vdev, uint64_t deadline_ns);
	/* Undo quiesce: process the rings again (kick the queues, buffers may have arrived). */
	void (*resume)(struct virtio_device *vdev);
	/* Device config space; the core serves reads from vdev->config by default. */
	void (*config_read)(struct virtio_device *vdev, uint64_t off, void *data,
			    unsigned int len);
	void (*config_write)(struct virtio_device *vdev, uint64_t off,
			     const void *data, unsigned int len);
	/* Free the model's state: the last call, from virtio_pci_destroy(). */
	void (*destroy)(struct virtio_device *vdev);
	/*
	 * Optional: queue_irq_fd() may now answer differently (the driver
	 * turned MSI-X on or off, or moved a queue to another vector). On the
	 * thread of the guest's write, before it completes, with the
	 * transport's or the PCI host's config lock held: a bounded wait at
	 * most (a vhost-user reply), and no PCI or transport lock taken.
	 */
	void (*irq_route_changed)(struct virtio_device *vdev);
	/*
	 * Optional: the model's own state, in a section of its own named
	 * "<id>/model" (saved while quiesced; loaded before activation, all
	 * values checked, nothing changed on failure).
	 */
	void (*save)(struct virtio_device *vdev, const char *id,
		     struct state_writer *w);
	bool (*load)(struct virtio_device *vdev, const char *id,
		     struct state_reader *r, GError **err);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	void *priv; /* the model's state */
	struct machine *machine;
	const struct guest_memory *mem;
	uint16_t device_id;
	uint64_t host_features; /* model bits | the core's transport bits */
	uint64_t features; /* negotiated (valid from FEATURES_OK) */
	uint8_t status;
	uint8_t config_generation;
	uint8_t *config; /* model-owned config space bytes */
	size_t config_size;
	unsigned int nr_queues;
	struct virtqueue **queues;
	pthread_mutex_t lock; /* status, features, config */
	void *transport; /* the virtio-pci function */
	const struct virtio_transport_ops *transport_ops;
	bool config_dirty; /* changed since the driver last read it */
	bool active; /* activate() succeeded; reset() is owed */
	/*
	 * Why the model must not run: VIRTIO_HOLD_* bits. While any is set it
	 * is quiesced (if active), and DRIVER_OK only makes its activation
	 * pending. Control path only, under the transport's lock.
	 */
	unsigned int holds;
	bool quiesced; /* ops->quiesce was called and not undone */
	bool quiesce_timed_out; /* ... and returned -ETIMEDOUT */
	enum virtio_activation activate_pending;
};

/*
 * Create a virtio-pci function for a device model and plug it into the
 * machine's PCI bus. features: the model's device-specific bits (the core adds
 * VERSION_1, RING_PACKED, EVENT_IDX, INDIRECT_DESC; ACCESS_PLATFORM is
 * never offered). priv is handed to ops. config (config_size bytes) stays
 * the model's; change it under vdev->lock, then virtio_config_changed().
 * On failure nothing of the model is freed (ops->destroy is not called).
 */
struct virtio_device *virtio_pci_create(struct machine *m,
					const struct virtio_device_ops *ops,
					void *priv, uint16_t device_id,
					uint64_t features, unsigned int nr_queues,
					uint8_t *config, size_t config_size,
					GError **err);
/* Reset the device, unplug it, then ops->destroy() frees the model. */
void virtio_pci_destroy(struct virtio_device *vdev);
/* The PCI function under a virtio-pci device (its config space and state). */
struct pci_device *virtio_pci_function(struct virtio_device *vdev);

/* The device-table operations every virtio-pci device shares (device.h). */
void virtio_pci_device_destroy(void *vdev);
int virtio_pci_device_quiesce(void *vdev, uint64_t deadline_ns);
void virtio_pci_device_resume(void *vdev);
void virtio_pci_device_save(void *vdev, const char *id, struct state_writer *w);
bool virtio_pci_device_load(void *vdev, const char *id, struct state_reader *r,
			    GError **err);

/* Tell the driver the config changed (generation bump + config interrupt). */
void virtio_config_changed(struct virtio_device *vdev);

/*
 * A device thread found the device unusable (malformed ring, back-end
 * failure): set NEEDS_RESET, notify the driver, log why. Never fatal.
 */
void virtio_device_needs_reset(struct virtio_device *vdev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * An iothread fault callback (iothread_create()) for a model: opaque is the
 * address of the model's struct virtio_device pointer, which is filled in
 * after the thread exists. The device goes to NEEDS_RESET.
 */
void virtio_iothread_fault(void *vdev_ptr, const char *why);

static inline bool virtio_has_feature(const struct virtio_device *vdev,
				      unsigned int bit)
{
	return vdev->features & (1ULL << bit);
}

/* The bits every device offers on top of the model's (6). */
#define VIRTIO_TRANSPORT_FEATURES                                              \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_PACKED) |       \
	 (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_INDIRECT_DESC))

#define VIRTIO_MSI_NO_VECTOR 0xffff

/*
 * ---- Transport side ----
 * What a transport (virtio-pci today) and the unit tests use; device models
 * need none of it.
 */

struct virtio_transport_ops {
	/* Interrupt the driver: used buffers on vq. Device threads call it. */
	void (*notify_queue)(struct virtio_device *vdev, struct virtqueue *vq);
	/* Interrupt the driver: configuration change (or NEEDS_RESET). */
	void (*notify_config)(struct virtio_device *vdev);
	/*
	 * An eventfd whose write interrupts the driver for vq as
	 * notify_queue() would, for another process to signal (a vhost-user
	 * back-end's call fd): MSI-X on and the queue's vector set give that
	 * vector's eventfd, which the transport binds, masks and replays.
	 * -1 when only notify_queue() can (INTx, no vector). The answer
	 * changes when the transport calls the model's irq_route_changed().
	 */
	int (*queue_irq_fd)(struct virtio_device *vdev, struct virtqueue *vq);
};

/*
 * Fill vdev and create its queues (each with a kick eventfd and max_size
 * entries). The transport sets vdev->transport(_ops) and vdev->vm. 0 or
 * -errno.
 */
int virtio_device_init(struct virtio_device *vdev, const struct guest_memory *mem,
		       const struct virtio_device_ops *ops, void *priv,
		       uint16_t device_id, uint64_t features,
		       unsigned int nr_queues, uint16_t max_size,
		       uint8_t *config, size_t config_size) __must_check;
/* Reset (if active), destroy the queues; the model's destroy() is the caller's. */
void virtio_device_cleanup(struct virtio_device *vdev);

/*
 * The driver wrote device_status. 0 resets; otherwise the status machine of
 * 3.1.1: bits are only added, FEATURES_OK sticks only for an acceptable
 * feature set, DRIVER_OK starts the enabled queues and activates the model
 * (a failure sets NEEDS_RESET). Control path only (vCPU or main thread).
 */
void virtio_device_set_status(struct virtio_device *vdev, uint8_t status);
uint8_t virtio_device_get_status(struct virtio_device *vdev);
/* Device reset: model reset (if active), queues stopped, status 0. */
void virtio_device_reset(struct virtio_device *vdev);
/*
 * Hold the device for reason (VIRTIO_HOLD_*): the model is quiesced (if it
 * is active) and stays so, and a DRIVER_OK only records its activation,
 * until every reason is released. -ETIMEDOUT: the model still has requests
 * in the back-end at deadline_ns (a later hold tries again). A reset in
 * between keeps the holds. Control path only, under the transport's lock.
 */
int virtio_device_hold(struct virtio_device *vdev, unsigned int reason,
		       uint64_t deadline_ns);
void virtio_device_release(struct virtio_device *vdev, unsigned int reason);

/*
 * The transport-independent state (status, features, config generation,
 * every queue) as fields of the transport's open section; the model's own
 * section (ops->save/load) is the transport's to place. Save while
 * quiesced. Load into a device just reset: a bad value is a sticky error
 * on r and leaves the queues stopped; a device that was running comes back
 * quiesced, with its activation due at resume.
 */
void virtio_device_save(struct virtio_device *vdev, struct state_writer *w);
bool virtio_device_load(struct virtio_device *vdev, struct state_reader *r);

/* 32 feature bits from sel * 32: offered, and as accepted by the driver. */
uint32_t virtio_device_host_features(const struct virtio_device *vdev,
				     unsigned int sel);
uint32_t virtio_device_driver_features(struct virtio_device *vdev,
				       unsigned int sel);
/* Ignored once FEATURES_OK is set; bits not offered are dropped. */
void virtio_device_set_driver_features(struct virtio_device *vdev,
				       unsigned int sel, uint32_t val);

/* Driver access to the device-specific configuration (bounds checked). */
void virtio_device_config_read(struct virtio_device *vdev, uint64_t off,
			       void *data, unsigned int len);
void virtio_device_config_write(struct virtio_device *vdev, uint64_t off,
				const void *data, unsigned int len);
/* config_generation as the driver reads it. */
uint8_t virtio_device_config_generation(struct virtio_device *vdev);

/* The registers a driver programs for each queue before DRIVER_OK. */
struct virtq_layout {
	uint16_t size;
	bool enabled;
	uint64_t desc, driver, device; /* Descriptor, Driver, Device Area */
};

struct virtqueue *virtq_create(struct virtio_device *vdev, unsigned int index,
			       uint16_t max_size);
void virtq_destroy(struct virtqueue *vq);
/* The queue's registers; the transport writes them before DRIVER_OK. */
struct virtq_layout *virtq_layout(struct virtqueue *vq);
uint16_t virtq_max_size(const struct virtqueue *vq);
/*
 * Check the layout against the negotiated features (vdev->features) and
 * guest RAM, and start the ring. -EINVAL with *why set when it cannot be
 * used (size not a power of two for a split ring, areas outside RAM or
 * misaligned).
 */
int virtq_start(struct virtqueue *vq, const char **why) __must_check;
/* Forget the ring; the registers go back to their reset values. */
void virtq_stop(struct virtqueue *vq);
/*
 * Not started any more, the registers kept as the driver wrote them: a
 * device whose activation failed (NEEDS_RESET) runs no queue.
 */
void virtq_halt(struct virtqueue *vq);
bool virtq_started(const struct virtqueue *vq);
/* A malformed ring stopped the queue (until the device is reset). */
bool virtq_broken(const struct virtqueue *vq);

/*
 * State save/load (state.h), as fields of the caller's open section. Save
 * only while nothing pops or pushes; load into a queue that is not running,
 * with the negotiated features already in vdev->features and guest RAM
 * loaded: it checks every value (a bad one is a sticky error on r and the
 * queue is left stopped) and starts the ring as DRIVER_OK would.
 */
void virtq_save(struct virtqueue *vq, struct state_writer *w);
bool virtq_load(struct virtqueue *vq, struct state_reader *r);

#endif
