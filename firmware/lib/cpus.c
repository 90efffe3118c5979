// SPDX-License-Identifier: MIT
/*
 * CPU discovery: the Intel MP table (MultiProcessor Specification 1.4), then
 * the ACPI MADT, then CPUID leaf 0xb.
 *
 * Scanning BIOS areas costs about four emulated ring-0 instructions per
 * 16-byte step, so the likely places go first: tern writes its MP table at
 * the start of 0x9fc00, where the first probe finds it.
 */
#include <stddef.h>

#include "guest/cpus.h"
#include "guest/start_info.h"
#include "guest/string.h"
#include "guest/x86.h"

#define MPF_SIGNATURE 0x5f504d5f /* "_MP_" */
#define MPC_SIGNATURE 0x504d4350 /* "PCMP" */
#define RSDP_SIGNATURE 0x2052545020445352ULL /* "RSD PTR " */
#define MADT_SIGNATURE 0x43495041 /* "APIC" */

#define BDA_EBDA_SEGMENT 0x40e
#define BASE_MEM_TOP 0x9fc00 /* last KiB of 640 KiB conventional memory */
#define BIOS_ROM_START 0xf0000
#define ACPI_SCAN_START 0xe0000
#define BIOS_ROM_END 0x100000
#define FOUR_GIB 0x100000000ULL

struct mp_floating {
	uint32_t signature;
	uint32_t config_paddr;
	uint8_t length; /* in 16-byte units: 1 */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t features[5]; /* features[0] != 0: a default configuration */
} __attribute__((packed));

struct mp_config {
	uint32_t signature;
	uint16_t base_length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_paddr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

enum {
	MP_ENTRY_PROCESSOR = 0, /* 20 bytes */
	MP_ENTRY_BUS,
	MP_ENTRY_IOAPIC,
	MP_ENTRY_IOINT,
	MP_ENTRY_LINT, /* these four: 8 bytes */
};

struct mp_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags; /* bit 0: enabled, bit 1: bootstrap processor */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct acpi_rsdp {
	uint64_t signature;
	uint8_t checksum; /* over the first 20 bytes */
	char oem_id[6];
	uint8_t revision; /* 0: ACPI 1.0, no fields past rsdt */
	uint32_t rsdt_paddr;
	uint32_t length;
	uint64_t xsdt_paddr;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	uint32_t signature;
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_paddr;
	uint32_t flags;
} __attribute__((packed));

#define MADT_LOCAL_APIC 0
#define MADT_LOCAL_X2APIC 9
#define MADT_ENABLED 1

struct madt_local_apic {
	uint8_t type, length;
	uint8_t acpi_id;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_local_x2apic {
	uint8_t type, length;
	uint16_t reserved;
	uint32_t apic_id;
	uint32_t flags;
	uint32_t acpi_uid;
} __attribute__((packed));

/*
 * A physical address as a pointer. The asm hides the constant from gcc,
 * which otherwise treats small addresses as offsets from NULL and warns.
 */
static const void *phys(uint64_t paddr)
{
	uintptr_t p = (uintptr_t)paddr;

	__asm__("" : "+r"(p));
	return (const void *)p;
}

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return sum;
}

static void cpus_add(struct cpus_info *out, uint32_t apic_id)
{
	if (out->nr_ids < CPUS_MAX)
		out->apic_ids[out->nr_ids++] = apic_id;
	out->count++;
}

static const struct mp_floating *mp_scan(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t a = lo; a + sizeof(struct mp_floating) <= hi; a += 16) {
		const struct mp_floating *mpf = phys(a);

		if (mpf->signature == MPF_SIGNATURE && mpf->length == 1 &&
		    checksum(mpf, sizeof(*mpf)) == 0)
			return mpf;
	}
	return NULL;
}

static uintptr_t ebda_base(void)
{
	return (uintptr_t)*(const volatile uint16_t *)phys(BDA_EBDA_SEGMENT)
	       << 4;
}

