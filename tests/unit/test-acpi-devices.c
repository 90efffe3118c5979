// SPDX-License-Identifier: MIT
/*
 * The Generic Event Device and the sleep registers on a machine whose
 * operations record interrupt lines and shutdown requests instead of
 * calling KVM, driven through the buses as a guest drives them.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "tern/acpi.h"
#include "tern/acpi_devices.h"
#include "tern/device.h"
#include "tern/layout.h"
#include "tern/machine.h"
#include "tern/state.h"
#include "unit.h"

struct recorder {
	uint32_t gsi[16];
	bool level[16];
	unsigned int nlines;
	int line_error; /* what set_irq_line returns */
	enum vm_exit_reason reason;
	int code;
	unsigned int shutdowns;
};

static struct recorder rec;
static struct bus pio, mmio;
static struct machine m;

static int rec_line(void *opaque, uint32_t gsi, bool level)
{
	if (rec.line_error)
		return rec.line_error;
	ck_assert_uint_lt(rec.nlines, G_N_ELEMENTS(rec.gsi));
	rec.gsi[rec.nlines] = gsi;
	rec.level[rec.nlines++] = level;
	return 0;
}

static void rec_shutdown(void *opaque, enum vm_exit_reason reason, int code)
{
	rec.reason = reason;
	rec.code = code;
	rec.shutdowns++;
}

static const struct machine_ops rec_ops = {
	.set_irq_line = rec_line,
	.request_shutdown = rec_shutdown,
};

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	m = (struct machine){ .pio = &pio, .mmio = &mmio, .ops = &rec_ops };
}

