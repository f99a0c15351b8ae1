-- The per-thread seccomp filters: a vCPU thread and a virtio I/O thread
-- each refuse a system call outside their list by killing the process
-- with SIGSYS.  Lua never runs on those threads, so the forbidden call
-- comes from a test-only knob (LUAVMM_SECCOMP_TEST) read when the thread
-- starts: it calls socket() once right after installing its filter.
local t = require "luavmm.test"

local SIGSYS = 31

local recipe = [[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("rng-check"), cmdline = "64",
  console = false, rng = true }
local r = vm:run(30)
print(r.reason)
return r.reason == "exit" and r.value == 0
]]

local function run(env, ...)
  local path = t.write_file(os.tmpname() .. ".lua", recipe)
  local args = { "run", ... }
  args[#args + 1] = path
  local r = t.exec(args, env)
  os.remove(path)
  return r
end

describe("seccomp filters", function()
  it("let a guest with a virtio device run as usual", function()
    local r = run()
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("exit\n", r.stdout)
  end)

  it("kill the process when a vCPU thread makes a forbidden call", function()
    local r = run { LUAVMM_SECCOMP_TEST = "vcpu" }
    assert.are.equal(128 + SIGSYS, r.status, r.stderr)
    assert.are.equal("", r.stdout)
  end)

  it("kill the process when an I/O thread makes a forbidden call", function()
    local r = run { LUAVMM_SECCOMP_TEST = "io" }
    assert.are.equal(128 + SIGSYS, r.status, r.stderr)
  end)

  it("are off with --no-seccomp or LUAVMM_SECCOMP=0 (the knob's call then succeeds)", function()
    assert.are.equal(0, run({ LUAVMM_SECCOMP_TEST = "vcpu" }, "--no-seccomp").status)
    assert.are.equal(0, run({ LUAVMM_SECCOMP_TEST = "io", LUAVMM_SECCOMP = "0" }).status)
  end)
end)
