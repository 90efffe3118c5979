// SPDX-License-Identifier: MIT
/* virtio-scsi commands and task management over guest/virtio.h. */
#include "guest/dma.h"
#include "guest/exit.h"
#include "guest/pvclock.h"
#include "guest/string.h"
#include "guest/virtio-scsi.h"
#include "guest/x86.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const volatile uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int scsi_open(struct scsi_dev *d, bool packed, const char **why)
{
	struct virtio_pci *vp = &d->vp;
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM) |
			VIRTIO_BIT(VIRTIO_F_ORDER_PLATFORM) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	d->timeout_ns = SCSI_SYNC_TIMEOUT_NS;
	if (virtio_pci_open(vp, VIRTIO_ID_SCSI, 0, why) < 0)
		return -1;
	if (packed) {
		if (!(vp->offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED))) {
			*why = "the device does not offer VIRTIO_F_RING_PACKED";
			return -1;
		}
		want |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	}
	if (virtio_pci_negotiate(vp, want) < 0) {
		*why = "feature negotiation failed (FEATURES_OK refused)";
		return -1;
	}
	d->num_queues = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_NUM_QUEUES);
	d->seg_max = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_SEG_MAX);
	d->max_sectors = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_MAX_SECTORS);
	d->cmd_per_lun = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_CMD_PER_LUN);
	d->sense_size = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_SENSE_SIZE);
	d->cdb_size = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_CDB_SIZE);
	d->max_target = virtio_cfg_read16(vp, VIRTIO_SCSI_CFG_MAX_TARGET);
	d->max_lun = virtio_cfg_read32(vp, VIRTIO_SCSI_CFG_MAX_LUN);
	if (d->cdb_size != SCSI_CDB_SIZE || d->sense_size != SCSI_SENSE_SIZE) {
		*why = "cdb_size or sense_size is not the default (32, 96)";
		return -1;
	}
	if (virtq_setup(&d->ctrlq, vp, SCSI_CTRLQ, 0, VIRTIO_MSI_NO_VECTOR,
			why) < 0 ||
	    virtq_setup(&d->eventq, vp, SCSI_EVENTQ, 0, VIRTIO_MSI_NO_VECTOR,
			why) < 0 ||
	    virtq_setup(&d->reqq, vp, SCSI_REQQ, 0, VIRTIO_MSI_NO_VECTOR, why) <
		0)
		return -1;
	virtio_pci_driver_ok(vp);
	if (virtio_pci_status(vp) &
	    (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		*why =
		    "the device reports NEEDS_RESET or FAILED after DRIVER_OK";
		return -1;
	}
	return 0;
}

struct scsi_req *scsi_req_alloc(unsigned int n)
{
	return dma_alloc_zero(sizeof(struct scsi_req) * n, 64);
}

struct scsi_ctrl *scsi_ctrl_alloc(unsigned int n)
{
	return dma_alloc_zero(sizeof(struct scsi_ctrl) * n, 64);
}

/* lun[8]: 1, target, then the LUN in flat space addressing (as Linux). */
static void put_lun(uint8_t *p, uint8_t target, uint16_t lun)
{
	memset(p, 0, 8);
	p[0] = 1;
	p[1] = target;
	p[2] = (uint8_t)(0x40 | (lun >> 8));
	p[3] = (uint8_t)lun;
}

int scsi_submit(struct scsi_dev *d, struct scsi_req *r, uint8_t target,
		uint16_t lun, uint64_t tag, const uint8_t *cdb,
		unsigned int cdb_len, void *data, uint32_t len, bool data_in,
		uint32_t hdr_len)
{
	struct virtq_sg sg[4];
	unsigned int n = 0;

	memset(r->hdr, 0, sizeof(r->hdr));
	put_lun(r->hdr, target, lun);
	for (int i = 0; i < 8; i++)
		r->hdr[8 + i] = (uint8_t)(tag >> (8 * i));
	memcpy(r->hdr + SCSI_REQ_HDR, cdb,
	       cdb_len < SCSI_CDB_SIZE ? cdb_len : SCSI_CDB_SIZE);
	/* A value the device always overwrites: a missing answer shows. */
	memset(r->resp, 0xee, sizeof(r->resp));
	r->used = 0;
	sg[n++] = (struct virtq_sg){dma_addr(r->hdr),
				    hdr_len ? hdr_len : sizeof(r->hdr), false};
	if (len && !data_in)
		sg[n++] = (struct virtq_sg){dma_addr(data), len, false};
	sg[n++] = (struct virtq_sg){dma_addr(r->resp), sizeof(r->resp), true};
	if (len && data_in)
		sg[n++] = (struct virtq_sg){dma_addr(data), len, true};
	return virtq_add(&d->reqq, sg, n, false, r);
}

