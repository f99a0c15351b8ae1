-- lossy-net.lua: a NIC that drops a percentage of the frames its guest sends.
--
--   luavmm run recipes/lossy-net.lua TAP_A TAP_B [PERCENT]   (default 50)
--
-- Two machines on two tap devices joined by a bridge (e.g. as root:
--   ip link add br0 type bridge; ip tuntap add dev tapa mode tap vnet_hdr;
--   ip tuntap add dev tapb mode tap vnet_hdr; ip link set tapa master br0;
--   ip link set tapb master br0; and `ip link set X up` for all three).
-- A runs net-check "pong", B "ping": B broadcasts pings until A answers.
-- B's on_packet policy drops PERCENT% of its transmitted frames, spread
-- evenly and starting with the first (error diffusion, so runs repeat).
-- on_packet is the slow path: every frame is copied and handed to Lua.
-- Exits 0 if the pong still got through and B dropped what it should.
local luavmm = require "luavmm"

local tap_a, tap_b = arg[1] or "tapa", arg[2] or "tapb"
local percent = math.tointeger(tonumber(arg[3] or "50"))
assert(percent and percent >= 0 and percent < 100, "PERCENT must be an integer from 0 to 99")

local function machine(mode, tap, mac)
  return luavmm.machine { kernel = luavmm.guest("net-check"), cmdline = mode,
    memory = "32M", console = false, nets = { eth0 = { tap = tap, mac = mac } } }
end
local a <close> = machine("pong", tap_a, "52:54:00:00:00:0a")
local b <close> = machine("ping", tap_b, "52:54:00:00:00:0b")

local acc, seen = 99, 0
b.nets.eth0:on_packet(function(pkt)
  if pkt.direction ~= "tx" then return end      -- "rx": frames for the guest
  seen = seen + 1
  acc = acc + percent
  if acc >= 100 then
    acc = acc - 100
    return "drop"
  end
end)
a:start()
b:start()
local rb = b:wait(120)
local ra = a:wait(30)
io.write("A:", a.console:output(), "B:", b.console:output())
local s = b.nets.eth0:stats()
print(("lossy-net: B sent %d frames, the policy saw %d and dropped %d (%d%%)"):format(
  s.tx_packets, seen, s.dropped, percent))
local expected = (seen * percent + 99) // 100   -- the first frame is dropped
return ra.value == 0 and rb.value == 0 and s.dropped == expected and s.tx_packets == seen - s.dropped
