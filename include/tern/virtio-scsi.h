/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi (virtio 1.2, 5.6): one controller, target 0, a LUN per
 * `--disk ...,bus=scsi`, on the block engines virtio-blk uses.
 *
 * Three layers, the first two pure functions the unit tests drive:
 *  - the SCSI layer: a CDB parser (scsi_cdb_parse()) from the command
 *    bytes and the LUN's limits to a command or sense data, and the
 *    commands answered from memory (INQUIRY and its VPD pages, MODE
 *    SENSE, READ CAPACITY, REPORT LUNS, REQUEST SENSE: scsi_emulate());
 *  - the virtio request framing (virtio_scsi_parse_req()): header, CDB,
 *    response and data buffers of a descriptor chain;
 *  - the device model: queues, TMFs, life cycle, state.
 */
#ifndef TERN_VIRTIO_SCSI_H
#define TERN_VIRTIO_SCSI_H

#include <glib.h>
#include <sys/uio.h>

#include "tern/block.h"
#include "tern/virtio.h"

/* Queues: control, event, then the request queues (we have one). */
#define VIRTIO_SCSI_CTRLQ 0
#define VIRTIO_SCSI_EVENTQ 1
#define VIRTIO_SCSI_REQUESTQ 2
#define VIRTIO_SCSI_NR_QUEUES 3

/* Feature bits (5.6.3); none is offered. */
#define VIRTIO_SCSI_F_INOUT 0
#define VIRTIO_SCSI_F_HOTPLUG 1
#define VIRTIO_SCSI_F_CHANGE 2
#define VIRTIO_SCSI_F_T10_PI 3

/* The configuration space (5.6.4). */
struct virtio_scsi_config {
	uint32_t num_queues;
	uint32_t seg_max;
	uint32_t max_sectors;
	uint32_t cmd_per_lun;
	uint32_t event_info_size;
	uint32_t sense_size; /* driver-writable */
	uint32_t cdb_size; /* driver-writable */
	uint16_t max_channel;
	uint16_t max_target;
	uint32_t max_lun;
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_scsi_config) == 36, "virtio_scsi_config");

#define VIRTIO_SCSI_CFG_SENSE_SIZE 20
#define VIRTIO_SCSI_CFG_CDB_SIZE 24
#define VIRTIO_SCSI_CDB_DEFAULT 32
#define VIRTIO_SCSI_SENSE_DEFAULT 96
/* What a driver may write there (QEMU's bounds). */
#define VIRTIO_SCSI_CDB_SIZE_MAX 255
#define VIRTIO_SCSI_SENSE_SIZE_MAX 65535

/*
 * Request header: lun[8], tag (8), task_attr, prio, crn, then cdb_size
 * CDB bytes. Response: sense_len (4), resid (4), status_qualifier (2),
 * status, response, then sense_size sense bytes. All little-endian.
 */
#define VIRTIO_SCSI_REQ_HDR 19
#define VIRTIO_SCSI_RESP_HDR 12

/* Response codes (5.6.6.1); FUNCTION_COMPLETE is OK for TMFs. */
#define VIRTIO_SCSI_S_OK 0
#define VIRTIO_SCSI_S_FUNCTION_COMPLETE 0
#define VIRTIO_SCSI_S_OVERRUN 1
#define VIRTIO_SCSI_S_ABORTED 2
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_RESET 4
#define VIRTIO_SCSI_S_BUSY 5
#define VIRTIO_SCSI_S_TRANSPORT_FAILURE 6
#define VIRTIO_SCSI_S_TARGET_FAILURE 7
#define VIRTIO_SCSI_S_NEXUS_FAILURE 8
#define VIRTIO_SCSI_S_FAILURE 9
#define VIRTIO_SCSI_S_FUNCTION_SUCCEEDED 10
#define VIRTIO_SCSI_S_FUNCTION_REJECTED 11
#define VIRTIO_SCSI_S_INCORRECT_LUN 12

