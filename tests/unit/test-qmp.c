// SPDX-License-Identifier: MIT
/*
 * QMP without a VM: the framer on byte strings, and a server with a test
 * command table whose clients are socketpairs, driven by iterating the main
 * context. Malformed input is always followed by a check that the
 * connection still works, as QEMU's qmp-test does.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/qmp.h"
#include "unit.h"

/* The framer */

/*
 * Feed input in chunks of `chunk` bytes (0: all at once) and describe what
 * came out: values as compact JSON, "E" for an error, "F" for a fatal one,
 * separated by '|'.
 */
static char *frame_mem(const char *in, size_t len, size_t chunk, size_t max,
		       size_t memory)
{
	struct qmp_parser *p = qmp_parser_new(max, memory);
	GString *out = g_string_new(NULL);
	size_t off = 0;

	if (!chunk)
		chunk = len ? len : 1;
	while (off < len) {
		size_t n = MIN(chunk, len - off), pos = 0;

		while (pos < n) {
			g_autoptr(GError) err = NULL;
			json_object *v = NULL;
			size_t used = 0;
			enum qmp_parse_status st =
				qmp_parser_feed(p, in + off + pos, n - pos, &used, &v, &err);

			ck_assert_uint_le(used, n - pos);
			pos += used;
			if (st == QMP_PARSE_MORE) {
				ck_assert_uint_eq(pos, n);
				continue;
			}
			if (out->len)
				g_string_append_c(out, '|');
			if (st == QMP_PARSE_VALUE) {
				g_autofree char *t = qmp_json_format(v, false);

				g_string_append(out, t);
				json_object_put(v);
			} else {
				ck_assert_ptr_nonnull(err);
				ck_assert(g_str_has_prefix(err->message, "JSON "));
				g_string_append(out, st == QMP_PARSE_FATAL ? "F" : "E");
			}
		}
		off += n;
	}
	qmp_parser_free(p);
	return g_string_free(out, FALSE);
}

static char *frame(const char *in, size_t len, size_t chunk, size_t max)
{
	return frame_mem(in, len, chunk, max, QMP_MAX_PARSE_MEMORY);
}

static void expect_frames(const char *in, const char *want)
{
	size_t len = strlen(in);

	/* The same result however the input is split. */
	for (size_t chunk = 0; chunk <= MIN(len, 7); chunk++) {
		g_autofree char *got = frame(in, len, chunk, QMP_MAX_MESSAGE);

		ck_assert_msg(!strcmp(got, want),
			      "input '%s' in chunks of %zu: got '%s', want '%s'",
			      in, chunk, got, want);
	}
}

START_TEST(frame_values)
{
	expect_frames("{\"execute\": \"stop\"}", "{\"execute\": \"stop\"}");
	expect_frames("  \r\n\t{\"a\":1}  ", "{\"a\": 1}");
	/* Coalesced: several values in one read, with or without spaces. */
	expect_frames("{\"a\":1}{\"b\":[2, 3]}\n{\"c\":{}}",
		      "{\"a\": 1}|{\"b\": [2, 3]}|{\"c\": {}}");
	/* Top-level scalars end at a delimiter, as in QEMU. */
	expect_frames("123 \"s\" null true{}", "123|\"s\"|null|true|{}");
	expect_frames("[1, 2.5, -3, 1e3, \"x\"] ", "[1, 2.5, -3, 1e3, \"x\"]");
	/* QEMU's extension: single-quoted strings. */
	expect_frames("{'execute': 'it\"s'}", "{\"execute\": \"it\\\"s\"}");
	/* Braces and brackets inside strings do not count. */
	expect_frames("{\"a\": \"}]{[\\\"\"}", "{\"a\": \"}]{[\\\"\"}");
	expect_frames("{\"a\": \"\\u00e9 \xc3\xa9\"}", "{\"a\": \"\xc3\xa9 \xc3\xa9\"}");
}
END_TEST

START_TEST(frame_incomplete)
{
	/* Nothing comes out until the value is complete. */
	expect_frames("{\"execute\": \"st", "");
	expect_frames("123", "");
	expect_frames("[[[", "");
}
END_TEST

START_TEST(frame_lexical_errors)
{
	/* QEMU's qmp-test cases: one error each, then a clean start. */
	expect_frames("{]\n{\"a\":1}", "E|{\"a\": 1}");
	expect_frames("{\xff{\"a\":1}", "E|{\"a\": 1}");
	expect_frames("{\x01{\"a\":1}", "E|{\"a\": 1}");
	expect_frames("{'bad \xff{\"a\":1}", "E|{\"a\": 1}");
	expect_frames("{'execute': 'nonexistent', 'id':'\n{\"a\":1}", "E|{\"a\": 1}");
	expect_frames("%p{\"a\":1}", "E|{\"a\": 1}");
	/* Garbage is skipped up to a structural or control character. */
	expect_frames("@@ garbage xyz\n[1]", "E|[1]");
	expect_frames("/* comment */ [1]", "E|[1]");
	expect_frames("\x80\xc3[1]", "E|[1]");
}
END_TEST

START_TEST(frame_syntax_errors)
{
	/* One error per value, reported when its braces balance. */
	expect_frames("{\"a\":1,}[1]", "E|[1]");
	expect_frames("[1,]{}", "E|{}");
	expect_frames("[,1]{}", "E|{}");
	expect_frames("{\"a\" 1}{}", "E|{}");
	expect_frames("{\"a\": tru}{}", "E|{}");
	expect_frames("{\"a\": nul}{}", "E|{}");
	expect_frames("{\"a\": NaN}{}", "E|{}");
	expect_frames("{\"a\": -Infinity}{}", "E|{}");
	expect_frames("{\"a\": \"\\q\"}{}", "E|{}");
	expect_frames("{\"a\": \"\xc3\x28\"}{}", "E|{}");
	expect_frames("{\"a\": [}]{}", "E|{}");
	expect_frames("}{}", "E|{}");
	expect_frames("1-2 {}", "E|{}");
	expect_frames("bogus {}", "E|{}");
}
END_TEST

START_TEST(frame_depth)
{
	GString *ok = g_string_new(NULL), *deep = g_string_new(NULL);

	for (int i = 0; i < QMP_MAX_DEPTH; i++)
		g_string_append_c(ok, '[');
	for (int i = 0; i < QMP_MAX_DEPTH; i++)
		g_string_append_c(ok, ']');
	g_string_printf(deep, "[%s]{}", ok->str);
	{
		g_autofree char *a = frame(ok->str, ok->len, 0, QMP_MAX_MESSAGE);
		g_autofree char *b = frame(deep->str, deep->len, 0, QMP_MAX_MESSAGE);

		ck_assert(g_str_has_prefix(a, "[[[["));
		/* One level too deep: an error for that value only. */
		ck_assert_str_eq(b, "E|{}");
	}
	g_string_free(ok, TRUE);
	g_string_free(deep, TRUE);
}
END_TEST

START_TEST(frame_oversize)
{
	g_autofree char *big = g_malloc(QMP_MAX_MESSAGE + 16);
	g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;

	/* A string that never ends: cut off at the bound, not buffered. */
	big[0] = '[';
	big[1] = '"';
	memset(big + 2, 'a', QMP_MAX_MESSAGE + 14);
	r1 = frame(big, QMP_MAX_MESSAGE + 16, 4096, QMP_MAX_MESSAGE);
	ck_assert(g_str_has_prefix(r1, "F"));
	/* Exactly the bound is fine. */
	r2 = frame("[\"aaaa\"]", 8, 3, 8);
	ck_assert_str_eq(r2, "[\"aaaa\"]");
	r3 = frame("[\"aaaaa\"]", 9, 3, 8);
	ck_assert(g_str_has_prefix(r3, "F"));
}
END_TEST

