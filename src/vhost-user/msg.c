// SPDX-License-Identifier: MIT
/*
 * vhost-user messages: encoding requests and checking replies, without
 * touching a socket. A back-end is another process that may be buggy or
 * hostile, so every reply is checked for exactly the shape its request
 * has (size, fds) before a byte of it is believed.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "tern/vhost-user.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "vhost-user payloads are host-endian; tern runs on x86 only");

#define CONFIG_HDR_SIZE 12
#define INFLIGHT_SIZE 24 /* the C struct of the spec, padded to 8 bytes */
#define VRING_ADDR_SIZE 40
#define MEM_REG_SIZE 32

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

void vhost_user_msg_init(struct vhost_user_msg *m, uint32_t request)
{
	memset(m, 0, sizeof(*m));
	m->request = request;
	m->flags = VHOST_USER_VERSION;
	for (unsigned int i = 0; i < VHOST_USER_MAX_FDS; i++)
		m->fds[i] = -1;
}

void vhost_user_msg_u64(struct vhost_user_msg *m, uint32_t request,
			uint64_t val)
{
	vhost_user_msg_init(m, request);
	put64(m->payload, val);
	m->size = 8;
}

void vhost_user_msg_vring_state(struct vhost_user_msg *m, uint32_t request,
				uint32_t index, uint32_t num)
{
	vhost_user_msg_init(m, request);
	put32(m->payload, index);
	put32(m->payload + 4, num);
	m->size = 8;
}

void vhost_user_msg_vring_addr(struct vhost_user_msg *m,
			       const struct vhost_user_vring_addr *a)
{
	vhost_user_msg_init(m, VHOST_USER_SET_VRING_ADDR);
	put32(m->payload, a->index);
	put32(m->payload + 4, a->flags);
	put64(m->payload + 8, a->desc);
	put64(m->payload + 16, a->used);
	put64(m->payload + 24, a->avail);
	put64(m->payload + 32, a->log);
	m->size = VRING_ADDR_SIZE;
}

void vhost_user_msg_vring_fd(struct vhost_user_msg *m, uint32_t request,
			     uint32_t index, int fd)
{
	uint64_t v = index & VHOST_USER_VRING_IDX_MASK;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD;
	vhost_user_msg_u64(m, request, v);
	if (fd >= 0) {
		m->fds[0] = fd;
		m->nr_fds = 1;
	}
}

static void put_region(uint8_t *p, const struct vhost_user_region *r)
{
	put64(p, r->gpa);
	put64(p + 8, r->size);
	put64(p + 16, r->uaddr);
	put64(p + 24, r->mmap_offset);
}

int vhost_user_msg_mem_table(struct vhost_user_msg *m,
			     const struct vhost_user_region *r, const int *fds,
			     unsigned int n)
{
	if (!n || n > VHOST_USER_MEM_REGIONS_MAX)
		return -EINVAL;
	vhost_user_msg_init(m, VHOST_USER_SET_MEM_TABLE);
	put32(m->payload, n);
	for (unsigned int i = 0; i < n; i++) {
		if (fds[i] < 0)
			return -EINVAL;
		put_region(m->payload + 8 + i * MEM_REG_SIZE, &r[i]);
		m->fds[i] = fds[i];
	}
	m->nr_fds = n;
	m->size = 8 + n * MEM_REG_SIZE;
	return 0;
}

void vhost_user_msg_add_mem_reg(struct vhost_user_msg *m,
				const struct vhost_user_region *r, int fd)
{
	vhost_user_msg_init(m, VHOST_USER_ADD_MEM_REG);
	put_region(m->payload + 8, r);
	m->size = 8 + MEM_REG_SIZE;
	m->fds[0] = fd;
	m->nr_fds = 1;
}

int vhost_user_msg_config(struct vhost_user_msg *m, uint32_t request,
			  uint32_t offset, const void *data, uint32_t size)
{
	if (!size || size > VHOST_USER_CONFIG_MAX)
		return -EINVAL;
	vhost_user_msg_init(m, request);
	put32(m->payload, offset);
	put32(m->payload + 4, size);
	put32(m->payload + 8, 0); /* flags: a writable field, not migration */
	if (data)
		memcpy(m->payload + CONFIG_HDR_SIZE, data, size);
	m->size = CONFIG_HDR_SIZE + size;
	return 0;
}

