// SPDX-License-Identifier: MIT
/*
 * virtio-blk request parsing: a pure function from a descriptor chain to a
 * back-end request or a status. The buffers live in guest memory and the
 * driver may rewrite them while we look: the header and the segment are
 * copied out once and only the copies are used.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "tern/iov.h"
#include "tern/virtio-blk.h"

/* [sector, sector + count) inside the disk, without overflowing. */
static bool range_ok(const struct virtio_blk_limits *lim, uint64_t sector,
		     uint64_t count)
{
	return sector <= lim->capacity && count <= lim->capacity - sector;
}

static int parse_segment(struct iovec *data, unsigned int cnt,
			 uint64_t data_len, uint32_t type,
			 const struct virtio_blk_limits *lim,
			 struct virtio_blk_parsed *p)
{
	bool discard = type == VIRTIO_BLK_T_DISCARD;
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t num, flags, max;
	uint64_t sector;

	if (lim->readonly)
		return VIRTIO_BLK_S_IOERR; /* a write, on a read-only disk */
	if (!(discard ? lim->discard : lim->write_zeroes))
		return VIRTIO_BLK_S_UNSUPP;
	if (!data_len || data_len % sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	/* max_discard_seg = max_write_zeroes_seg = 1, as QEMU. */
	if (data_len > sizeof(seg))
		return VIRTIO_BLK_S_UNSUPP;
	if (iov_to_buf(data, cnt, &seg, sizeof(seg)) != sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	sector = le64toh(seg.sector);
	num = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	/* 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP. */
	if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
	    (discard && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)))
		return VIRTIO_BLK_S_UNSUPP;
	max = discard ? lim->max_discard_sectors :
		       lim->max_write_zeroes_sectors;
	if (num > max || !range_ok(lim, sector, num))
		return VIRTIO_BLK_S_IOERR;
	p->op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
	if (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		p->flags = BLK_REQ_UNMAP;
	p->offset = sector * BLK_SECTOR_SIZE;
	p->len = (uint64_t)num * BLK_SECTOR_SIZE;
	p->written = 1;
	return VIRTIO_BLK_S_OK;
}

int virtio_blk_parse(struct iovec *iov, unsigned int out_num,
		     unsigned int in_num, const struct virtio_blk_limits *lim,
		     struct virtio_blk_parsed *p)
{
	struct virtio_blk_outhdr hdr;
	struct iovec *last, *out_data, *in_data = iov + out_num;
	unsigned int out_cnt = out_num, in_cnt = in_num;
	uint64_t out_len = 0, in_len = 0, sector, count;

	memset(p, 0, sizeof(*p));
	/* The status byte is the last byte the driver lets us write. */
	if (!in_num)
		return -EINVAL;
	last = &iov[out_num + in_num - 1];
	if (!last->iov_len)
		return -EINVAL;
	p->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	p->written = 1;

	for (unsigned int i = 0; i < out_num; i++)
		out_len += iov[i].iov_len;
	for (unsigned int i = 0; i < in_num; i++)
		in_len += in_data[i].iov_len;
	/* Cut the status byte off the writable buffers. */
	last->iov_len--;
	if (!last->iov_len)
		in_cnt--;
	in_len--;

	if (iov_to_buf(iov, out_num, &hdr, sizeof(hdr)) != sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	out_data = iov_advance(iov, &out_cnt, sizeof(hdr));
	out_len -= sizeof(hdr);
	p->type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);

	switch (p->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool in = p->type == VIRTIO_BLK_T_IN;
		uint64_t len = in ? in_len : out_len;

		if (!in && lim->readonly)
			return VIRTIO_BLK_S_IOERR;
		if (len % BLK_SECTOR_SIZE)
			return VIRTIO_BLK_S_IOERR;
		/* seg_max * size_max: a driver honouring them sends no more. */
		if (lim->max_rw_bytes && len > lim->max_rw_bytes)
			return VIRTIO_BLK_S_IOERR;
		count = len / BLK_SECTOR_SIZE;
		if (!range_ok(lim, sector, count))
			return VIRTIO_BLK_S_IOERR;
		/* The queue carries 256 descriptors, far below 4 GiB. */
		if (in && len + 1 > UINT32_MAX)
			return VIRTIO_BLK_S_IOERR;
		p->op = in ? BLK_OP_READ : BLK_OP_WRITE;
		p->offset = sector * BLK_SECTOR_SIZE;
		p->len = len;
		p->iov = in ? in_data : out_data;
		p->iovcnt = in ? in_cnt : out_cnt;
		p->written = in ? (uint32_t)len + 1 : 1;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		p->op = BLK_OP_FLUSH;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		/* 20 bytes are due; a shorter buffer gets what fits. */
		p->iov = in_data;
		p->iovcnt = in_cnt;
		p->len = MIN(in_len, (uint64_t)VIRTIO_BLK_ID_BYTES);
		p->written = (uint32_t)p->len + 1;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_segment(out_data, out_cnt, out_len, p->type, lim,
				     p);
	default:
		/* GET_LIFETIME, SECURE_ERASE, zoned commands, anything else. */
		return VIRTIO_BLK_S_UNSUPP;
	}
}
