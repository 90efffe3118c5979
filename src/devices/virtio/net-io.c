// SPDX-License-Identifier: MIT
/*
 * virtio-net's data path, one I/O thread per queue pair.
 *
 * Receive: the thread reads frames (header included) from the back-end:
 * with the pair's io_uring, a batch of up to NET_RX_BATCH RWF_NOWAIT
 * reads into staging slots per io_uring_enter() (rx_refill); without, one
 * read() into the pair's buffer. For each frame it checks the filter,
 * then pops receive chains until they hold it: one chain without
 * MRG_RXBUF, as many as it takes with it, pushed together with num_buffers in the header so the
 * driver never sees half a frame. When the guest has not posted enough,
 * the chains popped so far stay in hand, the frame waits, the back-end
 * fd leaves the epoll set and the thread sleeps until the driver kicks
 * the receive queue: the frame is never dropped for want of buffers, and
 * the tap queues up (then drops, as a full NIC would) what comes after.
 *
 * Transmit: up to NET_TX_BATCH chains are popped, each goes to the
 * back-end as one write straight from guest memory (header first, as the
 * tap expects it), and those done are pushed together. With the pair's
 * io_uring the whole batch is one io_uring_enter() (RWF_NOWAIT writev
 * SQEs, which a tap runs in order as they are submitted); without, one
 * writev() each. A back-end without room (EAGAIN) keeps the chains from
 * the first refused one on, in order, until the fd is writable. The ring
 * sends only to a tap whose socket has no send limit
 * (net_pair_ring_wanted): it never refuses a write for room, so frames
 * of a batch cannot pass each other there.
 *
 * Both sides keep the driver's kicks off while they work, interrupt once
 * per NET_NOTIFY_BATCH buffers, and yield after NET_BUDGET frames so that
 * one busy direction cannot starve the other.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tern/eventfd.h"
#include "tern/iov.h"
#include "tern/uring.h"

#include "net-internal.h"

#define STAT_ADD(field) __atomic_add_fetch(&(field), 1, __ATOMIC_RELAXED)

/* The pair cannot go on (err 0: the driver broke the protocol). */
static void pair_fault(struct net_pair *p, const char *what, int err)
{
	if (!p->stopped)
		virtio_device_needs_reset(p->net->vdev, "queue pair %u: %s%s%s",
					  p->index, what, err ? ": " : "",
					  err ? g_strerror(err) : "");
	p->stopped = true;
}

/* ---- the back-end fd in the thread's epoll set ---- */

static void pair_fd_ready(void *opaque, uint32_t events);

/*
 * Watch the fd for what the pair waits for: frames, unless the guest has
 * no room for the one in hand; room, while a transmit chain waits. Out of
 * the set when neither: epoll reports errors whatever the events.
 */
static void pair_fd_update(struct net_pair *p)
{
	uint32_t want = 0;
	int ret = 0;

	if (!p->stopped)
		want = (p->rx_blocked ? 0 : EPOLLIN) | (p->tx_count ? EPOLLOUT : 0);
	if (want == p->tap_events)
		return;
	if (!want)
		(void)iothread_del(p->thread, p->fd);
	else if (!p->tap_events)
		ret = iothread_add(p->thread, p->fd, want, pair_fd_ready, p);
	else
		ret = iothread_mod(p->thread, p->fd, want);
	if (ret) {
		(void)iothread_del(p->thread, p->fd);
		p->tap_events = 0;
		pair_fault(p, "cannot watch the back-end", -ret);
		return;
	}
	p->tap_events = want;
}

/* ---- the pair's io_uring ---- */

/* Tries of a refused io_uring_enter() before the pair gives its ring up. */
#define NET_RING_TRIES 100

/* Stop using the ring; the pair goes on with one system call per frame. */
static void ring_drop(struct net_pair *p, const char *why, int err)
{
	tern_warn("%s: queue pair %u: %s%s%s; one system call per frame from now on",
		  p->net->name, p->index, why, err ? ": " : "",
		  err ? g_strerror(err) : "");
	io_uring_queue_exit(p->ring);
	g_free(p->ring);
	p->ring = NULL;
	p->ring_tx = false;
}