static bool cpus_from_mptable(struct cpus_info *out)
{
	const struct mp_floating *mpf = mp_scan(BASE_MEM_TOP, BASE_MEM_TOP + 1024);
	uintptr_t ebda = ebda_base();

	if (!mpf && ebda != 0 && ebda != BASE_MEM_TOP)
		mpf = mp_scan(ebda, ebda + 1024);
	if (!mpf)
		mpf = mp_scan(BIOS_ROM_START, BIOS_ROM_END);
	if (!mpf || mpf->features[0] != 0 || mpf->config_paddr == 0)
		return false;

	const struct mp_config *mpc = phys(mpf->config_paddr);

	if (mpc->signature != MPC_SIGNATURE ||
	    mpc->base_length < sizeof(*mpc) ||
	    checksum(mpc, mpc->base_length) != 0)
		return false;

	const uint8_t *p = (const uint8_t *)(mpc + 1);
	const uint8_t *end = (const uint8_t *)mpc + mpc->base_length;

	/*
	 * Walk by the table length, as Linux does, not by entry_count: qboot
	 * (QEMU's microvm firmware) leaves entry_count at 0.
	 */
	while (p < end) {
		if (*p == MP_ENTRY_PROCESSOR) {
			const struct mp_processor *cpu = (const void *)p;

			if (p + sizeof(*cpu) > end)
				break;
			if (cpu->flags & 1)
				cpus_add(out, cpu->apic_id);
			p += sizeof(*cpu);
		} else if (*p <= MP_ENTRY_LINT) {
			p += 8;
		} else {
			break; /* unknown entry: its size is unknown too */
		}
	}
	return out->count > 0;
}

static const struct acpi_rsdp *rsdp_scan(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t a = lo; a + 20 <= hi; a += 16) {
		const struct acpi_rsdp *rsdp = phys(a);

		if (rsdp->signature == RSDP_SIGNATURE && checksum(rsdp, 20) == 0)
			return rsdp;
	}
	return NULL;
}

static const struct acpi_rsdp *rsdp_find(void)
{
	uint64_t paddr = start_info_rsdp();
	uintptr_t ebda = ebda_base();
	const struct acpi_rsdp *rsdp = NULL;

	if (paddr != 0 && paddr < FOUR_GIB) {
		rsdp = phys(paddr);
		if (rsdp->signature == RSDP_SIGNATURE && checksum(rsdp, 20) == 0)
			return rsdp;
	}
	if (ebda != 0)
		rsdp = rsdp_scan(ebda, ebda + 1024);
	if (!rsdp)
		rsdp = rsdp_scan(ACPI_SCAN_START, BIOS_ROM_END);
	return rsdp;
}

static const struct acpi_header *acpi_table(uint64_t paddr)
{
	if (paddr == 0 || paddr >= FOUR_GIB)
		return NULL;

	const struct acpi_header *h = phys(paddr);

	if (h->length < sizeof(*h) || checksum(h, h->length) != 0)
		return NULL;
	return h;
}

static const struct acpi_madt *madt_find(void)
{
	const struct acpi_rsdp *rsdp = rsdp_find();

	if (!rsdp)
		return NULL;

	const struct acpi_header *sdt = NULL;
	size_t entry_size = 4;

	if (rsdp->revision >= 2 && rsdp->xsdt_paddr != 0) {
		sdt = acpi_table(rsdp->xsdt_paddr);
		entry_size = 8;
	}
	if (!sdt) {
		sdt = acpi_table(rsdp->rsdt_paddr);
		entry_size = 4;
	}
	if (!sdt)
		return NULL;

	const uint8_t *p = (const uint8_t *)(sdt + 1);
	const uint8_t *end = (const uint8_t *)sdt + sdt->length;

	for (; p + entry_size <= end; p += entry_size) {
		uint64_t paddr = entry_size == 8 ? *(const uint64_t *)p
						 : *(const uint32_t *)p;

		if (paddr == 0 || paddr >= FOUR_GIB)
			continue;

		const struct acpi_header *h = phys(paddr);

		if (h->signature == MADT_SIGNATURE &&
		    h->length >= sizeof(struct acpi_madt))
			return (const struct acpi_madt *)acpi_table(paddr);
	}
	return NULL;
}