static void teardown(void)
{
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static void *create(const struct device_type *t)
{
	g_autoptr(GError) err = NULL;
	void *dev = t->create(&m, 0, &err);

	ck_assert_msg(dev, "%s", err ? err->message : "?");
	return dev;
}

static uint8_t ged_read(void)
{
	uint8_t v = 0xaa;

	ck_assert(bus_read(&mmio, LAYOUT_ACPI_GED_START, &v, 1));
	return v;
}

/* One edge: the line goes up, then down. */
static void ck_pulses(unsigned int n)
{
	ck_assert_uint_eq(rec.nlines, 2 * n);
	for (unsigned int i = 0; i < rec.nlines; i++) {
		ck_assert_uint_eq(rec.gsi[i], LAYOUT_ACPI_GED_GSI);
		ck_assert(rec.level[i] == !(i & 1));
	}
}

START_TEST(ged_event_pulses_and_reads_once)
{
	struct acpi_ged *g = create(&acpi_ged_device_type);
	uint32_t wide;

	ck_assert_uint_eq(ged_read(), 0);
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	ck_pulses(1);
	/* Two presses before the guest reads: one bit, two edges. */
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	ck_pulses(2);
	ck_assert_uint_eq(ged_read(), ACPI_GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(ged_read(), 0); /* read-to-clear */
	/* Bits it never sets are dropped; writes change nothing. */
	acpi_ged_notify(g, 0x07);
	ck_assert_uint_eq(ged_read(), 0);
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	ck_assert(bus_write(&mmio, LAYOUT_ACPI_GED_START, "\0", 1));
	ck_assert_uint_eq(ged_read(), ACPI_GED_EVENT_POWER_BUTTON);
	/* Nothing wider than the one-byte register is its. */
	ck_assert(!bus_read(&mmio, LAYOUT_ACPI_GED_START, &wide, 4));
	acpi_ged_device_type.destroy(g);
	ck_assert(!bus_read(&mmio, LAYOUT_ACPI_GED_START, &wide, 1));
}
END_TEST

/* While stopped the interrupt is owed; resume sends one edge for all. */
START_TEST(ged_quiesced_defers_the_interrupt)
{
	struct acpi_ged *g = create(&acpi_ged_device_type);

	ck_assert_int_eq(acpi_ged_device_type.quiesce(g, 0), 0);
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	ck_pulses(0);
	acpi_ged_device_type.resume(g);
	ck_pulses(1);
	acpi_ged_device_type.resume(g); /* nothing more is owed */
	ck_pulses(1);
	ck_assert_uint_eq(ged_read(), ACPI_GED_EVENT_POWER_BUTTON);

	/* A reset drops what was pending and owed. */
	acpi_ged_device_type.quiesce(g, 0);
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	acpi_ged_device_type.reset(g);
	acpi_ged_device_type.resume(g);
	ck_pulses(1);
	ck_assert_uint_eq(ged_read(), 0);
	acpi_ged_device_type.destroy(g);
}
END_TEST

/* A line that cannot be set is logged; the event stays readable. */
START_TEST(ged_line_failure_keeps_the_event)
{
	struct acpi_ged *g = create(&acpi_ged_device_type);

	rec.line_error = -EIO;
	acpi_ged_notify(g, ACPI_GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(ged_read(), ACPI_GED_EVENT_POWER_BUTTON);
	acpi_ged_device_type.destroy(g);
}
END_TEST

static uint8_t *ged_saved(struct acpi_ged *g, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	acpi_ged_device_type.save(g, "acpi-ged.0", &w);
	return state_writer_finish(&w, len);
}

/* The pending bits and the owed interrupt go to a twin, bit for bit. */
START_TEST(ged_state_round_trip)
{
	struct acpi_ged *a = create(&acpi_ged_device_type), *b;
	g_autofree uint8_t *s1 = NULL, *s2 = NULL;
	g_autoptr(GError) err = NULL;
	struct state_reader r;
	size_t l1, l2;

	acpi_ged_device_type.quiesce(a, 0);
	acpi_ged_notify(a, ACPI_GED_EVENT_POWER_BUTTON);
	s1 = ged_saved(a, &l1);
	acpi_ged_device_type.destroy(a);

	b = create(&acpi_ged_device_type);
	acpi_ged_device_type.quiesce(b, 0);
	ck_assert(state_reader_init(&r, s1, l1, &err));
	ck_assert_msg(acpi_ged_device_type.load(b, "acpi-ged.0", &r, &err),
		      "%s", err ? err->message : "?");
	ck_assert(state_reader_finish(&r, &err));
	state_reader_clear(&r);
	s2 = ged_saved(b, &l2);
	ck_assert_uint_eq(l1, l2);
	ck_assert_mem_eq(s1, s2, l1);
	ck_pulses(0);
	acpi_ged_device_type.resume(b);
	ck_pulses(1);
	ck_assert_uint_eq(ged_read(), ACPI_GED_EVENT_POWER_BUTTON);
	acpi_ged_device_type.destroy(b);
}
END_TEST

/* A state with bits the device never sets, or a bad bool, changes nothing. */
START_TEST(ged_bad_state_is_refused)
{
	static const uint8_t bad[][2] = { { 0x01, 0 }, { 0x88, 0 }, { 0x08, 2 } };
	struct acpi_ged *g = create(&acpi_ged_device_type);

	acpi_ged_device_type.quiesce(g, 0);
	for (unsigned int i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree uint8_t *s = NULL;
		struct state_writer w;
		struct state_reader r;
		size_t len;

		state_writer_init(&w);
		state_section_begin(&w, 1, "acpi-ged.0");
		state_put_u8(&w, bad[i][0]);
		state_put_u8(&w, bad[i][1]);
		state_section_end(&w);
		s = state_writer_finish(&w, &len);
		ck_assert(state_reader_init(&r, s, len, &err));
		ck_assert(!acpi_ged_device_type.load(g, "acpi-ged.0", &r, &err));
		ck_assert_ptr_nonnull(err);
		state_reader_clear(&r);
	}
	/* Untouched: nothing pending, nothing owed. */
	acpi_ged_device_type.resume(g);
	ck_pulses(0);
	ck_assert_uint_eq(ged_read(), 0);
	acpi_ged_device_type.destroy(g);
}
END_TEST

static void sleep_write(uint16_t port, uint8_t v)
{
	ck_assert(bus_write(&pio, port, &v, 1));
}

START_TEST(sleep_s5_powers_off)
{
	void *s = create(&acpi_sleep_device_type);
	uint8_t v = 0xff;
	uint16_t both = 0;

	/* What Linux's acpi_hw_extended_sleep() writes: WAK_STS, then S5. */
	sleep_write(PORT_ACPI_SLEEP_STATUS, ACPI_SLEEP_WAK_STS);
	ck_assert(bus_read(&pio, PORT_ACPI_SLEEP_STATUS, &v, 1));
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(rec.shutdowns, 0);
	sleep_write(PORT_ACPI_SLEEP_CONTROL,
		    ACPI_S5_SLP_TYP << ACPI_SLEEP_TYP_SHIFT | ACPI_SLEEP_EN);
	ck_assert_uint_eq(rec.shutdowns, 1);
	ck_assert_int_eq(rec.reason, VM_EXIT_POWEROFF);
	ck_assert_int_eq(rec.code, 0);
	ck_assert_uint_eq(0x34, ACPI_S5_SLP_TYP << ACPI_SLEEP_TYP_SHIFT |
					ACPI_SLEEP_EN);
	/* A word write covers both registers; control is its low byte. */
	both = 0x34;
	ck_assert(bus_write(&pio, PORT_ACPI_SLEEP_CONTROL, &both, 2));
	ck_assert_uint_eq(rec.shutdowns, 2);
	acpi_sleep_device_type.destroy(s);
}
END_TEST

/* Anything but S5 with SLP_EN is ignored: other types, no enable, status. */
START_TEST(sleep_other_writes_do_nothing)
{
	void *s = create(&acpi_sleep_device_type);
	uint8_t v = 0xff;

	for (unsigned int b = 0; b < 256; b++) {
		bool s5 = (b & ACPI_SLEEP_EN) &&
			  ((b & ACPI_SLEEP_TYP_MASK) >> ACPI_SLEEP_TYP_SHIFT) ==
				  ACPI_S5_SLP_TYP;

		sleep_write(PORT_ACPI_SLEEP_STATUS, (uint8_t)b);
		if (!s5)
			sleep_write(PORT_ACPI_SLEEP_CONTROL, (uint8_t)b);
	}
	ck_assert_uint_eq(rec.shutdowns, 0);
	ck_assert(bus_read(&pio, PORT_ACPI_SLEEP_CONTROL, &v, 1));
	ck_assert_uint_eq(v, 0);
	/* The S5 value with other bits set still powers off: they are reserved. */
	sleep_write(PORT_ACPI_SLEEP_CONTROL, 0x34 | 0xc3);
	ck_assert_uint_eq(rec.shutdowns, 1);
	acpi_sleep_device_type.destroy(s);
	ck_assert(!bus_read(&pio, PORT_ACPI_SLEEP_CONTROL, &v, 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acpi-devices");
	TCase *tc = tcase_create("devices");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ged_event_pulses_and_reads_once);
	tcase_add_test(tc, ged_quiesced_defers_the_interrupt);
	tcase_add_test(tc, ged_line_failure_keeps_the_event);
	tcase_add_test(tc, ged_state_round_trip);
	tcase_add_test(tc, ged_bad_state_is_refused);
	tcase_add_test(tc, sleep_s5_powers_off);
	tcase_add_test(tc, sleep_other_writes_do_nothing);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
