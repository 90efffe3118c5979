// SPDX-License-Identifier: MIT
/*
 * ACPI 6.x tables, built byte by byte into a buffer (no struct layouts to
 * pack): RSDP -> XSDT -> { FADT -> DSDT, MADT, MCFG }. The FADT says
 * HW_REDUCED_ACPI: no PM timer, SCI or GPE blocks to emulate, as Firecracker
 * and Cloud Hypervisor do; power-off goes through the sleep control
 * register and the power button through the Generic Event Device
 * (acpi_dsdt.c). The legacy PIC, PIT and i8042 still exist and the MADT's
 * PCAT_COMPAT says so, but a hardware-reduced OS has no legacy ISA
 * interrupts (Linux drops the PIC), so the FADT's IA-PC flags claim no
 * 8042 for it to drive (tern's serves the reset register, there is no
 * keyboard behind it), and say there is no VGA and no CMOS RTC (wall
 * time comes from kvmclock), as Firecracker's tables do. Without that
 * Linux probed the ports and failed (IRQ 1 does not exist) and tried an
 * RTC that is not there, warning about both.
 */
#include <errno.h>
#include <string.h>

#include "arch.h"
#include "tern/acpi.h"
#include "tern/aml.h"
#include "tern/layout.h"

#define ACPI_OEM_ID "TERN  " /* 6 bytes */
#define ACPI_OEM_TABLE_ID "TERNVM  " /* 8 bytes */
#define ACPI_CREATOR_ID "TERN"

#define SDT_HEADER_SIZE 36
#define RSDP_SIZE 36
#define FADT_SIZE 276 /* revision 6 */
#define FADT_REVISION 6
#define FADT_MINOR 3
#define FADT_F_PWR_BUTTON (1u << 4) /* a control method power button */
#define FADT_F_SLP_BUTTON (1u << 5) /* no fixed sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
#define FADT_IAPC_NO_VGA (1u << 2)
#define FADT_IAPC_NO_CMOS_RTC (1u << 5)
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_LAPIC_NMI 4
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define I8042_RESET_VALUE 0xfe
#define MCFG_SIZE (SDT_HEADER_SIZE + 8 + 16) /* one ECAM window */
#define XSDT_ENTRIES 3

struct acpi_writer {
	uint8_t *buf;
	size_t size, pos;
	uint64_t gpa;
	bool overflow;
};

/* Reserve len zeroed bytes at 8-byte alignment; returns their offset. */
static size_t aw_alloc(struct acpi_writer *w, size_t len)
{
	size_t off = ALIGN_UP(w->pos, 8);

	if (off > w->size || len > w->size - off) {
		w->overflow = true;
		return 0;
	}
	memset(w->buf + off, 0, len);
	w->pos = off + len;
	return off;
}

static void put8(struct acpi_writer *w, size_t off, uint8_t v)
{
	if (!w->overflow)
		w->buf[off] = v;
}

static void put16(struct acpi_writer *w, size_t off, uint16_t v)
{
	put8(w, off, v & 0xff);
	put8(w, off + 1, v >> 8);
}

static void put32(struct acpi_writer *w, size_t off, uint32_t v)
{
	put16(w, off, v & 0xffff);
	put16(w, off + 2, v >> 16);
}

static void put64(struct acpi_writer *w, size_t off, uint64_t v)
{
	put32(w, off, (uint32_t)v);
	put32(w, off + 4, (uint32_t)(v >> 32));
}

static void putstr(struct acpi_writer *w, size_t off, const char *s, size_t n)
{
	if (!w->overflow)
		memcpy(w->buf + off, s, n);
}

/* A table with its standard header; the checksum is set by sdt_finish(). */
static size_t sdt_begin(struct acpi_writer *w, const char *sig, size_t len,
			uint8_t revision)
{
	size_t off = aw_alloc(w, len);

	putstr(w, off, sig, 4);
	put32(w, off + 4, (uint32_t)len);
	put8(w, off + 8, revision);
	putstr(w, off + 10, ACPI_OEM_ID, 6);
	putstr(w, off + 16, ACPI_OEM_TABLE_ID, 8);
	put32(w, off + 24, 1); /* OEM revision */
	putstr(w, off + 28, ACPI_CREATOR_ID, 4);
	put32(w, off + 32, 1); /* creator revision */
	return off;
}

static void sdt_finish(struct acpi_writer *w, size_t off, size_t len)
{
	if (!w->overflow)
		w->buf[off + 9] = fw_table_checksum(w->buf + off, len);
}

/* The DSDT: its header, then the AML, as long as the AML turns out. */
static size_t build_dsdt(struct acpi_writer *w, const struct acpi_platform *p)
{
	size_t off = sdt_begin(w, "DSDT", SDT_HEADER_SIZE, 2);
	struct aml a;
	int len;

	if (w->overflow)
		return 0;
	aml_init(&a, w->buf + w->pos, w->size - w->pos);
	acpi_dsdt_write(&a, p);
	len = aml_finish(&a);
	if (len < 0) {
		w->overflow = true;
		return 0;
	}
	w->pos += (size_t)len;
	put32(w, off + 4, (uint32_t)(SDT_HEADER_SIZE + (size_t)len));
	sdt_finish(w, off, SDT_HEADER_SIZE + (size_t)len);
	return off;
}

/* A one-byte register in I/O space, as a Generic Address Structure. */
static void put_gas_io8(struct acpi_writer *w, size_t off, uint16_t port)
{
	put8(w, off, GAS_SYSTEM_IO);
	put8(w, off + 1, 8); /* bit width */
	put8(w, off + 3, GAS_ACCESS_BYTE);
	put64(w, off + 4, port);
}

