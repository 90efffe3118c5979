// SPDX-License-Identifier: MIT
/*
 * vhost-user-fs: a virtio-fs function (virtio 1.2, 5.11) whose FUSE
 * requests the back-end (virtiofsd) serves. Queue 0 is the hiprio queue,
 * 1..N the request queues; every ring goes to the back-end. The config
 * space is tern's: virtiofsd answers no GET_CONFIG (QEMU's vhost-user-fs
 * fills it from its own tag= and num-request-queues= too). virtio-fs has
 * no device feature bits in 1.2, so the guest sees the transport bits the
 * back-end offers and nothing else.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/error.h"
#include "tern/machine.h"
#include "tern/vhost-user-fs.h"
#include "tern/virtio.h"

#include "vhost-user-internal.h"

static const char fs_keys[] = "vhost-user, tag, queues, reconnect";

#define FS_ERR(...)                                                            \
	do {                                                                   \
		g_autofree char *m_ = g_strdup_printf(__VA_ARGS__);            \
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,                 \
			    "--fs '%s': %s", spec, m_);                        \
		return false;                                                  \
	} while (0)

static bool fs_parse_switch(const char *v, bool *out)
{
	if (strcmp(v, "on") && strcmp(v, "off"))
		return false;
	*out = !strcmp(v, "on");
	return true;
}

bool vhost_user_fs_config_parse(const char *spec,
				struct vhost_user_fs_config *out, GError **err)
{
	g_auto(GStrv) items = g_strsplit(spec, ",", -1);
	struct sockaddr_un addr;
	bool seen_queues = false, seen_reconnect = false;
	uint64_t n;

	memset(out, 0, sizeof(*out));
	out->spec = g_strdup(spec);
	out->queues = 1;
	out->reconnect = true;
	if (!*spec)
		FS_ERR("expected vhost-user=SOCK,tag=TAG");
	for (unsigned int i = 0; items[i]; i++) {
		const char *item = items[i];
		const char *eq = strchr(item, '=');
		g_autofree char *key = NULL;
		const char *val;

		if (!*item)
			FS_ERR("empty option (a stray comma?)");
		if (!eq)
			FS_ERR("'%s': expected key=value (keys: %s)", item,
			       fs_keys);
		key = g_strndup(item, eq - item);
		val = eq + 1;
		if (!*val)
			FS_ERR("'%s' needs a value", key);
		if (!strcmp(key, "vhost-user")) {
			if (out->path)
				FS_ERR("'%s' given twice", key);
			/* connect() takes no longer path: say so now. */
			if (strlen(val) >= sizeof(addr.sun_path))
				FS_ERR("vhost-user='%s': a socket path has at "
				       "most %zu bytes",
				       val, sizeof(addr.sun_path) - 1);
			out->path = g_strdup(val);
		} else if (!strcmp(key, "tag")) {
			if (out->tag)
				FS_ERR("'%s' given twice", key);
			if (strlen(val) > VIRTIO_FS_TAG_MAX)
				FS_ERR("tag='%s': at most %d bytes (the "
				       "device's tag field)",
				       val, VIRTIO_FS_TAG_MAX);
			out->tag = g_strdup(val);
		} else if (!strcmp(key, "queues")) {
			if (seen_queues)
				FS_ERR("'%s' given twice", key);
			seen_queues = true;
			if (parse_u64(val, &n) || n < 1 ||
			    n > VHOST_USER_FS_QUEUES_MAX)
				FS_ERR("queues='%s': expected a decimal number "
				       "of request queues from 1 to %d",
				       val, VHOST_USER_FS_QUEUES_MAX);
			out->queues = n;
		} else if (!strcmp(key, "reconnect")) {
			if (seen_reconnect)
				FS_ERR("'%s' given twice", key);
			seen_reconnect = true;
			if (!fs_parse_switch(val, &out->reconnect))
				FS_ERR("reconnect='%s': expected on or off",
				       val);
		} else {
			FS_ERR("unknown key '%s' (keys: %s)", key, fs_keys);
		}
	}
	if (!out->path)
		FS_ERR("vhost-user=SOCK is required (the back-end's socket, "
		       "e.g. virtiofsd's --socket-path)");
	if (!out->tag)
		FS_ERR("tag=TAG is required (the name the guest mounts, 1 to "
		       "%d bytes)",
		       VIRTIO_FS_TAG_MAX);
	return true;
}

void vhost_user_fs_config_clear(struct vhost_user_fs_config *c)
{
	g_free(c->spec);
	g_free(c->path);
	g_free(c->tag);
	memset(c, 0, sizeof(*c));
}

