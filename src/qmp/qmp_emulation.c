// SPDX-License-Identifier: MIT
/*
 * x-tern-query-emulation: how often each vCPU's emulation-failure fallback
 * (include/tern/emulate.h) completed an instruction KVM could not emulate,
 * so that a guest that runs slowly, or stops, can be explained. tern's own
 * command (the x- prefix, as QEMU marks unstable ones): QEMU has no such
 * fallback.
 */
#include "tern/emulate.h"
#include "tern/qmp.h"
#include "tern/vcpu.h"
#include "tern/vm.h"

static json_object *cmd_query_emulation(const struct qmp_call *call,
					json_object *args, GError **err)
{
	struct vm *vm = call->opaque;
	json_object *list = json_object_new_array();

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		json_object *cpu = json_object_new_object();
		json_object *done = json_object_new_object();
		struct x86_emu_stats st;
		uint64_t total = 0;

		x86_emu_stats_read(&vm->vcpus[i]->emu, &st);
		for (unsigned int op = 1; op < X86_INSN_NR; op++) {
			qmp_add_int(done, x86_insn_name(op),
				    (int64_t)st.done[op]);
			total += st.done[op];
		}
		qmp_add_int(cpu, "cpu-index", i);
		qmp_add_int(cpu, "total", (int64_t)total);
		json_object_object_add(cpu, "completed", done);
		qmp_add_int(cpu, "faults", (int64_t)st.faults);
		qmp_add_int(cpu, "declined", (int64_t)st.declined);
		json_object_array_add(list, cpu);
	}
	return list;
}

static const struct qmp_command qmp_emulation_commands[] = {
	{ .name = "x-tern-query-emulation", .fn = cmd_query_emulation },
	{ NULL },
};

bool qmp_emulation_register(struct qmp_server *srv, struct vm *vm,
			    GError **err)
{
	return qmp_server_add_commands(srv, qmp_emulation_commands, vm, err);
}
