/* SPDX-License-Identifier: MIT */
/*
 * vhost-user frontend, protocol layer: the messages tern (the front-end,
 * owner of guest memory) exchanges with a back-end process over a unix
 * socket (QEMU's docs/interop/vhost-user.rst). Encoding requests and
 * checking replies are pure functions (msg.c, unit-tested with malformed
 * replies); conn.c moves them over the socket with file descriptors in
 * SCM_RIGHTS and a bounded wait for every reply.
 */
#ifndef TERN_VHOST_USER_H
#define TERN_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/util.h"

/* Requests (front-end → back-end). */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
};

/* The feature bit saying GET/SET_PROTOCOL_FEATURES exist. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16

/* The protocol features tern can use; it never accepts others. */
#define VHOST_USER_PROTOCOL_WANTED                                             \
	((1ULL << VHOST_USER_PROTOCOL_F_MQ) |                                  \
	 (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |                           \
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |                              \
	 (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                      \
	 (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                        \
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                 \
	 (1ULL << VHOST_USER_PROTOCOL_F_STATUS))

/* Header flags: version 1 in bits 0-1, then reply and need-reply. */
#define VHOST_USER_VERSION 0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_FLAG_REPLY (1U << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1U << 3)

/* SET_VRING_KICK/CALL/ERR: the ring in bits 0-7, "no fd" in bit 8. */
#define VHOST_USER_VRING_IDX_MASK 0xff
#define VHOST_USER_VRING_NOFD (1ULL << 8)

#define VHOST_USER_HDR_SIZE 12
#define VHOST_USER_MAX_FDS 8
/* SET_MEM_TABLE carries at most this many regions (the spec's baseline). */
#define VHOST_USER_MEM_REGIONS_MAX 8
#define VHOST_USER_CONFIG_MAX 256
/* The largest payload either side sends: a full SET_MEM_TABLE. */
#define VHOST_USER_PAYLOAD_MAX (8 + VHOST_USER_MEM_REGIONS_MAX * 32)

struct vhost_user_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

struct vhost_user_vring_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log; /* the front-end's addresses */
};

struct vhost_user_inflight {
	uint64_t mmap_size, mmap_offset;
	uint16_t num_queues, queue_size;
};

/* One message as it goes over the socket, little-endian (x86 hosts only). */
struct vhost_user_msg {
	uint32_t request, flags, size;
	uint8_t payload[VHOST_USER_PAYLOAD_MAX];
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nr_fds;
};

/* Bytes on the wire: header and payload. */
static inline size_t vhost_user_msg_len(const struct vhost_user_msg *m)
{
	return VHOST_USER_HDR_SIZE + m->size;
}

/*
 * ---- Encoding requests (pure) ----
 * Each fills m completely (no fds unless said); need_reply asks for
 * REPLY_ACK's answer (only when that feature was negotiated).
 */
void vhost_user_msg_init(struct vhost_user_msg *m, uint32_t request);
void vhost_user_msg_u64(struct vhost_user_msg *m, uint32_t request,
			uint64_t val);
/* SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE. */
void vhost_user_msg_vring_state(struct vhost_user_msg *m, uint32_t request,
				uint32_t index, uint32_t num);
void vhost_user_msg_vring_addr(struct vhost_user_msg *m,
			       const struct vhost_user_vring_addr *a);
/* SET_VRING_KICK/CALL/ERR; fd < 0 sends the "no fd" flag instead. */
void vhost_user_msg_vring_fd(struct vhost_user_msg *m, uint32_t request,
			     uint32_t index, int fd);
/* SET_MEM_TABLE: -EINVAL for more regions than fit or a count/fd mismatch. */
int vhost_user_msg_mem_table(struct vhost_user_msg *m,
			     const struct vhost_user_region *r, const int *fds,
			     unsigned int n) __must_check;
void vhost_user_msg_add_mem_reg(struct vhost_user_msg *m,
				const struct vhost_user_region *r, int fd);
/* GET_CONFIG (data NULL: zeros) or SET_CONFIG; -EINVAL beyond 256 bytes. */
int vhost_user_msg_config(struct vhost_user_msg *m, uint32_t request,
			  uint32_t offset, const void *data,
			  uint32_t size) __must_check;
/* GET_INFLIGHT_FD (fd < 0) or SET_INFLIGHT_FD (with fd). */
void vhost_user_msg_inflight(struct vhost_user_msg *m, uint32_t request,
			     const struct vhost_user_inflight *in, int fd);

/* Does this request always get an answer (not only with REPLY_ACK)? */
bool vhost_user_request_has_reply(uint32_t request);

/*
 * ---- Checking replies (pure) ----
 * A reply's header (the first 12 bytes received): version 1, the reply
 * flag, the request we sent and a payload that fits. -EPROTO otherwise.
 */
int vhost_user_reply_check_hdr(const struct vhost_user_msg *m,
			       uint32_t request) __must_check;
/*
 * A whole reply to request: the payload size that request's answer has
 * (exactly), and exactly the fds it carries (GET_INFLIGHT_FD: one; all
 * others none). -EPROTO otherwise. Does not close fds.
 */
int vhost_user_reply_check(const struct vhost_user_msg *m,
			   uint32_t request) __must_check;
/* The values of checked replies. */
uint64_t vhost_user_reply_u64(const struct vhost_user_msg *m);
void vhost_user_reply_vring_state(const struct vhost_user_msg *m,
				  uint32_t *index, uint32_t *num);
/* GET_CONFIG: -EPROTO unless it answers offset/size as asked. */
int vhost_user_reply_config(const struct vhost_user_msg *m, uint32_t offset,
			    uint32_t size, void *out) __must_check;
/* GET_INFLIGHT_FD: -EPROTO for an empty or misaligned region. */
int vhost_user_reply_inflight(const struct vhost_user_msg *m,
			      struct vhost_user_inflight *out) __must_check;

const char *vhost_user_request_name(uint32_t request);

#endif
