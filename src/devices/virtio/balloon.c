// SPDX-License-Identifier: MIT
/*
 * virtio-balloon (virtio 1.2, 5.5), laid out as QEMU's virtio-balloon-pci:
 * queue 0 inflates, queue 1 deflates, then the stats queue (STATS_VQ is
 * always offered, as QEMU does) and, with --balloon
 * free-page-reporting=on, the reporting queue. A queue the driver did not
 * negotiate is absent and the later ones move down, as Linux numbers them.
 *
 * Everything runs on the device's I/O thread: the four kicks, a timerfd
 * that gives the held stats request back every stats-period seconds, and
 * an eventfd through which the main thread's new target reaches the driver
 * as a config interrupt (so a target set while the VM is stopped waits for
 * it to run, with the thread). Pages the guest hands over on the inflate
 * queue or reports free are given back to the host with
 * guest_memory_discard(); the deflate queue needs nothing (MUST_TELL_HOST
 * is not offered: a deflated page comes back when the guest touches it).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/machine.h"
#include "tern/virtio-balloon.h"
#include "tern/virtio.h"

#include "balloon-internal.h"

/* Copy len bytes from offset off of a chain's readable buffers. */
static void balloon_elem_read(const struct virtq_elem *e, uint64_t off,
			      void *dst, size_t len)
{
	uint8_t *d = dst;

	for (unsigned int i = 0; i < e->out_num && len; i++) {
		size_t n, have = e->iov[i].iov_len;

		if (off >= have) {
			off -= have;
			continue;
		}
		n = MIN(have - off, len);
		memcpy(d, (uint8_t *)e->iov[i].iov_base + off, n);
		d += n;
		len -= n;
		off = 0;
	}
}

/* timerfd_settime() cannot fail with a valid fd and value. */
void balloon_timer_set(struct virtio_balloon *b, uint64_t ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ns / 1000000000ULL,
			      .tv_nsec = ns % 1000000000ULL },
	};

	(void)timerfd_settime(b->timer_fd, 0, &its, NULL);
}

static void balloon_discard(struct virtio_balloon *b, uint64_t gpa,
			    uint64_t len)
{
	int ret;

	if (!b->can_discard)
		return;
	ret = guest_memory_discard(b->mem, gpa, len);
	if (ret)
		tern_log("virtio-balloon: cannot give 0x%llx+0x%llx back to the host: %s",
			 (unsigned long long)gpa, (unsigned long long)len,
			 g_strerror(-ret));
}

/* ---- the queues (I/O thread) ---- */

/* Inflate or deflate: a list of le32 page numbers in the readable buffers. */
static bool balloon_handle_pages(struct virtio_balloon *b, unsigned int q,
				 struct virtq_elem *e)
{
	const char *what = q == BALLOON_INFLATEQ ? "inflate" : "deflate";
	uint64_t total = e->out_len / sizeof(uint32_t);

	if (total > BALLOON_MAX_PFNS) {
		tern_log("virtio-balloon: %s: a list of %llu page numbers; only the first %u are read",
			 what, (unsigned long long)total, BALLOON_MAX_PFNS);
		total = BALLOON_MAX_PFNS;
	}
	for (uint64_t done = 0; done < total;) {
		unsigned int n = MIN(total - done, BALLOON_PFN_CHUNK), nr, bad = 0;
		uint32_t first_bad = 0;

		balloon_elem_read(e, done * sizeof(uint32_t), b->pfns,
				  n * sizeof(uint32_t));
		for (unsigned int i = 0; i < n; i++)
			b->pfns[i] = le32toh(b->pfns[i]);
		nr = balloon_pfn_ranges(b->mem, b->pfns, n, b->ranges, &bad,
					&first_bad);
		if (bad)
			tern_log("virtio-balloon: %s: %u page number(s) outside guest RAM ignored (the first: 0x%x)",
				 what, bad, first_bad);
		for (unsigned int i = 0; i < nr && q == BALLOON_INFLATEQ; i++)
			balloon_discard(b, b->ranges[i].gpa, b->ranges[i].len);
		done += n;
	}
	if (e->out_len % sizeof(uint32_t))
		tern_log("virtio-balloon: %s: a list of %llu bytes ends in part of a page number; ignored",
			 what, (unsigned long long)e->out_len);
	virtq_push(b->vdev->queues[q], e, 0);
	return true;
}

/* Free page reporting: each writable buffer is a free range of the guest. */
static bool balloon_handle_report(struct virtio_balloon *b, unsigned int q,
				  struct virtq_elem *e)
{
	struct virtio_device *vdev = b->vdev;
	bool poisoned;

