// SPDX-License-Identifier: MIT
/*
 * Packed virtqueues (virtio 1.2, 2.8): one ring of descriptors that the
 * driver marks available and the device marks used in place, each side
 * tracking a wrap counter, plus two event suppression words. A descriptor
 * is available when its AVAIL bit equals our avail wrap counter and its
 * USED bit does not; the driver writes a chain's head flags last, so the
 * rest of the chain is valid once the head is.
 */
#include <errno.h>

#include "virtqueue.h"

static bool vq_packed_desc_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VRING_PACKED_DESC_F_AVAIL) == wrap &&
	       !!(flags & VRING_PACKED_DESC_F_USED) != wrap;
}

static void vq_packed_set_device_event(struct virtqueue *vq, uint16_t flags)
{
	uint16_t off_wrap = vq->packed.next_avail |
			    (vq->packed.avail_wrap ? VRING_PACKED_EVENT_WRAP : 0);
	uint32_t word = (uint32_t)htole16(off_wrap) |
			(uint32_t)htole16(flags) << 16;

	/* One 32-bit store: the driver reads both halves in one load. */
	__atomic_store_n((uint32_t *)vq->packed.device, word, __ATOMIC_RELAXED);
	vq_mark(vq, vq->packed.device, sizeof(word));
}

int vq_packed_start(struct virtqueue *vq, const char **why)
{
	const struct guest_memory *mem = vq->vdev->mem;
	const struct virtq_layout *l = &vq->layout;

	if (l->desc % 16 || l->driver % 4 || l->device % 4) {
		*why = "ring area misaligned (descriptors 16, event suppression 4)";
		return -EINVAL;
	}
	vq->packed.desc = guest_memory_ptr(mem, l->desc, 16ULL * vq->size);
	vq->packed.driver = guest_memory_ptr(mem, l->driver, 4);
	vq->packed.device = guest_memory_ptr(mem, l->device, 4);
	if (!vq->packed.desc || !vq->packed.driver || !vq->packed.device) {
		*why = "ring area not inside guest RAM";
		return -EINVAL;
	}
	/* Both wrap counters start at 1 (2.8.1). */
	vq->packed.avail_wrap = true;
	vq->packed.used_wrap = true;
	vq_packed_set_device_event(vq, VRING_PACKED_EVENT_FLAG_ENABLE);
	return 0;
}

static void vq_packed_advance(struct virtqueue *vq, uint16_t *pos, bool *wrap)
{
	if (++*pos >= vq->size) {
		*pos = 0;
		*wrap = !*wrap;
	}
}

/* The buffers of an indirect table: WRITE is the only flag that counts. */
static int vq_packed_indirect(struct virtqueue *vq, struct virtq_elem *elem,
			      uint64_t addr, uint32_t len)
{
	const struct vring_packed_desc *table;
	const void *t;
	unsigned int n;
	int ret = vq_indirect_table(vq, addr, len, &t, &n);

	if (ret)
		return ret;
	table = t;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t a = le64toh(VQ_READ(table[i].addr));
		uint32_t l = le32toh(VQ_READ(table[i].len));
		uint16_t f = le16toh(VQ_READ(table[i].flags));

		/*
		 * 2.8.21 calls the other flags reserved; INDIRECT in here can
		 * only be a confused driver, so it is refused, not ignored.
		 */
		if (f & VRING_DESC_F_INDIRECT)
			return vq_malformed(vq, "indirect descriptor %u inside an indirect table",
					    i);
		ret = vq_elem_add(vq, elem, a, l, f & VRING_DESC_F_WRITE);
		if (ret)
			return ret;
	}
	return 0;
}