/* Control queue (5.6.6.2). */
#define VIRTIO_SCSI_T_TMF 0
#define VIRTIO_SCSI_T_AN_QUERY 1
#define VIRTIO_SCSI_T_AN_SUBSCRIBE 2
#define VIRTIO_SCSI_T_TMF_ABORT_TASK 0
#define VIRTIO_SCSI_T_TMF_ABORT_TASK_SET 1
#define VIRTIO_SCSI_T_TMF_CLEAR_ACA 2
#define VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET 3
#define VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET 4
#define VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET 5
#define VIRTIO_SCSI_T_TMF_QUERY_TASK 6
#define VIRTIO_SCSI_T_TMF_QUERY_TASK_SET 7
/* type, subtype, lun[8], tag; response: one byte. */
#define VIRTIO_SCSI_TMF_REQ 24
#define VIRTIO_SCSI_TMF_RESP 1
/* type, lun[8], event_requested; response: event_actual, response. */
#define VIRTIO_SCSI_AN_REQ 16
#define VIRTIO_SCSI_AN_RESP 5

/* ---- the SCSI layer (SPC-4, SBC-3) ---- */

#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

#define SCSI_KEY_NO_SENSE 0x0
#define SCSI_KEY_MEDIUM_ERROR 0x3
#define SCSI_KEY_ILLEGAL_REQUEST 0x5
#define SCSI_KEY_UNIT_ATTENTION 0x6
#define SCSI_KEY_DATA_PROTECT 0x7

/* Sense data: key, additional sense code and qualifier. */
struct scsi_sense {
	uint8_t key, asc, ascq;
};

#define SCSI_SENSE(k, a, q) ((struct scsi_sense){(k), (a), (q)})
#define SCSI_SENSE_NONE SCSI_SENSE(0, 0, 0)
#define SCSI_SENSE_INVALID_OPCODE SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0)
#define SCSI_SENSE_LBA_OUT_OF_RANGE                                            \
	SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x21, 0)
#define SCSI_SENSE_INVALID_FIELD SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0)
#define SCSI_SENSE_LUN_NOT_SUPPORTED                                           \
	SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x25, 0)
#define SCSI_SENSE_INVALID_PARAM SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x26, 0)
#define SCSI_SENSE_PARAM_LIST_LENGTH                                           \
	SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x1a, 0)
#define SCSI_SENSE_SAVING_UNSUPPORTED                                          \
	SCSI_SENSE(SCSI_KEY_ILLEGAL_REQUEST, 0x39, 0)
#define SCSI_SENSE_WRITE_PROTECTED SCSI_SENSE(SCSI_KEY_DATA_PROTECT, 0x27, 0)
#define SCSI_SENSE_SPACE_ALLOC_FAILED                                          \
	SCSI_SENSE(SCSI_KEY_DATA_PROTECT, 0x27, 0x07)
#define SCSI_SENSE_READ_ERROR SCSI_SENSE(SCSI_KEY_MEDIUM_ERROR, 0x11, 0)
#define SCSI_SENSE_WRITE_ERROR SCSI_SENSE(SCSI_KEY_MEDIUM_ERROR, 0x0c, 0)
/* Unit attentions: power on or device reset, LUN reset, I_T nexus loss. */
#define SCSI_SENSE_POWER_ON SCSI_SENSE(SCSI_KEY_UNIT_ATTENTION, 0x29, 0)
#define SCSI_SENSE_LUN_RESET SCSI_SENSE(SCSI_KEY_UNIT_ATTENTION, 0x29, 0x03)
#define SCSI_SENSE_NEXUS_LOSS SCSI_SENSE(SCSI_KEY_UNIT_ATTENTION, 0x29, 0x07)

/* Fixed-format sense data (SPC-4 4.5.3): 18 bytes. */
#define SCSI_SENSE_LEN 18
void scsi_sense_fixed(struct scsi_sense s, uint8_t out[SCSI_SENSE_LEN]);