/* Heap in use, or 0 where malloc is not glibc's (ASan replaces it). */
static size_t heap_used(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 0;
#endif
#endif
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/* head, n times item (%d: its index), tail. */
static char *repeat(const char *head, const char *item, int n, const char *tail)
{
	GString *s = g_string_new(head);

	for (int i = 0; i < n; i++)
		g_string_append_printf(s, item, i);
	g_string_append(s, tail);
	return g_string_free(s, FALSE);
}

/* Parse in as one value; its heap cost in *cost (0 without mallinfo). */
static bool parse_cost(const char *in, size_t *cost)
{
	struct qmp_parser *p = qmp_parser_new(QMP_MAX_MESSAGE,
					      QMP_MAX_PARSE_MEMORY);
	size_t before = heap_used(), used;
	g_autoptr(GError) err = NULL;
	json_object *v = NULL;
	enum qmp_parse_status st = qmp_parser_feed(p, in, strlen(in), &used,
						   &v, &err);

	*cost = before ? heap_used() - before : 0;
	json_object_put(v);
	qmp_parser_free(p);
	ck_assert(st == QMP_PARSE_VALUE || st == QMP_PARSE_ERROR);
	return st == QMP_PARSE_VALUE;
}

START_TEST(frame_memory_bound)
{
	/* Shapes of values; a ' ' ends a bare top-level scalar list. */
	static const struct {
		const char *head, *item, *tail;
		int at_least; /* items a client can always send */
	} shapes[] = {
		{ "[", "{},", "{}]", 800 },
		{ "[", "[],", "[]]", 3000 },
		{ "[", "%d,", "0]", 7000 },
		{ "[", "1.5,", "1.5]", 7000 },
		{ "[", "\"\",", "\"\"]", 7000 },
		{ "[", "true,", "null]", 7000 },
		{ "{", "\"k%d\": 0,", "\"z\": 0}", 3500 },
		{ "[", "{\"a\": {}, \"b\": [%d]},", "{}]", 300 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
		int lo = 0, hi = 1 << 16;
		size_t cost;

		/* The most items the parser accepts, by bisection. */
		while (hi - lo > 1) {
			int mid = (lo + hi) / 2;
			g_autofree char *in = repeat(shapes[i].head,
						     shapes[i].item, mid,
						     shapes[i].tail);

			if (parse_cost(in, &cost))
				lo = mid;
			else
				hi = mid;
		}
		ck_assert_msg(lo >= shapes[i].at_least, "%s: only %d accepted",
			      shapes[i].item, lo);
		ck_assert_msg(hi < 1 << 16, "%s: no bound", shapes[i].item);
		/* What json-c really spent on the largest one is within the
		 * bound: the estimate is not a lie for this json-c. */
		{
			g_autofree char *in = repeat(shapes[i].head,
						     shapes[i].item, lo,
						     shapes[i].tail);

			ck_assert(parse_cost(in, &cost));
			ck_assert_msg(cost <= QMP_MAX_PARSE_MEMORY,
				      "%s x %d: json-c took %zu bytes",
				      shapes[i].item, lo, cost);
		}
	}
}
END_TEST

START_TEST(frame_memory_hostile)
{
	/*
	 * The attack: `[` and `{},` up to just under the byte bound, never
	 * closed. json-c used to hold ~260 MB of it; now it holds no more than
	 * the bound while the lexer reads on, and the value is refused.
	 */
	struct qmp_parser *p = qmp_parser_new(QMP_MAX_MESSAGE,
					      QMP_MAX_PARSE_MEMORY);
	char chunk[16 * 1024 + 2];
	size_t before = heap_used(), peak = 0, sent = 0;
	g_autoptr(GError) err = NULL;
	json_object *v = NULL;
	size_t used;

	for (size_t i = 0; i + 3 <= sizeof(chunk); i += 3)
		memcpy(chunk + i, "{},", 3);
	ck_assert(qmp_parser_feed(p, "[", 1, &used, &v, &err) == QMP_PARSE_MORE);
	while (sent < QMP_MAX_MESSAGE - sizeof(chunk)) {
		ck_assert(qmp_parser_feed(p, chunk, sizeof(chunk), &used, &v,
					  &err) == QMP_PARSE_MORE);
		ck_assert_uint_eq(used, sizeof(chunk));
		sent += used;
		if (before)
			peak = MAX(peak, heap_used() - before);
	}
	if (before) {
		ck_assert_msg(peak <= QMP_MAX_PARSE_MEMORY + 64 * KiB,
			      "%zu bytes held for %zu of input", peak, sent);
		/* Refused already: json-c's tree is gone, not kept until the
		 * value ends. */
		ck_assert_uint_le(heap_used() - before, 64 * KiB);
	}
	ck_assert(qmp_parser_feed(p, "{}]", 3, &used, &v, &err) == QMP_PARSE_ERROR);
	ck_assert_ptr_nonnull(strstr(err->message, "bytes to parse"));
	g_clear_error(&err);
	/* The next value is parsed normally. */
	ck_assert(qmp_parser_feed(p, "{}", 2, &used, &v, &err) == QMP_PARSE_VALUE);
	json_object_put(v);
	qmp_parser_free(p);
}
END_TEST

START_TEST(frame_nul_and_surrogates)
{
	static const char nul[] = "{\"a\\u0000b\": \"x\\u0000\"}";
	g_autoptr(json_object) v = NULL;
	g_autoptr(GError) err = NULL;
	struct qmp_parser *p;
	size_t used;

	/* U+0000 in a key or a value: kept whole, written back as \u0000. */
	expect_frames("{\"a\\u0000b\": \"x\\u0000\", \"\\u0000\": 1}",
		      "{\"a\\u0000b\": \"x\\u0000\", \"\\u0000\": 1}");
	p = qmp_parser_new(QMP_MAX_MESSAGE, QMP_MAX_PARSE_MEMORY);
	ck_assert(qmp_parser_feed(p, nul, strlen(nul), &used, &v, &err) ==
		  QMP_PARSE_VALUE);
	json_object_object_foreach(v, key, val) {
		/* Modified UTF-8, as QEMU carries it: no C string is cut. */
		ck_assert_str_eq(key, "a\xc0\x80" "b");
		ck_assert_int_eq(json_object_get_string_len(val), 3);
		ck_assert_str_eq(json_object_get_string(val), "x\xc0\x80");
	}
	/* A surrogate pair is one character; a lone surrogate is refused. */
	expect_frames("[\"\\ud83d\\ude00\", \"\\uD83D\\uDE00\"]",
		      "[\"\xf0\x9f\x98\x80\", \"\xf0\x9f\x98\x80\"]");
	expect_frames("[\"\\ud800\"]{}", "E|{}");
	expect_frames("[\"\\udc00x\"]{}", "E|{}");
	expect_frames("[\"\\ud800\\u0041\"]{}", "E|{}");
	expect_frames("[\"\\ud800\\n\"]{}", "E|{}");
	expect_frames("[\"\\ud800x\"]{}", "E|{}");
	expect_frames("{\"\\udbff\": 1}{}", "E|{}");
	/* Not four hex digits. */
	expect_frames("[\"\\u12\"]{}", "E|{}");
	expect_frames("[\"\\u12g4\"]{}", "E|{}");
	/* QEMU's words for it. */
	g_clear_pointer(&v, json_object_put);
	ck_assert(qmp_parser_feed(p, "[\"\\uD800\"]", 10, &used, &v, &err) ==
		  QMP_PARSE_ERROR);
	ck_assert_uint_eq(used, 10);
	ck_assert_str_eq(err->message,
			 "JSON parse error, \\uD800 is not a valid Unicode character");
	qmp_parser_free(p);
}
END_TEST

/* The id of the first value in `in`, fed `chunk` bytes at a time. */
static char *first_id(const char *in, size_t chunk)
{
	struct qmp_parser *p = qmp_parser_new(QMP_MAX_MESSAGE,
					      QMP_MAX_PARSE_MEMORY);
	size_t len = strlen(in), off = 0;
	char *id = g_strdup("(no value)");

	if (!chunk)
		chunk = len;
	while (off < len) {
		g_autoptr(GError) err = NULL;
		json_object *v = NULL;
		size_t used;
		enum qmp_parse_status st = qmp_parser_feed(
			p, in + off, MIN(chunk, len - off), &used, &v, &err);

		off += used;
		json_object_put(v);
		if (st == QMP_PARSE_MORE)
			continue;
		g_free(id);
		if (st != QMP_PARSE_VALUE)
			id = g_strdup("(error)");
		else
			id = g_strdup(qmp_parser_id(p) ? qmp_parser_id(p) : "(none)");
		break;
	}
	qmp_parser_free(p);
	return id;
}

START_TEST(frame_request_id)
{
	static const struct {
		const char *in, *id;
	} cases[] = {
		/* As the client wrote them. */
		{ "{\"execute\": \"x\", \"id\": [0,0]}", "[0,0]" },
		{ "{\"id\" : 18446744073709551616 , \"execute\": \"x\"}",
		  "18446744073709551616" },
		{ "{\"id\": -0}", "-0" },
		{ "{\"id\": 1.0E+2}", "1.0E+2" },
		{ "{\"id\": {\"b\": 1, \"a\": [ 2 ]}}", "{\"b\": 1, \"a\": [ 2 ]}" },
		{ "{\"id\": 'it\"s'}", "'it\"s'" },
		{ "{\"id\": \"a\\u0000b\\/\"}", "\"a\\u0000b\\/\"" },
		{ "{\"id\": \"\\ud83d\\ude00\"}", "\"\\ud83d\\ude00\"" },
		{ "{\"id\": true}", "true" },
		/* One line: line breaks become spaces, none trail. */
		{ "{\"id\":\n[1,\r\n\t2]\n}", "[1,   2]" },
		/* The key as json-c reads it; repeated, the last. */
		{ "{\"\\u0069d\": 5}", "5" },
		{ "{'id': 1, \"id\": 'two'}", "'two'" },
		/* Not the top-level "id". */
		{ "{\"execute\": \"x\"}", "(none)" },
		{ "{\"a\": {\"id\": 1}}", "(none)" },
		{ "[{\"id\": 1}]", "(none)" },
		{ "{\"id\\u0000\": 1}", "(none)" },
		{ "{\"idx\": 1, \"i\": 2}", "(none)" },
		{ "{\"x\": \"id\", \"y\": 1}", "(none)" },
		/* A bad value has no id to echo. */
		{ "{\"id\": [1,]}", "(error)" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		for (size_t chunk = 0; chunk <= 7; chunk++) {
			g_autofree char *id = first_id(cases[i].in, chunk);

			ck_assert_msg(!strcmp(id, cases[i].id),
				      "'%s' in chunks of %zu: id '%s', want '%s'",
				      cases[i].in, chunk, id, cases[i].id);
		}
	}
}
END_TEST

START_TEST(json_format_like_qemu)
{
	g_autoptr(json_object) o = json_tokener_parse(
		"{\"return\": {}, \"id\": [1, \"a/b\", null, true, {\"x\": []}]}");
	g_autofree char *compact = qmp_json_format(o, false);
	g_autofree char *pretty = qmp_json_format(o, true);

	ck_assert_str_eq(compact,
		"{\"return\": {}, \"id\": [1, \"a/b\", null, true, {\"x\": []}]}");
	ck_assert_str_eq(pretty,
		"{\n    \"return\": {},\n    \"id\": [\n        1,\n        \"a/b\",\n"
		"        null,\n        true,\n        {\n            \"x\": []\n"
		"        }\n    ]\n}");
}
END_TEST

/* QEMU's escaping, one byte at a time, to hold json.c's runs against. */
static void escape_bytewise(GString *s, const unsigned char *p, size_t len)
{
	g_string_append_c(s, '"');
	for (size_t i = 0; i < len; i++) {
		const char *named = strchr("\"\\\b\f\n\r\t", p[i]);

		if (p[i] && named)
			g_string_append_printf(s, "\\%c",
					       "\"\\bfnrt"[named - "\"\\\b\f\n\r\t"]);
		else if (p[i] == 0xc0 && i + 1 < len && p[i + 1] == 0x80)
			g_string_append(s, "\\u0000"), i++;
		else if (p[i] < 0x20)
			g_string_append_printf(s, "\\u%04x", p[i]);
		else
			g_string_append_c(s, (char)p[i]);
	}
	g_string_append_c(s, '"');
}

START_TEST(json_string_escapes)
{
	/* Every byte alone, first, in the middle and last of plain text. */
	for (unsigned int b = 0; b < 256; b++) {
		for (unsigned int at = 0; at < 4; at++) {
			unsigned char str[8] = "ab cd";
			size_t len = at == 3 ? 1 : 5;
			g_autoptr(GString) want = g_string_new(NULL);
			g_autoptr(json_object) o = NULL;
			g_autofree char *got = NULL;

			str[at == 3 ? 0 : at * 2] = (unsigned char)b;
			o = json_object_new_string_len((const char *)str,
						       (int)len);
			escape_bytewise(want, str, len);
			got = qmp_json_format(o, false);
			ck_assert_msg(!strcmp(got, want->str),
				      "byte 0x%02x at %u: %s, want %s", b, at,
				      got, want->str);
		}
	}
	/* U+0000 as 0xC0 0x80 next to specials; a lone 0xC0 at the end. */
	{
		static const char str[] = "x\xc0\x80\"\xc0\x80\xc0\x80y\\\xc0";
		g_autoptr(json_object) o =
			json_object_new_string_len(str, sizeof(str) - 1);
		g_autofree char *got = qmp_json_format(o, false);

		ck_assert_str_eq(got, "\"x\\u0000\\\"\\u0000\\u0000y\\\\\xc0\"");
	}
}
END_TEST

START_TEST(json_error_text)
{
	static const char *const descs[] = {
		"", "plain", "JSON parse error, invalid keyword",
		"quote \" backslash \\ tab \t nul \xc0\x80 bell \x07 \xc3\xa9",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(descs); i++) {
		g_autoptr(json_object) rsp = json_object_new_object();
		json_object *e = json_object_new_object();
		g_autofree char *want = NULL, *got = NULL;

		qmp_add_str(e, "class", "GenericError");
		qmp_add_str(e, "desc", descs[i]);
		json_object_object_add(rsp, "error", e);
		want = qmp_json_format(rsp, false);
		got = qmp_json_format_error("GenericError", descs[i]);
		ck_assert_str_eq(got, want);
	}
}
END_TEST

/* The server, over socketpairs */

struct peer {
	int fd;
	GString *in;
	bool eof;
};

static struct qmp_server *srv;
static int handler_calls;

static void pump(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

static struct peer *peer_new(void)
{
	struct peer *p = g_new0(struct peer, 1);
	int sv[2];
	GError *err = NULL;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert(qmp_server_add_client(srv, sv[0], &err));
	p->fd = sv[1];
	p->in = g_string_new(NULL);
	return p;
}

static void peer_free(struct peer *p)
{
	close(p->fd);
	g_string_free(p->in, TRUE);
	g_free(p);
	pump();
}

static void peer_send(struct peer *p, const char *s, size_t len)
{
	ck_assert_int_eq(write_full(p->fd, s, len), 0);
}

static void peer_say(struct peer *p, const char *s)
{
	peer_send(p, s, strlen(s));
}

/* Read what has arrived; false at EOF. */
static bool peer_fill(struct peer *p, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	char buf[65536];
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return true;
	n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno == ECONNRESET)) {
		p->eof = true;
		return false;
	}
	if (n > 0)
		g_string_append_len(p->in, buf, n);
	return true;
}

/* Read until the server has been quiet for 50 ms; drop what came. */
static void peer_drain(struct peer *p)
{
	size_t before;

	do {
		before = p->in->len;
		pump();
		peer_fill(p, 50);
	} while (p->in->len != before);
	ck_assert(!p->in->len || g_str_has_suffix(p->in->str, "\r\n"));
	g_string_truncate(p->in, 0);
}

/* The next message from the server, or NULL at EOF or after 5 s. */
static json_object *peer_recv(struct peer *p)
{
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < deadline) {
		char *nl = strstr(p->in->str, "\r\n");

		if (nl) {
			g_autofree char *line = g_strndup(p->in->str, nl - p->in->str);
			json_object *o;

			g_string_erase(p->in, 0, nl + 2 - p->in->str);
			o = json_tokener_parse(line);
			ck_assert_msg(json_object_is_type(o, json_type_object),
				      "not a JSON object: '%s'", line);
			/* Every line is one object written QEMU's way (but
			 * for an id, echoed as the client wrote it). */
			if (!json_object_object_get_ex(o, "id", NULL)) {
				g_autofree char *again = qmp_json_format(o, false);

				ck_assert_str_eq(again, line);
			}
			return o;
		}
		pump();
		if (!peer_fill(p, 5))
			return NULL;
	}
	return NULL;
}

/* The next message that is not an event. */
static json_object *peer_reply(struct peer *p)
{
	for (;;) {
		json_object *o = peer_recv(p);

		ck_assert_ptr_nonnull(o);
		if (!json_object_object_get_ex(o, "event", NULL))
			return o;
		json_object_put(o);
	}
}

static json_object *peer_call(struct peer *p, const char *req)
{
	peer_say(p, req);
	return peer_reply(p);
}

static json_object *get(json_object *o, const char *path)
{
	g_auto(GStrv) keys = g_strsplit(path, ".", -1);

	for (char **k = keys; *k && o; k++)
		if (!json_object_object_get_ex(o, *k, &o))
			return NULL;
	return o;
}

static void expect_return(json_object *rsp)
{
	ck_assert_msg(get(rsp, "return") || json_object_object_get_ex(rsp, "return", NULL),
		      "not a return: %s", json_object_to_json_string(rsp));
	ck_assert(!get(rsp, "error"));
}

static void expect_error(json_object *rsp, const char *cls, const char *desc)
{
	json_object *c = get(rsp, "error.class"), *d = get(rsp, "error.desc");

	ck_assert_msg(c && d, "not an error: %s", json_object_to_json_string(rsp));
	ck_assert_str_eq(json_object_get_string(c), cls);
	if (desc)
		ck_assert_msg(strstr(json_object_get_string(d), desc),
			      "'%s' lacks '%s'", json_object_get_string(d), desc);
	ck_assert_int_eq(json_object_object_length(get(rsp, "error")), 2);
	ck_assert(!json_object_object_get_ex(rsp, "return", NULL));
}

static void call_ok(struct peer *p, const char *req)
{
	g_autoptr(json_object) r = peer_call(p, req);

	expect_return(r);
}

static void call_err(struct peer *p, const char *req, const char *cls,
		     const char *desc)
{
	g_autoptr(json_object) r = peer_call(p, req);

	expect_error(r, cls, desc);
}

static void assert_recovered(struct peer *p)
{
	call_err(p, "{ 'execute': 'no-such-cmd' }", "CommandNotFound", NULL);
}

static void negotiate(struct peer *p)
{
	g_autoptr(json_object) greeting = peer_recv(p);

	ck_assert_ptr_nonnull(get(greeting, "QMP.version.qemu.major"));
	call_ok(p, "{\"execute\": \"qmp_capabilities\"}");
}

/* The test command table */

static const char *const test_enum[] = { "x", "y", NULL };

static const struct qmp_arg test_echo_args[] = {
	{ .name = "s", .type = QMP_TYPE_STR },
	{ .name = "i", .type = QMP_TYPE_INT, .optional = true },
	{ .name = "b", .type = QMP_TYPE_BOOL, .optional = true },
	{ .name = "n", .type = QMP_TYPE_NUMBER, .optional = true },
	{ .name = "o", .type = QMP_TYPE_OBJECT, .optional = true },
	{ .name = "a", .type = QMP_TYPE_ARRAY, .optional = true,
	  .elem = QMP_TYPE_INT },
	{ .name = "e", .type = QMP_TYPE_STR, .optional = true,
	  .values = test_enum },
	{ .name = "v", .type = QMP_TYPE_ANY, .optional = true },
	{ NULL },
};

static json_object *test_echo(const struct qmp_call *call, json_object *args,
			      GError **err)
{
	ck_assert_ptr_eq(call->opaque, &handler_calls);
	ck_assert_ptr_eq(call->server, srv);
	handler_calls++;
	return json_object_get(args);
}

static const struct qmp_arg test_fail_args[] = {
	{ .name = "code", .type = QMP_TYPE_INT },
	{ NULL },
};

static json_object *test_fail(const struct qmp_call *call, json_object *args,
			      GError **err)
{
	int code = json_object_get_int(json_object_object_get(args, "code"));

	if (code < 0)
		g_set_error(err, TERN_ERROR, TERN_ERROR_INPUT, "a tern error");
	else
		g_set_error(err, QMP_ERROR, code, "failed with %d", code);
	return NULL;
}

static const struct qmp_arg test_emit_args[] = {
	{ .name = "event", .type = QMP_TYPE_STR },
	{ NULL },
};

static json_object *test_emit(const struct qmp_call *call, json_object *args,
			      GError **err)
{
	json_object *data = json_object_new_object();

	json_object_object_add(data, "n", json_object_new_int(++handler_calls));
	qmp_server_emit(call->server,
			json_object_get_string(json_object_object_get(args, "event")),
			data);
	return json_object_new_object();
}

static json_object *test_nothing(const struct qmp_call *call, json_object *args,
				 GError **err)
{
	return NULL; /* a buggy handler: no value and no error */
}

static const struct qmp_command test_commands[] = {
	{ .name = "test-echo", .fn = test_echo, .args = test_echo_args },
	{ .name = "test-fail", .fn = test_fail, .args = test_fail_args },
	{ .name = "test-emit", .fn = test_emit, .args = test_emit_args },
	{ .name = "test-nothing", .fn = test_nothing },
	{ NULL },
};

static void server_setup(void)
{
	GError *err = NULL;

	srv = qmp_server_new("1.2.3");
	ck_assert(qmp_server_add_commands(srv, test_commands, &handler_calls, &err));
	handler_calls = 0;
}

static void server_teardown(void)
{
	qmp_server_free(srv);
	srv = NULL;
}

START_TEST(greeting_and_negotiation)
{
	struct peer *p = peer_new();
	g_autoptr(json_object) g = peer_recv(p);
	json_object *caps = get(g, "QMP.capabilities");

	ck_assert_int_eq(json_object_object_length(g), 1);
	ck_assert_int_eq(json_object_get_int(get(g, "QMP.version.qemu.major")), 1);
	ck_assert_int_eq(json_object_get_int(get(g, "QMP.version.qemu.minor")), 2);
	ck_assert_int_eq(json_object_get_int(get(g, "QMP.version.qemu.micro")), 3);
	ck_assert_str_eq(json_object_get_string(get(g, "QMP.version.package")),
			 "tern 1.2.3");
	ck_assert(json_object_is_type(caps, json_type_array));
	ck_assert_int_eq(json_object_array_length(caps), 0);

	/* Only qmp_capabilities before negotiation, even for real commands. */
	call_err(p, "{\"execute\": \"query-version\"}", "CommandNotFound",
		 "Expecting capabilities negotiation with 'qmp_capabilities'");
	call_err(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"x\"}}",
		 "CommandNotFound", "Expecting capabilities negotiation");
	call_err(p, "{\"execute\": \"no-such\"}", "CommandNotFound",
		 "Expecting capabilities negotiation");
	ck_assert_int_eq(handler_calls, 0);
	/* Its argument checks apply. */
	call_err(p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
		 "GenericError", "Invalid parameter type for 'enable', expected: array");
	call_err(p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"bogus\"]}}",
		 "GenericError", "does not accept value 'bogus'");
	call_err(p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
		 "GenericError", "Capability 'oob' not available");
	call_err(p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 1}}",
		 "GenericError", "Parameter 'x' is unexpected");

	call_ok(p, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}");
	call_err(p, "{\"execute\": \"qmp_capabilities\"}", "CommandNotFound",
		 "Capabilities negotiation is already complete, command ignored");
	{
		g_autoptr(json_object) v = peer_call(p, "{\"execute\": \"query-version\"}");

		ck_assert_int_eq(json_object_get_int(get(v, "return.qemu.minor")), 2);
		ck_assert_str_eq(json_object_get_string(get(v, "return.package")),
				 "tern 1.2.3");
	}
	peer_free(p);
}
END_TEST

