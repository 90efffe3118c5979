// SPDX-License-Identifier: MIT
/*
 * QMP input framing: a byte stream → JSON values, with QEMU's boundaries and
 * error recovery, parsed by json-c's streaming tokener.
 *
 * json-c alone cannot frame QMP: after an error it has no notion of where
 * the next command starts, and it accepts things QEMU refuses (comments,
 * raw control characters in strings, NaN, trailing commas). So a small
 * lexer runs in front of it, as QEMU's json-lexer and json-streamer do:
 *
 *  - it tracks strings (double or single quoted, with escapes) and counts
 *    braces and brackets outside them; a value ends after a token that
 *    leaves them balanced (or negative), so `{]` is one bad value;
 *  - a byte that cannot begin a token (a control character, `%`, a byte
 *    >= 0x80 outside a string, 0xFE/0xFF anywhere, a control character in
 *    a string) is a lexical error: the value so far is dropped, one error
 *    is reported, and input is skipped up to the next structural character
 *    or control character, where lexing starts again;
 *  - everything else is a syntax error, found by json-c or by the checks
 *    json-c's lenient mode lacks (keywords, number syntax, commas, nesting
 *    depth, UTF-8 in strings), and reported once when the value ends.
 *
 * UTF-8 is checked here rather than by json-c's JSON_TOKENER_VALIDATE_UTF8,
 * which (json-c 0.16) fails a character split between two reads.
 *
 * The bytes of a value are handed to json-c as they arrive, so a command
 * split over many reads is parsed incrementally, and several commands in
 * one read are split without copying.
 */
#include <string.h>

#include "tern/qmp.h"

#define BAD_UTF8 "invalid UTF-8 sequence in string"

/* JSON's number syntax, one character at a time. */
enum num_state {
	NUM_NONE,
	NUM_SIGN,
	NUM_ZERO,
	NUM_INT,
	NUM_DOT,
	NUM_FRAC,
	NUM_E,
	NUM_ESIGN,
	NUM_EXP,
	NUM_BAD,
};

enum lex_state {
	LEX_START, /* between tokens */
	LEX_STRING,
	LEX_ESCAPE, /* after a backslash in a string */
	LEX_BARE, /* a number or a keyword */
	LEX_RECOVERY, /* skipping after a lexical error */
};

struct qmp_parser {
	struct json_tokener *tok;
	size_t max;
	enum lex_state lex;
	char quote;
	int braces, brackets;
	bool in_value;
	size_t size; /* bytes of the current value so far */
	char last; /* the last structural character of the value, or 0 */
	bool number; /* the bare token is a number, else a keyword */
	enum num_state num;
	char word[8]; /* the start of a keyword */
	size_t word_len;
	uint8_t utf8_need, utf8_lo, utf8_hi; /* continuation bytes expected */
	GError *syntax; /* the value's first syntax error */
	bool tok_done; /* json-c finished or failed: feed it no more */
	bool have_obj;
	json_object *obj; /* what json-c returned (NULL is JSON null) */
};

struct qmp_parser *qmp_parser_new(size_t max_message)
{
	struct qmp_parser *p = g_new0(struct qmp_parser, 1);

	/* Our lexer enforces the depth; json-c's own count differs by one
	 * depending on whether the innermost container is empty. */
	p->tok = json_tokener_new_ex(QMP_MAX_DEPTH + 2);
	p->max = max_message;
	return p;
}

static void parser_reset_value(struct qmp_parser *p)
{
	json_tokener_reset(p->tok);
	p->braces = 0;
	p->brackets = 0;
	p->in_value = false;
	p->size = 0;
	p->last = 0;
	p->word_len = 0;
	p->utf8_need = 0;
	g_clear_error(&p->syntax);
	p->tok_done = false;
	p->have_obj = false;
	json_object_put(p->obj);
	p->obj = NULL;
}

void qmp_parser_free(struct qmp_parser *p)
{
	if (!p)
		return;
	parser_reset_value(p);
	json_tokener_free(p->tok);
	g_free(p);
}