	pthread_mutex_lock(&vdev->lock);
	/* The guest expects its poison value back, not zeros. */
	poisoned = virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON) &&
		   balloon_cfg_get(b, BALLOON_CFG_POISON_VAL);
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned int i = e->out_num; i < e->out_num + e->in_num; i++) {
		uint64_t len = e->iov[i].iov_len, gpa;

		/* The ring handed out the pointer: it is guest RAM. */
		if (guest_memory_gpa(b->mem, e->iov[i].iov_base, len, &gpa))
			continue;
		if ((gpa | len) & (BALLOON_PAGE_SIZE - 1)) {
			tern_log("virtio-balloon: free page report 0x%llx+0x%llx is not in whole pages; ignored",
				 (unsigned long long)gpa, (unsigned long long)len);
			continue;
		}
		if (!poisoned)
			balloon_discard(b, gpa, len);
	}
	virtq_push(vdev->queues[q], e, 0);
	return true;
}

/* Statistics: keep the buffer until the next period asks for new ones. */
static bool balloon_handle_stats(struct virtio_balloon *b, unsigned int q,
				 struct virtq_elem *e)
{
	size_t len = MIN(e->out_len, sizeof(b->stats_buf));
	bool pushed = false;

	if (b->stats_held) {
		/* Two at once is against the spec; QEMU gives the old one back. */
		virtq_push(b->vdev->queues[q], &b->stats_elem, 0);
		pushed = true;
	}
	balloon_elem_read(e, 0, b->stats_buf, len);
	pthread_mutex_lock(&b->lock);
	balloon_stats_parse(b->stats_buf, len, b->stats);
	b->last_update = g_get_real_time() / G_USEC_PER_SEC;
	if (b->interval)
		balloon_timer_set(b, (uint64_t)b->interval * 1000000000ULL);
	pthread_mutex_unlock(&b->lock);
	b->stats_elem = *e;
	b->stats_held = true;
	return pushed;
}

typedef bool balloon_handler(struct virtio_balloon *b, unsigned int q,
			     struct virtq_elem *e);

static void balloon_drain(struct virtio_balloon *b, unsigned int q,
			  balloon_handler *handle)
{
	struct virtqueue *vq = b->vdev->queues[q];

	efd_drain(virtq_kick_fd(vq));
	do {
		bool pushed = false;
		int ret;

		virtq_disable_kicks(vq);
		while ((ret = virtq_pop(vq, &b->elem)) > 0)
			pushed |= handle(b, q, &b->elem);
		if (pushed)
			virtq_notify(vq);
		if (ret < 0)
			return; /* NEEDS_RESET: the queue stays stopped */
	} while (virtq_enable_kicks(vq));
}

static void balloon_inflate_kick(void *opaque, uint32_t events)
{
	balloon_drain(opaque, BALLOON_INFLATEQ, balloon_handle_pages);
}

static void balloon_deflate_kick(void *opaque, uint32_t events)
{
	balloon_drain(opaque, BALLOON_DEFLATEQ, balloon_handle_pages);
}

static void balloon_stats_kick(void *opaque, uint32_t events)
{
	struct virtio_balloon *b = opaque;

	balloon_drain(b, b->stats_vq, balloon_handle_stats);
}

static void balloon_report_kick(void *opaque, uint32_t events)
{
	struct virtio_balloon *b = opaque;

	balloon_drain(b, b->report_vq, balloon_handle_report);
}

/* Give the held stats request back: the driver answers with fresh stats. */
static void balloon_stats_request(struct virtio_balloon *b)
{
	struct virtqueue *vq;

	if (!b->stats_held)
		return;
	vq = b->vdev->queues[b->stats_vq];
	virtq_push(vq, &b->stats_elem, 0);
	virtq_notify(vq);
	b->stats_held = false;
}

static void balloon_timer_fired(void *opaque, uint32_t events)
{
	struct virtio_balloon *b = opaque;
	uint64_t v;

	(void)!read(b->timer_fd, &v, sizeof(v));
	balloon_stats_request(b);
}

static void balloon_config_kick(void *opaque, uint32_t events)
{
	struct virtio_balloon *b = opaque;

	efd_drain(b->config_fd);
	virtio_config_changed(b->vdev);
}

/* ---- life cycle ---- */

static iothread_fn *const balloon_kicks[] = {
	[BALLOON_INFLATEQ] = balloon_inflate_kick,
	[BALLOON_DEFLATEQ] = balloon_deflate_kick,
};

