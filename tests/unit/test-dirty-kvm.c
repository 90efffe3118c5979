// SPDX-License-Identifier: MIT
/*
 * Dirty tracking against real KVM: a VM with guest_memory's slots, a
 * real-mode guest that writes known pages and reports through port 0xf4,
 * and syncs that must find exactly those pages, merged with what tern
 * marked itself. Skipped (exit 77) without a usable /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tern/dirty.h"
#include "unit.h"

#define PAGE GUEST_PAGE_SIZE
#define CODE_GPA 0x1000
#define PORT 0xf4

/*
 * 16-bit real mode, CS = DS = 0 (KVM's reset DS base is 0). The code page
 * is only read; no stack is used.
 */
static const uint8_t guest_code[] = {
	0xc6, 0x06, 0x00, 0x30, 0x01, /* mov byte [0x3000], 1 */
	0xc6, 0x06, 0x00, 0x50, 0x02, /* mov byte [0x5000], 2 */
	0xe6, PORT, /* out 0xf4, al: first report */
	0xc6, 0x06, 0x00, 0x30, 0x03, /* mov byte [0x3000], 3: again */
	0xc6, 0x06, 0x00, 0x70, 0x04, /* mov byte [0x7000], 4 */
	0xe6, PORT, /* out 0xf4, al: second report */
	0xf4, /* hlt: no irqchip, so KVM_EXIT_HLT */
};

struct vm_under_test {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	struct guest_memory mem;
};

struct ranges {
	unsigned int n;
	uint64_t gpa[16], len[16];
};

static int collect(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ranges *r = opaque;

	ck_assert_uint_lt(r->n, 16);
	r->gpa[r->n] = gpa;
	r->len[r->n] = len;
	r->n++;
	return 0;
}

/* The sync reports exactly these single pages, in order. */
static void expect_pages(struct guest_memory *m, const uint64_t *pages,
			 unsigned int n)
{
	struct ranges r = { 0 };
	int64_t total = guest_memory_dirty_sync(m, collect, &r);
	char got[256] = "";

	for (unsigned int i = 0; i < r.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
			 " 0x%llx+0x%llx", (unsigned long long)r.gpa[i],
			 (unsigned long long)r.len[i]);
	ck_assert_msg(total == n && r.n == n, "sync returned %lld, ranges:%s",
		      (long long)total, got);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_msg(r.gpa[i] == pages[i] && r.len[i] == PAGE,
			      "expected page 0x%llx, ranges:%s",
			      (unsigned long long)pages[i], got);
}

