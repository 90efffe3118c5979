// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2, 5.3) with a single port and no MULTIPORT:
 * queue 0 (receiveq) carries host input to the guest, queue 1 (transmitq)
 * the guest's output. Linux names the port hvc0.
 *
 * Everything runs on the device's I/O thread: transmit kicks copy the
 * buffers into the VM's console outbuf, and only as far as it has room: a
 * chain that does not fit is held, and the queue waits for the outbuf's
 * room eventfd, so a console nobody reads back-pressures the guest's
 * transmit queue instead of blocking the thread or dropping output; host input is read into a small buffer first and then
 * copied into the guest's receive buffers, so bytes are never taken from
 * the host before there is somewhere to put them for long: when the guest
 * has no receive buffer, the input fd is paused until it posts one.
 * VIRTIO_CONSOLE_F_EMERG_WRITE is offered: a write to emerg_wr prints one
 * character at once, from the vCPU thread (for early or dying guests).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/machine.h"
#include "tern/outbuf.h"
#include "tern/state.h"
#include "tern/iov.h"
#include "tern/virtio.h"
#include "tern/virtio_devices.h"

#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
#define CONSOLE_INPUT_BUF 4096

/* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
#define CONSOLE_CFG_MAX_NR_PORTS 4
#define CONSOLE_CFG_EMERG_WR 8
#define CONSOLE_CFG_SIZE 12

struct virtio_console {
	struct virtio_device *vdev;
	struct iothread *thread;
	int in_fd;
	struct outbuf *out; /* NULL discards output */
	uint8_t config[CONSOLE_CFG_SIZE];

	/* I/O thread state. */
	bool in_pollable; /* epoll can watch in_fd (not a regular file) */
	bool in_watched; /* in_fd is in the epoll set now */
	bool in_eof;
	uint8_t pending[CONSOLE_INPUT_BUF];
	size_t pending_off, pending_len;
	struct virtq_elem rx_elem, tx_elem;
	bool tx_held; /* tx_elem is popped, tx_off of its bytes are out */
	uint64_t tx_off;
};

/* ---- guest → host ---- */

/* Hand the held chain's bytes to the outbuf as far as it has room; true when all are out. */
static bool console_write_out(struct virtio_console *con)
{
	const struct virtq_elem *elem = &con->tx_elem;
	uint64_t skip = con->tx_off;

	if (!con->out)
		return true;
	for (unsigned int i = 0; i < elem->out_num; i++) {
		const uint8_t *p = elem->iov[i].iov_base;
		size_t len = elem->iov[i].iov_len, n;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		p += skip;
		len -= skip;
		skip = 0;
		n = outbuf_write(con->out, p, MIN(len, outbuf_room(con->out)));
		con->tx_off += n;
		if (n < len)
			return false;
	}
	return true;
}

/* Move transmit chains to the outbuf until the ring is empty or it is full. */
static void console_tx_drain(struct virtio_console *con)
{
	struct virtqueue *vq = con->vdev->queues[CONSOLE_TXQ];
	bool pushed = false;

	do {
		int ret = 1;

		virtq_disable_kicks(vq);
		for (;;) {
			if (!con->tx_held) {
				ret = virtq_pop(vq, &con->tx_elem);
				if (ret <= 0)
					break;
				con->tx_held = true;
				con->tx_off = 0;
			}
			if (!console_write_out(con))
				break; /* the room eventfd calls us again */
			virtq_push(vq, &con->tx_elem, 0);
			con->tx_held = false;
			pushed = true;
		}
		if (pushed)
			virtq_notify(vq);
		pushed = false;
		if (ret < 0 || con->tx_held)
			return;
	} while (virtq_enable_kicks(vq));
}

static void console_tx_kick(void *opaque, uint32_t events)
{
	struct virtio_console *con = opaque;

	efd_drain(virtq_kick_fd(con->vdev->queues[CONSOLE_TXQ]));
	console_tx_drain(con);
}

static void console_out_room(void *opaque, uint32_t events)
{
	struct virtio_console *con = opaque;

	efd_drain(outbuf_room_fd(con->out));
	if (con->tx_held)
		console_tx_drain(con);
}

/* ---- host → guest ---- */

static void console_pump(struct virtio_console *con, bool readable);

static void console_input_ready(void *opaque, uint32_t events)
{
	console_pump(opaque, true);
}

/*
 * Watch in_fd or not. Not watching means out of the epoll set, not just
 * no events: epoll reports a hang-up whatever the events, and a paused fd
 * that hung up would spin the thread.
 */
static void console_input_watch(struct virtio_console *con, bool on)
{
	if (!con->in_pollable || con->in_eof || con->in_watched == on)
		return;
	if (!on) {
		(void)iothread_del(con->thread, con->in_fd);
		con->in_watched = false;
	} else if (iothread_add(con->thread, con->in_fd, EPOLLIN,
				console_input_ready, con) == 0) {
		con->in_watched = true;
	}
}