/*
 * After the prep (which clears them): entry i of a batch is on the
 * back-end (fixed file 0) and never waits (RWF_NOWAIT: -EAGAIN instead of
 * a poll or a worker thread, so the kernel runs the batch in order, inside
 * the submission). Every SQE is reaped before the next batch: one is free.
 */
static void ring_sqe_finish(struct io_uring_sqe *sqe, unsigned int i)
{
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->rw_flags = RWF_NOWAIT;
	io_uring_sqe_set_data64(sqe, i);
}

/*
 * Submit the n SQEs prepped (0 to n-1) and reap them: res[i] as
 * read()/writev() would return it, -errno on failure. RWF_NOWAIT
 * requests complete inside the submission, so this is one system call.
 * false: the kernel took none of the batch and the ring was dropped.
 * Should it take only part and then keep refusing, the rest fail (-EIO)
 * and the ring is dropped after the part is reaped.
 */
static bool ring_run(struct net_pair *p, unsigned int n, int *res)
{
	unsigned int submitted = 0, tries = 0;
	bool drop = false;
	int ret = 0;

	for (unsigned int i = 0; i < n; i++)
		res[i] = -EIO;
	while (submitted < n) {
		ret = io_uring_submit(p->ring);
		if (ret > 0) {
			submitted += (unsigned int)ret;
			tries = 0;
			continue;
		}
		/* No memory for requests (-EAGAIN), completions to reap (-EBUSY). */
		if ((ret && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) ||
		    ++tries == NET_RING_TRIES) {
			drop = true;
			break;
		}
		sched_yield();
	}
	if (drop && !submitted) {
		ring_drop(p, "io_uring refused a batch", ret < 0 ? -ret : 0);
		return false;
	}
	for (unsigned int got = 0; got < submitted;) {
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe(p->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			/* The rest are the kernel's: they failed, as far as we know. */
			drop = true;
			break;
		}
		if (cqe->user_data < n)
			res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(p->ring, cqe);
		got++;
	}
	if (drop)
		ring_drop(p, "io_uring lost part of a batch", ret < 0 ? -ret : 0);
	return true;
}

/* ---- receive ---- */

static void rx_drop(struct net_pair *p)
{
	p->rx_len = 0;
	STAT_ADD(p->rx_dropped);
}

/* Take the guest's latest filter if it changed since we last looked. */
static void rx_filter_sync(struct net_pair *p)
{
	struct virtio_net *net = p->net;

	if (__atomic_load_n(&net->filter_gen, __ATOMIC_ACQUIRE) == p->filter_gen)
		return;
	pthread_mutex_lock(&net->lock);
	p->filter = net->ctrl.filter;
	p->filter_gen = net->filter_gen;
	pthread_mutex_unlock(&net->lock);
}

/* Is the frame in hand for this guest at all? */
static bool rx_wanted(struct net_pair *p)
{
	/* Shorter than an Ethernet header: no destination to look at. */
	if (p->rx_len < NET_VNET_HDR_LEN + 14)
		return false;
	if (!__atomic_load_n(&p->net->link_up, __ATOMIC_RELAXED))
		return false;
	rx_filter_sync(p);
	return virtio_net_filter_accept(&p->filter, p->rx_frame + NET_VNET_HDR_LEN);
}

/*
 * Read a batch of up to rx_want frames into the staging slots with one
 * io_uring_enter(). The reads run in order inside the submission, each
 * taking the back-end's next frame or finding it empty (-EAGAIN), so the
 * frames in the slots are in arrival order. The batch grows while every
 * read finds a frame and shrinks while most find none: a quiet link costs
 * one read per look, as read() would. false: nothing came (or the pair
 * broke, or the ring was dropped: rx_read then goes on with read()).
 */
