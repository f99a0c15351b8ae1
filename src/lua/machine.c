/*
 * The machine object: luavmm.machine{...} returns one.  It owns the VM and
 * tears it down on close(), on `local vm <close>` scope exit, and on
 * garbage collection, whichever comes first.
 */
#include <stdlib.h>
#include <string.h>

#include "machine/machine.h"
#include "util/error.h"
#include "lua/binding.h"

struct lvm_lua_machine *lvm_lua_check_machine(lua_State *L, int index)
{
	struct lvm_lua_machine *m = luaL_checkudata(L, index, LVM_MACHINE_MT);
	if (!m->vm)
		luaL_error(L, "machine: already closed");
	return m;
}

static void machine_release(lua_State *L, struct lvm_lua_machine *m, int machine_index)
{
	lvm_lua_tty_drop(m);
	if (m->vm) {
		if (m->vm->started && !m->stop_fired)
			lvm_lua_note(m, "closed while %s", lvm_vm_stopped(m->vm) ? "stopped" : "running");
		else
			lvm_lua_note(m, "closed");
		lvm_lua_control_close(L, m);
		lvm_lua_hooks_release(L, m);
		lvm_lua_timers_free(L, m);
		lvm_machine_destroy(m->machine);
		m->machine = NULL;
		m->vm = NULL;
		lvm_lua_filters_release(L, machine_index); /* devices are gone */
	}
	if (m->sink_ref != LUA_NOREF) {
		luaL_unref(L, LUA_REGISTRYINDEX, m->sink_ref);
		m->sink_ref = LUA_NOREF;
	}
	lvm_lua_output_free(&m->out);
}

int lvm_lua_machine_build(lua_State *L, int t, const struct lvm_saved_state *restore)
{
	t = lua_absindex(L, t);
	luaL_checktype(L, t, LUA_TTABLE);
	lvm_lua_recipe_encode(L, t); /* before anything is made: it may raise */
	struct lvm_lua_machine *m = lua_newuserdatauv(L, sizeof(*m), LVM_MACHINE_USER_VALUES);
	memset(m, 0, sizeof(*m));
	m->sink_ref = LUA_NOREF;
	lvm_lua_hooks_init(m);
	lvm_lua_timers_init(m);
	luaL_setmetatable(L, LVM_MACHINE_MT);
	m->machine = lvm_lua_create_machine(L, t, m, restore);
	m->vm = lvm_machine_vm(m->machine);
	lua_rotate(L, -2, 1); /* the recipe's bytes above the machine */
	lua_setiuservalue(L, -2, LVM_MACHINE_RECIPE);
	lvm_lua_push_console(L, -1);
	lua_setiuservalue(L, -2, 1);
	lvm_lua_register_live(L, -1);
	lua_getfield(L, t, "control");
	const char *control = lua_isstring(L, -1) ? lua_tostring(L, -1) : lvm_lua_default_control;
	/* the recipe's own path is checked; --control PATH is the user's */
	if (lua_isstring(L, -1) && lvm_lua_allow_check(NULL, "control", control, true) < 0)
		return luaL_error(L, "machine: control: %s: %s", control, lvm_error());
	if (control)
		lvm_lua_control_open(L, m, control);
	lua_pop(L, 1);
	lvm_lua_note(m, "%s (%d cpus, %d MiB)", restore ? "restored" : "created", (int)m->vm->ncpus,
		     (int)(m->vm->mem.size >> 20));
	return 1;
}

int lvm_lua_machine_new(lua_State *L)
{
	return lvm_lua_machine_build(L, 1, NULL);
}

/* Starts the machine at index 1.  Called straight from the method the
 * recipe called (vm:start or vm:run), so an error names the recipe's line. */
static void start_machine(lua_State *L, struct lvm_lua_machine *m)
{
	if (lvm_machine_start(m->machine) < 0)
		luaL_error(L, "start: %s", lvm_error());
	m->last_output = m->last_status = lvm_monotonic_seconds();
	lvm_lua_note(m, "started");
	lvm_lua_tty_hold(m); /* stdin = true on a terminal: raw until it stops */
	lvm_lua_fire_event(L, m, 1, "start", 0);
}

