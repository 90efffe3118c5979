// SPDX-License-Identifier: MIT
/*
 * A vhost-user back-end as a hostile one answers (docs/security.md): the
 * front-end's device layer (src/vhost-user/dev.c, rings.c, conn.c,
 * msg.c) talks over a socketpair whose other end already holds the whole
 * rest of the input as the back-end's bytes, then the end of the stream;
 * with a mode bit, a 4 KiB memfd rides on the first byte (what
 * GET_INFLIGHT_FD hands over, or an fd where none belongs). The device is
 * a virtio device on plain guest memory with some of its rings started,
 * their used indices from the input. The front-end's operations come from
 * the input too: negotiate, hand the rings over, take them back, reset,
 * enable queue pairs, move the interrupts, read the config space, resume
 * at the used indices, start as a driver's DRIVER_OK does.
 *
 *   - no crash, no read outside guest memory, no signal (such as the
 *     SIGBUS a reset raised when it cleared the inflight buffer through a
 *     mapping of a back-end's short file, before 52e1bf1);
 *   - no fd left open once the device is torn down (counted in
 *     /proc/self/fd), whatever the replies and fds;
 *   - the rings are never the back-end's while the socket is broken,
 *     and the enabled rings stay within the rings handed over.
 *
 * Input: u8 mode (bit 0: the memfd on the stream; bit 1: the device
 * active), u64 the back-end's features, u64 its protocol features (kept
 * only where tern wants them), u8 rings started (0..NQ), u8 rings
 * enabled, NQ x u16 used indices, u8 operation count (1..16), the
 * operations, then the back-end's bytes.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/fdpass.h"
#include "tern/vhost-user.h"
#include "tern/virtio.h"
#include "fuzz.h"
#include "vhost-user-internal.h"

#define NQ 4
#define QSIZE 16
#define RING(q) (0x10000ULL + 0x4000ULL * (q))
#define RAM (1ULL << 20)
#define MAX_OPS 16

static int call_fds[NQ], err_fds[NQ];

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	FUZZ_CHECK(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* The interrupts' eventfds outlive every input: not counted. */
	for (unsigned int i = 0; i < NQ; i++) {
		call_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		err_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		FUZZ_CHECK(call_fds[i] >= 0 && err_fds[i] >= 0);
	}
	return 0;
}

static int d_activate(struct virtio_device *vdev)
{
	return 0;
}

static void d_reset(struct virtio_device *vdev)
{
}

static const struct virtio_device_ops d_ops = {
	.name = "vhost-user-fuzz",
	.activate = d_activate,
	.reset = d_reset,
};

/* A driver that started rings [0, started) and set DRIVER_OK. */
static void device_up(struct virtio_device *vdev, struct guest_memory *mem,
		      struct fuzz_irqs *irqs, unsigned int started,
		      const uint16_t *used)
{
	const uint64_t f = 1ULL << VIRTIO_F_VERSION_1;
	const uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	FUZZ_CHECK(!virtio_device_init(vdev, mem, &d_ops, NULL, VIRTIO_ID_NET, f,
				       NQ, QSIZE, NULL, 0));
	fuzz_transport_attach(vdev, irqs);
	virtio_device_set_status(vdev, s);
	virtio_device_set_driver_features(vdev, 0, (uint32_t)f);
	virtio_device_set_driver_features(vdev, 1, (uint32_t)(f >> 32));
	virtio_device_set_status(vdev, s | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < started; q++) {
		uint16_t *idx = guest_memory_ptr(mem, RING(q) + 0x2000 + 2, 2);

		*idx = htole16(used[q]);
		*virtq_layout(vdev->queues[q]) = (struct virtq_layout){
			.size = QSIZE,
			.enabled = true,
			.desc = RING(q),
			.driver = RING(q) + 0x1000,
			.device = RING(q) + 0x2000,
		};
	}
	virtio_device_set_status(vdev, s | VIRTIO_STATUS_FEATURES_OK |
					       VIRTIO_STATUS_DRIVER_OK);
}

/* The back-end's side: every byte at once, the memfd on the first. */
static void backend_send(int peer, const uint8_t *p, size_t len, int fd)
{
	/* Within the socket's buffer (-max_len): nothing waits. */
	FUZZ_CHECK(!len || fdpass_send(peer, p, len, &fd, fd >= 0,
				       MSG_NOSIGNAL) == (ssize_t)len);
	shutdown(peer, SHUT_WR);
}

