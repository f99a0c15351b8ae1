/*
 * Run-time control of a machine: vm:pause(), vm:resume(), vm:read(addr,
 * len), vm:write(addr, bytes), vm:regs(cpu), vm:set_regs(cpu, t) and
 * vm:irq(line [, level]), vm:power_button(), vm:shutdown([timeout_s]) and
 * vm:wake().  Guest memory goes through lvm_memory_ptr, so a bad address
 * is an error, never a host access outside guest RAM.
 */
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lua/binding.h"
#include "machine/machine.h"
#include "util/error.h"

#define MAX_ACCESS (64u << 20) /* vm:read returns at most 64 MiB at once */

static int machine_pause(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	if (!m->vm->started)
		return luaL_error(L, "pause: the machine has not been started");
	bool was = lvm_vm_host_paused(m->vm); /* a sleeping machine can be paused too */
	lvm_vm_pause(m->vm);
	lua_settop(L, 1);
	if (!was)
		lvm_lua_fire_event(L, m, 1, "pause", 0);
	return 1;
}

static int machine_resume(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	bool was = lvm_vm_host_paused(m->vm);
	lvm_vm_resume(m->vm); /* a sleeping machine sleeps on */
	lua_settop(L, 1);
	if (was)
		lvm_lua_fire_event(L, m, 1, "resume", 0);
	return 1;
}

static int machine_paused(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_pushboolean(L, lvm_vm_host_paused(m->vm));
	return 1;
}

static void *guest_range(lua_State *L, struct lvm_lua_machine *m, const char *what,
			 lua_Integer addr, lua_Integer len)
{
	void *p = NULL;
	if (addr >= 0 && len >= 0 && (uint64_t)len <= MAX_ACCESS)
		p = lvm_memory_ptr(&m->vm->mem, (uint64_t)addr, (uint64_t)len);
	if (!p) {
		char range[64];
		snprintf(range, sizeof(range), "0x%" PRIx64 "+%" PRId64, (uint64_t)addr, (int64_t)len);
		luaL_error(L, "%s: %s is not inside guest RAM", what, range);
	}
	return p;
}

/* vm:read(addr, len) -> string of guest RAM. */
static int machine_read(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_Integer addr = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
	const void *p = guest_range(L, m, "read", addr, len);
	lua_pushlstring(L, p, (size_t)len);
	return 1;
}

/* vm:write(addr, bytes) */
static int machine_write(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_Integer addr = luaL_checkinteger(L, 2);
	size_t len;
	const char *bytes = luaL_checklstring(L, 3, &len);
	void *p = guest_range(L, m, "write", addr, (lua_Integer)len);
	memcpy(p, bytes, len);
	lvm_memory_touched(&m->vm->mem);
	lua_settop(L, 1);
	return 1;
}

static struct lvm_vcpu *paused_vcpu(lua_State *L, struct lvm_lua_machine *m, const char *what)
{
	lua_Integer cpu = luaL_optinteger(L, 2, 0);
	if (cpu < 0 || cpu >= (lua_Integer)m->vm->ncpus)
		luaL_error(L, "%s: no vCPU %I (the machine has %d)", what, (LUAI_UACINT)cpu,
			   (int)m->vm->ncpus);
	if (m->vm->started && !lvm_vm_paused(m->vm) && !lvm_vm_stopped(m->vm))
		luaL_error(L, "%s: pause the machine first (vm:pause())", what);
	return &m->vm->vcpus[cpu];
}

#define REGS(X)                                                                      \
	X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) \
	X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

/* vm:regs([cpu = 0]) -> {rax=, ..., rip=, rflags=, cr0=, cr3=, cr4=, efer=, cs=} */
static int machine_regs(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	struct lvm_vcpu *vcpu = paused_vcpu(L, m, "regs");
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return luaL_error(L, "regs: KVM_GET_REGS failed");
	lua_createtable(L, 0, 24);
#define PUSH(r) lua_pushinteger(L, (lua_Integer)regs.r); lua_setfield(L, -2, #r);
	REGS(PUSH)
#undef PUSH
	lua_pushinteger(L, (lua_Integer)sregs.cr0);
	lua_setfield(L, -2, "cr0");
	lua_pushinteger(L, (lua_Integer)sregs.cr3);
	lua_setfield(L, -2, "cr3");
	lua_pushinteger(L, (lua_Integer)sregs.cr4);
	lua_setfield(L, -2, "cr4");
	lua_pushinteger(L, (lua_Integer)sregs.efer);
	lua_setfield(L, -2, "efer");
	lua_pushinteger(L, sregs.cs.selector);
	lua_setfield(L, -2, "cs");
	return 1;
}

