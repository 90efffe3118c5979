// SPDX-License-Identifier: MIT
/*
 * What virtio-balloon parses (balloon-pages.c), fed as balloon.c feeds it:
 *
 *   mode 0  an inflate or deflate list: the readable bytes as le32 page
 *           numbers, at most 64 Ki of them, in chunks of 1024 through
 *           balloon_pfn_ranges() against RAM laid out as a VM of that
 *           size has it (below the 32-bit hole and above 4 GiB); every
 *           page that is RAM must come back in a range, in list order,
 *           and no range may leave its region
 *   mode 1  a statistics buffer through balloon_stats_parse(), cut to
 *           what the device reads of it, checked against the entries
 *   mode 2  the --balloon option's value through balloon_config_parse()
 *   mode 3  free page reports: chains popped from a split ring the input
 *           writes into guest RAM, each writable buffer taken as
 *           balloon_handle_report() takes it (back to its guest address
 *           with guest_memory_gpa(), whole pages only); every range it
 *           would give back must be RAM that maps to that very buffer
 *
 * The page numbers, the ranges and the statistics are heap blocks of
 * their exact size, so AddressSanitizer sees a read or write past them.
 *
 * Input: u8 mode (% 4); mode 0: u32 RAM pages - 1, then the list; mode 1:
 * the buffer; mode 2: the option's value; mode 3: u8 flags (1: indirect
 * descriptors, 2: EVENT_IDX), u8 RAM pages - 1 (% 16), then RAM from
 * address 0 where a queue of REPORT_QSIZE lies back to back (descriptors,
 * driver area at 16 * REPORT_QSIZE, device area after it).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tern/memory.h"
#include "tern/virtio-balloon.h"
#include "tern/virtio.h"
#include "fuzz.h"

/*
 * The bounds balloon.c applies before it parses (balloon-internal.h's,
 * which only the device's own files include): page numbers per chunk and
 * per chain, statistics bytes read. The functions' contracts hold for any.
 */
#define PFN_CHUNK 1024
#define MAX_PFNS (64U * PFN_CHUNK)
#define STATS_MAX_BYTES (64 * BALLOON_STAT_ENTRY_SIZE)

static void ranges_check(const struct guest_memory *mem, const uint32_t *pfns,
			 unsigned int n, const struct balloon_range *r,
			 unsigned int nr, unsigned int bad, uint32_t first_bad)
{
	unsigned int seen_bad = 0;
	uint64_t off = 0;
	int j = -1;

	FUZZ_CHECK(nr <= n);
	for (unsigned int k = 0; k < nr; k++) {
		FUZZ_CHECK(r[k].len && !((r[k].gpa | r[k].len) &
					 (BALLOON_PAGE_SIZE - 1)));
		/* Inside one region: the discard is one madvise of one map. */
		FUZZ_CHECK(guest_memory_contains(mem, r[k].gpa, r[k].len));
	}
	/* Each page that is RAM extends the current range or starts the next. */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)pfns[i] << BALLOON_PFN_SHIFT;

		if (!guest_memory_contains(mem, gpa, BALLOON_PAGE_SIZE)) {
			if (!seen_bad++)
				FUZZ_CHECK(first_bad == pfns[i]);
			continue;
		}
		if (j >= 0 && off < r[j].len) {
			FUZZ_CHECK(gpa == r[j].gpa + off);
		} else {
			j++;
			FUZZ_CHECK((unsigned int)j < nr && gpa == r[j].gpa);
			off = 0;
		}
		off += BALLOON_PAGE_SIZE;
	}
	FUZZ_CHECK(seen_bad == bad);
	FUZZ_CHECK(j + 1 == (int)nr && (!nr || off == r[j].len));
}

/* balloon_handle_pages(): the list in chunks, each chunk parsed alone. */
static void pages_run(struct fuzz_input *in)
{
	uint64_t ram = ((uint64_t)fuzz_u32(in) + 1) * BALLOON_PAGE_SIZE;
	uint64_t total = MIN(in->len / sizeof(uint32_t), (size_t)MAX_PFNS);
	struct guest_memory mem;

	if (guest_memory_layout(ram, &mem))
		return;
	for (uint64_t done = 0; done < total;) {
		unsigned int n = (unsigned int)MIN(total - done, PFN_CHUNK);
		uint32_t *pfns = g_new(uint32_t, n);
		struct balloon_range *r = g_new(struct balloon_range, n);
		unsigned int nr, bad = 0;
		uint32_t first_bad = 0;

		memcpy(pfns, in->p + done * sizeof(uint32_t),
		       n * sizeof(uint32_t));
		for (unsigned int i = 0; i < n; i++)
			pfns[i] = le32toh(pfns[i]);
		nr = balloon_pfn_ranges(&mem, pfns, n, r, &bad, &first_bad);
		ranges_check(&mem, pfns, n, r, nr, bad, first_bad);
		g_free(r);
		g_free(pfns);
		done += n;
	}
}

