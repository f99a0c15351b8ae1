/*
 * The virtio side of the machine object: vm.disks.NAME:stats(), vm:dtb()
 * (the device tree blob as bytes) and vm:device_tree() (the same as nested
 * tables: properties and child nodes by name).
 */
#include <ctype.h>
#include <libfdt.h>
#include <string.h>

#include "arch/x86/pc.h"
#include "devices/virtio/blk.h"
#include "lua/binding.h"

#define LVM_DISK_MT "luavmm.disk"

/* A disk object: user value 1 is its machine, user value 2 its name. */
static struct lvm_blk *check_disk(lua_State *L)
{
	luaL_checkudata(L, 1, LVM_DISK_MT);
	lua_getiuservalue(L, 1, 1);
	struct lua_machine *m = lvm_lua_check_machine(L, -1);
	lua_getiuservalue(L, 1, 2);
	const char *name = lua_tostring(L, -1);
	struct lvm_blk *blk = lvm_pc_find_disk(lvm_pc_of(m->vm)->virtio, name);
	if (!blk)
		luaL_error(L, "disk %s: no such disk", name);
	lua_pop(L, 2);
	return blk;
}

static void set_count(lua_State *L, const char *key, uint64_t value)
{
	lua_pushinteger(L, (lua_Integer)value);
	lua_setfield(L, -2, key);
}

/* disk:stats(): reads, writes, bytes_read, bytes_written, bytes, flushes, discards, errors. */
static int disk_stats(lua_State *L)
{
	struct lvm_blk_stats s = lvm_blk_stats(check_disk(L));
	lua_createtable(L, 0, 8);
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

int lvm_lua_push_disks(lua_State *L, int machine_index)
{
	machine_index = lua_absindex(L, machine_index);
	struct lua_machine *m = lvm_lua_check_machine(L, machine_index);
	const struct lvm_pc_virtio *pv = lvm_pc_of(m->vm)->virtio;
	lua_newtable(L);
	for (unsigned i = 0; pv && i < pv->count; i++) {
		if (pv->slots[i].kind != LVM_PC_BLK)
			continue;
		const char *name = lvm_blk_name(pv->slots[i].device);
		lua_newuserdatauv(L, 0, 2);
		luaL_setmetatable(L, LVM_DISK_MT);
		lua_pushvalue(L, machine_index);
		lua_setiuservalue(L, -2, 1);
		lua_pushstring(L, name);
		lua_setiuservalue(L, -2, 2);
		lua_setfield(L, -2, name);
	}
	return 1;
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
	{ NULL, NULL },
};

void lvm_lua_register_virtio(lua_State *L)
{
	luaL_newmetatable(L, LVM_DISK_MT);
	luaL_newlib(L, disk_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}