bool vhost_user_fs_configs_parse(char **specs, bool memory_shared,
				 struct vhost_user_fs_config **out,
				 unsigned int *nr, GError **err)
{
	unsigned int n = specs ? g_strv_length(specs) : 0;

	if (n > VHOST_USER_FS_MAX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--fs: at most %d devices", VHOST_USER_FS_MAX);
		return false;
	}
	*out = g_new0(struct vhost_user_fs_config, n);
	for (unsigned int i = 0; i < n; i++) {
		struct vhost_user_fs_config *c = &(*out)[i];

		(*nr)++; /* cleared by the caller, also when this one fails */
		if (!vhost_user_fs_config_parse(specs[i], c, err))
			return false;
		/* The back-end maps guest RAM: it must be a memfd. */
		if (!memory_shared) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--fs '%s': a vhost-user back-end needs "
				    "shared guest memory: add --memory "
				    "SIZE,shared=on",
				    c->spec);
			return false;
		}
		/* virtiofsd serves one front-end per socket. */
		for (unsigned int j = 0; j < i; j++) {
			if (!strcmp((*out)[j].path, c->path)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--fs '%s': socket '%s' given "
					    "twice",
					    c->spec, c->path);
				return false;
			}
		}
	}
	return true;
}

void vhost_user_fs_config_layout(const struct vhost_user_fs_config *c,
				 struct virtio_fs_config *out)
{
	memset(out, 0, sizeof(*out));
	/* Shorter tags are NUL-padded; a 36-byte one fills the field. */
	memcpy(out->tag, c->tag, MIN(strlen(c->tag), sizeof(out->tag)));
	out->num_request_queues = htole32(c->queues);
}

struct vhost_user_fs {
	struct vhost_user_dev dev;
	struct virtio_fs_config config;
};

static void vu_fs_free(struct vhost_user_fs *f)
{
	vhost_user_dev_fini(&f->dev);
	g_free(f);
}

/* The back-end takes the rings now, or when it is back. */
static int vu_fs_activate(struct virtio_device *vdev)
{
	struct vhost_user_fs *f = vdev->priv;

	vhost_user_dev_start(&f->dev);
	return 0;
}

static void vu_fs_reset(struct virtio_device *vdev)
{
	struct vhost_user_fs *f = vdev->priv;

	vhost_user_dev_stop(&f->dev, true);
}

static int vu_fs_quiesce(struct virtio_device *vdev, uint64_t deadline_ns)
{
	struct vhost_user_fs *f = vdev->priv;

	vhost_user_dev_stop(&f->dev, false);
	return 0;
}

static void vu_fs_resume(struct virtio_device *vdev)
{
	vu_fs_activate(vdev);
}

static void vu_fs_destroy(struct virtio_device *vdev)
{
	vu_fs_free(vdev->priv);
}

/* The config space is read-only: no config_write. */
static void vu_fs_irq_route_changed(struct virtio_device *vdev)
{
	struct vhost_user_fs *f = vdev->priv;

	vhost_user_dev_irq_route_changed(&f->dev);
}

static const struct virtio_device_ops vu_fs_ops = {
    .name = "vhost-user-fs",
    .activate = vu_fs_activate,
    .reset = vu_fs_reset,
    .quiesce = vu_fs_quiesce,
    .resume = vu_fs_resume,
    .destroy = vu_fs_destroy,
    .irq_route_changed = vu_fs_irq_route_changed,
};

static struct virtio_device *
vhost_user_fs_create(struct machine *m, unsigned int index,
		     const struct vhost_user_fs_config *cfg, GError **err)
{
	struct vhost_user_fs *f = g_new0(struct vhost_user_fs, 1);
	unsigned int nr_queues = 1 + cfg->queues; /* hiprio first */
	struct virtio_device *vdev;
	char name[32];

	snprintf(name, sizeof(name), "vu-fs%u", index);
	if (!vhost_user_dev_init(&f->dev, m, name, cfg->path, cfg->reconnect,
				 nr_queues, err))
		goto err;
	vhost_user_fs_config_layout(cfg, &f->config);
	vdev = virtio_pci_create(m, &vu_fs_ops, f, VIRTIO_ID_FS, 0, nr_queues,
				 (uint8_t *)&f->config, sizeof(f->config), err);
	if (!vdev)
		goto err;
	if (!vhost_user_dev_attach(&f->dev, vdev, err)) {
		virtio_pci_destroy(vdev); /* frees f */
		return NULL;
	}
	tern_debug("%s: %s: tag '%s', %u request queue(s), features %#llx, "
		   "protocol %#llx",
		   name, cfg->path, cfg->tag, cfg->queues,
		   (unsigned long long)vdev->host_features,
		   (unsigned long long)f->dev.conn.protocol);
	return vdev;

err:
	vu_fs_free(f);
	return NULL;
}

/* ---- registry ---- */

static unsigned int vu_fs_count(const struct vm_config *cfg)
{
	return cfg->nr_fs;
}

static void *vu_fs_device_create(struct machine *m, unsigned int index,
				 GError **err)
{
	return vhost_user_fs_create(m, index, &m->cfg->fs[index], err);
}

const struct device_type vhost_user_fs_device_type = {
    .name = "vhost-user-fs",
    .option = "--fs",
    .count = vu_fs_count,
    .create = vu_fs_device_create,
    .destroy = virtio_pci_device_destroy,
    .quiesce = virtio_pci_device_quiesce,
    .resume = virtio_pci_device_resume,
    .save = virtio_pci_device_save,
    .load = virtio_pci_device_load,
};
