/* SPDX-License-Identifier: MIT */
/*
 * Part of test-confidential.c: a test double of KVM's confidential-guest
 * interface with a simulated AMD secure processor and TDX module behind it.
 * It records every call, enforces the command order the specs require
 * (a command in the wrong state is a violation, answered -EINVAL with the
 * firmware's INVALID_GUEST_STATE), checks the guest_memfd and private
 * attribute preconditions, and measures what it is given the way the
 * hardware would, so a test can compare it with `tern measure`'s digest.
 * What it cannot know: real firmware quirks, real encryption, KVM's own
 * VMSA contents (it builds them as KVM_SEV_INIT2 does, per the QEMU
 * profile) and the PSP's HMAC of LAUNCH_MEASURE (it returns the digest).
 */
#ifndef TERN_TEST_CONFIDENTIAL_FAKE_H
#define TERN_TEST_CONFIDENTIAL_FAKE_H

#include <errno.h>
#include <string.h>

#include <linux/psp-sev.h>
#include <sys/mman.h>

#include "tern/confidential_kvm.h"
#include "tern/confidential_launch.h"
#include "tern/le.h"

#define FAKE_LOW_SIZE (16u << 20) /* GPA 0 .. 16 MiB */
#define FAKE_HIGH_BASE (0x100000000ull - (16u << 20)) /* top 16 MiB */
#define FAKE_MAX_LOG 4096
#define FAKE_MAX_VCPUS 8
#define FAKE_SEV_HDR_LEN 52 /* LAUNCH_SECRET PACKET_HDR: FLAGS, IV, MAC */
#define FAKE_MAX_ENC 8
/* SEV API ATTESTATION report: MNONCE, LAUNCH_DIGEST, POLICY, SIG_USAGE,
 * SIG_ALGO, reserved, SIG1 (144 bytes). */
#define FAKE_REPORT_LEN 208
#define FAKE_KVM_SEV_GET_ATTESTATION_REPORT 20

enum fake_state {
	FAKE_UNINIT,
	FAKE_INIT,
	FAKE_LAUNCHING, /* LAUNCH_START / SNP_LAUNCH_START / TDX INIT_VM */
	FAKE_MEASURED, /* SEV: LAUNCH_MEASURE done */
	FAKE_RUNNABLE, /* LAUNCH_FINISH / FINALIZE_VM */
};

struct fake_call {
	int vcpu; /* -1: VM ioctl */
	unsigned long req;
	uint32_t id; /* KVM_MEMORY_ENCRYPT_OP command */
	uint32_t flags; /* TDX flags */
	uint64_t gpa, len; /* updates, regions, attributes */
	uint8_t type; /* SNP page type */
	uint64_t arg; /* policy, vmsa_features, RCX ... */
};

struct fake_kvm {
	enum confidential_kind kind;
	enum fake_state state;
	uint8_t *low, *high;
	struct fake_call log[FAKE_MAX_LOG];
	unsigned int n;
	unsigned int violations;
	char first_violation[200];
	GHashTable *private_gfns;
	uint64_t slot_lo[4], slot_hi[4];
	unsigned int nr_slots;
	int next_fd;
	/* vCPU start registers as the VMM set them. */
	bool vcpu_set[FAKE_MAX_VCPUS];
	uint32_t vcpu_eip[FAKE_MAX_VCPUS];
	uint64_t vcpu_rdx[FAKE_MAX_VCPUS];
	bool tdx_vcpu_init[FAKE_MAX_VCPUS];
	unsigned int cpus;
	uint64_t vmsa_features;
	/* Simulated measurement. */
	GChecksum *sev_sum;
	uint8_t snp_digest[48];
	GChecksum *mrtd;
	uint8_t digest[48];
	size_t digest_len;
	/* Fault injection. */
	uint32_t fail_id; /* fail this command id ... */
	bool fail_armed;
	int cpuid_rejects; /* -EIO for the CPUID page this many times */
	bool cpuid_corrected;
	uint8_t snp_finish_host_data[32];
	bool snp_finish_id_block;
	/* SEV: KVM_MEMORY_ENCRYPT_REG_REGION; a VMM double that registers
	 * its memory sets require_enc, then every host address the PSP
	 * reads or writes must lie in a registered region. */
	bool require_enc;
	uint64_t enc_lo[FAKE_MAX_ENC], enc_hi[FAKE_MAX_ENC];
	unsigned int nr_enc;
	unsigned int secrets; /* LAUNCH_SECRETs accepted */
};

