/*
 * Device policies written in Lua: vm.disks.NAME:on_request(fn) and
 * vm.nets.NAME:on_packet(fn) (core/policy.h).  The device's I/O thread
 * hands each request to the control thread through the hook queue
 * (core/hookq) and waits for the verdict; fn runs like any other hook
 * (protected, instruction-limited, errors reported as hook errors).  With
 * no policy set the device never leaves C.
 *
 * Each device gets one policy object, made on first use and kept until
 * the machine goes (the device may still hold its pointer); setting a new
 * function only swaps the registry reference, which only this thread reads.
 */
#include <stdio.h>
#include <string.h>

#include "devices/request_filter.h"
#include "lua/binding.h"

struct lua_policy {
	struct lvm_filter policy; /* what the device holds */
	struct lvm_hookq *q;
	int fn_ref;               /* LUA_NOREF: none (the device holds NULL then) */
	bool net;
	char what[64];            /* "on_request (disk root)" */
};

static void policy_check(void *opaque, const struct lvm_filter_request *req,
			 struct lvm_filter_result *result)
{
	struct lua_policy *p = opaque;
	struct lvm_hook_call call = { .owner = p, .request = req, .result = result };
	lvm_hookq_call(p->q, &call); /* unanswered (the VM stopped): allow */
}

static const char *const op_names[] = {
	[LVM_FILTER_READ] = "read", [LVM_FILTER_WRITE] = "write", [LVM_FILTER_FLUSH] = "flush",
	[LVM_FILTER_OTHER] = "other", [LVM_FILTER_TX] = "tx", [LVM_FILTER_RX] = "rx",
	[LVM_FILTER_DISCARD] = "discard", [LVM_FILTER_WRITE_ZEROES] = "write_zeroes",
	[LVM_FILTER_GET_ID] = "get_id",
};

static void push_request(lua_State *L, const struct lua_policy *p,
			 const struct lvm_filter_request *req)
{
	lua_createtable(L, 0, 4);
	lua_pushstring(L, op_names[req->op]);
	lua_setfield(L, -2, p->net ? "direction" : "op");
	lua_pushinteger(L, req->length);
	lua_setfield(L, -2, "length");
	if (p->net) {
		lua_pushlstring(L, req->frame, req->length);
		lua_setfield(L, -2, "frame");
	} else {
		lua_pushinteger(L, (lua_Integer)req->sector);
		lua_setfield(L, -2, "sector");
	}
}

/* upvalue 1: the policy's name; args: fn, req.  Calls fn(req) and turns
 * its answer into (verdict, delay_ms), raising on anything else. */
static int disk_verdict(lua_State *L)
{
	lua_settop(L, 2);
	lua_call(L, 1, 1);
	const char *who = lua_tostring(L, lua_upvalueindex(1));
	if (lua_isnil(L, -1)) {
		lua_pushinteger(L, LVM_FILTER_ALLOW);
		lua_pushinteger(L, 0);
		return 2;
	}
	if (lua_type(L, -1) == LUA_TSTRING) {
		const char *s = lua_tostring(L, -1);
		if (strcmp(s, "ioerr") == 0 || strcmp(s, "unsupp") == 0) {
			lua_pushinteger(L, s[0] == 'i' ? LVM_FILTER_IOERR : LVM_FILTER_UNSUPP);
			lua_pushinteger(L, 0);
			return 2;
		}
	} else if (lua_type(L, -1) == LUA_TTABLE) {
		lua_getfield(L, -1, "delay_ms");
		lua_Integer ms = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
		if (ms >= 0 && ms <= 3600000) {
			lua_pushinteger(L, LVM_FILTER_DELAY);
			lua_pushinteger(L, ms);
			return 2;
		}
		return luaL_error(L, "%s returned {delay_ms = %s}: delay_ms must be an integer from 0 to 3600000",
				  who, luaL_tolstring(L, -1, NULL));
	}
	return luaL_error(L, "%s returned %s: expected nothing, \"ioerr\", \"unsupp\" or {delay_ms = n}",
			  who, luaL_tolstring(L, -1, NULL));
}

