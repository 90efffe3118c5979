// SPDX-License-Identifier: MIT
/*
 * acpi-test: read the ACPI tables as an OS would and check them: every
 * checksum (RSDP, XSDT, each table, the DSDT), the MCFG's ECAM window
 * (the host bridge answers there), and the DSDT's namespace through a
 * minimal AML walk (names, scopes, devices, methods, regions and fields;
 * no interpreter): the PCI host bridge, COM1, the power button and the
 * Generic Event Device by name and _HID, and _PRT against the interrupt
 * line of each PCI function found.
 *
 * With power=1 it then waits for the power button: it routes the GED's
 * interrupt (from its _CRS) through the IOAPIC (from the MADT) to a
 * vector it polls in the LAPIC's IRR, does what _EVT does (reads the
 * register its OperationRegion names, tests the bit _EVT tests before
 * Notify(\_SB.PWRB)), and, as an OS would on a button press, powers off:
 * SLP_TYPa from \_S5 with SLP_EN into the FADT's sleep control register.
 * A VMM that honours it ends with status 0; one that does not gets a
 * "RESULT: FAIL" after the PASS line.
 */
#include "guest/aml.h"
#include "guest/guest.h"
#include "guest/string.h"
#include "guest/tsc.h"

#define RSDP_SIG "RSD PTR "
#define HDR 36 /* standard table header */
#define FADT_FLAGS 112
#define FADT_F_HW_REDUCED (1u << 20)
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL 244
#define FADT_SLEEP_STATUS 256
#define GAS_SYSTEM_IO 1
#define SLEEP_TYP_SHIFT 2
#define SLEEP_EN 0x20
#define SLEEP_WAK_STS 0x80

#define GED_VECTOR 0x70
#define WAIT_SECONDS 60