static bool rx_refill(struct net_pair *p)
{
	unsigned int n = p->rx_want, got = 0;
	int err = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(p->ring);

		io_uring_prep_readv(sqe, 0, &p->rx_iov[i], 1, 0);
		ring_sqe_finish(sqe, i);
	}
	p->rx_next = p->rx_nslots = 0;
	if (!ring_run(p, n, p->rx_res))
		return false;
	for (unsigned int i = 0; i < n; i++) {
		if (p->rx_res[i] >= 0)
			got++;
		else if (p->rx_res[i] != -EAGAIN && !err)
			err = -p->rx_res[i];
	}
	if (got == n)
		p->rx_want = MIN(2 * n, NET_RX_BATCH);
	else if (2 * got < n)
		p->rx_want = MAX(n / 2, 1u);
	p->rx_nslots = n;
	if (err && !got) {
		/* As read(): a failure with nothing before it breaks the pair. */
		pair_fault(p, "reading the back-end failed", err);
		p->rx_nslots = 0;
	}
	return got > 0;
}

/* The next frame, through the ring or one read(); false when there is none. */
static bool rx_next_frame(struct net_pair *p)
{
	for (;;) {
		ssize_t n;

		if (p->ring) {
			while (p->rx_next < p->rx_nslots) {
				unsigned int slot = p->rx_next++;

				if (p->rx_res[slot] < 0)
					continue;
				p->rx_frame = p->rx_iov[slot].iov_base;
				p->rx_len = (size_t)p->rx_res[slot];
				return true;
			}
			if (rx_refill(p))
				continue;
			if (p->ring || p->stopped)
				return false;
			/* The ring was dropped: read() from now on. */
		}
		p->rx_frame = p->rx_buf;
		n = read(p->fd, p->rx_buf, VIRTIO_NET_MAX_BUFFER);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				pair_fault(p, "reading the back-end failed", errno);
			return false;
		}
		p->rx_len = (size_t)n;
		return true;
	}
}

/* Read frames until one is for the guest; false when the back-end is empty. */
static bool rx_read(struct net_pair *p)
{
	while (rx_next_frame(p)) {
		if (rx_wanted(p))
			return true;
		rx_drop(p);
	}
	return false;
}

unsigned int net_pair_rx_pending(const struct net_pair *p)
{
	unsigned int n = p->rx_len ? 1 : 0;

	for (unsigned int i = p->rx_next; i < p->rx_nslots; i++)
		n += p->rx_res[i] >= 0;
	return n;
}

/* Drop every frame read and not yet delivered (a reset, a settle). */
static void rx_drop_pending(struct net_pair *p)
{
	if (p->rx_len)
		rx_drop(p);
	for (; p->rx_next < p->rx_nslots; p->rx_next++)
		if (p->rx_res[p->rx_next] >= 0)
			STAT_ADD(p->rx_dropped);
	p->rx_next = p->rx_nslots = 0;
}

enum rx_room {
	RX_ROOM, /* enough chains in hand */
	RX_NO_ROOM, /* the ring ran dry: wait for the driver */
	RX_TOO_SMALL, /* one chain, MRG_RXBUF off, shorter than the frame */
	RX_NEVER, /* every descriptor of the ring cannot hold the frame */
	RX_BROKEN, /* NEEDS_RESET */
};

/* Descriptors of the ring the chains in hand hold. */
static unsigned int rx_held_descs(const struct net_pair *p)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < p->rx_held; i++)
		n += p->rx_elems[i].ndesc ? p->rx_elems[i].ndesc : 1;
	return n;
}