START_TEST(query_commands_lists_every_table)
{
	struct peer *p = peer_new();
	g_autoptr(json_object) r = NULL;
	g_autoptr(GString) names = g_string_new(NULL);
	GError *err = NULL;
	static const struct qmp_command again[] = {
		{ .name = "other", .fn = test_nothing },
		{ .name = "test-echo", .fn = test_echo },
		{ NULL },
	};

	/* A table whose names clash is refused as a whole. */
	ck_assert(!qmp_server_add_commands(srv, again, NULL, &err));
	ck_assert_ptr_nonnull(strstr(err->message, "test-echo"));
	g_error_free(err);

	negotiate(p);
	r = peer_call(p, "{\"execute\": \"query-commands\"}");
	for (size_t i = 0; i < json_object_array_length(get(r, "return")); i++) {
		json_object *c = json_object_array_get_idx(get(r, "return"), i);

		ck_assert_int_eq(json_object_object_length(c), 1);
		g_string_append_printf(names, "%s ",
				       json_object_get_string(get(c, "name")));
	}
	ck_assert_str_eq(names->str, "qmp_capabilities query-version query-commands "
				     "test-echo test-fail test-emit test-nothing ");
	peer_free(p);
}
END_TEST

START_TEST(request_shape_errors)
{
	struct peer *p = peer_new();
	g_autoptr(json_object) r = NULL;

	negotiate(p);
	call_err(p, "null ", "GenericError", "QMP input must be a JSON object");
	call_err(p, "123 ", "GenericError", "QMP input must be a JSON object");
	call_err(p, "\"execute\"", "GenericError", "QMP input must be a JSON object");
	call_err(p, "[{\"execute\": \"query-version\"}]", "GenericError",
		 "QMP input must be a JSON object");
	call_err(p, "{}", "GenericError", "QMP input lacks member 'execute'");
	call_err(p, "{ 'execute': true }", "GenericError",
		 "QMP input member 'execute' must be a string");
	call_err(p, "{ 'execute': 'no-such-cmd', 'arguments': [] }", "GenericError",
		 "QMP input member 'arguments' must be an object");
	call_err(p, "{ 'execute': 'query-version', 'arguments': null }", "GenericError",
		 "QMP input member 'arguments' must be an object");
	call_err(p, "{ 'execute': 'no-such-cmd', 'extra': true }", "GenericError",
		 "QMP input member 'extra' is unexpected");
	call_err(p, "{ 'exec-oob': 'query-version' }", "GenericError",
		 "QMP input member 'exec-oob' is unexpected");
	call_err(p, "{\"execute\": \"no-such-cmd\"}", "CommandNotFound",
		 "The command no-such-cmd has not been found");
	/* A handler that returns nothing is an error, not a crash. */
	call_err(p, "{\"execute\": \"test-nothing\"}", "GenericError", "internal error");
	r = peer_call(p, "{\"execute\": \"query-version\", \"arguments\": {}}");
	expect_return(r);
	peer_free(p);
}
END_TEST

