-- ACPI tables checked by an independent implementation: ACPICA's iasl and
-- acpiexec (acpica-tools, scripts/install-deps.sh).  For machines with 0, 1
-- and 8 virtio devices, the spec reads the tables out of guest RAM the way
-- an OS finds them (RSDP at 0xe0000 -> XSDT -> FADT -> FACS, DSDT; MADT),
-- then:
--   - `iasl -d` disassembles every table without an error or a warning
--     (the RSDP is not a table iasl disassembles: its checksums are checked
--     here);
--   - `acpiexec` loads the DSDT with luavmm's FADT and evaluates each
--     virtio device's _HID, _UID, _STA and _CRS, COM1's _CRS and \_S5; the
--     results must be the windows and GSIs the board handed out.
local t = require "luavmm.test"
local acpica = require "acpica_support"

local WINDOW, BASE = 0x1000, 0xd0000000
-- the IOAPIC pins virtio devices get in order: never the RTC's 8, the SCI's 9, the mouse's 12
local VIRTIO_GSIS = { 5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23 }

local run = acpica.run

-- A machine with `n` virtio-blk devices (disks d1..dn, sorted: slot i-1 is di
-- for n < 10).
local function machine(n, dir)
  local disks = {}
  for i = 1, n do
    disks["d" .. i] = { path = t.write_file(("%s/disk%d.img"):format(dir, i), ("\0"):rep(4096)) }
  end
  return t.machine { kernel = t.guest("hello"), disks = disks }
end

local function escape(s)
  return (s:gsub("%p", "%%%0"))
end

