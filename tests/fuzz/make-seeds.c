// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpora (tests/fuzz/corpus/TARGET/seed-*): a few small
 * valid inputs per target, each built with tern's own savers and builders
 * so that a format change shows up as changed seeds, not stale ones. The
 * state seeds (make-seeds-state.c) are loaded back before they are written.
 *
 *   build-fuzz/tests/fuzz/fuzz-make-seeds tests/fuzz/corpus
 *
 * The byte layouts of the virtqueue, virtio-blk, virtio-scsi,
 * virtio-balloon, virtio-pci, qmp and boot inputs are the ones their
 * targets' comments describe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tern/le.h"
#include "tern/pci.h"
#include "tern/virtio-balloon.h"
#include "tern/virtio-scsi.h"
#include "tern/virtio.h"
#include "fuzz.h"
#include "make-seeds.h"
#include "../unit/x86-images.h"

static const char *root;

void seed_write(const char *target, const char *name, const void *p,
		       size_t len)
{
	g_autofree char *dir = g_build_filename(root, target, NULL);
	g_autofree char *path = NULL;
	g_autofree char *file = g_strconcat("seed-", name, NULL);
	GError *err = NULL;

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		fprintf(stderr, "%s: %s\n", dir, g_strerror(errno));
		exit(1);
	}
	path = g_build_filename(dir, file, NULL);
	if (!g_file_set_contents(path, p, (gssize)len, &err)) {
		fprintf(stderr, "%s\n", err->message);
		exit(1);
	}
}

/* A growing input. */
static GByteArray *in_new(void)
{
	return g_byte_array_new();
}

static void in_u8(GByteArray *b, uint8_t v)
{
	g_byte_array_append(b, &v, 1);
}

static void in_u16(GByteArray *b, uint16_t v)
{
	in_u8(b, (uint8_t)v);
	in_u8(b, (uint8_t)(v >> 8));
}

static void in_u32(GByteArray *b, uint32_t v)
{
	in_u16(b, (uint16_t)v);
	in_u16(b, (uint16_t)(v >> 16));
}

static void in_u64(GByteArray *b, uint64_t v)
{
	in_u32(b, (uint32_t)v);
	in_u32(b, (uint32_t)(v >> 32));
}

static void in_done(GByteArray *b, const char *target, const char *name)
{
	seed_write(target, name, b->data, b->len);
	g_byte_array_unref(b);
}

/* ---- virtqueue: header, ops, then RAM from 0 ---- */

#define VQ_PACKED 1
#define VQ_EVENT_IDX 2
#define VQ_INDIRECT 4
#define VQ_DIRTY 8

static void ram_put(uint8_t *ram, size_t off, uint64_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		ram[off + i] = (uint8_t)(v >> (8 * i));
}

static void vq_desc(uint8_t *ram, size_t table, unsigned int i, uint64_t addr,
		    uint32_t len, uint16_t flags, uint16_t next_or_id,
		    bool packed)
{
	size_t d = table + 16 * i;

	ram_put(ram, d, addr, 8);
	ram_put(ram, d + 8, len, 4);
	if (packed) {
		ram_put(ram, d + 12, next_or_id, 2);
		ram_put(ram, d + 14, flags, 2);
	} else {
		ram_put(ram, d + 12, flags, 2);
		ram_put(ram, d + 14, next_or_id, 2);
	}
}

static void vq_seed(const char *name, uint8_t flags, uint16_t size,
		    const uint8_t *ops, unsigned int nops, const uint8_t *ram,
		    size_t ram_len)
{
	GByteArray *b = in_new();

	in_u8(b, flags);
	in_u8(b, (uint8_t)(size - 1));
	in_u8(b, 4); /* 256 bytes of buffers past the rings */
	in_u8(b, (uint8_t)nops);
	g_byte_array_append(b, ops, nops * 4);
	g_byte_array_append(b, ram, (guint)ram_len);
	in_done(b, "virtqueue", name);
}

