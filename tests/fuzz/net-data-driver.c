// SPDX-License-Identifier: MIT
/*
 * The virtio-net-data fuzz target's driver side (net-data-driver.h): split
 * and packed rings it fills with the chains the input describes and reads
 * the used entries of, the way a well-behaved driver would, so that the
 * checks can name every byte the device may write.
 */
#include <endian.h>
#include <string.h>

#include "net-data-driver.h"

#define DESC_NEXT 1
#define DESC_WRITE 2
#define PACKED_AVAIL (1 << 7)
#define PACKED_USED (1 << 15)

static uint8_t *ram(const struct nd_driver *d, uint64_t gpa)
{
	return d->ram + gpa;
}

/* The driver's every write to RAM: into RAM and into the shadow copy. */
static void drv_write(const struct nd_driver *d, uint64_t gpa, const void *src,
		      size_t len)
{
	memcpy(ram(d, gpa), src, len);
	memcpy(d->shadow + gpa, src, len);
}

static void put16(const struct nd_driver *d, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	drv_write(d, gpa, &v, 2);
}

static uint16_t get16(const struct nd_driver *d, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, ram(d, gpa), 2);
	return le16toh(v);
}

static uint32_t get32(const struct nd_driver *d, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram(d, gpa), 4);
	return le32toh(v);
}

static void put_desc(const struct nd_driver *d, struct dq *q, unsigned int i, uint64_t addr, uint32_t len,
		     uint16_t a, uint16_t b)
{
	uint8_t p[16];
	uint64_t a64 = htole64(addr);
	uint32_t l32 = htole32(len);

	memcpy(p, &a64, 8);
	memcpy(p + 8, &l32, 4);
	/* split: flags, next; packed: id, flags (stored by the caller last) */
	a = htole16(a);
	b = htole16(b);
	memcpy(p + 12, &a, 2);
	memcpy(p + 14, &b, 2);
	drv_write(d, q->desc + 16ULL * i, p, sizeof(p));
}

void dq_reset(struct nd_driver *d, struct dq *q, uint16_t size, uint64_t *at)
{
	/* Chain ids are ring positions: none at or past the old size. */
	for (unsigned int i = 0; i < q->size; i++) {
		g_free(q->c[i].tx_bytes);
		q->c[i] = (struct chain){ 0 };
	}
	q->size = size;
	q->desc = *at;
	if (d->packed) {
		q->driver = q->desc + 16ULL * size;
		q->device = q->driver + 4;
		*at = q->device + 4;
	} else {
		q->driver = q->desc + 16ULL * size;
		q->device = ALIGN_UP(q->driver + 6 + 2ULL * size, 4ULL);
		*at = q->device + 6 + 8ULL * size;
	}
	*at = ALIGN_UP(*at, 16ULL);
	q->avail_idx = q->used_seen = 0;
	q->next_avail = q->last_used = 0;
	q->avail_wrap = q->used_wrap = true;
	q->outstanding = q->busy = 0;
	q->nfree = size;
	for (unsigned int i = 0; i < size; i++)
		q->free[i] = (uint16_t)(size - 1 - i);
}

bool dq_start(struct dq *q)
{
	const char *why = NULL;

	virtq_stop(q->vq);
	*virtq_layout(q->vq) = (struct virtq_layout){
		.size = q->size, .enabled = true, .desc = q->desc,
		.driver = q->driver, .device = q->device,
	};
	return virtq_start(q->vq, &why) == 0;
}

/* A buffer of descriptor position pos: at the end of the position's slot. */
static uint64_t slot_addr(const struct nd_driver *d, const struct dq *q, unsigned int pos, uint32_t len)
{
	return q->slots + (uint64_t)(pos + 1) * d->slot - len;
}

/* A chain's buffers as the input describes them (no place in RAM yet). */
struct chain chain_parse(const struct nd_driver *d, struct fuzz_input *in)
{
	struct chain c = { .ndesc = 1 + fuzz_u8(in) % MAX_CHAIN };

	for (unsigned int i = 0; i < c.ndesc; i++) {
		uint8_t fl = fuzz_u8(in);

		c.writable[i] = fl & 1;
		c.len[i] = (fl & 2) ? 0 : 1 + fuzz_u16(in) % d->slot;
		if (c.writable[i])
			c.in_len += c.len[i];
		else
			c.out_len += c.len[i];
	}
	return c;
}

