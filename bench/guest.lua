-- Benchmark recipe: boot one guest ELF with console on stdout, the same way
-- bench/raw_loader and QEMU are given it.
--   luavmm run bench/guest.lua GUEST.elf [CMDLINE [MEMORY [TIMEOUT_S [CPUS]]]]
-- Exits with the guest's debug-exit status.  Used by bench/run.
local luavmm = require "luavmm"
local elf, cmdline, memory, timeout, cpus = ...
assert(elf, "usage: luavmm run guest.lua GUEST.elf [CMDLINE [MEMORY [TIMEOUT_S]]]")
local vm <close> = luavmm.machine {
  kernel = elf, memory = memory or "64M", cmdline = cmdline or "", console = "stdout",
  cpus = tonumber(cpus) or 1,
}
vm:start()
return vm:wait(tonumber(timeout) or 60)
