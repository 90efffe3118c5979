// SPDX-License-Identifier: MIT
/*
 * The migration stream's framing (stream.h): the checksum, the preamble,
 * frame headers, page records, and blocking frame I/O on a descriptor.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/le.h"
#include "tern/memory.h"
#include "stream.h"

#define MIG_READ_BUFFER (256 * KiB)
#define MIG_SUM_LANES 4

/* CRC-32C (Castagnoli, reflected 0x82f63b78), four bits at a time. */
static const uint32_t crc32c_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1,
	0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
	0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

static uint32_t crc32c_u8_soft(uint32_t crc, uint8_t b)
{
	crc ^= b;
	crc = (crc >> 4) ^ crc32c_nibble[crc & 0xf];
	return (crc >> 4) ^ crc32c_nibble[crc & 0xf];
}

static uint32_t crc32c_u64_soft(uint32_t crc, uint64_t v)
{
	for (unsigned int i = 0; i < 8; i++)
		crc = crc32c_u8_soft(crc, (uint8_t)(v >> (8 * i)));
	return crc;
}

/*
 * The lanes: word k of each 32-byte block goes to lane k, so the four CRC
 * chains are independent and the CPU overlaps their latency; the tail
 * goes to lane 0 byte by byte; then the length and the four lanes are
 * folded through one more CRC. Both paths compute exactly this.
 */
static uint32_t mig_sum_fold(uint32_t lane[MIG_SUM_LANES], size_t len,
			     uint32_t (*u64)(uint32_t, uint64_t))
{
	uint32_t crc = u64(~0u, (uint64_t)len);

	for (unsigned int i = 0; i < MIG_SUM_LANES; i++)
		crc = u64(crc, lane[i]);
	return ~crc;
}

uint32_t mig_sum_soft(const void *buf, size_t len)
{
	uint32_t lane[MIG_SUM_LANES] = { ~0u, ~0u, ~0u, ~0u };
	const uint8_t *p = buf;
	size_t blocks = len / 32;

	for (size_t b = 0; b < blocks; b++, p += 32)
		for (unsigned int i = 0; i < MIG_SUM_LANES; i++)
			lane[i] = crc32c_u64_soft(lane[i], le64_get(p + 8 * i));
	for (size_t i = blocks * 32; i < len; i++)
		lane[0] = crc32c_u8_soft(lane[0], *p++);
	return mig_sum_fold(lane, len, crc32c_u64_soft);
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_u64_hw(uint32_t crc,
								 uint64_t v)
{
	return (uint32_t)__builtin_ia32_crc32di(crc, v);
}

__attribute__((target("sse4.2"))) static uint32_t mig_sum_hw(const void *buf,
							      size_t len)
{
	uint64_t l0 = ~0u, l1 = ~0u, l2 = ~0u, l3 = ~0u;
	uint32_t lane[MIG_SUM_LANES];
	const uint8_t *p = buf;
	size_t blocks = len / 32;

	for (size_t b = 0; b < blocks; b++, p += 32) {
		uint64_t w[4];

		/* The format is little-endian; so is every host with crc32. */
		memcpy(w, p, sizeof(w));
		l0 = __builtin_ia32_crc32di(l0, w[0]);
		l1 = __builtin_ia32_crc32di(l1, w[1]);
		l2 = __builtin_ia32_crc32di(l2, w[2]);
		l3 = __builtin_ia32_crc32di(l3, w[3]);
	}
	lane[0] = (uint32_t)l0;
	for (size_t i = blocks * 32; i < len; i++)
		lane[0] = __builtin_ia32_crc32qi(lane[0], *p++);
	lane[1] = (uint32_t)l1;
	lane[2] = (uint32_t)l2;
	lane[3] = (uint32_t)l3;
	return mig_sum_fold(lane, len, crc32c_u64_hw);
}

uint32_t mig_sum(const void *buf, size_t len)
{
	if (__builtin_cpu_supports("sse4.2"))
		return mig_sum_hw(buf, len);
	return mig_sum_soft(buf, len);
}

const char *mig_frame_name(uint32_t type)
{
	switch (type) {
	case MIG_FRAME_HELLO:
		return "HELLO";
	case MIG_FRAME_PAGES:
		return "PAGES";
	case MIG_FRAME_PASS:
		return "PASS";
	case MIG_FRAME_DISCARD:
		return "DISCARD";
	case MIG_FRAME_POSTCOPY_LISTEN:
		return "POSTCOPY_LISTEN";
	case MIG_FRAME_STATE:
		return "STATE";
	case MIG_FRAME_POSTCOPY_RUN:
		return "POSTCOPY_RUN";
	case MIG_FRAME_END:
		return "END";
	case MIG_FRAME_GO:
		return "GO";
	case MIG_FRAME_RAM_IMAGE:
		return "RAM_IMAGE";
	case MIG_FRAME_RAM_SUMS:
		return "RAM_SUMS";
	case MIG_RP_READY:
		return "READY";
	case MIG_RP_ERROR:
		return "ERROR";
	case MIG_RP_REQUEST:
		return "REQUEST";
	case MIG_RP_RECEIVED:
		return "RECEIVED";
	case MIG_RP_DONE:
		return "DONE";
	}
	return NULL;
}

/* The largest payload a frame of type may have. */
static uint64_t mig_frame_bound(uint32_t type)
{
	switch (type) {
	case MIG_FRAME_PAGES:
		return MIG_PAGES_PAYLOAD + MIG_PAGES_PAYLOAD / GUEST_PAGE_SIZE *
						   MIG_PAGE_REC_SIZE;
	case MIG_FRAME_PASS:
	case MIG_FRAME_GO:
	case MIG_FRAME_END:
	case MIG_FRAME_POSTCOPY_LISTEN:
	case MIG_FRAME_POSTCOPY_RUN:
	case MIG_RP_READY:
	case MIG_RP_DONE:
		return 64;
	case MIG_RP_ERROR:
		return MIG_RP_ERROR_MAX;
	default:
		return MIG_FRAME_MAX;
	}
}

void mig_rp_error_text(char *out, size_t cap, const uint8_t *p, uint32_t len)
{
	/* %.*s reads at most len bytes and stops early at a NUL. */
	g_snprintf(out, cap, "the destination failed: %.*s",
		   (int)MIN(len, MIG_RP_ERROR_MAX), (const char *)p);
}

void mig_preamble_put(uint8_t out[MIG_PREAMBLE_SIZE])
{
	memcpy(out, MIG_MAGIC, 8);
	le32_put(out + 8, MIG_VERSION);
	le32_put(out + 12, 0);
}

bool mig_preamble_check(const uint8_t in[MIG_PREAMBLE_SIZE], GError **err)
{
	uint32_t version = le32_get(in + 8), flags = le32_get(in + 12);

	if (memcmp(in, MIG_MAGIC, 8)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "not a tern migration stream (bad magic)");
		return false;
	}
	if (version != MIG_VERSION || flags) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "migration stream version %u (flags 0x%x): this tern reads version %u",
			    version, flags, MIG_VERSION);
		return false;
	}
	return true;
}