/* Chains in hand enough for need bytes; *count of them make the frame. */
static enum rx_room rx_gather(struct net_pair *p, size_t need, bool mrg,
			      unsigned int *count)
{
	uint64_t have = 0;

	for (unsigned int i = 0;; i++) {
		if (i == p->rx_held) {
			struct virtq_elem *e = &p->rx_elems[i];
			int ret;

			if (i == VIRTQ_MAX_SIZE)
				return RX_NEVER;
			ret = virtq_pop(p->rxq, e);
			if (ret < 0)
				return RX_BROKEN;
			if (!ret)
				return rx_held_descs(p) >= virtq_layout(p->rxq)->size ?
					       RX_NEVER : RX_NO_ROOM;
			if (!e->in_len) {
				pair_fault(p, "a receive chain without device-writable buffers",
					   0);
				return RX_BROKEN;
			}
			p->rx_held++;
		}
		have += p->rx_elems[i].in_len;
		if (!mrg) {
			*count = 1;
			return have >= need ? RX_ROOM : RX_TOO_SMALL;
		}
		if (have >= need) {
			*count = i + 1;
			return RX_ROOM;
		}
	}
}

/* Copy the frame into the first count chains in hand and push them at once. */
static void rx_deliver(struct net_pair *p, unsigned int count, bool mrg)
{
	struct virtio_net_hdr *h = (struct virtio_net_hdr *)p->rx_frame;
	const struct virtq_elem *elems[VIRTQ_MAX_SIZE];
	uint32_t written[VIRTQ_MAX_SIZE];
	const uint8_t *src = p->rx_frame;
	size_t left = p->rx_len;

	h->num_buffers = htole16(mrg ? count : 1);
	/* 5.1.6.4.1: without GUEST_CSUM the flags must be zero. */
	if (!(__atomic_load_n(&p->net->offloads_now, __ATOMIC_RELAXED) &
	      (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		h->flags = 0;
	for (unsigned int i = 0; i < count; i++) {
		const struct virtq_elem *e = &p->rx_elems[i];
		size_t n = iov_from_buf(e->iov + e->out_num, e->in_num, src, left);

		elems[i] = e;
		written[i] = (uint32_t)n;
		src += n;
		left -= n;
	}
	virtq_push_batch(p->rxq, elems, written, count);
	p->rx_held -= count;
	/* Chains left over (after a frame that could never fit) move up. */
	if (p->rx_held)
		memmove(p->rx_elems, p->rx_elems + count,
			p->rx_held * sizeof(p->rx_elems[0]));
	p->rx_len = 0;
	STAT_ADD(p->rx_frames);
}

/*
 * Move frames from the back-end into the guest until budget frames are
 * done, the back-end is empty (false) or the guest has no room
 * (rx_blocked). *pushed counts buffers used since the last interrupt.
 */
static unsigned int rx_batch(struct net_pair *p, unsigned int budget,
			     unsigned int *pushed)
{
	bool mrg = virtio_has_feature(p->net->vdev, VIRTIO_NET_F_MRG_RXBUF);
	unsigned int frames = 0;

	/* Buffers may have come: look again (the frame in hand first). */
	p->rx_blocked = false;
	while (frames < budget && !p->stopped) {
		unsigned int count = 0;
		enum rx_room room;

		if (!p->rx_len && !rx_read(p))
			break;
		room = rx_gather(p, p->rx_len, mrg, &count);
		if (room == RX_NO_ROOM) {
			p->rx_blocked = true;
			break;
		}
		if (room == RX_BROKEN) {
			p->stopped = true;
			break;
		}
		if (room == RX_TOO_SMALL) {
			/* The driver's fault (5.1.6.3.1): as QEMU, drop the frame, keep the chain. */
			virtq_unpop(p->rxq, &p->rx_elems[--p->rx_held]);
			rx_drop(p);
			continue;
		}
		if (room == RX_NEVER) {
			/* The chains stay in hand for the frames after it. */
			tern_debug("%s: queue pair %u: a %zu-byte frame is larger than the whole receive ring; dropped",
				   p->net->name, p->index, p->rx_len);
			rx_drop(p);
			continue;
		}
		rx_deliver(p, count, mrg);
		frames++;
		*pushed += count;
		if (*pushed >= NET_NOTIFY_BATCH) {
			virtq_notify(p->rxq);
			*pushed = 0;
		}
	}
	return frames;
}

/* ---- transmit ---- */

/* Write tx_elems[0, n) through the ring; false: it was dropped, nothing went. */
static bool tx_write_ring(struct net_pair *p, unsigned int n, int *res)
{
	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(p->ring);
		const struct virtq_elem *e = &p->tx_elems[i];

		io_uring_prep_writev(sqe, 0, e->iov, e->out_num, 0);
		ring_sqe_finish(sqe, i);
	}
	return ring_run(p, n, res);
}

/* The same with one writev() each, stopping at the first EAGAIN. */
static void tx_write_plain(struct net_pair *p, unsigned int n, int *res)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct virtq_elem *e = &p->tx_elems[i];
		ssize_t ret;

		do {
			ret = writev(p->fd, e->iov, (int)e->out_num);
		} while (ret < 0 && errno == EINTR);
		res[i] = ret < 0 ? -errno : 0;
		if (res[i] == -EAGAIN) {
			for (i++; i < n; i++)
				res[i] = -EAGAIN;
			return;
		}
	}
}

