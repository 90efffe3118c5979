// SPDX-License-Identifier: MIT
/*
 * The whole machine's state (not its RAM): what a snapshot keeps and what
 * migration streams. Sections, in order:
 *
 *   "vm"           vCPU count, RAM layout and the device list, so a state
 *                  meets only a machine built the same way
 *   "cpu.N"        each vCPU (vcpu_state.h)
 *   "irqchip", "pit", "clock"   the in-kernel platform (platform_state.h)
 *   "pci-host" ... the PCI host and its bridge (pci.h)
 *   per device     in device-table order, what its type's save writes
 *
 * Taken only while the VM is stopped (vCPUs parked, devices held). The
 * vCPU and platform part is captured once per stop and kept until the VM
 * runs again (vcpu_state.h: KVM's clocks move while parked), so two saves
 * of one stopped VM, or a save right after a load, give the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/device.h"
#include "tern/confidential_vm.h"
#include "tern/error.h"
#include "tern/le.h"
#include "tern/pci.h"
#include "tern/platform_state.h"
#include "tern/state.h"
#include "tern/vcpu.h"
#include "tern/vcpu_state.h"
#include "tern/vm.h"

#define VM_STATE_VERSION 1

struct vm_capture {
	struct vcpu_state *cpus; /* nr_vcpus of them */
	struct platform_state platform;
};

void vm_capture_drop(struct vm *vm)
{
	if (!vm->capture)
		return;
	g_free(vm->capture->cpus);
	g_clear_pointer(&vm->capture, g_free);
}

static bool vm_state_caps(struct vm *vm, GError **err)
{
	if (vm->state_caps_ready)
		return true;
	if (!vcpu_state_caps_init(&vm->state_caps, vm->kvm.fd, vm->kvm.vm_fd,
				  vm->vcpus[0]->fd, err))
		return false;
	vm->state_caps_ready = true;
	return true;
}

/* Read the parked vCPUs and the platform once per stop. */
static bool vm_capture(struct vm *vm, GError **err)
{
	struct vm_capture *c;

	if (vm->capture)
		return true;
	if (!vm_state_caps(vm, err))
		return false;
	c = g_new0(struct vm_capture, 1);
	c->cpus = g_new0(struct vcpu_state, vm->nr_vcpus);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vcpu_state_get(vm->vcpus[i]->fd, &vm->state_caps, &c->cpus[i],
				   err))
			goto fail;
	if (platform_state_get(vm->kvm.vm_fd, &c->platform, err))
		goto fail;
	/* The clock of the stop, which the guest sees when it runs again. */
	if (vm->clock_held)
		c->platform.clock = vm->held_clock;
	vm->capture = c;
	return true;
fail:
	g_free(c->cpus);
	g_free(c);
	return false;
}

/* The machine this state is for: a state meets only its twin. */
static void vm_save_header(struct vm *vm, struct state_writer *w)
{
	state_section_begin(w, VM_STATE_VERSION, "vm");
	state_put_u32(w, vm->nr_vcpus);
	state_put_u64(w, vm->mem.ram_size);
	state_put_u32(w, vm->mem.nr_regions);
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		state_put_u64(w, vm->mem.regions[i].gpa);
		state_put_u64(w, vm->mem.regions[i].size);
	}
	state_put_u32(w, vm->devices->len);
	for (guint i = 0; i < vm->devices->len; i++) {
		const struct device *d = g_ptr_array_index(vm->devices, i);
		size_t n = strlen(d->id);

		state_put_u8(w, (uint8_t)n);
		state_put_bytes(w, d->id, n);
	}
	state_section_end(w);
}

