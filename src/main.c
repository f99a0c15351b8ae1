/* luavmm: the command line. */
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "attach.h"
#include "kvm/kvm.h"
#include "lua/runner.h"
#include "kvm/seccomp.h"
#include "luavmm_config.h"
#include "util/error.h"
#include "util/size.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: luavmm run [OPTIONS] RECIPE [ARGS...]   run a Lua recipe (RECIPE - : read it from stdin)\n"
		"       luavmm attach SOCKET [-e CHUNK]          a Lua prompt on a running VM (or run one chunk)\n"
		"       luavmm -h | --help | -V | --version\n"
		"\n"
		"Inside a recipe, `require \"luavmm\"` gives the API; ARGS are in `arg` and `...`.\n"
		"`luavmm run --help` lists the run options.  Exit status: see README, \"Exit status\".\n"
		"Environment: LUAVMM_KVM_DEVICE (default /dev/kvm), LUAVMM_GUEST_DIR (test guests),\n"
		"LUAVMM_TRACEBACK=1 (Lua tracebacks on errors).\n");
}

/* ---- luavmm run [OPTIONS] RECIPE [ARGS...] ---- */

/* What the options of `run` set. */
struct run_settings {
	bool sandbox;
	bool help;
};

static int set_control(struct run_settings *s, const char *path)
{
	(void)s;
	lvm_lua_default_control = path;
	return 0;
}

static int set_sandbox(struct run_settings *s, const char *unused)
{
	(void)unused;
	s->sandbox = true;
	return 0;
}

static int set_verbose(struct run_settings *s, const char *unused)
{
	(void)s;
	(void)unused;
	lvm_lua_verbose = 1;
	return 0;
}

static int set_help(struct run_settings *s, const char *unused)
{
	(void)unused;
	s->help = true;
	return 0;
}

/* --memory-limit SIZE: "512M", "2G" (the recipe's Lua heap). */
static int set_memory_limit(struct run_settings *s, const char *text)
{
	(void)s;
	uint64_t bytes;
	if (lvm_parse_size(text, &bytes) < 0 || bytes < (1u << 20) || bytes > SIZE_MAX) {
		fprintf(stderr, "luavmm: run: --memory-limit '%s' is not a size of at least 1M (write e.g. 512M or 2G)\n",
			text);
		return -1;
	}
	lvm_lua_memory_limit = (size_t)bytes;
	return 0;
}

static int set_allow(struct run_settings *s, const char *spec)
{
	(void)s;
	if (lvm_lua_allow_add(spec) < 0) {
		fprintf(stderr, "luavmm: run: %s\n", lvm_error());
		return -1;
	}
	return 0;
}

static int set_no_seccomp(struct run_settings *s, const char *unused)
{
	(void)s;
	(void)unused;
	lvm_seccomp_disable();
	return 0;
}

/*
 * The options of `run`, one row each: "--name VALUE", "--name=VALUE" and,
 * with a short name, "-x" (flags only).  A new option is a row and a
 * setter.
 */
struct run_option {
	const char *name;  /* "--control" */
	char short_name;   /* 'v', or 0 */
	const char *value; /* what its value is, for --help; NULL: a flag */
	int (*apply)(struct run_settings *s, const char *value); /* -1 after printing why */
	const char *help;
};

static const struct run_option run_options[] = {
	{ "--control", 0, "PATH", set_control,
	  "serve a control socket at PATH (machines without their own `control` key)" },
	{ "--sandbox", 0, NULL, set_sandbox, "no io, os (but time/clock/date), debug or C modules" },
	{ "--verbose", 'v', NULL, set_verbose,
	  "print machine events (created, started, stopped and why) on stderr, and a\n"
	  "                      status line every 10 s while a running guest prints nothing" },
	{ "--memory-limit", 0, "SIZE", set_memory_limit,
	  "cap of the recipe's Lua memory (default 1G; \"Security model\" in the README)" },
	{ "--allow", 0, "PATH[:ro|:rw]", set_allow,
	  "a host path, tap:NAME or net:user a --sandbox recipe's machines may open (repeatable)" },
	{ "--no-seccomp", 0, NULL, set_no_seccomp,
	  "no system-call filters on the vCPU and I/O threads" },
	{ "--help", 'h', NULL, set_help, "this help" },
};
#define NRUN_OPTIONS (sizeof(run_options) / sizeof(run_options[0]))

