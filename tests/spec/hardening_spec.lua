-- Hostile and careless clients of the control socket, bad input files and
-- sandbox escapes: each must get an error, never hang, stall or kill luavmm.
-- The VMM runs as a child `luavmm run --control SOCK` (so a SIGPIPE or a
-- stall shows in its exit status and output) and raw clients come from
-- tools/control_client.py, which prints one fact per line.
local t = require "luavmm.test"

local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
local CLIENT = SOURCE .. "/tests/spec/tools/control_client.py"

local exists = t.exists

local function contents(path)
  return exists(path) and t.read_file(path) or ""
end

-- Polls `done` every 10 ms, for at most 60 s.
local function wait_until(done)
  for _ = 1, 6000 do
    if done() then return true end
    os.execute("sleep 0.01")
  end
  return false
end

-- A counting guest served until a client calls vm:stop("done"); `ticks`
-- (a global, so chunks see it) counts a 10 ms timer.  PREPARE runs once
-- the machine is started, before "ready".
local RECIPE = [[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("luadev"), cmdline = "c",
  console = false, memory = "32M" }
ticks = 0
vm:every("10ms", function() ticks = ticks + 1 end)
vm:start()
PREPARE
print("ready") io.stdout:flush()
local r = vm:wait(120)
print("stopped", r.reason, r.detail)
vm:close()
print("closed")
]]

-- Starts the VMM (with a command prefix, e.g. prlimit) and waits for "ready".
local function start_vmm(prepare, prefix)
  local base = os.tmpname()
  local h = { base = base, sock = base .. ".sock", recipe = base .. ".lua" }
  t.write_file(h.recipe, (RECIPE:gsub("PREPARE", function() return prepare or "" end)))
  os.execute(("(timeout 120 %s %s run --control %s %s >%s.out 2>%s.err; echo $? >%s.rc) &"):format(
    prefix or "", t.shell_quote(t.bin()), h.sock, h.recipe, base, base, base))
  wait_until(function() return exists(base .. ".rc") or contents(base .. ".out"):find("ready") end)
  return h
end

-- Runs a client scenario to its end; returns its facts as a table.
local function client(h, ...)
  local args = { "python3", CLIENT, ... }
  table.insert(args, 4, h.sock)
  for i, a in ipairs(args) do args[i] = t.shell_quote(a) end
  local p = io.popen(table.concat(args, " ") .. " 2>&1")
  local facts, text = {}, p:read("a")
  p:close()
  for name, value in text:gmatch("([%w_]+)=([^\n]*)") do facts[name] = value end
  facts.text = text
  return facts
end

-- Stops the VMM through the socket; returns {status, stdout, stderr}.
local function stop_vmm(h)
  if not exists(h.base .. ".rc") then
    client(h, "ask", 'vm:stop("done")')
  end
  wait_until(function() return exists(h.base .. ".rc") end)
  local r = { status = tonumber(contents(h.base .. ".rc")), stdout = contents(h.base .. ".out"),
    stderr = contents(h.base .. ".err") }
  for _, ext in ipairs { "", ".out", ".err", ".rc", ".lua" } do os.remove(h.base .. ext) end
  return r
end

-- The VMM stopped because a client asked, closed its machine and exited 0.
local function assert_clean_exit(r)
  assert.are.equal(0, r.status, r.stderr)
  assert.truthy(r.stdout:find("stopped\tkilled\tdone\nclosed\n", 1, true), r.stdout .. r.stderr)
end