/*
 * Send the chains in hand and push those done (sent, or refused for good:
 * lost, like on a wire); those the back-end had no room for stay in hand,
 * in order. final: they are lost too. Returns the chains pushed.
 */
static unsigned int tx_flush(struct net_pair *p, unsigned int *pushed, bool final)
{
	const struct virtq_elem *done[NET_TX_BATCH];
	uint32_t written[NET_TX_BATCH] = { 0 };
	int res[NET_TX_BATCH];
	unsigned int n = p->tx_count, ndone = 0, kept = 0;

	if (!__atomic_load_n(&p->net->link_up, __ATOMIC_RELAXED)) {
		/* Link down: the frames go nowhere, the chains complete. */
		for (unsigned int i = 0; i < n; i++)
			res[i] = 0;
	} else if (!p->ring_tx || !tx_write_ring(p, n, res)) {
		tx_write_plain(p, n, res);
	}
	for (unsigned int i = 0; i < n; i++) {
		if (res[i] == -EAGAIN && !final)
			continue;
		if (res[i] >= 0) {
			STAT_ADD(p->tx_frames);
		} else {
			/* A header the tap refuses, the interface down: lost, like on a wire. */
			STAT_ADD(p->tx_errors);
			tern_debug("%s: queue pair %u: a %llu-byte frame was refused: %s",
				   p->net->name, p->index,
				   (unsigned long long)p->tx_elems[i].out_len,
				   g_strerror(-res[i]));
		}
		done[ndone++] = &p->tx_elems[i];
	}
	if (ndone)
		virtq_push_batch(p->txq, done, written, ndone);
	/* What had no room moves up, in order. */
	for (unsigned int i = 0; i < n; i++) {
		if (res[i] != -EAGAIN || final)
			continue;
		if (kept != i)
			p->tx_elems[kept] = p->tx_elems[i];
		kept++;
	}
	p->tx_count = kept;
	*pushed += ndone;
	if (*pushed >= NET_NOTIFY_BATCH) {
		virtq_notify(p->txq);
		*pushed = 0;
	}
	return ndone;
}

/*
 * Send chains until budget frames are done, the ring is empty or the
 * back-end has no room (chains left in hand). *pushed as for rx_batch().
 */
static unsigned int tx_batch(struct net_pair *p, unsigned int budget,
			     unsigned int *pushed)
{
	unsigned int frames = 0;

	while (frames < budget && !p->stopped) {
		while (p->tx_count < NET_TX_BATCH) {
			struct virtq_elem *e = &p->tx_elems[p->tx_count];
			int ret = virtq_pop(p->txq, e);

			if (ret < 0)
				p->stopped = true;
			if (ret <= 0)
				break;
			if (e->out_len < NET_VNET_HDR_LEN) {
				/* As QEMU: a frame without its header breaks the protocol. */
				pair_fault(p, "a transmit chain shorter than the virtio-net header",
					   0);
				break;
			}
			p->tx_count++;
		}
		if (p->stopped || !p->tx_count)
			break;
		frames += tx_flush(p, pushed, false);
		if (p->tx_count)
			break; /* the fd's EPOLLOUT brings us back */
	}
	return frames;
}

