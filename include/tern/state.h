/* SPDX-License-Identifier: MIT */
/*
 * The machine-state format: what state save writes, state load reads, and
 * live migration streams. Every piece of the machine (a vCPU, the irqchip,
 * a PCI function, a virtqueue, a device model) writes one or more named,
 * versioned sections; the container around them is this module's.
 *
 *   stream  = header section* trailer        (all integers little-endian)
 *   header  = "TERNSTAT" u32:format u32:sections u64:bytes-of-sections
 *   section = u8:name-length name u32:version u32:length payload
 *   trailer = u32:CRC-32 of header and sections
 *
 * Loading never trusts the bytes: the whole container is checked (magic,
 * format, lengths, section framing, checksum, STATE_MAX_SIZE) before any
 * section is handed out; each getter is bounds checked against its section;
 * a loader checks each value's range with state_check(). The first error
 * sticks and names the section and the offset, so a loader can read a run
 * of fields and look at the result once, at state_section_close().
 */
#ifndef TERN_STATE_H
#define TERN_STATE_H

#include <glib.h>
#include <stdarg.h>

#include "tern/util.h"

#define STATE_MAGIC "TERNSTAT"
#define STATE_FORMAT_VERSION 1
/* A bound for loading: far above any machine we build (vCPUs × ~16 KiB). */
#define STATE_MAX_SIZE (64ULL * MiB)
#define STATE_NAME_MAX 63
#define STATE_HEADER_SIZE 24
#define STATE_TRAILER_SIZE 4

struct state_writer {
	GByteArray *buf;
	size_t section_start; /* offset of the open section's length field */
	bool in_section;
	unsigned int nsections;
};

void state_writer_init(struct state_writer *w);
/* Abandon a writer (an error part-way). */
void state_writer_clear(struct state_writer *w);
/* Open a section; name is printf-style, 1..STATE_NAME_MAX printable bytes. */
void state_section_begin(struct state_writer *w, uint32_t version,
			 const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void state_section_end(struct state_writer *w);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bool(struct state_writer *w, bool v);
void state_put_bytes(struct state_writer *w, const void *p, size_t len);
/* Close the container; the buffer is the caller's (g_free). */
uint8_t *state_writer_finish(struct state_writer *w, size_t *len);

struct state_reader {
	const uint8_t *buf;
	size_t len; /* up to the trailer */
	size_t pos; /* next section header */
	unsigned int nsections, seen;
	/* The open section. */
	bool in_section;
	char name[STATE_NAME_MAX + 1];
	uint32_t version;
	const uint8_t *sec;
	size_t sec_len, sec_pos;
	GError *error; /* the first error; sticky */
};

/*
 * Check the whole container. On failure err names what is wrong (magic,
 * format version, a length, a section header, the checksum) and the reader
 * is unusable. buf must outlive the reader.
 */
bool state_reader_init(struct state_reader *r, const uint8_t *buf, size_t len,
		       GError **err);
void state_reader_clear(struct state_reader *r);

/* The next section's name, or NULL at the end (for optional sections). */
const char *state_next_section(struct state_reader *r);
/*
 * Open the next section, which must be called name (printf-style) and have
 * a version in [min, max]; *version gets it. False (sticky error) otherwise.
 */
bool state_section_open(struct state_reader *r, uint32_t min, uint32_t max,
			uint32_t *version, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Getters: false (and a sticky error) past the section's end. */
bool state_get_u8(struct state_reader *r, uint8_t *v);
bool state_get_u16(struct state_reader *r, uint16_t *v);
bool state_get_u32(struct state_reader *r, uint32_t *v);
bool state_get_u64(struct state_reader *r, uint64_t *v);
/* Any byte but 0 or 1 is an error. */
bool state_get_bool(struct state_reader *r, bool *v);
bool state_get_bytes(struct state_reader *r, void *p, size_t len);
/* Record an out-of-range value (sticky error) unless ok; returns ok. */
bool state_check(struct state_reader *r, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* True while no error was recorded. */
bool state_ok(const struct state_reader *r);
/*
 * Close the open section: fails on a recorded error or on bytes the loader
 * did not read (a section longer than this version knows). err gets the
 * first error.
 */
bool state_section_close(struct state_reader *r, GError **err);
/* After the last section: fails if any section was left unread. */
bool state_reader_finish(struct state_reader *r, GError **err);

/* CRC-32 (IEEE 802.3, as zlib), for the trailer and for tests. */
uint32_t state_crc32(uint32_t crc, const void *buf, size_t len);

#endif
