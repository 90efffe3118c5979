/* SPDX-License-Identifier: MIT */
/*
 * What every guest provides and gets. lib/entry.S switches to 64-bit long
 * mode, lib/start.c initialises the console and the start info and then
 * calls guest_main(); its return value goes to the exit port.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include "guest/console.h"
#include "guest/exit.h"
#include "guest/start_info.h"
#include "guest/x86.h"

int guest_main(void);

/* Called from lib/entry.S. */
__attribute__((noreturn)) void guest_start(uint32_t start_info_paddr);

#endif
