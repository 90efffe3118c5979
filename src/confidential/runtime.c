// SPDX-License-Identifier: MIT
/*
 * What a running guest with private memory (SEV-SNP) asks of the VMM,
 * as pure functions the vCPU exit path and the launch use:
 *
 * - the SNP CPUID page: the CPUID values the guest may trust, which the
 *   firmware checks against the CPU at SNP_LAUNCH_UPDATE (SNP ABI
 *   pub. 56860, "CPUID Reporting"; the layout is Linux's
 *   struct snp_cpuid_table, arch/x86/include/asm/sev.h);
 * - a page-state change: the guest's GHCB request, which KVM hands over as
 *   a KVM_HC_MAP_GPA_RANGE hypercall exit (Documentation/virt/kvm/x86/
 *   hypercalls.rst), checked before any memory attribute changes, and a
 *   private-memory fault (KVM_EXIT_MEMORY_FAULT, api.rst), both made into
 *   a conversion of guest_memfd-backed memory (struct conf_private_mem).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm_para.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/confidential_kvm.h"
#include "tern/confidential_launch.h"
#include "tern/le.h"
#include "tern/memory.h"

#define CPUID_HDR 16 /* count, two reserved fields */
#define CPUID_FN 48 /* eax_in ecx_in xcr0_in xss_in eax ebx ecx edx rsvd */
#define CPUID_SIGNIFICANT_INDEX 1 /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX */
#define CPUID_XSAVE_LEAF 0xd
/* The legacy XSAVE area (x87 + SSE): what XCR0 = 1 needs. */
#define CPUID_XSAVE_BASE_SIZE 0x240

_Static_assert(CPUID_HDR + SNP_CPUID_MAX * CPUID_FN <= CONF_PAGE_SIZE,
	       "the CPUID table fits its page");

/*
 * A leaf whose four registers are zero is left out: the guest reads a leaf
 * missing from the table as zeros when it is inside the ranges leaf 0,
 * 0x40000000 and 0x80000000 declare (Linux's snp_cpuid(): "Some
 * hypervisors will avoid keeping track of CPUID entries where all values
 * are zero"). KVM reports every leaf up to the maximum, most of them zero
 * (75 leaves on an EPYC host where 25 are not), and the page holds 64.
 */
int snp_cpuid_page_fill(uint8_t *page, const struct kvm_cpuid_entry2 *leaves,
			unsigned int n)
{
	unsigned int count = 0;

	memset(page, 0, CONF_PAGE_SIZE);
	for (unsigned int i = 0; i < n; i++) {
		const struct kvm_cpuid_entry2 *l = &leaves[i];
		uint8_t *e = page + CPUID_HDR + count * CPUID_FN;
		uint32_t ebx = l->ebx;
		bool xsave = l->function == CPUID_XSAVE_LEAF && l->index <= 1 &&
			     (l->flags & CPUID_SIGNIFICANT_INDEX);

		/*
		 * XSAVE sizes depend on XCR0, which the guest sets later: the
		 * table holds the XCR0 = 1 (x87) values of sub-leaves 0 and
		 * 1, and the guest computes the rest from the per-component
		 * sub-leaves, as Linux and QEMU do.
		 */
		if (xsave)
			ebx = CPUID_XSAVE_BASE_SIZE;
		if (!l->eax && !ebx && !l->ecx && !l->edx)
			continue;
		if (count == SNP_CPUID_MAX) {
			memset(page, 0, CONF_PAGE_SIZE);
			return -E2BIG;
		}
		le32_put(e, l->function);
		if (l->flags & CPUID_SIGNIFICANT_INDEX)
			le32_put(e + 4, l->index);
		if (xsave)
			le64_put(e + 8, 1);
		le32_put(e + 24, l->eax);
		le32_put(e + 28, ebx);
		le32_put(e + 32, l->ecx);
		le32_put(e + 36, l->edx);
		count++;
	}
	le32_put(page, count);
	return 0;
}

int confidential_map_gpa_range_decode(const uint64_t args[3],
				      struct conf_convert *out)
{
	uint64_t gpa = args[0], pages = args[1], attrs = args[2];

	/* KVM checked alignment and wrap-around; a guest's numbers are
	 * checked again here, since this is where memory changes. */
	if (gpa % CONF_PAGE_SIZE || !pages ||
	    pages > (UINT64_MAX - gpa) / CONF_PAGE_SIZE ||
	    attrs & ~(CONF_KVM_MAP_GPA_RANGE_ENCRYPTED |
		      CONF_KVM_MAP_GPA_RANGE_PAGE_SZ_MASK))
		return -EINVAL;
	out->gpa = gpa;
	out->size = pages * CONF_PAGE_SIZE;
	out->to_private = attrs & CONF_KVM_MAP_GPA_RANGE_ENCRYPTED;
	return 0;
}

int confidential_memory_fault_decode(const struct conf_kvm_memory_fault *f,
				     struct conf_convert *out)
{
	uint64_t start = f->gpa & ~(uint64_t)(CONF_PAGE_SIZE - 1);
	uint64_t end = f->gpa + f->size;

	if (!f->size || end < f->gpa || end > UINT64_MAX - (CONF_PAGE_SIZE - 1))
		return -EINVAL;
	/* KVM reports the faulting range; attributes change by whole pages. */
	end = (end + CONF_PAGE_SIZE - 1) & ~(uint64_t)(CONF_PAGE_SIZE - 1);
	out->gpa = start;
	out->size = end - start;
	out->to_private = f->flags & CONF_KVM_MEMORY_EXIT_FLAG_PRIVATE;
	return 0;
}

