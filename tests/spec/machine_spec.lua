-- Real guests under KVM, driven through `require "luavmm"` from busted.
local luavmm = require "luavmm"
local t = require "luavmm.test"

describe("a machine running the hello guest", function()
  it("prints its greeting and our command line, then powers off with value 0", function()
    local result, output = t.run { kernel = t.guest("hello"), cmdline = "one two  three" }
    assert.are.equal("exit", result.reason)
    assert.are.equal(0, result.value)
    assert.are.equal(0, result.code) -- success: luavmm run exits 0
    assert.is_true(result.ok)
    assert.are.equal(1, result.qemu_code) -- isa-debug-exit: (0 << 1) | 1
    assert.truthy(output:find("Hello from luavmm!\n", 1, true))
    assert.truthy(output:find("cmdline: one two  three\n", 1, true))
  end)

  it("sends output to a Lua function sink, in order", function()
    local chunks = {}
    local vm <close> = t.machine {
      kernel = t.guest("hello"),
      console = function(chunk) chunks[#chunks + 1] = chunk end,
    }
    vm:start()
    assert.are.equal("exit", vm:wait(30).reason)
    local all = table.concat(chunks)
    assert.truthy(all:find("^Hello from luavmm!\ncmdline: \n"))
  end)

  it("writes output to a console file", function()
    local path = os.tmpname()
    local vm <close> = t.machine { kernel = t.guest("hello"), console = path }
    vm:start()
    vm:wait(30)
    vm:close()
    local data = t.read_file(path)
    os.remove(path)
    assert.truthy(data:find("Hello from luavmm!", 1, true))
  end)

  it("counts the guest's port I/O exits", function()
    local vm <close> = t.machine { kernel = t.guest("hello") }
    vm:start()
    vm:wait(30)
    local stats = vm:stats()
    assert.are.equal("exit", stats.state)
    -- at least one exit per byte written to the UART
    assert.is_true(stats.exits.io >= stats.console_bytes)
    assert.is_true(stats.console_bytes > #"Hello from luavmm!\n")
    -- per-device counters: every byte is a THR write, one debug-exit write
    assert.is_true(stats.devices.serial8250.writes >= stats.console_bytes)
    assert.are.same({ reads = 0, writes = 1 }, stats.devices["debug-exit"])
    assert.are.same({ reads = 0, writes = 0 }, stats.devices.i8042)
  end)
end)

describe("the exitcode guest", function()
  for _, value in ipairs { 0, 1, 42, 127, 255 } do
    it("passes debug-exit value " .. value .. " through as value, qemu_code (v<<1)|1 and code", function()
      local result = t.run { kernel = t.guest("exitcode"), cmdline = tostring(value) }
      assert.are.equal("exit", result.reason)
      assert.are.equal(value, result.value)
      assert.are.equal((value << 1) | 1, result.qemu_code)
      assert.are.equal(math.min(value, 99), result.code) -- README, "Exit status"
      assert.are.equal(value == 0, result.ok)
    end)
  end

  it("runs with several vCPUs (the extra ones wait for a SIPI)", function()
    local result = t.run { kernel = t.guest("exitcode"), cmdline = "3", cpus = 4 }
    assert.are.equal(3, result.value)
  end)

  it("works in a machine with RAM above the 4 GiB boundary", function()
    local result = t.run { kernel = t.guest("exitcode"), cmdline = "9", memory = "5G" }
    assert.are.equal(9, result.value)
  end)
end)

describe("the echo guest", function()
  it("answers what we send on its serial port", function()
    local vm <close> = t.machine { kernel = t.guest("echo") }
    vm:start()
    vm.console:expect("echo: ready", 30)
    vm.console:send("ping 123\n")
    local word, number = vm.console:expect("(%a+) (%d+)\n", 30)
    assert.are.equal("ping", word)
    assert.are.equal("123", number)
    vm.console:send("exit 5\n")
    local result = vm:wait(30)
    assert.are.equal("exit", result.reason)
    assert.are.equal(5, result.value)
  end)

  it("returns a timeout from wait() while the guest keeps running", function()
    local vm <close> = t.machine { kernel = t.guest("echo") }
    vm:start()
    local result = vm:wait(0.3)
    assert.are.equal("timeout", result.reason)
    assert.are.equal("running", vm:stats().state)
  end)

  it("raises a timeout error from expect() that shows the last output", function()
    local vm <close> = t.machine { kernel = t.guest("echo") }
    vm:start()
    vm.console:expect("ready", 30)
    vm.console:send("something else\n")
    local ok, err = pcall(function() return vm.console:expect("never printed", 0.5) end)
    assert.is_false(ok)
    assert.truthy(err:find("timed out after 0.5s waiting for 'never printed'", 1, true))
    assert.truthy(err:find("something else", 1, true))
    assert.truthy(err:find("machine_spec.lua:%d+:")) -- points at the caller
  end)

  it("raises an error from expect() when the machine stops first", function()
    local vm <close> = t.machine { kernel = t.guest("exitcode"), cmdline = "4" }
    vm:start()
    local ok, err = pcall(vm.console.expect, vm.console, "never printed", 30)
    assert.is_false(ok)
    assert.truthy(err:find("the machine stopped (exit", 1, true))
    assert.truthy(err:find("exitcode 4", 1, true))
  end)
end)

describe("a guest that resets or faults", function()
  it("stops with reason 'reset' when it pulses reset through the i8042", function()
    local result, output = t.run { kernel = t.guest("poke"), cmdline = "out 0x64 0xfe" }
    assert.are.equal("reset", result.reason)
    assert.truthy(output:find("poke: out 0xfe to port 0x64", 1, true))
    assert.falsy(output:find("still running", 1, true))
  end)

  it("keeps running after other i8042 commands", function()
    local result = t.run { kernel = t.guest("poke"), cmdline = "out 0x64 0x20" }
    assert.are.equal("exit", result.reason)
    assert.are.equal(0x7e, result.value)
  end)

  it("stops with reason 'shutdown' on a triple fault", function()
    local result = t.run { kernel = t.guest("poke"), cmdline = "triple" }
    assert.are.equal("shutdown", result.reason)
    assert.truthy(result.detail:find("triple fault", 1, true))
  end)
end)

describe("unclaimed port I/O", function()
  it("is counted and ignored, never fatal", function()
    local vm <close> = t.machine { kernel = t.guest("pio-loop"), cmdline = "5000 0x510" }
    vm:start()
    local result = vm:wait(60)
    assert.are.equal("exit", result.reason)
    assert.are.equal(0, result.value)
    local stats = vm:stats()
    assert.are.equal(5000, stats.unclaimed.pio_writes)
    assert.same({ addr = 0x510, reads = 0, writes = 5000 }, stats.unclaimed.pio[1])
    assert.truthy(vm.console:output():find("pio-loop: done", 1, true))
  end)
end)

describe("unclaimed MMIO", function()
  it("reads as all-ones and is counted", function()
    local vm <close> = t.machine { kernel = t.guest("poke"), cmdline = "read 0xd8000000" }
    vm:start()
    local result = vm:wait(30)
    assert.are.equal(0x7e, result.value)
    assert.truthy(vm.console:output():find("poke: read 0xffffffff\n", 1, true))
    assert.are.equal(1, vm:stats().unclaimed.mmio_reads)
    assert.same({ { addr = 0xd8000000, reads = 1, writes = 0 } }, vm:stats().unclaimed.mmio)
  end)
end)

describe("a console sink that stops reading", function()
  it("holds only the guest: timers still run, and the machine still stops", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert.is_true(os.execute("mkfifo " .. fifo))
    -- A reader that shrinks the pipe to one page (F_SETPIPE_SZ) and never reads.
    local reader = io.popen(("python3 -c 'import fcntl, os, time; fd = os.open(%q, os.O_RDONLY); "
      .. "fcntl.fcntl(fd, 1031, 4096); time.sleep(60)' >/dev/null 2>&1 & echo $!"):format(fifo))
    local pid = reader:read("l")
    reader:close()
    local vm = t.machine { kernel = t.guest("echo"), console = fifo }
    local ticks = 0
    vm:every("20ms", function() ticks = ticks + 1 end)
    vm:start()
    vm.console:send(string.rep("0123456789abcdef", 1024)) -- 16 KiB to echo back
    assert.are.equal("timeout", vm:wait(2).reason)
    assert.is_true(ticks > 10, "timers stopped: " .. ticks)
    local echoed = vm:stats().console_bytes
    assert.is_true(echoed < 16384, "the guest was not held: " .. echoed)
    vm:close() -- must not wait for the reader
    os.execute("kill " .. pid)
    os.remove(fifo)
  end)
end)

describe("machine teardown", function()
  it("leaves no threads or fds behind, whether the guest finished or not", function()
    local before = t.process_counts()
    for i = 1, 10 do
      local vm <close> = t.machine { kernel = t.guest(i % 2 == 0 and "echo" or "hello"), cpus = 2 }
      vm:start()
      if i % 2 == 1 then vm:wait(30) end
    end
    for i = 1, 5 do -- left to the garbage collector
      local vm = t.machine { kernel = t.guest("echo") }
      vm:start()
    end
    collectgarbage()
    collectgarbage()
    local after = t.process_counts()
    -- a joined thread can linger in /proc for a moment while the kernel reaps it
    for _ = 1, 50 do
      if after.threads == before.threads then break end
      os.execute("sleep 0.02")
      after = t.process_counts()
    end
    assert.are.equal(before.fds, after.fds)
    assert.are.equal(before.threads, after.threads)
  end)

  it("makes a closed machine's methods fail clearly", function()
    local vm = t.machine { kernel = t.guest("hello") }
    vm:close()
    local ok, err = pcall(vm.start, vm)
    assert.is_false(ok)
    assert.truthy(err:find("already closed", 1, true))
    ok, err = pcall(vm.console.send, vm.console, "x")
    assert.truthy(err:find("already closed", 1, true))
  end)
end)

describe("luavmm.machine{} validation", function()
  local function machine_error(config)
    local ok, err = pcall(luavmm.machine, config)
    assert.is_false(ok)
    return err
  end

  it("names an unknown key", function()
    assert.truthy(machine_error { kernel = "x", memroy = "1G" }:find("unknown key 'memroy'", 1, true))
  end)

  it("names a wrongly typed key", function()
    assert.truthy(machine_error { kernel = 42 }:find("kernel must be a string, not a number", 1, true))
    assert.truthy(machine_error { kernel = "x", stdin = "yes" }:find("stdin must be a boolean", 1, true))
  end)

  it("rejects bad memory sizes", function()
    assert.truthy(machine_error { kernel = "x", memory = "0" }:find('memory = "0" is not a size', 1, true))
    assert.truthy(machine_error { kernel = "x", memory = "abc" }:find('memory = "abc" is not a size', 1, true))
    assert.truthy(machine_error { kernel = t.guest("hello"), memory = "1P" }:find("more than this host's", 1, true))
  end)

  it("rejects cpu counts out of range", function()
    assert.truthy(machine_error { kernel = "x", cpus = 0 }:find("cpus = 0 is out of range", 1, true))
    assert.truthy(machine_error { kernel = t.guest("hello"), cpus = 4000 }:find("cpus: 4000 is out of range", 1, true))
  end)

  it("requires a kernel", function()
    assert.truthy(machine_error {}:find("kernel is required", 1, true))
  end)

  it("leaves no threads or fds behind when construction fails late", function()
    local junk = t.write_file(os.tmpname(), string.rep("junk", 100))
    local before = t.process_counts()
    for _ = 1, 20 do
      assert.truthy(machine_error { kernel = junk, cpus = 2 }:find("not an ELF", 1, true))
      assert.truthy(machine_error { kernel = junk .. ".missing" }:find("cannot open", 1, true))
    end
    collectgarbage()
    os.remove(junk)
    local after = t.process_counts()
    assert.are.equal(before.fds, after.fds)
    assert.are.equal(before.threads, after.threads)
  end)
end)

describe("a machine that fails to be created", function()
  it("leaves its console file as it was, and creates none", function()
    local path = os.tmpname()
    t.write_file(path, "kept\n")
    local ok, err = pcall(t.machine, { kernel = t.guest("hello"), console = path,
                                       disks = { root = { path = "/nonexistent/x.img" } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("disks.root.path: cannot open", 1, true), err)
    local f = assert(io.open(path, "rb")); assert.are.equal("kept\n", f:read("a")); f:close()
    os.remove(path)
    ok = pcall(t.machine, { kernel = "/nonexistent/kernel", console = path })
    assert.is_false(ok)
    assert.is_nil(io.open(path, "r"), "a console file was created")
  end)
end)

describe("the interrupt controller keys", function()
  it("run a guest with a userspace PIT and refuse values that are neither", function()
    local result, out = t.run { kernel = t.guest("hello"), console = false, pit = true }
    assert.are.equal("exit", result.reason, out)
    local ok, err = pcall(t.machine, { kernel = t.guest("hello"), irqchip = "userspace" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find('machine: irqchip must be "split" or "kernel", not userspace', 1, true), err)
    ok, err = pcall(t.machine, { kernel = t.guest("hello"), pit = "yes" })
    assert.truthy(tostring(err):find('machine: pit must be true, false or "bios", not yes', 1, true), err)
  end)
end)

describe("a FIFO console with no reader yet", function()
  it("does not block the machine's creation: output waits in the pipe for a reader", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert.is_true(os.execute("mkfifo " .. fifo))
    local vm <close> = t.machine { kernel = t.guest("hello"), console = fifo }
    vm:start()
    assert.are.equal("exit", vm:wait(30).reason)
    -- A reader that comes later finds what the guest printed.
    local reader = assert(io.open(fifo, "rb"))
    vm:close()
    local got = reader:read("a")
    reader:close()
    os.remove(fifo)
    assert.truthy(got:find("Hello from luavmm!", 1, true), got)
  end)
end)
