-- The interactive console (src/lua/tty.c): `stdin = true` with a terminal
-- on stdin puts it in raw mode while the machine runs, Ctrl-A x quits, and
-- the terminal comes back as it was on every way out (quit, a signal, a
-- recipe error). Driven through a pseudo-terminal by tools/pty_console.py.
-- A stdin that is not a terminal is forwarded byte for byte, as before.
local t = require "luavmm.test"

local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
local DRIVER = SOURCE .. "/tests/spec/tools/pty_console.py"

-- The echo guest with stdin forwarded; `error` makes the recipe fail once
-- the guest echoed "boom".
local RECIPE = [[
local luavmm = require "luavmm"
local mode = ...
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), stdin = true }
vm:start()
if mode == "error" then
  vm.console:expect("boom", 20)
  error("recipe failed on purpose")
end
local r = vm:wait(30)
io.stderr:write("reason=" .. r.reason .. "\n")
return r
]]

local function on_pty(scenario)
  local recipe = t.write_file(os.tmpname(), RECIPE)
  local cmd = ("LUAVMM_GUEST_DIR=%s python3 %s %s %s %s"):format(
    t.shell_quote(os.getenv("LUAVMM_GUEST_DIR") or "build/guests"), t.shell_quote(DRIVER),
    t.shell_quote(t.bin()), t.shell_quote(recipe), scenario)
  local p = assert(io.popen(cmd))
  local text = p:read("a")
  p:close()
  os.remove(recipe)
  local facts = {}
  for k, v in text:gmatch("([%w_]+)=([^\n]*)") do facts[k] = v end
  facts.text = text
  return facts
end

-- Raw while the guest ran, the terminal as before afterwards, exit status.
local function assert_session(f, status)
  assert.are.equal("1", f.raw_during, f.text)
  assert.are.equal("1", f.restored, f.text)
  assert.are.equal(status, f.status, f.text)
end

local have_python = os.execute("command -v python3 >/dev/null 2>&1") == true
local pty_it = have_python and it or pending

describe("the interactive console on a terminal", function()
  pty_it("is raw while the guest runs; Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h helps, Ctrl-A x quits", function()
    local f = on_pty("quit")
    assert_session(f, "105") -- reason "killed" exits 105 (README, "Exit status")
    assert.truthy(f.output:find("typed\\r\\n\\x01", 1, true), f.text)
    assert.truthy(f.output:find("C-a x  quit", 1, true), f.text)
    assert.truthy(f.output:find("reason=killed", 1, true), f.text)
  end)

  pty_it("gives the terminal back when luavmm is stopped by SIGTERM", function()
    assert_session(on_pty("signal"), "143") -- a clean stop: the recipe ends, 128 + 15
  end)

  pty_it("gives the terminal back when the recipe raises an error", function()
    local f = on_pty("error")
    assert_session(f, "1")
    assert.truthy(f.output:find("recipe failed on purpose", 1, true), f.text)
  end)
end)

describe("stdin that is not a terminal", function()
  it("is forwarded untouched, Ctrl-A bytes included", function()
    local r = t.exec_recipe([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), stdin = true }
vm:start()
return vm:wait(30)
]], nil, nil, nil, "a\1x\1\1b\nexit 5\n")
    assert.are.equal(5, r.status, r.stderr)
    assert.truthy(r.stdout:find("a\1x\1\1b\n", 1, true), r.stdout)
  end)
end)
