/*
 * Timers: vm:after(ms, fn) and vm:every(ms, fn) return a handle with
 * :cancel().  They fire on the control thread while it waits (vm:wait,
 * console:expect, vm:run): the poll in pump.c sleeps until the earliest
 * due timer, so no timer fd is needed per timer.  A timer's function gets
 * (vm, handle); its errors are hook errors.
 */
#include <stdlib.h>

#include "lua/binding.h"

#define LVM_TIMER_MT "luavmm.timer"

struct lua_timer_handle {
	struct lvm_lua_machine *m; /* valid while user value 1 (the machine) is open */
	unsigned id;
};

static struct lvm_timer *find_timer(struct lvm_lua_machine *m, unsigned id)
{
	for (unsigned i = 0; i < m->ntimers; i++)
		if (m->timers[i].id == id && m->timers[i].fn_ref != LUA_NOREF)
			return &m->timers[i];
	return NULL;
}

static struct lvm_timer *new_slot(lua_State *L, struct lvm_lua_machine *m)
{
	for (unsigned i = 0; i < m->ntimers; i++)
		if (m->timers[i].fn_ref == LUA_NOREF)
			return &m->timers[i];
	if (m->ntimers == m->timers_cap) {
		unsigned cap = m->timers_cap ? m->timers_cap * 2 : 8;
		struct lvm_timer *t = realloc(m->timers, cap * sizeof(*t));
		if (!t)
			luaL_error(L, "timers: out of memory");
		m->timers = t;
		m->timers_cap = cap;
	}
	return &m->timers[m->ntimers++];
}

static int add_timer(lua_State *L, bool repeat)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_Number ms = lvm_lua_timer_ms(L, 2, repeat ? "every" : "after"); /* "50ms", "2s" */
	luaL_checktype(L, 3, LUA_TFUNCTION);
	if (!(ms >= 0) || (repeat && ms < 1))
		return luaL_argerror(L, 2, repeat ? "the period must be at least 1 ms"
						  : "the delay must not be negative");
	struct lvm_timer *t = new_slot(L, m);
	lua_pushvalue(L, 3);
	t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	t->id = ++m->next_timer_id;
	t->interval = repeat ? ms / 1000 : 0;
	t->due = lvm_monotonic_seconds() + ms / 1000;
	struct lua_timer_handle *h = lua_newuserdatauv(L, sizeof(*h), 1);
	h->m = m;
	h->id = t->id;
	luaL_setmetatable(L, LVM_TIMER_MT);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	return 1;
}

static int machine_after(lua_State *L)
{
	return add_timer(L, false);
}

static int machine_every(lua_State *L)
{
	return add_timer(L, true);
}

static void release(lua_State *L, struct lvm_timer *t)
{
	luaL_unref(L, LUA_REGISTRYINDEX, t->fn_ref);
	t->fn_ref = LUA_NOREF;
}

/* handle:cancel() -> true if the timer was still pending. */
static int timer_cancel(lua_State *L)
{
	struct lua_timer_handle *h = luaL_checkudata(L, 1, LVM_TIMER_MT);
	lua_getiuservalue(L, 1, 1);
	struct lvm_lua_machine *m = luaL_testudata(L, -1, LVM_MACHINE_MT);
	struct lvm_timer *t = m && m->vm ? find_timer(m, h->id) : NULL;
	if (t)
		release(L, t);
	lua_pushboolean(L, t != NULL);
	return 1;
}

static int timer_pending(lua_State *L)
{
	struct lua_timer_handle *h = luaL_checkudata(L, 1, LVM_TIMER_MT);
	lua_getiuservalue(L, 1, 1);
	struct lvm_lua_machine *m = luaL_testudata(L, -1, LVM_MACHINE_MT);
	lua_pushboolean(L, m && m->vm && find_timer(m, h->id) != NULL);
	return 1;
}

double lvm_lua_next_timer(const struct lvm_lua_machine *m)
{
	double next = -1;
	for (unsigned i = 0; i < m->ntimers; i++)
		if (m->timers[i].fn_ref != LUA_NOREF && (next < 0 || m->timers[i].due < next))
			next = m->timers[i].due;
	return next;
}

/* Runs every timer that is due, each at most once per call. */
void lvm_lua_run_timers(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	machine_index = lua_absindex(L, machine_index);
	double now = lvm_monotonic_seconds();
	unsigned n = m->ntimers; /* timers added by a timer wait for the next round */
	for (unsigned i = 0; i < n && m->vm && !lvm_vm_stopped(m->vm); i++) {
		struct lvm_timer *t = &m->timers[i];
		if (t->fn_ref == LUA_NOREF || t->due > now)
			continue;
		unsigned id = t->id;
		lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
		if (t->interval > 0) {
			while (t->due <= now) /* no burst after a long hook: skip missed periods */
				t->due += t->interval;
		} else {
			release(L, t);
		}
		lua_pushvalue(L, machine_index);
		struct lua_timer_handle *h = lua_newuserdatauv(L, sizeof(*h), 1);
		h->m = m;
		h->id = id;
		luaL_setmetatable(L, LVM_TIMER_MT);
		lua_pushvalue(L, machine_index);
		lua_setiuservalue(L, -2, 1);
		lvm_lua_call_hook(L, m, 2, 0, "timer");
	}
}

void lvm_lua_timers_free(lua_State *L, struct lvm_lua_machine *m)
{
	for (unsigned i = 0; i < m->ntimers; i++)
		if (m->timers[i].fn_ref != LUA_NOREF)
			release(L, &m->timers[i]);
	free(m->timers);
	m->timers = NULL;
	m->ntimers = m->timers_cap = 0;
}

static const luaL_Reg timer_methods[] = {
	{ "cancel", timer_cancel },
	{ "pending", timer_pending },
	{ NULL, NULL },
};

static const luaL_Reg machine_timer_methods[] = {
	{ "after", machine_after },
	{ "every", machine_every },
	{ NULL, NULL },
};

void lvm_lua_register_timers(lua_State *L)
{
	luaL_newmetatable(L, LVM_TIMER_MT);
	luaL_newlib(L, timer_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lvm_lua_add_methods(L, machine_timer_methods);
}