/* ---- the pair's loop ---- */

unsigned int net_pair_pass(struct net_pair *p, unsigned int *rx_pushed,
			   unsigned int *tx_pushed)
{
	unsigned int work;

	/*
	 * Always: a chain held for want of room goes first (tx_batch tries
	 * it again), else the EPOLLOUT that brings us back would send nothing
	 * and the transmit queue would stall for good.
	 */
	work = tx_batch(p, NET_BUDGET, tx_pushed);
	work += rx_batch(p, NET_BUDGET, rx_pushed);
	return work;
}

static uint64_t net_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Work both directions until neither has any: driver kicks off while
 * busy, one interrupt per NET_NOTIFY_BATCH buffers and before any pause.
 * Then, for NET_POLL_NS, keep looking (the transmit ring, the tap, the
 * receive ring when the guest had no room) before asking for kicks again
 * and sleeping: a guest that keeps its rings busy then never waits for a
 * wake-up, which on a loaded host costs far more than the frames. Yield
 * after NET_RUN_NS so the stop request and the other fds get a turn.
 */
static void pair_run(struct net_pair *p)
{
	uint64_t start = 0, idle_since = 0;
	unsigned int rx_pushed = 0, tx_pushed = 0, spins = 0;
	bool tx_more, rx_more;

	if (p->stopped)
		return;
	virtq_disable_kicks(p->rxq);
	virtq_disable_kicks(p->txq);
	for (;;) {
		unsigned int work = net_pair_pass(p, &rx_pushed, &tx_pushed);

		if (p->stopped)
			break;
		if (work) {
			idle_since = 0;
			if (!start)
				start = net_now_ns();
			else if (++spins % 16 == 0 && net_now_ns() - start > NET_RUN_NS) {
				/* Come straight back after the other fds had a turn. */
				efd_signal(virtq_kick_fd(p->txq));
				break;
			}
			continue;
		}
		if (rx_pushed)
			virtq_notify(p->rxq);
		if (tx_pushed)
			virtq_notify(p->txq);
		rx_pushed = tx_pushed = 0;
		/* A transmit chain waiting for room is the fd's to wake us for. */
		if (!p->tx_count) {
			uint64_t now = net_now_ns();

			if (!idle_since)
				idle_since = now;
			if (now - idle_since < NET_POLL_NS) {
				__builtin_ia32_pause();
				continue;
			}
		}
		/*
		 * Sleep: kicks on (on both rings, so no short circuit), and a
		 * last look for what came meanwhile.
		 */
		tx_more = virtq_enable_kicks(p->txq);
		rx_more = p->rx_blocked && virtq_enable_kicks(p->rxq);
		if (tx_more || rx_more) {
			virtq_disable_kicks(p->txq);
			virtq_disable_kicks(p->rxq);
			idle_since = 0;
			continue;
		}
		break;
	}
	if (rx_pushed)
		virtq_notify(p->rxq);
	if (tx_pushed)
		virtq_notify(p->txq);
	pair_fd_update(p);
}

/* ---- callbacks ---- */

static void pair_fd_ready(void *opaque, uint32_t events)
{
	pair_run(opaque);
}

static void pair_rx_kick(void *opaque, uint32_t events)
{
	struct net_pair *p = opaque;

	efd_drain(virtq_kick_fd(p->rxq));
	pair_run(p);
}

static void pair_tx_kick(void *opaque, uint32_t events)
{
	struct net_pair *p = opaque;

	efd_drain(virtq_kick_fd(p->txq));
	pair_run(p);
}

