/* SPDX-License-Identifier: MIT */
/*
 * Confidential guests (AMD SEV, SEV-ES, SEV-SNP, Intel TDX): the firmware
 * facts their launch depends on, the launch plan that decides which page is
 * loaded and measured how, the offline launch measurement computed from that
 * plan, and the launch flows that hand the same plan to KVM. See
 * docs/confidential.md.
 */
#ifndef TERN_CONFIDENTIAL_H
#define TERN_CONFIDENTIAL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/util.h"

enum confidential_kind {
	CONFIDENTIAL_NONE,
	CONFIDENTIAL_SEV,
	CONFIDENTIAL_SEV_ES,
	CONFIDENTIAL_SEV_SNP,
	CONFIDENTIAL_TDX,
};

#define CONF_PAGE_SIZE 4096u
#define SNP_DIGEST_SIZE 48 /* SHA-384 */
#define SEV_DIGEST_SIZE 32 /* SHA-256 */

/* "sev", "sev-es", "sev-snp", "tdx" -> kind; false for anything else. */
bool confidential_kind_parse(const char *s, enum confidential_kind *kind);
const char *confidential_kind_name(enum confidential_kind kind);

/* ---- Firmware (OVMF / TDVF) ---------------------------------------------- */

/* SEV metadata section types (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm). */
enum sev_section_type {
	SEV_SECTION_SNP_SEC_MEM = 1,
	SEV_SECTION_SNP_SECRETS = 2,
	SEV_SECTION_CPUID = 3,
	SEV_SECTION_SVSM_CAA = 4,
	SEV_SECTION_SNP_KERNEL_HASHES = 0x10,
};

struct sev_section {
	uint32_t gpa;
	uint32_t size;
	uint32_t type;
};

/* TDVF section attributes (TDX Virtual Firmware Design Guide, ch. 11). */
#define TDVF_SECTION_TD_HOB 2 /* type: where the VMM leaves the TD HOB */
#define TDVF_ATTR_MR_EXTEND (1u << 0)
#define TDVF_ATTR_PAGE_AUG (1u << 1)

struct tdvf_section {
	uint32_t data_offset; /* in the image */
	uint32_t raw_size;
	uint64_t gpa;
	uint64_t mem_size;
	uint32_t type;
	uint32_t attributes;
};

#define OVMF_MAX_SECTIONS 64

/*
 * What the firmware's GUIDed footer table says. The image is loaded so that
 * it ends at 4 GiB (load_gpa = 4 GiB - size).
 */
struct ovmf_info {
	uint64_t load_gpa;
	bool has_reset_block; /* SEV-ES reset block: where APs start */
	uint32_t ap_reset_eip;
	bool has_secret_area; /* SEV launch secret: sev-inject-launch-secret */
	uint32_t secret_gpa;
	uint32_t secret_size;
	bool has_svsm_info; /* an SVSM image: its entry point */
	uint32_t svsm_entry_offset; /* from the image's start */
	bool has_hashes_table; /* SEV hashes table (direct kernel boot) */
	uint32_t hashes_gpa;
	uint32_t hashes_size;
	unsigned int nr_sev;
	struct sev_section sev[OVMF_MAX_SECTIONS];
	const char *sev_problem; /* NULL, or why the SEV metadata is unusable */
	bool has_tdvf;
	const char *tdvf_problem; /* the same for the TDVF metadata */
	unsigned int nr_tdvf;
	struct tdvf_section tdvf[OVMF_MAX_SECTIONS];
};

/*
 * Parse the footer table of an OVMF/TDVF image and the SEV and TDVF
 * metadata it points to. Every offset and length is checked against the
 * image; a malformed footer table fails with TERN_ERROR_INPUT, a malformed
 * SEV or TDVF metadata table sets sev_problem / tdvf_problem (the launch
 * plan that needs it fails). An image without a footer table parses to an
 * info with nothing set.
 */
bool ovmf_parse(const uint8_t *img, size_t len, struct ovmf_info *info,
		GError **err);

/* ---- --firmware: a flash image at the top of 4 GiB (QEMU's -bios) ------ */

#define FLASH_MAX_SIZE (16ull * MiB)
#define FLASH_KVM_SLOT 16 /* above the RAM slots */