/* Sets the general registers the table at `index` names on a vCPU outside KVM_RUN. */
static void lvm_lua_set_vcpu_regs(lua_State *L, int index, int vcpu_fd, const char *what)
{
	index = lua_absindex(L, index);
	struct kvm_regs regs;
	if (ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0)
		luaL_error(L, "%s: KVM_GET_REGS failed", what);
	lua_pushnil(L);
	while (lua_next(L, index)) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		if (!lua_isinteger(L, -1) || !key)
			luaL_error(L, "%s: register values must be integers", what);
		uint64_t v = (uint64_t)lua_tointeger(L, -1);
		bool known = false;
#define SET(r) if (strcmp(key, #r) == 0) { regs.r = v; known = true; }
		REGS(SET)
#undef SET
		if (!known)
			luaL_error(L, "%s: unknown register '%s'", what, key);
		lua_pop(L, 1);
	}
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		luaL_error(L, "%s: KVM_SET_REGS failed", what);
}

/* vm:set_regs(cpu, {rip=..., rax=...}): general registers only; others kept. */
static int machine_set_regs(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	struct lvm_vcpu *vcpu = paused_vcpu(L, m, "set_regs");
	luaL_checktype(L, 3, LUA_TTABLE);
	lvm_lua_set_vcpu_regs(L, 3, vcpu->fd, "set_regs");
	lua_settop(L, 1);
	return 1;
}


/* vm:irq(line [, level]): with a level, drives the line; without, pulses it. */
static int machine_irq(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	lua_Integer line = luaL_checkinteger(L, 2);
	if (line < 0 || line > 23)
		return luaL_error(L, "irq: line %I is out of range (0 to 23)", (LUAI_UACINT)line);
	if (lua_isnoneornil(L, 3)) {
		lvm_vm_set_irq(m->vm, (unsigned)line, 1);
		lvm_vm_set_irq(m->vm, (unsigned)line, 0);
	} else {
		lvm_vm_set_irq(m->vm, (unsigned)line,
			       lua_isboolean(L, 3) ? lua_toboolean(L, 3) : luaL_checkinteger(L, 3) != 0);
	}
	lua_settop(L, 1);
	return 1;
}

/* vm:stop([detail]): stops the machine; wait() then reports reason "killed". */
static int machine_stop(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	const char *detail = luaL_optstring(L, 2, "stopped by the recipe");
	lvm_vm_stop(m->vm, LVM_STOP_HOST, 1, "%s", detail);
	lua_settop(L, 1);
	return 1;
}

/* vm:power_button(): a press of the ACPI power button (the guest's OS decides). */
static int machine_power_button(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	if (!m->vm->started || lvm_machine_power_button(m->machine) < 0)
		return luaL_error(L, "power_button: the machine is not running");
	m->power_button = true; /* the power-off it leads to is what the recipe asked for */
	lua_settop(L, 1);
	return 1;
}

/*
 * vm:wake(): a wake event from outside for a machine in ACPI S3 (as QEMU's
 * system_wakeup): WAK_STS, and the guest resumes at its waking vector.
 * Returns true if the machine was asleep, false (nothing done) if not.
 */
static int machine_wake(lua_State *L)
{
	struct lvm_lua_machine *m = lvm_lua_check_machine(L, 1);
	if (!m->vm->started)
		return luaL_error(L, "wake: the machine has not been started");
	int woke = lvm_machine_wake(m->machine);
	if (woke < 0)
		return luaL_error(L, "wake: %s", lvm_error());
	lua_pushboolean(L, woke);
	return 1;
}

/*
 * vm:shutdown([timeout_s]): the graceful way down, as on a PC: press the
 * power button, then wait (default 60 s) for the guest to power off.
 * Returns the wait() result: reason "poweroff" when the guest complied,
 * "timeout" when it did not (the machine is left running: stop it).
 */
static int machine_shutdown(lua_State *L)
{
	lua_Number timeout = luaL_optnumber(L, 2, 60);
	lua_settop(L, 1);
	lua_pushcfunction(L, machine_power_button);
	lua_pushvalue(L, 1);
	lua_call(L, 1, 0);
	lua_getfield(L, 1, "wait");
	lua_pushvalue(L, 1);
	lua_pushnumber(L, timeout);
	lua_call(L, 2, 1);
	return 1;
}

static const luaL_Reg runtime_methods[] = {
	{ "stop", machine_stop },
	{ "power_button", machine_power_button }, { "shutdown", machine_shutdown },
	{ "wake", machine_wake },
	{ "pause", machine_pause },   { "resume", machine_resume }, { "paused", machine_paused },
	{ "read", machine_read },     { "write", machine_write },   { "regs", machine_regs },
	{ "set_regs", machine_set_regs }, { "irq", machine_irq },
	{ NULL, NULL },
};

void lvm_lua_register_runtime(lua_State *L)
{
	lvm_lua_add_methods(L, runtime_methods);
}
