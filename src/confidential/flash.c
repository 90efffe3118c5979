// SPDX-License-Identifier: MIT
/*
 * --firmware: a flash image mapped read-only so that it ends at 4 GiB, as
 * QEMU's -bios does, for the vCPU to start at the reset vector (CS base
 * 0xffff0000, IP 0xfff0: KVM's reset state, which tern leaves alone when
 * booting firmware). Guest writes to it exit to tern as MMIO that no device
 * claims. At most 16 MiB, so it stays above the LAPIC at 0xfee00000.
 * A guest with private memory (SEV-SNP) cannot have a read-only slot: its
 * flash is RAM in a guest_memfd, bound and measured by the launch
 * (vm_launch.c), as QEMU maps OVMF for SNP.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "tern/confidential.h"
#include "tern/error.h"

static int flash_slot_set(int vm_fd, const struct flash_image *f,
			  uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = FLASH_KVM_SLOT,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = f->gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)f->hva,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

bool flash_image_map(struct flash_image *f, int vm_fd, const char *path,
		     bool private_mem, GError **err)
{
	g_autofree uint8_t *img = NULL;
	size_t len;
	int ret;

	memset(f, 0, sizeof(*f));
	ret = file_read_all(path, FLASH_MAX_SIZE, &img, &len);
	if (ret < 0 || !len || len % CONF_PAGE_SIZE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "--firmware %s: %s", path,
			    ret == -EFBIG ? "larger than 16 MiB" :
			    ret < 0	  ? g_strerror(-ret) :
					    "not a whole number of 4 KiB pages");
		return false;
	}
	if (!private_mem &&
	    ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) {
		g_set_error_literal(err, TERN_ERROR, TERN_ERROR_HOST,
				    "--firmware: KVM lacks KVM_CAP_READONLY_MEM for the flash");
		return false;
	}
	f->hva = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->hva == MAP_FAILED) {
		f->hva = NULL;
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--firmware: cannot map %zu bytes: %s", len,
			    g_strerror(errno));
		return false;
	}
	memcpy(f->hva, img, len);
	f->size = len;
	f->gpa = (1ull << 32) - len;
	f->private_mem = private_mem;
	/* Private: the launch binds it to a guest_memfd and loads it. */
	if (private_mem)
		return true;
	/* Nothing on the host writes it after this either. */
	mprotect(f->hva, len, PROT_READ);
	ret = flash_slot_set(vm_fd, f, len);
	if (ret < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "--firmware: KVM_SET_USER_MEMORY_REGION at %#llx: %s",
			    (unsigned long long)f->gpa, g_strerror(-ret));
		munmap(f->hva, len);
		memset(f, 0, sizeof(*f));
		return false;
	}
	return true;
}

void flash_image_unmap(struct flash_image *f)
{
	if (!f->hva)
		return;
	/*
	 * The slot stays until the VM fd closes: deleting it would be an ioctl
	 * the sealed main thread may not make, and no vCPU runs any more.
	 */
	munmap(f->hva, f->size);
	memset(f, 0, sizeof(*f));
}
