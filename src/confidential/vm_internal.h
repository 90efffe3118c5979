/* SPDX-License-Identifier: MIT */
/*
 * Between the parts of a launch inside `tern run`: vm_launch.c (every
 * kind's sequence and the SEV/SEV-ES steps), vm_private.c (the guest_memfd
 * memory and one-go launch of SNP and TDX) and vm_sev_qmp.c (what QMP
 * reads and does).
 */
#ifndef TERN_CONFIDENTIAL_VM_INTERNAL_H
#define TERN_CONFIDENTIAL_VM_INTERNAL_H

#include "tern/confidential_vm.h"

struct confidential_vm {
	struct vm *vm;
	const struct confidential_host_ops *host;
	struct confidential_launch l;
	struct launch_plan *plan;
	uint8_t *fw_img; /* the plan's DATA steps point into it */
	uint8_t *dh_cert, *session;
	uint8_t *id_block, *id_auth; /* SNP */
	struct kvm_cpuid2 *bsp_cpuid; /* the CPUID vCPU 0 gets */
	struct sev_platform_info platform;
	enum sev_launch_state state;
	bool snp;
	bool private_mem; /* SNP, TDX: guest_memfd, launched in one go */
	struct conf_private_mem pm; /* their guest_memfd slots */
};

/* The launch's view of the VM (vm_launch.c). */
extern const struct confidential_ops conf_vm_ops;

/* QEMU's name of an SEV firmware status code (SEV API, table 27). */
const char *conf_fw_error_name(uint32_t e);
/* False, with err naming the failed command and the firmware's status. */
bool conf_launch_fail(struct confidential_vm *c, int ret, GError **err);
void conf_launch_state_set(struct confidential_vm *c, enum sev_launch_state s);
/* Guest RAM, or the flash (writable on the host while the launch runs). */
void *conf_guest_ptr(struct confidential_vm *c, uint64_t gpa, uint64_t len);

/*
 * SNP and TDX (vm_private.c): the RAM regions into guest_memfd slots, with
 * page-state changes handed to tern; after the flash and vCPUs exist, the
 * whole launch (launch-update -> running).
 */
bool conf_private_memory(struct confidential_vm *c, GError **err);
bool conf_private_launch(struct confidential_vm *c, GError **err);

#endif
