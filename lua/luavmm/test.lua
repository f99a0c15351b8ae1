-- luavmm.test: helpers for busted specs that drive real guests.
--
--   local t = require "luavmm.test"
--   local vm <close> = t.machine { kernel = t.guest("hello") }
--
-- Machines made here default to console = false (output is still seen by
-- expect() and kept in vm.console:log()) so spec output stays readable.
-- With t.teardown_each(), a failed test leaves each of its machines'
-- console log in a file, and the path is printed.
local luavmm = require "luavmm"

local M = {}

-- busted's API when running under busted (nil under a plain lua5.4).
local function busted_api()
  local ok, busted = pcall(require, "busted")
  return ok and type(busted) == "table" and busted.fail and busted or nil
end

-- Fails the running test: an assertion failure under busted (counted as a
-- failure, not an error), a plain error elsewhere.
local function fail(message, level)
  local busted = busted_api()
  if busted then busted.fail(message, level + 1) end
  error(message, level + 1)
end

-- The path of a built test guest (tests/guests/NAME.c).
function M.guest(name)
  return luavmm.guest(name)
end

-- Machines made by M.machine, until M.close_all() tears them down.  Weak:
-- a machine nobody references is still left to the garbage collector.
local open_machines = setmetatable({}, { __mode = "v" })
local next_machine = 0
local machine_names = setmetatable({}, { __mode = "k" }) -- vm -> its name key, for log files

-- luavmm.machine with test-friendly defaults.  The machine is also closed by
-- M.close_all() (see M.teardown_each), so a failing test never leaks it.
function M.machine(config)
  local c = { memory = "32M", console = false }
  for k, v in pairs(config) do c[k] = v end
  local vm = luavmm.machine(c)
  next_machine = next_machine + 1
  open_machines[next_machine] = vm
  machine_names[vm] = c.name
  return vm
end

-- Tracks a machine made elsewhere (vm:fork, luavmm.restore) like one made
-- by M.machine: closed by M.close_all, its log kept if the test fails.
function M.track(vm, name)
  next_machine = next_machine + 1
  open_machines[next_machine] = vm
  machine_names[vm] = name
  return vm
end

-- luavmm.restore(dir, overrides), tracked (M.track).
function M.restore(dir, overrides)
  return M.track(luavmm.restore(dir, overrides), overrides and overrides.name or "restored")
end

-- Closes every machine made by M.machine (closing twice is harmless).
function M.close_all()
  for i, vm in pairs(open_machines) do
    vm:close()
    open_machines[i] = nil
  end
end

-- Where failed tests' console logs go: LUAVMM_TEST_LOGS, else test-logs/
-- beside the luavmm executable under test (the build directory).
function M.log_dir()
  local dir = os.getenv("LUAVMM_TEST_LOGS")
  if dir and dir ~= "" then return dir end
  local bin_dir = M.bin():match("^(.*)/[^/]*$")
  return (bin_dir or ".") .. "/test-logs"
end

local function file_part(s)
  return (tostring(s):gsub("[^%w%-_.]+", "_"):sub(1, 80))
end

