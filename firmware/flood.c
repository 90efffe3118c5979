// SPDX-License-Identifier: MIT
/*
 * flood: writes to the UART as fast as a vCPU can, forever: `rep outsb` of
 * 4 KiB lines, so each exit carries a page of output. The tests run it with
 * tern's stdout on a pipe nobody reads and check that the control plane
 * and SIGTERM still answer at once.
 */
#include "guest/guest.h"

#define FLOOD_LINE 4096

static char line[FLOOD_LINE];

int guest_main(void)
{
	for (unsigned int i = 0; i < FLOOD_LINE - 1; i++)
		line[i] = (char)('a' + i % 26);
	line[FLOOD_LINE - 1] = '\n';
	con_printf("flood: start\n");
	for (;;) {
		const char *p = line;
		unsigned long n = FLOOD_LINE;

		__asm__ volatile("rep outsb"
				 : "+S"(p), "+c"(n)
				 : "d"((uint16_t)COM1_PORT)
				 : "memory");
	}
}