/* balloon_handle_stats(): the first STATS_MAX_BYTES of the buffer. */
static void stats_run(struct fuzz_input *in)
{
	size_t len = MIN(in->len, (size_t)STATS_MAX_BYTES);
	uint8_t *buf = g_memdup2(in->p, len);
	uint64_t values[BALLOON_S_NR], want[BALLOON_S_NR];
	unsigned int known = 0;

	for (unsigned int t = 0; t < BALLOON_S_NR; t++)
		want[t] = BALLOON_STAT_UNSET;
	for (size_t off = 0; off + BALLOON_STAT_ENTRY_SIZE <= len;
	     off += BALLOON_STAT_ENTRY_SIZE) {
		uint16_t tag = (uint16_t)(buf[off] | buf[off + 1] << 8);
		uint64_t v = 0;

		for (unsigned int b = 0; b < 8; b++)
			v |= (uint64_t)buf[off + 2 + b] << (8 * b);
		if (tag < BALLOON_S_NR) {
			want[tag] = v;
			known++;
		}
	}
	FUZZ_CHECK(balloon_stats_parse(buf, len, values) == known);
	FUZZ_CHECK(!memcmp(values, want, sizeof(values)));
	g_free(buf);
}

static void option_run(struct fuzz_input *in)
{
	g_autofree char *spec = g_strndup((const char *)in->p, in->len);
	struct balloon_config c;
	GError *err = NULL;

	if (balloon_config_parse(spec, &c, &err)) {
		FUZZ_CHECK(c.enabled);
	} else {
		FUZZ_CHECK(err && strstr(err->message, "--balloon"));
		g_error_free(err);
	}
}

#define REPORT_QSIZE 8

/* The reporting queue's device, kept across inputs; RAM is each input's. */
static struct {
	struct guest_memory mem;
	struct virtio_device vdev;
	bool ready;
} rq;

static const struct virtio_device_ops report_ops = { .name = "fuzz-report" };

static void report_irq(struct virtio_device *d, struct virtqueue *q)
{
}

static void report_config_irq(struct virtio_device *d)
{
}

static const struct virtio_transport_ops report_transport = {
	.notify_queue = report_irq,
	.notify_config = report_config_irq,
};

static bool report_queue_start(uint8_t flags)
{
	struct virtqueue *vq;
	const char *why = NULL;

	if (!rq.ready) {
		if (virtio_device_init(&rq.vdev, &rq.mem, &report_ops, NULL,
				       VIRTIO_ID_BALLOON, 0, 1, REPORT_QSIZE,
				       NULL, 0))
			abort();
		rq.vdev.transport_ops = &report_transport;
		rq.ready = true;
	}
	vq = rq.vdev.queues[0];
	rq.vdev.features = 1ULL << VIRTIO_F_VERSION_1;
	if (flags & 1)
		rq.vdev.features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	if (flags & 2)
		rq.vdev.features |= 1ULL << VIRTIO_F_EVENT_IDX;
	rq.vdev.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	*virtq_layout(vq) = (struct virtq_layout){
		.size = REPORT_QSIZE, .enabled = true, .desc = 0,
		.driver = 16 * REPORT_QSIZE,
		.device = ALIGN_UP(16 * REPORT_QSIZE + 6 + 2 * REPORT_QSIZE, 4),
	};
	return virtq_start(vq, &why) == 0;
}

/* balloon_handle_report(): each writable buffer a free range, or ignored. */
static void report_elem(const struct virtq_elem *e)
{
	for (unsigned int i = e->out_num; i < e->out_num + e->in_num; i++) {
		uint64_t len = e->iov[i].iov_len, gpa;
		void *back;

		FUZZ_CHECK(!guest_memory_gpa(&rq.mem, e->iov[i].iov_base, len,
					     &gpa));
		if ((gpa | len) & (BALLOON_PAGE_SIZE - 1))
			continue;
		/* What balloon_discard() would give back: that buffer, in RAM. */
		FUZZ_CHECK(len && guest_memory_contains(&rq.mem, gpa, len));
		back = guest_memory_ptr(&rq.mem, gpa, len);
		FUZZ_CHECK(back == e->iov[i].iov_base);
	}
}

static void report_run(struct fuzz_input *in)
{
	uint8_t flags = fuzz_u8(in);
	uint64_t ram = (1 + fuzz_u8(in) % 16ULL) * BALLOON_PAGE_SIZE;
	struct virtq_elem *e = g_new(struct virtq_elem, 1);

	if (fuzz_memory_init(&rq.mem, ram))
		abort();
	memcpy(rq.mem.regions[0].hva, in->p, MIN(in->len, (size_t)ram));
	if (report_queue_start(flags)) {
		struct virtqueue *vq = rq.vdev.queues[0];
		int ret;

		/* balloon_drain(): pop until empty or NEEDS_RESET. */
		for (unsigned int n = 0; n < 4 * REPORT_QSIZE; n++) {
			ret = virtq_pop(vq, e);
			FUZZ_CHECK(ret == 1 || ret == 0 || ret == -EINVAL);
			if (ret <= 0) {
				FUZZ_CHECK(!ret || virtq_broken(vq));
				break;
			}
			report_elem(e);
			virtq_push(vq, e, 0);
		}
		virtq_notify(vq);
	}
	virtq_stop(rq.vdev.queues[0]);
	g_free(e);
	fuzz_memory_destroy(&rq.mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };

	switch (fuzz_u8(&in) % 4) {
	case 0:
		pages_run(&in);
		break;
	case 1:
		stats_run(&in);
		break;
	case 3:
		report_run(&in);
		break;
	default:
		option_run(&in);
		break;
	}
	return 0;
}
