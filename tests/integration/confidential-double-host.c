// SPDX-License-Identifier: MIT
/*
 * TEST ONLY: the host side of tern-confidential-double, a tern built for
 * tests/integration/confidential-double.sh. It defines
 * confidential_host_default (which the product binary takes from
 * src/confidential/host_kvm.c) so that the KVM confidential ioctls
 * (KVM_MEMORY_ENCRYPT_OP, KVM_MEMORY_ENCRYPT_REG_REGION) and /dev/sev are
 * answered by the simulated PSP of tests/unit/test-confidential-fake.h,
 * while the real KVM runs an ordinary VM (KVM_CREATE_VM type 0). Nothing
 * is encrypted: the guest reads its memory in the clear, and the
 * "measurement" is the double's digest of what tern handed it (no HMAC).
 * vCPU register ioctls go to the real KVM; the double watches them to
 * learn each vCPU's start state, as KVM reads it into the VMSA.
 *
 * SEV-SNP: KVM_CREATE_GUEST_MEMFD gets a real memfd of the size asked
 * (so tern's hole punching is real) standing for the fake's descriptor;
 * each KVM_SET_USER_MEMORY_REGION2 is checked by the fake and then made an
 * ordinary slot of the real KVM at the same place (the shared view: the
 * guest runs in the clear); KVM_SET_MEMORY_ATTRIBUTES is the fake's, and
 * after the launch each one is printed ("confidential double: attributes
 * GPA +SIZE private|shared") for the test to compare with what the guest
 * asked. SNP_LAUNCH_FINISH prints the digest the double measured.
 *
 * Any order or content violation the double detects fails that call
 * with -EPROTO and prints "confidential double: violation: ..." on
 * stderr, so the launch (and the test) fails. It also prints what
 * LAUNCH_START was handed, and TERN_CONF_DOUBLE_FAIL=ID makes the
 * firmware fail command ID (an arbitrary status) for the error paths;
 * TERN_CONF_DOUBLE_CPUID_REJECTS=N makes the SNP firmware refuse the CPUID
 * page N times, writing a corrected page back (its first 16 bytes 0xc1).
 * Process-wide state: one VM.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test-confidential-fake.h"
#include "tern/confidential_vm.h"

#define DBL_SEV_FD 77 /* what the simulated PSP expects */

static struct fake_kvm *dbl;
static int dbl_sev_fd = -1;
static uint64_t dbl_cs_base[FAKE_MAX_VCPUS];
static pthread_mutex_t dbl_lock = PTHREAD_MUTEX_INITIALIZER;
/* Real memfds standing for the fake's guest_memfd numbers. */
#define DBL_MAX_GMEM 8
static int dbl_gmem_real[DBL_MAX_GMEM], dbl_gmem_fake[DBL_MAX_GMEM];
static unsigned int dbl_nr_gmem;

/* The violation count before a call; > after it: the call failed. */
static int dbl_check(unsigned int before, int ret)
{
	if (dbl->violations == before)
		return ret;
	fprintf(stderr, "confidential double: violation: %s\n",
		dbl->first_violation);
	return -EPROTO;
}

static unsigned long dbl_vm_type(enum confidential_kind kind)
{
	pthread_mutex_lock(&dbl_lock);
	if (!dbl && kind) {
		const char *fail = getenv("TERN_CONF_DOUBLE_FAIL");
		const char *rejects = getenv("TERN_CONF_DOUBLE_CPUID_REJECTS");

		dbl = fake_new(kind, 0);
		dbl->require_enc = true;
		/* The SNP firmware refuses the CPUID page this many times,
		 * writing its corrected page back. */
		if (rejects)
			dbl->cpuid_rejects = atoi(rejects);
		if (fail) {
			dbl->fail_id = (uint32_t)strtoul(fail, NULL, 0);
			dbl->fail_armed = true;
		}
	}
	pthread_mutex_unlock(&dbl_lock);
	/* The real KVM builds an ordinary VM: this host has no SEV. */
	return 0;
}

