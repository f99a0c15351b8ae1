-- virtio-pci (transport = "pci"): the PCI host bridge and virtio devices as
-- PCI functions, with real guests under KVM.
--   - pci-check (tests/guests/pci-check.c) finds ECAM in the MCFG table,
--     enumerates bus 0 through 0xcf8/0xcfc and ECAM, walks each virtio
--     function's capabilities, sizes and moves BAR 0, and drives a device
--     through the moved BAR with MSI-X (an interrupt, then one held in the
--     PBA while masked and delivered by the unmask);
--   - the virtio guests written for virtio-mmio (blk-check) run unchanged
--     over PCI (tests/guests/runtime/pci.c);
--   - pci-hostile abuses config space, BARs, MSI-X and the common
--     configuration, and the device still works after;
--   - the recipe keys, ACPI (checked by ACPICA's iasl and acpiexec) and a
--     snapshot/restore of a machine whose guest moved a BAR and uses MSI-X.
local t = require "luavmm.test"
local luavmm = require "luavmm"
local acpica = require "acpica_support"

local SECTORS = 2048

local function image(dir, name)
  return t.write_file(("%s/%s.img"):format(dir, name), ("\0"):rep(SECTORS * 512))
end

local function has(out, line)
  return out:find(line, 1, true) ~= nil
end

describe("virtio-pci with a guest that enumerates the bus", function()
  t.teardown_each()

  for _, chip in ipairs { "split", "kernel" } do
    it(("finds, sizes, moves and drives virtio-rng with MSI-X (irqchip %s)"):format(chip), function()
      local result, out = t.run({ kernel = t.guest("pci-check"), transport = "pci", rng = true,
                                  irqchip = chip }, 60)
      assert.are.equal("exit", result.reason, out)
      assert.are.equal(0, result.value, out)
      for _, line in ipairs {
        "pci-check: mcfg ecam 0xe0000000 buses 0-0\n",
        "pci-check: 00:00.0 1b36:0008 class 060000 rev 00 pin 0 line 0\n",
        -- virtio-rng: 0x1040 + 4, unclassified, revision 1, INTA# on GSI 5
        "pci-check: 00:01.0 1af4:1044 class 00ff00 rev 01 pin 1 line 5\n",
        "pci-check: ecam agrees on 2 functions\n",
        "pci-check: 00:01.0 virtio id 4 caps common@0x0 notify@0x3000 mult 4 isr@0x1000 pcicfg" ..
          " msix 2 table 0x4000 pba 0x5000\n",
        "pci-check: 00:01.0 bar0 64-bit size 0x8000 firmware 0xc0000000\n",
        "pci-check: 00:01.0 bar0 moved to 0xc8010000, old address reads 0xffffffff\n",
        "pci-check: msix interrupts 1\n",
        "pci-check: masked pending 1, unmask delivers 2\n",
        "pci-check: pcicfg num_queues 1\n",
        "pci-check: ok\n",
      } do
        assert.truthy(has(out, line), line .. "\n" .. out)
      end
      assert.is_nil(out:find("FAIL", 1, true), out)
    end)
  end

  it("drives virtio-blk (device configuration, 3 descriptors) beside another function", function()
    local dir = t.tmpdir("luavmm-pci")
    local vm <close> = t.machine { kernel = t.guest("pci-check"), cmdline = "blk", transport = "pci",
                                   rng = true, disks = { root = { path = image(dir, "root") } } }
    vm:start()
    local result = vm:wait(60)
    local out = vm.console:output()
    t.remove_tree(dir)
    assert.are.equal(0, result.value, out)
    -- disks before rng in the device table: blk is 00:01.0, rng 00:02.0
    assert.truthy(has(out, "pci-check: 00:01.0 1af4:1042 class 018000 rev 01 pin 1 line 5\n"), out)
    assert.truthy(has(out, "pci-check: 00:02.0 1af4:1044 class 00ff00 rev 01 pin 1 line 6\n"), out)
    assert.truthy(has(out, "pci-check: ecam agrees on 3 functions\n"), out)
    assert.truthy(has(out, "device@0x2000"), out)
    assert.truthy(has(out, "pci-check: 00:02.0 bar0 64-bit size 0x8000 firmware 0xc0008000\n"), out)
    assert.truthy(has(out, "pci-check: masked pending 1, unmask delivers 2\n"), out)
    assert.truthy(has(out, "pci-check: ok\n"), out)
    assert.are.equal(2, vm.disks.root:stats().reads) -- the interrupt, then the masked one
  end)

  it("runs blk-check unchanged over PCI: the host sees every sector", function()
    local dir = t.tmpdir("luavmm-pci")
    local path = image(dir, "root")
    local vm <close> = t.machine { kernel = t.guest("blk-check"), cmdline = "rw 4321", transport = "pci",
                                   disks = { root = { path = path } } }
    vm:start()
    local result = vm:wait(120)
    local out = vm.console:output()
    assert.are.equal(0, result.value, out)
    assert.truthy(has(out, "found via pci, 2048 sectors"), out)
    assert.truthy(has(out, "blk-check: ok\n"), out)
    assert.are.equal(SECTORS * 512, vm.disks.root:stats().bytes_written)
    vm:close()
    local data = t.read_file(path)
    t.remove_tree(dir)
    for s = 0, SECTORS - 1, 97 do
      assert.are.equal(string.pack("<I4I4", 4321, s):rep(64), data:sub(s * 512 + 1, s * 512 + 512))
    end
  end)

  it("mixes transports per device: a disk on virtio-mmio, rng on PCI", function()
    local dir = t.tmpdir("luavmm-pci")
    local disks = { root = { path = image(dir, "root") } }
    local result, out = t.run({ kernel = t.guest("blk-check"), cmdline = "rw 5", disks = disks,
                                rng = { transport = "pci" } }, 120)
    assert.are.equal(0, result.value, out)
    assert.truthy(has(out, "found via dtb"), out)
    result, out = t.run({ kernel = t.guest("pci-check"), transport = "pci", rng = true,
                          disks = { root = { path = disks.root.path, transport = "mmio" } } }, 60)
    t.remove_tree(dir)
    assert.are.equal(0, result.value, out)
    assert.truthy(has(out, "pci-check: ecam agrees on 2 functions\n"), out)
    -- the mmio disk took GSI 5, the rng the next one
    assert.truthy(has(out, "pci-check: 00:01.0 1af4:1044 class 00ff00 rev 01 pin 1 line 6\n"), out)
  end)

  it("a machine with transport = \"pci\" and no device has the host bridge alone", function()
    local result, out = t.run({ kernel = t.guest("pci-check"), transport = "pci" }, 60)
    assert.are.equal(1, result.value, out)
    assert.truthy(has(out, "pci-check: 00:00.0 1b36:0008"), out)
    assert.truthy(has(out, "pci-check: 1 functions\n"), out)
    assert.truthy(has(out, "FAIL no virtio device to drive"), out)
  end)

  it("refuses bad transport keys, naming them", function()
    local function err(config)
      config.kernel = t.guest("hello")
      local ok, e = pcall(luavmm.machine, config)
      assert.is_false(ok)
      return tostring(e)
    end
    local e = err { transport = "isa" }
    assert.truthy(has(e, 'transport must be "mmio" or "pci", not isa'), e)
    e = err { rng = { transport = 3 } }
    assert.truthy(has(e, 'rng.transport must be "mmio" or "pci", not 3'), e)
    e = err { rng = { transport = "pci", speed = 1 } }
    assert.truthy(has(e, "rng: unknown key 'speed'"), e)
    e = err { disks = { d = { path = "/nonexistent", transport = "usb" } } }
    assert.truthy(has(e, 'disks.d.transport must be "mmio" or "pci", not usb'), e)
  end)
end)

describe("a hostile guest against the PCI host bridge and a virtio-pci function", function()
  t.teardown_each()

  for _, case in ipairs { { "split", "" }, { "kernel", "msix bars" } } do
    it(("leaves the VMM and the device working (irqchip %s, %s)"):format(case[1],
        case[2] == "" and "every case" or case[2]), function()
      local dir = t.tmpdir("luavmm-pci")
      local vm <close> = t.machine { kernel = t.guest("pci-hostile"), cmdline = case[2], transport = "pci",
                                     rng = true, irqchip = case[1],
                                     disks = { other = { path = image(dir, "other") } } }
      vm:start()
      local result = vm:wait(120)
      local out = vm.console:output()
      t.remove_tree(dir)
      assert.are.equal("exit", result.reason, out)
      assert.are.equal(0, result.value, out)
      assert.is_nil(out:find("FAIL", 1, true), out)
      for name in (case[2] == "" and "widths readonly bars msix common" or case[2]):gmatch("%S+") do
        assert.truthy(has(out, "pci-hostile: " .. name .. " done\n"), out)
      end
      assert.truthy(has(out, "pci-hostile: recovered\n"), out)
      assert.is_true(vm.rng:stats().bytes >= 32)
    end)
  end
end)

describe("snapshot and restore of a virtio-pci machine", function()
  t.teardown_each()

  it("brings back the moved BAR, the MSI-X table and its routes", function()
    local dir = t.tmpdir("luavmm-pci-snap")
    local vm = t.machine { kernel = t.guest("pci-check"), cmdline = "rng loop 0", transport = "pci",
                           rng = true }
    vm:start()
    t.expect(vm, "pci-check: round 3 msi 5\n", 60, { plain = true })
    vm:pause()
    vm:snapshot(dir)
    local before = vm.console:log()
    vm:close()
    assert.is_nil(before:find("FAIL", 1, true), before)
    local last = 0
    for k in before:gmatch("pci%-check: round (%d+) msi") do last = tonumber(k) end
    local copy = t.restore(dir, { console = false })
    copy:start()
    -- each round is a request through the moved BAR and an MSI-X interrupt
    local want = ("pci-check: round %d msi %d\n"):format(last + 3, last + 5)
    t.expect(copy, want, 60, { plain = true })
    local after = copy.console:output()
    copy:close()
    t.remove_tree(dir)
    assert.is_nil(after:find("FAIL", 1, true), after)
    assert.is_nil(after:find("pci-check: ok", 1, true), after) -- no second boot
  end)
end)

describe("the ACPI tables of a PCI machine, read by ACPICA", function()
  t.teardown_each()
  if not acpica.need_tools(it) then return end
  local run = acpica.run

  -- acpiexec's result for `path`, whitespace folded, hex offsets and the
  -- ASCII column of buffer dumps dropped.
  local function result(out, path)
    local r = out:match("Evaluating " .. path:gsub("%p", "%%%0") .. "\n[^\n]*\n(.-)\n\n")
    if not r then return "" end
    return (r:gsub("//[^\n]*", ""):gsub("%x%x%x%x: ", ""):gsub("%s+", " "))
  end

  for _, n in ipairs { 0, 1, 8 } do
    it(("MCFG and PCI0 disassemble cleanly and evaluate to the bus with %d devices"):format(n), function()
      local dir = t.tmpdir("luavmm-pci-acpi")
      local disks = {}
      for i = 1, n do
        disks["d" .. i] = { path = t.write_file(("%s/%d.img"):format(dir, i), ("\0"):rep(4096)) }
      end
      local vm = t.machine { kernel = t.guest("hello"), transport = "pci", disks = disks }
      local tables = acpica.read_tables(vm)
      vm:close()
      assert.is_truthy(tables.mcfg, "no MCFG in the XSDT")
      for _, sig in ipairs { "xsdt", "mcfg", "dsdt" } do
        acpica.disassemble(dir, sig, tables[sig])
      end
      local mcfg = t.read_file(dir .. "/mcfg.dsl")
      assert.truthy(has(mcfg, "Base Address : 00000000E0000000"), mcfg)
      assert.truthy(has(mcfg, "Start Bus Number : 00"), mcfg)
      assert.truthy(has(mcfg, "End Bus Number : 00"), mcfg)
      local cmds = { "evaluate \\_SB.PCI0._HID", "evaluate \\_SB.PCI0._CID", "evaluate \\_SB.PCI0._SEG",
                     "evaluate \\_SB.PCI0._BBN", "evaluate \\_SB.PCI0._CRS", "evaluate \\_SB.PCI0._PRT",
                     "evaluate \\_SB.ECAM._HID", "evaluate \\_SB.ECAM._CRS" }
      local out, rc = run(("cd %s && acpiexec -b %s dsdt.dat"):format(t.shell_quote(dir),
                                                                  t.shell_quote(table.concat(cmds, "; "))))
      t.remove_tree(dir)
      assert.are.equal(0, rc, out)
      assert.are.equal(" [Integer] = 00000000080AD041", result(out, "\\_SB.PCI0._HID")) -- PNP0A08
      assert.are.equal(" [Integer] = 00000000030AD041", result(out, "\\_SB.PCI0._CID")) -- PNP0A03
      assert.are.equal(" [Integer] = 0000000000000000", result(out, "\\_SB.PCI0._SEG"))
      assert.are.equal(" [Integer] = 0000000000000000", result(out, "\\_SB.PCI0._BBN"))
      assert.are.equal(" [Integer] = 00000000020CD041", result(out, "\\_SB.ECAM._HID")) -- PNP0C02
      -- WordBusNumber 0-0, IO 0xcf8/8, WordIO 0-0xcf7 and 0xd00-0xffff,
      -- DWordMemory 0xc0000000-0xcfffffff, the end tag
      local crs = result(out, "\\_SB.PCI0._CRS")
      local want = table.concat({ "88 0D 00 02 0C 00 00 00 00 00 00 00 00 00 01 00",
                                  "47 01 F8 0C F8 0C 01 08",
                                  "88 0D 00 01 0C 03 00 00 00 00 F7 0C 00 00 F8 0C",
                                  "88 0D 00 01 0C 03 00 00 00 0D FF FF 00 00 00 F3",
                                  "87 17 00 00 0C 01 00 00 00 00 00 00 00 C0 FF FF FF CF 00 00 00 00 00 00 00 10",
                                  "79 00" }, " ")
      assert.truthy(has(crs, want), want .. "\n" .. crs)
      local ecam = result(out, "\\_SB.ECAM._CRS")
      assert.truthy(has(ecam, "86 09 00 01 00 00 00 E0 00 00 10 00 79 00"), ecam)
      local prt = result(out, "\\_SB.PCI0._PRT")
      assert.truthy(has(prt, ("[Package] Contains %d Elements"):format(n)), prt)
      -- the pins virtio devices get in order: never the RTC's 8, the SCI's 9, the mouse's 12
      local gsis = { 5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23 }
      for i = 1, n do -- device i's INTA# (pin 0) -> its GSI (source 0: a GSI)
        local entry = ("[Package] Contains 4 Elements: [Integer] = %016X [Integer] = %016X" ..
                       " [Integer] = %016X [Integer] = %016X"):format((i << 16) | 0xffff, 0, 0, gsis[i])
        assert.truthy(has(prt, entry), entry .. "\n" .. prt)
      end
    end)
  end
end)
