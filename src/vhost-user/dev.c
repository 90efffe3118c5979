// SPDX-License-Identifier: MIT
/*
 * A virtio device whose data path is a vhost-user back-end. tern keeps
 * the PCI function, the config space and the interrupts; the back-end gets
 * guest memory (the memfd), the rings, the ioeventfd each ring's kick
 * already signals, and as each ring's call fd the eventfd of the queue's
 * MSI-X vector, which KVM delivers (irqfd) and the transport masks and
 * replays: completions never pass through tern. Without a vector (INTx,
 * none set) the call fd is one of ours that the device's I/O thread turns
 * into the interrupt; when the driver moves a vector or turns MSI-X on or
 * off, the new call fd goes to the back-end before its write completes
 * (irq_route_changed).
 *
 * States (docs/vhost-user.md): connected (negotiated, memory given),
 * running (the back-end has the rings), disconnected. A failed or timed
 * out request on any thread marks the socket broken and shuts it down; the
 * I/O thread sees the hang-up, closes it, and tries again after 100 ms,
 * doubling to 1 s, for ever unless reconnect=off, and at once when the
 * connector's watch sees the socket made again. On reconnect the rings
 * resume at the used index in guest memory and the back-end finds the
 * requests it had in flight in the INFLIGHT_SHMFD buffer, which tern keeps.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/machine.h"
#include "tern/vhost-user-qmp.h"
#include "tern/virtio.h"

#include "vhost-user-internal.h"

/* Anything on the socket outside a request is the back-end leaving. */
static void dev_sock_event(void *opaque, uint32_t events);

static uint64_t dev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dev_push_event(struct vhost_user_dev *d, bool connected)
{
	if (d->nr_events < VHOST_USER_EVENTS_MAX)
		d->events[d->nr_events++] = connected;
	efd_signal(d->event_fd);
}

bool vhost_user_dev_next_event(struct vhost_user_dev *d, bool *connected)
{
	bool any;

	pthread_mutex_lock(&d->lock);
	any = d->nr_events > 0;
	if (any) {
		*connected = d->events[0];
		memmove(d->events, d->events + 1,
			(d->nr_events - 1) * sizeof(d->events[0]));
		d->nr_events--;
	}
	pthread_mutex_unlock(&d->lock);
	return any;
}

/* Lock held. The I/O thread closes it (dev_sock_event). */
void vhost_user_dev_fail(struct vhost_user_dev *d, const char *what, int ret)
{
	if (d->broken || d->conn.fd < 0)
		return;
	tern_warn("%s: back-end %s: %s: %s", d->name, d->path, what,
		  g_strerror(-ret));
	d->broken = true;
	d->running = false;
	shutdown(d->conn.fd, SHUT_RDWR);
}

static void dev_arm_timer(struct vhost_user_dev *d, unsigned int ms)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = ms / 1000,
			 .tv_nsec = (long)(ms % 1000) * 1000000},
	};

	if (timerfd_settime(d->timer_fd, 0, &its, NULL))
		tern_warn("%s: cannot arm the reconnect timer: %s", d->name,
			  g_strerror(errno));
}

