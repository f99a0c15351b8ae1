-- fail-nth-write.lua: fault injection, the Nth write to a disk fails.
--
--   luavmm run recipes/fail-nth-write.lua [N]     (N defaults to 3)
--
-- Boots the blk-ops test guest, which writes 8 sectors one request at a
-- time, with a policy on the disk that answers the Nth write with an I/O
-- error (the guest sees VIRTIO_BLK_S_IOERR) and lets every other request
-- through.  Prints what the guest saw; exits 0 if exactly write N failed.
local luavmm = require "luavmm"

local n = math.tointeger(tonumber((...) or "3")) or error("N must be an integer")
local image = os.tmpname()
local f <close> = assert(io.open(image, "wb"))
f:write(string.rep("\0", 64 * 512)):flush()

local vm <close> = luavmm.machine {
  memory = "32M", console = false,
  kernel = luavmm.guest("blk-ops"), cmdline = "w 8 0",
  disks = { data = { path = image } },
}
local writes = 0
vm.disks.data:on_request(function(req)
  if req.op == "write" then
    writes = writes + 1
    if writes == n then return "ioerr" end
  end
end)
local result = vm:run(60)
os.remove(image)
local output = vm.console:output()
io.write(output)
local failed = {}
for i, status in output:gmatch("blk%-ops: (%d+) (%d+)\n") do
  if status ~= "0" then failed[#failed + 1] = tonumber(i) + 1 end
end
print(("writes seen by the policy: %d, failed: {%s}"):format(writes, table.concat(failed, ",")))
return result.reason == "exit" and #failed == 1 and failed[1] == n
