// SPDX-License-Identifier: MIT
/*
 * triple-fault: load an empty IDT and raise #UD. The #UD gate is past the
 * IDT limit (#GP), so is #GP's (#DF), so is #DF's: the CPU shuts down, and
 * the VMM must report a triple fault (QEMU -no-reboot: exits with status 0).
 *
 * ud2 rather than int3: KVM's instruction emulator, which runs every ring-0
 * instruction on the development machines, does not implement software
 * interrupts outside real mode ("emulation failure" at the int3).
 */
#include "guest/guest.h"

int guest_main(void)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) null_idt = { 0, 0 };

	con_puts("triple-fault: loading a null IDT, then ud2");
	__asm__ volatile("lidt %0; ud2" : : "m"(null_idt));
	result_fail("still running after ud2 with a null IDT");
}
