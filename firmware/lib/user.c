// SPDX-License-Identifier: MIT
/* The ring-0 side of user_syscall(). */
#include "guest/console.h"
#include "guest/exit.h"
#include "guest/user.h"
#include "internal.h"

long user_syscall_handler(long nr, long a1, long a2)
{
	switch (nr) {
	case USER_SYS_CONSOLE_WRITE:
		console_write((const char *)a1, (size_t)a2);
		return a2;
	case USER_SYS_EXIT:
		exit_port((uint32_t)a1);
	}
	return -1;
}