struct flash_image {
	uint8_t *hva; /* read-only host mapping (writable if private_mem) */
	uint64_t size;
	uint64_t gpa; /* 4 GiB - size */
	bool private_mem; /* no slot yet: the confidential launch binds it */
};

/*
 * Read the image (whole 4 KiB pages, at most 16 MiB) and map it read-only
 * at 4 GiB - size in the VM; with private_mem only into a host buffer for
 * the launch to bind (SNP). Errors name --firmware.
 */
bool flash_image_map(struct flash_image *f, int vm_fd, const char *path,
		     bool private_mem, GError **err);
/* After the vCPUs are gone; the slot goes with the VM fd. */
void flash_image_unmap(struct flash_image *f);

/* ---- Direct kernel boot: the SEV hashes table (QEMU target/i386/sev.c) --- */

#define SEV_HASHES_TABLE_LEN 168
#define SEV_HASHES_TABLE_PADDED 176

/*
 * Build the padded table from the kernel and initrd bytes and the command
 * line (hashed with its NUL; NULL hashes as ""). initrd NULL hashes as empty.
 */
void sev_hashes_table_build(const uint8_t *kernel, size_t kernel_len,
			    const uint8_t *initrd, size_t initrd_len,
			    const char *cmdline,
			    uint8_t out[SEV_HASHES_TABLE_PADDED]);

/* ---- vCPU state: the VMSA -------------------------------------------------- */

/* Whose conventions set the initial registers KVM or a cloud measures. */
enum vmsa_profile {
	VMSA_PROFILE_QEMU, /* KVM_SEV_INIT2 (Linux >= 6.10): tern's own launch */
	VMSA_PROFILE_QEMU_LEGACY, /* KVM_SEV_INIT: FPU state left zero */
	VMSA_PROFILE_EC2,
	VMSA_PROFILE_EC2_RDX0, /* older EC2 model, RDX 0 */
	VMSA_PROFILE_GCE,
};

bool vmsa_profile_parse(const char *s, enum vmsa_profile *profile);

/*
 * CPUID Fn0000_0001 EAX of a QEMU CPU model name (EPYC, EPYC-v4,
 * EPYC-Rome, EPYC-Milan, EPYC-Genoa, ...); false if unknown.
 */
bool vcpu_type_signature(const char *name, uint32_t *sig);

#define VMSA_BSP_EIP 0xfffffff0u

/*
 * The VMSA every vCPU of an SVSM launch gets (QEMU with COCONUT-SVSM): flat
 * 32-bit protected mode at eip, RDX the vCPU signature, SEV_FEATURES
 * SNPActive only; MXCSR at its reset value unless legacy (QEMU before
 * KVM_SEV_INIT2). The x87 control word stays zero, as the published
 * digests have it.
 */
void vmsa_build_svsm(uint8_t page[CONF_PAGE_SIZE], uint32_t eip,
		     uint32_t vcpu_sig, bool legacy);

/*
 * Fill a 4 KiB VMSA page: the reset state at eip (BSP 0xfffffff0, APs the
 * firmware's reset block), with sev_features (0 for SEV-ES) and the vCPU
 * signature where the profile puts it in RDX.
 */
void vmsa_build(uint8_t page[CONF_PAGE_SIZE], enum vmsa_profile profile,
		bool bsp, uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig);

/* ---- The launch plan: the one place deciding what is measured how ------- */

/* SNP_LAUNCH_UPDATE page types (SNP firmware ABI, PAGE_TYPE). */
enum snp_page_type {
	SNP_PAGE_NORMAL = 1,
	SNP_PAGE_VMSA = 2,
	SNP_PAGE_ZERO = 3,
	SNP_PAGE_UNMEASURED = 4,
	SNP_PAGE_SECRETS = 5,
	SNP_PAGE_CPUID = 6,
};

enum launch_step_kind {
	/* Bytes loaded at gpa and measured: SEV LAUNCH_UPDATE_DATA, SNP
	 * NORMAL pages, TDX PAGE.ADD (+ MR.EXTEND when extend). */
	LAUNCH_STEP_DATA,
	/* SNP pages whose contents are not measured (ZERO, UNMEASURED,
	 * SECRETS, CPUID), or TDX pages added without data. */
	LAUNCH_STEP_PAGES,
	/* One vCPU's initial register state (SEV-ES and SNP). */
	LAUNCH_STEP_VMSA,
};

