// SPDX-License-Identifier: MIT
/*
 * JSON text the way QEMU's QMP writes it: `{"return": {}}` with ", " and
 * ": " separators on one line, or indented by four spaces when pretty
 * (QEMU's pretty=on). json-c's own spacing differs (`{ "return": { } }`),
 * and scripts written against QEMU sometimes match the text.
 *
 * Strings are escaped here, not by json-c: U+0000 travels inside them as
 * 0xC0 0x80 (see lexer.c), which goes out as \u0000, as QEMU writes it.
 */
#include <string.h>

#include "tern/qmp.h"

/*
 * Bytes that go out as they are: everything but '"', '\\', control
 * characters and 0xC0 (the first byte of U+0000, see above; a 0xC0 not
 * followed by 0x80 is written as it is, below). A run of them is appended
 * at once, found by libc's strcspn(): a byte at a time, the reply to a
 * long string cost more than parsing it, and an error quotes what the
 * client sent. str[len] is the '\0' json-c and C strings end with; a
 * '\0' inside stops the run and is written as \u0000.
 */
static size_t json_plain_span(const char *str, size_t len)
{
	static const char special[] = "\"\\\xc0"
				      "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
				      "\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"
				      "\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e"
				      "\x1f";

	return MIN(strcspn(str, special), len);
}

static void json_append_string(GString *s, const char *str, size_t len)
{
	const unsigned char *p = (const unsigned char *)str;

	g_string_append_c(s, '"');
	for (size_t i = 0; i < len; i++) {
		size_t plain = json_plain_span(str + i, len - i);
		unsigned char c;

		if (plain) {
			g_string_append_len(s, str + i, (gssize)plain);
			i += plain;
			if (i == len)
				break;
		}
		c = p[i];
		switch (c) {
		case '"':
			g_string_append(s, "\\\"");
			break;
		case '\\':
			g_string_append(s, "\\\\");
			break;
		case '\b':
			g_string_append(s, "\\b");
			break;
		case '\f':
			g_string_append(s, "\\f");
			break;
		case '\n':
			g_string_append(s, "\\n");
			break;
		case '\r':
			g_string_append(s, "\\r");
			break;
		case '\t':
			g_string_append(s, "\\t");
			break;
		case 0xc0:
			if (i + 1 < len && p[i + 1] == 0x80) {
				g_string_append(s, "\\u0000");
				i++;
				break;
			}
			g_string_append_c(s, (char)c);
			break;
		default:
			g_string_append_printf(s, "\\u%04x", c);
			break;
		}
	}
	g_string_append_c(s, '"');
}

static void json_indent(GString *s, int level)
{
	g_string_append_c(s, '\n');
	for (int i = 0; i < level; i++)
		g_string_append(s, "    ");
}

static void json_append(GString *s, json_object *o, bool pretty, int level)
{
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_object:
		if (!json_object_object_length(o)) {
			g_string_append(s, "{}");
			break;
		}
		g_string_append_c(s, '{');
		json_object_object_foreach(o, key, val) {
			if (!first)
				g_string_append_c(s, ',');
			if (pretty)
				json_indent(s, level + 1);
			else if (!first)
				g_string_append_c(s, ' ');
			first = false;
			json_append_string(s, key, strlen(key));
			g_string_append(s, ": ");
			json_append(s, val, pretty, level + 1);
		}
		if (pretty)
			json_indent(s, level);
		g_string_append_c(s, '}');
		break;
	case json_type_array:
		if (!json_object_array_length(o)) {
			g_string_append(s, "[]");
			break;
		}
		g_string_append_c(s, '[');
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				g_string_append_c(s, ',');
			if (pretty)
				json_indent(s, level + 1);
			else if (i)
				g_string_append_c(s, ' ');
			json_append(s, json_object_array_get_idx(o, i), pretty,
				    level + 1);
		}
		if (pretty)
			json_indent(s, level);
		g_string_append_c(s, ']');
		break;
	case json_type_string:
		json_append_string(s, json_object_get_string(o),
				   json_object_get_string_len(o));
		break;
	default:
		/* Other scalars and null: json-c's text. */
		g_string_append(s, json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE));
		break;
	}
}

char *qmp_json_format_error(const char *cls, const char *desc)
{
	GString *s = g_string_sized_new(64 + strlen(desc));

	g_string_append(s, "{\"error\": {\"class\": ");
	json_append_string(s, cls, strlen(cls));
	g_string_append(s, ", \"desc\": ");
	json_append_string(s, desc, strlen(desc));
	g_string_append(s, "}}");
	return g_string_free(s, FALSE);
}

char *qmp_json_format(json_object *obj, bool pretty)
{
	GString *s = g_string_new(NULL);

	json_append(s, obj, pretty, 0);
	return g_string_free(s, FALSE);
}
