-- QEMU's fw_cfg (recipe key fw_cfg), as the fwcfg guest reads it through
-- ports 0x510/0x511: the signature, the CPU count kvm-unit-tests needs,
-- RAM, and named files in the directory.
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
    assert.truthy(out:find("fw_cfg: signature QEMU id 0x1\n", 1, true), out)
    assert.truthy(out:find("fw_cfg: cpus 3 max 3 ram 0x4000000 top 0x4000000\n", 1, true), out)
    assert.truthy(out:find("fw_cfg: files 2\nfw_cfg: file opt/a size 1 select 0x20\n"
      .. "fw_cfg: file opt/luavmm/greeting size 21 select 0x21\n", 1, true), out)
    assert.truthy(out:find("fw_cfg: opt/luavmm/greeting = hello from the recipe\n", 1, true), out)
  end)

  it("reports the top of RAM above the 32-bit hole for a large machine", function()
    local vm = t.boot("fwcfg", "", { memory = "4G", fw_cfg = true })
    vm:start()
    assert.are.equal(0, vm:wait(30).value)
    assert.truthy(vm.console:output():find("ram 0x100000000 top 0x140000000\n", 1, true),
      vm.console:output())
  end)

  it("is absent unless asked for: the ports stay free for Lua devices", function()
    local vm = t.boot("fwcfg", "")
    vm:on_pio(0x510, 2, function() return 0x51 end) -- 'Q' is not what it reads
    vm:start()
    assert.are.equal(1, vm:wait(30).value) -- the signature was wrong
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
