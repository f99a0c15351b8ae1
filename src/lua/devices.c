/*
 * The recipe's devices as Lua objects: vm.disks.NAME, vm.nets.NAME (and
 * the same for any named kind in the machine's device table), and for an
 * unnamed kind the one object vm.KEY (vm.rng, vm.balloon) when the recipe
 * asked for it.  Every object has :stats(); a kind that takes a request
 * filter has its filter method (disk:on_request(fn), net:on_packet(fn)); a
 * kind with a rate limit has :set_rate_limit{bandwidth = {...}, ops =
 * {...}} (nil or {}: no limit); a kind with control methods
 * (devices/device.h `methods`) has those (balloon:set(mib)), their
 * arguments handed over as a util/value.h list and their integer results
 * returned.  An object holds its machine, its kind and its name, and
 * looks its device up on each call, so it fails cleanly once the machine
 * is closed.
 */
#include <string.h>

#include "util/request_filter.h"
#include "lua/binding.h"
#include "machine/devices.h"
#include "machine/machine.h"
#include "util/error.h"
#include "util/rate_config.h"
#include "util/throttle.h"

#define LVM_DEVICE_MT "luavmm.device"

/* User values of a device object. */
enum { UV_MACHINE = 1, UV_KEY, UV_NAME, UV_COUNT = UV_NAME };

struct device_ref {
	struct lvm_lua_machine *m;
	const struct lvm_machine_device *d;
	const char *name;
};

/* The device behind the object at 1 [-0, +0, e]. */
static struct device_ref check_device(lua_State *L)
{
	luaL_checkudata(L, 1, LVM_DEVICE_MT);
	lua_getiuservalue(L, 1, UV_MACHINE);
	struct device_ref r = { .m = lvm_lua_check_machine(L, -1) };
	lua_getiuservalue(L, 1, UV_KEY);
	lua_getiuservalue(L, 1, UV_NAME);
	const char *key = lua_tostring(L, -2);
	r.name = lua_tostring(L, -1); /* the user value keeps it alive */
	r.d = lvm_machine_find(r.m->machine, key, r.name);
	lua_pop(L, 3);
	if (!r.d)
		luaL_error(L, "%s %s: no such device", key, r.name);
	return r;
}

static int device_stats(lua_State *L)
{
	struct device_ref r = check_device(L);
	struct lvm_device_stat stats[LVM_DEVICE_STATS_MAX];
	unsigned n = r.d->type->stats ? r.d->type->stats(r.d->dev, stats) : 0;
	lua_createtable(L, 0, (int)n);
	for (unsigned i = 0; i < n; i++) {
		lua_pushinteger(L, (lua_Integer)stats[i].value);
		lua_setfield(L, -2, stats[i].name);
	}
	return 1;
}

/* dev:on_request(fn) / dev:on_packet(fn): fn or nil at 2. */
static int device_set_filter(lua_State *L)
{
	lua_settop(L, 2);
	struct device_ref r = check_device(L);
	const struct lvm_device_type *type = r.d->type;
	lua_getiuservalue(L, 1, UV_MACHINE);
	const struct lvm_filter *f = lvm_lua_set_filter(L, -1, 2, type->filter_method, type->object,
							r.name, type->filter_frames);
	type->set_filter(r.d->dev, f);
	return 0;
}

static int device_set_rate_limit(lua_State *L)
{
	lua_settop(L, 2);
	struct device_ref r = check_device(L);
	struct lvm_rate_config rc = { 0 };
	lua_pushfstring(L, "%s %s: set_rate_limit", r.d->type->object, r.name);
	const char *where = lua_tostring(L, -1);
	if (!lua_isnil(L, 2)) {
		const struct lvm_value *v = lvm_lua_to_value(L, 2);
		if (lvm_rate_config_parse(v, where, &rc) < 0)
			return luaL_error(L, "%s", lvm_error());
	}
	if (lvm_throttle_configure(r.d->type->throttle(r.d->dev), &rc) < 0)
		return luaL_error(L, "%s: %s", where, lvm_error());
	return 0;
}