static int machine_start(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_settop(L, 1);
	start_machine(L, m);
	return 1;
}

/*
 * The process exit status a stop stands for (README, "Exit status"): 0
 * exactly when the guest reported success (debug-exit value 0, or an ACPI
 * power-off after the recipe pressed the power button), the guest's
 * value for any other debug-exit value (clamped to 1..99), and a status of
 * its own for every way a machine can end without reporting success.
 */
int lvm_lua_exit_status(const struct lvm_lua_machine *m)
{
	const struct lvm_vm *vm = m->vm;
	switch (vm->reason) {
	case LVM_STOP_EXIT: {
		uint32_t value = lvm_machine_exit_value(m->machine);
		return value == 0 ? LVM_STATUS_OK : value > 99 ? 99 : (int)value;
	}
	case LVM_STOP_SHUTDOWN: return LVM_STATUS_SHUTDOWN;
	case LVM_STOP_RESET: return LVM_STATUS_RESET;
	case LVM_STOP_ERROR: return LVM_STATUS_ERROR;
	case LVM_STOP_HOOK_ERROR: return LVM_STATUS_HOOK_ERROR;
	case LVM_STOP_HOST: return m->stop_signal ? 128 + m->stop_signal : LVM_STATUS_KILLED;
	case LVM_STOP_POWEROFF: return m->power_button ? LVM_STATUS_OK : LVM_STATUS_POWEROFF;
	case LVM_RUNNING: break;
	}
	return LVM_STATUS_ERROR;
}

/* {reason=, code=, ok=, detail=, value= and qemu_code= (for "exit"),
 * traceback= (for "hook_error")}. */
static void push_result(lua_State *L, struct lvm_lua_machine *m, bool timed_out)
{
	struct lvm_vm *vm = m->vm;
	lua_createtable(L, 0, 6);
	if (timed_out) {
		lua_pushliteral(L, "timeout");
		lua_setfield(L, -2, "reason");
		lua_pushinteger(L, LVM_STATUS_TIMEOUT); /* what timeout(1) exits with */
		lua_setfield(L, -2, "code");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "ok");
		return;
	}
	lua_pushstring(L, lvm_stop_reason_name(vm->reason));
	lua_setfield(L, -2, "reason");
	int code = lvm_lua_exit_status(m);
	lua_pushinteger(L, code);
	lua_setfield(L, -2, "code");
	lua_pushboolean(L, code == LVM_STATUS_OK);
	lua_setfield(L, -2, "ok");
	lua_pushstring(L, vm->detail);
	lua_setfield(L, -2, "detail");
	if (vm->reason == LVM_STOP_EXIT) {
		uint32_t value = lvm_machine_exit_value(m->machine);
		lua_pushinteger(L, value);
		lua_setfield(L, -2, "value");
		/* QEMU's isa-debug-exit status, (V << 1) | 1, before the OS truncates it */
		lua_pushinteger(L, ((lua_Integer)value << 1) | 1);
		lua_setfield(L, -2, "qemu_code");
	}
	if (vm->reason == LVM_STOP_HOOK_ERROR && m->hook_error_ref != LUA_NOREF) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, m->hook_error_ref);
		lua_setfield(L, -2, "traceback");
	}
}

/* vm:wait([timeout_s]): runs until the guest stops or the timeout passes. */
static int machine_wait(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	double timeout = lvm_lua_opt_duration(L, 2, -1);
	if (!m->vm->started)
		return luaL_error(L, "wait: the machine has not been started (call vm:start() first)");
	lvm_lua_check_not_in_hook(L, m, "wait");
	double deadline = timeout < 0 ? -1 : lvm_monotonic_seconds() + timeout;
	lvm_lua_pump(L, m, 1, deadline, false);
	bool stopped = lvm_vm_stopped(m->vm);
	if (stopped) {
		lvm_vm_join(m->vm);
		lvm_lua_drain(L, m, 1); /* output written just before the stop */
	}
	push_result(L, m, !stopped);
	return 1;
}

