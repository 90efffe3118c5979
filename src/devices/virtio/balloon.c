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
#include "tern/state.h"
#include "tern/virtio-balloon.h"
#include "tern/virtio.h"

#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1
#define BALLOON_NO_QUEUE UINT_MAX
/* Page numbers handled per step: one 4 KiB copy of the list. */
#define BALLOON_PFN_CHUNK 1024
/* The stats a buffer may carry that we read: far more than the 10 tags. */
#define BALLOON_STATS_MAX_BYTES (64 * BALLOON_STAT_ENTRY_SIZE)

struct virtio_balloon {
	struct virtio_device *vdev;
	const struct guest_memory *mem;
	struct iothread *thread;
	int timer_fd; /* stats-period elapsed: give the stats request back */
	int config_fd; /* the target changed: tell the driver (I/O thread) */
	int change_fd; /* `actual` may have changed: for QMP */
	struct balloon_config opt;
	bool can_discard; /* RAM in 4 KiB pages: huge pages stay the VM's */
	uint8_t config[BALLOON_CFG_SIZE]; /* under vdev->lock */

	pthread_mutex_t lock; /* what QMP reads and sets: */
	uint64_t stats[BALLOON_S_NR];
	int64_t last_update;
	uint32_t interval; /* seconds; 0: the stats request is kept */

	/* I/O thread (or a control thread while it is stopped). */
	unsigned int stats_vq, report_vq; /* or BALLOON_NO_QUEUE */
	bool stats_held;
	struct virtq_elem stats_elem; /* the driver's last stats buffer */
	struct virtq_elem elem;
	uint32_t pfns[BALLOON_PFN_CHUNK];
	struct balloon_range ranges[BALLOON_PFN_CHUNK];
	uint8_t stats_buf[BALLOON_STATS_MAX_BYTES];
};

static uint32_t cfg_get(const struct virtio_balloon *b, unsigned int off)
{
	uint32_t v;

	memcpy(&v, b->config + off, sizeof(v));
	return le32toh(v);
}

static void cfg_set(struct virtio_balloon *b, unsigned int off, uint32_t v)
{
	v = htole32(v);
	memcpy(b->config + off, &v, sizeof(v));
}

/* Copy len bytes from offset off of a chain's readable buffers. */
static void elem_read(const struct virtq_elem *e, uint64_t off, void *dst,
		      size_t len)
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

/* A one-shot timer in ns from now; 0 disarms it. */
static void balloon_timer_set(struct virtio_balloon *b, uint64_t ns)
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

	for (uint64_t done = 0; done < total;) {
		unsigned int n = MIN(total - done, BALLOON_PFN_CHUNK), nr, bad = 0;
		uint32_t first_bad = 0;

		elem_read(e, done * sizeof(uint32_t), b->pfns, n * sizeof(uint32_t));
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
		   cfg_get(b, BALLOON_CFG_POISON_VAL);
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
	elem_read(e, 0, b->stats_buf, len);
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
 * The driver is gone (or the machine reset): the pages it ballooned are
 * the next driver's to use, so `actual` goes back to 0; the target stays,
 * as in QEMU. So does poison_val's reset value.
 */
static void balloon_forget_driver(struct virtio_balloon *b)
{
	struct virtio_device *vdev = b->vdev;
	bool changed;

	pthread_mutex_lock(&vdev->lock);
	changed = cfg_get(b, BALLOON_CFG_ACTUAL) != 0;
	cfg_set(b, BALLOON_CFG_ACTUAL, 0);
	cfg_set(b, BALLOON_CFG_POISON_VAL, 0);
	pthread_mutex_unlock(&vdev->lock);
	if (changed)
		efd_signal(b->change_fd);
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
	before = cfg_get(b, BALLOON_CFG_ACTUAL);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t o = off + i;

		if ((o >= BALLOON_CFG_ACTUAL && o < BALLOON_CFG_ACTUAL + 4) ||
		    (o >= BALLOON_CFG_POISON_VAL && o < BALLOON_CFG_POISON_VAL + 4))
			b->config[o] = ((const uint8_t *)data)[i];
	}
	after = cfg_get(b, BALLOON_CFG_ACTUAL);
	pthread_mutex_unlock(&vdev->lock);
	if (after != before)
		efd_signal(b->change_fd);
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

#define BALLOON_STATE_VERSION 1

/* Saved while quiesced: no stats request is held then. */
static void balloon_save(struct virtio_device *vdev, const char *id,
			 struct state_writer *w)
{
	struct virtio_balloon *b = vdev->priv;

	state_section_begin(w, BALLOON_STATE_VERSION, "%s/model", id);
	pthread_mutex_lock(&vdev->lock);
	state_put_u32(w, cfg_get(b, BALLOON_CFG_NUM_PAGES));
	state_put_u32(w, cfg_get(b, BALLOON_CFG_ACTUAL));
	state_put_u32(w, cfg_get(b, BALLOON_CFG_POISON_VAL));
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

static bool balloon_load(struct virtio_device *vdev, const char *id,
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
	cfg_set(b, BALLOON_CFG_NUM_PAGES, num_pages);
	cfg_set(b, BALLOON_CFG_ACTUAL, actual);
	cfg_set(b, BALLOON_CFG_POISON_VAL, poison);
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

/* ---- for QMP ---- */

uint64_t virtio_balloon_actual(struct virtio_device *vdev)
{
	struct virtio_balloon *b = vdev->priv;
	uint64_t given;

	pthread_mutex_lock(&vdev->lock);
	given = (uint64_t)cfg_get(b, BALLOON_CFG_ACTUAL) << BALLOON_PFN_SHIFT;
	pthread_mutex_unlock(&vdev->lock);
	/* A guest may claim more than there is. */
	return given < b->mem->ram_size ? b->mem->ram_size - given : 0;
}

void virtio_balloon_set_target(struct virtio_device *vdev, uint64_t target)
{
	struct virtio_balloon *b = vdev->priv;
	uint64_t ram = b->mem->ram_size;

	target = MIN(target, ram);
	pthread_mutex_lock(&vdev->lock);
	cfg_set(b, BALLOON_CFG_NUM_PAGES,
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
