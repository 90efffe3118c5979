// SPDX-License-Identifier: MIT
/*
 * JSON text the way QEMU's QMP writes it: `{"return": {}}` with ", " and
 * ": " separators on one line, or indented by four spaces when pretty
 * (QEMU's pretty=on). json-c's own spacing differs (`{ "return": { } }`),
 * and scripts written against QEMU sometimes match the text.
 */
#include "tern/qmp.h"

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
			g_autoptr(json_object) k = json_object_new_string(key);

			if (!first)
				g_string_append_c(s, ',');
			if (pretty)
				json_indent(s, level + 1);
			else if (!first)
				g_string_append_c(s, ' ');
			first = false;
			json_append(s, k, pretty, level + 1);
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
	default:
		/* Scalars (and null): json-c's escaping, without "\/". */
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
