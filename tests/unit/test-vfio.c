// SPDX-License-Identifier: MIT
/*
 * VFIO passthrough driven through a test double of the VFIO/iommufd
 * uAPI (test-vfio-double.h): NO REAL DEVICE OR IOMMU. What is checked is
 * tern's side of the contract: the ioctl sequence and its arguments, DMA
 * map bookkeeping, config space virtualization, BAR sizing and moves
 * (trapped accesses and KVM slots), MSI-X enable → VFIO_DEVICE_SET_IRQS,
 * INTx with a resample fd, reset, release, and malformed host answers.
 * The guest's side is played with config cycles on 0xcf8/0xcfc and
 * accesses on the MMIO bus; KVM is a recorder.
 */
#include "test-vfio-fixture.h"

/* ---- tests ---- */

START_TEST(test_config_parse)
{
	struct vfio_config c;
	GError *err = NULL;

	ck_assert(vfio_config_parse("vfio=01:00.0", &c, NULL));
	ck_assert_str_eq(c.addr, "0000:01:00.0");
	ck_assert_str_eq(c.sysfs, "/sys/bus/pci/devices/0000:01:00.0");
	ck_assert_int_eq(c.iommufd, VFIO_IOMMUFD_AUTO);
	vfio_config_clear(&c);
	ck_assert(vfio_config_parse(
	    "vfio=/sys/bus/pci/devices/0000:3A:1f.7,iommufd=off", &c, NULL));
	ck_assert_str_eq(c.addr, "0000:3a:1f.7");
	ck_assert_int_eq(c.iommufd, VFIO_IOMMUFD_OFF);
	vfio_config_clear(&c);
	ck_assert(vfio_config_parse("vfio=0000:01:00.0,iommufd=on", &c, NULL));
	ck_assert_int_eq(c.iommufd, VFIO_IOMMUFD_ON);
	vfio_config_clear(&c);

	static const char *const bad[] = {
	    "vfio",
	    "vfio=",
	    "vfio=1:0.0",
	    "vfio=0000:01:20.0",
	    "vfio=0000:01:00.8",
	    "vfio=zz:00.0",
	    "vfio=0000:01:00.0,iommufd=maybe",
	    "vfio=0000:01:00.0,iommufd=on,iommufd=off",
	    "vfio=0000:01:00.0,x=1",
	    "virtio=1",
	    "vfio=/sys/bus/pci/devices/",
	};
	for (unsigned int i = 0; i < G_N_ELEMENTS(bad); i++) {
		ck_assert_msg(!vfio_config_parse(bad[i], &c, &err), "%s",
			      bad[i]);
		ck_assert_msg(strstr(err->message, "--device"), "%s",
			      err->message);
		ck_assert_int_eq(err->code, TERN_ERROR_INPUT);
		g_clear_error(&err);
	}
}
END_TEST

/* --device as `tern run` parses it (src/vmm/config.c). */
static bool run_parse(struct vm_config *c, GError **err, ...)
{
	char *argv[32] = {"run"};
	int argc = 1;
	va_list ap;

	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	return config_parse_run(argc, argv, c, err);
}

START_TEST(test_cli_device)
{
	struct vm_config c;
	GError *err = NULL;

	ck_assert(run_parse(&c, NULL, "--device", "vfio=01:00.0", "--device",
			    "vfio=0000:02:00.0,iommufd=off", NULL));
	ck_assert_uint_eq(c.nr_vfio, 2);
	ck_assert_str_eq(c.vfio[1].addr, "0000:02:00.0");
	ck_assert_int_eq(c.vfio[1].iommufd, VFIO_IOMMUFD_OFF);
	config_clear(&c);

	ck_assert(!run_parse(&c, &err, "--device", "vfio=01:00.0", "--device",
			     "vfio=/sys/bus/pci/devices/0000:01:00.0", NULL));
	ck_assert_msg(strstr(err->message, "0000:01:00.0 given twice"), "%s",
		      err->message);
	g_clear_error(&err);
	ck_assert(!run_parse(&c, &err, "--device", "vfio=1:0:0", NULL));
	ck_assert_int_eq(err->code, TERN_ERROR_INPUT);
	g_clear_error(&err);
	{
		char specs[9][24];
		char *argv[20] = {"run"};

		for (unsigned int i = 0; i < 9; i++) {
			snprintf(specs[i], sizeof(specs[i]),
				 "vfio=0000:0%u:00.0", i);
			argv[1 + 2 * i] = "--device";
			argv[2 + 2 * i] = specs[i];
		}
		ck_assert(!config_parse_run(19, argv, &c, &err));
		ck_assert_msg(strstr(err->message, "at most 8"), "%s",
			      err->message);
		g_clear_error(&err);
	}
}
END_TEST