void mig_header_put(uint8_t out[MIG_FRAME_HEADER_SIZE], uint32_t type,
		    const void *payload, uint32_t len)
{
	le32_put(out, type);
	le32_put(out + 4, len);
	le32_put(out + 8, mig_sum(payload, len));
	le32_put(out + 12, mig_sum(out, 12));
}

bool mig_header_parse(const uint8_t in[MIG_FRAME_HEADER_SIZE],
		      struct mig_frame_header *h, GError **err)
{
	if (le32_get(in + 12) != mig_sum(in, 12)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a frame header's checksum does not match (corrupted stream)");
		return false;
	}
	h->type = le32_get(in);
	h->len = le32_get(in + 4);
	h->sum = le32_get(in + 8);
	if (!mig_frame_name(h->type)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "unknown frame type 0x%x", h->type);
		return false;
	}
	if (h->len > mig_frame_bound(h->type)) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a %s frame of %u bytes, more than its bound of %llu",
			    mig_frame_name(h->type), h->len,
			    (unsigned long long)mig_frame_bound(h->type));
		return false;
	}
	return true;
}

void mig_page_rec_put(uint8_t out[MIG_PAGE_REC_SIZE], uint64_t gpa,
		      uint32_t npages, uint32_t flags)
{
	le64_put(out, gpa);
	le32_put(out + 8, npages);
	le32_put(out + 12, flags);
}

int mig_page_rec_next(const uint8_t *p, size_t len, size_t *pos,
		      struct mig_page_rec *rec, GError **err)
{
	size_t at = *pos;
	uint64_t bytes;

	if (at == len)
		return 0;
	if (len - at < MIG_PAGE_REC_SIZE) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "PAGES frame: a record cut short at byte %zu", at);
		return -1;
	}
	rec->gpa = le64_get(p + at);
	rec->npages = le32_get(p + at + 8);
	rec->flags = le32_get(p + at + 12);
	at += MIG_PAGE_REC_SIZE;
	if (rec->gpa & (GUEST_PAGE_SIZE - 1) || !rec->npages ||
	    rec->flags & ~MIG_PAGE_ZERO) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "PAGES frame: a bad record at byte %zu (gpa 0x%llx, %u pages, flags 0x%x)",
			    *pos, (unsigned long long)rec->gpa, rec->npages,
			    rec->flags);
		return -1;
	}
	rec->data = NULL;
	if (!(rec->flags & MIG_PAGE_ZERO)) {
		bytes = (uint64_t)rec->npages << GUEST_PAGE_SHIFT;
		if (bytes > len - at) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "PAGES frame: %u pages at byte %zu run past the frame",
				    rec->npages, *pos);
			return -1;
		}
		rec->data = p + at;
		at += bytes;
	}
	*pos = at;
	return 1;
}

struct mig_chan *mig_chan_new(int fd, bool is_socket)
{
	struct mig_chan *ch = g_new0(struct mig_chan, 1);