int vq_packed_pop(struct virtqueue *vq, struct virtq_elem *elem)
{
	struct vring_packed_desc *ring = vq->packed.desc;
	uint16_t pos = vq->packed.next_avail, id = 0, flags;
	bool wrap = vq->packed.avail_wrap;
	unsigned int count = 0;
	int ret;

	/*
	 * Acquire: the driver writes a descriptor (and the rest of its chain),
	 * then its write barrier, then the head's flags. Nothing else in the
	 * chain may be read before this load.
	 */
	flags = le16toh(__atomic_load_n(&ring[pos].flags, __ATOMIC_ACQUIRE));
	if (!vq_packed_desc_avail(flags, wrap))
		return 0;

	vq_elem_init(elem);
	for (;;) {
		const struct vring_packed_desc *p = &ring[pos];
		uint64_t addr = le64toh(VQ_READ(p->addr));
		uint32_t len = le32toh(VQ_READ(p->len));
		uint16_t at = pos;

		/* The Buffer ID is the last descriptor's (2.8.6). */
		id = le16toh(VQ_READ(p->id));
		count++;
		vq_packed_advance(vq, &pos, &wrap);
		if (flags & VRING_DESC_F_INDIRECT) {
			/* An indirect descriptor stands alone (2.8.22). */
			if (count > 1 || (flags & VRING_DESC_F_NEXT))
				return vq_malformed(vq, "indirect descriptor %u inside a chain", at);
			ret = vq_packed_indirect(vq, elem, addr, len);
			if (ret)
				return ret;
			break;
		}
		ret = vq_elem_add(vq, elem, addr, len, flags & VRING_DESC_F_WRITE);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (count >= vq->size)
			return vq_malformed(vq, "descriptor chain longer than the queue (%u)",
					    vq->size);
		/*
		 * Every descriptor of a chain carries the avail/used bits of
		 * the lap it is on (2.8.6); one that does not was never made
		 * available, and its contents are stale.
		 */
		flags = le16toh(VQ_READ(ring[pos].flags));
		if (!vq_packed_desc_avail(flags, wrap))
			return vq_malformed(vq, "chain continues into descriptor %u, which is not available (flags 0x%04x, wrap counter %u)",
					    pos, flags, wrap);
	}
	elem->id = id;
	elem->ndesc = (uint16_t)count;
	vq->packed.next_avail = pos;
	vq->packed.avail_wrap = wrap;
	/* Ask for a kick when the driver makes the next descriptor available. */
	if (vq->event_idx && vq->kicks_enabled)
		vq_packed_set_device_event(vq, VRING_PACKED_EVENT_FLAG_DESC);
	return 1;
}

void vq_packed_push(struct virtqueue *vq, const struct virtq_elem *elem,
		    uint32_t written)
{
	struct vring_packed_desc *d = &vq->packed.desc[vq->packed.next_used];
	uint16_t flags = vq->packed.used_wrap ?
				 VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED :
				 0;

	/* WRITE in a used descriptor: the device wrote data (2.8.4). */
	if (written)
		flags |= VRING_DESC_F_WRITE;
	VQ_WRITE(d->id, htole16(elem->id));
	VQ_WRITE(d->len, htole32(written));
	/*
	 * Release: id, len and the buffer contents are visible before the
	 * flags hand the descriptor back to the driver.
	 */
	__atomic_store_n(&d->flags, htole16(flags), __ATOMIC_RELEASE);
	vq_mark(vq, d, sizeof(*d));
	/* Both sides skip the rest of the chain's descriptors (2.8.6). */
	vq->packed.next_used += elem->ndesc ? elem->ndesc : 1;
	if (vq->packed.next_used >= vq->size) {
		vq->packed.next_used -= vq->size;
		vq->packed.used_wrap = !vq->packed.used_wrap;
	}
}