START_TEST(test_legacy_sequence_and_release)
{
	struct vfio_device *v = create_ok();

	ck_assert_msg(vfio_double_log_has(
			  &dbl,
			  "GET_API_VERSION CHECK_EXTENSION GROUP_GET_STATUS "
			  "GROUP_SET_CONTAINER SET_IOMMU GROUP_GET_DEVICE_FD "
			  "DEVICE_GET_INFO"),
		      "%s", dbl.log);
	ck_assert(!vfio_double_log_has(&dbl, "BIND_IOMMUFD"));
	/* Every RAM region mapped once, IOVA == GPA. */
	ck_assert_uint_eq(dbl.nr_dma, mem.nr_regions);
	ck_assert_uint_eq(mem.nr_regions, 2);
	for (unsigned int i = 0; i < mem.nr_regions; i++) {
		ck_assert_uint_eq(dbl.dma[i].iova, mem.regions[i].gpa);
		ck_assert_uint_eq(dbl.dma[i].size, mem.regions[i].size);
		ck_assert_uint_eq(dbl.dma[i].vaddr,
				  (uintptr_t)mem.regions[i].hva);
	}
	/* INTx armed: trigger + unmask (resample) fds, irqfd with resample. */
	ck_assert(sink.intx_bound);
	ck_assert_int_eq(dbl.intx_fd, sink.intx_fd);
	ck_assert_int_eq(dbl.intx_unmask_fd, sink.intx_resample_fd);
	ck_assert_uint_eq(sink.intx_gsi, pci_intx_gsi(vfio_device_slot(v), 0));
	ck_assert_str_eq(vfio_device_host_addr(v), VD_ADDR);

	vfio_device_destroy(v);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
	ck_assert_uint_eq(dbl.nr_dma, 0);
	ck_assert_uint_eq(dbl.unmaps, dbl.maps);
	ck_assert(!sink.intx_bound);
	ck_assert_int_eq(dbl.intx_fd, -1);
	ck_assert_uint_eq(dbl.munmaps, dbl.mmaps);
	ck_assert_msg(vfio_double_log_has(
			  &dbl, "UNMAP_DMA UNMAP_DMA GROUP_UNSET_CONTAINER"),
		      "%s", dbl.log);
}
END_TEST

START_TEST(test_iommufd_sequence)
{
	struct vfio_device *v;

	dbl.with_iommufd = true;
	v = create_ok();
	ck_assert_msg(
	    vfio_double_log_has(
		&dbl,
		"BIND_IOMMUFD IOAS_ALLOC ATTACH_IOMMUFD_PT DEVICE_GET_INFO"),
	    "%s", dbl.log);
	ck_assert_msg(vfio_double_log_has(&dbl, "IOAS_MAP IOAS_MAP"), "%s",
		      dbl.log);
	ck_assert(!vfio_double_log_has(&dbl, "GET_API_VERSION"));
	ck_assert(!dbl.open_fd[VD_FD_CONTAINER - VD_FD_CONTAINER]);
	ck_assert_uint_eq(dbl.nr_dma, mem.nr_regions);
	vfio_device_destroy(v);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
	ck_assert_uint_eq(dbl.nr_dma, 0);
	ck_assert_msg(
	    vfio_double_log_has(&dbl, "IOAS_UNMAP IOAS_UNMAP IOMMU_DESTROY"),
	    "%s", dbl.log);
}
END_TEST

START_TEST(test_iommufd_off_uses_group)
{
	struct vfio_device *v;

	vfio_config_clear(&vcfg);
	ck_assert(
	    vfio_config_parse("vfio=" VD_ADDR ",iommufd=off", &vcfg, NULL));
	dbl.with_iommufd = true;
	v = create_ok();
	ck_assert(vfio_double_log_has(&dbl, "GROUP_GET_DEVICE_FD"));
	ck_assert(!vfio_double_log_has(&dbl, "BIND_IOMMUFD"));
	vfio_device_destroy(v);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
}
END_TEST