static void seeds_virtqueue(void)
{
	/* Split, size 4: desc 0, avail 64 (used_event at 74), used 76. */
	const size_t avail = 64, used = 76, end = used + 6 + 8 * 4, buf = end;
	static const uint8_t ops_basic[] = {
		0, 0, 0, 0, /* pop */
		1, 0, 16, 0, /* push 16 bytes */
		2, 0, 0, 0, /* notify */
		6, 0, 0, 1, /* publish: avail idx += 2 */
		4, 0, 0, 0, /* enable kicks */
		0, 0, 0, 0, 0, 0, 0, 0, /* pop, pop */
		3, 0, 0, 0, /* disable kicks */
		7, 0, 0, 0, /* reset */
	};
	uint8_t ram[512] = { 0 };

	/* A readable header and a writable buffer; avail idx 1, head 0. */
	vq_desc(ram, 0, 0, buf, 16, 1, 1, false);
	vq_desc(ram, 0, 1, buf + 16, 64, 2, 0, false);
	ram_put(ram, avail + 2, 1, 2);
	vq_seed("split", 0, 4, ops_basic, sizeof(ops_basic) / 4, ram, end + 80);
	vq_seed("split-event-idx-dirty", VQ_EVENT_IDX | VQ_DIRTY, 4, ops_basic,
		sizeof(ops_basic) / 4, ram, end + 80);

	/* An indirect table of two at buf + 96. */
	memset(ram, 0, sizeof(ram));
	vq_desc(ram, buf + 96, 0, buf, 16, 1, 1, false);
	vq_desc(ram, buf + 96, 1, buf + 16, 64, 2, 0, false);
	vq_desc(ram, 0, 2, buf + 96, 32, 4, 0, false);
	ram_put(ram, avail + 2, 1, 2);
	ram_put(ram, avail + 4, 2, 2);
	vq_seed("split-indirect", VQ_INDIRECT | VQ_EVENT_IDX, 4, ops_basic,
		sizeof(ops_basic) / 4, ram, end + 160);

	/* Packed, size 4: desc 0, driver event 64, device event 68. */
	memset(ram, 0, sizeof(ram));
	vq_desc(ram, 0, 0, 72, 16, 0x80 | 1, 7, true); /* AVAIL | NEXT */
	vq_desc(ram, 0, 1, 88, 64, 0x80 | 2, 7, true); /* AVAIL | WRITE */
	vq_seed("packed", VQ_PACKED, 4, ops_basic, sizeof(ops_basic) / 4, ram,
		72 + 160);
	memset(ram, 0, sizeof(ram));
	vq_desc(ram, 72, 0, 120, 16, 0, 0, true);
	vq_desc(ram, 72, 1, 136, 64, 2, 0, true);
	vq_desc(ram, 0, 0, 72, 32, 0x80 | 4, 9, true); /* AVAIL | INDIRECT */
	ram_put(ram, 64, 0x00020000, 4); /* driver: notify at a descriptor */
	vq_seed("packed-indirect-event-idx",
		VQ_PACKED | VQ_INDIRECT | VQ_EVENT_IDX | VQ_DIRTY, 4, ops_basic,
		sizeof(ops_basic) / 4, ram, 72 + 200);
}

/* ---- virtio-blk: limits, buffer counts and lengths, readable bytes ---- */

static void blk_seed(const char *name, uint32_t type, uint64_t sector,
		     const uint16_t *lens, unsigned int out, unsigned int inb,
		     const void *seg, size_t seg_len)
{
	GByteArray *b = in_new();

	in_u8(b, 2 | 4); /* discard and write zeroes offered */
	in_u64(b, 2048); /* 1 MiB */
	in_u32(b, 1 << 21);
	in_u32(b, 1 << 21);
	in_u8(b, (uint8_t)out);
	in_u8(b, (uint8_t)inb);
	for (unsigned int i = 0; i < out + inb; i++)
		in_u16(b, (uint16_t)(lens[i] - 1));
	in_u32(b, type);
	in_u32(b, 0);
	in_u64(b, sector);
	if (seg)
		g_byte_array_append(b, seg, (guint)seg_len);
	in_done(b, "virtio-blk", name);
}

