-- virtio-blk over PCI against virtio-mmio, same VMM, same guest, same
-- image: the blk-bench guest (tests/guests/blk-bench.c, polling at ring 3,
-- one request in flight) on a machine with transport = "pci" (its
-- runtime's virtio-pci driver, MSI-X unused: it polls) and on the default
-- virtio-mmio.  Alone: lua5.4 bench/blk_pci.lua [BUILD_DIR]; rounds from
-- BLK_BENCH_ROUNDS (default 5), interleaved.  The figures are guest TSC
-- cycles turned into MB/s as in blk.lua; the ratio is what to read.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local build = arg[1] or "build"
local blk = dofile(here .. "/blk.lua")
local median = dofile(here .. "/median.lua")
local rounds = tonumber(os.getenv("BLK_BENCH_ROUNDS") or "5")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function cycles(image, cmdline, transport)
  local p = io.popen(("LUAVMM_GUEST_DIR=%s %s run %s %s %s %s 2>/dev/null"):format(q(build .. "/guests"),
    q(build .. "/luavmm"), q(here .. "/blk_recipe.lua"), q(image), q(cmdline), q(transport)))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("blk%-bench: %a %d+ %d+ (%d+)")), out
end

local image = os.tmpname()
assert(os.execute(("truncate -s 64M %s && dd if=/dev/urandom of=%s bs=1M count=64 conv=notrunc status=none")
  :format(q(image), q(image))))
local f = io.open("/proc/cpuinfo")
local mhz = f and tonumber(f:read("a"):match("cpu MHz%s*:%s*([%d.]+)")) or 1000
if f then f:close() end
print(("%-14s %12s %12s %8s"):format("figure", "mmio MB/s", "pci MB/s", "pci/mmio"))
for _, c in ipairs(blk.CASES) do
  local cmdline = ("%s %d %d"):format(c[1], c[2], c[3])
  local got = { mmio = {}, pci = {} }
  for r = 1, rounds do
    for _, w in ipairs(r % 2 == 1 and { "mmio", "pci" } or { "pci", "mmio" }) do
      local n, out = cycles(image, cmdline, w)
      if n then table.insert(got[w], n) else print(("failed: %s %s: %s"):format(w, cmdline, out)) end
    end
  end
  local function mbps(cyc) return cyc and c[2] * c[3] / (cyc / (mhz * 1e6)) / 1e6 or nil end
  local m, p = mbps(median(got.mmio)), mbps(median(got.pci))
  print(("%-14s %12.1f %12.1f %8s"):format(("seq %s %dK"):format(c[1] == "r" and "read" or "write",
    c[2] // 1024), m or 0 / 0, p or 0 / 0, (m and p) and ("%.2f"):format(p / m) or "n/a"))
end
os.remove(image)
