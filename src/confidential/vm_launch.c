// SPDX-License-Identifier: MIT
/*
 * A confidential launch inside `tern run`, driven by the launch plan that
 * `tern measure` hashes (so what the secure firmware measures is what was
 * predicted). SEV and SEV-ES:
 *
 *   vm_create: KVM_CREATE_VM (the kind's type), RAM
 *     confidential_vm_begin: /dev/sev, PLATFORM_STATUS, INIT2,
 *       LAUNCH_START (policy, the owner's DH cert and session),
 *       MEMORY_ENCRYPT_REG_REGION per RAM region       -> launch-update
 *   flash mapped, vCPUs created
 *     confidential_vm_measure: SEV-ES vCPU start registers, flash
 *       REG_REGION, LAUNCH_UPDATE_DATA, LAUNCH_UPDATE_VMSA (SEV-ES),
 *       LAUNCH_MEASURE                                  -> launch-secret
 *       and, without --paused, LAUNCH_FINISH           -> running
 *   QMP sev-inject-launch-secret: LAUNCH_SECRET (launch-secret only)
 *   first resume (cont): confidential_vm_ready: LAUNCH_FINISH
 *
 * As QEMU does with -S: a guest owner who wants to inject a secret starts
 * the VM paused, reads the measurement, injects, and continues.
 *
 * SEV-SNP and TDX (vm_private.c): confidential_vm_begin does INIT2 and
 * SNP_LAUNCH_START, or TDX_CAPABILITIES and TDX_INIT_VM, then binds each
 * RAM region to a guest_memfd (no REG_REGION); confidential_vm_measure
 * does the rest in one go (launch-update -> running; the measurement is
 * in the guest's attestation report or quote). At run time the vCPUs'
 * page-state changes and private-memory faults come to
 * confidential_vm_exit(). Every host call goes through
 * confidential_host_default.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/psp-sev.h>

#include "tern/confidential_kvm.h"
#include "tern/confidential_vm.h"
#include "tern/cpuid.h"
#include "tern/dirty.h"
#include "tern/error.h"
#include "tern/vcpu.h"
#include "tern/vm.h"
#include "vm_internal.h"

#define FIRMWARE_MAX (64ull * MiB)
#define CPUID_SIGNATURE_LEAF 1

/* QEMU's names of the SEV firmware's status codes (SEV API, table 27). */
static const char *const fw_errors[] = {
	"", "Platform state is invalid", "Guest state is invalid",
	"Platform configuration is invalid", "Buffer too small",
	"Platform is already owned", "Certificate is invalid",
	"Request not allowed by policy", "Guest is inactive",
	"Invalid address", "Bad signature", "Bad measurement",
	"Asid is already owned", "Invalid ASID", "WBINVD is required",
	"DF_FLUSH is required", "Guest handle is invalid", "Invalid command",
	"Guest is active", "Hardware error", "Hardware unsafe",
	"Feature not supported", "Invalid parameter", "Out of resources",
	"Integrity checks failed",
};

const char *conf_fw_error_name(uint32_t e)
{
	return e < G_N_ELEMENTS(fw_errors) ? fw_errors[e] : "unknown error";
}

bool conf_launch_fail(struct confidential_vm *c, int ret, GError **err)
{
	if (c->plan->opt.kind == CONFIDENTIAL_TDX) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--confidential tdx: %s failed: %s (hw_error %#x)",
			    c->l.failed ? c->l.failed : "the launch",
			    g_strerror(-ret), c->l.fw_error);
		return false;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
		    "--confidential %s: %s failed: %s (firmware status %u '%s')",
		    confidential_kind_name(c->plan->opt.kind),
		    c->l.failed ? c->l.failed : "the launch", g_strerror(-ret),
		    c->l.fw_error, conf_fw_error_name(c->l.fw_error));
	return false;
}

void conf_launch_state_set(struct confidential_vm *c, enum sev_launch_state s)
{
	/* A broken order is tern's bug, never the user's: keep it visible. */
	g_warn_if_fail(sev_launch_state_next(c->state, s, c->private_mem));
	c->state = s;
}

/* ---- The launch's view of the VM (struct confidential_ops) ---------- */

static int op_vm_ioctl(void *opaque, unsigned long req, void *arg)
{
	struct confidential_vm *c = opaque;

	return c->host->vm_ioctl(c->vm->kvm.vm_fd, req, arg);
}