/* ---- buffers and the ring (set-up, before the sandbox) ---- */

bool net_pair_ring_wanted(int fd)
{
	int sndbuf = 0;

	/* tern's own taps, and a launcher's left as made (TUNSETSNDBUF not called). */
	return ioctl(fd, TUNGETSNDBUF, &sndbuf) == 0 && sndbuf == INT_MAX;
}

/*
 * An io_uring that may only read and write p->fd, registered as fixed
 * file 0 (an fget/fput less per frame: 1.27 against 0.99 Mpps here). The
 * ring's own teardown is asynchronous and would keep the tap attached for
 * a while after tern exits, refusing the next VMM (EBUSY):
 * net_pair_free() unregisters the file first, the one register call the
 * ring allows.
 */
static int pair_ring_init(struct net_pair *p)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV };
	struct io_uring *ring = g_new0(struct io_uring, 1);
	struct iovec none = { p->rx_buf, 0 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	/* No SQPOLL: it would burn one of our two cores. */
	ret = io_uring_queue_init(MAX(NET_TX_BATCH, NET_RX_BATCH), ring,
				  IORING_SETUP_R_DISABLED);
	if (ret < 0) {
		g_free(ring);
		return ret;
	}
	ret = io_uring_register_files(ring, &p->fd, 1);
	if (!ret)
		ret = tern_uring_restrict(ring, ops, G_N_ELEMENTS(ops),
					  IOSQE_FIXED_FILE, true);
	/*
	 * Can the back-end do RWF_NOWAIT? An empty read answers 0 without
	 * taking a frame if so, -EOPNOTSUPP or -EAGAIN if not (then every
	 * read and write through the ring would fail so).
	 */
	if (!ret) {
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_readv(sqe, 0, &none, 1, 0);
		ring_sqe_finish(sqe, 0);
		ret = io_uring_submit_and_wait(ring, 1);
		if (ret >= 0)
			ret = io_uring_wait_cqe(ring, &cqe);
		if (!ret) {
			ret = cqe->res ? (cqe->res < 0 ? cqe->res : -EIO) : 0;
			io_uring_cqe_seen(ring, cqe);
		}
	}
	if (ret < 0) {
		io_uring_queue_exit(ring);
		g_free(ring);
		return ret;
	}
	p->ring = ring;
	return 0;
}

void net_pair_alloc(struct net_pair *p, bool ring, bool ring_tx)
{
	int ret;

	p->rx_buf = g_malloc(VIRTIO_NET_MAX_BUFFER);
	p->rx_frame = p->rx_buf;
	/* Pages are only touched by a guest posting tiny buffers. */
	p->rx_elems = g_new(struct virtq_elem, VIRTQ_MAX_SIZE);
	p->tx_elems = g_new(struct virtq_elem, NET_TX_BATCH);
	p->ring = NULL;
	p->ring_tx = false;
	p->rx_stage = NULL;
	p->rx_next = p->rx_nslots = 0;
	p->rx_want = 1;
	if (!ring)
		return;
	ret = pair_ring_init(p);
	if (ret < 0) {
		tern_debug("%s: queue pair %u: no io_uring (%s): one system call per frame",
			   p->net->name, p->index, g_strerror(-ret));
		return;
	}
	p->ring_tx = ring_tx;
	/* Only the pages frames land in are touched: 2 MiB of address space. */
	p->rx_stage = g_malloc((size_t)NET_RX_BATCH * VIRTIO_NET_MAX_BUFFER);
	for (unsigned int i = 0; i < NET_RX_BATCH; i++) {
		p->rx_iov[i].iov_base = p->rx_stage + (size_t)i * VIRTIO_NET_MAX_BUFFER;
		p->rx_iov[i].iov_len = VIRTIO_NET_MAX_BUFFER;
	}
}

