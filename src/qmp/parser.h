/* SPDX-License-Identifier: MIT */
/*
 * Inside the input framer: the parser's state, shared by parser.c (the
 * framing loop, json-c, the request's id) and lexer.c (what one token may
 * hold: numbers, keywords, UTF-8, escapes). Nothing outside src/qmp/
 * includes this.
 */
#ifndef TERN_QMP_PARSER_H
#define TERN_QMP_PARSER_H

#include "tern/qmp.h"

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
	LEX_UNICODE, /* in the four hex digits of a \u escape */
	LEX_BARE, /* a number or a keyword */
	LEX_RECOVERY, /* skipping after a lexical error */
};

/* Where the lexer is with the top-level object's "id" member. */
enum id_state {
	ID_NONE,
	ID_KEY, /* the key "id" ended: a colon comes */
	ID_COLON, /* its value comes */
	ID_VALUE, /* its value is being copied */
};

struct qmp_parser {
	struct json_tokener *tok;
	size_t max; /* bytes in one value */
	size_t max_memory; /* json-c's memory for one value, estimated */
	enum lex_state lex;
	char quote;
	int braces, brackets;
	unsigned int depth; /* containers open */
	uint64_t objects; /* bit d: the container at depth d + 1 is an object */
	bool in_value;
	size_t size; /* bytes of the current value so far */
	size_t memory; /* what json-c holds for it, estimated */
	char last; /* the last structural character of the value, or 0 */
	bool number; /* the bare token is a number, else a keyword */
	enum num_state num;
	char word[8]; /* the start of a keyword */
	size_t word_len;
	uint8_t utf8_need, utf8_lo, utf8_hi; /* continuation bytes expected */
	/* An escape held back from json-c until it is complete. */
	char esc[6];
	size_t esc_len;
	unsigned int esc_val; /* the hex digits of \u so far */
	char high[6]; /* a high surrogate's \u escape, waiting for its pair */
	bool want_low;
	/* The string being read is a key of the top-level object. */
	bool top_key;
	char key[2]; /* its first characters, decoded */
	size_t key_len; /* SIZE_MAX once it cannot be "id" */
	/* The request's id, copied as the client wrote it. */
	enum id_state id_state;
	GString *id; /* the id member's text (the last one, if repeated) */
	char *value_id; /* the id of the value last handed out */
	GError *syntax; /* the value's first syntax error */
	bool tok_done; /* json-c finished or failed: feed it no more */
	bool have_obj;
	json_object *obj; /* what json-c returned (NULL is JSON null) */
};

/* parser.c */
void parser_syntax_error(struct qmp_parser *p, const char *what);
/* Hand the value's next bytes to json-c. */
void parser_tokenize(struct qmp_parser *p, const char *s, size_t n);

/* lexer.c */
bool lex_is_resync(unsigned char c);
bool lex_is_ws(unsigned char c);
bool lex_is_bare(unsigned char c);
void lex_bare_start(struct qmp_parser *p, unsigned char c);
void lex_bare_next(struct qmp_parser *p, unsigned char c);
/* The bare token ended: is it a number or a keyword JSON knows? */
void lex_bare_end(struct qmp_parser *p);
/* One byte of a string: is it still well-formed UTF-8 (no surrogates)? */
bool lex_utf8_next(struct qmp_parser *p, unsigned char c);
/* One decoded character of a top-level key (non-ASCII: any c >= 0x80). */
void lex_key_add(struct qmp_parser *p, unsigned int c);
/* The escape in p->esc is complete (not \u): give json-c its text. */
void lex_escape_end(struct qmp_parser *p);
/* A high surrogate's escape is not followed by a low one's: an error. */
void lex_unpaired(struct qmp_parser *p);
/* The \u escape in p->esc is complete: check it, give json-c its text. */
void lex_unicode_end(struct qmp_parser *p);

#endif
