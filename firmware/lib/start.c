// SPDX-License-Identifier: MIT
/* The C side of the entry: console, start info, then the guest. */
#include "guest/guest.h"

void guest_start(uint32_t start_info_paddr)
{
	serial_init();
	if (!start_info_init(start_info_paddr))
		result_fail("no hvm_start_info at %#x (bad magic)",
			    start_info_paddr);
	exit_port((uint32_t)guest_main());
}
