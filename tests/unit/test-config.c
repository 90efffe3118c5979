// SPDX-License-Identifier: MIT
#include <glib.h>
#include <string.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/kvm.h"
#include "run-args.h"
#include "unit.h"


START_TEST(defaults)
{
	struct vm_config c;

	ck_assert(parse_run(&c, NULL, NULL));
	ck_assert_uint_eq(c.cpus, 1);
	ck_assert_uint_eq(c.memory, CONFIG_DEFAULT_MEMORY);
	ck_assert_int_eq(c.console, CONSOLE_STDIO);
	ck_assert_ptr_null(c.kernel_path);
	ck_assert(!c.test_exit);
	ck_assert(!c.paused);
	config_clear(&c);
}
END_TEST

START_TEST(all_options)
{
	struct vm_config c;

	ck_assert(parse_run(&c, NULL, "--kernel", "k.elf", "--initrd", "i.img",
			"--cmdline", "console=ttyS0 code=3", "--cpus", "4",
			"--memory", "1G", "--console", "file=/tmp/x.log",
			"--cpu-features", "-cx16,-xsave", "--test-exit", "--paused",
			"--name", "vm1", NULL));
	ck_assert_str_eq(c.kernel_path, "k.elf");
	ck_assert_str_eq(c.initrd_path, "i.img");
	ck_assert_str_eq(c.cmdline, "console=ttyS0 code=3");
	ck_assert_uint_eq(c.cpus, 4);
	ck_assert_uint_eq(c.memory, 1 * GiB);
	ck_assert_int_eq(c.console, CONSOLE_FILE);
	ck_assert_str_eq(c.console_path, "/tmp/x.log");
	ck_assert_uint_ge(c.cpu_mask.nr_clear, 2);
	ck_assert(c.test_exit);
	ck_assert(c.paused);
	ck_assert_str_eq(c.name, "vm1");
	config_clear(&c);

	ck_assert(parse_run(&c, NULL, "--console=none", "-m", "64M", NULL));
	ck_assert_int_eq(c.console, CONSOLE_NONE);
	ck_assert_uint_eq(c.memory, 64 * MiB);
	ck_assert(!c.rng);
	config_clear(&c);

	ck_assert(parse_run(&c, NULL, "--console", "virtio", "--rng", NULL));
	ck_assert_int_eq(c.console, CONSOLE_VIRTIO);
	ck_assert(c.rng);
	config_clear(&c);
}
END_TEST

static void expect_error(const char *needle, char *msg)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, needle), "'%s' does not mention '%s'", msg, needle);
	g_free(msg);
}

START_TEST(bad_options)
{
	struct vm_config c;
	char *msg;

	ck_assert(!parse_run(&c, &msg, "--bogus", NULL));
	expect_error("--bogus", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "lots", NULL));
	expect_error("--memory 'lots'", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "1M", NULL));
	expect_error("at least", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "4097", NULL));
	expect_error("multiple of 4K", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "2048G", NULL));
	expect_error("too large", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "99999999999999999999G", NULL));
	expect_error("too large", msg);
	ck_assert(!parse_run(&c, &msg, "--cpus", "0", NULL));
	expect_error("--cpus 0", msg);
	ck_assert(!parse_run(&c, &msg, "--cpus", "two", NULL));
	expect_error("two", msg);
	ck_assert(!parse_run(&c, &msg, "--console", "tty", NULL));
	expect_error("--console 'tty'", msg);
	ck_assert(!parse_run(&c, &msg, "--console", "file=", NULL));
	expect_error("--console 'file='", msg);
	ck_assert(!parse_run(&c, &msg, "--cpu-features", "-nosuchfeature", NULL));
	expect_error("nosuchfeature", msg);
	ck_assert(!parse_run(&c, &msg, "--name", "", NULL));
	expect_error("--name", msg);
	ck_assert(!parse_run(&c, &msg, "stray", NULL));
	expect_error("stray", msg);
	ck_assert(!parse_run(&c, &msg, "--kernel", NULL));
	expect_error("--kernel", msg);
}
END_TEST

static int caps_all(void *opaque, int cap)
{
	return 1;
}

static int caps_missing_one(void *opaque, int cap)
{
	return cap == *(int *)opaque ? 0 : 1;
}

START_TEST(kvm_caps)
{
	GError *err = NULL;

	ck_assert(kvm_check_caps(caps_all, NULL, "/dev/kvm", &err));
	for (unsigned int i = 0; i < kvm_nr_required_caps; i++) {
		int cap = kvm_required_caps[i].cap;
		g_autofree char *want = g_strdup_printf("KVM_CAP_%s",
							kvm_required_caps[i].name);

		ck_assert(!kvm_check_caps(caps_missing_one, &cap, "/dev/kvm", &err));
		ck_assert_ptr_nonnull(strstr(err->message, want));
		ck_assert_ptr_nonnull(strstr(err->message, "/dev/kvm"));
		g_clear_error(&err);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");

	UNIT_TCASE(s, "run", defaults, all_options, bad_options);
	UNIT_TCASE(s, "kvm", kvm_caps);
	return unit_run(s);
}
