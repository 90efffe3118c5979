// SPDX-License-Identifier: MIT
/* virtio-blk requests over guest/virtio.h. */
#include "guest/dma.h"
#include "guest/exit.h"
#include "guest/pvclock.h"
#include "guest/virtio-blk.h"
#include "guest/x86.h"

const char *blk_layout_name(enum blk_layout l)
{
	switch (l) {
	case BLK_LAYOUT_DIRECT:
		return "direct";
	case BLK_LAYOUT_INDIRECT:
		return "indirect";
	case BLK_LAYOUT_MERGED:
		return "merged";
	}
	return "?";
}

int blk_open(struct blk_dev *b, const struct blk_opts *o, const char **why)
{
	struct virtio_pci *vp = &b->vp;
	uint64_t want =
	    VIRTIO_BIT(VIRTIO_F_VERSION_1) |
	    VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM) |
	    VIRTIO_BIT(VIRTIO_F_ORDER_PLATFORM) |
	    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
	    VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |
	    VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |
	    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
	    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
	    VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);

	for (unsigned int i = 0; i < BLK_MAX_QUEUES; i++)
		b->vq[i] = (struct virtq){0};
	if (virtio_pci_open(vp, VIRTIO_ID_BLOCK, 0, why) < 0)
		return -1;
	if (o->packed)
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	if (o->event_idx)
		want |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (o->max_queues > 1)
		want |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	if (o->packed && !(vp->offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED))) {
		*why = "the device does not offer VIRTIO_F_RING_PACKED";
		return -1;
	}
	if (virtio_pci_negotiate(vp, want) < 0) {
		*why = "feature negotiation failed (FEATURES_OK refused)";
		return -1;
	}

	uint64_t f = vp->features;

	b->capacity = virtio_cfg_read64(vp, VIRTIO_BLK_CFG_CAPACITY);
	b->ro = f & VIRTIO_BIT(VIRTIO_BLK_F_RO);
	b->flush = f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	b->discard = f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
	b->write_zeroes = f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	b->blk_size = (f & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE))
			  ? virtio_cfg_read32(vp, VIRTIO_BLK_CFG_BLK_SIZE)
			  : VIRTIO_BLK_SECTOR;
	b->seg_max = (f & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX))
			 ? virtio_cfg_read32(vp, VIRTIO_BLK_CFG_SEG_MAX)
			 : 0;
	b->size_max = (f & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))
			  ? virtio_cfg_read32(vp, VIRTIO_BLK_CFG_SIZE_MAX)
			  : 0;
	if (b->discard) {
		b->max_discard_sectors =
		    virtio_cfg_read32(vp, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
		b->max_discard_seg =
		    virtio_cfg_read32(vp, VIRTIO_BLK_CFG_MAX_DISCARD_SEG);
	}
	if (b->write_zeroes) {
		b->max_wz_sectors =
		    virtio_cfg_read32(vp, VIRTIO_BLK_CFG_MAX_WZ_SECTORS);
		b->max_wz_seg =
		    virtio_cfg_read32(vp, VIRTIO_BLK_CFG_MAX_WZ_SEG);
	}
	b->nq = 1;
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_MQ)) {
		uint16_t n = virtio_cfg_read16(vp, VIRTIO_BLK_CFG_NUM_QUEUES);

		b->nq = n < o->max_queues ? n : o->max_queues;
		if (b->nq > BLK_MAX_QUEUES)
			b->nq = BLK_MAX_QUEUES;
		if (b->nq == 0)
			b->nq = 1;
	}

	bool msix = o->msix && virtio_msix_enable(vp);

	if (o->msix && !msix) {
		*why = "no usable MSI-X capability";
		return -1;
	}
	for (unsigned int q = 0; q < b->nq; q++) {
		uint16_t entry = VIRTIO_MSI_NO_VECTOR;

		if (msix) {
			if (!virtio_msix_route(
				vp, (uint16_t)q,
				(uint8_t)(BLK_MSIX_VECTOR_BASE + q))) {
				*why = "the MSI-X table has too few entries";
				return -1;
			}
			entry = (uint16_t)q;
		}
		if (virtq_setup(&b->vq[q], vp, (uint16_t)q, o->queue_size,
				entry, why) < 0)
			return -1;
	}
	virtio_pci_driver_ok(vp);
	if (virtio_pci_status(vp) &
	    (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		*why =
		    "the device reports NEEDS_RESET or FAILED after DRIVER_OK";
		return -1;
	}
	return 0;
}

