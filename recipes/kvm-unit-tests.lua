-- kvm-unit-tests.lua: boots one x86 test binary of kvm-unit-tests (the
-- suite KVM developers run, https://gitlab.com/kvm-unit-tests) the way its
-- x86/run script boots it under QEMU:
--
--   qemu-system-x86_64 -nodefaults -device pc-testdev
--     -device isa-debug-exit,iobase=0xf4,iosize=0x4 -serial stdio
--     -machine accel=kvm -kernel TEST.flat -smp N [-append ARGS]
--
--   luavmm run recipes/kvm-unit-tests.lua [-m SIZE] [-t SECONDS] [-i kernel|split]
--                                         TEST.flat [SMP [APPEND...]]
--
-- TEST.flat is a multiboot image (kvm-unit-tests' x86 build makes them), SMP
-- the vCPU count (default 1), APPEND the test's arguments (QEMU's -append,
-- here the multiboot command line).  -m is the RAM size (default "128M",
-- QEMU's default, which x86/run keeps), -t the time limit in seconds
-- (default 600, reported as timeout(1) does: 124), -i the irqchip: "kernel"
-- (default) is QEMU's default for its PC, KVM's own IOAPIC, PIC and PIT;
-- "split" is QEMU's -machine kernel_irqchip=split (unittests.cfg's
-- apic-split and ioapic-split), luavmm's userspace IOAPIC, PIC and PIT.
--
-- The machine: a multiboot kernel, fw_cfg (the tests read the CPU count,
-- key 0x05, and the RAM size, key 0x03), the serial console on stdout, a
-- PIT (QEMU's PC always has one), luavmm's debug-exit port at 0xf4, and
-- QEMU's pc-testdev written below as Lua hooks.
--
-- Exit status: what QEMU would exit with, so kvm-unit-tests' own scripts
-- (scripts/arch-run.bash) read it unchanged: a test that writes V to port
-- 0xf4 exits (V << 1) | 1, i.e. 1 when every check passed, 3 when one
-- failed, 77 when every check was skipped, 127 after abort().  A triple
-- fault, a KVM error or a hook error exit with luavmm's own codes (101,
-- 103, 104; see README "Exit status"), a timeout with 124.
local luavmm = require "luavmm"

local function usage(msg)
  io.stderr:write("kvm-unit-tests.lua: ", msg, "\n",
    "usage: luavmm run recipes/kvm-unit-tests.lua [-m SIZE] [-t SECONDS] [-i kernel|split] TEST.flat [SMP [APPEND...]]\n")
  os.exit(2)
end

-- Options come first, then the positional arguments.
local memory, limit, irqchip = "128M", 600, "kernel"
local args = { ... }
local i = 1
while args[i] and args[i]:sub(1, 1) == "-" do
  local opt, val = args[i], args[i + 1]
  if opt == "-m" and val then
    memory = val:match("^%d+$") and val .. "M" or val   -- QEMU's -m counts MiB
  elseif opt == "-t" and tonumber(val) then
    limit = tonumber(val)
  elseif opt == "-i" and (val == "kernel" or val == "split") then
    irqchip = val
  else
    usage("unknown option or missing value: " .. opt)
  end
  i = i + 2
end
local image, smp = args[i], args[i + 1]
if not image then usage("no test binary given") end
local f = io.open(image, "rb")
if not f then usage("cannot open " .. image) end
f:close()
local cpus = 1
if smp then
  cpus = tonumber(smp)
  if not cpus or cpus < 1 or cpus % 1 ~= 0 then usage("SMP must be a positive integer, not " .. smp) end
end
local append = table.concat(args, " ", i + 2)

local vm <close> = luavmm.machine {
  name = "kvm-unit-tests",
  cpus = cpus,
  memory = memory,
  kernel = image,
  cmdline = append,
  console = "stdout",
  fw_cfg = true,
  pit = "bios", -- the tick SeaBIOS leaves running: realmode waits on it in `sti; hlt`
  irqchip = irqchip,
}

---------------------------------------------------------------------------
-- pc-testdev (QEMU hw/misc/pc-testdev.c), as the tests use it:
--   0x2000-0x2017  one byte per ISA interrupt line: writing V sets the line's
--                  level to V ~= 0, a wider write one line per byte
--                  (lib/x86/apic.c set_irq_line(); the
--                  ioapic and apic tests drive edge and level interrupts
--                  with it).  Synchronous: the guest's next instruction
--                  must see the interrupt, as under QEMU.
--   0xe0-0xe3      a 32-bit scratch register with byte lanes: an access of
--                  N bytes at offset K reads or replaces bytes K..K+N-1.
--   0xe8-0xeb      the same register through a byte-wide window (QEMU splits
--                  wider accesses into bytes: same result).
--   0xe4-0xe7      "flush page": QEMU drops its own mapping of the guest page
--                  written there so KVM refaults it; luavmm keeps no such
--                  mapping, so the write has nothing to do.
--   0xff000000     64 KiB of scratch memory (pc-testdev-iomem): MMIO that
--                  reads back what was written.
---------------------------------------------------------------------------
local scratch = 0

local function lanes(io)
  local shift = (io.offset % 4) * 8
  local mask = ((1 << (io.size * 8)) - 1) << shift
  if io.write then
    scratch = (scratch & ~mask & 0xffffffff) | ((io.value << shift) & mask)
  else
    return (scratch & mask) >> shift
  end
end

vm:on_pio(0xe0, 4, lanes)
vm:on_pio(0xe8, 4, lanes)
vm:on_pio(0xe4, 4, function(io)
  if not io.write then return 0 end
end)
vm:on_pio(0x2000, 24, function(io)
  if io.write then
    -- The lines are byte registers: a wider write drives one line per byte.
    for b = 0, io.size - 1 do
      local line = io.offset + b
      if line < 24 then vm:irq(line, ((io.value >> (8 * b)) & 0xff) ~= 0) end
    end
  else
    return 0xffffffff >> (32 - io.size * 8)     -- write-only, as in QEMU
  end
end, { sync = true })

local iomem = {}      -- byte offset -> value; absent bytes read 0
vm:on_mmio(0xff000000, 0x10000, function(io)
  if io.write then
    for b = 0, io.size - 1 do
      iomem[io.offset + b] = (io.value >> (8 * b)) & 0xff
    end
  else
    local v = 0
    for b = io.size - 1, 0, -1 do
      v = (v << 8) | (iomem[io.offset + b] or 0)
    end
    return v
  end
end, { sync = true })

vm:start()
local result = vm:wait(limit)
if result.reason == "exit" then
  return result.qemu_code & 0xff
elseif result.reason == "timeout" then
  io.stderr:write("kvm-unit-tests.lua: no result after ", limit, " s\n")
  vm:stop("time limit")
  return 124
end
io.stderr:write(("kvm-unit-tests.lua: the machine stopped: %s%s\n"):format(
  result.reason, result.detail and (" (" .. result.detail .. ")") or ""))
return result.code
