-- virtio-blk over PCI against virtio-mmio, in luavmm and in QEMU: the same
-- guest ELF (tests/guests/blk-bench.c: polling at ring 3, one request in
-- flight, MSI-X and interrupts unused), the same raw image, the same
-- requests, four ways:
--
--   luavmm mmio  the default transport
--   luavmm pci   transport = "pci" (the guest finds the function through
--                0xcf8/0xcfc; luavmm placed its BAR)
--   QEMU mmio    -M microvm, virtio-blk-device (as blk.lua runs it)
--   QEMU pci     -M q35 with qboot as firmware, virtio-blk-pci with
--                disable-legacy=on.  microvm's PCIe is ECAM-only and the
--                guest's driver uses mechanism #1, hence q35.  qboot (the
--                firmware microvm uses; qemu-system-data ships it) boots a
--                PVH kernel in well under a second where SeaBIOS takes tens
--                of seconds of emulated real mode on this nested host; it
--                assigns no BARs, so the guest's runtime places them
--                (runtime/pci.c, pci_enable).  Without qboot.rom, SeaBIOS.
--
-- Rounds are interleaved (each round runs the four in a rotated order) and
-- every figure is the median over rounds with its interquartile range, in
-- microseconds per request from the guest's TSC (the "cpu MHz" of
-- /proc/cpuinfo; it cancels out of the ratios).  A write run includes its
-- final FLUSH (blk-bench.c), spread over its requests.
--
-- Alone: lua5.4 bench/blk_pci.lua [BUILD_DIR]; rounds from BLK_BENCH_ROUNDS
-- (default 5).  bench/bench.lua calls M.measure and prints M.format's lines.
-- Without qemu-system-x86_64 the QEMU columns say n/a.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local blk = dofile(here .. "/blk.lua")
local median = dofile(here .. "/median.lua")
local q = blk.q
local M = {}

M.WHO = { "luavmm mmio", "luavmm pci", "QEMU mmio", "QEMU pci" }

-- qboot.rom in one of QEMU's firmware directories (qemu -L help lists them).
local function qboot()
  local p = io.popen("qemu-system-x86_64 -L help 2>/dev/null")
  local dirs = p and p:read("a") or ""
  if p then p:close() end
  for dir in dirs:gmatch("[^\n]+") do
    local f = io.open(dir .. "/qboot.rom")
    if f then
      f:close()
      return true
    end
  end
  return false
end

-- The q35 counterpart of blk.lua's microvm command: same RAM, drive options
-- and debug-exit port; no virtio_mmio.device= (the guest scans PCI).
local function qemu_pci_cmd(guest, image, cmdline, log, bios)
  return table.concat({
    "qemu-system-x86_64 -M q35 -accel kvm -m 64M -nodefaults -no-user-config",
    bios and "-bios qboot.rom" or "",
    "-nographic -no-reboot -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4",
    "-drive id=d0,file=" .. q(image) .. ",format=raw,if=none,cache=writeback,aio=threads",
    "-device virtio-blk-pci,drive=d0,disable-legacy=on",
    "-kernel", q(guest), "-append", q(cmdline), "2>>" .. q(log),
  }, " ")
end

