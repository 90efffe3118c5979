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
 *    json-c's lenient mode lacks (lexer.c: keywords, number syntax, UTF-8,
 *    escapes; here: commas, nesting depth, memory), and reported once when
 *    the value ends.
 *
 * UTF-8 is checked here rather than by json-c's JSON_TOKENER_VALIDATE_UTF8,
 * which (json-c 0.16) fails a character split between two reads.
 *
 * The bytes of a value are handed to json-c as they arrive, so a command
 * split over many reads is parsed incrementally, and several commands in
 * one read are split without copying.
 *
 * Memory, not only bytes, is bounded. json-c keeps every value of an
 * unfinished one, and an empty object costs it ~800 bytes for 3 bytes of
 * input (`{},`): 1 MiB of input made ~260 MB, per client. So the lexer adds
 * up what json-c will build for each token before json-c sees it, and a
 * value past max_memory is refused there: json-c's partial tree is freed at
 * once and json-c is fed no more of it. Bounding what is built is the fix,
 * rather than calling malloc_trim() when a client goes: trimming would
 * leave the peak (64 clients × 260 MB) as it was, costs a walk of the heap
 * per disconnect, and is glibc's alone; with each client's tree bounded,
 * what it frees is a few hundred KiB that the next request reuses.
 *
 * The request's `id` is copied as the client wrote it while it is lexed,
 * so that the reply echoes it verbatim (json-c's value would be written
 * back re-spaced, with big integers clamped and -0 as 0).
 */
#include <stdio.h>
#include <string.h>

#include "parser.h"

/*
 * What json-c 0.16 allocates per token, rounded up (measured with mallinfo2
 * on x86-64 glibc): an empty object ~800 bytes (its hash table starts with
 * 16 slots), an array ~160, a number, keyword or string ~110 plus its text,
 * a key with its slot in the object ~150. A key counts as a string. Text is
 * left out: QMP_MAX_MESSAGE bounds it already.
 */
#define COST_OBJECT 1024
#define COST_ARRAY 256
#define COST_SCALAR 128
/* After a value this long, a new tokener: json-c keeps its string buffer. */
#define TOKENER_KEEP (64 * KiB)

static struct json_tokener *parser_tokener_new(void)
{
	/* Our lexer enforces the depth; json-c's own count differs by one
	 * depending on whether the innermost container is empty. */
	return json_tokener_new_ex(QMP_MAX_DEPTH + 2);
}

struct qmp_parser *qmp_parser_new(size_t max_message, size_t max_memory)
{
	struct qmp_parser *p = g_new0(struct qmp_parser, 1);

	p->tok = parser_tokener_new();
	p->max = max_message;
	p->max_memory = max_memory;
	return p;
}

static void parser_id_drop(struct qmp_parser *p)
{
	if (p->id)
		g_string_free(p->id, TRUE);
	p->id = NULL;
	p->id_state = ID_NONE;
}

static void parser_reset_value(struct qmp_parser *p)
{
	if (p->size > TOKENER_KEEP) {
		json_tokener_free(p->tok);
		p->tok = parser_tokener_new();
	} else {
		json_tokener_reset(p->tok);
	}
	p->braces = 0;
	p->brackets = 0;
	p->depth = 0;
	p->objects = 0;
	p->in_value = false;
	p->size = 0;
	p->memory = 0;
	p->last = 0;
	p->word_len = 0;
	p->utf8_need = 0;
	p->esc_len = 0;
	p->want_low = false;
	p->top_key = false;
	parser_id_drop(p);
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
	g_free(p->value_id);
	json_tokener_free(p->tok);
	g_free(p);
}

const char *qmp_parser_id(const struct qmp_parser *p)
{
	return p->value_id;
}

void parser_syntax_error(struct qmp_parser *p, const char *what)
{
	if (!p->syntax)
		p->syntax = g_error_new(QMP_ERROR, QMP_ERROR_GENERIC,
					"JSON parse error, %s", what);
	/* The value is lost: what json-c built of it goes now, not when its
	 * braces balance, and so does the copy of its id. */
	json_tokener_reset(p->tok);
	json_object_put(p->obj);
	p->obj = NULL;
	p->have_obj = false;
	p->tok_done = true;
	parser_id_drop(p);
}

static bool all_ws(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!lex_is_ws(s[i]))
			return false;
	return true;
}