describe("the control socket under abuse", function()
  it("survives clients that vanish before their reply (no SIGPIPE)", function()
    local h = start_vmm()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local facts = client(h, "vanish", "5", dir)
    os.execute("rm -rf " .. dir)
    assert.are.equal("0alive", facts.after, facts.text)
    assert_clean_exit(stop_vmm(h))
  end)

  it("survives 200 refused and abandoned connections", function()
    local h = start_vmm()
    local facts = client(h, "abandon", "200")
    assert.are.equal("01 01 01 01 01 01 01 01", facts.held, facts.text)
    assert.are.equal("0alive", facts.after, facts.text)
    assert_clean_exit(stop_vmm(h))
  end)

  it("answers or refuses 100 clients at once", function()
    local h = start_vmm()
    local facts = client(h, "flood", "100")
    assert.are.equal("[]", facts.other, facts.text)
    assert.are.equal(100, tonumber(facts.answered) + tonumber(facts.refused), facts.text)
    assert.is_true(tonumber(facts.answered) >= 1, facts.text)
    assert_clean_exit(stop_vmm(h))
  end)

  it("answers garbage, fragmented and pipelined frames", function()
    local h = start_vmm()
    local facts = client(h, "garbage")
    assert.are.equal("0", facts.empty, facts.text)
    assert.truthy(facts.bytecode:find("^1.*binary chunk"), facts.text)
    assert.truthy(facts.binary:find("^1attach:"), facts.text)
    assert.are.equal("042", facts.fragmented, facts.text)
    assert.are.equal("0a 0b 1c", facts.pipelined, facts.text)
    assert.are.equal("1a request of 4294967295 bytes is over the control socket's frame limit of 1048576 bytes",
      facts.oversize, facts.text)
    assert.are.equal("eof", facts.oversize_then, facts.text)
    assert.are.equal("0alive", facts.after, facts.text)
    assert_clean_exit(stop_vmm(h))
  end)

  it("drops a client that never reads, while timers and other clients go on", function()
    local h = start_vmm()
    local facts = client(h, "noread", "4", "900000")
    assert.are.equal("True", facts.ticks_advanced, facts.text)
    assert.are.equal("dropped", facts.hog, facts.text)
    assert.are.equal("False", facts.all_received, facts.text)
    assert.are.equal("0alive", facts.after, facts.text)
    assert_clean_exit(stop_vmm(h))
  end)

  it("turns a reply over the frame limit into an error that attach reports", function()
    local h = start_vmm()
    local limit = 1 << 20
    -- status byte + text + "\n" is exactly the limit: still fits
    local r = t.exec { "attach", h.sock, "-e", ("return string.rep('x', %d)"):format(limit - 2) }
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal(limit - 1, #r.stdout)
    r = t.exec { "attach", h.sock, "-e", ("return string.rep('x', %d)"):format(limit - 1) }
    assert.are.equal(1, r.status)
    assert.are.equal(("the reply (%d bytes) is over the control socket's frame limit of %d bytes\n"):format(
      limit + 1, limit), r.stderr)
    -- a chunk over the limit is refused by attach before sending
    r = t.exec({ "attach", h.sock }, nil, nil, string.rep(" ", limit + 1) .. "\nreturn 5\n")
    assert.are.equal(0, r.status, r.stderr)
    assert.truthy(r.stderr:find(("the chunk (%d bytes) is over the control socket's frame limit"):format(limit + 1),
      1, true), r.stderr)
    assert.truthy(r.stdout:find("5\n", 1, true), r.stdout)
    assert_clean_exit(stop_vmm(h))
  end)

  it("reports a __tostring that raises to the client, and close works after", function()
    local h = start_vmm()
    local facts = client(h, "ask", 'return 1, setmetatable({}, { __tostring = function() error("boom", 0) end })')
    assert.truthy(facts.reply:find("^1cannot convert the results to text: boom"), facts.text)
    facts = client(h, "ask", "return setmetatable({}, { __tostring = function() return {} end })")
    assert.truthy(facts.reply:find("^1cannot convert the results to text: .*__tostring"), facts.text)
    facts = client(h, "ask", "return 'next'")
    assert.are.equal("0next", facts.reply)
    assert_clean_exit(stop_vmm(h))
  end)

  it("refuses connections it has no fd for and keeps serving (EMFILE)", function()
    -- Hold every fd the 128 allowed, then give two back: room for two clients.
    local h = start_vmm([[
local held = {}
while true do local f = io.open("/dev/null") if not f then break end held[#held + 1] = f end
held[#held]:close() held[#held] = nil
held[#held]:close() held[#held] = nil]], "prlimit --nofile=128:128")
    local facts = client(h, "emfile")
    assert.are.equal("2", facts.accepted, facts.text)
    assert.are.equal("1luavmm: control: cannot take the connection: Too many open files", facts.refusal,
      facts.text)
    assert.are.equal("True", facts.refused_again, facts.text)
    assert.are.equal("0still here", facts.first, facts.text)
    assert.are.equal("0in again", facts.after_close, facts.text)
    assert_clean_exit(stop_vmm(h))
  end)
end)

describe("bad input files", function()
  it("refuses a FIFO as kernel in one line, without waiting for a writer", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local r = t.exec_recipe(([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = %q }]]):format(fifo), nil, nil, "timeout 30")
    os.remove(fifo)
    assert.are.equal(1, r.status, r.stderr)
    assert.are.equal(("luavmm: %s:2: machine: kernel %s: not a regular file (a FIFO)\n"):format(r.recipe, fifo),
      r.stderr)
  end)

  it("refuses a FIFO as initrd in one line, without waiting for a writer", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local r = t.exec_recipe(([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = %q, initrd = %q }]]):format(
      t.guest("bootcheck-pvh"), fifo), nil, nil, "timeout 30")
    os.remove(fifo)
    assert.are.equal(1, r.status, r.stderr)
    assert.are.equal(("luavmm: %s:2: machine: initrd %s: not a regular file (a FIFO)\n"):format(r.recipe, fifo),
      r.stderr)
  end)
end)

describe("luavmm run --sandbox and require", function()
  -- A directory holding a bytecode module, a source module and the recipe,
  -- run with the directory as the working directory (./?.lua is on the path).
  local function run_sandboxed(recipe)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    t.write_file(dir .. "/evil.lua", string.dump(function() return "bytecode ran" end))
    t.write_file(dir .. "/good.lua", "return 'source ran'")
    t.write_file(dir .. "/recipe.lua", recipe)
    local r = t.exec({ "run", "--sandbox", "recipe.lua" }, nil, "-C " .. t.shell_quote(dir))
    os.execute("rm -rf " .. t.shell_quote(dir))
    return r
  end

  it("refuses a bytecode module, however require is pointed at it", function()
    local r = run_sandboxed([[
print((require "good"))
local ok, err = pcall(require, "evil")
print(ok, err)
print(pcall(function() package.path = "./?.luac;" .. package.path end))
print(package.searchpath, package.loadlib, package.cpath, package.searchers)
]])
    assert.are.equal(0, r.status, r.stderr)
    local lines = {}
    for line in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal("source ran", lines[1])
    assert.truthy(r.stdout:find("false\terror loading module 'evil' from file './evil.lua':", 1, true), r.stdout)
    assert.truthy(r.stdout:find("attempt to load a binary chunk (mode is 't')", 1, true), r.stdout)
    assert.falsy(r.stdout:find("bytecode ran", 1, true), r.stdout)
    assert.truthy(r.stdout:find("package is read-only under --sandbox (assigning 'path')", 1, true), r.stdout)
    assert.truthy(r.stdout:find("nil\tnil\tnil\tnil\n", 1, true), r.stdout)
  end)

  it("refuses a bytecode recipe", function()
    local path = os.tmpname()
    t.write_file(path, string.dump(function() return 7 end))
    local r = t.exec { "run", "--sandbox", path }
    local plain = t.exec { "run", path }
    os.remove(path)
    assert.are.equal(7, plain.status, plain.stderr)
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("binary chunk", 1, true), r.stderr)
  end)

  it("does not tell whether a host file exists", function()
    local present = os.tmpname() .. ".lua"
    t.write_file(present, "return 1")
    local absent = os.tmpname() .. ".missing.lua"
    local function probe(file)
      local name = ("../../../../../../..%s"):format(file:gsub("%.lua$", ""))
      local r = run_sandboxed(("print(select(2, pcall(require, %q)))"):format(name))
      return (r.stdout:gsub(name:gsub("%p", "%%%0"), "NAME"))
    end
    local a, b = probe(present), probe(absent)
    os.remove(present)
    assert.are.equal(a, b)
    assert.truthy(a:find("a module name is dotted words", 1, true), a)
  end)
end)
