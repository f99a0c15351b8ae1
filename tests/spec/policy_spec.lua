-- Device policies and rate limits with real guests: disk:on_request (the
-- fault-injection recipes, unsupp, bad answers), rate limits per disk
-- and per NIC, net:on_packet.
local t = require "luavmm.test"
local luavmm = require "luavmm"

local function image(sectors)
  local path = os.tmpname()
  t.write_file(path, string.rep("\0", (sectors or 64) * 512))
  return path
end

local function recipe(name, ...)
  local dir = os.getenv("LUAVMM_SOURCE_DIR") or "."
  return t.exec { "run", dir .. "/recipes/" .. name .. ".lua", ... }
end

-- Per-request statuses the blk-ops guest printed, in order.
local function statuses(output)
  local list = {}
  for _, status in output:gmatch("blk%-ops: (%d+) (%d+)\n") do list[#list + 1] = tonumber(status) end
  return list
end

describe("disk:on_request", function()
  t.teardown_each()

  it("fails the Nth write (recipes/fail-nth-write.lua)", function()
    local r = recipe("fail-nth-write", "5")
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("failed: {5}", 1, true), r.stdout)
  end)

  it("fails writes to a sector range (recipes/fail-range.lua)", function()
    local r = recipe("fail-range", "2", "3")
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("blk-ops: done ok=6 ioerr=2", 1, true), r.stdout)
  end)

  it("delays requests without spinning (recipes/slow-disk.lua)", function()
    local r = recipe("slow-disk", "100")
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)

  it("sees op, sector and length; \"unsupp\" reaches the guest; nil removes the policy", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), cmdline = "r 4 10 2",
                           disks = { d = { path = image() } } }
    local seen = {}
    vm.disks.d:on_request(function(req)
      seen[#seen + 1] = ("%s %d %d"):format(req.op, req.sector, req.length)
      if #seen == 2 then return "unsupp" end
      if #seen == 3 then vm.disks.d:on_request(nil) end
    end)
    vm:start()
    assert.are.equal("exit", vm:wait(60).reason)
    assert.are.same({ "read 10 512", "read 12 512", "read 14 512" }, seen)
    assert.are.same({ 0, 2, 0, 0 }, statuses(vm.console:output()))
  end)

  it("a bad answer stops the VM with hook_error naming the value", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), cmdline = "w 2 0",
                           disks = { d = { path = image() } } }
    vm.disks.d:on_request(function() return "explode" end)
    local result = vm:run(60)
    assert.are.equal("hook_error", result.reason)
    assert.truthy(result.detail:find('on_request (disk d) returned explode: expected nothing, "ioerr", "unsupp" or {delay_ms = n}', 1, true), result.detail)
  end)

  it("a bad delay and on_hook_error = \"continue\" lets the guest go on", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), cmdline = "w 2 0", on_hook_error = "continue",
                           disks = { d = { path = image() } } }
    vm.disks.d:on_request(function() return { delay_ms = "soon" } end)
    local result = vm:run(60)
    assert.are.equal("exit", result.reason)
    assert.are.same({ 0, 0 }, statuses(vm.console:output()))
  end)

  it("rejects a non-function", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), disks = { d = { path = image() } } }
    assert.has_error(function() vm.disks.d:on_request(42) end)
  end)
end)

