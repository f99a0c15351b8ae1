-- The harness people adopt: exit statuses (README, "Exit status"), what a
-- recipe may return, SIGINT/SIGTERM as a clean stop, the run CLI, and the
-- test verbs (wait_until, expect's plain and line modes, console logs,
-- execute/succeed against the minishell guest, durations).
local luavmm = require "luavmm"
local t = require "luavmm.test"

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)
teardown(function() os.execute("rm -rf " .. t.shell_quote(tmp)) end)

local function recipe(body)
  return 'local luavmm = require "luavmm"\n' .. body
end

-- A recipe that boots GUEST with CMDLINE and returns its wait() result.
local function boot_recipe(guest, cmdline, extra)
  return recipe(([[
local vm <close> = luavmm.machine { kernel = luavmm.guest(%q), cmdline = %q, console = false }
%s
vm:start()
local r = vm:wait(%s)
print(r.reason, r.code, r.ok)
return r
]]):format(guest, cmdline, extra or "", "30"))
end

describe("luavmm run's exit status", function()
  local cases = {
    { "a guest that exits with value 0", "exitcode", "0", 0, "exit", true },
    { "a guest that exits with value 3", "exitcode", "3", 3, "exit", false },
    { "a guest that exits with value 200 (clamped)", "exitcode", "200", 99, "exit", false },
    { "a guest that crashes (value 0x7f, clamped)", "poke", "read 0xffffffffff", 99, "exit", false },
    { "a guest that triple-faults", "poke", "triple", 101, "shutdown", false },
    { "a guest that resets", "poke", "out 0x64 0xfe", 102, "reset", false },
  }
  for _, c in ipairs(cases) do
    local name, guest, cmdline, status, reason, ok = table.unpack(c)
    it(("is %d for %s"):format(status, name), function()
      local r = t.exec_recipe(boot_recipe(guest, cmdline))
      assert.are.equal(status, r.status, r.stderr)
      assert.are.equal(("%s\t%d\t%s\n"):format(reason, status, tostring(ok)), r.stdout)
    end)
  end

  it("is 104 for a hook error", function()
    local r = t.exec_recipe(boot_recipe("luadev", "i 0x510",
      'vm:on_pio(0x510, 4, function() error("hook failed on purpose") end)'))
    assert.are.equal(104, r.status, r.stderr)
    assert.are.equal("hook_error\t104\tfalse\n", r.stdout)
    assert.truthy(r.stderr:find("hook failed on purpose", 1, true))
  end)

  it("is 105 when the recipe stopped the machine", function()
    local r = t.exec_recipe(boot_recipe("echo", "", 'vm:after("1ms", function(v) v:stop() end)'))
    assert.are.equal(105, r.status, r.stderr)
    assert.are.equal("killed\t105\tfalse\n", r.stdout)
  end)

  it("is 124 when wait() times out", function()
    local r = t.exec_recipe(recipe([[
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), console = false }
vm:start()
vm.console:expect("echo: ready")
return vm:wait("100ms")
]]))
    assert.are.equal(124, r.status, r.stderr)
  end)

  it("keeps QEMU's status as qemu_code and the written value as value", function()
    local r = t.run { kernel = t.guest("exitcode"), cmdline = "21" }
    assert.are.same({ "exit", 21, 21, 43, false },
      { r.reason, r.code, r.value, r.qemu_code, r.ok })
    local ok = t.run { kernel = t.guest("hello") }
    assert.are.same({ 0, 0, 1, true }, { ok.code, ok.value, ok.qemu_code, ok.ok })
  end)
end)

