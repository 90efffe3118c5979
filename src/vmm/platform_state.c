// SPDX-License-Identifier: MIT
/*
 * KVM's in-kernel PICs, IOAPIC, PIT and kvmclock: capture, apply, and the
 * three sections (version 1, little-endian, field by field):
 *
 *   irqchip  2 x PIC (master, slave): u8 last_irr irr imr isr priority_add
 *            irq_base, bool read_reg_select poll special_mask, u8
 *            init_state, bool auto_eoi rotate_on_auto_eoi
 *            special_fully_nested_mode init4, u8 elcr elcr_mask;
 *            IOAPIC: u64 base, u32 ioregsel id irr, 24 x u64 redirection
 *   pit      3 x channel: u32 count, u16 latched_count, u8 count_latched,
 *            bool status_latched, u8 status read_state write_state
 *            write_latch rw_mode mode, bool bcd gate; u32 flags
 *   clock    u64 clock, u32 flags
 *
 * The ranges checked on load are those of the values KVM's own emulation
 * can produce (i8259.c, ioapic.c, i8254.c): what a guest can reach loads,
 * anything else is refused with the field named.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tern/error.h"
#include "tern/layout.h"
#include "tern/platform_state.h"

/* IOAPIC redirection entry bits 17-55 are reserved. */
#define IOAPIC_RTE_RESERVED (((1ULL << 56) - 1) & ~((1ULL << 17) - 1))
#define IOAPIC_PINS KVM_IOAPIC_NUM_PINS
/* KVM's fixed ELCR masks: IRQs 0-2 and 8, 13 are always edge-triggered. */
static const uint8_t pic_elcr_mask[2] = { 0xf8, 0xde };
static const char *const pic_name[2] = { "master", "slave" };

#define PIT_MODE_UNSET 0xff /* a channel never programmed since reset */
#define PIT_FLAGS (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)

static int platform_state_fail(GError **err, const char *what, int errnum)
{
	g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s", what,
		    g_strerror(errnum));
	return -errnum;
}

int platform_state_get(int vm_fd, struct platform_state *s, GError **err)
{
	struct kvm_irqchip chip;
	struct kvm_clock_data clock;

	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return platform_state_fail(err, "KVM_GET_IRQCHIP", errno);
		if (i < 2)
			s->pic[i] = chip.chip.pic;
		else
			s->ioapic = chip.chip.ioapic;
	}
	s->ioapic.pad = 0;
	for (unsigned int i = 0; i < IOAPIC_PINS; i++)
		s->ioapic.redirtbl[i].bits &= ~IOAPIC_RTE_RESERVED;
	if (ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return platform_state_fail(err, "KVM_GET_PIT2", errno);
	/* A host timestamp; KVM_SET_PIT2 takes the time of the set instead. */
	for (unsigned int i = 0; i < 3; i++)
		s->pit.channels[i].count_load_time = 0;
	memset(s->pit.reserved, 0, sizeof(s->pit.reserved));
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return platform_state_fail(err, "KVM_GET_CLOCK", errno);
	s->clock = clock.clock;
	s->clock_flags = clock.flags & KVM_CLOCK_TSC_STABLE;
	return 0;
}

int platform_state_set(int vm_fd, const struct platform_state *s, GError **err)
{
	struct kvm_clock_data clock;
	struct kvm_pit_state2 pit = s->pit;
	struct kvm_irqchip chip;

	for (unsigned int i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (i < 2)
			chip.chip.pic = s->pic[i];
		else
			chip.chip.ioapic = s->ioapic;
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return platform_state_fail(err, "KVM_SET_IRQCHIP", errno);
	}
	memset(pit.reserved, 0, sizeof(pit.reserved));
	if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
		return platform_state_fail(err, "KVM_SET_PIT2", errno);
	/* flags 0: TSC_STABLE is KVM's to report, not ours to set. */
	memset(&clock, 0, sizeof(clock));
	clock.clock = s->clock;
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return platform_state_fail(err, "KVM_SET_CLOCK", errno);
	return 0;
}

/* ---- save ---- */

static void put_pic(struct state_writer *w, const struct kvm_pic_state *p)
{
	state_put_u8(w, p->last_irr);
	state_put_u8(w, p->irr);
	state_put_u8(w, p->imr);
	state_put_u8(w, p->isr);
	state_put_u8(w, p->priority_add);
	state_put_u8(w, p->irq_base);
	state_put_bool(w, p->read_reg_select);
	state_put_bool(w, p->poll);
	state_put_bool(w, p->special_mask);
	state_put_u8(w, p->init_state);
	state_put_bool(w, p->auto_eoi);
	state_put_bool(w, p->rotate_on_auto_eoi);
	state_put_bool(w, p->special_fully_nested_mode);
	state_put_bool(w, p->init4);
	state_put_u8(w, p->elcr);
	state_put_u8(w, p->elcr_mask);
}

