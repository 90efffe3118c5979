// SPDX-License-Identifier: MIT
/*
 * virtio-balloon's own state: its section of a saved machine, and what
 * QMP reads and sets (the target, `actual`, the statistics and their
 * polling interval), on the main thread.
 */
#include <errno.h>

#include "tern/eventfd.h"
#include "tern/state.h"

#include "balloon-internal.h"

#define BALLOON_STATE_VERSION 1

/* Saved while quiesced: no stats request is held then. */
void balloon_save(struct virtio_device *vdev, const char *id,
		  struct state_writer *w)
{
	struct virtio_balloon *b = vdev->priv;

	state_section_begin(w, BALLOON_STATE_VERSION, "%s/model", id);
	pthread_mutex_lock(&vdev->lock);
	state_put_u32(w, balloon_cfg_get(b, BALLOON_CFG_NUM_PAGES));
	state_put_u32(w, balloon_cfg_get(b, BALLOON_CFG_ACTUAL));
	state_put_u32(w, balloon_cfg_get(b, BALLOON_CFG_POISON_VAL));
	pthread_mutex_unlock(&vdev->lock);
	/* A target set while stopped, not yet told to the driver. */
	state_put_bool(w, efd_pending(b->config_fd));
	pthread_mutex_lock(&b->lock);
	state_put_u32(w, b->interval);
	state_put_u64(w, (uint64_t)b->last_update);
	for (unsigned int i = 0; i < BALLOON_S_NR; i++)
		state_put_u64(w, b->stats[i]);
	pthread_mutex_unlock(&b->lock);
	state_section_end(w);
}

bool balloon_load(struct virtio_device *vdev, const char *id,
		  struct state_reader *r, GError **err)
{
	struct virtio_balloon *b = vdev->priv;
	uint64_t ram_pages = b->mem->ram_size >> BALLOON_PFN_SHIFT;
	uint32_t num_pages, actual, poison, interval;
	uint64_t stats[BALLOON_S_NR], last;
	bool pending;

	if (state_section_open(r, BALLOON_STATE_VERSION, BALLOON_STATE_VERSION,
			       NULL, "%s/model", id)) {
		state_get_u32(r, &num_pages);
		state_get_u32(r, &actual);
		state_get_u32(r, &poison);
		state_get_bool(r, &pending);
		state_get_u32(r, &interval);
		state_get_u64(r, &last);
		for (unsigned int i = 0; i < BALLOON_S_NR; i++)
			state_get_u64(r, &stats[i]);
		/* `actual` and poison_val are the guest's: any value. */
		state_check(r, num_pages <= ram_pages,
			    "a target of %u pages, this VM has %llu", num_pages,
			    (unsigned long long)ram_pages);
		state_check(r, last <= INT64_MAX,
			    "stats last-update %llu is negative",
			    (unsigned long long)last);
	}
	if (!state_section_close(r, err))
		return false;
	pthread_mutex_lock(&vdev->lock);
	balloon_cfg_set(b, BALLOON_CFG_NUM_PAGES, num_pages);
	balloon_cfg_set(b, BALLOON_CFG_ACTUAL, actual);
	balloon_cfg_set(b, BALLOON_CFG_POISON_VAL, poison);
	pthread_mutex_unlock(&vdev->lock);
	efd_drain(b->config_fd);
	if (pending)
		efd_signal(b->config_fd);
	pthread_mutex_lock(&b->lock);
	b->interval = interval;
	b->last_update = (int64_t)last;
	memcpy(b->stats, stats, sizeof(stats));
	pthread_mutex_unlock(&b->lock);
	return true;
}

/* ---- for QMP ---- */

/* RAM minus `actual` pages; a guest may claim more than there is. */
static uint64_t balloon_ram_left(const struct virtio_balloon *b, uint32_t pages)
{
	uint64_t given = (uint64_t)pages << BALLOON_PFN_SHIFT;

	return given < b->mem->ram_size ? b->mem->ram_size - given : 0;
}

uint64_t virtio_balloon_actual(struct virtio_device *vdev)
{
	struct virtio_balloon *b = vdev->priv;
	uint32_t pages;

	pthread_mutex_lock(&vdev->lock);
	pages = balloon_cfg_get(b, BALLOON_CFG_ACTUAL);
	pthread_mutex_unlock(&vdev->lock);
	return balloon_ram_left(b, pages);
}

unsigned int virtio_balloon_take_changes(struct virtio_device *vdev,
					 uint64_t *first, uint64_t *last)
{
	struct virtio_balloon *b = vdev->priv;
	uint32_t now, then;
	unsigned int n;

	pthread_mutex_lock(&vdev->lock);
	now = balloon_cfg_get(b, BALLOON_CFG_ACTUAL);
	n = b->changes;
	then = n ? b->change_first : now;
	b->changes = 0;
	pthread_mutex_unlock(&vdev->lock);
	*first = balloon_ram_left(b, then);
	*last = balloon_ram_left(b, now);
	return n;
}

void virtio_balloon_set_target(struct virtio_device *vdev, uint64_t target)
{
	struct virtio_balloon *b = vdev->priv;
	uint64_t ram = b->mem->ram_size;

	target = MIN(target, ram);
	pthread_mutex_lock(&vdev->lock);
	balloon_cfg_set(b, BALLOON_CFG_NUM_PAGES,
		(uint32_t)((ram - target) >> BALLOON_PFN_SHIFT));
	pthread_mutex_unlock(&vdev->lock);
	/* The I/O thread interrupts the driver, once the device runs. */
	efd_signal(b->config_fd);
}

void virtio_balloon_get_stats(struct virtio_device *vdev,
			      struct balloon_stats *out)
{
	struct virtio_balloon *b = vdev->priv;

	pthread_mutex_lock(&b->lock);
	memcpy(out->values, b->stats, sizeof(out->values));
	out->last_update = b->last_update;
	pthread_mutex_unlock(&b->lock);
}

uint32_t virtio_balloon_stats_interval(struct virtio_device *vdev)
{
	struct virtio_balloon *b = vdev->priv;
	uint32_t v;

	pthread_mutex_lock(&b->lock);
	v = b->interval;
	pthread_mutex_unlock(&b->lock);
	return v;
}

/*
 * As QEMU: 0 stops asking; a new period counts from now; turning polling
 * on asks at once (the request goes back if the device holds one).
 */
void virtio_balloon_set_stats_interval(struct virtio_device *vdev,
				       uint32_t seconds)
{
	struct virtio_balloon *b = vdev->priv;

	pthread_mutex_lock(&b->lock);
	if (seconds != b->interval)
		balloon_timer_set(b, !seconds ? 0 :
				     b->interval ? seconds * 1000000000ULL : 1);
	b->interval = seconds;
	pthread_mutex_unlock(&b->lock);
}

int virtio_balloon_change_fd(struct virtio_device *vdev)
{
	return ((struct virtio_balloon *)vdev->priv)->change_fd;
}