static void seeds_virtio_blk(void)
{
	struct {
		uint64_t sector;
		uint32_t num, flags;
	} seg = { 8, 16, 1 };

	blk_seed("read", 0, 2, (const uint16_t[]){ 16, 512, 513 }, 1, 2, NULL, 0);
	blk_seed("write", 1, 100, (const uint16_t[]){ 16, 1024, 1 }, 2, 1, NULL, 0);
	blk_seed("flush", 4, 0, (const uint16_t[]){ 16, 1 }, 1, 1, NULL, 0);
	blk_seed("get-id", 8, 0, (const uint16_t[]){ 16, 21 }, 1, 1, NULL, 0);
	blk_seed("write-zeroes", 13, 0, (const uint16_t[]){ 16, 16, 1 }, 2, 1,
		 &seg, sizeof(seg));
	seg.flags = 0;
	blk_seed("discard", 11, 0, (const uint16_t[]){ 32, 1 }, 1, 1, &seg,
		 sizeof(seg));
}

/* ---- virtio-scsi: LUN limits, target, chain, request bytes ---- */

static void scsi_seed(const char *name, uint8_t flags, const uint8_t *cdb,
		      size_t cdb_len, const uint16_t *lens, unsigned int out,
		      unsigned int inb, const void *data_out, size_t data_len)
{
	GByteArray *b = in_new();
	uint8_t hdr[VIRTIO_SCSI_REQ_HDR + VIRTIO_SCSI_CDB_DEFAULT] = { 0 };

	in_u8(b, flags);
	in_u8(b, 0); /* 512-byte blocks */
	in_u64(b, 2048); /* 1 MiB */
	/* scsi.c's limits for 512-byte blocks: 4064 KiB and 1 GiB. */
	in_u32(b, 8128);
	in_u32(b, 2097152);
	in_u8(b, SCSI_UNMAP_DESCS_MAX);
	in_u32(b, 2097152);
	in_u8(b, 2); /* LUNs 0 and 1 */
	in_u8(b, 0);
	in_u8(b, 0);
	in_u8(b, VIRTIO_SCSI_CDB_DEFAULT);
	in_u16(b, VIRTIO_SCSI_SENSE_DEFAULT);
	in_u8(b, (uint8_t)out);
	in_u8(b, (uint8_t)inb);
	for (unsigned int i = 0; i < out + inb; i++)
		in_u16(b, (uint16_t)(lens[i] - 1));
	/* LUN 0 of target 0, as Linux addresses it; tag 1. */
	hdr[0] = 1;
	hdr[8] = 1;
	memcpy(hdr + VIRTIO_SCSI_REQ_HDR, cdb, cdb_len);
	g_byte_array_append(b, hdr, sizeof(hdr));
	if (data_out)
		g_byte_array_append(b, data_out, (guint)data_len);
	if (flags & 2)
		g_byte_array_append(b, (const uint8_t *)"fuzz-serial", 12);
	in_done(b, "virtio-scsi", name);
}

#define CDB(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ })
#define LENS(...) (const uint16_t[]){ __VA_ARGS__ }

