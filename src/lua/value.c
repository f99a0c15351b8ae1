/*
 * Lua tables as util/value.h trees, for the layers below the bindings.
 * Every block is a userdata kept in an anchor table on the stack, so a
 * Lua error half way leaks nothing; strings are the Lua state's own,
 * alive as long as the converted table is.
 *
 * A binding object that the core knows by an id becomes LVM_VALUE_OTHER
 * with its kind as type_name and the id in `integer`: a luavmm.switch()
 * is type "switch" (nets = { eth0 = { switch = sw } }, read by
 * devices/virtio/net_type.c).  Any other function or userdata keeps only
 * its Lua type name.
 */
#include <string.h>

#include "lua/binding.h"
#include "lua/switch.h"

#define VALUE_DEPTH_MAX 16

static void convert(lua_State *L, int index, int anchor, struct lvm_value *out, int depth);

static void convert_table(lua_State *L, int t, int anchor, struct lvm_value *out, int depth)
{
	if (depth > VALUE_DEPTH_MAX)
		luaL_error(L, "a table nested more than %d deep", VALUE_DEPTH_MAX);
	unsigned n = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		n++;
		lua_pop(L, 1);
	}
	struct lvm_field *fields = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*fields), 0);
	memset(fields, 0, (n ? n : 1) * sizeof(*fields));
	lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
	unsigned i = 0;
	lua_pushnil(L);
	while (lua_next(L, t) && i < n) {
		if (lua_type(L, -2) == LUA_TSTRING)
			fields[i].key = lua_tostring(L, -2);
		else if (lua_isinteger(L, -2))
			fields[i].index = lua_tointeger(L, -2);
		else
			luaL_error(L, "keys must be strings (got a %s key)", luaL_typename(L, -2));
		convert(L, lua_gettop(L), anchor, &fields[i].value, depth + 1);
		i++;
		lua_pop(L, 1);
	}
	out->type = LVM_VALUE_TABLE;
	out->fields = fields;
	out->nfields = i;
}

static void convert(lua_State *L, int index, int anchor, struct lvm_value *out, int depth)
{
	memset(out, 0, sizeof(*out));
	out->type_name = luaL_typename(L, index);
	switch (lua_type(L, index)) {
	case LUA_TNIL: out->type = LVM_VALUE_NIL; break;
	case LUA_TBOOLEAN:
		out->type = LVM_VALUE_BOOLEAN;
		out->boolean = lua_toboolean(L, index);
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, index)) {
			out->type = LVM_VALUE_INTEGER;
			out->integer = lua_tointeger(L, index);
		} else {
			out->type = LVM_VALUE_NUMBER;
			out->number = lua_tonumber(L, index);
		}
		break;
	case LUA_TSTRING:
		out->type = LVM_VALUE_STRING;
		out->str = lua_tolstring(L, index, &out->len);
		break;
	case LUA_TTABLE: convert_table(L, index, anchor, out, depth); break;
	case LUA_TUSERDATA:
		out->type = LVM_VALUE_OTHER;
		if ((out->integer = lvm_lua_switch_id(L, index)) != 0)
			out->type_name = "switch";
		break;
	default: out->type = LVM_VALUE_OTHER; break;
	}
}

struct lvm_value *lvm_lua_to_value(lua_State *L, int index)
{
	index = lua_absindex(L, index);
	lua_newtable(L); /* the anchor, left on the stack */
	int anchor = lua_gettop(L);
	struct lvm_value *root = lua_newuserdatauv(L, sizeof(*root), 0);
	lua_rawseti(L, anchor, 1);
	convert(L, index, anchor, root, 0);
	return root;
}
