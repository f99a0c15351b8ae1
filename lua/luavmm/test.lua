-- luavmm.test: helpers for busted specs that drive real guests.
--
--   local t = require "luavmm.test"
--   local vm <close> = t.machine { kernel = t.guest("hello") }
--
-- Machines made here default to console = false (output is still seen by
-- expect()) so spec output stays readable.
local luavmm = require "luavmm"

local M = {}

-- The path of a built test guest (tests/guests/NAME.c).
function M.guest(name)
  return luavmm.guest(name)
end

-- Machines made by M.machine, until M.close_all() tears them down.  Weak:
-- a machine nobody references is still left to the garbage collector.
local open_machines = setmetatable({}, { __mode = "v" })
local next_machine = 0

-- luavmm.machine with test-friendly defaults.  The machine is also closed by
-- M.close_all() (see M.teardown_each), so a failing test never leaks it.
function M.machine(config)
  local c = { memory = "32M", console = false }
  for k, v in pairs(config) do c[k] = v end
  local vm = luavmm.machine(c)
  next_machine = next_machine + 1
  open_machines[next_machine] = vm
  return vm
end

-- Closes every machine made by M.machine (closing twice is harmless).
function M.close_all()
  for i, vm in pairs(open_machines) do
    vm:close()
    open_machines[i] = nil
  end
end

-- Call inside a describe block: every test's machines are torn down after it,
-- whether it passed or not.
function M.teardown_each()
  require("busted").after_each(M.close_all)
end

-- vm.console:expect with a failure that names the spec line, the pattern and
-- the guest's last output; returns the captures (or the match).
function M.expect(vm, pattern, timeout)
  local results = table.pack(pcall(vm.console.expect, vm.console, pattern, timeout or 30))
  if not results[1] then
    error(("expected guest output '%s' did not come:\n  %s"):format(pattern,
      tostring(results[2]):gsub("^expect: ", "")), 2)
  end
  return table.unpack(results, 2, results.n)
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

-- Open file descriptors and threads of this process, for leak checks.
function M.process_counts()
  collectgarbage() -- close files and machines nobody references any more
  collectgarbage()
  -- Counted in-process: an `ls` child started by io.popen could see the
  -- write end of its own pipe still open in this process and count it.
  local fds = 0
  for name in require("lfs").dir("/proc/self/fd") do
    if name:match("^%d+$") then fds = fds + 1 end
  end
  local threads = tonumber(read_file("/proc/self/status"):match("Threads:%s*(%d+)"))
  return { fds = fds, threads = threads }
end

function M.pid()
  return read_file("/proc/self/stat"):match("^(%d+)")
end

return M
