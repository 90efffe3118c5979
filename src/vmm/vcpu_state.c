// SPDX-License-Identifier: MIT
/*
 * vCPU state against KVM: what this host can get and set (caps), a capture
 * (get) and its application (set), in the orders vcpu_state.h explains.
 * The format (save/load) is in vcpu_state_format.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tern/error.h"
#include "tern/vcpu_state.h"

static int vcpu_state_fail(GError **err, const char *what, int errnum)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s", what,
		    g_strerror(errnum));
	return -errnum;
}

/* One KVM_CHECK_EXTENSION; a negative answer counts as "absent". */
static int kvm_cap(int fd, int cap)
{
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? 0 : ret;
}

/* KVM_GET_MSR_INDEX_LIST, grown until it fits; NULL with errno set. */
static struct kvm_msr_list *kvm_msr_index_list(int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;

	/* An empty list gets E2BIG and the count. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0)
		return g_malloc0(sizeof(*list));
	if (errno != E2BIG || probe.nmsrs > 65536)
		return NULL;
	list = g_malloc0(sizeof(*list) +
			 probe.nmsrs * sizeof(list->indices[0]));
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		int e = errno;

		g_free(list);
		errno = e;
		return NULL;
	}
	return list;
}

static bool msr_listed(const struct kvm_msr_list *list, uint32_t index)
{
	for (uint32_t i = 0; i < list->nmsrs; i++)
		if (list->indices[i] == index)
			return true;
	return false;
}

struct msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[VCPU_STATE_MAX_MSRS];
};

/* Whether a host read of index succeeds on this vCPU. */
static bool msr_readable(int vcpu_fd, uint32_t index)
{
	struct msr_buf buf;

	memset(&buf, 0, sizeof(buf));
	buf.hdr.nmsrs = 1;
	buf.e[0].index = index;
	return ioctl(vcpu_fd, KVM_GET_MSRS, &buf) == 1;
}

bool vcpu_state_caps_init(struct vcpu_state_caps *caps, int kvm_fd, int vm_fd,
			  int vcpu_fd, GError **err)
{
	g_autofree struct kvm_msr_list *list = NULL;
	int xsave2;

	memset(caps, 0, sizeof(*caps));
	if (kvm_cap(kvm_fd, KVM_CAP_VCPU_EVENTS) <= 0 ||
	    kvm_cap(kvm_fd, KVM_CAP_DEBUGREGS) <= 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "KVM lacks KVM_CAP_VCPU_EVENTS or KVM_CAP_DEBUGREGS: vCPU state cannot be saved");
		return false;
	}
	/* XSAVE2's size is per VM (dynamic features), so ask the VM. */
	xsave2 = kvm_cap(vm_fd, KVM_CAP_XSAVE2);
	if (xsave2 > 0) {
		if (xsave2 < (int)sizeof(struct kvm_xsave) ||
		    xsave2 > VCPU_STATE_XSAVE_MAX) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "KVM_CAP_XSAVE2: an XSAVE area of %d bytes (tern takes 4096 to %d)",
				    xsave2, VCPU_STATE_XSAVE_MAX);
			return false;
		}
		caps->xsave2 = true;
		caps->xsave_size = (uint32_t)xsave2;
	} else if (kvm_cap(kvm_fd, KVM_CAP_XSAVE) > 0) {
		caps->xsave_size = sizeof(struct kvm_xsave);
	}
	caps->xcrs = kvm_cap(kvm_fd, KVM_CAP_XCRS) > 0;
	caps->sregs2 = kvm_cap(kvm_fd, KVM_CAP_SREGS2) > 0;

	list = kvm_msr_index_list(kvm_fd);
	if (!list) {
		vcpu_state_fail(err, "KVM_GET_MSR_INDEX_LIST", errno);
		return false;
	}
	for (unsigned int i = 0; i < x86_nr_state_msrs; i++) {
		const struct x86_msr_desc *d = &x86_state_msrs[i];

		if (!msr_listed(list, d->index) &&
		    !(d->flags & X86_MSR_UNLISTED))
			continue;
		if (msr_readable(vcpu_fd, d->index))
			caps->msrs[caps->nmsrs++] = d->index;
	}
	return true;
}

