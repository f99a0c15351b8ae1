/*
 * The virtio keys of luavmm.machine{}: disks = { NAME = { path = ...,
 * readonly = ... } } and rng = true.  Errors name the key, e.g.
 * "machine: disks.root.readonly must be a boolean, not a string".
 */
#include <stdlib.h>
#include <string.h>

#include "arch/x86/pc.h"
#include "lua/binding.h"

static int compare_names(const void *a, const void *b)
{
	return strcmp(((const struct lvm_disk_config *)a)->name,
		      ((const struct lvm_disk_config *)b)->name);
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
	unsigned n = 0;
	lua_pushnil(L);
	while (lua_next(L, disks)) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "machine: disks: names must be strings");
		n++;
		lua_pop(L, 1);
	}
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