static bool fake_enc_covers(struct fake_kvm *f, uint64_t uaddr, uint64_t len)
{
	if (!f->require_enc)
		return true;
	for (unsigned int i = 0; i < f->nr_enc; i++)
		if (uaddr >= f->enc_lo[i] && uaddr + len <= f->enc_hi[i])
			return true;
	return false;
}

static void fake_violation(struct fake_kvm *f, const char *what)
{
	if (!f->violations++)
		g_strlcpy(f->first_violation, what,
			  sizeof(f->first_violation));
}

static void *fake_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fake_kvm *f = opaque;

	if (gpa + len <= FAKE_LOW_SIZE)
		return f->low + gpa;
	if (gpa >= FAKE_HIGH_BASE && gpa + len <= 0x100000000ull)
		return f->high + (gpa - FAKE_HIGH_BASE);
	return NULL;
}

static bool fake_range_private(struct fake_kvm *f, uint64_t gpa, uint64_t len)
{
	for (uint64_t g = gpa; g < gpa + len; g += CONF_PAGE_SIZE)
		if (!g_hash_table_contains(f->private_gfns,
					   GSIZE_TO_POINTER(g / CONF_PAGE_SIZE)))
			return false;
	return true;
}

static bool fake_range_bound(struct fake_kvm *f, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < f->nr_slots; i++)
		if (gpa >= f->slot_lo[i] && gpa + len <= f->slot_hi[i])
			return true;
	return false;
}

static struct fake_call *fake_log(struct fake_kvm *f, int vcpu,
				  unsigned long req, uint32_t id)
{
	struct fake_call *c = &f->log[f->n < FAKE_MAX_LOG ? f->n++ : 0];

	memset(c, 0, sizeof(*c));
	c->vcpu = vcpu;
	c->req = req;
	c->id = id;
	return c;
}

/* A VMSA as KVM builds it from the vCPU's registers (KVM_SEV_INIT2). */
static void fake_vmsa(struct fake_kvm *f, unsigned int v, uint8_t *page)
{
	uint64_t features = f->kind == CONFIDENTIAL_SEV_SNP ?
				    f->vmsa_features | 1 :
				    0;

	vmsa_build(page, VMSA_PROFILE_QEMU, v == 0, f->vcpu_eip[v], features,
		   (uint32_t)f->vcpu_rdx[v]);
}