static bool cpus_from_madt(struct cpus_info *out)
{
	const struct acpi_madt *madt = madt_find();

	if (!madt)
		return false;

	const uint8_t *p = (const uint8_t *)(madt + 1);
	const uint8_t *end = (const uint8_t *)madt + madt->h.length;

	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == MADT_LOCAL_APIC &&
		    p[1] >= sizeof(struct madt_local_apic)) {
			const struct madt_local_apic *e = (const void *)p;

			if (e->flags & MADT_ENABLED)
				cpus_add(out, e->apic_id);
		} else if (p[0] == MADT_LOCAL_X2APIC &&
			   p[1] >= sizeof(struct madt_local_x2apic)) {
			const struct madt_local_x2apic *e = (const void *)p;

			if (e->flags & MADT_ENABLED)
				cpus_add(out, e->apic_id);
		}
		p += p[1];
	}
	return out->count > 0;
}

#define CPUID_TOPOLOGY_LEAF 0xb
#define CPUID_LEVEL_TYPE_CORE 2

/*
 * Logical processors in this package. The APIC ids are a guess (0..n-1):
 * without a table there is nothing better.
 */
static bool cpus_from_cpuid(struct cpus_info *out)
{
	if (cpuid(0, 0).eax < CPUID_TOPOLOGY_LEAF)
		return false;
	for (uint32_t level = 0; level < 8; level++) {
		struct cpuid_regs r = cpuid(CPUID_TOPOLOGY_LEAF, level);
		uint32_t type = (r.ecx >> 8) & 0xff;

		if (type == 0)
			break;
		if (type == CPUID_LEVEL_TYPE_CORE && (r.ebx & 0xffff) != 0) {
			for (uint32_t i = 0; i < (r.ebx & 0xffff); i++)
				cpus_add(out, i);
			return true;
		}
	}
	return false;
}

void cpus_discover(struct cpus_info *out)
{
	out->source = CPUS_FROM_NONE;
	out->count = 0;
	out->nr_ids = 0;

	if (cpus_from_mptable(out)) {
		out->source = CPUS_FROM_MPTABLE;
		return;
	}
	out->count = out->nr_ids = 0;
	if (cpus_from_madt(out)) {
		out->source = CPUS_FROM_MADT;
		return;
	}
	out->count = out->nr_ids = 0;
	if (cpus_from_cpuid(out)) {
		out->source = CPUS_FROM_CPUID;
		return;
	}
	out->count = out->nr_ids = 0;
	cpus_add(out, cpu_apic_id());
}

bool cpus_discover_from(struct cpus_info *out, enum cpus_source src)
{
	bool found = false;

	out->source = CPUS_FROM_NONE;
	out->count = out->nr_ids = 0;
	switch (src) {
	case CPUS_FROM_MPTABLE:
		found = cpus_from_mptable(out);
		break;
	case CPUS_FROM_MADT:
		found = cpus_from_madt(out);
		break;
	case CPUS_FROM_CPUID:
		found = cpus_from_cpuid(out);
		break;
	default:
		break;
	}
	if (found)
		out->source = src;
	else
		out->count = out->nr_ids = 0;
	return found;
}

const char *cpus_source_name(enum cpus_source s)
{
	switch (s) {
	case CPUS_FROM_MPTABLE:
		return "MP table";
	case CPUS_FROM_MADT:
		return "ACPI MADT";
	case CPUS_FROM_CPUID:
		return "CPUID leaf 0xb";
	case CPUS_FROM_NONE:
		break;
	}
	return "none";
}
