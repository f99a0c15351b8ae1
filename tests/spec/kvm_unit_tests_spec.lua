-- kvm-unit-tests (the x86 suite KVM developers run) under luavmm, through
-- recipes/kvm-unit-tests.lua, which boots each test binary as the suite's
-- x86/run boots it under QEMU.
--
-- The first block always runs (the recipe's pc-testdev, with a test guest).
-- The kvm-unit-tests block is opt-in: pending unless LUAVMM_KUT_DIR names a
-- kvm-unit-tests build directory (the one holding x86/*.flat after
-- `./configure && make`).
--
-- Each test below is run with the vCPU count, arguments and irqchip of its
-- x86/unittests.cfg entry, and its result is compared with the one QEMU
-- gave on the development host (qemu-system-x86_64 7.2, -accel kvm, same
-- options): the exit status (QEMU's: 1 all passed, 3 a check failed, 77
-- every check skipped, 124 no result within the time limit) and the
-- checks that FAILed.  Where QEMU itself fails or hangs on that host it is
-- said next to the entry: the expectation is QEMU's, not the test's ideal.
--
-- LUAVMM_KUT_COMPARE=qemu instead runs QEMU (`qemu-system-x86_64`, or
-- LUAVMM_KUT_QEMU) on this host with the same options before each test
-- and expects luavmm to give QEMU's status and QEMU's FAIL and SKIP lines:
-- the comparison to use on any other host.
-- LUAVMM_KUT_TESTS="smptest msr" runs only those entries.
local t = require "luavmm.test"

local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
local RECIPE = SOURCE .. "/recipes/kvm-unit-tests.lua"

-- Always run: the recipe's pc-testdev and exit status, with the luadev test
-- guest standing in for a kvm-unit-tests binary (its command line is the
-- recipe's APPEND).
describe("recipes/kvm-unit-tests.lua", function()
  local function run(...)
    return t.exec({ "run", RECIPE, "-t", "60", t.guest("luadev"), "1", ... })
  end

  it("serves pc-testdev's scratch ports and memory and exits as QEMU does", function()
    local r = run("o", "0xe0", "0x11223344", "i", "0xe0", "i", "0xe8",
                  "o", "0xe8", "0x55", "i", "0xe0", "o", "0xe4", "0x1000",
                  "w", "0xff000010", "0xdeadbeef", "r", "0xff000010", "r", "0xff000014",
                  "x", "5")
    local out = r.stdout .. r.stderr
    assert.truthy(out:find("in 0xe0 = 0x11223344\nin 0xe8 = 0x11223344\nin 0xe0 = 0x55\n", 1, true), out)
    assert.truthy(out:find("mmio 0xff000010 = 0xdeadbeef\nmmio 0xff000014 = 0x0\n", 1, true), out)
    assert.are.equal((5 << 1) | 1, r.status, out)     -- isa-debug-exit's status
  end)

  it("exits 1 when the guest wrote 0 to the debug-exit port, as QEMU does", function()
    local r = run()
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
  end)

  it("refuses a missing binary and bad arguments with usage status 2", function()
    assert.are.equal(2, t.exec({ "run", RECIPE, "/nonexistent.flat" }).status)
    assert.are.equal(2, t.exec({ "run", RECIPE, t.guest("luadev"), "zero" }).status)
    assert.are.equal(2, t.exec({ "run", RECIPE, "-i", "pic", t.guest("luadev") }).status)
  end)
end)

local DIR = os.getenv("LUAVMM_KUT_DIR")
if not DIR or DIR == "" then
  describe("kvm-unit-tests", function()
    pending("opt-in: LUAVMM_KUT_DIR=<a kvm-unit-tests build directory> "
      .. "(README, \"kvm-unit-tests\")")
  end)
  return
end
local COMPARE = os.getenv("LUAVMM_KUT_COMPARE")
local QEMU = os.getenv("LUAVMM_KUT_QEMU") or "qemu-system-x86_64"

-- name, file, smp, the QEMU options of its unittests.cfg entry, irqchip,
-- time limit (s), and what QEMU gave on the development host (a 2-vCPU
-- nested KVM whose kernel-mode guest code is emulated, docs/HOST.md):
-- status, the FAIL lines.
local TESTS = {
  { name = "smptest", file = "smptest", smp = 2, status = 1 },
  { name = "smptest3", file = "smptest", smp = 3, status = 1 },
  -- rdtscp and rdpid are not offered to the guest on that host: 0 checks.
  { name = "tsc", file = "tsc", qemu = "-cpu kvm64,+rdtscp", status = 77 },
  -- That host's TSC does not move by the TSC_ADJUST value.
  { name = "tsc_adjust", file = "tsc_adjust", qemu = "-cpu max", status = 3,
    fails = { "TSC adjustment for MSR_IA32_TSC_ADJUST value" } },
  -- The check count follows the CPU's MCE banks (QEMU's -cpu max: 10,
  -- luavmm's host CPUID: the host's), so only the outcome is compared.
  { name = "msr", file = "msr", qemu = "-cpu max,vendor=GenuineIntel", status = 1 },
  -- VMCALL never returns on that host, under QEMU as under luavmm.
  { name = "hypercall", file = "hypercall", limit = 60, status = 124 },
  { name = "rmap_chain", file = "rmap_chain", status = 1 },
  { name = "port80", file = "port80", status = 1, limit = 900 },
  { name = "sieve", file = "sieve", status = 1, limit = 900 },
  { name = "s3", file = "s3", status = 1 },
  -- QEMU: all 127 checks pass; "sti inhibit" (cli; pulse IRQ 11 through
  -- pc-testdev; sti; hlt) is woken by the BIOS tick (the recipe's pit = "bios").
  { name = "realmode", file = "realmode", limit = 300, status = 1 },
  -- QEMU with its in-kernel IOAPIC (its default) on that host: three
  -- checks fail, then the test waits forever for an interrupt on CPU 1.
  { name = "ioapic", file = "ioapic", smp = 4, qemu = "-cpu qemu64,+x2apic",
    limit = 300, status = 124,
    fails = { "ioapic simultaneous edge interrupts", "unmasked level interrupt",
              "retriggered level interrupts with mask" } },
  { name = "ioapic-1cpu", file = "ioapic", smp = 1, qemu = "-cpu qemu64,+x2apic",
    limit = 300, status = 3,
    fails = { "ioapic simultaneous edge interrupts", "unmasked level interrupt",
              "retriggered level interrupts with mask" } },
  -- kernel_irqchip=split on that host: QEMU stops at "retriggered level
  -- interrupts without masking" (the guest halts and the re-raised level
  -- interrupt never comes), and luavmm's split irqchip does the same.
  { name = "ioapic-split", file = "ioapic", smp = 1, irqchip = "split",
    qemu = "-cpu qemu64 -machine kernel_irqchip=split", limit = 200, status = 124,
    fails = { "ioapic simultaneous edge interrupts" } },
  -- QEMU and luavmm both stop at the PV IPI hypercall (VMCALL, above).
  { name = "apic", file = "apic", smp = 2, qemu = "-cpu qemu64,+x2apic,+tsc-deadline",
    limit = 300, status = 124 },
}

local function selected(name)
  local only = os.getenv("LUAVMM_KUT_TESTS")
  if not only or only == "" then return true end
  for word in only:gmatch("%S+") do
    if word == name then return true end
  end
  return false
end

local exists = t.exists

-- The "PASS: ...", "FAIL: ..." and "SKIP: ..." lines of a test's output.
local function checks(output, kind)
  local lines = {}
  for line in output:gmatch("[^\n]*") do
    line = line:gsub("\r$", "")
    local text = line:match("^" .. kind .. ": (.*)$")
    if text then lines[#lines + 1] = text end
  end
  table.sort(lines)
  return lines
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- QEMU as x86/run starts it; returns its status and output.
local function run_qemu(test, image)
  local out = os.tmpname()
  local cmd = ("timeout %d %s -nodefaults -device pc-testdev "
    .. "-device isa-debug-exit,iobase=0xf4,iosize=0x4 -display none -serial stdio "
    .. "-machine accel=kvm -kernel %s -smp %d %s >%s 2>&1 </dev/null"):format(
    test.limit or 600, QEMU, shell_quote(image), test.smp or 1, test.qemu or "", out)
  local _, how, code = os.execute(cmd)
  local f = io.open(out, "rb")
  local output = f and f:read("a") or ""
  if f then f:close() end
  os.remove(out)
  return how == "exit" and code or 128 + code, output
end

describe("kvm-unit-tests through recipes/kvm-unit-tests.lua", function()
  for _, test in ipairs(TESTS) do
    if selected(test.name) then
      it(("%s (%s.flat, %d vCPU%s, %s irqchip)"):format(test.name, test.file,
          test.smp or 1, (test.smp or 1) > 1 and "s" or "", test.irqchip or "kernel"), function()
        local image = DIR .. "/x86/" .. test.file .. ".flat"
        assert.is_true(exists(image), image .. " is missing: build kvm-unit-tests there")
        local want_status, want_fails, want_skips = test.status, test.fails or {}, nil
        if COMPARE == "qemu" then
          local qemu_output
          want_status, qemu_output = run_qemu(test, image)
          want_fails, want_skips = checks(qemu_output, "FAIL"), checks(qemu_output, "SKIP")
        end
        table.sort(want_fails)
        local r = t.exec({ "run", RECIPE, "-t", tostring(test.limit or 600),
                           "-i", test.irqchip or "kernel", image, tostring(test.smp or 1) })
        local output = r.stdout .. r.stderr
        assert.are.equal(want_status, r.status, output)
        assert.are.same(want_fails, checks(output, "FAIL"), output)
        if want_skips then
          assert.are.same(want_skips, checks(output, "SKIP"), output)
        end
      end)
    end
  end
end)
