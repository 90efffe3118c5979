/* SPDX-License-Identifier: MIT */
/*
 * Launching a confidential guest: the command sequences KVM and the
 * AMD secure processor / TDX module require, driven by the launch plan
 * (include/tern/confidential.h) so the pages loaded are the pages
 * `tern measure` hashed. Everything goes through struct confidential_ops:
 * the real KVM ioctls in the VMM, a recording double in the tests (this
 * host has neither SEV nor TDX). docs/confidential.md walks each flow.
 */
#ifndef TERN_CONFIDENTIAL_LAUNCH_H
#define TERN_CONFIDENTIAL_LAUNCH_H

#include <sys/types.h>

#include "tern/confidential.h"
#include "tern/confidential_kvm.h"

/* --confidential KIND[,policy=HEX][,cbitpos=N][,reduced-phys-bits=N]
 *   [,dh-cert=FILE,session=FILE][,id-block=FILE,id-auth=FILE]
 *   [,host-data=HEX][,kernel-hashes=on] */
struct confidential_params {
	enum confidential_kind kind;
	bool has_policy;
	uint64_t policy;
	unsigned int cbitpos; /* 0: not given */
	unsigned int reduced_phys_bits;
	char *dh_cert_path; /* SEV/SEV-ES: the guest owner's DH certificate */
	char *session_path; /* and launch session blob */
	char *id_block_path; /* SNP */
	char *id_auth_path;
	bool has_host_data; /* SNP */
	uint8_t host_data[32];
	bool kernel_hashes; /* SEV hashes table for --kernel */
};

#define SEV_POLICY_DEFAULT 0x1 /* NODBG */
#define SEV_ES_POLICY_DEFAULT 0x5 /* NODBG | ES */
#define SNP_POLICY_DEFAULT 0x30000 /* reserved bit 17 | SMT allowed */

/* Parse the --confidential value; errors name the option and the key. */
bool confidential_params_parse(const char *spec,
			       struct confidential_params *p, GError **err);
void confidential_params_clear(struct confidential_params *p);

/* Does the kind keep guest memory in guest_memfd (SNP, TDX)? */
static inline bool confidential_private_memory(enum confidential_kind kind)
{
	return kind == CONFIDENTIAL_SEV_SNP || kind == CONFIDENTIAL_TDX;
}

/* KVM_CREATE_VM's type for a kind (KVM_X86_SEV_VM ...). */
unsigned long confidential_vm_type(enum confidential_kind kind);

/*
 * Can this host's KVM create the kind? caps is KVM_CAP_VM_TYPES (a bitmask
 * of 1 << type). False with TERN_ERROR_HOST naming what is missing.
 */
bool confidential_host_check(enum confidential_kind kind, int vm_types,
			     GError **err);

/*
 * --confidential needs --firmware; neither it nor a plain --firmware boot
 * takes --kernel/--initrd/--cmdline (kernel: any of them given): the
 * firmware would need fw_cfg to load them.
 */
bool confidential_config_check(const struct confidential_params *p,
			       const char *firmware, bool kernel, GError **err);
/*
 * `tern run --confidential`, before anything is built: the firmware carries
 * what the kind needs, KVM offers the VM type and, for SEV, /dev/sev opens
 * (asked through confidential_host_default). Fails with TERN_ERROR_HOST
 * naming what is missing; the caller exits 2.
 */
bool confidential_run_prepare(const struct confidential_params *p,
			      const char *firmware, const char *kvm_device,
			      unsigned int cpus, GError **err);

/* The KVM interface of a launch. Every call returns 0 or -errno. */
struct confidential_ops {
	int (*vm_ioctl)(void *opaque, unsigned long req, void *arg);
	int (*vcpu_ioctl)(void *opaque, unsigned int vcpu, unsigned long req,
			  void *arg);
	/* Host address of guest memory [gpa, gpa + len): guest_memory_ptr(). */
	void *(*guest_ptr)(void *opaque, uint64_t gpa, uint64_t len);
	/* Start vCPU vcpu in real mode at eip with RDX = rdx (the VMSA KVM
	 * builds for SEV-ES and SNP comes from these registers). */
	int (*vcpu_set_start)(void *opaque, unsigned int vcpu, uint32_t eip,
			      uint64_t rdx);
	/* SNP: fill the CPUID page from KVM's supported CPUID (0/-errno). */
	int (*snp_cpuid_fill)(void *opaque, uint8_t *page);
};