static const uint8_t *phys(uint64_t paddr)
{
	uintptr_t p = (uintptr_t)paddr;

	__asm__("" : "+r"(p)); /* not an offset from NULL, gcc */
	return (const uint8_t *)p;
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* The table at paddr, its checksum checked, or a failed test. */
static const uint8_t *table(uint64_t paddr, const char *what)
{
	const uint8_t *t;

	if (!paddr || paddr >= 0x100000000ULL)
		result_fail("%s at %#lx: not in the low 4 GiB", what, paddr);
	t = phys(paddr);
	if (rd32(t + 4) < HDR || sum(t, rd32(t + 4)))
		result_fail("%s (%.4s) at %#lx: bad length or checksum", what,
			    (const char *)t, paddr);
	return t;
}

/* ---- the tables ---- */

struct acpi {
	const uint8_t *fadt, *madt, *mcfg, *dsdt;
	uint16_t sleep_control, sleep_status;
	uint8_t slp_typ;
	uint32_t ged_gsi;
	uintptr_t ged_reg;
	uint8_t ged_mask; /* the bit _EVT tests before Notify(\_SB.PWRB) */
	uintptr_t ecam;
};

static void tables_find(struct acpi *a)
{
	uint64_t pa = start_info_rsdp();
	const uint8_t *rsdp = phys(pa), *xsdt;
	unsigned int n = 0;

	if (!pa || memcmp(rsdp, RSDP_SIG, 8) || sum(rsdp, 20) || rsdp[15] < 2 ||
	    rd32(rsdp + 20) < 36 || sum(rsdp, rd32(rsdp + 20)))
		result_fail("RSDP at %#lx: bad signature, revision or checksum",
			    pa);
	xsdt = table(rd64(rsdp + 24), "XSDT");
	if (memcmp(xsdt, "XSDT", 4))
		result_fail("the RSDP's XSDT is a %.4s", (const char *)xsdt);
	for (uint32_t off = HDR; off + 8 <= rd32(xsdt + 4); off += 8, n++) {
		const uint8_t *t = table(rd64(xsdt + off), "an XSDT entry");

		if (!memcmp(t, "FACP", 4))
			a->fadt = t;
		else if (!memcmp(t, "APIC", 4))
			a->madt = t;
		else if (!memcmp(t, "MCFG", 4))
			a->mcfg = t;
	}
	if (!a->fadt || !a->madt || !a->mcfg)
		result_fail("the XSDT lacks the FADT, MADT or MCFG");
	a->dsdt = table(rd64(a->fadt + FADT_X_DSDT), "the DSDT");
	if (memcmp(a->dsdt, "DSDT", 4))
		result_fail("X_DSDT points at a %.4s", (const char *)a->dsdt);
	con_printf("acpi-test: RSDP, XSDT, %u tables and the DSDT (%u bytes): checksums good\n",
		   n, rd32(a->dsdt + 4));
}

static uint16_t gas_io8(const uint8_t *gas, const char *what)
{
	if (gas[0] != GAS_SYSTEM_IO || gas[1] != 8 || !rd64(gas + 4) ||
	    rd64(gas + 4) > 0xffff)
		result_fail("FADT %s: not one byte of I/O space", what);
	return (uint16_t)rd64(gas + 4);
}

static void fadt_check(struct acpi *a)
{
	if (!(rd32(a->fadt + FADT_FLAGS) & FADT_F_HW_REDUCED))
		result_fail("the FADT is not hardware-reduced");
	a->sleep_control = gas_io8(a->fadt + FADT_SLEEP_CONTROL,
				   "SLEEP_CONTROL_REG");
	a->sleep_status = gas_io8(a->fadt + FADT_SLEEP_STATUS,
				  "SLEEP_STATUS_REG");
	con_printf("acpi-test: FADT: hardware-reduced, sleep control port %#x, status port %#x\n",
		   a->sleep_control, a->sleep_status);
}

static uint32_t ecam_read32(const struct acpi *a, unsigned int slot,
			    unsigned int reg)
{
	return mmio_read32(a->ecam + ((uintptr_t)slot << 15) + reg);
}

static void mcfg_check(struct acpi *a)
{
	const uint8_t *e = a->mcfg + HDR + 8;
	uint32_t id;

	if (rd32(a->mcfg + 4) < HDR + 8 + 16)
		result_fail("MCFG has no allocation");
	if (rd64(e) >= 0x100000000ULL || e[8] || e[9] || e[10] != 0)
		result_fail("MCFG: segment 0 from bus 0 below 4 GiB expected");
	a->ecam = (uintptr_t)rd64(e);
	id = ecam_read32(a, 0, 0);
	if ((id & 0xffff) == 0xffff)
		result_fail("MCFG: nothing answers at ECAM %#lx", a->ecam);
	con_printf("acpi-test: MCFG: ECAM at %#lx, buses 0-%u; host bridge %04x:%04x\n",
		   a->ecam, e[11], id & 0xffff, id >> 16);
}

static void devices_check(void)
{
	static const struct {
		const char *path, *hid;
	} want[] = {
		{ "\\_SB_.PCI0", "PNP0A08" },
		{ "\\_SB_.COM1", "PNP0501" },
		{ "\\_SB_.PWRB", "PNP0C0C" },
		{ "\\_SB_.GED_", "ACPI0013" },
	};
	char id[9];

	for (unsigned int i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		aml_find(want[i].path, AML_DEVICE);
		aml_hid(want[i].path, id);
		if (strncmp(id, want[i].hid, sizeof(id)))
			result_fail("%s: _HID %s, expected %s", want[i].path,
				    id, want[i].hid);
		con_printf("acpi-test: %s _HID %s\n", want[i].path, id);
	}
}

/* _PRT against the interrupt line of every function on bus 0. */
static void prt_check(const struct acpi *a)
{
	const uint8_t *p = aml_find("\\_SB_.PCI0._PRT", AML_NAME)->val, *end;
	uint8_t gsi[32][4] = { { 0 } };
	unsigned int n, checked = 0;

	if (*p != AML_PACKAGE)
		result_fail("_PRT is not a package");
	p = aml_pkglen(p + 1, &end);
	n = *p++;
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *e_end;
		uint64_t addr, pin;

		if (*p != AML_PACKAGE)
			result_fail("_PRT entry %u is not a package", i);
		p = aml_pkglen(p + 1, &e_end) + 1;
		addr = aml_int(p);
		p = aml_skip_data(p);
		pin = aml_int(p);
		p = aml_skip_data(aml_skip_data(p)); /* the source: a GSI, not a link */
		if ((addr & 0xffff) != 0xffff || addr >> 16 >= 32 || pin > 3)
			result_fail("_PRT entry %u: address %#lx pin %lu", i,
				    addr, pin);
		gsi[addr >> 16][pin] = (uint8_t)aml_int(p);
		p = e_end;
	}
	if (p != end)
		result_fail("_PRT: %u entries do not fill the package", n);
	for (unsigned int slot = 1; slot < 32; slot++) {
		uint32_t id = ecam_read32(a, slot, 0), intr;
		unsigned int pin, line;

		if ((id & 0xffff) == 0xffff)
			continue;
		intr = ecam_read32(a, slot, 0x3c);
		line = intr & 0xff;
		pin = (intr >> 8) & 0xff;
		if (!pin)
			continue;
		if (pin > 4 || gsi[slot][pin - 1] != line)
			result_fail("slot %u INT%c#: line %u, _PRT says %u", slot,
				    'A' + pin - 1, line,
				    pin <= 4 ? gsi[slot][pin - 1] : 0);
		checked++;
	}
	con_printf("acpi-test: _PRT: %u entries; %u PCI functions' interrupt lines agree\n",
		   n, checked);
}