static void parser_syntax_error(struct qmp_parser *p, const char *what)
{
	if (!p->syntax)
		p->syntax = g_error_new(QMP_ERROR, QMP_ERROR_GENERIC,
					"JSON parse error, %s", what);
	p->tok_done = true;
}

/* Hand the value's next bytes to json-c. */
static void parser_tokenize(struct qmp_parser *p, const char *s, size_t n)
{
	enum json_tokener_error e;
	json_object *o;

	if (p->tok_done || !n)
		return;
	o = json_tokener_parse_ex(p->tok, s, n);
	e = json_tokener_get_error(p->tok);
	if (e == json_tokener_continue)
		return;
	p->tok_done = true;
	if (e != json_tokener_success) {
		parser_syntax_error(p, json_tokener_error_desc(e));
		return;
	}
	p->have_obj = true;
	p->obj = o;
	/* json-c stops at the end of a value; our lexer says where that is. */
	for (size_t i = json_tokener_get_parse_end(p->tok); i < n; i++) {
		if (!strchr(" \t\r\n", s[i])) {
			parser_syntax_error(p, "unexpected data after a value");
			return;
		}
	}
}

/* The value ended: hand it out, or its error. */
static enum qmp_parse_status parser_finish(struct qmp_parser *p,
					   json_object **value, GError **err)
{
	enum qmp_parse_status ret;

	/* A bare number or keyword needs to see a delimiter to complete. */
	if (!p->tok_done)
		parser_tokenize(p, " ", 1);
	if (!p->syntax && !p->have_obj)
		parser_syntax_error(p, "expecting value");
	if (p->syntax) {
		g_propagate_error(err, g_steal_pointer(&p->syntax));
		ret = QMP_PARSE_ERROR;
	} else {
		*value = g_steal_pointer(&p->obj);
		ret = QMP_PARSE_VALUE;
	}
	parser_reset_value(p);
	return ret;
}

static enum qmp_parse_status parser_lexical_error(struct qmp_parser *p,
						  GError **err,
						  const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static enum qmp_parse_status parser_lexical_error(struct qmp_parser *p,
						  GError **err,
						  const char *fmt, ...)
{
	g_autofree char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC, "JSON parse error, %s",
		    what);
	parser_reset_value(p);
	p->lex = LEX_RECOVERY;
	return QMP_PARSE_ERROR;
}

