/*
 * The virtio side of the machine object: vm.disks.NAME:stats() and
 * :on_request(fn), vm.nets.NAME:stats() and :on_packet(fn), vm:dtb()
 * (the device tree blob as bytes) and vm:device_tree() (the same as nested
 * tables: properties and child nodes by name).
 */
#include <ctype.h>
#include <libfdt.h>
#include <string.h>

#include "arch/x86/board.h"
#include "util/error.h"
#include "util/throttle.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "lua/binding.h"

#define LVM_DISK_MT "luavmm.disk"
#define LVM_NET_MT "luavmm.net"

/*
 * A disk or NIC object: user value 1 is its machine, user value 2 its
 * name.  Leaves the machine and the name on the stack (in that order) and
 * returns the device.
 */
static void *check_device(lua_State *L, const char *mt, const char **name)
{
	luaL_checkudata(L, 1, mt);
	lua_getiuservalue(L, 1, 1);
	struct lua_machine *m = lvm_lua_check_machine(L, -1);
	lua_getiuservalue(L, 1, 2);
	*name = lua_tostring(L, -1);
	const struct lvm_pc_virtio *pv = lvm_pc_of(m->vm)->virtio;
	bool disk = strcmp(mt, LVM_DISK_MT) == 0;
	void *dev = disk ? (void *)lvm_pc_find_disk(pv, *name) : (void *)lvm_pc_find_net(pv, *name);
	if (!dev)
		luaL_error(L, "%s %s: no such device", disk ? "disk" : "net", *name);
	return dev;
}

static struct lvm_blk *check_disk(lua_State *L)
{
	const char *name;
	struct lvm_blk *blk = check_device(L, LVM_DISK_MT, &name);
	lua_pop(L, 2);
	return blk;
}

static int disk_on_request(lua_State *L)
{
	lua_settop(L, 2);
	const char *name;
	struct lvm_blk *blk = check_device(L, LVM_DISK_MT, &name);
	lvm_blk_set_filter(blk, lvm_lua_set_policy(L, 3, "disk", name));
	return 0;
}

/* dev:set_rate_limit{bandwidth = {...}, ops = {...}} (nil or {}: no limit). */
static int set_rate_limit(lua_State *L, struct lvm_throttle *t, const char *kind,
			  const char *name)
{
	struct lvm_rate_config rc = { 0 };
	if (!lua_isnoneornil(L, 2)) {
		lua_pushfstring(L, "%s %s: set_rate_limit", kind, name);
		lvm_lua_rate_limit(L, 2, lua_tostring(L, -1), &rc);
	}
	if (lvm_throttle_set(t, rc.has_bandwidth ? &rc.bandwidth : NULL,
			     rc.has_ops ? &rc.ops : NULL) < 0)
		return luaL_error(L, "%s %s: set_rate_limit: %s", kind, name, lvm_error());
	return 0;
}

static int disk_set_rate_limit(lua_State *L)
{
	lua_settop(L, 2);
	const char *name;
	struct lvm_blk *blk = check_device(L, LVM_DISK_MT, &name);
	return set_rate_limit(L, lvm_blk_throttle(blk), "disk", name);
}

static int net_set_rate_limit(lua_State *L)
{
	lua_settop(L, 2);
	const char *name;
	struct lvm_net *net = check_device(L, LVM_NET_MT, &name);
	return set_rate_limit(L, lvm_net_throttle(net), "net", name);
}

static int net_on_packet(lua_State *L)
{
	lua_settop(L, 2);
	const char *name;
	struct lvm_net *net = check_device(L, LVM_NET_MT, &name);
	lvm_net_set_filter(net, lvm_lua_set_policy(L, 3, "net", name));
	return 0;
}

static void set_count(lua_State *L, const char *key, uint64_t value)
{
	lua_pushinteger(L, (lua_Integer)value);
	lua_setfield(L, -2, key);
}

/* disk:stats(): reads, writes, bytes_read, bytes_written, bytes, flushes,
 * discards, errors, throttled (times a request waited for the rate limit). */
static int disk_stats(lua_State *L)
{
	struct lvm_blk *blk = check_disk(L);
	struct lvm_blk_stats s = lvm_blk_stats(blk);
	lua_createtable(L, 0, 9);
	set_count(L, "throttled", __atomic_load_n(&lvm_blk_throttle(blk)->throttled, __ATOMIC_RELAXED));
	set_count(L, "reads", s.reads);
	set_count(L, "writes", s.writes);
	set_count(L, "bytes_read", s.bytes_read);
	set_count(L, "bytes_written", s.bytes_written);
	set_count(L, "bytes", s.bytes_read + s.bytes_written);
	set_count(L, "flushes", s.flushes);
	set_count(L, "discards", s.discards);
	set_count(L, "errors", s.errors);
	return 1;
}

