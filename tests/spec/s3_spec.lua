-- ACPI S3, suspend to RAM (src/arch/x86/sleep.h): tests/guests/s3.c finds
-- the FACS and \_S3 like an OS, writes a real-mode trampoline's address as
-- the FACS waking vector, arms a wake source and writes SLP_TYP | SLP_EN
-- to PM1a_CNT.  On the wake the boot vCPU starts at the vector (its state
-- from power-on, RAM kept): the trampoline prints "s3: resumed" and exits
-- with (marker << 16) | PM1_STS, where the marker is what the guest kept
-- writing after SLP_EN (0: no instruction ran after the write).
local t = require "luavmm.test"
local acpica = require "acpica_support"

local WAK_STS, RTC_STS, PWRBTN_STS = 0x8000, 0x400, 0x100

-- The status bits the wake left (TMR_STS, bit 0, may flip on its own).
local function status(result)
  return result.value & 0xff00
end

local function marker(result)
  return result.value >> 16
end

-- A machine running the s3 guest in `mode`, recording its sleep events.
local function sleeper(mode, config)
  local c = { kernel = t.guest("s3"), cmdline = mode }
  for k, v in pairs(config or {}) do c[k] = v end
  local vm = t.machine(c)
  local events = {}
  vm:on("suspend", function(m)
    events[#events + 1] = "suspend"
  end)
  vm:on("wake", function(m, reason)
    events[#events + 1] = "wake " .. reason
  end)
  return vm, events
end

-- Starts `vm` and returns once it sleeps.
local function start_and_sleep(vm)
  vm:start()
  t.expect(vm, "s3: suspending\n", 60, { plain = true })
  assert.is_true(t.wait_until(function() return vm:stats().state == "sleeping" end, 60),
                 vm.console:log())
end

local function assert_resumed(vm, result, want_status)
  local out = vm.console:log()
  assert.are.equal("exit", result.reason, out .. (result.detail or ""))
  assert.truthy(out:find("s3: facs 0xe0040 pm1a_evt 0x600 pm1a_cnt 0x604 slp_typ 1\n", 1, true), out)
  assert.truthy(out:find("s3: suspending\ns3: resumed", 1, true), out)
  assert.falsy(out:find("still running", 1, true), out)
  assert.are.equal(0, marker(result), "a vCPU ran on after SLP_EN")
  assert.are.equal(string.format("0x%04x", want_status), string.format("0x%04x", status(result)))
end

describe("ACPI S3", function()
  t.teardown_each()

  it("sleeps on SLP_TYP 1 | SLP_EN; the RTC alarm wakes it at the FACS waking vector", function()
    local vm, events = sleeper("rtc")
    vm:start()
    local result = vm:wait(120)
    assert_resumed(vm, result, WAK_STS | RTC_STS)
    assert.are.same({ "suspend", "wake rtc" }, events)
    assert.are.equal("exit", vm:stats().state)
  end)

  it("passes kvm-unit-tests' s3 way: every alarm byte 'don't care', SLP_TYP 1 unread", function()
    local vm, events = sleeper("kut", { cpus = 2 })
    vm:start()
    local result = vm:wait(120)
    assert_resumed(vm, result, WAK_STS | RTC_STS)
    assert.are.same({ "suspend", "wake rtc" }, events)
  end)

  it("sleeps and wakes with 4 vCPUs (APs 2 on get AP 1's power-on state, their own APIC ID)", function()
    local vm, events = sleeper("rtc", { cpus = 4 })
    vm:start()
    local result = vm:wait(120)
    assert_resumed(vm, result, WAK_STS | RTC_STS)
    assert.are.same({ "suspend", "wake rtc" }, events)
  end)

  it("sleeps until woken: state 'sleeping', wait() goes on waiting, no guest exits", function()
    local vm, events = sleeper("button")
    local state_seen
    vm:on("suspend", function(m) state_seen = m:stats().state end)
    start_and_sleep(vm)
    -- The state reads "sleeping" as soon as the guest sleeps; the event
    -- reaches Lua on the next serving round: wait for it.
    t.wait_until(function() return state_seen ~= nil end, 60)
    assert.are.equal("sleeping", state_seen)
    assert.are.same({ "suspend" }, events)
    assert.is_false(vm:paused()) -- the host did not pause it
    local exits = vm:stats().exits
    assert.are.equal("timeout", vm:wait(0.3).reason)
    assert.are.same(exits, vm:stats().exits)
    assert.are.equal("sleeping", vm:stats().state)
    -- The power button wakes it (whatever PWRBTN_EN says).
    vm:power_button()
    local result = vm:wait(60)
    assert_resumed(vm, result, WAK_STS | PWRBTN_STS)
    assert.are.same({ "suspend", "wake power_button" }, events)
  end)

  it("vm:wake() wakes a sleeping machine (WAK_STS alone) and is false for one awake", function()
    local vm, events = sleeper("host")
    start_and_sleep(vm)
    assert.is_true(vm:wake())
    local result = vm:wait(60)
    assert_resumed(vm, result, WAK_STS)
    assert.are.same({ "suspend", "wake host" }, events)
    assert.has_error(function() vm:wake() end, "wake: the machine has stopped (exit)")

    local awake <close> = t.machine { kernel = t.guest("echo") }
    assert.has_error(function() awake:wake() end, "wake: the machine has not been started")
    awake:start()
    t.expect(awake, "echo: ready\n", 60, { plain = true })
    assert.is_false(awake:wake())
    awake:stop()
  end)

  it("keeps the host's pause apart from the sleep", function()
    local vm, events = sleeper("host")
    start_and_sleep(vm)
    vm:pause()
    assert.is_true(vm:paused())
    assert.is_true(vm:wake())
    -- Awake but still paused: nothing runs until vm:resume().
    assert.is_true(t.wait_until(function() return #events == 2 end, 60))
    assert.are.equal("running", vm:stats().state)
    assert.are.equal("timeout", vm:wait(0.3).reason)
    assert.falsy(vm.console:log():find("resumed", 1, true))
    vm:resume()
    assert_resumed(vm, vm:wait(60), WAK_STS)
    assert.are.same({ "suspend", "wake host" }, events)
  end)

  it("forks a sleeping machine: the child sleeps on and wakes on its own", function()
    local vm = sleeper("host", { memory = "64M" })
    start_and_sleep(vm)
    local child = t.track(vm:fork(), "child")
    assert.are.equal("sleeping", child:stats().state) -- created, asleep
    local child_events = {}
    child:on("suspend", function() child_events[#child_events + 1] = "suspend" end)
    child:on("wake", function(_, why) child_events[#child_events + 1] = "wake " .. why end)
    child:start()
    assert.are.equal("timeout", child:wait(0.3).reason)
    assert.are.equal("sleeping", child:stats().state)
    assert.is_true(child:wake())
    local result = child:wait(60)
    assert.are.equal("exit", result.reason, child.console:log())
    assert.truthy(child.console:log():find("s3: resumed\n", 1, true), child.console:log())
    assert.are.equal(WAK_STS, status(result))
    assert.are.equal(0, marker(result))
    assert.are.same({ "suspend", "wake host" }, child_events) -- it came to life asleep
    -- The parent still sleeps.
    assert.are.equal("sleeping", vm:stats().state)
    assert.is_true(vm:wake())
    assert_resumed(vm, vm:wait(60), WAK_STS)
  end)

  it("enters X_Firmware_Waking_Vector in 32-bit protected mode", function()
    local vm = sleeper("x32")
    start_and_sleep(vm)
    vm:wake()
    local result = vm:wait(60)
    assert.are.equal("exit", result.reason, vm.console:log())
    assert.truthy(vm.console:log():find("s3: suspending\ns3: resumed 32\n", 1, true))
    assert.are.equal(WAK_STS, status(result))
  end)

  it("resets when the OS left no waking vector", function()
    local vm, events = sleeper("novector")
    start_and_sleep(vm)
    vm:wake()
    local result = vm:wait(60)
    assert.are.equal("reset", result.reason)
    assert.matches("ACPI S3 wake: the FACS waking vector is 0", result.detail, 1, true)
    assert.are.same({ "suspend", "wake host" }, events)
  end)
end)

-- \_S3 as ACPICA reads it (acpica-tools, like acpi_spec.lua).
describe("luavmm's DSDT, read by ACPICA", function()
  t.teardown_each()
  if not acpica.need_tools(it) then return end

  it("declares \\_S3 = { 1, 1, 0, 0 } and a version-2 FACS", function()
    local vm <close> = t.machine { kernel = t.guest("hello") }
    local tables = acpica.read_tables(vm)
    local dir = t.tmpdir("s3-acpi")
    t.write_file(dir .. "/facp.dat", tables.facp)
    for _, sig in ipairs { "dsdt", "facs" } do
      acpica.disassemble(dir, sig, tables[sig])
    end
    local facs = t.read_file(dir .. "/facs.dsl")
    assert.truthy(facs:find("Version : 02", 1, true), facs)
    assert.truthy(facs:find("32 Firmware Waking Vector : 00000000", 1, true), facs)
    assert.truthy(facs:find("64 Firmware Waking Vector : 0000000000000000", 1, true), facs)
    local out, rc = acpica.run(("cd %s && acpiexec -b 'evaluate \\_S3' dsdt.dat facp.dat"):format(t.shell_quote(dir)))
    assert.are.equal(0, rc, out)
    assert.truthy(out:find("Evaluating \\_S3[^\n]*\n[^\n]*\n  %[Package%] Contains 4 Elements:\n" ..
                           "    %[Integer%] = 0+1\n    %[Integer%] = 0+1\n" ..
                           "    %[Integer%] = 0+\n    %[Integer%] = 0+\n"), out)
    t.remove_tree(dir)
  end)
end)
