// SPDX-License-Identifier: MIT
/*
 * QEMU's isa-debug-exit: a write of v ends the VM and tern exits with
 * (v << 1) | 1, so a test guest's verdict reads the same under both VMMs.
 */
#include <string.h>

#include "tern/config.h"
#include "tern/device.h"
#include "tern/devices.h"
#include "tern/error.h"
#include "tern/layout.h"

struct test_exit {
	struct machine *m;
	uint16_t base;
};

static void test_exit_write(void *opaque, uint64_t off, const void *data,
			    unsigned int len)
{
	struct test_exit *t = opaque;
	uint32_t v = 0;

	/* QEMU takes the value at the access width, little-endian. */
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	machine_request_shutdown(t->m, VM_EXIT_TEST_PORT, (int)v);
}

static const struct bus_ops test_exit_ops = {
	.read = NULL, /* reads see zeros */
	.write = test_exit_write,
};

struct test_exit *test_exit_create(struct machine *m, uint16_t base, GError **err)
{
	struct test_exit *t = g_new0(struct test_exit, 1);
	int ret;

	t->m = m;
	t->base = base;
	ret = bus_register(m->pio, base, PORT_TEST_EXIT_SIZE, &test_exit_ops, t,
			   "test-exit");
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "test exit port at 0x%x: %s", base, g_strerror(-ret));
		g_free(t);
		return NULL;
	}
	return t;
}

void test_exit_destroy(struct test_exit *t)
{
	if (!t)
		return;
	(void)!bus_unregister(t->m->pio, t->base);
	g_free(t);
}

/* ---- registry: no state (a write ends the VM) ---- */

static unsigned int test_exit_count(const struct vm_config *cfg)
{
	return cfg->test_exit ? 1 : 0;
}

static void *test_exit_device_create(struct machine *m, unsigned int index,
				     GError **err)
{
	return test_exit_create(m, PORT_TEST_EXIT, err);
}

static void test_exit_device_destroy(void *dev)
{
	test_exit_destroy(dev);
}

const struct device_type test_exit_device_type = {
	.name = "test-exit",
	.option = "--test-exit",
	.count = test_exit_count,
	.create = test_exit_device_create,
	.destroy = test_exit_device_destroy,
};
