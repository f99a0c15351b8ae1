-- virtio-balloon (virtio 1.2 §5.5) with a real guest driver (tests/guests/
-- balloon-check.c): inflating gives the guest's pages back to the host
-- (this process's RssShmem drops: guest RAM is our memfd), stats arrive,
-- deflating gives zeroed pages back, a hostile driver changes nothing
-- outside its own pages, and the recipe key and Lua API check their input.
local t = require "luavmm.test"

local MIB = 1 << 20

-- Resident guest RAM of this process, in bytes (the module runs in busted).
local function rss_shmem()
  for line in io.lines("/proc/self/status") do
    local kib = line:match("^RssShmem:%s+(%d+) kB")
    if kib then return tonumber(kib) * 1024 end
  end
  error("no RssShmem in /proc/self/status")
end

-- Waits (running the machine) until pred() holds or `timeout` seconds pass.
local function wait_until(vm, pred, timeout)
  for _ = 1, timeout * 10 do
    if pred() then return true end
    local r = vm:wait(0.1)
    assert.are.equal("timeout", r.reason, vm.console:output())
  end
  return pred()
end

describe("virtio-balloon", function()
  t.teardown_each()

  it("inflating gives the guest's pages back to the host; deflating returns zeroed pages", function()
    local vm = t.boot("balloon-check", "run 128", { memory = "256M", balloon = true })
    assert.are.equal("luavmm.device balloon", tostring(vm.balloon))
    vm:start()
    assert.are.equal("0x30000006", t.expect(vm, "balloon: features (0x%x+)\n"))
    t.expect(vm, "balloon: touched 128 MiB\n", 120)
    t.expect(vm, "balloon: actual 0\n")
    local before = rss_shmem()
    assert.is_true(before >= 128 * MIB, ("RssShmem %d before inflating"):format(before))

    vm.balloon:set(96)
    assert.are.same({ 96, 24576 }, { vm.balloon:target() })
    assert.are.equal("24576", t.expect(vm, "balloon: actual (%d+)\n", 120))
    assert.are.same({ 96, 24576 }, { vm.balloon:actual() })
    local after = rss_shmem()
    local dropped = before - after
    print(("\n  RssShmem %d MiB -> %d MiB: %d MiB of 96 MiB returned")
      :format(before // MIB, after // MIB, dropped // MIB))
    assert.is_true(dropped >= 90 * MIB, ("RSS dropped only %d bytes"):format(dropped))

    local s = vm.balloon:stats()
    assert.are.equal(24576, s.inflated)
    assert.are.equal(96 * MIB, s.returned_bytes)
    assert.are.equal(0, s.rejected)
    assert.are.equal(0, s.discard_errors)
    assert.are.equal(24576, s.target_pages)
    assert.are.equal(24576, s.actual_pages)
    -- The stats queue: the device hands the buffer back every second.
    assert.is_true(wait_until(vm, function()
      local st = vm.balloon:stats()
      return st.stats_updates >= 2 and st.free_memory == (256 - 16 - 32 - 96) * MIB
    end, 10), "no fresh stats from the guest")
    s = vm.balloon:stats()
    assert.are.equal(256 * MIB, s.total_memory)
    assert.are.equal(s.free_memory, s.available_memory)
    assert.are.equal(32768, s.minor_faults)
    assert.are.equal(0, s.swap_in)
    assert.are.equal(0, s.swap_out)
    assert.is_nil(s.disk_caches) -- not reported by this guest

    vm.balloon:set(0)
    -- Every deflated page reads zero: the host really freed it.
    assert.are.equal("24576 pages, 24576", t.expect(vm, "balloon: deflated (%d+ pages, %d+) read zero\n", 60))
    t.expect(vm, "balloon: actual 0\n")
    assert.are.same({ 0, 0 }, { vm.balloon:actual() })
    assert.are.equal(24576, vm.balloon:stats().deflated)
    assert.is_true(rss_shmem() >= before - 4 * MIB) -- touched again by the guest

    vm.console:send("quit\n")
    t.expect(vm, "balloon: kept 32768 of 32768\n")
    local result = vm:wait(30)
    assert.are.equal("exit", result.reason)
    assert.are.equal(0, result.value)
  end)

  it("takes options: no stats queue, no deflate-on-OOM", function()
    local vm = t.boot("balloon-check", "run 16", {
      memory = "64M", balloon = { stats = false, deflate_on_oom = false },
    })
    vm:start()
    assert.are.equal("0x30000000", t.expect(vm, "balloon: features (0x%x+)\n"))
    t.expect(vm, "balloon: actual 0\n", 60)
    vm.balloon:set(8.5) -- MiB, not necessarily whole
    assert.are.equal("2176", t.expect(vm, "balloon: actual (%d+)\n", 60))
    local s = vm.balloon:stats()
    assert.are.equal(2176 * 4096, s.returned_bytes)
    assert.are.equal(0, s.stats_updates)
    assert.is_nil(s.total_memory)
    vm.console:send("quit\n")
    t.expect(vm, "balloon: kept 1920 of 1920\n")
    assert.are.equal(0, vm:wait(30).value)
  end)

  it("a hostile driver leaves the VMM running and RAM outside its balloon untouched", function()
    local vm = t.boot("balloon-check", "hostile", { memory = "64M", balloon = true })
    vm:start()
    local result = vm:wait(60)
    local output = vm.console:output()
    assert.are.equal("exit", result.reason, output)
    assert.are.equal(0, result.value, output)
    for _, line in ipairs { "hostile: bad pfns answered", "hostile: burst answered",
                            "hostile: odd stats answered",
                            "hostile: num_pages read-only",
                            "balloon: deflated 256 pages, 256 read zero",
                            "hostile: kept 1792 of 1792", "hostile: done" } do
      assert.truthy(output:find(line .. "\n", 1, true), output)
    end
    local s = vm.balloon:stats()
    -- 5 PFNs outside RAM, 1 in the odd buffer, 1 MiB of 0xffffffff, 5 deflated outside
    -- RAM, then 15 buffers of 64 KiB of 0xffffffff
    assert.are.equal(5 + 1 + 262144 + 5 + 15 * 16384, s.rejected)
    assert.are.equal(256, s.inflated)
    assert.are.equal(256, s.deflated)
    assert.are.equal(1 * MIB, s.returned_bytes)
    assert.are.equal(0, s.discard_errors)
    assert.are.equal(64 * MIB, s.total_memory) -- the well-formed entry after the unknown tag
  end)

  it("checks the recipe key and the Lua arguments", function()
    local luavmm = require "luavmm"
    local function err(balloon)
      local ok, e = pcall(luavmm.machine, { kernel = t.guest("hello"), balloon = balloon })
      assert.is_false(ok)
      return tostring(e)
    end
    assert.truthy(err("yes"):find("balloon must be a boolean or a table, not a string", 1, true))
    assert.truthy(err({ stats = 1 }):find("balloon.stats must be a boolean, not a number", 1, true))
    assert.truthy(err({ size = 1 }):find("balloon: unknown key 'size'", 1, true))
    assert.truthy(err({ stats_interval_ms = -1 }):find("stats_interval_ms must be an integer", 1, true))

    local vm = t.machine { kernel = t.guest("hello"), memory = "32M", balloon = true, rng = true }
    local ok, e = pcall(vm.balloon.set, vm.balloon, 33)
    assert.is_false(ok)
    assert.truthy(tostring(e):find("balloon:set: the target must be from 0 to 32 MiB", 1, true))
    ok, e = pcall(vm.balloon.set, vm.balloon, "half")
    assert.truthy(tostring(e):find("must be a number of MiB, not a string", 1, true))
    ok, e = pcall(vm.balloon.set, vm.balloon)
    assert.truthy(tostring(e):find("the target (MiB) is missing", 1, true))
    vm.balloon:set(32) -- before the guest drives it: kept as the target
    assert.are.same({ 32, 8192 }, { vm.balloon:target() })
    assert.are.equal(0, vm.rng:stats().bytes) -- unnamed kinds are objects too
    assert.is_nil(t.machine({ kernel = t.guest("hello") }).balloon)
  end)

  it("recipes/idle-balloon.lua shrinks a quiet guest", function()
    local source = t.read_file(os.getenv("LUAVMM_SOURCE_DIR") .. "/recipes/idle-balloon.lua")
    local result = t.exec_recipe(source, { "2", "60" }) -- ends once the balloon is full
    assert.are.equal(0, result.status, result.stdout .. result.stderr)
    assert.truthy(result.stdout:find("idle%-balloon: quiet for 2 s, balloon set to 64 MiB"), result.stdout)
    assert.truthy(result.stdout:find("idle-balloon: balloon 64 MiB, 64 MiB returned to the host", 1, true),
                  result.stdout)
  end)
end)
