/*
 * Lua hooks: vm:on_pio / vm:on_mmio (unclaimed ranges served by Lua),
 * vm:on(event, fn) (lifecycle, ACPI S3's "suspend" and "wake") and
 * vm.console:on_line(fn).
 *
 * Hooks run on the control thread only, one at a time, and only while it
 * is inside vm:wait(), console:expect() or vm:run(): a vCPU reading a
 * Lua-served range waits until then.  Every call is a lua_pcall with a
 * traceback handler and a budget (limits.c: `hook_limit` instructions and
 * `hook_timeout` seconds, coroutines included); an
 * error stops the machine with reason "hook_error" unless the recipe set
 * on_hook_error = "continue".  Exits no hook watches never come here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "kvm/vcpu.h"
#include "lua/binding.h"

#define LVM_HOOK_MT "luavmm.hook"
#define DEFAULT_HOOK_LIMIT 100000000 /* Lua VM instructions per hook call */
#define DEFAULT_HOOK_TIMEOUT 10.0     /* seconds per hook call, time in C included */

struct hook_handle {
	struct lvm_hook *hook; /* NULL once removed */
	struct lvm_vm *vm;
};

void lvm_lua_hooks_init(struct lvm_lua_machine *m)
{
	m->hook_limit = DEFAULT_HOOK_LIMIT;
	m->hook_timeout = DEFAULT_HOOK_TIMEOUT;
	m->hook_error_ref = LUA_NOREF;
}

void lvm_lua_push_state(lua_State *L, int machine_index, const char *key)
{
	machine_index = lua_absindex(L, machine_index);
	if (lua_getiuservalue(L, machine_index, LVM_MACHINE_STATE) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, machine_index, LVM_MACHINE_STATE);
	}
	if (lua_getfield(L, -1, key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, key);
	}
	lua_remove(L, -2);
}

/*
 * How deep the control thread is in hooks and waits, across every machine
 * of the Lua state: a hook of machine B that waited on A would serve B's
 * queue again out of order, and one that closed A would free it under the
 * wait still running on it.
 */
_Thread_local int lvm_lua_hook_depth;
_Thread_local int lvm_lua_pump_depth;

void lvm_lua_check_not_in_hook(lua_State *L, struct lvm_lua_machine *m, const char *what)
{
	if (m->in_hook || lvm_lua_hook_depth > 0)
		luaL_error(L, "%s: cannot wait inside a hook (hooks must return promptly; use vm:after for later work)",
			   what);
}

/* Upvalue 1: whether to add a traceback.  Past the first few errors of a
 * machine (on_hook_error = "continue") only the message is kept: walking a
 * deep stack for each of thousands of errors would stall the waits. */
static int traceback_handler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	if (lua_toboolean(L, lua_upvalueindex(1)))
		luaL_traceback(L, L, msg, 1);
	else
		lua_pushstring(L, msg);
	return 1;
}

/* The first line of the error message, for the stop detail. */
static void report_hook_error(lua_State *L, struct lvm_lua_machine *m, const char *what)
{
	const char *msg = lua_tostring(L, -1);
	/* With on_hook_error = "continue" a hook may fail on every access: the
	 * first few are printed in full, then one line at each power of two, so
	 * stderr cannot become the bottleneck that stalls every wait. */
	uint64_t n = ++m->hook_errors;
	if (n <= LVM_HOOK_ERRORS_SHOWN)
		fprintf(stderr, "luavmm: error in %s hook: %s\n", what, msg ? msg : "?");
	else if ((n & (n - 1)) == 0)
		fprintf(stderr, "luavmm: %llu hook errors so far (the latest in %s: %.*s)\n",
			(unsigned long long)n, what, (int)strcspn(msg ? msg : "", "\n"), msg ? msg : "");
	fflush(stderr);
	lua_pushvalue(L, -1);
	if (m->hook_error_ref != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, m->hook_error_ref);
	m->hook_error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (m->continue_on_error)
		return;
	size_t len = strcspn(msg ? msg : "", "\n");
	lvm_vm_stop(m->vm, LVM_STOP_HOOK_ERROR, 1, "%s hook: %.*s", what, (int)len, msg ? msg : "");
}

