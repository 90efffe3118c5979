/* SPDX-License-Identifier: MIT */
/*
 * The balloon's QMP commands and event (qmp_balloon.c), added to a VM's
 * server by qmp_vm_create(): balloon, query-balloon, qom-get and qom-set
 * (on the balloon's QOM paths only) and BALLOON_CHANGE.
 */
#ifndef TERN_QMP_BALLOON_H
#define TERN_QMP_BALLOON_H

#include <glib.h>

struct qmp_server;
struct vm;
struct qmp_balloon;

/*
 * Add the commands to srv and, with a --balloon device, watch it for
 * BALLOON_CHANGE. NULL with err set when a command name is taken.
 */
struct qmp_balloon *qmp_balloon_create(struct qmp_server *srv, struct vm *vm,
				       GError **err);
/* Stop watching; before the server and the VM go. NULL is fine. */
void qmp_balloon_destroy(struct qmp_balloon *qb);

#endif
