/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi (virtio 1.2, 5.6) on top of guest/virtio.h, and a small SCSI
 * command layer: commands to (target, LUN) with their data, responses
 * taken apart (virtio response, SCSI status, fixed-format sense), task
 * management. scsi_open() runs at CPL 0; everything else at any CPL.
 */
#ifndef GUEST_VIRTIO_SCSI_H
#define GUEST_VIRTIO_SCSI_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/virtio.h"

/* struct virtio_scsi_config offsets. */
#define VIRTIO_SCSI_CFG_NUM_QUEUES 0
#define VIRTIO_SCSI_CFG_SEG_MAX 4
#define VIRTIO_SCSI_CFG_MAX_SECTORS 8
#define VIRTIO_SCSI_CFG_CMD_PER_LUN 12
#define VIRTIO_SCSI_CFG_EVENT_INFO_SIZE 16
#define VIRTIO_SCSI_CFG_SENSE_SIZE 20
#define VIRTIO_SCSI_CFG_CDB_SIZE 24
#define VIRTIO_SCSI_CFG_MAX_CHANNEL 28
#define VIRTIO_SCSI_CFG_MAX_TARGET 30
#define VIRTIO_SCSI_CFG_MAX_LUN 32

/* The sizes this driver leaves as they are (the defaults). */
#define SCSI_CDB_SIZE 32
#define SCSI_SENSE_SIZE 96
#define SCSI_REQ_HDR 19
#define SCSI_RESP_HDR 12

/* Virtio response codes. */
#define VIRTIO_SCSI_S_OK 0
#define VIRTIO_SCSI_S_OVERRUN 1
#define VIRTIO_SCSI_S_ABORTED 2
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_RESET 4
#define VIRTIO_SCSI_S_FAILURE 9
#define VIRTIO_SCSI_S_FUNCTION_SUCCEEDED 10
#define VIRTIO_SCSI_S_FUNCTION_REJECTED 11
#define VIRTIO_SCSI_S_INCORRECT_LUN 12

#define VIRTIO_SCSI_T_TMF 0
#define VIRTIO_SCSI_T_AN_QUERY 1
#define VIRTIO_SCSI_T_TMF_ABORT_TASK 0
#define VIRTIO_SCSI_T_TMF_CLEAR_ACA 2
#define VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET 5
#define VIRTIO_SCSI_T_TMF_QUERY_TASK 6

#define SCSI_GOOD 0x00
#define SCSI_CHECK_CONDITION 0x02

/* Queues: control, event, request. */
#define SCSI_CTRLQ 0
#define SCSI_EVENTQ 1
#define SCSI_REQQ 2

/* A command and its answer; in DMA memory (scsi_req_alloc()). */
struct scsi_req {
	uint8_t hdr[SCSI_REQ_HDR + SCSI_CDB_SIZE];
	uint8_t resp[SCSI_RESP_HDR + SCSI_SENSE_SIZE];
	/* Filled by scsi_poll(). */
	uint32_t used; /* bytes the device wrote */
	uint32_t sense_len, resid;
	uint8_t status, response;
	uint8_t key, asc, ascq; /* from fixed-format sense, if any */
	void *user;
};

/* A task management function or AN query and its answer. */
struct scsi_ctrl {
	uint8_t req[24];
	uint8_t resp[8];
	uint32_t used;
};

struct scsi_dev {
	struct virtio_pci vp;
	struct virtq ctrlq, eventq, reqq;
	uint32_t num_queues, seg_max, max_sectors, cmd_per_lun;
	uint32_t sense_size, cdb_size, max_lun;
	uint16_t max_target;
	/* How long scsi_sync() and friends wait (scsi_open: 10 s). */
	uint64_t timeout_ns;
};

/* CPL 0: find, negotiate, set up the three queues, DRIVER_OK. 0 or -1. */
int scsi_open(struct scsi_dev *d, bool packed, const char **why);

/* n zeroed command records in DMA memory, or NULL. */
struct scsi_req *scsi_req_alloc(unsigned int n);
struct scsi_ctrl *scsi_ctrl_alloc(unsigned int n);

/*
 * Queue a command (no kick) to target/lun with tag: cdb of cdb_len bytes,
 * len bytes of data from (data_in false) or into data. hdr_len is how
 * much of the request header the device is shown (0: all of it, 19 + 32;
 * less makes the CDB short). 0, or -1 when the ring is full.
 */
int scsi_submit(struct scsi_dev *d, struct scsi_req *r, uint8_t target,
		uint16_t lun, uint64_t tag, const uint8_t *cdb,
		unsigned int cdb_len, void *data, uint32_t len, bool data_in,
		uint32_t hdr_len);
/* A completed command (fields filled), or NULL. */
struct scsi_req *scsi_poll(struct scsi_dev *d);
/* Submit, kick and wait (timeout_ns at most) for one command; the queue idle. */
struct scsi_req *scsi_sync(struct scsi_dev *d, struct scsi_req *r,
			   uint8_t target, uint16_t lun, const uint8_t *cdb,
			   unsigned int cdb_len, void *data, uint32_t len,
			   bool data_in);

/* Queue a TMF (no kick); its one-byte response lands in c->resp[0]. */
int scsi_tmf_submit(struct scsi_dev *d, struct scsi_ctrl *c, uint32_t subtype,
		    uint8_t target, uint16_t lun, uint64_t tag);
/* A completed control request, or NULL. */
struct scsi_ctrl *scsi_ctrl_poll(struct scsi_dev *d);
/* A TMF, synchronously: its response. */
uint8_t scsi_tmf(struct scsi_dev *d, struct scsi_ctrl *c, uint32_t subtype,
		 uint8_t target, uint16_t lun, uint64_t tag);
/* An AN query, synchronously: response, and event_actual in *actual. */
uint8_t scsi_an_query(struct scsi_dev *d, struct scsi_ctrl *c, uint16_t lun,
		      uint32_t *actual);

#define SCSI_SYNC_TIMEOUT_NS 10000000000ull

#endif
