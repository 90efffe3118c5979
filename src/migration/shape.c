// SPDX-License-Identifier: MIT
/*
 * The HELLO frame: the machine a stream is for (vCPUs, RAM layout, the
 * device list) and the session it belongs to, in the Core state format
 * (one "migration.hello" section). The destination compares it with its
 * own machine before it accepts a single page, so a stream for another
 * machine is refused before anything changes; the "vm" section of the
 * state checks the same again at the end.
 */
#include <string.h>

#include "tern/device.h"
#include "tern/error.h"
#include "tern/state.h"
#include "tern/vm.h"
#include "internal.h"

#define MIG_HELLO_VERSION 1
#define MIG_HELLO_MAX_DEVICES 256

void mig_hello_from_vm(struct vm *vm, uint64_t session, uint32_t flags,
		       struct mig_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->session = session;
	h->flags = flags;
	h->nr_vcpus = vm->nr_vcpus;
	h->ram_size = vm->mem.ram_size;
	h->nr_regions = vm->mem.nr_regions;
	for (unsigned int i = 0; i < h->nr_regions; i++) {
		h->region_gpa[i] = vm->mem.regions[i].gpa;
		h->region_size[i] = vm->mem.regions[i].size;
	}
	h->nr_devices = vm->devices->len;
	h->devices = g_malloc0(32 * MAX(h->nr_devices, 1u));
	for (guint i = 0; i < vm->devices->len; i++) {
		const struct device *d = g_ptr_array_index(vm->devices, i);

		g_strlcpy(h->devices[i], d->id, sizeof(h->devices[i]));
	}
}

void mig_hello_clear(struct mig_hello *h)
{
	g_free(h->devices);
	memset(h, 0, sizeof(*h));
}

uint8_t *mig_hello_encode(const struct mig_hello *h, size_t *len)
{
	struct state_writer w;

	state_writer_init(&w);
	state_section_begin(&w, MIG_HELLO_VERSION, "migration.hello");
	state_put_u64(&w, h->session);
	state_put_u32(&w, h->flags);
	state_put_u32(&w, h->nr_vcpus);
	state_put_u64(&w, h->ram_size);
	state_put_u32(&w, GUEST_PAGE_SIZE);
	state_put_u32(&w, h->nr_regions);
	for (unsigned int i = 0; i < h->nr_regions; i++) {
		state_put_u64(&w, h->region_gpa[i]);
		state_put_u64(&w, h->region_size[i]);
	}
	state_put_u32(&w, h->nr_devices);
	for (unsigned int i = 0; i < h->nr_devices; i++) {
		size_t n = strnlen(h->devices[i], sizeof(h->devices[i]) - 1);

		state_put_u8(&w, (uint8_t)n);
		state_put_bytes(&w, h->devices[i], n);
	}
	state_section_end(&w);
	return state_writer_finish(&w, len);
}

bool mig_hello_decode(const uint8_t *buf, size_t len, struct mig_hello *h,
		      GError **err)
{
	struct state_reader r;
	uint32_t page_size = 0, nregions = 0, ndevices = 0;
	bool ok;

	memset(h, 0, sizeof(*h));
	if (!state_reader_init(&r, buf, len, err))
		goto fail;
	state_section_open(&r, MIG_HELLO_VERSION, MIG_HELLO_VERSION, NULL,
			   "migration.hello");
	state_get_u64(&r, &h->session);
	state_get_u32(&r, &h->flags);
	state_get_u32(&r, &h->nr_vcpus);
	state_get_u64(&r, &h->ram_size);
	state_get_u32(&r, &page_size);
	state_get_u32(&r, &nregions);
	state_check(&r, page_size == GUEST_PAGE_SIZE,
		    "pages of %u bytes, this tern uses %llu", page_size,
		    GUEST_PAGE_SIZE);
	state_check(&r, nregions <= GUEST_MEM_MAX_REGIONS,
		    "%u RAM regions, at most %u", nregions,
		    GUEST_MEM_MAX_REGIONS);
	state_check(&r, !(h->flags & ~(MIG_HELLO_RESUME | MIG_HELLO_SNAPSHOT)),
		    "unknown flags 0x%x", h->flags);
	for (unsigned int i = 0; i < nregions && state_ok(&r); i++) {
		state_get_u64(&r, &h->region_gpa[i]);
		state_get_u64(&r, &h->region_size[i]);
	}
	h->nr_regions = state_ok(&r) ? nregions : 0;
	state_get_u32(&r, &ndevices);
	state_check(&r, ndevices <= MIG_HELLO_MAX_DEVICES,
		    "%u devices, at most %u", ndevices, MIG_HELLO_MAX_DEVICES);
	if (state_ok(&r)) {
		h->devices = g_malloc0(32 * MAX(ndevices, 1u));
		h->nr_devices = ndevices;
	}
	for (unsigned int i = 0; i < h->nr_devices && state_ok(&r); i++) {
		uint8_t n = 0;

		state_get_u8(&r, &n);
		state_check(&r, n < 32, "a device name of %u bytes", n);
		if (state_ok(&r))
			state_get_bytes(&r, h->devices[i], n);
	}
	ok = state_section_close(&r, err) && state_reader_finish(&r, err);
	state_reader_clear(&r);
	if (ok)
		return true;
fail:
	g_prefix_error(err, "HELLO: ");
	mig_hello_clear(h);
	return false;
}

bool mig_hello_match(const struct mig_hello *want, const struct mig_hello *got,
		     GError **err)
{
	const char *why = NULL;
	g_autofree char *msg = NULL;

	if (got->nr_vcpus != want->nr_vcpus) {
		msg = g_strdup_printf("the stream has %u vCPUs, this VM %u (--cpus)",
				      got->nr_vcpus, want->nr_vcpus);
	} else if (got->ram_size != want->ram_size) {
		msg = g_strdup_printf("the stream has %llu MiB of RAM, this VM %llu MiB (--memory)",
				      (unsigned long long)(got->ram_size / MiB),
				      (unsigned long long)(want->ram_size / MiB));
	} else if (got->nr_regions != want->nr_regions) {
		why = "the RAM regions differ";
	}
	for (unsigned int i = 0; !msg && !why && i < got->nr_regions; i++)
		if (got->region_gpa[i] != want->region_gpa[i] ||
		    got->region_size[i] != want->region_size[i])
			why = "the RAM regions differ";
	/* The first device that differs names the option to look at. */
	for (unsigned int i = 0; !msg && !why && i < MIN(got->nr_devices, want->nr_devices); i++)
		if (strcmp(got->devices[i], want->devices[i]))
			msg = g_strdup_printf("the stream's device %u is %s, this VM's is %s",
					      i, got->devices[i],
					      want->devices[i]);
	if (!msg && !why && got->nr_devices != want->nr_devices)
		msg = g_strdup_printf("the stream has %u devices, this VM %u",
				      got->nr_devices, want->nr_devices);
	if (!msg && !why)
		return true;
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "the stream is for another machine: %s", msg ? msg : why);
	return false;
}
