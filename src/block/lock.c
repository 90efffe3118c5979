// SPDX-License-Identifier: MIT
/*
 * Image locks, on the bytes QEMU locks, so that tern and QEMU refuse each
 * other exactly as each refuses itself.
 *
 * QEMU 7.2 (block/file-posix.c) takes shared OFD locks: on byte 100 + p for
 * each permission p it holds (0 consistent read, 1 write) and on byte
 * 200 + p for each one it does not share. Then it tests with F_OFD_GETLK
 * that nobody else holds a byte that conflicts: 200 + p for what it holds,
 * 100 + p for what it does not share. A QEMU writer holds 100, 101 and 201,
 * a read-only QEMU 100 and 201.
 *
 * A read-only tern does what a read-only QEMU does: shared locks on 100
 * and 201, then tests 101 (does anyone write?) and 200 (does anyone refuse
 * readers?). A writer takes one exclusive lock over QEMU's range 100-299:
 * every other user, tern or QEMU, reader or writer, holds a byte in it, and
 * taking it is one step, so of two writers starting at the same moment one
 * wins (QEMU's set-then-test can make both lose).
 *
 * OFD locks belong to the open file, not the process: a fork (the detached
 * teardown) does not take them along, and they go with the last descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock.h"

#define LOCK_HELD 100 /* + permission: "I hold it" */
#define LOCK_UNSHARED 200 /* + permission: "nobody else may hold it" */
#define LOCK_END 300
#define PERM_READ 0 /* QEMU's BLK_PERM_CONSISTENT_READ */
#define PERM_WRITE 1 /* BLK_PERM_WRITE */

static int lock_set(int fd, short type, off_t start, off_t len)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = start,
		.l_len = len,
	};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Into *fl: a lock someone else holds that conflicts, or F_UNLCK. */
static int lock_test(int fd, short type, off_t start, off_t len,
		     struct flock *fl)
{
	*fl = (struct flock){
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = start,
		.l_len = len,
	};
	return fcntl(fd, F_OFD_GETLK, fl) < 0 ? -errno : 0;
}

static bool lock_covers(const struct flock *fl, off_t byte)
{
	return fl->l_start <= byte &&
	       (fl->l_len == 0 || byte < fl->l_start + fl->l_len);
}

static bool fdinfo_has_lock(const char *path)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return false;
	return strstr(text, "\nlock:") != NULL;
}

/*
 * A process holding a lock on the image open on fd, as "process PID
 * (COMM)": one with the same file open and a lock through that descriptor
 * (/proc/PID/fdinfo lists a descriptor's own locks; /proc/locks shows -1
 * for the PID of an OFD lock). NULL when /proc does not tell, e.g. for
 * another user's processes. Only on the error path: it stats every
 * descriptor of every process.
 */
static char *lock_holder_process(int fd)
{
	g_autofree char *self_fd = g_strdup_printf("%d", fd);
	g_autofree char *self = g_strdup_printf("%d", (int)getpid());
	struct dirent *pe, *fe;
	struct stat img, st;
	char *found = NULL;
	/* "/proc/" NAME "/fdinfo/" NAME, each name at most NAME_MAX bytes */
	char path[2 * 256 + 32];
	DIR *proc, *fds;

	if (fstat(fd, &img) < 0)
		return NULL;
	proc = opendir("/proc");
	if (!proc)
		return NULL;
	while (!found && (pe = readdir(proc))) {
		if (!g_ascii_isdigit(pe->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!found && (fe = readdir(fds))) {
			g_autofree char *comm = NULL;

			if (fe->d_name[0] == '.' ||
			    (!strcmp(pe->d_name, self) &&
			     !strcmp(fe->d_name, self_fd)))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
				 pe->d_name, fe->d_name);
			if (stat(path, &st) < 0 || st.st_dev != img.st_dev ||
			    st.st_ino != img.st_ino)
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s",
				 pe->d_name, fe->d_name);
			if (!fdinfo_has_lock(path))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/comm",
				 pe->d_name);
			if (g_file_get_contents(path, &comm, NULL, NULL))
				g_strchomp(comm);
			found = g_strdup_printf("process %s (%s)", pe->d_name,
						comm ? comm : "?");
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

/* "process 1234 (tern) holds a write lock on it", as far as it is known. */
static char *lock_describe(int fd, const struct flock *fl)
{
	g_autofree char *who = lock_holder_process(fd);
	const char *what;

	if (fl->l_type == F_UNLCK)
		what = "a conflicting lock";
	else if (fl->l_type == F_WRLCK ||
		 lock_covers(fl, LOCK_HELD + PERM_WRITE))
		what = "a write lock";
	else if (lock_covers(fl, LOCK_UNSHARED + PERM_READ))
		what = "a lock that allows no reader";
	else
		what = "a shared (read-only) lock";
	return g_strdup_printf("%s holds %s on it",
			       who ? who : "another process", what);
}

static bool lock_busy(int ret)
{
	return ret == -EAGAIN || ret == -EACCES;
}

/* No OFD locks here (an old kernel, some network file systems). */
static int lock_unsupported(int ret)
{
	if (ret == -EINVAL || ret == -ENOLCK || ret == -EOPNOTSUPP ||
	    ret == -ENOSYS)
		return -EOPNOTSUPP;
	return ret;
}

int blk_image_lock(int fd, bool readonly, char **holder)
{
	static const off_t reader_holds[] = { LOCK_HELD + PERM_READ,
					      LOCK_UNSHARED + PERM_WRITE };
	static const off_t reader_tests[] = { LOCK_HELD + PERM_WRITE,
					      LOCK_UNSHARED + PERM_READ };
	struct flock fl;
	int ret;

	*holder = NULL;
	if (!readonly) {
		ret = lock_set(fd, F_WRLCK, LOCK_HELD, LOCK_END - LOCK_HELD);
		if (!lock_busy(ret))
			return lock_unsupported(ret);
		ret = lock_test(fd, F_WRLCK, LOCK_HELD, LOCK_END - LOCK_HELD,
				&fl);
		goto busy;
	}
	for (size_t i = 0; i < ARRAY_SIZE(reader_holds); i++) {
		ret = lock_set(fd, F_RDLCK, reader_holds[i], 1);
		if (lock_busy(ret)) {
			ret = lock_test(fd, F_RDLCK, reader_holds[i], 1, &fl);
			goto busy;
		}
		if (ret) {
			blk_image_unlock(fd);
			return lock_unsupported(ret);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(reader_tests); i++) {
		ret = lock_test(fd, F_WRLCK, reader_tests[i], 1, &fl);
		if (ret || fl.l_type != F_UNLCK)
			goto busy;
	}
	return 0;

busy:
	blk_image_unlock(fd);
	if (ret)
		fl.l_type = F_UNLCK;
	*holder = lock_describe(fd, &fl);
	return -EAGAIN;
}

void blk_image_unlock(int fd)
{
	/* Best effort: closing the last descriptor drops them anyway. */
	(void)!lock_set(fd, F_UNLCK, 0, 0);
}
