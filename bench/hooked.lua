-- Benchmark recipe: bench/guest.lua plus a Lua device on the loop port 0x500
-- (4 ports): every `out` there is handed to this hook on the control thread
-- (posted: the vCPU goes on), every `in` waits for the hook's answer.
--   luavmm run bench/hooked.lua GUEST.elf [CMDLINE [MEMORY [TIMEOUT_S]]]
local luavmm = require "luavmm"
local elf, cmdline, memory, timeout = ...
assert(elf, "usage: luavmm run hooked.lua GUEST.elf [CMDLINE [MEMORY [TIMEOUT_S]]]")
local vm <close> = luavmm.machine {
  kernel = elf, memory = memory or "64M", cmdline = cmdline or "", console = "stdout",
}
local last = 0
vm:on_pio(0x500, 4, function(io)
  if io.write then last = io.value else return last + 1 end
end)
vm:start()
return vm:wait(tonumber(timeout) or 60)