/* Guest RAM: one region per RAM slice, all in the one memfd. */
static int dev_send_memory(struct vhost_user_dev *d)
{
	const struct guest_memory *mem = d->m->mem;
	struct vhost_user_region r[VHOST_USER_MEM_REGIONS_MAX];
	int fds[VHOST_USER_MEM_REGIONS_MAX];
	struct vhost_user_msg msg;
	unsigned int n = mem->nr_regions;
	int ret;

	if (n > VHOST_USER_MEM_REGIONS_MAX)
		return -E2BIG;
	for (unsigned int i = 0; i < n; i++) {
		const struct guest_region *g = &mem->regions[i];

		r[i] = (struct vhost_user_region){
		    .gpa = g->gpa,
		    .size = g->size,
		    .uaddr = (uint64_t)(uintptr_t)g->hva,
		    .mmap_offset = g->fd_offset,
		};
		fds[i] = g->fd;
		if (fds[i] < 0)
			return -EINVAL; /* not shared: config.c refuses it */
	}
	if (!vhost_user_conn_has_protocol(
		&d->conn, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		ret = vhost_user_msg_mem_table(&msg, r, fds, n);
		return ret ? ret : vhost_user_conn_call(&d->conn, &msg, NULL);
	}
	/* A fresh connection has no regions: add each one. */
	uint64_t slots;

	ret = vhost_user_conn_get_u64(&d->conn, VHOST_USER_GET_MAX_MEM_SLOTS,
				      &slots);
	if (ret)
		return ret;
	if (slots < n)
		return -E2BIG;
	for (unsigned int i = 0; i < n && !ret; i++) {
		vhost_user_msg_add_mem_reg(&msg, &r[i], fds[i]);
		ret = vhost_user_conn_call(&d->conn, &msg, NULL);
	}
	return ret;
}

/*
 * The back-end maps guest memory before it answers. On these nested
 * hosts, loaded, one mmap() of 256 MiB took testpmd 0.87 s, and whole
 * answers took more than 10 s: a longer deadline for this step only
 * (connecting happens on the I/O thread, never under a vCPU).
 */
static int dev_send_memory_slow(struct vhost_user_dev *d)
{
	unsigned int timeout = d->conn.timeout_ms;
	int ret;

	d->conn.timeout_ms = VHOST_USER_MEMORY_TIMEOUT_MS;
	ret = dev_send_memory(d);
	d->conn.timeout_ms = timeout;
	return ret;
}

/* Lock held, not connected: connect, negotiate, give memory. */
static int dev_connect(struct vhost_user_dev *d, const char **what)
{
	int ret;

	*what = "connect";
	if (d->connector.sock >= 0) {
		int fd;

		/* After set-up: the connector connects for us (connector.c). */
		ret = vhost_user_connector_connect(&d->connector, &fd,
						   VHOST_USER_REPLY_TIMEOUT_MS);
		if (!ret)
			vhost_user_conn_adopt(&d->conn, fd);
	} else {
		ret = vhost_user_conn_open(&d->conn, d->path);
	}
	if (ret)
		return ret;
	*what = "negotiation";
	ret = vhost_user_conn_negotiate(&d->conn);
	if (!ret && !(d->conn.features & (1ULL << VIRTIO_F_VERSION_1)))
		ret = -EPROTONOSUPPORT;
	if (!ret && d->max_queues > MAX(d->rings_per_queue, 1) &&
	    d->conn.queue_num * MAX(d->rings_per_queue, 1) < d->max_queues) {
		*what = "queue count";
		ret = -ERANGE;
	}
	if (!ret) {
		*what = "memory table";
		ret = dev_send_memory_slow(d);
	}
	if (ret)
		vhost_user_conn_close(&d->conn);
	return ret;
}

/* Lock held, on the I/O thread: the socket is gone. */
static void dev_disconnect(struct vhost_user_dev *d)
{
	(void)iothread_del(d->thread, d->conn.fd);
	vhost_user_conn_close(&d->conn);
	/* Where the rings stand now, also for a stop before the reconnect. */
	if (d->active)
		vhost_user_dev_bases_from_used(d);
	d->broken = false;
	d->running = false;
	d->disconnects++;
	tern_warn("%s: back-end %s disconnected; the guest keeps running%s",
		  d->name, d->path,
		  d->reconnect ? ", reconnecting"
			       : " (reconnect=off: the device stays down)");
	dev_push_event(d, false);
	if (d->ops && d->ops->link)
		d->ops->link(d, false);
	if (!d->reconnect) {
		if (d->active)
			virtio_device_needs_reset(d->vdev, "back-end %s gone",
						  d->path);
		return;
	}
	/*
	 * A back-end that takes the connection and then drops it (a ring it
	 * will not take) would otherwise be retried every 100 ms for ever:
	 * the back-off only starts afresh after a connection that lasted.
	 */
	if (dev_now_ms() - d->connected_ms < VHOST_USER_BACKOFF_MAX_MS)
		d->backoff_ms =
		    MIN(MAX(d->backoff_ms, VHOST_USER_BACKOFF_MIN_MS / 2) * 2,
			VHOST_USER_BACKOFF_MAX_MS);
	else
		d->backoff_ms = VHOST_USER_BACKOFF_MIN_MS;
	dev_arm_timer(d, d->backoff_ms);
}

static void dev_sock_event(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	char c;

	pthread_mutex_lock(&d->lock);
	/* A reply a control thread is about to read makes it readable too. */
	if (d->conn.fd >= 0 && !d->broken &&
	    !(events & (EPOLLHUP | EPOLLERR)) &&
	    recv(d->conn.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    errno == EAGAIN) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	if (d->conn.fd >= 0)
		dev_disconnect(d);
	pthread_mutex_unlock(&d->lock);
}

static void dev_timer_event(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;
	const char *what;
	uint64_t ticks;
	int ret;

	if (read(d->timer_fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->conn.fd >= 0)
		goto out;
	ret = dev_connect(d, &what);
	if (!ret)
		ret = iothread_add(d->thread, d->conn.fd, EPOLLIN,
				   dev_sock_event, d);
	if (ret) {
		vhost_user_conn_close(&d->conn);
		tern_debug("%s: reconnect: %s: %s", d->name, what,
			   g_strerror(-ret));
		/* A socket just made may not listen yet: look again soon. */
		if (d->quick_tries) {
			d->quick_tries--;
			dev_arm_timer(d, VHOST_USER_QUICK_MS);
			goto out;
		}
		d->backoff_ms =
		    MIN(d->backoff_ms * 2, VHOST_USER_BACKOFF_MAX_MS);
		dev_arm_timer(d, d->backoff_ms);
		goto out;
	}
	d->quick_tries = 0;
	d->reconnects++;
	d->connected_ms = dev_now_ms();
	tern_log("%s: back-end %s reconnected", d->name, d->path);
	dev_push_event(d, true);
	if (d->active) {
		vhost_user_dev_bases_from_used(d);
		ret = vhost_user_dev_rings_start(d, &what);
		if (ret)
			vhost_user_dev_fail(d, what, ret);
	}
	if (!ret && d->ops && d->ops->link)
		d->ops->link(d, true);
out:
	pthread_mutex_unlock(&d->lock);
}

/*
 * The socket's directory changed. A back-end that made its socket again
 * is tried now rather than at the next back-off step (up to 1 s away); the
 * back-off stays as it was, for a socket that is there but refuses.
 */
static void dev_watch_event(void *opaque, uint32_t events)
{
	struct vhost_user_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	if (vhost_user_connector_watch_saw(&d->connector, d->path) &&
	    d->conn.fd < 0 && d->reconnect) {
		tern_log("%s: back-end socket %s made again; connecting",
			 d->name, d->path);
		d->quick_tries = VHOST_USER_QUICK_TRIES;
		dev_arm_timer(d, VHOST_USER_QUICK_MS);
	}
	pthread_mutex_unlock(&d->lock);
}

/* The back-end used buffers: the queue's interrupt, unless the rings came back.
 */
static void dev_call_event(void *opaque, uint32_t events)
{
	struct vhost_user_ring_ref *ref = opaque;
	struct vhost_user_dev *d = ref->d;

	efd_drain(d->call_fd[ref->index]);
	pthread_mutex_lock(&d->lock);
	if (d->running)
		d->vdev->transport_ops->notify_queue(
		    d->vdev, d->vdev->queues[ref->index]);
	pthread_mutex_unlock(&d->lock);
}

/*
 * The transport moved an interrupt: the back-end gets the new call fd
 * before the guest's write completes, so no completion the guest makes
 * after it goes to the vector it left (with REPLY_ACK, which waits for
 * the back-end to take it).
 */
void vhost_user_dev_irq_route_changed(struct vhost_user_dev *d)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	if (d->running && d->conn.fd >= 0 && !d->broken) {
		ret = vhost_user_dev_calls_update(d);
		if (ret)
			vhost_user_dev_fail(d, "SET_VRING_CALL", ret);
	}
	pthread_mutex_unlock(&d->lock);
}

static void dev_err_event(void *opaque, uint32_t events)
{
	struct vhost_user_ring_ref *ref = opaque;

	efd_drain(ref->d->err_fd[ref->index]);
	tern_warn("%s: the back-end reports an error on ring %u", ref->d->name,
		  ref->index);
}

bool vhost_user_dev_init(struct vhost_user_dev *d, struct machine *m,
			 const char *name, const char *path, bool reconnect,
			 unsigned int nr_queues, GError **err)
{
	const char *what = "set-up";
	int ret = 0;

	d->name = g_strdup(name);
	d->path = g_strdup(path);
	d->reconnect = reconnect;
	d->m = m;
	d->nr_queues = d->max_queues = nr_queues;
	d->nr_enabled = nr_queues;
	d->conn.fd = d->inflight_fd = d->timer_fd = d->event_fd = -1;
	d->connector.sock = d->connector.watch_fd = -1;
	for (unsigned int i = 0; i < VHOST_USER_QUEUES_MAX; i++)
		d->call_fd[i] = d->err_fd[i] = d->sent_call[i] = -1;
	pthread_mutex_init(&d->lock, NULL);
	if (nr_queues > VHOST_USER_QUEUES_MAX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s: at most %d queues", name,
			    VHOST_USER_QUEUES_MAX);
		return false;
	}
	for (unsigned int i = 0; i < nr_queues && !ret; i++) {
		d->refs[i] = (struct vhost_user_ring_ref){d, i};
		d->call_fd[i] = efd_new();
		d->err_fd[i] = efd_new();
		if (d->call_fd[i] < 0 || d->err_fd[i] < 0)
			ret = -EMFILE;
	}
	d->event_fd = efd_new();
	d->timer_fd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!ret && (d->event_fd < 0 || d->timer_fd < 0))
		ret = -EMFILE;
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s", name,
			    g_strerror(-ret));
		return false;
	}
	d->thread = iothread_create(m->threads, name, NULL, NULL, err);
	if (!d->thread)
		return false;
	pthread_mutex_lock(&d->lock);
	ret = dev_connect(d, &what);
	pthread_mutex_unlock(&d->lock);
	if (ret == -ERANGE && d->option) {
		unsigned int per = MAX(d->rings_per_queue, 1);

		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s: the back-end at '%s' has %u queue%s%s "
			    "(GET_QUEUE_NUM%s), fewer than the %u asked for",
			    d->option, path, d->conn.queue_num,
			    per == 2 ? " pair" : "",
			    d->conn.queue_num == 1 ? "" : "s",
			    vhost_user_conn_has_protocol(
				&d->conn, VHOST_USER_PROTOCOL_F_MQ)
				? ""
				: "; it offers no MQ protocol feature",
			    nr_queues / per);
		return false;
	}
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s: back-end '%s': %s: %s", name, path, what,
			    g_strerror(-ret));
		return false;
	}
	/* Connected directly; later connections go through the connector. */
	if (reconnect) {
		ret = vhost_user_connector_start(&d->connector, path,
						 config_socket_dir(m->cfg, path));
		if (ret) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "%s: cannot fork its reconnect helper: %s",
				    name, g_strerror(-ret));
			return false;
		}
	}
	for (unsigned int i = 0; i < nr_queues && !ret; i++) {
		ret = iothread_add(d->thread, d->call_fd[i], EPOLLIN,
				   dev_call_event, &d->refs[i]);
		if (!ret)
			ret = iothread_add(d->thread, d->err_fd[i], EPOLLIN,
					   dev_err_event, &d->refs[i]);
	}
	if (!ret)
		ret = iothread_add(d->thread, d->timer_fd, EPOLLIN,
				   dev_timer_event, d);
	if (!ret && d->connector.watch_fd >= 0)
		ret = iothread_add(d->thread, d->connector.watch_fd, EPOLLIN,
				   dev_watch_event, d);
	if (!ret)
		ret = iothread_add(d->thread, d->conn.fd, EPOLLIN,
				   dev_sock_event, d);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "%s: cannot watch its fds: %s", name,
			    g_strerror(-ret));
		return false;
	}
	return true;
}