static void operate(struct vhost_user_dev *d, uint8_t op)
{
	uint8_t config[64];
	const char *what;
	int ret;

	switch (op % 9) {
	case 0:
		pthread_mutex_lock(&d->lock);
		ret = vhost_user_conn_negotiate(&d->conn);
		if (ret)
			vhost_user_dev_fail(d, "negotiation", ret);
		pthread_mutex_unlock(&d->lock);
		break;
	case 1:
		pthread_mutex_lock(&d->lock);
		if (!d->broken && !d->running) {
			ret = vhost_user_dev_rings_start(d, &what);
			if (ret)
				vhost_user_dev_fail(d, what, ret);
		}
		pthread_mutex_unlock(&d->lock);
		break;
	case 2:
	case 3:
		vhost_user_dev_stop(d, op % 9 == 3);
		break;
	case 4:
		pthread_mutex_lock(&d->lock);
		vhost_user_dev_enable(d, (op >> 4) % (NQ + 1));
		pthread_mutex_unlock(&d->lock);
		break;
	case 5:
		pthread_mutex_lock(&d->lock);
		ret = d->running ? vhost_user_dev_calls_update(d) : 0;
		if (ret)
			vhost_user_dev_fail(d, "SET_VRING_CALL", ret);
		pthread_mutex_unlock(&d->lock);
		break;
	case 6:
		(void)vhost_user_dev_get_config(d, config,
						1 + (op >> 4) % sizeof(config));
		break;
	case 7:
		pthread_mutex_lock(&d->lock);
		vhost_user_dev_bases_from_used(d);
		pthread_mutex_unlock(&d->lock);
		break;
	case 8:
		vhost_user_dev_start(d);
		break;
	}
	FUZZ_CHECK(!(d->running && d->broken));
	FUZZ_CHECK(d->nr_enabled <= d->nr_queues);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	static struct guest_memory mem;
	struct virtio_device vdev;
	struct vhost_user_dev d;
	struct fuzz_irqs irqs = { 0 };
	uint8_t ops[MAX_OPS], mode;
	uint16_t used[NQ];
	unsigned int started, nops;
	int fds_before = count_fds(), sv[2], file = -1;

	mode = fuzz_u8(&in);
	memset(&d, 0, sizeof(d));
	d.conn.features = fuzz_u64(&in);
	d.conn.protocol = fuzz_u64(&in) & VHOST_USER_PROTOCOL_WANTED;
	started = fuzz_u8(&in) % (NQ + 1);
	d.nr_enabled = fuzz_u8(&in) % (NQ + 1);
	for (unsigned int q = 0; q < NQ; q++)
		used[q] = fuzz_u16(&in);
	nops = 1 + fuzz_u8(&in) % MAX_OPS;
	for (unsigned int i = 0; i < nops; i++)
		ops[i] = fuzz_u8(&in);

	FUZZ_CHECK(!fuzz_memory_init(&mem, RAM));
	device_up(&vdev, &mem, &irqs, started, used);
	FUZZ_CHECK(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       0, sv));
	if (mode & 1) {
		file = memfd_create("inflight", MFD_CLOEXEC);
		FUZZ_CHECK(file >= 0 && !ftruncate(file, 4096));
	}
	backend_send(sv[1], in.p, in.len, file);
	if (file >= 0)
		close(file); /* the stream holds it now, if anything does */

	pthread_mutex_init(&d.lock, NULL);
	d.name = "vhost-user-fuzz";
	d.path = "fuzz.sock";
	d.vdev = &vdev;
	d.nr_queues = d.max_queues = NQ;
	d.nr_enabled = MIN(d.nr_enabled, d.nr_queues);
	d.rings_per_queue = 2;
	d.inflight_fd = d.timer_fd = d.event_fd = -1;
	d.active = mode & 2;
	d.conn.fd = sv[0];
	d.conn.timeout_ms = 100;
	for (unsigned int q = 0; q < NQ; q++) {
		d.call_fd[q] = d.sent_call[q] = call_fds[q];
		d.err_fd[q] = err_fds[q];
	}

	for (unsigned int i = 0; i < nops; i++)
		operate(&d, ops[i]);

	if (d.inflight_fd >= 0)
		close(d.inflight_fd);
	vhost_user_conn_close(&d.conn);
	close(sv[1]);
	pthread_mutex_destroy(&d.lock);
	virtio_device_cleanup(&vdev);
	fuzz_memory_destroy(&mem);
	for (unsigned int q = 0; q < NQ; q++)
		eventfd_read(call_fds[q], &(eventfd_t){ 0 });
	FUZZ_CHECK(count_fds() == fds_before);
	return 0;
}
