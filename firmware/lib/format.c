// SPDX-License-Identifier: MIT
/* A small printf: enough for console lines, nothing floating point. */
#include <stdbool.h>
#include <stdint.h>

#include "guest/console.h"
#include "guest/spinlock.h"
#include "guest/string.h"
#include "guest/user.h"
#include "guest/x86.h"

#define CON_LINE_MAX 256

struct out {
	char *buf;
	size_t size;
	size_t len; /* untruncated */
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void out_pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		out_char(o, c);
}

struct spec {
	bool left; /* '-' */
	bool zero; /* '0' */
	bool alt; /* '#' */
	int width;
};

/* body[0..n) is the text, prefix (sign or 0x) goes before zero padding. */
static void out_field(struct out *o, const struct spec *sp, const char *prefix,
		      const char *body, int n)
{
	int plen = (int)strlen(prefix);
	int pad = sp->width - n - plen;

	if (!sp->left && !sp->zero)
		out_pad(o, ' ', pad);
	for (int i = 0; i < plen; i++)
		out_char(o, prefix[i]);
	if (!sp->left && sp->zero)
		out_pad(o, '0', pad);
	for (int i = 0; i < n; i++)
		out_char(o, body[i]);
	if (sp->left)
		out_pad(o, ' ', pad);
}

static void out_number(struct out *o, const struct spec *sp, uint64_t v,
		       bool negative, unsigned int base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;
	const char *prefix = "";

	do {
		tmp[sizeof(tmp) - 1 - n++] = digits[v % base];
		v /= base;
	} while (v != 0);
	if (negative)
		prefix = "-";
	else if (sp->alt && base == 16)
		prefix = upper ? "0X" : "0x";
	out_field(o, sp, prefix, tmp + sizeof(tmp) - n, n);
}

int con_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size, .len = 0 };

	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			out_char(&o, *p);
			continue;
		}
		p++;

		struct spec sp = { 0 };

		for (;; p++) {
			if (*p == '-')
				sp.left = true;
			else if (*p == '0')
				sp.zero = true;
			else if (*p == '#')
				sp.alt = true;
			else
				break;
		}
		if (*p == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			p++;
		} else {
			while (*p >= '0' && *p <= '9')
				sp.width = sp.width * 10 + (*p++ - '0');
		}

		int lng = 0; /* 0 int, 1 long, 2 long long; size_t is long */

		while (*p == 'l' || *p == 'z') {
			lng = *p == 'z' ? 1 : lng + 1;
			p++;
		}

		uint64_t u;
		int64_t s;

		switch (*p) {
		case 'd':
		case 'i':
			if (lng == 0)
				s = va_arg(ap, int);
			else if (lng == 1)
				s = va_arg(ap, long);
			else
				s = va_arg(ap, long long);
			/* Negate in unsigned arithmetic so INT64_MIN works. */
			u = s < 0 ? -(uint64_t)s : (uint64_t)s;
			out_number(&o, &sp, u, s < 0, 10, false);
			break;
		case 'u':
		case 'x':
		case 'X':
			if (lng == 0)
				u = va_arg(ap, unsigned int);
			else if (lng == 1)
				u = va_arg(ap, unsigned long);
			else
				u = va_arg(ap, unsigned long long);
			out_number(&o, &sp, u, false, *p == 'u' ? 10 : 16,
				   *p == 'X');
			break;
		case 'p':
			sp.alt = true;
			out_number(&o, &sp, (uintptr_t)va_arg(ap, void *),
				   false, 16, false);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);

			sp.zero = false;
			out_field(&o, &sp, "", &c, 1);
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);

			if (!str)
				str = "(null)";
			sp.zero = false;
			out_field(&o, &sp, "", str, (int)strlen(str));
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			p--; /* a lone '%' at the end: stop at the NUL */
			break;
		default:
			/* Unknown conversion: print it as written. */
			out_char(&o, '%');
			out_char(&o, *p);
			break;
		}
	}
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int con_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = con_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static struct spinlock con_lock = SPINLOCK_INIT;

void console_write(const char *buf, size_t len)
{
	if (cpu_cpl() != 0) {
		user_syscall(USER_SYS_CONSOLE_WRITE, (long)buf, (long)len);
		return;
	}
	spin_lock(&con_lock);
	serial_write(buf, len);
	spin_unlock(&con_lock);
}

int con_printf(const char *fmt, ...)
{
	char line[CON_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = con_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	console_write(line, strlen(line));
	return n;
}

void con_puts(const char *s)
{
	con_printf("%s\n", s);
}
