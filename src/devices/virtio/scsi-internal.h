/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi's own shared state: the device model (scsi.c: configuration,
 * life cycle, state) and its queues (scsi-io.c: commands through blkvq,
 * task management on the control queue). One I/O thread serves both.
 * Nothing outside these files includes it.
 */
#ifndef TERN_VIRTIO_SCSI_INTERNAL_H
#define TERN_VIRTIO_SCSI_INTERNAL_H

#include "tern/iothread.h"
#include "tern/virtio-scsi.h"

#include "blkvq.h"

/* Task management functions waiting for aborted commands, at most. */
#define SCSI_TMF_MAX 8

struct scsi_lun {
	const struct disk_config *cfg;
	struct blk_disk *disk;
	struct scsi_lun_info info;
	unsigned int engine; /* its engine queue behind the request queue */
	/*
	 * The unit attention the next command (but INQUIRY, REPORT LUNS,
	 * REQUEST SENSE) reports, key 0 for none: power on at creation and
	 * device reset, LUN reset, I_T nexus loss. The I/O thread's, and the
	 * control thread's while that is stopped; saved with the state.
	 */
	struct scsi_sense ua;
};

/* What happens when a command's engine request completes. */
enum scsi_stage {
	SCSI_STAGE_DONE, /* answer it */
	SCSI_STAGE_FLUSH, /* a FUA write: flush, then answer */
	SCSI_STAGE_UNMAP, /* more UNMAP descriptors to go */
};

struct scsi_slot {
	struct blkvq_slot base; /* first: blkvq hands out this */
	struct virtio_scsi_req r;
	struct scsi_cmd cmd;
	struct scsi_lun *lun;
	enum scsi_stage stage;
	bool fallback; /* WRITE SAME retried the other way (hole / zeroes) */
	/* Aborted by a TMF: answered with this response (ABORTED, RESET). */
	uint8_t aborted;
	uint32_t tmf_waiting; /* bit i: tmf[i] waits for this command */
	struct scsi_unmap_desc unmap[SCSI_UNMAP_DESCS_MAX];
	unsigned int unmap_n, unmap_next;
};

/* A TMF answered once the commands it aborted are answered. */
struct scsi_tmf {
	bool busy;
	uint8_t response;
	unsigned int waiting; /* commands still to answer */
	struct virtq_elem elem;
};

struct virtio_scsi {
	struct virtio_device *vdev;
	struct virtio_scsi_config config; /* under vdev->lock */
	/* The driver's cdb_size and sense_size, for the I/O thread. */
	uint32_t cdb_size, sense_size;
	unsigned int nr_luns;
	struct scsi_lun *luns;
	struct scsi_lun *by_lun[DISK_SCSI_LUN_MAX + 1];
	uint16_t lun_list[BLKVQ_MAX_ENGINES]; /* ascending */
	struct scsi_target_info target;
	struct iothread *thread;
	struct blkvq reqq;
	struct virtqueue *ctrlq;
	bool ctrl_watched;
	struct scsi_tmf tmf[SCSI_TMF_MAX];
	uint8_t emu[SCSI_EMU_MAX]; /* the I/O thread's scratch */
};

/* How blkvq hands the request queue's chains and completions over. */
extern const struct blkvq_ops scsi_vq_ops;

/* Control queue: watch it on the I/O thread, or stop watching. */
int scsi_ctrl_start(struct virtio_scsi *s) __must_check;
void scsi_ctrl_stop(struct virtio_scsi *s);
/* A reset: TMFs that wait are forgotten (the driver reset the device). */
void scsi_ctrl_drop(struct virtio_scsi *s);
/* Look at the control queue (after a resume: kicks may have come). */
void scsi_ctrl_kick(struct virtio_scsi *s);
/*
 * The I/O thread's work, callable on its own (the fuzz target, with the
 * thread never started): pop and answer control requests, and answer the
 * TMFs of mask (scsi_tmf bits) once their commands were answered.
 */
void scsi_ctrl_process(struct virtio_scsi *s);
void scsi_ctrl_done(struct virtio_scsi *s, uint32_t mask);

#endif
