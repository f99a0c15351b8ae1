/*
 * vm:dtb() (the machine's device tree blob as bytes) and vm:device_tree()
 * (the same as nested tables: properties and child nodes by name).
 */
#include <ctype.h>
#include <libfdt.h>
#include <string.h>

#include "lua/binding.h"
#include "machine/machine.h"

int lvm_lua_machine_dtb(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	size_t size;
	const void *blob = lvm_machine_dtb(m->machine, &size);
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
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	size_t size;
	const void *blob = lvm_machine_dtb(m->machine, &size);
	if (!blob || fdt_check_header(blob) != 0)
		return 0;
	push_node(L, blob, 0, 0);
	return 1;
}
