/* Where luavmm finds its test guests and its pure-Lua modules. */
#ifndef LVM_LUA_PATHS_H
#define LVM_LUA_PATHS_H

/*
 * Each directory is, first match wins:
 *   1. the environment (LUAVMM_GUEST_DIR, LUAVMM_LUA_DIR), when set and not empty;
 *   2. the build tree's, when the running binary is the one the build made
 *      (the executable in the build directory, the module in build/lua);
 *   3. the installed layout relative to the running binary: the executable
 *      looks in BINDIR/../share/luavmm/guests and BINDIR/../share/lua/5.4,
 *      the module (found with dladdr) in ../../../share/luavmm/guests from
 *      lib/lua/5.4 (the relative paths come from the install directories
 *      CMake was given);
 *   4. the absolute install directories CMake was given (a luarocks tree
 *      deploys the module away from the rock's data).
 * When none exists, the relative guess of 3 is returned (error messages name it).
 * The results are computed once (the environment is read on every call).
 */
const char *lvm_lua_guest_dir(void);
const char *lvm_lua_lua_dir(void);

/* The executable calls this before luaopen_luavmm: the binary to locate is
 * /proc/self/exe, not the shared object holding this code. */
void lvm_lua_paths_from_executable(void);

#endif
