// SPDX-License-Identifier: MIT
/*
 * 8250/16550A UART, the registers Linux and our firmware use. Output goes
 * through the VM's console outbuf: a byte is handed over without waiting
 * (a console nobody reads drops bytes rather than stalling the vCPU, and
 * with it the control plane that waits for vCPUs to park).
 */
#include <errno.h>
#include <string.h>
#include <glib-unix.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/devices.h"
#include "tern/error.h"
#include "tern/layout.h"
#include "tern/outbuf.h"
#include "tern/state.h"

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
	s->iir = (s->fifo ? IIR_FIFO : 0) | iir;
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->set_irq)
			s->set_irq(s->irq_opaque, level);
	}
}

void serial_init(struct serial *s, struct outbuf *out,
		 void (*set_irq)(void *opaque, bool level), void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out = out;
	s->in_fd = -1;
	s->set_irq = set_irq;
	s->irq_opaque = opaque;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->iir = IIR_NO_INT;
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
	} else if (s->out) {
		(void)outbuf_write(s->out, &byte, 1);
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
		v = s->iir;
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
		s->fifo = v & FCR_ENABLE;
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
			     int in_fd, struct outbuf *out, GError **err)
{
	struct serial *s = g_new0(struct serial, 1);
	int ret;

	serial_init(s, out, serial_vm_set_irq, s);
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

/* ---- registry ---- */

#define SERIAL_STATE_VERSION 1

static unsigned int serial_count(const struct vm_config *cfg)
{
	return 1;
}

static void *serial_device_create(struct machine *m, unsigned int index,
				  GError **err)
{
	/* With --console virtio, stdin is the virtio console's. */
	int in_fd = m->cfg->console == CONSOLE_STDIO ? m->console_in_fd : -1;

	return serial_create(m, PORT_COM1, PORT_COM1_IRQ, in_fd, m->console_out,
			     err);
}

static void serial_device_destroy(void *dev)
{
	serial_destroy(dev);
}

static void serial_save(void *dev, const char *id, struct state_writer *w)
{
	struct serial *s = dev;

	pthread_mutex_lock(&s->lock);
	state_section_begin(w, SERIAL_STATE_VERSION, "%s", id);
	state_put_u8(w, s->ier);
	state_put_bool(w, s->fifo);
	state_put_u8(w, s->lcr);
	state_put_u8(w, s->mcr);
	state_put_u8(w, s->lsr);
	state_put_u8(w, s->msr);
	state_put_u8(w, s->scr);
	state_put_u8(w, s->dll);
	state_put_u8(w, s->dlm);
	state_put_bool(w, s->thr_ipending);
	/* Pending input in order, so the ring's offset is not part of it. */
	state_put_u32(w, s->rx_len);
	for (unsigned int i = 0; i < s->rx_len; i++)
		state_put_u8(w, s->rx[(s->rx_head + i) % SERIAL_INPUT_MAX]);
	state_section_end(w);
	pthread_mutex_unlock(&s->lock);
}

static bool serial_load(void *dev, const char *id, struct state_reader *r,
			GError **err)
{
	struct serial *s = dev;
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm;
	g_autofree uint8_t *rx = NULL;
	bool thri, fifo;
	uint32_t rx_len;

	if (!state_section_open(r, SERIAL_STATE_VERSION, SERIAL_STATE_VERSION,
				NULL, "%s", id))
		return state_section_close(r, err);
	state_get_u8(r, &ier);
	state_get_bool(r, &fifo);
	state_get_u8(r, &lcr);
	state_get_u8(r, &mcr);
	state_get_u8(r, &lsr);
	state_get_u8(r, &msr);
	state_get_u8(r, &scr);
	state_get_u8(r, &dll);
	state_get_u8(r, &dlm);
	state_get_bool(r, &thri);
	state_get_u32(r, &rx_len);
	state_check(r, !(ier & ~0x0f), "IER 0x%02x has reserved bits", ier);
	state_check(r, !(mcr & ~0x1f), "MCR 0x%02x has reserved bits", mcr);
	state_check(r, rx_len <= SERIAL_INPUT_MAX,
		    "%u bytes of pending input, at most %u", rx_len,
		    SERIAL_INPUT_MAX);
	state_check(r, !!(lsr & LSR_DR) == (rx_len != 0),
		    "LSR data-ready 0x%02x disagrees with %u pending bytes", lsr,
		    rx_len);
	if (state_ok(r)) {
		rx = g_malloc(MAX(rx_len, 1U));
		state_get_bytes(r, rx, rx_len);
	}
	if (!state_section_close(r, err))
		return false;
	pthread_mutex_lock(&s->lock);
	s->ier = ier;
	s->lcr = lcr;
	s->mcr = mcr;
	s->lsr = lsr;
	s->msr = msr;
	s->scr = scr;
	s->dll = dll;
	s->dlm = dlm;
	s->thr_ipending = thri;
	memcpy(s->rx, rx, rx_len);
	s->rx_head = 0;
	s->rx_len = rx_len;
	s->fifo = fifo;
	/* IIR and the line follow from the rest. */
	s->irq_level = false;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return true;
}

const struct device_type serial_device_type = {
	.name = "serial",
	.option = "--console",
	.count = serial_count,
	.create = serial_device_create,
	.destroy = serial_device_destroy,
	.save = serial_save,
	.load = serial_load,
};
