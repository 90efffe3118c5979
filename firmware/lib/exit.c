// SPDX-License-Identifier: MIT
/* The exit port, the i8042 reset line and the RESULT protocol. */
#include "guest/console.h"
#include "guest/exit.h"
#include "guest/user.h"
#include "guest/x86.h"

void exit_port(uint32_t v)
{
	if (cpu_cpl() != 0)
		user_syscall(USER_SYS_EXIT, v, 0);
	outl(EXIT_PORT, v);
	/* No exit device: stop here. */
	cpu_halt_forever();
}

void i8042_reset(void)
{
	/*
	 * A real controller wants its input buffer polled empty first; the
	 * VMMs this runs under take the command at once, and on machines
	 * without an i8042 (QEMU microvm) that poll would never end.
	 */
	outb(I8042_CMD_PORT, I8042_CMD_RESET);
}

void result_pass(void)
{
	con_puts("RESULT: PASS");
	exit_port(0);
}

void result_fail(const char *fmt, ...)
{
	char reason[192];
	va_list ap;

	va_start(ap, fmt);
	con_vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	con_printf("RESULT: FAIL %s\n", reason);
	exit_port(1);
}
