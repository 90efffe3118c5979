/* SPDX-License-Identifier: MIT */
/*
 * The KVM UAPI for confidential guests, as of Linux 6.16+
 * (arch/x86/include/uapi/asm/kvm.h, include/uapi/linux/kvm.h). The build
 * hosts carry Linux 6.1 headers, which predate KVM_SEV_INIT2, SNP, TDX,
 * guest_memfd and memory attributes, so the subset tern uses is spelled out
 * here under a CONF_ prefix (no clash once the system headers catch up).
 * Layouts are the kernel's; the static asserts pin their sizes.
 */
#ifndef TERN_CONFIDENTIAL_KVM_H
#define TERN_CONFIDENTIAL_KVM_H

#include <linux/kvm.h>
#include <stdint.h>

/* KVM_CREATE_VM types (KVM_CAP_VM_TYPES is a bitmask of 1 << type). */
#define CONF_KVM_CAP_VM_TYPES 235
#define CONF_KVM_CAP_GUEST_MEMFD 234
#define CONF_KVM_X86_DEFAULT_VM 0
#define CONF_KVM_X86_SEV_VM 2
#define CONF_KVM_X86_SEV_ES_VM 3
#define CONF_KVM_X86_SNP_VM 4
#define CONF_KVM_X86_TDX_VM 5

/* enum sev_cmd_id */
#define CONF_KVM_SEV_LAUNCH_START 2
#define CONF_KVM_SEV_LAUNCH_UPDATE_DATA 3
#define CONF_KVM_SEV_LAUNCH_UPDATE_VMSA 4
#define CONF_KVM_SEV_LAUNCH_SECRET 5
#define CONF_KVM_SEV_LAUNCH_MEASURE 6
#define CONF_KVM_SEV_LAUNCH_FINISH 7
#define CONF_KVM_SEV_INIT2 22
#define CONF_KVM_SEV_SNP_LAUNCH_START 100
#define CONF_KVM_SEV_SNP_LAUNCH_UPDATE 101
#define CONF_KVM_SEV_SNP_LAUNCH_FINISH 102

struct conf_kvm_sev_cmd {
	uint32_t id;
	uint32_t pad0;
	uint64_t data;
	uint32_t error;
	uint32_t sev_fd;
};

struct conf_kvm_sev_init {
	uint64_t vmsa_features;
	uint32_t flags;
	uint16_t ghcb_version;
	uint16_t pad1;
	uint32_t pad2[8];
};

struct conf_kvm_sev_launch_start {
	uint32_t handle;
	uint32_t policy;
	uint64_t dh_uaddr;
	uint32_t dh_len;
	uint32_t pad0;
	uint64_t session_uaddr;
	uint32_t session_len;
	uint32_t pad1;
};

struct conf_kvm_sev_launch_update_data {
	uint64_t uaddr;
	uint32_t len;
	uint32_t pad0;
};

struct conf_kvm_sev_launch_measure {
	uint64_t uaddr;
	uint32_t len;
	uint32_t pad0;
};

struct conf_kvm_sev_launch_secret {
	uint64_t hdr_uaddr;
	uint32_t hdr_len;
	uint32_t pad0;
	uint64_t guest_uaddr;
	uint32_t guest_len;
	uint32_t pad1;
	uint64_t trans_uaddr;
	uint32_t trans_len;
	uint32_t pad2;
};

struct conf_kvm_sev_snp_launch_start {
	uint64_t policy;
	uint8_t gosvw[16];
	uint16_t flags;
	uint8_t pad0[6];
	uint64_t pad1[4];
};

struct conf_kvm_sev_snp_launch_update {
	uint64_t gfn_start;
	uint64_t uaddr;
	uint64_t len;
	uint8_t type;
	uint8_t pad0;
	uint16_t flags;
	uint32_t pad1;
	uint64_t pad2[4];
};

#define CONF_SNP_ID_BLOCK_SIZE 96
#define CONF_SNP_ID_AUTH_SIZE 4096
#define CONF_SNP_HOST_DATA_SIZE 32

struct conf_kvm_sev_snp_launch_finish {
	uint64_t id_block_uaddr;
	uint64_t id_auth_uaddr;
	uint8_t id_block_en;
	uint8_t auth_key_en;
	uint8_t vcek_disabled;
	uint8_t host_data[CONF_SNP_HOST_DATA_SIZE];
	uint8_t pad0[3];
	uint16_t flags;
	uint64_t pad1[4];
};

