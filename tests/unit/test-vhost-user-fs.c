// SPDX-License-Identifier: MIT
/*
 * vhost-user-fs: the --fs option (every key, every malformed value, the
 * limits of the tag and the queue count, shared memory required, one
 * socket per device) and the config space the guest reads (virtio 1.2,
 * 5.11.4: tag[36], le32 num_request_queues).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/vhost-user-fs.h"
#include "run-args.h"
#include "unit.h"

/* Parse spec; on failure return the message (the caller frees it). */
static char *fs_parse(const char *spec, struct vhost_user_fs_config *c)
{
	GError *err = NULL;
	char *msg = NULL;

	if (!vhost_user_fs_config_parse(spec, c, &err)) {
		ck_assert(g_error_matches(err, TERN_ERROR, TERN_ERROR_INPUT));
		msg = g_strdup(err->message);
		g_error_free(err);
	} else {
		ck_assert_ptr_null(err);
	}
	return msg;
}

static void expect_refused(const char *spec, const char *needle)
{
	struct vhost_user_fs_config c;
	g_autofree char *msg = fs_parse(spec, &c);
	g_autofree char *prefix = g_strdup_printf("--fs '%s': ", spec);

	ck_assert_msg(msg, "'%s' was accepted", spec);
	ck_assert_msg(g_str_has_prefix(msg, prefix), "'%s' does not name --fs",
		      msg);
	ck_assert_msg(strstr(msg, needle), "'%s' does not say '%s'", msg,
		      needle);
	vhost_user_fs_config_clear(&c);
}

START_TEST(parse_defaults)
{
	struct vhost_user_fs_config c;

	ck_assert_ptr_null(fs_parse("vhost-user=/run/vfs.sock,tag=share", &c));
	ck_assert_str_eq(c.path, "/run/vfs.sock");
	ck_assert_str_eq(c.tag, "share");
	ck_assert_uint_eq(c.queues, 1);
	ck_assert(c.reconnect);
	ck_assert_str_eq(c.spec, "vhost-user=/run/vfs.sock,tag=share");
	vhost_user_fs_config_clear(&c);
}
END_TEST

START_TEST(parse_every_key)
{
	struct vhost_user_fs_config c;

	ck_assert_ptr_null(
	    fs_parse("tag=t,queues=15,reconnect=off,vhost-user=s", &c));
	ck_assert_str_eq(c.path, "s");
	ck_assert_str_eq(c.tag, "t");
	ck_assert_uint_eq(c.queues, 15);
	ck_assert(!c.reconnect);
	vhost_user_fs_config_clear(&c);
	ck_assert_ptr_null(fs_parse("vhost-user=s,tag=t,reconnect=on", &c));
	ck_assert(c.reconnect);
	vhost_user_fs_config_clear(&c);
}
END_TEST

/* The field holds 36 bytes: a 36-byte tag fits, one more does not. */
START_TEST(parse_tag_limits)
{
	struct vhost_user_fs_config c;
	char spec[128];
	const char *t36 = "abcdefghijklmnopqrstuvwxyz0123456789";

	ck_assert_uint_eq(strlen(t36), 36);
	snprintf(spec, sizeof(spec), "vhost-user=s,tag=%s", t36);
	ck_assert_ptr_null(fs_parse(spec, &c));
	ck_assert_str_eq(c.tag, t36);
	vhost_user_fs_config_clear(&c);
	ck_assert_ptr_null(fs_parse("vhost-user=s,tag=x", &c));
	vhost_user_fs_config_clear(&c);
	snprintf(spec, sizeof(spec), "vhost-user=s,tag=%sX", t36);
	expect_refused(spec, "at most 36 bytes");
	expect_refused("vhost-user=s,tag=", "'tag' needs a value");
	expect_refused("vhost-user=s", "tag=TAG is required");
}
END_TEST

START_TEST(parse_malformed)
{
	char longpath[200];

	expect_refused("", "expected vhost-user=SOCK,tag=TAG");
	expect_refused("tag=t", "vhost-user=SOCK is required");
	expect_refused("vhost-user=,tag=t", "'vhost-user' needs a value");
	expect_refused("vhost-user=s,tag=t,", "empty option");
	expect_refused("vhost-user=s,,tag=t", "empty option");
	expect_refused("vhost-user=s,tag=t,ro", "'ro': expected key=value");
	expect_refused("vhost-user=s,tag=t,cache=none", "unknown key 'cache'");
	expect_refused("vhost-user=s,tag=t,tag=u", "'tag' given twice");
	expect_refused("vhost-user=s,vhost-user=s,tag=t",
		       "'vhost-user' given twice");
	expect_refused("vhost-user=s,tag=t,queues=1,queues=1",
		       "'queues' given twice");
	expect_refused("vhost-user=s,tag=t,reconnect=on,reconnect=on",
		       "'reconnect' given twice");
	expect_refused("vhost-user=s,tag=t,queues=0", "from 1 to 15");
	expect_refused("vhost-user=s,tag=t,queues=16", "from 1 to 15");
	expect_refused("vhost-user=s,tag=t,queues=1x", "from 1 to 15");
	expect_refused("vhost-user=s,tag=t,queues=-1", "from 1 to 15");
	expect_refused("vhost-user=s,tag=t,reconnect=yes",
		       "expected on or off");
	memset(longpath, 'p', sizeof(longpath));
	memcpy(longpath, "vhost-user=", 11);
	strcpy(longpath + 11 + 108, ",tag=t");
	expect_refused(longpath, "a socket path has at most 107 bytes");
}
END_TEST

