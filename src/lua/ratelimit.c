/*
 * luavmm.ratelimiter{ bandwidth = {size=, refill_ms=, burst=}, ops = {...} }:
 * the core token bucket (src/core/ratelimit.c) as a Lua object, with
 * :consume(bytes) -> bool, :wait_ms(bytes) -> ms (math.huge = never) and
 * :update{...} to change the limits at run time.  Disks and NICs take the
 * same table (rate_limit = {...} in the recipe, dev:set_rate_limit{...}),
 * parsed by lvm_lua_rate_limit: unknown keys and wrong types are errors
 * naming the key.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "util/error.h"
#include "util/ratelimit.h"
#include "util/size.h"
#include "lua/binding.h"

#define LVM_RATELIMIT_MT "luavmm.ratelimiter"

/* A bucket field: a non-negative integer, or for sizes a string like "10M". */
static uint64_t bucket_number(lua_State *L, const char *where, const char *bucket,
			      const char *key, bool size_ok)
{
	uint64_t v = 0;
	if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0)
		return (uint64_t)lua_tointeger(L, -1);
	if (size_ok && lua_type(L, -1) == LUA_TSTRING && lvm_parse_size(lua_tostring(L, -1), &v) == 0)
		return v;
	luaL_error(L, "%s.%s.%s must be a non-negative integer%s, not %s", where, bucket, key,
		   size_ok ? " or a size like \"10M\"" : "", luaL_tolstring(L, -1, NULL));
	return 0;
}

/* The bucket table at the top of the stack: size, refill_ms, burst; nothing else. */
static void bucket_table(lua_State *L, const char *where, const char *bucket,
			 struct lvm_bucket_config *c)
{
	if (!lua_istable(L, -1))
		luaL_error(L, "%s.%s must be a table {size=, refill_ms=, burst=}, not a %s", where,
			   bucket, luaL_typename(L, -1));
	memset(c, 0, sizeof(*c));
	bool bytes = strcmp(bucket, "bandwidth") == 0;
	int t = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		if (strcmp(key, "size") == 0)
			c->size = bucket_number(L, where, bucket, key, bytes);
		else if (strcmp(key, "burst") == 0)
			c->one_time_burst = bucket_number(L, where, bucket, key, bytes);
		else if (strcmp(key, "refill_ms") == 0)
			c->refill_ms = bucket_number(L, where, bucket, key, false);
		else
			luaL_error(L, "%s.%s: unknown key '%s' (size, refill_ms, burst)", where, bucket, key);
		lua_pop(L, 1);
	}
}

void lvm_lua_rate_limit(lua_State *L, int index, const char *where, struct lvm_rate_config *rc)
{
	index = lua_absindex(L, index);
	memset(rc, 0, sizeof(*rc));
	if (!lua_istable(L, index))
		luaL_error(L, "%s must be a table {bandwidth = {...}, ops = {...}}, not a %s", where,
			   luaL_typename(L, index));
	lua_pushnil(L);
	while (lua_next(L, index)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		if (strcmp(key, "bandwidth") == 0) {
			bucket_table(L, where, key, &rc->bandwidth);
			rc->has_bandwidth = true;
		} else if (strcmp(key, "ops") == 0) {
			bucket_table(L, where, key, &rc->ops);
			rc->has_ops = true;
		} else {
			luaL_error(L, "%s: unknown key '%s' (bandwidth, ops)", where, key);
		}
		lua_pop(L, 1);
	}
}

static uint64_t now_ns(void)
{
	return (uint64_t)(lvm_lua_now() * 1e9);
}

static int configure(lua_State *L, struct lvm_ratelimit *rl, bool init)
{
	struct lvm_rate_config c;
	lvm_lua_rate_limit(L, 1, "ratelimiter", &c);
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
