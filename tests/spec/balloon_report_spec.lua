-- virtio-balloon free page reporting (virtio 1.2 §5.5.6.7) with a ring-3
-- driver (tests/guests/balloon-report.c): the pages the guest reports as
-- free go back to the host (this process's RssShmem drops: guest RAM is
-- our memfd) and read as zeroes afterwards; reporting_vq is numbered after
-- the queues of the features the driver took; the feature is off unless
-- the recipe asks for it.
local t = require "luavmm.test"

local MIB = 1 << 20

local function rss_shmem()
  for line in io.lines("/proc/self/status") do
    local kib = line:match("^RssShmem:%s+(%d+) kB")
    if kib then return tonumber(kib) * 1024 end
  end
  error("no RssShmem in /proc/self/status")
end

local function reports(cmdline, queue)
  local vm = t.boot("balloon-report", cmdline, { memory = "128M",
    balloon = { free_page_reporting = true } })
  vm:start()
  assert.are.equal(queue, t.expect(vm, "balloon%-report: reporting_vq (%d)\n"))
  t.expect(vm, "balloon%-report: touched 64 MiB\n", 60)
  local before = rss_shmem()
  vm.console:send("r")
  t.expect(vm, "balloon%-report: reported 64 MiB in 9 buffers\n", 60)
  local dropped = before - rss_shmem()
  t.expect(vm, "balloon%-report: 16384 of 16384 read zero\n", 60)
  assert.are.equal(0, vm:wait(30).value, vm.console:output())
  assert.is_true(dropped >= 60 * MIB, ("RssShmem dropped only %d bytes"):format(dropped))
  local s = vm.balloon:stats()
  assert.are.equal(9, s.reports)
  assert.are.equal(64 * MIB + 2 * 4096, s.reported_bytes)
  assert.are.equal(1, s.report_unaligned)
  assert.are.equal(0, s.returned_bytes) -- the inflate queue's, untouched
  assert.are.equal(0, s.discard_errors)
end

describe("virtio-balloon free page reporting", function()
  t.teardown_each()

  it("gives reported pages back to the host (reporting_vq 2 without stats)", function()
    reports("report 64", "2")
  end)

  it("numbers reporting_vq 3 after the stats queue", function()
    reports("report 64 stats", "3")
  end)

  it("is off unless the recipe asks for it", function()
    local vm = t.boot("balloon-report", "report 8", { memory = "64M", balloon = true })
    vm:start()
    t.expect(vm, "balloon%-report: no free page reporting\n")
    assert.are.equal(1, vm:wait(30).value)
    assert.is_nil(vm.balloon:stats().reports)
    local ok, err = pcall(t.machine, { kernel = t.guest("hello"),
      balloon = { free_page_reporting = "yes" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("balloon.free_page_reporting must be a boolean, not a string", 1, true),
      tostring(err))
  end)
end)
