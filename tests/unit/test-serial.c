// SPDX-License-Identifier: MIT
#include <string.h>
#include <unistd.h>

#include "tern/devices.h"
#include "tern/outbuf.h"
#include "unit.h"

struct irq_probe {
	bool level;
	int changes;
};

static void probe_irq(void *opaque, bool level)
{
	struct irq_probe *p = opaque;

	p->level = level;
	p->changes++;
}

static uint8_t rd(struct serial *s, uint64_t off)
{
	uint8_t v;

	serial_bus_ops.read(s, off, &v, 1);
	return v;
}

static void wr(struct serial *s, uint64_t off, uint8_t v)
{
	serial_bus_ops.write(s, off, &v, 1);
}

START_TEST(output_reaches_fd)
{
	struct outbuf *ob;
	struct serial s;
	int fds[2];
	char buf[8] = { 0 };

	ck_assert_int_eq(pipe(fds), 0);
	ob = outbuf_new(NULL, fds[1], 4096, "test", NULL);
	serial_init(&s, ob, NULL, NULL);
	ck_assert(rd(&s, 5) & 0x20); /* THRE */
	wr(&s, 0, 'o');
	wr(&s, 0, 'k');
	/* The writer thread may send the bytes in two write()s: wait for both. */
	ck_assert(outbuf_flush(ob, tern_now_ns() + 5000000000ULL));
	ck_assert_int_eq(read(fds[0], buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "ok");
	ck_assert(rd(&s, 5) & 0x60); /* THRE | TEMT again */
	outbuf_destroy(ob);
}
END_TEST

/* A console nobody reads: the UART takes every byte at once, drops the rest. */
START_TEST(unread_console_never_blocks)
{
	struct serial s;
	struct outbuf *ob;
	uint64_t start;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ob = outbuf_new(NULL, fds[1], 4096, "test", NULL);
	serial_init(&s, ob, NULL, NULL);
	start = tern_now_ns();
	/* 1 MiB: sixteen times a pipe's capacity, never read. */
	for (int i = 0; i < 1 << 20; i++)
		wr(&s, 0, 'x');
	ck_assert_msg(tern_now_ns() - start < 5000000000ULL, "the UART waited");
	ck_assert_uint_gt(outbuf_dropped(ob), (1 << 20) - 4096 - 65536 - 1);
	outbuf_destroy(ob);
}
END_TEST

START_TEST(divisor_latch)
{
	struct outbuf *ob;
	struct serial s;
	int fds[2];
	char c;

	ck_assert_int_eq(pipe(fds), 0);
	ob = outbuf_new(NULL, fds[1], 4096, "test", NULL);
	serial_init(&s, ob, NULL, NULL);
	wr(&s, 3, 0x80); /* DLAB */
	wr(&s, 0, 0x01); /* DLL: must not be transmitted */
	wr(&s, 1, 0x00);
	ck_assert_uint_eq(rd(&s, 0), 0x01);
	wr(&s, 3, 0x03); /* 8n1, DLAB off */
	wr(&s, 0, 'x');
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	outbuf_destroy(ob);
}
END_TEST

START_TEST(receive_and_irq)
{
	struct serial s;
	struct irq_probe p = { 0 };

	serial_init(&s, NULL, probe_irq, &p);
	ck_assert(!(rd(&s, 5) & 0x01));
	ck_assert_uint_eq(serial_receive(&s, (const uint8_t *)"ab", 2), 2);
	ck_assert(rd(&s, 5) & 0x01); /* data ready */
	ck_assert(!p.level); /* interrupts not enabled yet */
	wr(&s, 1, 0x01); /* IER: RDI */
	ck_assert(p.level);
	ck_assert_uint_eq(rd(&s, 2) & 0x0f, 0x04);
	ck_assert_uint_eq(rd(&s, 0), 'a');
	ck_assert(p.level);
	ck_assert_uint_eq(rd(&s, 0), 'b');
	ck_assert(!p.level);
	ck_assert(!(rd(&s, 5) & 0x01));
	ck_assert_uint_eq(rd(&s, 2) & 0x0f, 0x01); /* no interrupt */
}
END_TEST

START_TEST(thre_interrupt)
{
	struct serial s;
	struct irq_probe p = { 0 };

	serial_init(&s, NULL, probe_irq, &p);
	wr(&s, 1, 0x02); /* IER: THRI, with an empty THR raises at once */
	ck_assert(p.level);
	ck_assert_uint_eq(rd(&s, 2) & 0x0f, 0x02); /* reading IIR acks it */
	ck_assert(!p.level);
	wr(&s, 0, 'z');
	ck_assert(p.level);
}
END_TEST

START_TEST(input_bounded)
{
	struct serial s;
	static uint8_t big[SERIAL_INPUT_MAX + 100];

	serial_init(&s, NULL, NULL, NULL);
	memset(big, 'q', sizeof(big));
	ck_assert_uint_eq(serial_receive(&s, big, sizeof(big)), SERIAL_INPUT_MAX);
	ck_assert_uint_eq(serial_receive(&s, big, 1), 0);
	for (unsigned int i = 0; i < SERIAL_INPUT_MAX; i++)
		ck_assert_uint_eq(rd(&s, 0), 'q');
	ck_assert(!(rd(&s, 5) & 0x01));
	ck_assert_uint_eq(rd(&s, 0), 0);
}
END_TEST

START_TEST(loopback_and_scratch)
{
	struct serial s;

	serial_init(&s, NULL, NULL, NULL);
	wr(&s, 7, 0x5a);
	ck_assert_uint_eq(rd(&s, 7), 0x5a);
	wr(&s, 4, 0x10); /* loopback */
	wr(&s, 0, 0xa5);
	ck_assert(rd(&s, 5) & 0x01);
	ck_assert_uint_eq(rd(&s, 0), 0xa5);
}
END_TEST

START_TEST(wide_access_ignored)
{
	struct serial s;
	uint32_t v = 0x41414141;

	serial_init(&s, NULL, NULL, NULL);
	serial_bus_ops.write(&s, 7, &v, 4);
	ck_assert_uint_eq(rd(&s, 7), 0);
	serial_bus_ops.read(&s, 5, &v, 2);
	ck_assert_uint_eq(v & 0xffff, 0xffff);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("serial");

	UNIT_TCASE(s, "uart", output_reaches_fd, unread_console_never_blocks,
		   divisor_latch, receive_and_irq,
		   thre_interrupt, input_bounded, loopback_and_scratch,
		   wide_access_ignored);
	return unit_run(s);
}
