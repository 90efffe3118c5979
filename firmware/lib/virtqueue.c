// SPDX-License-Identifier: MIT
/*
 * The virtqueue data path, split (2.7) and packed (2.8). Plain memory
 * accesses and one MMIO write per notification: runs at any CPL, and the
 * hot loops call it from ring 3.
 *
 * Ordering on x86: stores are seen in program order and loads are not
 * reordered with loads, so publishing a buffer (descriptors, then the index
 * or the first descriptor's flags) and consuming one (the index or flags,
 * then the element) need only a compiler barrier. The one place that needs
 * a real fence is store-then-load: publishing, then reading whether the
 * device wants a notification.
 */
#include "guest/dma.h"
#include "guest/exit.h"
#include "guest/virtio.h"
#include "guest/x86.h"

/* Compiler barrier: the CPU already keeps these in order (TSO). */
static inline void virtio_wmb(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline void virtio_rmb(void)
{
	__asm__ volatile("" ::: "memory");
}

/* A full fence that the ring-0 emulator also implements (mfence may not). */
static inline void virtio_mb(void)
{
	__asm__ volatile("lock orl $0, (%%rsp)" ::: "memory", "cc");
}

static inline bool vring_need_event(uint16_t event, uint16_t new_idx,
				    uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

static inline volatile uint16_t *split_used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline volatile uint16_t *split_avail_event(struct virtq *vq)
{
	return (volatile uint16_t *)&vq->used->ring[vq->size];
}

/*
 * With event indexes, "never interrupt" is a used_event the device cannot
 * reach: it fires when its used idx passes used_event, and it can be at
 * most size (<= 32768) entries ahead of what the driver consumed.
 */
#define USED_EVENT_NEVER 0x7fff

void virtq_set_interrupts(struct virtq *vq, bool on)
{
	vq->interrupts = on;
	if (vq->packed) {
		vq->driver_event->flags =
		    on ? RING_EVENT_FLAGS_ENABLE : RING_EVENT_FLAGS_DISABLE;
	} else if (vq->event_idx) {
		*split_used_event(vq) =
		    (uint16_t)(vq->last_used + (on ? 0 : USED_EVENT_NEVER));
	} else {
		vq->avail->flags = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
	}
	virtio_mb();
}

void virtq_notify(struct virtq *vq)
{
	/* The queue index: VIRTIO_F_NOTIFICATION_DATA is never negotiated. */
	*vq->notify_addr = vq->index;
}

static uint16_t sg_flags(const struct virtq_sg *sg)
{
	return sg->write ? VRING_DESC_F_WRITE : 0;
}

static int split_add(struct virtq *vq, const struct virtq_sg *sg,
		     unsigned int n, bool indirect, void *cookie)
{
	uint16_t need = indirect ? 1 : (uint16_t)n;
	uint16_t head = vq->free_head, idx = head, last = head;

	if (vq->num_free < need)
		return -1;
	if (indirect) {
		struct vring_desc *t =
		    vq->ind_split + (size_t)head * VIRTQ_MAX_SG;

		for (unsigned int i = 0; i < n; i++) {
			t[i].addr = sg[i].addr;
			t[i].len = sg[i].len;
			t[i].flags =
			    (uint16_t)(sg_flags(&sg[i]) |
				       (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			t[i].next = (uint16_t)(i + 1);
		}
		vq->desc[head].addr = dma_addr(t);
		vq->desc[head].len = (uint32_t)(n * sizeof(*t));
		vq->desc[head].flags = VRING_DESC_F_INDIRECT;
	} else {
		/* The free list is linked through next: a chain reuses it. */
		for (unsigned int i = 0; i < n; i++) {
			vq->desc[idx].addr = sg[i].addr;
			vq->desc[idx].len = sg[i].len;
			vq->desc[idx].flags =
			    (uint16_t)(sg_flags(&sg[i]) |
				       (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			last = idx;
			idx = vq->desc[idx].next;
		}
	}
	vq->free_head = vq->desc[last].next;
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->ndesc[head] = need;
	vq->cookie[head] = cookie;
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
	vq->num_added++;
	return 0;
}

static int packed_add(struct virtq *vq, const struct virtq_sg *sg,
		      unsigned int n, bool indirect, void *cookie)
{
	uint16_t need = indirect ? 1 : (uint16_t)n;
	uint16_t id = vq->free_id, first = vq->next_avail, first_flags = 0;

	if (vq->num_free < need)
		return -1;
	vq->free_id = vq->next_id[id];

	for (uint16_t i = 0; i < need; i++) {
		uint16_t at = vq->next_avail;
		uint16_t f =
		    vq->avail_wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;

		if (indirect) {
			struct pvirtq_desc *t =
			    vq->ind_packed + (size_t)id * VIRTQ_MAX_SG;

			for (unsigned int k = 0; k < n; k++) {
				t[k].addr = sg[k].addr;
				t[k].len = sg[k].len;
				t[k].id = 0;
				t[k].flags = sg_flags(&sg[k]);
			}
			vq->pdesc[at].addr = dma_addr(t);
			vq->pdesc[at].len = (uint32_t)(n * sizeof(*t));
			f |= VRING_DESC_F_INDIRECT;
		} else {
			vq->pdesc[at].addr = sg[i].addr;
			vq->pdesc[at].len = sg[i].len;
			f |= sg_flags(&sg[i]);
			if (i + 1 < need)
				f |= VRING_DESC_F_NEXT;
		}
		vq->pdesc[at].id = id;
		/* The first descriptor goes live last, when all are written. */
		if (i == 0)
			first_flags = f;
		else
			vq->pdesc[at].flags = f;
		if (++vq->next_avail == vq->size) {
			vq->next_avail = 0;
			vq->avail_wrap = !vq->avail_wrap;
		}
	}
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->ndesc[id] = need;
	vq->cookie[id] = cookie;
	virtio_wmb();
	vq->pdesc[first].flags = first_flags;
	vq->num_added = (uint16_t)(vq->num_added + need);
	return 0;
}

int virtq_add(struct virtq *vq, const struct virtq_sg *sg, unsigned int n,
	      bool indirect, void *cookie)
{
	if (n == 0 || n > VIRTQ_MAX_SG || (indirect && !vq->indirect))
		result_fail("virtq_add: %u elements%s", n,
			    indirect && !vq->indirect
				? " indirect, not negotiated"
				: "");
	/* The buffers' contents must be in memory before the device looks. */
	virtio_wmb();
	if (vq->packed)
		return packed_add(vq, sg, n, indirect, cookie);
	return split_add(vq, sg, n, indirect, cookie);
}

static bool split_kick_needed(struct virtq *vq)
{
	uint16_t new_idx = vq->avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - vq->num_added);

	virtio_wmb();
	vq->avail->idx = new_idx;
	/* Store (idx) then load (event/flags): needs the real fence. */
	virtio_mb();
	if (vq->event_idx)
		return vring_need_event(*split_avail_event(vq), new_idx,
					old_idx);
	return !(vq->used->flags & VRING_USED_F_NO_NOTIFY);
}

static bool packed_kick_needed(struct virtq *vq)
{
	uint16_t new_idx = vq->next_avail;
	uint16_t old_idx = (uint16_t)(new_idx - vq->num_added);

	virtio_mb();
	uint16_t flags = vq->device_event->flags & 3;

	if (flags != RING_EVENT_FLAGS_DESC)
		return flags != RING_EVENT_FLAGS_DISABLE;

	uint16_t off_wrap = vq->device_event->off_wrap;
	uint16_t event = off_wrap & 0x7fff;

	/* An event in the previous lap of the ring counts from below 0. */
	if ((bool)(off_wrap >> 15) != vq->avail_wrap)
		event = (uint16_t)(event - vq->size);
	return vring_need_event(event, new_idx, old_idx);
}

bool virtq_kick(struct virtq *vq)
{
	bool need;

	if (vq->num_added == 0)
		return false;
	need = vq->packed ? packed_kick_needed(vq) : split_kick_needed(vq);
	vq->num_added = 0;
	if (need)
		virtq_notify(vq);
	return need;
}

static void bad_id(struct virtq *vq, uint32_t id)
{
	result_fail("virtq %u: the device returned buffer id %u, which is not "
		    "in flight (queue size %u)",
		    vq->index, id, vq->size);
}

static void *split_get(struct virtq *vq, uint32_t *len)
{
	if (vq->last_used == vq->used->idx)
		return NULL;
	virtio_rmb();

	volatile struct vring_used_elem *e =
	    &vq->used->ring[vq->last_used & (vq->size - 1)];
	uint32_t id = e->id;

	*len = e->len;
	if (id >= vq->size || vq->cookie[id] == NULL)
		bad_id(vq, id);

	void *cookie = vq->cookie[id];
	uint16_t n = vq->ndesc[id], last = (uint16_t)id;

	for (uint16_t i = 1; i < n; i++)
		last = vq->desc[last].next;
	vq->desc[last].next = vq->free_head;
	vq->free_head = (uint16_t)id;
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->cookie[id] = NULL;
	vq->last_used++;
	if (vq->event_idx)
		*split_used_event(vq) =
		    (uint16_t)(vq->last_used +
			       (vq->interrupts ? 0 : USED_EVENT_NEVER));
	return cookie;
}

static void *packed_get(struct virtq *vq, uint32_t *len)
{
	volatile struct pvirtq_desc *d = &vq->pdesc[vq->next_used];
	uint16_t flags = d->flags;
	bool avail = flags & VIRTQ_DESC_F_AVAIL,
	     used = flags & VIRTQ_DESC_F_USED;

	/* Used: both bits equal to the wrap counter the device is on. */
	if (avail != vq->used_wrap || used != vq->used_wrap)
		return NULL;
	virtio_rmb();

	uint16_t id = d->id;

	/*
	 * 2.8.5 makes the length reserved unless the used descriptor has
	 * VIRTQ_DESC_F_WRITE, but QEMU never sets that flag and Linux reads
	 * the length regardless: so do we.
	 */
	*len = d->len;
	if (id >= vq->size || vq->cookie[id] == NULL)
		bad_id(vq, id);

	void *cookie = vq->cookie[id];
	uint16_t n = vq->ndesc[id];

	vq->next_used = (uint16_t)(vq->next_used + n);
	if (vq->next_used >= vq->size) {
		vq->next_used = (uint16_t)(vq->next_used - vq->size);
		vq->used_wrap = !vq->used_wrap;
	}
	vq->cookie[id] = NULL;
	vq->next_id[id] = vq->free_id;
	vq->free_id = id;
	vq->num_free = (uint16_t)(vq->num_free + n);
	return cookie;
}

void *virtq_get(struct virtq *vq, uint32_t *len)
{
	return vq->packed ? packed_get(vq, len) : split_get(vq, len);
}
