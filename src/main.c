/* luavmm: the command line. */
#include <stdio.h>
#include <string.h>

#include "lua/runner.h"
#include "luavmm_config.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: luavmm run RECIPE [ARGS...]   run a Lua recipe (a machine, its policies and hooks)\n"
		"       luavmm --help | --version\n"
		"\n"
		"Inside a recipe, `require \"luavmm\"` gives the API; ARGS are in `arg` and `...`.\n"
		"Environment: LUAVMM_KVM_DEVICE (default /dev/kvm), LUAVMM_GUEST_DIR (test guests),\n"
		"LUAVMM_TRACEBACK=1 (Lua tracebacks on errors).\n");
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
	if (argc >= 3 && strcmp(argv[1], "run") == 0)
		return lvm_run_recipe(argv[2], argc - 3, argv + 3);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		fprintf(stderr, "luavmm: run needs a recipe file\n");
	else if (argc >= 2)
		fprintf(stderr, "luavmm: unknown command '%s' (try luavmm --help)\n", argv[1]);
	else
		usage(stderr);
	return 2;
}
