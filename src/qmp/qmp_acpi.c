// SPDX-License-Identifier: MIT
/*
 * ACPI's QMP commands. system_powerdown presses the power button, as in
 * QEMU: the POWERDOWN event goes out and the guest is told through the
 * Generic Event Device; whether it powers off is the guest's decision
 * (a guest that does writes S5 to the sleep control register, and the VM
 * ends with SHUTDOWN "guest-shutdown").
 */
#include "tern/acpi.h"
#include "tern/acpi_devices.h"
#include "tern/error.h"
#include "tern/qmp.h"
#include "tern/vm.h"

static json_object *cmd_system_powerdown(const struct qmp_call *call,
					 json_object *args, GError **err)
{
	struct acpi_ged *ged = vm_device_find(call->opaque,
					      &acpi_ged_device_type, 0);

	if (!ged) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_INTERNAL,
			    "this machine has no ACPI power button");
		return NULL;
	}
	/*
	 * QEMU 7.2 sends POWERDOWN before its reply, in every run state
	 * (prelaunch and paused too): the press is recorded and a stopped
	 * guest hears it when it runs again.
	 */
	qmp_server_emit(call->server, "POWERDOWN", NULL);
	acpi_ged_notify(ged, ACPI_GED_EVENT_POWER_BUTTON);
	return json_object_new_object();
}

const struct qmp_command qmp_acpi_commands[] = {
	{ .name = "system_powerdown", .fn = cmd_system_powerdown },
	{ NULL },
};
