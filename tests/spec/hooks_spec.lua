-- Lua hooks driven by real guests: on_pio/on_mmio devices, lifecycle events,
-- console lines, timers, the watchdog, and hook errors / runaway hooks.
local t = require "luavmm.test"
local luavmm = require "luavmm"
local watchdog = require "luavmm.watchdog"

describe("on_pio and on_mmio", function()
  t.teardown_each()

  it("turn unclaimed ports into a Lua counter device the guest drives", function()
    local vm = t.boot("luadev", "o 0x510 5 o 0x514 7 i 0x510 i 0x514 i 0x700")
    local total, seen = 0, {}
    local dev = vm:on_pio(0x510, 8, function(io)
      seen[#seen + 1] = io
      if io.write then total = total + io.value else return total + io.offset end
    end)
    vm:start()
    assert.are.equal("0xc", t.expect(vm, "in 0x510 = (0x%x+)\n"))
    assert.are.equal("0x10", t.expect(vm, "in 0x514 = (0x%x+)\n"))
    -- port 0x700 is nobody's: all-ones, and no Lua ran for it
    assert.are.equal("0xffffffff", t.expect(vm, "in 0x700 = (0x%x+)\n"))
    assert.are.equal("exit", vm:wait(30).reason)
    assert.are.equal(4, #seen)
    assert.are.same({ true, 0x510, 0, 4, 5 }, { seen[1].write, seen[1].port, seen[1].offset, seen[1].size, seen[1].value })
    assert.are.equal("read", seen[3].op)
    assert.are.equal(4, dev:accesses())
    assert.are.equal(1, vm:stats().unclaimed.pio_reads)
  end)

  it("serve MMIO reads and writes in the 32-bit hole", function()
    local vm = t.boot("luadev", "w 0xd0000010 0x1234 r 0xd0000010 r 0xd0000ff8")
    local mem = {}
    vm:on_mmio(0xd0000000, 0x1000, function(io)
      if io.write then mem[io.offset] = io.value else return mem[io.offset] or io.offset end
    end)
    vm:start()
    assert.are.equal("0x1234", t.expect(vm, "mmio 0xd0000010 = (0x%x+)\n"))
    assert.are.equal("0xff8", t.expect(vm, "mmio 0xd0000ff8 = (0x%x+)\n"))
    assert.are.equal("exit", vm:wait(30).reason)
  end)

  it("can be removed: the range is unclaimed again", function()
    local vm = t.boot("luadev", "i 0x510 i 0x511 i 0x510")
    local h
    h = vm:on_pio(0x510, 1, function() h:remove(); return 42 end)
    vm:start()
    assert.are.equal("0x2a", t.expect(vm, "in 0x510 = (0x%x+)\n"))
    assert.are.equal("0xffffffff", t.expect(vm, "in 0x510 = (0x%x+)\n"))
    vm:wait(30)
  end)

  it("refuse a range a device already claims, naming it", function()
    local vm = t.boot("luadev", "")
    local ok, err = pcall(vm.on_pio, vm, 0x3f8, 8, function() end)
    assert.is_false(ok)
    assert.truthy(err:find("on_pio: 0x3f8+0x8 overlaps serial8250 at 0x3f8+0x8", 1, true), err)
    vm:on_pio(0x510, 4, function() end)
    ok, err = pcall(vm.on_pio, vm, 0x512, 2, function() end)
    assert.truthy(err:find("on_pio: 0x512+0x2 overlaps on_pio at 0x510+0x4", 1, true), err)
    assert.falsy(err:find("on_pio: on_pio", 1, true), err)
    assert.has_error(function() vm:on_pio(0xffff, 2, function() end) end)
  end)

  it("tell a hook which vCPU made the access, and let it set that vCPU's registers", function()
    local vm = t.boot("luadev", "v 0x5658", { cpus = 2 })
    local seen
    -- A VMware-backdoor style device: eax from the return value, the rest as registers.
    vm:on_pio(0x5658, 4, function(io)
      seen = io.cpu
      return 0x564d5868, { rbx = 0x1234, rcx = 0xabcd, rdx = 0x77 }
    end)
    vm:start()
    assert.are.equal("0x5658 = 0x564d5868 0x1234 0xabcd 0x77", t.expect(vm, "vin (0x%x+ = [^\n]*)\n"))
    assert.are.equal(0, seen)
    assert.are.equal(0, vm:wait(30).value)
  end)

  it("refuse registers from a posted write hook (a hook error)", function()
    local vm = t.boot("luadev", "o 0x510 1 c") -- then counts forever: only the hook can stop it
    vm:on_pio(0x510, 4, function() return nil, { rbx = 1 } end)
    vm:start()
    local result = vm:wait(30)
    assert.are.equal("hook_error", result.reason)
    assert.truthy(result.detail:find("registers can be set only by a read or a write to a hook made with {sync = true}", 1, true),
      result.detail)
  end)

  it("with {sync = true}, finish a write's effects before the guest's next instruction", function()
    -- The guest writes the port and reads guest RAM at 0x300000 right away.
    -- The hook takes 20 ms before it writes there: a posted write would let
    -- the guest read first (it does: 0 of 5 in a trial); a sync one waits.
    for round = 1, 3 do
      local vm <close> = t.machine { kernel = t.guest("luadev"), console = false,
                                     cmdline = "s 0x510 " .. round .. " 0x300000" }
      vm:on_pio(0x510, 4, function(io)
        local t0 = os.clock()
        while os.clock() - t0 < 0.02 do end
        vm:write(0x300000, string.pack("<I4", 0x1000 + io.value))
      end, { sync = true })
      vm:start()
      assert.are.equal(("0x%x"):format(0x1000 + round), t.expect(vm, "after out 0x300000 = (0x%x+)\n"))
    end
  end)

  it("serve two machines in one spec independently", function()
    local a = t.boot("luadev", "i 0x510")
    local b = t.boot("luadev", "i 0x510")
    a:on_pio(0x510, 4, function() return 1 end)
    b:on_pio(0x510, 4, function() return 2 end)
    a:start(); b:start()
    assert.are.equal("0x2", t.expect(b, "in 0x510 = (0x%x+)"))
    assert.are.equal("0x1", t.expect(a, "in 0x510 = (0x%x+)"))
  end)

  it("serve every machine's hooks, timers and events while waiting on any one", function()
    local idle = t.boot("echo", "")
    local busy = t.boot("luadev", "i 0x510 i 0x510 x 3")
    local ticker = t.boot("echo", "")
    local answered, ticks, stopped = 0, 0, nil
    busy:on_pio(0x510, 4, function() answered = answered + 1; return 0x42 end)
    busy:on("exit", function() stopped = "exit" end)
    ticker:every("10ms", function() ticks = ticks + 1 end)
    idle:start(); busy:start(); ticker:start()
    -- Only `idle` is waited on; the others' hooks and timers must still run.
    local deadline = luavmm.now() + 30
    repeat
      idle:wait(0.2)
    until (busy:stats().state == "exit" and ticks > 0) or luavmm.now() > deadline
    assert.are.equal(2, answered)
    assert.are.equal("exit", stopped)
    assert.is_true(ticks > 0)
    assert.truthy(busy.console:output():find("in 0x510 = 0x42\nin 0x510 = 0x42", 1, true))
    assert.are.equal("running", idle:stats().state)
  end)
end)

describe("hook errors", function()
  t.teardown_each()

  it("stop the machine with reason hook_error and a traceback", function()
    local vm = t.boot("luadev", "i 0x510 i 0x510")
    vm:on_pio(0x510, 4, function() local x; return x.field end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.are.equal(104, r.code)
    assert.truthy(r.detail:find("on_pio hook:.*attempt to index a nil value"), r.detail)
    assert.truthy(r.traceback:find("stack traceback", 1, true))
  end)

  it("interrupt a runaway hook at the instruction limit", function()
    local vm = t.boot("luadev", "i 0x510", { hook_limit = 100000 })
    vm:on_pio(0x510, 4, function() while true do end end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("limit of 100000 Lua instructions", 1, true), r.detail)
  end)

  it("let the guest go on when the recipe asked to continue", function()
    local vm = t.boot("luadev", "i 0x510 i 0x510", { on_hook_error = "continue" })
    local calls = 0
    vm:on_pio(0x510, 4, function() calls = calls + 1; error("boom") end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("exit", r.reason)
    assert.are.equal(2, calls)
  end)

  it("refuse to wait inside a hook", function()
    local vm = t.boot("luadev", "i 0x510")
    vm:on_pio(0x510, 4, function() vm:wait(1) end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("cannot wait inside a hook", 1, true), r.detail)
  end)

  it("reject bad hook settings with one line naming the field", function()
    assert.has_error(function() t.machine { kernel = t.guest("luadev"), hook_limit = 0 } end,
      "machine: hook_limit must be an integer from 1 to 2147483647 (Lua instructions per hook call), got 0")
    assert.has_error(function() t.machine { kernel = t.guest("luadev"), on_hook_error = "ignore" } end,
      'machine: on_hook_error must be "stop" or "continue", not "ignore"')
  end)

  it("never leave the process alive or vCPUs hung (a recipe erroring while a vCPU waits on Lua)", function()
    local r = t.exec_recipe([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("luadev"), cmdline = "i 0x510", console = false }
vm:on_pio(0x510, 4, function() return 1 end)
vm:start()
error("recipe gave up")  -- the vCPU is blocked on its read: teardown must release it
]])
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("recipe gave up", 1, true))
  end)
end)

describe("what a hook may not do", function()
  it("close another machine while a wait serves it (refused, the wait goes on)", function()
    local a = t.boot("echo", "")
    local b = t.boot("echo", "")
    local err
    b:after("50ms", function()
      local ok, e = pcall(a.close, a)
      err = not ok and e
    end)
    a:start(); b:start()
    assert.are.equal("timeout", a:wait(0.5).reason)
    assert.truthy(err and err:find("close: cannot close a machine from inside a hook", 1, true))
    a:close() -- after the wait: fine
    b:close()
  end)

  it("wait on another machine from inside a hook (refused)", function()
    local a = t.boot("echo", "")
    local b = t.boot("echo", "")
    local err
    b:after("50ms", function()
      local ok, e = pcall(a.wait, a, 1)
      err = not ok and e
    end)
    a:start(); b:start()
    b:wait(0.5)
    assert.truthy(err and err:find("wait: cannot wait inside a hook", 1, true))
  end)

  it("let a console function close its machine (refused: a hook error)", function()
    local vm
    vm = t.machine { kernel = t.guest("echo"), console = function() vm:close() end }
    vm:start()
    local result = vm:wait(30)
    assert.are.equal("hook_error", result.reason)
    assert.truthy(result.detail:find("console hook: .*cannot close a machine"))
    vm:close()
  end)

  it("reports a console function's error as a hook error", function()
    local vm <close> = t.machine { kernel = t.guest("echo"),
      console = function() error("sink broke") end }
    vm:start()
    local result = vm:wait(30)
    assert.are.equal("hook_error", result.reason)
    assert.truthy(result.detail:find("sink broke", 1, true))
  end)

  it("count accesses through a handle whose machine is closed (0, no crash)", function()
    local vm = t.boot("luadev", "i 0x510")
    local h = vm:on_pio(0x510, 4, function() return 1 end)
    vm:start()
    vm:wait(30)
    assert.are.equal(1, h:accesses())
    vm:close()
    assert.are.equal(0, h:accesses())
  end)
end)

describe("lifecycle events, console lines and timers", function()
  t.teardown_each()

  it("deliver start and exit events, and every console line", function()
    local vm = t.boot("luadev", "i 0x700")
    local events, lines = {}, {}
    vm:on("start", function(v) events[#events + 1] = "start:" .. tostring(v == vm) end)
    vm:on("exit", function() events[#events + 1] = "exit" end)
    vm.console:on_line(function(line) lines[#lines + 1] = line end)
    vm:start()
    vm:wait(30)
    assert.are.same({ "start:true", "exit" }, events)
    assert.are.same({ "luadev: ready", "in 0x700 = 0xffffffff", "luadev: done" }, lines)
  end)

  it("deliver reset and shutdown events", function()
    for _, case in ipairs { { "out 0x64 0xfe", "reset" }, { "triple", "shutdown" } } do
      local vm = t.boot("poke", case[1])
      local got
      vm:on(case[2], function() got = case[2] end)
      vm:start()
      assert.are.equal(case[2], vm:wait(30).reason)
      assert.are.equal(case[2], got)
    end
  end)

  it("run after/every timers while waiting, and cancel them", function()
    local vm = t.boot("luadev", "c")
    local ticks, once, never = 0, 0, 0
    local every = vm:every("10ms", function() ticks = ticks + 1 end)
    vm:after("30ms", function() once = once + 1 end)
    local cancelled = vm:after("20ms", function() never = never + 1 end)
    assert.is_true(cancelled:cancel())
    assert.is_false(cancelled:cancel())
    vm:after("150ms", function(v) every:cancel(); v:stop("done") end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("killed", r.reason)
    assert.are.equal("done", r.detail)
    assert.is_true(ticks >= 5 and ticks <= 16, "ticks " .. ticks)
    assert.are.equal(1, once)
    assert.are.equal(0, never)
    assert.is_false(every:pending())
  end)

  it("a watchdog stops a guest that went quiet", function()
    local vm = t.boot("luadev", "c")
    watchdog.watch(vm, { seconds = 0.3 })
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("killed", r.reason)
    assert.truthy(r.detail:find("watchdog: no console output for 0.3 s", 1, true), r.detail)
  end)

  it("a watchdog with a custom action leaves a chatty guest alone", function()
    local vm = t.boot("echo", "")
    local fired = 0
    watchdog.watch(vm, { seconds = 0.2, action = function() fired = fired + 1 end })
    vm:start()
    t.expect(vm, "echo: ready")
    local sends = 0
    vm:every("50ms", function() sends = sends + 1; vm.console:send("x\n") end)
    vm:after("500ms", function(v) v:stop() end)
    vm:wait(30)
    assert.are.equal(0, fired)
  end)
end)

describe("luavmm.ratelimiter", function()
  it("limits bandwidth and ops with burst, and changes at run time", function()
    local luavmm = require "luavmm"
    local rl = luavmm.ratelimiter { bandwidth = { size = 1000, refill_ms = 1000, burst = 500 },
      ops = { size = 100, refill_ms = 1000 } }
    assert.is_true(rl:consume(1400))
    assert.is_false(rl:consume(200))
    assert.is_true(rl:wait_ms(200) > 50)
    assert.are.equal(math.huge, rl:wait_ms(5000))
    -- a bigger bucket keeps the tokens left (no free refill) but can now fit more
    rl:update { bandwidth = { size = 100000, refill_ms = 1000 } }
    assert.is_false(rl:consume(50000))
    assert.is_true(rl:wait_ms(50000) < 1000)
    assert.has_error(function() luavmm.ratelimiter { ops = { size = 1 } } end,
      "ratelimiter: rate limit: ops: a size needs a refill time (refill_ms > 0)")
  end)
end)
