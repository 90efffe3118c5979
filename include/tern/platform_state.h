/* SPDX-License-Identifier: MIT */
/*
 * The state of KVM's in-kernel platform: the two 8259 PICs and the IOAPIC
 * (section "irqchip"), the 8254 PIT ("pit") and kvmclock ("clock"). The same
 * four verbs and the same capture rule as vcpu_state.h: get captures when
 * the VM is quiesced, save and load are pure, set applies a capture.
 *
 * What moves with time is handled thus: a PIT channel's count_load_time is
 * a host timestamp KVM overwrites on set (it restarts each counter from its
 * reload value), so it is zeroed at capture and never saved; kvmclock moves
 * until it is captured and is set back to the captured value. The IOAPIC's
 * redirection entries keep whatever reserved bits a guest wrote; real
 * IOAPICs read those as zero, and so does a capture.
 *
 * Set order: the PICs and the IOAPIC (KVM re-delivers the IOAPIC's pending
 * level-triggered lines to the LAPICs, so the vCPUs' state should be set
 * first), then the PIT (its interrupts go through the irqchip just set),
 * then kvmclock last, after the vCPUs' TSC and kvmclock MSRs, so the guest
 * clock resumes from the captured value.
 */
#ifndef TERN_PLATFORM_STATE_H
#define TERN_PLATFORM_STATE_H

#include <glib.h>
#include <linux/kvm.h>

#include "tern/state.h"
#include "tern/util.h"

#define PLATFORM_STATE_VERSION 1

struct platform_state {
	struct kvm_pic_state pic[2]; /* master, slave */
	struct kvm_ioapic_state ioapic;
	struct kvm_pit_state2 pit;
	uint64_t clock; /* kvmclock, ns */
	uint32_t clock_flags; /* KVM_CLOCK_TSC_STABLE or 0; informative */
};

/*
 * Capture from the VM fd (KVM_GET_IRQCHIP x3, KVM_GET_PIT2, KVM_GET_CLOCK).
 * 0 or -errno; err names the ioctl.
 */
int platform_state_get(int vm_fd, struct platform_state *s,
		       GError **err) __must_check;
/* Apply a capture in the order above. 0 or -errno; err names the ioctl. */
int platform_state_set(int vm_fd, const struct platform_state *s,
		       GError **err) __must_check;

/* Write the "irqchip", "pit" and "clock" sections. */
void platform_state_save(const struct platform_state *s,
			 struct state_writer *w);
/* Read and validate them; an out-of-range value is an error naming it. */
bool platform_state_load(struct state_reader *r, struct platform_state *s,
			 GError **err);

#endif