/* Operation codes we know. */
enum {
	SCSI_OP_TEST_UNIT_READY = 0x00,
	SCSI_OP_REQUEST_SENSE = 0x03,
	SCSI_OP_READ_6 = 0x08,
	SCSI_OP_WRITE_6 = 0x0a,
	SCSI_OP_INQUIRY = 0x12,
	SCSI_OP_MODE_SENSE_6 = 0x1a,
	SCSI_OP_READ_CAPACITY_10 = 0x25,
	SCSI_OP_READ_10 = 0x28,
	SCSI_OP_WRITE_10 = 0x2a,
	SCSI_OP_SYNCHRONIZE_CACHE_10 = 0x35,
	SCSI_OP_UNMAP = 0x42,
	SCSI_OP_MODE_SENSE_10 = 0x5a,
	SCSI_OP_READ_16 = 0x88,
	SCSI_OP_WRITE_16 = 0x8a,
	SCSI_OP_SYNCHRONIZE_CACHE_16 = 0x91,
	SCSI_OP_WRITE_SAME_16 = 0x93,
	SCSI_OP_SERVICE_ACTION_IN_16 = 0x9e,
	SCSI_OP_REPORT_LUNS = 0xa0,
};
#define SCSI_SAI_READ_CAPACITY_16 0x10

/* The longest CDB we read (SBC's 16 bytes; the rest is never looked at). */
#define SCSI_CDB_MAX 16

enum scsi_kind {
	SCSI_KIND_TEST_UNIT_READY,
	SCSI_KIND_REQUEST_SENSE,
	SCSI_KIND_INQUIRY,
	SCSI_KIND_MODE_SENSE,
	SCSI_KIND_READ_CAPACITY,
	SCSI_KIND_REPORT_LUNS,
	SCSI_KIND_READ,
	SCSI_KIND_WRITE,
	SCSI_KIND_SYNCHRONIZE_CACHE,
	SCSI_KIND_UNMAP,
	SCSI_KIND_WRITE_SAME,
};

enum scsi_dir {
	SCSI_DIR_NONE,
	SCSI_DIR_IN, /* device to driver: data-in */
	SCSI_DIR_OUT, /* driver to device: data-out */
};

/* What a LUN is, as its commands are checked and answered. */
struct scsi_lun_info {
	uint16_t lun;
	uint32_t block_size; /* 512, or the O_DIRECT block size */
	uint64_t nblocks;
	bool readonly;
	/* Block limits (VPD 0xb0); READ/WRITE and WRITE SAME in blocks. */
	uint32_t max_xfer_blocks;
	uint32_t max_unmap_blocks;
	uint32_t max_unmap_descs;
	uint32_t max_ws_blocks;
	char serial[BLK_SERIAL_MAX + 1]; /* "": no VPD page 0x80 */
	/*
	 * The LUN's name in VPD page 0x83 (an NAA locally assigned
	 * designator, 60 bits of it): a hash of the image path and serial,
	 * the same on every run with the same --disk.
	 */
	uint64_t wwn;
};

/* A CDB that passed every check. */
struct scsi_cmd {
	uint8_t opcode;
	enum scsi_kind kind;
	enum scsi_dir dir;
	/*
	 * Bytes the CDB says move: blocks × block size, a parameter list
	 * length or an allocation length (what the driver's buffer must
	 * hold at least; less may come back).
	 */
	uint64_t xfer;
	uint64_t lba;
	uint32_t nblocks;
	bool fua; /* READ/WRITE: force unit access */
	bool unmap; /* WRITE SAME: the range may be deallocated */
	bool ndob; /* WRITE SAME: no data-out buffer, zeroes */
	bool long_lba; /* READ CAPACITY(16) */
	/* INQUIRY */
	bool evpd;
	uint8_t page;
	/* MODE SENSE */
	bool ten, dbd, llbaa;
	uint8_t pc, subpage;
	/* REQUEST SENSE */
	bool desc;
	/* REPORT LUNS */
	uint8_t select;
};