-- Writes the console log of every machine M.machine made during the running
-- test (all of them outside t.teardown_each) to LOG_DIR/SPEC--TEST--NAME.log
-- (NAME: the machine's name key, else machineN); returns the paths.
local test_first_machine = 1 -- the first machine id of the running test

function M.write_logs(test_name, spec_file)
  local paths = {}
  local dir = M.log_dir()
  os.execute("mkdir -p " .. M.shell_quote(dir))
  local ids = {}
  for i in pairs(open_machines) do
    if i >= test_first_machine then ids[#ids + 1] = i end
  end
  table.sort(ids)
  for n, i in ipairs(ids) do
    local vm = open_machines[i]
    local log, dropped = vm.console:log()
    local path = ("%s/%s--%s--%s.log"):format(dir, file_part((spec_file or "spec"):match("([^/]*)%.lua$") or spec_file),
      file_part(test_name), file_part(machine_names[vm] or ("machine" .. n)))
    local f = io.open(path, "wb")
    if f then
      if dropped > 0 then f:write(("[luavmm.test: %d older bytes dropped]\n"):format(dropped)) end
      f:write(log)
      f:close()
      paths[#paths + 1] = path
    end
  end
  return paths
end

-- Call inside a describe block: every test's machines are torn down after it,
-- whether it passed or not; when it failed (or raised), each machine's
-- console log is written first (M.write_logs) and its path printed.
local failed          -- {name =, file =} of the test that just failed
local subscribed = false

function M.teardown_each()
  local busted = require("busted")
  busted.before_each(function() test_first_machine = next_machine + 1 end)
  if not subscribed then -- once: nested describes must not log a failure twice
    subscribed = true
    busted.subscribe({ "test", "end" }, function(element, parent, status)
      failed = nil
      if status == "failure" or status == "error" then
        local names, e = { element.name }, parent
        while e and e.descriptor ~= "file" do
          table.insert(names, 1, e.name)
          e = busted.parent(e)
        end
        failed = { name = table.concat(names, " "), file = e and e.name }
      end
      return nil, true
    end)
  end
  busted.after_each(function()
    if failed then
      for _, path in ipairs(M.write_logs(failed.name, failed.file)) do
        io.stderr:write("luavmm.test: console log of the failed test: ", path, "\n")
      end
      failed = nil
    end
    M.close_all()
  end)
end

-- vm.console:expect with a failure that names the spec line, the pattern and
-- the guest's last output; returns the captures (or the match).  `opts` as
-- console:expect's ({plain = true}, {line = true}).  A timeout or a stopped
-- machine is an assertion failure of the test (not an error).
function M.expect(vm, pattern, timeout, opts)
  local results = table.pack(pcall(vm.console.expect, vm.console, pattern, timeout or 30, opts or {}))
  if not results[1] then
    fail(("expected guest output '%s' did not come:\n  %s"):format(pattern,
      (tostring(results[2]):gsub("^.-expect: ", ""))), 2)
  end
  return table.unpack(results, 2, results.n)
end

-- Calls fn until it returns a true value (returned), serving every machine
-- meanwhile; false after `timeout` seconds (default 30).  luavmm.wait_until.
M.wait_until = luavmm.wait_until

--[[
Running commands in the guest over its console (README, "Running commands
in the guest").  The guest must run a POSIX shell (or tests/guests/minishell)
reading the console.  One line is sent:

  printf '%s-%s\n' luavmm-begin ID; ( CMD ); printf '\n%s-%s %d\n' luavmm-end ID "$?"

and the output between the line "luavmm-begin-ID" and "\nluavmm-end-ID
STATUS\n" is CMD's (a terminal's "\r\n" become "\n").  The echo of the sent
line cannot match: there the marker's halves are separate words.
]]
local next_command = 0

-- The line sent for CMD with marker ID, and the patterns of the begin
-- marker and of the output + end marker (captures: output, status).
function M.command_line(cmd, id)
  return ("printf '%%s-%%s\\n' luavmm-begin %s; ( %s ); printf '\\n%%s-%%s %%d\\n' luavmm-end %s \"$?\"\n")
    :format(id, cmd, id)
end

function M.command_patterns(id)
  return "luavmm%-begin%-" .. id .. "\r?\n", "(.-)\r?\nluavmm%-end%-" .. id .. " (%d+)\r?\n"
end

function M.execute(vm, cmd, timeout)
  assert(not cmd:find("[\r\n]"), "execute: the command must be one line")
  next_command = next_command + 1
  local id = ("%x%x"):format(next_command, math.random(1 << 24))
  local begin_pattern, end_pattern = M.command_patterns(id)
  vm.console:send(M.command_line(cmd, id))
  local deadline = luavmm.now() + (timeout or 30)
  local function left() return math.max(0, deadline - luavmm.now()) end
  local ok, err = pcall(vm.console.expect, vm.console, begin_pattern, left())
  if ok then
    local status
    ok, err, status = pcall(vm.console.expect, vm.console, end_pattern, left())
    if ok then return tonumber(status), (err:gsub("\r\n", "\n")) end
  end
  fail(("command '%s' did not finish:\n  %s"):format(cmd, (tostring(err):gsub("^.-expect: ", ""))), 2)
end

-- M.execute, failing the test unless the command's status is 0; returns its output.
function M.succeed(vm, cmd, timeout)
  local status, output = M.execute(vm, cmd, timeout)
  if status ~= 0 then
    fail(("command '%s' exited with status %d; output:\n%s"):format(cmd, status, output), 2)
  end
  return output
end

-- A machine running guest NAME with CMDLINE, started, plus the remaining
-- config fields; torn down by M.close_all.
function M.boot(name, cmdline, config)
  local c = { kernel = M.guest(name), cmdline = cmdline }
  for k, v in pairs(config or {}) do c[k] = v end
  local vm = M.machine(c)
  return vm
end

-- Starts a machine, waits for it to stop and returns (result, output).
function M.run(config, timeout)
  local vm <close> = M.machine(config)
  vm:start()
  local result = vm:wait(timeout or 30)
  return result, vm.console:output()
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end
M.read_file = read_file

-- Whether a file can be opened for reading (false for nil).
function M.exists(path)
  local f = path and io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

-- The luavmm executable under test (LUAVMM_BIN, set by ctest).
function M.bin()
  return os.getenv("LUAVMM_BIN") or "build/luavmm"
end

-- Runs `luavmm ARGS...` with extra environment variables, a command prefix
-- (e.g. setpriv ...) and bytes for its stdin; returns
-- { status = exit status, stdout = ..., stderr = ... }.
function M.exec(args, env, prefix, input)
  local out, err = os.tmpname(), os.tmpname()
  local stdin = "/dev/null"
  if input then stdin = M.write_file(os.tmpname(), input) end
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  if prefix then parts[#parts + 1] = prefix end
  parts[#parts + 1] = shell_quote(M.bin())
  for _, a in ipairs(args) do parts[#parts + 1] = shell_quote(a) end
  local cmd = ("env %s >%s 2>%s <%s"):format(table.concat(parts, " "), out, err, stdin)
  local ok, how, code = os.execute(cmd)
  local result = { stdout = read_file(out), stderr = read_file(err) }
  result.status = how == "exit" and code or 128 + code
  os.remove(out)
  os.remove(err)
  if input then os.remove(stdin) end
  return result
end

-- Writes a recipe to a temporary file and runs it with the executable.
function M.exec_recipe(source, args, env, prefix, input)
  local path = os.tmpname() .. ".lua"
  M.write_file(path, source)
  local argv = { "run", path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local result = M.exec(argv, env, prefix, input)
  result.recipe = path
  os.remove(path)
  return result
end

-- Whether this process may make network namespaces (root with `ip`).
function M.can_netns()
  local root = read_file("/proc/self/status"):match("Uid:%s*(%d+)") == "0"
  return root and os.execute("command -v ip >/dev/null 2>&1") and true or false
end

-- A new network namespace with taps "tapa" and "tapb" on bridge br0, all
-- up; returns its name (run a recipe in it with prefix "ip netns exec NS",
-- remove it with "ip netns del NS").
function M.netns()
  local ns = ("luavmm-spec-%d-%d"):format(tonumber(M.pid()), math.random(1 << 20))
  local cmds = {
    "ip netns add " .. ns,
    "ip -n " .. ns .. " link add br0 type bridge",
    "ip -n " .. ns .. " tuntap add dev tapa mode tap vnet_hdr",
    "ip -n " .. ns .. " tuntap add dev tapb mode tap vnet_hdr",
    "ip -n " .. ns .. " link set tapa master br0",
    "ip -n " .. ns .. " link set tapb master br0",
    "ip -n " .. ns .. " link set br0 up",
    "ip -n " .. ns .. " link set tapa up",
    "ip -n " .. ns .. " link set tapb up",
  }
  for _, c in ipairs(cmds) do assert(os.execute(c .. " 2>&1"), c) end
  return ns
end

--[[
Snapshot, restore and fork (README, "Snapshots and forks").  Inside a
describe block:

  local base = t.base({ kernel = t.guest("counter") }, function(vm)
    t.expect(vm, "count 3\n")
  end)
  it("...", function()
    local child = t.fork { console = false }   -- or base:fork { ... }
    t.expect(child, "count 4\n")
  end)

t.base boots the machine once, before the block's first test (lazily:
not at all when every test is filtered out), calls ready(vm) to bring it
to the interesting point, and pauses it; it is closed after the block's
last test.  t.fork (the innermost base of the running test) and base:fork
give a new machine forked from the paused base, started (unless
opts.start is false) and closed after the test, passed or not.  With
t.teardown_each() in the block, a failed test's forks leave their console
logs too (named by their `name` override, else forkN).
]]
local bases = {} -- the stack of bases whose describe blocks are running

local function close_forks(b)
  for i = #b.forks, 1, -1 do
    b.forks[i]:close()
    b.forks[i] = nil
  end
end

local base_methods = {}
base_methods.__index = base_methods

-- A machine forked from this base (paused), started unless opts.start is
-- false; closed after the running test.
function base_methods:fork(overrides, opts)
  if not self.vm then
    fail("luavmm.test: fork() before the base machine was set up (outside an it?)", 2)
  end
  local child = self.vm:fork(overrides or {})
  self.forks[#self.forks + 1] = child
  M.track(child, (overrides and overrides.name) or ("fork" .. #self.forks))
  if not (opts and opts.start == false) then child:start() end
  return child
end

-- The base machine itself (paused between tests), or nil before set-up.
function base_methods:machine()
  return self.vm
end

function M.base(recipe, ready)
  local busted = require("busted")
  local b = setmetatable({ forks = {} }, base_methods)
  busted.lazy_setup(function()
    local c = { memory = "32M", console = false }
    for k, v in pairs(recipe) do c[k] = v end
    b.vm = luavmm.machine(c)
    bases[#bases + 1] = b
    b.vm:start()
    if ready then ready(b.vm) end
    if not b.vm:paused() then b.vm:pause() end
  end)
  busted.after_each(function() close_forks(b) end)
  busted.lazy_teardown(function()
    close_forks(b)
    for i = #bases, 1, -1 do
      if bases[i] == b then table.remove(bases, i) end
    end
    if b.vm then b.vm:close() end
    b.vm = nil
  end)
  return b
end

-- base:fork on the innermost base whose describe block is running.
function M.fork(overrides, opts)
  local b = bases[#bases]
  if not b then fail("luavmm.test: fork() with no t.base in an enclosing describe", 2) end
  return b:fork(overrides, opts)
end

-- The next "count N..." line of a counter guest (tests/guests/counter.c):
-- N and the rest of the line (" tag X", " aps ...", " blk ok").  A timeout
-- is a test failure.
function M.count(vm, timeout)
  local ok, n, rest = pcall(vm.console.expect, vm.console, "^count (%d+)(.*)$", timeout or 30, { line = true })
  if not ok then
    fail(("expected a 'count N' line, none came:\n  %s"):format((tostring(n):gsub("^.-expect: ", ""))), 2)
  end
  return tonumber(n), rest
end

-- A new empty directory under $TMPDIR (or /tmp); M.remove_tree removes it.
function M.tmpdir(prefix)
  local base = os.getenv("TMPDIR")
  if not base or base == "" then base = "/tmp" end
  local p = io.popen("mktemp -d " .. shell_quote(base .. "/" .. (prefix or "luavmm-test") .. ".XXXXXX"))
  local dir = p:read("l")
  p:close()
  assert(dir and dir ~= "", "mktemp -d failed")
  return dir
end

function M.remove_tree(path)
  if path and path ~= "" and path ~= "/" then os.execute("rm -rf " .. shell_quote(path)) end
end

-- Open file descriptors and threads of this process, for leak checks.
-- Closed machines are released by the kernel in the background: settle
-- first; luavmm's one background teardown thread is not counted.
function M.process_counts()
  collectgarbage() -- close files and machines nobody references any more
  collectgarbage()
  require("luavmm").settle()
  -- Counted in-process: an `ls` child started by io.popen could see the
  -- write end of its own pipe still open in this process and count it.
  local fds = 0
  for name in require("lfs").dir("/proc/self/fd") do
    if name:match("^%d+$") then fds = fds + 1 end
  end
  local threads = 0
  for tid in require("lfs").dir("/proc/self/task") do
    local comm = tid:match("^%d+$") and io.open("/proc/self/task/" .. tid .. "/comm")
    if comm then -- (a thread may be gone by now)
      if comm:read("l") ~= "luavmm-reaper" then threads = threads + 1 end
      comm:close()
    end
  end
  return { fds = fds, threads = threads }
end

function M.pid()
  return read_file("/proc/self/stat"):match("^(%d+)")
end

return M
