-- slow-disk.lua: a disk whose every request takes DELAY_MS longer.
--
--   luavmm run recipes/slow-disk.lua [DELAY_MS]     (default 100)
--
-- A policy that returns {delay_ms = n}: the request completes n ms later,
-- on a timer of the disk's I/O thread (no spinning; the vCPUs and the other
-- devices carry on).  Requests stay in order, so 6 writes take at least
-- 6 * DELAY_MS.  Exits 0 if they did.
local luavmm = require "luavmm"

local delay = math.tointeger(tonumber((...) or "100"))
local image = os.tmpname()
local f <close> = assert(io.open(image, "wb"))
f:write(string.rep("\0", 64 * 512)):flush()

local vm <close> = luavmm.machine {
  memory = "32M", console = false,
  kernel = luavmm.guest("blk-ops"), cmdline = "w 6 0",
  disks = { data = { path = image } },
}
vm.disks.data:on_request(function(req)
  if req.op == "write" then return { delay_ms = delay } end
end)
local start = luavmm.now()
vm:start()
vm.console:expect("blk%-ops: done ok=6", 60)
local elapsed = luavmm.now() - start
local result = vm:wait(10)
os.remove(image)
print(("slow-disk: 6 writes took %.2f s (delay %d ms each)"):format(elapsed, delay))
return result.reason == "exit" and elapsed >= 6 * delay / 1000 * 0.9
