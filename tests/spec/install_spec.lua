-- An installed luavmm works on its own: `cmake --install` into a temporary
-- prefix, the prefix moved elsewhere (so neither the compiled-in build-tree
-- paths nor the install prefix CMake was given can be what makes it work),
-- then a recipe run by the installed executable and a busted spec run
-- against the installed module, with no LUAVMM_* or LUA_* variables
-- pointing anywhere.  Also: recipes can require Lua C modules (lfs).
-- Installing copies files only; nothing is rebuilt.
local t = require "luavmm.test"
local q = t.shell_quote

local BIN = t.bin()
local BUILD = os.getenv("LUAVMM_BUILD_DIR") or BIN:match("^(.*)/[^/]*$") or "build"
local CMAKE = os.getenv("LUAVMM_CMAKE") or "cmake"
local LUA = os.getenv("LUAVMM_LUA") or "lua5.4"
local BUSTED = os.getenv("LUAVMM_BUSTED") or "/usr/bin/busted"

-- Every variable through which the build tree could leak into a run.
local CLEAN_ENV = "env -u LUAVMM_GUEST_DIR -u LUAVMM_LUA_DIR -u LUAVMM_BIN -u LUAVMM_SOURCE_DIR"
  .. " -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_INIT -u LUA_INIT_5_4"

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp)))
teardown(function() os.execute("rm -rf " .. q(tmp)) end)

-- Runs a shell command; returns status, stdout, stderr.
local function sh(cmd)
  local out, err = tmp .. "/out", tmp .. "/err"
  local ok, how, code = os.execute(("(%s) >%s 2>%s </dev/null"):format(cmd, q(out), q(err)))
  local status = how == "exit" and code or 128 + code
  return status, t.read_file(out), t.read_file(err)
end

local exists = t.exists

-- Installed once, then moved: TMP/moved/prefix.
local prefix
local function installed()
  if prefix then return prefix end
  local first = tmp .. "/first"
  local status, out, err = sh(("%s --install %s --prefix %s"):format(q(CMAKE), q(BUILD), q(first)))
  assert(status == 0, "cmake --install failed:\n" .. out .. err)
  assert(os.execute(("mkdir -p %s && mv %s %s"):format(q(tmp .. "/moved"), q(first), q(tmp .. "/moved/prefix"))))
  prefix = tmp .. "/moved/prefix"
  return prefix
end

