-- luarocks: builds luavmm with CMake and installs the Lua module, the
-- pure-Lua helpers (luavmm.test, luavmm.watchdog) and the luavmm executable
-- into a rocks tree; the test guests and example recipes stay in the rock's
-- directory (TREE/lib/luarocks/rocks-5.4/luavmm/dev-1/share/luavmm), where
-- the binaries find them.
--   luarocks --lua-version=5.4 make --tree /tmp/x    (from a checkout)
-- Needs what scripts/install-deps.sh installs (cmake, gcc, liblua5.4-dev,
-- libfdt-dev); Linux on x86-64 with KVM only.
rockspec_format = "3.0"
package = "luavmm"
version = "dev-1"
source = {
  -- `luarocks make` builds the checkout it runs in and never fetches this.
  url = "git+file:///dev/null",
}
description = {
  summary = "A KVM virtual machine monitor whose machines are Lua 5.4 recipes",
  detailed = [[
luavmm runs x86-64 virtual machines on Linux KVM from Lua: a recipe (or a
busted spec, through require "luavmm") creates machines, talks to their
consoles, serves devices and policies in Lua and asserts on the result.]],
  license = "MIT",
}
supported_platforms = { "linux" }
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "RelWithDebInfo",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    -- luarocks deploys PREFIX/lib to the tree's C module directory and
    -- PREFIX/lua to its Lua directory
    LUAVMM_INSTALL_CMOD = "$(LIBDIR)",
    LUAVMM_INSTALL_LMOD = "$(LUADIR)",
    -- ... so the executable (deployed to TREE/bin) finds them in TREE/share/lua/5.4
    LUAVMM_EXE_LUA_RELDIR = "../share/lua/5.4",
    -- only what is installed: no unit tests, specs (busted) or benchmarks
    LUAVMM_BUILD_TESTS = "OFF",
  },
}
