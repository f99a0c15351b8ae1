-- QEMU's fw_cfg (recipe key fw_cfg), as the fwcfg guest reads it through
-- ports 0x510/0x511: the signature, the CPU count kvm-unit-tests needs,
-- RAM, and named files in the directory; then the same through the DMA
-- interface (0x514/0x518), and hostile DMA transfers the VMM survives.
local t = require "luavmm.test"

describe("fw_cfg", function()
  t.teardown_each()

  it("gives the guest the signature, CPU count, RAM and the recipe's files in name order", function()
    local vm = t.boot("fwcfg", "opt/luavmm/greeting", {
      cpus = 3, memory = "64M",
      fw_cfg = { ["opt/luavmm/greeting"] = "hello from the recipe", ["opt/a"] = "x" },
    })
    vm:start()
    assert.are.equal(0, vm:wait(30).value)
    local out = vm.console:output()
    assert.truthy(out:find("fw_cfg: signature QEMU id 0x3\n", 1, true), out) -- bit 1: DMA
    assert.truthy(out:find("fw_cfg: cpus 3 max 3 ram 0x4000000 top 0x4000000\n", 1, true), out)
    assert.truthy(out:find("fw_cfg: files 2\nfw_cfg: file opt/a size 1 select 0x20\n"
      .. "fw_cfg: file opt/luavmm/greeting size 21 select 0x21\n", 1, true), out)
    assert.truthy(out:find("fw_cfg: opt/luavmm/greeting = hello from the recipe\n", 1, true), out)
  end)

  it("serves the same items through the DMA interface", function()
    local vm = t.boot("fwcfg", "opt/luavmm/greeting", {
      cpus = 3, memory = "64M",
      fw_cfg = { ["opt/luavmm/greeting"] = "hello from the recipe", ["opt/a"] = "x" },
    })
    vm:start()
    assert.are.equal(0, vm:wait(30).value)
    local out = vm.console:output()
    assert.truthy(out:find("fw_cfg: dma register QEMU CFG\n"
      .. "fw_cfg: dma signature QEMU id 0x3 cpus 3\n"
      .. "fw_cfg: dma files 2\n"
      .. "fw_cfg: dma opt/luavmm/greeting = hello from the recipe\n", 1, true), out)
  end)

  it("answers hostile DMA transfers as QEMU does, and carries on", function()
    local vm = t.boot("fwcfg", "", { memory = "64M", fw_cfg = true })
    vm:start()
    assert.are.equal(0, vm:wait(30).value)
    local out = vm.console:output()
    -- Lengths clamp to the item: the rest of the buffer is zeroed, a SKIP
    -- stops at the end; bits QEMU does not know, or no operation, move nothing.
    assert.truthy(out:find("fw_cfg: dma past the item: control 0x0 cpus 1 rest 0x0\n"
      .. "fw_cfg: dma skip past the end: control 0x0 then 0x0 read 0x0\n"
      .. "fw_cfg: dma unknown bits: control 0x0 buffer 0xaa\n"
      .. "fw_cfg: dma select only: control 0x0 then Q\n", 1, true), out)
    -- Every item is read-only; RAM is the only thing DMA reaches.
    assert.truthy(out:find("fw_cfg: dma write: control 0x1\n"
      .. "fw_cfg: dma target outside RAM: control 0x1\n"
      .. "fw_cfg: dma target across the end of RAM: control 0x1\n"
      .. "fw_cfg: dma access across the end of RAM: control 0x1\n"
      .. "fw_cfg: dma high half only: control 0xa\n"
      .. "fw_cfg: dma access outside RAM: still QEMU\n", 1, true), out)
  end)

  it("reports the top of RAM above the 32-bit hole for a large machine", function()
    local vm = t.boot("fwcfg", "", { memory = "4G", fw_cfg = true })
    vm:start()
    assert.are.equal(0, vm:wait(30).value)
    local out = vm.console:output()
    assert.truthy(out:find("ram 0x100000000 top 0x140000000\n", 1, true), out)
    -- The hole starts at 3 GiB: DMA refuses what crosses its start.
    assert.truthy(out:find("fw_cfg: dma target across the end of RAM: control 0x1\n"
      .. "fw_cfg: dma access across the end of RAM: control 0x1\n", 1, true), out)
  end)

  it("is absent unless asked for: the ports stay free for Lua devices", function()
    local vm = t.boot("fwcfg", "")
    vm:on_pio(0x510, 2, function() return 0x51 end) -- 'Q' is not what it reads
    vm:start()
    assert.are.equal(1, vm:wait(30).value) -- the signature was wrong
    assert.truthy(vm.console:output():find("fw_cfg: no dma\n", 1, true), vm.console:output())
  end)

  it("names a bad entry", function()
    local function err(v)
      local ok, e = pcall(t.machine, { kernel = t.guest("hello"), fw_cfg = v })
      assert.is_false(ok)
      return tostring(e)
    end
    assert.truthy(err("yes"):find("machine: fw_cfg must be true or a table of files", 1, true))
    assert.truthy(err({ ["opt/x"] = 5 }):find('machine: fw_cfg["opt/x"] must be a string', 1, true))
    assert.truthy(err({ [string.rep("n", 60)] = "" }):find("must be 1 to 55 bytes", 1, true))
  end)
end)
