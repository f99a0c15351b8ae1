/* require "luavmm": the module table. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/binding.h"
#include "lua/paths.h"
#include "luavmm_config.h"

static const char *guest_dir(void)
{
	return lvm_lua_guest_dir(); /* env, build tree or installed (lua/paths.h) */
}

/* luavmm.guest("hello") -> path of a built test guest. */
static int module_guest(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	if (strchr(name, '/'))
		return luaL_argerror(L, 1, "a guest name, not a path");
	lua_pushfstring(L, "%s/%s.elf", guest_dir(), name);
	const char *path = lua_tostring(L, -1);
	if (access(path, R_OK) != 0)
		return luaL_error(L, "guest '%s' not found at %s (build the project first: cmake --build build)",
				  name, path);
	return 1;
}

/* luavmm.now(): CLOCK_MONOTONIC seconds (for timers and watchdogs). */
static int module_now(lua_State *L)
{
	lua_pushnumber(L, lvm_monotonic_seconds());
	return 1;
}

static const luaL_Reg module_functions[] = {
	{ "now", module_now },
	{ "ratelimiter", lvm_lua_ratelimiter_new },
	{ "machine", lvm_lua_machine_new },
	{ "guest", module_guest },
	{ NULL, NULL },
};

int luaopen_luavmm(lua_State *L)
{
	lvm_lua_limits_install(L); /* hook budgets cover coroutines and patterns */
	lvm_lua_register_machine(L);
	lvm_lua_register_console(L);
	lvm_lua_register_hooks(L);
	lvm_lua_register_timers(L);
	lvm_lua_register_runtime(L);
	lvm_lua_register_ratelimit(L);
	lvm_lua_register_devices(L);
	lvm_lua_register_vsock(L);
	luaL_newlib(L, module_functions);
	lua_pushliteral(L, LUAVMM_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, guest_dir());
	lua_setfield(L, -2, "guest_dir");
	return 1;
}