/* Publish a chain; false when the ring has no room for it. */
bool dq_publish(struct nd_driver *d, struct dq *q, bool tx, struct chain c)
{
	unsigned int n = c.ndesc;
	bool seen_writable = false, bad = false;
	uint16_t pos[MAX_CHAIN], id;

	for (unsigned int i = 0; i < n; i++) {
		bad |= !c.len[i] || (seen_writable && !c.writable[i]);
		seen_writable |= c.writable[i];
	}
	bad |= tx ? c.out_len < NET_VNET_HDR_LEN : !c.in_len;
	if (n > (d->packed ? q->size - q->busy : q->nfree))
		return false;
	for (unsigned int i = 0; i < n; i++)
		pos[i] = d->packed ? (uint16_t)((q->next_avail + i) % q->size) :
				    q->free[--q->nfree];
	id = pos[0];
	for (unsigned int i = 0; i < n; i++) {
		c.pos[i] = pos[i];
		c.addr[i] = slot_addr(d, q, pos[i], c.len[i]);
	}
	if (tx && !bad) {
		uint64_t off = 0;

		c.tx_bytes = g_malloc(c.out_len);
		for (unsigned int i = 0; i < n && !c.writable[i]; i++) {
			/* Byte j of the frame: serial * 13 + j, modulo 256. */
			const uint8_t *bytes =
				d->ramp + (d->serial * 13 + off) % 256;

			drv_write(d, c.addr[i], bytes, c.len[i]);
			memcpy(c.tx_bytes + off, bytes, c.len[i]);
			off += c.len[i];
		}
	}
	d->serial++;
	d->malformed |= bad;
	c.out = true;
	FUZZ_CHECK(!q->c[id].out);
	g_free(q->c[id].tx_bytes);
	q->c[id] = c;
	q->outstanding++;
	q->busy += n;

	if (d->packed) {
		bool wrap = q->avail_wrap;
		uint16_t head_flags = 0;

		/* The head's flags go last: then the whole chain is there at once. */
		for (unsigned int i = 0; i < n; i++) {
			uint16_t fl = (c.writable[i] ? DESC_WRITE : 0) |
				      (i + 1 < n ? DESC_NEXT : 0);

			if (pos[i] == 0 && i)
				wrap = !wrap;
			fl |= wrap ? PACKED_AVAIL : PACKED_USED;
			if (!i) {
				head_flags = fl;
				put_desc(d, q, pos[i], c.addr[i], c.len[i], id, 0);
			} else {
				put_desc(d, q, pos[i], c.addr[i], c.len[i], id, fl);
			}
		}
		__atomic_thread_fence(__ATOMIC_RELEASE);
		put16(d, q->desc + 16ULL * pos[0] + 14, head_flags);
		q->next_avail = (uint16_t)(q->next_avail + n);
		if (q->next_avail >= q->size) {
			q->next_avail -= q->size;
			q->avail_wrap = !q->avail_wrap;
		}
		return true;
	}
	for (unsigned int i = 0; i < n; i++)
		put_desc(d, q, pos[i], c.addr[i], c.len[i],
			 (c.writable[i] ? DESC_WRITE : 0) | (i + 1 < n ? DESC_NEXT : 0),
			 i + 1 < n ? pos[i + 1] : 0);
	put16(d, q->driver + 4 + 2ULL * (q->avail_idx % q->size), id);
	q->avail_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put16(d, q->driver + 2, q->avail_idx);
	return true;
}

/* The next used chain, or false. The device only returns chains it was given. */
bool dq_used(struct nd_driver *d, struct dq *q, uint16_t *id, uint32_t *len)
{
	struct chain *c;

	if (d->packed) {
		uint64_t at = q->desc + 16ULL * q->last_used;
		uint16_t fl = get16(d, at + 14);
		bool avail = fl & PACKED_AVAIL, used = fl & PACKED_USED;

		if (avail != used || used != q->used_wrap)
			return false;
		*id = get16(d, at + 12);
		*len = get32(d, at + 8);
	} else {
		uint16_t idx = get16(d, q->device + 2);

		if (idx == q->used_seen)
			return false;
		FUZZ_CHECK((uint16_t)(idx - q->used_seen) <= q->outstanding);
		*id = (uint16_t)get32(d, q->device + 4 + 8ULL * (q->used_seen % q->size));
		*len = get32(d, q->device + 8 + 8ULL * (q->used_seen % q->size));
		q->used_seen++;
	}
	FUZZ_CHECK(*id < q->size && q->c[*id].out);
	c = &q->c[*id];
	c->out = false;
	q->outstanding--;
	q->busy -= c->ndesc;
	if (d->packed) {
		q->last_used = (uint16_t)(q->last_used + c->ndesc);
		if (q->last_used >= q->size) {
			q->last_used -= q->size;
			q->used_wrap = !q->used_wrap;
		}
	} else {
		for (unsigned int i = 0; i < c->ndesc; i++)
			q->free[q->nfree++] = c->pos[i];
	}
	return true;
}

/* The device areas a pass may write: used ring, or the packed descriptors. */
void dq_take_ring(const struct nd_driver *d, const struct dq *q, uint8_t *shadow)
{
	if (d->packed) {
		memcpy(shadow + q->desc, ram(d, q->desc), 16ULL * q->size);
		memcpy(shadow + q->device, ram(d, q->device), 4);
	} else {
		memcpy(shadow + q->device, ram(d, q->device), 6 + 8ULL * q->size);
	}
}