int lvm_lua_pcall_limited(lua_State *L, struct lvm_lua_machine *m, int nargs, int nresults)
{
	int fn = lua_gettop(L) - nargs;
	lua_pushboolean(L, m->hook_errors < LVM_HOOK_ERRORS_SHOWN);
	lua_pushcclosure(L, traceback_handler, 1);
	lua_insert(L, fn);
	lua_Hook old_hook = lua_gethook(L);
	int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);
	struct lvm_lua_budget budget;
	bool began = lvm_lua_budget_begin(L, &budget, m->hook_limit, m->hook_timeout);
	budget.base = fn; /* the handler stays below the results */
	bool was_in_hook = m->in_hook;
	m->in_hook = true;
	lvm_lua_hook_depth++;
	int status = lua_pcall(L, nargs, nresults, fn);
	lvm_lua_hook_depth--;
	m->in_hook = was_in_hook;
	status = lvm_lua_budget_end(L, &budget, began, status);
	lua_sethook(L, old_hook, old_mask, old_count);
	lua_remove(L, fn);
	return status;
}

bool lvm_lua_call_hook(lua_State *L, struct lvm_lua_machine *m, int nargs, int nresults,
		       const char *what)
{
	if (lvm_lua_pcall_limited(L, m, nargs, nresults) == LUA_OK)
		return true;
	report_hook_error(L, m, what);
	lua_pop(L, 1);
	return false;
}

/* ---- on_pio / on_mmio ------------------------------------------------ */

static void push_io(lua_State *L, const struct lvm_hook_req *req)
{
	lua_createtable(L, 0, 6);
	lua_pushboolean(L, req->is_write);
	lua_setfield(L, -2, "write");
	lua_pushstring(L, req->is_write ? "write" : "read");
	lua_setfield(L, -2, "op");
	lua_pushinteger(L, (lua_Integer)(req->hook->base + req->offset));
	lua_setfield(L, -2, req->hook->space == LVM_HOOK_PIO ? "port" : "addr");
	lua_pushinteger(L, (lua_Integer)req->offset);
	lua_setfield(L, -2, "offset");
	lua_pushinteger(L, req->size);
	lua_setfield(L, -2, "size");
	if (req->cpu >= 0) {
		lua_pushinteger(L, req->cpu);
		lua_setfield(L, -2, "cpu");
	}
	if (req->is_write) {
		uint64_t v = 0;
		memcpy(&v, req->data, req->size);
		lua_pushinteger(L, (lua_Integer)v);
		lua_setfield(L, -2, "value");
	}
}

/*
 * Runs fn(io) for one access, inside the hook's protection: upvalue 1 is
 * the request, 2 the machine, 3 the answer buffer.  fn returns the value
 * a read sees and, optionally, a table of registers to set on the vCPU
 * that made the access (it waits: a read, or a write to a sync hook).
 */
