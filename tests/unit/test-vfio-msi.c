// SPDX-License-Identifier: MIT
/*
 * The passed-through function's MSI capability, against the VFIO test
 * double (test-vfio-double.h): NO REAL DEVICE OR IOMMU. Checked: the
 * capability the guest sees (the host's 64-bit and masking bits, VFIO's
 * vector count, the guest's writable bits only), enable → KVM routes,
 * irqfds and VFIO_DEVICE_SET_IRQS on the MSI index, changes while
 * enabled, masking and pending, disable → INTx, MSI against MSI-X, reset,
 * hostile guest writes, and malformed host answers. KVM is a recorder.
 */
#include "test-vfio-fixture.h"

#define MSI_ID 0x05
#define MSI_CTRL_64_MASK 0x0180
/* Offsets in a 64-bit capability with per-vector masking. */
#define MSI_ADDR_LO 4
#define MSI_ADDR_HI 8
#define MSI_DATA 12
#define MSI_MASK 16
#define MSI_PENDING 20

static unsigned int msi_cap(unsigned int s)
{
	unsigned int cap = find_cap(s, MSI_ID);

	ck_assert_uint_ne(cap, 0);
	return cap;
}

/* As a driver: message address and data, then enable with 2^mme vectors. */
static void msi_program(unsigned int s, unsigned int cap, uint32_t data,
			unsigned int mme)
{
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	cfg_write(s, cap + MSI_ADDR_LO, 0xfee00000, 4);
	cfg_write(s, cap + MSI_ADDR_HI, 0, 4);
	cfg_write(s, cap + MSI_DATA, data, 2);
	cfg_write(s, cap + 2, 0x0001 | mme << 4, 2);
}

/* The route KVM has for gsi, or NULL. */
static const struct msi_route *route_of(uint32_t gsi)
{
	for (unsigned int i = 0; i < sink.nr_routes; i++)
		if (sink.routes[i].gsi == gsi)
			return &sink.routes[i];
	return NULL;
}

/* MSI vector i at VFIO is bound to a route with data. */
static void expect_vector_live(unsigned int i, uint32_t data)
{
	uint32_t gsi;
	const struct msi_route *r;

	ck_assert_int_ge(dbl.msi_fd[i], 0);
	gsi = sink.bound_gsi[dbl.msi_fd[i]];
	ck_assert_msg(gsi, "MSI vector %u not bound", i);
	r = route_of(gsi);
	ck_assert_msg(r, "MSI vector %u: no route for GSI %u", i, gsi);
	ck_assert_uint_eq(r->addr, 0xfee00000);
	ck_assert_uint_eq(r->data, data);
}

static bool fd_pending(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

START_TEST(test_msi_cap_layout)
{
	struct vfio_device *v;
	unsigned int s, cap;
	uint8_t host_cap[24];

	memcpy(host_cap, dbl.cfg + VD_MSI_CAP, sizeof(host_cap));
	v = create_ok();
	s = vfio_device_slot(v);
	cap = msi_cap(s);
	/* The host's 64-bit and masking bits; MMC 2 from VFIO's count 4. */
	ck_assert_uint_eq(cfg_read(s, cap + 2, 2), MSI_CTRL_64_MASK | 2 << 1);
	/* Only the guest's bits are writable. */
	cfg_write(s, cap + MSI_ADDR_LO, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_ADDR_LO, 4), 0xfffffffc);
	cfg_write(s, cap + MSI_ADDR_HI, 0x12345678, 4);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_ADDR_HI, 4), 0x12345678);
	cfg_write(s, cap + MSI_DATA, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_DATA, 4), 0xffff);
	cfg_write(s, cap + MSI_MASK, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_MASK, 4), 0xf);
	cfg_write(s, cap + MSI_PENDING, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_PENDING, 4), 0);
	/* Clearing read-only control bits changes nothing. */
	cfg_write(s, cap + 2, 0, 2);
	ck_assert_uint_eq(cfg_read(s, cap + 2, 2), MSI_CTRL_64_MASK | 2 << 1);
	/* None of it reached the host's capability (vfio-pci's to program). */
	ck_assert(!memcmp(host_cap, dbl.cfg + VD_MSI_CAP, sizeof(host_cap)));
	ck_assert_uint_eq(dbl.msi_sets, 0);
	vfio_device_destroy(v);
}
END_TEST