void parser_tokenize(struct qmp_parser *p, const char *s, size_t n)
{
	enum json_tokener_error e;
	json_object *o;

	if (!n)
		return;
	if (p->tok_done) {
		/* json-c stops at the end of a value; our lexer says where
		 * that is. */
		if (p->have_obj && !all_ws(s, n))
			parser_syntax_error(p, "unexpected data after a value");
		return;
	}
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
	parser_tokenize(p, s + json_tokener_get_parse_end(p->tok),
			n - json_tokener_get_parse_end(p->tok));
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
		if (p->id)
			p->value_id = g_string_free(g_steal_pointer(&p->id),
						    FALSE);
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
	/*
	 * Formatted on the stack (the callers' texts are short): a client
	 * sending garbage gets many of these.
	 */
	static const char prefix[] = "JSON parse error, ";
	char msg[128];
	va_list ap;

	memcpy(msg, prefix, sizeof(prefix));
	va_start(ap, fmt);
	vsnprintf(msg + sizeof(prefix) - 1, sizeof(msg) - sizeof(prefix) + 1,
		  fmt, ap);
	va_end(ap);
	g_set_error_literal(err, QMP_ERROR, QMP_ERROR_GENERIC, msg);
	parser_reset_value(p);
	p->lex = LEX_RECOVERY;
	return QMP_PARSE_ERROR;
}

/* Does the token just ended complete the value? */
static bool value_done(const struct qmp_parser *p)
{
	return !((p->braces > 0 || p->brackets > 0) && p->braces >= 0 &&
		 p->brackets >= 0);
}

/* A token json-c will make a value of: count what that will cost. */
static void parser_count(struct qmp_parser *p, size_t cost)
{
	g_autofree char *what = NULL;

	p->memory += cost;
	if (p->memory <= p->max_memory || p->syntax)
		return;
	what = g_strdup_printf(
		"the value would take more than %zu bytes to parse",
		p->max_memory);
	parser_syntax_error(p, what);
}

/* A structural character or the start of a token, outside strings. */
static void parser_token_start(struct qmp_parser *p, unsigned char c)
{
	if (c == ',' && (!p->last || strchr("{[,:", p->last)))
		parser_syntax_error(p, "expecting value");
	if ((c == '}' || c == ']') && p->last == ',')
		parser_syntax_error(p, "expecting value");
	if (c == '"' || c == '\'') {
		/* A key of the top-level object? Its id is echoed. */
		p->top_key = p->depth == 1 && (p->objects & 1) &&
			     (p->last == '{' || p->last == ',');
		p->key_len = 0;
	}
	p->last = strchr("{}[]:,", c) ? (char)c : 'v';
	if (c == '{' || c == '[') {
		if (p->depth < 64 && c == '{')
			p->objects |= 1ULL << p->depth;
		else if (p->depth < 64)
			p->objects &= ~(1ULL << p->depth);
		p->depth++;
		parser_count(p, c == '{' ? COST_OBJECT : COST_ARRAY);
	} else if ((c == '}' || c == ']') && p->depth) {
		p->depth--;
	} else if (c == '"' || c == '\'' || g_ascii_isalnum(c) || c == '-') {
		parser_count(p, COST_SCALAR);
	}
}

/* The string just ended; was it the top-level key "id"? */
static void parser_string_end(struct qmp_parser *p)
{
	if (!p->top_key)
		return;
	p->top_key = false;
	p->id_state = ID_NONE;
	if (p->key_len == 2 && !memcmp(p->key, "id", 2))
		p->id_state = ID_KEY;
}

/* Copy bytes of the id; line breaks become spaces: a reply is one line. */
static void parser_id_copy(struct qmp_parser *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g_string_append_c(p->id, lex_is_ws(s[i]) ? ' ' : s[i]);
}

/* A token starts at buf[i]: follow the top-level "id" member. */
static void parser_id_token(struct qmp_parser *p, const char *buf, size_t i,
			    size_t *cap)
{
	char c = buf[i];

	switch (p->id_state) {
	case ID_NONE:
		break;
	case ID_KEY:
		p->id_state = c == ':' ? ID_COLON : ID_NONE;
		break;
	case ID_COLON:
		/* A repeated "id": the last one wins, as in json-c. */
		parser_id_drop(p);
		if (p->syntax || strchr(":,}]", c))
			break;
		p->id = g_string_new(NULL);
		p->id_state = ID_VALUE;
		*cap = i;
		break;
	case ID_VALUE:
		if (p->depth != 1 || (c != ',' && c != '}'))
			break;
		parser_id_copy(p, buf + *cap, i - *cap);
		while (p->id->len && p->id->str[p->id->len - 1] == ' ')
			g_string_truncate(p->id, p->id->len - 1);
		p->id_state = ID_NONE;
		break;
	}
}