START_TEST(malformed_json_keeps_the_connection)
{
	static const char *const bad[] = {
		"{]\n", "{\xff", "{\x01", "{'bad \xff",
		"{'execute': 'nonexistent', 'id':'\n", "%p",
		"{\"execute\": \"query-version\",}", "{\"execute\" \"x\"}",
		"{\"execute\": \"query-version\", \"arguments\": {\"a\": NaN}}",
	};

	/* Before and after negotiation, as qmp-test does. */
	for (int round = 0; round < 2; round++) {
		struct peer *p = peer_new();

		if (round)
			negotiate(p);
		else
			json_object_put(peer_recv(p));
		for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
			g_autoptr(json_object) r = NULL;

			peer_say(p, bad[i]);
			r = peer_reply(p);
			expect_error(r, "GenericError", "JSON parse error");
			ck_assert(!json_object_object_get_ex(r, "id", NULL));
			if (round)
				assert_recovered(p);
			else
				call_err(p, "{ 'execute': 'no-such-cmd' }",
					 "CommandNotFound", "Expecting capabilities");
		}
		peer_free(p);
	}
}
END_TEST

START_TEST(id_is_echoed)
{
	static const char *const ids[] = {
		"\"cookie#1\"", "2", "-7.5", "null", "true", "[1, \"a\", {}]",
		"{\"x\": {\"y\": [null]}}", "\"\"",
	};
	struct peer *p = peer_new();

	json_object_put(peer_recv(p));
	/* Even an error before negotiation carries the id. */
	{
		g_autoptr(json_object) r = peer_call(p, "{\"execute\": \"query-version\", \"id\": 9}");

		ck_assert_int_eq(json_object_get_int(get(r, "id")), 9);
	}
	call_ok(p, "{\"execute\": \"qmp_capabilities\"}");
	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		const char *fmt[] = {
			"{\"execute\": \"query-version\", \"id\": %s}",
			"{\"id\": %s, \"execute\": \"no-such\"}",
			"{\"id\": %s}",
			"{\"execute\": \"test-echo\", \"id\": %s, \"arguments\": {\"i\": 1}}",
		};

		for (size_t f = 0; f < G_N_ELEMENTS(fmt); f++) {
			g_autofree char *req = g_strdup_printf(fmt[f], ids[i]);
			g_autoptr(json_object) want = json_tokener_parse(ids[i]);
			g_autoptr(json_object) r = peer_call(p, req);
			json_object *id;

			ck_assert(json_object_object_get_ex(r, "id", &id));
			ck_assert_msg(json_object_equal(id, want), "%s: id %s",
				      req, json_object_to_json_string(id));
			ck_assert_int_eq(json_object_object_length(r), 2);
		}
	}
	/* No id, no id in the reply. */
	{
		g_autoptr(json_object) r = peer_call(p, "{\"execute\": \"query-version\"}");

		ck_assert(!json_object_object_get_ex(r, "id", NULL));
		ck_assert_int_eq(json_object_object_length(r), 1);
	}
	peer_free(p);
}
END_TEST

