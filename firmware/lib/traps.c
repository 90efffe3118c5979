// SPDX-License-Identifier: MIT
/* Any CPU exception is a failed test: report it and leave. */
#include "guest/console.h"
#include "guest/exit.h"
#include "internal.h"

static const char *const trap_names[] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void trap_handler(struct trap_frame *f)
{
	char line[192];
	uint64_t cr2;
	const char *name = "?";

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	if (f->vector < sizeof(trap_names) / sizeof(trap_names[0]))
		name = trap_names[f->vector];
	/*
	 * Bypass the print lock: the fault may have hit while this CPU held
	 * it, and a garbled line beats a hang.
	 */
	int n = con_snprintf(line, sizeof(line),
			     "RESULT: FAIL exception %lu %s error=%#lx "
			     "rip=%#lx cs=%#lx rsp=%#lx cr2=%#lx\n",
			     f->vector, name, f->error, f->rip, f->cs, f->rsp,
			     cr2);
	serial_write(line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
	exit_port(1);
}
