-- virtio-vsock figures (i) for bench/run, on the vsock-bench guest
-- (tests/guests/vsock-bench.c, "serve 5000").  Two ways to run it:
--
--   luavmm run bench/vsock.lua [quick]       measures and prints its own table
--   dofile("bench/vsock.lua").measure{build=, here=, quick=, log=}
--                                             (bench.lua) runs the above in a
--                                             luavmm process and returns its rows
--
-- Everything is measured in one luavmm process with luavmm.now(), the host
-- end being the recipe's own streams (vm.vsock:connect: a socketpair that
-- the device serves like a host process on the unix socket), the guest a
-- polling ring-3 driver with 64 KiB receive buffers and a 256 KiB window:
--   host->guest   connect to port 5001, send "N\n" and N bytes, until the
--                 guest's "ok\n" arrives (MB/s = N / that time);
--   guest->host   connect to port 5002, send "N\n", until N bytes arrived;
--   connect       vm.vsock:connect(5000) until the guest's first byte ("!",
--                 sent as soon as it accepted) arrived: median and spread,
--                 with connect() alone (until the "OK" line) beside it.
-- N is 64 MiB (16 with quick); the streams move 64 KiB per call.
local M = {}

-- ---------------------------------------------------------------- module mode
-- bench.lua: run this file as a recipe and collect its rows (recipe_rows.lua).
function M.measure(opts)
  local rows_of = dofile(opts.here .. "/recipe_rows.lua")
  return rows_of(opts, "vsock.lua")
end

if not (package.preload and package.preload.luavmm) then
  return M -- loaded by bench.lua (or a plain lua5.4): module mode only
end

-- ---------------------------------------------------------------- recipe mode
local luavmm = require "luavmm"
local quick = (...) == "quick"
local BYTES = (quick and 16 or 64) * 1048576
local ROUNDS = quick and 3 or 7
local CONNECTS = quick and 50 or 300
local PORT = 5000
local CHUNK = 65536

local failures = {}
local function failed(what, err)
  failures[#failures + 1] = what .. ": " .. tostring(err):gsub("\n", " ")
end

local median = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/median.lua")
local quartiles = median.quartiles
local function spread(t, scale, unit)
  if #t == 0 then return "no data" end
  local s = median.sorted(t)
  local lo, hi = quartiles(t)
  return ("median %.3g %s, IQR %.3g-%.3g, min %.3g, max %.3g, n=%d"):format(median(t) / scale, unit,
    lo / scale, hi / scale, s[1] / scale, s[#s] / scale, #t)
end

local rows, details = {}, {}
local function row(...) rows[#rows + 1] = { ... } end
local function detail(s) details[#details + 1] = s end

local vm = luavmm.machine { kernel = luavmm.guest("vsock-bench"), cmdline = "serve " .. PORT,
  memory = "64M", console = false, vsock = { cid = 3 } }
vm:start()
vm.console:expect("vsock%-bench: ready\n", 30)

-- Reads from s until `n` bytes came (or `pattern` matched what came).
local function drain(s, n, pattern)
  local got, tail = 0, ""
  while true do
    local chunk, err = s:receive(CHUNK, 60)
    if not chunk then error("receive: " .. err) end
    got = got + #chunk
    if pattern then
      tail = (tail .. chunk):sub(-16)
      if tail:find(pattern) then return got end
    elseif got >= n then
      return got
    end
  end
end

local data = ("\0"):rep(CHUNK)
local function host_to_guest()
  local t0 = luavmm.now()
  local s <close> = vm.vsock:connect(PORT + 1)
  assert(s:send(BYTES .. "\n"))
  for _ = 1, BYTES // CHUNK do assert(s:send(data, 60)) end
  drain(s, 3, "ok\n")
  return luavmm.now() - t0
end

local function guest_to_host()
  local t0 = luavmm.now()
  local s <close> = vm.vsock:connect(PORT + 2)
  assert(s:send(BYTES .. "\n"))
  drain(s, BYTES)
  return luavmm.now() - t0
end

local function connect_first_byte()
  local t0 = luavmm.now()
  local s <close> = vm.vsock:connect(PORT)
  local t1 = luavmm.now()
  assert(s:receive(1, 30) == "!")
  return luavmm.now() - t0, t1 - t0
end

local mbs = { up = {}, down = {} }
local ok, err = pcall(function()
  for _ = 1, ROUNDS do -- alternate directions round by round
    table.insert(mbs.up, BYTES / host_to_guest() / 1e6)
    table.insert(mbs.down, BYTES / guest_to_host() / 1e6)
  end
end)
if not ok then failed("throughput", err) end
local lat, handshake = {}, {}
ok, err = pcall(function()
  for _ = 1, CONNECTS do
    local a, b = connect_first_byte()
    lat[#lat + 1] = a
    handshake[#handshake + 1] = b
  end
end)
if not ok then failed("connect latency", err) end

local function rate(v) return v and ("%.0f MB/s"):format(v) or "n/a" end
local function ms(v) return v and ("%.3f ms"):format(v * 1e3) or "n/a" end
local MIB = BYTES // 1048576
row("(i) vsock stream host->guest", rate(median(mbs.up)), ("(%d MiB, Lua stream)"):format(MIB),
  "n/a", "(info)", #mbs.up > 0 and "info" or "NO DATA")
row("(i) vsock stream guest->host", rate(median(mbs.down)), ("(%d MiB, Lua stream)"):format(MIB),
  "n/a", "(info)", #mbs.down > 0 and "info" or "NO DATA")
local lo, hi = #lat > 0 and quartiles(lat)
row("(i) vsock connect->1st byte", ms(median(lat)),
  ("connect() alone %s"):format(ms(median(handshake))),
  (#lat > 0) and ("%.3f"):format(median(lat) / median(handshake)) or "n/a", "(info)",
  #lat > 0 and "info" or "NO DATA")
detail(("(i) host->guest %s; guest->host %s (%d MiB per round, %d rounds alternating)")
  :format(spread(mbs.up, 1, "MB/s"), spread(mbs.down, 1, "MB/s"), MIB, #mbs.up))
detail(("(i) connect->first byte %s"):format(spread(lat, 1e-3, "ms")))
if lo then
  detail(("(i) connect() alone %s"):format(spread(handshake, 1e-3, "ms")))
end
local st = vm.vsock:stats()
detail(("(i) device: %d connections, %d packets to the guest, %d from it, %d credit violations, %d RSTs")
  :format(st.opened, st.rx_packets, st.tx_packets, st.credit_violations, st.rst_sent))
vm:close()

for _, r in ipairs(rows) do print("row\t" .. table.concat(r, "\t")) end
for _, d in ipairs(details) do print("detail\t" .. d) end
for _, f in ipairs(failures) do print("failed\t" .. f) end
if not os.getenv("LUAVMM_BENCH_QUIET") then
  io.stderr:write("\n")
  for _, r in ipairs(rows) do io.stderr:write(table.concat(r, " | "), "\n") end
  for _, d in ipairs(details) do io.stderr:write("  ", d, "\n") end
  for _, f in ipairs(failures) do io.stderr:write("failed: ", f, "\n") end
end
return #failures == 0 and 0 or 1