-- The bytes of the Buffer acpiexec printed for `path`, as "86 09 00 ...".
local function buffer(out, path)
  local dump = out:match("Evaluating " .. escape(path) .. "\n[^\n]*\n  %[Buffer%] Length %x+ =(.-)\n\n")
  if not dump then return nil end
  local bytes = {}
  for row in dump:gmatch("%x%x%x%x: ([^/]*)//") do
    for b in row:gmatch("%x%x") do bytes[#bytes + 1] = b end
  end
  return table.concat(bytes, " ")
end

-- acpiexec's own hardware self-tests poke registers this FADT does not
-- have (ARB_DISABLE lives in PM2_CNT; there is no GPE block): those are the
-- only "Unexpected" lines allowed.
local function unexpected_lines(out)
  local bad = {}
  for line in out:gmatch("[^\n]+") do
    local noisy = line:find("Unexpected", 1, true) or line:find("Error", 1, true) or
                  line:find("Warning", 1, true) or line:find("Exception", 1, true)
    local allowed = line:match("^Unexpected AE_BAD_ADDRESS from Acpi%a+BitRegister") or
                    line:match("^Unexpected AE_BAD_PARAMETER from Acpi%a*Gpe%a*")
    if noisy and not allowed then bad[#bad + 1] = line end
  end
  return bad
end

describe("luavmm's ACPI tables, read by ACPICA", function()
  t.teardown_each()
  if not acpica.need_tools(it) then return end

  for _, n in ipairs { 0, 1, 8 } do
    it(("disassemble cleanly and evaluate to the slots with %d virtio devices"):format(n), function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. t.shell_quote(dir)))
      local vm = machine(n, dir)
      local tables = acpica.read_tables(vm)
      for _, sig in ipairs { "xsdt", "rsdt", "facp", "facs", "dsdt", "apic" } do
        local out = acpica.disassemble(dir, sig, tables[sig])
        assert.truthy(out:find(sig .. ".dsl", 1, true), out)
      end
      local dsl = t.read_file(dir .. "/facp.dsl")
      assert.truthy(dsl:find("PM Timer Block Address : 00000608", 1, true), dsl)
      assert.truthy(dsl:find("32%-bit PM Timer %(V1%) : 1"), dsl)
      assert.truthy(dsl:find("SCI Interrupt : 0009", 1, true), dsl)
      assert.truthy(t.read_file(dir .. "/apic.dsl"):find("Interrupt Source Override", 1, true))

      local cmds = { "evaluate \\_S5", "evaluate \\_SB.COM1._HID", "evaluate \\_SB.COM1._CRS" }
      for i = 0, n - 1 do
        for _, m in ipairs { "_HID", "_UID", "_STA", "_CRS" } do
          cmds[#cmds + 1] = ("evaluate \\_SB.VR%02d.%s"):format(i, m)
        end
      end
      local out, rc = run(("cd %s && acpiexec -b %s dsdt.dat facp.dat"):format(t.shell_quote(dir),
                                                                  t.shell_quote(table.concat(cmds, "; "))))
      assert.are.equal(0, rc, out)
      assert.are.same({}, unexpected_lines(out))
      assert.truthy(out:find("ACPI: FACS ", 1, true), out)
      -- \_S5 = { 5, 5, 0, 0 }; COM1: PNP0501 (0x0105D041), IO 0x3f8/8, IRQ 4.
      assert.truthy(out:find("Evaluating \\_S5[^\n]*\n[^\n]*\n  %[Package%] Contains 4 Elements:\n" ..
                             "    %[Integer%] = 0+5\n    %[Integer%] = 0+5\n"), out)
      assert.truthy(out:find("%[Integer%] = 000000000105D041"), out)
      assert.are.equal("47 01 F8 03 F8 03 00 08 22 10 00 79 00", buffer(out, "\\_SB.COM1._CRS"))
      for i = 0, n - 1 do
        local name = ("\\_SB.VR%02d."):format(i)
        local function result(m)
          return out:match("Evaluating " .. escape(name .. m) .. "\n[^\n]*\n([^\n]*)")
        end
        assert.are.equal('  [String] Length 08 = "LNRO0005"', result("_HID"))
        assert.are.equal(("  [Integer] = %016X"):format(i), result("_UID"))
        assert.are.equal("  [Integer] = 000000000000000F", result("_STA"))
        -- Memory32Fixed(ReadWrite, base, 0x1000), Interrupt(Consumer, Level, ActiveHigh) {gsi}
        local base, gsi = BASE + i * WINDOW, VIRTIO_GSIS[i + 1]
        local want = ("86 09 00 01 %02X %02X %02X %02X 00 10 00 00 89 06 00 01 01 %02X 00 00 00 79 00")
          :format(base & 0xff, (base >> 8) & 0xff, (base >> 16) & 0xff, base >> 24, gsi)
        assert.are.equal(want, buffer(out, name .. "_CRS"))
      end
      assert.is_nil(out:find(("VR%02d"):format(n), 1, true))
      vm:close()
      os.execute("rm -rf " .. t.shell_quote(dir))
    end)
  end
end)

-- The hardware those tables describe, as a guest sees it (tests/guests/pmtimer.c,
-- at ring 3): the FADT's PM timer against the RTC's seconds, the RTC's
-- date, and S5 through PM1a_CNT with the SLP_TYP the DSDT's \_S5 gives.
describe("the ACPI hardware, from a guest", function()
  t.teardown_each()

  it("finds the FACS and the PM timer, which counts at 3.579545 MHz by the RTC", function()
    local result, out = t.run({ kernel = t.guest("pmtimer") }, 60)
    assert.are.equal("exit", result.reason, out)
    assert.are.equal(0, result.value, out)
    assert.truthy(out:find("pmtimer: fadt sci 9 pm1a_evt 0x600 pm1a_cnt 0x604 pm_tmr 0x608 ext 1 facs OK\n",
                           1, true), out)
    -- No timed assertion: a broken timer (unclaimed port, wrong rate) misses
    -- a factor of two; host load does not.
    local ticks = tonumber(out:match("pmtimer: (%d+) ticks per rtc second"))
    assert.truthy(ticks, out)
    assert.is_true(ticks > 3579545 / 2 and ticks < 3579545 * 2, out)
  end)

  it("reads the host's UTC time from the RTC, in BCD by default", function()
    local before = os.time()
    local result, out = t.run({ kernel = t.guest("pmtimer") }, 60)
    assert.are.equal("exit", result.reason, out)
    local y, mo, d, h, mi, s, bcd = out:match("rtc: (%d+)%-(%d+)%-(%d+) (%d+):(%d+):(%d+) bcd (%d)")
    assert.truthy(y, out)
    assert.are.equal("1", bcd)
    -- os.time reads a local-time table; compare in UTC through os.date("!*t").
    local utc = os.date("!*t", before)
    local guest = os.time { year = tonumber(y), month = tonumber(mo), day = tonumber(d),
                            hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) }
    local host = os.time { year = utc.year, month = utc.month, day = utc.day,
                           hour = utc.hour, min = utc.min, sec = utc.sec }
    assert.is_true(math.abs(guest - host) < 600, out)
  end)

  it("powers off when the guest enters S5", function()
    local result, out = t.run({ kernel = t.guest("pmtimer"), cmdline = "poweroff" }, 60)
    assert.truthy(out:find("pmtimer: S5 is SLP_TYP 5\n", 1, true), out)
    assert.are.equal("poweroff", result.reason, out)
    assert.are.equal(106, result.code) -- unasked: not a success
    assert.is_false(result.ok)
    assert.falsy(out:find("still running", 1, true), out)
  end)

  it("vm:shutdown() presses the power button and waits for the guest to power off", function()
    local vm <close> = t.machine { kernel = t.guest("pmtimer"), cmdline = "button" }
    vm:start()
    t.expect(vm, "pmtimer: waiting for the power button\n", 60)
    -- Nothing happens until the button is pressed.
    assert.are.equal("timeout", vm:wait(0.3).reason)
    local result = vm:shutdown(60)
    assert.are.equal("poweroff", result.reason, vm.console:output())
    assert.are.equal(0, result.code) -- asked for: success
    assert.is_true(result.ok)
    assert.truthy(vm.console:output():find("pmtimer: power button pressed\n", 1, true))
    assert.has_error(function() vm:power_button() end, "power_button: the machine is not running")
  end)

  it("vm:shutdown() returns a timeout when the guest ignores the button", function()
    local vm <close> = t.machine { kernel = t.guest("echo"), console = false }
    vm:start()
    assert.are.equal("timeout", vm:shutdown(0.5).reason)
    vm:stop()
  end)
end)