uint64_t vhost_user_dev_features(const struct vhost_user_dev *d)
{
	return d->conn.features & ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
}

bool vhost_user_dev_attach(struct vhost_user_dev *d, struct virtio_device *vdev,
			   GError **err)
{
	d->vdev = vdev;
	/*
	 * The core offers its transport bits (packed rings among them) to
	 * every device; the guest may only see what the back-end can do.
	 * Never packed rings: the hand-over (rings.c) speaks split only, its
	 * ring base without the wrap counter, and testpmd offers them.
	 */
	vdev->host_features &= vhost_user_dev_features(d) | d->local_features;
	vdev->host_features &= ~(1ULL << VIRTIO_F_RING_PACKED);
	if (!(vdev->host_features & (1ULL << VIRTIO_F_VERSION_1))) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s: back-end '%s' offers no VIRTIO_F_VERSION_1",
			    d->name, d->path);
		return false;
	}
	iothread_start(d->thread);
	return true;
}

void vhost_user_dev_fini(struct vhost_user_dev *d)
{
	if (d->thread)
		iothread_destroy(d->thread);
	vhost_user_conn_close(&d->conn);
	vhost_user_connector_stop(&d->connector);
	if (d->inflight_fd >= 0)
		close(d->inflight_fd);
	for (unsigned int i = 0; i < VHOST_USER_QUEUES_MAX; i++) {
		if (d->call_fd[i] >= 0)
			close(d->call_fd[i]);
		if (d->err_fd[i] >= 0)
			close(d->err_fd[i]);
	}
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->event_fd >= 0)
		close(d->event_fd);
	pthread_mutex_destroy(&d->lock);
	g_free(d->name);
	g_free(d->path);
	g_free(d->option);
}

