/*
 * A recipe table as bytes, so a snapshot can rebuild the same machine in
 * another process and a fork can rebuild it in this one.  Only data is
 * kept (strings, numbers, booleans, tables of them); a function (a console
 * callback) is left out and must come back as an override.
 *
 * Each value is a tag byte and its payload, integers little-endian:
 *   'n' integer (8)  'f' float (8)  't' true  'F' false  's' u32 length, bytes
 *   'T' u32 count, then count (key, value) pairs
 * The decoder reads hostile bytes: bounds, depth and counts are checked.
 */
#include <stdlib.h>
#include <string.h>

#include "lua/binding.h"

#define RECIPE_DEPTH_MAX 16
#define RECIPE_ITEMS_MAX 100000

static bool is_data(int type)
{
	return type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TBOOLEAN ||
	       type == LUA_TTABLE;
}

/* The bytes being encoded, in a userdata so that an error half-way (a
 * table nested too deep) frees them with the garbage.  luaL_Buffer does
 * not fit: the table walk pushes keys and values between additions. */
struct box {
	lua_State *L;
	char *p;
	size_t len, cap;
};

static int box_gc(lua_State *L)
{
	struct box *b = lua_touserdata(L, 1);
	free(b->p);
	b->p = NULL;
	return 0;
}

static void add(struct box *b, const void *bytes, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			luaL_error(b->L, "recipe: out of memory");
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, bytes, n);
	b->len += n;
}

static void add_byte(struct box *b, char c)
{
	add(b, &c, 1);
}

static void put_u32(struct box *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		add_byte(b, (char)(v >> (8 * i)));
}

static void put_u64(struct box *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		add_byte(b, (char)(v >> (8 * i)));
}

/* The value at `index` (absolute); the buffer sits above it on the stack,
 * so every push here is popped before the next luaL_add*. */
static void encode_value(lua_State *L, struct box *b, int index, int depth);

static void encode_table(lua_State *L, struct box *b, int t, int depth)
{
	if (depth > RECIPE_DEPTH_MAX)
		luaL_error(L, "recipe: tables nested deeper than %d", RECIPE_DEPTH_MAX);
	uint32_t count = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		count += is_data(lua_type(L, -2)) && is_data(lua_type(L, -1));
		lua_pop(L, 1);
	}
	add_byte(b, 'T');
	put_u32(b, count);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (is_data(lua_type(L, -2)) && is_data(lua_type(L, -1))) {
			encode_value(L, b, lua_absindex(L, -2), depth + 1);
			encode_value(L, b, lua_absindex(L, -1), depth + 1);
		}
		lua_pop(L, 1);
	}
}

static void encode_value(lua_State *L, struct box *b, int index, int depth)
{
	switch (lua_type(L, index)) {
	case LUA_TNUMBER:
		if (lua_isinteger(L, index)) {
			add_byte(b, 'n');
			put_u64(b, (uint64_t)lua_tointeger(L, index));
		} else {
			lua_Number f = lua_tonumber(L, index);
			uint64_t bits;
			memcpy(&bits, &f, sizeof(bits));
			add_byte(b, 'f');
			put_u64(b, bits);
		}
		break;
	case LUA_TBOOLEAN:
		add_byte(b, lua_toboolean(L, index) ? 't' : 'F');
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, index, &len);
		add_byte(b, 's');
		put_u32(b, (uint32_t)len);
		add(b, s, len);
		break;
	}
	default:
		encode_table(L, b, index, depth);
		break;
	}
}

void lvm_lua_recipe_encode(lua_State *L, int index)
{
	index = lua_absindex(L, index);
	luaL_checktype(L, index, LUA_TTABLE);
	struct box *b = lua_newuserdatauv(L, sizeof(*b), 0);
	*b = (struct box){ L, NULL, 0, 0 };
	lua_newtable(L);
	lua_pushcfunction(L, box_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	encode_table(L, b, index, 0);
	lua_pushlstring(L, b->p, b->len);
	lua_remove(L, -2); /* the box: collected later */
}

/* --- decoding ------------------------------------------------------------------ */

struct reader {
	const uint8_t *p;
	size_t len, pos;
	unsigned items;
};

static bool take(struct reader *r, size_t n, const uint8_t **out)
{
	if (r->len - r->pos < n)
		return false;
	*out = r->p + r->pos;
	r->pos += n;
	return true;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Pushes the next value; false (nothing pushed) if the bytes are bad. */
static bool decode_value(lua_State *L, struct reader *r, int depth)
{
	const uint8_t *p;
	if (depth > RECIPE_DEPTH_MAX || ++r->items > RECIPE_ITEMS_MAX || !take(r, 1, &p))
		return false;
	switch (*p) {
	case 'n':
		if (!take(r, 8, &p))
			return false;
		lua_pushinteger(L, (lua_Integer)le(p, 8));
		return true;
	case 'f': {
		if (!take(r, 8, &p))
			return false;
		uint64_t bits = le(p, 8);
		lua_Number f;
		memcpy(&f, &bits, sizeof(f));
		lua_pushnumber(L, f);
		return true;
	}
	case 't':
	case 'F':
		lua_pushboolean(L, *p == 't');
		return true;
	case 's': {
		if (!take(r, 4, &p))
			return false;
		size_t n = (size_t)le(p, 4);
		if (!take(r, n, &p))
			return false;
		lua_pushlstring(L, (const char *)p, n);
		return true;
	}
	case 'T': {
		if (!take(r, 4, &p))
			return false;
		uint32_t count = (uint32_t)le(p, 4);
		if (count > r->len - r->pos) /* each pair takes at least 2 bytes */
			return false;
		luaL_checkstack(L, 4, "recipe");
		lua_createtable(L, 0, (int)count);
		for (uint32_t i = 0; i < count; i++) {
			if (!decode_value(L, r, depth + 1))
				return lua_pop(L, 1), false;
			if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1) == 0 &&
			    lua_tonumber(L, -1) != lua_tonumber(L, -1))
				return lua_pop(L, 2), false; /* a NaN key */
			if (!decode_value(L, r, depth + 1))
				return lua_pop(L, 2), false;
			lua_rawset(L, -3);
		}
		return true;
	}
	default:
		return false;
	}
}

bool lvm_lua_recipe_decode(lua_State *L, const void *bytes, size_t len)
{
	struct reader r = { bytes, len, 0, 0 };
	if (len == 0 || ((const uint8_t *)bytes)[0] != 'T')
		return false;
	if (!decode_value(L, &r, 0))
		return false;
	if (r.pos != len) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}
