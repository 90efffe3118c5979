// SPDX-License-Identifier: MIT
/*
 * TEST ONLY: the host side of tern-vfio-double, a tern built for
 * tests/integration/vfio-double.sh. It defines vfio_host_default (which
 * the product binary takes from src/devices/vfio/host.c) as the VFIO test
 * double of tests/unit/test-vfio-double.c, so `--device vfio=0000:01:00.0`
 * finds a made-up function instead of real hardware. Nothing here is
 * reachable from the tern binary users run.
 *
 * The double keeps its state in this one process-wide object (a test
 * binary, one device); a mutex serializes vCPU threads' accesses.
 * TERN_VFIO_DOUBLE_MSI_ONLY=1 makes the function one with MSI and no MSI-X
 * (vfio_double_msi_only); TERN_VFIO_DOUBLE_NO_FLR=1 one without a
 * function reset, which tern must reset by its bus (each such reset says
 * "vfio-double: hot reset N" on stderr for the test to count). An
 * environment setting is fine here, in a binary that exists for the tests
 * only.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-vfio-double.h"

static struct vfio_double dbl;
static bool dbl_ready;
static pthread_mutex_t dbl_lock = PTHREAD_MUTEX_INITIALIZER;

static struct vfio_double *dbl_get(void)
{
	pthread_mutex_lock(&dbl_lock);
	if (!dbl_ready) {
		const char *msi_only = getenv("TERN_VFIO_DOUBLE_MSI_ONLY");
		const char *no_flr = getenv("TERN_VFIO_DOUBLE_NO_FLR");

		vfio_double_init(&dbl);
		if (msi_only && !strcmp(msi_only, "1"))
			vfio_double_msi_only(&dbl);
		dbl.no_flr = no_flr && !strcmp(no_flr, "1");
		dbl_ready = true;
	}
	return &dbl;
}

static void dbl_put(void)
{
	pthread_mutex_unlock(&dbl_lock);
}

static int h_open(void *ctx, const char *path, int flags)
{
	int ret = vfio_double_ops.open(dbl_get(), path, flags);

	dbl_put();
	return ret;
}

static void h_close(void *ctx, int fd)
{
	vfio_double_ops.close(dbl_get(), fd);
	dbl_put();
}

static int h_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	struct vfio_double *d = dbl_get();
	int ret = vfio_double_ops.ioctl(d, fd, req, arg);

	if (req == VFIO_DEVICE_PCI_HOT_RESET && ret == 0)
		fprintf(stderr, "vfio-double: hot reset %u (%u group fds)\n",
			d->hot_resets, d->hr_nfds);
	dbl_put();
	return ret;
}

static ssize_t h_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t ret = vfio_double_ops.pread(dbl_get(), fd, buf, len, off);

	dbl_put();
	return ret;
}

static ssize_t h_pwrite(void *ctx, int fd, const void *buf, size_t len,
			uint64_t off)
{
	ssize_t ret = vfio_double_ops.pwrite(dbl_get(), fd, buf, len, off);

	dbl_put();
	return ret;
}

static void *h_mmap(void *ctx, int fd, size_t len, uint64_t off)
{
	void *ret = vfio_double_ops.mmap(dbl_get(), fd, len, off);

	dbl_put();
	return ret;
}

static void h_munmap(void *ctx, void *addr, size_t len)
{
	vfio_double_ops.munmap(dbl_get(), addr, len);
	dbl_put();
}

static int h_readlink(void *ctx, const char *path, char *buf, size_t len)
{
	int ret = vfio_double_ops.readlink(dbl_get(), path, buf, len);

	dbl_put();
	return ret;
}

static int h_cdev_name(void *ctx, const char *sysfs, char *buf, size_t len)
{
	int ret = vfio_double_ops.cdev_name(dbl_get(), sysfs, buf, len);

	dbl_put();
	return ret;
}

const struct vfio_host_ops vfio_host_default = {
    .open = h_open,
    .close = h_close,
    .ioctl = h_ioctl,
    .pread = h_pread,
    .pwrite = h_pwrite,
    .mmap = h_mmap,
    .munmap = h_munmap,
    .readlink = h_readlink,
    .cdev_name = h_cdev_name,
};
