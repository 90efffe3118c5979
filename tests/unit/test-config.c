// SPDX-License-Identifier: MIT
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/kvm.h"
#include "run-args.h"
#include "unit.h"

static void expect_error(const char *needle, char *msg)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strstr(msg, needle), "'%s' does not mention '%s'", msg, needle);
	g_free(msg);
}

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
	ck_assert(!c.debug);
	ck_assert_int_eq(c.teardown, TEARDOWN_DETACHED);
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

	ck_assert(parse_run(&c, NULL, "--debug", "--teardown", "sync", NULL));
	ck_assert(c.debug);
	ck_assert_int_eq(c.teardown, TEARDOWN_SYNC);
	config_clear(&c);
	ck_assert(parse_run(&c, NULL, "--teardown=detached", "--cpus=10", NULL));
	ck_assert_int_eq(c.teardown, TEARDOWN_DETACHED);
	ck_assert_uint_eq(c.cpus, 10);
	config_clear(&c);
}
END_TEST

/*
 * Numbers are decimal and whole; -1 was once both "not given" and a value
 * GOption took, and 0x/0 prefixes were read as hex and octal.
 */
START_TEST(strict_numbers)
{
	const char *bad[] = { "-1", "0", "010", "0x4", "+4", " 4", "4 ", "4x",
			      "", "4294967296", "99999999999999999999" };
	struct vm_config c;
	char *msg;

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *opt = g_strdup_printf("--cpus=%s", bad[i]);
		g_autofree char *want = g_strdup_printf("--cpus %s: expected a decimal number",
							bad[i]);

		ck_assert_msg(!parse_run(&c, &msg, opt, NULL), "%s accepted", opt);
		expect_error(want, msg);
	}
	ck_assert(!parse_run(&c, &msg, "--qmp", "fd=0x10", NULL));
	expect_error("--qmp 'fd=0x10'", msg);
	ck_assert(!parse_run(&c, &msg, "--qmp", "fd=010", NULL));
	expect_error("--qmp 'fd=010'", msg);
	ck_assert(!parse_run(&c, &msg, "--memory", "0x1000000", NULL));
	expect_error("--memory '0x1000000'", msg);
	ck_assert(!parse_run(&c, &msg, "--teardown", "never", NULL));
	expect_error("--teardown 'never'", msg);
}
END_TEST

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

/*
 * Values are bytes, not text in the locale's charset: a byte that is not
 * ASCII reaches the option's own check, whose message names the option.
 * (Found by the memory-option fuzz target: "--memory=\xbb" was refused by
 * GOption's charset conversion with "Invalid byte sequence in conversion
 * input", naming no option, and "--name café" was refused the same way.)
 */
START_TEST(non_ascii_values)
{
	struct vm_config c;
	char *msg;

	ck_assert(!parse_run(&c, &msg, "--memory=\xbb", NULL));
	expect_error("--memory '\xbb'", msg);
	ck_assert(!parse_run(&c, &msg, "--cpus", "\xc3\xa9", NULL));
	expect_error("--cpus", msg);
	ck_assert(!parse_run(&c, &msg, "--console", "\xff", NULL));
	expect_error("--console", msg);
	ck_assert(!parse_run(&c, &msg, "--cpu-features", "-\xff", NULL));
	expect_error("--cpu-features", msg);
	ck_assert(!parse_run(&c, &msg, "--teardown", "\x80", NULL));
	expect_error("--teardown", msg);
	ck_assert(!parse_run(&c, &msg, "--qmp", "\xfe", NULL));
	expect_error("--qmp", msg);
	/* The options that came with the sandbox and the balloon too. */
	ck_assert(!parse_run(&c, &msg, "--sandbox", "o\xff", NULL));
	expect_error("--sandbox", msg);
	ck_assert(!parse_run(&c, &msg, "--user", "\xb9", "--group", "0", NULL));
	expect_error("--user", msg);
	ck_assert(!parse_run(&c, &msg, "--balloon=stats-period=\xb9", NULL));
	expect_error("--balloon", msg);
	/* And the NIC, VFIO and confidential options. */
	ck_assert(!parse_run(&c, &msg, "--net", "tap=t\xff", NULL));
	expect_error("--net", msg);
	ck_assert(!parse_run(&c, &msg, "--device", "vfio=\xfe", NULL));
	expect_error("--device", msg);
	ck_assert(!parse_run(&c, &msg, "--confidential", "sev\xff", NULL));
	expect_error("--confidential", msg);
	/* --name is shown by QMP (JSON): UTF-8 text, checked as such. */
	ck_assert(!parse_run(&c, &msg, "--name", "vm\xff", NULL));
	expect_error("--name", msg);
	ck_assert(parse_run(&c, NULL, "--name", "caf\xc3\xa9",
			    "--cmdline", "root=/dev/vda \xff", NULL));
	ck_assert_str_eq(c.name, "caf\xc3\xa9");
	ck_assert_str_eq(c.cmdline, "root=/dev/vda \xff");
	config_clear(&c);
}
END_TEST

