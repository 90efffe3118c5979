/* SPDX-License-Identifier: MIT */
/*
 * QMP, the QEMU Machine Protocol, as QEMU specifies it
 * (docs/interop/qmp-spec.rst): a greeting, capabilities negotiation,
 * commands answered in order with "return" or "error" and the request's
 * "id", and asynchronous events with timestamps. Tools written for QEMU
 * talk to tern unchanged; docs/qmp.md lists what differs.
 *
 * The protocol core (server.c, conn.c, dispatch.c) knows nothing about the
 * VM: a server gets its commands as const tables, each with an argument
 * schema the core checks before the handler runs, so a module adds
 * commands by adding a table (qmp_commands.c holds the VM's). Everything
 * runs on the main thread, in the glib main loop's default context.
 */
#ifndef TERN_QMP_H
#define TERN_QMP_H

#include <glib.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "tern/util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_object, json_object_put)

/*
 * Bounds, per client. A message (one JSON value) larger than
 * QMP_MAX_MESSAGE gets an error and the connection is closed: it cannot be
 * resynchronised. A message whose objects, arrays and values would take
 * json-c more than QMP_MAX_PARSE_MEMORY (estimated as it is lexed: json-c
 * spends ~800 bytes on `{}`), or nested deeper than QMP_MAX_DEPTH, is a
 * parse error for that message only, and json-c never builds more of it.
 * Input is not read while more than QMP_OUTPUT_HIGH_WATER bytes of replies
 * wait to be read by the client, so a reply is always queued whole; a
 * client that leaves more than QMP_OUTPUT_MAX unread behind its last reply
 * when an event comes is disconnected rather than letting it hold memory
 * or block anyone.
 */
#define QMP_MAX_MESSAGE (1 * MiB)
#define QMP_MAX_PARSE_MEMORY (1 * MiB)
#define QMP_MAX_DEPTH 64
#define QMP_MAX_CLIENTS 64
#define QMP_OUTPUT_HIGH_WATER (64 * KiB)
#define QMP_OUTPUT_MAX (1 * MiB)

/* QEMU's error classes (qapi/error.json), the codes of QMP_ERROR. */
enum qmp_error_class {
	QMP_ERROR_GENERIC, /* GenericError */
	QMP_ERROR_COMMAND_NOT_FOUND, /* CommandNotFound */
	QMP_ERROR_DEVICE_NOT_ACTIVE, /* DeviceNotActive */
	QMP_ERROR_DEVICE_NOT_FOUND, /* DeviceNotFound */
	QMP_ERROR_KVM_MISSING_CAP, /* KVMMissingCap */
};

#define QMP_ERROR (qmp_error_quark())
GQuark qmp_error_quark(void);

/* The class name for a handler's error; GenericError outside QMP_ERROR. */
const char *qmp_error_class_name(const GError *err);

/*
 * The input framer: splits a byte stream into JSON values the way QEMU's
 * JSON streamer does (a value ends when its braces and brackets balance),
 * and parses each with json-c's streaming tokener as its bytes arrive. A
 * lexical error (a byte that cannot start or continue a token) ends the
 * value with an error and skips input up to the next structural character
 * or control character, as QEMU's lexer recovers; a syntax error is reported
 * once, when the value's braces balance. A string that held \u0000 holds
 * 0xC0 0x80 instead (modified UTF-8, as in QEMU), so no C string of a name
 * or key is cut short; qmp_json_format() writes it back as \u0000.
 */
enum qmp_parse_status {
	QMP_PARSE_MORE, /* all input consumed, no value complete yet */
	QMP_PARSE_VALUE, /* *value holds a complete value (NULL for null) */
	QMP_PARSE_ERROR, /* *err says why; the next call carries on */
	QMP_PARSE_FATAL, /* over QMP_MAX_MESSAGE: the stream is lost */
};

struct qmp_parser;

/*
 * max_message bounds a value's bytes, max_memory what json-c may allocate
 * for it (estimated per object, array and value).
 */
struct qmp_parser *qmp_parser_new(size_t max_message, size_t max_memory);
void qmp_parser_free(struct qmp_parser *p);
/*
 * Consume bytes from buf until one value completes or an error is found;
 * *used says how many were consumed (call again with the rest).
 */
enum qmp_parse_status qmp_parser_feed(struct qmp_parser *p, const char *buf,
				      size_t len, size_t *used,
				      json_object **value, GError **err);
/*
 * The "id" member of the request object the last call returned, as the
 * client wrote it (line breaks as spaces), or NULL; valid until the next
 * call.
 */
const char *qmp_parser_id(const struct qmp_parser *p);

/* Argument schemas, checked before a handler runs. */
enum qmp_type {
	QMP_TYPE_ANY,
	QMP_TYPE_STR,
	QMP_TYPE_INT,
	QMP_TYPE_BOOL,
	QMP_TYPE_NUMBER, /* an integer or a double */
	QMP_TYPE_OBJECT,
	QMP_TYPE_ARRAY,
};

