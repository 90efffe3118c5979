// SPDX-License-Identifier: MIT
/*
 * The tap back-end: /dev/net/tun in IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
 * mode, so every frame comes and goes behind a virtio-net header that the
 * kernel fills (checksum and segmentation offloads towards the guest) and
 * honours (the guest's offloads). With queues > 1 the tap is multi-queue:
 * one fd per queue pair, each served by its own I/O thread, and the
 * kernel spreads flows over the attached ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "tern/error.h"
#include "tern/net.h"

_Static_assert(NET_TUN_F_CSUM == TUN_F_CSUM && NET_TUN_F_TSO4 == TUN_F_TSO4 &&
		       NET_TUN_F_TSO6 == TUN_F_TSO6 &&
		       NET_TUN_F_TSO_ECN == TUN_F_TSO_ECN &&
		       NET_TUN_F_UFO == TUN_F_UFO,
	       "NET_TUN_F_* are the kernel's TUN_F_*");

#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

struct tap {
	struct net_backend be;
	bool multi_queue;
	bool attached[NET_MAX_QUEUES];
};

static int tap_set_offload(void *opaque, unsigned int flags)
{
	struct tap *t = opaque;

	return ioctl(t->be.fds[0], TUNSETOFFLOAD, (unsigned long)flags) ? -errno : 0;
}

static int tap_set_queue(void *opaque, unsigned int q, bool enabled)
{
	struct tap *t = opaque;
	struct ifreq ifr = { 0 };

	if (!t->multi_queue || q >= t->be.nr_queues || t->attached[q] == enabled)
		return 0;
	ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(t->be.fds[q], TUNSETQUEUE, &ifr))
		return -errno;
	t->attached[q] = enabled;
	return 0;
}

static void tap_close(void *opaque);

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.set_offload = tap_set_offload,
	.set_queue = tap_set_queue,
	.close = tap_close,
};

static struct tap *tap_new(void)
{
	struct tap *t = g_new0(struct tap, 1);

	t->be.ops = &tap_ops;
	t->be.opaque = t;
	for (unsigned int i = 0; i < NET_MAX_QUEUES; i++)
		t->be.fds[i] = -1;
	return t;
}

/* Why TUNSETIFF refused, in the user's terms. */
static const char *tap_iff_error(int e, bool multi_queue)
{
	switch (e) {
	case EPERM:
		return "no permission to create or attach it (CAP_NET_ADMIN, or a tap owned by this user, is needed)";
	case EINVAL:
		return multi_queue ?
			       "an interface of that name exists but is not a multi-queue tap (created without multi_queue, or not a tap)" :
			       "an interface of that name exists but is not a single-queue tap (created with multi_queue, or not a tap)";
	case EBUSY:
		return "the tap is in use by another process";
	default:
		return g_strerror(e);
	}
}

static bool tap_open_named(struct tap *t, const struct net_config *cfg,
			   GError **err)
{
	t->multi_queue = cfg->queues > 1;
	for (unsigned int q = 0; q < cfg->queues; q++) {
		struct ifreq ifr = { 0 };
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

		if (fd < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--net '%s': cannot open /dev/net/tun: %s",
				    cfg->spec, g_strerror(errno));
			return false;
		}
		t->be.fds[q] = fd;
		t->be.nr_queues = q + 1;
		ifr.ifr_flags = TAP_FLAGS | (t->multi_queue ? IFF_MULTI_QUEUE : 0);
		/* Every queue after the first attaches to the name the first got. */
		g_strlcpy(ifr.ifr_name, q ? t->be.ifname : cfg->ifname,
			  sizeof(ifr.ifr_name));
		if (ioctl(fd, TUNSETIFF, &ifr)) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--net '%s': tap '%s': %s", cfg->spec,
				    cfg->ifname, tap_iff_error(errno, t->multi_queue));
			return false;
		}
		if (!q)
			g_strlcpy(t->be.ifname, ifr.ifr_name, sizeof(t->be.ifname));
		t->attached[q] = true;
	}
	return true;
}

static bool tap_take_fd(struct tap *t, const struct net_config *cfg,
			GError **err)
{
	struct ifreq ifr = { 0 };
	int fl;

	fl = fcntl(cfg->fd, F_GETFL);
	if (fl < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--net '%s': fd %d is not open", cfg->spec, cfg->fd);
		return false;
	}
	if (ioctl(cfg->fd, TUNGETIFF, &ifr) ||
	    (ifr.ifr_flags & (TAP_FLAGS | IFF_TUN)) != TAP_FLAGS) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--net '%s': fd %d is not a tap opened with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR",
			    cfg->spec, cfg->fd);
		return false;
	}
	if (fcntl(cfg->fd, F_SETFL, fl | O_NONBLOCK) ||
	    fcntl(cfg->fd, F_SETFD, FD_CLOEXEC)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "--net '%s': fd %d: %s",
			    cfg->spec, cfg->fd, g_strerror(errno));
		return false;
	}
	/* Ours from now on: closed with the NIC, as QEMU does with fd=. */
	t->be.fds[0] = cfg->fd;
	t->be.nr_queues = 1;
	t->attached[0] = true;
	g_strlcpy(t->be.ifname, ifr.ifr_name, sizeof(t->be.ifname));
	return true;
}

struct net_backend *net_tap_open(const struct net_config *cfg, GError **err)
{
	struct tap *t = tap_new();
	int len = NET_VNET_HDR_LEN;
	bool ok;

	ok = cfg->ifname ? tap_open_named(t, cfg, err) : tap_take_fd(t, cfg, err);
	if (!ok)
		goto fail;
	/* The virtio 1.x header, num_buffers included, on every frame. */
	if (ioctl(t->be.fds[0], TUNSETVNETHDRSZ, &len)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--net '%s': tap '%s' refuses %d-byte virtio-net headers: %s",
			    cfg->spec, t->be.ifname, len, g_strerror(errno));
		goto fail;
	}
	/* No offload until a driver negotiates some. */
	if (tap_set_offload(t, 0)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--net '%s': tap '%s': TUNSETOFFLOAD: %s", cfg->spec,
			    t->be.ifname, g_strerror(errno));
		goto fail;
	}
	return &t->be;
fail:
	/* A handed-over fd stays the caller's when we refuse it. */
	if (!cfg->ifname)
		t->be.fds[0] = -1;
	net_backend_close(&t->be);
	return NULL;
}

static void tap_close(void *opaque)
{
	struct tap *t = opaque;

	for (unsigned int q = 0; q < NET_MAX_QUEUES; q++)
		if (t->be.fds[q] >= 0)
			close(t->be.fds[q]);
	g_free(t);
}

void net_backend_close(struct net_backend *be)
{
	if (be)
		be->ops->close(be->opaque);
}