/* Copy pending input into receive buffers; false when the guest has none. */
static bool console_deliver(struct virtio_console *con)
{
	struct virtqueue *vq = con->vdev->queues[CONSOLE_RXQ];
	struct virtq_elem *elem = &con->rx_elem;
	bool pushed = false, room = true;

	while (con->pending_len) {
		size_t done = 0;
		int ret = virtq_pop(vq, elem);

		if (ret < 0) {
			/* Broken ring (NEEDS_RESET): drop the input. */
			con->pending_len = 0;
			break;
		}
		if (ret == 0) {
			/* Ask for a kick; buffers may have come meanwhile. */
			if (virtq_enable_kicks(vq))
				continue;
			room = false;
			break;
		}
		done = iov_from_buf(elem->iov + elem->out_num, elem->in_num,
				    con->pending + con->pending_off,
				    con->pending_len);
		virtq_push(vq, elem, (uint32_t)done);
		pushed = true;
		con->pending_off += done;
		con->pending_len -= done;
		/* A chain with no writable buffer takes nothing; avoid spinning. */
		if (!done)
			break;
	}
	if (pushed)
		virtq_notify(vq);
	if (!con->pending_len)
		con->pending_off = 0;
	return room;
}

/* Read more host input if everything read so far is delivered. */
static void console_read_input(struct virtio_console *con)
{
	ssize_t n;

	if (con->pending_len || con->in_eof || con->in_fd < 0)
		return;
	n = read(con->in_fd, con->pending, sizeof(con->pending));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input (or an error that will not go away). */
		con->in_eof = true;
		if (con->in_watched)
			(void)iothread_del(con->thread, con->in_fd);
		con->in_watched = false;
		return;
	}
	con->pending_off = 0;
	con->pending_len = n;
}

/*
 * Move host input to the guest. A pollable in_fd is read only when epoll
 * said it is readable (readable): a read otherwise could block the thread,
 * and with it the device's reset. A regular file never blocks.
 */
static void console_pump(struct virtio_console *con, bool readable)
{
	for (;;) {
		if (readable || !con->in_pollable)
			console_read_input(con);
		readable = false;
		if (!con->pending_len)
			break;
		if (!console_deliver(con)) {
			/* No room: stop reading until the guest posts buffers. */
			console_input_watch(con, false);
			return;
		}
		/* A pollable fd: let epoll say when there is more. */
		if (con->in_pollable)
			break;
	}
	console_input_watch(con, true);
}

static void console_rx_kick(void *opaque, uint32_t events)
{
	struct virtio_console *con = opaque;
	uint64_t v;

	(void)!read(virtq_kick_fd(con->vdev->queues[CONSOLE_RXQ]), &v, sizeof(v));
	console_pump(con, false);
}

/* ---- device ---- */

static void console_unwatch(struct virtio_console *con)
{
	struct virtio_device *vdev = con->vdev;

	(void)iothread_del(con->thread, virtq_kick_fd(vdev->queues[CONSOLE_RXQ]));
	(void)iothread_del(con->thread, virtq_kick_fd(vdev->queues[CONSOLE_TXQ]));
	if (con->out)
		(void)iothread_del(con->thread, outbuf_room_fd(con->out));
	if (con->in_watched)
		(void)iothread_del(con->thread, con->in_fd);
	con->in_watched = false;
}

static int console_activate(struct virtio_device *vdev)
{
	struct virtio_console *con = vdev->priv;
	int ret;

	ret = iothread_add(con->thread, virtq_kick_fd(vdev->queues[CONSOLE_RXQ]),
			   EPOLLIN, console_rx_kick, con);
	if (!ret)
		ret = iothread_add(con->thread, virtq_kick_fd(vdev->queues[CONSOLE_TXQ]),
				   EPOLLIN, console_tx_kick, con);
	if (!ret && con->out)
		ret = iothread_add(con->thread, outbuf_room_fd(con->out), EPOLLIN,
				   console_out_room, con);
	if (!ret && con->in_fd >= 0 && !con->in_eof) {
		ret = iothread_add(con->thread, con->in_fd, EPOLLIN,
				   console_input_ready, con);
		if (ret == -EPERM) {
			/* A regular file or /dev/null: read on rx kicks. */
			con->in_pollable = false;
			ret = 0;
		} else if (!ret) {
			con->in_pollable = con->in_watched = true;
		}
	}
	if (ret) {
		console_unwatch(con);
		return ret;
	}
	iothread_start(con->thread);
	return 0;
}

static void console_reset(struct virtio_device *vdev)
{
	struct virtio_console *con = vdev->priv;

	iothread_stop(con->thread);
	console_unwatch(con);
	/* A held chain belonged to the old ring; input already read stays. */
	con->tx_held = false;
}

