// SPDX-License-Identifier: MIT
/* The tests' SCSI command layer (guest/scsi.h). */
#include "guest/console.h"
#include "guest/exit.h"
#include "guest/scsi.h"
#include "guest/string.h"

unsigned int scsi_rw_cdb(uint8_t *c, uint8_t op, uint8_t flags, uint64_t lba,
			 uint32_t n)
{
	memset(c, 0, 16);
	c[0] = op;
	c[1] = flags;
	if (op < 0x20) {
		c[1] = (uint8_t)(lba >> 16) & 0x1f;
		c[2] = (uint8_t)(lba >> 8);
		c[3] = (uint8_t)lba;
		c[4] = (uint8_t)n; /* 0 means 256 */
		return 6;
	}
	if (op < 0x80) {
		for (int i = 0; i < 4; i++)
			c[2 + i] = (uint8_t)(lba >> (24 - 8 * i));
		c[7] = (uint8_t)(n >> 8);
		c[8] = (uint8_t)n;
		return 10;
	}
	scsi_put_be64(c + 2, lba);
	for (int i = 0; i < 4; i++)
		c[10 + i] = (uint8_t)(n >> (24 - 8 * i));
	return 16;
}

void scsi_want_good(const struct scsi_req *r, const char *what)
{
	if (r->response != VIRTIO_SCSI_S_OK || r->status != SCSI_GOOD)
		result_fail("%s: response %u status %#x sense %x/%02x/%02x",
			    what, r->response, r->status, r->key, r->asc,
			    r->ascq);
}

void scsi_want_sense(const struct scsi_req *r, uint8_t key, uint8_t asc,
		     int ascq, const char *what)
{
	if (r->response != VIRTIO_SCSI_S_OK ||
	    r->status != SCSI_CHECK_CONDITION || r->key != key ||
	    r->asc != asc || (ascq >= 0 && r->ascq != ascq))
		result_fail("%s: response %u status %#x sense %x/%02x/%02x, "
			    "expected CHECK CONDITION %x/%02x/%02x",
			    what, r->response, r->status, r->key, r->asc,
			    r->ascq, key, asc, ascq < 0 ? 0 : ascq);
}

void scsi_want_response(const struct scsi_req *r, uint8_t resp,
			const char *what)
{
	if (r->response != resp)
		result_fail("%s: response %u, expected %u", what, r->response,
			    resp);
}

void scsi_dump(const char *prefix, unsigned int lun, const char *what,
	       const uint8_t *p, uint32_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (uint32_t off = 0; off < n; off += 32) {
		char line[65];
		uint32_t k = 0;

		for (uint32_t i = off; i < n && i < off + 32; i++) {
			line[k++] = hex[p[i] >> 4];
			line[k++] = hex[p[i] & 15];
		}
		line[k] = 0;
		con_printf("%s: dump lun %u %s +%u %s\n", prefix, lun, what,
			   off, line);
	}
}
