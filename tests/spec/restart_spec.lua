-- on_reset = "restart": a guest's reset (the i8042's reset line) reboots
-- the machine in place, as a PC does: RAM cleared, the kernel loaded again,
-- every CPU and device as at power-on; the host's side (the machine object,
-- its console, its event handlers) carries on.
local luavmm = require "luavmm"
local t = require "luavmm.test"

local function counter(extra)
  local recipe = { kernel = t.guest("counter"), cmdline = "ms=20", memory = 64, console = false }
  for k, v in pairs(extra or {}) do recipe[k] = v end
  return t.machine(recipe)
end

describe("on_reset", function()
  t.teardown_each()

  it("restarts the guest from power-on, RAM cleared, and keeps the machine", function()
    local vm = counter { on_reset = "restart" }
    local restarted = 0
    vm:on("restart", function() restarted = restarted + 1 end)
    vm:start()
    t.expect(vm, "count 3\n")
    vm.console:send("set before\n")
    t.expect(vm, "ok set before\n")
    vm.console:send("reset\n")
    t.expect(vm, "counter: reset %d+\n")
    t.expect(vm, "counter: start\n")             -- a second boot
    local n, rest = t.count(vm)
    assert.are.equal(1, n)                        -- its count was in RAM
    assert.are.equal("", rest)                    -- and so was its tag
    assert.are.equal(1, restarted)
    assert.are.equal(1, vm:stats().restarts)
    assert.are.equal("running", vm:stats().state)
    -- again: every restart starts from the same power-on state
    vm.console:send("reset\n")
    t.expect(vm, "counter: reset %d+\n")
    t.expect(vm, "counter: start\n")
    assert.are.equal(1, (t.count(vm)))
    assert.are.equal(2, vm:stats().restarts)
    vm.console:send("exit\n")
    local r = vm:wait(30)
    assert.are.equal("exit", r.reason)
  end)

  it("brings every CPU back", function()
    local vm = counter { on_reset = "restart", cpus = 2, cmdline = "ms=20 smp" }
    vm:start()
    local _, rest = t.count(vm)
    while not rest:find("aps") do _, rest = t.count(vm) end
    vm.console:send("reset\n")
    t.expect(vm, "counter: start\n")
    _, rest = t.count(vm)
    while not rest:find("aps") do _, rest = t.count(vm) end
    assert.truthy(rest:match("aps %d+"))
    assert.falsy(vm.console:log():find("FAIL", 1, true))
  end)

  it("stops the machine by default, with reason reset", function()
    local vm = counter()
    vm:start()
    t.expect(vm, "count 2\n")
    vm.console:send("reset\n")
    local r = vm:wait(30)
    assert.are.equal("reset", r.reason)
    assert.are.equal(0, vm:stats().restarts)
  end)

  it("names a bad value", function()
    local ok, err = pcall(luavmm.machine, { kernel = t.guest("counter"), on_reset = "reboot" })
    assert.is_false(ok)
    assert.truthy(err:find('on_reset must be "stop" or "restart", not "reboot"', 1, true))
  end)
end)
