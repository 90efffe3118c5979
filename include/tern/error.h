/* SPDX-License-Identifier: MIT */
/* The GError domain of the control plane. */
#ifndef TERN_ERROR_H
#define TERN_ERROR_H

#include <glib.h>

#define TERN_ERROR (tern_error_quark())

enum tern_error_code {
	TERN_ERROR_INPUT, /* bad user input: exit status 2 */
	TERN_ERROR_HOST, /* the host cannot do what was asked: exit status 2 */
	TERN_ERROR_INTERNAL,
};

GQuark tern_error_quark(void);

#endif