struct confidential_launch {
	const struct confidential_ops *ops;
	void *opaque;
	const struct launch_plan *plan;
	const struct confidential_params *params;
	int sev_fd; /* /dev/sev: SEV commands are authorised by it */
	const uint8_t *dh_cert; /* SEV/SEV-ES LAUNCH_START, from the owner */
	uint32_t dh_cert_len;
	const uint8_t *session;
	uint32_t session_len;
	const uint8_t *id_block; /* SNP, CONF_SNP_ID_BLOCK_SIZE bytes */
	const uint8_t *id_auth; /* CONF_SNP_ID_AUTH_SIZE bytes */
	/* TDX: the CPUID the vCPUs get, for KVM_TDX_INIT_VM (may be none). */
	const struct kvm_cpuid_entry2 *cpuid;
	unsigned int nr_cpuid;
	uint32_t fw_error; /* the firmware's status of the last failure */
	const char *failed; /* the command that failed, for messages */
	uint8_t measurement[64]; /* SEV LAUNCH_MEASURE: digest + mnonce */
	uint32_t measurement_len;
	uint32_t handle; /* SEV LAUNCH_START: the PSP's guest handle */
};

/*
 * After KVM_CREATE_VM, before any vCPU: SEV/SEV-ES/SNP KVM_SEV_INIT2 and
 * LAUNCH_START; TDX KVM_TDX_CAPABILITIES and KVM_TDX_INIT_VM.
 */
int confidential_launch_begin(struct confidential_launch *l) __must_check;
/*
 * After the vCPUs exist: their start registers (SEV-ES, SNP) from the
 * plan's VMSA steps, KVM_TDX_INIT_VCPU for TDX.
 */
int confidential_launch_vcpus(struct confidential_launch *l) __must_check;
/*
 * Load and measure every plan step, then finish: LAUNCH_UPDATE_DATA,
 * LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE, LAUNCH_FINISH (SEV); private memory,
 * SNP_LAUNCH_UPDATE per step with its page type, SNP_LAUNCH_FINISH (SNP);
 * private memory, KVM_TDX_INIT_MEM_REGION per section (measured when the
 * TDVF says MR.EXTEND), KVM_TDX_FINALIZE_VM (TDX).
 */
int confidential_launch_finish(struct confidential_launch *l) __must_check;
/*
 * SEV/SEV-ES in two halves, for an owner who injects a secret in between:
 * _measure loads and measures (up to LAUNCH_MEASURE), _complete is
 * LAUNCH_FINISH. _secret is LAUNCH_SECRET into guest (a host address of
 * len bytes of guest memory).
 */
int confidential_launch_measure(struct confidential_launch *l) __must_check;
int confidential_launch_complete(struct confidential_launch *l) __must_check;
int confidential_launch_secret(struct confidential_launch *l,
			       const uint8_t *hdr, uint32_t hdr_len,
			       const uint8_t *data, uint32_t len,
			       void *guest) __must_check;

/*
 * Back [gpa, gpa + size) at uaddr with a new guest_memfd as memory slot
 * slot (SNP and TDX private memory). *gmem_fd receives the descriptor.
 */
int confidential_memory_bind(const struct confidential_ops *ops, void *opaque,
			     uint32_t slot, uint64_t gpa, uint64_t size,
			     uint64_t uaddr, int *gmem_fd) __must_check;
/*
 * Make [gpa, gpa + size) private or shared: the guest's page-state changes
 * (KVM_HC_MAP_GPA_RANGE exits) and KVM_EXIT_MEMORY_FAULT come here.
 */
int confidential_memory_convert(const struct confidential_ops *ops,
				void *opaque, uint64_t gpa, uint64_t size,
				bool private) __must_check;

/*
 * A page-state change asked for at run time: [gpa, gpa + size) becomes
 * private or shared.
 */
struct conf_convert {
	uint64_t gpa;
	uint64_t size;
	bool to_private;
};

/*
 * Guest memory kept in guest_memfd (SNP): each slot's two sides, and what
 * changes them at run time. Used by the VM build (vm_launch.c) and the
 * vCPU exit path; unit tested against the ioctl double.
 */
struct conf_binding {
	uint64_t gpa, size;
	uint8_t *hva; /* the shared side */
	int gmem_fd; /* the private side */
	bool ram; /* a RAM region: discarded through guest_memory_discard */
};

