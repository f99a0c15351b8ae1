-- virtio-blk sequential throughput: luavmm vs QEMU -M microvm with
-- virtio-blk-device on the same raw image, the blk-bench guest polling at
-- ring 3 with one request in flight (see README.md, "virtio-blk").
--
-- bench/run loads this file and adds its rows to the table (--no-blk skips
-- it); alone: lua5.4 bench/blk.lua [BUILD_DIR] prints just these figures.
-- Figures are TSC cycles measured inside the guest, medians over
-- interleaved rounds (BLK_BENCH_ROUNDS); MB/s assumes the TSC ticks at the
-- "cpu MHz" of /proc/cpuinfo, which cancels out of the ratio.
local M = {}

M.CASES = { { "r", 4096, 4000 }, { "w", 4096, 4000 }, { "r", 65536, 1000 }, { "w", 65536, 1000 } }

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Both VMMs: 64 MiB of RAM, the same image, no O_DIRECT (host page cache).
-- The guest negotiates FLUSH, so QEMU keeps its default writeback cache
-- instead of going write-through, and a write run ends with one FLUSH:
-- fdatasync in both (blk-bench.c).
local function qemu_cmd(guest, image, cmdline, log)
  return table.concat({
    "qemu-system-x86_64 -M microvm -accel kvm -m 64M -nodefaults -no-user-config",
    "-nographic -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4",
    "-global virtio-mmio.force-legacy=false",
    "-drive id=d0,file=" .. q(image) .. ",format=raw,if=none,cache=writeback,aio=threads",
    "-device virtio-blk-device,drive=d0",
    -- QEMU names no virtio_mmio.device= for a non-Linux kernel: the last slot is the disk.
    "-kernel", q(guest), "-append", q(cmdline .. " virtio_mmio.device=512@0xfeb02e00:12"),
    "2>>" .. q(log),
  }, " ")
end

-- transport: nil (virtio-mmio) or "pci" (blk_pci.lua).
local function luavmm_cmd(build, here, image, cmdline, log, transport)
  return ("LUAVMM_GUEST_DIR=%s %s run %s %s %s%s 2>>%s"):format(q(build .. "/guests"),
    q(build .. "/luavmm"), q(here .. "/blk_recipe.lua"), q(image), q(cmdline),
    transport and " " .. q(transport) or "", q(log))
end

