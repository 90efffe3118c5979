// SPDX-License-Identifier: MIT
/*
 * exit-code: leave through the exit port with the cmdline's code=N
 * (0..255, default 0). The boot-time benchmark guest: it does nothing else.
 */
#include "guest/guest.h"

int guest_main(void)
{
	unsigned long code;

	if (!cmdline_get_uint("code", 255, &code))
		code = 0;
	con_printf("exit-code: %lu\n", code);
	return (int)code;
}
