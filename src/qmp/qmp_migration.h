/* SPDX-License-Identifier: MIT */
/*
 * Inside src/qmp/: the migration parameters (qmp_migration_params.c) for
 * the migration commands (qmp_migration.c).
 */
#ifndef TERN_QMP_MIGRATION_H
#define TERN_QMP_MIGRATION_H

#include "tern/migration.h"
#include "tern/qmp.h"

/* migrate-set-parameters' schema: every QEMU 7.2 parameter, optional. */
extern const struct qmp_arg qmp_migration_params_args[];
/* Every parameter with QEMU's default, as query-migrate-parameters shows. */
json_object *qmp_migration_params_new(void);
/* Check args (all before any), merge them into params, apply to m. */
json_object *qmp_migration_set_params(struct migration *m, json_object *params,
				      json_object *args, GError **err);

#endif