static void put_pit_channel(struct state_writer *w,
			    const struct kvm_pit_channel_state *c)
{
	state_put_u32(w, c->count);
	state_put_u16(w, c->latched_count);
	state_put_u8(w, c->count_latched);
	state_put_bool(w, c->status_latched);
	state_put_u8(w, c->status);
	state_put_u8(w, c->read_state);
	state_put_u8(w, c->write_state);
	state_put_u8(w, c->write_latch);
	state_put_u8(w, c->rw_mode);
	state_put_u8(w, c->mode);
	state_put_bool(w, c->bcd);
	state_put_bool(w, c->gate);
}

void platform_state_save(const struct platform_state *s, struct state_writer *w)
{
	state_section_begin(w, PLATFORM_STATE_VERSION, "irqchip");
	put_pic(w, &s->pic[0]);
	put_pic(w, &s->pic[1]);
	state_put_u64(w, s->ioapic.base_address);
	state_put_u32(w, s->ioapic.ioregsel);
	state_put_u32(w, s->ioapic.id);
	state_put_u32(w, s->ioapic.irr);
	for (unsigned int i = 0; i < IOAPIC_PINS; i++)
		state_put_u64(w, s->ioapic.redirtbl[i].bits);
	state_section_end(w);

	state_section_begin(w, PLATFORM_STATE_VERSION, "pit");
	for (unsigned int i = 0; i < 3; i++)
		put_pit_channel(w, &s->pit.channels[i]);
	state_put_u32(w, s->pit.flags);
	state_section_end(w);

	state_section_begin(w, PLATFORM_STATE_VERSION, "clock");
	state_put_u64(w, s->clock);
	state_put_u32(w, s->clock_flags);
	state_section_end(w);
}

/* ---- load ---- */

/* A boolean byte, named in the error if it is neither 0 nor 1. */
static void get_flag(struct state_reader *r, __u8 *v, const char *prefix,
		     const char *field)
{
	uint8_t b = 0;

	state_get_u8(r, &b);
	state_check(r, b <= 1, "%s.%s %u: a boolean (0 or 1)", prefix, field, b);
	*v = b;
}

static void get_pic(struct state_reader *r, unsigned int i,
		    struct kvm_pic_state *p)
{
	char n[16];

	snprintf(n, sizeof(n), "pic[%s]", pic_name[i]);

	state_get_u8(r, &p->last_irr);
	state_get_u8(r, &p->irr);
	state_get_u8(r, &p->imr);
	state_get_u8(r, &p->isr);
	state_get_u8(r, &p->priority_add);
	state_get_u8(r, &p->irq_base);
	get_flag(r, &p->read_reg_select, n, "read_reg_select");
	get_flag(r, &p->poll, n, "poll");
	get_flag(r, &p->special_mask, n, "special_mask");
	state_get_u8(r, &p->init_state);
	get_flag(r, &p->auto_eoi, n, "auto_eoi");
	get_flag(r, &p->rotate_on_auto_eoi, n, "rotate_on_auto_eoi");
	get_flag(r, &p->special_fully_nested_mode, n, "special_fully_nested_mode");
	get_flag(r, &p->init4, n, "init4");
	state_get_u8(r, &p->elcr);
	state_get_u8(r, &p->elcr_mask);
	state_check(r, p->priority_add <= 7,
		    "%s.priority_add %u: an IRQ number 0-7", n, p->priority_add);
	state_check(r, !(p->irq_base & 7),
		    "%s.irq_base 0x%x: the low 3 bits are the IRQ", n,
		    p->irq_base);
	state_check(r, p->init_state <= 3,
		    "%s.init_state %u: ICW2-ICW4 steps are 0-3", n,
		    p->init_state);
	state_check(r, p->elcr_mask == pic_elcr_mask[i],
		    "%s.elcr_mask 0x%x: KVM's is 0x%x", n, p->elcr_mask,
		    pic_elcr_mask[i]);
	state_check(r, !(p->elcr & ~p->elcr_mask),
		    "%s.elcr 0x%x: IRQs outside the mask 0x%x are edge-only",
		    n, p->elcr, p->elcr_mask);
}