/* Every fd the thread may watch: missing ones are -ENOENT, which is fine. */
static void balloon_unwatch(struct virtio_balloon *b)
{
	for (unsigned int q = 0; q < b->vdev->nr_queues; q++)
		(void)iothread_del(b->thread, virtq_kick_fd(b->vdev->queues[q]));
	(void)iothread_del(b->thread, b->timer_fd);
	(void)iothread_del(b->thread, b->config_fd);
}

static int balloon_watch(struct virtio_balloon *b, unsigned int q,
			 iothread_fn *fn)
{
	struct virtqueue *vq;

	if (q == BALLOON_NO_QUEUE)
		return 0;
	vq = b->vdev->queues[q];
	/* A queue the driver left disabled is never kicked. */
	if (!virtq_started(vq))
		return 0;
	return iothread_add(b->thread, virtq_kick_fd(vq), EPOLLIN, fn, b);
}

static int balloon_activate(struct virtio_device *vdev)
{
	struct virtio_balloon *b = vdev->priv;
	unsigned int next = BALLOON_DEFLATEQ + 1;
	int ret = 0;

	b->stats_vq = b->report_vq = BALLOON_NO_QUEUE;
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ))
		b->stats_vq = next++;
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING) &&
	    next < vdev->nr_queues)
		b->report_vq = next++;
	b->stats_held = false;
	for (unsigned int q = 0; q < ARRAY_SIZE(balloon_kicks) && !ret; q++)
		ret = balloon_watch(b, q, balloon_kicks[q]);
	if (!ret)
		ret = balloon_watch(b, b->stats_vq, balloon_stats_kick);
	if (!ret)
		ret = balloon_watch(b, b->report_vq, balloon_report_kick);
	if (!ret)
		ret = iothread_add(b->thread, b->timer_fd, EPOLLIN,
				   balloon_timer_fired, b);
	if (!ret)
		ret = iothread_add(b->thread, b->config_fd, EPOLLIN,
				   balloon_config_kick, b);
	if (ret) {
		balloon_unwatch(b);
		return ret;
	}
	iothread_start(b->thread);
	return 0;
}

/*
 * Under vdev->lock, `actual` was just changed. QEMU sends BALLOON_CHANGE
 * for the first change at once and the last one a period later, so both
 * are kept until QMP takes them: two writes in a row must not become one
 * eventfd count that shows only the second.
 */
static void balloon_actual_changed(struct virtio_balloon *b)
{
	if (!b->changes++)
		b->change_first = balloon_cfg_get(b, BALLOON_CFG_ACTUAL);
	efd_signal(b->change_fd);
}

/*
 * The driver is gone (or the machine reset): the pages it ballooned are
 * the next driver's to use, so `actual` goes back to 0 (QEMU keeps it);
 * poison_val goes back to 0 as in QEMU, and the target stays.
 */
void balloon_forget_driver(struct virtio_balloon *b)
{
	struct virtio_device *vdev = b->vdev;
	bool changed;

	pthread_mutex_lock(&vdev->lock);
	changed = balloon_cfg_get(b, BALLOON_CFG_ACTUAL) != 0;
	balloon_cfg_set(b, BALLOON_CFG_ACTUAL, 0);
	balloon_cfg_set(b, BALLOON_CFG_POISON_VAL, 0);
	if (changed)
		balloon_actual_changed(b);
	pthread_mutex_unlock(&vdev->lock);
}

static void balloon_reset(struct virtio_device *vdev)
{
	struct virtio_balloon *b = vdev->priv;

	iothread_stop(b->thread);
	balloon_unwatch(b);
	balloon_timer_set(b, 0);
	/* The ring it came from is gone. */
	b->stats_held = false;
	balloon_forget_driver(b);
}

/*
 * Nothing is in flight but the stats request the device keeps: it goes
 * back now (the driver answers after resume), so no element outlives a
 * stop or has to travel in a saved state.
 */
static int balloon_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct virtio_balloon *b = vdev->priv;

	iothread_stop(b->thread);
	balloon_timer_set(b, 0);
	balloon_stats_request(b);
	return 0;
}

static void balloon_resume(struct virtio_device *vdev)
{
	struct virtio_balloon *b = vdev->priv;

	iothread_start(b->thread);
	/* Buffers may have come while it was stopped. */
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		if (virtq_started(vdev->queues[q]))
			efd_signal(virtq_kick_fd(vdev->queues[q]));
}

