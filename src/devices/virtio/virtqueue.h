/* SPDX-License-Identifier: MIT */
/*
 * Inside the virtqueue module: the ring layouts of virtio 1.2 (2.7 split,
 * 2.8 packed), the queue state, and the helpers split_ring.c and
 * packed_ring.c share. Nothing outside src/devices/virtio/virtqueue*.c and
 * *_ring.c includes this.
 */
#ifndef TERN_VIRTQUEUE_INTERNAL_H
#define TERN_VIRTQUEUE_INTERNAL_H

#include <endian.h>

#include "tern/dirty.h"
#include "tern/virtio.h"

/*
 * The rings are shared with the guest, which writes them concurrently. Each
 * field is read exactly once into a local (a volatile access the compiler
 * may neither repeat nor tear), validated there, and only the local is used
 * afterwards: a driver rewriting a descriptor while we look at it cannot
 * make us use a value we did not check.
 */
#define VQ_READ(x) (*(const volatile __typeof__(x) *)&(x))
#define VQ_WRITE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/*
 * Barriers. x86 orders loads with loads and stores with stores, so the
 * acquire/release fences only stop the compiler; the full barrier (a store
 * followed by a load of another location) is a real mfence.
 */
#define vq_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vq_release() __atomic_thread_fence(__ATOMIC_RELEASE)
#define vq_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* Split ring (2.7). */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* size entries, then avail_event */
};

/* Packed ring (2.8). */
#define VRING_PACKED_DESC_F_AVAIL (1 << 7)
#define VRING_PACKED_DESC_F_USED (1 << 15)
#define VRING_PACKED_EVENT_FLAG_ENABLE 0
#define VRING_PACKED_EVENT_FLAG_DISABLE 1
#define VRING_PACKED_EVENT_FLAG_DESC 2
#define VRING_PACKED_EVENT_WRAP (1 << 15)

struct vring_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* Read and written as one 32-bit word so both halves change together. */
struct vring_packed_event {
	uint16_t off_wrap;
	uint16_t flags;
};

_Static_assert(sizeof(struct vring_desc) == 16, "split descriptor");
_Static_assert(sizeof(struct vring_packed_desc) == 16, "packed descriptor");
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element");

struct virtqueue {
	struct virtio_device *vdev;
	unsigned int index;
	uint16_t max_size;
	int kick_fd;
	struct virtq_layout layout; /* registers */

	/* The running ring, valid while started. */
	bool started;
	bool broken; /* atomic: set by the pop side, read by anyone */
	bool is_packed, event_idx, indirect;
	uint16_t size;
	bool kicks_enabled; /* pop side */

	struct {
		struct vring_desc *desc;
		struct vring_avail *avail;
		struct vring_used *used;
		uint16_t *used_event; /* in the avail ring, after ring[size] */
		uint16_t *avail_event; /* in the used ring, after ring[size] */
		uint16_t last_avail; /* pop side */
		uint16_t used_idx; /* push side */
		uint16_t signalled_used;
		bool signalled_valid;
	} split;

	struct {
		struct vring_packed_desc *desc;
		struct vring_packed_event *driver; /* read: the driver's wishes */
		struct vring_packed_event *device; /* written: ours */
		uint16_t next_avail; /* pop side */
		bool avail_wrap;
		uint16_t next_used; /* push side */
		bool used_wrap;
		uint16_t signalled_used;
		bool signalled_wrap;
		bool signalled_valid;
	} packed;
};

/*
 * The device wrote len bytes of a ring at p (a host pointer checked at
 * start): record it for dirty tracking (dirty.h). One relaxed load while
 * logging is off.
 */
static inline void vq_mark(const struct virtqueue *vq, const void *p,
			   size_t len)
{
	guest_memory_mark_dirty_hva(vq->vdev->mem, p, len);
}

/*
 * The ring is malformed: stop the queue, put the device in NEEDS_RESET
 * with a log line naming the queue and the fault. Returns -EINVAL.
 */
int vq_malformed(struct virtqueue *vq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* An empty chain, once the ring has one for us (an empty pop leaves elem alone). */
void vq_elem_init(struct virtq_elem *elem);

/* Append one buffer to elem after checking it (RAM, order, count). */
int vq_elem_add(struct virtqueue *vq, struct virtq_elem *elem, uint64_t addr,
		uint32_t len, bool writable);

/* Check an indirect table descriptor and translate its table. */
int vq_indirect_table(struct virtqueue *vq, uint64_t addr, uint32_t len,
		      const void **table, unsigned int *n);

/* vring_need_event() of 2.7.10: did [old, new) cross event? */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

int vq_split_start(struct virtqueue *vq, const char **why);
int vq_split_pop(struct virtqueue *vq, struct virtq_elem *elem);
void vq_split_push(struct virtqueue *vq, const struct virtq_elem *elem,
		   uint32_t written);
void vq_split_push_batch(struct virtqueue *vq,
			 const struct virtq_elem *const *elems,
			 const uint32_t *written, unsigned int n);
bool vq_split_should_notify(struct virtqueue *vq);
void vq_split_disable_kicks(struct virtqueue *vq);
bool vq_split_enable_kicks(struct virtqueue *vq);

int vq_packed_start(struct virtqueue *vq, const char **why);
int vq_packed_pop(struct virtqueue *vq, struct virtq_elem *elem);
void vq_packed_push(struct virtqueue *vq, const struct virtq_elem *elem,
		    uint32_t written);
void vq_packed_push_batch(struct virtqueue *vq,
			  const struct virtq_elem *const *elems,
			  const uint32_t *written, unsigned int n);
void vq_packed_unpop(struct virtqueue *vq, const struct virtq_elem *elem);
bool vq_packed_should_notify(struct virtqueue *vq);
void vq_packed_disable_kicks(struct virtqueue *vq);
bool vq_packed_enable_kicks(struct virtqueue *vq);

#endif
