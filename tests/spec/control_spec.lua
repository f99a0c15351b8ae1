-- Run-time control of real guests: pause/resume, guest memory, registers,
-- IRQs and stats; the control socket with `luavmm attach`; --sandbox.
local t = require "luavmm.test"

local MEM = 32 * 1024 * 1024

-- The luadev "c" guest: increments a 64-bit counter in RAM forever.
local function counting_vm()
  local vm = t.boot("luadev", "c")
  vm:start()
  local addr = tonumber(t.expect(vm, "counter at (0x%x+)\n"))
  return vm, addr
end

local function u64(s) return (string.unpack("<I8", s)) end

describe("run-time control", function()
  t.teardown_each()

  it("pauses and resumes a running guest, with events", function()
    local vm, addr = counting_vm()
    local events = {}
    vm:on("pause", function() events[#events + 1] = "pause" end)
    vm:on("resume", function() events[#events + 1] = "resume" end)
    vm:wait(0.05)
    vm:pause()
    assert.is_true(vm:paused())
    local a = u64(vm:read(addr, 8))
    vm:wait(0.1)
    assert.are.equal(a, u64(vm:read(addr, 8)), "the counter moved while paused")
    vm:resume()
    vm:wait(0.1)
    assert.is_true(u64(vm:read(addr, 8)) > a)
    assert.are.same({ "pause", "resume" }, events)
  end)

  it("reads and writes guest memory, bounds-checked", function()
    local vm, addr = counting_vm()
    vm:pause()
    vm:write(addr, string.pack("<I8", 1000))
    assert.are.equal(1000, u64(vm:read(addr, 8)))
    vm:resume()
    vm:wait(0.05)
    assert.is_true(u64(vm:read(addr, 8)) > 1000)
    assert.has_error(function() vm:read(MEM - 4, 8) end, "read: 0x1fffffc+8 is not inside guest RAM")
    assert.has_error(function() vm:write(0xd0000000, "x") end, "write: 0xd0000000+1 is not inside guest RAM")
    assert.has_error(function() vm:read(-1, 1) end)
  end)

  it("reads and sets registers only while paused", function()
    local vm = counting_vm()
    assert.has_error(function() vm:regs(0) end, "regs: pause the machine first (vm:pause())")
    vm:pause()
    local r = vm:regs(0)
    assert.is_true(r.rip >= 0x100000 and r.rip < 0x200000, ("rip 0x%x"):format(r.rip))
    assert.are.equal(3, r.cs & 3) -- the loop runs at ring 3
    vm:set_regs(0, { r15 = 0x1234 })
    assert.are.equal(0x1234, vm:regs(0).r15)
    assert.has_error(function() vm:set_regs(0, { rpi = 1 }) end, "set_regs: unknown register 'rpi'")
    assert.has_error(function() vm:regs(3) end, "regs: no vCPU 3 (the machine has 1)")
  end)

  -- The split irqchip (userspace 8259A pair) is the default; irqchip =
  -- "kernel" is KVM's own, kept for comparison.  Line 10 is on the slave.
  for _, case in ipairs { { 5 }, { 10 }, { 5, "kernel" }, { 10, "kernel", true } } do
    local line, chip, pit = case[1], case[2], case[3]
    it(("delivers vm:irq(%d) to a guest that counts its interrupts (irqchip %s%s)"):format(
      line, chip or "split", pit and ", pit" or ""), function()
      local vm = t.boot("irq-count", line .. " 3", { irqchip = chip, pit = pit })
      vm:start()
      vm.console:expect("irq: ready line " .. line .. "\n", 30)
      -- Nothing arrives on its own.
      assert.are.equal("timeout", vm:wait(0.2).reason)
      assert.falsy(vm.console:output():find("irq: 1", 1, true))
      for k = 1, 3 do
        vm:irq(line) -- a pulse: one edge for the guest's 8259
        assert.are.equal(tostring(k), vm.console:expect("irq: (%d+)\n", 30))
      end
      local result = vm:wait(30)
      assert.are.equal(3, result.value)
    end)
  end

  it("raises IRQ lines and reports stats with exits, hooks and uptime", function()
    local vm = t.boot("luadev", "i 0x510 i 0x510")
    vm:on_pio(0x510, 4, function() return 7 end)
    vm:start()
    vm:irq(5)
    vm:irq(5, 1); vm:irq(5, 0)
    assert.has_error(function() vm:irq(99) end, "irq: line 99 is out of range (0 to 23)")
    vm:wait(30)
    local s = vm:stats()
    assert.is_true(s.exits.io > 2)
    assert.is_true(s.uptime > 0)
    assert.are.equal(1, #s.hooks)
    assert.are.same({ kind = "pio", base = 0x510, len = 4, accesses = 2, removed = false }, s.hooks[1])
  end)
end)

-- `luavmm attach` in the background while this process serves the VM.
local function attach_bg(sock, chunk, prefix)
  local base = os.tmpname()
  local cmd = ("(%s %s attach %s %s >%s.out 2>%s.err </dev/null; echo $? >%s.rc) &"):format(
    prefix or "", t.shell_quote(t.bin()), t.shell_quote(sock),
    chunk and ("-e " .. t.shell_quote(chunk)) or "", base, base, base)
  os.execute(cmd)
  return base
end

local function attach_result(vm, base)
  vm:every("10ms", function(v)
    local f = io.open(base .. ".rc")
    if f then f:close(); v:stop("attach finished") end
  end)
  vm:wait(30)
  local r = { stdout = t.read_file(base .. ".out"), stderr = t.read_file(base .. ".err"),
    status = tonumber(t.read_file(base .. ".rc")) }
  for _, ext in ipairs { "", ".out", ".err", ".rc" } do os.remove(base .. ext) end
  return r
end

local function socket_path()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".sock"
end

describe("the control socket", function()
  t.teardown_each()

  it("evaluates chunks against the running VM (luavmm attach -e)", function()
    local sock = socket_path()
    local vm = t.boot("luadev", "c", { control = sock })
    vm:start()
    local r = attach_result(vm, attach_bg(sock, 'print("state", vm:stats().state); return 6 * 7, vm:paused()'))
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("state\trunning\n42\tfalse\n", r.stdout)
  end)

  it("prints tables nested, keys sorted, addresses in hex (luavmm.pretty)", function()
    local sock = socket_path()
    local vm = t.boot("luadev", "c", { control = sock })
    vm:start()
    local r = attach_result(vm, attach_bg(sock,
      'return { b = { rip = 4096, n = 2 }, a = "x", 7, setmetatable({}, { __tostring = function() return "own" end }) }'))
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal('{ 7, own, a = "x", b = { n = 2, rip = 0x1000 } }\n', r.stdout)
  end)

  it("is mode 0600 and goes away with the machine", function()
    local sock = socket_path()
    local vm = t.boot("luadev", "", { control = sock })
    local mode = io.popen("stat -c %a " .. sock):read("l")
    assert.are.equal("600", mode)
    vm:close()
    assert.is_nil(io.open(sock))
  end)

  it("returns chunk errors to the client without stopping the VM", function()
    local sock = socket_path()
    local vm = t.boot("luadev", "c", { control = sock })
    vm:start()
    local r = attach_result(vm, attach_bg(sock, 'error("no such thing")'))
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("attach:1: no such thing", 1, true), r.stderr)
    assert.are.equal("killed", vm:stats().state) -- stopped by the spec's timer, not the error
  end)

  it("serves an interactive session line by line", function()
    local sock = socket_path()
    local vm = t.boot("luadev", "c", { control = sock })
    vm:start()
    local base = os.tmpname()
    os.execute(("(printf 'x = 20\\nx + 1\\nvm:pause(); return vm:paused()\\n' | %s attach %s >%s.out 2>%s.err; echo $? >%s.rc) &")
      :format(t.shell_quote(t.bin()), sock, base, base, base))
    local r = attach_result(vm, base)
    assert.are.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find("21\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("true\n", 1, true), r.stdout)
  end)

  it("refuses another user id (file mode, then SO_PEERCRED)", function()
    local sock = socket_path()
    local vm = t.boot("luadev", "c", { control = sock })
    vm:start()
    local nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
    local r = attach_result(vm, attach_bg(sock, "1", nobody))
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("Permission denied", 1, true), r.stderr)

    local vm2 = t.boot("luadev", "c", { control = sock .. "2" })
    vm2:start()
    os.execute("chmod 666 " .. sock .. "2") -- past the file mode: the peer uid check remains
    r = attach_result(vm2, attach_bg(sock .. "2", "1", nobody))
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("permission denied: uid 65534 is not the owner of this VM", 1, true), r.stderr)
  end)

  it("reports a dead socket in one line, and a new VM replaces it", function()
    local sock = socket_path()
    local recipe = os.tmpname() .. ".lua"
    t.write_file(recipe, ([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("luadev"), cmdline = "c", console = false }
vm:start()
print("up") io.stdout:flush()
vm:wait(30)]]))
    local p = io.popen(("%s run --control %s %s & echo $!"):format(t.shell_quote(t.bin()), sock, recipe))
    local pid = p:read("l")
    assert.are.equal("up", p:read("l"))
    os.execute("kill -9 " .. pid)
    p:close()
    -- kill(2) returns before the process is gone; until then its socket
    -- still takes connections.  Wait (bounded) for it to disappear.
    for _ = 1, 500 do
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      os.execute("sleep 0.01")
    end
    os.remove(recipe)
    local r = t.exec { "attach", sock, "-e", "1" }
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("^luavmm: attach: cannot connect to .*Connection refused"), r.stderr)
    r = t.exec { "attach", sock .. ".missing", "-e", "1" }
    assert.truthy(r.stderr:find("No such file or directory", 1, true), r.stderr)
    local vm = t.boot("luadev", "", { control = sock }) -- the stale file is replaced
    vm:close()
  end)
end)

describe("luavmm run --sandbox", function()
  it("removes os, io, debug and C modules but keeps the VM API", function()
    local src = [[
assert(io == nil and debug == nil and loadfile == nil and dofile == nil)
assert(os.execute == nil and os.getenv == nil and type(os.time()) == "number")
assert(package.loadlib == nil)
assert(not pcall(require, "lpeg_no_such_c_module"))
assert(load(string.dump(function() end)) == nil)
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("exitcode"), cmdline = "3", console = false }
vm:start()
return vm:wait(30).value
]]
    local r = t.exec_recipe(src)
    assert.are_not.equal(3, r.status) -- without --sandbox the assertions fail
    local path = os.tmpname() .. ".lua"
    t.write_file(path, src)
    r = t.exec { "run", "--sandbox", path }
    os.remove(path)
    assert.are.equal(3, r.status, r.stderr)
  end)

  it("rejects unknown run options in one line", function()
    local r = t.exec { "run", "--sandbx", "x.lua" }
    assert.are.equal(2, r.status)
    assert.are.equal("luavmm: run: unknown option '--sandbx' (try luavmm --help)\n", r.stderr)
  end)
end)
