// SPDX-License-Identifier: MIT
/*
 * I/O threads: callbacks run on the thread, stop means no callback runs
 * after it returns, the thread exists (parked) from creation to destroy,
 * and an epoll failure reaches the owner's fault callback instead of
 * ending the thread silently. epoll_wait is wrapped at link time
 * (-Wl,--wrap=epoll_wait) so a test can make it fail.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tern/eventfd.h"
#include "tern/iothread.h"
#include "tern/thread.h"
#include "unit.h"

int __real_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);
int __wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);

static int fail_epoll; /* atomic: make the next epoll_wait fail with EBADF */

int __wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	if (__atomic_exchange_n(&fail_epoll, 0, __ATOMIC_SEQ_CST)) {
		errno = EBADF;
		return -1;
	}
	return __real_epoll_wait(epfd, evs, max, timeout);
}

struct probe {
	int calls; /* atomic */
	int faults; /* atomic */
	char why[128];
};

static void probe_cb(void *opaque, uint32_t events)
{
	struct probe *p = opaque;

	usleep(1000);
	__atomic_add_fetch(&p->calls, 1, __ATOMIC_SEQ_CST);
}

static void probe_fault(void *opaque, const char *why)
{
	struct probe *p = opaque;

	g_strlcpy(p->why, why, sizeof(p->why));
	__atomic_add_fetch(&p->faults, 1, __ATOMIC_SEQ_CST);
}

static int load(const int *v)
{
	return __atomic_load_n(v, __ATOMIC_SEQ_CST);
}

static void wait_for(const int *v, int want)
{
	for (int i = 0; i < 2000 && load(v) < want; i++)
		usleep(1000);
	ck_assert_int_ge(load(v), want);
}

START_TEST(thread_exists_parked_and_named)
{
	struct thread_registry reg;
	struct probe p = { 0 };
	struct iothread *t;
	GArray *list;
	int fd = efd_new();

	thread_registry_init(&reg);
	t = iothread_create(&reg, "io-test", probe_fault, &p, NULL);
	ck_assert_ptr_nonnull(t);
	/* Created with the device, parked: registered, named, role device-io. */
	ck_assert_uint_eq(thread_registry_count(&reg, THREAD_ROLE_DEVICE_IO), 1);
	list = thread_registry_list(&reg);
	ck_assert_str_eq(g_array_index(list, struct thread_info, 0).name, "io-test");
	g_array_unref(list);
	ck_assert_int_eq(iothread_add(t, fd, EPOLLIN, probe_cb, &p), 0);
	efd_signal(fd);
	usleep(20000);
	ck_assert_int_eq(load(&p.calls), 0); /* parked: nothing served */
	iothread_start(t);
	wait_for(&p.calls, 1);
	iothread_destroy(t);
	ck_assert_uint_eq(thread_registry_count(&reg, THREAD_ROLE_DEVICE_IO), 0);
	thread_registry_destroy(&reg);
	close(fd);
}
END_TEST

START_TEST(stop_means_no_callback_after)
{
	struct probe p = { 0 };
	struct iothread *t = iothread_create(NULL, "io-test", NULL, NULL, NULL);
	int fd = efd_new();

	ck_assert_int_eq(iothread_add(t, fd, EPOLLIN, probe_cb, &p), 0);
	iothread_start(t);
	for (int round = 0; round < 20; round++) {
		int before;

		efd_signal(fd); /* level-triggered: it stays readable */
		wait_for(&p.calls, 1);
		iothread_stop(t);
		before = load(&p.calls);
		usleep(5000);
		ck_assert_int_eq(load(&p.calls), before);
		efd_drain(fd);
		iothread_start(t);
	}
	iothread_destroy(t);
	close(fd);
}
END_TEST

START_TEST(epoll_failure_reaches_the_fault_callback)
{
	struct probe p = { 0 };
	struct iothread *t = iothread_create(NULL, "io-test", probe_fault, &p, NULL);
	int fd = efd_new();

	ck_assert_int_eq(iothread_add(t, fd, EPOLLIN, probe_cb, &p), 0);
	__atomic_store_n(&fail_epoll, 1, __ATOMIC_SEQ_CST);
	iothread_start(t);
	wait_for(&p.faults, 1);
	ck_assert_msg(strstr(p.why, "epoll_wait") && strstr(p.why, "Bad file descriptor"),
		      "fault said '%s'", p.why);
	/* It parked: nothing is served, and stop does not hang. */
	efd_signal(fd);
	usleep(20000);
	ck_assert_int_eq(load(&p.calls), 0);
	iothread_stop(t);
	/* The owner's reset restarts it, and it serves again. */
	iothread_start(t);
	wait_for(&p.calls, 1);
	ck_assert_int_eq(load(&p.faults), 1);
	iothread_destroy(t);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("iothread");

	UNIT_TCASE(s, "iothread", thread_exists_parked_and_named,
		   stop_means_no_callback_after,
		   epoll_failure_reaches_the_fault_callback);
	return unit_run(s);
}