START_TEST(config_layout)
{
	struct vhost_user_fs_config c = {.tag = "share", .queues = 3};
	struct virtio_fs_config cfg;
	const uint8_t *b = (const uint8_t *)&cfg;
	char t36[37] = "abcdefghijklmnopqrstuvwxyz0123456789";

	ck_assert_uint_eq(sizeof(cfg), 40);
	ck_assert_uint_eq(offsetof(struct virtio_fs_config, num_request_queues),
			  36);
	memset(&cfg, 0xa5, sizeof(cfg));
	vhost_user_fs_config_layout(&c, &cfg);
	ck_assert(!memcmp(b, "share", 5));
	for (unsigned int i = 5; i < 36; i++)
		ck_assert_uint_eq(b[i], 0);
	/* Little-endian, whatever the host. */
	ck_assert_uint_eq(b[36], 3);
	ck_assert_uint_eq(b[37], 0);
	ck_assert_uint_eq(b[38], 0);
	ck_assert_uint_eq(b[39], 0);
	/* A full tag has no NUL, and nothing spills into the next field. */
	c.tag = t36;
	c.queues = 1;
	vhost_user_fs_config_layout(&c, &cfg);
	ck_assert(!memcmp(b, t36, 36));
	ck_assert_uint_eq(b[36], 1);
}
END_TEST

START_TEST(cli_fs_repeatable)
{
	struct vm_config cfg;

	ck_assert(parse_run(&cfg, NULL, "--memory", "256M,shared=on", "--fs",
			    "vhost-user=a.sock,tag=one", "--fs",
			    "vhost-user=b.sock,tag=two,queues=2", NULL));
	ck_assert_uint_eq(cfg.nr_fs, 2);
	ck_assert_str_eq(cfg.fs[0].tag, "one");
	ck_assert_str_eq(cfg.fs[1].path, "b.sock");
	ck_assert_uint_eq(cfg.fs[1].queues, 2);
	config_clear(&cfg);
	ck_assert(parse_run(&cfg, NULL, NULL));
	ck_assert_uint_eq(cfg.nr_fs, 0);
	config_clear(&cfg);
}
END_TEST

START_TEST(cli_fs_needs_shared_memory)
{
	struct vm_config cfg;
	g_autofree char *msg = NULL;

	ck_assert(!parse_run(&cfg, &msg, "--memory", "256M", "--fs",
			     "vhost-user=a.sock,tag=one", NULL));
	ck_assert_str_eq(msg, "--fs 'vhost-user=a.sock,tag=one': a vhost-user "
			      "back-end needs shared guest memory: add "
			      "--memory SIZE,shared=on");
	g_clear_pointer(&msg, g_free);
	/* The default memory is private too. */
	ck_assert(
	    !parse_run(&cfg, &msg, "--fs", "vhost-user=a.sock,tag=one", NULL));
	ck_assert(strstr(msg, "shared=on"));
	g_clear_pointer(&msg, g_free);
	/* hugepages=on implies shared memory. */
	ck_assert(parse_run(&cfg, NULL, "--memory", "256M,hugepages=on", "--fs",
			    "vhost-user=a.sock,tag=one", NULL));
	config_clear(&cfg);
}
END_TEST

START_TEST(cli_fs_refusals)
{
	struct vm_config cfg;
	g_autofree char *msg = NULL;
	char *argv[2 + 2 * (VHOST_USER_FS_MAX + 1)];

	ck_assert(!parse_run(&cfg, &msg, "--memory", "256M,shared=on", "--fs",
			     "vhost-user=a.sock,tag=one", "--fs",
			     "vhost-user=a.sock,tag=two", NULL));
	ck_assert_str_eq(msg, "--fs 'vhost-user=a.sock,tag=two': socket "
			      "'a.sock' given twice");
	g_clear_pointer(&msg, g_free);
	ck_assert(!parse_run(&cfg, &msg, "--memory", "256M,shared=on", "--fs",
			     "tag=one", NULL));
	ck_assert(g_str_has_prefix(msg, "--fs 'tag=one': "));
	g_clear_pointer(&msg, g_free);
	/* One more device than allowed. */
	argv[0] = "--memory";
	argv[1] = "256M,shared=on";
	for (unsigned int i = 0; i <= VHOST_USER_FS_MAX; i++) {
		argv[2 + 2 * i] = "--fs";
		argv[3 + 2 * i] =
		    g_strdup_printf("vhost-user=%u.sock,tag=t", i);
	}
	ck_assert(!parse_run(&cfg, &msg, argv[0], argv[1], argv[2], argv[3],
			     argv[4], argv[5], argv[6], argv[7], argv[8],
			     argv[9], argv[10], argv[11], argv[12], argv[13],
			     argv[14], argv[15], argv[16], argv[17], argv[18],
			     argv[19], NULL));
	ck_assert_str_eq(msg, "--fs: at most 8 devices");
	for (unsigned int i = 0; i <= VHOST_USER_FS_MAX; i++)
		g_free(argv[3 + 2 * i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhost-user-fs");

	UNIT_TCASE(s, "option", parse_defaults, parse_every_key,
		   parse_tag_limits, parse_malformed);
	UNIT_TCASE(s, "layout", config_layout);
	UNIT_TCASE(s, "cli", cli_fs_repeatable, cli_fs_needs_shared_memory,
		   cli_fs_refusals);
	return unit_run(s);
}
