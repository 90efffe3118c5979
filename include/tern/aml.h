/* SPDX-License-Identifier: MIT */
/*
 * An AML byte-code writer (ACPI 6.x, chapter 20): enough to describe a
 * machine in a DSDT. Names, scopes, devices, methods, packages, buffers,
 * integers and strings, operation regions and fields, a few operators for
 * method bodies, and the resource descriptors of _CRS templates.
 *
 * Objects that carry a PkgLength (scope, device, method, package, buffer,
 * field, if) are opened with *_begin() and closed with aml_end(), which
 * computes the length and inserts its encoding in front of the contents;
 * a package also counts its elements there. The writer fills a caller's
 * buffer and never allocates. Errors are sticky: the first one (-ENOSPC
 * when the buffer is full, -EINVAL for a bad name, a bad value or unmatched
 * begin/end) is kept and every later call does nothing; aml_finish()
 * reports it.
 */
#ifndef TERN_AML_H
#define TERN_AML_H

#include "tern/util.h"

#define AML_MAX_DEPTH 16

/* Opcodes (ACPI 6.4, 20.3). Two-byte ones are AML_EXT_PREFIX and a byte. */
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_METHOD 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_PREFIX 0x5b
#define AML_ROOT_CHAR 0x5c
#define AML_PARENT_PREFIX 0x5e
#define AML_LOCAL0 0x60
#define AML_ARG0 0x68
#define AML_STORE 0x70
#define AML_AND 0x7b
#define AML_NOTIFY 0x86
#define AML_LEQUAL 0x93
#define AML_IF 0xa0
#define AML_RETURN 0xa4
#define AML_ONES 0xff
/* After AML_EXT_PREFIX. */
#define AML_EXT_OP_REGION 0x80
#define AML_EXT_FIELD 0x81
#define AML_EXT_DEVICE 0x82

/* OperationRegion spaces and Field flags. */
#define AML_SPACE_SYSTEM_MEMORY 0
#define AML_SPACE_SYSTEM_IO 1
#define AML_FIELD_BYTE_ACC 1
#define AML_FIELD_NO_LOCK 0
#define AML_FIELD_PRESERVE 0

struct aml_open {
	size_t start; /* where the contents begin (the PkgLength goes here) */
	size_t count_at; /* a package: offset of its NumElements byte */
	unsigned int count; /* a package: elements so far */
	bool package;
};

struct aml {
	uint8_t *buf;
	size_t size, len;
	struct aml_open open[AML_MAX_DEPTH];
	unsigned int depth;
	int error; /* 0 or the first -errno */
};

void aml_init(struct aml *a, uint8_t *buf, size_t size);
/* Bytes written, or the first error; -EINVAL if something is still open. */
int aml_finish(struct aml *a) __must_check;

/* Record an error found outside the writer (the first one sticks). */
void aml_set_error(struct aml *a, int err);

/* Raw bytes, as they are. */
void aml_bytes(struct aml *a, const void *p, size_t len);

/*
 * A NameString: "\\_SB.PCI0", "PCI0", "^GED", "_S5". Segments of one to
 * four characters ([A-Z_] then [A-Z0-9_]) are padded with '_'.
 */
void aml_name_string(struct aml *a, const char *path);

/* Data objects; each counts as one element of an open package. */
void aml_integer(struct aml *a, uint64_t v); /* the shortest encoding */
void aml_string(struct aml *a, const char *s); /* printable ASCII */
void aml_eisaid(struct aml *a, const char *id); /* "PNP0A08" as a DWord */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* Name(path, ...): the value (a data object or package) comes next. */
void aml_name(struct aml *a, const char *path);
void aml_name_integer(struct aml *a, const char *path, uint64_t v);
void aml_name_string_value(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

/* Containers, closed by aml_end(). */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
void aml_method_begin(struct aml *a, const char *path, unsigned int nargs,
		      bool serialized);
void aml_package_begin(struct aml *a); /* at most 255 elements */
void aml_if_begin(struct aml *a); /* the predicate comes first */
void aml_field_begin(struct aml *a, const char *region, uint8_t flags);
void aml_end(struct aml *a);

/* Method(path, 0) { Return (v) } */
void aml_method_return_integer(struct aml *a, const char *path, uint64_t v);

/* OperationRegion(name, space, offset, len) */
void aml_op_region(struct aml *a, const char *name, uint8_t space,
		   uint64_t offset, uint64_t len);
/* A named field of bits inside aml_field_begin()/aml_end(). */
void aml_field_unit(struct aml *a, const char *name, unsigned int bits);

/* Operators for method bodies, written in prefix order by the caller. */
void aml_op(struct aml *a, uint8_t op);
void aml_local(struct aml *a, unsigned int n); /* Local0..Local7 */
void aml_arg(struct aml *a, unsigned int n); /* Arg0..Arg6 */
void aml_null_target(struct aml *a); /* no result target */

/*
 * Resource descriptors (ACPI 6.4, 6.4) for a resource template: write
 * them into an aml of their own, finish with aml_res_end(), and hand the
 * bytes to aml_buffer().
 */
#define AML_RES_CONSUMER true
#define AML_RES_PRODUCER false
void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max);
void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max);
void aml_res_mem32_window(struct aml *a, uint32_t min, uint32_t max);
void aml_res_mem64_window(struct aml *a, uint64_t min, uint64_t max);
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_irq(struct aml *a, unsigned int isa_irq); /* IRQNoFlags */
/* Extended interrupt: a consumer, exclusive. */
void aml_res_interrupt(struct aml *a, uint32_t gsi, bool edge,
		       bool active_low);
void aml_res_end(struct aml *a);

/* EISA id compression: "PNP0A08" -> 0x080ad041; false for a bad id. */
bool aml_eisaid_value(const char *id, uint32_t *out) __must_check;

#endif