static void vm_build(struct vm_under_test *t, bool shared)
{
	const struct guest_memory_config cfg = { .size = 2 * MiB, .shared = shared };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 2 };

	t->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(t->kvm_fd, 0);
	t->vm_fd = ioctl(t->kvm_fd, KVM_CREATE_VM, 0);
	ck_assert_int_ge(t->vm_fd, 0);
	/* Intel needs the TSS pages placed before real mode runs. */
	ck_assert_int_eq(ioctl(t->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL), 0);
	ck_assert_int_eq(guest_memory_init_config(&t->mem, &cfg), 0);
	ck_assert_int_eq(guest_memory_kvm_register(&t->mem, t->vm_fd), 0);
	memcpy(guest_memory_ptr(&t->mem, CODE_GPA, sizeof(guest_code)), guest_code,
	       sizeof(guest_code));

	t->vcpu_fd = ioctl(t->vm_fd, KVM_CREATE_VCPU, 0);
	ck_assert_int_ge(t->vcpu_fd, 0);
	t->run_size = ioctl(t->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	t->run = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      t->vcpu_fd, 0);
	ck_assert_ptr_ne(t->run, MAP_FAILED);
	ck_assert_int_eq(ioctl(t->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ck_assert_int_eq(ioctl(t->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	ck_assert_int_eq(ioctl(t->vcpu_fd, KVM_SET_REGS, &regs), 0);
}

static void vm_free(struct vm_under_test *t)
{
	munmap(t->run, t->run_size);
	close(t->vcpu_fd);
	close(t->vm_fd);
	close(t->kvm_fd);
	guest_memory_destroy(&t->mem);
}

/* Run until the guest's next report (or its final HLT). */
static void vm_run_until(struct vm_under_test *t, unsigned int reason)
{
	int ret;

	do
		ret = ioctl(t->vcpu_fd, KVM_RUN, 0);
	while (ret < 0 && errno == EINTR);
	ck_assert_msg(ret == 0, "KVM_RUN: %s", strerror(errno));
	ck_assert_msg(t->run->exit_reason == reason, "exit reason %u, expected %u",
		      t->run->exit_reason, reason);
	if (reason == KVM_EXIT_IO) {
		ck_assert_uint_eq(t->run->io.port, PORT);
		ck_assert_uint_eq(t->run->io.direction, KVM_EXIT_IO_OUT);
	}
}

static void run_guest_and_check(bool shared, bool manual)
{
	static const uint64_t first[] = { 0x3000, 0x5000 };
	static const uint64_t second[] = { 0x3000, 0x7000, 0x9000, 0xb000 };
	struct kvm_dirty_log log = { .slot = 0 };
	unsigned long bitmap[8];
	struct vm_under_test t;
	uint32_t v = 0xabcd;
	int caps;

	vm_build(&t, shared);
	caps = ioctl(t.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	/* What the host offers is what register found... */
	ck_assert_int_eq(t.mem.kvm_manual_protect,
			 caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE));
	if (manual && !t.mem.kvm_manual_protect)
		printf("note: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 absent, testing the fallback\n");
	/* ... and the fallback is forced by saying it is not there. */
	if (!manual)
		t.mem.kvm_manual_protect = false;

	ck_assert_int_eq(guest_memory_dirty_start(&t.mem), 0);
	/* Nothing written since start. */
	expect_pages(&t.mem, NULL, 0);

	vm_run_until(&t, KVM_EXIT_IO);
	expect_pages(&t.mem, first, 2);

	/* tern's own writes, which KVM cannot see, are merged in. */
	guest_memory_mark_dirty(&t.mem, 0x9000, 1);
	ck_assert_int_eq(guest_memory_write(&t.mem, 0xb000, &v, sizeof(v)), 0);
	/*
	 * 0x3000 again: the last sync re-armed its write protection. 0x5000
	 * is not reported twice: the log was cleared.
	 */
	vm_run_until(&t, KVM_EXIT_IO);
	expect_pages(&t.mem, second, 4);

	vm_run_until(&t, KVM_EXIT_HLT);
	expect_pages(&t.mem, NULL, 0);
	ck_assert_uint_eq(*(uint8_t *)guest_memory_ptr(&t.mem, 0x3000, 1), 3);
	ck_assert_uint_eq(*(uint8_t *)guest_memory_ptr(&t.mem, 0x7000, 1), 4);

	/* Stopped: the slot lost KVM_MEM_LOG_DIRTY_PAGES, so KVM has no log. */
	ck_assert_int_eq(guest_memory_dirty_stop(&t.mem), 0);
	log.dirty_bitmap = bitmap;
	ck_assert_int_ne(ioctl(t.vm_fd, KVM_GET_DIRTY_LOG, &log), 0);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(guest_memory_dirty_sync(&t.mem, collect, &(struct ranges){ 0 }),
			 -EINVAL);
	/* And it starts again. */
	ck_assert_int_eq(guest_memory_dirty_start(&t.mem), 0);
	ck_assert_int_eq(ioctl(t.vm_fd, KVM_GET_DIRTY_LOG, &log), 0);
	vm_free(&t);
}

/*
 * Started by the caller: a page leaves the log only when re-armed, and a
 * write after the re-arm (the migration has read the page by then) is
 * logged again, while a page never re-armed stays reported.
 */
static void run_guest_rearming(bool shared)
{
	static const uint64_t first[] = { 0x3000, 0x5000 };
	static const uint64_t second[] = { 0x3000, 0x5000, 0x7000 };
	unsigned long bits[512 / 64], page3 = 1UL << 3;
	struct ranges r = { 0 };
	struct vm_under_test t;

	vm_build(&t, shared);
	if (!t.mem.kvm_manual_protect) {
		printf("note: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 absent: syncs re-arm\n");
		vm_free(&t);
		return;
	}
	ck_assert_int_eq(guest_memory_dirty_start_by_caller(&t.mem), 0);
	ck_assert(t.mem.dirty_by_caller);
	/* All set from the start where KVM offers it, else nothing yet. */
	if (t.mem.kvm_initially_set) {
		ck_assert_int_eq(guest_memory_dirty_sync(&t.mem, collect, &r), 512);
		ck_assert_uint_eq(r.n, 1);
		ck_assert_uint_eq(r.len[0], 2 * MiB);
	} else {
		printf("note: KVM_DIRTY_LOG_INITIALLY_SET absent\n");
		expect_pages(&t.mem, NULL, 0);
	}
	/* What a first pass does, chunk by chunk: all clean afterwards. */
	memset(bits, 0xff, sizeof(bits));
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 0, 256, bits), 0);
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 256, 256, bits), 0);
	expect_pages(&t.mem, NULL, 0);

	vm_run_until(&t, KVM_EXIT_IO);
	expect_pages(&t.mem, first, 2);
	/* Not re-armed: a sync reports them again. */
	expect_pages(&t.mem, first, 2);
	/* Only 0x3000 is "sent": re-armed, then written again by the guest. */
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 0, 64, &page3), 0);
	vm_run_until(&t, KVM_EXIT_IO);
	expect_pages(&t.mem, second, 3);
	/* Everything sent: nothing left, and nothing written since. */
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 0, 512, bits), 0);
	vm_run_until(&t, KVM_EXIT_HLT);
	expect_pages(&t.mem, NULL, 0);
	/* KVM's rule is checked before KVM sees the range. */
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 32, 64, bits), -EINVAL);
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 448, 128, bits), -EINVAL);
	ck_assert_int_eq(guest_memory_dirty_rearm(&t.mem, 0, 0, 100, bits), -EINVAL);
	/* Stopped: a later plain start syncs as before (re-armed at sync). */
	ck_assert_int_eq(guest_memory_dirty_stop(&t.mem), 0);
	ck_assert(!t.mem.dirty_by_caller);
	ck_assert_int_eq(guest_memory_dirty_start(&t.mem), 0);
	expect_pages(&t.mem, NULL, 0);
	ck_assert_int_eq(guest_memory_dirty_stop(&t.mem), 0);
	vm_free(&t);
}

START_TEST(anonymous_rearm_by_caller)
{
	run_guest_rearming(false);
}
END_TEST

START_TEST(shared_memfd_rearm_by_caller)
{
	run_guest_rearming(true);
}
END_TEST

START_TEST(anonymous_manual_protect)
{
	run_guest_and_check(false, true);
}
END_TEST

START_TEST(anonymous_get_clears)
{
	run_guest_and_check(false, false);
}
END_TEST

START_TEST(shared_memfd_manual_protect)
{
	run_guest_and_check(true, true);
}
END_TEST

START_TEST(shared_memfd_get_clears)
{
	run_guest_and_check(true, false);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dirty-kvm");
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s (the KVM dirty log needs real KVM)\n",
		       strerror(errno));
		return 77;
	}
	close(fd);
	UNIT_TCASE(s, "guest", anonymous_manual_protect, anonymous_get_clears,
		   shared_memfd_manual_protect, shared_memfd_get_clears,
		   anonymous_rearm_by_caller, shared_memfd_rearm_by_caller);
	return unit_run(s);
}
