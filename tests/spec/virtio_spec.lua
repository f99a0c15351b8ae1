-- virtio devices with real guests under KVM: blk (read/write/flush, read-only,
-- kill -9 after a flush), rng, the device tree, recipe errors.
local t = require "luavmm.test"

local SECTORS = 2048 -- a 1 MiB image

local function image(content)
  local path = os.tmpname()
  t.write_file(path, content or string.rep("\0", SECTORS * 512))
  return path
end

-- What blk-check writes: sector s is string.pack("<I4I4", seed, s) x 64.
local function pattern(seed)
  local parts = {}
  for s = 0, SECTORS - 1 do parts[#parts + 1] = string.pack("<I4I4", seed, s):rep(64) end
  return table.concat(parts)
end

local function first_bad_sector(data, seed)
  for s = 0, SECTORS - 1 do
    if data:sub(s * 512 + 1, s * 512 + 512) ~= string.pack("<I4I4", seed, s):rep(64) then
      return s
    end
  end
end

describe("virtio-blk", function()
  it("writes every sector, flushes and reads it back; the host sees the pattern", function()
    local path = image()
    local vm <close> = t.machine {
      kernel = t.guest("blk-check"), cmdline = "rw 1234",
      disks = { root = { path = path } },
    }
    vm:start()
    local result = vm:wait(120)
    local output = vm.console:output()
    assert.are.equal("exit", result.reason, output)
    assert.are.equal(0, result.value, output)
    assert.truthy(output:find("found via dtb, 2048 sectors", 1, true))
    assert.truthy(output:find("blk-check: id root\n", 1, true))
    assert.truthy(output:find("blk-check: ok\n", 1, true))
    local stats = vm.disks.root:stats()
    assert.are.equal(SECTORS * 512, stats.bytes_written)
    assert.are.equal(SECTORS * 512, stats.bytes_read)
    assert.are.equal(2 * SECTORS * 512, stats.bytes)
    assert.are.equal(1, stats.flushes)
    assert.are.equal(0, stats.errors)
    assert.is_true(stats.reads >= 16 and stats.writes >= 16)
    vm:close()
    local data = t.read_file(path)
    os.remove(path)
    assert.are.equal(SECTORS * 512, #data)
    assert.is_nil(first_bad_sector(data, 1234))
  end)

  it("a read-only disk reads fine, rejects writes with IOERR and stays unchanged", function()
    local content = pattern(77)
    local path = image(content)
    local vm <close> = t.machine {
      kernel = t.guest("blk-check"), cmdline = "ro 77",
      disks = { data = { path = path, readonly = true } },
    }
    vm:start()
    local result = vm:wait(120)
    local output = vm.console:output()
    assert.are.equal(0, result.value, output)
    assert.truthy(output:find("read-only", 1, true))
    assert.truthy(output:find("blk-check: write rejected\n", 1, true))
    assert.are.equal(1, vm.disks.data:stats().errors)
    assert.are.equal(0, vm.disks.data:stats().bytes_written)
    vm:close()
    assert.is_true(t.read_file(path) == content)
    os.remove(path)
  end)

  it("flushed data survives kill -9 of the VMM", function()
    local path = image()
    local recipe = [[
      local luavmm = require "luavmm"
      local vm = luavmm.machine { kernel = luavmm.guest("blk-check"), cmdline = "hold 4242",
        memory = "32M", console = false, disks = { root = { path = arg[1] } } }
      vm:start()
      vm.console:expect("blk%-check: flushed\n", 60)
      local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
      os.execute("kill -9 " .. pid)
      os.exit(3) -- not reached
    ]]
    local r = t.exec_recipe(recipe, { path })
    assert.are.equal(128 + 9, r.status, r.stderr)
    local data = t.read_file(path)
    os.remove(path)
    assert.is_nil(first_bad_sector(data, 4242))
  end)

  it("reports a missing image naming the key", function()
    assert.has_error(function()
      t.machine { kernel = t.guest("hello"), disks = { root = { path = "/nonexistent/x.img" } } }
    end, "machine: disks.root.path: cannot open /nonexistent/x.img: No such file or directory")
  end)

  it("rejects wrongly typed and unknown disk keys", function()
    local path = image()
    local function err(disks)
      local ok, msg = pcall(t.machine, { kernel = t.guest("hello"), disks = disks })
      assert.is_false(ok)
      return msg
    end
    assert.truthy(err { root = { path = path, readonly = "yes" } }
      :find("disks.root.readonly must be a boolean, not a string", 1, true))
    assert.truthy(err { root = { path = 3 } }:find("disks.root.path must be a string", 1, true))
    assert.truthy(err { root = { path = path, size = 1 } }:find("disks.root: unknown key 'size'", 1, true))
    assert.truthy(err { root = {} }:find("disks.root.path is required", 1, true))
    assert.truthy(err { root = "x.img" }:find("disks.root must be a table", 1, true))
    os.remove(path)
  end)
end)

describe("virtio-rng", function()
  it("gives the guest varying random bytes", function()
    local result, output = t.run({ kernel = t.guest("rng-check"), rng = true }, 60)
    assert.are.equal(0, result.value, output)
    local a, b = output:match("rng%-check: (%x+)\nrng%-check: (%x+)\n")
    assert.are.equal(64, #a)
    assert.are_not.equal(a, b)
  end)
end)

describe("the device tree", function()
  it("describes memory, cpus, the serial port and every virtio window", function()
    local path = image()
    local vm <close> = t.machine {
      kernel = t.guest("hello"), cpus = 2, memory = "32M", rng = true,
      disks = { b = { path = path }, a = { path = path, readonly = true } },
    }
    local dt = vm:device_tree()
    assert.are.equal("luavmm,pc", dt.compatible)
    assert.are.same({ 0, 0, 0, 32 << 20 }, dt["memory@0"].reg)
    assert.are.equal("cpu", dt.cpus["cpu@1"].device_type)
    assert.are.equal("ns16550a", dt["serial@3f8"].compatible)
    -- disks in name order, then rng; one 4 KiB window and one GSI each
    for i, base in ipairs { 0xd0000000, 0xd0001000, 0xd0002000 } do
      local node = dt[("virtio_mmio@%x"):format(base)]
      assert.are.equal("virtio,mmio", node.compatible)
      assert.are.same({ 0, base, 0, 0x1000 }, node.reg)
      assert.are.equal(4 + i, node.interrupts[1])
    end
    assert.truthy(dt.chosen.bootargs:find("virtio_mmio.device=4K@0xd0002000:7", 1, true))
    local dtb = vm:dtb()
    assert.are.equal(0xd00dfeed, string.unpack(">I4", dtb))
    assert.are.equal(#dtb, string.unpack(">I4", dtb, 5))
    os.remove(path)
  end)

  it("names the virtio devices on the guest's command line", function()
    local result, output = t.run { kernel = t.guest("hello"), cmdline = "x", rng = true }
    assert.are.equal(0, result.value)
    assert.truthy(output:find("cmdline: x virtio_mmio.device=4K@0xd0000000:5\n", 1, true))
  end)
end)

describe("a hostile virtio driver", function()
  local expected = {
    loop = "needs-reset", outside = "needs-reset", wrap = "needs-reset", huge = "needs-reset",
    long = "needs-reset", nested = "needs-reset", jump = "needs-reset",
    ["zero-status"] = "failed", notify = "completed", mmio = "completed",
  }
  for _, case in ipairs { "loop", "outside", "wrap", "huge", "long", "nested", "jump",
                          "zero-status", "notify", "mmio" } do
    it("'" .. case .. "' is refused and the device recovers after a reset", function()
      local content = pattern(5)
      local path = image(content)
      local result, output = t.run({
        kernel = t.guest("virtio-hostile"), cmdline = case,
        disks = { d = { path = path } },
      }, 120)
      assert.are.equal("exit", result.reason, output)
      assert.are.equal(0, result.value, output)
      assert.truthy(output:find("hostile: " .. case .. " -> " .. expected[case] .. "\n", 1, true), output)
      assert.truthy(output:find("hostile: recovered\n", 1, true))
      assert.is_true(t.read_file(path) == content)
      os.remove(path)
    end)
  end
end)

describe("virtio-console", function()
  it("shares the console sink and takes console:send input on port 0", function()
    local vm <close> = t.machine { kernel = t.guest("vcon-echo"), virtio_console = true }
    vm:start()
    vm.console:expect("vcon: ready\n", 60)
    vm.console:send("hello there\n")
    assert.are.equal("hello there", vm.console:expect("vcon: got ([^\n]*)\n", 60))
    vm.console:send("quit\n")
    local result = vm:wait(60)
    assert.are.equal(0, result.value)
  end)
end)

describe("virtio-net", function()
  local ip_ok = t.can_netns()

  local it_root = ip_ok and it or pending
  it_root("two machines on taps in a network namespace exchange frames both ways", function()
    local ns = t.netns()
    local recipe = [[
      local luavmm = require "luavmm"
      local function vm(mode, tap, mac)
        return luavmm.machine { kernel = luavmm.guest("net-check"), cmdline = mode,
          memory = "32M", console = false, nets = { eth0 = { tap = tap, mac = mac } } }
      end
      local a <close> = vm("pong", "tapa", "52:54:00:00:00:0a")
      local b <close> = vm("ping", "tapb", "52:54:00:00:00:0b")
      a:start()
      b:start()
      local rb, ra = b:wait(120), a:wait(30)
      io.write("A:", a.console:output(), "B:", b.console:output())
      return ra.value == 0 and rb.value == 0
    ]]
    local r = t.exec_recipe(recipe, {}, nil, "ip netns exec " .. ns)
    os.execute("ip netns del " .. ns)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("A:net: mac 52:54:00:00:00:0a\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("net: answered ping from 52:54:00:00:00:0b\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("net: got pong from 52:54:00:00:00:0a\n", 1, true), r.stdout)
  end)

  it_root("warns of a tap that is down and counts the frames it loses", function()
    local ns = t.netns()
    local recipe = [[
      local luavmm = require "luavmm"
      -- tapz does not exist: opening it creates it, down and unbridged
      local vm <close> = luavmm.machine { kernel = luavmm.guest("net-check"), cmdline = "ping",
        memory = "32M", console = false, nets = { eth0 = { tap = "tapz" } } }
      vm:start()
      local s
      luavmm.wait_until(function() s = vm.nets.eth0:stats(); return s.tx_while_down > 0 end, 60)
      io.write(("tx %d lost %d up %d\n"):format(s.tx_packets, s.tx_while_down, s.link_up))
      vm:stop()
      return 0
    ]]
    local r = t.exec_recipe(recipe, {}, nil, "ip netns exec " .. ns)
    os.execute("ip netns del " .. ns)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stderr:find("luavmm: warning: tap tapz is down: frames the guest sends are lost", 1, true),
      r.stderr)
    local tx, lost, up = r.stdout:match("tx (%d+) lost (%d+) up (%d+)")
    assert.is_true(tonumber(lost) > 0, r.stdout)
    assert.are.equal("0", tx) -- nothing reached the host
    assert.are.equal("0", up)
  end)

  it("rejects a bad MAC and a missing tap naming the key", function()
    local ok, msg = pcall(t.machine, { kernel = t.guest("hello"),
      nets = { eth0 = { tap = "tap0", mac = "01:00:00:00:00:01" } } })
    assert.is_false(ok)
    assert.truthy(msg:find("nets.eth0.mac = \"01:00:00:00:00:01\" is not a unicast MAC", 1, true))
    ok, msg = pcall(t.machine, { kernel = t.guest("hello"), nets = { eth0 = { mac = "52:54:00:00:00:01" } } })
    assert.truthy(msg:find("nets.eth0: give one of tap, user or switch", 1, true))
    ok, msg = pcall(t.machine, { kernel = t.guest("hello"), nets = { eth0 = { tap = string.rep("x", 20) } } })
    assert.truthy(msg:find("machine: nets.eth0.tap: cannot open tap " .. string.rep("x", 20), 1, true), msg)
  end)
end)
