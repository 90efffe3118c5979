/* SPDX-License-Identifier: MIT */
/*
 * A minimal AML walk over a DSDT's definition block: every named object
 * with its absolute path ("\\_SB_.PCI0._HID", segments padded with '_')
 * and where its value starts. No interpreter: methods are recorded, not
 * run. Anything the walk does not understand is a failed test
 * (result_fail). Any CPL.
 */
#ifndef GUEST_AML_H
#define GUEST_AML_H

#include <stdint.h>

#define AML_NAME 0x08
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_METHOD 0x14
#define AML_EXT 0x5b
#define AML_REGION 0x80 /* after AML_EXT */
#define AML_FIELD 0x81
#define AML_DEVICE 0x82

#define AML_MAX_OBJS 64

struct aml_obj {
	char path[40];
	uint8_t kind; /* AML_NAME, AML_METHOD, AML_DEVICE, AML_REGION, AML_FIELD */
	/*
	 * A name: its data object. A method: its flags byte (the body follows,
	 * up to end). A device: its first term (up to end). A region: its
	 * space byte, then offset and length. A field unit: its bit width.
	 */
	const uint8_t *val, *end;
};

/* Walk the AML in [p, end); returns the number of objects found. */
unsigned int aml_walk(const uint8_t *p, const uint8_t *end);
/* The object at path, which must be of this kind. */
const struct aml_obj *aml_find(const char *path, uint8_t kind);
/* A Name's buffer: its bytes, and their number in *len. */
const uint8_t *aml_buffer(const char *path, uint32_t *len);
/* A device's _HID as text: an EISA id ("PNP0A08") or a string. */
void aml_hid(const char *dev, char out[9]);

/* Decode a PkgLength at p: returns what follows it, *end the object's end. */
const uint8_t *aml_pkglen(const uint8_t *p, const uint8_t **end);
/* The byte after the data object at p (integer, string, buffer, package). */
const uint8_t *aml_skip_data(const uint8_t *p);
/* The integer data object at p. */
uint64_t aml_int(const uint8_t *p);

#endif
