// SPDX-License-Identifier: MIT
/* The --disk parser: a pure function from the option's text. */
#include <string.h>

#include "tern/block.h"
#include "tern/config.h"
#include "tern/error.h"
#include "run-args.h"
#include "unit.h"

static void expect_error(const char *spec, const char *needle)
{
	struct disk_config c;
	GError *err = NULL;

	ck_assert_msg(!disk_config_parse(spec, &c, &err), "'%s' parsed", spec);
	ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
	ck_assert_msg(g_str_has_prefix(err->message, "--disk '"),
		      "'%s' does not start with the option", err->message);
	ck_assert_msg(strstr(err->message, needle), "'%s' does not mention '%s'",
		      err->message, needle);
	/* Cleared on failure. */
	ck_assert_ptr_null(c.path);
	ck_assert_ptr_null(c.spec);
	g_error_free(err);
}

START_TEST(defaults)
{
	struct disk_config c;

	ck_assert(disk_config_parse("path=disk.img", &c, NULL));
	ck_assert_str_eq(c.path, "disk.img");
	ck_assert(!c.readonly);
	ck_assert_int_eq(c.engine, BLK_ENGINE_IO_URING);
	ck_assert_int_eq(c.cache, BLK_CACHE_WRITEBACK);
	ck_assert_ptr_null(c.serial);
	ck_assert_uint_eq(c.queues, 1);
	ck_assert_uint_eq(c.poll_us, BLK_POLL_US_DEFAULT);
	ck_assert_str_eq(c.spec, "path=disk.img");
	ck_assert_int_eq(c.bus, DISK_BUS_BLK);
	ck_assert(!c.lun_given);
	disk_config_clear(&c);
	ck_assert_ptr_null(c.path);
}
END_TEST

START_TEST(scsi_keys)
{
	struct disk_config c;

	ck_assert(disk_config_parse("path=x,bus=scsi", &c, NULL));
	ck_assert_int_eq(c.bus, DISK_BUS_SCSI);
	ck_assert(!c.lun_given);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("lun=255,bus=scsi,path=x,readonly=on,engine=threads,cache=none,serial=S1",
				    &c, NULL));
	ck_assert_int_eq(c.bus, DISK_BUS_SCSI);
	ck_assert(c.lun_given);
	ck_assert_uint_eq(c.lun, 255);
	ck_assert(c.readonly);
	ck_assert_str_eq(c.serial, "S1");
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=x,bus=scsi,lun=0", &c, NULL));
	ck_assert(c.lun_given);
	ck_assert_uint_eq(c.lun, 0);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=x,bus=blk", &c, NULL));
	ck_assert_int_eq(c.bus, DISK_BUS_BLK);
	disk_config_clear(&c);

	expect_error("path=x,bus=ide", "bus='ide': expected blk or scsi");
	expect_error("path=x,bus=", "'bus' needs a value");
	expect_error("path=x,bus=scsi,bus=scsi", "'bus' given twice");
	expect_error("path=x,bus=scsi,lun=256", "lun='256': expected a decimal number from 0 to 255");
	expect_error("path=x,bus=scsi,lun=-1", "lun='-1'");
	expect_error("path=x,bus=scsi,lun=0x1", "lun='0x1'");
	expect_error("path=x,bus=scsi,lun=01", "lun='01'");
	expect_error("path=x,bus=scsi,lun=1,lun=2", "'lun' given twice");
	/* Options that mean nothing on the other bus. */
	expect_error("path=x,lun=1", "lun=1 needs bus=scsi");
	expect_error("path=x,bus=blk,lun=0", "lun=0 needs bus=scsi");
	expect_error("path=x,bus=scsi,queues=2", "queues= applies to bus=blk only");
	expect_error("path=x,queues=1,bus=scsi", "queues= applies to bus=blk only");
	expect_error("path=x,bus=scsi,poll-us=0", "poll-us= applies to bus=blk only");
}
END_TEST