/* vm:run([timeout_s]): starts the machine if needed, then waits (hooks,
 * timers and the control socket are served meanwhile). */
static int machine_run(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_settop(L, 2);
	if (!m->vm->started)
		start_machine(L, m);
	return machine_wait(L);
}

/* vm:close() and `<close>`: refused while a hook or a wait is running,
 * because the wait in progress may be serving this very machine. */
static int machine_close(lua_State *L)
{
	struct lvm_lua_machine *m = luaL_checkudata(L, 1, LVM_MACHINE_MT);
	if (m->vm && (m->in_hook || lvm_lua_hook_depth > 0 || lvm_lua_pump_depth > 0))
		return luaL_error(L, "close: cannot close a machine from inside a hook or console callback (use vm:stop(); close it after the wait returns)");
	machine_release(L, m, 1);
	return 0;
}

/* __gc: an unreachable machine is served by no wait, so it always goes. */
static int machine_gc(lua_State *L)
{
	struct lvm_lua_machine *m = luaL_checkudata(L, 1, LVM_MACHINE_MT);
	machine_release(L, m, 1);
	lvm_lua_log_free(&m->out);
	return 0;
}

static void set_count(lua_State *L, const char *key, uint64_t value)
{
	lua_pushinteger(L, (lua_Integer)value);
	lua_setfield(L, -2, key);
}

/* Adds one range's accesses to devices[name] (a device may own several ranges). */
static void add_device_counts(void *ctx, const struct lvm_bus_range *r)
{
	lua_State *L = ctx;
	if (lua_getfield(L, -1, r->name) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 2);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, r->name);
	}
	lua_getfield(L, -1, "reads");
	lua_Integer reads = lua_tointeger(L, -1) + (lua_Integer)r->reads;
	lua_getfield(L, -2, "writes");
	lua_Integer writes = lua_tointeger(L, -1) + (lua_Integer)r->writes;
	lua_pop(L, 2);
	set_count(L, "reads", (uint64_t)reads);
	set_count(L, "writes", (uint64_t)writes);
	lua_pop(L, 1);
}

/* devices = { [name] = { reads =, writes = } } for every PIO and MMIO range. */
static void push_device_counts(lua_State *L, struct lvm_vm *vm)
{
	lua_newtable(L);
	lvm_bus_visit(&vm->pio, add_device_counts, L);
	lvm_bus_visit(&vm->mmio, add_device_counts, L);
}

/* unclaimed.pio / unclaimed.mmio: {{addr=, reads=, writes=}, ...}, the most
 * used first (kvm/bus.h keeps the top LVM_BUS_UNCLAIMED_TOP). */
static void push_unclaimed_top(lua_State *L, struct lvm_bus *bus, const char *key)
{
	struct lvm_unclaimed_addr top[LVM_BUS_UNCLAIMED_TOP];
	unsigned n = lvm_bus_unclaimed_top(bus, top, LVM_BUS_UNCLAIMED_TOP);
	lua_createtable(L, (int)n, 0);
	for (unsigned i = 0; i < n; i++) {
		lua_createtable(L, 0, 3);
		set_count(L, "addr", top[i].addr);
		set_count(L, "reads", top[i].reads);
		set_count(L, "writes", top[i].writes);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, key);
}

/* vm:stats(): exits by reason, per-device accesses, console bytes,
 * unclaimed accesses, hooks, uptime. */
