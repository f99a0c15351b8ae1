-- idle-balloon.lua: a memory policy that takes RAM back from an idle guest
-- through virtio-balloon (recipe key `balloon`, object vm.balloon).
--
--   luavmm run recipes/idle-balloon.lua [IDLE_S [RUN_S]]
--
-- A timer ticks every second.  When the guest has written no console line
-- for IDLE_S seconds (default 3) the policy sets the balloon to half the
-- guest's RAM (vm.balloon:set(MiB): the host wants that much back); the
-- guest's balloon driver hands those pages over and luavmm punches them out
-- of guest RAM, so the process's RSS drops.  As soon as the guest prints
-- again the balloon goes back to 0 (the guest may use all its RAM again).
-- The balloon driver's own reports ("balloon: actual N", "balloon:
-- deflated ...") do not count as activity.
--
-- The guest here is the balloon-check test guest: it touches 96 of its
-- 128 MiB, then stays quiet.  Once the balloon holds what the policy asked
-- for (or after RUN_S seconds, default IDLE_S + 10) the recipe prints what
-- happened, asks the guest to quit and returns true if
-- the balloon was inflated and memory went back to the host.
local luavmm = require "luavmm"

local IDLE_S = math.tointeger(tonumber((select(1, ...)) or "3")) or 3
local RUN_S = math.tointeger(tonumber((select(2, ...)) or "")) or IDLE_S + 10
local RAM_MIB = 128

-- Guest RAM is shared memfd memory of this process: RssShmem is its resident part.
local function rss_mib()
  for line in io.lines("/proc/self/status") do
    local kib = line:match("^RssShmem:%s+(%d+) kB")
    if kib then return tonumber(kib) // 1024 end
  end
  return 0
end

local vm <close> = luavmm.machine {
  kernel = luavmm.guest("balloon-check"), cmdline = "run 96",
  memory = RAM_MIB .. "M", console = false,
  balloon = { stats = true, deflate_on_oom = true, stats_interval_ms = 1000 },
}

local function balloon_report(line)
  return line:find("^balloon: actual ") or line:find("^balloon: deflated ")
end

local quiet, shrunk, peak = 0, false, 0
vm.console:on_line(function(line)
  print("guest: " .. line)
  if not balloon_report(line) then
    quiet = 0
    if shrunk then
      vm.balloon:set(0)
      shrunk = false
      print("idle-balloon: guest busy again, balloon deflated")
    end
  end
end)
vm:every(1000, function()
  quiet = quiet + 1
  peak = math.max(peak, rss_mib())
  if quiet >= IDLE_S and not shrunk then
    vm.balloon:set(RAM_MIB // 2)
    shrunk = true
    print(("idle-balloon: quiet for %d s, balloon set to %d MiB (RSS %d MiB)")
      :format(quiet, RAM_MIB // 2, rss_mib()))
  end
end)

vm:start()
-- Until the guest gave what was asked (a busy host makes that slower).
luavmm.wait_until(function()
  return (shrunk and vm.balloon:actual() >= RAM_MIB // 2) or vm:stats().state ~= "running"
end, RUN_S)
local s = vm.balloon:stats()
print(("idle-balloon: balloon %d MiB, %d MiB returned to the host, RSS %d MiB (peak %d MiB),"
  .. " guest says %d MiB free of %d")
  :format(vm.balloon:actual(), s.returned_bytes >> 20, rss_mib(), peak,
          (s.free_memory or 0) >> 20, (s.total_memory or 0) >> 20))
vm.console:send("quit\n")
local result = vm:wait(10)
return result.reason == "exit" and result.value == 0 and s.returned_bytes > 0