static void run_usage(FILE *out)
{
	fprintf(out, "usage: luavmm run [OPTIONS] RECIPE [ARGS...]\n"
		     "Runs the Lua recipe RECIPE (- : read it from stdin) with ARGS in `arg` and `...`.\n\n");
	for (size_t i = 0; i < NRUN_OPTIONS; i++) {
		const struct run_option *o = &run_options[i];
		char left[40], shortopt[5] = "    ";
		if (o->short_name)
			snprintf(shortopt, sizeof(shortopt), "-%c, ", o->short_name);
		snprintf(left, sizeof(left), "%s%s%s%s", shortopt, o->name, o->value ? " " : "",
			 o->value ? o->value : "");
		fprintf(out, "  %-19s %s\n", left, o->help);
	}
	fprintf(out, "  --                  end of options\n\n"
		     "The exit status is what the recipe returns: 0 for a guest that succeeded\n"
		     "(README, \"Exit status\"); 130/143 after SIGINT/SIGTERM stopped it.\n");
}

static const struct run_option *find_option(const char *arg, size_t name_len)
{
	for (size_t i = 0; i < NRUN_OPTIONS; i++) {
		const struct run_option *o = &run_options[i];
		if (arg[1] == '-' ? strlen(o->name) == name_len && strncmp(o->name, arg, name_len) == 0
				  : name_len == 2 && o->short_name && o->short_name == arg[1])
			return o;
	}
	return NULL;
}

/* Applies the options before the recipe; returns how many arguments they
 * took, or -1 after printing why they are wrong. */
static int parse_run_options(int argc, char **argv, struct run_settings *s)
{
	int i = 0;
	while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') { /* "-" is a recipe */
		const char *arg = argv[i++];
		if (strcmp(arg, "--") == 0)
			break;
		const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		const struct run_option *o = find_option(arg, name_len);
		if (!o) {
			fprintf(stderr, "luavmm: run: unknown option '%.*s' (try luavmm --help)\n",
				(int)name_len, arg);
			return -1;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!o->value && value) {
			fprintf(stderr, "luavmm: run: %s takes no value\n", o->name);
			return -1;
		}
		if (o->value && !value) {
			if (i >= argc) {
				fprintf(stderr, "luavmm: run: %s needs a value (%s %s)\n", o->name, o->name, o->value);
				return -1;
			}
			value = argv[i++];
		}
		if (o->value && *value == '\0') {
			fprintf(stderr, "luavmm: run: %s needs a value (%s %s), not an empty one\n", o->name,
				o->name, o->value);
			return -1;
		}
		if (o->apply(s, value) < 0)
			return -1;
	}
	return i;
}

static int run_command(int argc, char **argv)
{
	struct run_settings settings = { false, false };
	int i = parse_run_options(argc, argv, &settings);
	if (i < 0)
		return 2;
	if (settings.help) {
		run_usage(stdout);
		return 0;
	}
	if (i >= argc) {
		fprintf(stderr, "luavmm: run needs a recipe file (or - for stdin; try luavmm run --help)\n");
		return 2;
	}
	return lvm_run_recipe_opts(argv[i], argc - i - 1, argv + i + 1, settings.sandbox);
}

/* luavmm --version: ours, Lua's, and the KVM API of this host's device. */
static int version(void)
{
	printf("luavmm %s\n%s\n", LUAVMM_VERSION, lvm_lua_release());
	int fd = lvm_kvm_open();
	if (fd < 0) {
		printf("KVM: unavailable (%s)\n", lvm_error());
		return 0;
	}
	const char *device = getenv("LUAVMM_KVM_DEVICE");
	printf("KVM API %d (%s)\n", ioctl(fd, KVM_GET_API_VERSION, 0),
	       device && *device ? device : LVM_KVM_DEVICE_DEFAULT);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
		return version();
	if (argc >= 2 && strcmp(argv[1], "attach") == 0)
		return lvm_attach_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return run_command(argc - 2, argv + 2);
	if (argc >= 2)
		fprintf(stderr, "luavmm: unknown command '%s' (try luavmm --help)\n", argv[1]);
	else
		usage(stderr);
	return 2;
}