static bool type_writes_data(uint32_t type)
{
	return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
}

int blk_submit(struct blk_dev *b, unsigned int q, struct blk_req *r,
	       uint32_t type, uint64_t sector, void *data, uint32_t len,
	       enum blk_layout layout)
{
	struct virtq_sg sg[3];
	unsigned int n = 0;
	bool dev_writes = type_writes_data(type);
	struct virtio_blk_outhdr *hdr = &r->hdr;

	if (layout == BLK_LAYOUT_MERGED && len != 0) {
		hdr = (struct virtio_blk_outhdr *)((char *)data - sizeof(*hdr));
		r->statusp = (volatile uint8_t *)data + len;
	} else {
		r->statusp = &r->status;
		if (layout == BLK_LAYOUT_MERGED)
			layout = BLK_LAYOUT_DIRECT;
	}
	hdr->type = type;
	hdr->reserved = 0;
	hdr->sector = sector;
	r->sector = sector;
	/* A value the device never writes: a missing status shows. */
	*r->statusp = 0xff;
	r->written = 0;

	if (layout == BLK_LAYOUT_MERGED) {
		if (dev_writes) {
			sg[n++] = (struct virtq_sg){dma_addr(hdr), sizeof(*hdr),
						    false};
			sg[n++] =
			    (struct virtq_sg){dma_addr(data), len + 1, true};
		} else {
			sg[n++] = (struct virtq_sg){
			    dma_addr(hdr), (uint32_t)sizeof(*hdr) + len, false};
			sg[n++] =
			    (struct virtq_sg){dma_addr(r->statusp), 1, true};
		}
	} else {
		sg[n++] = (struct virtq_sg){dma_addr(hdr), sizeof(*hdr), false};
		if (len != 0)
			sg[n++] =
			    (struct virtq_sg){dma_addr(data), len, dev_writes};
		sg[n++] = (struct virtq_sg){dma_addr(r->statusp), 1, true};
	}
	return virtq_add(&b->vq[q], sg, n, layout == BLK_LAYOUT_INDIRECT, r);
}

struct blk_req *blk_poll(struct blk_dev *b, unsigned int q)
{
	uint32_t len;
	struct blk_req *r = virtq_get(&b->vq[q], &len);

	if (r)
		r->written = len;
	return r;
}

uint8_t blk_sync(struct blk_dev *b, unsigned int q, struct blk_req *r,
		 uint32_t type, uint64_t sector, void *data, uint32_t len,
		 enum blk_layout layout)
{
	struct blk_req *done;
	uint64_t deadline;

	if (blk_submit(b, q, r, type, sector, data, len, layout) < 0)
		result_fail("blk: queue %u full for a synchronous request", q);
	blk_kick(b, q);
	deadline = clock_ns() + BLK_SYNC_TIMEOUT_NS;
	while ((done = blk_poll(b, q)) == NULL) {
		if (clock_ns() > deadline)
			result_fail(
			    "blk: request type %u sector %lu on queue %u "
			    "not completed in %llu s",
			    type, (unsigned long)sector, q,
			    BLK_SYNC_TIMEOUT_NS / 1000000000ull);
		cpu_relax();
	}
	if (done != r)
		result_fail("blk: a request completed that was not in flight");
	return blk_status(r);
}

void *blk_frames_alloc(unsigned int n, uint32_t len)
{
	char *p = dma_alloc(4096 + (uint64_t)n * (len + 4096), 4096);

	return p ? p + 4096 : NULL;
}
