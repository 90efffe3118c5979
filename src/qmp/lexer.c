// SPDX-License-Identifier: MIT
/*
 * What one token of QMP input may hold, checked byte by byte as it arrives:
 * JSON's number syntax and keywords (json-c's lenient mode would take NaN
 * or a trailing dot), well-formed UTF-8 in strings, and escapes.
 *
 * Escapes are held back from json-c until complete, for two reasons:
 *  - U+0000. json-c keeps object keys as C strings, so `"a\u0000b"` as a key
 *    becomes "a", and a value's C string ends at the NUL: `quit\u0000nope`
 *    would run quit. QEMU carries U+0000 inside strings as modified UTF-8
 *    (0xC0 0x80) and so do we: json-c gets those two bytes instead of the
 *    escape, no C string is ever cut, a name or key with U+0000 in it is
 *    simply not a name anyone knows, and json.c writes it back as \u0000.
 *    The two bytes cannot come from a client as such: raw 0xC0 is not UTF-8.
 *  - Surrogates. json-c turns a lone surrogate into U+FFFD; QEMU refuses it
 *    ("\uD800 is not a valid Unicode character"), and so do we, with a high
 *    surrogate held until the low one that must follow it.
 */
#include <string.h>

#include "parser.h"

#define BAD_UTF8 "invalid UTF-8 sequence in string"

/* Where lexing can start again after an error (QEMU's resync points). */
bool lex_is_resync(unsigned char c)
{
	return c < 0x20 || c >= 0xfe || c == '{' || c == '}' || c == '[' ||
	       c == ']';
}

bool lex_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool lex_is_bare(unsigned char c)
{
	return g_ascii_isalnum(c) || c == '.' || c == '+' || c == '-';
}

static enum num_state num_next(enum num_state st, unsigned char c)
{
	bool digit = g_ascii_isdigit(c), e = c == 'e' || c == 'E';

	switch (st) {
	case NUM_NONE:
		if (c == '-')
			return NUM_SIGN;
		/* fall through */
	case NUM_SIGN:
		return c == '0' ? NUM_ZERO : digit ? NUM_INT : NUM_BAD;
	case NUM_ZERO:
		return c == '.' ? NUM_DOT : e ? NUM_E : NUM_BAD;
	case NUM_INT:
		if (digit)
			return NUM_INT;
		return c == '.' ? NUM_DOT : e ? NUM_E : NUM_BAD;
	case NUM_DOT:
	case NUM_FRAC:
		if (digit)
			return NUM_FRAC;
		return (e && st == NUM_FRAC) ? NUM_E : NUM_BAD;
	case NUM_E:
		if (c == '+' || c == '-')
			return NUM_ESIGN;
		/* fall through */
	case NUM_ESIGN:
	case NUM_EXP:
		return digit ? NUM_EXP : NUM_BAD;
	case NUM_BAD:
		break;
	}
	return NUM_BAD;
}

void lex_bare_start(struct qmp_parser *p, unsigned char c)
{
	p->number = g_ascii_isdigit(c) || c == '-';
	p->num = num_next(NUM_NONE, c);
	p->word[0] = c;
	p->word_len = 1;
}

void lex_bare_next(struct qmp_parser *p, unsigned char c)
{
	p->num = num_next(p->num, c);
	if (p->word_len < sizeof(p->word))
		p->word[p->word_len] = c;
	p->word_len++;
}

void lex_bare_end(struct qmp_parser *p)
{
	static const char *const keywords[] = { "true", "false", "null" };

	if (p->number) {
		if (p->num != NUM_ZERO && p->num != NUM_INT &&
		    p->num != NUM_FRAC && p->num != NUM_EXP)
			parser_syntax_error(p, "invalid number");
		return;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(keywords); i++)
		if (p->word_len == strlen(keywords[i]) &&
		    !memcmp(p->word, keywords[i], p->word_len))
			return;
	parser_syntax_error(p, "invalid keyword");
}

bool lex_utf8_next(struct qmp_parser *p, unsigned char c)
{
	if (p->utf8_need) {
		if (c < p->utf8_lo || c > p->utf8_hi) {
			p->utf8_need = 0;
			parser_syntax_error(p, BAD_UTF8);
			return false;
		}
		p->utf8_need--;
		p->utf8_lo = 0x80;
		p->utf8_hi = 0xbf;
		return true;
	}
	if (c < 0x80)
		return true;
	p->utf8_lo = 0x80;
	p->utf8_hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		p->utf8_need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		p->utf8_need = 2;
		if (c == 0xe0)
			p->utf8_lo = 0xa0; /* overlong */
		if (c == 0xed)
			p->utf8_hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		p->utf8_need = 3;
		if (c == 0xf0)
			p->utf8_lo = 0x90; /* overlong */
		if (c == 0xf4)
			p->utf8_hi = 0x8f; /* beyond U+10FFFF */
	} else {
		parser_syntax_error(p, BAD_UTF8);
		return false;
	}
	return true;
}

/*
 * Only "id" matters among the top-level keys (parser.c copies its value),
 * so two characters are kept; json-c decodes the keys it stores itself.
 */
void lex_key_add(struct qmp_parser *p, unsigned int c)
{
	if (!p->top_key || p->key_len == SIZE_MAX)
		return;
	if (c >= 0x80 || p->key_len == sizeof(p->key)) {
		p->key_len = SIZE_MAX;
		return;
	}
	p->key[p->key_len++] = (char)c;
}

void lex_escape_end(struct qmp_parser *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *at = strchr(from, p->esc[1]);

	/* An unknown escape is json-c's to refuse. */
	lex_key_add(p, at && p->esc[1] ? (unsigned char)to[at - from] : 0x80);
	parser_tokenize(p, p->esc, p->esc_len);
}

static void lex_bad_unicode(struct qmp_parser *p, const char *text)
{
	g_autofree char *what = g_strdup_printf(
		"%.6s is not a valid Unicode character", text);

	parser_syntax_error(p, what);
}

void lex_unpaired(struct qmp_parser *p)
{
	p->want_low = false;
	lex_bad_unicode(p, p->high);
}

void lex_unicode_end(struct qmp_parser *p)
{
	unsigned int v = p->esc_val;
	bool high = v >= 0xd800 && v <= 0xdbff;
	bool low = v >= 0xdc00 && v <= 0xdfff;

	if (p->want_low) {
		if (!low) {
			lex_unpaired(p);
			return;
		}
		p->want_low = false;
		lex_key_add(p, 0x80);
		parser_tokenize(p, p->high, sizeof(p->high));
		parser_tokenize(p, p->esc, p->esc_len);
		return;
	}
	if (high) {
		memcpy(p->high, p->esc, sizeof(p->high));
		p->want_low = true;
		return;
	}
	if (low) {
		lex_bad_unicode(p, p->esc);
		return;
	}
	lex_key_add(p, v);
	if (v)
		parser_tokenize(p, p->esc, p->esc_len);
	else
		parser_tokenize(p, "\xc0\x80", 2);
}