START_TEST(test_iommufd_on_missing)
{
	vfio_config_clear(&vcfg);
	ck_assert(
	    vfio_config_parse("vfio=" VD_ADDR ",iommufd=on", &vcfg, NULL));
	create_fails("/dev/iommu");
}
END_TEST

START_TEST(test_config_space)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v), pm, vndr;

	ck_assert_uint_eq(cfg_read(s, PCI_VENDOR_ID, 2), VD_VENDOR);
	ck_assert_uint_eq(cfg_read(s, PCI_DEVICE_ID, 2), VD_DEVICE);
	ck_assert_uint_eq(cfg_read(s, PCI_REVISION_ID, 4) >> 8, 0xff0000);
	ck_assert_uint_eq(cfg_read(s, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_eq(cfg_read(s, PCI_INTERRUPT_PIN, 1), 1);
	/* Decoding is on from the start, in tern's config space and the host's.
	 */
	ck_assert_uint_eq(cfg_read(s, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY,
			  PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(le_get(dbl.cfg + PCI_COMMAND, 2),
			  cfg_read(s, PCI_COMMAND, 2));
	/* No expansion ROM, whatever the guest writes. */
	cfg_write(s, PCI_ROM_ADDRESS, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, PCI_ROM_ADDRESS, 4), 0);
	/* PM and vendor pass through, MSI-X and MSI are ours (MSI: test-vfio-msi). */
	pm = find_cap(s, 0x01);
	vndr = find_cap(s, PCI_CAP_ID_VNDR);
	ck_assert_uint_ne(pm, 0);
	ck_assert_uint_ne(vndr, 0);
	ck_assert_uint_ne(find_cap(s, PCI_CAP_ID_MSIX), 0);
	ck_assert_uint_ne(find_cap(s, 0x05), 0);
	ck_assert_uint_eq(cfg_read(s, vndr + 2, 1), 8);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_uint_eq(cfg_read(s, vndr + 3 + i, 1), "TERN"[i]);
	/* A write to PMCSR reaches the function; so does the command. */
	cfg_write(s, pm + 4, 0x0003, 2);
	ck_assert_uint_eq(le_get(dbl.cfg + 0x44, 2), 0x0003);
	ck_assert_uint_eq(cfg_read(s, pm + 4, 2), 0x0003);
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ck_assert_uint_eq(le_get(dbl.cfg + PCI_COMMAND, 2),
			  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* The MSI-X table size is the host's. */
	ck_assert_uint_eq(
	    (cfg_read(s, find_cap(s, PCI_CAP_ID_MSIX) + 2, 2) & 0x7ff) + 1,
	    VD_NVEC);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_bar_sizing_and_move)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v);
	uint64_t a0 = 0xc8000000, a0b = 0xc9000000, a2 = 0xd0000000,
		 a2b = 0xd1000000;
	uint32_t old1;

	/* Sizes and types as the host's BARs. */
	cfg_write(s, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 8, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, PCI_BASE_ADDRESS_0 + 8, 4), 0xffffc00c);

	cfg_write(s, PCI_COMMAND, 0, 2);
	cfg_write(s, PCI_BASE_ADDRESS_0, (uint32_t)a0, 4);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 8, (uint32_t)a2, 4);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 12, 0, 4);
	ck_assert_uint_eq(sink.slots[0].size + sink.slots[1].size, 0);
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);

	/* BAR0 is trapped: reads and writes reach the registers. */
	ck_assert_uint_eq(mmio_read32(a0 + VD_REG_ID), VD_ID);
	mmio_write32(a0 + VD_REG_SCRATCH, 0x12345678);
	ck_assert_uint_eq(dbl.scratch, 0x12345678);
	ck_assert_uint_eq(mmio_read32(a0 + VD_REG_SCRATCH), 0x12345678);

	/* BAR2's mmap'able first 8 KiB is a KVM slot; the rest is trapped. */
	ck_assert_uint_eq(sink.slots[0].gpa, a2);
	ck_assert_uint_eq(sink.slots[0].size, VD_BAR2_MMAP);
	ck_assert_ptr_eq(sink.slots[0].hva, dbl.bar2);
	dbl.bar2[VD_BAR2_MMAP + 4] = 0x5a;
	ck_assert_uint_eq(mmio_read32(a2 + VD_BAR2_MMAP + 4) & 0xff, 0x5a);
	mmio_write32(a2 + VD_BAR2_MMAP + 8, 0xa5a5a5a5);
	ck_assert_uint_eq(le_get(dbl.bar2 + VD_BAR2_MMAP + 8, 4), 0xa5a5a5a5);

	/* The guest moves both BARs: traps and the slot follow. */
	cfg_write(s, PCI_BASE_ADDRESS_0, (uint32_t)a0b, 4);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 8, (uint32_t)a2b, 4);
	{
		uint32_t x;

		ck_assert(!bus_read(&mmio, a0 + VD_REG_ID, &x, 4));
	}
	ck_assert_uint_eq(mmio_read32(a0b + VD_REG_ID), VD_ID);
	ck_assert_uint_eq(sink.slots[0].gpa, a2b);
	ck_assert_uint_eq(sink.slots[0].size, VD_BAR2_MMAP);

	/* Decoding off: the slot goes. */
	cfg_write(s, PCI_COMMAND, 0, 2);
	ck_assert_uint_eq(sink.slots[0].size, 0);

	/* The host's own MSI-X table (BAR1) is out of the guest's reach. */
	cfg_write(s, PCI_BASE_ADDRESS_0 + 4, 0xca000000, 4);
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	old1 = le_get(dbl.msix_table, 4);
	mmio_write32(0xca000000, 0xdeadbeef);
	ck_assert_uint_eq(le_get(dbl.msix_table, 4), old1);
	ck_assert_uint_eq(mmio_read32(0xca000000), 0xffffffff);
	vfio_device_destroy(v);
	ck_assert_uint_eq(sink.slots[0].size, 0);
}
END_TEST