describe("an installed luavmm, moved to another directory", function()
  it("has the documented layout", function()
    local p = installed()
    for _, f in ipairs {
      "bin/luavmm", "lib/lua/5.4/luavmm.so", "share/lua/5.4/luavmm/test.lua",
      "share/lua/5.4/luavmm/watchdog.lua", "share/luavmm/guests/hello.elf",
      "share/luavmm/guests/README", "share/luavmm/recipes/hello.lua",
      "share/luavmm/recipes/debian.lua", "share/luavmm/scripts/make-rootfs.sh",
      "share/luavmm/scripts/fetch-linux.sh",
      "share/man/man1/luavmm.1", "share/doc/luavmm/LICENSE",
      "share/pkgconfig/luavmm.pc", "include/luavmm/bootinfo.h",
    } do
      assert.is_true(exists(p .. "/" .. f), "not installed: " .. f)
    end
  end)

  it("runs a recipe that uses luavmm.guest and luavmm.test, finding both in the prefix", function()
    local p = installed()
    t.write_file(tmp .. "/recipe.lua", [[
local luavmm = require "luavmm"
local t = require "luavmm.test"
print("guest_dir=" .. luavmm.guest_dir)
print("test.lua=" .. package.searchpath("luavmm.test", package.path))
local result, output = t.run { kernel = luavmm.guest("hello"), cmdline = "installed" }
io.write(output)
return result.reason == "exit" and result.value == 0
]])
    -- from another working directory, so nothing relative to the tree helps
    local status, out, err = sh(("cd %s && %s %s run %s"):format(q(tmp), CLEAN_ENV,
      q(p .. "/bin/luavmm"), q(tmp .. "/recipe.lua")))
    assert.are.equal(0, status, out .. err)
    assert.are.equal("guest_dir=" .. p .. "/share/luavmm/guests", out:match("guest_dir=[^\n]*"))
    assert.are.equal("test.lua=" .. p .. "/share/lua/5.4/luavmm/test.lua", out:match("test.lua=[^\n]*"))
    assert.truthy(out:find("Hello from luavmm!\ncmdline: installed\n", 1, true), out)
  end)

  it("runs the installed example recipes", function()
    local p = installed()
    local status, out, err = sh(("cd / && %s %s run %s"):format(CLEAN_ENV, q(p .. "/bin/luavmm"),
      q(p .. "/share/luavmm/recipes/hello.lua")))
    assert.are.equal(0, status, out .. err)
    assert.truthy(out:find("Hello from luavmm!", 1, true))
  end)

  it("serves a busted spec through the installed module (LUA_CPATH/LUA_PATH at the prefix)", function()
    local p = installed()
    local dir = tmp .. "/myproject"
    assert(os.execute("mkdir -p " .. q(dir)))
    t.write_file(dir .. "/hello_spec.lua", [[
local t = require "luavmm.test"
local luavmm = require "luavmm"
local prefix = assert(os.getenv("PREFIX"))

describe("the installed module", function()
  t.teardown_each()

  it("is the prefix's, with the prefix's guests", function()
    assert.are.equal(prefix .. "/lib/lua/5.4/luavmm.so", package.searchpath("luavmm", package.cpath))
    assert.are.equal(prefix .. "/share/luavmm/guests", luavmm.guest_dir)
  end)

  it("boots hello", function()
    local vm = t.boot("hello", "from busted")
    vm:start()
    assert.are.equal("from busted", t.expect(vm, "cmdline: ([^\n]*)\n"))
    assert.are.equal(0, vm:wait(30).value)
  end)

  it("runs the installed executable through t.exec", function()
    assert.truthy(t.exec({ "--version" }).stdout:find("^luavmm "))
  end)
end)
]])
    local env = ("%s PREFIX=%s LUA_CPATH=%s LUA_PATH=%s LUAVMM_BIN=%s"):format(CLEAN_ENV, q(p),
      q(p .. "/lib/lua/5.4/?.so;;"), q(p .. "/share/lua/5.4/?.lua;;"), q(p .. "/bin/luavmm"))
    local status, out, err = sh(("cd %s && %s %s %s --output=TAP hello_spec.lua"):format(q(dir), env,
      q(LUA), q(BUSTED)))
    assert.are.equal(0, status, out .. err)
    assert.truthy(out:find("ok 3 ", 1, true), out)
    assert.falsy(out:find("not ok", 1, true), out)
  end)

  it("has a pkg-config file that follows the prefix", function()
    if os.execute("command -v pkg-config >/dev/null") ~= true then
      pending("pkg-config is not installed")
      return
    end
    local p = installed()
    local status, out = sh(("PKG_CONFIG_PATH=%s pkg-config --variable=guestdir luavmm"):format(
      q(p .. "/share/pkgconfig")))
    assert.are.equal(0, status)
    local f = assert(io.open(out:gsub("\n$", "") .. "/hello.elf", "rb"))
    f:close()
  end)
end)

describe("a recipe", function()
  it("can require a Lua C module (lfs, Debian's lua-filesystem)", function()
    t.write_file(tmp .. "/lfs.lua", [[
local lfs = require "lfs"
local luavmm = require "luavmm"
local attr = assert(lfs.attributes(luavmm.guest("hello")))
print("lfs " .. attr.mode .. " " .. tostring(attr.size > 0))
return 0
]])
    local r = t.exec { "run", tmp .. "/lfs.lua" }
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.status)
    assert.are.equal("lfs file true\n", r.stdout)
  end)
end)