static int dbl_vm_types(const char *dev)
{
	/* The VM types of an SNP host, and TDX's. */
	return 1 << CONF_KVM_X86_DEFAULT_VM | 1 << CONF_KVM_X86_SEV_VM |
	       1 << CONF_KVM_X86_SEV_ES_VM | 1 << CONF_KVM_X86_SNP_VM |
	       1 << CONF_KVM_X86_TDX_VM;
}

static int dbl_sev_open(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	dbl_sev_fd = fd;
	return fd;
}

static void dbl_sev_close(int fd)
{
	close(fd);
}

static int dbl_platform_status(int sev_fd, struct sev_platform_info *info,
			       uint32_t *fw_error)
{
	if (sev_fd != dbl_sev_fd)
		return -EBADF;
	/* Made-up numbers the test checks query-sev against. */
	info->api_major = 1;
	info->api_minor = 55;
	info->build_id = 21;
	info->flags = SEV_STATUS_FLAGS_CONFIG_ES;
	return 0;
}

/* guest_memfd: the fake's number, and a real memfd tern may punch. */
static int dbl_gmem_create(struct conf_kvm_create_guest_memfd *gm)
{
	int fake = fake_ops.vm_ioctl(dbl, CONF_KVM_CREATE_GUEST_MEMFD, gm);
	int fd;

	if (fake < 0 || dbl_nr_gmem == DBL_MAX_GMEM)
		return fake < 0 ? fake : -EMFILE;
	fd = memfd_create("confidential-double-gmem", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)gm->size) < 0) {
		close(fd);
		return -errno;
	}
	dbl_gmem_real[dbl_nr_gmem] = fd;
	dbl_gmem_fake[dbl_nr_gmem++] = fake;
	return fd;
}

/* The fake checks the slot; the real KVM gets it as ordinary memory. */
static int dbl_region2(int vm_fd, struct conf_kvm_userspace_memory_region2 *r)
{
	struct kvm_userspace_memory_region real = {
		.slot = r->slot,
		.guest_phys_addr = r->guest_phys_addr,
		.memory_size = r->memory_size,
		.userspace_addr = r->userspace_addr,
	};
	uint32_t fd = r->guest_memfd;
	int ret;

	for (unsigned int i = 0; i < dbl_nr_gmem; i++)
		if ((uint32_t)dbl_gmem_real[i] == fd)
			r->guest_memfd = (uint32_t)dbl_gmem_fake[i];
	ret = fake_ops.vm_ioctl(dbl, CONF_KVM_SET_USER_MEMORY_REGION2, r);
	r->guest_memfd = fd;
	if (ret < 0)
		return ret;
	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &real) < 0 ? -errno : 0;
}

/*
 * The simulated PSP's certificates: PDH_CERT_EXPORT and GET_ID2 tell their
 * lengths to a caller that asks with too little room (INVALID_LEN), as the
 * firmware does, then fill made-up bytes the test recognises.
 */
#define DBL_PDH_LEN 36
#define DBL_CHAIN_LEN 100
#define DBL_ID_LEN 64

static void dbl_fill(uint64_t addr, uint32_t len, uint8_t seed)
{
	uint8_t *p = (uint8_t *)(uintptr_t)addr;

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i);
}

