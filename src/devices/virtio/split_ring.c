// SPDX-License-Identifier: MIT
/*
 * Split virtqueues (virtio 1.2, 2.7): a descriptor table, an available ring
 * the driver writes and a used ring the device writes. Every index the
 * driver hands us is range-checked before use, every chain is walked with a
 * bound, and the ring indices are free-running 16-bit counters (the size is
 * a power of two, so idx & (size - 1) is the slot).
 */
#include <errno.h>

#include "virtqueue.h"

int vq_split_start(struct virtqueue *vq, const char **why)
{
	const struct guest_memory *mem = vq->vdev->mem;
	const struct virtq_layout *l = &vq->layout;
	uint64_t n = vq->size;

	if (n & (n - 1)) {
		*why = "split ring size is not a power of two";
		return -EINVAL;
	}
	if (l->desc % 16 || l->driver % 2 || l->device % 4) {
		*why = "ring area misaligned (descriptors 16, available 2, used 4)";
		return -EINVAL;
	}
	vq->split.desc = guest_memory_ptr(mem, l->desc, 16 * n);
	/* flags, idx, ring[n], used_event */
	vq->split.avail = guest_memory_ptr(mem, l->driver, 6 + 2 * n);
	/* flags, idx, ring[n], avail_event */
	vq->split.used = guest_memory_ptr(mem, l->device, 6 + 8 * n);
	if (!vq->split.desc || !vq->split.avail || !vq->split.used) {
		*why = "ring area not inside guest RAM";
		return -EINVAL;
	}
	vq->split.used_event = &vq->split.avail->ring[n];
	vq->split.avail_event = (uint16_t *)&vq->split.used->ring[n];
	/* Ours to write: start asking for kicks, whatever a past life left. */
	VQ_WRITE(vq->split.used->flags, 0);
	vq_mark(vq, &vq->split.used->flags, 2);
	return 0;
}

