-- fail-range.lua: fault injection, writes to a sector range fail.
--
--   luavmm run recipes/fail-range.lua [FIRST [LAST]]   (default 4 .. 5)
--
-- Boots the blk-ops test guest, which writes sectors 0..7 (sector i filled
-- with byte i), with a policy that fails every write touching sectors
-- FIRST..LAST with an I/O error.
-- Reads, flushes and other writes pass.  Exits 0 if exactly those writes
-- failed and the failed sectors are still zero in the image.
local luavmm = require "luavmm"

local first = math.tointeger(tonumber(arg[1] or "4"))
local last = math.tointeger(tonumber(arg[2] or tostring(first + 1)))
local image = os.tmpname()
local f <close> = assert(io.open(image, "w+b"))
f:write(string.rep("\0", 64 * 512)):flush()

local vm <close> = luavmm.machine {
  memory = "32M", console = false,
  kernel = luavmm.guest("blk-ops"), cmdline = "w 8 0",
  disks = { data = { path = image } },
}
vm.disks.data:on_request(function(req)
  local sectors = req.length // 512
  if req.op == "write" and req.sector <= last and req.sector + sectors - 1 >= first then
    return "ioerr"
  end
end)
local result = vm:run(60)
local output = vm.console:output()
io.write(output)
local ok = result.reason == "exit"
for i, status in output:gmatch("blk%-ops: (%d+) (%d+)\n") do
  local s = tonumber(i)
  ok = ok and (status ~= "0") == (s >= first and s <= last)
end
f:seek("set", first * 512)
ok = ok and f:read(512) == string.rep("\0", 512)   -- never written
f:seek("set", 7 * 512)
ok = ok and f:read(512) == string.rep("\7", 512)   -- written (sector i is filled with byte i)
os.remove(image)
print(ok and "fail-range: ok" or "fail-range: FAILED")
return ok