_Static_assert(sizeof(((struct conf_private_mem *)0)->bind) /
		       sizeof(struct conf_binding) ==
		   GUEST_MEM_MAX_REGIONS + 1,
	       "a binding per RAM region and the flash");

int conf_private_bind(struct conf_private_mem *pm, uint32_t slot, uint64_t gpa,
		      uint64_t size, uint8_t *hva, bool ram)
{
	struct conf_binding *b = &pm->bind[pm->nr_bind];
	int ret;

	if (pm->nr_bind == G_N_ELEMENTS(pm->bind))
		return -ENOSPC;
	b->gmem_fd = -1;
	ret = confidential_memory_bind(pm->ops, pm->opaque, slot, gpa, size,
				       (uintptr_t)hva, &b->gmem_fd);
	/* Keep a descriptor that was made, to be closed with the rest. */
	if (b->gmem_fd >= 0) {
		b->gpa = gpa;
		b->size = size;
		b->hva = hva;
		b->ram = ram;
		pm->nr_bind++;
	}
	return ret;
}

/* Best effort: memory that stays allocated is only memory. */
static int conf_discard(struct conf_private_mem *pm,
			const struct conf_binding *b,
			const struct conf_convert *cv)
{
	uint64_t off = cv->gpa - b->gpa;

	if (!cv->to_private)
		return fallocate(b->gmem_fd,
				 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)off, (off_t)cv->size) < 0
			   ? -errno
			   : 0;
	/* RAM through the one place that knows its backing (a shared=on
	 * memfd loses the pages too); huge-page RAM keeps a partly
	 * converted huge page. */
	if (b->ram)
		return (cv->gpa | cv->size) & (pm->mem->page_size - 1)
			   ? 0
			   : guest_memory_discard(pm->mem, cv->gpa, cv->size);
	return madvise(b->hva + off, cv->size, MADV_DONTNEED) < 0 ? -errno : 0;
}

int conf_private_convert(struct conf_private_mem *pm,
			 const struct conf_convert *cv)
{
	const struct conf_binding *b = NULL;
	int ret;

	for (unsigned int i = 0; i < pm->nr_bind; i++)
		if (cv->gpa >= pm->bind[i].gpa &&
		    cv->size <= pm->bind[i].size &&
		    cv->gpa - pm->bind[i].gpa <= pm->bind[i].size - cv->size)
			b = &pm->bind[i];
	/* Only memory in a guest_memfd has two sides to choose between. */
	if (!b || !pm->running)
		return -EINVAL;
	ret = confidential_memory_convert(pm->ops, pm->opaque, cv->gpa,
					  cv->size, cv->to_private);
	if (ret < 0)
		return ret;
	ret = conf_discard(pm, b, cv);
	if (ret < 0)
		tern_debug("--confidential: discarding [%#" PRIx64
			   ", +%#" PRIx64 "): %s",
			   cv->gpa, cv->size, g_strerror(-ret));
	return 0;
}

int conf_private_exit(struct conf_private_mem *pm, struct kvm_run *run,
		      int run_err)
{
	struct conf_kvm_memory_fault f;
	struct conf_convert cv;
	int ret;

	if (!run_err && run->exit_reason == KVM_EXIT_HYPERCALL) {
		const uint64_t args[3] = {run->hypercall.args[0],
					  run->hypercall.args[1],
					  run->hypercall.args[2]};

		ret = -ENOSYS;
		if (pm && run->hypercall.nr == KVM_HC_MAP_GPA_RANGE) {
			ret = confidential_map_gpa_range_decode(args, &cv);
			if (!ret)
				ret = conf_private_convert(pm, &cv);
		}
		if (ret < 0)
			tern_debug("hypercall %llu (%#llx, %#llx, %#llx): %s",
				   (unsigned long long)run->hypercall.nr,
				   (unsigned long long)args[0],
				   (unsigned long long)args[1],
				   (unsigned long long)args[2],
				   g_strerror(-ret));
		/* KVM puts it in the guest's RAX, or the GHCB's reply: a bad
		 * range is the guest's to deal with, not a reason to stop. */
		run->hypercall.ret = !ret	      ? 0
				     : ret == -ENOSYS ? (uint64_t)-KVM_ENOSYS
						      : (uint64_t)-KVM_EINVAL;
		return 1;
	}
	if (run_err != EFAULT || !pm ||
	    run->exit_reason != CONF_KVM_EXIT_MEMORY_FAULT)
		return 0;
	/* The fields lie at the start of the exit union. */
	memcpy(&f, (const uint8_t *)run + offsetof(struct kvm_run, hw),
	       sizeof(f));
	ret = confidential_memory_fault_decode(&f, &cv);
	if (!ret)
		ret = conf_private_convert(pm, &cv);
	if (ret < 0) {
		tern_log("memory fault at %#llx (+%#llx, %s): %s",
			 (unsigned long long)f.gpa, (unsigned long long)f.size,
			 f.flags & CONF_KVM_MEMORY_EXIT_FLAG_PRIVATE ? "private"
								     : "shared",
			 g_strerror(-ret));
		return ret;
	}
	return 1;
}

void conf_private_close(struct conf_private_mem *pm)
{
	for (unsigned int i = 0; i < pm->nr_bind; i++)
		close(pm->bind[i].gmem_fd);
	pm->nr_bind = 0;
}
