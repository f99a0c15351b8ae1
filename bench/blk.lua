-- virtio-blk sequential throughput: luavmm vs QEMU -M microvm with
-- virtio-blk-device on the same raw image, the blk-bench guest polling at
-- ring 3 with one request in flight.  Run: lua5.4 bench/blk.lua [BUILD_DIR]
-- (or bench/run-blk).  Figures are TSC cycles measured inside the guest,
-- medians over interleaved rounds; MB/s assumes the TSC ticks at the
-- "cpu MHz" of /proc/cpuinfo.  Ratio = luavmm throughput / QEMU's (target >= 1).
local build = arg[1] or "build"
local rounds = tonumber(os.getenv("BLK_BENCH_ROUNDS") or "5")
local luavmm = build .. "/luavmm"
local guest = build .. "/guests/blk-bench.elf"
local image = os.tmpname()
assert(os.execute(("truncate -s 64M %s && dd if=/dev/urandom of=%s bs=1M count=64 conv=notrunc status=none")
  :format(image, image)))

local qemu = table.concat({
  "qemu-system-x86_64 -M microvm -accel kvm -m 64M -nodefaults -no-user-config",
  "-nographic -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4",
  "-global virtio-mmio.force-legacy=false",
  "-drive id=d0,file=%s,format=raw,if=none -device virtio-blk-device,drive=d0",
  "-kernel %s -append '%s virtio_mmio.device=512@0xfeb02e00:12' 2>/dev/null",
}, " ")

local function cycles(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return tonumber(out:match("blk%-bench: %a %d+ %d+ (%d+)")), out
end

local runners = {
  luavmm = function(c)
    return cycles(("LUAVMM_GUEST_DIR=%s/guests %s run bench/blk_recipe.lua %s '%s' 2>&1")
      :format(build, luavmm, image, c))
  end,
  qemu = function(c) return cycles(qemu:format(image, guest, c)) end,
}

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local mhz = tonumber(io.open("/proc/cpuinfo"):read("a"):match("cpu MHz%s*:%s*([%d.]+)"))
local cases = { { "r", 4096, 4000 }, { "w", 4096, 4000 }, { "r", 65536, 1000 }, { "w", 65536, 1000 } }
print(("%-14s %12s %12s %8s"):format("figure", "luavmm MB/s", "QEMU MB/s", "ratio"))
for _, c in ipairs(cases) do
  local cmdline = ("%s %d %d"):format(c[1], c[2], c[3])
  local got = { luavmm = {}, qemu = {} }
  for r = 1, rounds do
    local order = r % 2 == 0 and { "luavmm", "qemu" } or { "qemu", "luavmm" }
    for _, who in ipairs(order) do
      local n, out = runners[who](cmdline)
      assert(n, who .. " failed: " .. out)
      table.insert(got[who], n)
    end
  end
  local bytes = c[2] * c[3]
  local function mbps(cyc) return bytes / (cyc / (mhz * 1e6)) / 1e6 end
  local l, q = mbps(median(got.luavmm)), mbps(median(got.qemu))
  print(("%-14s %12.1f %12.1f %8.2f"):format(("seq %s %dK"):format(c[1] == "r" and "read" or "write", c[2] // 1024), l, q, l / q))
end
os.remove(image)
