// SPDX-License-Identifier: MIT
/* INIT-SIPI-SIPI through the local APIC, xAPIC (MMIO) or x2APIC (MSR). */
#include "guest/smp.h"
#include "guest/string.h"
#include "guest/x86.h"
#include "internal.h"

#define APIC_REG_SVR 0xf0
#define APIC_REG_ICR_LO 0x300
#define APIC_REG_ICR_HI 0x310
#define APIC_SVR_ENABLE 0x100
#define APIC_ICR_BUSY 0x1000 /* delivery status, xAPIC only */

#define X2APIC_MSR_SVR 0x80f
#define X2APIC_MSR_ICR 0x830

#define ICR_INIT 0x4500 /* delivery mode INIT, level assert, edge */
#define ICR_STARTUP 0x4600 /* delivery mode start-up, vector in bits 7:0 */

#define ICR_BUSY_POLLS 100000

static volatile smp_ap_fn ap_fn;
static uintptr_t apic_base;
static bool apic_x2;

void smp_init(smp_ap_fn fn)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	ap_fn = fn;
	memcpy((void *)(uintptr_t)SMP_TRAMPOLINE_ADDR, smp_trampoline_start,
	       (size_t)(smp_trampoline_end - smp_trampoline_start));

	/*
	 * The APIC must be software-enabled (SVR bit 8) to send IPIs; a PVH
	 * loader leaves it as reset left it, disabled.
	 */
	apic_x2 = base & APIC_BASE_X2APIC;
	apic_base = base & APIC_BASE_ADDR_MASK;
	if (apic_x2) {
		wrmsr(X2APIC_MSR_SVR, rdmsr(X2APIC_MSR_SVR) | APIC_SVR_ENABLE);
	} else {
		uint32_t svr = mmio_read32(apic_base + APIC_REG_SVR);

		mmio_write32(apic_base + APIC_REG_SVR, svr | APIC_SVR_ENABLE);
	}
}

static bool icr_send(uint32_t apic_id, uint32_t icr)
{
	if (apic_x2) {
		wrmsr(X2APIC_MSR_ICR, ((uint64_t)apic_id << 32) | icr);
		return true;
	}
	for (unsigned int i = 0;
	     mmio_read32(apic_base + APIC_REG_ICR_LO) & APIC_ICR_BUSY; i++) {
		if (i == ICR_BUSY_POLLS)
			return false;
		cpu_relax();
	}
	mmio_write32(apic_base + APIC_REG_ICR_HI, apic_id << 24);
	mmio_write32(apic_base + APIC_REG_ICR_LO, icr);
	return true;
}

/*
 * The MP specification's 10 ms after INIT and 200 us between the SIPIs are
 * left out: KVM queues INIT and SIPI and applies them in order, and a
 * second SIPI to a running AP is ignored. Real hardware is not a target.
 */
bool smp_start_ap(uint32_t apic_id)
{
	uint32_t sipi = ICR_STARTUP | (SMP_TRAMPOLINE_ADDR >> 12);

	return icr_send(apic_id, ICR_INIT) && icr_send(apic_id, sipi) &&
	       icr_send(apic_id, sipi);
}

void smp_ap_main(unsigned int apic_id)
{
	smp_ap_fn fn = ap_fn;

	if (fn)
		fn(apic_id);
	cpu_halt_forever();
}