void vhost_user_msg_inflight(struct vhost_user_msg *m, uint32_t request,
			     const struct vhost_user_inflight *in, int fd)
{
	vhost_user_msg_init(m, request);
	put64(m->payload, in->mmap_size);
	put64(m->payload + 8, in->mmap_offset);
	memcpy(m->payload + 16, &in->num_queues, 2);
	memcpy(m->payload + 18, &in->queue_size, 2);
	m->size = INFLIGHT_SIZE;
	if (fd >= 0) {
		m->fds[0] = fd;
		m->nr_fds = 1;
	}
}

bool vhost_user_request_has_reply(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		return true;
	}
	return false;
}

int vhost_user_reply_check_hdr(const struct vhost_user_msg *m, uint32_t request)
{
	if ((m->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(m->flags & VHOST_USER_FLAG_REPLY))
		return -EPROTO;
	if (m->request != request)
		return -EPROTO;
	if (m->size > VHOST_USER_PAYLOAD_MAX)
		return -EPROTO;
	return 0;
}

int vhost_user_reply_check(const struct vhost_user_msg *m, uint32_t request)
{
	unsigned int want_fds = 0;
	bool size_ok;

	if (vhost_user_reply_check_hdr(m, request))
		return -EPROTO;
	switch (request) {
	case VHOST_USER_GET_CONFIG:
		size_ok = m->size > CONFIG_HDR_SIZE &&
			  m->size <= CONFIG_HDR_SIZE + VHOST_USER_CONFIG_MAX;
		break;
	case VHOST_USER_GET_INFLIGHT_FD:
		size_ok = m->size == INFLIGHT_SIZE;
		want_fds = 1;
		break;
	default:
		/* A u64, a vring state, or REPLY_ACK's u64: all 8 bytes. */
		size_ok = m->size == 8;
		break;
	}
	if (!size_ok || m->nr_fds != want_fds)
		return -EPROTO;
	return 0;
}

uint64_t vhost_user_reply_u64(const struct vhost_user_msg *m)
{
	return get64(m->payload);
}

void vhost_user_reply_vring_state(const struct vhost_user_msg *m,
				  uint32_t *index, uint32_t *num)
{
	*index = get32(m->payload);
	*num = get32(m->payload + 4);
}

int vhost_user_reply_config(const struct vhost_user_msg *m, uint32_t offset,
			    uint32_t size, void *out)
{
	if (get32(m->payload) != offset || get32(m->payload + 4) != size ||
	    m->size != CONFIG_HDR_SIZE + size)
		return -EPROTO;
	memcpy(out, m->payload + CONFIG_HDR_SIZE, size);
	return 0;
}

int vhost_user_reply_inflight(const struct vhost_user_msg *m,
			      struct vhost_user_inflight *out)
{
	out->mmap_size = get64(m->payload);
	out->mmap_offset = get64(m->payload + 8);
	memcpy(&out->num_queues, m->payload + 16, 2);
	memcpy(&out->queue_size, m->payload + 18, 2);
	/*
	 * Handed to every later back-end as it came: a size of 0 or a wild
	 * offset is a broken back-end, not a buffer to pass on.
	 */
	if (!out->mmap_size || out->mmap_size > (1ULL << 30) ||
	    out->mmap_offset & 4095 || out->mmap_offset > (1ULL << 30))
		return -EPROTO;
	return 0;
}

const char *vhost_user_request_name(uint32_t request)
{
	static const char *const names[] = {
	    [VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	    [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	    [VHOST_USER_SET_OWNER] = "SET_OWNER",
	    [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	    [VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	    [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	    [VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	    [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	    [VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	    [VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	    [VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	    [VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	    [VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	    [VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	    [VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	    [VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	    [VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	    [VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	    [VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	    [VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	    [VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	    [VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	    [VHOST_USER_SET_STATUS] = "SET_STATUS",
	    [VHOST_USER_GET_STATUS] = "GET_STATUS",
	};

	if (request < sizeof(names) / sizeof(names[0]) && names[request])
		return names[request];
	return "?";
}