static int fake_sev(struct fake_kvm *f, struct conf_kvm_sev_cmd *cmd)
{
	struct fake_call *c = fake_log(f, -1, KVM_MEMORY_ENCRYPT_OP, cmd->id);
	void *data = (void *)(uintptr_t)cmd->data;
	bool snp = f->kind == CONFIDENTIAL_SEV_SNP;
	enum fake_state need = FAKE_LAUNCHING, next = FAKE_LAUNCHING;
	uint8_t page[CONF_PAGE_SIZE], contents[48];
	gsize dlen;

	if (f->fail_armed && cmd->id == f->fail_id) {
		cmd->error = 0x1a; /* an arbitrary firmware status */
		return -EIO;
	}
	if (cmd->sev_fd != 77)
		fake_violation(f, "SEV command without the /dev/sev descriptor");
	/*
	 * ATTESTATION: the PSP signs the launch digest with the owner's nonce,
	 * once measured (launch-secret or running); a short buffer gets the
	 * length back. Made-up signature bytes: nothing here is signed.
	 */
	if (cmd->id == FAKE_KVM_SEV_GET_ATTESTATION_REPORT) {
		struct kvm_sev_attestation_report *r = data;
		uint8_t *out = (uint8_t *)(uintptr_t)r->uaddr;

		if (snp)
			fake_violation(f, "ATTESTATION in an SNP guest");
		if (f->state != FAKE_MEASURED && f->state != FAKE_RUNNABLE) {
			cmd->error = SEV_RET_INVALID_GUEST_STATE;
			return -EIO;
		}
		if (r->len < FAKE_REPORT_LEN || !out) {
			r->len = FAKE_REPORT_LEN;
			cmd->error = SEV_RET_INVALID_LEN;
			return -EIO;
		}
		memset(out, 0, FAKE_REPORT_LEN);
		memcpy(out, r->mnonce, 16);
		memcpy(out + 16, f->digest, 32);
		memset(out + 64, 0x5a, FAKE_REPORT_LEN - 64);
		r->len = FAKE_REPORT_LEN;
		return 0;
	}
	switch (cmd->id) {
	case CONF_KVM_SEV_INIT2: {
		struct conf_kvm_sev_init *i = data;

		need = FAKE_UNINIT;
		next = FAKE_INIT;
		c->arg = f->vmsa_features = i->vmsa_features;
		for (unsigned int v = 0; v < FAKE_MAX_VCPUS; v++)
			if (f->vcpu_set[v])
				fake_violation(f, "INIT2 after vCPU set-up");
		break;
	}
	case CONF_KVM_SEV_LAUNCH_START:
	case CONF_KVM_SEV_SNP_LAUNCH_START:
		if (snp != (cmd->id == CONF_KVM_SEV_SNP_LAUNCH_START))
			fake_violation(f, "LAUNCH_START of the wrong kind");
		need = FAKE_INIT;
		if (snp) {
			c->arg = ((struct conf_kvm_sev_snp_launch_start *)data)
					 ->policy;
		} else {
			struct conf_kvm_sev_launch_start *st = data;

			st->handle = 0x2a; /* the PSP's guest handle */
			c->arg = st->policy;
			c->len = st->dh_len;
			c->flags = st->session_len;
			if (!st->dh_uaddr != !st->dh_len ||
			    !st->session_uaddr != !st->session_len)
				fake_violation(f, "LAUNCH_START blob without its length");
		}
		break;
	case CONF_KVM_SEV_LAUNCH_UPDATE_DATA: {
		struct conf_kvm_sev_launch_update_data *u = data;

		if (snp)
			fake_violation(f, "LAUNCH_UPDATE_DATA in an SNP guest");
		c->len = u->len;
		c->arg = u->uaddr;
		if (!fake_enc_covers(f, u->uaddr, u->len))
			fake_violation(f, "LAUNCH_UPDATE_DATA of unregistered memory");
		g_checksum_update(f->sev_sum, (uint8_t *)(uintptr_t)u->uaddr,
				  u->len);
		break;
	}
	case CONF_KVM_SEV_LAUNCH_SECRET: {
		struct conf_kvm_sev_launch_secret *s = data;

		need = next = FAKE_MEASURED;
		c->gpa = s->guest_uaddr;
		c->len = s->guest_len;
		if (snp)
			fake_violation(f, "LAUNCH_SECRET in an SNP guest");
		if (f->state != FAKE_MEASURED)
			break; /* the state check below answers */
		if (!fake_enc_covers(f, s->guest_uaddr, s->guest_len))
			fake_violation(f, "LAUNCH_SECRET into unregistered memory");
		/* The PSP's own checks: the owner's input, not a VMM bug. */
		if (s->hdr_len != FAKE_SEV_HDR_LEN ||
		    s->guest_len != s->trans_len || !s->trans_len) {
			cmd->error = SEV_RET_INVALID_LEN;
			return -EIO;
		}
		/* No transport key here: the bytes land as they came. */
		memcpy((void *)(uintptr_t)s->guest_uaddr,
		       (const void *)(uintptr_t)s->trans_uaddr, s->trans_len);
		f->secrets++;
		break;
	}
	case CONF_KVM_SEV_LAUNCH_UPDATE_VMSA:
		if (f->kind != CONFIDENTIAL_SEV_ES)
			fake_violation(f, "LAUNCH_UPDATE_VMSA outside SEV-ES");
		for (unsigned int v = 0; v < f->cpus; v++) {
			if (!f->vcpu_set[v])
				fake_violation(f, "VMSA of a vCPU never set up");
			fake_vmsa(f, v, page);
			g_checksum_update(f->sev_sum, page, sizeof(page));
		}
		break;
	case CONF_KVM_SEV_LAUNCH_MEASURE: {
		struct conf_kvm_sev_launch_measure *m = data;

		next = FAKE_MEASURED;
		dlen = 32;
		g_checksum_get_digest(f->sev_sum, f->digest, &dlen);
		f->digest_len = 32;
		/* The PSP would return HMAC(TIK, ...) and MNONCE: see above. */
		memcpy((void *)(uintptr_t)m->uaddr, f->digest, 32);
		m->len = 48;
		break;
	}
	case CONF_KVM_SEV_LAUNCH_FINISH:
		need = FAKE_MEASURED;
		next = FAKE_RUNNABLE;
		break;
	case CONF_KVM_SEV_SNP_LAUNCH_UPDATE: {
		struct conf_kvm_sev_snp_launch_update *u = data;
		uint64_t gpa = u->gfn_start * CONF_PAGE_SIZE;

		c->gpa = gpa;
		c->len = u->len;
		c->type = u->type;
		if (!snp)
			fake_violation(f, "SNP_LAUNCH_UPDATE outside SNP");
		if (!fake_range_private(f, gpa, u->len) ||
		    !fake_range_bound(f, gpa, u->len))
			fake_violation(f, "SNP_LAUNCH_UPDATE of shared or unbound memory");
		if (u->type == SNP_PAGE_CPUID && f->cpuid_rejects > 0) {
			f->cpuid_rejects--;
			f->cpuid_corrected = true;
			/* The firmware's corrected table goes back to uaddr. */
			memset((void *)(uintptr_t)u->uaddr, 0xc1, 16);
			return -EIO;
		}
		if (u->type == SNP_PAGE_CPUID && f->cpuid_corrected &&
		    ((uint8_t *)(uintptr_t)u->uaddr)[0] != 0xc1)
			fake_violation(f, "CPUID page not the corrected one");
		for (uint64_t off = 0; off < u->len; off += CONF_PAGE_SIZE) {
			memset(contents, 0, sizeof(contents));
			if (u->type == SNP_PAGE_NORMAL) {
				g_autoptr(GChecksum) s =
					g_checksum_new(G_CHECKSUM_SHA384);

				dlen = 48;
				g_checksum_update(s,
						  (uint8_t *)(uintptr_t)u->uaddr +
							  off,
						  CONF_PAGE_SIZE);
				g_checksum_get_digest(s, contents, &dlen);
			}
			snp_page_info_extend(f->snp_digest, contents, u->type,
					     gpa + off);
		}
		break;
	}
	case CONF_KVM_SEV_SNP_LAUNCH_FINISH: {
		struct conf_kvm_sev_snp_launch_finish *fin = data;

		next = FAKE_RUNNABLE;
		/* KVM measures each vCPU's VMSA here, in vCPU order. */
		for (unsigned int v = 0; v < f->cpus; v++) {
			g_autoptr(GChecksum) s = g_checksum_new(G_CHECKSUM_SHA384);

			if (!f->vcpu_set[v])
				fake_violation(f, "VMSA of a vCPU never set up");
			fake_vmsa(f, v, page);
			dlen = 48;
			g_checksum_update(s, page, sizeof(page));
			g_checksum_get_digest(s, contents, &dlen);
			snp_page_info_extend(f->snp_digest, contents,
					     SNP_PAGE_VMSA,
					     SNP_VMSA_GPA_48BIT);
		}
		memcpy(f->digest, f->snp_digest, 48);
		f->digest_len = 48;
		memcpy(f->snp_finish_host_data, fin->host_data, 32);
		f->snp_finish_id_block = fin->id_block_en;
		break;
	}
	default:
		fake_violation(f, "unknown SEV command");
		return -EINVAL;
	}
	if (f->state != need) {
		fake_violation(f, "SEV command in the wrong state");
		cmd->error = SEV_RET_INVALID_GUEST_STATE;
		return -EINVAL;
	}
	f->state = next;
	return 0;
}

