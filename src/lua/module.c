/* require "luavmm": the module table, and durations as every binding reads them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "lua/binding.h"
#include "lua/switch.h"
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

/*
 * Durations (README, "Durations"): a number is seconds; a string carries
 * its unit: "250ms", "2s", "1.5m", "1h" ("2" is seconds too).
 */
static bool parse_duration(const char *s, double *seconds)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return false;
	while (*end == ' ')
		end++;
	static const struct { const char *unit; double scale; } units[] = {
		{ "", 1 }, { "s", 1 }, { "ms", 1e-3 }, { "us", 1e-6 }, { "m", 60 }, { "min", 60 }, { "h", 3600 },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			*seconds = v * units[i].scale;
			return true;
		}
	}
	return false;
}

double lvm_lua_opt_duration(lua_State *L, int index, double def)
{
	if (lua_isnoneornil(L, index))
		return def;
	if (lua_type(L, index) == LUA_TNUMBER)
		return lua_tonumber(L, index);
	double seconds;
	if (lua_type(L, index) == LUA_TSTRING && parse_duration(lua_tostring(L, index), &seconds))
		return seconds;
	return luaL_argerror(L, index, lua_pushfstring(L,
		"a duration is a number of seconds or a string with a unit (\"250ms\", \"2s\", \"1m\"), not %s",
		lua_type(L, index) == LUA_TSTRING ? lua_pushfstring(L, "\"%s\"", lua_tostring(L, index))
						 : luaL_typename(L, index)));
}

/*
 * vm:after / vm:every: a string is a duration like any other; a bare number
 * is still milliseconds, as before durations were uniform, and says once per
 * process that it is deprecated (bare numbers will mean seconds).
 */
double lvm_lua_timer_ms(lua_State *L, int index, const char *method)
{
	static bool warned;
	if (lua_type(L, index) == LUA_TNUMBER) {
		if (!warned) {
			warned = true;
			fprintf(stderr, "luavmm: warning: vm:%s(%s, ...): a bare number is milliseconds here, unlike every other duration; write \"%sms\" (a bare number will mean seconds in a later release)\n",
				method, lua_tostring(L, index), lua_tostring(L, index));
		}
		return lua_tonumber(L, index);
	}
	luaL_checkany(L, index);
	return lvm_lua_opt_duration(L, index, 0) * 1000;
}

/*
 * luavmm.wait_until(fn [, timeout = 30]): calls fn until it returns a true
 * value (returned), serving every machine between calls (their output,
 * hooks, timers, events) and calling it again at least every 20 ms; false
 * once the timeout passes or a stop signal came.  fn runs outside any hook, so it may expect() or wait().
 */
static int module_wait_until(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	double timeout = lvm_lua_opt_duration(L, 2, 30);
	if (lvm_lua_hook_depth > 0 || lvm_lua_pump_depth > 0)
		return luaL_error(L, "wait_until: cannot wait inside a hook or console callback");
	double deadline = lvm_monotonic_seconds() + timeout;
	for (;;) {
		lua_settop(L, 2);
		lua_pushvalue(L, 1);
		lua_call(L, 0, 1);
		if (lua_toboolean(L, -1))
			return 1;
		if (lvm_monotonic_seconds() >= deadline || lvm_lua_signal_caught()) {
			lua_pushboolean(L, 0);
			return 1;
		}
		/* Serve until something happens, but look again at least every
		 * 20 ms: fn may watch what raises no event (a device counter). */
		double next = lvm_monotonic_seconds() + 0.02;
		lvm_lua_serve_round(L, next < deadline ? next : deadline);
	}
}

/* luavmm.settle(): closed machines' VM fds and RAM are freed in the
 * background; this returns once that is done (leak checks, RSS figures). */
static int module_settle(lua_State *L)
{
	(void)L;
	lvm_machine_settle();
	return 0;
}

static const luaL_Reg module_functions[] = {
	{ "settle", module_settle },
	{ "wait_until", module_wait_until },
	{ "now", module_now },
	{ "ratelimiter", lvm_lua_ratelimiter_new },
	{ "machine", lvm_lua_machine_new },
	{ "restore", lvm_lua_restore },
	{ "guest", module_guest },
	{ "switch", lvm_lua_switch_new },
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
	lvm_lua_register_snapshot(L);
	luaL_newlib(L, module_functions);
	lua_pushliteral(L, LUAVMM_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, guest_dir());
	lua_setfield(L, -2, "guest_dir");
	return 1;
}
