/* SPDX-License-Identifier: MIT */
/*
 * Console output on the 8250/16550 UART at 0x3f8, polled, no interrupts.
 * Works at CPL 0 and, because ring 3 runs with IOPL 3, at CPL 3 too. Each
 * con_printf() call is one line-atomic unit across CPUs (an xchg spinlock).
 */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

#define COM1_PORT 0x3f8

/* 8N1, interrupts off, FIFOs on when the UART has them. */
void serial_init(void);
void serial_write(const char *buf, size_t len);

/*
 * printf subset: %d %i %u %x %X %s %c %p %%, flags '-' and '0', a field
 * width (digits or '*'), and the length modifiers l, ll, z. Output is
 * truncated at size - 1 bytes; the return value is the untruncated length.
 */
int con_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int con_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats into a 256-byte stack buffer and writes it under the print lock. */
int con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void con_puts(const char *s); /* s and a newline */

#endif