/* Where lexing can start again after an error (QEMU's resync points). */
static bool is_resync(unsigned char c)
{
	return c < 0x20 || c >= 0xfe || c == '{' || c == '}' || c == '[' ||
	       c == ']';
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_bare(unsigned char c)
{
	return g_ascii_isalnum(c) || c == '.' || c == '+' || c == '-';
}

/* Does the token just ended complete the value? */
static bool value_done(const struct qmp_parser *p)
{
	return !((p->braces > 0 || p->brackets > 0) && p->braces >= 0 &&
		 p->brackets >= 0);
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

static void parser_bare_start(struct qmp_parser *p, unsigned char c)
{
	p->number = g_ascii_isdigit(c) || c == '-';
	p->num = num_next(NUM_NONE, c);
	p->word[0] = c;
	p->word_len = 1;
}

static void parser_bare_next(struct qmp_parser *p, unsigned char c)
{
	p->num = num_next(p->num, c);
	if (p->word_len < sizeof(p->word))
		p->word[p->word_len] = c;
	p->word_len++;
}

/* The bare token ended: is it a number or a keyword JSON knows? */
static void parser_bare_end(struct qmp_parser *p)
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

/* One byte of a string: is it still well-formed UTF-8 (no surrogates)? */
static bool utf8_next(struct qmp_parser *p, unsigned char c)
{
	if (p->utf8_need) {
		if (c < p->utf8_lo || c > p->utf8_hi) {
			p->utf8_need = 0;
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
		return false;
	}
	return true;
}

/* A structural character or the start of a token, outside strings. */
static void parser_token_start(struct qmp_parser *p, unsigned char c)
{
	if (c == ',' && (!p->last || strchr("{[,:", p->last)))
		parser_syntax_error(p, "expecting value");
	if ((c == '}' || c == ']') && p->last == ',')
		parser_syntax_error(p, "expecting value");
	p->last = strchr("{}[]:,", c) ? (char)c : 'v';
}

enum qmp_parse_status qmp_parser_feed(struct qmp_parser *p, const char *buf,
				      size_t len, size_t *used,
				      json_object **value, GError **err)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0, span = 0; /* s[span, i) is not yet given to json-c */
	bool end = false;

	*value = NULL;
	while (i < len && !end) {
		unsigned char c = s[i];

		switch (p->lex) {
		case LEX_RECOVERY:
			if (!is_resync(c)) {
				i++;
				break;
			}
			p->lex = LEX_START;
			continue;
		case LEX_STRING:
			if (c < 0x20) {
				*used = i + 1;
				return parser_lexical_error(p, err,
					"control character 0x%02x in a string", c);
			}
			if (c >= 0xfe) {
				*used = i + 1;
				return parser_lexical_error(p, err,
					"invalid byte 0x%02x in a string", c);
			}
			if (!utf8_next(p, c))
				parser_syntax_error(p, BAD_UTF8);
			if (c == '\\')
				p->lex = LEX_ESCAPE;
			else if (c == (unsigned char)p->quote)
				p->lex = LEX_START;
			i++;
			end = p->lex == LEX_START && value_done(p);
			break;
		case LEX_ESCAPE:
			if (c < 0x20 || c >= 0xfe) {
				*used = i + 1;
				return parser_lexical_error(p, err,
					"invalid byte 0x%02x in a string", c);
			}
			if (!utf8_next(p, c))
				parser_syntax_error(p, BAD_UTF8);
			p->lex = LEX_STRING;
			i++;
			break;
		case LEX_BARE:
			if (is_bare(c)) {
				parser_bare_next(p, c);
				i++;
				break;
			}
			/* c is not part of the token: look at it again. */
			parser_bare_end(p);
			p->lex = LEX_START;
			if (value_done(p)) {
				end = true; /* c belongs to what follows */
				break;
			}
			continue;
		case LEX_START:
			if (is_ws(c)) {
				i++;
				break;
			}
			if (!p->in_value) {
				p->in_value = true;
				span = i;
			}
			if (c == '"' || c == '\'') {
				parser_token_start(p, c);
				p->quote = c;
				p->utf8_need = 0;
				p->lex = LEX_STRING;
				i++;
				break;
			}
			if (g_ascii_isalnum(c) || c == '-') {
				parser_token_start(p, c);
				parser_bare_start(p, c);
				p->lex = LEX_BARE;
				i++;
				break;
			}
			if (!strchr("{}[]:,", c) || !c) {
				*used = i + 1;
				if (c >= 0x20 && c < 0x7f)
					return parser_lexical_error(p, err,
						"stray '%c'", c);
				return parser_lexical_error(p, err,
					"stray byte 0x%02x", c);
			}
			parser_token_start(p, c);
			p->braces += (c == '{') - (c == '}');
			p->brackets += (c == '[') - (c == ']');
			if (p->braces + p->brackets > QMP_MAX_DEPTH)
				parser_syntax_error(p, "nesting too deep");
			i++;
			end = value_done(p);
			break;
		}
	}
	*used = i;
	if (p->in_value) {
		/* Checked per call: a call sees at most one read's worth. */
		p->size += i - span;
		if (p->size > p->max) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "JSON message exceeds %zu bytes", p->max);
			parser_reset_value(p);
			p->lex = LEX_RECOVERY;
			return QMP_PARSE_FATAL;
		}
		parser_tokenize(p, buf + span, i - span);
	}
	if (end)
		return parser_finish(p, value, err);
	return QMP_PARSE_MORE;
}
