#include "lua/runner.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/binding.h"
#include "lua/paths.h"

/* package.preload.luavmm, and lua/ of the project on package.path. */
static void setup_package(lua_State *L)
{
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, luaopen_luavmm);
	lua_setfield(L, -2, "luavmm");
	lua_pop(L, 1);
	lua_getfield(L, -1, "path");
	lvm_lua_paths_from_executable(); /* installed: BINDIR/../share/lua/5.4 */
	const char *dir = lvm_lua_lua_dir();
	lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
	lua_setfield(L, -3, "path");
	lua_pop(L, 2);
}

static void set_arg_table(lua_State *L, const char *path, int argc, char **argv)
{
	lua_createtable(L, argc, 1);
	lua_pushstring(L, path);
	lua_rawseti(L, -2, 0);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setglobal(L, "arg");
}

/* Error handler: keep the message; add a traceback only when asked. */
static int message_handler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	if (getenv("LUAVMM_TRACEBACK"))
		luaL_traceback(L, L, msg, 1);
	else
		lua_pushstring(L, msg);
	return 1;
}

/*
 * The recipe's memory cap (`luavmm run --memory-limit SIZE`): an
 * allocator that refuses to grow past it, so a recipe or hook allocating
 * without end gets Lua's "not enough memory" error instead of the OOM
 * killer.  Lua reports that error without a position and without calling
 * the message handler, so the allocator notes the running line itself.
 */
size_t lvm_lua_memory_limit = (size_t)1 << 30;

struct capped_heap {
	size_t used, cap;
	lua_State *L; /* the main thread, once it exists */
	char where[256]; /* "FILE:LINE:" of the last refusal */
};

/* Records the innermost Lua line running.  Safe from inside the allocator
 * on Lua <= 5.4.5, whose stack reallocation allocates the new stack before
 * touching the old one (5.4.6 turns stack pointers into offsets first). */
static void note_where(struct capped_heap *h)
{
	h->where[0] = 0;
#if LUA_VERSION_RELEASE_NUM <= 50405
	lua_Debug ar;
	for (int level = 0; h->L && lua_getstack(h->L, level, &ar); level++) {
		if (lua_getinfo(h->L, "Sl", &ar) && ar.currentline > 0) {
			snprintf(h->where, sizeof(h->where), "%s:%d:", ar.short_src, ar.currentline);
			return;
		}
	}
#endif
}

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct capped_heap *h = ud;
	size_t old = ptr ? osize : 0; /* without ptr, osize is a type tag */
	if (nsize == 0) {
		free(ptr);
		h->used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > h->cap - h->used) {
		note_where(h);
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p)
		h->used = h->used - old + nsize;
	return p;
}

/* An error outside any protected call (there should be none). */
static int panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);
	fprintf(stderr, "luavmm: unprotected Lua error: %s\n", msg ? msg : "?");
	return 0; /* Lua aborts */
}

static void report_error(lua_State *L, int status, const struct capped_heap *h)
{
	if (status == LUA_ERRMEM && h->where[0])
		fprintf(stderr, "luavmm: %s %s\n", h->where, lua_tostring(L, -1));
	else
		fprintf(stderr, "luavmm: %s\n", lua_tostring(L, -1));
}

/*
 * The exit status a recipe's return value stands for (README, "Exit
 * status"): nothing 0, a boolean 0/1, an integer 0..255, a wait() result
 * its `code`.  Anything else is an error: returns -1 after printing it.
 */
static int exit_status_of(lua_State *L, int index, const char *name)
{
	lua_Integer n;
	int isint;
	index = lua_absindex(L, index);
	switch (lua_type(L, index)) {
	case LUA_TNONE:
	case LUA_TNIL:
		return 0;
	case LUA_TBOOLEAN:
		return lua_toboolean(L, index) ? 0 : 1;
	case LUA_TNUMBER:
		n = lua_tointegerx(L, index, &isint);
		if (isint && n >= 0 && n <= 255)
			return (int)n;
		lua_pushstring(L, lua_tostring(L, index));
		break;
	case LUA_TTABLE:
		lua_getfield(L, index, "code");
		n = lua_tointegerx(L, -1, &isint);
		lua_pop(L, 1);
		if (lua_getfield(L, index, "reason") == LUA_TSTRING && isint && n >= 0 && n <= 255) {
			lua_pop(L, 1);
			return (int)n;
		}
		lua_pop(L, 1);
		lua_pushliteral(L, "a table that is not a wait() result");
		break;
	case LUA_TSTRING:
		lua_pushfstring(L, "\"%s\"", lua_tostring(L, index));
		break;
	default:
		lua_pushfstring(L, "a %s", luaL_typename(L, index));
		break;
	}
	fprintf(stderr, "luavmm: %s: the recipe returned %s; return an exit status (0-255), a boolean, or a wait() result\n",
		name, lua_tostring(L, -1));
	lua_pop(L, 1);
	return -1;
}

const char *lvm_lua_release(void)
{
	return LUA_RELEASE;
}

int lvm_run_recipe(const char *path, int argc, char **argv)
{
	return lvm_run_recipe_opts(path, argc, argv, false);
}

int lvm_run_recipe_opts(const char *path, int argc, char **argv, bool sandbox)
{
	struct capped_heap heap = { .cap = lvm_lua_memory_limit ? lvm_lua_memory_limit : SIZE_MAX };
	lua_State *L = lua_newstate(capped_alloc, &heap);
	heap.L = L;
	if (!L) {
		fprintf(stderr, "luavmm: cannot create a Lua state\n");
		return 1;
	}
	lua_atpanic(L, panic);
	luaL_openlibs(L);
	lvm_lua_limits_install(L); /* before the recipe can keep the originals */
	setup_package(L);
	if (sandbox)
		lvm_lua_sandbox(L);
	lvm_lua_allow_enforced = sandbox; /* machines open only --allow'ed paths */
	set_arg_table(L, path, argc, argv);
	bool from_stdin = strcmp(path, "-") == 0; /* luavmm run - */
	const char *name = from_stdin ? "stdin" : path;
	lvm_lua_catch_signals(); /* SIGINT/SIGTERM stop the machines (pump.c) */
	int status = 1;
	lua_pushcfunction(L, message_handler);
	/* a sandboxed recipe is source text: bytecode could crash the VM */
	if (luaL_loadfilex(L, from_stdin ? NULL : path, sandbox ? "t" : NULL) != LUA_OK) {
		fprintf(stderr, "luavmm: %s\n", lua_tostring(L, -1));
	} else {
		for (int i = 0; i < argc; i++)
			lua_pushstring(L, argv[i]);
		int rc = lua_pcall(L, argc, 1, 1);
		if (rc != LUA_OK)
			report_error(L, rc, &heap);
		else if ((status = exit_status_of(L, -1, name)) < 0)
			status = 1;
	}
	fflush(stdout);
	lua_close(L); /* collects every machine: vCPUs stopped, fds closed */
	int sig = lvm_lua_signal_caught();
	return sig ? 128 + sig : status;
}