/*
 * Check the len CDB bytes (len may be short of what the opcode needs)
 * against lun and say what to do. True with cmd filled; false with the
 * CHECK CONDITION sense in *sense:
 *   unknown opcode or service action                       05/20/00
 *   fewer bytes than the opcode's CDB length, a reserved or
 *   unsupported field set (NACA, LINK, protection, ANCHOR,
 *   EVPD page without EVPD, ...), a transfer length above
 *   the block limits                                       05/24/00
 *   a write, UNMAP or WRITE SAME on a read-only LUN        07/27/00
 *   a block range past the end of the LUN                  05/21/00
 *   saved MODE SENSE values                                05/39/00
 * Pure: no I/O, no LUN state.
 */
bool scsi_cdb_parse(const uint8_t *cdb, size_t len,
		    const struct scsi_lun_info *lun, struct scsi_cmd *cmd,
		    struct scsi_sense *sense);

/* UNMAP block descriptors a request may carry (VPD 0xb0). */
#define SCSI_UNMAP_DESCS_MAX 16

struct scsi_unmap_desc {
	uint64_t lba;
	uint32_t nblocks;
};

/* The part of an UNMAP parameter list that is ever read: header, descriptors.
 */
#define SCSI_UNMAP_PARAM_MAX (8 + 16 * SCSI_UNMAP_DESCS_MAX)

/*
 * Check an UNMAP parameter list of len bytes (PARAMETER LIST LENGTH), of
 * which param holds a copy of the first min(len, SCSI_UNMAP_PARAM_MAX):
 * PARAMETER LIST LENGTH ERROR (05/1a/00) for lengths that do not add up,
 * INVALID FIELD IN PARAMETER LIST (05/26/00) beyond the block limits, LBA OUT
 * OF RANGE for a range past the end. On success *n descriptors (those with
 * blocks) are in descs. Pure.
 */
bool scsi_unmap_parse(const uint8_t *param, size_t len,
		      const struct scsi_lun_info *lun,
		      struct scsi_unmap_desc descs[SCSI_UNMAP_DESCS_MAX],
		      unsigned int *n, struct scsi_sense *sense);

/* The most an emulated command answers: REPORT LUNS of 256 LUNs. */
#define SCSI_EMU_MAX (8 + 8 * 256)

/* The target around the LUNs: for REPORT LUNS. */
struct scsi_target_info {
	const uint16_t *luns; /* ascending */
	unsigned int nr_luns;
};

/*
 * Answer an emulated command (INQUIRY, MODE SENSE, READ CAPACITY, REPORT
 * LUNS, REQUEST SENSE, TEST UNIT READY) into buf (SCSI_EMU_MAX bytes):
 * *len bytes of data (to be cut to cmd->xfer), or false with the sense.
 * lun is NULL for a LUN that does not exist: INQUIRY then says so
 * (peripheral qualifier 3), REQUEST SENSE returns LOGICAL UNIT NOT
 * SUPPORTED as its data, REPORT LUNS works, anything else fails with
 * 05/25/00. ua is the sense REQUEST SENSE reports (a pending unit
 * attention, or none). Pure.
 */
bool scsi_emulate(const struct scsi_cmd *cmd, const struct scsi_lun_info *lun,
		  const struct scsi_target_info *target, struct scsi_sense ua,
		  uint8_t *buf, size_t *len, struct scsi_sense *sense);

/* A command the LUN may answer with a unit attention pending (SAM-5). */
static inline bool scsi_ua_exempt(uint8_t opcode)
{
	return opcode == SCSI_OP_INQUIRY || opcode == SCSI_OP_REPORT_LUNS ||
	       opcode == SCSI_OP_REQUEST_SENSE;
}

