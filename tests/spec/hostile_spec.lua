-- Hostile virtio drivers against real devices under KVM: what
-- tests/guests/virtio-hostile.c (virtio-blk), vcon-hostile.c
-- (virtio-console), net-hostile.c (virtio-net) and virtio-race.c (several
-- vCPUs on one device) do.  Each test asserts on what the guest saw: its
-- end marker, DEVICE_NEEDS_RESET (with the configuration change interrupt
-- virtio 1.2 §2.1.2 requires; the guests check it) where a ring is broken
-- beyond use (§2.7), a well-behaved request served after the reset; and on
-- the VMM: still answering (stats), the disk unchanged.
local t = require "luavmm.test"

local SECTORS = 64

local function image()
  local path = os.tmpname()
  local parts = {}
  for s = 0, SECTORS - 1 do parts[#parts + 1] = string.pack("<I4I4", 99, s):rep(64) end
  local content = table.concat(parts)
  t.write_file(path, content)
  return path, content
end

-- Boots `guest` with `cmdline` and a disk; returns result, output, the
-- disk's stats read after the guest stopped, and whether the disk is unchanged.
local function run_disk(guest, cmdline, extra, before_start)
  local path, content = image()
  local config = { kernel = t.guest(guest), cmdline = cmdline, disks = { d = { path = path } } }
  for k, v in pairs(extra or {}) do config[k] = v end
  local vm <close> = t.machine(config)
  if before_start then before_start(vm) end
  vm:start()
  local result = vm:wait(120)
  local output = vm.console:output()
  local stats = vm.disks.d:stats()
  vm:close()
  local unchanged = t.read_file(path) == content
  os.remove(path)
  return result, output, stats, unchanged
end

describe("a hostile virtio-blk driver", function()
  t.teardown_each()
  local cases = {
    { "widths", "completed" },        -- 8/16/64-bit register accesses are ignored
    { "backwards", "needs-reset" },   -- avail idx behind the device's: the ring is broken
    { "storm", "completed" },         -- notifies on a live queue: served once
    { "overlap", "completed" },       -- used ring over the descriptor table
    { "overlap-avail", "completed" }, -- used ring over the available ring
    { "event-idx", "completed" },     -- used_event anywhere, indices wrapping
    { "reset-inflight", "reset" },
  }
  for _, c in ipairs(cases) do
    local case, expected = c[1], c[2]
    it("'" .. case .. "' -> " .. expected .. ", then a good read after a reset", function()
      local result, output, stats, unchanged = run_disk("virtio-hostile", case)
      assert.are.equal("exit", result.reason, output)
      assert.are.equal(0, result.value, output)
      assert.truthy(output:find("hostile: " .. case .. " -> " .. expected .. "\n", 1, true), output)
      assert.truthy(output:find("hostile: recovered\n", 1, true), output)
      assert.is_true(stats.reads >= 1, "the VMM served the good read")
      assert.are.equal(0, stats.bytes_written)
      assert.is_true(unchanged)
      if case == "event-idx" then
        assert.is_true(stats.reads >= 70001)
      end
    end)
  end

  -- The first request is held in the gate: by a delay verdict (the reset
  -- comes while it waits on the timer), or by a filter that is still
  -- running when the reset comes (the transport lock is dropped meanwhile).
  for _, how in ipairs { "delayed", "slow filter" } do
    it("a reset while a request is held (" .. how .. ") drops it; only the later read runs", function()
      local calls = 0
      local result, output, stats, unchanged = run_disk("virtio-hostile", "reset-inflight", nil,
        function(vm)
          vm.disks.d:on_request(function()
            calls = calls + 1
            if calls > 1 then return end
            if how == "delayed" then return { delay_ms = 300 } end
            local t0 = os.clock()
            while os.clock() - t0 < 0.2 do end
          end)
        end)
      assert.are.equal(0, result.value, output)
      assert.truthy(output:find("hostile: reset-inflight -> reset\n", 1, true), output)
      assert.truthy(output:find("hostile: recovered\n", 1, true), output)
      assert.are.equal(1, stats.reads, "the dropped request never ran")
      assert.are.equal(0, stats.errors)
      assert.is_true(unchanged)
    end)
  end
end)

describe("several vCPUs racing on one virtio-blk window", function()
  t.teardown_each()
  it("every read completes while 3 APs hammer the registers; chaos then recovery", function()
    local result, output, stats, unchanged = run_disk("virtio-race", "300", { cpus = 4 })
    assert.are.equal("exit", result.reason, output)
    assert.are.equal(0, result.value, output)
    assert.truthy(output:find("race: 3 cpus hammering\n", 1, true), output)
    assert.truthy(output:find("race: 300 reads ok\n", 1, true), output)
    assert.truthy(output:find("race: chaos survived %(%d+ ops%)\n"), output)
    assert.truthy(output:find("race: recovered\n", 1, true), output)
    assert.is_true(stats.reads >= 301)
    assert.is_true(unchanged)
  end)
end)

describe("a hostile virtio-console driver", function()
  t.teardown_each()
  local cases = {
    { "zero-len", "completed" }, { "huge", "needs-reset" }, { "loop", "needs-reset" },
    { "bad-next", "needs-reset" }, { "write-only", "completed" }, { "rx-read-only", "completed" },
  }
  for _, c in ipairs(cases) do
    local case, expected = c[1], c[2]
    it("'" .. case .. "' -> " .. expected .. ", then output through the reset device", function()
      local vm <close> = t.machine { kernel = t.guest("vcon-hostile"), cmdline = case,
                                     virtio_console = true }
      vm:start()
      if case == "rx-read-only" then
        t.expect(vm, "vcon%-hostile: posted\n", 60)
        vm.console:send("ping\n")
      end
      local result = vm:wait(120)
      local output = vm.console:output()
      assert.are.equal("exit", result.reason, output)
      assert.are.equal(0, result.value, output)
      assert.truthy(output:find("vcon-hostile: " .. case .. " -> " .. expected .. "\n", 1, true), output)
      -- written through virtio-console's transmitq after the reset:
      assert.truthy(output:find("vcon-hostile: good output\n", 1, true), output)
      assert.truthy(output:find("vcon-hostile: recovered\n", 1, true), output)
      assert.falsy(output:find("WRITE-ONLY-TEXT", 1, true), output)
      assert.falsy(output:find("HOSTILE-TEXT", 1, true), output)
      if case == "rx-read-only" then
        assert.truthy(output:find("vcon-hostile: got ping\n", 1, true), output)
      end
    end)
  end
end)

describe("a hostile virtio-net driver", function()
  local it_root = t.can_netns() and it or pending
  local function in_netns(recipe)
    local ns = t.netns()
    local r = t.exec_recipe(recipe, {}, nil, "ip netns exec " .. ns)
    os.execute("ip netns del " .. ns)
    return r
  end

  local cases = {
    { "short", "completed" }, { "header-only", "completed" }, { "huge", "completed" },
    { "write-only", "completed" }, { "loop", "needs-reset" },
  }
  for _, c in ipairs(cases) do
    local case, expected = c[1], c[2]
    it_root("'" .. case .. "' -> " .. expected .. " and sends nothing; a good frame after a reset", function()
      local r = in_netns(([[
        local luavmm = require "luavmm"
        local vm <close> = luavmm.machine { kernel = luavmm.guest("net-hostile"), cmdline = %q,
          memory = "32M", console = false, nets = { eth0 = { tap = "tapa" } } }
        vm:start()
        local result = vm:wait(120)
        local s = vm.nets.eth0:stats()
        io.write(vm.console:output(), ("result %%s %%d tx_packets %%d\n"):format(result.reason,
          result.value, s.tx_packets))
      ]]):format(case))
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.truthy(r.stdout:find("net-hostile: " .. case .. " -> " .. expected .. "\n", 1, true), r.stdout)
      assert.truthy(r.stdout:find("net-hostile: recovered\n", 1, true), r.stdout)
      -- only the good frame went out: the hostile chain was dropped
      assert.truthy(r.stdout:find("result exit 0 tx_packets 1\n", 1, true), r.stdout)
    end)
  end

  it_root("'rx-read-only': nothing is written into it; good buffers then get a ping", function()
    local r = in_netns([[
      local luavmm = require "luavmm"
      local a <close> = luavmm.machine { kernel = luavmm.guest("net-hostile"), cmdline = "rx-read-only",
        memory = "32M", console = false, nets = { eth0 = { tap = "tapa", mac = "52:54:00:00:00:0a" } } }
      local b <close> = luavmm.machine { kernel = luavmm.guest("net-check"), cmdline = "ping",
        memory = "32M", console = false, nets = { eth0 = { tap = "tapb", mac = "52:54:00:00:00:0b" } } }
      a:start()
      a.console:expect("net%-hostile: posted\n", 60)
      b:start()
      local ra, rb = a:wait(120), b:wait(60)
      local s = a.nets.eth0:stats()
      io.write("A:", a.console:output(), "B:", b.console:output(),
        ("results %d %d rx_dropped %d\n"):format(ra.value, rb.value, s.rx_dropped))
    ]])
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("net-hostile: rx-read-only -> completed\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("net-hostile: recovered\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("net: got pong from 52:54:00:00:00:0a\n", 1, true), r.stdout)
    local dropped = tonumber(r.stdout:match("results 0 0 rx_dropped (%d+)\n"))
    assert.is_true(dropped ~= nil and dropped >= 1, r.stdout)
  end)
end)
