/* Running a recipe in an embedded Lua state (main.c's only link to Lua). */
#ifndef LVM_LUA_RUNNER_H
#define LVM_LUA_RUNNER_H

#include <stddef.h>

/*
 * Runs the recipe at `path` ("-": standard input) with argv[0..argc) as its
 * arguments (`arg` and `...`, as the lua5.4 interpreter does).  Returns the
 * process exit status (README, "Exit status"): the recipe's return value
 * (an integer 0..255, a wait() result's code, true = 0, false = 1), 0 when
 * it returns nothing, 1 after printing an error (a bad return value is
 * one); 128 + N after signal N (SIGINT, SIGTERM) stopped the machines.
 */
int lvm_run_recipe(const char *path, int argc, char **argv);
/* The same; with `sandbox`, the recipe runs without os, io, debug and C modules
 * (see src/lua/sandbox.c). */
int lvm_run_recipe_opts(const char *path, int argc, char **argv, _Bool sandbox);

/* `luavmm run --control PATH`: the control socket of machines without their
 * own `control` key (NULL: none). */
extern const char *lvm_lua_default_control;

/* `luavmm run --allow PATH[:ro|:rw]` and `--allow tap:NAME` (allow.c):
 * what a --sandbox recipe's machines may open; -1 + lvm_error if PATH
 * does not resolve. */
int lvm_lua_allow_add(const char *spec);

/* `luavmm run --memory-limit SIZE`: bytes the recipe's Lua state may hold
 * (default 1 GiB; 0: no cap). */
extern size_t lvm_lua_memory_limit;

/* `luavmm run -v`: lifecycle events and status lines on stderr (pump.c). */
extern int lvm_lua_verbose;

/* The Lua version the bindings were built with ("Lua 5.4.6"). */
const char *lvm_lua_release(void);

#endif
