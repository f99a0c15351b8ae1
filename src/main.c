/* luavmm: the command line. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "lua/runner.h"
#include "luavmm_config.h"
#include "kvm/seccomp.h"
#include "util/error.h"
#include "util/size.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: luavmm run RECIPE [ARGS...]   run a Lua recipe (a machine, its policies and hooks)\n"
		"       luavmm run [--control PATH] [--sandbox] RECIPE [ARGS...]\n"
		"                                     --control: serve a control socket (machines without\n"
		"                                     their own `control` key); --sandbox: no os, io, or C modules\n"
		"                                     --memory-limit SIZE: cap of the recipe's Lua memory (1G)\n"
		"                                     --allow PATH[:ro|:rw], --allow tap:NAME (repeatable): what\n"
		"                                     a --sandbox recipe's machines may open\n"
		"                                     --no-seccomp: no syscall filters on vCPU and I/O threads\n"
		"       luavmm attach SOCKET [-e CHUNK]  a Lua prompt on a running VM (or run one chunk)\n"
		"       luavmm --help | --version\n"
		"\n"
		"Inside a recipe, `require \"luavmm\"` gives the API; ARGS are in `arg` and `...`.\n"
		"Environment: LUAVMM_KVM_DEVICE (default /dev/kvm), LUAVMM_GUEST_DIR (test guests),\n"
		"LUAVMM_TRACEBACK=1 (Lua tracebacks on errors).\n");
}

/* --memory-limit SIZE: "512M", "2G" (the recipe's Lua heap). */
static int memory_limit_option(const char *text)
{
	uint64_t bytes;
	if (lvm_parse_size(text, &bytes) < 0 || bytes < (1u << 20) || bytes > SIZE_MAX) {
		fprintf(stderr, "luavmm: run: --memory-limit '%s' is not a size of at least 1M (write e.g. 512M or 2G)\n",
			text);
		return -1;
	}
	lvm_lua_memory_limit = (size_t)bytes;
	return 0;
}

/* luavmm run [--control PATH] [--sandbox] RECIPE [ARGS...] */
static int run_command(int argc, char **argv)
{
	bool sandbox = false;
	int i = 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (strcmp(argv[i], "--sandbox") == 0) {
			sandbox = true;
		} else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
			lvm_lua_default_control = argv[++i];
		} else if (strcmp(argv[i], "--no-seccomp") == 0) {
			lvm_seccomp_disable();
		} else if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc) {
			if (lvm_lua_allow_add(argv[++i]) < 0) {
				fprintf(stderr, "luavmm: run: %s\n", lvm_error());
				return 2;
			}
		} else if (strcmp(argv[i], "--memory-limit") == 0 && i + 1 < argc) {
			if (memory_limit_option(argv[++i]) < 0)
				return 2;
		} else {
			fprintf(stderr, "luavmm: run: unknown option '%s' (try luavmm --help)\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "luavmm: run needs a recipe file\n");
		return 2;
	}
	return lvm_run_recipe_opts(argv[i], argc - i - 1, argv + i + 1, sandbox);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("luavmm %s\n", LUAVMM_VERSION);
		return 0;
	}
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