-- t: values by round, with holes where a run failed.
local function stats(t, rounds)
  local s = {}
  for r = 1, rounds do s[#s + 1] = t[r] end
  if #s == 0 then return nil end
  local lo, hi = median.quartiles(s)
  return { med = median(s), lo = lo, hi = hi, n = #s }
end

-- opts: build, here, rounds, qemu (bool), log.  Returns
-- { {name=, bytes=, ["luavmm mmio"]={med=,lo=,hi=,n=} (µs per request) | nil, ...}, ... },
-- a list of failure lines, and the QEMU pci firmware ("qboot", "SeaBIOS" or nil).
function M.measure(opts)
  local image = os.tmpname()
  assert(os.execute(("truncate -s 64M %s && dd if=/dev/urandom of=%s bs=1M count=64 conv=notrunc status=none")
    :format(q(image), q(image))))
  local guest = opts.build .. "/guests/blk-bench.elf"
  local bios = opts.qemu and qboot()
  local runners = {
    ["luavmm mmio"] = function(c) return blk.luavmm_cmd(opts.build, opts.here, image, c, opts.log) end,
    ["luavmm pci"] = function(c) return blk.luavmm_cmd(opts.build, opts.here, image, c, opts.log, "pci") end,
    ["QEMU mmio"] = function(c) return blk.qemu_cmd(guest, image, c, opts.log) end,
    ["QEMU pci"] = function(c) return qemu_pci_cmd(guest, image, c, opts.log, bios) end,
  }
  local who = opts.qemu and M.WHO or { M.WHO[1], M.WHO[2] }
  local mhz, results, failures = blk.tsc_mhz(), {}, {}
  for _, c in ipairs(blk.CASES) do
    local cmdline = ("%s %d %d"):format(c[1], c[2], c[3])
    local got = {}
    for _, w in ipairs(who) do got[w] = {} end
    for r = 1, opts.rounds do
      for i = 1, #who do
        local w = who[(i + r) % #who + 1] -- each round starts with the next one
        local n, out = blk.cycles(runners[w](cmdline))
        if n then got[w][r] = n / c[3] / mhz
        else failures[#failures + 1] = ("%s blk-bench %q: %s"):format(w, cmdline, out:gsub("\n", " ")) end
      end
    end
    local row = { name = ("seq %s %dK"):format(c[1] == "r" and "read" or "write", c[2] // 1024), bytes = c[2] }
    for _, w in ipairs(who) do row[w] = stats(got[w], opts.rounds) end
    -- Ratios within a round (runs next to each other), a cross-check on the
    -- ratio of medians that a load change between rounds does not move.
    local function paired(a, b)
      local t = {}
      for r = 1, opts.rounds do t[r] = (got[a] and got[a][r] and got[b] and got[b][r]) and got[a][r] / got[b][r] end
      return stats(t, opts.rounds)
    end
    row.paired = { paired("luavmm pci", "luavmm mmio"), paired("QEMU pci", "QEMU mmio"),
      paired("luavmm pci", "QEMU pci") }
    results[#results + 1] = row
  end
  os.remove(image)
  return results, failures, opts.qemu and (bios and "qboot" or "SeaBIOS") or nil
end

-- The table's lines: µs per request, median [p25-p75], then the ratios of
-- medians (time: above 1 is slower) and luavmm pci's MB/s; then the same
-- ratios paired within each round, median [p25-p75].
function M.format(results)
  local lines = { ("%-13s %-19s %-19s %-19s %-19s %7s %7s %7s %8s"):format("us/request", "luavmm mmio",
    "luavmm pci", "QEMU mmio", "QEMU pci", "lv p/m", "QE p/m", "lv/QE p", "lv pci") }
  local function cell(s)
    if not s then return "n/a" end
    return ("%.1f [%.1f-%.1f]"):format(s.med, s.lo, s.hi)
  end
  local function ratio(a, b) return (a and b) and ("%.2f"):format(a.med / b.med) or "n/a" end
  for _, r in ipairs(results) do
    local lp = r["luavmm pci"]
    lines[#lines + 1] = ("%-13s %-19s %-19s %-19s %-19s %7s %7s %7s %8s"):format(r.name, cell(r["luavmm mmio"]),
      cell(lp), cell(r["QEMU mmio"]), cell(r["QEMU pci"]),
      ratio(lp, r["luavmm mmio"]), ratio(r["QEMU pci"], r["QEMU mmio"]), ratio(lp, r["QEMU pci"]),
      lp and ("%.1fMB/s"):format(r.bytes / lp.med) or "n/a")
  end
  lines[#lines + 1] = ("%-13s %-19s %-19s %-19s"):format("paired", "lv pci/mmio", "QEMU pci/mmio", "lv pci/QEMU pci")
  local function pcell(s) return s and ("%.2f [%.2f-%.2f]"):format(s.med, s.lo, s.hi) or "n/a" end
  for _, r in ipairs(results) do
    lines[#lines + 1] = ("%-13s %-19s %-19s %-19s"):format(r.name, pcell(r.paired[1]), pcell(r.paired[2]),
      pcell(r.paired[3]))
  end
  return lines
end

-- Standalone: lua5.4 bench/blk_pci.lua [BUILD_DIR]
if arg and arg[0] and arg[0]:match("blk_pci%.lua$") then
  local rounds = tonumber(os.getenv("BLK_BENCH_ROUNDS") or "5")
  local results, failures, fw = M.measure { build = arg[1] or "build", here = here, log = "/dev/null",
    rounds = rounds, qemu = os.execute("command -v qemu-system-x86_64 >/dev/null 2>&1") == true }
  for _, l in ipairs(M.format(results)) do print(l) end
  print(("%d rounds, interleaved; median [interquartile range]; lv p/m = luavmm pci/mmio, QE p/m = QEMU "
    .. "pci/mmio, lv/QE p = luavmm pci/QEMU pci (time ratios: above 1 is slower); QEMU pci firmware: %s")
    :format(rounds, fw or "n/a (no qemu-system-x86_64)"))
  for _, f in ipairs(failures) do print("failed: " .. f) end
end

return M