struct guest_memory;

struct conf_private_mem {
	const struct confidential_ops *ops;
	void *opaque;
	struct guest_memory *mem; /* the RAM the ram bindings are in */
	struct conf_binding bind[5]; /* RAM regions, the flash */
	unsigned int nr_bind;
	bool running; /* the launch is over: the guest converts now */
};

/* confidential_memory_bind() into pm's next binding. */
int conf_private_bind(struct conf_private_mem *pm, uint32_t slot,
		      uint64_t gpa, uint64_t size, uint8_t *hva,
		      bool ram) __must_check;
/*
 * Make cv's range private or shared (KVM_SET_MEMORY_ATTRIBUTES) and give
 * up the other side as QEMU does: the shared pages once private, the
 * guest_memfd's (a punched hole) once shared. -EINVAL unless running and
 * the range lies in one binding.
 */
int conf_private_convert(struct conf_private_mem *pm,
			 const struct conf_convert *cv) __must_check;
/*
 * A vCPU's exit, run_err the errno of a failed KVM_RUN (0 if it returned):
 * KVM_EXIT_HYPERCALL gets its answer in run->hypercall.ret (0, or
 * -KVM_EINVAL / -KVM_ENOSYS for the guest to see); KVM_EXIT_MEMORY_FAULT
 * (KVM_RUN failed EFAULT) is converted. 1 handled, 0 not such an exit,
 * -errno a memory fault that could not be converted. pm may be NULL.
 */
struct kvm_run;
int conf_private_exit(struct conf_private_mem *pm, struct kvm_run *run,
		      int run_err) __must_check;
/* Close the guest_memfds (the slots keep theirs while the VM lives). */
void conf_private_close(struct conf_private_mem *pm);

/*
 * A KVM_HC_MAP_GPA_RANGE exit's arguments (gpa, page count, attributes):
 * -EINVAL unless page aligned, non-empty, not wrapping, and only the
 * ENCRYPTED and page-size attribute bits.
 */
int confidential_map_gpa_range_decode(const uint64_t args[3],
				      struct conf_convert *out) __must_check;
/* A KVM_EXIT_MEMORY_FAULT, widened to whole pages; -EINVAL if empty or
 * wrapping. */
int confidential_memory_fault_decode(const struct conf_kvm_memory_fault *f,
				     struct conf_convert *out) __must_check;

/*
 * TDX's CPUID configuration for KVM_TDX_INIT_VM: each configurable leaf of
 * KVM_TDX_CAPABILITIES (caps: the bits the VMM may set) that the vCPUs'
 * CPUID (vm) has, with the vCPU's bits within the configurable ones. The
 * entries written to out (room for nr_caps).
 */
unsigned int tdx_cpuid_config(const struct kvm_cpuid_entry2 *caps,
			      unsigned int nr_caps,
			      const struct kvm_cpuid_entry2 *vm,
			      unsigned int nr_vm, struct kvm_cpuid_entry2 *out);

/* A stretch of guest physical memory. */
struct conf_range {
	uint64_t gpa, size;
};

/*
 * The TD HOB (tdx_hob.c) into buf (len bytes, at guest address hob_gpa):
 * the hand-off table, the RAM ranges in address order as resource
 * descriptors (SYSTEM_MEMORY where added, the launch's PAGE.ADDed pages
 * inside RAM; MEMORY_UNACCEPTED elsewhere), the end of the list. The bytes
 * used, -ENOSPC if buf is too small, -EINVAL for overlapping added ranges.
 */
ssize_t tdx_hob_build(uint8_t *buf, size_t len, uint64_t hob_gpa,
		      const struct conf_range *ram, unsigned int nr_ram,
		      const struct conf_range *added, unsigned int nr_added);

/*
 * The SNP CPUID page (4 KiB) from n CPUID entries as KVM reports them,
 * all-zero leaves left out (the guest reads a missing leaf as zeros):
 * -E2BIG when more than the SNP_CPUID_MAX the page holds are left (the
 * page is zeroed).
 */
#define SNP_CPUID_MAX 64
struct kvm_cpuid_entry2;
int snp_cpuid_page_fill(uint8_t *page, const struct kvm_cpuid_entry2 *leaves,
			unsigned int n) __must_check;

#endif