static void fake_tdx_record(struct fake_kvm *f, const char *op, uint64_t gpa)
{
	uint8_t rec[128] = { 0 };

	memcpy(rec, op, strlen(op));
	le64_put(rec + 16, gpa);
	g_checksum_update(f->mrtd, rec, sizeof(rec));
}

static int fake_tdx(struct fake_kvm *f, int vcpu, struct conf_kvm_tdx_cmd *cmd)
{
	struct fake_call *c = fake_log(f, vcpu, KVM_MEMORY_ENCRYPT_OP, cmd->id);
	void *data = (void *)(uintptr_t)cmd->data;
	gsize dlen = 48;

	c->flags = cmd->flags;
	if (f->fail_armed && cmd->id == f->fail_id) {
		cmd->hw_error = 0x1a; /* an arbitrary module status */
		return -EIO;
	}
	switch (cmd->id) {
	case CONF_KVM_TDX_CAPABILITIES: {
		struct conf_kvm_tdx_capabilities *caps = data;

		if (vcpu >= 0 || f->state != FAKE_UNINIT)
			fake_violation(f, "TDX_CAPABILITIES out of order");
		if (caps->cpuid.nent < 2)
			fake_violation(f, "TDX_CAPABILITIES without CPUID room");
		caps->supported_attrs = 1ull << 28;
		caps->supported_xfam = 0x2e7;
		/* Two configurable leaves: leaf 1's ECX (SSE3 .. AVX) and
		 * leaf 7.0's EBX (BMI1 .. SHA). */
		caps->cpuid.nent = 2;
		memset(caps->cpuid.entries, 0, 2 * sizeof(caps->cpuid.entries[0]));
		caps->cpuid.entries[0].function = 1;
		caps->cpuid.entries[0].ecx = 0x1ff83203;
		caps->cpuid.entries[1].function = 7;
		caps->cpuid.entries[1].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		caps->cpuid.entries[1].ebx = 0x219c07ab;
		f->state = FAKE_INIT;
		return 0;
	}
	case CONF_KVM_TDX_INIT_VM: {
		struct conf_kvm_tdx_init_vm *i = data;

		if (vcpu >= 0 || f->state != FAKE_INIT)
			fake_violation(f, "TDX_INIT_VM out of order");
		for (unsigned int v = 0; v < FAKE_MAX_VCPUS; v++)
			if (f->tdx_vcpu_init[v])
				fake_violation(f, "TDX_INIT_VM after a vCPU");
		c->arg = i->attributes;
		c->len = i->xfam;
		c->flags = i->cpuid.nent;
		/* Only what the module left configurable may be set. */
		for (uint32_t e = 0; e < i->cpuid.nent; e++) {
			const struct kvm_cpuid_entry2 *x = &i->cpuid.entries[e];

			if ((x->function != 1 && x->function != 7) ||
			    (x->function == 1 && (x->eax | x->ebx | x->edx ||
						  x->ecx & ~0x1ff83203u)) ||
			    (x->function == 7 && (x->eax | x->ecx | x->edx ||
						  x->ebx & ~0x219c07abu)))
				fake_violation(f, "TDX_INIT_VM CPUID bits the module does not let the VMM set");
		}
		f->state = FAKE_LAUNCHING;
		return 0;
	}
	case CONF_KVM_TDX_INIT_VCPU:
		if (vcpu < 0 || f->state != FAKE_LAUNCHING)
			fake_violation(f, "TDX_INIT_VCPU out of order");
		else
			f->tdx_vcpu_init[vcpu] = true;
		c->arg = cmd->data;
		return 0;
	case CONF_KVM_TDX_INIT_MEM_REGION: {
		struct conf_kvm_tdx_init_mem_region *r = data;
		const uint8_t *src = (const uint8_t *)(uintptr_t)r->source_addr;

		c->gpa = r->gpa;
		c->len = r->nr_pages * CONF_PAGE_SIZE;
		if (vcpu < 0 || f->state != FAKE_LAUNCHING)
			fake_violation(f, "TDX_INIT_MEM_REGION out of order");
		for (unsigned int v = 0; v < f->cpus; v++)
			if (!f->tdx_vcpu_init[v])
				fake_violation(f, "INIT_MEM_REGION before every INIT_VCPU");
		if (r->source_addr % CONF_PAGE_SIZE)
			fake_violation(f, "INIT_MEM_REGION source not aligned");
		if (!fake_range_private(f, r->gpa, c->len))
			fake_violation(f, "INIT_MEM_REGION of shared memory");
		/* TDH.MEM.PAGE.ADD, then TDH.MR.EXTEND, page by page. */
		for (uint64_t p = 0; p < r->nr_pages; p++) {
			uint64_t gpa = r->gpa + p * CONF_PAGE_SIZE;

			fake_tdx_record(f, "MEM.PAGE.ADD", gpa);
			if (!(cmd->flags & CONF_KVM_TDX_MEASURE_MEMORY_REGION))
				continue;
			for (unsigned int o = 0; o < CONF_PAGE_SIZE; o += 256) {
				fake_tdx_record(f, "MR.EXTEND", gpa + o);
				g_checksum_update(f->mrtd,
						  src + p * CONF_PAGE_SIZE + o,
						  256);
			}
		}
		return 0;
	}
	case CONF_KVM_TDX_FINALIZE_VM:
		if (vcpu >= 0 || f->state != FAKE_LAUNCHING)
			fake_violation(f, "TDX_FINALIZE_VM out of order");
		g_checksum_get_digest(f->mrtd, f->digest, &dlen);
		f->digest_len = 48;
		f->state = FAKE_RUNNABLE;
		return 0;
	}
	fake_violation(f, "unknown TDX command");
	return -EINVAL;
}