/* A scratch directory with a kernel, an initrd, a disk image and a FIFO. */
struct files {
	char dir[32];
	char *kernel, *initrd, *disk, *fifo, *log;
};

static char *files_write(const char *dir, const char *name, const char *text)
{
	char *path = g_build_filename(dir, name, NULL);

	ck_assert(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void files_make(struct files *f)
{
	strcpy(f->dir, "/tmp/tern-cfg-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	f->kernel = files_write(f->dir, "k.elf", "kernel");
	f->initrd = files_write(f->dir, "initrd.img", "initrd");
	f->disk = files_write(f->dir, "d.img", "disk");
	f->log = g_build_filename(f->dir, "console.log", NULL);
	f->fifo = g_build_filename(f->dir, "fifo", NULL);
	ck_assert_int_eq(mkfifo(f->fifo, 0600), 0);
}

static void files_remove(struct files *f)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

	ck_assert_int_eq(system(cmd), 0);
	g_free(f->kernel);
	g_free(f->initrd);
	g_free(f->disk);
	g_free(f->fifo);
	g_free(f->log);
}

/* "DIR/./NAME": the same file under another spelling. */
static char *respell(const struct files *f, const char *path)
{
	g_autofree char *base = g_path_get_basename(path);

	return g_strdup_printf("%s/./%s", f->dir, base);
}

/* Parse ARGS... (they must parse), then config_check_files(); *msg: error. */
#define check_files(msg, ...)                                                  \
	({                                                                     \
		struct vm_config c_;                                           \
		GError *e_ = NULL;                                             \
		bool ok_;                                                      \
		ck_assert(parse_run(&c_, NULL, __VA_ARGS__, NULL));            \
		ok_ = config_check_files(&c_, &e_);                            \
		*(msg) = e_ ? g_strdup(e_->message) : NULL;                    \
		if (e_)                                                        \
			ck_assert(g_error_matches(e_, TERN_ERROR,              \
						  TERN_ERROR_INPUT));          \
		g_clear_error(&e_);                                            \
		config_clear(&c_);                                             \
		ok_;                                                           \
	})

START_TEST(files_fine)
{
	struct files f;
	char *msg;

	files_make(&f);
	{
		g_autofree char *disk = g_strdup_printf("path=%s", f.disk);
		g_autofree char *con = g_strdup_printf("file=%s", f.log);
		g_autofree char *qmp = g_strdup_printf("unix:%s/q.sock", f.dir);

		ck_assert(check_files(&msg, "--kernel", f.kernel, "--initrd", f.initrd,
				      "--disk", disk, "--console", con, "--qmp", qmp));
		ck_assert_ptr_null(msg);
		/* Nothing was created: the console file opens with the VM. */
		ck_assert(!g_file_test(f.log, G_FILE_TEST_EXISTS));
		/* A missing image is for the disk layer to report. */
		ck_assert(check_files(&msg, "--disk", "path=/nonexistent/x.img"));
	}
	files_remove(&f);
}
END_TEST

/* The console file is truncated: never one of the VM's own files. */
START_TEST(console_clashes)
{
	struct files f;
	char *msg;

	files_make(&f);
	{
		g_autofree char *k2 = respell(&f, f.kernel);
		g_autofree char *klink = g_build_filename(f.dir, "k-link", NULL);
		g_autofree char *con_k = g_strdup_printf("file=%s", k2);
		g_autofree char *con_link = g_strdup_printf("file=%s", klink);
		g_autofree char *con_i = g_strdup_printf("file=%s", f.initrd);
		g_autofree char *con_d = g_strdup_printf("file=%s", f.disk);
		g_autofree char *con_s = g_strdup_printf("file=%s/q.sock", f.dir);
		g_autofree char *con_dir = g_strdup_printf("file=%s", f.dir);
		g_autofree char *disk = g_strdup_printf("path=%s,readonly=on", f.disk);
		g_autofree char *qmp = g_strdup_printf("unix:%s/./q.sock", f.dir);
		g_autofree char *before = NULL;

		ck_assert_int_eq(link(f.kernel, klink), 0);
		ck_assert(!check_files(&msg, "--kernel", f.kernel, "--console", con_k));
		expect_error("is the --kernel file", msg);
		ck_assert(!check_files(&msg, "--kernel", f.kernel, "--console", con_link));
		expect_error("is the --kernel file", msg);
		ck_assert(!check_files(&msg, "--initrd", f.initrd, "--console", con_i));
		expect_error("is the --initrd file", msg);
		ck_assert(!check_files(&msg, "--disk", disk, "--console", con_d));
		expect_error("is the image of --disk", msg);
		/* The socket does not exist yet: same directory, same name. */
		ck_assert(!check_files(&msg, "--qmp", qmp, "--console", con_s));
		expect_error("is the --qmp", msg);
		ck_assert(!check_files(&msg, "--console", con_dir));
		expect_error("is a directory", msg);
		/* And nothing was touched. */
		ck_assert(g_file_get_contents(f.kernel, &before, NULL, NULL));
		ck_assert_str_eq(before, "kernel");
	}
	files_remove(&f);
}
END_TEST

START_TEST(boot_files_not_regular)
{
	struct files f;
	char *msg;

	files_make(&f);
	/* A FIFO would block open() for reading until a writer comes. */
	ck_assert(!check_files(&msg, "--kernel", f.fifo));
	expect_error("not a regular file (a FIFO)", msg);
	ck_assert(!check_files(&msg, "--initrd", f.fifo));
	expect_error("--initrd", msg);
	ck_assert(!check_files(&msg, "--kernel", "/dev/zero"));
	expect_error("not a regular file (a character device)", msg);
	ck_assert(!check_files(&msg, "--kernel", f.dir));
	expect_error("is a directory", msg);
	ck_assert(!check_files(&msg, "--initrd", "/nonexistent/initrd"));
	expect_error("--initrd '/nonexistent/initrd'", msg);
	files_remove(&f);
}
END_TEST

/* One image, two spellings: two users of one image inside one VM. */
START_TEST(disk_twice)
{
	struct files f;
	char *msg;

	files_make(&f);
	{
		g_autofree char *d2 = respell(&f, f.disk);
		g_autofree char *hard = g_build_filename(f.dir, "hard.img", NULL);
		g_autofree char *soft = g_build_filename(f.dir, "soft.img", NULL);
		g_autofree char *a = g_strdup_printf("path=%s", f.disk);
		g_autofree char *b = g_strdup_printf("path=%s,readonly=on", d2);
		g_autofree char *h = g_strdup_printf("path=%s", hard);
		g_autofree char *s = g_strdup_printf("path=%s", soft);
		g_autofree char *other = g_strdup_printf("path=%s", f.initrd);

		ck_assert_int_eq(link(f.disk, hard), 0);
		ck_assert_int_eq(symlink(f.disk, soft), 0);
		ck_assert(!check_files(&msg, "--disk", a, "--disk", b));
		expect_error("is the same file as --disk", msg);
		ck_assert(!check_files(&msg, "--disk", a, "--disk", h));
		expect_error("is the same file as", msg);
		ck_assert(!check_files(&msg, "--disk", other, "--disk", s, "--disk", a));
		expect_error("is the same file as", msg);
		ck_assert(check_files(&msg, "--disk", a, "--disk", other));
	}
	files_remove(&f);
}
END_TEST

START_TEST(qmp_path_checks)
{
	struct files f;
	char *msg;

	files_make(&f);
	{
		g_autofree char *reg = g_strdup_printf("unix:%s", f.kernel);
		g_autofree char *nodir = g_strdup_printf("unix:%s/no/q.sock", f.dir);

		ck_assert(!check_files(&msg, "--qmp", reg));
		expect_error("the path exists and is not a socket", msg);
		ck_assert(!check_files(&msg, "--qmp", nodir));
		expect_error("cannot create a socket there", msg);
	}
	files_remove(&f);
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

/* --net vhost-user= NICs go to their own list; tap NICs keep theirs. */
START_TEST(vhost_user_nets)
{
	struct vm_config c;
	char *msg = NULL;

	ck_assert(parse_run(&c, NULL, "--memory", "128M,shared=on", "--net",
			    "vhost-user=/a.sock", "--net", "tap=t0", "--net",
			    "vhost-user=/b.sock,reconnect=off", NULL));
	ck_assert_uint_eq(c.nr_nets, 1);
	ck_assert_str_eq(c.nets[0].ifname, "t0");
	ck_assert_uint_eq(c.nr_vu_nets, 2);
	ck_assert_str_eq(c.vu_nets[0].vhost_user, "/a.sock");
	ck_assert(c.vu_nets[0].reconnect);
	ck_assert_str_eq(c.vu_nets[1].vhost_user, "/b.sock");
	ck_assert(!c.vu_nets[1].reconnect);
	config_clear(&c);
	/* The back-end maps guest RAM: only a shared memfd will do. */
	ck_assert(!parse_run(&c, &msg, "--memory", "128M", "--net",
			     "vhost-user=/a.sock", NULL));
	expect_error("--net 'vhost-user=/a.sock': a vhost-user back-end needs "
		     "shared guest memory: add --memory SIZE,shared=on",
		     msg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");

	UNIT_TCASE(s, "run", defaults, all_options, bad_options, strict_numbers,
		   non_ascii_values, vhost_user_nets);
	UNIT_TCASE(s, "files", files_fine, console_clashes, boot_files_not_regular,
		   disk_twice, qmp_path_checks);
	UNIT_TCASE(s, "kvm", kvm_caps);
	return unit_run(s);
}
