// SPDX-License-Identifier: MIT
/*
 * serial-echo: reads one line from the 8250 (polled) and echoes it back.
 * Tests the host side of `--console stdio`: what the host writes to tern's
 * stdin reaches the guest's UART receive buffer, in order. The test checks
 * the echoed text; the guest fails only when no line arrives.
 */
#include "guest/guest.h"

#define UART_LSR 5
#define LSR_DR 0x01
#define LINE_MAX 64
/* Each poll is one port exit (~8 us here): a few seconds before giving up. */
#define POLL_LIMIT 500000UL

int guest_main(void)
{
	char line[LINE_MAX + 1];
	unsigned int n = 0;
	unsigned long polls = 0;

	con_puts("serial-echo: ready");
	while (n < LINE_MAX) {
		char c;

		if (!(inb(COM1_PORT + UART_LSR) & LSR_DR)) {
			if (++polls > POLL_LIMIT)
				result_fail("no complete line after %lu polls", polls);
			continue;
		}
		c = (char)inb(COM1_PORT);
		if (c == '\n' || c == '\r')
			break;
		line[n++] = c;
	}
	line[n] = '\0';
	con_printf("serial-echo: got '%s'\n", line);
	if (!n)
		result_fail("empty line");
	result_pass();
}
