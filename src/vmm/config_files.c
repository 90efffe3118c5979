// SPDX-License-Identifier: MIT
/*
 * The files a `tern run` names, checked once they are all parsed: each
 * boot file and disk exists and is of the right kind, and no two roles
 * (kernel, initrd, disk, QMP socket, console file) name the same file.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/error.h"

/*
 * Which file a path names, compared by identity rather than by spelling. A
 * path that does not exist yet (a console file or a socket tern will create)
 * is its directory's identity plus its last component.
 */
struct file_id {
	bool exists;
	bool device; /* a block or character device: dev is its st_rdev */
	dev_t dev;
	ino_t ino;
	char *name; /* !exists: the last path component */
	mode_t mode;
};

/* 0, or -errno when neither the path nor its directory can be looked at. */
static int file_id_get(const char *path, bool follow, struct file_id *id)
{
	g_autofree char *dir = NULL;
	struct stat st;
	int ret = follow ? stat(path, &st) : lstat(path, &st);

	memset(id, 0, sizeof(*id));
	if (ret == 0) {
		id->exists = true;
		id->mode = st.st_mode;
		id->device = S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode);
		id->dev = id->device ? st.st_rdev : st.st_dev;
		id->ino = id->device ? 0 : st.st_ino;
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	dir = g_path_get_dirname(path);
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->name = g_path_get_basename(path);
	return 0;
}

static bool file_id_same(const struct file_id *a, const struct file_id *b)
{
	if (a->exists != b->exists || a->device != b->device ||
	    a->dev != b->dev || a->ino != b->ino)
		return false;
	return a->exists || (a->name && b->name && !strcmp(a->name, b->name));
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

/*
 * A kernel or initrd must be a readable regular file. stat() refuses a
 * FIFO or a device without opening it (open() on a FIFO waits for a
 * writer); the open() that checks readability is non-blocking for a FIFO
 * swapped in meanwhile.
 */
static bool check_boot_file(const char *opt, const char *path,
			    struct file_id *id, GError **err)
{
	struct stat st;
	int fd, ret = file_id_get(path, true, id);

	if (!ret && !id->exists) {
		g_clear_pointer(&id->name, g_free);
		ret = -ENOENT;
	}
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s '%s': %s",
			    opt, path, g_strerror(-ret));
		return false;
	}
	if (S_ISDIR(id->mode)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s '%s': is a directory", opt, path);
		return false;
	}
	if (!S_ISREG(id->mode)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "%s '%s': not a regular file (%s)", opt, path,
			    file_kind(id->mode));
		return false;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s '%s': %s",
			    opt, path, fd < 0 ? g_strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* A --qmp unix: path must be creatable: its directory exists, and what is
 * there already is a socket (qmp.c then tells a stale one from a live one). */
static bool check_qmp_path(const struct qmp_endpoint *ep, struct file_id *id,
			   GError **err)
{
	int ret = file_id_get(ep->path, false, id);

	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--qmp '%s': cannot create a socket there: %s",
			    ep->spec, g_strerror(-ret));
		return false;
	}
	if (id->exists && !S_ISSOCK(id->mode)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--qmp '%s': the path exists and is not a socket",
			    ep->spec);
		return false;
	}
	return true;
}

/*
 * The console file is created and truncated once the VM is built: it must
 * not be a file tern reads or a socket it serves, whatever it is called.
 */
static bool check_console_path(const struct vm_config *cfg,
			       const struct file_id *kernel,
			       const struct file_id *initrd,
			       const struct file_id *disks,
			       const struct file_id *qmp, GError **err)
{
	const char *path = cfg->console_path;
	const char *clash = NULL;
	g_autofree char *what = NULL;
	struct file_id id;
	int ret = file_id_get(path, true, &id);

	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--console file=%s: cannot open: %s", path,
			    g_strerror(-ret));
		return false;
	}
	if (id.exists && (S_ISDIR(id.mode) || S_ISSOCK(id.mode)))
		clash = file_kind(id.mode);
	else if (cfg->kernel_path && file_id_same(&id, kernel))
		clash = "the --kernel file";
	else if (cfg->initrd_path && file_id_same(&id, initrd))
		clash = "the --initrd file";
	for (unsigned int i = 0; !clash && i < cfg->nr_disks; i++) {
		if (file_id_same(&id, &disks[i])) {
			what = g_strdup_printf("the image of --disk '%s'",
					       cfg->disks[i].spec);
			clash = what;
		}
	}
	for (unsigned int i = 0; !clash && i < cfg->nr_qmp; i++) {
		if (cfg->qmp[i].kind == QMP_ENDPOINT_UNIX &&
		    file_id_same(&id, &qmp[i])) {
			what = g_strdup_printf("the --qmp '%s' socket",
					       cfg->qmp[i].spec);
			clash = what;
		}
	}
	g_free(id.name);
	if (clash) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--console file=%s: is %s; the console file is truncated, so it must be a file of its own",
			    path, clash);
		return false;
	}
	return true;
}

static void file_ids_free(struct file_id *ids, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		g_free(ids[i].name);
	g_free(ids);
}

bool config_check_files(const struct vm_config *cfg, GError **err)
{
	struct file_id kernel = { 0 }, initrd = { 0 }, firmware = { 0 };
	struct file_id *disks = g_new0(struct file_id, cfg->nr_disks);
	struct file_id *qmp = g_new0(struct file_id, cfg->nr_qmp);
	bool ok = false;

	if (cfg->kernel_path &&
	    !check_boot_file("--kernel", cfg->kernel_path, &kernel, err))
		goto out;
	if (cfg->initrd_path &&
	    !check_boot_file("--initrd", cfg->initrd_path, &initrd, err))
		goto out;
	if (cfg->firmware_path &&
	    !check_boot_file("--firmware", cfg->firmware_path, &firmware, err))
		goto out;
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];

		/* A missing image is blk_disk_open()'s to report. */
		if (file_id_get(d->path, true, &disks[i]) || !disks[i].exists)
			continue;
		for (unsigned int j = 0; j < i; j++) {
			if (file_id_same(&disks[i], &disks[j])) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
					    "--disk '%s': '%s' is the same file as --disk '%s'",
					    d->spec, d->path,
					    cfg->disks[j].spec);
				goto out;
			}
		}
	}
	for (unsigned int i = 0; i < cfg->nr_qmp; i++) {
		if (cfg->qmp[i].kind == QMP_ENDPOINT_UNIX &&
		    !check_qmp_path(&cfg->qmp[i], &qmp[i], err))
			goto out;
	}
	if (cfg->console == CONSOLE_FILE &&
	    !check_console_path(cfg, &kernel, &initrd, disks, qmp, err))
		goto out;
	ok = true;
out:
	file_ids_free(disks, cfg->nr_disks);
	file_ids_free(qmp, cfg->nr_qmp);
	return ok;
}
