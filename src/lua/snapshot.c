/*
 * vm:snapshot(dir), luavmm.restore(dir [, overrides]) and vm:fork([overrides])
 * (machine/snapshot.h does the work).  A restored or forked machine is
 * built from the saved recipe's data with the overrides merged over it,
 * and is "created": vm:start() continues the guest.  Nothing of the Lua
 * side carries over (hooks, timers, filters, rate limits set by methods):
 * the recipe registers what the new machine should have.
 */
#include <string.h>

#include "lua/binding.h"
#include "lua/switch.h"
#include "machine/machine.h"
#include "machine/snapshot.h"
#include "util/error.h"

/* The machine's recipe bytes (user value LVM_MACHINE_RECIPE). */
static const char *recipe_bytes(lua_State *L, int machine_index, size_t *len)
{
	lua_getiuservalue(L, machine_index, LVM_MACHINE_RECIPE);
	const char *bytes = lua_tolstring(L, -1, len);
	lua_pop(L, 1); /* the user value keeps it alive */
	return bytes;
}

static bool is_list(lua_State *L, int t)
{
	return lua_rawlen(L, t) > 0;
}

/* Merges the table at `from` into the table at `to`: tables into tables
 * (disks = { root = { path = ... } } replaces one field of one disk), any
 * other value replaces; a list replaces a whole list. */
static void merge(lua_State *L, int to, int from, int depth)
{
	to = lua_absindex(L, to);
	from = lua_absindex(L, from);
	if (depth > 8)
		luaL_error(L, "overrides: tables nested too deep");
	lua_pushnil(L);
	while (lua_next(L, from)) {
		lua_pushvalue(L, -2);
		int existing = lua_rawget(L, to);
		if (existing == LUA_TTABLE && lua_type(L, -2) == LUA_TTABLE && !is_list(L, -2) &&
		    !is_list(L, -1)) {
			merge(L, -1, -2, depth + 1);
			lua_pop(L, 1);
		} else {
			lua_pop(L, 1);
			lua_pushvalue(L, -2);
			lua_pushvalue(L, -2);
			lua_rawset(L, to);
		}
		lua_pop(L, 1);
	}
}

/* Under --sandbox, a snapshot directory is a host resource like a disk. */
static void allow_dir(lua_State *L, const char *verb, const char *dir, bool write)
{
	if (lvm_lua_allow_check(NULL, verb, dir, write) < 0)
		luaL_error(L, "%s: %s: %s", verb, dir, lvm_error());
}

/* vm:snapshot(dir) -> { state_bytes, memory_bytes, ram_bytes, seconds }.  A
 * running machine is paused for the call and resumed after. */
static int machine_snapshot(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	const char *dir = luaL_checkstring(L, 2);
	allow_dir(L, "snapshot", dir, true);
	size_t len;
	const char *recipe = recipe_bytes(L, 1, &len);
	bool pause = m->vm->started && !lvm_vm_stopped(m->vm) && !lvm_vm_paused(m->vm);
	if (pause)
		lvm_vm_pause(m->vm);
	struct lvm_snapshot_info info;
	int rc = lvm_machine_snapshot(m->machine, dir, recipe, len, &info);
	if (pause)
		lvm_vm_resume(m->vm);
	if (rc < 0)
		return luaL_error(L, "%s", lvm_error());
	lua_createtable(L, 0, 4);
	lua_pushinteger(L, (lua_Integer)info.state_bytes);
	lua_setfield(L, -2, "state_bytes");
	lua_pushinteger(L, (lua_Integer)info.memory_bytes);
	lua_setfield(L, -2, "memory_bytes");
	lua_pushinteger(L, (lua_Integer)info.ram_bytes);
	lua_setfield(L, -2, "ram_bytes");
	lua_pushnumber(L, info.seconds);
	lua_setfield(L, -2, "seconds");
	return 1;
}

/* A saved state freed however the call ends (a to-be-closed slot). */
static int state_close(lua_State *L)
{
	struct lvm_saved_state **box = lua_touserdata(L, 1);
	lvm_saved_state_free(*box);
	*box = NULL;
	return 0;
}

static struct lvm_saved_state **push_state_box(lua_State *L)
{
	struct lvm_saved_state **box = lua_newuserdatauv(L, sizeof(*box), 0);
	*box = NULL;
	if (luaL_newmetatable(L, "luavmm.saved_state")) {
		lua_pushcfunction(L, state_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, state_close);
		lua_setfield(L, -2, "__close");
	}
	lua_setmetatable(L, -2);
	return box;
}

/* The saved recipe as a table, the overrides at `overrides` (0: none) merged. */
static void push_recipe(lua_State *L, const void *bytes, size_t len, int overrides,
			const char *where)
{
	if (!lvm_lua_recipe_decode(L, bytes, len))
		luaL_error(L, "%s: the saved recipe is corrupt", where);
	if (overrides)
		merge(L, -1, overrides, 0);
}

/* luavmm.restore(dir [, overrides]) -> a machine, created. */
int lvm_lua_restore(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	allow_dir(L, "restore", dir, false);
	struct lvm_saved_state **box = push_state_box(L);
	lua_toclose(L, 3);
	*box = lvm_saved_state_open(dir);
	if (!*box)
		return luaL_error(L, "restore: %s", lvm_error());
	size_t len;
	const void *recipe = lvm_saved_state_recipe(*box, &len);
	char where[300];
	snprintf(where, sizeof(where), "restore: snapshot %s", dir);
	push_recipe(L, recipe, len, lua_istable(L, 2) ? 2 : 0, where);
	return lvm_lua_machine_build(L, -1, *box);
}

