// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2, 5.3) with a single port and no MULTIPORT:
 * queue 0 (receiveq) carries host input to the guest, queue 1 (transmitq)
 * the guest's output. Linux names the port hvc0.
 *
 * Everything runs on the device's I/O thread: transmit kicks write the
 * buffers to out_fd; host input is read into a small buffer first and then
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

#include "tern/iothread.h"
#include "tern/machine.h"
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
	int in_fd, out_fd;
	uint8_t config[CONSOLE_CFG_SIZE];

	/* I/O thread state. */
	bool in_pollable; /* epoll can watch in_fd (not a regular file) */
	bool in_watched; /* in_fd is in the epoll set now */
	bool in_eof;
	uint8_t pending[CONSOLE_INPUT_BUF];
	size_t pending_off, pending_len;
	struct virtq_elem rx_elem, tx_elem;
};

/* ---- guest → host ---- */

static void console_write_out(struct virtio_console *con,
			      const struct virtq_elem *elem)
{
	if (con->out_fd < 0)
		return;
	for (unsigned int i = 0; i < elem->out_num; i++)
		if (write_full(con->out_fd, elem->iov[i].iov_base,
			       elem->iov[i].iov_len))
			return; /* the reader went away: drop output */
}

static void console_tx_kick(void *opaque, uint32_t events)
{
	struct virtio_console *con = opaque;
	struct virtqueue *vq = con->vdev->queues[CONSOLE_TXQ];
	uint64_t v;

	(void)!read(virtq_kick_fd(vq), &v, sizeof(v));
	do {
		int ret;

		virtq_disable_kicks(vq);
		while ((ret = virtq_pop(vq, &con->tx_elem)) > 0) {
			console_write_out(con, &con->tx_elem);
			virtq_push(vq, &con->tx_elem, 0);
		}
		virtq_notify(vq);
		if (ret < 0)
			return;
	} while (virtq_enable_kicks(vq));
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
	if (!ret)
		ret = iothread_start(con->thread);
	if (ret) {
		console_unwatch(con);
		return ret;
	}
	return 0;
}

static void console_reset(struct virtio_device *vdev)
{
	struct virtio_console *con = vdev->priv;

	iothread_stop(con->thread);
	console_unwatch(con);
	/* Input already read stays for the next driver. */
}

static void console_config_write(struct virtio_device *vdev, uint64_t off,
				 const void *data, unsigned int len)
{
	struct virtio_console *con = vdev->priv;

	if (off == CONSOLE_CFG_EMERG_WR && len == 4 && con->out_fd >= 0 &&
	    virtio_has_feature(vdev, VIRTIO_CONSOLE_F_EMERG_WRITE))
		(void)!write_full(con->out_fd, data, 1);
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
};

struct virtio_console *virtio_console_create(struct machine *m, int in_fd,
					     int out_fd, GError **err)
{
	struct virtio_console *con = g_new0(struct virtio_console, 1);

	con->in_fd = in_fd;
	con->out_fd = out_fd;
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
	return con;
err:
	iothread_destroy(con->thread);
	g_free(con);
	return NULL;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (con)
		virtio_pci_destroy(con->vdev); /* console_destroy frees con */
}