static int fake_vm_ioctl(void *opaque, unsigned long req, void *arg)
{
	struct fake_kvm *f = opaque;

	if (req == KVM_MEMORY_ENCRYPT_OP)
		return f->kind == CONFIDENTIAL_TDX ? fake_tdx(f, -1, arg) :
						     fake_sev(f, arg);
	if (req == KVM_MEMORY_ENCRYPT_REG_REGION) {
		struct kvm_enc_region *r = arg;
		struct fake_call *c = fake_log(f, -1, req, 0);

		c->arg = r->addr;
		c->len = r->size;
		if (f->kind == CONFIDENTIAL_TDX || f->nr_enc == FAKE_MAX_ENC ||
		    !r->size) {
			fake_violation(f, "MEMORY_ENCRYPT_REG_REGION unexpected");
			return -EINVAL;
		}
		f->enc_lo[f->nr_enc] = r->addr;
		f->enc_hi[f->nr_enc++] = r->addr + r->size;
		return 0;
	}
	if (req == CONF_KVM_CREATE_GUEST_MEMFD) {
		fake_log(f, -1, req, 0)->len =
			((struct conf_kvm_create_guest_memfd *)arg)->size;
		return f->next_fd++;
	}
	if (req == CONF_KVM_SET_USER_MEMORY_REGION2) {
		struct conf_kvm_userspace_memory_region2 *r = arg;
		struct fake_call *c = fake_log(f, -1, req, 0);

		c->gpa = r->guest_phys_addr;
		c->len = r->memory_size;
		if (!(r->flags & CONF_KVM_MEM_GUEST_MEMFD) ||
		    (int)r->guest_memfd != f->next_fd - 1 || f->nr_slots == 4)
			fake_violation(f, "memory slot without its guest_memfd");
		else {
			f->slot_lo[f->nr_slots] = r->guest_phys_addr;
			f->slot_hi[f->nr_slots++] =
				r->guest_phys_addr + r->memory_size;
		}
		return 0;
	}
	if (req == CONF_KVM_SET_MEMORY_ATTRIBUTES) {
		struct conf_kvm_memory_attributes *a = arg;
		struct fake_call *c = fake_log(f, -1, req, 0);

		c->gpa = a->address;
		c->len = a->size;
		c->arg = a->attributes;
		if (!fake_range_bound(f, a->address, a->size))
			fake_violation(f, "attributes of memory in no guest_memfd slot");
		for (uint64_t g = a->address; g < a->address + a->size;
		     g += CONF_PAGE_SIZE) {
			gpointer k = GSIZE_TO_POINTER(g / CONF_PAGE_SIZE);

			if (a->attributes & CONF_KVM_MEMORY_ATTRIBUTE_PRIVATE)
				g_hash_table_add(f->private_gfns, k);
			else
				g_hash_table_remove(f->private_gfns, k);
		}
		return 0;
	}
	fake_violation(f, "unexpected VM ioctl");
	return -ENOTTY;
}

