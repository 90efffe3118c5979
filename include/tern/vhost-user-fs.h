/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs (virtio 1.2, 5.11) whose FUSE requests a vhost-user back-end
 * serves (--fs vhost-user=SOCK,tag=TAG): tern keeps the PCI function and
 * the config space (the tag, the number of request queues), the back-end
 * (virtiofsd) the rings and the shared directory.
 */
#ifndef TERN_VHOST_USER_FS_H
#define TERN_VHOST_USER_FS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The mount tag's field: not NUL-terminated when it is full. */
#define VIRTIO_FS_TAG_MAX 36
/* Request queues a device may have: the hiprio queue takes one more ring. */
#define VHOST_USER_FS_QUEUES_MAX 15
/* --fs is repeatable up to this many devices. */
#define VHOST_USER_FS_MAX 8

/* The device's config space (virtio 1.2, 5.11.4), little-endian. */
struct virtio_fs_config {
	uint8_t tag[VIRTIO_FS_TAG_MAX];
	uint32_t num_request_queues;
} __attribute__((packed));

/* One --fs option. */
struct vhost_user_fs_config {
	char *spec; /* as given, for messages */
	char *path; /* the back-end's socket */
	char *tag; /* 1..36 bytes, no NUL */
	unsigned int queues; /* request queues, 1.. VHOST_USER_FS_QUEUES_MAX */
	bool reconnect;
};

/*
 * --fs vhost-user=SOCK,tag=TAG[,queues=N][,reconnect=on|off]: false with
 * err (TERN_ERROR_INPUT, naming --fs) for anything else. out is filled
 * either way; clear it with vhost_user_fs_config_clear().
 */
bool vhost_user_fs_config_parse(const char *spec,
				struct vhost_user_fs_config *out, GError **err);
void vhost_user_fs_config_clear(struct vhost_user_fs_config *c);
/*
 * Every --fs (specs: NULL-terminated, or NULL) into *out, *nr of them:
 * each parsed, shared guest memory required, no socket twice. *out and *nr
 * are set even on failure (clear the first *nr).
 */
bool vhost_user_fs_configs_parse(char **specs, bool memory_shared,
				 struct vhost_user_fs_config **out,
				 unsigned int *nr, GError **err);

/* The config space the guest sees for c. */
void vhost_user_fs_config_layout(const struct vhost_user_fs_config *c,
				 struct virtio_fs_config *out);

/* The device table's row (src/vmm/devices.c): one device per --fs. */
extern const struct device_type vhost_user_fs_device_type;

#endif
