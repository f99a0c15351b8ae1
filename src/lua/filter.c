/*
 * Device request filters written in Lua: vm.disks.NAME:on_request(fn) and
 * vm.nets.NAME:on_packet(fn) (devices/request_filter.h).  The device's I/O thread
 * hands each request to the control thread through the hook queue
 * (kvm/hookq) and waits for the verdict; fn runs like any other hook
 * (protected, instruction-limited, errors reported as hook errors).  With
 * no filter set the device never leaves C.
 *
 * Each device gets one filter object, made on first use and kept until
 * the machine goes (the device may still hold its pointer); setting a new
 * function only swaps the registry reference, which only this thread reads.
 */
#include <stdio.h>
#include <string.h>

#include "util/request_filter.h"
#include "lua/binding.h"

struct filter_object {
	struct lvm_filter filter; /* what the device holds */
	struct lvm_hookq *q;
	int fn_ref;               /* LUA_NOREF: none (the device holds NULL then) */
	bool net;
	char what[64];            /* "on_request (disk root)" */
};

static void filter_check(void *opaque, const struct lvm_filter_request *req,
			 struct lvm_filter_result *result)
{
	struct filter_object *p = opaque;
	struct lvm_hook_call call = { .owner = p, .request = req, .result = result };
	lvm_hookq_call(p->q, &call); /* unanswered (the VM stopped): allow */
}

static const char *const op_names[] = {
	[LVM_FILTER_READ] = "read", [LVM_FILTER_WRITE] = "write", [LVM_FILTER_FLUSH] = "flush",
	[LVM_FILTER_OTHER] = "other", [LVM_FILTER_TX] = "tx", [LVM_FILTER_RX] = "rx",
	[LVM_FILTER_DISCARD] = "discard", [LVM_FILTER_WRITE_ZEROES] = "write_zeroes",
	[LVM_FILTER_GET_ID] = "get_id",
};

static void push_request(lua_State *L, const struct filter_object *p,
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

void lvm_lua_serve_call(lua_State *L, struct lvm_lua_machine *m, struct lvm_hook_call *call)
{
	struct filter_object *p = call->owner;
	struct lvm_filter_result *result = call->result;
	const struct lvm_filter_request *req = call->request;
	bool vsock = req->op == LVM_FILTER_VSOCK_GUEST || req->op == LVM_FILTER_VSOCK_HOST;
	if (vsock && p->fn_ref != LUA_NOREF && !lvm_vm_stopped(m->vm)) {
		lvm_lua_vsock_decide(L, m, p->fn_ref, req, result); /* lua/vsock.c */
	} else if (p->fn_ref != LUA_NOREF && !lvm_vm_stopped(m->vm)) {
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

/* The device's filter object, made on first use (in the machine's state table). */
static struct filter_object *device_filter(lua_State *L, int machine_index, const char *method,
					   const char *object, const char *name, bool net)
{
	lvm_lua_push_state(L, machine_index, "filters");
	lua_pushfstring(L, "%s:%s", object, name);
	if (lua_rawget(L, -2) == LUA_TUSERDATA) {
		struct filter_object *p = lua_touserdata(L, -1);
		lua_pop(L, 2);
		return p;
	}
	lua_pop(L, 1);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, machine_index);
	struct filter_object *p = lua_newuserdatauv(L, sizeof(*p), 0);
	memset(p, 0, sizeof(*p));
	p->filter = (struct lvm_filter){ .check = filter_check, .opaque = p };
	p->q = &m->vm->hooks;
	p->fn_ref = LUA_NOREF;
	p->net = net;
	snprintf(p->what, sizeof(p->what), "%s (%s %s)", method, object, name);
	lua_pushfstring(L, "%s:%s", object, name);
	lua_insert(L, -2);
	lua_rawset(L, -3);
	lua_pop(L, 1);
	return p;
}

/* Sets p's function from the value at `fn` (nil clears); returns the pointer
 * the device should hold. */
static const struct lvm_filter *set_function(lua_State *L, struct filter_object *p, int fn)
{
	if (p->fn_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, p->fn_ref);
	p->fn_ref = LUA_NOREF;
	if (lua_isnil(L, fn))
		return NULL;
	lua_pushvalue(L, fn);
	p->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return &p->filter;
}

const struct lvm_filter *lvm_lua_set_filter(lua_State *L, int machine_index, int fn_index,
					    const char *method, const char *object,
					    const char *name, bool net)
{
	machine_index = lua_absindex(L, machine_index);
	fn_index = lua_absindex(L, fn_index);
	if (!lua_isnil(L, fn_index))
		luaL_checktype(L, fn_index, LUA_TFUNCTION);
	struct filter_object *p = device_filter(L, machine_index, method, object, name, net);
	return set_function(L, p, fn_index);
}

/* Drops the filters' function references (the machine is going). */
void lvm_lua_filters_release(lua_State *L, int machine_index)
{
	lvm_lua_push_state(L, machine_index, "filters");
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		struct filter_object *p = lua_touserdata(L, -1);
		if (p && p->fn_ref != LUA_NOREF) {
			luaL_unref(L, LUA_REGISTRYINDEX, p->fn_ref);
			p->fn_ref = LUA_NOREF;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}
