/* SPDX-License-Identifier: MIT */
/*
 * Test-and-set spinlock on a plain xchg (implicitly locked). Nothing here
 * uses cmpxchg16b, which the ring-0 emulator on the development machines
 * does not implement. Usable at CPL 0 and CPL 3; never with interrupts on.
 */
#ifndef GUEST_SPINLOCK_H
#define GUEST_SPINLOCK_H

#include <stdint.h>

#include "guest/x86.h"

struct spinlock {
	volatile uint32_t locked;
};

#define SPINLOCK_INIT { 0 }

static inline void spin_lock(struct spinlock *l)
{
	for (;;) {
		uint32_t v = 1;

		__asm__ volatile("xchg %0, %1"
				 : "+r"(v), "+m"(l->locked)
				 :
				 : "memory");
		if (v == 0)
			return;
		while (l->locked)
			cpu_relax();
	}
}

static inline void spin_unlock(struct spinlock *l)
{
	/* x86 stores are release ordered; the clobber stops the compiler. */
	__asm__ volatile("" ::: "memory");
	l->locked = 0;
}

#endif