/*
 * KVM_GET_MSRS or KVM_SET_MSRS over n entries. KVM stops at the first MSR
 * it refuses and returns how many it did: that one is named in err.
 */
static int vcpu_msrs_ioctl(int fd, bool set, struct kvm_msr_entry *e,
			   unsigned int n, GError **err)
{
	const char *what = set ? "KVM_SET_MSRS" : "KVM_GET_MSRS";
	struct msr_buf buf;
	int ret;

	g_assert(n <= VCPU_STATE_MAX_MSRS);
	if (!n)
		return 0;
	memset(&buf, 0, sizeof(buf));
	buf.hdr.nmsrs = n;
	for (unsigned int i = 0; i < n; i++) {
		buf.e[i].index = e[i].index;
		buf.e[i].data = set ? e[i].data : 0;
	}
	ret = ioctl(fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &buf);
	if (ret < 0)
		return vcpu_state_fail(err, what, errno);
	if ((unsigned int)ret != n) {
		const struct x86_msr_desc *d =
			x86_state_msr_find(buf.e[ret].index);

		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "%s: KVM refused MSR 0x%x (%s) = 0x%llx", what,
			    buf.e[ret].index, d ? d->name : "?",
			    (unsigned long long)buf.e[ret].data);
		return -EINVAL;
	}
	for (unsigned int i = 0; !set && i < n; i++)
		e[i].data = buf.e[i].data;
	return 0;
}

/* The fields kvm_sregs and kvm_sregs2 share, copied one way or the other. */
#define SREGS_COPY_COMMON(to, from)                                            \
	do {                                                                   \
		(to)->cs = (from)->cs;                                         \
		(to)->ds = (from)->ds;                                         \
		(to)->es = (from)->es;                                         \
		(to)->fs = (from)->fs;                                         \
		(to)->gs = (from)->gs;                                         \
		(to)->ss = (from)->ss;                                         \
		(to)->tr = (from)->tr;                                         \
		(to)->ldt = (from)->ldt;                                       \
		(to)->gdt = (from)->gdt;                                       \
		(to)->idt = (from)->idt;                                       \
		(to)->cr0 = (from)->cr0;                                       \
		(to)->cr2 = (from)->cr2;                                       \
		(to)->cr3 = (from)->cr3;                                       \
		(to)->cr4 = (from)->cr4;                                       \
		(to)->cr8 = (from)->cr8;                                       \
		(to)->efer = (from)->efer;                                     \
		(to)->apic_base = (from)->apic_base;                           \
	} while (0)

static void sregs_from_legacy(struct kvm_sregs2 *to,
			      const struct kvm_sregs *from)
{
	/* An injected interrupt travels in the events, not here. */
	SREGS_COPY_COMMON(to, from);
}

static void sregs_to_legacy(struct kvm_sregs *to, const struct kvm_sregs2 *from)
{
	memset(to, 0, sizeof(*to));
	SREGS_COPY_COMMON(to, from);
	/*
	 * interrupt_bitmap stays empty: an injected interrupt travels in the
	 * events (interrupt.injected/nr), which are set later.
	 */
}