static void get_ioapic(struct state_reader *r, struct kvm_ioapic_state *io)
{
	uint64_t v;

	state_get_u64(r, &v);
	io->base_address = v;
	state_get_u32(r, &io->ioregsel);
	state_get_u32(r, &io->id);
	state_get_u32(r, &io->irr);
	state_check(r, io->base_address == LAYOUT_IOAPIC_START,
		    "ioapic.base_address 0x%llx: KVM's IOAPIC sits at 0x%llx",
		    (unsigned long long)io->base_address, LAYOUT_IOAPIC_START);
	state_check(r, io->ioregsel <= 0xff,
		    "ioapic.ioregsel 0x%x: the register select is 8 bits",
		    io->ioregsel);
	state_check(r, io->id <= 0xf, "ioapic.id 0x%x: the ID is 4 bits", io->id);
	state_check(r, !(io->irr >> IOAPIC_PINS),
		    "ioapic.irr 0x%x: there are %u pins", io->irr, IOAPIC_PINS);
	for (unsigned int i = 0; i < IOAPIC_PINS; i++) {
		state_get_u64(r, &v);
		io->redirtbl[i].bits = v;
		state_check(r, !(v & IOAPIC_RTE_RESERVED),
			    "ioapic.redirtbl[%u] 0x%llx: reserved bits 17-55 set", i,
			    (unsigned long long)v);
	}
}

static void get_pit_channel(struct state_reader *r, unsigned int i,
			    struct kvm_pit_channel_state *c)
{
	char n[24];

	snprintf(n, sizeof(n), "pit.channel[%u]", i);
	state_get_u32(r, &c->count);
	state_get_u16(r, &c->latched_count);
	state_get_u8(r, &c->count_latched);
	get_flag(r, &c->status_latched, n, "status_latched");
	state_get_u8(r, &c->status);
	state_get_u8(r, &c->read_state);
	state_get_u8(r, &c->write_state);
	state_get_u8(r, &c->write_latch);
	state_get_u8(r, &c->rw_mode);
	state_get_u8(r, &c->mode);
	get_flag(r, &c->bcd, n, "bcd");
	get_flag(r, &c->gate, n, "gate");
	/* KVM stores a written 0 as 65536. */
	state_check(r, c->count >= 1 && c->count <= 0x10000,
		    "pit.channel[%u].count %u: 1-65536", i, c->count);
	state_check(r, c->count_latched <= 3,
		    "pit.channel[%u].count_latched %u: an access mode 0-3", i,
		    c->count_latched);
	state_check(r, c->read_state <= 4,
		    "pit.channel[%u].read_state %u: 0-4", i, c->read_state);
	state_check(r, c->write_state <= 4,
		    "pit.channel[%u].write_state %u: 0-4", i, c->write_state);
	state_check(r, c->rw_mode <= 3,
		    "pit.channel[%u].rw_mode %u: an access mode 0-3", i, c->rw_mode);
	/* 6 and 7 are what a guest writes for 2 and 3; 0xff: never set. */
	state_check(r, c->mode <= 7 || c->mode == PIT_MODE_UNSET,
		    "pit.channel[%u].mode %u: modes are 0-5 (6, 7 alias 2, 3), 255 unset",
		    i, c->mode);
}

bool platform_state_load(struct state_reader *r, struct platform_state *s,
			 GError **err)
{
	memset(s, 0, sizeof(*s));
	state_section_open(r, PLATFORM_STATE_VERSION, PLATFORM_STATE_VERSION,
			   NULL, "irqchip");
	get_pic(r, 0, &s->pic[0]);
	get_pic(r, 1, &s->pic[1]);
	get_ioapic(r, &s->ioapic);
	if (!state_section_close(r, err))
		return false;

	state_section_open(r, PLATFORM_STATE_VERSION, PLATFORM_STATE_VERSION,
			   NULL, "pit");
	for (unsigned int i = 0; i < 3; i++)
		get_pit_channel(r, i, &s->pit.channels[i]);
	state_get_u32(r, &s->pit.flags);
	state_check(r, !(s->pit.flags & ~PIT_FLAGS),
		    "pit.flags 0x%x: only HPET_LEGACY and SPEAKER_DATA_ON exist",
		    s->pit.flags);
	if (!state_section_close(r, err))
		return false;

	state_section_open(r, PLATFORM_STATE_VERSION, PLATFORM_STATE_VERSION,
			   NULL, "clock");
	state_get_u64(r, &s->clock);
	state_get_u32(r, &s->clock_flags);
	state_check(r, !(s->clock_flags & ~(uint32_t)KVM_CLOCK_TSC_STABLE),
		    "clock.flags 0x%x: only TSC_STABLE is kept", s->clock_flags);
	return state_section_close(r, err);
}