START_TEST(all_keys)
{
	struct disk_config c;

	ck_assert(disk_config_parse(
		"path=/var/a.raw,readonly=on,engine=threads,cache=none,serial=SN-42 x,queues=4",
		&c, NULL));
	ck_assert_str_eq(c.path, "/var/a.raw");
	ck_assert(c.readonly);
	ck_assert_int_eq(c.engine, BLK_ENGINE_THREADS);
	ck_assert_int_eq(c.cache, BLK_CACHE_NONE);
	ck_assert_str_eq(c.serial, "SN-42 x");
	ck_assert_uint_eq(c.queues, 4);
	disk_config_clear(&c);

	/* Any order; the boolean spellings QEMU takes. */
	ck_assert(disk_config_parse("queues=16,readonly=true,path=x", &c, NULL));
	ck_assert(c.readonly);
	ck_assert_uint_eq(c.queues, 16);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=x,readonly=off,engine=io_uring,cache=writeback",
				    &c, NULL));
	ck_assert(!c.readonly);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=x,readonly=yes", &c, NULL));
	ck_assert(c.readonly);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=x,serial=ABCDEFGHIJKLMNOPQRST", &c, NULL));
	ck_assert_str_eq(c.serial, "ABCDEFGHIJKLMNOPQRST");
	disk_config_clear(&c);
	/* poll-us replaced the TERN_BLK_POLL_US environment variable. */
	ck_assert(disk_config_parse("path=x,poll-us=0", &c, NULL));
	ck_assert_uint_eq(c.poll_us, 0);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("poll-us=1000000,path=x", &c, NULL));
	ck_assert_uint_eq(c.poll_us, BLK_POLL_US_MAX);
	disk_config_clear(&c);
}
END_TEST

START_TEST(aio_implies_direct)
{
	struct disk_config c;

	ck_assert(disk_config_parse("path=x,engine=aio", &c, NULL));
	ck_assert_int_eq(c.engine, BLK_ENGINE_AIO);
	ck_assert_int_eq(c.cache, BLK_CACHE_NONE);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=x,cache=none,engine=aio", &c, NULL));
	ck_assert_int_eq(c.cache, BLK_CACHE_NONE);
	disk_config_clear(&c);
	expect_error("path=x,engine=aio,cache=writeback", "engine=aio needs cache=none");
}
END_TEST

START_TEST(escaped_commas)
{
	struct disk_config c;

	ck_assert(disk_config_parse("path=a,,b.img,readonly=on", &c, NULL));
	ck_assert_str_eq(c.path, "a,b.img");
	ck_assert(c.readonly);
	disk_config_clear(&c);
	ck_assert(disk_config_parse("path=trailing,,", &c, NULL));
	ck_assert_str_eq(c.path, "trailing,");
	disk_config_clear(&c);
	/* '=' inside a value is the value's. */
	ck_assert(disk_config_parse("path=/x/a=b", &c, NULL));
	ck_assert_str_eq(c.path, "/x/a=b");
	disk_config_clear(&c);
}
END_TEST

START_TEST(malformed)
{
	expect_error("", "path=FILE");
	expect_error("readonly=on", "path=FILE is required");
	expect_error("disk.img", "'disk.img': expected key=value");
	expect_error("path=x,bogus=1", "unknown key 'bogus'");
	expect_error("path=x,Path=y", "unknown key 'Path'");
	expect_error("path=x,path=y", "'path' given twice");
	expect_error("path=x,queues=2,queues=2", "'queues' given twice");
	expect_error("path=", "'path' needs a value");
	expect_error("path=x,readonly=", "'readonly' needs a value");
	expect_error("path=x,", "empty option");
	expect_error(",path=x", "empty option");
	expect_error("path=x,,,", "empty option");
	expect_error("path=x,readonly=maybe", "readonly='maybe'");
	expect_error("path=x,engine=spdk", "engine='spdk'");
	expect_error("path=x,cache=directsync", "cache='directsync'");
	expect_error("path=x,queues=0", "queues='0'");
	expect_error("path=x,queues=17", "queues='17'");
	expect_error("path=x,queues=-1", "queues='-1'");
	expect_error("path=x,queues=two", "queues='two'");
	expect_error("path=x,queues=99999999999999999999", "queues=");
	/* Decimal only: 010 is neither 8 nor 10, 0x2 is not 2. */
	expect_error("path=x,queues=010", "queues='010': expected a decimal number");
	expect_error("path=x,queues=0x2", "queues='0x2'");
	expect_error("path=x,queues=+2", "queues='+2'");
	expect_error("path=x,queues= 2", "queues=' 2'");
	expect_error("path=x,poll-us=1000001", "poll-us='1000001'");
	expect_error("path=x,poll-us=-1", "poll-us='-1'");
	expect_error("path=x,poll-us=0x10", "poll-us='0x10'");
	expect_error("path=x,poll-us=", "'poll-us' needs a value");
	expect_error("path=x,poll-us=1,poll-us=2", "'poll-us' given twice");
	expect_error("path=x,serial=ABCDEFGHIJKLMNOPQRSTU", "at most 20");
	expect_error("path=x,serial=a\tb", "printable ASCII");
	expect_error("path=x,serial=\xc3\xa9", "printable ASCII");
	expect_error("=x", "unknown key ''");
}
END_TEST


