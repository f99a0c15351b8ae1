/*
 * vm.console: expect() waits for guest output matching a Lua pattern,
 * send() types into the guest's UART.  The console object keeps its
 * machine alive (user value 1) and fails cleanly once it is closed.
 */
#include <string.h>

#include "machine/machine.h"
#include "lua/binding.h"

static struct lvm_lua_machine *console_machine(lua_State *L)
{
	luaL_checkudata(L, 1, LVM_CONSOLE_MT);
	lua_getiuservalue(L, 1, 1);
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, -1);
	lua_pop(L, 1);
	return m;
}

void lvm_lua_push_console(lua_State *L, int machine_index)
{
	machine_index = lua_absindex(L, machine_index);
	lua_newuserdatauv(L, 0, 1);
	luaL_setmetatable(L, LVM_CONSOLE_MT);
	/* A weak link would be nicer, but a console outliving its machine
	 * simply reports "closed"; the cycle machine <-> console is collected. */
	lua_pushvalue(L, machine_index);
	lua_setiuservalue(L, -2, 1);
}

/*
 * Runs string.find(pending, pattern).  On a match, consumes the output up
 * to the match's end and leaves the captures (or the whole match) on the
 * stack, returning how many; returns -1 when there is no match.
 */
static int try_match(lua_State *L, struct lvm_lua_machine *m, int pattern_index)
{
	int top = lua_gettop(L);
	lua_getglobal(L, "string");
	lua_getfield(L, -1, "find");
	lua_pushlstring(L, m->out.pending, m->out.pending_len);
	lua_pushvalue(L, pattern_index);
	lua_call(L, 2, LUA_MULTRET);
	if (lua_isnil(L, top + 2)) {
		lua_settop(L, top);
		return -1;
	}
	lua_Integer first = lua_tointeger(L, top + 2), last = lua_tointeger(L, top + 3);
	int ncaptures = lua_gettop(L) - (top + 3);
	if (ncaptures == 0)
		lua_pushlstring(L, m->out.pending + first - 1, (size_t)(last - first + 1));
	size_t consumed = (size_t)last;
	memmove(m->out.pending, m->out.pending + consumed, m->out.pending_len - consumed);
	m->out.pending_len -= consumed;
	int nresults = ncaptures ? ncaptures : 1;
	lua_rotate(L, top + 1, nresults); /* results first, then the scratch */
	lua_settop(L, top + nresults);
	return nresults;
}

static int expect_failed(lua_State *L, struct lvm_lua_machine *m, const char *pattern,
			 double timeout)
{
	lvm_lua_push_tail(L, m);
	const char *tail = lua_tostring(L, -1);
	if (lvm_vm_stopped(m->vm))
		return luaL_error(L, "expect: the machine stopped (%s: %s) before '%s' appeared; last output: \"%s\"",
				  lvm_stop_reason_name(m->vm->reason), m->vm->detail, pattern, tail);
	return luaL_error(L, "expect: timed out after %fs waiting for '%s'; last output: \"%s\"",
			  timeout, pattern, tail);
}

/* console:expect(pattern [, timeout_s = 30]) -> captures, or the match. */
static int console_expect(lua_State *L)
{
	struct lvm_lua_machine *m = console_machine(L);
	const char *pattern = luaL_checkstring(L, 2);
	double timeout = luaL_optnumber(L, 3, 30);
	if (timeout < 0)
		return luaL_argerror(L, 3, "timeout must not be negative");
	lvm_lua_check_not_in_hook(L, m, "expect");
	double deadline = lvm_monotonic_seconds() + timeout;
	lua_getiuservalue(L, 1, 1);
	int mi = lua_gettop(L);
	lvm_lua_drain(L, m, mi);
	for (;;) {
		int n = try_match(L, m, 2);
		if (n >= 0)
			return n;
		if (lvm_vm_stopped(m->vm) || lvm_monotonic_seconds() >= deadline ||
		    !m->vm->started)
			break;
		if (!lvm_lua_pump(L, m, mi, deadline, true) && !lvm_vm_stopped(m->vm))
			break;
	}
	lvm_lua_drain(L, m, mi);
	int n = try_match(L, m, 2);
	if (n >= 0)
		return n;
	return expect_failed(L, m, pattern, timeout);
}

/* console:send(s): queues bytes for the guest's UART receiver (and its
 * virtio console, if the machine has one). */
static int console_send(lua_State *L)
{
	struct lvm_lua_machine *m = console_machine(L);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	const char *full = NULL;
	size_t accepted = 0;
	if (lvm_machine_input(m->machine, s, len, &full, &accepted) < 0)
		return luaL_error(L, "send: the guest's %s receive buffer is full (%d of %d bytes queued)",
				  full, (int)accepted, (int)len);
	lua_settop(L, 1);
	return 1;
}

/* console:output(): everything not yet consumed by expect(). */
static int console_output(lua_State *L)
{
	struct lvm_lua_machine *m = console_machine(L);
	lua_getiuservalue(L, 1, 1);
	lvm_lua_drain(L, m, -1);
	lua_pushlstring(L, m->out.pending, m->out.pending_len);
	return 1;
}

/* console:on_line(fn): fn(line) for each complete line of guest output
 * (without its "\n"; lines longer than 1 KiB arrive in pieces).  Runs
 * while the control thread waits (vm:wait, expect, vm:run). */
static int console_on_line(lua_State *L)
{
	console_machine(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_getiuservalue(L, 1, 1);
	lvm_lua_push_state(L, -1, "lines");
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_settop(L, 1);
	return 1;
}

static const luaL_Reg console_methods[] = {
	{ "on_line", console_on_line },
	{ "expect", console_expect },
	{ "send", console_send },
	{ "output", console_output },
	{ NULL, NULL },
};

void lvm_lua_register_console(lua_State *L)
{
	luaL_newmetatable(L, LVM_CONSOLE_MT);
	luaL_newlib(L, console_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
}