static int dbl_platform_cmd(int sev_fd, uint32_t cmd, void *data,
			    uint32_t *fw_error)
{
	if (sev_fd != dbl_sev_fd)
		return -EBADF;
	if (cmd == SEV_PDH_CERT_EXPORT) {
		struct sev_user_data_pdh_cert_export *e = data;

		if (e->pdh_cert_len < DBL_PDH_LEN ||
		    e->cert_chain_len < DBL_CHAIN_LEN || !e->pdh_cert_address ||
		    !e->cert_chain_address) {
			e->pdh_cert_len = DBL_PDH_LEN;
			e->cert_chain_len = DBL_CHAIN_LEN;
			*fw_error = SEV_RET_INVALID_LEN;
			return -EIO;
		}
		e->pdh_cert_len = DBL_PDH_LEN;
		e->cert_chain_len = DBL_CHAIN_LEN;
		dbl_fill(e->pdh_cert_address, DBL_PDH_LEN, 0x10);
		dbl_fill(e->cert_chain_address, DBL_CHAIN_LEN, 0x80);
		return 0;
	}
	if (cmd == SEV_GET_ID2) {
		struct sev_user_data_get_id2 *id = data;

		if (id->length < DBL_ID_LEN || !id->address) {
			id->length = DBL_ID_LEN;
			*fw_error = SEV_RET_INVALID_LEN;
			return -EIO;
		}
		id->length = DBL_ID_LEN;
		dbl_fill(id->address, DBL_ID_LEN, 0xc0);
		return 0;
	}
	*fw_error = SEV_RET_INVALID_COMMAND;
	return -EIO;
}

static int dbl_vm_ioctl(int vm_fd, unsigned long req, void *arg)
{
	unsigned int before;
	int ret;

	pthread_mutex_lock(&dbl_lock);
	if (!dbl) {
		pthread_mutex_unlock(&dbl_lock);
		return -ENOTTY;
	}
	before = dbl->violations;
	if (req == KVM_MEMORY_ENCRYPT_OP && dbl->kind == CONFIDENTIAL_TDX) {
		const struct conf_kvm_tdx_cmd *cmd = arg;

		ret = fake_ops.vm_ioctl(dbl, req, arg);
		if (!ret && cmd->id == CONF_KVM_TDX_INIT_VM) {
			const struct conf_kvm_tdx_init_vm *i =
				(const void *)(uintptr_t)cmd->data;

			fprintf(stderr,
				"confidential double: TDX_INIT_VM attributes %#llx xfam %#llx, %u CPUID leaves\n",
				(unsigned long long)i->attributes,
				(unsigned long long)i->xfam, i->cpuid.nent);
		}
		if (!ret && cmd->id == CONF_KVM_TDX_FINALIZE_VM) {
			fprintf(stderr, "confidential double: TDX_FINALIZE_VM mrtd ");
			for (size_t i = 0; i < dbl->digest_len; i++)
				fprintf(stderr, "%02x", dbl->digest[i]);
			fprintf(stderr, "\n");
		}
	} else if (req == KVM_MEMORY_ENCRYPT_OP) {
		struct conf_kvm_sev_cmd *cmd = arg;
		uint32_t fd = cmd->sev_fd;

		/* The PSP would refuse a command not authorised by /dev/sev. */
		cmd->sev_fd = (int)fd == dbl_sev_fd ? DBL_SEV_FD : 0;
		ret = fake_ops.vm_ioctl(dbl, req, arg);
		cmd->sev_fd = fd;
		if (!ret && cmd->id == CONF_KVM_SEV_LAUNCH_START) {
			const struct fake_call *c = &dbl->log[dbl->n - 1];

			fprintf(stderr,
				"confidential double: LAUNCH_START policy %#llx, dh-cert %llu bytes, session %u bytes\n",
				(unsigned long long)c->arg,
				(unsigned long long)c->len, c->flags);
		}
		if (!ret && cmd->id == CONF_KVM_SEV_SNP_LAUNCH_START)
			fprintf(stderr,
				"confidential double: SNP_LAUNCH_START policy %#llx\n",
				(unsigned long long)((struct conf_kvm_sev_snp_launch_start *)(uintptr_t)cmd->data)->policy);
		if (!ret && cmd->id == CONF_KVM_SEV_SNP_LAUNCH_FINISH) {
			fprintf(stderr,
				"confidential double: SNP_LAUNCH_FINISH id-block %s, host-data ",
				dbl->snp_finish_id_block ? "on" : "off");
			for (size_t i = 0; i < 32; i++)
				fprintf(stderr, "%02x",
					dbl->snp_finish_host_data[i]);
			fprintf(stderr, ", measurement ");
			for (size_t i = 0; i < dbl->digest_len; i++)
				fprintf(stderr, "%02x", dbl->digest[i]);
			fprintf(stderr, "\n");
		}
	} else if (req == CONF_KVM_CREATE_GUEST_MEMFD) {
		ret = dbl_gmem_create(arg);
	} else if (req == CONF_KVM_SET_USER_MEMORY_REGION2) {
		ret = dbl_region2(vm_fd, arg);
	} else if (req == CONF_KVM_SET_MEMORY_ATTRIBUTES) {
		const struct conf_kvm_memory_attributes *a = arg;

		ret = fake_ops.vm_ioctl(dbl, req, arg);
		/* The launch's own are in the measurement; these are the
		 * guest's. */
		if (!ret && dbl->state == FAKE_RUNNABLE)
			fprintf(stderr,
				"confidential double: attributes %#" PRIx64 " +%#" PRIx64 " %s\n",
				(uint64_t)a->address, (uint64_t)a->size,
				a->attributes & CONF_KVM_MEMORY_ATTRIBUTE_PRIVATE ?
					"private" :
					"shared");
	} else {
		ret = fake_ops.vm_ioctl(dbl, req, arg);
	}
	ret = dbl_check(before, ret);
	pthread_mutex_unlock(&dbl_lock);
	return ret;
}