static int net_verdict(lua_State *L)
{
	lua_settop(L, 2);
	lua_call(L, 1, 1);
	const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	if (lua_isnil(L, -1) || (s && strcmp(s, "pass") == 0))
		lua_pushinteger(L, LVM_FILTER_ALLOW);
	else if (s && strcmp(s, "drop") == 0)
		lua_pushinteger(L, LVM_FILTER_DROP);
	else
		return luaL_error(L, "%s returned %s: expected nothing, \"pass\" or \"drop\"",
				  lua_tostring(L, lua_upvalueindex(1)), luaL_tolstring(L, -1, NULL));
	lua_pushinteger(L, 0);
	return 2;
}

void lvm_lua_serve_call(lua_State *L, struct lua_machine *m, struct lvm_hook_call *call)
{
	struct lua_policy *p = call->owner;
	struct lvm_filter_result *result = call->result;
	if (p->fn_ref != LUA_NOREF && !lvm_vm_stopped(m->vm)) {
		lua_pushstring(L, p->what);
		lua_pushcclosure(L, p->net ? net_verdict : disk_verdict, 1);
		lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref);
		push_request(L, p, call->request);
		if (lvm_lua_call_hook(L, m, 2, 2, p->what)) {
			result->verdict = (enum lvm_filter_verdict)lua_tointeger(L, -2);
			result->delay_ms = (uint32_t)lua_tointeger(L, -1);
			lua_pop(L, 2);
		}
	}
	lvm_hookq_answer_call(&m->vm->hooks, call);
}

/* The device's policy object, made on first use (in the machine's state table). */
static struct lua_policy *device_policy(lua_State *L, int machine_index, const char *kind,
					const char *name)
{
	lvm_lua_push_state(L, machine_index, "policies");
	lua_pushfstring(L, "%s:%s", kind, name);
	if (lua_rawget(L, -2) == LUA_TUSERDATA) {
		struct lua_policy *p = lua_touserdata(L, -1);
		lua_pop(L, 2);
		return p;
	}
	lua_pop(L, 1);
	struct lua_machine *m = lvm_lua_check_machine(L, machine_index);
	struct lua_policy *p = lua_newuserdatauv(L, sizeof(*p), 0);
	memset(p, 0, sizeof(*p));
	p->policy = (struct lvm_filter){ .check = policy_check, .opaque = p };
	p->q = &m->vm->hooks;
	p->fn_ref = LUA_NOREF;
	p->net = strcmp(kind, "net") == 0;
	snprintf(p->what, sizeof(p->what), "%s (%s %s)", p->net ? "on_packet" : "on_request",
		 kind, name);
	lua_pushfstring(L, "%s:%s", kind, name);
	lua_insert(L, -2);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	return p;
}

/* Sets p's function from the value at `fn` (nil clears); returns the pointer
 * the device should hold. */
static const struct lvm_filter *set_function(lua_State *L, struct lua_policy *p, int fn)
{
	if (p->fn_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, p->fn_ref);
	p->fn_ref = LUA_NOREF;
	if (lua_isnil(L, fn))
		return NULL;
	lua_pushvalue(L, fn);
	p->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return &p->policy;
}

/* dev:on_request / dev:on_packet with fn (or nil) at 2: returns what the
 * device should hold (NULL: no policy). */
const struct lvm_filter *lvm_lua_set_policy(lua_State *L, int machine_index, const char *kind,
					    const char *name)
{
	if (!lua_isnil(L, 2))
		luaL_checktype(L, 2, LUA_TFUNCTION);
	return set_function(L, device_policy(L, machine_index, kind, name), 2);
}

/* Drops the policies' function references (the machine is going). */
void lvm_lua_policies_release(lua_State *L, int machine_index)
{
	lvm_lua_push_state(L, machine_index, "policies");
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		struct lua_policy *p = lua_touserdata(L, -1);
		if (p && p->fn_ref != LUA_NOREF) {
			luaL_unref(L, LUA_REGISTRYINDEX, p->fn_ref);
			p->fn_ref = LUA_NOREF;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}