/* The next line from the server as sent (events skipped), or NULL. */
static char *peer_line(struct peer *p)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < deadline) {
		char *nl = strstr(p->in->str, "\r\n");

		if (nl) {
			char *line = g_strndup(p->in->str, nl - p->in->str);

			g_string_erase(p->in, 0, nl + 2 - p->in->str);
			if (g_str_has_prefix(line, "{\"timestamp\"")) {
				g_free(line);
				continue;
			}
			return line;
		}
		pump();
		if (!peer_fill(p, 5))
			return NULL;
	}
	return NULL;
}

START_TEST(id_is_echoed_verbatim)
{
	static const char *const ids[] = {
		"[0,0]", "18446744073709551616", "-0", "1.0", "1E2",
		"123456789012345678901234567890", "{\"b\":1,\"a\":2}",
		"\"a\\u0000b\"", "'\\u00e9\"'", "\"\\/\"", "[ 1 , { \"a\" : null } ]",
	};
	struct peer *p = peer_new();

	negotiate(p);
	for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree char *req = g_strdup_printf(
			"{\"execute\": \"query-version\", \"id\": %s}", ids[i]);
		g_autofree char *want = g_strdup_printf(", \"id\": %s}", ids[i]);
		g_autofree char *line = NULL;

		peer_say(p, req);
		line = peer_line(p);
		ck_assert_ptr_nonnull(line);
		ck_assert_msg(g_str_has_suffix(line, want) &&
			      g_str_has_prefix(line, "{\"return\": {"),
			      "%s: got '%s'", req, line);
	}
	/* On errors too, and with line breaks as spaces: one line per reply. */
	{
		g_autofree char *line = NULL;

		peer_say(p, "{\"execute\": \"no-such\", \"id\": [1,\n2]}");
		line = peer_line(p);
		ck_assert_str_eq(line, "{\"error\": {\"class\": \"CommandNotFound\", "
			"\"desc\": \"The command no-such has not been found\"}, "
			"\"id\": [1, 2]}");
	}
	/* A lone surrogate is refused, as QEMU does, not turned into U+FFFD. */
	call_err(p, "{\"execute\": \"query-version\", \"id\": \"\\ud800\"}",
		 "GenericError", "\\ud800 is not a valid Unicode character");
	assert_recovered(p);
	peer_free(p);
}
END_TEST