START_TEST(run_options)
{
	struct vm_config c;
	char *msg;

	ck_assert(parse_run(&c, NULL, "--disk", "path=a.img",
			    "--disk=path=b.img,readonly=on,queues=2", NULL));
	ck_assert_uint_eq(c.nr_disks, 2);
	ck_assert_str_eq(c.disks[0].path, "a.img");
	ck_assert_str_eq(c.disks[1].path, "b.img");
	ck_assert(c.disks[1].readonly);
	ck_assert_uint_eq(c.disks[1].queues, 2);
	config_clear(&c);

	ck_assert(parse_run(&c, NULL, NULL));
	ck_assert_uint_eq(c.nr_disks, 0);
	config_clear(&c);

	ck_assert(!parse_run(&c, &msg, "--disk", "path=a,foo=bar", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--disk 'path=a,foo=bar'"));
	ck_assert_ptr_nonnull(strstr(msg, "foo"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--disk", "path=a", "--disk", "path=a,readonly=on",
			     NULL));
	ck_assert_ptr_nonnull(strstr(msg, "given twice"));
	g_free(msg);
	ck_assert(!parse_run(&c, &msg, "--disk", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--disk"));
	g_free(msg);
}
END_TEST

/* LUNs: given ones kept, the others the lowest free; bus indexes per bus. */
START_TEST(luns)
{
	struct vm_config c;
	char *msg;

	ck_assert(parse_run(&c, NULL, "--disk", "path=a,bus=scsi", "--disk", "path=b",
			    "--disk", "path=c,bus=scsi,lun=0", "--disk", "path=d,bus=scsi",
			    "--disk", "path=e,bus=scsi,lun=2", "--disk", "path=f", NULL));
	ck_assert_uint_eq(c.nr_disks, 6);
	ck_assert_uint_eq(c.disks[0].lun, 1);
	ck_assert_uint_eq(c.disks[2].lun, 0);
	ck_assert_uint_eq(c.disks[3].lun, 3);
	ck_assert_uint_eq(c.disks[4].lun, 2);
	ck_assert_uint_eq(c.disks[0].bus_index, 0);
	ck_assert_uint_eq(c.disks[2].bus_index, 1);
	ck_assert_uint_eq(c.disks[4].bus_index, 3);
	ck_assert_uint_eq(c.disks[1].bus_index, 0);
	ck_assert_uint_eq(c.disks[5].bus_index, 1);
	ck_assert_uint_eq(disk_configs_count(c.disks, c.nr_disks, DISK_BUS_SCSI), 4);
	ck_assert_uint_eq(disk_configs_count(c.disks, c.nr_disks, DISK_BUS_BLK), 2);
	ck_assert_ptr_eq(disk_configs_nth(c.disks, c.nr_disks, DISK_BUS_BLK, 1), &c.disks[5]);
	ck_assert_ptr_eq(disk_configs_nth(c.disks, c.nr_disks, DISK_BUS_SCSI, 2), &c.disks[3]);
	ck_assert_ptr_null(disk_configs_nth(c.disks, c.nr_disks, DISK_BUS_SCSI, 4));
	config_clear(&c);

	ck_assert(!parse_run(&c, &msg, "--disk", "path=a,bus=scsi,lun=7", "--disk",
			     "path=b,bus=scsi,lun=7", NULL));
	ck_assert_ptr_nonnull(strstr(msg, "--disk 'path=b,bus=scsi,lun=7': lun=7 is --disk 'path=a,bus=scsi,lun=7''s already"));
	g_free(msg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("disk-config");

	UNIT_TCASE(s, "parse", defaults, all_keys, aio_implies_direct,
		   escaped_commas, malformed, scsi_keys);
	UNIT_TCASE(s, "run", run_options, luns);
	return unit_run(s);
}
