/*
 * luavmm.ratelimiter{ bandwidth = {size=, refill_ms=, burst=}, ops = {...} }:
 * the core token bucket (src/core/ratelimit.c) as a Lua object, with
 * :consume(bytes) -> bool, :wait_ms(bytes) -> ms (math.huge = never) and
 * :update{...} to change the limits at run time.  Devices take the same
 * configuration table (see src/core/policy.h).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "core/ratelimit.h"
#include "lua/binding.h"

#define LVM_RATELIMIT_MT "luavmm.ratelimiter"

static uint64_t bucket_number(lua_State *L, int t, const char *bucket, const char *key)
{
	lua_getfield(L, t, key);
	lua_Integer v = 0;
	if (!lua_isnil(L, -1)) {
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
			luaL_error(L, "ratelimiter: %s.%s must be a non-negative integer, got %s", bucket,
				   key, luaL_tolstring(L, -1, NULL));
		v = lua_tointeger(L, -1);
	}
	lua_pop(L, 1);
	return (uint64_t)v;
}

/* Reads field `bucket` of the table at 1; NULL when absent. */
static const struct lvm_bucket_config *bucket_field(lua_State *L, const char *bucket,
						    struct lvm_bucket_config *c)
{
	int type = lua_getfield(L, 1, bucket);
	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	if (type != LUA_TTABLE)
		luaL_error(L, "ratelimiter: %s must be a table {size=, refill_ms=, burst=}", bucket);
	int t = lua_gettop(L);
	c->size = bucket_number(L, t, bucket, "size");
	c->refill_ms = bucket_number(L, t, bucket, "refill_ms");
	c->one_time_burst = bucket_number(L, t, bucket, "burst");
	lua_pop(L, 1);
	return c;
}

static uint64_t now_ns(void)
{
	return (uint64_t)(lvm_lua_now() * 1e9);
}

static int configure(lua_State *L, struct lvm_ratelimit *rl, bool init)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	struct lvm_bucket_config bw, ops;
	const struct lvm_bucket_config *pbw = bucket_field(L, "bandwidth", &bw);
	const struct lvm_bucket_config *pops = bucket_field(L, "ops", &ops);
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