static int dbl_vcpu_ioctl(unsigned int index, int vcpu_fd, unsigned long req,
			  void *arg)
{
	const struct kvm_regs *regs = arg;
	unsigned int before;
	int ret;

	/* TDX's vCPU commands (INIT_VCPU, INIT_MEM_REGION) are the fake's. */
	if (req == KVM_MEMORY_ENCRYPT_OP) {
		pthread_mutex_lock(&dbl_lock);
		if (!dbl || index >= FAKE_MAX_VCPUS) {
			pthread_mutex_unlock(&dbl_lock);
			return -ENOTTY;
		}
		if (dbl->cpus < index + 1)
			dbl->cpus = index + 1;
		before = dbl->violations;
		ret = dbl_check(before, fake_ops.vcpu_ioctl(dbl, index, req, arg));
		pthread_mutex_unlock(&dbl_lock);
		return ret;
	}
	ret = ioctl(vcpu_fd, req, arg) < 0 ? -errno : 0;
	if (ret < 0 || index >= FAKE_MAX_VCPUS)
		return ret;
	pthread_mutex_lock(&dbl_lock);
	if (dbl && req == KVM_SET_SREGS)
		dbl_cs_base[index] = ((const struct kvm_sregs *)arg)->cs.base;
	if (dbl && req == KVM_SET_REGS) {
		/* The vCPUs it has seen: tern sets every one up in order. */
		if (dbl->cpus < index + 1)
			dbl->cpus = index + 1;
		before = dbl->violations;
		ret = fake_vcpu_set_start(dbl, index,
					  (uint32_t)(dbl_cs_base[index] +
						     regs->rip),
					  regs->rdx);
		ret = dbl_check(before, ret);
	}
	pthread_mutex_unlock(&dbl_lock);
	return ret;
}

/* At exit, after the VM is gone. */
__attribute__((destructor)) static void dbl_free(void)
{
	if (dbl)
		fake_free(dbl);
	for (unsigned int i = 0; i < dbl_nr_gmem; i++)
		close(dbl_gmem_real[i]);
}

const struct confidential_host_ops confidential_host_default = {
	.vm_type = dbl_vm_type,
	.vm_types = dbl_vm_types,
	.sev_open = dbl_sev_open,
	.sev_close = dbl_sev_close,
	.sev_platform_status = dbl_platform_status,
	.sev_platform_cmd = dbl_platform_cmd,
	.vm_ioctl = dbl_vm_ioctl,
	.vcpu_ioctl = dbl_vcpu_ioctl,
};