/* Where the power button's event comes from, and what S5 is. */
static void ged_and_s5_check(struct acpi *a)
{
	const struct aml_obj *o;
	const uint8_t *crs, *p, *end;
	uint32_t len;

	crs = aml_buffer("\\_SB_.GED_._CRS", &len);
	if (len < 9 || crs[0] != 0x89 || crs[4] < 1)
		result_fail("GED _CRS: no extended interrupt descriptor");
	if ((crs[3] & 0x6) != 0x2)
		result_fail("GED interrupt: flags %#x, edge and active high expected",
			    crs[3]);
	a->ged_gsi = rd32(crs + 5);

	o = aml_find("\\_SB_.GED_.GDST", AML_REGION);
	if (o->val[0] != 0 || aml_int(aml_skip_data(o->val + 1)) < 1)
		result_fail("GED's GDST is not system memory");
	a->ged_reg = (uintptr_t)aml_int(o->val + 1);
	if (aml_find("\\_SB_.GED_.GDAT", AML_FIELD)->val[0] != 8)
		result_fail("GED's GDAT is not a byte");

	/* _EVT: And (Local0, MASK) ... Notify (\_SB.PWRB, ...) */
	o = aml_find("\\_SB_.GED_._EVT", AML_METHOD);
	for (p = o->val + 1; p + 4 <= o->end; p++)
		if (p[0] == 0x7b && p[1] == 0x60 && p[2] == 0x0a)
			a->ged_mask = p[3];
	for (p = o->val + 1; p + 11 <= o->end; p++)
		if (p[0] == 0x86 && !memcmp(p + 1, "\\\x2e_SB_PWRB", 10))
			break;
	if (!a->ged_mask || p + 11 > o->end)
		result_fail("GED _EVT: no And (Local0, MASK) or no Notify (\\_SB.PWRB)");

	o = aml_find("\\_S5_", AML_NAME);
	if (o->val[0] != AML_PACKAGE)
		result_fail("\\_S5 is not a package");
	p = aml_pkglen(o->val + 1, &end);
	if (*p < 1)
		result_fail("\\_S5 is empty");
	a->slp_typ = (uint8_t)aml_int(p + 1);
	con_printf("acpi-test: GED: GSI %u, register %#lx, _EVT notifies PWRB on bit %#x; \\_S5 SLP_TYP %u\n",
		   a->ged_gsi, a->ged_reg, a->ged_mask, a->slp_typ);
}