static bool vm_load_header(struct vm *vm, struct state_reader *r, GError **err)
{
	uint32_t ncpus, nregions, ndevices;
	uint64_t ram;

	if (!state_section_open(r, VM_STATE_VERSION, VM_STATE_VERSION, NULL, "vm"))
		return state_section_close(r, err);
	state_get_u32(r, &ncpus);
	state_get_u64(r, &ram);
	state_get_u32(r, &nregions);
	state_check(r, ncpus == vm->nr_vcpus,
		    "the state has %u vCPUs, this VM %u (--cpus)", ncpus, vm->nr_vcpus);
	state_check(r, ram == vm->mem.ram_size,
		    "the state has %llu MiB of RAM, this VM %llu MiB (--memory)",
		    (unsigned long long)(ram / MiB),
		    (unsigned long long)(vm->mem.ram_size / MiB));
	state_check(r, nregions == vm->mem.nr_regions,
		    "the state has %u RAM regions, this VM %u", nregions,
		    vm->mem.nr_regions);
	for (unsigned int i = 0; i < nregions && state_ok(r); i++) {
		uint64_t gpa, size;

		state_get_u64(r, &gpa);
		state_get_u64(r, &size);
		state_check(r, gpa == vm->mem.regions[i].gpa &&
				       size == vm->mem.regions[i].size,
			    "RAM region %u differs from this VM's", i);
	}
	state_get_u32(r, &ndevices);
	for (uint32_t i = 0; i < ndevices && state_ok(r); i++) {
		char id[256] = { 0 };
		uint8_t n;

		state_get_u8(r, &n);
		state_get_bytes(r, id, n);
		if (!state_ok(r))
			break;
		if (i >= vm->devices->len) {
			state_check(r, false, "the state has a device %s this VM lacks", id);
			break;
		}
		const struct device *d = g_ptr_array_index(vm->devices, i);

		state_check(r, !strcmp(id, d->id),
			    "the state's device %u is %s, this VM's is %s (%s)", i,
			    id, d->id, d->type->option);
	}
	state_check(r, ndevices >= vm->devices->len,
		    "this VM has devices the state lacks (%u in the state, %u here)",
		    ndevices, vm->devices->len);
	return state_section_close(r, err);
}

/* A confidential guest's memory and registers are not the host's to copy. */
static bool vm_state_allowed(const struct vm *vm, GError **err)
{
	if (!vm->conf)
		return true;
	/* QEMU 7.2's migration blocker for SEV guests. */
	g_set_error_literal(err, TERN_ERROR, TERN_ERROR_INPUT,
			    confidential_vm_is_sev(vm->conf) ?
				    "SEV: Migration is not implemented" :
				    "TDX: a TD's state cannot be saved or migrated");
	return false;
}

bool vm_state_save(struct vm *vm, struct state_writer *w, GError **err)
{
	g_autoptr(GError) qerr = NULL;

	if (!vm_state_allowed(vm, err))
		return false;

	/* Again: a device that had requests in flight at stop may be done now. */
	if (!vm_devices_quiesce(vm, tern_now_ns() + VM_QUIESCE_TIMEOUT_NS, &qerr)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot take the state: %s", qerr->message);
		return false;
	}
	if (!vm_capture(vm, err))
		return false;
	vm_save_header(vm, w);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_state_save(&vm->capture->cpus[i], i, w);
	platform_state_save(&vm->capture->platform, w);
	pci_host_save(vm->pci, w);
	for (guint i = 0; i < vm->devices->len; i++) {
		struct device *d = g_ptr_array_index(vm->devices, i);

		if (d->type->save)
			d->type->save(d->dev, d->id, w);
	}
	return true;
}

/* Parse the vCPU and platform sections; nothing is applied yet. */
static bool vm_load_capture(struct vm *vm, struct state_reader *r,
			    struct vm_capture *c, GError **err)
{
	c->cpus = g_new0(struct vcpu_state, vm->nr_vcpus);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (!vcpu_state_load(r, i, &vm->state_caps, &c->cpus[i], err))
			return false;
	return platform_state_load(r, &c->platform, err);
}

bool vm_state_load(struct vm *vm, struct state_reader *r, GError **err)
{
	g_autoptr(GError) qerr = NULL;
	struct vm_capture *c;

	if (!vm_state_allowed(vm, err))
		return false;
	c = g_new0(struct vm_capture, 1);
	if (!vm_state_caps(vm, err) || !vm_load_header(vm, r, err) ||
	    !vm_load_capture(vm, r, c, err))
		goto fail_parse;
	/* From here on the machine changes: a failure resets it. */
	(void)vm_devices_quiesce(vm, tern_now_ns() + VM_QUIESCE_TIMEOUT_NS, &qerr);
	pci_host_reset(vm->pci);
	vm_devices_reset(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vcpu_state_set(vm->vcpus[i]->fd, &vm->state_caps, &c->cpus[i],
				   err))
			goto fail_apply;
	if (platform_state_set(vm->kvm.vm_fd, &c->platform, err) ||
	    !pci_host_load(vm->pci, r, err))
		goto fail_apply;
	for (guint i = 0; i < vm->devices->len; i++) {
		struct device *d = g_ptr_array_index(vm->devices, i);

		if (d->type->load && !d->type->load(d->dev, d->id, r, err))
			goto fail_apply;
	}
	if (!state_reader_finish(r, err))
		goto fail_apply;
	vm_capture_drop(vm);
	vm->capture = c;
	/* Whenever it runs, the guest's clock goes on from the saved one. */
	vm->held_clock = c->platform.clock;
	vm->clock_held = true;
	return true;

fail_apply:
	g_free(c->cpus);
	g_free(c);
	vm_capture_drop(vm);
	g_prefix_error(err, "the machine was reset: ");
	if (!vm_reset_machine(vm, &qerr))
		tern_warn("%s", qerr->message);
	return false;
fail_parse:
	g_free(c->cpus);
	g_free(c);
	return false;
}