START_TEST(nul_in_names_and_keys)
{
	struct peer *p = peer_new();
	g_autofree char *line = NULL;
	g_autoptr(json_object) r = NULL;

	/* Before negotiation, a name with U+0000 is not qmp_capabilities. */
	json_object_put(peer_recv(p));
	call_err(p, "{\"execute\": \"qmp_capabilities\\u0000\"}",
		 "CommandNotFound", "Expecting capabilities negotiation");
	call_ok(p, "{\"execute\": \"qmp_capabilities\"}");

	/* QEMU 7.2's answers: the name or key is one nobody knows. */
	peer_say(p, "{\"execute\": \"test-echo\\u0000nope\", \"arguments\": {\"s\": \"a\"}}");
	line = peer_line(p);
	ck_assert_str_eq(line, "{\"error\": {\"class\": \"CommandNotFound\", "
		"\"desc\": \"The command test-echo\\u0000nope has not been found\"}}");
	call_err(p, "{\"execute\": \"query-version\\u0000garbage\"}",
		 "CommandNotFound", "The command query-version");
	call_err(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\\u0000zz\": \"a\"}}",
		 "GenericError", "Parameter 's' is missing");
	call_err(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"a\", \"i\\u0000\": 1}}",
		 "GenericError", "Parameter 'i");
	call_err(p, "{\"execute\\u0000\": \"test-echo\", \"arguments\": {\"s\": \"a\"}}",
		 "GenericError", "QMP input member 'execute");
	ck_assert_int_eq(handler_calls, 0);
	g_free(line);
	peer_say(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"a\", \"i\\u0000\": 1}}");
	line = peer_line(p);
	ck_assert_str_eq(line, "{\"error\": {\"class\": \"GenericError\", "
		"\"desc\": \"Parameter 'i\\u0000' is unexpected\"}}");

	/* A value with U+0000 reaches the handler whole and comes back. */
	r = peer_call(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"a\\u0000b\"}}");
	ck_assert_int_eq(json_object_get_string_len(get(r, "return.s")), 3);
	ck_assert_mem_eq(json_object_get_string(get(r, "return.s")), "a\0b", 3);
	ck_assert_int_eq(handler_calls, 1);
	peer_free(p);
}
END_TEST

START_TEST(long_reply_is_not_cut)
{
	const size_t n = 600 * 1000, m = 400 * 1000;
	struct peer *p = peer_new();
	GString *req;
	g_autofree char *line = NULL;
	size_t before;

	negotiate(p);
	before = heap_used();
	req = g_string_new("{\"execute\": '");
	/*
	 * Under 1 MiB in, over 1 MiB out: the error quotes the name, each '"'
	 * of a single-quoted string escaped. A client that reads gets the
	 * whole reply and stays.
	 */
	for (size_t i = 0; i < n; i++)
		g_string_append_c(req, '"');
	g_string_append(req, "', \"id\": '");
	for (size_t i = 0; i < m; i++)
		g_string_append_c(req, '"');
	g_string_append(req, "'}");
	ck_assert_uint_lt(req->len, QMP_MAX_MESSAGE);
	/* The server runs on this thread: send as it reads. */
	for (size_t off = 0; off < req->len;) {
		ssize_t k = send(p->fd, req->str + off, req->len - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		ck_assert(k > 0 || errno == EAGAIN);
		if (k > 0)
			off += k;
		pump();
		peer_fill(p, 0);
	}
	/*
	 * The reply is queued whole once its first bytes arrive. An event
	 * now, with most of the reply still waiting to be read, is no reason
	 * to hang up on a client that reads.
	 */
	while (!p->in->len && !p->eof) {
		pump();
		peer_fill(p, 1);
	}
	qmp_server_emit(srv, "TEST", NULL);
	line = peer_line(p);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_gt(strlen(line), QMP_OUTPUT_MAX);
	ck_assert(g_str_has_prefix(line, "{\"error\": {\"class\": \"CommandNotFound\""));
	ck_assert(g_str_has_suffix(line, "'}"));
	ck_assert_uint_eq(strlen(line), strlen("{\"error\": {\"class\": \"CommandNotFound\", "
		"\"desc\": \"The command  has not been found\"}, \"id\": ''}") + 2 * n + m);
	{
		g_autoptr(json_object) ev = peer_recv(p);

		ck_assert_str_eq(json_object_get_string(get(ev, "event")), "TEST");
	}
	call_ok(p, "{\"execute\": \"query-version\"}");
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 1);
	/* Once sent, the server keeps none of it: neither the reply's
	 * buffer nor json-c's for the long strings. */
	g_string_free(req, TRUE);
	g_clear_pointer(&line, g_free);
	g_string_free(p->in, TRUE);
	p->in = g_string_new(NULL);
	if (before)
		ck_assert_uint_lt(heap_used() - before, 256 * KiB);
	peer_free(p);
}
END_TEST

