/*
 * luavmm.switch(): the Lua face of an in-process Ethernet switch
 * (util/eth_switch.h).  The object holds a reference to the switch; a NIC
 * on it (nets = { eth0 = { switch = sw } }) holds its own through its
 * port, so a switch lives as long as the object or any port does.  A
 * recipe tree carries the object as a value of type "switch" whose
 * `integer` is the switch's id (value.c), which the device entry resolves.
 */
#ifndef LVM_LUA_SWITCH_H
#define LVM_LUA_SWITCH_H

#include <lua.h>
#include <stdint.h>

#define LVM_SWITCH_MT "luavmm.switch"

/* luavmm.switch() -> a new switch [-0, +1, e]. */
int lvm_lua_switch_new(lua_State *L);
/* The switch with this id as a Lua object (the same object while one is
 * alive) [-0, +1, e]: an error if the switch is gone. */
void lvm_lua_switch_push(lua_State *L, uint32_t id);
/* The id of the switch object at `index`, or 0 if the value is none [-0, +0, -]. */
uint32_t lvm_lua_switch_id(lua_State *L, int index);

#endif
