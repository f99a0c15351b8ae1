-- The CPUID policy (src/arch/x86/cpu/cpuid.h) and MSR defaults, as the cpuid
-- guest sees them, plus the recipe errors of the `cpuid` key.
local luavmm = require "luavmm"
local t = require "luavmm.test"

-- Boots the cpuid guest and returns its report as a table of lines' fields.
local function report(config)
  config = config or {}
  config.kernel = t.guest("cpuid")
  local result, output = t.run(config)
  assert.are.equal("exit", result.reason, output)
  assert.are.equal(0, result.value, output)
  local r = { output = output, leaf = {} }
  for label, fields in output:gmatch("cpuid (%S+)([^\n]*)\n") do
    local regs = {}
    for reg, v in fields:gmatch("(%a+)=0x(%x+)") do regs[reg] = tonumber(v, 16) end
    r.leaf[label] = regs
  end
  r.apic = tonumber(output:match("apic id=(%d+)\n"))
  r.hv_max, r.hv_sig = output:match("hypervisor max=0x(%x+) sig=(%S*)")
  r.hv_max = r.hv_max and tonumber(r.hv_max, 16)
  r.msr = {}
  for k, v in (output:match("msr([^\n]*)\n") or ""):gmatch("(%S+)=0x(%x+)") do
    r.msr[k] = tonumber(v, 16)
  end
  return r
end

local function bit(v, n) return (v >> n) & 1 end

describe("the CPUID policy", function()
  it("hides cx16 by name: leaf 1 ECX bit 13 is clear", function()
    local r = report { cpuid = { hide = { "cx16" } } }
    assert.are.equal(0, bit(r.leaf["1"].ecx, 13))
  end)

  -- Bits this host's KVM lists in KVM_GET_SUPPORTED_CPUID.  kvm_pvm (the
  -- development host) passes host bits it does not list (xsave, avx, avx2)
  -- through whatever the VMM sets, so those cannot be hidden there.
  it("hides several features across leaves", function()
    local r = report { cpuid = { hide = { "cx16", "nx" } } }
    assert.are.equal(0, bit(r.leaf["1"].ecx, 13))
    assert.are.equal(0, bit(r.leaf["80000001"].edx, 20))
    local plain = report()
    assert.are.equal(1, bit(plain.leaf["80000001"].edx, 20)) -- nx is there by default
  end)

  it("forces a bit by name (mwaitx: leaf 0x80000001 ECX bit 29)", function()
    assert.are.equal(1, bit(report({ cpuid = { force = { "mwaitx" } } }).leaf["80000001"].ecx, 29))
    assert.are.equal(0, bit(report({ cpuid = { hide = { "mwaitx" } } }).leaf["80000001"].ecx, 29))
  end)

  it("warns, once per machine, when a forced bit is one KVM neither supports nor emulates", function()
    local function stderr_of(cpuid)
      local r = t.exec_recipe(([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("hello"), cpus = 2, console = false,
                                    cpuid = %s }
vm:start()
return vm:wait(30).value]]):format(cpuid))
      assert.are.equal(0, r.status, r.stderr)
      return r.stderr
    end
    assert.are.equal("", stderr_of('{ force = { "nx" } }')) -- offered by every x86-64 KVM
    if bit(report().leaf["80000001"].ecx, 29) == 0 then -- no mwaitx here (an Intel host)
      local err = stderr_of('{ force = { "mwaitx" } }')
      local _, n = err:gsub("luavmm: warning: cpuid.force: 'mwaitx' is neither supported nor emulated", "")
      assert.are.equal(1, n, err)
    end
  end)

  it("advertises a hypervisor: leaf 1 ECX bit 31 and KVM's leaf 0x40000000", function()
    local r = report()
    assert.are.equal(1, bit(r.leaf["1"].ecx, 31))
    assert.are.equal("KVMKVMKVM", r.hv_sig)
    assert.is_true(r.hv_max >= 0x40000001)
  end)

  it("gives the boot vCPU APIC ID 0 and counts the logical CPUs", function()
    local r = report { cpus = 3 }
    assert.are.equal(0, r.apic)
    assert.are.equal(3, (r.leaf["1"].ebx >> 16) & 0xff)
  end)
end)

describe("the MSR defaults", function()
  it("sets PAT to its power-on value, enables fast strings and write-back MTRRs", function()
    local r = report()
    assert.are.equal(0x0007040600070406, r.msr.pat)
    assert.are.equal(1, bit(r.msr.misc_enable, 0))
    if r.msr.mtrr_def_type then -- read only when CPUID offers MTRRs
      assert.are.equal(0x806, r.msr.mtrr_def_type)
    end
  end)
end)

describe("a bad cpuid key", function()
  local function err(cpuid)
    local ok, msg = pcall(luavmm.machine, { kernel = t.guest("cpuid"), console = false, cpuid = cpuid })
    assert.is_false(ok)
    return msg
  end

  it("names an unknown feature", function()
    assert.matches("machine: cpuid.hide: unknown feature 'cx17'", err { hide = { "cx17" } }, 1, true)
    assert.matches("machine: cpuid.force: unknown feature 'AVX2'", err { force = { "AVX2" } }, 1, true)
  end)

  it("rejects wrong types", function()
    assert.matches("machine: cpuid must be a table, not a string", err "cx16", 1, true)
    assert.matches("machine: cpuid.hide must be a list of feature names, not a string",
      err { hide = "cx16" }, 1, true)
    assert.matches("machine: cpuid.hide[2] must be a feature name (a string), not a number",
      err { hide = { "cx16", 13 } }, 1, true)
    assert.matches("machine: cpuid: unknown key 'mask' (expected hide or force)",
      err { mask = { "cx16" } }, 1, true)
  end)

  it("rejects a feature both hidden and forced", function()
    assert.matches("machine: cpuid: 'cx16' is both hidden and forced",
      err { hide = { "cx16" }, force = { "cx16" } }, 1, true)
  end)

  it("ends `luavmm run` with one clear line and status 1", function()
    local r = t.exec_recipe(([[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = %q, cpuid = { hide = { "cx17" } } }
      vm:start()
      return vm:wait(10)
    ]]):format(t.guest("cpuid")))
    assert.are.equal(1, r.status)
    assert.are.equal("", r.stdout)
    local lines = select(2, r.stderr:gsub("\n", ""))
    assert.are.equal(1, lines, r.stderr)
    assert.matches("machine: cpuid.hide: unknown feature 'cx17'", r.stderr, 1, true)
  end)
end)
