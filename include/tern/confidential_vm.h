/* SPDX-License-Identifier: MIT */
/*
 * A confidential launch inside `tern run`: what the VM build calls
 * (src/vmm/vm.c), what QMP reads (src/qmp/qmp_sev.c), and the host seam
 * through which every KVM confidential ioctl and /dev/sev goes: SEV,
 * SEV-ES, SEV-SNP and TDX.
 * docs/confidential.md walks the sequence.
 */
#ifndef TERN_CONFIDENTIAL_VM_H
#define TERN_CONFIDENTIAL_VM_H

#include "tern/confidential_launch.h"

struct vm;

/*
 * The host a launch talks to. The product binary uses
 * confidential_host_default (src/confidential/host_kvm.c: the real KVM
 * ioctls and /dev/sev); the test-only tern-confidential-double defines its
 * own (tests/integration/confidential-double-host.c), so the archive member
 * with the real one is not linked there. Calls return 0 or -errno (the VM
 * ioctl KVM_CREATE_GUEST_MEMFD returns its new descriptor).
 */
struct sev_platform_info {
	uint8_t api_major, api_minor, build_id;
	uint32_t flags; /* SEV_PLATFORM_STATUS flags (bit 8: SEV-ES) */
};

struct confidential_host_ops {
	/* KVM_CREATE_VM's type for kind. */
	unsigned long (*vm_type)(enum confidential_kind kind);
	/* KVM_CAP_VM_TYPES of the KVM device (a bitmask, 0 if unknown). */
	int (*vm_types)(const char *kvm_device);
	/* Open /dev/sev: a descriptor or -errno. */
	int (*sev_open)(void);
	void (*sev_close)(int sev_fd);
	/* SEV_PLATFORM_STATUS through /dev/sev; *fw_error on failure. */
	int (*sev_platform_status)(int sev_fd, struct sev_platform_info *info,
				   uint32_t *fw_error);
	/*
	 * Another platform command through /dev/sev (SEV_ISSUE_CMD: cmd and
	 * its data, e.g. PDH_CERT_EXPORT, GET_ID2); *fw_error on failure.
	 */
	int (*sev_platform_cmd)(int sev_fd, uint32_t cmd, void *data,
				uint32_t *fw_error);
	/* ioctl() on the VM and on a vCPU (index for the double's records). */
	int (*vm_ioctl)(int vm_fd, unsigned long req, void *arg);
	int (*vcpu_ioctl)(unsigned int index, int vcpu_fd, unsigned long req,
			  void *arg);
};

extern const struct confidential_host_ops confidential_host_default;

/* QEMU's SevState (qapi/misc-target.json), in its order. */
enum sev_launch_state {
	SEV_STATE_UNINIT,
	SEV_STATE_LAUNCH_UPDATE,
	SEV_STATE_LAUNCH_SECRET,
	SEV_STATE_RUNNING,
};

const char *sev_launch_state_name(enum sev_launch_state s);

struct confidential_vm;

/*
 * After KVM_CREATE_VM and guest RAM, before any vCPU: open /dev/sev,
 * read the platform status, INIT2, LAUNCH_START with the owner's
 * dh-cert/session, and register every RAM region as encrypted. NULL with
 * err (TERN_ERROR_HOST naming the command and the firmware's status).
 */
struct confidential_vm *confidential_vm_begin(struct vm *vm, GError **err);
/*
 * After the flash and the vCPUs exist: the vCPU start registers (SEV-ES),
 * LAUNCH_UPDATE_DATA over what the plan measures, LAUNCH_UPDATE_VMSA
 * (SEV-ES), LAUNCH_MEASURE. Then LAUNCH_FINISH at once unless finish_later
 * (--paused: the owner may inject a secret before `cont`).
 */
bool confidential_vm_measure(struct confidential_vm *c, bool finish_later,
			     GError **err);
/* Before the vCPUs first run: LAUNCH_FINISH if still in launch-secret. */
bool confidential_vm_ready(struct confidential_vm *c, GError **err);
void confidential_vm_free(struct confidential_vm *c);
/* Can the vCPUs be put back to their reset state? Not SEV-ES's or SNP's. */
bool confidential_vm_resettable(const struct confidential_vm *c);

/*
 * A vCPU's exit that may be the launch's business (c may be NULL): SNP
 * page-state changes and private-memory faults, as conf_private_exit().
 * 1 handled, 0 not such an exit, -errno a fault that could not be
 * converted (the vCPU must stop).
 */
int confidential_vm_exit(struct confidential_vm *c, struct kvm_run *run,
			 int run_err) __must_check;

/* An SEV guest of any kind (what the SEV QMP commands see)? */
bool confidential_vm_is_sev(const struct confidential_vm *c);

/* What query-sev reports. */
struct sev_guest_info {
	enum confidential_kind kind;
	enum sev_launch_state state;
	uint8_t api_major, api_minor, build_id;
	uint64_t policy; /* SNP's is 64 bits */
	uint32_t handle;
};

void confidential_vm_info(const struct confidential_vm *c,
			  struct sev_guest_info *info);
/*
 * The LAUNCH_MEASURE blob in base64, as QEMU's query-sev-launch-measure
 * (NULL before the measurement). g_free it.
 */
char *confidential_vm_measurement(const struct confidential_vm *c);
/*
 * sev-inject-launch-secret: base64 header and secret, into guest memory at
 * gpa (has_gpa false: the firmware's SEV secret area). Errors carry QEMU
 * 7.2's texts.
 */
bool confidential_vm_inject_secret(struct confidential_vm *c,
				   const char *header_b64,
				   const char *secret_b64, bool has_gpa,
				   uint64_t gpa, GError **err);

/* What query-sev-capabilities reports (QEMU 7.2's SevCapability). */
struct sev_capabilities {
	char *pdh, *cert_chain, *cpu0_id; /* base64 */
	unsigned int cbitpos, reduced_phys_bits;
};

/*
 * PDH_CERT_EXPORT and GET_ID2 through /dev/sev, each asked for its length
 * first as QEMU does, and the C-bit position from the host's CPUID
 * 0x8000001F. Errors carry QEMU 7.2's texts. Free with
 * sev_capabilities_clear().
 */
bool confidential_vm_capabilities(struct confidential_vm *c,
				  struct sev_capabilities *cap, GError **err);
void sev_capabilities_clear(struct sev_capabilities *cap);

/*
 * query-sev-attestation-report: KVM_SEV_GET_ATTESTATION_REPORT with the
 * owner's 16-byte nonce (base64), its length asked first as QEMU does; the
 * report in base64 (g_free it), or NULL with QEMU 7.2's error texts.
 */
char *confidential_vm_attestation_report(struct confidential_vm *c,
					 const char *mnonce_b64, GError **err);

/* Pure helpers, unit tested. */
char *sev_measurement_base64(const uint8_t *blob, uint32_t len);
/* May state from go to to? (the order QEMU and the PSP impose; SNP goes
 * from launch-update straight to running) */
bool sev_launch_state_next(enum sev_launch_state from,
			   enum sev_launch_state to, bool snp);
/*
 * Decode sev-inject-launch-secret's arguments as QEMU 7.2 does: empty or
 * undecodable is an error naming which.
 */
bool sev_secret_args_decode(const char *header_b64, const char *secret_b64,
			    uint8_t **hdr, gsize *hdr_len, uint8_t **data,
			    gsize *data_len, GError **err);

#endif