/* A control method: its entry is upvalue 1; self at 1, arguments after it. */
static int device_call(lua_State *L)
{
	const struct lvm_device_method *method = lua_touserdata(L, lua_upvalueindex(1));
	struct device_ref r = check_device(L);
	int nargs = lua_gettop(L) - 1;
	lua_createtable(L, nargs, 0);
	for (int i = 1; i <= nargs; i++) {
		lua_pushvalue(L, 1 + i);
		lua_rawseti(L, -2, i);
	}
	const struct lvm_value *args = lvm_lua_to_value(L, -1);
	int64_t out[LVM_DEVICE_RESULTS_MAX];
	int n = method->call(r.d->dev, args, out);
	if (n < 0)
		return luaL_error(L, "%s:%s: %s", r.d->type->key, method->name, lvm_error());
	for (int i = 0; i < n; i++)
		lua_pushinteger(L, (lua_Integer)out[i]);
	return n;
}

static const struct lvm_device_method *find_method(const struct lvm_device_type *type,
						   const char *name)
{
	for (const struct lvm_device_method *m = type->methods; m && m->name; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* obj.method: stats always; the control methods, the filter method and set_rate_limit as the kind offers. */
static int device_index(lua_State *L)
{
	struct device_ref r = check_device(L);
	const char *method = luaL_checkstring(L, 2);
	const struct lvm_device_type *type = r.d->type;
	if (strcmp(method, "stats") == 0)
		lua_pushcfunction(L, device_stats);
	else if (type->filter_method && strcmp(method, type->filter_method) == 0)
		lua_pushcfunction(L, device_set_filter);
	else if (type->throttle && strcmp(method, "set_rate_limit") == 0)
		lua_pushcfunction(L, device_set_rate_limit);
	else if (strcmp(type->key, "vsock") == 0 && lvm_lua_vsock_method(L, method))
		; /* lua/vsock.c: connect, listen, on_connect */
	else if (find_method(type, method)) {
		lua_pushlightuserdata(L, (void *)find_method(type, method));
		lua_pushcclosure(L, device_call, 1);
	} else
		lua_pushnil(L);
	return 1;
}

static int device_tostring(lua_State *L)
{
	luaL_checkudata(L, 1, LVM_DEVICE_MT);
	lua_getiuservalue(L, 1, UV_KEY);
	lua_getiuservalue(L, 1, UV_NAME);
	const char *key = lua_tostring(L, -2), *name = lua_tostring(L, -1);
	if (strcmp(key, name) == 0) /* an unnamed kind: vm.balloon */
		lua_pushfstring(L, "luavmm.device %s", key);
	else
		lua_pushfstring(L, "luavmm.device %s.%s", key, name);
	return 1;
}

static void push_device(lua_State *L, int machine_index, const char *key, const char *name)
{
	lua_newuserdatauv(L, 0, UV_COUNT);
	luaL_setmetatable(L, LVM_DEVICE_MT);
	lua_pushvalue(L, machine_index);
	lua_setiuservalue(L, -2, UV_MACHINE);
	lua_pushstring(L, key);
	lua_setiuservalue(L, -2, UV_KEY);
	lua_pushstring(L, name);
	lua_setiuservalue(L, -2, UV_NAME);
}

int lvm_lua_push_devices(lua_State *L, int machine_index, const char *key)
{
	const struct lvm_device_type *type = lvm_device_type_find(key);
	if (!type)
		return 0;
	machine_index = lua_absindex(L, machine_index);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, machine_index);
	if (!type->named) {
		/* vm.rng, vm.balloon: the one object, or nothing if the recipe has none. */
		if (!m->machine || !lvm_machine_find(m->machine, key, key))
			return 0;
		push_device(L, machine_index, key, key);
		return 1;
	}
	lua_newtable(L);
	for (unsigned i = 0; i < lvm_machine_device_count(m->machine); i++) {
		const struct lvm_machine_device *d = lvm_machine_device(m->machine, i);
		if (d->type != type)
			continue;
		push_device(L, machine_index, key, d->name);
		lua_setfield(L, -2, d->name);
	}
	return 1;
}

void lvm_lua_register_devices(lua_State *L)
{
	static const luaL_Reg meta[] = {
		{ "__index", device_index },
		{ "__tostring", device_tostring },
		{ NULL, NULL },
	};
	luaL_newmetatable(L, LVM_DEVICE_MT);
	luaL_setfuncs(L, meta, 0);
	lua_pop(L, 1);
}