static int run_io_hook(lua_State *L)
{
	const struct lvm_hook_req *req = lua_touserdata(L, lua_upvalueindex(1));
	struct lvm_lua_machine *m = lua_touserdata(L, lua_upvalueindex(2));
	uint8_t *answer = lua_touserdata(L, lua_upvalueindex(3));
	const char *what = req->hook->space == LVM_HOOK_PIO ? "on_pio" : "on_mmio";
	lua_settop(L, 2);
	lua_call(L, 1, 2);
	if (!req->is_write && lua_isinteger(L, 1)) {
		uint64_t v = (uint64_t)lua_tointeger(L, 1);
		memcpy(answer, &v, req->size);
	}
	if (lua_isnil(L, 2))
		return 0;
	if (!lua_istable(L, 2))
		return luaL_error(L, "%s returned %s as registers: expected a table like {rbx = 1}",
				  what, luaL_typename(L, 2));
	if (!req->wait || req->cpu < 0)
		return luaL_error(L, "%s: registers can be set only by a read or a write to a hook made with {sync = true}",
				  what);
	struct lvm_regs_patch patch = { 0 };
	lua_pushnil(L);
	while (lua_next(L, 2)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int i = key ? lvm_reg_index(key) : -1;
		if (i < 0)
			return luaL_error(L, "%s: unknown register '%s'", what,
					  key ? key : luaL_typename(L, -2));
		if (!lua_isinteger(L, -1))
			return luaL_error(L, "%s: register values must be integers", what);
		patch.mask |= 1u << i;
		patch.value[i] = (uint64_t)lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
	/* The vCPU waits for this answer: it applies the patch once the access
	 * has completed (kvm/vcpu.c), so `rax` here wins over a read's value. */
	m->vm->vcpus[req->cpu].patch = patch;
	return 0;
}

static void serve_one(lua_State *L, struct lvm_lua_machine *m, struct lvm_hook_req *req)
{
	uint8_t answer[8];
	memset(answer, 0xff, sizeof(answer));
	if (!__atomic_load_n(&req->hook->dead, __ATOMIC_ACQUIRE) && !lvm_vm_stopped(m->vm)) {
		lua_pushlightuserdata(L, req);
		lua_pushlightuserdata(L, m);
		lua_pushlightuserdata(L, answer);
		lua_pushcclosure(L, run_io_hook, 3);
		lua_rawgeti(L, LUA_REGISTRYINDEX, req->hook->id);
		push_io(L, req);
		lvm_lua_call_hook(L, m, 2, 0, req->hook->space == LVM_HOOK_PIO ? "on_pio" : "on_mmio");
	}
	lvm_hookq_answer(&m->vm->hooks, req, answer);
}

static void fire_sleep_events(lua_State *L, struct lvm_lua_machine *m, int machine_index);

void lvm_lua_serve_hooks(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	struct lvm_hook_req reqs[64];
	unsigned n;
	while ((n = lvm_hookq_take(&m->vm->hooks, reqs, 64)) > 0)
		for (unsigned i = 0; i < n; i++) {
			if (reqs[i].call)
				lvm_lua_serve_call(L, m, reqs[i].call); /* policy.c */
			else
				serve_one(L, m, &reqs[i]);
		}
	/* A suspend or a wake writes the same eventfd (kvm/vm_pause.c). */
	if (m->vm)
		fire_sleep_events(L, m, machine_index);
}

static int add_hook(lua_State *L, enum lvm_hook_space space, const char *what)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_Integer base = luaL_checkinteger(L, 2);
	lua_Integer len = luaL_checkinteger(L, 3);
	luaL_checktype(L, 4, LUA_TFUNCTION);
	bool sync = false;
	if (!lua_isnoneornil(L, 5)) {
		luaL_checktype(L, 5, LUA_TTABLE);
		lua_getfield(L, 5, "sync");
		sync = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_Integer limit = space == LVM_HOOK_PIO ? 0x10000 : (lua_Integer)1 << 52;
	if (base < 0 || len < 1 || base >= limit || len > limit - base) {
		char range[64];
		snprintf(range, sizeof(range), "0x%" PRIx64 "+%" PRId64, (uint64_t)base, (int64_t)len);
		return luaL_error(L, "%s: range %s is out of bounds", what, range);
	}
	struct lvm_bus *bus = space == LVM_HOOK_PIO ? &m->vm->pio : &m->vm->mmio;
	struct hook_handle *h = lua_newuserdatauv(L, sizeof(*h), 1);
	h->hook = NULL;
	h->vm = m->vm;
	luaL_setmetatable(L, LVM_HOOK_MT);
	lua_pushvalue(L, 1); /* the handle keeps its machine alive */
	lua_setiuservalue(L, -2, 1);
	lua_pushvalue(L, 4);
	int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	h->hook = lvm_hookq_add(&m->vm->hooks, bus, space, (uint64_t)base, (uint64_t)len, ref,
				sync);
	if (!h->hook) {
		luaL_unref(L, LUA_REGISTRYINDEX, ref);
		return luaL_error(L, "%s: %s", what, lvm_error());
	}
	return 1;
}

/* vm:on_pio(port, count, fn(io) [, {sync = true}]) -> handle (handle:remove()). */
static int machine_on_pio(lua_State *L)
{
	return add_hook(L, LVM_HOOK_PIO, "on_pio");
}

/* vm:on_mmio(addr, size, fn(io)) -> handle. */
static int machine_on_mmio(lua_State *L)
{
	return add_hook(L, LVM_HOOK_MMIO, "on_mmio");
}

static int hook_remove(lua_State *L)
{
	struct hook_handle *h = luaL_checkudata(L, 1, LVM_HOOK_MT);
	lua_getiuservalue(L, 1, 1);
	struct lvm_lua_machine *m = luaL_testudata(L, -1, LVM_MACHINE_MT);
	if (h->hook && m && m->vm == h->vm) {
		lvm_hookq_remove(&m->vm->hooks, h->hook);
		luaL_unref(L, LUA_REGISTRYINDEX, h->hook->id);
		h->hook->id = LUA_NOREF;
	}
	h->hook = NULL;
	return 0;
}

/* handle:accesses(); 0 once the hook or its machine is gone (the hook
 * records are freed with the machine). */
static int hook_accesses(lua_State *L)
{
	struct hook_handle *h = luaL_checkudata(L, 1, LVM_HOOK_MT);
	lua_getiuservalue(L, 1, 1);
	struct lvm_lua_machine *m = luaL_testudata(L, -1, LVM_MACHINE_MT);
	bool alive = h->hook && m && m->vm && m->vm == h->vm;
	lua_pushinteger(L, alive ? (lua_Integer)__atomic_load_n(&h->hook->accesses,
								  __ATOMIC_RELAXED) : 0);
	return 1;
}

/* ---- lifecycle events and console lines ------------------------------ */

static const char *const events[] = { "start", "exit", "reset", "shutdown", "pause",
				      "resume", "error", "hook_error", "killed", "poweroff",
				      "restart", "suspend", "wake", NULL };

/* vm:on(event, fn): fn(vm, ...) runs when the event happens (in order of registration). */
static int machine_on(lua_State *L)
{
	lvm_lua_check_machine(L, 1);
	const char *event = events[luaL_checkoption(L, 2, NULL, events)];
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lvm_lua_push_state(L, 1, "events");
	if (lua_getfield(L, -1, event) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, event);
	}
	lua_pushvalue(L, 3);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_settop(L, 1);
	return 1;
}