void vq_packed_push_batch(struct virtqueue *vq,
			  const struct virtq_elem *const *elems,
			  const uint32_t *written, unsigned int n)
{
	uint16_t pos = vq->packed.next_used, first = pos, first_flags = 0;
	bool wrap = vq->packed.used_wrap;

	for (unsigned int i = 0; i < n; i++) {
		struct vring_packed_desc *d = &vq->packed.desc[pos];
		uint16_t flags = wrap ? VRING_PACKED_DESC_F_AVAIL |
						VRING_PACKED_DESC_F_USED :
					0;

		if (written[i])
			flags |= VRING_DESC_F_WRITE;
		VQ_WRITE(d->id, htole16(elems[i]->id));
		VQ_WRITE(d->len, htole32(written[i]));
		/*
		 * Release: id, len and data before the flags. The first
		 * descriptor's flags wait until every other one is written:
		 * the driver reads the ring in order from there, so it sees
		 * the whole batch or nothing.
		 */
		if (i)
			__atomic_store_n(&d->flags, htole16(flags),
					 __ATOMIC_RELEASE);
		else
			first_flags = flags;
		vq_mark(vq, d, sizeof(*d));
		pos += elems[i]->ndesc ? elems[i]->ndesc : 1;
		if (pos >= vq->size) {
			pos -= vq->size;
			wrap = !wrap;
		}
	}
	__atomic_store_n(&vq->packed.desc[first].flags, htole16(first_flags),
			 __ATOMIC_RELEASE);
	vq->packed.next_used = pos;
	vq->packed.used_wrap = wrap;
}

void vq_packed_unpop(struct virtqueue *vq, const struct virtq_elem *elem)
{
	unsigned int n = elem->ndesc ? elem->ndesc : 1;

	if (vq->packed.next_avail >= n) {
		vq->packed.next_avail -= n;
	} else {
		vq->packed.next_avail += vq->size - n;
		vq->packed.avail_wrap = !vq->packed.avail_wrap;
	}
}

bool vq_packed_should_notify(struct virtqueue *vq)
{
	uint32_t word;
	uint16_t off_wrap, flags, old, new_idx, off;
	bool old_wrap, valid;
	int o, e;

	/*
	 * Full barrier: the used flags we stored are visible before we read
	 * the driver's event suppression word (the driver re-checks the ring
	 * after changing that word, behind its own barrier).
	 */
	vq_mb();
	word = __atomic_load_n((uint32_t *)vq->packed.driver, __ATOMIC_RELAXED);
	off_wrap = le16toh((uint16_t)word);
	flags = le16toh((uint16_t)(word >> 16)) & 3;

	old = vq->packed.signalled_used;
	old_wrap = vq->packed.signalled_wrap;
	valid = vq->packed.signalled_valid;
	new_idx = vq->packed.next_used;
	vq->packed.signalled_used = new_idx;
	vq->packed.signalled_wrap = vq->packed.used_wrap;
	vq->packed.signalled_valid = true;

	/* Nothing used since the last look: nothing to tell. */
	if (valid && old == new_idx && old_wrap == vq->packed.used_wrap)
		return false;
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid)
		return true;
	/*
	 * The driver wants a notification once the used descriptor at
	 * (off, wrap) is written. Put old and the event on the current lap's
	 * scale (one lap back when their wrap counter differs), then it is
	 * the split ring's test: did [old, new) cross the event?
	 */
	off = off_wrap & ~VRING_PACKED_EVENT_WRAP;
	e = off;
	if (!!(off_wrap & VRING_PACKED_EVENT_WRAP) != vq->packed.used_wrap)
		e -= vq->size;
	o = old;
	if (old_wrap != vq->packed.used_wrap)
		o -= vq->size;
	return vq_need_event((uint16_t)e, new_idx, (uint16_t)o);
}

void vq_packed_disable_kicks(struct virtqueue *vq)
{
	vq_packed_set_device_event(vq, VRING_PACKED_EVENT_FLAG_DISABLE);
}

bool vq_packed_enable_kicks(struct virtqueue *vq)
{
	uint16_t flags;

	vq_packed_set_device_event(vq, vq->event_idx ? VRING_PACKED_EVENT_FLAG_DESC :
						       VRING_PACKED_EVENT_FLAG_ENABLE);
	/* Full barrier: publish the request before looking at the ring again. */
	vq_mb();
	flags = le16toh(VQ_READ(vq->packed.desc[vq->packed.next_avail].flags));
	return vq_packed_desc_avail(flags, vq->packed.avail_wrap);
}
