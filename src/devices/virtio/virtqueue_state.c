// SPDX-License-Identifier: MIT
/*
 * A virtqueue's state for state save/load: the registers the driver wrote
 * and, for a running ring, the device's indices and wrap counters. Taken
 * only while the device is quiesced (no pop or push in progress); loaded
 * into a queue of a device that is not running, after guest RAM.
 */
#include "tern/state.h"
#include "virtqueue.h"

void virtq_save(struct virtqueue *vq, struct state_writer *w)
{
	const struct virtq_layout *l = &vq->layout;

	state_put_u16(w, l->size);
	state_put_bool(w, l->enabled);
	state_put_u64(w, l->desc);
	state_put_u64(w, l->driver);
	state_put_u64(w, l->device);
	state_put_bool(w, vq->started);
	if (!vq->started)
		return;
	state_put_bool(w, virtq_broken(vq));
	state_put_bool(w, vq->kicks_enabled);
	if (vq->is_packed) {
		state_put_u16(w, vq->packed.next_avail);
		state_put_bool(w, vq->packed.avail_wrap);
		state_put_u16(w, vq->packed.next_used);
		state_put_bool(w, vq->packed.used_wrap);
		state_put_u16(w, vq->packed.signalled_used);
		state_put_bool(w, vq->packed.signalled_wrap);
		state_put_bool(w, vq->packed.signalled_valid);
	} else {
		state_put_u16(w, vq->split.last_avail);
		state_put_u16(w, vq->split.used_idx);
		state_put_u16(w, vq->split.signalled_used);
		state_put_bool(w, vq->split.signalled_valid);
	}
}

bool virtq_load(struct virtqueue *vq, struct state_reader *r)
{
	struct virtq_layout l;
	bool started, broken, kicks;
	const char *why = NULL;

	state_get_u16(r, &l.size);
	state_get_bool(r, &l.enabled);
	state_get_u64(r, &l.desc);
	state_get_u64(r, &l.driver);
	state_get_u64(r, &l.device);
	state_get_bool(r, &started);
	if (!state_check(r, l.size && l.size <= vq->max_size,
			 "queue %u: size %u, this queue takes 1 to %u", vq->index,
			 l.size, vq->max_size))
		return false;
	if (!state_check(r, !started || l.enabled,
			 "queue %u: running but not enabled", vq->index))
		return false;
	vq->layout = l;
	if (!started)
		return state_ok(r);
	state_get_bool(r, &broken);
	state_get_bool(r, &kicks);
	/* The addresses are checked against RAM as at DRIVER_OK. */
	if (!state_ok(r) ||
	    !state_check(r, !virtq_start(vq, &why), "queue %u: %s", vq->index,
			 why ? why : "cannot start"))
		return false;
	if (vq->is_packed) {
		uint16_t next_avail, next_used, signalled;

		state_get_u16(r, &next_avail);
		state_get_bool(r, &vq->packed.avail_wrap);
		state_get_u16(r, &next_used);
		state_get_bool(r, &vq->packed.used_wrap);
		state_get_u16(r, &signalled);
		state_get_bool(r, &vq->packed.signalled_wrap);
		state_get_bool(r, &vq->packed.signalled_valid);
		state_check(r, next_avail < vq->size && next_used < vq->size &&
				       signalled < vq->size,
			    "queue %u: packed ring position beyond its %u descriptors",
			    vq->index, vq->size);
		/* Quiesced: everything popped was used. */
		state_check(r, next_avail == next_used &&
				       vq->packed.avail_wrap == vq->packed.used_wrap,
			    "queue %u: descriptors popped but not used", vq->index);
		vq->packed.next_avail = next_avail;
		vq->packed.next_used = next_used;
		vq->packed.signalled_used = signalled;
	} else {
		uint16_t last_avail, used_idx;

		state_get_u16(r, &last_avail);
		state_get_u16(r, &used_idx);
		state_get_u16(r, &vq->split.signalled_used);
		state_get_bool(r, &vq->split.signalled_valid);
		/* Quiesced: everything popped was pushed. */
		state_check(r, last_avail == used_idx,
			    "queue %u: %u chains popped but not used", vq->index,
			    (uint16_t)(last_avail - used_idx));
		vq->split.last_avail = last_avail;
		vq->split.used_idx = used_idx;
	}
	if (!state_ok(r)) {
		virtq_stop(vq);
		return false;
	}
	if (broken)
		__atomic_store_n(&vq->broken, true, __ATOMIC_RELEASE);
	if (!kicks)
		virtq_disable_kicks(vq);
	return true;
}