/* The driver writes `actual` and poison_val; num_pages is the host's. */
static void balloon_config_write(struct virtio_device *vdev, uint64_t off,
				 const void *data, unsigned int len)
{
	struct virtio_balloon *b = vdev->priv;
	uint32_t before, after;

	pthread_mutex_lock(&vdev->lock);
	before = balloon_cfg_get(b, BALLOON_CFG_ACTUAL);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t o = off + i;

		if ((o >= BALLOON_CFG_ACTUAL && o < BALLOON_CFG_ACTUAL + 4) ||
		    (o >= BALLOON_CFG_POISON_VAL && o < BALLOON_CFG_POISON_VAL + 4))
			b->config[o] = ((const uint8_t *)data)[i];
	}
	after = balloon_cfg_get(b, BALLOON_CFG_ACTUAL);
	if (after != before)
		balloon_actual_changed(b);
	pthread_mutex_unlock(&vdev->lock);
}

static void balloon_free(struct virtio_balloon *b)
{
	iothread_destroy(b->thread);
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	if (b->config_fd >= 0)
		close(b->config_fd);
	if (b->change_fd >= 0)
		close(b->change_fd);
	pthread_mutex_destroy(&b->lock);
	g_free(b);
}

static void balloon_destroy(struct virtio_device *vdev)
{
	balloon_free(vdev->priv);
}

static const struct virtio_device_ops balloon_ops = {
	.name = "virtio-balloon",
	.activate = balloon_activate,
	.reset = balloon_reset,
	.quiesce = balloon_quiesce,
	.resume = balloon_resume,
	.config_write = balloon_config_write,
	.destroy = balloon_destroy,
	.save = balloon_save,
	.load = balloon_load,
};

static struct virtio_device *virtio_balloon_create(struct machine *m,
						   GError **err)
{
	struct virtio_balloon *b = g_new0(struct virtio_balloon, 1);
	uint64_t features = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) |
			    (1ULL << VIRTIO_BALLOON_F_PAGE_POISON);
	unsigned int nr_queues = 3;

	b->opt = m->cfg->balloon;
	b->mem = m->mem;
	b->interval = b->opt.stats_period;
	for (unsigned int i = 0; i < BALLOON_S_NR; i++)
		b->stats[i] = BALLOON_STAT_UNSET;
	pthread_mutex_init(&b->lock, NULL);
	b->config_fd = b->change_fd = -1;
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->timer_fd < 0 || (b->config_fd = efd_new()) < 0 ||
	    (b->change_fd = efd_new()) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "virtio-balloon: %s", g_strerror(errno));
		goto err;
	}
	/*
	 * Huge pages (hugepages=on) are reserved for the VM when it starts;
	 * one given back could be taken by another process, and the guest's
	 * next touch of it would then kill tern with SIGBUS.
	 */
	b->can_discard = m->mem->page_size == GUEST_PAGE_SIZE;
	if (!b->can_discard)
		tern_log("virtio-balloon: guest RAM is in huge pages: pages the guest gives up stay reserved for it");
	if (b->opt.deflate_on_oom)
		features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (b->opt.free_page_reporting) {
		features |= 1ULL << VIRTIO_BALLOON_F_REPORTING;
		nr_queues++;
	}
	b->thread = iothread_create(m->threads, "io-balloon",
				    virtio_iothread_fault, &b->vdev, err);
	if (!b->thread)
		goto err;
	b->vdev = virtio_pci_create(m, &balloon_ops, b, VIRTIO_ID_BALLOON,
				    features, nr_queues, b->config,
				    sizeof(b->config), err);
	if (!b->vdev)
		goto err;
	return b->vdev;
err:
	balloon_free(b);
	return NULL;
}

/* ---- registry ---- */

static unsigned int balloon_count(const struct vm_config *cfg)
{
	return cfg->balloon.enabled ? 1 : 0;
}

static void *balloon_device_create(struct machine *m, unsigned int index,
				   GError **err)
{
	return virtio_balloon_create(m, err);
}

/* After the PCI reset: also when no driver had activated the device. */
static void balloon_device_reset(void *opaque)
{
	struct virtio_device *vdev = opaque;

	balloon_forget_driver(vdev->priv);
}

const struct device_type virtio_balloon_device_type = {
	.name = "virtio-balloon",
	.option = "--balloon",
	.count = balloon_count,
	.create = balloon_device_create,
	.destroy = virtio_pci_device_destroy,
	.reset = balloon_device_reset,
	.quiesce = virtio_pci_device_quiesce,
	.resume = virtio_pci_device_resume,
	.save = virtio_pci_device_save,
	.load = virtio_pci_device_load,
};