static int op_vcpu_ioctl(void *opaque, unsigned int vcpu, unsigned long req,
			 void *arg)
{
	struct confidential_vm *c = opaque;

	if (vcpu >= c->vm->nr_vcpus)
		return -EINVAL;
	return c->host->vcpu_ioctl(vcpu, c->vm->vcpus[vcpu]->fd, req, arg);
}

/* Guest RAM, or the flash (writable on the host while the launch runs). */
void *conf_guest_ptr(struct confidential_vm *c, uint64_t gpa, uint64_t len)
{
	const struct flash_image *f = &c->vm->flash;

	if (f->hva && gpa >= f->gpa && len <= f->size &&
	    gpa - f->gpa <= f->size - len)
		return f->hva + (gpa - f->gpa);
	return guest_memory_ptr(&c->vm->mem, gpa, len);
}

static void *op_guest_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	return conf_guest_ptr(opaque, gpa, len);
}

/*
 * KVM builds an SEV-ES VMSA from the vCPU's registers: real mode at eip
 * (CS selector 0xf000, base eip's upper half, as QEMU sets the APs' reset
 * vector) with the signature in RDX.
 */
static int op_vcpu_set_start(void *opaque, unsigned int vcpu, uint32_t eip,
			     uint64_t rdx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret;

	ret = op_vcpu_ioctl(opaque, vcpu, KVM_GET_SREGS, &sregs);
	if (ret < 0)
		return ret;
	sregs.cs.selector = 0xf000;
	sregs.cs.base = eip & 0xffff0000u;
	ret = op_vcpu_ioctl(opaque, vcpu, KVM_SET_SREGS, &sregs);
	if (ret < 0)
		return ret;
	ret = op_vcpu_ioctl(opaque, vcpu, KVM_GET_REGS, &regs);
	if (ret < 0)
		return ret;
	regs.rip = eip & 0xffffu;
	regs.rdx = rdx;
	return op_vcpu_ioctl(opaque, vcpu, KVM_SET_REGS, &regs);
}

/*
 * The CPUID the BSP is given: KVM's supported CPUID with tern's topology
 * and --cpu-features masks, as vcpu_setup.c sets it. SNP's CPUID page and
 * TDX's CPUID configuration come from it, as QEMU takes both from its
 * first vCPU. NULL if KVM's CPUID was never read.
 */
static struct kvm_cpuid2 *conf_bsp_cpuid(const struct vm *vm)
{
	const struct kvm_cpuid2 *sup = vm->kvm.supported_cpuid;
	struct kvm_cpuid2 *cpuid;

	if (!sup)
		return NULL;
	cpuid = g_memdup2(sup, sizeof(*sup) + sup->nent * sizeof(sup->entries[0]));
	cpuid_setup_vcpu(cpuid->entries, cpuid->nent, 0, vm->cfg->cpus,
			 &vm->cfg->cpu_mask);
	return cpuid;
}

/*
 * The firmware checks the page against the CPU, and KVM hands back its
 * corrected page if it is off (launch_sev.c retries with that).
 */
static int op_snp_cpuid_fill(void *opaque, uint8_t *page)
{
	struct confidential_vm *c = opaque;
	int ret;

	if (!c->bsp_cpuid) {
		c->l.failed = "the SNP CPUID page (KVM's CPUID was never read)";
		return -ENODATA;
	}
	ret = snp_cpuid_page_fill(page, c->bsp_cpuid->entries,
				  c->bsp_cpuid->nent);
	if (ret < 0)
		c->l.failed = "the SNP CPUID page (KVM reports more than its 64 non-zero CPUID leaves)";
	return ret;
}

const struct confidential_ops conf_vm_ops = {
	.vm_ioctl = op_vm_ioctl,
	.vcpu_ioctl = op_vcpu_ioctl,
	.guest_ptr = op_guest_ptr,
	.vcpu_set_start = op_vcpu_set_start,
	.snp_cpuid_fill = op_snp_cpuid_fill,
};

/* ---- Building the launch ------------------------------------------------ */

/* The vCPU signature KVM puts in RDX: CPUID 1 EAX as tern's vCPUs see it. */
static uint32_t conf_vcpu_signature(const struct vm *vm)
{
	const struct kvm_cpuid2 *cpuid = vm->kvm.supported_cpuid;

	for (uint32_t i = 0; cpuid && i < cpuid->nent; i++)
		if (cpuid->entries[i].function == CPUID_SIGNATURE_LEAF)
			return cpuid->entries[i].eax;
	return 0;
}