describe("disk rate limits", function()
  t.teardown_each()

  -- Runs blk-ops with `cmdline` and returns the host seconds until it said done.
  local function timed(vm, count)
    local start = luavmm.now()
    vm:start()
    t.expect(vm, "blk%-ops: done ok=" .. count .. " ", 60)
    local elapsed = luavmm.now() - start
    assert.are.equal("exit", vm:wait(30).reason)
    return elapsed
  end

  it("20 ops at 10 ops/s after a bucket of 5 take well over a second (recipe key)", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), cmdline = "r 20 0", disks = {
      d = { path = image(), rate_limit = { ops = { size = 5, refill_ms = 500 } } } } }
    local elapsed = timed(vm, 20)
    assert.is_true(elapsed >= 1.0, ("took only %.2f s"):format(elapsed))
    assert.is_true(vm.disks.d:stats().throttled > 0)
  end)

  it("bandwidth limits with a size string, set at run time", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), cmdline = "r 12 0",
                           disks = { d = { path = image() } } }
    -- 1 KiB per 200 ms = 10 one-sector reads per second, 2 at once
    vm.disks.d:set_rate_limit { bandwidth = { size = "1K", refill_ms = 200 } }
    local elapsed = timed(vm, 12)
    assert.is_true(elapsed >= 0.7, ("took only %.2f s"):format(elapsed))
  end)

  it("can be lifted while requests wait", function()
    local vm = t.machine { kernel = t.guest("blk-ops"), cmdline = "r 40 0", disks = {
      d = { path = image(), rate_limit = { ops = { size = 1, refill_ms = 1000 } } } } }
    vm:start()
    t.expect(vm, "blk%-ops: 1 0\n", 10)
    vm.disks.d:set_rate_limit(nil)
    -- 38 more at 1 op/s would take 38 s; without the limit they finish at once
    t.expect(vm, "blk%-ops: done ok=40 ", 20)
    assert.are.equal("exit", vm:wait(30).reason)
  end)

  it("names the bad key or value", function()
    local function err(rate_limit)
      local ok, msg = pcall(t.machine, { kernel = t.guest("blk-ops"),
        disks = { d = { path = image(), rate_limit = rate_limit } } })
      assert.is_false(ok)
      return msg
    end
    assert.matches("machine: disks.d.rate_limit: unknown key 'bandwith' %(bandwidth, ops%)",
                   err { bandwith = {} })
    assert.matches("machine: disks.d.rate_limit.ops: unknown key 'rate'", err { ops = { rate = 1 } })
    assert.matches("machine: disks.d.rate_limit.ops.size must be a non%-negative integer, not fast",
                   err { ops = { size = "fast" } })
    assert.matches("disks.d.rate_limit.bandwidth.size must be a non%-negative integer or a size like \"10M\", not true",
                   err { bandwidth = { size = true, refill_ms = 1000 } })
    assert.matches("disks.d.rate_limit: rate limit: ops: a size needs a refill time",
                   err { ops = { size = 10 } })
    assert.matches("machine: disks.d.rate_limit must be a table", err(5))
    local vm = t.machine { kernel = t.guest("blk-ops"), disks = { d = { path = image() } } }
    local ok, msg = pcall(vm.disks.d.set_rate_limit, vm.disks.d, { ops = { size = -1 } })
    assert.is_false(ok)
    assert.matches("disk d: set_rate_limit.ops.size must be a non%-negative integer, not %-1", msg)
  end)
end)

describe("net:on_packet and NIC rate limits", function()
  local it_root = t.can_netns() and it or pending

  it_root("drops a percentage of frames and the ping still gets through (recipes/lossy-net.lua)", function()
    local ns = t.netns()
    local dir = os.getenv("LUAVMM_SOURCE_DIR") or "."
    local r = t.exec({ "run", dir .. "/recipes/lossy-net.lua", "tapa", "tapb", "50" }, nil,
                     "ip netns exec " .. ns)
    os.execute("ip netns del " .. ns)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("net: got pong from 52:54:00:00:00:0a\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("dropped [1-9]%d* %(50%%%)"), r.stdout)
  end)

  it_root("a NIC rate limit holds frames back and they still arrive", function()
    local ns = t.netns()
    local r = t.exec_recipe([[
      local luavmm = require "luavmm"
      local function vm(mode, tap, mac, limit)
        return luavmm.machine { kernel = luavmm.guest("net-check"), cmdline = mode,
          memory = "32M", console = false,
          nets = { eth0 = { tap = tap, mac = mac, rate_limit = limit } } }
      end
      local a <close> = vm("pong", "tapa", "52:54:00:00:00:0a")
      local b <close> = vm("ping", "tapb", "52:54:00:00:00:0b",
                           { ops = { size = 1, refill_ms = 100 }, bandwidth = { size = "64K", refill_ms = 1000 } })
      a:start()
      b:start()
      local rb, ra = b:wait(120), a:wait(30)
      local s = b.nets.eth0:stats()
      print(("tx %d throttled %d"):format(s.tx_packets, s.throttled))
      return ra.value == 0 and rb.value == 0 and s.throttled > 0
    ]], {}, nil, "ip netns exec " .. ns)
    os.execute("ip netns del " .. ns)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
  end)
end)
