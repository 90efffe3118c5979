// SPDX-License-Identifier: MIT
/*
 * The real host side of struct vfio_host_ops: plain system calls. Kept in
 * a file of its own that defines nothing else, so the test-only
 * tern-vfio-double binary can link its own vfio_host_default instead
 * (the static archive member holding this one is then never pulled in).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/vfio.h"

static int host_open(void *ctx, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static void host_close(void *ctx, int fd)
{
	close(fd);
}

static int host_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	int ret = ioctl(fd, request, arg);

	return ret < 0 ? -errno : ret;
}

static ssize_t host_pread(void *ctx, int fd, void *buf, size_t len,
			  uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	return n < 0 ? -errno : n;
}

static ssize_t host_pwrite(void *ctx, int fd, const void *buf, size_t len,
			   uint64_t off)
{
	ssize_t n = pwrite(fd, buf, len, (off_t)off);

	return n < 0 ? -errno : n;
}

static void *host_mmap(void *ctx, int fd, size_t len, uint64_t off)
{
	void *p =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

static void host_munmap(void *ctx, void *addr, size_t len)
{
	munmap(addr, len);
}

static int host_readlink(void *ctx, const char *path, char *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return -EINVAL;
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return (int)n;
}

static int host_cdev_name(void *ctx, const char *sysfs, char *buf, size_t len)
{
	g_autofree char *dir = g_strdup_printf("%s/vfio-dev", sysfs);
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = -ENOENT;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vfio", 4))
			continue;
		if (g_strlcpy(buf, e->d_name, len) >= len) {
			ret = -ENAMETOOLONG;
			break;
		}
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

const struct vfio_host_ops vfio_host_default = {
    .open = host_open,
    .close = host_close,
    .ioctl = host_ioctl,
    .pread = host_pread,
    .pwrite = host_pwrite,
    .mmap = host_mmap,
    .munmap = host_munmap,
    .readlink = host_readlink,
    .cdev_name = host_cdev_name,
};