local function cycles(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return tonumber(out:match("blk%-bench: %a %d+ %d+ (%d+)")), out
end

-- For blk_pci.lua, which runs the same guest the same ways plus over PCI.
M.qemu_cmd, M.luavmm_cmd, M.cycles, M.q = qemu_cmd, luavmm_cmd, cycles, q

local median = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/median.lua")

function M.tsc_mhz()
  local f = io.open("/proc/cpuinfo")
  local mhz = f and tonumber(f:read("a"):match("cpu MHz%s*:%s*([%d.]+)"))
  if f then f:close() end
  return mhz or 1000
end

-- opts: build, here (this directory), rounds, qemu (bool), log (stderr file).
-- Returns { {name=, luavmm=MB/s|nil, qemu=MB/s|nil, n=rounds, luavmm_iqr=,
-- qemu_iqr= {lo, hi} MB/s, paired= median of the per-round luavmm/QEMU
-- throughput ratios, paired_iqr=, busy= {luavmm=, qemu=} the median share
-- of the host's CPUs busy during their runs}, ... } and a list of failure lines.
-- The host's CPU time as /proc/stat counts it: busy and total jiffies.
local function cpu_jiffies()
  local f = io.open("/proc/stat")
  local line = f and f:read("l") or ""
  if f then f:close() end
  local t, total = {}, 0
  for v in line:gmatch("%d+") do t[#t + 1] = tonumber(v); total = total + tonumber(v) end
  local idle = (t[4] or 0) + (t[5] or 0) -- idle + iowait
  return total - idle, total
end

-- Runs fn(); returns its results and the share of the host's CPUs busy meanwhile.
local function with_busy(fn, ...)
  local b0, t0 = cpu_jiffies()
  local a, b = fn(...)
  local b1, t1 = cpu_jiffies()
  return a, b, (t1 > t0) and (b1 - b0) / (t1 - t0) or nil
end

function M.measure(opts)
  local image = os.tmpname()
  assert(os.execute(("truncate -s 64M %s && dd if=/dev/urandom of=%s bs=1M count=64 conv=notrunc status=none")
    :format(q(image), q(image))))
  local guest = opts.build .. "/guests/blk-bench.elf"
  local runners = {
    luavmm = function(c) return cycles(luavmm_cmd(opts.build, opts.here, image, c, opts.log)) end,
    qemu = function(c) return cycles(qemu_cmd(guest, image, c, opts.log)) end,
  }
  local who = opts.qemu and { "luavmm", "qemu" } or { "luavmm" }
  local mhz, results, failures = M.tsc_mhz(), {}, {}
  for _, c in ipairs(M.CASES) do
    local cmdline = ("%s %d %d"):format(c[1], c[2], c[3])
    local got, busy, paired = { luavmm = {}, qemu = {} }, { luavmm = {}, qemu = {} }, {}
    for r = 1, opts.rounds do
      local this = {}
      for i = 1, #who do
        local w = who[(i + r) % #who + 1] -- alternate who goes first
        local n, out, share = with_busy(runners[w], cmdline)
        if n then
          table.insert(got[w], n)
          this[w] = n
          if share then table.insert(busy[w], share) end
        else failures[#failures + 1] = ("%s blk-bench %q: %s"):format(w, cmdline, out:gsub("\n", " ")) end
      end
      -- The two runs of a round saw nearly the same host: their ratio is
      -- steadier than the ratio of two medians when the host's load moves.
      if this.luavmm and this.qemu then paired[#paired + 1] = this.qemu / this.luavmm end
    end
    local bytes = c[2] * c[3]
    local function mbps(cyc) return cyc and bytes / (cyc / (mhz * 1e6)) / 1e6 or nil end
    local function spread(cycles)
      if #cycles == 0 then return nil end
      local lo, hi = median.quartiles(cycles)
      return { mbps(hi), mbps(lo) } -- more cycles, fewer MB/s
    end
    results[#results + 1] = { name = ("seq %s %dK"):format(c[1] == "r" and "read" or "write", c[2] // 1024),
      luavmm = mbps(median(got.luavmm)), qemu = mbps(median(got.qemu)), n = opts.rounds,
      luavmm_iqr = spread(got.luavmm), qemu_iqr = spread(got.qemu),
      paired = median(paired), paired_iqr = #paired > 0 and { median.quartiles(paired) } or nil,
      busy = { luavmm = median(busy.luavmm), qemu = median(busy.qemu) } }
  end
  os.remove(image)
  return results, failures
end

-- Standalone: lua5.4 bench/blk.lua [BUILD_DIR]
if arg and arg[0] and arg[0]:match("blk%.lua$") then
  local here = arg[0]:match("^(.*)/[^/]*$") or "."
  local results, failures = M.measure { build = arg[1] or "build", here = here, log = "/dev/null",
    rounds = tonumber(os.getenv("BLK_BENCH_ROUNDS") or "5"),
    qemu = os.execute("command -v qemu-system-x86_64 >/dev/null 2>&1") == true }
  print(("%-14s %12s %12s %8s %8s %6s"):format("figure", "luavmm MB/s", "QEMU MB/s", "ratio", "paired", "busy"))
  for _, r in ipairs(results) do
    print(("%-14s %12.1f %12s %8s %8s %6s"):format(r.name, r.luavmm or 0 / 0,
      r.qemu and ("%.1f"):format(r.qemu) or "n/a",
      (r.luavmm and r.qemu) and ("%.2f"):format(r.luavmm / r.qemu) or "n/a",
      r.paired and ("%.2f"):format(r.paired) or "n/a",
      r.busy.luavmm and ("%.0f%%"):format(r.busy.luavmm * 100) or "n/a"))
  end
  for _, f in ipairs(failures) do print("failed: " .. f) end
end

return M