	ch->fd = fd;
	ch->is_socket = is_socket;
	pthread_mutex_init(&ch->send_lock, NULL);
	ch->rbuf = g_malloc(MIG_READ_BUFFER);
	return ch;
}

void mig_chan_free(struct mig_chan *ch)
{
	if (!ch)
		return;
	if (ch->fd >= 0)
		close(ch->fd);
	pthread_mutex_destroy(&ch->send_lock);
	g_free(ch->rbuf);
	g_free(ch->payload);
	g_free(ch);
}

void mig_chan_shutdown(struct mig_chan *ch)
{
	if (ch && ch->is_socket)
		shutdown(ch->fd, SHUT_RDWR);
}

/* writev until done; -errno (EPIPE when the peer is gone). */
static int mig_writev_full(int fd, struct iovec *iov, unsigned int n)
{
	while (n) {
		ssize_t w = writev(fd, iov, (int)MIN(n, 1024u));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (!w)
			return -EPIPE;
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int mig_chan_send(struct mig_chan *ch, uint32_t type, const struct iovec *iov,
		  unsigned int n)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	struct iovec v[8];
	uint64_t len = 0;
	int ret;

	/* One contiguous payload keeps the sum simple: callers build frames. */
	g_assert(n <= 1);
	if (n)
		len = iov[0].iov_len;
	if (len > MIG_FRAME_MAX)
		return -EMSGSIZE;
	mig_header_put(hdr, type, n ? iov[0].iov_base : NULL, (uint32_t)len);
	v[0] = (struct iovec){ hdr, sizeof(hdr) };
	if (n)
		v[1] = iov[0];
	pthread_mutex_lock(&ch->send_lock);
	ret = mig_writev_full(ch->fd, v, 1 + n);
	if (!ret)
		ch->sent += sizeof(hdr) + len;
	pthread_mutex_unlock(&ch->send_lock);
	return ret;
}

int mig_chan_send_buf(struct mig_chan *ch, uint32_t type, const void *buf,
		      size_t len)
{
	struct iovec v = { (void *)buf, len };

	return mig_chan_send(ch, type, &v, len ? 1 : 0);
}

int mig_chan_send_preamble(struct mig_chan *ch)
{
	uint8_t p[MIG_PREAMBLE_SIZE];
	struct iovec v = { p, sizeof(p) };
	int ret;

	mig_preamble_put(p);
	pthread_mutex_lock(&ch->send_lock);
	ret = mig_writev_full(ch->fd, &v, 1);
	if (!ret)
		ch->sent += sizeof(p);
	pthread_mutex_unlock(&ch->send_lock);
	return ret;
}

int mig_chan_read(struct mig_chan *ch, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		size_t have = ch->rlen - ch->rpos;
		ssize_t n;

		if (have) {
			size_t k = MIN(have, len);

			memcpy(p, ch->rbuf + ch->rpos, k);
			ch->rpos += k;
			p += k;
			len -= k;
			continue;
		}
		/* Large reads go straight to their place. */
		if (len >= MIG_READ_BUFFER / 2)
			n = read(ch->fd, p, len);
		else
			n = read(ch->fd, ch->rbuf, MIG_READ_BUFFER);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EPIPE;
		ch->received += (uint64_t)n;
		if (len >= MIG_READ_BUFFER / 2) {
			p += n;
			len -= (size_t)n;
		} else {
			ch->rpos = 0;
			ch->rlen = (size_t)n;
		}
	}
	return 0;
}

static void mig_link_error(int ret, GError **err)
{
	if (ret == -EPIPE)
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "the migration stream ended early");
	else
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "reading the migration stream: %s",
			    g_strerror(-ret));
}

bool mig_chan_recv_preamble(struct mig_chan *ch, GError **err)
{
	uint8_t p[MIG_PREAMBLE_SIZE];
	int ret = mig_chan_read(ch, p, sizeof(p));

	if (ret) {
		mig_link_error(ret, err);
		return false;
	}
	return mig_preamble_check(p, err);
}

bool mig_chan_recv(struct mig_chan *ch, struct mig_frame_header *h,
		   GError **err)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	int ret = mig_chan_read(ch, hdr, sizeof(hdr));

	if (ret) {
		mig_link_error(ret, err);
		return false;
	}
	if (!mig_header_parse(hdr, h, err))
		return false;
	if (h->len > ch->payload_cap) {
		g_free(ch->payload);
		/* Grown by doubling: a few small frames stay small. */
		ch->payload_cap = MAX((size_t)h->len, ch->payload_cap * 2);
		ch->payload = g_malloc(ch->payload_cap);
	}
	ret = mig_chan_read(ch, ch->payload, h->len);
	if (ret) {
		mig_link_error(ret, err);
		return false;
	}
	if (mig_sum(ch->payload, h->len) != h->sum) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "a %s frame of %u bytes: checksum mismatch (corrupted stream)",
			    mig_frame_name(h->type), h->len);
		return false;
	}
	return true;
}
