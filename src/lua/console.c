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

/* How expect() matches (README, "Console"). */
struct expect_mode {
	bool plain; /* the pattern is plain text, not a Lua pattern */
	bool line;  /* match each complete line on its own (never a partial one) */
};

/*
 * string.find(subject, pattern, 1, plain) on pending[from, from + len):
 * leaves the captures (or the match) on the stack and returns how many, with
 * *end = the match's end in pending; -1 (stack unchanged) without a match.
 */
static int find_in(lua_State *L, const struct lvm_lua_machine *m, int pattern_index,
		   size_t from, size_t len, bool plain, size_t *end)
{
	int top = lua_gettop(L);
	lua_getglobal(L, "string");
	lua_getfield(L, -1, "find");
	lua_pushlstring(L, m->out.pending ? m->out.pending + from : "", len);
	lua_pushvalue(L, pattern_index);
	lua_pushinteger(L, 1);
	lua_pushboolean(L, plain);
	lua_call(L, 4, LUA_MULTRET);
	if (lua_isnil(L, top + 2)) {
		lua_settop(L, top);
		return -1;
	}
	lua_Integer first = lua_tointeger(L, top + 2), last = lua_tointeger(L, top + 3);
	int ncaptures = lua_gettop(L) - (top + 3);
	if (ncaptures == 0)
		lua_pushlstring(L, m->out.pending + from + first - 1, (size_t)(last - first + 1));
	*end = from + (size_t)last;
	int nresults = ncaptures ? ncaptures : 1;
	lua_rotate(L, top + 1, nresults); /* results first, then the scratch */
	lua_settop(L, top + nresults);
	return nresults;
}

/*
 * Looks for the pattern in the output not yet consumed.  On a match,
 * consumes the output up to the match's end (line mode: through the end
 * of the matching line) and leaves the captures (or the whole match) on
 * the stack, returning how many; returns -1 when there is no match.
 */
static int try_match(lua_State *L, struct lvm_lua_machine *m, int pattern_index,
		     struct expect_mode mode)
{
	size_t consumed = 0;
	int n = -1;
	if (!mode.line) {
		n = find_in(L, m, pattern_index, 0, m->out.pending_len, mode.plain, &consumed);
	} else {
		const char *p = m->out.pending;
		for (size_t at = 0; at < m->out.pending_len;) {
			const char *nl = memchr(p + at, '\n', m->out.pending_len - at);
			if (!nl)
				break; /* a partial line is never looked at */
			size_t len = (size_t)(nl - (p + at));
			if (len > 0 && p[at + len - 1] == '\r')
				len--; /* "\r\n" ends a line too */
			size_t ignored;
			n = find_in(L, m, pattern_index, at, len, mode.plain, &ignored);
			at = (size_t)(nl - p) + 1;
			if (n >= 0) {
				consumed = at;
				break;
			}
		}
	}
	if (n < 0)
		return -1;
	memmove(m->out.pending, m->out.pending + consumed, m->out.pending_len - consumed);
	m->out.pending_len -= consumed;
	return n;
}

static int expect_failed(lua_State *L, struct lvm_lua_machine *m, const char *pattern,
			 double timeout, struct expect_mode mode)
{
	lvm_lua_push_tail(L, m);
	const char *tail = lua_tostring(L, -1);
	const char *what = mode.plain ? (mode.line ? "a line containing the text " : "the text ")
				      : (mode.line ? "a line matching " : "");
	if (lvm_vm_stopped(m->vm))
		return luaL_error(L, "expect: the machine stopped (%s: %s) before %s'%s' appeared; last output: \"%s\"",
				  lvm_stop_reason_name(m->vm->reason), m->vm->detail, what, pattern, tail);
	return luaL_error(L, "expect: timed out after %fs waiting for %s'%s'; last output: \"%s\"",
			  timeout, what, pattern, tail);
}

static bool opt_flag(lua_State *L, int opts, const char *key)
{
	lua_getfield(L, opts, key);
	bool on = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return on;
}

/*
 * console:expect(pattern [, timeout_s = 30] [, {plain =, line =}]) ->
 * captures, or the match.  The options may come instead of the timeout,
 * with the timeout as their `timeout` field.
 */
static int console_expect(lua_State *L)
{
	struct lvm_lua_machine *m = console_machine(L);
	const char *pattern = luaL_checkstring(L, 2);
	struct expect_mode mode = { false, false };
	int opts = lua_istable(L, 3) ? 3 : lua_istable(L, 4) ? 4 : 0;
	double timeout = 30;
	if (opts == 3) {
		lua_getfield(L, 3, "timeout");
		timeout = lvm_lua_opt_duration(L, -1, 30);
		lua_pop(L, 1);
	} else {
		timeout = lvm_lua_opt_duration(L, 3, 30);
	}
	if (opts) {
		mode.plain = opt_flag(L, opts, "plain");
		mode.line = opt_flag(L, opts, "line");
	}
	if (timeout < 0)
		return luaL_argerror(L, 3, "timeout must not be negative");
	lua_settop(L, 2);
	lvm_lua_check_not_in_hook(L, m, "expect");
	double deadline = lvm_monotonic_seconds() + timeout;
	lua_getiuservalue(L, 1, 1);
	int mi = lua_gettop(L);
	lvm_lua_drain(L, m, mi);
	for (;;) {
		int n = try_match(L, m, 2, mode);
		if (n >= 0)
			return n;
		if (lvm_vm_stopped(m->vm) || lvm_monotonic_seconds() >= deadline ||
		    !m->vm->started)
			break;
		if (!lvm_lua_pump(L, m, mi, deadline, true) && !lvm_vm_stopped(m->vm))
			break;
	}
	lvm_lua_drain(L, m, mi);
	int n = try_match(L, m, 2, mode);
	if (n >= 0)
		return n;
	return expect_failed(L, m, pattern, timeout, mode);
}

/* console:expect_plain(text [, timeout_s]): expect(text, timeout, {plain = true}). */
static int console_expect_plain(lua_State *L)
{
	luaL_checkstring(L, 2);
	double timeout = lvm_lua_opt_duration(L, 3, 30);
	lua_settop(L, 2);
	lua_pushnumber(L, timeout);
	lua_createtable(L, 0, 1);
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "plain");
	return console_expect(L);
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

/* console:log(): everything the guest printed (the newest 4 MiB), whether
 * or not expect() consumed it; also after the machine is closed.  Second
 * result: how many older bytes the bound dropped. */
static int console_log(lua_State *L)
{
	luaL_checkudata(L, 1, LVM_CONSOLE_MT);
	lua_getiuservalue(L, 1, 1);
	struct lvm_lua_machine *m = luaL_checkudata(L, -1, LVM_MACHINE_MT);
	if (m->vm)
		lvm_lua_drain(L, m, -1);
	lvm_lua_push_log(L, &m->out);
	lua_pushinteger(L, (lua_Integer)m->out.log_dropped);
	return 2;
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
	{ "expect_plain", console_expect_plain },
	{ "log", console_log },
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
