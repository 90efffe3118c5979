// SPDX-License-Identifier: MIT
/*
 * 8250/16550A UART, the registers Linux and our firmware use. Output is
 * written straight to the host fd: each byte already costs a VM exit, so
 * buffering would save little and lose the tail on a crash.
 */
#include <errno.h>
#include <string.h>
#include <glib-unix.h>
#include <unistd.h>

#include "tern/devices.h"
#include "tern/error.h"

#define UART_RBR 0 /* DLAB 0, read */
#define UART_THR 0 /* DLAB 0, write */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MCR_OUT2 0x08
#define MSR_DCD 0x80
#define MSR_DSR 0x20
#define MSR_CTS 0x10
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

/* Called with s->lock held. */
static void serial_update_irq(struct serial *s)
{
	bool level = false;
	uint8_t iir = IIR_NO_INT;

	if ((s->ier & IER_RDI) && s->rx_len) {
		iir = IIR_RDI;
		level = true;
	} else if ((s->ier & IER_THRI) && s->thr_ipending) {
		iir = IIR_THRI;
		level = true;
	}
	s->iir_fcr = (s->iir_fcr & FCR_ENABLE ? IIR_FIFO : 0) | iir;
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->set_irq)
			s->set_irq(s->irq_opaque, level);
	}
}

void serial_init(struct serial *s, int out_fd,
		 void (*set_irq)(void *opaque, bool level), void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->in_fd = -1;
	s->set_irq = set_irq;
	s->irq_opaque = opaque;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->iir_fcr = IIR_NO_INT;
	s->mcr = MCR_OUT2;
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t taken = 0;

	pthread_mutex_lock(&s->lock);
	while (taken < len && s->rx_len < SERIAL_INPUT_MAX) {
		s->rx[(s->rx_head + s->rx_len) % SERIAL_INPUT_MAX] = buf[taken++];
		s->rx_len++;
	}
	if (s->rx_len)
		s->lsr |= LSR_DR;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return taken;
}

static void serial_tx(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_len < SERIAL_INPUT_MAX) {
			s->rx[(s->rx_head + s->rx_len) % SERIAL_INPUT_MAX] = byte;
			s->rx_len++;
			s->lsr |= LSR_DR;
		}
	} else if (s->out_fd >= 0) {
		/* A console that went away must not stop the guest. */
		(void)!write_full(s->out_fd, &byte, 1);
	}
	/* The byte is gone at once: the transmitter is empty again. */
	s->lsr |= LSR_THRE | LSR_TEMT;
	s->thr_ipending = true;
}

static void serial_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct serial *s = opaque;
	uint8_t v = 0xff;

	memset(data, 0xff, len);
	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
			break;
		}
		v = 0;
		if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_INPUT_MAX;
			s->rx_len--;
		}
		if (!s->rx_len)
			s->lsr &= ~LSR_DR;
		break;
	case UART_IER:
		v = s->lcr & LCR_DLAB ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = s->iir_fcr;
		/* Reading IIR acknowledges a THRE interrupt (16550 rule). */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_ipending = false;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = s->lsr;
		break;
	case UART_MSR:
		v = s->mcr & MCR_LOOP ? (uint8_t)((s->mcr & 0x0f) << 4) : s->msr;
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	*(uint8_t *)data = v;
}

static void serial_write(void *opaque, uint64_t off, const void *data,
			 unsigned int len)
{
	struct serial *s = opaque;
	uint8_t v = *(const uint8_t *)data;

	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else
			serial_tx(s, v);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			/* Enabling THRI with an empty THR raises it at once. */
			if (!(s->ier & IER_THRI) && (v & IER_THRI) &&
			    (s->lsr & LSR_THRE))
				s->thr_ipending = true;
			s->ier = v & 0x0f;
		}
		break;
	case UART_FCR:
		if (v & FCR_CLEAR_RX) {
			s->rx_len = 0;
			s->lsr &= ~LSR_DR;
		}
		s->iir_fcr = (s->iir_fcr & ~FCR_ENABLE) | (v & FCR_ENABLE);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_read,
	.write = serial_write,
};

static void serial_vm_set_irq(void *opaque, bool level)
{
	struct serial *s = opaque;

	if (machine_set_irq_line(s->m, s->irq, level))
		tern_warn("serial: cannot set IRQ %u", s->irq);
}

static gboolean serial_input_ready(gint fd, GIOCondition cond, gpointer opaque)
{
	struct serial *s = opaque;
	uint8_t buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		/* EOF or error: the guest simply gets no more input. */
		s->in_watch = 0;
		return G_SOURCE_REMOVE;
	}
	size_t taken = serial_receive(s, buf, n);

	if (taken < (size_t)n)
		tern_debug("serial: input buffer full, dropped %zu bytes",
			   (size_t)n - taken);
	return G_SOURCE_CONTINUE;
}

struct serial *serial_create(struct machine *m, uint16_t base, unsigned int irq,
			     int in_fd, int out_fd, GError **err)
{
	struct serial *s = g_new0(struct serial, 1);
	int ret;

	serial_init(s, out_fd, serial_vm_set_irq, s);
	s->m = m;
	s->irq = irq;
	s->base = base;
	ret = bus_register(m->pio, base, 8, &serial_bus_ops, s, "serial");
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "serial at 0x%x: %s", base, g_strerror(-ret));
		g_free(s);
		return NULL;
	}
	if (in_fd >= 0) {
		s->in_fd = in_fd;
		s->in_watch = g_unix_fd_add(in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
					    serial_input_ready, s);
	}
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->in_watch)
		g_source_remove(s->in_watch);
	if (bus_unregister(s->m->pio, s->base))
		tern_warn("serial: region at 0x%x was not registered", s->base);
	pthread_mutex_destroy(&s->lock);
	g_free(s);
}
