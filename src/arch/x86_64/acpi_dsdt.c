// SPDX-License-Identifier: MIT
/*
 * The DSDT's AML: what a guest finds in the namespace.
 *
 *   \_S5_            S5's SLP_TYP for the sleep control register
 *   \_SB_.PCI0       the PCI host bridge: buses, windows, INTx routing
 *   \_SB_.COM1       the 8250 UART at 0x3f8, IRQ 4
 *   \_SB_.PWRB       the power button (a control method device)
 *   \_SB_.GED_       the Generic Event Device: its interrupt, its register
 *                    and the _EVT method that reads it and notifies PWRB
 *
 * Everything comes from layout.h, so the AML cannot disagree with the
 * devices tern builds. docs/acpi.md shows the same namespace as ASL.
 */
#include "tern/acpi.h"
#include "tern/aml.h"
#include "tern/layout.h"

#define PCI_SLOTS 32
#define PCI_INTX_PINS 4
#define PCI_CONFIG_PORT 0xcf8
#define PCI_CONFIG_PORTS 8
#define COM1_PORTS 8
#define NOTIFY_POWER_BUTTON_PRESSED 0x80
#define STA_PRESENT_ENABLED_SHOWN_WORKING 0x0f
#define CRS_MAX 128

/* Name(_CRS, ResourceTemplate() { ... }) from a finished descriptor list. */
static void dsdt_crs(struct aml *a, struct aml *res)
{
	int len;

	aml_res_end(res);
	len = aml_finish(res);
	aml_name(a, "_CRS");
	if (len < 0) {
		aml_set_error(a, len); /* the DSDT fails as a whole */
		return;
	}
	aml_buffer(a, res->buf, (size_t)len);
}

/*
 * _PRT: every slot's INTA#..INTD# straight to the IOAPIC pin that
 * pci_intx.c drives (no link devices), as { slot address, pin, 0, GSI }.
 */
static void dsdt_pci_prt(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_package_begin(a);
	for (unsigned int slot = 0; slot < PCI_SLOTS; slot++) {
		for (unsigned int pin = 0; pin < PCI_INTX_PINS; pin++) {
			aml_package_begin(a);
			aml_integer(a, (uint64_t)slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0); /* source: a GSI, not a link */
			aml_integer(a, LAYOUT_PCI_INTX_GSI(slot, pin));
			aml_end(a);
		}
	}
	aml_end(a);
}

static void dsdt_pci_host(struct aml *a, const struct acpi_platform *p)
{
	uint8_t crs[CRS_MAX];
	struct aml res;
	uint64_t last_bus = LAYOUT_PCI_ECAM_SIZE / MiB - 1;

	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08"); /* PCI Express root bridge */
	aml_name_eisaid(a, "_CID", "PNP0A03"); /* a PCI root bridge */
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_BBN", 0);

	aml_init(&res, crs, sizeof(crs));
	aml_res_bus_numbers(&res, 0, (uint16_t)last_bus);
	/* The bridge itself decodes the configuration ports. */
	aml_res_io(&res, PCI_CONFIG_PORT, PCI_CONFIG_PORTS);
	aml_res_io_window(&res, LAYOUT_PCI_IO_START,
			  LAYOUT_PCI_IO_START + LAYOUT_PCI_IO_SIZE - 1);
	aml_res_mem32_window(&res, (uint32_t)LAYOUT_PCI_MMIO32_START,
			     (uint32_t)(LAYOUT_PCI_MMIO32_START +
					LAYOUT_PCI_MMIO32_SIZE - 1));
	aml_res_mem64_window(&res, p->pci_mmio64_start,
			     p->pci_mmio64_start + LAYOUT_PCI_MMIO64_SIZE - 1);
	dsdt_crs(a, &res);
	dsdt_pci_prt(a);
	aml_end(a);
}

static void dsdt_com1(struct aml *a)
{
	uint8_t crs[CRS_MAX];
	struct aml res;

	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501"); /* 16550A-compatible */
	aml_name_integer(a, "_UID", 1);
	aml_init(&res, crs, sizeof(crs));
	aml_res_io(&res, PORT_COM1, COM1_PORTS);
	aml_res_irq(&res, PORT_COM1_IRQ);
	dsdt_crs(a, &res);
	aml_end(a);
}

static void dsdt_power_button(struct aml *a)
{
	aml_device_begin(a, "PWRB");
	aml_name_eisaid(a, "_HID", "PNP0C0C");
	aml_name_integer(a, "_UID", 0);
	aml_end(a);
}

/*
 * The Generic Event Device, Cloud Hypervisor's hardware-reduced event
 * path: tern sets a bit in the register and pulses the interrupt; the OS's
 * GED driver runs _EVT, which reads (and so clears) the bits and sends
 * Notify(PWRB, 0x80), which the button driver turns into a key press.
 */
static void dsdt_ged(struct aml *a)
{
	uint8_t crs[CRS_MAX];
	struct aml res;

	aml_device_begin(a, "GED");
	aml_name_string_value(a, "_HID", "ACPI0013");
	aml_name_integer(a, "_UID", 0);
	/* A method, not a name: the writer's constant-returning form. */
	aml_method_return_integer(a, "_STA", STA_PRESENT_ENABLED_SHOWN_WORKING);
	aml_init(&res, crs, sizeof(crs));
	aml_res_interrupt(&res, LAYOUT_ACPI_GED_GSI, true, false);
	dsdt_crs(a, &res);
	aml_op_region(a, "GDST", AML_SPACE_SYSTEM_MEMORY, LAYOUT_ACPI_GED_START,
		      LAYOUT_ACPI_GED_SIZE);
	aml_field_begin(a, "GDST", AML_FIELD_BYTE_ACC | AML_FIELD_NO_LOCK |
					   AML_FIELD_PRESERVE);
	aml_field_unit(a, "GDAT", 8);
	aml_end(a);

	/* Method (_EVT, 1, Serialized) */
	aml_method_begin(a, "_EVT", 1, true);
	/* Local0 = GDAT */
	aml_op(a, AML_STORE);
	aml_name_string(a, "GDAT");
	aml_local(a, 0);
	/* If ((Local0 & 8) == 8) { Notify (\_SB.PWRB, 0x80) } */
	aml_if_begin(a);
	aml_op(a, AML_LEQUAL);
	aml_op(a, AML_AND);
	aml_local(a, 0);
	aml_integer(a, ACPI_GED_EVENT_POWER_BUTTON);
	aml_null_target(a);
	aml_integer(a, ACPI_GED_EVENT_POWER_BUTTON);
	aml_op(a, AML_NOTIFY);
	aml_name_string(a, "\\_SB.PWRB");
	aml_integer(a, NOTIFY_POWER_BUTTON_PRESSED);
	aml_end(a);
	aml_end(a);
	aml_end(a);
}

void acpi_dsdt_write(struct aml *a, const struct acpi_platform *p)
{
	/* Name (\_S5, Package () { 5 }): SLP_TYPa, and nothing else. */
	aml_name(a, "\\_S5");
	aml_package_begin(a);
	aml_integer(a, ACPI_S5_SLP_TYP);
	aml_end(a);

	aml_scope_begin(a, "\\_SB");
	dsdt_pci_host(a, p);
	dsdt_com1(a);
	dsdt_power_button(a);
	dsdt_ged(a);
	aml_end(a);
}
