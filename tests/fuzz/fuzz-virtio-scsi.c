// SPDX-License-Identifier: MIT
/*
 * virtio-scsi command requests: virtio_scsi_parse_req() on a chain the
 * input describes, then what scsi-io.c's slot start does with the result,
 * step by step (the unit attention, the missing LUN, scsi_cdb_parse(), the
 * overrun check, the data buffers cut to the transfer), then the command:
 * data moved through the buffers for READ and WRITE, the UNMAP parameter
 * list through scsi_unmap_parse(), the WRITE SAME block checked for
 * zeroes, the emulated answers from scsi_emulate(), and last
 * virtio_scsi_put_resp(). Each guest buffer, the emulation buffer and the
 * UNMAP parameter copy are heap blocks of their exact size, so
 * AddressSanitizer sees a byte past any of them.
 *
 * Input: u8 flags (1 read-only, 2 serial, 4 unit attention pending), u8
 * block size (512 << n % 4), u64 blocks, u32 max transfer blocks, u32 max
 * unmap blocks, u8 max unmap descriptors (% 17), u32 max WRITE SAME
 * blocks, u8 LUNs on the target (% 17) and a u8 step to each, the
 * driver's u8 cdb_size and u16 sense_size, u8 readable and u8 writable
 * buffers, per buffer a u16 length - 1, the readable buffers' bytes (the
 * header first), then up to 20 serial bytes.
 */
#include <errno.h>
#include <string.h>

#include "tern/iov.h"
#include "tern/virtio-scsi.h"
#include "fuzz.h"

#define MAX_BUF_LEN 2048
#define MAX_LUNS 16 /* a controller's LUNs: BLKVQ_MAX_ENGINES */
#define DATA_MAX (VIRTQ_MAX_CHAIN * MAX_BUF_LEN)

static uint8_t pattern[DATA_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	return 0;
}

/* The chain as a virtqueue pop hands it over, and what the input set. */
struct chain {
	struct iovec iov[VIRTQ_MAX_CHAIN];
	void *bufs[VIRTQ_MAX_CHAIN];
	size_t lens[VIRTQ_MAX_CHAIN];
	unsigned int out_num, in_num;
	uint64_t out_len, in_len;
};

static uint64_t iov_total(const struct iovec *iov, unsigned int n)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Is every buffer of iov inside one of the chain's buffers [first, end)? */
static bool iov_inside(const struct chain *c, unsigned int first,
		       unsigned int end, const struct iovec *iov,
		       unsigned int cnt)
{
	for (unsigned int k = 0; k < cnt; k++) {
		const uint8_t *p = iov[k].iov_base;
		bool found = false;

		for (unsigned int i = first; i < end && !found; i++) {
			const uint8_t *b = c->bufs[i];

			found = p >= b && iov[k].iov_len <= c->lens[i] &&
				(size_t)(p - b) <= c->lens[i] - iov[k].iov_len;
		}
		if (!found)
			return false;
	}
	return true;
}

static bool range_in(const struct scsi_lun_info *lun, uint64_t lba,
		     uint64_t n)
{
	return lba <= lun->nblocks && n <= lun->nblocks - lba;
}

/* What a parsed command promises about itself. */
static void cmd_check(const struct scsi_cmd *cmd,
		      const struct scsi_lun_info *lun)
{
	FUZZ_CHECK((cmd->dir == SCSI_DIR_NONE) == (cmd->xfer == 0));
	switch (cmd->kind) {
	case SCSI_KIND_READ:
	case SCSI_KIND_WRITE:
		FUZZ_CHECK(cmd->kind == SCSI_KIND_READ || !lun->readonly);
		FUZZ_CHECK(cmd->nblocks <= lun->max_xfer_blocks);
		FUZZ_CHECK(range_in(lun, cmd->lba, cmd->nblocks));
		FUZZ_CHECK(cmd->xfer == (uint64_t)cmd->nblocks * lun->block_size);
		FUZZ_CHECK(!cmd->xfer ||
			   cmd->dir == (cmd->kind == SCSI_KIND_READ ?
						SCSI_DIR_IN : SCSI_DIR_OUT));
		break;
	case SCSI_KIND_WRITE_SAME:
		FUZZ_CHECK(!lun->readonly);
		FUZZ_CHECK(cmd->nblocks && cmd->nblocks <= lun->max_ws_blocks);
		FUZZ_CHECK(range_in(lun, cmd->lba, cmd->nblocks));
		FUZZ_CHECK(cmd->ndob ? !cmd->xfer : cmd->xfer == lun->block_size);
		break;
	case SCSI_KIND_UNMAP:
		FUZZ_CHECK(!lun->readonly);
		FUZZ_CHECK(!cmd->xfer || cmd->dir == SCSI_DIR_OUT);
		break;
	case SCSI_KIND_SYNCHRONIZE_CACHE:
		FUZZ_CHECK(range_in(lun, cmd->lba, cmd->nblocks));
		break;
	default:
		/* Emulated: an answer of at most xfer bytes comes back. */
		FUZZ_CHECK(cmd->dir != SCSI_DIR_OUT);
		break;
	}
}

