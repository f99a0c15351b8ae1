/*
 * luavmm run --sandbox: the recipe keeps the luavmm API, the pure-Lua
 * modules on package.path, and the harmless base libraries, but loses what
 * reaches the host outside the VM: io, os (except time, clock, date and
 * difftime), debug (which could also lift the hook instruction limit),
 * dofile/loadfile, binary chunks in load, and C modules (package.loadlib
 * and the C searchers).  Files the machine table names (kernel, console
 * file) are still opened by luavmm on the recipe's behalf.
 */
#include "lua/binding.h"

static void keep_safe_os(lua_State *L)
{
	static const char *const safe[] = { "time", "clock", "date", "difftime", NULL };
	lua_newtable(L);
	lua_getglobal(L, "os");
	for (int i = 0; safe[i]; i++) {
		lua_getfield(L, -1, safe[i]);
		lua_setfield(L, -3, safe[i]);
	}
	lua_pop(L, 1);
	lua_setglobal(L, "os");
}

/* load(chunk, name, mode, env) with mode forced to "t". */
static int text_only_load(lua_State *L)
{
	lua_settop(L, 4);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 4, LUA_MULTRET);
	return lua_gettop(L);
}

static void no_c_modules(lua_State *L)
{
	lua_getglobal(L, "package");
	lua_pushnil(L);
	lua_setfield(L, -2, "loadlib");
	lua_pushliteral(L, "");
	lua_setfield(L, -2, "cpath");
	lua_getfield(L, -1, "searchers"); /* 1 preload, 2 Lua, 3 C, 4 all-in-one */
	lua_pushnil(L);
	lua_rawseti(L, -2, 4);
	lua_pushnil(L);
	lua_rawseti(L, -2, 3);
	lua_pop(L, 2);
}

void lvm_lua_sandbox(lua_State *L)
{
	static const char *const removed[] = { "io", "debug", "dofile", "loadfile", NULL };
	for (int i = 0; removed[i]; i++) {
		lua_pushnil(L);
		lua_setglobal(L, removed[i]);
	}
	keep_safe_os(L);
	lua_getglobal(L, "load");
	lua_pushcclosure(L, text_only_load, 1);
	lua_setglobal(L, "load");
	no_c_modules(L);
	/* the loaded-modules table still holds io/os/debug for require: drop them */
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	for (int i = 0; removed[i]; i++) {
		lua_pushnil(L);
		lua_setfield(L, -2, removed[i]);
	}
	lua_getglobal(L, "os");
	lua_setfield(L, -2, "os");
	lua_pop(L, 1);
}
