// SPDX-License-Identifier: MIT
/*
 * exit-loop: reads a device register in a tight loop, forever, so nearly
 * every moment of its life is a vCPU exit waiting to be completed. By
 * default it reads the UART scratch register with `in` in ring 0; with
 * `mmio=1` it reads the host bridge's vendor/device
 * dword through ECAM from ring 3 (native, so many more exits per second).
 * The tests stop, continue and reset it many times: each boot prints one
 * "exit-loop: boot" line, and every value read must be the expected one.
 * A reset that let a half-done read complete on the fresh registers would
 * resume the old loop instead of booting (a "boot" line missing).
 */
#include "guest/guest.h"
#include "guest/user.h"

#define UART_SCR 0x3ff
#define PORT_MAGIC 0x5a
/* tern's ECAM window and its host bridge's ids (0x1b36:0x0008). */
#define ECAM_BASE 0xe0000000UL
#define HOST_BRIDGE_IDS 0x00081b36U

static long mmio_loop(void *arg)
{
	const volatile uint32_t *ids = (const volatile uint32_t *)ECAM_BASE;

	for (unsigned long k = 1;; k++) {
		uint32_t v = *ids;

		if (v != HOST_BRIDGE_IDS)
			result_fail("read 0x%x at iteration %lu", v, k);
		if (k % 16384 == 0)
			con_printf("exit-loop: %lu\n", k);
	}
	return 0;
}

int guest_main(void)
{
	unsigned long mmio;

	if (cmdline_get_uint("mmio", 1, &mmio) && mmio) {
		con_printf("exit-loop: boot\n");
		user_call(mmio_loop, NULL);
		result_fail("the loop returned");
	}
	outb(UART_SCR, PORT_MAGIC);
	con_printf("exit-loop: boot\n");
	for (unsigned long k = 1;; k++) {
		uint8_t v = inb(UART_SCR);

		if (v != PORT_MAGIC)
			result_fail("read 0x%x at iteration %lu", v, k);
		if (k % 4096 == 0)
			con_printf("exit-loop: %lu\n", k);
	}
}
