// SPDX-License-Identifier: MIT
/*
 * i8042 keyboard controller: no keyboard or mouse behind it, just enough of
 * the command set for Linux to probe it quietly, and the reset line (command
 * 0xfe, or output port bit 0 cleared) that `reboot=k` uses.
 */
#include <string.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/devices.h"
#include "tern/error.h"
#include "tern/layout.h"
#include "tern/state.h"

#define STATUS_OBF 0x01 /* output buffer full */
#define STATUS_SYS 0x04 /* self-test passed */
#define STATUS_CMD 0x08 /* last write was a command */
/* Keyboard not inhibited: no key lock, so always set (a clear bit is
 * Linux's "Keylock active"). Not kept in the state. */
#define STATUS_UNLOCKED 0x10

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_AUX 0xd4
#define CMD_RESET 0xfe

struct i8042 {
	struct machine *m;
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ctr; /* controller configuration byte */
	uint8_t outport;
	uint8_t pending_cmd; /* command waiting for its data byte */
	uint8_t out;
};

static void i8042_reply(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->status |= STATUS_OBF;
}

static void i8042_read(struct i8042 *k, bool data_port, void *data,
		       unsigned int len)
{
	uint8_t v;

	memset(data, 0xff, len);
	pthread_mutex_lock(&k->lock);
	if (data_port) {
		v = k->out;
		k->status &= ~STATUS_OBF;
	} else {
		v = k->status | STATUS_UNLOCKED;
	}
	pthread_mutex_unlock(&k->lock);
	*(uint8_t *)data = v;
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_reply(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_AUX:
		k->pending_cmd = cmd;
		break;
	case CMD_SELF_TEST:
		i8042_reply(k, 0x55);
		break;
	case CMD_KBD_TEST:
	case CMD_AUX_TEST:
		i8042_reply(k, 0x00);
		break;
	case CMD_READ_OUTPORT:
		i8042_reply(k, k->outport);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= 0x10;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= ~0x10;
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= 0x20;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= ~0x20;
		break;
	case CMD_RESET:
		machine_request_shutdown(k->m, VM_EXIT_RESET, 0);
		break;
	default:
		/* 0xf0-0xff pulse output lines; bit 0 is the reset line. */
		if (cmd >= 0xf0 && !(cmd & 1))
			machine_request_shutdown(k->m, VM_EXIT_RESET, 0);
		break;
	}
}

static void i8042_write(struct i8042 *k, bool data_port, const void *data)
{
	uint8_t v = *(const uint8_t *)data;

	pthread_mutex_lock(&k->lock);
	if (data_port) {
		k->status &= ~STATUS_CMD;
		switch (k->pending_cmd) {
		case CMD_WRITE_CTR:
			k->ctr = v;
			break;
		case CMD_WRITE_OUTPORT:
			k->outport = v;
			if (!(v & 1))
				machine_request_shutdown(k->m, VM_EXIT_RESET, 0);
			break;
		case CMD_WRITE_AUX:
			/* No mouse: answer "resend" so the probe gives up. */
			i8042_reply(k, 0xfe);
			break;
		default:
			/* A keyboard command with no keyboard: no answer. */
			break;
		}
		k->pending_cmd = 0;
	} else {
		k->status |= STATUS_CMD;
		i8042_command(k, v);
	}
	pthread_mutex_unlock(&k->lock);
}

/* 0x60 and 0x64 are two one-byte regions; 0x61 belongs to the in-kernel PIT. */
static void i8042_data_read(void *opaque, uint64_t off, void *data,
			    unsigned int len)
{
	i8042_read(opaque, true, data, len);
}

static void i8042_data_write(void *opaque, uint64_t off, const void *data,
			     unsigned int len)
{
	i8042_write(opaque, true, data);
}

static void i8042_cmd_read(void *opaque, uint64_t off, void *data,
			   unsigned int len)
{
	i8042_read(opaque, false, data, len);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const void *data,
			    unsigned int len)
{
	i8042_write(opaque, false, data);
}

static const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

struct i8042 *i8042_create(struct machine *m, GError **err)
{
	struct i8042 *k = g_new0(struct i8042, 1);
	int ret;

	k->m = m;
	pthread_mutex_init(&k->lock, NULL);
	k->status = STATUS_SYS;
	k->ctr = 0x30; /* both ports disabled, no interrupts */
	k->outport = 0x01; /* not in reset */

	ret = bus_register(m->pio, PORT_I8042_DATA, 1, &i8042_data_ops, k,
			   "i8042-data");
	if (!ret) {
		ret = bus_register(m->pio, PORT_I8042_CMD, 1, &i8042_cmd_ops, k,
				   "i8042-cmd");
		if (ret)
			(void)!bus_unregister(m->pio, PORT_I8042_DATA);
	}
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL, "i8042: %s",
			    g_strerror(-ret));
		g_free(k);
		return NULL;
	}
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	(void)!bus_unregister(k->m->pio, PORT_I8042_CMD);
	(void)!bus_unregister(k->m->pio, PORT_I8042_DATA);
	pthread_mutex_destroy(&k->lock);
	g_free(k);
}

/* ---- registry ---- */

#define I8042_STATE_VERSION 1

static unsigned int i8042_count(const struct vm_config *cfg)
{
	return 1;
}

static void *i8042_device_create(struct machine *m, unsigned int index,
				 GError **err)
{
	return i8042_create(m, err);
}

static void i8042_device_destroy(void *dev)
{
	i8042_destroy(dev);
}

static void i8042_save(void *dev, const char *id, struct state_writer *w)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	state_section_begin(w, I8042_STATE_VERSION, "%s", id);
	state_put_u8(w, k->status);
	state_put_u8(w, k->ctr);
	state_put_u8(w, k->outport);
	state_put_u8(w, k->pending_cmd);
	state_put_u8(w, k->out);
	state_section_end(w);
	pthread_mutex_unlock(&k->lock);
}

static bool i8042_load(void *dev, const char *id, struct state_reader *r,
		       GError **err)
{
	struct i8042 *k = dev;
	uint8_t status, ctr, outport, pending, out;

	if (!state_section_open(r, I8042_STATE_VERSION, I8042_STATE_VERSION,
				NULL, "%s", id))
		return state_section_close(r, err);
	state_get_u8(r, &status);
	state_get_u8(r, &ctr);
	state_get_u8(r, &outport);
	state_get_u8(r, &pending);
	state_get_u8(r, &out);
	state_check(r, !(status & ~(STATUS_OBF | STATUS_SYS | STATUS_CMD)),
		    "status 0x%02x has bits this controller never sets", status);
	state_check(r, pending == 0 || pending == CMD_WRITE_CTR ||
			       pending == CMD_WRITE_OUTPORT ||
			       pending == CMD_WRITE_AUX,
		    "pending command 0x%02x takes no data byte", pending);
	/* Output port bit 0 clear holds the CPU in reset. */
	state_check(r, outport & 1, "output port 0x%02x holds the CPU in reset",
		    outport);
	if (!state_section_close(r, err))
		return false;
	pthread_mutex_lock(&k->lock);
	k->status = status;
	k->ctr = ctr;
	k->outport = outport;
	k->pending_cmd = pending;
	k->out = out;
	pthread_mutex_unlock(&k->lock);
	return true;
}

const struct device_type i8042_device_type = {
	.name = "i8042",
	.option = "(always present)",
	.count = i8042_count,
	.create = i8042_device_create,
	.destroy = i8042_device_destroy,
	.save = i8042_save,
	.load = i8042_load,
};