struct qmp_arg {
	const char *name;
	enum qmp_type type;
	bool optional;
	enum qmp_type elem; /* QMP_TYPE_ARRAY: the elements' type */
	/* QMP_TYPE_STR (or an array of them): the values accepted, an enum */
	const char *const *values;
};

struct qmp_server;
struct qmp_client;

/* What a handler is called with. */
struct qmp_call {
	struct qmp_server *server;
	struct qmp_client *client;
	void *opaque; /* given with the command's table */
};

/*
 * Returns the "return" value (a new reference; an empty object for none), or
 * NULL with err set: a QMP_ERROR code picks the error class, any other
 * domain is a GenericError.
 */
typedef json_object *qmp_command_fn(const struct qmp_call *call,
				    json_object *args, GError **err);

struct qmp_command {
	const char *name;
	qmp_command_fn *fn;
	const struct qmp_arg *args; /* ended by { NULL }; NULL: takes none */
};

/* version is tern's "MAJOR.MINOR.MICRO" for the greeting and query-version. */
struct qmp_server *qmp_server_new(const char *version);
/* Flush what can be flushed quickly, close every client and listener. */
void qmp_server_free(struct qmp_server *srv);

/*
 * Add a command table ended by { NULL }; opaque is passed to its handlers.
 * A name already served is refused. The table must outlive the server.
 */
bool qmp_server_add_commands(struct qmp_server *srv,
			     const struct qmp_command *cmds, void *opaque,
			     GError **err);

/*
 * Listen on a new Unix socket at path (mode 0600). An existing path is
 * replaced only when it is a stale socket nobody listens on. The socket is
 * removed when the server is freed.
 */
bool qmp_server_listen_unix(struct qmp_server *srv, const char *path,
			    GError **err);
/*
 * The socket qmp_server_listen_unix() listens on, for a caller that hands
 * it on as a descriptor (--jail binds it outside the jail): a listening,
 * non-blocking socket at path, st its file. -1 with err set.
 */
int qmp_unix_listen(const char *path, struct stat *st, GError **err);
/* Accept on fd, a socket a manager already put in the listening state. */
bool qmp_server_listen_fd(struct qmp_server *srv, int fd, GError **err);
/* Serve a connected socket (from accept(), or a test's socketpair). */
bool qmp_server_add_client(struct qmp_server *srv, int fd, GError **err);
unsigned int qmp_server_nr_clients(const struct qmp_server *srv);

/* Send an event to every client past negotiation; data (stolen) may be NULL. */
void qmp_server_emit(struct qmp_server *srv, const char *event,
		     json_object *data);

/* Building replies: add a member to a JSON object. */
static inline void qmp_add_int(json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static inline void qmp_add_bool(json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static inline void qmp_add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

/*
 * JSON text as QEMU writes it: `{"a": 1, "b": [true]}` on one line, or
 * indented by four spaces when pretty. g_free() the result.
 */
char *qmp_json_format(json_object *obj, bool pretty);

/*
 * An error reply's text, the very text qmp_json_format() writes for
 * {"error": {"class": cls, "desc": desc}}, without building the objects:
 * a client that sends garbage gets one for each piece of it.
 */
char *qmp_json_format_error(const char *cls, const char *desc);

/* The VM's control plane (qmp_commands.c): its commands, events, listeners. */
struct vm;
struct qmp_vm;

/* Serve the VM on every cfg->qmp endpoint; errors name the --qmp option. */
struct qmp_vm *qmp_vm_create(struct vm *vm, const char *version, GError **err);
void qmp_vm_destroy(struct qmp_vm *q);
/* ACPI's commands (qmp_acpi.c: system_powerdown); their opaque is the vm. */
extern const struct qmp_command qmp_acpi_commands[];
/* src/qmp/qmp_sev.c: SEV guests (opaque: the struct vm). */
extern const struct qmp_command qmp_sev_commands[];

/* The NICs' commands and events (qmp_net.c). */
bool qmp_net_register(struct qmp_server *srv, struct vm *vm, GError **err);

/* x-tern-query-emulation (qmp_emulation.c), added by qmp_vm_create(). */
bool qmp_emulation_register(struct qmp_server *srv, struct vm *vm,
			    GError **err);

/* `tern qmp PATH [COMMAND [ARGUMENTS]]`; argv[0] is "qmp". */
int qmp_client_main(int argc, char **argv);

/* The migration commands and events (qmp_migration.c), for vm->migration. */
bool qmp_migration_register(struct qmp_server *srv, struct vm *vm, GError **err);

/* `tern migrate QMP-SOCKET URI [--postcopy-after S]`; argv[0] is "migrate". */
int qmp_migrate_client_main(int argc, char **argv);

#endif
