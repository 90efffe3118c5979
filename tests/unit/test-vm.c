// SPDX-License-Identifier: MIT
/*
 * The VM's run state against real KVM (skipped without /dev/kvm): a reset
 * that fails part-way shuts the VM down with reason host-error and exit
 * status 4 instead of leaving it half reset; a reset that works keeps the
 * run state and says RESET. ioctl is wrapped at link time
 * (-Wl,--wrap=ioctl) so a test can make one KVM request fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/vcpu.h"
#include "tern/vm.h"
#include "unit.h"

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

static unsigned long fail_req; /* atomic: this request fails with EIO */

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == __atomic_load_n(&fail_req, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	return __real_ioctl(fd, req, arg);
}

struct events {
	int stop, resume, reset, shutdown;
	char reason[64];
	bool guest;
};

static void on_event(void *opaque, enum vm_event ev,
		     const struct vm_event_info *info)
{
	struct events *e = opaque;

	switch (ev) {
	case VM_EVENT_STOP:
		e->stop++;
		break;
	case VM_EVENT_RESUME:
		e->resume++;
		break;
	case VM_EVENT_RESET:
		e->reset++;
		break;
	case VM_EVENT_SHUTDOWN:
		e->shutdown++;
		e->guest = info->guest;
		g_strlcpy(e->reason, info->reason, sizeof(e->reason));
		break;
	}
}

/* A counting guest on one vCPU, running; NULL (test skipped) without KVM. */
static struct vm *start(struct vm_config *cfg, struct events *e)
{
	const char *fw = getenv("TERN_TEST_FW");
	g_autofree char *kernel = g_strdup_printf("%s/counter.elf", fw ? fw : ".");
	char *argv[] = { "run", "--kernel", kernel, "--console", "none", NULL };
	GError *err = NULL;
	struct vm *vm;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return NULL;
	}
	close(fd);
	ck_assert(config_parse_run(G_N_ELEMENTS(argv) - 1, argv, cfg, &err));
	vm = vm_create(cfg, &err);
	ck_assert_msg(vm, "%s", err ? err->message : "?");
	vm_add_listener(vm, on_event, e);
	ck_assert(vm_start(vm, &err));
	usleep(50000);
	return vm;
}

START_TEST(failed_reset_shuts_down)
{
	struct vm_config cfg;
	struct events e = { 0 };
	GError *err = NULL;
	struct vm *vm = start(&cfg, &e);

	if (!vm)
		return;
	__atomic_store_n(&fail_req, KVM_SET_PIT2, __ATOMIC_SEQ_CST);
	ck_assert(!vm_reset(vm, &err));
	__atomic_store_n(&fail_req, 0, __ATOMIC_SEQ_CST);
	ck_assert_msg(strstr(err->message, "KVM_SET_PIT2") &&
			      strstr(err->message, "shut down"),
		      "%s", err->message);
	g_clear_error(&err);
	ck_assert_int_eq(vm_get_state(vm), VM_STATE_SHUTDOWN);
	ck_assert_int_eq(e.reset, 0);
	/* The main loop sends SHUTDOWN and gives the exit status. */
	ck_assert_int_eq(vm_run_main_loop(vm), TERN_EXIT_GUEST_ERROR);
	ck_assert_int_eq(e.shutdown, 1);
	ck_assert_str_eq(e.reason, "host-error");
	ck_assert(!e.guest);
	/* No further reset on a VM that is ending. */
	ck_assert(!vm_reset(vm, &err));
	g_clear_error(&err);
	vm_destroy(vm);
	config_clear(&cfg);
}
END_TEST

START_TEST(reset_keeps_running_and_stop_parks)
{
	struct vm_config cfg;
	struct events e = { 0 };
	GError *err = NULL;
	struct vm *vm = start(&cfg, &e);

	if (!vm)
		return;
	ck_assert(vm_reset(vm, &err));
	ck_assert_int_eq(e.reset, 1);
	ck_assert_int_eq(vm_get_state(vm), VM_STATE_RUNNING);
	ck_assert(vm_pause(vm, &err));
	ck_assert_int_eq(e.stop, 1);
	ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
	ck_assert(vm->vcpus[0]->parked);
	ck_assert(!vm->vcpus[0]->exit_pending);
	/* A reset while stopped leaves it stopped. */
	ck_assert(vm_reset(vm, &err));
	ck_assert_int_eq(vm_get_state(vm), VM_STATE_PAUSED);
	vm_resume(vm);
	ck_assert_int_eq(e.resume, 1);
	vm_request_shutdown(vm, VM_EXIT_HOST_QUIT, 0);
	ck_assert_int_eq(vm_run_main_loop(vm), 0);
	ck_assert_str_eq(e.reason, "host-qmp-quit");
	vm_destroy(vm);
	config_clear(&cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm");

	UNIT_TCASE(s, "run-state", failed_reset_shuts_down,
		   reset_keeps_running_and_stop_parks);
	return unit_run(s);
}
