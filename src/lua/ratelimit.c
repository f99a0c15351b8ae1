/*
 * luavmm.ratelimiter{ bandwidth = {size=, refill_ms=, burst=}, ops = {...} }:
 * the token bucket of util/ratelimit.c as a Lua object, with
 * :consume(bytes) -> bool, :wait_ms(bytes) -> ms (math.huge = never) and
 * :update{...} to change the limits at run time.  Disks and NICs take the
 * same table (rate_limit = {...} in the recipe, dev:set_rate_limit{...}),
 * parsed by util/rate_config.c: unknown keys and wrong types are errors
 * naming the key.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "util/error.h"
#include "util/ratelimit.h"
#include "util/rate_config.h"
#include "lua/binding.h"

#define LVM_RATELIMIT_MT "luavmm.ratelimiter"

static uint64_t now_ns(void)
{
	return (uint64_t)(lvm_monotonic_seconds() * 1e9);
}

static int configure(lua_State *L, struct lvm_ratelimit *rl, bool init)
{
	struct lvm_rate_config c;
	if (lvm_rate_config_parse(lvm_lua_to_value(L, 1), "ratelimiter", &c) < 0)
		return luaL_error(L, "%s", lvm_error());
	lua_pop(L, 1);
	const struct lvm_bucket_config *pbw = c.has_bandwidth ? &c.bandwidth : NULL;
	const struct lvm_bucket_config *pops = c.has_ops ? &c.ops : NULL;
	int rc = init ? lvm_ratelimit_init(rl, pbw, pops, now_ns())
		      : lvm_ratelimit_update(rl, pbw, pops, now_ns());
	if (rc < 0)
		return luaL_error(L, "ratelimiter: %s", lvm_error());
	return 0;
}

static int ratelimiter_new(lua_State *L)
{
	struct lvm_ratelimit *rl = lua_newuserdatauv(L, sizeof(*rl), 0);
	memset(rl, 0, sizeof(*rl));
	configure(L, rl, true);
	luaL_setmetatable(L, LVM_RATELIMIT_MT);
	return 1;
}

static int rl_consume(lua_State *L)
{
	struct lvm_ratelimit *rl = luaL_checkudata(L, 1, LVM_RATELIMIT_MT);
	lua_Integer bytes = luaL_optinteger(L, 2, 0);
	luaL_argcheck(L, bytes >= 0, 2, "bytes must not be negative");
	lua_pushboolean(L, lvm_ratelimit_consume(rl, (uint64_t)bytes, now_ns()));
	return 1;
}

static int rl_wait_ms(lua_State *L)
{
	struct lvm_ratelimit *rl = luaL_checkudata(L, 1, LVM_RATELIMIT_MT);
	lua_Integer bytes = luaL_optinteger(L, 2, 0);
	luaL_argcheck(L, bytes >= 0, 2, "bytes must not be negative");
	uint64_t ns = lvm_ratelimit_wait_ns(rl, (uint64_t)bytes, now_ns());
	lua_pushnumber(L, ns == UINT64_MAX ? HUGE_VAL : (double)ns / 1e6);
	return 1;
}

static int rl_update(lua_State *L)
{
	struct lvm_ratelimit *rl = luaL_checkudata(L, 1, LVM_RATELIMIT_MT);
	lua_remove(L, 1);
	configure(L, rl, false);
	return 0;
}

static const luaL_Reg rl_methods[] = {
	{ "consume", rl_consume },
	{ "wait_ms", rl_wait_ms },
	{ "update", rl_update },
	{ NULL, NULL },
};

void lvm_lua_register_ratelimit(lua_State *L)
{
	luaL_newmetatable(L, LVM_RATELIMIT_MT);
	luaL_newlib(L, rl_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}

int lvm_lua_ratelimiter_new(lua_State *L)
{
	return ratelimiter_new(L);
}
