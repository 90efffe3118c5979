/* SPDX-License-Identifier: MIT */
/*
 * Console output on the 8250/16550 UART at 0x3f8, polled, no interrupts.
 * console_write(), con_printf() and con_puts() work at any CPL: at CPL 3
 * they format in ring 3 and hand the text to ring 0 with user_syscall().
 * Each call is one unit across CPUs (an xchg spinlock), so lines from
 * different CPUs do not mix.
 */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

#define COM1_PORT 0x3f8

/* 8N1, interrupts off, FIFOs on when the UART has them. */
void serial_init(void);
/* Ring 0, no lock: for the trap handler and console_write(). */
void serial_write(const char *buf, size_t len);

/* Write len bytes under the console lock, from any CPL. */
void console_write(const char *buf, size_t len);

/*
 * printf subset: %d %i %u %x %X %s %c %p %%, flags '-' and '0', a field
 * width (digits or '*'), and the length modifiers l, ll, z. Output is
 * truncated at size - 1 bytes; the return value is the untruncated length.
 */
int con_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int con_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats into a 256-byte stack buffer, then console_write(). */
int con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void con_puts(const char *s); /* s and a newline */

#endif