void net_pair_free(struct net_pair *p)
{
	if (p->ring) {
		/* Synchronous, unlike the ring's teardown: the tap is free at our exit. */
		(void)io_uring_unregister_files(p->ring);
		io_uring_queue_exit(p->ring);
		g_free(p->ring);
		p->ring = NULL;
	}
	g_free(p->rx_buf);
	g_free(p->rx_stage);
	g_free(p->rx_elems);
	g_free(p->tx_elems);
	p->rx_buf = NULL;
	p->rx_stage = NULL;
	p->rx_elems = NULL;
	p->tx_elems = NULL;
}

/* ---- life cycle (control threads, the pair's thread stopped) ---- */

void net_pair_clear(struct net_pair *p)
{
	p->stopped = false;
	p->rx_blocked = false;
	p->tx_count = 0;
	p->rx_len = 0;
	p->rx_next = p->rx_nslots = 0;
	p->rx_held = 0;
	p->filter_gen = __atomic_load_n(&p->net->filter_gen, __ATOMIC_ACQUIRE) - 1;
}

int net_pair_start(struct net_pair *p)
{
	int ret;

	net_pair_clear(p);
	p->use_vhost = net_vhost_start(p);
	if (p->use_vhost) {
		p->running = true;
		return 0;
	}
	ret = iothread_add(p->thread, virtq_kick_fd(p->rxq), EPOLLIN,
			   pair_rx_kick, p);
	if (!ret)
		ret = iothread_add(p->thread, virtq_kick_fd(p->txq), EPOLLIN,
				   pair_tx_kick, p);
	if (!ret) {
		pair_fd_update(p);
		ret = p->stopped ? -EIO : 0;
	}
	if (ret) {
		(void)iothread_del(p->thread, virtq_kick_fd(p->rxq));
		(void)iothread_del(p->thread, virtq_kick_fd(p->txq));
		(void)iothread_del(p->thread, p->fd);
		p->tap_events = 0;
		return ret;
	}
	p->running = true;
	iothread_start(p->thread);
	/* Buffers made available before we started, without a kick. */
	efd_signal(virtq_kick_fd(p->rxq));
	efd_signal(virtq_kick_fd(p->txq));
	return 0;
}

void net_pair_settle(struct net_pair *p)
{
	if (p->vhost_running) {
		net_vhost_stop(p);
		return;
	}
	if (p->tx_count) {
		unsigned int pushed = 0;

		/* One last try; what the back-end still refuses is lost. */
		(void)tx_flush(p, &pushed, true);
		virtq_notify(p->txq);
	}
	/* Newest first, so the ring is as the driver left it. */
	while (p->rx_held)
		virtq_unpop(p->rxq, &p->rx_elems[--p->rx_held]);
	rx_drop_pending(p);
	p->rx_blocked = false;
	pair_fd_update(p);
}

void net_pair_stop(struct net_pair *p, bool give_back)
{
	if (!p->running)
		return;
	iothread_stop(p->thread);
	if (p->vhost_running)
		net_vhost_stop(p);
	else if (give_back)
		net_pair_settle(p);
	(void)iothread_del(p->thread, virtq_kick_fd(p->rxq));
	(void)iothread_del(p->thread, virtq_kick_fd(p->txq));
	if (p->tap_events)
		(void)iothread_del(p->thread, p->fd);
	p->tap_events = 0;
	/* After a reset the rings are gone: what was in hand goes with them. */
	p->rx_held = 0;
	p->rx_len = 0;
	p->rx_next = p->rx_nslots = 0;
	p->tx_count = 0;
	p->running = false;
}

void net_pair_resume(struct net_pair *p)
{
	if (!p->running)
		return;
	/* Quiesce took the rings back from vhost-net: hand them over again. */
	if (p->use_vhost) {
		if (!net_vhost_start(p))
			pair_fault(p, "vhost-net refused the rings back", EIO);
		return;
	}
	iothread_start(p->thread);
	efd_signal(virtq_kick_fd(p->rxq));
	efd_signal(virtq_kick_fd(p->txq));
}
