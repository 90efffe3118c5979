/* SPDX-License-Identifier: MIT */
/* QMP events of the vhost-user devices (src/qmp/qmp_vhost_user.c). */
#ifndef TERN_VHOST_USER_QMP_H
#define TERN_VHOST_USER_QMP_H

#include <glib.h>

struct qmp_server;
struct vm;

/*
 * VHOST_USER_DISCONNECTED and VHOST_USER_RECONNECTED for every
 * --disk vhost-user= device, emitted from the main loop.
 */
bool qmp_vhost_user_register(struct qmp_server *srv, struct vm *vm,
			     GError **err);

#endif
