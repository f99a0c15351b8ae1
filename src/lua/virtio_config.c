/*
 * The virtio keys of luavmm.machine{}: disks = { NAME = { path = ...,
 * readonly = ..., rate_limit = ... } } and nets = { NAME = { tap = ...,
 * mac = ..., rate_limit = ... } }.  Errors name the key, e.g.
 * "machine: disks.root.readonly must be a boolean, not a string".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/board.h"
#include "lua/binding.h"

/* Entries of the table at `t`, whose keys must all be strings. */
static unsigned count_named(lua_State *L, int t, const char *key)
{
	unsigned n = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "machine: %s: names must be strings", key);
		n++;
		lua_pop(L, 1);
	}
	return n;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(((const struct lvm_disk_config *)a)->name,
		      ((const struct lvm_disk_config *)b)->name);
}

/* The rate_limit value at the top of the stack, of disks.NAME or nets.NAME. */
static void rate_limit(lua_State *L, const char *kind, const char *name,
		       struct lvm_rate_config *rc)
{
	lua_pushfstring(L, "machine: %s.%s.rate_limit", kind, name);
	lvm_lua_rate_limit(L, -2, lua_tostring(L, -1), rc);
	lua_pop(L, 1);
}

/* One disk's table at the top of the stack. */
static void disk_entry(lua_State *L, const char *name, struct lvm_disk_config *d)
{
	if (!lua_istable(L, -1))
		luaL_error(L, "machine: disks.%s must be a table, not a %s", name, luaL_typename(L, -1));
	int t = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		if (strcmp(key, "path") == 0 && lua_type(L, -1) == LUA_TSTRING)
			d->path = lua_tostring(L, -1); /* the recipe table keeps it alive */
		else if (strcmp(key, "readonly") == 0 && lua_type(L, -1) == LUA_TBOOLEAN)
			d->readonly = lua_toboolean(L, -1);
		else if (strcmp(key, "rate_limit") == 0)
			rate_limit(L, "disks", name, &d->rate_limit);
		else if (strcmp(key, "path") == 0)
			luaL_error(L, "machine: disks.%s.path must be a string, not a %s", name,
				   luaL_typename(L, -1));
		else if (strcmp(key, "readonly") == 0)
			luaL_error(L, "machine: disks.%s.readonly must be a boolean, not a %s", name,
				   luaL_typename(L, -1));
		else
			luaL_error(L, "machine: disks.%s: unknown key '%s'", name, key);
		lua_pop(L, 1);
	}
	if (!d->path)
		luaL_error(L, "machine: disks.%s.path is required (the raw image file)", name);
	d->name = name;
}

void lvm_lua_disks_field(lua_State *L, int t, struct lvm_machine_config *config)
{
	if (lua_getfield(L, t, "disks") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	int disks = lua_gettop(L);
	unsigned n = count_named(L, disks, "disks");
	/* Userdata, so a later error cannot leak it; anchored in the registry
	 * until the next machine replaces it. */
	struct lvm_disk_config *d = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*d), 0);
	memset(d, 0, (n ? n : 1) * sizeof(*d));
	lua_setfield(L, LUA_REGISTRYINDEX, "luavmm.disk_configs");
	unsigned i = 0;
	lua_pushnil(L);
	while (lua_next(L, disks)) {
		disk_entry(L, lua_tostring(L, -2), &d[i++]);
		lua_pop(L, 1);
	}
	qsort(d, n, sizeof(*d), compare_names); /* MMIO slots in a stable order */
	config->disks = d;
	config->ndisks = n;
	lua_pop(L, 1);
}

/* "52:54:00:12:34:56" -> 6 bytes; false if malformed. */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 || strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return !(mac[0] & 1); /* a unicast address */
}

static void net_entry(lua_State *L, const char *name, unsigned index, struct lvm_net_config *n)
{
	if (!lua_istable(L, -1))
		luaL_error(L, "machine: nets.%s must be a table, not a %s", name, luaL_typename(L, -1));
	int t = lua_gettop(L);
	/* Default MAC: locally administered, stable per NIC position. */
	uint8_t def[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index) };
	memcpy(n->mac, def, 6);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		if (strcmp(key, "rate_limit") == 0) {
			rate_limit(L, "nets", name, &n->rate_limit);
			lua_pop(L, 1);
			continue;
		}
		if (strcmp(key, "tap") != 0 && strcmp(key, "mac") != 0)
			luaL_error(L, "machine: nets.%s: unknown key '%s'", name, key);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "machine: nets.%s.%s must be a string, not a %s", name, key,
				   luaL_typename(L, -1));
		if (strcmp(key, "tap") == 0)
			n->tap = lua_tostring(L, -1);
		else if (!parse_mac(lua_tostring(L, -1), n->mac))
			luaL_error(L, "machine: nets.%s.mac = \"%s\" is not a unicast MAC like \"52:54:00:12:34:56\"",
				   name, lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	if (!n->tap)
		luaL_error(L, "machine: nets.%s.tap is required (a tap device name)", name);
	n->name = name;
}

static int compare_nets(const void *a, const void *b)
{
	return strcmp(((const struct lvm_net_config *)a)->name,
		      ((const struct lvm_net_config *)b)->name);
}

void lvm_lua_nets_field(lua_State *L, int t, struct lvm_machine_config *config)
{
	if (lua_getfield(L, t, "nets") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	int nets = lua_gettop(L);
	unsigned n = count_named(L, nets, "nets");
	struct lvm_net_config *c = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*c), 0);
	memset(c, 0, (n ? n : 1) * sizeof(*c));
	lua_setfield(L, LUA_REGISTRYINDEX, "luavmm.net_configs");
	/* Names in order first, so default MACs follow the sorted position. */
	unsigned i = 0;
	lua_pushnil(L);
	while (lua_next(L, nets)) {
		c[i++].name = lua_tostring(L, -2);
		lua_pop(L, 1);
	}
	qsort(c, n, sizeof(*c), compare_nets);
	for (i = 0; i < n; i++) {
		const char *name = c[i].name;
		lua_getfield(L, nets, name);
		net_entry(L, name, i, &c[i]);
		lua_pop(L, 1);
	}
	config->nets = c;
	config->nnets = n;
	lua_pop(L, 1);
}
