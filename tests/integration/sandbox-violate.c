// SPDX-License-Identifier: MIT
/*
 * A shim sandbox.sh preloads into tern (LD_PRELOAD): when QMP input
 * carries "x-sandbox-violate", the main thread makes a system call that no
 * role allows (getsid), as a feature with a missing rule would. With
 * --sandbox on the kernel must kill tern with SIGSYS; with --sandbox log
 * tern must report the call on stderr and go on.
 */
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t recv_fn(int fd, void *buf, size_t len, int flags);

static recv_fn *real_recv;

/* Looked up before main(), long before any filter. */
__attribute__((constructor)) static void violate_init(void)
{
	real_recv = (recv_fn *)dlsym(RTLD_NEXT, "recv");
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = real_recv(fd, buf, len, flags);

	if (n > 0 && memmem(buf, n, "x-sandbox-violate", 17))
		(void)syscall(SYS_getsid, 0);
	return n;
}
