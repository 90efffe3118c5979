/* SPDX-License-Identifier: MIT */
/*
 * Where the guests live, shared by the C code, the assembly and (by value)
 * guest.ld. Everything is identity mapped: virtual == physical.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define FW_LOAD_ADDR 0x100000 /* the image and its trap stubs start here */
#define FW_TRAP_STUB_SIZE 16 /* each stub is padded to this */
#define FW_NR_TRAPS 32 /* exceptions only: nothing raises an IRQ */

#define FW_BSP_STACK_SIZE 16384
#define FW_USER_STACK_SIZE 16384
#define FW_USER_TRAP_STACK_SIZE 4096 /* ring 0 after an exception at CPL 3 */
#define FW_AP_STACK_SIZE 4096

#endif