START_TEST(argument_validation)
{
	struct peer *p = peer_new();
	g_autoptr(json_object) r = NULL;

	negotiate(p);
	call_err(p, "{\"execute\": \"test-echo\"}", "GenericError",
		 "Parameter 's' is missing");
	call_err(p, "{\"execute\": \"test-echo\", \"arguments\": {}}", "GenericError",
		 "Parameter 's' is missing");
	/* Missing is reported before unexpected, as QEMU's visitor does. */
	call_err(p, "{\"execute\": \"test-echo\", \"arguments\": {\"zz\": 1}}",
		 "GenericError", "Parameter 's' is missing");
	call_err(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"a\", \"zz\": 1}}",
		 "GenericError", "Parameter 'zz' is unexpected");
	call_err(p, "{\"execute\": \"query-version\", \"arguments\": {\"a\": 1}}",
		 "GenericError", "Parameter 'a' is unexpected");

	static const struct {
		const char *args, *desc;
	} bad[] = {
		{ "\"s\": 1", "Invalid parameter type for 's', expected: string" },
		{ "\"s\": null", "Invalid parameter type for 's', expected: string" },
		{ "\"s\": \"a\", \"i\": \"1\"", "for 'i', expected: integer" },
		{ "\"s\": \"a\", \"i\": 1.5", "for 'i', expected: integer" },
		{ "\"s\": \"a\", \"b\": 1", "for 'b', expected: boolean" },
		{ "\"s\": \"a\", \"n\": \"1\"", "for 'n', expected: number" },
		{ "\"s\": \"a\", \"o\": []", "for 'o', expected: object" },
		{ "\"s\": \"a\", \"a\": {}", "for 'a', expected: array" },
		{ "\"s\": \"a\", \"a\": [1, \"2\"]", "for 'a[1]', expected: integer" },
		{ "\"s\": \"a\", \"e\": \"z\"", "Parameter 'e' does not accept value 'z'" },
		{ "\"s\": \"a\", \"e\": 1", "for 'e', expected: string" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *req = g_strdup_printf(
			"{\"execute\": \"test-echo\", \"arguments\": {%s}}", bad[i].args);

		call_err(p, req, "GenericError", bad[i].desc);
	}
	ck_assert_int_eq(handler_calls, 0);

	/* Valid arguments reach the handler as they were sent. */
	r = peer_call(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"a\", "
			 "\"i\": -5, \"b\": false, \"n\": 2, \"o\": {\"k\": [1]}, "
			 "\"a\": [1, 2], \"e\": \"y\", \"v\": null}}");
	ck_assert_int_eq(handler_calls, 1);
	ck_assert_int_eq(json_object_get_int(get(r, "return.i")), -5);
	ck_assert_str_eq(json_object_get_string(get(r, "return.e")), "y");
	ck_assert(json_object_object_get_ex(get(r, "return"), "v", NULL));
	json_object_put(g_steal_pointer(&r));
	r = peer_call(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"a\", \"n\": 2.5}}");
	expect_return(r);
	peer_free(p);
}
END_TEST

START_TEST(every_error_class)
{
	static const char *const classes[] = {
		[QMP_ERROR_GENERIC] = "GenericError",
		[QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
		[QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
		[QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
		[QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
	};
	struct peer *p = peer_new();

	negotiate(p);
	for (size_t i = 0; i < G_N_ELEMENTS(classes); i++) {
		g_autofree char *req = g_strdup_printf(
			"{\"execute\": \"test-fail\", \"arguments\": {\"code\": %zu}, \"id\": %zu}",
			i, i);
		g_autofree char *desc = g_strdup_printf("failed with %zu", i);
		g_autoptr(json_object) r = peer_call(p, req);

		expect_error(r, classes[i], desc);
		ck_assert_int_eq(json_object_get_int(get(r, "id")), i);
	}
	/* Errors from other domains are GenericError. */
	call_err(p, "{\"execute\": \"test-fail\", \"arguments\": {\"code\": -1}}",
		 "GenericError", "a tern error");
	peer_free(p);
}
END_TEST

START_TEST(split_input)
{
	const char *req = "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"split\"}, \"id\": \"one\"}";
	struct peer *p = peer_new();
	g_autoptr(json_object) r = NULL;

	negotiate(p);
	/* One byte per read, the main loop running in between. */
	for (const char *c = req; *c; c++) {
		peer_send(p, c, 1);
		pump();
		usleep(100);
		pump();
	}
	r = peer_reply(p);
	ck_assert_str_eq(json_object_get_string(get(r, "return.s")), "split");
	ck_assert_str_eq(json_object_get_string(get(r, "id")), "one");
	ck_assert_int_eq(handler_calls, 1);
	peer_free(p);
}
END_TEST

START_TEST(coalesced_and_pipelined)
{
	struct peer *p = peer_new();
	GString *batch = g_string_new(NULL);
	const int n = 2000;

	negotiate(p);
	/* Many commands in one write, some broken: answered in order. */
	for (int i = 0; i < n; i++) {
		if (i % 100 == 50)
			g_string_append(batch, "{\"execute\": ]\n");
		else
			g_string_append_printf(batch,
				"{\"execute\":\"test-echo\",\"arguments\":{\"s\":\"x\",\"i\":%d},\"id\":%d}",
				i, i);
	}
	peer_send(p, batch->str, batch->len);
	for (int i = 0; i < n; i++) {
		g_autoptr(json_object) r = peer_reply(p);

		if (i % 100 == 50) {
			expect_error(r, "GenericError", "JSON parse error");
			continue;
		}
		ck_assert_int_eq(json_object_get_int(get(r, "id")), i);
		ck_assert_int_eq(json_object_get_int(get(r, "return.i")), i);
	}
	ck_assert_int_eq(handler_calls, n - n / 100);
	g_string_free(batch, TRUE);
	peer_free(p);
}
END_TEST

START_TEST(events_reach_every_negotiated_client)
{
	struct peer *a = peer_new(), *b = peer_new(), *c = peer_new();
	json_object *ev;
	g_autoptr(json_object) r = NULL;

	negotiate(a);
	negotiate(b);
	json_object_put(peer_recv(c)); /* greeting only: no events for it */

	/* An event raised by a command comes before its reply, as STOP does. */
	peer_say(a, "{\"execute\": \"test-emit\", \"arguments\": {\"event\": \"STOP\"}}");
	ev = peer_recv(a);
	ck_assert_str_eq(json_object_get_string(get(ev, "event")), "STOP");
	ck_assert_int_eq(json_object_get_int(get(ev, "data.n")), 1);
	ck_assert(json_object_is_type(get(ev, "timestamp.seconds"), json_type_int));
	ck_assert(json_object_is_type(get(ev, "timestamp.microseconds"), json_type_int));
	ck_assert_int_lt(json_object_get_int(get(ev, "timestamp.microseconds")), 1000000);
	ck_assert_int_eq(json_object_object_length(get(ev, "timestamp")), 2);
	ck_assert_int_eq(json_object_object_length(ev), 3);
	json_object_put(ev);
	r = peer_recv(a);
	expect_return(r);

	ev = peer_recv(b);
	ck_assert_str_eq(json_object_get_string(get(ev, "event")), "STOP");
	json_object_put(ev);

	/* Without data, there is no data member. */
	qmp_server_emit(srv, "RESUME", NULL);
	ev = peer_recv(b);
	ck_assert_str_eq(json_object_get_string(get(ev, "event")), "RESUME");
	ck_assert(!json_object_object_get_ex(ev, "data", NULL));
	json_object_put(ev);

	/* c, still negotiating, got nothing but its reply. */
	call_err(c, "{\"execute\": \"query-version\"}", "CommandNotFound", NULL);
	pump();
	ck_assert_ptr_null(strstr(c->in->str, "event"));
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 3);
	peer_free(a);
	peer_free(b);
	peer_free(c);
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 0);
}
END_TEST

START_TEST(oversize_message_is_cut_off)
{
	struct peer *p = peer_new(), *other = peer_new();
	char chunk[65536];
	size_t sent = 0;
	json_object *r;

	negotiate(p);
	negotiate(other);
	memset(chunk, 'a', sizeof(chunk));
	peer_say(p, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"");
	/* Megabytes with no end: the server answers and hangs up. */
	while (sent < 4 * QMP_MAX_MESSAGE && !p->eof) {
		ssize_t n = send(p->fd, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			sent += n;
		else if (errno != EAGAIN)
			break;
		pump();
		peer_fill(p, 1);
	}
	r = peer_recv(p);
	expect_error(r, "GenericError", "exceeds");
	json_object_put(r);
	ck_assert_ptr_null(peer_recv(p));
	ck_assert(p->eof);
	ck_assert_int_eq(handler_calls, 0);
	/* The other client did not notice. */
	call_ok(other, "{\"execute\": \"query-version\"}");
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 1);
	peer_free(p);
	peer_free(other);
}
END_TEST

START_TEST(client_that_never_reads)
{
	struct peer *lazy = peer_new(), *other = peer_new();
	GString *batch = g_string_new(NULL);

	negotiate(lazy);
	negotiate(other);
	/* Pipelined commands, replies never read: the server stops reading
	 * the client's input instead of queueing without bound. */
	for (int i = 0; i < 20000; i++)
		g_string_append(batch, "{\"execute\":\"query-version\"}");
	for (size_t off = 0; off < batch->len;) {
		ssize_t n = send(lazy->fd, batch->str + off, batch->len - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		pump();
		if (n > 0)
			off += n;
		else
			break; /* the server is not reading: as intended */
	}
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 2);
	call_ok(other, "{\"execute\": \"query-version\"}");

	/* Events keep coming: past QMP_OUTPUT_MAX the client is dropped,
	 * while the other one, reading, stays. */
	for (int i = 0; i < 100000 && qmp_server_nr_clients(srv) == 2; i++) {
		qmp_server_emit(srv, "TEST", json_object_new_string(
			"0123456789012345678901234567890123456789"));
		if (i % 64 == 0) {
			pump();
			peer_fill(other, 0);
		}
	}
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 1);
	peer_drain(other);
	call_ok(other, "{\"execute\": \"query-version\"}");
	g_string_free(batch, TRUE);
	peer_free(lazy);
	peer_free(other);
}
END_TEST

START_TEST(client_vanishes)
{
	struct peer *gone = peer_new(), *half = peer_new(), *other = peer_new();
	json_object *r;

	negotiate(gone);
	negotiate(half);
	negotiate(other);
	/* Disconnect mid-command. */
	peer_say(gone, "{\"execute\": \"test-echo\", \"argu");
	pump();
	close(gone->fd);
	gone->fd = -1;
	pump();
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 2);

	/* Commands then a half-close: every reply still comes, then EOF. */
	peer_say(half, "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"1\"}}"
		       "{\"execute\": \"test-echo\", \"arguments\": {\"s\": \"2\"}}");
	shutdown(half->fd, SHUT_WR);
	r = peer_recv(half);
	ck_assert_str_eq(json_object_get_string(get(r, "return.s")), "1");
	json_object_put(r);
	r = peer_recv(half);
	ck_assert_str_eq(json_object_get_string(get(r, "return.s")), "2");
	json_object_put(r);
	ck_assert_ptr_null(peer_recv(half));

	/* Commands, then gone before the replies: no SIGPIPE, no harm. */
	{
		struct peer *rude = peer_new();

		negotiate(rude);
		peer_say(rude, "{\"execute\": \"query-version\"}{\"execute\": \"query-version\"}");
		close(rude->fd);
		rude->fd = -1;
		pump();
		qmp_server_emit(srv, "TEST", NULL);
		g_string_free(rude->in, TRUE);
		g_free(rude);
	}
	pump();
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 1);
	call_ok(other, "{\"execute\": \"query-version\"}");
	g_string_free(gone->in, TRUE);
	g_free(gone);
	peer_free(half);
	peer_free(other);
}
END_TEST

/* Listeners */

static int unix_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct peer *peer_connect(const char *path)
{
	struct peer *p = g_new0(struct peer, 1);

	p->fd = unix_connect(path);
	ck_assert_int_ge(p->fd, 0);
	p->in = g_string_new(NULL);
	return p;
}