static void do_unmap(const struct scsi_cmd *cmd, const struct virtio_scsi_req *r,
		     const struct scsi_lun_info *lun)
{
	size_t len = MIN(cmd->xfer, (uint64_t)SCSI_UNMAP_PARAM_MAX);
	struct scsi_unmap_desc descs[SCSI_UNMAP_DESCS_MAX];
	/* Exactly what scsi-io.c copies: a read past it is a bug. */
	uint8_t *param = g_malloc(len ? len : 1);
	struct scsi_sense sense;
	uint64_t total = 0;
	unsigned int n;

	FUZZ_CHECK(iov_to_buf(r->data, r->data_cnt, param, len) == len);
	if (len && scsi_unmap_parse(param, cmd->xfer, lun, descs, &n, &sense)) {
		FUZZ_CHECK(n <= lun->max_unmap_descs && n <= SCSI_UNMAP_DESCS_MAX);
		for (unsigned int i = 0; i < n; i++) {
			FUZZ_CHECK(descs[i].nblocks);
			FUZZ_CHECK(range_in(lun, descs[i].lba, descs[i].nblocks));
			total += descs[i].nblocks;
		}
		FUZZ_CHECK(total <= lun->max_unmap_blocks);
	} else if (len) {
		FUZZ_CHECK(sense.key == SCSI_KEY_ILLEGAL_REQUEST);
	}
	g_free(param);
}

/* The command's data, as scsi-io.c moves it; returns data-in bytes. */
static uint64_t do_command(const struct scsi_cmd *cmd,
			   const struct virtio_scsi_req *r,
			   const struct scsi_lun_info *lun,
			   const struct scsi_target_info *target,
			   struct scsi_sense ua, struct virtio_scsi_resp *resp)
{
	static uint8_t sink[DATA_MAX];
	uint8_t *emu;
	size_t len;
	uint64_t moved = 0;

	switch (cmd->kind) {
	case SCSI_KIND_READ:
		FUZZ_CHECK(iov_from_buf(r->data, r->data_cnt, pattern,
					cmd->xfer) == cmd->xfer);
		return cmd->xfer;
	case SCSI_KIND_WRITE:
	case SCSI_KIND_WRITE_SAME:
		FUZZ_CHECK(iov_to_buf(r->data, r->data_cnt, sink, cmd->xfer) ==
			   cmd->xfer);
		return 0;
	case SCSI_KIND_UNMAP:
		do_unmap(cmd, r, lun);
		return 0;
	case SCSI_KIND_SYNCHRONIZE_CACHE:
		return 0;
	default:
		break;
	}
	emu = g_malloc(SCSI_EMU_MAX);
	if (scsi_emulate(cmd, lun, target, ua, emu, &len, &resp->sense)) {
		FUZZ_CHECK(len <= SCSI_EMU_MAX);
		moved = MIN(len, cmd->xfer);
		FUZZ_CHECK(iov_from_buf(r->data, r->data_cnt, emu, moved) ==
			   moved);
	} else {
		FUZZ_CHECK(resp->sense.key != 0);
		resp->status = SCSI_STATUS_CHECK_CONDITION;
		resp->has_sense = true;
	}
	g_free(emu);
	return moved;
}

