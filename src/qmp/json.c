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

static void json_append_string(GString *s, const char *str, size_t len)
{
	g_string_append_c(s, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = str[i];

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
			if (i + 1 < len && (unsigned char)str[i + 1] == 0x80) {
				g_string_append(s, "\\u0000");
				i++;
				break;
			}
			/* fall through */
		default:
			if (c < 0x20)
				g_string_append_printf(s, "\\u%04x", c);
			else
				g_string_append_c(s, c);
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

char *qmp_json_format(json_object *obj, bool pretty)
{
	GString *s = g_string_new(NULL);

	json_append(s, obj, pretty, 0);
	return g_string_free(s, FALSE);
}