START_TEST(test_io_bar)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v);
	uint32_t x = 0;

	cfg_write(s, PCI_BASE_ADDRESS_0 + 20, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(s, PCI_BASE_ADDRESS_0 + 20, 4), 0xffffffe1);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 20, 0xd000, 4);
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_IO, 2);
	dbl.ports[4] = 0x42;
	ck_assert(bus_read(&pio, 0xd004, &x, 1));
	ck_assert_uint_eq(x, 0x42);
	x = 0x1234;
	ck_assert(bus_write(&pio, 0xd010, &x, 2));
	ck_assert_uint_eq(le_get(dbl.ports + 0x10, 2), 0x1234);
	/* The guest's I/O enable reached the function. */
	ck_assert_uint_eq(le_get(dbl.cfg + PCI_COMMAND, 2), PCI_COMMAND_IO);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_mmap_refused_stays_trapped)
{
	struct vfio_device *v;
	unsigned int s;

	dbl.mmap_fails = true;
	v = create_ok();
	s = vfio_device_slot(v);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 8, 0xd0000000, 4);
	cfg_write(s, PCI_BASE_ADDRESS_0 + 12, 0, 4);
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	ck_assert_uint_eq(sink.slot_calls, 0);
	dbl.bar2[16] = 0x77;
	ck_assert_uint_eq(mmio_read32(0xd0000000 + 16) & 0xff, 0x77);
	vfio_device_destroy(v);
}
END_TEST