/* Runs the functions registered for `event` with the machine and the
 * `nargs` values on the top of the stack (popped). */
static void deliver(lua_State *L, struct lvm_lua_machine *m, int machine_index, const char *event,
		    int nargs)
{
	machine_index = lua_absindex(L, machine_index);
	int args = lua_gettop(L) - nargs + 1;
	lvm_lua_push_state(L, machine_index, "events");
	if (lua_getfield(L, -1, event) == LUA_TTABLE) {
		char what[32];
		snprintf(what, sizeof(what), "on(\"%s\")", event);
		for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TFUNCTION; i++) {
			lua_pushvalue(L, machine_index);
			for (int a = 0; a < nargs; a++)
				lua_pushvalue(L, args + a);
			lvm_lua_call_hook(L, m, nargs + 1, 0, what);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
	lua_pop(L, nargs);
}

static uint64_t seen(lua_State *L, const char *key)
{
	lua_getfield(L, -1, key);
	uint64_t v = (uint64_t)lua_tointeger(L, -1);
	lua_pop(L, 1);
	return v;
}

static void set_seen(lua_State *L, const char *key, uint64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, key);
}

/*
 * "suspend" (fn(vm)) and "wake" (fn(vm, reason): "rtc", "power_button" or
 * "host"): the VM counts its sleeps and wakes (kvm/vm.h); each is delivered
 * once, in order, when the control thread next serves the machine (a
 * suspend or wake wakes its wait) and before any other event (so a stop
 * right after a wake comes after it).  The counts delivered so far are
 * kept in the machine's state table, updated before each delivery.
 */
