// SPDX-License-Identifier: MIT
/*
 * The hot (bus/slot) reset of a passed-through function without a reset
 * of its own, against the VFIO test double (NO REAL DEVICE OR IOMMU):
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO asked twice (the count, then the
 * list), ownership checked, VFIO_DEVICE_PCI_HOT_RESET with the group fds
 * (or none under iommufd), one reset for two functions on one bus, a
 * foreign function refusing it with one warning, malformed answers.
 */
#include <stdlib.h>

#include "test-vfio-fixture.h"

/* A second function of ours on the same host bus, in group 13. */
static struct vfio_double dbl2;
static struct vfio_config vcfg2;

static void setup2(void)
{
	vfio_double_init(&dbl2);
	dbl2.addr = "0000:01:00.1";
	dbl2.group = 13;
	dbl2.cfg[PCI_INTERRUPT_PIN] = 0; /* the fixture records one INTx */
	ck_assert(vfio_config_parse("vfio=0000:01:00.1", &vcfg2, NULL));
}

static void teardown2(void)
{
	vfio_config_clear(&vcfg2);
	vfio_double_clear(&dbl2);
}

/* pci_host_reset() with stderr captured: what tern said. */
static char *reset_said(void)
{
	char buf[4096];
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	ck_assert_ptr_nonnull(f);
	fflush(stderr);
	ck_assert_int_ge(dup2(fileno(f), 2), 0);
	pci_host_reset(host);
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, 2), 0);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	fputs(buf, stderr);
	return g_strdup(buf);
}

static const struct vfio_pci_dependent_device self = {
    .group_id = VD_GROUP, .bus = 1, .devfn = 0};
static const struct vfio_pci_dependent_device peer = {
    .group_id = 13, .bus = 1, .devfn = 1};

START_TEST(test_flr_uses_device_reset)
{
	struct vfio_device *v = create_ok();

	pci_host_reset(host);
	ck_assert_uint_eq(dbl.resets, 1);
	ck_assert_uint_eq(dbl.hot_resets, 0);
	ck_assert_uint_eq(dbl.hr_info_calls, 0);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_hot_reset_own_group)
{
	struct vfio_device *v;
	unsigned int s;
	g_autofree char *said = NULL;

	dbl.no_flr = true;
	v = create_ok();
	s = vfio_device_slot(v);
	dbl.scratch = 7;
	said = reset_said();
	ck_assert(vfio_double_log_has(
	    &dbl,
	    "GET_PCI_HOT_RESET_INFO GET_PCI_HOT_RESET_INFO PCI_HOT_RESET"));
	ck_assert_uint_eq(dbl.hr_info_calls, 2);
	ck_assert_uint_eq(dbl.resets, 0);
	ck_assert_uint_eq(dbl.hot_resets, 1);
	ck_assert_uint_eq(dbl.hr_nfds, 1);
	ck_assert_int_eq(dbl.hr_fds[0], VD_FD_GROUP);
	ck_assert_uint_eq(dbl.scratch, 0);
	ck_assert_ptr_null(strstr(said, "warning"));
	/* Config state tern virtualizes is back, as after a FLR. */
	ck_assert_uint_eq(le_get(dbl.cfg + PCI_COMMAND, 2),
			  cfg_read(s, PCI_COMMAND, 2));
	ck_assert(sink.intx_bound);
	/* Every machine reset does it again. */
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.hot_resets, 2);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_hot_reset_iommufd_no_fds)
{
	struct vfio_device *v;

	dbl.no_flr = true;
	dbl.with_iommufd = true;
	dbl.hr_flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
		       VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
	dbl.hr_devs[0].group_id = 1; /* a devid */
	v = create_ok();
	ck_assert(dbl.via_cdev);
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.hot_resets, 1);
	ck_assert_uint_eq(dbl.hr_nfds, 0);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_hot_reset_iommufd_not_owned)
{
	struct vfio_device *v;
	g_autofree char *said = NULL;

	dbl.no_flr = true;
	dbl.with_iommufd = true;
	dbl.hr_flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID;
	dbl.hr_count = 2;
	dbl.hr_devs[0].group_id = 1;
	dbl.hr_devs[1] = peer;
	dbl.hr_devs[1].group_id = (uint32_t)VFIO_PCI_DEVID_NOT_OWNED;
	v = create_ok();
	said = reset_said();
	ck_assert_uint_eq(dbl.hot_resets, 0);
	ck_assert_msg(strstr(said, "0000:01:00.1 is affected too"), "%s", said);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_foreign_group_skipped_warned_once)
{
	struct vfio_device *v;
	g_autofree char *said = NULL, *again = NULL;

	dbl.no_flr = true;
	dbl.hr_count = 2;
	dbl.hr_devs[1] = peer; /* group 13: nobody in this VM has it */
	v = create_ok();
	dbl.scratch = 7;
	said = reset_said();
	ck_assert_uint_eq(dbl.hot_resets, 0);
	ck_assert_uint_eq(dbl.scratch, 7);
	ck_assert_msg(strstr(said, "warning: vfio 0000:01:00.0: no hot reset: "
				   "0000:01:00.1 in IOMMU group 13 is "
				   "affected too and is not this VM's"),
		      "%s", said);
	/* The function still works: command register and INTx back. */
	ck_assert(sink.intx_bound);
	again = reset_said();
	ck_assert_ptr_null(strstr(again, "warning"));
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_two_functions_one_reset)
{
	struct vfio_device *a, *b;
	GError *err = NULL;

	setup2();
	dbl.no_flr = dbl2.no_flr = true;
	dbl.hr_count = dbl2.hr_count = 2;
	dbl.hr_devs[1] = dbl2.hr_devs[1] = peer;
	dbl2.hr_devs[0] = self;
	a = create_ok();
	b = vfio_device_create(&machine, &vcfg2, &vfio_double_ops, &dbl2, &err);
	ck_assert_msg(b, "%s", err ? err->message : "?");
	dbl.scratch = dbl2.scratch = 7;
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.hot_resets + dbl2.hot_resets, 1);
	/* The first in slot order did it, with both groups' fds. */
	ck_assert_uint_eq(dbl.hot_resets, 1);
	ck_assert_uint_eq(dbl.hr_nfds, 2);
	ck_assert_uint_eq(dbl2.hr_info_calls, 0);
	/* And again next time: one per machine reset. */
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.hot_resets + dbl2.hot_resets, 2);
	vfio_device_destroy(b);
	vfio_device_destroy(a);
	teardown2();
}
END_TEST