/* enum kvm_tdx_cmd_id; TDX commands also go through KVM_MEMORY_ENCRYPT_OP. */
#define CONF_KVM_TDX_CAPABILITIES 0
#define CONF_KVM_TDX_INIT_VM 1
#define CONF_KVM_TDX_INIT_VCPU 2
#define CONF_KVM_TDX_INIT_MEM_REGION 3
#define CONF_KVM_TDX_FINALIZE_VM 4
#define CONF_KVM_TDX_MEASURE_MEMORY_REGION (1u << 0)

struct conf_kvm_tdx_cmd {
	uint32_t id;
	uint32_t flags;
	uint64_t data;
	uint64_t hw_error;
};

/* struct kvm_tdx_capabilities up to its CPUID array (2 KiB). */
struct conf_kvm_tdx_capabilities {
	uint64_t supported_attrs;
	uint64_t supported_xfam;
	uint64_t reserved[254];
	struct kvm_cpuid2 cpuid;
};

/* struct kvm_tdx_init_vm: 256 bytes of TD_PARAMS, then the CPUID array. */
struct conf_kvm_tdx_init_vm {
	uint64_t attributes;
	uint64_t xfam;
	uint64_t mrconfigid[6];
	uint64_t mrowner[6];
	uint64_t mrownerconfig[6];
	uint64_t reserved[12];
	struct kvm_cpuid2 cpuid;
};

struct conf_kvm_tdx_init_mem_region {
	uint64_t source_addr;
	uint64_t gpa;
	uint64_t nr_pages;
};

/* guest_memfd and private memory. */
#define CONF_KVM_MEM_GUEST_MEMFD (1u << 2)
#define CONF_KVM_MEMORY_ATTRIBUTE_PRIVATE (1ull << 3)

struct conf_kvm_userspace_memory_region2 {
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t pad2[14];
};

struct conf_kvm_memory_attributes {
	uint64_t address;
	uint64_t size;
	uint64_t attributes;
	uint64_t flags;
};

struct conf_kvm_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};

/*
 * Run-time exits of a guest with private memory. KVM_EXIT_MEMORY_FAULT
 * (6.8) comes with KVM_RUN failing EFAULT; its fields lie at the start of
 * kvm_run's exit union. KVM_HC_MAP_GPA_RANGE arrives as KVM_EXIT_HYPERCALL
 * once KVM_CAP_EXIT_HYPERCALL enables it: args gpa, pages, attributes.
 */
#define CONF_KVM_EXIT_MEMORY_FAULT 39
#define CONF_KVM_EXIT_TDX 40 /* TDVMCALLs KVM leaves to the VMM (GetQuote ...) */
#define CONF_KVM_MEMORY_EXIT_FLAG_PRIVATE (1ull << 3)
#define CONF_KVM_MAP_GPA_RANGE_PAGE_SZ_MASK 0x3ull
#define CONF_KVM_MAP_GPA_RANGE_ENCRYPTED (1ull << 4)

struct conf_kvm_memory_fault {
	uint64_t flags;
	uint64_t gpa;
	uint64_t size;
};

#define CONF_KVM_SET_USER_MEMORY_REGION2                                      \
	_IOW(KVMIO, 0x49, struct conf_kvm_userspace_memory_region2)
#define CONF_KVM_SET_MEMORY_ATTRIBUTES                                        \
	_IOW(KVMIO, 0xd2, struct conf_kvm_memory_attributes)
#define CONF_KVM_CREATE_GUEST_MEMFD                                           \
	_IOWR(KVMIO, 0xd4, struct conf_kvm_create_guest_memfd)

_Static_assert(sizeof(struct conf_kvm_sev_cmd) == 24, "kvm_sev_cmd");
_Static_assert(sizeof(struct conf_kvm_sev_init) == 48, "kvm_sev_init");
_Static_assert(sizeof(struct conf_kvm_sev_launch_secret) == 48,
	       "kvm_sev_launch_secret");
_Static_assert(sizeof(struct conf_kvm_sev_snp_launch_start) == 64,
	       "kvm_sev_snp_launch_start");
_Static_assert(sizeof(struct conf_kvm_sev_snp_launch_update) == 64,
	       "kvm_sev_snp_launch_update");
_Static_assert(sizeof(struct conf_kvm_sev_snp_launch_finish) == 88,
	       "kvm_sev_snp_launch_finish");
_Static_assert(sizeof(struct conf_kvm_tdx_init_vm) == 256 + 8,
	       "kvm_tdx_init_vm");
_Static_assert(sizeof(struct conf_kvm_userspace_memory_region2) == 160,
	       "kvm_userspace_memory_region2");

#endif
