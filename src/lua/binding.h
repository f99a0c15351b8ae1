/*
 * Shared declarations of the Lua binding files (the only place in luavmm
 * that includes Lua headers).
 */
#ifndef LVM_LUA_BINDING_H
#define LVM_LUA_BINDING_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/vm.h"

#define LVM_MACHINE_MT "luavmm.machine"
#define LVM_CONSOLE_MT "luavmm.console"

/* Guest output as the control thread sees it. */
struct lvm_output {
	char *pending; /* not yet consumed by expect() */
	size_t pending_len, pending_cap;
	char tail[1024]; /* the newest output, for error messages */
	size_t tail_len;
};

struct lua_machine {
	struct lvm_vm *vm;
	int sink_ref;   /* registry ref of a Lua console function, or LUA_NOREF */
	bool stdin_input;
	bool stdin_eof;
	struct lvm_output out;
};

/* machine_config.c: builds a machine from the table at `index`. */
struct lvm_vm *lvm_lua_create_machine(lua_State *L, int index, struct lua_machine *m);

/* virtio_config.c: the disks and nets keys (rng, virtio_console are booleans). */
struct lvm_machine_config;
void lvm_lua_disks_field(lua_State *L, int t, struct lvm_machine_config *config);
void lvm_lua_nets_field(lua_State *L, int t, struct lvm_machine_config *config);

/* virtio.c: vm.disks, vm:dtb(), vm:device_tree() */
void lvm_lua_register_virtio(lua_State *L);
int lvm_lua_push_disks(lua_State *L, int machine_index);
int lvm_lua_machine_dtb(lua_State *L);
int lvm_lua_machine_device_tree(lua_State *L);

/* machine.c */
int lvm_lua_machine_new(lua_State *L);
void lvm_lua_register_machine(lua_State *L);
struct lua_machine *lvm_lua_check_machine(lua_State *L, int index);

/* console.c */
void lvm_lua_register_console(lua_State *L);
void lvm_lua_push_console(lua_State *L, int machine_index);

/* pump.c: moves guest output to Lua and stdin to the guest until the
 * machine stops or `deadline` (CLOCK_MONOTONIC seconds; < 0 = none)
 * passes; with `until_output`, returns as soon as new output arrived.
 * Returns true if new output arrived. */
bool lvm_lua_pump(lua_State *L, struct lua_machine *m, double deadline, bool until_output);
void lvm_lua_drain(lua_State *L, struct lua_machine *m);
double lvm_lua_now(void);
/* The output tail as one printable line (control characters escaped). */
void lvm_lua_push_tail(lua_State *L, const struct lua_machine *m);
void lvm_lua_output_free(struct lvm_output *out);

int luaopen_luavmm(lua_State *L);

#endif