/*
 * Is this state for a machine built like this one (the vm section, every
 * vCPU, the platform)? Parsed with a reader of its own; nothing changes.
 * For vm_snapshot_load(), which must know before it overwrites RAM: a
 * refusal after that would leave this VM's vCPUs on another machine's
 * memory (a `cont` then ran into whatever code was there).
 */
static bool vm_state_fits(struct vm *vm, const uint8_t *buf, size_t len,
			  GError **err)
{
	struct vm_capture *c = g_new0(struct vm_capture, 1);
	struct state_reader r;
	bool ok = false;

	if (state_reader_init(&r, buf, len, err)) {
		ok = vm_state_caps(vm, err) && vm_load_header(vm, &r, err) &&
		     vm_load_capture(vm, &r, c, err);
		state_reader_clear(&r);
	}
	g_free(c->cpus);
	g_free(c);
	return ok;
}

/*
 * A snapshot file: the state container, then each RAM region's bytes in
 * region order. The container's header says its own length, so the RAM
 * part starts right after it.
 */
bool vm_snapshot_save(struct vm *vm, const char *path, GError **err)
{
	struct state_writer w;
	g_autofree uint8_t *buf = NULL;
	size_t len;
	int fd, ret = 0;

	state_writer_init(&w);
	if (!vm_state_save(vm, &w, err)) {
		state_writer_clear(&w);
		return false;
	}
	buf = state_writer_finish(&w, &len);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s: %s", path,
			    g_strerror(errno));
		return false;
	}
	ret = write_full(fd, buf, len);
	for (unsigned int i = 0; i < vm->mem.nr_regions && !ret; i++)
		ret = write_full(fd, vm->mem.regions[i].hva, vm->mem.regions[i].size);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST, "%s: %s", path,
			    g_strerror(-ret));
		return false;
	}
	return true;
}

/* pread exactly len bytes at off; -EIO for a short file. */
static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

bool vm_snapshot_load(struct vm *vm, const char *path, GError **err)
{
	uint8_t hdr[STATE_HEADER_SIZE];
	g_autofree uint8_t *buf = NULL;
	struct state_reader r;
	uint64_t body, len, want;
	struct stat st;
	const char *why = NULL;
	bool ok;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s: %s", path,
			    g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	ret = S_ISREG(st.st_mode) ? pread_full(fd, hdr, sizeof(hdr), 0) : -EINVAL;
	body = le64_get(hdr + 16);
	len = STATE_HEADER_SIZE + body + STATE_TRAILER_SIZE;
	want = len + vm->mem.ram_size;
	if (ret)
		why = ret == -EINVAL ? "not a regular file" : "too short for a snapshot";
	else if (memcmp(hdr, STATE_MAGIC, 8))
		why = "not a tern snapshot (bad magic)";
	else if (body > STATE_MAX_SIZE)
		why = "its state part is larger than the 64 MiB bound";
	else if ((uint64_t)st.st_size != want)
		why = "its size does not match this VM's state and RAM (--memory?)";
	if (why) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s: %s", path, why);
		close(fd);
		return false;
	}
	buf = g_malloc(len);
	ret = pread_full(fd, buf, len, 0);
	if (ret || !vm_state_fits(vm, buf, len, err) ||
	    !state_reader_init(&r, buf, len, err)) {
		if (ret)
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "%s: %s", path,
				    g_strerror(-ret));
		else
			g_prefix_error(err, "%s: ", path);
		close(fd);
		return false;
	}
	/* RAM first, as migration sends it: devices find their rings there. */
	ret = 0;
	for (unsigned int i = 0; i < vm->mem.nr_regions && !ret; i++) {
		const struct guest_region *g = &vm->mem.regions[i];

		ret = pread_full(fd, g->hva, g->size, (off_t)len);
		len += g->size;
	}
	close(fd);
	if (ret) {
		g_autoptr(GError) rerr = NULL;

		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "%s: %s; the machine was reset", path, g_strerror(-ret));
		state_reader_clear(&r);
		/* Half the RAM is the snapshot's: boot afresh instead. */
		if (!vm_reset_machine(vm, &rerr))
			tern_warn("%s", rerr->message);
		return false;
	}
	ok = vm_state_load(vm, &r, err);
	if (!ok)
		g_prefix_error(err, "%s: ", path);
	state_reader_clear(&r);
	return ok;
}