static int machine_stats(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	struct lvm_vm *vm = m->vm;
	struct lvm_vcpu_stats exits = lvm_vm_exit_stats(vm);
	lua_createtable(L, 0, 6);
	lua_createtable(L, 0, 3);
	set_count(L, "io", exits.io);
	set_count(L, "mmio", exits.mmio);
	set_count(L, "other", exits.other);
	lua_setfield(L, -2, "exits");
	lua_createtable(L, 0, 4);
	set_count(L, "pio_reads", __atomic_load_n(&vm->pio.unclaimed_reads, __ATOMIC_RELAXED));
	set_count(L, "pio_writes", __atomic_load_n(&vm->pio.unclaimed_writes, __ATOMIC_RELAXED));
	set_count(L, "mmio_reads", __atomic_load_n(&vm->mmio.unclaimed_reads, __ATOMIC_RELAXED));
	set_count(L, "mmio_writes", __atomic_load_n(&vm->mmio.unclaimed_writes, __ATOMIC_RELAXED));
	push_unclaimed_top(L, &vm->pio, "pio");
	push_unclaimed_top(L, &vm->mmio, "mmio");
	lua_setfield(L, -2, "unclaimed");
	push_device_counts(L, vm);
	lua_setfield(L, -2, "devices");
	set_count(L, "console_bytes", vm->console.bytes_total);
	set_count(L, "restarts", m->restarts);
	lua_pushstring(L, lvm_vm_stopped(vm)    ? lvm_stop_reason_name(vm->reason)
			  : lvm_vm_sleeping(vm) ? "sleeping" /* ACPI S3, started or restored */
			  : vm->started         ? "running"
						: "created");
	lua_setfield(L, -2, "state");
	double uptime = 0;
	if (vm->started) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uptime = (double)(now.tv_sec - vm->start_time.tv_sec) +
			 (double)(now.tv_nsec - vm->start_time.tv_nsec) / 1e9;
	}
	lua_pushnumber(L, uptime);
	lua_setfield(L, -2, "uptime");
	lvm_lua_push_hook_stats(L, m);
	lua_setfield(L, -2, "hooks");
	return 1;
}

void lvm_lua_add_methods(lua_State *L, const luaL_Reg *methods)
{
	luaL_getmetatable(L, LVM_MACHINE_MT);
	lua_getfield(L, -1, "methods");
	luaL_setfuncs(L, methods, 0);
	lua_pop(L, 2);
}

static int machine_index(lua_State *L)
{
	luaL_checkudata(L, 1, LVM_MACHINE_MT);
	const char *key = luaL_checkstring(L, 2);
	if (strcmp(key, "console") == 0) {
		lua_getiuservalue(L, 1, 1);
		return 1;
	}
	if (lvm_lua_push_devices(L, 1, key))
		return 1;
	lua_getmetatable(L, 1);
	lua_getfield(L, -1, "methods");
	lua_getfield(L, -1, key);
	return 1;
}

static int machine_tostring(lua_State *L)
{
	struct lvm_lua_machine *m = luaL_checkudata(L, 1, LVM_MACHINE_MT);
	if (!m->vm)
		lua_pushliteral(L, "luavmm.machine (closed)");
	else
		lua_pushfstring(L, "luavmm.machine%s%s (%d cpus, %d MiB)", m->name[0] ? " " : "",
				m->name, (int)m->vm->ncpus, (int)(m->vm->mem.size >> 20));
	return 1;
}

static const luaL_Reg machine_methods[] = {
	{ "start", machine_start },
	{ "wait", machine_wait },
	{ "run", machine_run },
	{ "stats", machine_stats },
	{ "close", machine_close },
	{ "dtb", lvm_lua_machine_dtb },
	{ "device_tree", lvm_lua_machine_device_tree },
	{ NULL, NULL },
};

static const luaL_Reg machine_meta[] = {
	{ "__index", machine_index },
	{ "__gc", machine_gc },
	{ "__close", machine_close },
	{ "__tostring", machine_tostring },
	{ NULL, NULL },
};

void lvm_lua_register_machine(lua_State *L)
{
	luaL_newmetatable(L, LVM_MACHINE_MT);
	luaL_setfuncs(L, machine_meta, 0);
	luaL_newlib(L, machine_methods);
	lua_setfield(L, -2, "methods");
	lua_pop(L, 1);
}