enum qmp_parse_status qmp_parser_feed(struct qmp_parser *p, const char *buf,
				      size_t len, size_t *used,
				      json_object **value, GError **err)
{
	const unsigned char *s = (const unsigned char *)buf;
	/* From buf[span] on, json-c has not seen it; from buf[cap], the id
	 * not copied; from buf[from], the value's size not counted. */
	size_t i = 0, span = 0, cap = 0, from = 0;
	bool end = false;

	*value = NULL;
	g_clear_pointer(&p->value_id, g_free);
	while (i < len && !end) {
		unsigned char c = s[i];

		switch (p->lex) {
		case LEX_RECOVERY:
			if (!lex_is_resync(c)) {
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
			if (p->want_low && c != '\\')
				lex_unpaired(p);
			lex_utf8_next(p, c);
			if (c == '\\') {
				/* json-c gets the escape once it is whole. */
				parser_tokenize(p, buf + span, i - span);
				p->esc[0] = c;
				p->esc_len = 1;
				p->lex = LEX_ESCAPE;
				span = ++i;
				break;
			}
			if (c == (unsigned char)p->quote) {
				p->lex = LEX_START;
				parser_string_end(p);
			} else {
				lex_key_add(p, c);
			}
			i++;
			end = p->lex == LEX_START && value_done(p);
			break;
		case LEX_ESCAPE:
			if (c < 0x20 || c >= 0xfe) {
				*used = i + 1;
				return parser_lexical_error(p, err,
					"invalid byte 0x%02x in a string", c);
			}
			lex_utf8_next(p, c);
			if (p->want_low && c != 'u')
				lex_unpaired(p);
			p->esc[p->esc_len++] = c;
			span = ++i;
			if (c == 'u') {
				p->esc_val = 0;
				p->lex = LEX_UNICODE;
				break;
			}
			p->lex = LEX_STRING;
			lex_escape_end(p);
			break;
		case LEX_UNICODE:
			if (!g_ascii_isxdigit(c)) {
				parser_syntax_error(p, "invalid \\u escape");
				p->want_low = false;
				p->lex = LEX_STRING;
				continue; /* a string's byte: a quote ends it */
			}
			p->esc[p->esc_len++] = c;
			p->esc_val = p->esc_val << 4 | g_ascii_xdigit_value(c);
			span = ++i;
			if (p->esc_len < sizeof(p->esc))
				break;
			p->lex = LEX_STRING;
			lex_unicode_end(p);
			break;
		case LEX_BARE:
			if (lex_is_bare(c)) {
				lex_bare_next(p, c);
				i++;
				break;
			}
			/* c is not part of the token: look at it again. */
			lex_bare_end(p);
			p->lex = LEX_START;
			if (value_done(p)) {
				end = true; /* c belongs to what follows */
				break;
			}
			continue;
		case LEX_START:
			if (lex_is_ws(c)) {
				i++;
				break;
			}
			if (!p->in_value) {
				p->in_value = true;
				span = from = i;
			}
			if (!c || (!strchr("{}[]:,\"'", c) &&
				   !g_ascii_isalnum(c) && c != '-')) {
				*used = i + 1;
				if (c >= 0x20 && c < 0x7f)
					return parser_lexical_error(p, err,
						"stray '%c'", c);
				return parser_lexical_error(p, err,
					"stray byte 0x%02x", c);
			}
			parser_id_token(p, buf, i, &cap);
			parser_token_start(p, c);
			i++;
			if (c == '"' || c == '\'') {
				p->quote = c;
				p->utf8_need = 0;
				p->lex = LEX_STRING;
				break;
			}
			if (g_ascii_isalnum(c) || c == '-') {
				lex_bare_start(p, c);
				p->lex = LEX_BARE;
				break;
			}
			p->braces += (c == '{') - (c == '}');
			p->brackets += (c == '[') - (c == ']');
			if (p->braces + p->brackets > QMP_MAX_DEPTH)
				parser_syntax_error(p, "nesting too deep");
			end = value_done(p);
			break;
		}
	}
	*used = i;
	if (p->in_value) {
		/* Checked per call: a call sees at most one read's worth. */
		p->size += i - from;
		if (p->size > p->max) {
			g_set_error(err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "JSON message exceeds %zu bytes", p->max);
			parser_reset_value(p);
			p->lex = LEX_RECOVERY;
			return QMP_PARSE_FATAL;
		}
		if (p->id_state == ID_VALUE)
			parser_id_copy(p, buf + cap, i - cap);
		parser_tokenize(p, buf + span, i - span);
	}
	if (end)
		return parser_finish(p, value, err);
	return QMP_PARSE_MORE;
}
