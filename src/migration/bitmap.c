// SPDX-License-Identifier: MIT
/*
 * Pure helpers: page bitmaps per RAM region (what is left to send, what
 * was received) and migration URIs.
 */
#include <string.h>

#include "tern/error.h"
#include "internal.h"

#define BITS_PER_WORD (8 * sizeof(unsigned long))

static size_t words_for(uint64_t pages)
{
	return (pages + BITS_PER_WORD - 1) / BITS_PER_WORD;
}

void mig_bitmap_init(struct mig_bitmap *b, const struct guest_memory *mem)
{
	memset(b, 0, sizeof(*b));
	b->nr = mem->nr_regions;
	for (unsigned int i = 0; i < b->nr; i++) {
		b->gpa[i] = mem->regions[i].gpa;
		b->pages[i] = mem->regions[i].size >> GUEST_PAGE_SHIFT;
		b->bits[i] = g_new0(unsigned long, words_for(b->pages[i]));
	}
}

void mig_bitmap_free(struct mig_bitmap *b)
{
	for (unsigned int i = 0; i < b->nr; i++)
		g_free(b->bits[i]);
	memset(b, 0, sizeof(*b));
}

void mig_bitmap_fill(struct mig_bitmap *b, bool set)
{
	for (unsigned int i = 0; i < b->nr; i++) {
		size_t words = words_for(b->pages[i]);

		memset(b->bits[i], set ? 0xff : 0, words * sizeof(unsigned long));
		/* Bits past the last page stay clear: counts stay exact. */
		if (set && b->pages[i] % BITS_PER_WORD)
			b->bits[i][words - 1] =
				(1UL << (b->pages[i] % BITS_PER_WORD)) - 1;
	}
}

bool mig_bitmap_find(const struct mig_bitmap *b, uint64_t gpa,
		     unsigned int *region, uint64_t *page)
{
	for (unsigned int i = 0; i < b->nr; i++) {
		if (gpa >= b->gpa[i] &&
		    (gpa - b->gpa[i]) >> GUEST_PAGE_SHIFT < b->pages[i]) {
			*region = i;
			*page = (gpa - b->gpa[i]) >> GUEST_PAGE_SHIFT;
			return true;
		}
	}
	return false;
}

bool mig_bitmap_set_range(struct mig_bitmap *b, uint64_t gpa, uint64_t len,
			  bool set)
{
	unsigned int r;
	uint64_t first, n;

	if (!len || !mig_bitmap_find(b, gpa, &r, &first))
		return false;
	n = (len + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT;
	if (n > b->pages[r] - first)
		return false;
	for (uint64_t p = first; p < first + n; p++) {
		unsigned long bit = 1UL << (p % BITS_PER_WORD);

		if (set)
			b->bits[r][p / BITS_PER_WORD] |= bit;
		else
			b->bits[r][p / BITS_PER_WORD] &= ~bit;
	}
	return true;
}

bool mig_bitmap_test(const struct mig_bitmap *b, unsigned int region,
		     uint64_t page)
{
	return b->bits[region][page / BITS_PER_WORD] >> (page % BITS_PER_WORD) & 1;
}

bool mig_bitmap_test_atomic(const struct mig_bitmap *b, unsigned int region,
			    uint64_t page)
{
	/* Acquire: pairs with the release of the setter (the page is in). */
	unsigned long w = __atomic_load_n(&b->bits[region][page / BITS_PER_WORD],
					  __ATOMIC_ACQUIRE);

	return w >> (page % BITS_PER_WORD) & 1;
}

void mig_bitmap_set_atomic(struct mig_bitmap *b, unsigned int region,
			   uint64_t page)
{
	__atomic_fetch_or(&b->bits[region][page / BITS_PER_WORD],
			  1UL << (page % BITS_PER_WORD), __ATOMIC_RELEASE);
}

uint64_t mig_bitmap_count(const struct mig_bitmap *b)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < b->nr; i++)
		for (size_t w = 0; w < words_for(b->pages[i]); w++)
			n += (uint64_t)__builtin_popcountl(b->bits[i][w]);
	return n;
}

size_t mig_bitmap_bytes(const struct mig_bitmap *b, unsigned int region)
{
	return words_for(b->pages[region]) * sizeof(unsigned long);
}

void migration_uri_clear(struct migration_uri *u)
{
	g_free(u->host);
	g_free(u->port);
	g_free(u->path);
	memset(u, 0, sizeof(*u));
}

/* tcp:HOST:PORT, with [v6]:PORT; the port is 1..65535 in decimal. */
static bool uri_parse_tcp(const char *s, struct migration_uri *u)
{
	const char *colon;
	uint64_t port;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':' || end == s + 1)
			return false;
		u->host = g_strndup(s + 1, (gsize)(end - s - 1));
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s)
			return false;
		u->host = g_strndup(s, (gsize)(colon - s));
		if (strchr(u->host, ':'))
			return false;
	}
	if (parse_u64(colon + 1, &port) || port < 1 || port > 65535)
		return false;
	u->port = g_strdup(colon + 1);
	return true;
}

bool migration_uri_parse(const char *uri, struct migration_uri *out,
			 GError **err)
{
	memset(out, 0, sizeof(*out));
	if (!strcmp(uri, "defer")) {
		out->kind = MIGRATION_URI_DEFER;
		return true;
	}
	if (g_str_has_prefix(uri, "tcp:")) {
		out->kind = MIGRATION_URI_TCP;
		if (uri_parse_tcp(uri + 4, out))
			return true;
		migration_uri_clear(out);
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
			    "error parsing address '%s': expected tcp:HOST:PORT",
			    uri + 4);
		return false;
	}
	if ((g_str_has_prefix(uri, "unix:") || g_str_has_prefix(uri, "file:")) &&
	    uri[5]) {
		out->kind = uri[0] == 'u' ? MIGRATION_URI_UNIX : MIGRATION_URI_FILE;
		/* sun_path holds 107 bytes and a NUL. */
		if (out->kind == MIGRATION_URI_UNIX && strlen(uri + 5) > 107) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
				    "'%s': a socket path has at most 107 bytes", uri);
			return false;
		}
		out->path = g_strdup(uri + 5);
		return true;
	}
	g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT,
		    "Parameter 'uri' expects a valid migration protocol");
	return false;
}
