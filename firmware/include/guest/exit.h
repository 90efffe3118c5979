/* SPDX-License-Identifier: MIT */
/*
 * Leaving the VM, and the verdict protocol of the test guests: a test guest
 * prints exactly one "RESULT: PASS" or "RESULT: FAIL <reason>" line, then
 * leaves through the exit port with 0 (pass) or 1 (fail).
 */
#ifndef GUEST_EXIT_H
#define GUEST_EXIT_H

#include <stdint.h>

#define EXIT_PORT 0xf4 /* QEMU isa-debug-exit: host status (v << 1) | 1 */
#define I8042_CMD_PORT 0x64
#define I8042_CMD_RESET 0xfe

/*
 * Write v to the exit port. Under a VMM with the port this does not
 * return; without one it halts. Any CPL (ring 3 goes through ring 0).
 */
__attribute__((noreturn)) void exit_port(uint32_t v);
/* Pulse the reset line through the i8042; returns if nothing happened. */
void i8042_reset(void);

__attribute__((noreturn)) void result_pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void
result_fail(const char *fmt, ...);

#endif