/*
 * QEMU reads dh-cert-file and session-file as base64, and takes id-block
 * and id-auth as base64 values (here in files); want is their exact
 * decoded size, 0 for any.
 */
static bool conf_blob_read(const char *key, const char *path, uint8_t **out,
			   uint32_t *len, uint32_t want, GError **err)
{
	g_autofree char *text = NULL;
	gsize n = 0;

	if (!path)
		return true;
	if (!g_file_get_contents(path, &text, NULL, NULL)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--confidential %s=%s: cannot read it", key, path);
		return false;
	}
	*out = g_base64_decode(g_strstrip(text), &n);
	if (!n || n > UINT32_MAX) {
		g_clear_pointer(out, g_free);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--confidential %s=%s: expected base64 contents", key,
			    path);
		return false;
	}
	if (want && n != want) {
		g_clear_pointer(out, g_free);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--confidential %s=%s: decodes to %zu bytes, expected %u",
			    key, path, (size_t)n, want);
		return false;
	}
	if (len)
		*len = (uint32_t)n;
	return true;
}

static bool conf_plan_build(struct confidential_vm *c, GError **err)
{
	const struct vm_config *cfg = c->vm->cfg;
	struct launch_options o = {
		.kind = cfg->confidential.kind,
		.cpus = cfg->cpus,
		.profile = VMSA_PROFILE_QEMU,
		.vcpu_sig = conf_vcpu_signature(c->vm),
		.guest_features = 1,
	};
	size_t len;
	int ret = file_read_all(cfg->firmware_path, FIRMWARE_MAX, &c->fw_img,
				&len);

	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--firmware %s: %s", cfg->firmware_path,
			    g_strerror(-ret));
		return false;
	}
	c->plan = launch_plan_build(c->fw_img, len, &o, err);
	return c->plan != NULL;
}

static int conf_region_register(struct confidential_vm *c, void *hva,
				uint64_t size)
{
	struct kvm_enc_region r = { .addr = (uintptr_t)hva, .size = size };

	return c->host->vm_ioctl(c->vm->kvm.vm_fd,
				 KVM_MEMORY_ENCRYPT_REG_REGION, &r);
}

/* /dev/sev, which authorises every SEV command, and its platform status. */
static bool conf_sev_platform(struct confidential_vm *c, GError **err)
{
	enum confidential_kind kind = c->plan->opt.kind;
	uint32_t fw_error = 0;
	int ret;

	c->l.sev_fd = c->host->sev_open();
	if (c->l.sev_fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--confidential %s: /dev/sev: %s",
			    confidential_kind_name(kind),
			    g_strerror(-c->l.sev_fd));
		return false;
	}
	ret = c->host->sev_platform_status(c->l.sev_fd, &c->platform,
					   &fw_error);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--confidential: SEV_PLATFORM_STATUS failed: %s (firmware status %u '%s')",
			    g_strerror(-ret), fw_error, conf_fw_error_name(fw_error));
		return false;
	}
	if (kind == CONFIDENTIAL_SEV_ES &&
	    !(c->platform.flags & SEV_STATUS_FLAGS_CONFIG_ES)) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_HOST,
				    "--confidential sev-es: the SEV firmware does not offer SEV-ES");
		return false;
	}
	return true;
}

struct confidential_vm *confidential_vm_begin(struct vm *vm, GError **err)
{
	const struct confidential_params *p = &vm->cfg->confidential;
	struct confidential_vm *c = g_new0(struct confidential_vm, 1);
	int ret;

	c->vm = vm;
	c->host = &confidential_host_default;
	c->l.sev_fd = -1;
	c->snp = p->kind == CONFIDENTIAL_SEV_SNP;
	c->private_mem = confidential_private_memory(p->kind);
	c->pm.ops = &conf_vm_ops;
	c->pm.opaque = c;
	c->pm.mem = &vm->mem;
	if (!conf_plan_build(c, err) ||
	    !conf_blob_read("dh-cert", p->dh_cert_path, &c->dh_cert,
			    &c->l.dh_cert_len, 0, err) ||
	    !conf_blob_read("session", p->session_path, &c->session,
			    &c->l.session_len, 0, err) ||
	    !conf_blob_read("id-block", p->id_block_path, &c->id_block, NULL,
			    CONF_SNP_ID_BLOCK_SIZE, err) ||
	    !conf_blob_read("id-auth", p->id_auth_path, &c->id_auth, NULL,
			    CONF_SNP_ID_AUTH_SIZE, err))
		goto fail;
	c->l.ops = &conf_vm_ops;
	c->l.opaque = c;
	c->l.plan = c->plan;
	c->l.params = p;
	c->l.dh_cert = c->dh_cert;
	c->l.session = c->session;
	c->l.id_block = c->id_block;
	c->l.id_auth = c->id_auth;
	c->bsp_cpuid = conf_bsp_cpuid(vm);
	if (c->bsp_cpuid) {
		c->l.cpuid = c->bsp_cpuid->entries;
		c->l.nr_cpuid = c->bsp_cpuid->nent;
	}
	if (p->kind != CONFIDENTIAL_TDX && !conf_sev_platform(c, err))
		goto fail;
	ret = confidential_launch_begin(&c->l);
	if (ret < 0) {
		conf_launch_fail(c, ret, err);
		goto fail;
	}
	conf_launch_state_set(c, SEV_STATE_LAUNCH_UPDATE);
	if (c->private_mem) {
		if (!conf_private_memory(c, err))
			goto fail;
		return c;
	}
	/* KVM pins and flushes registered memory around the PSP's writes. */
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *r = &vm->mem.regions[i];