/* The framing's promises about where each part of the chain went. */
static void req_check(const struct chain *c, const struct virtio_scsi_req *r,
		      uint32_t cdb_size, uint32_t sense_size)
{
	unsigned int n = c->out_num + c->in_num;
	uint64_t resp_size = VIRTIO_SCSI_RESP_HDR + (uint64_t)sense_size;
	uint64_t before = 0;

	FUZZ_CHECK(r->resp_len == MIN(c->in_len, resp_size));
	FUZZ_CHECK(r->resp_iov == c->iov + c->out_num);
	FUZZ_CHECK(r->resp_cnt >= 1 && r->resp_cnt <= c->in_num);
	for (unsigned int i = 0; i + 1 < r->resp_cnt; i++)
		before += c->lens[c->out_num + i];
	FUZZ_CHECK(before < r->resp_len &&
		   r->resp_len <= before + c->lens[c->out_num + r->resp_cnt - 1]);
	FUZZ_CHECK(r->cdb_len <= MIN(cdb_size, (uint32_t)SCSI_CDB_MAX));
	FUZZ_CHECK(iov_total(r->data, r->data_cnt) == r->data_len);
	switch (r->dir) {
	case SCSI_DIR_IN:
		FUZZ_CHECK(r->data_len == c->in_len - resp_size);
		FUZZ_CHECK(iov_inside(c, c->out_num, n, r->data, r->data_cnt));
		break;
	case SCSI_DIR_OUT:
		FUZZ_CHECK(r->data_len ==
			   c->out_len - VIRTIO_SCSI_REQ_HDR - cdb_size);
		FUZZ_CHECK(iov_inside(c, 0, c->out_num, r->data, r->data_cnt));
		break;
	default:
		FUZZ_CHECK(r->data_len == 0);
		break;
	}
}