static size_t build_fadt(struct acpi_writer *w, uint64_t dsdt)
{
	size_t off = sdt_begin(w, "FACP", FADT_SIZE, FADT_REVISION);

	put32(w, off + 40, dsdt < (1ULL << 32) ? (uint32_t)dsdt : 0);
	put16(w, off + 109, FADT_IAPC_NO_VGA | FADT_IAPC_NO_CMOS_RTC);
	put32(w, off + 112, FADT_F_HW_REDUCED_ACPI | FADT_F_RESET_REG_SUP |
				    FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	/* RESET_REG: one byte at I/O port 0x64, the i8042's pulse-reset. */
	put_gas_io8(w, off + 116, PORT_I8042_CMD);
	put8(w, off + 128, I8042_RESET_VALUE);
	put8(w, off + 131, FADT_MINOR);
	put64(w, off + 140, dsdt); /* X_DSDT */
	/* SLEEP_CONTROL_REG and SLEEP_STATUS_REG: how S5 is entered. */
	put_gas_io8(w, off + 244, PORT_ACPI_SLEEP_CONTROL);
	put_gas_io8(w, off + 256, PORT_ACPI_SLEEP_STATUS);
	putstr(w, off + 268, "TERNVMM ", 8); /* hypervisor vendor identity */
	sdt_finish(w, off, FADT_SIZE);
	return off;
}

/* MCFG: the ECAM window of segment 0, every bus it covers. */
static size_t build_mcfg(struct acpi_writer *w)
{
	size_t off = sdt_begin(w, "MCFG", MCFG_SIZE, 1);
	size_t e = off + SDT_HEADER_SIZE + 8; /* after 8 reserved bytes */

	put64(w, e, LAYOUT_PCI_ECAM_START);
	put16(w, e + 8, 0); /* PCI segment group */
	put8(w, e + 10, 0); /* first bus */
	put8(w, e + 11, (uint8_t)(LAYOUT_PCI_ECAM_SIZE / MiB - 1)); /* last */
	sdt_finish(w, off, MCFG_SIZE);
	return off;
}

static size_t build_madt(struct acpi_writer *w, unsigned int ncpus)
{
	size_t len = SDT_HEADER_SIZE + 8 + 8 * ncpus + 12 + 6;
	size_t off = sdt_begin(w, "APIC", len, 5);
	size_t e = off + SDT_HEADER_SIZE + 8;

	put32(w, off + 36, (uint32_t)LAYOUT_LAPIC_START);
	put32(w, off + 40, MADT_PCAT_COMPAT);
	for (unsigned int i = 0; i < ncpus; i++, e += 8) {
		put8(w, e, MADT_LAPIC);
		put8(w, e + 1, 8);
		put8(w, e + 2, (uint8_t)i); /* ACPI processor UID */
		put8(w, e + 3, (uint8_t)i); /* APIC id, as CPUID reports */
		put32(w, e + 4, 1); /* enabled */
	}
	put8(w, e, MADT_IOAPIC);
	put8(w, e + 1, 12);
	put8(w, e + 2, (uint8_t)ncpus); /* the id the MP table gives it */
	put32(w, e + 4, (uint32_t)LAYOUT_IOAPIC_START);
	put32(w, e + 8, 0); /* GSI base: ISA IRQ n is GSI n, KVM's routing */
	e += 12;
	put8(w, e, MADT_LAPIC_NMI);
	put8(w, e + 1, 6);
	put8(w, e + 2, 0xff); /* every processor */
	put16(w, e + 3, 0); /* conforming polarity and trigger */
	put8(w, e + 5, 1); /* LINT1 */
	sdt_finish(w, off, len);
	return off;
}

int acpi_build(uint8_t *buf, size_t size, uint64_t gpa,
	       const struct acpi_platform *p)
{
	struct acpi_writer w = { .buf = buf, .size = size, .gpa = gpa };
	size_t rsdp, dsdt, fadt, madt, mcfg, xsdt;
	const size_t xsdt_len = SDT_HEADER_SIZE + XSDT_ENTRIES * 8;

	if (!p->ncpus || p->ncpus > ACPI_MAX_CPUS || gpa % 16)
		return -EINVAL;
	rsdp = aw_alloc(&w, RSDP_SIZE);
	dsdt = build_dsdt(&w, p);
	fadt = build_fadt(&w, gpa + dsdt);
	madt = build_madt(&w, p->ncpus);
	mcfg = build_mcfg(&w);
	xsdt = sdt_begin(&w, "XSDT", xsdt_len, 1);
	put64(&w, xsdt + SDT_HEADER_SIZE, gpa + fadt);
	put64(&w, xsdt + SDT_HEADER_SIZE + 8, gpa + madt);
	put64(&w, xsdt + SDT_HEADER_SIZE + 16, gpa + mcfg);
	sdt_finish(&w, xsdt, xsdt_len);

	putstr(&w, rsdp, "RSD PTR ", 8);
	putstr(&w, rsdp + 9, ACPI_OEM_ID, 6);
	put8(&w, rsdp + 15, 2); /* revision: ACPI 2.0+, XSDT */
	put32(&w, rsdp + 20, RSDP_SIZE);
	put64(&w, rsdp + 24, gpa + xsdt);
	if (w.overflow)
		return -ENOSPC;
	buf[rsdp + 8] = fw_table_checksum(buf + rsdp, 20);
	buf[rsdp + 32] = fw_table_checksum(buf + rsdp, RSDP_SIZE);
	return (int)w.pos;
}