/* A host capability without 64-bit addresses or masking: 10 bytes. */
START_TEST(test_msi_cap_32bit_nomask)
{
	struct vfio_device *v;
	unsigned int s, cap;

	le_put(dbl.cfg + VD_MSI_CAP + 2, 2 << 1, 2);
	v = create_ok();
	s = vfio_device_slot(v);
	cap = msi_cap(s);
	ck_assert_uint_eq(cfg_read(s, cap + 2, 2), 2 << 1);
	/* Data right after the 32-bit address; nothing after it is ours. */
	cfg_write(s, cap + 4, 0xfee00000, 4);
	cfg_write(s, cap + 8, 0x4321, 2);
	cfg_write(s, cap + 2, 0x0001, 2);
	ck_assert_uint_eq(dbl.msi_count, 1);
	expect_vector_live(0, 0x4321);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_msi_enable_set_irqs)
{
	struct vfio_device *v;
	unsigned int s, cap;
	int fds[VD_MSI_NVEC];

	vfio_double_msi_only(&dbl);
	v = create_ok();
	s = vfio_device_slot(v);
	ck_assert_uint_eq(find_cap(s, PCI_CAP_ID_MSIX), 0);
	cap = msi_cap(s);
	ck_assert(sink.intx_bound);
	msi_program(s, cap, 0x40, 2);
	/* vfio-pci has one interrupt type at a time: INTx went first. */
	ck_assert_uint_eq(dbl.msi_sets, 1);
	ck_assert_uint_eq(dbl.msi_count, VD_MSI_NVEC);
	ck_assert_int_eq(dbl.intx_fd, -1);
	ck_assert(!sink.intx_bound);
	ck_assert_uint_eq(sink.nr_routes, VD_MSI_NVEC);
	for (unsigned int i = 0; i < VD_MSI_NVEC; i++) {
		/* Vector i's message: its number in the low data bits. */
		expect_vector_live(i, 0x40 | i);
		fds[i] = dbl.msi_fd[i];
	}
	vfio_double_doorbell(&dbl, VD_DOORBELL_MSI + 2);
	ck_assert(fd_pending(dbl.msi_fd[2]));

	/* New data while enabled: routes follow, VFIO keeps its fds. */
	cfg_write(s, cap + MSI_DATA, 0x50, 2);
	ck_assert_uint_eq(dbl.msi_sets, 1);
	for (unsigned int i = 0; i < VD_MSI_NVEC; i++)
		expect_vector_live(i, 0x50 | i);

	/* Fewer vectors while enabled: off and on again at VFIO. */
	cfg_write(s, cap + 2, 0x0001 | 1 << 4, 2);
	ck_assert_uint_eq(dbl.msi_sets, 3);
	ck_assert_uint_eq(dbl.msi_count, 2);
	ck_assert_uint_eq(sink.nr_routes, 2);
	expect_vector_live(0, 0x50);
	expect_vector_live(1, 0x51);
	ck_assert_uint_eq(sink.bound_gsi[fds[2]], 0);
	ck_assert_uint_eq(sink.bound_gsi[fds[3]], 0);

	/* Disable: vectors taken back, unbound, unrouted; INTx again. */
	cfg_write(s, cap + 2, 0, 2);
	ck_assert_uint_eq(dbl.msi_sets, 4);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(sink.nr_routes, 0);
	for (unsigned int i = 0; i < VD_MSI_NVEC; i++)
		ck_assert_uint_eq(sink.bound_gsi[fds[i]], 0);
	ck_assert(sink.intx_bound);
	ck_assert_int_ge(dbl.intx_fd, 0);

	/* Enabled at exit: all of it goes. */
	msi_program(s, cap, 0x40, 0);
	ck_assert_uint_eq(dbl.msi_count, 1);
	vfio_device_destroy(v);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(sink.nr_routes, 0);
	ck_assert_uint_eq(sink.bound_gsi[fds[0]], 0);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
}
END_TEST

/* Masking is emulated: unbound while masked, pending, one on unmask. */
START_TEST(test_msi_mask_pending)
{
	struct vfio_device *v;
	unsigned int s, cap;
	int fd;

	vfio_double_msi_only(&dbl);
	v = create_ok();
	s = vfio_device_slot(v);
	cap = msi_cap(s);
	msi_program(s, cap, 0x40, 1);
	fd = dbl.msi_fd[1];
	expect_vector_live(1, 0x41);
	cfg_write(s, cap + MSI_MASK, 0x2, 4);
	ck_assert_uint_eq(sink.bound_gsi[fd], 0);
	expect_vector_live(0, 0x40);
	/* vfio-pci has no MSI mask: the message arrives and waits. */
	ck_assert_uint_eq(dbl.msi_sets, 1);
	vfio_double_doorbell(&dbl, VD_DOORBELL_MSI + 1);
	vfio_double_doorbell(&dbl, VD_DOORBELL_MSI + 1);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_PENDING, 4), 0x2);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_PENDING + 1, 1), 0);
	/* Unmask: bound again and one message for the two sent. */
	cfg_write(s, cap + MSI_MASK, 0, 4);
	expect_vector_live(1, 0x41);
	ck_assert(fd_pending(fd));
	ck_assert_uint_eq(cfg_read(s, cap + MSI_PENDING, 4), 0);
	{
		uint64_t n = 0;

		ck_assert_int_eq(read(fd, &n, sizeof(n)), sizeof(n));
		ck_assert_uint_eq(n, 1);
	}
	vfio_device_destroy(v);
}
END_TEST

