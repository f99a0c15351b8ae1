-- Snapshot, restore and fork figures (h) for bench/run, on the counter guest
-- (tests/guests/counter.c).  Two ways to run it:
--
--   luavmm run bench/snapshot.lua [quick]     measures and prints its own table
--   dofile("bench/snapshot.lua").measure{build=, here=, quick=, log=}
--                                              (bench.lua) runs the above in a
--                                              luavmm process and returns its rows
--
-- Everything is measured inside one luavmm process with luavmm.now(), the
-- machines' consoles off (console = false, still seen by expect):
--   snapshot         vm:snapshot(dir) of a paused guest that wrote every page of
--                    its RAM (counter "touch"), per RAM size: wall time, and
--                    the state and memory bytes it wrote;
--   restore->running luavmm.restore(dir) + start until the restored guest's
--                    next console byte, against a fresh machine of the same
--                    RAM: luavmm.machine + start until its first byte (the
--                    counter prints "counter: start" before anything else);
--                    the guest (ms=0) prints without pause, so its next byte
--                    comes at once; the two are interleaved, in random order;
--   fork             parent:fork() of a paused, touched 256 MiB parent, then
--                    child:start(): fork->runnable (fork + start returned)
--                    and fork->first byte; forks/s: fork + start + close in a loop;
--   100 forks alive  100 children of one paused 256 MiB parent, each started,
--                    made to write DIRTY pages ("dirty N") and paused again,
--                    all alive at once: the process's memory (Pss_Anon +
--                    Pss_File + its guest-RAM memfds' pages, see memory_now)
--                    against the target; VmRSS, which counts a guest page
--                    once per machine mapping it, in the details.
-- Figures are min / median / max over the rounds (7, or 3 with quick).
local M = {}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- ---------------------------------------------------------------- module mode
-- bench.lua: run this file as a recipe and collect its rows (recipe_rows.lua).
function M.measure(opts)
  local rows_of = dofile(opts.here .. "/recipe_rows.lua")
  return rows_of(opts, "snapshot.lua")
end

if not (package.preload and package.preload.luavmm) then
  return M -- loaded by bench.lua (or a plain lua5.4): module mode only
end

-- ---------------------------------------------------------------- recipe mode
local luavmm = require "luavmm"
local quick = (...) == "quick"
local ROUNDS = quick and 3 or 7
local SIZES = quick and { "64M", "256M" } or { "64M", "256M", "1G" }
local FORK_MEM = "256M"
local FORKS_PER_S_N = quick and 20 or 50
local ALIVE = quick and 20 or 100
local DIRTY = 64 -- pages each child writes in the RSS figure
local GUEST = luavmm.guest("counter")

