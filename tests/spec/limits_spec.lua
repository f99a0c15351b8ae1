-- Hardening: each hook call has one budget (instructions and seconds)
-- shared by every coroutine it runs, and pattern matching inside a hook is
-- bounded; these are the bypasses that used to hang the VMM.
local t = require "luavmm.test"
local luavmm = require "luavmm"

-- Runs `hook` as the on_pio hook of a guest reading port 0x510; returns the
-- wait() result and how long the wait took.  A 30 s wait is the hang guard.
local function run_hook(hook, config)
  local c = { hook_timeout = 1 }
  for k, v in pairs(config or {}) do c[k] = v end
  local vm = t.boot("luadev", "i 0x510", c)
  vm:on_pio(0x510, 4, hook)
  vm:start()
  local t0 = luavmm.now()
  local r = vm:wait(30)
  return r, luavmm.now() - t0
end

describe("a hook's budget", function()
  t.teardown_each()

  it("covers a coroutine created outside the hook and resumed inside it", function()
    local co = coroutine.create(function() while true do end end)
    local r, took = run_hook(function() coroutine.resume(co) end)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("hook exceeded its", 1, true), r.detail)
    assert.is_true(took < 20, "the wait took " .. took .. " s")
  end)

  it("covers a wrapped coroutine created outside the hook", function()
    local f = coroutine.wrap(function() while true do end end)
    local r = run_hook(function() f() end)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("hook exceeded its", 1, true), r.detail)
  end)

  it("is shared by a fresh coroutine per loop iteration", function()
    local r = run_hook(function()
      while true do coroutine.wrap(function() for _ = 1, 50 do end end)() end
    end, { hook_limit = 1000000 })
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("limit of 1000000 Lua instructions", 1, true), r.detail)
  end)

  it("cannot be swallowed by pcall", function()
    local r = run_hook(function()
      while true do pcall(function() while true do end end) end
    end, { hook_limit = 100000 })
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("limit of 100000 Lua instructions", 1, true), r.detail)
  end)

  it("ends a hook that spends its time in C with the time limit", function()
    local r = run_hook(function()
      while true do local _ = ("x"):rep(1 << 20):upper() end
    end, { hook_timeout = 0.5 })
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("time limit of 0.5", 1, true), r.detail)
  end)

  it("refuses a pattern whose backtracking would not end in time", function()
    local r, took = run_hook(function() return (string.rep("a", 3000):find(".-.-.-b")) end)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("string.find: pattern '.-.-.-b' is too costly", 1, true), r.detail)
    assert.is_true(took < 20, "the wait took " .. took .. " s")
  end)

  it("still lets ordinary patterns run on large subjects", function()
    local text = ("login: root\n"):rep(10000)
    local got
    local r = run_hook(function()
      local n = 0
      for line in text:gmatch("([^\n]*)\n") do n = n + #line end
      got = { n, #text:gsub("root", "r"), text:find("(%w+):%s*(%w+)") }
    end)
    assert.are.equal("exit", r.reason)
    assert.are.same({ 110000, 90000, 1, 11, "login", "root" }, got)
  end)

  it("leaves coroutines and patterns alone outside hooks", function()
    local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
    assert.are.equal(2, co(1))
    assert.are.equal(10, co(5))
    assert.has_error(function() co() end)
    assert.are.equal(1, (("a"):rep(200)):find(".-.-a"))
  end)

  it("rejects a bad hook_timeout naming the key", function()
    assert.has_error(function() t.machine { kernel = t.guest("luadev"), hook_timeout = 0 } end,
      "machine: hook_timeout must be a number of seconds above 0 and at most 86400, got 0")
  end)
end)

describe("a sandboxed recipe's hook", function()
  it("ends in hook_error within its budget, coroutine or not", function()
    local path = t.write_file(os.tmpname() .. ".lua", [[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = luavmm.guest("luadev"), cmdline = "i 0x510",
        console = false, hook_timeout = 1 }
      local co = coroutine.create(function() while true do end end)
      vm:on_pio(0x510, 4, function() coroutine.resume(co) end)
      local r = vm:run(30)
      print(r.reason)
      return r
    ]])
    local r = t.exec({ "run", "--sandbox", path })
    os.remove(path)
    assert.are.equal(1, r.status)
    assert.truthy(r.stdout:find("hook_error", 1, true), r.stdout .. r.stderr)
  end)
end)