/* The id of the switch the parent's NIC `name` is a port of (its stat
 * "switch"), 0 if none. */
static uint32_t parent_switch(struct lvm_machine *parent, const char *name)
{
	const struct lvm_machine_device *d = lvm_machine_find(parent, "nets", name);
	struct lvm_device_stat stats[LVM_DEVICE_STATS_MAX];
	unsigned n = d && d->type->stats ? d->type->stats(d->dev, stats) : 0;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(stats[i].name, "switch") == 0)
			return (uint32_t)stats[i].value;
	return 0;
}

/*
 * The child's NIC `name` (its saved entry at `entry`):
 *  - on a tap: a tap carries one machine's frames, the overrides must give
 *    the child its own;
 *  - on a user net: the child gets its own (a fresh libslirp), without the
 *    parent's forwards (the parent keeps listening on those host ports)
 *    unless the overrides give some;
 *  - on a switch (not data, so not in the saved recipe): the child joins
 *    its parent's switch, unless the overrides say otherwise.
 */
static void fork_net(lua_State *L, int entry, const char *name, int overrides,
		     struct lvm_machine *parent)
{
	int top = lua_gettop(L);
	bool given = overrides && lua_getfield(L, overrides, "nets") == LUA_TTABLE &&
		     lua_getfield(L, -1, name) == LUA_TTABLE;
	lua_settop(L, top);
	if (lua_getfield(L, entry, "tap") != LUA_TNIL && !given)
		luaL_error(L, "fork: nets.%s: the child needs its own tap (vm:fork{nets = {%s = {tap = \"...\"}}})",
			   name, name);
	bool user = lua_getfield(L, entry, "user") != LUA_TNIL;
	lua_settop(L, top);
	if (user) {
		lua_pushnil(L);
		lua_setfield(L, entry, "forward");
		return;
	}
	uint32_t id = parent_switch(parent, name);
	if (id) {
		lvm_lua_switch_push(L, id);
		lua_setfield(L, entry, "switch");
	}
}

/* What a child does not share with its parent unless the overrides say:
 * the control socket (one path, one listener), a console file (it would
 * truncate the parent's: the child's output stays in vm.console), stdin,
 * the disks' writes (each child writes into its own overlay) and its NICs'
 * networks (fork_net). */
static void fork_defaults(lua_State *L, int recipe, int overrides, struct lvm_machine *parent)
{
	lua_pushnil(L);
	lua_setfield(L, recipe, "control");
	lua_pushboolean(L, 0);
	lua_setfield(L, recipe, "stdin");
	if (lua_getfield(L, recipe, "console") == LUA_TSTRING &&
	    strcmp(lua_tostring(L, -1), "stdout") != 0 && strcmp(lua_tostring(L, -1), "stderr") != 0) {
		lua_pushboolean(L, 0);
		lua_setfield(L, recipe, "console");
	}
	lua_pop(L, 1);
	if (lua_getfield(L, recipe, "disks") == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_istable(L, -1)) {
				lua_pushboolean(L, 1);
				lua_setfield(L, -2, "snapshot");
			}
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (lua_getfield(L, recipe, "nets") == LUA_TTABLE) {
		lua_pushnil(L);
		while (lua_next(L, -2)) {
			if (lua_istable(L, -1) && lua_type(L, -2) == LUA_TSTRING)
				fork_net(L, lua_gettop(L), lua_tostring(L, -2), overrides, parent);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	/* The vsock's socket: binding it again would take it from the parent. */
	int top = lua_gettop(L);
	if (lua_getfield(L, recipe, "vsock") == LUA_TTABLE &&
	    lua_getfield(L, -1, "path") == LUA_TSTRING) {
		bool given = overrides && lua_getfield(L, overrides, "vsock") == LUA_TTABLE &&
			     lua_getfield(L, -1, "path") == LUA_TSTRING;
		if (!given)
			luaL_error(L, "fork: vsock.path: the child needs its own socket (vm:fork{vsock = {path = \"...\"}})");
	}
	lua_settop(L, top);
}

/* vm:fork([overrides]) -> a machine, created, sharing the parent's RAM
 * copy-on-write.  The parent must be paused (or created, not started). */
static int machine_fork(lua_State *L)
{
	struct lvm_lua_machine *parent = lvm_lua_check_machine(L, 1);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	struct lvm_vm *vm = parent->vm;
	if (vm->started && !lvm_vm_stopped(vm) && !lvm_vm_paused(vm))
		return luaL_error(L, "fork: the machine is running: pause it first (vm:pause())");
	size_t len;
	const char *bytes = recipe_bytes(L, 1, &len);
	push_recipe(L, bytes, len, 0, "fork"); /* 3 */
	fork_defaults(L, 3, lua_istable(L, 2) ? 2 : 0, parent->machine);
	if (lua_istable(L, 2))
		merge(L, 3, 2, 0);
	struct lvm_saved_state **box = push_state_box(L); /* 4 */
	lua_toclose(L, 4);
	*box = lvm_machine_save(parent->machine, bytes, len);
	if (!*box)
		return luaL_error(L, "fork: %s", lvm_error());
	return lvm_lua_machine_build(L, 3, *box);
}

static const luaL_Reg snapshot_methods[] = {
	{ "snapshot", machine_snapshot },
	{ "fork", machine_fork },
	{ NULL, NULL },
};

void lvm_lua_register_snapshot(lua_State *L)
{
	lvm_lua_add_methods(L, snapshot_methods);
}