/* vfio-pci has one type at a time: the enable set last wins. */
START_TEST(test_msi_and_msix)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v);
	unsigned int cap = msi_cap(s), xcap = find_cap(s, PCI_CAP_ID_MSIX);

	msi_program(s, cap, 0x40, 0);
	ck_assert_uint_eq(dbl.msi_count, 1);
	cfg_write(s, xcap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
	ck_assert_uint_eq(sink.bound_gsi[dbl.msi_fd[0]], 0);
	/* MSI-X off: MSI, still enabled in the capability, comes back. */
	cfg_write(s, xcap + PCI_MSIX_FLAGS, 0, 2);
	ck_assert_uint_eq(dbl.msix_count, 0);
	ck_assert_uint_eq(dbl.msi_count, 1);
	expect_vector_live(0, 0x40);
	ck_assert(!sink.intx_bound);
	/* MSI-X on, then MSI enabled again over it: MSI wins. */
	cfg_write(s, cap + 2, 0, 2);
	ck_assert(sink.intx_bound);
	cfg_write(s, xcap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert(!sink.intx_bound);
	cfg_write(s, cap + 2, 0x0001, 2);
	ck_assert_uint_eq(dbl.msix_count, 0);
	ck_assert_uint_eq(dbl.msi_count, 1);
	/* MSI off: back to MSI-X, not INTx. */
	cfg_write(s, cap + 2, 0, 2);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
	ck_assert(!sink.intx_bound);
	/* MSI on again (MSI wins), MSI-X cleared and set (MSI-X wins). */
	cfg_write(s, cap + 2, 0x0001, 2);
	cfg_write(s, xcap + PCI_MSIX_FLAGS, 0, 2);
	ck_assert_uint_eq(dbl.msi_count, 1);
	cfg_write(s, xcap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
	/* Clearing MSI, which is not in use, leaves MSI-X alone. */
	{
		unsigned int sets = dbl.msix_sets;

		cfg_write(s, cap + 2, 0, 2);
		ck_assert_uint_eq(dbl.msix_sets, sets);
		ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
		ck_assert(!sink.intx_bound);
	}
	/* Both off: INTx. */
	cfg_write(s, xcap + PCI_MSIX_FLAGS, 0, 2);
	ck_assert(sink.intx_bound);
	vfio_device_destroy(v);
}
END_TEST

/* A hostile guest: reserved and too-large enables, odd-sized writes. */
START_TEST(test_msi_hostile_guest)
{
	struct vfio_device *v;
	unsigned int s, cap;

	vfio_double_msi_only(&dbl);
	dbl.msi_irq_count = 3; /* not a power of two: 2 vectors offered */
	v = create_ok();
	s = vfio_device_slot(v);
	cap = msi_cap(s);
	ck_assert_uint_eq(cfg_read(s, cap + 2, 2), MSI_CTRL_64_MASK | 1 << 1);
	/* MME 7 (reserved): clamped to what the function has. */
	msi_program(s, cap, 0x40, 7);
	ck_assert_uint_eq((cfg_read(s, cap + 2, 2) >> 4) & 7, 1);
	ck_assert_uint_eq(dbl.msi_count, 2);
	/* Every value, every width, every offset of the capability. */
	for (unsigned int o = 0; o < 24; o++) {
		cfg_write(s, cap + o, 0xff, 1);
		cfg_write(s, cap + (o & ~1U), 0xfff7, 2);
		cfg_write(s, cap + (o & ~3U), 0xffffffff, 4);
		ck_assert_uint_le(dbl.msi_count, 2);
		ck_assert_uint_le((cfg_read(s, cap + 2, 2) >> 4) & 7, 1);
	}
	ck_assert_uint_eq(cfg_read(s, cap, 1), MSI_ID);
	ck_assert_uint_eq(cfg_read(s, cap + 2, 2) & 0x018e,
			  MSI_CTRL_64_MASK | 1 << 1);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_MASK, 4), 0x3);
	cfg_write(s, cap + 2, 0, 2);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert(sink.intx_bound);
	vfio_device_destroy(v);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
}
END_TEST