/* net:stats(): rx/tx packets and bytes, rx_dropped (no buffer), dropped (policy). */
static int net_stats(lua_State *L)
{
	const char *name;
	struct lvm_net *net = check_device(L, LVM_NET_MT, &name);
	struct lvm_net_stats s = lvm_net_stats(net);
	lua_createtable(L, 0, 6);
	set_count(L, "rx_packets", s.rx_packets);
	set_count(L, "tx_packets", s.tx_packets);
	set_count(L, "rx_bytes", s.rx_bytes);
	set_count(L, "tx_bytes", s.tx_bytes);
	set_count(L, "rx_dropped", s.rx_dropped);
	set_count(L, "dropped", s.policy_dropped);
	set_count(L, "throttled", __atomic_load_n(&lvm_net_throttle(net)->throttled, __ATOMIC_RELAXED));
	return 1;
}

static int push_devices(lua_State *L, int machine_index, enum lvm_pc_virtio_kind kind)
{
	machine_index = lua_absindex(L, machine_index);
	struct lua_machine *m = lvm_lua_check_machine(L, machine_index);
	const struct lvm_pc_virtio *pv = lvm_pc_of(m->vm)->virtio;
	lua_newtable(L);
	for (unsigned i = 0; pv && i < pv->count; i++) {
		if (pv->slots[i].kind != kind)
			continue;
		const char *name = kind == LVM_PC_BLK ? lvm_blk_name(pv->slots[i].device)
						      : pv->slots[i].name;
		lua_newuserdatauv(L, 0, 2);
		luaL_setmetatable(L, kind == LVM_PC_BLK ? LVM_DISK_MT : LVM_NET_MT);
		lua_pushvalue(L, machine_index);
		lua_setiuservalue(L, -2, 1);
		lua_pushstring(L, name);
		lua_setiuservalue(L, -2, 2);
		lua_setfield(L, -2, name);
	}
	return 1;
}

int lvm_lua_push_disks(lua_State *L, int machine_index)
{
	return push_devices(L, machine_index, LVM_PC_BLK);
}

int lvm_lua_push_nets(lua_State *L, int machine_index)
{
	return push_devices(L, machine_index, LVM_PC_NET);
}

int lvm_lua_machine_dtb(lua_State *L)
{
	struct lua_machine *m = lvm_lua_check_machine(L, 1);
	size_t size;
	const void *blob = lvm_fdt_blob(m->vm, &size);
	if (!blob)
		return 0;
	lua_pushlstring(L, blob, size);
	return 1;
}

/* A NUL-terminated run of printable strings (a string or string list). */
static bool is_strings(const char *v, int len)
{
	if (len <= 0 || v[len - 1] != 0 || v[0] == 0)
		return false;
	for (int i = 0; i < len - 1; i++)
		if (!v[i] ? !v[i + 1] : !isprint((unsigned char)v[i]))
			return false;
	return true;
}

/* Empty -> true, strings -> string, 32-bit cells -> array, else bytes. */
static void push_property(lua_State *L, const char *v, int len)
{
	if (len == 0) {
		lua_pushboolean(L, 1);
	} else if (is_strings(v, len)) {
		lua_pushstring(L, v);
	} else if (len % 4 == 0) {
		lua_createtable(L, len / 4, 0);
		for (int i = 0; i < len / 4; i++) {
			fdt32_t cell;
			memcpy(&cell, v + 4 * i, 4);
			lua_pushinteger(L, fdt32_to_cpu(cell));
			lua_rawseti(L, -2, i + 1);
		}
	} else {
		lua_pushlstring(L, v, (size_t)len);
	}
}

static void push_node(lua_State *L, const void *fdt, int node, int depth)
{
	luaL_checkstack(L, 8, "device tree too deep");
	lua_newtable(L);
	int prop;
	fdt_for_each_property_offset(prop, fdt, node) {
		const char *name;
		int len;
		const char *v = fdt_getprop_by_offset(fdt, prop, &name, &len);
		if (!v)
			continue;
		push_property(L, v, len);
		lua_setfield(L, -2, name);
	}
	int child;
	fdt_for_each_subnode(child, fdt, node) {
		if (depth > 16)
			break;
		push_node(L, fdt, child, depth + 1);
		lua_setfield(L, -2, fdt_get_name(fdt, child, NULL));
	}
}

int lvm_lua_machine_device_tree(lua_State *L)
{
	struct lua_machine *m = lvm_lua_check_machine(L, 1);
	size_t size;
	const void *blob = lvm_fdt_blob(m->vm, &size);
	if (!blob || fdt_check_header(blob) != 0)
		return 0;
	push_node(L, blob, 0, 0);
	return 1;
}

static const luaL_Reg disk_methods[] = {
	{ "stats", disk_stats },
	{ "on_request", disk_on_request },
	{ "set_rate_limit", disk_set_rate_limit },
	{ NULL, NULL },
};

static const luaL_Reg net_methods[] = {
	{ "stats", net_stats },
	{ "on_packet", net_on_packet },
	{ "set_rate_limit", net_set_rate_limit },
	{ NULL, NULL },
};

void lvm_lua_register_virtio(lua_State *L)
{
	luaL_newmetatable(L, LVM_DISK_MT);
	luaL_newlib(L, disk_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	luaL_newmetatable(L, LVM_NET_MT);
	luaL_newlib(L, net_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}
