-- Benchmark recipe for (f): many machines from one recipe.
--   luavmm run bench/machines.lua seq N      N times: create, start, wait, close
--   luavmm run bench/machines.lua once N     create and start N, then wait and close all
-- Prints "seconds=S" (luavmm.now() around the loop, the recipe's start-up excluded)
-- and exits 0 when every guest exited cleanly.  Used by bench/bench.lua.
local luavmm = require "luavmm"
local mode, n = ...
n = tonumber(n) or 10
local hello = luavmm.guest("hello")
local function machine()
  return luavmm.machine { kernel = hello, memory = "16M", cmdline = "bench", console = false }
end
local ok = true
local t0 = luavmm.now()
if mode == "seq" then
  for _ = 1, n do
    local vm <close> = machine()
    vm:start()
    ok = ok and vm:wait(30).reason == "exit"
  end
else
  local vms = {}
  for i = 1, n do
    vms[i] = machine()
    vms[i]:start()
  end
  for i = 1, n do
    ok = ok and vms[i]:wait(30).reason == "exit"
    vms[i]:close()
  end
end
print(string.format("seconds=%.6f", luavmm.now() - t0))
return ok and 0 or 1
