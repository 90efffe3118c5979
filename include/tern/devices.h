/* SPDX-License-Identifier: MIT */
/* Legacy platform devices: 8250 UART, i8042 (reset only), test exit port. */
#ifndef TERN_DEVICES_H
#define TERN_DEVICES_H

#include <glib.h>

#include "tern/bus.h"
#include "tern/machine.h"
#include "tern/util.h"

/*
 * 16550A-compatible UART. The register model does not know about the VM:
 * it raises its interrupt through set_irq, so unit tests drive it directly.
 */
#define SERIAL_FIFO_SIZE 64
#define SERIAL_INPUT_MAX 4096 /* host bytes buffered before input is dropped */

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, iir, lcr, mcr, lsr, msr, scr, dll, dlm;
	bool fifo; /* FCR bit 0: IIR reports FIFOs */
	bool thr_ipending; /* THRE interrupt pending until IIR is read */
	uint8_t rx[SERIAL_INPUT_MAX];
	unsigned int rx_head, rx_len;
	struct outbuf *out; /* NULL discards */
	bool irq_level;
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
	struct machine *m; /* NULL for a bare register model (unit tests) */
	unsigned int irq;
	uint16_t base;
	int in_fd;
	guint in_watch;
};

extern const struct bus_ops serial_bus_ops;

void serial_init(struct serial *s, struct outbuf *out,
		 void (*set_irq)(void *opaque, bool level), void *opaque);
/* Queue host input for the guest; returns how many bytes were taken. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

/* Create the UART on the machine's PIO bus at base with an ISA IRQ line. */
struct serial *serial_create(struct machine *m, uint16_t base, unsigned int irq,
			     int in_fd, struct outbuf *out, GError **err);
void serial_destroy(struct serial *s);

/* i8042: enough of the controller for Linux probing and the 0xfe reset. */
struct i8042;
struct i8042 *i8042_create(struct machine *m, GError **err);
void i8042_destroy(struct i8042 *k);

/* QEMU isa-debug-exit compatible port. */
struct test_exit;
struct test_exit *test_exit_create(struct machine *m, uint16_t base,
				   GError **err);
void test_exit_destroy(struct test_exit *t);

/* Their rows in the device table (device.h). */
struct device_type;
extern const struct device_type serial_device_type;
extern const struct device_type i8042_device_type;
extern const struct device_type test_exit_device_type;

#endif
