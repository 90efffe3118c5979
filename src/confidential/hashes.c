// SPDX-License-Identifier: MIT
/*
 * The SEV hashes table OVMF checks a directly booted kernel against (QEMU
 * target/i386/sev.c, edk2 OvmfPkg/AmdSev/BlobVerifierLibSevHashes): a
 * header GUID and length, then {GUID, u16 length 50, SHA-256} for the
 * command line, the initrd and the kernel, zero-padded to 16 bytes.
 */
#include <string.h>

#include "tern/confidential.h"
#include "tern/le.h"

#define ENTRY_LEN 50

static const uint8_t guid_table[16] = { 0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f,
					0xc9, 0x4c, 0xb4, 0x79, 0xa7, 0x93,
					0xd4, 0x11, 0xfd, 0x21 };
static const uint8_t guid_cmdline[16] = { 0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd,
					  0x94, 0x4c, 0xaa, 0x78, 0xe7, 0x71,
					  0x4d, 0x36, 0xab, 0x2a };
static const uint8_t guid_initrd[16] = { 0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a,
					 0xd7, 0x4b, 0x9a, 0xf1, 0x41, 0xe2,
					 0x91, 0x69, 0x78, 0x1d };
static const uint8_t guid_kernel[16] = { 0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab,
					 0x7f, 0x42, 0xb8, 0x35, 0xd5, 0xb1,
					 0x72, 0xd2, 0x04, 0x5b };

static uint8_t *hashes_entry_put(uint8_t *p, const uint8_t guid[16],
				 const uint8_t *data, size_t len)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	gsize dlen = SEV_DIGEST_SIZE;

	memcpy(p, guid, 16);
	le16_put(p + 16, ENTRY_LEN);
	if (len)
		g_checksum_update(sum, data, len);
	g_checksum_get_digest(sum, p + 18, &dlen);
	return p + ENTRY_LEN;
}

void sev_hashes_table_build(const uint8_t *kernel, size_t kernel_len,
			    const uint8_t *initrd, size_t initrd_len,
			    const char *cmdline,
			    uint8_t out[SEV_HASHES_TABLE_PADDED])
{
	/* The command line is hashed with its NUL, as OVMF sees it. */
	const char *c = cmdline ? cmdline : "";
	uint8_t *p = out;

	memset(out, 0, SEV_HASHES_TABLE_PADDED);
	memcpy(p, guid_table, 16);
	le16_put(p + 16, SEV_HASHES_TABLE_LEN);
	p += 18;
	p = hashes_entry_put(p, guid_cmdline, (const uint8_t *)c,
			     strlen(c) + 1);
	p = hashes_entry_put(p, guid_initrd, initrd, initrd ? initrd_len : 0);
	hashes_entry_put(p, guid_kernel, kernel, kernel_len);
}
