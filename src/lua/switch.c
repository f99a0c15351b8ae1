/*
 * luavmm.switch() and its object: sw:stats(), sw:id(), tostring(sw).
 * Objects are cached by id in a weak table of the registry, so asking for
 * the switch of a NIC (a fork joins its parent's) gives back the object
 * the recipe holds rather than a second one.
 */
#include "lua/switch.h"

#include <lauxlib.h>
#include <stdio.h>

#include "util/error.h"
#include "util/eth_switch.h"

#define CACHE_KEY "luavmm.switches" /* registry: id -> object, weak values */

struct lua_switch {
	struct lvm_switch *sw; /* NULL once collected */
};

static struct lvm_switch *check_switch(lua_State *L, int index)
{
	struct lua_switch *s = luaL_checkudata(L, index, LVM_SWITCH_MT);
	if (!s->sw)
		luaL_error(L, "switch: already collected");
	return s->sw;
}

static int switch_gc(lua_State *L)
{
	struct lua_switch *s = luaL_checkudata(L, 1, LVM_SWITCH_MT);
	lvm_switch_put(s->sw);
	s->sw = NULL;
	return 0;
}

static int switch_tostring(lua_State *L)
{
	lua_pushfstring(L, "luavmm.switch %d", (int)lvm_switch_id(check_switch(L, 1)));
	return 1;
}

static int switch_id(lua_State *L)
{
	lua_pushinteger(L, lvm_switch_id(check_switch(L, 1)));
	return 1;
}

static void set_int(lua_State *L, const char *key, uint64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, key);
}

static void push_port(lua_State *L, const struct lvm_switch_port_stats *p)
{
	lua_createtable(L, 0, 9);
	set_int(L, "port", p->number);
	lua_pushstring(L, p->label);
	lua_setfield(L, -2, "nic");
	char mac[18];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1], p->mac[2],
		 p->mac[3], p->mac[4], p->mac[5]);
	lua_pushstring(L, mac);
	lua_setfield(L, -2, "mac");
	set_int(L, "rx_packets", p->rx_packets);
	set_int(L, "rx_bytes", p->rx_bytes);
	set_int(L, "tx_packets", p->tx_packets);
	set_int(L, "tx_bytes", p->tx_bytes);
	set_int(L, "tx_dropped", p->tx_dropped);
}

/* sw:stats() -> { ports =, learned =, flooded =, invalid =, [1..ports] = per port } */
static int switch_stats(lua_State *L)
{
	struct lvm_switch *sw = check_switch(L, 1);
	struct lvm_switch_stats totals;
	struct lvm_switch_port_stats ports[LVM_SWITCH_PORTS_MAX];
	unsigned n = lvm_switch_stats(sw, &totals, ports, LVM_SWITCH_PORTS_MAX);
	lua_createtable(L, (int)n, 4);
	set_int(L, "ports", totals.ports);
	set_int(L, "learned", totals.learned);
	set_int(L, "flooded", totals.flooded);
	set_int(L, "invalid", totals.invalid);
	for (unsigned i = 0; i < n; i++) {
		push_port(L, &ports[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static const luaL_Reg methods[] = {
	{ "stats", switch_stats },
	{ "id", switch_id },
	{ NULL, NULL },
};

/* The cache table [-0, +1, -]. */
static void push_cache(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, CACHE_KEY) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	lua_createtable(L, 0, 1);
	lua_pushliteral(L, "v");
	lua_setfield(L, -2, "__mode");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, CACHE_KEY);
}

/* A new object owning the reference `sw` (released on error too) [-0, +1, e]. */
static void push_new(lua_State *L, struct lvm_switch *sw)
{
	struct lua_switch *s = lua_newuserdatauv(L, sizeof(*s), 0);
	s->sw = sw;
	if (luaL_newmetatable(L, LVM_SWITCH_MT)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, switch_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, switch_tostring);
		lua_setfield(L, -2, "__tostring");
	}
	lua_setmetatable(L, -2);
	push_cache(L);
	lua_pushvalue(L, -2);
	lua_rawseti(L, -2, lvm_switch_id(sw));
	lua_pop(L, 1);
}

int lvm_lua_switch_new(lua_State *L)
{
	luaL_argcheck(L, lua_isnone(L, 1), 1, "luavmm.switch() takes no arguments");
	struct lvm_switch *sw = lvm_switch_new();
	if (!sw)
		return luaL_error(L, "switch: %s", lvm_error());
	push_new(L, sw);
	return 1;
}

void lvm_lua_switch_push(lua_State *L, uint32_t id)
{
	push_cache(L);
	int type = lua_rawgeti(L, -1, id);
	lua_remove(L, -2);
	if (type == LUA_TUSERDATA)
		return;
	lua_pop(L, 1);
	struct lvm_switch *sw = lvm_switch_get(id);
	if (!sw)
		luaL_error(L, "switch: %s", lvm_error());
	push_new(L, sw);
}

uint32_t lvm_lua_switch_id(lua_State *L, int index)
{
	struct lua_switch *s = luaL_testudata(L, index, LVM_SWITCH_MT);
	return s && s->sw ? lvm_switch_id(s->sw) : 0;
}