/* virtio_scsi_put_resp() wrote the header where the driver reads it. */
static void resp_check(const struct chain *c, struct virtio_scsi_req *r,
		       const struct virtio_scsi_resp *resp, uint64_t data_in)
{
	uint8_t hdr[VIRTIO_SCSI_RESP_HDR];
	uint32_t written = virtio_scsi_put_resp(r, resp);
	struct iovec whole[VIRTQ_MAX_CHAIN];
	uint32_t sense_len;

	FUZZ_CHECK(written == r->resp_len);
	/* The used length counts writable bytes only. */
	FUZZ_CHECK(written + data_in <= c->in_len);
	/* The chain as the driver sees it (the parse rewrote c->iov). */
	for (unsigned int i = 0; i < c->in_num; i++)
		whole[i] = (struct iovec){ c->bufs[c->out_num + i],
					   c->lens[c->out_num + i] };
	FUZZ_CHECK(iov_to_buf(whole, c->in_num, hdr, sizeof(hdr)) ==
		   sizeof(hdr));
	sense_len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
		    (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	FUZZ_CHECK(sense_len <= SCSI_SENSE_LEN &&
		   sense_len <= r->resp_len - VIRTIO_SCSI_RESP_HDR);
	FUZZ_CHECK(hdr[10] == resp->status && hdr[11] == resp->response);
}

/* scsi-io.c's scsi_slot_start(), with the back-end's part done here. */
static void request_run(struct chain *c, uint32_t cdb_size,
			uint32_t sense_size, const struct scsi_lun_info *info,
			const struct scsi_target_info *target,
			struct scsi_sense ua)
{
	static const struct scsi_lun_info absent = { .block_size = 512 };
	const struct scsi_lun_info *lun = NULL;
	struct virtio_scsi_resp resp = { 0 };
	struct virtio_scsi_req r;
	struct scsi_cmd cmd;
	struct scsi_sense sense;
	uint64_t data_in = 0;
	bool exempt;
	int ret;

	ret = virtio_scsi_parse_req(c->iov, c->out_num, c->in_num, cdb_size,
				    sense_size, &r);
	/* Only a chain without room for a response header is refused. */
	FUZZ_CHECK((ret == -EINVAL) == (c->in_len < VIRTIO_SCSI_RESP_HDR));
	if (ret < 0)
		return;
	FUZZ_CHECK(ret == VIRTIO_SCSI_S_OK || ret == VIRTIO_SCSI_S_FAILURE);
	req_check(c, &r, cdb_size, sense_size);
	resp.resid = (uint32_t)r.data_len;
	if (ret != VIRTIO_SCSI_S_OK || !r.lun_ok) {
		resp.response = ret ? (uint8_t)ret : VIRTIO_SCSI_S_BAD_TARGET;
		goto answer;
	}
	for (unsigned int i = 0; i < target->nr_luns; i++)
		if (target->luns[i] == r.lun)
			lun = info;
	exempt = r.cdb_len && scsi_ua_exempt(r.cdb[0]);
	if ((lun && ua.key && !exempt) || (!lun && !exempt)) {
		resp.status = SCSI_STATUS_CHECK_CONDITION;
		resp.has_sense = true;
		resp.sense = lun ? ua : SCSI_SENSE_LUN_NOT_SUPPORTED;
		goto answer;
	}
	if (!scsi_cdb_parse(r.cdb, r.cdb_len, lun ? lun : &absent, &cmd,
			    &sense)) {
		FUZZ_CHECK(sense.key != 0);
		resp.status = SCSI_STATUS_CHECK_CONDITION;
		resp.has_sense = true;
		resp.sense = sense;
		goto answer;
	}
	cmd_check(&cmd, lun ? lun : &absent);
	if (cmd.dir != SCSI_DIR_NONE &&
	    (cmd.dir != r.dir || cmd.xfer > r.data_len)) {
		resp.response = VIRTIO_SCSI_S_OVERRUN;
		goto answer;
	}
	if (cmd.dir != SCSI_DIR_NONE) {
		/* scsi-io.c's iov_trim(): only the first xfer bytes. */
		uint64_t left = cmd.xfer;
		unsigned int i = 0;

		for (; i < r.data_cnt && left; i++) {
			if (r.data[i].iov_len >= left) {
				r.data[i].iov_len = left;
				left = 0;
			} else {
				left -= r.data[i].iov_len;
			}
		}
		r.data_cnt = i;
		FUZZ_CHECK(iov_total(r.data, r.data_cnt) == cmd.xfer);
	}
	data_in = do_command(&cmd, &r, lun, target, lun ? ua : SCSI_SENSE_NONE,
			     &resp);
	resp.resid = (uint32_t)(r.data_len - data_in);
answer:
	resp_check(c, &r, &resp, data_in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct scsi_lun_info info = { 0 };
	uint16_t luns[MAX_LUNS];
	struct scsi_target_info target = { luns, 0 };
	struct chain c = { 0 };
	uint8_t flags = fuzz_u8(&in);
	uint32_t cdb_size, sense_size;
	unsigned int n, step;

	info.readonly = flags & 1;
	info.block_size = 512U << (fuzz_u8(&in) % 4);
	/* A disk's size fits an off_t. */
	info.nblocks = fuzz_u64(&in) % (INT64_MAX / info.block_size + 1);
	info.max_xfer_blocks = fuzz_u32(&in);
	info.max_unmap_blocks = fuzz_u32(&in);
	info.max_unmap_descs = fuzz_u8(&in) % (SCSI_UNMAP_DESCS_MAX + 1);
	info.max_ws_blocks = fuzz_u32(&in);
	info.wwn = 0x123456789abcdefULL;
	target.nr_luns = fuzz_u8(&in) % (MAX_LUNS + 1);
	for (unsigned int i = 0, l = 0; i < target.nr_luns; i++) {
		step = fuzz_u8(&in);
		l += i ? 1 + step : step;
		if (l > DISK_SCSI_LUN_MAX) {
			target.nr_luns = i;
			break;
		}
		luns[i] = (uint16_t)l;
	}
	info.lun = target.nr_luns ? luns[0] : 0;
	cdb_size = fuzz_u8(&in);
	sense_size = fuzz_u16(&in);
	c.out_num = fuzz_u8(&in);
	c.in_num = fuzz_u8(&in);
	if (c.out_num + c.in_num > VIRTQ_MAX_CHAIN)
		c.in_num = VIRTQ_MAX_CHAIN - c.out_num;
	n = c.out_num + c.in_num;
	if (!n)
		return 0;
	for (unsigned int i = 0; i < n; i++)
		c.lens[i] = 1 + fuzz_u16(&in) % MAX_BUF_LEN;
	for (unsigned int i = 0; i < n; i++) {
		c.bufs[i] = g_malloc0(c.lens[i]);
		if (i < c.out_num) {
			size_t k = MIN(c.lens[i], in.len);

			memcpy(c.bufs[i], in.p, k);
			in.p += k;
			in.len -= k;
			c.out_len += c.lens[i];
		} else {
			c.in_len += c.lens[i];
		}
		c.iov[i] = (struct iovec){ c.bufs[i], c.lens[i] };
	}
	if (flags & 2) {
		for (unsigned int i = 0; i < BLK_SERIAL_MAX && in.len; i++) {
			info.serial[i] = (char)fuzz_u8(&in);
			if (!info.serial[i])
				break;
		}
	}
	request_run(&c, cdb_size, sense_size, &info, &target,
		    flags & 4 ? SCSI_SENSE_POWER_ON : SCSI_SENSE_NONE);
	for (unsigned int i = 0; i < n; i++)
		g_free(c.bufs[i]);
	return 0;
}