/* Walk the chain at head into elem; 0, or -EINVAL for a malformed one. */
static int vq_split_walk(struct virtqueue *vq, struct virtq_elem *elem,
			 uint16_t head)
{
	const struct vring_desc *table = vq->split.desc;
	unsigned int table_size = vq->size, count = 0, ring_descs = 0;
	bool indirect = false;
	uint16_t i = head;
	int ret;

	for (;;) {
		const struct vring_desc *p = &table[i];
		struct vring_desc d;

		/* More descriptors than the table holds means we went round. */
		if (++count > table_size)
			return vq_malformed(vq, indirect ?
				"indirect chain loops or runs past its %u descriptors" :
				"descriptor chain loops or is longer than the queue (%u)",
				table_size);
		d.addr = le64toh(VQ_READ(p->addr));
		d.len = le32toh(VQ_READ(p->len));
		d.flags = le16toh(VQ_READ(p->flags));
		d.next = le16toh(VQ_READ(p->next));
		if (!indirect)
			ring_descs++;

		if (d.flags & VRING_DESC_F_INDIRECT) {
			const void *t;
			unsigned int n;

			if (indirect)
				return vq_malformed(vq, "indirect descriptor %u inside an indirect table",
						    i);
			if (d.flags & VRING_DESC_F_NEXT)
				return vq_malformed(vq, "descriptor %u has both INDIRECT and NEXT", i);
			ret = vq_indirect_table(vq, d.addr, d.len, &t, &n);
			if (ret)
				return ret;
			/* Zero or more direct descriptors, then the table (2.7.5.3.2). */
			table = t;
			table_size = n;
			indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		ret = vq_elem_add(vq, elem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return vq_malformed(vq, "descriptor %u: next %u is beyond the %s of %u",
					    i, d.next, indirect ? "indirect table" : "queue",
					    table_size);
		i = d.next;
	}
	elem->ndesc = (uint16_t)ring_descs;
	return 0;
}

int vq_split_pop(struct virtqueue *vq, struct virtq_elem *elem)
{
	struct vring_avail *avail = vq->split.avail;
	uint16_t last = vq->split.last_avail, avail_idx, pending, head;
	int ret;

	/*
	 * Acquire: the driver fills ring entries and descriptors, then (after
	 * its write barrier) bumps idx. Nothing below may be read before idx.
	 */
	avail_idx = le16toh(__atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE));
	pending = avail_idx - last;
	if (!pending)
		return 0;
	if (pending > vq->size)
		return vq_malformed(vq, "available index moved from %u to %u, more than the %u entries of the ring",
				    last, avail_idx, vq->size);
	head = le16toh(VQ_READ(avail->ring[last & (vq->size - 1)]));
	if (head >= vq->size)
		return vq_malformed(vq, "available entry %u names descriptor %u, beyond the queue (%u)",
				    last, head, vq->size);
	vq_elem_init(elem);
	ret = vq_split_walk(vq, elem, head);
	if (ret)
		return ret;
	elem->id = head;
	vq->split.last_avail = last + 1;
	/*
	 * With EVENT_IDX the driver kicks when its idx passes avail_event:
	 * keep it at what we have consumed, or a device that never disables
	 * kicks would stop hearing about new buffers.
	 */
	if (vq->event_idx && vq->kicks_enabled) {
		VQ_WRITE(*vq->split.avail_event, htole16(vq->split.last_avail));
		vq_mark(vq, vq->split.avail_event, 2);
	}
	return 1;
}

void vq_split_push(struct virtqueue *vq, const struct virtq_elem *elem,
		   uint32_t written)
{
	struct vring_used *used = vq->split.used;
	uint16_t idx = vq->split.used_idx;
	struct vring_used_elem *e = &used->ring[idx & (vq->size - 1)];

	VQ_WRITE(e->id, htole32(elem->id));
	VQ_WRITE(e->len, htole32(written));
	/*
	 * Release: the element and the data the device wrote into the
	 * buffers are visible before the driver can see the new idx.
	 */
	idx++;
	__atomic_store_n(&used->idx, htole16(idx), __ATOMIC_RELEASE);
	vq->split.used_idx = idx;
	vq_mark(vq, e, sizeof(*e));
	vq_mark(vq, &used->idx, 2);
}

void vq_split_push_batch(struct virtqueue *vq,
			 const struct virtq_elem *const *elems,
			 const uint32_t *written, unsigned int n)
{
	struct vring_used *used = vq->split.used;
	uint16_t idx = vq->split.used_idx;

	for (unsigned int i = 0; i < n; i++) {
		struct vring_used_elem *e = &used->ring[(uint16_t)(idx + i) &
							(vq->size - 1)];

		VQ_WRITE(e->id, htole32(elems[i]->id));
		VQ_WRITE(e->len, htole32(written[i]));
		vq_mark(vq, e, sizeof(*e));
	}
	/*
	 * Release, once for all: every element and the data behind it are
	 * visible before the driver can see any of them.
	 */
	idx += n;
	__atomic_store_n(&used->idx, htole16(idx), __ATOMIC_RELEASE);
	vq->split.used_idx = idx;
	vq_mark(vq, &used->idx, 2);
}

bool vq_split_should_notify(struct virtqueue *vq)
{
	uint16_t old, new_idx, event;
	bool valid;

	/*
	 * Full barrier: our used->idx store must be globally visible before we
	 * read the driver's suppression state. The driver does the mirror
	 * image (writes used_event or clears NO_INTERRUPT, barrier, re-reads
	 * used->idx); without both, each side could miss the other's update and
	 * the driver would sleep on a completed buffer.
	 */
	vq_mb();
	old = vq->split.signalled_used;
	new_idx = vq->split.used_idx;
	valid = vq->split.signalled_valid;
	vq->split.signalled_used = new_idx;
	vq->split.signalled_valid = true;
	/* Nothing used since the last look: nothing to tell. */
	if (valid && old == new_idx)
		return false;
	if (!vq->event_idx)
		return !(le16toh(VQ_READ(vq->split.avail->flags)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	event = le16toh(VQ_READ(*vq->split.used_event));
	return !valid || vq_need_event(event, new_idx, old);
}

void vq_split_disable_kicks(struct virtqueue *vq)
{
	/*
	 * With EVENT_IDX, avail_event simply stays behind: the driver kicks
	 * at most once more. Without it, NO_NOTIFY is only a hint the driver
	 * may ignore, so spurious kicks still have to be tolerated.
	 */
	if (!vq->event_idx) {
		VQ_WRITE(vq->split.used->flags, htole16(VRING_USED_F_NO_NOTIFY));
		vq_mark(vq, &vq->split.used->flags, 2);
	}
}

bool vq_split_enable_kicks(struct virtqueue *vq)
{
	if (vq->event_idx) {
		VQ_WRITE(*vq->split.avail_event, htole16(vq->split.last_avail));
		vq_mark(vq, vq->split.avail_event, 2);
	} else {
		VQ_WRITE(vq->split.used->flags, 0);
		vq_mark(vq, &vq->split.used->flags, 2);
	}
	/*
	 * Full barrier: publish the request for kicks before looking at the
	 * ring again. Pairs with the driver's barrier between its idx store
	 * and its read of our flags/avail_event; a buffer added in between is
	 * seen here or kicked there.
	 */
	vq_mb();
	return le16toh(VQ_READ(vq->split.avail->idx)) != vq->split.last_avail;
}