struct launch_step {
	enum launch_step_kind kind;
	uint64_t gpa;
	uint64_t len; /* bytes */
	const uint8_t *data; /* DATA: len bytes, NULL for zeros */
	enum snp_page_type page_type; /* SNP */
	bool extend; /* TDX: MR.EXTEND the contents */
	bool firmware; /* the firmware image itself (skipped when seeded) */
	unsigned int vcpu; /* VMSA */
	uint32_t eip; /* VMSA: where the vCPU starts */
};

#define LAUNCH_MAX_STEPS (2 * OVMF_MAX_SECTIONS + 8 + 1024)

struct launch_options {
	enum confidential_kind kind;
	unsigned int cpus;
	enum vmsa_profile profile;
	uint32_t vcpu_sig;
	uint64_t guest_features; /* SNP SEV_FEATURES */
	/* Direct kernel boot: a hashes table when kernel is non-NULL. */
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd;
	size_t initrd_len;
	const char *cmdline;
	uint64_t vmsa_gpa; /* SNP: GPA in the VMSA pages' PAGE_INFO */
	/* SNP: start the chain here instead of hashing the firmware pages. */
	bool has_seed;
	uint8_t seed[SNP_DIGEST_SIZE];
	/* SNP: the chain over the firmware pages alone (the seed above). */
	bool firmware_only;
	/*
	 * SNP with an SVSM (COCONUT-SVSM under QEMU): its image, loaded to end
	 * below the firmware and its variable store of ovmf_vars_size bytes;
	 * its SEV metadata, not the firmware's, names the SNP pages, and
	 * every vCPU starts at its entry point (vmsa_build_svsm()).
	 */
	const uint8_t *svsm;
	size_t svsm_len;
	uint64_t ovmf_vars_size;
};

#define SNP_VMSA_GPA_48BIT 0xfffffffff000ull

struct launch_plan {
	struct launch_options opt;
	struct ovmf_info fw;
	struct ovmf_info svsm_fw; /* opt.svsm's footer table */
	unsigned int nr_steps;
	struct launch_step steps[LAUNCH_MAX_STEPS];
	uint8_t hashes_page[CONF_PAGE_SIZE]; /* SEV table / SNP hashes page */
	uint8_t *vmsa; /* cpus pages */
};

/*
 * Build the ordered launch steps for an image (which must outlive the plan)
 * under opt. Fails with TERN_ERROR_INPUT when the firmware cannot carry what
 * was asked (no SEV metadata for SNP, no hashes table for a kernel, no TDVF
 * metadata for TDX).
 */
struct launch_plan *launch_plan_build(const uint8_t *img, size_t len,
				      const struct launch_options *opt,
				      GError **err);
void launch_plan_free(struct launch_plan *plan);

/* ---- Measurement ----------------------------------------------------------- */

/*
 * The launch digest the plan produces: SNP MEASUREMENT (48 bytes), the
 * SEV/SEV-ES launch digest before the PSP's HMAC (32 bytes), TDX MRTD
 * (48 bytes). Returns the number of bytes written to out.
 */
size_t launch_plan_measure(const struct launch_plan *plan,
			   uint8_t out[SNP_DIGEST_SIZE]);

/* SNP: one PAGE_INFO step of the chain (SNP firmware ABI, PAGE_INFO). */
void snp_page_info_extend(uint8_t digest[SNP_DIGEST_SIZE],
			  const uint8_t contents[SNP_DIGEST_SIZE],
			  enum snp_page_type type, uint64_t gpa);

/*
 * `tern measure ARGS` (argv[0] is "measure"): on success *hex is the digest
 * in lower-case hex (g_free it); bad input fails with TERN_ERROR_INPUT
 * naming the option.
 */
bool confidential_measure_run(int argc, char **argv, char **hex,
			      GError **err);
/* The same, printing the digest; returns the exit status (2: bad input). */
int confidential_measure_main(int argc, char **argv);

#endif