/* The events as KVM will take them back; what it ignores is zeroed. */
static void events_normalize(struct kvm_vcpu_events *e)
{
	struct kvm_vcpu_events n;

	memset(&n, 0, sizeof(n));
	n.exception.injected = e->exception.injected;
	n.exception.nr = e->exception.nr;
	n.exception.has_error_code = e->exception.has_error_code;
	n.exception.error_code = e->exception.error_code;
	n.interrupt = e->interrupt;
	n.nmi.injected = e->nmi.injected;
	n.nmi.pending = e->nmi.pending;
	n.nmi.masked = e->nmi.masked;
	n.sipi_vector = e->sipi_vector;
	n.flags = e->flags & (KVM_VCPUEVENT_VALID_PAYLOAD |
			      KVM_VCPUEVENT_VALID_TRIPLE_FAULT);
	n.smi = e->smi;
	/*
	 * Without KVM_CAP_EXCEPTION_PAYLOAD, KVM reports a pending exception
	 * as injected too and ignores "pending" and the payload on set.
	 */
	if (n.flags & KVM_VCPUEVENT_VALID_PAYLOAD) {
		n.exception.pending = e->exception.pending;
		n.exception_has_payload = e->exception_has_payload;
		n.exception_payload = e->exception_payload;
	}
	if (n.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
		n.triple_fault.pending = e->triple_fault.pending;
	*e = n;
}

int vcpu_state_get(int fd, const struct vcpu_state_caps *caps,
		   struct vcpu_state *s, GError **err)
{
	struct kvm_mp_state mp = { 0 };
	struct kvm_sregs legacy;
	struct kvm_xcrs xcrs;
	const char *what;
	int ret;

	memset(s, 0, sizeof(*s));
	what = "KVM_GET_MP_STATE";
	if (ioctl(fd, KVM_GET_MP_STATE, &mp) < 0)
		goto err;
	s->mp_state = mp.mp_state;
	what = "KVM_GET_REGS";
	if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0)
		goto err;
	if (caps->sregs2) {
		what = "KVM_GET_SREGS2";
		if (ioctl(fd, KVM_GET_SREGS2, &s->sregs) < 0)
			goto err;
		if (!(s->sregs.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID))
			memset(s->sregs.pdptrs, 0, sizeof(s->sregs.pdptrs));
	} else {
		memset(&legacy, 0, sizeof(legacy));
		what = "KVM_GET_SREGS";
		if (ioctl(fd, KVM_GET_SREGS, &legacy) < 0)
			goto err;
		sregs_from_legacy(&s->sregs, &legacy);
	}
	if (caps->xsave_size) {
		what = caps->xsave2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE";
		if (ioctl(fd, caps->xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
			  s->xsave) < 0)
			goto err;
		s->xsave_size = caps->xsave_size;
		x86_xsave_mask((uint8_t *)s->xsave, s->xsave_size);
	} else {
		what = "KVM_GET_FPU";
		if (ioctl(fd, KVM_GET_FPU, &s->fpu) < 0)
			goto err;
		s->fpu.pad1 = 0;
		s->fpu.pad2 = 0;
	}
	if (caps->xcrs) {
		memset(&xcrs, 0, sizeof(xcrs));
		what = "KVM_GET_XCRS";
		if (ioctl(fd, KVM_GET_XCRS, &xcrs) < 0)
			goto err;
		for (uint32_t i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS;
		     i++) {
			if (xcrs.xcrs[i].xcr == 0) {
				s->has_xcr0 = true;
				s->xcr0 = xcrs.xcrs[i].value;
			}
		}
	}
	s->nmsrs = caps->nmsrs;
	for (unsigned int i = 0; i < caps->nmsrs; i++)
		s->msrs[i].index = caps->msrs[i];
	ret = vcpu_msrs_ioctl(fd, false, s->msrs, s->nmsrs, err);
	if (ret)
		return ret;
	what = "KVM_GET_LAPIC";
	if (ioctl(fd, KVM_GET_LAPIC, &s->lapic) < 0)
		goto err;
	what = "KVM_GET_DEBUGREGS";
	if (ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
		goto err;
	s->debugregs.flags = 0;
	memset(s->debugregs.reserved, 0, sizeof(s->debugregs.reserved));
	what = "KVM_GET_VCPU_EVENTS";
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		goto err;
	events_normalize(&s->events);
	return 0;
err:
	return vcpu_state_fail(err, what, errno);
}

int vcpu_state_set(int fd, const struct vcpu_state_caps *caps,
		   const struct vcpu_state *s, GError **err)
{
	struct kvm_msr_entry before[VCPU_STATE_MAX_MSRS], after[1];
	unsigned int nbefore = 0, nafter = 0;
	struct kvm_mp_state mp = { .mp_state = s->mp_state };
	struct kvm_vcpu_events events = s->events;
	struct kvm_debugregs dbg = s->debugregs;
	struct kvm_sregs legacy;
	struct kvm_xcrs xcrs;
	const char *what;
	int ret;

	/* vcpu_state_load() checked both; a capture from elsewhere may not. */
	if (s->xsave_size != caps->xsave_size ||
	    s->nmsrs > VCPU_STATE_MAX_MSRS) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "vCPU state does not fit this KVM (XSAVE area %u bytes, KVM takes %u; %u MSRs)",
			    s->xsave_size, caps->xsave_size, s->nmsrs);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < s->nmsrs; i++) {
		const struct x86_msr_desc *d =
			x86_state_msr_find(s->msrs[i].index);

		if (d && (d->flags & X86_MSR_AFTER_LAPIC) && !nafter)
			after[nafter++] = s->msrs[i];
		else
			before[nbefore++] = s->msrs[i];
	}

	if (caps->sregs2) {
		what = "KVM_SET_SREGS2";
		if (ioctl(fd, KVM_SET_SREGS2, &s->sregs) < 0)
			goto err;
	} else {
		/* Without SREGS2 KVM reloads PAE PDPTRs from guest memory. */
		sregs_to_legacy(&legacy, &s->sregs);
		what = "KVM_SET_SREGS";
		if (ioctl(fd, KVM_SET_SREGS, &legacy) < 0)
			goto err;
	}
	what = "KVM_SET_REGS";
	if (ioctl(fd, KVM_SET_REGS, &s->regs) < 0)
		goto err;
	if (s->xsave_size) {
		what = "KVM_SET_XSAVE";
		if (ioctl(fd, KVM_SET_XSAVE, s->xsave) < 0)
			goto err;
	} else {
		what = "KVM_SET_FPU";
		if (ioctl(fd, KVM_SET_FPU, &s->fpu) < 0)
			goto err;
	}
	if (s->has_xcr0) {
		memset(&xcrs, 0, sizeof(xcrs));
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = s->xcr0;
		what = "KVM_SET_XCRS";
		if (ioctl(fd, KVM_SET_XCRS, &xcrs) < 0)
			goto err;
	}
	ret = vcpu_msrs_ioctl(fd, true, before, nbefore, err);
	if (ret)
		return ret;
	what = "KVM_SET_LAPIC";
	if (ioctl(fd, KVM_SET_LAPIC, &s->lapic) < 0)
		goto err;
	ret = vcpu_msrs_ioctl(fd, true, after, nafter, err);
	if (ret)
		return ret;
	dbg.flags = 0;
	what = "KVM_SET_DEBUGREGS";
	if (ioctl(fd, KVM_SET_DEBUGREGS, &dbg) < 0)
		goto err;
	/*
	 * KVM takes the NMI, SIPI, shadow and SMM parts only when flagged;
	 * SMM also carries the latched INIT. Payload and triple fault only
	 * if the state has them (the VM must have enabled those caps).
	 */
	events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
		       KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		       KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
		       (s->events.flags & (KVM_VCPUEVENT_VALID_PAYLOAD |
					   KVM_VCPUEVENT_VALID_TRIPLE_FAULT));
	what = "KVM_SET_VCPU_EVENTS";
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &events) < 0)
		goto err;
	what = "KVM_SET_MP_STATE";
	if (ioctl(fd, KVM_SET_MP_STATE, &mp) < 0)
		goto err;
	return 0;
err:
	return vcpu_state_fail(err, what, errno);
}