START_TEST(test_peer_reset_earlier_rearmed)
{
	struct vfio_device *a, *b;
	GError *err = NULL;

	/* a (slot first) has FLR; b, on its bus, has not. */
	setup2();
	dbl2.no_flr = true;
	dbl2.hr_count = 2;
	dbl2.hr_devs[0] = self;
	dbl2.hr_devs[1] = peer;
	a = create_ok();
	b = vfio_device_create(&machine, &vcfg2, &vfio_double_ops, &dbl2, &err);
	ck_assert_msg(b, "%s", err ? err->message : "?");
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.resets, 1);
	ck_assert_uint_eq(dbl2.hot_resets, 1);
	ck_assert_uint_eq(dbl2.hr_nfds, 2);
	/* b's hot reset turned a's INTx off; a got it back. */
	ck_assert_int_ge(dbl.intx_fd, 0);
	ck_assert(sink.intx_bound);
	vfio_device_destroy(b);
	vfio_device_destroy(a);
	teardown2();
}
END_TEST

/* A host answer tern must refuse: no reset, the reason said. */
static void refused(const char *needle)
{
	struct vfio_device *v;
	g_autofree char *said = NULL;

	dbl.no_flr = true;
	v = create_ok();
	said = reset_said();
	ck_assert_uint_eq(dbl.hot_resets, 0);
	ck_assert_msg(strstr(said, needle), "'%s' lacks '%s'", said, needle);
	vfio_device_destroy(v);
}

START_TEST(test_malformed_count_zero)
{
	dbl.hr_count = 0;
	refused("reports 0 functions affected");
}
END_TEST

START_TEST(test_malformed_count_absurd)
{
	dbl.hr_count = 100000;
	refused("reports 100000 functions affected");
}
END_TEST

START_TEST(test_malformed_listed_twice)
{
	dbl.hr_count = 2;
	dbl.hr_devs[1] = self;
	refused("lists 0000:01:00.0 twice");
}
END_TEST

START_TEST(test_malformed_other_segment)
{
	dbl.hr_count = 2;
	dbl.hr_devs[1] = peer;
	dbl.hr_devs[1].segment = 1;
	refused("0001:01:00.1, not on the bus of 0000:01:00.0");
}
END_TEST

START_TEST(test_malformed_bus_above)
{
	dbl.hr_count = 2;
	dbl.hr_devs[1] = peer;
	dbl.hr_devs[1].bus = 0;
	refused("0000:00:00.1, not on the bus");
}
END_TEST

START_TEST(test_malformed_lacks_self)
{
	dbl.hr_devs[0] = peer;
	dbl.hr_devs[0].group_id = VD_GROUP;
	refused("lacks 0000:01:00.0 itself");
}
END_TEST

START_TEST(test_malformed_devid_for_group)
{
	dbl.hr_flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID;
	refused("reports device ids, not groups");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio hot reset (test double, no real device)");
	TCase *tc = tcase_create("double");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_flr_uses_device_reset);
	tcase_add_test(tc, test_hot_reset_own_group);
	tcase_add_test(tc, test_hot_reset_iommufd_no_fds);
	tcase_add_test(tc, test_hot_reset_iommufd_not_owned);
	tcase_add_test(tc, test_foreign_group_skipped_warned_once);
	tcase_add_test(tc, test_two_functions_one_reset);
	tcase_add_test(tc, test_peer_reset_earlier_rearmed);
	tcase_add_test(tc, test_malformed_count_zero);
	tcase_add_test(tc, test_malformed_count_absurd);
	tcase_add_test(tc, test_malformed_listed_twice);
	tcase_add_test(tc, test_malformed_other_segment);
	tcase_add_test(tc, test_malformed_bus_above);
	tcase_add_test(tc, test_malformed_lacks_self);
	tcase_add_test(tc, test_malformed_devid_for_group);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