/* ---- the power button ---- */

static void ioapic_write(uintptr_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base, reg);
	mmio_write32(base + 0x10, v);
}

static bool irr(uintptr_t lapic, uint8_t vector)
{
	return mmio_read32(lapic + 0x200 + 0x10 * (vector / 32)) &
	       (1u << (vector % 32));
}

/* Route the GED's GSI to GED_VECTOR on this CPU: edge, active high. */
static uintptr_t ged_route(const struct acpi *a)
{
	const uint8_t *e = a->madt + 44, *end = a->madt + rd32(a->madt + 4);
	uintptr_t lapic = rd32(a->madt + 36);

	for (; e + 2 <= end && e[1] >= 2; e += e[1]) {
		uintptr_t io = rd32(e + 4);
		uint32_t base = rd32(e + 8), pins;

		if (e[0] != 1 || e[1] < 12)
			continue;
		mmio_write32(io, 1);
		pins = ((mmio_read32(io + 0x10) >> 16) & 0xff) + 1;
		if (a->ged_gsi < base || a->ged_gsi >= base + pins)
			continue;
		ioapic_write(io, 0x11 + 2 * (a->ged_gsi - base),
			     cpu_apic_id() << 24);
		ioapic_write(io, 0x10 + 2 * (a->ged_gsi - base), GED_VECTOR);
		/* The LAPIC accepts interrupts only once software-enabled. */
		mmio_write32(lapic + 0xf0, mmio_read32(lapic + 0xf0) | 0x100);
		return lapic;
	}
	result_fail("no IOAPIC in the MADT serves GSI %u", a->ged_gsi);
}

static __attribute__((noreturn)) void power_button(const struct acpi *a)
{
	const char *src;
	uint64_t hz = tsc_hz(&src), deadline;
	uintptr_t lapic = ged_route(a);
	uint8_t ev;

	if (irr(lapic, GED_VECTOR))
		result_fail("a GED interrupt before the button was pressed");
	con_printf("acpi-test: waiting for the power button (GSI %u, vector %#x)\n",
		   a->ged_gsi, GED_VECTOR);
	deadline = rdtsc() + WAIT_SECONDS * hz;
	while (!irr(lapic, GED_VECTOR)) {
		if (rdtsc() > deadline)
			result_fail("no power button within %u s", WAIT_SECONDS);
		cpu_relax();
	}
	/* What _EVT does: read the register, test its bit. */
	ev = *(volatile const uint8_t *)a->ged_reg;
	if (!(ev & a->ged_mask))
		result_fail("GED interrupt with event %#x: no power button", ev);
	if (*(volatile const uint8_t *)a->ged_reg)
		result_fail("the GED register is not cleared by reading it");
	con_printf("acpi-test: GED event %#x: power button; powering off (S5)\n",
		   ev);
	con_puts("RESULT: PASS");
	/* As Linux's acpi_hw_extended_sleep(): clear WAK_STS, then sleep. */
	outb(a->sleep_status, SLEEP_WAK_STS);
	outb(a->sleep_control,
	     (uint8_t)(a->slp_typ << SLEEP_TYP_SHIFT | SLEEP_EN));
	deadline = rdtsc() + 5 * hz;
	while (rdtsc() < deadline)
		cpu_relax();
	result_fail("still running 5 s after S5 was written to port %#x",
		    a->sleep_control);
}

int guest_main(void)
{
	struct acpi a = { 0 };
	unsigned long power = 0;

	tables_find(&a);
	fadt_check(&a);
	mcfg_check(&a);
	con_printf("acpi-test: DSDT: %u named objects\n",
		   aml_walk(a.dsdt + HDR, a.dsdt + rd32(a.dsdt + 4)));
	devices_check();
	prt_check(&a);
	ged_and_s5_check(&a);
	if (cmdline_get_uint("power", 1, &power) && power)
		power_button(&a);
	result_pass();
}
