// SPDX-License-Identifier: MIT
/*
 * virtio-scsi request framing (virtio 1.2, 5.6.6.1): a pure function from a
 * command's descriptor chain to its header, CDB, response and data
 * buffers, and the response written back. The driver may rewrite its
 * buffers while we look: the header and CDB are copied out once and only
 * the copies are used.
 */
#include <errno.h>
#include <string.h>

#include "tern/iov.h"
#include "tern/le.h"
#include "tern/virtio-scsi.h"

bool virtio_scsi_lun_decode(const uint8_t addr[8], uint8_t *target,
			    uint16_t *lun)
{
	if (addr[0] != 1)
		return false;
	*target = addr[1];
	/* Peripheral device addressing (bus 0), or flat space addressing. */
	if (addr[2] == 0)
		*lun = addr[3];
	else if ((addr[2] & 0xc0) == 0x40)
		*lun = (uint16_t)((addr[2] & 0x3f) << 8 | addr[3]);
	else
		return false;
	return true;
}

static uint64_t iov_total(const struct iovec *iov, unsigned int cnt)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

int virtio_scsi_parse_req(struct iovec *iov, unsigned int out_num,
			  unsigned int in_num, uint32_t cdb_size,
			  uint32_t sense_size, struct virtio_scsi_req *r)
{
	uint8_t hdr[VIRTIO_SCSI_REQ_HDR + SCSI_CDB_MAX];
	struct iovec *in = iov + out_num;
	uint64_t out_len = iov_total(iov, out_num);
	uint64_t in_len = iov_total(in, in_num);
	uint64_t resp_size = VIRTIO_SCSI_RESP_HDR + (uint64_t)sense_size;
	uint64_t req_size = VIRTIO_SCSI_REQ_HDR + (uint64_t)cdb_size;
	unsigned int cnt = in_num;
	uint64_t seen = 0;
	size_t got;

	memset(r, 0, sizeof(*r));
	/* Without a response header's room, no answer is possible. */
	if (in_len < VIRTIO_SCSI_RESP_HDR)
		return -EINVAL;
	/*
	 * The response takes the first resp_size writable bytes (all of
	 * them if there are fewer: the sense is then cut short). Remember
	 * the buffers it spans before the data's start cuts the last one.
	 */
	r->resp_len = (uint32_t)MIN(in_len, resp_size);
	r->resp_iov = in;
	while (seen < r->resp_len)
		seen += in[r->resp_cnt++].iov_len;
	r->resp_last = in[r->resp_cnt - 1];
	if (in_len > resp_size) {
		r->data = iov_advance(in, &cnt, resp_size);
		r->data_cnt = cnt;
		r->data_len = in_len - resp_size;
		r->dir = SCSI_DIR_IN;
	}

	if (out_len < VIRTIO_SCSI_REQ_HDR)
		return VIRTIO_SCSI_S_FAILURE;
	got = iov_to_buf(iov, out_num, hdr, sizeof(hdr));
	r->target = 0xff;
	r->lun_ok =
	    virtio_scsi_lun_decode(hdr, &r->target, &r->lun) && r->target == 0;
	r->tag = le64_get(hdr + 8);
	/* A CDB area shorter than cdb_size leaves the CDB short. */
	r->cdb_len = MIN(got - VIRTIO_SCSI_REQ_HDR, (size_t)cdb_size);
	memcpy(r->cdb, hdr + VIRTIO_SCSI_REQ_HDR, r->cdb_len);
	if (out_len > req_size) {
		if (r->dir == SCSI_DIR_IN)
			/* Both ways needs VIRTIO_SCSI_F_INOUT (5.6.6.1). */
			return VIRTIO_SCSI_S_FAILURE;
		cnt = out_num;
		r->data = iov_advance(iov, &cnt, req_size);
		r->data_cnt = cnt;
		r->data_len = out_len - req_size;
		r->dir = SCSI_DIR_OUT;
	}
	return VIRTIO_SCSI_S_OK;
}

/* Write len bytes of src at offset off of the buffers; zeroes if src is NULL.
 */
static void iov_write_at(const struct iovec *iov, unsigned int cnt,
			 uint64_t off, const void *src, uint64_t len)
{
	for (unsigned int i = 0; i < cnt && len; i++) {
		uint64_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = MIN(len, iov[i].iov_len - off);
		if (src) {
			memcpy((uint8_t *)iov[i].iov_base + off, src, n);
			src = (const uint8_t *)src + n;
		} else {
			memset((uint8_t *)iov[i].iov_base + off, 0, n);
		}
		len -= n;
		off = 0;
	}
}

uint32_t virtio_scsi_put_resp(struct virtio_scsi_req *r,
			      const struct virtio_scsi_resp *resp)
{
	uint8_t b[VIRTIO_SCSI_RESP_HDR + SCSI_SENSE_LEN] = {0};
	uint32_t sense_len = 0, n;

	if (resp->has_sense) {
		sense_len = MIN((uint32_t)SCSI_SENSE_LEN,
				r->resp_len - VIRTIO_SCSI_RESP_HDR);
		scsi_sense_fixed(resp->sense, b + VIRTIO_SCSI_RESP_HDR);
	}
	le32_put(b, sense_len);
	le32_put(b + 4, resp->resid);
	/* status_qualifier stays 0 */
	b[10] = resp->status;
	b[11] = resp->response;
	n = VIRTIO_SCSI_RESP_HDR + sense_len;
	/* The data is done with the buffer the response shares with it. */
	r->resp_iov[r->resp_cnt - 1] = r->resp_last;
	iov_write_at(r->resp_iov, r->resp_cnt, 0, b, n);
	/* The rest of the sense area: zeroes, not what the driver left. */
	iov_write_at(r->resp_iov, r->resp_cnt, n, NULL, r->resp_len - n);
	return r->resp_len;
}
