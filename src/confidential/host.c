// SPDX-License-Identifier: MIT
/*
 * `tern run --confidential`: the checks made before anything is built.
 * The firmware must carry the metadata the kind needs, the host's KVM must
 * offer the VM type (KVM_CAP_VM_TYPES) and, for SEV, /dev/sev must open;
 * all asked through confidential_host_default. Every kind then launches
 * in vm_create() (vm_launch.c).
 */
#include <errno.h>

#include "tern/confidential_kvm.h"
#include "tern/confidential_vm.h"
#include "tern/error.h"

#define FIRMWARE_MAX (64ull * MiB)

bool confidential_config_check(const struct confidential_params *p,
			       const char *firmware, bool kernel, GError **err)
{
	/* tern has no fw_cfg: the firmware could not find a kernel. */
	if (!p->kind && firmware && kernel) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--firmware: not with --kernel, --initrd or --cmdline (the firmware boots itself; tern has no fw_cfg to hand it a kernel)");
		return false;
	}
	if (p->kind && !firmware) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: needs --firmware FILE (an OVMF or TDVF image)");
		return false;
	}
	/* Silently booting the firmware alone would lose the kernel. */
	if (p->kind && kernel) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "--confidential: not with --kernel, --initrd or --cmdline (the firmware loads the kernel through fw_cfg, which tern lacks; `tern measure --kernel` predicts the digest of such a launch under QEMU)");
		return false;
	}
	return true;
}

bool confidential_run_prepare(const struct confidential_params *p,
			      const char *firmware, const char *kvm_device,
			      unsigned int cpus, GError **err)
{
	const struct confidential_host_ops *host = &confidential_host_default;
	const char *dev = kvm_device ? kvm_device : "/dev/kvm";
	struct launch_options o = { .kind = p->kind,
				    .cpus = cpus,
				    .profile = VMSA_PROFILE_QEMU,
				    .guest_features = 1 };
	g_autofree uint8_t *img = NULL;
	struct launch_plan *plan;
	size_t len;
	int types, fd, ret;

	ret = file_read_all(firmware, FIRMWARE_MAX, &img, &len);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--firmware %s: %s", firmware, g_strerror(-ret));
		return false;
	}
	plan = launch_plan_build(img, len, &o, err);
	if (!plan)
		return false;
	launch_plan_free(plan);
	types = host->vm_types(dev);
	if (types < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--confidential: cannot open %s: %s", dev,
			    g_strerror(-types));
		return false;
	}
	if (!confidential_host_check(p->kind, types, err))
		return false;
	if (p->kind != CONFIDENTIAL_TDX) {
		fd = host->sev_open();
		if (fd < 0) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "--confidential %s: /dev/sev: %s (the SEV firmware device authorises every launch command)",
				    confidential_kind_name(p->kind),
				    g_strerror(-fd));
			return false;
		}
		host->sev_close(fd);
	}
	return true;
}
