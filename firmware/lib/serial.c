// SPDX-License-Identifier: MIT
/* Polled 8250/16550 output on COM1. */
#include <stdbool.h>

#include "guest/console.h"
#include "guest/x86.h"

#define UART_THR 0 /* transmit holding register */
#define UART_IER 1
#define UART_DLL 0
#define UART_DLM 1
#define UART_FCR 2 /* write */
#define UART_IIR 2 /* read */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0x07
#define IIR_FIFO_MASK 0xc0
#define MCR_DTR_RTS 0x03 /* OUT2 stays off: no IRQ line */
#define LSR_THRE 0x20

#define UART_FIFO_SIZE 16

/*
 * Bytes to write per "transmitter empty" poll: the whole FIFO on a 16550A,
 * one byte on an 8250. Each poll and each byte is an exit to the VMM, so
 * this halves the exits per character on a 16550A.
 */
static unsigned int serial_burst = 1;

void serial_init(void)
{
	outb(COM1_PORT + UART_IER, 0);
	outb(COM1_PORT + UART_LCR, LCR_DLAB);
	outb(COM1_PORT + UART_DLL, 1); /* 115200 baud */
	outb(COM1_PORT + UART_DLM, 0);
	outb(COM1_PORT + UART_LCR, LCR_8N1);
	outb(COM1_PORT + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1_PORT + UART_MCR, MCR_DTR_RTS);
	if ((inb(COM1_PORT + UART_IIR) & IIR_FIFO_MASK) == IIR_FIFO_MASK)
		serial_burst = UART_FIFO_SIZE;
}

void serial_write(const char *buf, size_t len)
{
	while (len > 0) {
		size_t n = len < serial_burst ? len : serial_burst;

		while (!(inb(COM1_PORT + UART_LSR) & LSR_THRE))
			cpu_relax();
		for (size_t i = 0; i < n; i++)
			outb(COM1_PORT + UART_THR, (uint8_t)buf[i]);
		buf += n;
		len -= n;
	}
}