describe("what a recipe returns", function()
  local fine = { { "nothing", "", 0 }, { "true", "return true", 0 }, { "false", "return false", 1 },
    { "7", "return 7", 7 }, { "255", "return 255", 255 }, { "3.0", "return 3.0", 3 } }
  for _, c in ipairs(fine) do
    it(("exits %d for %s"):format(c[3], c[1]), function()
      local r = t.exec_recipe(c[2] .. "\n")
      assert.are.equal(c[3], r.status, r.stderr)
      assert.are.equal("", r.stderr)
    end)
  end

  local bad = { { "return 2.5", "2.5" }, { 'return "x"', '"x"' }, { "return 256", "256" },
    { "return -1", "-1" }, { "return {}", "a table that is not a wait() result" },
    { "return print", "a function" } }
  for _, c in ipairs(bad) do
    it(("refuses `%s` in one line, exit 1"):format(c[1]), function()
      local r = t.exec_recipe(c[1] .. "\n")
      assert.are.equal(1, r.status)
      assert.are.equal(("luavmm: %s: the recipe returned %s; return an exit status (0-255), a boolean, or a wait() result\n")
        :format(r.recipe, c[2]), r.stderr)
    end)
  end
end)

-- Starts `luavmm run` in the background with a recipe whose <close>
-- variable writes DIR/closed and whose machine serves DIR/ctl.sock, sends
-- the signals once it printed "ready", and reports what happened.
local SIGNAL_RECIPE = recipe([[
local dir, mode = ...
local marker <close> = setmetatable({}, { __close = function()
  local f = assert(io.open(dir .. "/closed", "w")); f:write("closed\n"); f:close()
end })
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), console = false,
  control = dir .. "/ctl.sock" }
vm:start()
vm.console:expect("echo: ready")
io.stdout:write("ready\n"); io.stdout:flush()
if mode == "expect" then
  local ok, err = pcall(vm.console.expect, vm.console, "never printed", 600)
  io.stdout:write(("expect raised: %s\n"):format(err)); io.stdout:flush()
end
local r = vm:wait()
io.stdout:write(("wait returned %s (%s) %d\n"):format(r.reason, r.detail, r.code)); io.stdout:flush()
if mode == "stubborn" then while true do end end
return r
]])