START_TEST(test_msi_reset)
{
	struct vfio_device *v;
	unsigned int s, cap;

	vfio_double_msi_only(&dbl);
	v = create_ok();
	s = vfio_device_slot(v);
	cap = msi_cap(s);
	msi_program(s, cap, 0x40, 2);
	cfg_write(s, cap + MSI_MASK, 0x1, 4);
	ck_assert_uint_eq(dbl.msi_count, VD_MSI_NVEC);
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.resets, 1);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(sink.nr_routes, 0);
	for (unsigned int i = 0; i < VD_MSI_NVEC; i++)
		ck_assert_uint_eq(sink.bound_gsi[dbl.msi_fd[i]], 0);
	ck_assert(sink.intx_bound);
	/* The guest finds MSI off, unprogrammed, and can enable it again. */
	ck_assert_uint_eq(cfg_read(s, cap + 2, 2), MSI_CTRL_64_MASK | 2 << 1);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_ADDR_LO, 4), 0);
	ck_assert_uint_eq(cfg_read(s, cap + MSI_MASK, 4), 0);
	msi_program(s, cap, 0x48, 0);
	ck_assert_uint_eq(dbl.msi_count, 1);
	expect_vector_live(0, 0x48);
	vfio_device_destroy(v);
}
END_TEST

/* VFIO refuses MSI: as QEMU, no interrupts; disable brings INTx back. */
START_TEST(test_msi_refused)
{
	struct vfio_device *v;
	unsigned int s, cap;

	vfio_double_msi_only(&dbl);
	dbl.msi_set_fails = true;
	v = create_ok();
	s = vfio_device_slot(v);
	cap = msi_cap(s);
	msi_program(s, cap, 0x40, 2);
	ck_assert_uint_eq(dbl.msi_sets, 1);
	ck_assert_uint_eq(dbl.msi_count, 0);
	ck_assert_uint_eq(sink.nr_routes, 0);
	/* No MSI-X here: no irqfd at all is bound (INTx's is resampling). */
	for (unsigned int fd = 0; fd < G_N_ELEMENTS(sink.bound_gsi); fd++)
		ck_assert_uint_eq(sink.bound_gsi[fd], 0);
	ck_assert(!sink.intx_bound);
	/* Writes while enabled do not retry; disable does not call VFIO. */
	cfg_write(s, cap + MSI_DATA, 0x50, 2);
	ck_assert_uint_eq(dbl.msi_sets, 1);
	cfg_write(s, cap + 2, 0, 2);
	ck_assert_uint_eq(dbl.msi_sets, 1);
	ck_assert(sink.intx_bound);
	vfio_device_destroy(v);
}
END_TEST

/* VFIO refuses MSI-X: clearing its enable still brings back INTx. */
START_TEST(test_msix_refused_intx_back)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v);
	unsigned int xcap = find_cap(s, PCI_CAP_ID_MSIX);

	/* The double thinks MSI is on, so it refuses MSI-X. */
	dbl.msi_count = 1;
	cfg_write(s, xcap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(dbl.msix_count, 0);
	ck_assert(!sink.intx_bound);
	dbl.msi_count = 0;
	cfg_write(s, xcap + PCI_MSIX_FLAGS, 0, 2);
	ck_assert(sink.intx_bound);
	ck_assert_int_ge(dbl.intx_fd, 0);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_msi_irq_count_zero)
{
	dbl.msi_irq_count = 0;
	create_fails("offers 0 MSI vectors");
}
END_TEST

START_TEST(test_msi_irq_count_too_many)
{
	dbl.msi_irq_count = 64;
	create_fails("offers 64 MSI vectors");
}
END_TEST

START_TEST(test_msi_cap_past_config_space)
{
	/* MSI-X's next is a 24-byte MSI capability at 0xf0. */
	dbl.cfg[0x49] = 0xf0;
	dbl.cfg[0xf0] = MSI_ID;
	dbl.cfg[0xf1] = 0;
	le_put(dbl.cfg + 0xf2, MSI_CTRL_64_MASK, 2);
	create_fails(
	    "MSI capability at 0xf0 (24 bytes) runs past config space");
}
END_TEST

START_TEST(test_msi_twice)
{
	/* The vendor capability's next is a second MSI capability. */
	dbl.cfg[VD_VNDR_CAP + 1] = 0xc0;
	dbl.cfg[0xc0] = MSI_ID;
	create_fails("two MSI capabilities");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio MSI (test double, no real device)");
	TCase *tc = tcase_create("double");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_msi_cap_layout);
	tcase_add_test(tc, test_msi_cap_32bit_nomask);
	tcase_add_test(tc, test_msi_enable_set_irqs);
	tcase_add_test(tc, test_msi_mask_pending);
	tcase_add_test(tc, test_msi_and_msix);
	tcase_add_test(tc, test_msi_hostile_guest);
	tcase_add_test(tc, test_msi_reset);
	tcase_add_test(tc, test_msi_refused);
	tcase_add_test(tc, test_msix_refused_intx_back);
	tcase_add_test(tc, test_msi_irq_count_zero);
	tcase_add_test(tc, test_msi_irq_count_too_many);
	tcase_add_test(tc, test_msi_cap_past_config_space);
	tcase_add_test(tc, test_msi_twice);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