START_TEST(listen_unix_socket)
{
	g_autofree char *dir = g_dir_make_tmp("tern-qmp-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
	g_autofree char *file = g_build_filename(dir, "file", NULL);
	struct qmp_server *other = qmp_server_new("0.0.1");
	struct peer *a, *b;
	GError *err = NULL;
	struct stat st;

	ck_assert(qmp_server_listen_unix(srv, path, &err));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	/* Several clients on one socket at once. */
	a = peer_connect(path);
	b = peer_connect(path);
	negotiate(a);
	negotiate(b);
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 2);
	qmp_server_emit(srv, "TEST", NULL);
	json_object_put(peer_recv(a));
	json_object_put(peer_recv(b));

	/* In use by a live server: refused. */
	ck_assert(!qmp_server_listen_unix(other, path, &err));
	ck_assert_ptr_nonnull(strstr(err->message, "listening"));
	g_clear_error(&err);
	/* Not a socket: refused, and left alone. */
	ck_assert(g_file_set_contents(file, "x", 1, NULL));
	ck_assert(!qmp_server_listen_unix(other, file, &err));
	ck_assert_ptr_nonnull(strstr(err->message, "not a socket"));
	g_clear_error(&err);
	ck_assert_int_eq(access(file, F_OK), 0);

	peer_free(a);
	peer_free(b);
	/* Freeing the server removes its socket. */
	qmp_server_free(srv);
	srv = qmp_server_new("0.0.1");
	ck_assert_int_ne(access(path, F_OK), 0);

	/* A stale socket (nobody listening) is replaced. */
	{
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(addr.sun_path, path);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		close(fd);
	}
	ck_assert(qmp_server_listen_unix(other, path, &err));
	a = peer_connect(path);
	negotiate(a);
	peer_free(a);
	qmp_server_free(other);

	/* Too long for sun_path. */
	{
		g_autofree char *longp = g_strnfill(200, 'x');

		ck_assert(!qmp_server_listen_unix(srv, longp, &err));
		g_clear_error(&err);
	}
	unlink(file);
	rmdir(dir);
}
END_TEST

START_TEST(client_limit)
{
	g_autofree char *dir = g_dir_make_tmp("tern-qmp-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
	struct peer *peers[QMP_MAX_CLIENTS], *extra;
	GError *err = NULL;

	ck_assert(qmp_server_listen_unix(srv, path, &err));
	for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
		peers[i] = peer_connect(path);
		json_object_put(peer_recv(peers[i]));
	}
	ck_assert_uint_eq(qmp_server_nr_clients(srv), QMP_MAX_CLIENTS);
	/* One too many: closed without a greeting; the others go on. */
	extra = peer_connect(path);
	ck_assert_ptr_null(peer_recv(extra));
	ck_assert(extra->eof);
	peer_free(extra);
	call_ok(peers[QMP_MAX_CLIENTS - 1], "{\"execute\": \"qmp_capabilities\"}");
	peer_free(peers[0]);
	/* A place is free again. */
	extra = peer_connect(path);
	negotiate(extra);
	peer_free(extra);
	for (int i = 1; i < QMP_MAX_CLIENTS; i++)
		peer_free(peers[i]);
	ck_assert_uint_eq(qmp_server_nr_clients(srv), 0);
	rmdir(dir);
}
END_TEST

START_TEST(listen_on_passed_fd)
{
	int sv[2], lfd, fd;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	g_autofree char *dir = g_dir_make_tmp("tern-qmp-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "m.sock", NULL);
	GError *err = NULL;
	struct peer *p;

	/* Not open, not a socket, not listening: each refused. */
	ck_assert(!qmp_server_listen_fd(srv, 1000, &err));
	g_clear_error(&err);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert(!qmp_server_listen_fd(srv, fd, &err));
	ck_assert_ptr_nonnull(strstr(err->message, "not a socket"));
	g_clear_error(&err);
	close(fd);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert(!qmp_server_listen_fd(srv, sv[0], &err));
	ck_assert_ptr_nonnull(strstr(err->message, "listening"));
	g_clear_error(&err);
	close(sv[0]);
	close(sv[1]);

	/* What a manager does: bind, listen, hand over the descriptor. */
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(addr.sun_path, path);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert(qmp_server_listen_fd(srv, lfd, &err));
	p = peer_connect(path);
	negotiate(p);
	peer_free(p);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* --qmp parsing */

static bool parse_qmp_opts(struct vm_config *cfg, char **msg, const char *a,
			   const char *b)
{
	char *argv[8] = { "run" };
	int argc = 1;
	GError *err = NULL;
	bool ok;

	argv[argc++] = "--qmp";
	argv[argc++] = (char *)a;
	if (b) {
		argv[argc++] = "--qmp";
		argv[argc++] = (char *)b;
	}
	ok = config_parse_run(argc, argv, cfg, &err);
	*msg = err ? g_strdup(err->message) : NULL;
	if (err) {
		ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
		g_error_free(err);
	}
	return ok;
}

START_TEST(config_qmp_option)
{
	struct vm_config cfg;
	char *msg;
	static const struct {
		const char *a, *b, *needle;
	} bad[] = {
		{ "unix:", NULL, "expected unix:PATH or fd=N" },
		{ "tcp:localhost:4444", NULL, "expected unix:PATH or fd=N" },
		{ "fd=", NULL, "expected unix:PATH or fd=N" },
		{ "fd=x", NULL, "expected a file descriptor number" },
		{ "fd=99999999999", NULL, "expected a file descriptor number" },
		{ "fd=2", NULL, "descriptors 0-2" },
		{ "unix:/tmp/a", "unix:/tmp/a", "given twice" },
		{ "fd=5", "fd=5", "given twice" },
	};

	ck_assert(parse_qmp_opts(&cfg, &msg, "unix:/tmp/a.sock", "fd=7"));
	ck_assert_uint_eq(cfg.nr_qmp, 2);
	ck_assert_int_eq(cfg.qmp[0].kind, QMP_ENDPOINT_UNIX);
	ck_assert_str_eq(cfg.qmp[0].path, "/tmp/a.sock");
	ck_assert_int_eq(cfg.qmp[1].kind, QMP_ENDPOINT_FD);
	ck_assert_int_eq(cfg.qmp[1].fd, 7);
	config_clear(&cfg);

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		ck_assert_msg(!parse_qmp_opts(&cfg, &msg, bad[i].a, bad[i].b),
			      "--qmp %s accepted", bad[i].a);
		ck_assert_msg(strstr(msg, "--qmp") && strstr(msg, bad[i].needle),
			      "'%s' for --qmp %s", msg, bad[i].a);
		g_free(msg);
	}
	{
		g_autofree char *xs = g_strnfill(120, 'x');
		g_autofree char *longp = g_strdup_printf("unix:/%s", xs);

		ck_assert(!parse_qmp_opts(&cfg, &msg, longp, NULL));
		ck_assert_ptr_nonnull(strstr(msg, "at most 107 bytes"));
		g_free(msg);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qmp");
	TCase *tc;

	UNIT_TCASE(s, "framing", frame_values, frame_incomplete,
		   frame_lexical_errors, frame_syntax_errors, frame_depth,
		   frame_oversize, frame_memory_bound, frame_memory_hostile,
		   frame_nul_and_surrogates, frame_request_id,
		   json_format_like_qemu, json_string_escapes, json_error_text);
	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, server_setup, server_teardown);
	tcase_add_test(tc, greeting_and_negotiation);
	tcase_add_test(tc, query_commands_lists_every_table);
	tcase_add_test(tc, request_shape_errors);
	tcase_add_test(tc, malformed_json_keeps_the_connection);
	tcase_add_test(tc, id_is_echoed);
	tcase_add_test(tc, id_is_echoed_verbatim);
	tcase_add_test(tc, nul_in_names_and_keys);
	tcase_add_test(tc, long_reply_is_not_cut);
	tcase_add_test(tc, argument_validation);
	tcase_add_test(tc, every_error_class);
	tcase_add_test(tc, split_input);
	tcase_add_test(tc, coalesced_and_pipelined);
	tcase_add_test(tc, events_reach_every_negotiated_client);
	tcase_add_test(tc, oversize_message_is_cut_off);
	tcase_add_test(tc, client_that_never_reads);
	tcase_add_test(tc, client_vanishes);
	tcase_add_test(tc, listen_unix_socket);
	tcase_add_test(tc, client_limit);
	tcase_add_test(tc, listen_on_passed_fd);
	suite_add_tcase(s, tc);
	UNIT_TCASE(s, "config", config_qmp_option);
	return unit_run(s);
}