local function run_with_signals(signals, mode)
  local dir = tmp .. "/sig" .. math.random(1 << 30)
  os.execute("mkdir -p " .. dir)
  local path = t.write_file(dir .. "/recipe.lua", SIGNAL_RECIPE)
  local q = t.shell_quote
  local lines = {
    -- luavmm keeps an ignored SIGINT ignored, as a background job's is
    ("env --default-signal=INT,TERM %s run %s %s %s >%s/out 2>%s/err & pid=$!"):format(q(t.bin()), q(path), q(dir),
      mode or "", dir, dir),
  }
  for i, sig in ipairs(signals) do
    local want = i == 1 and "ready" or "wait returned"
    lines[#lines + 1] = ("n=0; until grep -q %s %s/out; do n=$((n+1)); [ $n -gt 1200 ] && break; sleep 0.05; done")
      :format(q(want), dir)
    if i == 1 then lines[#lines + 1] = ("[ -S %s/ctl.sock ] && echo yes >%s/socket_was_there"):format(dir, dir) end
    lines[#lines + 1] = ("kill -%s $pid"):format(sig)
  end
  lines[#lines + 1] = ("wait $pid; echo $? >%s/status"):format(dir)
  os.execute("sh -c " .. q(table.concat(lines, "\n")) .. " 2>/dev/null")
  local function read(name)
    local f = io.open(dir .. "/" .. name, "rb")
    if not f then return nil end
    local data = f:read("a")
    f:close()
    return data
  end
  local socket_left = os.execute("test -e " .. q(dir .. "/ctl.sock")) == true
  return { status = tonumber(read("status")), out = read("out"), err = read("err"),
    closed = read("closed"), socket_was_there = read("socket_was_there") ~= nil,
    socket_left = socket_left }
end

describe("a signal to luavmm run", function()
  for _, c in ipairs { { "INT", 130, "SIGINT" }, { "TERM", 143, "SIGTERM" } } do
    it(("SIG%s stops the machines, runs the recipe to its end and exits %d"):format(c[1], c[2]), function()
      local r = run_with_signals { c[1] }
      assert.are.equal(c[2], r.status, r.err)
      assert.truthy(r.out:find(("wait returned killed (stopped by %s) %d\n"):format(c[3], c[2]), 1, true), r.out)
      assert.are.equal("closed\n", r.closed) -- the <close> handler ran
      assert.is_true(r.socket_was_there)
      assert.is_false(r.socket_left)         -- and the control socket is gone
      assert.are.equal("", r.err)
    end)
  end

  it("ends an expect in progress too", function()
    local r = run_with_signals({ "TERM" }, "expect")
    assert.are.equal(143, r.status, r.err)
    assert.truthy(r.out:find("expect raised: [^\n]*the machine stopped %(killed: stopped by SIGTERM%) before 'never printed' appeared"), r.out)
    assert.truthy(r.out:find("wait returned killed (stopped by SIGTERM) 143\n", 1, true), r.out)
    assert.are.equal("closed\n", r.closed)
  end)

  it("a second signal ends a recipe that ignores the first", function()
    local r = run_with_signals({ "INT", "INT" }, "stubborn")
    assert.are.equal(130, r.status, r.err)
    assert.truthy(r.out:find("wait returned killed (stopped by SIGINT)", 1, true), r.out)
    assert.is_nil(r.closed) -- ended at once: the recipe never reached its end
  end)
end)

describe("the run command line", function()
  it("prints run's options for run --help and run -h", function()
    for _, flag in ipairs { "--help", "-h" } do
      local r = t.exec { "run", flag }
      assert.are.equal(0, r.status)
      assert.truthy(r.stdout:find("usage: luavmm run [OPTIONS] RECIPE", 1, true))
      assert.truthy(r.stdout:find("--control PATH", 1, true))
      assert.truthy(r.stdout:find("-v, --verbose", 1, true))
    end
  end)

  it("prints luavmm's, Lua's and KVM's versions for -V and --version", function()
    for _, flag in ipairs { "-V", "--version" } do
      local r = t.exec { flag }
      assert.are.equal(0, r.status)
      assert.truthy(r.stdout:find("^luavmm %d+%.%d+%.%d+\nLua 5%.4%.%d+\nKVM API 12 %(/dev/kvm%)\n$"), r.stdout)
    end
    local r = t.exec({ "--version" }, { LUAVMM_KVM_DEVICE = tmp .. "/no-kvm" })
    assert.truthy(r.stdout:find("\nKVM: unavailable (cannot open " .. tmp .. "/no-kvm: no such device", 1, true), r.stdout)
  end)

  it("reads the recipe from stdin for run -", function()
    local r = t.exec({ "run", "-", "a", "b" }, nil, nil, 'print(arg[0], ...)\nreturn 4\n')
    assert.are.equal(4, r.status, r.stderr)
    assert.are.equal("-\ta\tb\n", r.stdout)
  end)

  it("accepts --control=PATH as --control PATH", function()
    local sock = tmp .. "/eq.sock"
    local r = t.exec({ "run", "--control=" .. sock, "-" }, nil, nil, recipe([[
local vm <close> = luavmm.machine { kernel = luavmm.guest("hello"), console = false }
print(io.popen("test -S ]] .. sock .. [[ && echo socket"):read("l"))
return vm:run(30)
]]))
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("socket\n", r.stdout)
  end)

  it("says what is wrong with an option in one line", function()
    local function err(args) local r = t.exec(args); assert.are.equal(2, r.status); return r.stderr end
    assert.are.equal("luavmm: run: --control needs a value (--control PATH)\n", err { "run", "--control" })
    assert.are.equal("luavmm: run: --control needs a value (--control PATH), not an empty one\n",
      err { "run", "--control=", "x.lua" })
    assert.are.equal("luavmm: run: --sandbox takes no value\n", err { "run", "--sandbox=yes", "x.lua" })
    assert.are.equal("luavmm: run: unknown option '--frob' (try luavmm --help)\n", err { "run", "--frob=1", "x.lua" })
  end)

  it("prints lifecycle events and a status line for a silent guest with -v", function()
    local path = t.write_file(tmp .. "/quiet.lua", recipe([[
local vm <close> = luavmm.machine { name = "quiet", kernel = luavmm.guest("luadev"), cmdline = "c", console = false }
vm:start()
vm.console:expect("counter at 0x%x+\n", 10)
-- until the guest has been silent for 10.5 s, as the wait itself sees it
local bytes, since = -1, 0
luavmm.wait_until(function()
  local b = vm:stats().console_bytes
  if b ~= bytes then bytes, since = b, luavmm.now() end
  return luavmm.now() - since > 10.5
end, 60)
vm:stop("enough")
return vm:wait(10)
]]))
    local r = t.exec { "run", "-v", path }
    assert.are.equal(105, r.status, r.stderr)
    assert.truthy(r.stderr:find("luavmm: quiet: created (1 cpus, 128 MiB)\nluavmm: quiet: started\n", 1, true), r.stderr)
    assert.truthy(r.stderr:find("luavmm: quiet: running for %d+ s, no console output for 1%d s"), r.stderr)
    assert.truthy(r.stderr:find("luavmm: quiet: stopped: killed (enough), exit status 105\n", 1, true), r.stderr)
  end)
end)

describe("luavmm.wait_until", function()
  t.teardown_each()

  it("serves the machines until the function returns true", function()
    -- reads: the vCPU waits for each answer, so none can be lost to the stop
    local vm = t.boot("luadev", "i 0x510 i 0x510 i 0x510")
    local reads = 0
    vm:on_pio(0x510, 4, function() reads = reads + 1; return reads end)
    vm:start()
    assert.is_true(t.wait_until(function() return reads == 3 end, 30))
    assert.are.equal("exit", vm:wait(30).reason)
    assert.truthy(vm.console:log():find("in 0x510 = 0x3\n", 1, true))
  end)

  it("looks again while the guest is silent: a condition that raises no event ends the wait", function()
    local vm = t.boot("echo", "") -- prints its banner, then waits for input
    vm:start()
    t.expect(vm, "echo: ready\n")
    local t0, calls = luavmm.now(), 0
    -- Nothing the pump waits on changes; only the clock does.
    assert.is_true(luavmm.wait_until(function()
      calls = calls + 1
      return luavmm.now() - t0 > 0.3
    end, 30))
    assert.is_true(calls > 2, "called " .. calls .. " times")
    assert.is_true(luavmm.now() - t0 < 25, "it waited for the timeout, not the condition")
  end)

  it("returns false when the timeout passes first", function()
    local vm = t.boot("echo", "")
    vm:start()
    local calls = 0
    assert.is_false(luavmm.wait_until(function() calls = calls + 1; return false end, "200ms"))
    assert.is_true(calls >= 1)
  end)
end)

describe("console:expect", function()
  t.teardown_each()

  it("matches plain text with {plain = true} (and expect_plain) where a pattern never would", function()
    local vm = t.boot("echo", "")
    vm:start()
    t.expect(vm, "echo: ready\n")
    vm.console:send("kernel-panic (x) [1]%\n")
    assert.is_true(t.wait_until(function() return vm.console:log():find("%]%%\n$") ~= nil end))
    -- as a Lua pattern it means "kernel-panic x": the output is there, no match
    assert.is_false(pcall(vm.console.expect, vm.console, "kernel-panic (x)", 0))
    assert.are.equal("kernel-panic (x)", vm.console:expect("kernel-panic (x)", 10, { plain = true }))
    assert.are.equal("[1]%", vm.console:expect_plain("[1]%", 10))
  end)

  it("matches only complete lines with {line = true}", function()
    local vm = t.boot("echo", "")
    vm:start()
    t.expect(vm, "echo: ready\n")
    -- The guest echoes what it gets at once: "counter at 0x12" arrives
    -- before the rest of the number is even sent.
    vm.console:send("counter at 0x12")
    assert.is_true(t.wait_until(function() return vm.console:log():find("0x12$") ~= nil end))
    assert.are.equal("0x12", vm.console:expect("counter at (0x%x+)", 10)) -- a pattern matches early
    vm.console:send("2020\ncounter at 0x12")
    assert.is_true(t.wait_until(function() return vm.console:log():find("0x12$") ~= nil end))
    vm.console:send("2021\n")
    assert.are.equal("0x122021", vm.console:expect("counter at (0x%x+)", 10, { line = true }))
    -- anchors apply to the line; the options may replace the timeout
    vm.console:send("ab\r\nxabx\n")
    assert.are.equal("ab", vm.console:expect("^ab$", { line = true, timeout = 10 }))
  end)

  it("counts a t.expect timeout as a test failure, not an error", function()
    local vm = t.boot("echo", "")
    vm:start()
    local ok, err = pcall(t.expect, vm, "never printed", 0.2)
    assert.is_false(ok)
    assert.are.equal("failure", (debug.getmetatable(err) or {}).__type)
    assert.truthy(tostring(err):find("timed out after 0.2", 1, true), tostring(err))
  end)
end)

describe("console:log", function()
  it("has everything the guest printed, whatever expect consumed, also after close", function()
    local vm = t.machine { kernel = t.guest("hello"), cmdline = "logged" }
    vm:start()
    t.expect(vm, "Hello from luavmm!\n")
    assert.are.equal("exit", vm:wait(30).reason)
    vm:close()
    local log, dropped = vm.console:log()
    assert.are.equal("Hello from luavmm!\ncmdline: logged\n", log)
    assert.are.equal(0, dropped)
  end)

  it("is written next to a failed test's report, and its path printed", function()
    local dir = tmp .. "/logs"
    local spec = t.write_file(tmp .. "/failing_spec.lua", [[
local t = require "luavmm.test"
describe("a suite", function()
  t.teardown_each()
  it("fails waiting for output", function()
    local vm = t.machine { name = "web", kernel = t.guest("hello"), cmdline = "console log proof" }
    vm:start()
    t.expect(vm, "never printed", 1)
  end)
  it("passes", function()
    local vm = t.machine { kernel = t.guest("hello") }
    vm:start()
    t.expect(vm, "Hello")
  end)
end)
]])
    local out = os.tmpname()
    os.execute(("LUAVMM_TEST_LOGS=%s lua5.4 \"$(command -v busted)\" -o plainTerminal %s >%s 2>&1"):format(
      t.shell_quote(dir), t.shell_quote(spec), out))
    local text = t.read_file(out)
    os.remove(out)
    assert.truthy(text:find("1 success / 1 failure / 0 errors", 1, true), text)
    local path = text:match("luavmm%.test: console log of the failed test: ([^\n]+)")
    assert.are.equal(dir .. "/failing_spec--a_suite_fails_waiting_for_output--web.log", path, text)
    assert.are.equal("Hello from luavmm!\ncmdline: console log proof\n", t.read_file(path))
    assert.are.equal(1, select(2, text:gsub("console log of the failed test", "")))
  end)
end)

describe("t.execute and t.succeed", function()
  t.teardown_each()

  local function shell()
    local vm = t.boot("minishell", "")
    vm:start()
    t.expect(vm, "minishell: ready\n")
    return vm
  end

  it("run a command in the guest's shell and return its output and status", function()
    local vm = shell()
    assert.are.equal("hello world\n", t.succeed(vm, "echo hello world"))
    assert.are.same({ 3, "" }, { t.execute(vm, "exit 3") })
    assert.are.same({ 0, "a\nb" }, { t.execute(vm, "printf 'a\\nb'") }) -- no newline of its own
    assert.are.same({ 127, "minishell: nope: not found\n" }, { t.execute(vm, "nope") })
    assert.are.same({ 1, "one\ntwo\n" }, { t.execute(vm, "echo one; echo two; false") })
    -- the shell runs on: exit inside the command ended only the subshell
    assert.are.equal("still here\n", t.succeed(vm, "echo still here"))
    vm.console:send("exit 0\n")
    assert.are.equal(0, vm:wait(30).code)
  end)

  it("fail the test when the status is not 0", function()
    local vm = shell()
    local ok, err = pcall(t.succeed, vm, "echo oops; exit 4")
    assert.is_false(ok)
    assert.are.equal("failure", (debug.getmetatable(err) or {}).__type)
    assert.truthy(tostring(err):find("command 'echo oops; exit 4' exited with status 4; output:\noops\n", 1, true),
      tostring(err))
  end)
end)

describe("the execute protocol", function()
  -- The same line and patterns t.execute uses, run by the host's real shells.
  for _, sh in ipairs { "sh", "bash", "dash" } do
    local have = os.execute("command -v " .. sh .. " >/dev/null 2>&1") == true
    local it_or_pending = have and it or pending
    it_or_pending("works with a real " .. sh, function()
      for _, case in ipairs { { "echo hi; exit 3", 3, "hi\n" }, { "printf 'a\\nb'", 0, "a\nb" },
          { "false", 1, "" }, { "cd / && echo \"$PWD\"", 0, "/\n" } } do
        local id = "c0ffee"
        local p = io.popen(sh .. " -c " .. t.shell_quote(t.command_line(case[1], id)))
        local text = p:read("a")
        p:close()
        local begin_pattern, end_pattern = t.command_patterns(id)
        local _, after = text:find(begin_pattern)
        assert.truthy(after, text)
        local output, status = text:sub(after + 1):match(end_pattern)
        assert.are.same({ case[2], case[3] }, { tonumber(status), output }, case[1])
      end
    end)
  end
end)

describe("durations", function()
  t.teardown_each()

  it("are seconds as numbers and take units as strings, timers included", function()
    local vm = t.boot("echo", "")
    local fired = {}
    vm:after("20ms", function() fired[#fired + 1] = "20ms" end)
    vm:after("0.05s", function() fired[#fired + 1] = "0.05s" end)
    vm:start()
    assert.are.equal("timeout", vm:wait("150ms").reason)
    assert.are.same({ "20ms", "0.05s" }, fired)
    assert.are.equal("timeout", vm:wait(0.01).reason)
    assert.are.equal("timeout", vm:wait("0.01").reason)
  end)

  it("still read a bare number as milliseconds in after/every, with one deprecation warning", function()
    local r = t.exec_recipe(recipe([[
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), console = false }
local fired = {}
vm:after(20, function() fired[#fired + 1] = "after 20" end)
vm:every(30, function(v) fired[#fired + 1] = "every 30"; v:stop() end)
vm:start()
local r = vm:wait(30)
print(table.concat(fired, ","))
return r.reason == "killed"
]]))
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("after 20,every 30\n", r.stdout)
    assert.are.equal('luavmm: warning: vm:after(20, ...): a bare number is milliseconds here, unlike every other duration; write "20ms" (a bare number will mean seconds in a later release)\n', r.stderr)
  end)

  it("name the bad value", function()
    local vm = t.boot("echo", "")
    vm:start()
    local ok, err = pcall(vm.wait, vm, "5 parsecs")
    assert.is_false(ok)
    assert.truthy(err:find('a duration is a number of seconds or a string with a unit ("250ms", "2s", "1m"), not "5 parsecs"', 1, true), err)
  end)
end)