static int fake_vcpu_ioctl(void *opaque, unsigned int vcpu, unsigned long req,
			   void *arg)
{
	struct fake_kvm *f = opaque;

	if (req != KVM_MEMORY_ENCRYPT_OP || f->kind != CONFIDENTIAL_TDX ||
	    vcpu >= f->cpus) {
		fake_violation(f, "unexpected vCPU ioctl");
		return -ENOTTY;
	}
	return fake_tdx(f, (int)vcpu, arg);
}

static int fake_vcpu_set_start(void *opaque, unsigned int vcpu, uint32_t eip,
			       uint64_t rdx)
{
	struct fake_kvm *f = opaque;

	fake_log(f, (int)vcpu, 0, 0)->arg = eip;
	if (vcpu >= f->cpus || f->state == FAKE_UNINIT)
		fake_violation(f, "vCPU set up before INIT2 or out of range");
	else {
		f->vcpu_set[vcpu] = true;
		f->vcpu_eip[vcpu] = eip;
		f->vcpu_rdx[vcpu] = rdx;
	}
	return 0;
}

static int fake_cpuid_fill(void *opaque, uint8_t *page)
{
	memset(page, 0xcc, 16); /* not what the firmware wants: rejected */
	return 0;
}

static const struct confidential_ops fake_ops = {
	.vm_ioctl = fake_vm_ioctl,
	.vcpu_ioctl = fake_vcpu_ioctl,
	.guest_ptr = fake_ptr,
	.vcpu_set_start = fake_vcpu_set_start,
	.snp_cpuid_fill = fake_cpuid_fill,
};

static struct fake_kvm *fake_new(enum confidential_kind kind,
				 unsigned int cpus)
{
	struct fake_kvm *f = g_new0(struct fake_kvm, 1);

	f->kind = kind;
	f->cpus = cpus;
	/* Page aligned, as a VMM's guest memory is (TDX sources must be). */
	f->low = mmap(NULL, FAKE_LOW_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->high = mmap(NULL, 0x100000000ull - FAKE_HIGH_BASE,
		       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	g_assert(f->low != MAP_FAILED && f->high != MAP_FAILED);
	f->private_gfns = g_hash_table_new(NULL, NULL);
	f->sev_sum = g_checksum_new(G_CHECKSUM_SHA256);
	f->mrtd = g_checksum_new(G_CHECKSUM_SHA384);
	f->next_fd = 100;
	return f;
}

static void fake_free(struct fake_kvm *f)
{
	munmap(f->low, FAKE_LOW_SIZE);
	munmap(f->high, 0x100000000ull - FAKE_HIGH_BASE);
	g_hash_table_destroy(f->private_gfns);
	g_checksum_free(f->sev_sum);
	g_checksum_free(f->mrtd);
	g_free(f);
}

#endif