static void fire_sleep_events(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	if (__atomic_load_n(&m->vm->suspends, __ATOMIC_ACQUIRE) == 0)
		return; /* never slept: the common case, on every batch of hooks */
	machine_index = lua_absindex(L, machine_index);
	for (;;) {
		uint64_t suspends, wakes;
		const char *reason;
		lvm_vm_sleep_counts(m->vm, &suspends, &wakes, &reason);
		lvm_lua_push_state(L, machine_index, "sleep");
		uint64_t s = seen(L, "suspends"), w = seen(L, "wakes");
		if (s == w && s < suspends) {
			set_seen(L, "suspends", s + 1);
			lua_pop(L, 1);
			lvm_lua_note(m, "suspended (ACPI S3)");
			deliver(L, m, machine_index, "suspend", 0);
		} else if (w < s && w < wakes) {
			set_seen(L, "wakes", w + 1);
			lua_pop(L, 1);
			lvm_lua_note(m, "woke from ACPI S3 (%s)", reason);
			lua_pushstring(L, reason);
			deliver(L, m, machine_index, "wake", 1);
		} else {
			lua_pop(L, 1);
			return;
		}
		if (!m->vm)
			return;
	}
}

void lvm_lua_fire_event(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			const char *event, int nargs)
{
	machine_index = lua_absindex(L, machine_index);
	if (m->vm) /* what happened before this event is told first (the stack stays as it is) */
		fire_sleep_events(L, m, machine_index);
	deliver(L, m, machine_index, event, nargs);
}

void lvm_lua_deliver_line(lua_State *L, struct lvm_lua_machine *m, int machine_index,
			  const char *line, size_t len)
{
	lvm_lua_push_state(L, machine_index, "lines");
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TFUNCTION; i++) {
		lua_pushlstring(L, line, len);
		lvm_lua_call_hook(L, m, 1, 0, "on_line");
	}
	lua_pop(L, 2);
}

static const luaL_Reg hook_methods[] = {
	{ "on_pio", machine_on_pio },
	{ "on_mmio", machine_on_mmio },
	{ "on", machine_on },
	{ NULL, NULL },
};

static const luaL_Reg hook_handle_methods[] = {
	{ "remove", hook_remove },
	{ "accesses", hook_accesses },
	{ NULL, NULL },
};

void lvm_lua_register_hooks(lua_State *L)
{
	luaL_newmetatable(L, LVM_HOOK_MT);
	luaL_newlib(L, hook_handle_methods);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	lvm_lua_add_methods(L, hook_methods);
}

/* Drops the registry references of the machine's hooks (before it is destroyed). */
void lvm_lua_hooks_release(lua_State *L, struct lvm_lua_machine *m)
{
	struct lvm_hookq *q = &m->vm->hooks;
	for (unsigned i = 0; i < q->nhooks; i++) {
		if (q->hooks[i]->id != LUA_NOREF) {
			luaL_unref(L, LUA_REGISTRYINDEX, q->hooks[i]->id);
			q->hooks[i]->id = LUA_NOREF;
		}
	}
	if (m->hook_error_ref != LUA_NOREF) {
		luaL_unref(L, LUA_REGISTRYINDEX, m->hook_error_ref);
		m->hook_error_ref = LUA_NOREF;
	}
}

void lvm_lua_push_hook_stats(lua_State *L, struct lvm_lua_machine *m)
{
	struct lvm_hookq *q = &m->vm->hooks;
	lua_createtable(L, (int)q->nhooks, 0);
	for (unsigned i = 0; i < q->nhooks; i++) {
		const struct lvm_hook *h = q->hooks[i];
		lua_createtable(L, 0, 5);
		lua_pushstring(L, h->space == LVM_HOOK_PIO ? "pio" : "mmio");
		lua_setfield(L, -2, "kind");
		lua_pushinteger(L, (lua_Integer)h->base);
		lua_setfield(L, -2, "base");
		lua_pushinteger(L, (lua_Integer)h->len);
		lua_setfield(L, -2, "len");
		lua_pushinteger(L, (lua_Integer)__atomic_load_n(&h->accesses, __ATOMIC_RELAXED));
		lua_setfield(L, -2, "accesses");
		lua_pushboolean(L, __atomic_load_n(&h->dead, __ATOMIC_RELAXED));
		lua_setfield(L, -2, "removed");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}