/* Program MSI-X vector vec to addr/data, unmasked; BAR at table_addr. */
static void msix_setup(unsigned int s, unsigned int cap, uint64_t table_addr)
{
	unsigned int bir = cfg_read(s, cap + PCI_MSIX_TABLE, 4) & 7;

	cfg_write(s, PCI_BASE_ADDRESS_0 + 4 * bir, (uint32_t)table_addr, 4);
	cfg_write(s, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	mmio_write32(table_addr + 0, 0xfee00000);
	mmio_write32(table_addr + 4, 0);
	mmio_write32(table_addr + 8, 0x41);
	mmio_write32(table_addr + 12, 0);
}

START_TEST(test_msix_enable_set_irqs)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v);
	unsigned int cap = find_cap(s, PCI_CAP_ID_MSIX);
	unsigned int bir = cfg_read(s, cap + PCI_MSIX_TABLE, 4) & 7;
	struct pollfd p;

	/* The emulated table sits in a BAR the host function leaves free. */
	ck_assert_uint_eq(bir, 4);
	msix_setup(s, cap, 0xcc000000);
	ck_assert_uint_eq(dbl.msix_sets, 0);
	cfg_write(s, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(dbl.msix_sets, 1);
	ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
	/* INTx went off first: vfio-pci has one type at a time. */
	ck_assert_int_eq(dbl.intx_fd, -1);
	ck_assert(!sink.intx_bound);
	/* Vector 0's eventfd is the one KVM injects from, at its route. */
	ck_assert_uint_ne(sink.bound_gsi[dbl.msix_fd[0]], 0);
	ck_assert_uint_eq(sink.nr_routes, 1);
	ck_assert_uint_eq(sink.routes[0].gsi, sink.bound_gsi[dbl.msix_fd[0]]);
	ck_assert_uint_eq(sink.routes[0].data, 0x41);
	for (unsigned int i = 1; i < VD_NVEC; i++) {
		ck_assert_int_ge(dbl.msix_fd[i], 0);
		ck_assert_int_ne(dbl.msix_fd[i], dbl.msix_fd[0]);
		ck_assert_uint_eq(sink.bound_gsi[dbl.msix_fd[i]],
				  0); /* masked */
	}
	/* The device fires vector 1 (masked): it pends in the PBA. */
	vfio_double_doorbell(&dbl, 1);
	p = (struct pollfd){.fd = dbl.msix_fd[1], .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	ck_assert_uint_eq(mmio_read32(0xcc000000 + 0x800) & 0xf, 0x2);

	/* Disable: vectors taken back, INTx re-armed. */
	cfg_write(s, cap + PCI_MSIX_FLAGS, 0, 2);
	ck_assert_uint_eq(dbl.msix_sets, 2);
	ck_assert_uint_eq(dbl.msix_count, 0);
	ck_assert(sink.intx_bound);
	ck_assert_int_ge(dbl.intx_fd, 0);
	vfio_device_destroy(v);
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
}
END_TEST

START_TEST(test_intx_resample)
{
	struct vfio_device *v = create_ok();
	struct pollfd p;
	uint64_t n = 1;

	ck_assert(sink.intx_bound);
	/* The device raises INTx: the trigger fd KVM listens on fires. */
	vfio_double_doorbell(&dbl, VD_DOORBELL_INTX);
	p = (struct pollfd){.fd = sink.intx_fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	ck_assert(read(sink.intx_fd, &n, 8) == 8);
	ck_assert(dbl.intx_masked);
	/* KVM signals resample on EOI; the still-high line fires again. */
	ck_assert(write(sink.intx_resample_fd, &n, 8) == 8);
	{
		uint32_t id;

		ck_assert(
		    vfio_double_ops.pread(&dbl, VD_FD_DEVICE, &id, 4, 0) == 4);
	}
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_reset)
{
	struct vfio_device *v = create_ok();
	unsigned int s = vfio_device_slot(v);
	unsigned int cap = find_cap(s, PCI_CAP_ID_MSIX);

	msix_setup(s, cap, 0xcc000000);
	cfg_write(s, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
	dbl.scratch = 7;
	pci_host_reset(host);
	ck_assert_uint_eq(dbl.resets, 1);
	ck_assert_uint_eq(dbl.scratch, 0);
	/* The function decodes again, as tern's config space says. */
	ck_assert_uint_eq(le_get(dbl.cfg + PCI_COMMAND, 2),
			  cfg_read(s, PCI_COMMAND, 2));
	ck_assert_uint_ne(le_get(dbl.cfg + PCI_COMMAND, 2) & PCI_COMMAND_MEMORY,
			  0);
	ck_assert_uint_eq(dbl.msix_count, 0);
	ck_assert(sink.intx_bound);
	ck_assert_uint_eq(
	    cfg_read(s, cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE, 0);
	/* The guest enables MSI-X again after the reset: it works. */
	msix_setup(s, cap, 0xcc000000);
	cfg_write(s, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	ck_assert_uint_eq(dbl.msix_count, VD_NVEC);
	vfio_device_destroy(v);
}
END_TEST

START_TEST(test_group_in_use)
{
	struct vfio_device *v;
	GError *err = NULL;

	/* Another process has the group open: vfio allows one open. */
	dbl.open_fd[VD_FD_GROUP - VD_FD_CONTAINER] = true;
	v = vfio_device_create(&machine, &vcfg, &vfio_double_ops, &dbl, &err);
	ck_assert_ptr_null(v);
	ck_assert_msg(strstr(err->message, "/dev/vfio/12: in use"), "%s",
		      err->message);
	g_error_free(err);
	dbl.open_fd[VD_FD_GROUP - VD_FD_CONTAINER] = false;
	ck_assert_uint_eq(vfio_double_open_fds(&dbl), 0);
	ck_assert_uint_eq(dbl.nr_dma, 0);
}
END_TEST

START_TEST(test_no_container)
{
	dbl.no_container = true;
	create_fails("/dev/vfio/vfio is missing");
}
END_TEST

START_TEST(test_no_group)
{
	dbl.no_iommu_group = true;
	create_fails("IOMMU group");
}
END_TEST

START_TEST(test_not_viable)
{
	dbl.not_viable = true;
	create_fails("group 12 is not viable");
}
END_TEST

START_TEST(test_no_type1v2)
{
	dbl.no_type1v2 = true;
	create_fails("type1v2");
}
END_TEST

START_TEST(test_config_region_too_small)
{
	dbl.small_config = true;
	create_fails("config region too small");
}
END_TEST

START_TEST(test_msix_irq_count_zero)
{
	dbl.msix_count0 = true;
	create_fails("0 MSI-X interrupts");
}
END_TEST

START_TEST(test_msix_bar_too_small)
{
	dbl.small_msix_bar = true;
	create_fails("BAR1 region too small");
}
END_TEST

START_TEST(test_malformed_cap_list)
{
	dbl.cfg[VD_VNDR_CAP + 1] = VD_VNDR_CAP; /* the vendor capability points at itself */
	create_fails("capability list is malformed");
}
END_TEST

/* The device_type row refuses what it cannot work with, touching no host. */
START_TEST(test_type_refusals)
{
	GError *err = NULL;

	vmcfg.nr_vfio = 1;
	vmcfg.vfio = &vcfg;
	ck_assert_uint_eq(vfio_device_type.count(&vmcfg), 1);
	vmcfg.balloon.enabled = true;
	ck_assert_ptr_null(vfio_device_type.create(&machine, 0, &err));
	ck_assert_msg(strstr(err->message, "--balloon"), "%s", err->message);
	ck_assert_int_eq(err->code, TERN_ERROR_INPUT);
	g_clear_error(&err);
	vmcfg.balloon.enabled = false;
	vmcfg.jail_dir = "/tmp/jail";
	ck_assert_ptr_null(vfio_device_type.create(&machine, 0, &err));
	ck_assert_msg(strstr(err->message, "--jail"), "%s", err->message);
	g_clear_error(&err);
	vmcfg.jail_dir = NULL;
	vmcfg.vfio = NULL;
	vmcfg.nr_vfio = 0;
}
END_TEST

START_TEST(test_no_pci_host)
{
	machine.pci = NULL;
	create_fails("no PCI host");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vfio (test double, no real device)");
	TCase *tc = tcase_create("double");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_parse);
	tcase_add_test(tc, test_cli_device);
	tcase_add_test(tc, test_legacy_sequence_and_release);
	tcase_add_test(tc, test_iommufd_sequence);
	tcase_add_test(tc, test_iommufd_off_uses_group);
	tcase_add_test(tc, test_iommufd_on_missing);
	tcase_add_test(tc, test_config_space);
	tcase_add_test(tc, test_bar_sizing_and_move);
	tcase_add_test(tc, test_io_bar);
	tcase_add_test(tc, test_mmap_refused_stays_trapped);
	tcase_add_test(tc, test_msix_enable_set_irqs);
	tcase_add_test(tc, test_intx_resample);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_group_in_use);
	tcase_add_test(tc, test_no_container);
	tcase_add_test(tc, test_no_group);
	tcase_add_test(tc, test_not_viable);
	tcase_add_test(tc, test_no_type1v2);
	tcase_add_test(tc, test_config_region_too_small);
	tcase_add_test(tc, test_msix_irq_count_zero);
	tcase_add_test(tc, test_msix_bar_too_small);
	tcase_add_test(tc, test_malformed_cap_list);
	tcase_add_test(tc, test_no_pci_host);
	tcase_add_test(tc, test_type_refusals);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