static void seeds_virtio_scsi(void)
{
	/* UNMAP parameter list: 8 bytes of header, one descriptor. */
	static const uint8_t unmap[24] = { 0, 22, 0, 16, [15] = 8, [19] = 16 };
	static const uint8_t zeroes[512];
	const uint16_t req = VIRTIO_SCSI_REQ_HDR + VIRTIO_SCSI_CDB_DEFAULT;
	const uint16_t resp = VIRTIO_SCSI_RESP_HDR + VIRTIO_SCSI_SENSE_DEFAULT;

	scsi_seed("inquiry", 2, CDB(0x12, 0, 0, 0, 36, 0), LENS(req, resp, 36),
		  1, 2, NULL, 0);
	scsi_seed("inquiry-vpd", 2, CDB(0x12, 1, 0x83, 0, 64, 0),
		  LENS(req, resp, 64), 1, 2, NULL, 0);
	scsi_seed("report-luns", 0, CDB(0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
		  LENS(req, resp, 256), 1, 2, NULL, 0);
	scsi_seed("read-capacity-16",
		  0, CDB(0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0),
		  LENS(req, resp, 32), 1, 2, NULL, 0);
	scsi_seed("mode-sense", 0, CDB(0x1a, 0, 0x3f, 0, 0xff, 0),
		  LENS(req, resp, 255), 1, 2, NULL, 0);
	scsi_seed("read-10", 0, CDB(0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0),
		  LENS(req, resp, 2048, 2048), 1, 3, NULL, 0);
	scsi_seed("write-16", 0,
		  CDB(0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 1, 0, 0),
		  LENS(req, 512, resp), 2, 1, zeroes, sizeof(zeroes));
	scsi_seed("unmap", 0, CDB(0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0),
		  LENS(req, 24, resp), 2, 1, unmap, sizeof(unmap));
	scsi_seed("write-same-16", 0,
		  CDB(0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 8, 0, 0),
		  LENS(req, 512, resp), 2, 1, zeroes, sizeof(zeroes));
	scsi_seed("sync-cache", 0, CDB(0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		  LENS(req, resp), 1, 1, NULL, 0);
	/* A pending unit attention: TEST UNIT READY gets it, REQUEST SENSE too. */
	scsi_seed("unit-attention", 4, CDB(0x00, 0, 0, 0, 0, 0), LENS(req, resp),
		  1, 1, NULL, 0);
	scsi_seed("request-sense", 4, CDB(0x03, 0, 0, 0, 18, 0),
		  LENS(req, resp, 18), 1, 2, NULL, 0);
}

/* ---- virtio-balloon: a mode byte, then the list, buffer or option ---- */

static void seeds_virtio_balloon(void)
{
	/* 128 MiB; pages 16-19, one outside RAM, 0x100, 20 again. */
	static const uint32_t pfns[] = { 16, 17, 18, 19, 0x100000, 0x100, 20 };
	GByteArray *b = in_new();

	in_u8(b, 0);
	in_u32(b, 32767);
	for (unsigned int i = 0; i < ARRAY_SIZE(pfns); i++)
		in_u32(b, pfns[i]);
	in_done(b, "virtio-balloon", "pages");
	/* 6 GiB: the pages either side of the 32-bit hole. */
	b = in_new();
	in_u8(b, 0);
	in_u32(b, 6 * 262144 - 1);
	in_u32(b, 0xbffff);
	in_u32(b, 0xc0000);
	in_u32(b, 0x100000);
	in_u32(b, 0x100001);
	in_done(b, "virtio-balloon", "pages-high");
	/* Statistics as Linux sends them: every tag, then an unknown one. */
	b = in_new();
	in_u8(b, 1);
	for (unsigned int t = 0; t <= BALLOON_S_NR; t++) {
		in_u16(b, (uint16_t)t);
		in_u64(b, 1000ULL * (t + 1));
	}
	in_u16(b, 3); /* a partial entry */
	in_done(b, "virtio-balloon", "stats");
	b = in_new();
	in_u8(b, 2);
	g_byte_array_append(b, (const uint8_t *)"deflate-on-oom=on,free-page-reporting=off,stats-period=2",
			    56);
	in_done(b, "virtio-balloon", "option");
}

/* ---- virtio-pci: 8-byte operations ---- */

enum { CFG_W, CFG_R, BAR_W, BAR_R, MSIX_W, MSIX_R, CONF1_W, CONF1_R, ECAM_W,
       ECAM_R, RESET, IRQ, QUIESCE };

static void op(GByteArray *b, uint8_t code, unsigned int len, uint16_t off,
	       uint32_t val)
{
	in_u8(b, code);
	in_u8(b, len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : 3);
	in_u16(b, off);
	in_u32(b, val);
}

/* The capability offsets of the virtio-pci function the targets build. */
static void vpci_caps(unsigned int *msix, unsigned int *cfg_window)
{
	struct fuzz_machine fm;
	struct virtio_device *vdev;
	static const struct virtio_device_ops ops = { .name = "seeds" };
	static uint8_t config[8];
	struct pci_device *pci;

	if (fuzz_machine_init(&fm, 64 * KiB))
		abort();
	vdev = virtio_pci_create(&fm.m, &ops, NULL, VIRTIO_ID_RNG, 1ULL << 3, 2,
				 config, sizeof(config), NULL);
	if (!vdev)
		abort();
	pci = virtio_pci_function(vdev);
	*msix = *cfg_window = 0;
	for (unsigned int o = pci_config_get(pci, PCI_CAPABILITY_LIST, 1); o;
	     o = pci_config_get(pci, o + 1, 1)) {
		if (pci_config_get(pci, o, 1) == PCI_CAP_ID_MSIX)
			*msix = o;
		else if (pci_config_get(pci, o + 3, 1) == 5)
			*cfg_window = o;
	}
	virtio_pci_destroy(vdev);
	fuzz_machine_destroy(&fm);
}

static void seeds_virtio_pci(void)
{
	unsigned int msix, win;
	GByteArray *b = in_new();

	vpci_caps(&msix, &win);
	/* A driver's bring-up of queue 0, MSI-X, a kick and an interrupt. */
	op(b, CFG_W, 2, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	op(b, BAR_W, 1, 0x14, 1);
	op(b, BAR_W, 1, 0x14, 3);
	op(b, BAR_W, 4, 0x08, 1);
	op(b, BAR_W, 4, 0x0c, 1); /* VERSION_1 */
	op(b, BAR_W, 1, 0x14, 0xb);
	op(b, BAR_R, 1, 0x14, 0);
	op(b, BAR_W, 2, 0x16, 0);
	op(b, BAR_W, 2, 0x18, 16);
	op(b, BAR_W, 4, 0x20, 0x1000);
	op(b, BAR_W, 4, 0x24, 0);
	op(b, BAR_W, 8, 0x28, 0x2000);
	op(b, BAR_W, 8, 0x30, 0x3000);
	op(b, BAR_W, 2, 0x1a, 0);
	op(b, BAR_W, 2, 0x1c, 1);
	op(b, BAR_W, 2, 0x10, 2);
	op(b, CFG_W, 2, (uint16_t)(msix + PCI_MSIX_FLAGS), PCI_MSIX_FLAGS_ENABLE);
	op(b, MSIX_W, 4, 0, 0xfee00000);
	op(b, MSIX_W, 4, 8, 0x41);
	op(b, MSIX_W, 4, 12, 0);
	op(b, BAR_W, 1, 0x14, 0xf); /* DRIVER_OK */
	op(b, BAR_W, 2, 0x3000, 0); /* kick queue 0 */
	op(b, IRQ, 1, 0, 0);
	op(b, IRQ, 1, 2, 0);
	op(b, MSIX_R, 8, 0x800, 0);
	op(b, BAR_R, 1, 0x1000, 0); /* ISR */
	op(b, BAR_R, 4, 0x2000, 0); /* device config */
	op(b, QUIESCE, 1, 0, 0);
	in_done(b, "virtio-pci", "driver-bring-up");

	/* Config access: the PCI configuration window, 0xcf8, ECAM, a move. */
	b = in_new();
	op(b, CFG_W, 1, (uint16_t)(win + 4), 4);
	op(b, CFG_W, 4, (uint16_t)(win + 8), 0x14);
	op(b, CFG_W, 4, (uint16_t)(win + 12), 1);
	op(b, CFG_W, 1, (uint16_t)(win + 16), 3);
	op(b, CFG_R, 4, (uint16_t)(win + 16), 0);
	op(b, CONF1_W, 4, 0x10, 0);
	op(b, CONF1_W, 4, 0x100, 0xffffffff); /* size BAR 4 through 0xcfc */
	op(b, CONF1_R, 4, 4, 0);
	op(b, ECAM_W, 4, PCI_BASE_ADDRESS_0 + 16, 0xd0000000);
	op(b, ECAM_R, 4, PCI_BASE_ADDRESS_0 + 16, 0);
	op(b, BAR_W, 1, 0x14, 1);
	op(b, RESET, 1, 0, 0);
	op(b, CFG_W, 2, PCI_STATUS, 0xf900);
	in_done(b, "virtio-pci", "config-paths");
}

/* ---- qmp: a mode byte, then the client's bytes ---- */

static void qmp_seed(const char *name, uint8_t mode, const char *text)
{
	GByteArray *b = in_new();

	in_u8(b, mode);
	g_byte_array_append(b, (const uint8_t *)text, (guint)strlen(text));
	in_done(b, "qmp", name);
}

static void seeds_qmp(void)
{
	qmp_seed("session", 1 | (2 << 2),
		 "{\"execute\": \"query-status\", \"id\": 1}\n"
		 "{\"execute\": \"stop\"}{\"execute\": \"cont\", \"id\": \"x\"}\n"
		 "{\"execute\": \"query-block\"}{\"execute\": \"query-cpus-fast\"}\r\n"
		 "{\"execute\": \"query-name\"} {\"execute\": \"query-kvm\"}\n"
		 "{\"execute\": \"system_reset\"}\n{\"execute\": \"quit\"}\n");
	qmp_seed("negotiation", 2,
		 "{\"execute\": \"query-version\"}\n"
		 "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}\n"
		 "{\"execute\": \"qmp_capabilities\", \"id\": [0, {\"a\": null}]}\n"
		 "{\"execute\": \"qmp_capabilities\"}\n"
		 "{\"execute\": \"query-commands\"}{\"execute\": \"cont\"}\n");
	qmp_seed("errors", 1,
		 "{\"execute\": \"stop\", \"arguments\": {\"force\": true}}\n"
		 "{\"execute\": 42}{\"arguments\": {}}{\"execute\": \"nope\"}\n"
		 "[1, 2.5, -0, 1e400, \"s\", true, false, null]\n"
		 "{'execute': 'query-status', 'id': 'single \\'q\\''}\n"
		 "{\"execute\": \"query-name\", \"extra\": 1}\n");
	qmp_seed("lexical", 1,
		 "{\"execute\": \"\\u00e9\\ud83d\\ude00\\u0000\"}\n"
		 "{]\n{\xff}\n{\"a\": \"\xc3\x28\"}\n\"unterminated\n"
		 "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]\n"
		 "{\"execute\": \"query-status\", \"id\": 18446744073709551616}\n");
}

/* ---- boot: a config byte, then the image ---- */

static void boot_seed(const char *name, uint8_t config, const uint8_t *img,
		      size_t len)
{
	GByteArray *b = in_new();

	in_u8(b, config);
	g_byte_array_append(b, img, (guint)len);
	in_done(b, "boot", name);
}

static void seeds_boot(void)
{
	g_autofree uint8_t *elf64 = NULL, *elf32 = NULL, *bz = NULL;
	size_t len;

	elf64 = elf_image_build(true, 8, NULL, &len);
	boot_seed("pvh-elf64", 2 | 4 | (1 << 4), elf64, len);
	elf32 = elf_image_build(false, 4, NULL, &len);
	boot_seed("pvh-elf32", 1, elf32, len);
	bz = bzimage_build(&len);
	/* Prefers 16 MiB, needs 4 MiB from there: 32 MiB of RAM, or relocation. */
	boot_seed("bzimage", 3 | 4 | 8 | (3 << 4), bz, len);
}

/* ---- --disk and --memory: the option's value ---- */

static void text_seed(const char *target, const char *name, const char *v)
{
	seed_write(target, name, v, strlen(v));
}

static void seeds_options(void)
{
	text_seed("disk-option", "minimal", "path=disk.img");
	text_seed("disk-option", "every-key",
		  "path=/tmp/a,,b.img,readonly=on,engine=threads,cache=writeback,"
		  "serial=SERIAL-0123,queues=4,poll-us=0");
	text_seed("disk-option", "aio", "path=d.img,engine=aio,cache=none,queues=16");
	text_seed("memory-option", "size", "512M");
	text_seed("net-option", "tap", "tap=tap0");
	text_seed("net-option", "every-key",
		  "fd=3,mac=52:54:00:ab:cd:ef,queues=1,mtu=9000,vhost=auto");
	text_seed("net-option", "multiqueue", "tap=tap0,queues=4,vhost=on");
	text_seed("net-option", "refused", "tap=tap0,fd=3,mac=01:00:5e:00:00:01");
	text_seed("memory-option", "shared", "1G,shared=on");
	text_seed("memory-option", "hugepages", "2048M,hugepages=on,shared=on");
	text_seed("memory-option", "refused", "3K,hugepages=off,bogus");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
		return 2;
	}
	root = argv[1];
	seeds_virtqueue();
	seeds_virtio_blk();
	seeds_virtio_scsi();
	seeds_virtio_balloon();
	seeds_virtio_pci();
	seeds_qmp();
	seeds_boot();
	seeds_options();
	seeds_state();
	seeds_queues();
	seeds_migration();
	return 0;
}