/*
 * Park the thread. A transmit chain held for lack of outbuf room is
 * completed with the rest of its bytes dropped, as the outbuf drops what a
 * reader does not take: a stopped (or migrating) VM must not keep a chain
 * half done.
 */
static int console_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct virtio_console *con = vdev->priv;
	struct virtqueue *vq = vdev->queues[CONSOLE_TXQ];

	iothread_stop(con->thread);
	if (con->tx_held) {
		tern_warn("virtio-console: %llu bytes of a held chain dropped at stop",
			  (unsigned long long)(con->tx_elem.out_len - con->tx_off));
		virtq_push(vq, &con->tx_elem, 0);
		virtq_notify(vq);
		con->tx_held = false;
	}
	return 0;
}

#define CONSOLE_STATE_VERSION 1

/* Host input read but not yet delivered goes with the state. */
static void console_save(struct virtio_device *vdev, const char *id,
			 struct state_writer *w)
{
	struct virtio_console *con = vdev->priv;

	state_section_begin(w, CONSOLE_STATE_VERSION, "%s/model", id);
	state_put_u32(w, (uint32_t)con->pending_len);
	state_put_bytes(w, con->pending + con->pending_off, con->pending_len);
	state_section_end(w);
}

static bool console_load(struct virtio_device *vdev, const char *id,
			 struct state_reader *r, GError **err)
{
	struct virtio_console *con = vdev->priv;
	uint8_t buf[CONSOLE_INPUT_BUF];
	uint32_t len;

	if (state_section_open(r, CONSOLE_STATE_VERSION, CONSOLE_STATE_VERSION,
			       NULL, "%s/model", id) &&
	    state_get_u32(r, &len) &&
	    state_check(r, len <= sizeof(buf),
			"%u bytes of pending input, at most %zu", len, sizeof(buf)))
		state_get_bytes(r, buf, len);
	if (!state_section_close(r, err))
		return false;
	memcpy(con->pending, buf, len);
	con->pending_off = 0;
	con->pending_len = len;
	return true;
}

static void console_resume(struct virtio_device *vdev)
{
	struct virtio_console *con = vdev->priv;

	iothread_start(con->thread);
	efd_signal(virtq_kick_fd(vdev->queues[CONSOLE_RXQ]));
	efd_signal(virtq_kick_fd(vdev->queues[CONSOLE_TXQ]));
}

static void console_config_write(struct virtio_device *vdev, uint64_t off,
				 const void *data, unsigned int len)
{
	struct virtio_console *con = vdev->priv;

	if (off == CONSOLE_CFG_EMERG_WR && len == 4 && con->out &&
	    virtio_has_feature(vdev, VIRTIO_CONSOLE_F_EMERG_WRITE))
		(void)outbuf_write(con->out, data, 1);
}

static void console_destroy(struct virtio_device *vdev)
{
	struct virtio_console *con = vdev->priv;

	iothread_destroy(con->thread);
	g_free(con);
}

static const struct virtio_device_ops console_ops = {
	.name = "virtio-console",
	.activate = console_activate,
	.reset = console_reset,
	.config_write = console_config_write,
	.destroy = console_destroy,
	.quiesce = console_quiesce,
	.resume = console_resume,
	.save = console_save,
	.load = console_load,
};

static struct virtio_device *virtio_console_create(struct machine *m,
						   int in_fd, GError **err)
{
	struct virtio_console *con = g_new0(struct virtio_console, 1);

	con->in_fd = in_fd;
	con->out = m->console_out;
	/* Without MULTIPORT only emerg_wr means anything; one port all the same. */
	con->config[CONSOLE_CFG_MAX_NR_PORTS] = 1;
	con->thread = iothread_create(m->threads, "io-console",
				     virtio_iothread_fault, &con->vdev, err);
	if (!con->thread)
		goto err;
	con->vdev = virtio_pci_create(m, &console_ops, con, VIRTIO_ID_CONSOLE,
				      1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE, 2,
				      con->config, sizeof(con->config), err);
	if (!con->vdev)
		goto err;
	return con->vdev;
err:
	iothread_destroy(con->thread);
	g_free(con);
	return NULL;
}

/* ---- registry ---- */

static unsigned int console_count(const struct vm_config *cfg)
{
	return cfg->console == CONSOLE_VIRTIO ? 1 : 0;
}

static void *console_device_create(struct machine *m, unsigned int index,
				   GError **err)
{
	return virtio_console_create(m, m->console_in_fd, err);
}

const struct device_type virtio_console_device_type = {
	.name = "virtio-console",
	.option = "--console virtio",
	.count = console_count,
	.create = console_device_create,
	.destroy = virtio_pci_device_destroy,
	.quiesce = virtio_pci_device_quiesce,
	.resume = virtio_pci_device_resume,
	.save = virtio_pci_device_save,
	.load = virtio_pci_device_load,
};