struct scsi_req *scsi_poll(struct scsi_dev *d)
{
	uint32_t len;
	struct scsi_req *r = virtq_get(&d->reqq, &len);
	const volatile uint8_t *p;

	if (!r)
		return NULL;
	p = r->resp;
	r->used = len;
	r->sense_len = get_le32(p);
	r->resid = get_le32(p + 4);
	r->status = p[10];
	r->response = p[11];
	r->key = r->asc = r->ascq = 0;
	/* Fixed format (70h/71h) carries key, ASC and ASCQ at 2, 12, 13. */
	if (r->sense_len >= 14 && (p[12] & 0x7e) == 0x70) {
		r->key = p[12 + 2] & 0x0f;
		r->asc = p[12 + 12];
		r->ascq = p[12 + 13];
	}
	return r;
}

struct scsi_req *scsi_sync(struct scsi_dev *d, struct scsi_req *r,
			   uint8_t target, uint16_t lun, const uint8_t *cdb,
			   unsigned int cdb_len, void *data, uint32_t len,
			   bool data_in)
{
	struct scsi_req *done;
	uint64_t deadline;

	if (scsi_submit(d, r, target, lun, 0, cdb, cdb_len, data, len, data_in,
			0) < 0)
		result_fail(
		    "scsi: request queue full for a synchronous command");
	virtq_kick(&d->reqq);
	deadline = clock_ns() + d->timeout_ns;
	while ((done = scsi_poll(d)) == NULL) {
		if (clock_ns() > deadline)
			result_fail(
			    "scsi: command %02x to LUN %u not answered in "
			    "%lu s",
			    cdb[0], lun,
			    (unsigned long)(d->timeout_ns / 1000000000));
		cpu_relax();
	}
	if (done != r)
		result_fail("scsi: a command completed that was not in flight");
	return r;
}

int scsi_tmf_submit(struct scsi_dev *d, struct scsi_ctrl *c, uint32_t subtype,
		    uint8_t target, uint16_t lun, uint64_t tag)
{
	struct virtq_sg sg[2] = {
	    {dma_addr(c->req), 24, false},
	    {dma_addr(c->resp), 1, true},
	};

	memset(c->req, 0, sizeof(c->req));
	put_le32(c->req, VIRTIO_SCSI_T_TMF);
	put_le32(c->req + 4, subtype);
	put_lun(c->req + 8, target, lun);
	for (int i = 0; i < 8; i++)
		c->req[16 + i] = (uint8_t)(tag >> (8 * i));
	c->resp[0] = 0xee;
	return virtq_add(&d->ctrlq, sg, 2, false, c);
}

struct scsi_ctrl *scsi_ctrl_poll(struct scsi_dev *d)
{
	uint32_t len;
	struct scsi_ctrl *c = virtq_get(&d->ctrlq, &len);

	if (c)
		c->used = len;
	return c;
}

static struct scsi_ctrl *ctrl_wait(struct scsi_dev *d, struct scsi_ctrl *c)
{
	uint64_t deadline = clock_ns() + d->timeout_ns;
	struct scsi_ctrl *done;

	virtq_kick(&d->ctrlq);
	while ((done = scsi_ctrl_poll(d)) == NULL) {
		if (clock_ns() > deadline)
			result_fail(
			    "scsi: control request not answered in %lu s",
			    (unsigned long)(d->timeout_ns / 1000000000));
		cpu_relax();
	}
	if (done != c)
		result_fail(
		    "scsi: a control request completed that was not in flight");
	return c;
}

uint8_t scsi_tmf(struct scsi_dev *d, struct scsi_ctrl *c, uint32_t subtype,
		 uint8_t target, uint16_t lun, uint64_t tag)
{
	if (scsi_tmf_submit(d, c, subtype, target, lun, tag) < 0)
		result_fail("scsi: control queue full");
	return ctrl_wait(d, c)->resp[0];
}

uint8_t scsi_an_query(struct scsi_dev *d, struct scsi_ctrl *c, uint16_t lun,
		      uint32_t *actual)
{
	struct virtq_sg sg[2] = {
	    {dma_addr(c->req), 16, false},
	    {dma_addr(c->resp), 5, true},
	};

	memset(c->req, 0, sizeof(c->req));
	put_le32(c->req, VIRTIO_SCSI_T_AN_QUERY);
	put_lun(c->req + 4, 0, lun);
	put_le32(c->req + 12, 0xfe); /* every event class but vendor ones */
	memset(c->resp, 0xee, sizeof(c->resp));
	if (virtq_add(&d->ctrlq, sg, 2, false, c) < 0)
		result_fail("scsi: control queue full");
	ctrl_wait(d, c);
	*actual = get_le32(c->resp);
	return c->resp[4];
}