/* ---- the virtio request framing ---- */

/* A command request's chain, taken apart. */
struct virtio_scsi_req {
	uint64_t tag;
	uint8_t target;
	uint16_t lun; /* valid when lun_ok */
	bool lun_ok; /* an addressing method we know, target 0 */
	uint8_t cdb[SCSI_CDB_MAX];
	size_t cdb_len; /* CDB bytes the driver sent, up to cdb_size */
	/*
	 * The response lives in the first resp_len bytes of the writable
	 * buffers, resp_cnt of them from resp_iov; the last one was cut for
	 * the data and is restored from resp_last by virtio_scsi_put_resp().
	 */
	struct iovec *resp_iov;
	unsigned int resp_cnt;
	struct iovec resp_last;
	uint32_t resp_len;
	/* The data-in or data-out buffers, whole. */
	enum scsi_dir dir;
	struct iovec *data;
	unsigned int data_cnt;
	uint64_t data_len;
};

/*
 * Take a command chain apart (out_num readable then in_num writable
 * buffers) under the driver's cdb_size and sense_size. Returns -EINVAL
 * when the writable part has no room for a response header (it cannot be
 * answered), VIRTIO_SCSI_S_FAILURE for a readable part shorter than the
 * request header or data both ways (no VIRTIO_SCSI_F_INOUT), else
 * VIRTIO_SCSI_S_OK with r filled (a target or LUN address we do not
 * serve has lun_ok false: BAD_TARGET). iov is rewritten in place. Pure.
 */
int virtio_scsi_parse_req(struct iovec *iov, unsigned int out_num,
			  unsigned int in_num, uint32_t cdb_size,
			  uint32_t sense_size, struct virtio_scsi_req *r);

/* A command's answer, in the response buffer's layout. */
struct virtio_scsi_resp {
	uint8_t response; /* VIRTIO_SCSI_S_* */
	uint8_t status; /* SCSI_STATUS_* */
	uint32_t resid;
	bool has_sense;
	struct scsi_sense sense;
};

/* Write resp into r's response buffers; returns the bytes written. */
uint32_t virtio_scsi_put_resp(struct virtio_scsi_req *r,
			      const struct virtio_scsi_resp *resp);

/*
 * Decode a virtio-scsi LUN address (lun[0] = 1, lun[1] = target, then a
 * single-level LUN in the peripheral or flat addressing method). False
 * for anything else.
 */
bool virtio_scsi_lun_decode(const uint8_t addr[8], uint8_t *target,
			    uint16_t *lun);

/* ---- the device ---- */

struct virtio_scsi;
struct thread_registry;
struct machine;
struct vm_config;

/*
 * The model alone: the bus=scsi disks of disks[0..n) opened, one engine
 * queue each, the I/O thread ("io-scsi") and config space ready. threads
 * may be NULL (unit tests). engine replaces every disk's engine (NULL:
 * their own): the tests' seam.
 */
struct virtio_scsi *virtio_scsi_new(struct thread_registry *threads,
				    const struct disk_config *disks,
				    unsigned int n,
				    const struct blk_engine_ops *engine,
				    GError **err);
/* Free a model that was never plugged into a transport. */
void virtio_scsi_free(struct virtio_scsi *s);

struct virtio_scsi_info {
	uint64_t features;
	uint8_t *config;
	size_t config_size;
};
void virtio_scsi_get_info(struct virtio_scsi *s, struct virtio_scsi_info *info);

/* vdev->priv is the struct virtio_scsi; destroy() frees it. */
extern const struct virtio_device_ops virtio_scsi_ops;

/* The size in bytes the guest sees of the LUN lun; 0 if there is none. */
uint64_t virtio_scsi_lun_size(const struct virtio_device *vdev, uint16_t lun);

/* Its row in the device table (device.h): one controller if any bus=scsi. */
extern const struct device_type virtio_scsi_device_type;

#endif