		ret = conf_region_register(c, r->hva, r->size);
		if (ret < 0) {
			c->l.failed = "KVM_MEMORY_ENCRYPT_REG_REGION";
			conf_launch_fail(c, ret, err);
			goto fail;
		}
	}
	return c;
fail:
	confidential_vm_free(c);
	return NULL;
}

bool confidential_vm_measure(struct confidential_vm *c, bool finish_later,
			     GError **err)
{
	struct flash_image *f = &c->vm->flash;
	int ret;

	if (c->private_mem)
		return conf_private_launch(c, err);
	ret = confidential_launch_vcpus(&c->l);
	if (ret < 0)
		return conf_launch_fail(c, ret, err);
	/* LAUNCH_UPDATE_DATA encrypts the flash in place: KVM pins it for
	 * writing, so it stays writable on the host until the launch ends. */
	if (mprotect(f->hva, f->size, PROT_READ | PROT_WRITE) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--firmware: mprotect: %s", g_strerror(errno));
		return false;
	}
	ret = conf_region_register(c, f->hva, f->size);
	if (ret < 0) {
		c->l.failed = "KVM_MEMORY_ENCRYPT_REG_REGION (flash)";
		return conf_launch_fail(c, ret, err);
	}
	ret = confidential_launch_measure(&c->l);
	mprotect(f->hva, f->size, PROT_READ);
	if (ret < 0)
		return conf_launch_fail(c, ret, err);
	conf_launch_state_set(c, SEV_STATE_LAUNCH_SECRET);
	/* What the owner needs to predict the digest with `tern measure`. */
	tern_log("--confidential %s: launch measured (%u vCPUs, vCPU signature %#x)",
		 confidential_kind_name(c->plan->opt.kind), c->plan->opt.cpus,
		 c->plan->opt.vcpu_sig);
	return finish_later || confidential_vm_ready(c, err);
}

bool confidential_vm_ready(struct confidential_vm *c, GError **err)
{
	int ret;

	if (!c || c->state != SEV_STATE_LAUNCH_SECRET)
		return true;
	ret = confidential_launch_complete(&c->l);
	if (ret < 0)
		return conf_launch_fail(c, ret, err);
	conf_launch_state_set(c, SEV_STATE_RUNNING);
	return true;
}

void confidential_vm_free(struct confidential_vm *c)
{
	if (!c)
		return;
	if (c->l.sev_fd >= 0)
		c->host->sev_close(c->l.sev_fd);
	conf_private_close(&c->pm);
	launch_plan_free(c->plan);
	g_free(c->fw_img);
	g_free(c->dh_cert);
	g_free(c->session);
	g_free(c->id_block);
	g_free(c->id_auth);
	g_free(c->bsp_cpuid);
	g_free(c);
}

bool confidential_vm_resettable(const struct confidential_vm *c)
{
	/* SEV-ES and SNP registers are in the guest's encrypted VMSA. */
	return !c || c->plan->opt.kind == CONFIDENTIAL_SEV;
}

/* ---- Run time: page-state changes (SNP) ---------------------------------- */

int confidential_vm_exit(struct confidential_vm *c, struct kvm_run *run,
			 int run_err)
{
	return conf_private_exit(c && c->private_mem ? &c->pm : NULL, run,
				 run_err);
}

bool confidential_vm_is_sev(const struct confidential_vm *c)
{
	return c && c->plan->opt.kind != CONFIDENTIAL_TDX;
}
