// SPDX-License-Identifier: MIT
/*
 * The i8042 as Linux's probe drives it through the port bus, on a machine
 * whose shutdown request is recorded instead of ending a VM.
 */
#include <string.h>

#include "tern/devices.h"
#include "tern/layout.h"
#include "tern/machine.h"
#include "unit.h"

static struct bus pio, mmio;
static struct machine m;
static unsigned int resets;

static void rec_shutdown(void *opaque, enum vm_exit_reason reason, int code)
{
	ck_assert_int_eq(reason, VM_EXIT_RESET);
	resets++;
}

static const struct machine_ops rec_ops = {
	.request_shutdown = rec_shutdown,
};

static void setup(void)
{
	resets = 0;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	m = (struct machine){ .pio = &pio, .mmio = &mmio, .ops = &rec_ops };
}

static void teardown(void)
{
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static uint8_t in(uint16_t port)
{
	uint8_t v = 0;

	ck_assert(bus_read(&pio, port, &v, 1));
	return v;
}

static void out(uint16_t port, uint8_t v)
{
	ck_assert(bus_write(&pio, port, &v, 1));
}

/* Linux's i8042_controller_init(): CTR read twice, keylock, CTR written. */
START_TEST(linux_probe_sees_a_quiet_controller)
{
	g_autoptr(GError) err = NULL;
	struct i8042 *k = i8042_create(&m, &err);

	ck_assert_ptr_nonnull(k);
	/* Bit 4 set: the keyboard is not inhibited ("Keylock active" else). */
	ck_assert_uint_eq(in(PORT_I8042_CMD) & 0x10, 0x10);
	out(PORT_I8042_CMD, 0xaa); /* self-test */
	ck_assert(in(PORT_I8042_CMD) & 0x01);
	ck_assert_uint_eq(in(PORT_I8042_DATA), 0x55);
	ck_assert(!(in(PORT_I8042_CMD) & 0x01));
	for (int i = 0; i < 2; i++) {
		out(PORT_I8042_CMD, 0x20);
		ck_assert_uint_eq(in(PORT_I8042_DATA), 0x30);
	}
	out(PORT_I8042_CMD, 0x60);
	out(PORT_I8042_DATA, 0x70);
	out(PORT_I8042_CMD, 0x20);
	ck_assert_uint_eq(in(PORT_I8042_DATA), 0x70);
	ck_assert_uint_eq(in(PORT_I8042_CMD) & 0x10, 0x10);
	ck_assert_uint_eq(resets, 0);
	i8042_destroy(k);
}
END_TEST

START_TEST(pulse_and_outport_reset)
{
	g_autoptr(GError) err = NULL;
	struct i8042 *k = i8042_create(&m, &err);

	ck_assert_ptr_nonnull(k);
	out(PORT_I8042_CMD, 0xfe);
	ck_assert_uint_eq(resets, 1);
	out(PORT_I8042_CMD, 0xd1); /* write output port: bit 0 low */
	out(PORT_I8042_DATA, 0xfe);
	ck_assert_uint_eq(resets, 2);
	out(PORT_I8042_CMD, 0xff); /* pulse nothing: bit 0 stays high */
	ck_assert_uint_eq(resets, 2);
	i8042_destroy(k);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("i8042");
	TCase *tc = tcase_create("i8042");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, linux_probe_sees_a_quiet_controller);
	tcase_add_test(tc, pulse_and_outport_reset);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
