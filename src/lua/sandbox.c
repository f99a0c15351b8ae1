/*
 * luavmm run --sandbox: the recipe keeps the luavmm API, the pure-Lua
 * modules on package.path, and the harmless base libraries, but loses what
 * reaches the host outside the VM: io, os (except time, clock, date and
 * difftime), debug (which could also lift the hook instruction limit),
 * dofile/loadfile, binary chunks (in load and in require), C modules, and
 * any way to point require at other files.  Files the machine table names
 * (kernel, console file) are still opened by luavmm on the recipe's behalf,
 * which is why nothing may load bytes the recipe could have written as
 * bytecode.
 */
#include <ctype.h>
#include <stdbool.h>

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

/* Dotted words only: no '/', no "..", nothing that reaches outside the path. */
static bool plain_module_name(const char *name)
{
	bool word = false;
	for (const char *p = name; *p; p++) {
		if (*p == '.' && word)
			word = false;
		else if (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
			word = true;
		else
			return false;
	}
	return word;
}

/*
 * require's file searcher under --sandbox.  Upvalues: the stock
 * package.searchpath and the package.path the sandbox started with, which
 * the recipe cannot change; a found file loads as source text only.
 */
static int search_source(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	if (!plain_module_name(name)) {
		lua_pushfstring(L, "no module '%s' (under --sandbox a module name is dotted words)", name);
		return 1;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushstring(L, name);
	lua_pushvalue(L, lua_upvalueindex(2));
	lua_call(L, 2, 2);
	if (lua_isnil(L, -2))
		return 1; /* searchpath's "no file ..." lines */
	const char *file = lua_tostring(L, -2);
	if (luaL_loadfilex(L, file, "t") != LUA_OK)
		return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
				  lua_tostring(L, -1));
	lua_pushstring(L, file);
	return 2;
}

static int read_only(lua_State *L)
{
	return luaL_error(L, "package is read-only under --sandbox (assigning '%s')",
			  luaL_tolstring(L, 2, NULL));
}

/* Pushes a read-only view of package: loaded, preload, path and config. */
static void push_package_view(lua_State *L, int package)
{
	static const char *const shown[] = { "loaded", "preload", "path", "config", NULL };
	lua_newtable(L); /* the proxy */
	lua_createtable(L, 0, 3);
	lua_createtable(L, 0, 4);
	for (int i = 0; shown[i]; i++) {
		lua_getfield(L, package, shown[i]);
		lua_setfield(L, -2, shown[i]);
	}
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, read_only);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

/*
 * No C modules and no binary chunks by any path: require searches
 * package.preload, then Lua source on the starting package.path.  The
 * recipe sees package read-only, without loadlib, searchpath (it would tell
 * whether any host file exists), cpath or searchers.
 */
static void sandbox_require(lua_State *L)
{
	lua_getglobal(L, "package");
	int package = lua_gettop(L);
	lua_createtable(L, 2, 0);
	lua_getfield(L, package, "searchers");
	lua_rawgeti(L, -1, 1); /* the preload searcher */
	lua_rawseti(L, -3, 1);
	lua_pop(L, 1);
	lua_getfield(L, package, "searchpath");
	lua_getfield(L, package, "path");
	lua_pushcclosure(L, search_source, 2);
	lua_rawseti(L, -2, 2);
	lua_setfield(L, package, "searchers"); /* require reads it from here */
	push_package_view(L, package);
	lua_pushvalue(L, -1);
	lua_setglobal(L, "package");
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_insert(L, -2);
	lua_setfield(L, -2, "package");
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
	sandbox_require(L);
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