void vhost_user_dev_start(struct vhost_user_dev *d)
{
	const char *what;
	int ret;

	pthread_mutex_lock(&d->lock);
	d->active = true;
	if (d->conn.fd >= 0 && !d->broken && !d->running) {
		ret = vhost_user_dev_rings_start(d, &what);
		if (ret)
			vhost_user_dev_fail(d, what, ret);
	}
	pthread_mutex_unlock(&d->lock);
}

/* Lock held: the driver reset the device; tell the back-end if it listens. */
static void dev_reset_backend(struct vhost_user_dev *d)
{
	struct vhost_user_msg m;
	int ret = 0;

	if (vhost_user_conn_has_protocol(&d->conn,
					 VHOST_USER_PROTOCOL_F_STATUS))
		ret =
		    vhost_user_conn_set_u64(&d->conn, VHOST_USER_SET_STATUS, 0);
	if (!ret && vhost_user_conn_has_protocol(
			&d->conn, VHOST_USER_PROTOCOL_F_RESET_DEVICE)) {
		vhost_user_msg_init(&m, VHOST_USER_RESET_DEVICE);
		ret = vhost_user_conn_call(&d->conn, &m, NULL);
	}
	if (ret)
		vhost_user_dev_fail(d, "device reset", ret);
}

void vhost_user_dev_stop(struct vhost_user_dev *d, bool reset)
{
	pthread_mutex_lock(&d->lock);
	if (d->conn.fd >= 0 && !d->broken)
		vhost_user_dev_rings_stop(d);
	d->running = false;
	d->active = false;
	/* Interrupts the back-end signalled before it stopped. */
	for (unsigned int i = 0; i < d->nr_queues; i++)
		if (efd_drain(d->call_fd[i]) && !reset)
			d->vdev->transport_ops->notify_queue(
			    d->vdev, d->vdev->queues[i]);
	if (reset) {
		/*
		 * A reset driver must not see old requests resubmitted: the
		 * next start asks the back-end for a fresh buffer (rings.c).
		 */
		if (d->inflight_fd >= 0) {
			close(d->inflight_fd);
			d->inflight_fd = -1;
		}
		if (d->conn.fd >= 0 && !d->broken)
			dev_reset_backend(d);
	}
	pthread_mutex_unlock(&d->lock);
}

int vhost_user_dev_get_config(struct vhost_user_dev *d, void *buf,
			      uint32_t size)
{
	struct vhost_user_msg m, r;
	int ret;

	if (!vhost_user_conn_has_protocol(&d->conn,
					  VHOST_USER_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	ret = vhost_user_msg_config(&m, VHOST_USER_GET_CONFIG, 0, NULL, size);
	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	ret = vhost_user_conn_call(&d->conn, &m, &r);
	pthread_mutex_unlock(&d->lock);
	return ret ? ret : vhost_user_reply_config(&r, 0, size, buf);
}

/*
 * Every model (blk.c, net.c, fs.c) keeps its struct vhost_user_dev first
 * in the struct its virtio device's priv points to.
 */
static struct vhost_user_dev *dev_of(const struct virtio_device *vdev)
{
	return vdev->priv;
}

bool vhost_user_next_event(struct virtio_device *vdev, bool *connected)
{
	return vhost_user_dev_next_event(dev_of(vdev), connected);
}

int vhost_user_event_fd(const struct virtio_device *vdev)
{
	return dev_of(vdev)->event_fd;
}

const char *vhost_user_path(const struct virtio_device *vdev)
{
	return dev_of(vdev)->path;
}
