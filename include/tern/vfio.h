/* SPDX-License-Identifier: MIT */
/*
 * VFIO PCI passthrough: --device vfio=HOST gives the guest a host PCI
 * function bound to vfio-pci (docs/vfio.md).
 *
 * Everything tern asks of the host kernel goes through struct
 * vfio_host_ops: opening the VFIO and iommufd character devices, their
 * ioctls, pread/pwrite/mmap on the device fd and the two sysfs look-ups.
 * The product binary uses vfio_host_default (src/devices/vfio/host.c, the
 * real system calls); the unit tests and the test-only tern-vfio-double
 * binary give a double that plays a made-up PCI device behind the same
 * uAPI (linux/vfio.h, linux/iommufd.h), because the build machines have no
 * IOMMU.
 */
#ifndef TERN_VFIO_H
#define TERN_VFIO_H

#include <glib.h>
#include <sys/types.h>

#include "tern/util.h"

struct machine;
struct vfio_device;

/* At most this many --device vfio=... */
#define VFIO_MAX_DEVICES 8

/* iommufd=on|off|auto: which host interface binds the device. */
enum vfio_iommufd_mode {
	VFIO_IOMMUFD_AUTO, /* iommufd and the device cdev when both exist */
	VFIO_IOMMUFD_ON, /* only iommufd; fail without it */
	VFIO_IOMMUFD_OFF, /* only the container/group interface */
};

struct vfio_config {
	char *spec; /* as given, for messages */
	/* The function's PCI address, "0000:01:00.0" (normalized). */
	char *addr;
	/* Its sysfs directory, /sys/bus/pci/devices/<addr>. */
	char *sysfs;
	enum vfio_iommufd_mode iommufd;
};

/*
 * Parse the value of --device vfio=HOST[,iommufd=on|off|auto] (spec is
 * the whole "vfio=..." string). HOST is a PCI address (DDDD:BB:DD.F or
 * BB:DD.F) or a sysfs path ending in one. false with err (TERN_ERROR_INPUT,
 * naming --device) on anything else.
 */
bool vfio_config_parse(const char *spec, struct vfio_config *out, GError **err);
void vfio_config_clear(struct vfio_config *c);

/*
 * The host kernel as tern uses it. Each returns what the system call
 * returns, or -errno instead of -1 (mmap: NULL with errno set).
 */
struct vfio_host_ops {
	int (*open)(void *ctx, const char *path, int flags);
	void (*close)(void *ctx, int fd);
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len,
			 uint64_t off);
	ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len,
			  uint64_t off);
	void *(*mmap)(void *ctx, int fd, size_t len, uint64_t off);
	void (*munmap)(void *ctx, void *addr, size_t len);
	/* readlink(2), NUL-terminated: the length, or -errno. */
	int (*readlink)(void *ctx, const char *path, char *buf, size_t len);
	/*
	 * The name of the VFIO device cdev of the function at sysfs dir
	 * ("vfio3": an entry of <sysfs>/vfio-dev/), or -errno (-ENOENT: the
	 * kernel has no cdev for it).
	 */
	int (*cdev_name)(void *ctx, const char *sysfs, char *buf, size_t len);
};

/* The real system calls; ctx is unused. */
extern const struct vfio_host_ops vfio_host_default;

/*
 * Open the function cfg names through host, map the guest's RAM for its
 * DMA, and plug it into m's PCI host. NULL with err set on failure
 * (TERN_ERROR_HOST naming what the host lacks: exit status 2).
 */
struct vfio_device *vfio_device_create(struct machine *m,
				       const struct vfio_config *cfg,
				       const struct vfio_host_ops *host,
				       void *host_ctx, GError **err);
/* Release everything: interrupts, BAR mappings, DMA, the fds. */
void vfio_device_destroy(struct vfio_device *v);
/* Machine reset (vCPUs parked): VFIO_DEVICE_RESET and interrupts off. */
void vfio_device_reset(struct vfio_device *v);
/* The PCI address of the host function, for query commands. */
const char *vfio_device_host_addr(const struct vfio_device *v);
/* Its guest slot on bus 0. */
unsigned int vfio_device_slot(const struct vfio_device *v);

extern const struct device_type vfio_device_type;

#endif