math.randomseed(os.time())
local failures = {}
local function failed(what, err)
  failures[#failures + 1] = what .. ": " .. tostring(err):gsub("\n", " ")
end

local made = {} -- every directory tmpdir() made, removed at the end whatever happened
local function tmpdir()
  local p = io.popen("mktemp -d " .. q((os.getenv("TMPDIR") or "/tmp") .. "/luavmm-bench-snap.XXXXXX"))
  local d = p:read("l")
  p:close()
  made[#made + 1] = d
  return d
end
local function rmtree(d) if d then os.execute("rm -rf " .. q(d)) end end

local median = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/median.lua")
local function spread(t, scale, unit)
  if #t == 0 then return "no data" end
  local s = median.sorted(t)
  return ("min %.3g / median %.3g / max %.3g %s, n=%d"):format(s[1] / scale, median(t) / scale,
    s[#s] / scale, unit, #t)
end
local function ms(v) return v and ("%.2f ms"):format(v * 1e3) or "n/a" end
local function mib(bytes) return bytes and ("%.1f MiB"):format(bytes / 1048576) or "n/a" end

local function shuffle(t)
  for i = #t, 2, -1 do
    local j = math.random(i)
    t[i], t[j] = t[j], t[i]
  end
  return t
end

-- A started counter, paused once it is counting (touched: every page written).
local function parent(memory, cmdline, touch)
  local vm = luavmm.machine { kernel = GUEST, memory = memory, console = false,
    cmdline = cmdline .. (touch and " touch" or "") }
  vm:start()
  vm.console:expect("counter: ready\n", 120)
  vm.console:expect("count 5[^\n]*\n", 30)
  vm:pause()
  return vm
end

-- One touched parent per RAM size, kept (paused) for the later figures.
local parents = {}
local function touched_parent(size)
  parents[size] = parents[size] or parent(size, "ms=0", true)
  return parents[size]
end

local function first_byte(vm)
  vm.console:expect(".", 30)
end

local rows, details = {}, {}
local function row(...) rows[#rows + 1] = { ... } end
local function detail(s) details[#details + 1] = s end

-- snapshot and restore->running, per RAM size ------------------------------
for _, size in ipairs(SIZES) do
  io.stderr:write(("bench: (h) snapshot/restore of %s, %d rounds\n"):format(size, ROUNDS))
  local ok, err = pcall(function()
    local vm = touched_parent(size)
    local snap, info = {}, nil
    local keep = tmpdir()
    for r = 1, ROUNDS do
      local dir = r == ROUNDS and keep or tmpdir()
      local t0 = luavmm.now()
      info = vm:snapshot(dir)
      snap[#snap + 1] = luavmm.now() - t0
      if dir ~= keep then rmtree(dir) end
    end
    local restore, fresh, paired = {}, {}, {}
    for _ = 1, ROUNDS do
      local got = {}
      for _, who in ipairs(shuffle { "restore", "fresh" }) do
        local t0 = luavmm.now()
        local m
        if who == "restore" then
          m = luavmm.restore(keep)
        else
          m = luavmm.machine { kernel = GUEST, memory = size, console = false, cmdline = "ms=0" }
        end
        m:start()
        first_byte(m)
        got[who] = luavmm.now() - t0
        m:close()
      end
      restore[#restore + 1], fresh[#fresh + 1] = got.restore, got.fresh
      paired[#paired + 1] = got.restore - got.fresh
    end
    rmtree(keep)
    row(("(h) snapshot, %s touched"):format(size), ms(median(snap)),
      ("state %.1f KiB + memory %s"):format(info.state_bytes / 1024, mib(info.memory_bytes)), "n/a", "(info)", "info")
    local lv, fr = median(restore), median(fresh)
    local target = size == "256M" and "<= fresh + 2 ms" or "(info)"
    local verdict = size == "256M" and (lv <= fr + 0.002 and "ok" or "MISSED") or "info"
    row(("(h) restore->running, %s"):format(size), ms(lv), "fresh start " .. ms(fr),
      ("%.3f"):format(lv / fr), target, verdict)
    detail(("(h) %s snapshot %s; vm:snapshot's own seconds %.3g"):format(size, spread(snap, 1e-3, "ms"),
      info.seconds or 0 / 0))
    detail(("(h) %s restore->first byte %s"):format(size, spread(restore, 1e-3, "ms")))
    detail(("(h) %s fresh start->first byte %s"):format(size, spread(fresh, 1e-3, "ms")))
    detail(("(h) %s paired restore - fresh %s"):format(size, spread(paired, 1e-3, "ms")))
  end)
  if not ok then
    failed("snapshot/restore " .. size, err)
    row(("(h) restore->running, %s"):format(size), "n/a", "n/a", "n/a", "(info)", "NO DATA")
  end
end

-- fork latency and forks/s ------------------------------------------------
io.stderr:write(("bench: (h) fork of %s, %d rounds\n"):format(FORK_MEM, ROUNDS))
local ok, err = pcall(function()
  local vm = touched_parent(FORK_MEM)
  local fork_s, runnable, first, close_s = {}, {}, {}, {}
  for _ = 1, ROUNDS do
    local t0 = luavmm.now()
    local child = vm:fork()
    local t1 = luavmm.now()
    child:start()
    local t2 = luavmm.now()
    first_byte(child)
    local t3 = luavmm.now()
    child:close()
    local t4 = luavmm.now()
    fork_s[#fork_s + 1], runnable[#runnable + 1] = t1 - t0, t2 - t0
    first[#first + 1], close_s[#close_s + 1] = t3 - t0, t4 - t3
  end
  local rates = {}
  for _ = 1, math.max(1, ROUNDS // 2) do
    local t0 = luavmm.now()
    for _ = 1, FORKS_PER_S_N do
      local child = vm:fork()
      child:start()
      child:close()
    end
    rates[#rates + 1] = FORKS_PER_S_N / (luavmm.now() - t0)
  end
  local lv = median(runnable)
  row(("(h) fork->runnable, %s"):format(FORK_MEM), ms(lv), "first byte " .. ms(median(first)), "n/a",
    "<= 2 ms", lv <= 0.002 and "ok" or "MISSED")
  row("(h) fork+start+close", ("%.0f forks/s"):format(median(rates)), ("(sequential, %d)"):format(FORKS_PER_S_N),
    "n/a", "(info)", "info")
  detail(("(h) fork() %s"):format(spread(fork_s, 1e-3, "ms")))
  detail(("(h) fork->runnable %s"):format(spread(runnable, 1e-3, "ms")))
  detail(("(h) fork->first byte %s"):format(spread(first, 1e-3, "ms")))
  detail(("(h) child close %s"):format(spread(close_s, 1e-3, "ms")))
  detail(("(h) forks/s (fork+start+close x%d) %s"):format(FORKS_PER_S_N, spread(rates, 1, "/s")))
end)
if not ok then
  failed("fork", err)
  row(("(h) fork->runnable, %s"):format(FORK_MEM), "n/a", "n/a", "n/a", "<= 2 ms", "NO DATA")
end

-- 100 forks alive: memory -----------------------------------------------------
-- What the process holds: its private and file pages (Pss_Anon + Pss_File of
-- smaps_rollup: a child's copy of a page it wrote is anonymous) plus every
-- page of its guest-RAM memfds, mapped or not (a frozen base is remapped
-- and its pages are not all in the page tables again; Pss_Shmem would miss
-- them), each memfd once (by inode).
local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function memfd_bytes()
  local pid = read("/proc/self/stat"):match("^(%d+)")
  local p = io.popen(("for f in /proc/%s/fd/*; do case $(readlink $f) in /memfd:luavmm-ram*) " ..
    "stat -L -c '%%i %%b %%B' $f;; esac; done 2>/dev/null"):format(pid))
  local seen, total = {}, 0
  for inode, blocks, size in p:read("a"):gmatch("(%d+) (%d+) (%d+)") do
    if not seen[inode] then
      seen[inode] = true
      total = total + tonumber(blocks) * tonumber(size)
    end
  end
  p:close()
  return total
end

local function memory_now()
  collectgarbage()
  luavmm.settle() -- closed machines' RAM is released in the background
  local rollup, status = read("/proc/self/smaps_rollup"), read("/proc/self/status")
  local function kib(text, key) return (tonumber(text:match(key .. ":%s*(%d+) kB")) or 0) * 1024 end
  local m = { anon = kib(rollup, "Pss_Anon"), file = kib(rollup, "Pss_File"), shmem = kib(rollup, "Pss_Shmem"),
    rss = kib(status, "VmRSS"), memfd = memfd_bytes() }
  m.total = m.anon + m.file + m.memfd
  return m
end

io.stderr:write(("bench: (h) %d forks alive of one %s parent\n"):format(ALIVE, FORK_MEM))
ok, err = pcall(function()
  -- Only this parent alive: the process's memory is its RAM + the VMM's.
  for size, other in pairs(parents) do
    if size ~= FORK_MEM then
      other:close()
      parents[size] = nil
    end
  end
  local vm = touched_parent(FORK_MEM)
  local before = memory_now()
  local children = {}
  local ok2, err2 = pcall(function()
    for i = 1, ALIVE do
      local child = vm:fork()
      children[i] = child
      child:start()
      child.console:send(("dirty %d %d\n"):format(DIRTY, i))
      child.console:expect("dirtied %d+\n", 30)
      child:pause()
    end
  end)
  local after = memory_now()
  for _, child in ipairs(children) do child:close() end
  assert(ok2, err2)
  local ram = 256 * 1048576
  local writes = ALIVE * DIRTY * 4096
  local limit = ram + writes + 10 * 1048576
  row(("(h) %d forks alive: memory"):format(ALIVE), mib(after.total),
    ("RAM+writes+10M %s"):format(mib(limit)), ("%.3f"):format(after.total / limit), "<= 1.00",
    after.total <= limit and "ok" or "MISSED")
  local per_child = (after.total - before.total) / ALIVE
  row("(h) memory per alive child", mib(per_child), ("writes %s"):format(mib(DIRTY * 4096)),
    ("%.3f"):format(per_child / (DIRTY * 4096)), "(info)", "info")
  detail(("(h) %d children of a touched %s parent, each wrote %d pages (%s); memory = Pss_Anon + Pss_File + guest-RAM memfds:")
    :format(ALIVE, FORK_MEM, DIRTY, mib(DIRTY * 4096)))
  for _, m in ipairs { { "before the forks", before }, { "with the children", after } } do
    detail(("(h)   %s: %s = anon %s + file %s + memfds %s (Pss_Shmem %s, VmRSS %s)"):format(m[1],
      mib(m[2].total), mib(m[2].anon), mib(m[2].file), mib(m[2].memfd), mib(m[2].shmem), mib(m[2].rss)))
  end
  detail("(h)   VmRSS counts a guest page once per machine that maps it; Pss once; the memfds hold unmapped pages too")
end)
if not ok then
  failed("forks alive", err)
  row(("(h) %d forks alive: memory"):format(ALIVE), "n/a", "n/a", "n/a", "<= 1.00", "NO DATA")
end

for _, vm in pairs(parents) do vm:close() end
for _, d in ipairs(made) do rmtree(d) end

-- Output: machine-readable lines for bench.lua, then a table for a human.
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
