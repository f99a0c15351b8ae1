-- SMP: the smp guest discovers the vCPUs through the ACPI MADT and the MP
-- table luavmm writes, starts every AP with INIT-SIPI-SIPI and each CPU
-- checks in with its APIC ID (tests/guests/smp.c).
local t = require "luavmm.test"

local function boot(cpus, cmdline)
  local result, output = t.run({ kernel = t.guest("smp"), cpus = cpus, cmdline = cmdline }, 60)
  local cpus_seen = {}
  for n, apic, cpuid in output:gmatch("cpu (%d+) apic (%d+) cpuid (%d+)\n") do
    cpus_seen[#cpus_seen + 1] = { n = tonumber(n), apic = tonumber(apic), cpuid = tonumber(cpuid) }
  end
  return result, output, cpus_seen
end

local function listed(output, what)
  local n, ids = output:match("smp: " .. what .. " at 0x%x+ (%d+) cpus:([%d ]*)\n")
  local list = {}
  for id in (ids or ""):gmatch("%d+") do list[#list + 1] = tonumber(id) end
  return tonumber(n), list
end

local function sequence(n)
  local s = {}
  for i = 0, n - 1 do s[#s + 1] = i end
  return s
end

describe("an SMP machine", function()
  for _, cpus in ipairs { 1, 2, 4 } do
    it("with cpus = " .. cpus .. " lists them in the MADT and MP table and starts them all", function()
      local result, output, seen = boot(cpus)
      assert.are.equal("exit", result.reason, output)
      assert.are.equal(cpus, result.value, output)
      assert.are.same({ cpus, sequence(cpus) }, { listed(output, "madt") })
      assert.are.same({ cpus, sequence(cpus) }, { listed(output, "mptable") })
      assert.truthy(output:find(("smp: %d of %d cpus checked in\n"):format(cpus, cpus), 1, true))
      -- APIC IDs 0..N-1, distinct, and CPUID 01H EBX[31:24] agrees on every vCPU.
      assert.are.equal(cpus, #seen)
      local ids, seen_id = {}, {}
      for i, c in ipairs(seen) do
        assert.are.equal(i - 1, c.n)
        assert.are.equal(c.apic, c.cpuid)
        assert.is_nil(seen_id[c.apic], "APIC ID " .. c.apic .. " seen twice")
        seen_id[c.apic] = true
        ids[#ids + 1] = c.apic
      end
      table.sort(ids)
      assert.are.same(sequence(cpus), ids)
    end)
  end

  it("starts the CPUs the MP table lists (cmdline mptable)", function()
    local result, output = boot(4, "mptable")
    assert.are.equal(4, result.value, output)
  end)

  it("moves the MP table out of the EBDA when it does not fit, and still starts 48 CPUs", function()
    local result, output = boot(48)
    assert.are.equal(48, result.value, output)
    assert.truthy(output:find("smp: mptable at 0xf0000 48 cpus", 1, true), output)
  end)

  it("refuses cpus above the KVM limit with one clear line", function()
    local r = t.exec_recipe(([[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = %q, cpus = 4096 }
    ]]):format(t.guest("smp")))
    assert.are.equal(1, r.status)
    assert.are.equal(1, select(2, r.stderr:gsub("\n", "")), r.stderr)
    assert.matches("cpus: 4096 is out of range", r.stderr, 1, true)
  end)
end)
