// SPDX-License-Identifier: MIT
/*
 * virtio-blk request parsing and completion: virtio_blk_parse() on a chain
 * the input describes, then what blk.c does with the result (the status
 * byte, GET_ID's serial, the back-end's reads and writes into the data
 * buffers the parse handed out, the used length), each buffer a heap block
 * of its own so AddressSanitizer sees a byte past any of them.
 *
 * Input: u8 flags (1 read-only, 2 discard, 4 write zeroes), u64 capacity
 * in sectors, u32 max discard sectors, u32 max write-zeroes sectors, u8
 * readable buffers, u8 writable buffers, then per buffer a u16 length - 1,
 * then the readable buffers' bytes (the header first). A chain holds what
 * a virtqueue pop can give: 1 to 256 buffers, none empty.
 */
#include <errno.h>
#include <string.h>

#include "tern/iov.h"
#include "tern/virtio-blk.h"
#include "fuzz.h"

#define MAX_BUF_LEN 2048
#define DATA_MAX (VIRTQ_MAX_CHAIN * MAX_BUF_LEN)

static uint8_t pattern[DATA_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	return 0;
}

static uint64_t iov_total(const struct iovec *iov, unsigned int n)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Is [p, p + len) inside one of the chain's writable buffers? */
static bool in_writable(void *const *bufs, const size_t *lens,
			unsigned int first, unsigned int n, const void *p,
			size_t len)
{
	for (unsigned int i = first; i < n; i++) {
		const uint8_t *b = bufs[i];

		if ((const uint8_t *)p >= b && len <= lens[i] &&
		    (size_t)((const uint8_t *)p - b) <= lens[i] - len)
			return true;
	}
	return false;
}

/* What blk.c's slot start and completion do with an accepted request. */
static void blk_complete(const struct virtio_blk_parsed *p, int st,
			 const struct virtio_blk_limits *lim)
{
	if (st != VIRTIO_BLK_S_OK)
		return;
	switch (p->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		FUZZ_CHECK(p->len % BLK_SECTOR_SIZE == 0);
		FUZZ_CHECK(p->offset % BLK_SECTOR_SIZE == 0);
		FUZZ_CHECK(p->offset / BLK_SECTOR_SIZE <= lim->capacity);
		FUZZ_CHECK(p->len / BLK_SECTOR_SIZE <=
			   lim->capacity - p->offset / BLK_SECTOR_SIZE);
		/* The back-end moves exactly len bytes through iov. */
		FUZZ_CHECK(iov_total(p->iov, p->iovcnt) == p->len);
		if (p->type == VIRTIO_BLK_T_IN) {
			FUZZ_CHECK(iov_from_buf(p->iov, p->iovcnt, pattern,
						p->len) == p->len);
			FUZZ_CHECK(p->written == p->len + 1);
		} else {
			static uint8_t sink[DATA_MAX];

			FUZZ_CHECK(!lim->readonly);
			FUZZ_CHECK(iov_to_buf(p->iov, p->iovcnt, sink, p->len) ==
				   p->len);
			FUZZ_CHECK(p->written == 1);
		}
		break;
	case VIRTIO_BLK_T_GET_ID:
		FUZZ_CHECK(p->len <= VIRTIO_BLK_ID_BYTES);
		FUZZ_CHECK(iov_from_buf(p->iov, p->iovcnt, "fuzz-serial-0123456789",
					p->len) == p->len);
		FUZZ_CHECK(p->written == p->len + 1);
		break;
	case VIRTIO_BLK_T_FLUSH:
		FUZZ_CHECK(p->op == BLK_OP_FLUSH);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		FUZZ_CHECK(!lim->readonly);
		FUZZ_CHECK(p->offset % BLK_SECTOR_SIZE == 0 &&
			   p->len % BLK_SECTOR_SIZE == 0);
		FUZZ_CHECK(p->offset / BLK_SECTOR_SIZE <= lim->capacity &&
			   p->len / BLK_SECTOR_SIZE <=
				   lim->capacity - p->offset / BLK_SECTOR_SIZE);
		FUZZ_CHECK(p->written == 1);
		break;
	default:
		FUZZ_CHECK(!"S_OK for a type the device does not serve");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct virtio_blk_limits lim = { 0 };
	struct iovec iov[VIRTQ_MAX_CHAIN];
	void *bufs[VIRTQ_MAX_CHAIN];
	size_t lens[VIRTQ_MAX_CHAIN];
	struct virtio_blk_parsed p;
	unsigned int out_num, in_num, n;
	uint64_t in_len = 0;
	uint8_t flags = fuzz_u8(&in);
	int st;

	lim.readonly = flags & 1;
	lim.discard = flags & 2;
	lim.write_zeroes = flags & 4;
	lim.capacity = fuzz_u64(&in);
	lim.max_discard_sectors = fuzz_u32(&in);
	lim.max_write_zeroes_sectors = fuzz_u32(&in);
	out_num = fuzz_u8(&in);
	in_num = fuzz_u8(&in);
	if (out_num + in_num > VIRTQ_MAX_CHAIN)
		in_num = VIRTQ_MAX_CHAIN - out_num;
	n = out_num + in_num;
	if (!n)
		return 0;
	for (unsigned int i = 0; i < n; i++)
		lens[i] = 1 + fuzz_u16(&in) % MAX_BUF_LEN;
	for (unsigned int i = 0; i < n; i++) {
		bufs[i] = g_malloc0(lens[i]);
		if (i < out_num) {
			size_t c = MIN(lens[i], in.len);

			memcpy(bufs[i], in.p, c);
			in.p += c;
			in.len -= c;
		} else {
			in_len += lens[i];
		}
		iov[i] = (struct iovec){ bufs[i], lens[i] };
	}

	st = virtio_blk_parse(iov, out_num, in_num, &lim, &p);
	/* Only a chain without a writable byte cannot be answered. */
	FUZZ_CHECK((st == -EINVAL) == (in_num == 0));
	if (st >= 0) {
		FUZZ_CHECK(st == VIRTIO_BLK_S_OK || st == VIRTIO_BLK_S_IOERR ||
			   st == VIRTIO_BLK_S_UNSUPP);
		/* The status byte is the chain's very last byte. */
		FUZZ_CHECK(p.status == (uint8_t *)bufs[n - 1] + lens[n - 1] - 1);
		FUZZ_CHECK(p.written >= 1 && p.written <= in_len);
		if (st == VIRTIO_BLK_S_OK && p.iovcnt) {
			/* Data buffers are writable ones, short of the status. */
			for (unsigned int i = 0;
			     p.type != VIRTIO_BLK_T_OUT && i < p.iovcnt; i++) {
				const uint8_t *b = p.iov[i].iov_base;

				FUZZ_CHECK(in_writable(bufs, lens, out_num, n, b,
						       p.iov[i].iov_len));
				FUZZ_CHECK(p.status < b ||
					   p.status >= b + p.iov[i].iov_len);
			}
		}
		blk_complete(&p, st, &lim);
		*p.status = (uint8_t)st;
	}
	for (unsigned int i = 0; i < n; i++)
		g_free(bufs[i]);
	return 0;
}
